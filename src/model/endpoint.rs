//! What a version endpoint reports (`{"status":"ok","version":"0.7.3"}`),
//! and whether that is the tag the cluster serves. Pure.

use serde_json::Value;

/// The version in an endpoint's answer: the string (or number) at the dot
/// path `field` of a JSON answer, else a plain-text answer's first line.
/// Made inert like every text from outside; at most 64 characters.
pub fn reported_version(body: &str, field: &str) -> Option<String> {
    let found = match serde_json::from_str::<Value>(body) {
        Ok(json) => {
            let mut at = &json;
            for part in field.split('.') {
                at = at.get(part)?;
            }
            match at {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            }
        }
        Err(_) => body.lines().next().unwrap_or("").trim().to_string(),
    };
    let found = super::text::line(&found)
        .chars()
        .take(64)
        .collect::<String>();
    (!found.is_empty()).then_some(found)
}

/// Whether an endpoint's `reported` version names the image tag `tag`:
/// `0.7.3` and `v0.7.3` are the same version.
pub fn same_version(reported: &str, tag: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches(['v', 'V']).to_string();
    bare(reported) == bare(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_json_and_text() {
        let body = r#"{"status":"ok","version":"0.7.3"}"#;
        assert_eq!(reported_version(body, "version").as_deref(), Some("0.7.3"));
        let nested = r#"{"build":{"version":"v1.2.0","sha":"abc"}}"#;
        assert_eq!(
            reported_version(nested, "build.version").as_deref(),
            Some("v1.2.0")
        );
        assert_eq!(reported_version(body, "build.version"), None);
        assert_eq!(
            reported_version("v2.0.0\n", "version").as_deref(),
            Some("v2.0.0")
        );
        assert_eq!(reported_version("", "version"), None);
        // Hostile text is made inert.
        let evil = "{\"version\":\"v1\\u001b]0;PWNED\\u0007\"}";
        assert_eq!(reported_version(evil, "version").as_deref(), Some("v1"));
    }

    #[test]
    fn a_leading_v_does_not_make_another_version() {
        assert!(same_version("0.7.3", "v0.7.3"));
        assert!(same_version("v0.7.3", "v0.7.3"));
        assert!(!same_version("0.7.2", "v0.7.3"));
        assert!(!same_version("0.7.3-rc.1", "v0.7.3"));
    }
}
