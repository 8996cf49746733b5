//! The image line of a GitOps manifest (`delivery: gitops`): where the
//! image is in the file, by a YAML path (`spec.template.spec.containers[0].image`)
//! or by Flux's image-automation setter marker (`# {"$imagepolicy":
//! "flux-system:api"}` for the whole image, `…:api:tag` for the tag
//! alone); what tag it holds; and the same text with another tag, changed
//! on that one line so that comments, order and layout stay as written
//! (the commit's diff is one line). Pure: the git side is in `ops::gitops`.

use crate::registry::tree::{self, Node, Value};
use crate::registry::ImageAt;

/// One step of a YAML path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `spec.template.spec.containers[0].image` → its steps; `None` when it
/// is not a path (empty parts, an unclosed or non-numeric index).
pub fn parse_path(s: &str) -> Option<Vec<Seg>> {
    let mut out = Vec::new();
    for part in s.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if (key.is_empty() && (out.is_empty() || rest.is_empty())) || key.contains(']') {
            return None;
        }
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Seg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Where the value is: its line (0-based), the byte range of the value in
/// that line (quotes excluded), whether it is the tag alone.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Located {
    line: usize,
    start: usize,
    end: usize,
    tag_only: bool,
}

/// Why an image line was not found or not changed, in a sentence.
pub type Why = String;

fn locate(text: &str, at: &ImageAt) -> Result<Located, Why> {
    match at {
        ImageAt::Setter(policy) => locate_setter(text, policy),
        ImageAt::Path(path) => locate_path(text, path),
    }
}

/// The value on a line that carries the setter marker of `policy`.
fn locate_setter(text: &str, policy: &str) -> Result<Located, Why> {
    let (want, tag_only) = match policy.strip_suffix(":tag") {
        Some(p) => (p, true),
        None => (policy, false),
    };
    for (n, line) in text.lines().enumerate() {
        let Some(hash) = line.find("# {") else {
            continue;
        };
        let marker: serde_json::Value = match serde_json::from_str(line[hash + 2..].trim()) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let Some(named) = marker.get("$imagepolicy").and_then(|v| v.as_str()) else {
            continue;
        };
        let (named, named_tag) = match named.strip_suffix(":tag") {
            Some(p) => (p, true),
            None => (named, false),
        };
        if named != want {
            continue;
        }
        let before = &line[..hash];
        // `key: value ` or `- value `.
        let value_start = match before.find(": ") {
            Some(i) => i + 2,
            None => match before.trim_start().strip_prefix("- ") {
                Some(_) => before.find("- ").map_or(0, |i| i + 2),
                None => {
                    return Err(format!(
                        "line {} carries the marker of {policy} but no value",
                        n + 1
                    ))
                }
            },
        };
        let (start, end) = value_span(line, value_start, hash)?;
        return Ok(Located {
            line: n,
            start,
            end,
            tag_only: tag_only || named_tag,
        });
    }
    Err(format!(
        "no line carries the marker # {{\"$imagepolicy\": \"{policy}\"}}"
    ))
}

/// The byte range of a scalar that starts at or after `from` and ends
/// before `limit` (a comment), without its quotes.
fn value_span(line: &str, from: usize, limit: usize) -> Result<(usize, usize), Why> {
    let region = &line[from..limit];
    let lead = region.len() - region.trim_start().len();
    let start = from + lead;
    let body = line[start..limit].trim_end();
    match body.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let close = body[1..]
                .find(q)
                .ok_or_else(|| "an unclosed quote on the image line".to_string())?;
            Ok((start + 1, start + 1 + close))
        }
        Some(_) => Ok((start, start + body.len())),
        None => Err("the image line has no value".into()),
    }
}

/// The value a YAML path names, found through the bounded parser.
fn locate_path(text: &str, path: &str) -> Result<Located, Why> {
    let segs = parse_path(path).ok_or_else(|| format!("`{path}` is not a YAML path"))?;
    let root = tree::parse(text)
        .map_err(|e| format!("line {}: {}", e.pos.line, e.message))?
        .ok_or_else(|| "the manifest is empty".to_string())?;
    let mut node: &Node = &root;
    for seg in &segs {
        node = match (seg, &node.value) {
            (Seg::Key(k), Value::Map(entries)) => entries
                .iter()
                .find(|(key, _)| key.as_text().as_deref() == Some(k))
                .map(|(_, v)| v)
                .ok_or_else(|| format!("the manifest has no `{path}` (no key `{k}`)"))?,
            (Seg::Index(i), Value::Seq(items)) => items
                .get(*i)
                .ok_or_else(|| format!("the manifest has no `{path}` (no item [{i}])"))?,
            _ => return Err(format!("the manifest has no `{path}`")),
        };
    }
    if !matches!(node.value, Value::Str(_)) {
        return Err(format!("`{path}` is {}, not an image", node.type_name()));
    }
    let line_no = node.pos.line.saturating_sub(1);
    let line = text
        .lines()
        .nth(line_no)
        .ok_or_else(|| format!("`{path}` points past the end of the file"))?;
    // The parser counts columns in characters.
    let from = line
        .char_indices()
        .nth(node.pos.col.saturating_sub(1))
        .map_or(line.len(), |(i, _)| i);
    let limit = line[from..].find(" #").map_or(line.len(), |i| from + i);
    let (start, end) = value_span(line, from, limit)?;
    Ok(Located {
        line: line_no,
        start,
        end,
        tag_only: false,
    })
}

/// The tag of an image reference (`ghcr.io/o/api:v1` → `v1`); `None`
/// without one (a digest alone, or no tag).
pub fn tag_of_image(image: &str) -> Option<&str> {
    let image = image.split('@').next().unwrap_or(image);
    let i = image.rfind(':')?;
    let tag = &image[i + 1..];
    (!tag.contains('/') && !tag.is_empty()).then_some(tag)
}

/// The image (or the tag alone, for a `:tag` setter) the manifest holds.
pub fn value(text: &str, at: &ImageAt) -> Result<String, Why> {
    let l = locate(text, at)?;
    let line = text.lines().nth(l.line).unwrap_or("");
    Ok(line[l.start..l.end].to_string())
}

/// The tag the manifest holds.
pub fn tag(text: &str, at: &ImageAt) -> Result<String, Why> {
    let l = locate(text, at)?;
    let line = text.lines().nth(l.line).unwrap_or("");
    let v = &line[l.start..l.end];
    if l.tag_only {
        return Ok(v.to_string());
    }
    tag_of_image(v)
        .map(str::to_string)
        .ok_or_else(|| format!("the image `{v}` has no tag"))
}

/// Whether `tag` can stand as an image tag (letters, digits, `.`, `_`,
/// `-`): what hearth writes into a manifest.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `text` with `tag` in place of the tag on the image line (the image's
/// repository kept, a digest dropped), every other byte as it was.
pub fn with_tag(text: &str, at: &ImageAt, new_tag: &str) -> Result<String, Why> {
    if !valid_tag(new_tag) {
        return Err(format!("`{new_tag}` is not an image tag"));
    }
    let l = locate(text, at)?;
    let mut out = String::with_capacity(text.len() + new_tag.len());
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if n != l.line {
            out.push_str(line);
            continue;
        }
        let old = &line[l.start..l.end];
        let new_value = if l.tag_only {
            new_tag.to_string()
        } else {
            let repo = old.split('@').next().unwrap_or(old);
            let repo = match repo.rfind(':') {
                Some(i) if !repo[i..].contains('/') => &repo[..i],
                _ => repo,
            };
            format!("{repo}:{new_tag}")
        };
        out.push_str(&line[..l.start]);
        out.push_str(&new_value);
        out.push_str(&line[l.end..]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/acme/api:v0.7.2 # {\"$imagepolicy\": \"flux-system:api\"}\n        - name: sidecar\n          image: \"ghcr.io/acme/proxy:1.0\"\n";

    #[test]
    fn paths_parse_keys_and_indices() {
        assert_eq!(
            parse_path("spec.containers[0].image").unwrap(),
            vec![
                Seg::Key("spec".into()),
                Seg::Key("containers".into()),
                Seg::Index(0),
                Seg::Key("image".into())
            ]
        );
        for bad in ["", ".a", "a..b", "a[x]", "a[0", "a]0"] {
            assert!(parse_path(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_setter_marker_finds_the_image_line() {
        let at = ImageAt::Setter("flux-system:api".into());
        assert_eq!(tag(DEPLOY, &at).unwrap(), "v0.7.2");
        let new = with_tag(DEPLOY, &at, "v0.7.3").unwrap();
        assert!(new.contains(
            "image: ghcr.io/acme/api:v0.7.3 # {\"$imagepolicy\": \"flux-system:api\"}\n"
        ));
        // One line changed, nothing else.
        let changed = DEPLOY
            .lines()
            .zip(new.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1);
        assert_eq!(DEPLOY.len(), new.len());
        let other = ImageAt::Setter("flux-system:web".into());
        assert!(tag(DEPLOY, &other).unwrap_err().contains("no line carries"));
    }

    #[test]
    fn a_tag_setter_holds_the_tag_alone() {
        let text = "images:\n  - name: ghcr.io/acme/api\n    newTag: v1.2.0 # {\"$imagepolicy\": \"flux-system:api:tag\"}\n";
        let at = ImageAt::Setter("flux-system:api:tag".into());
        assert_eq!(tag(text, &at).unwrap(), "v1.2.0");
        assert!(with_tag(text, &at, "v1.3.0")
            .unwrap()
            .contains("newTag: v1.3.0 # {"));
    }

    #[test]
    fn a_yaml_path_finds_quoted_and_plain_values() {
        let first = ImageAt::Path("spec.template.spec.containers[0].image".into());
        assert_eq!(tag(DEPLOY, &first).unwrap(), "v0.7.2");
        let second = ImageAt::Path("spec.template.spec.containers[1].image".into());
        assert_eq!(value(DEPLOY, &second).unwrap(), "ghcr.io/acme/proxy:1.0");
        let new = with_tag(DEPLOY, &second, "1.1").unwrap();
        assert!(new.contains("image: \"ghcr.io/acme/proxy:1.1\"\n"), "{new}");
        assert!(new.contains("api:v0.7.2 #"), "the other line stays");
        let missing = ImageAt::Path("spec.template.spec.containers[2].image".into());
        assert!(tag(DEPLOY, &missing).unwrap_err().contains("no item [2]"));
        let not_text = ImageAt::Path("spec.template".into());
        assert!(tag(DEPLOY, &not_text).unwrap_err().contains("a map"));
    }

    #[test]
    fn hostile_tags_and_digests() {
        let at = ImageAt::Setter("flux-system:api".into());
        for bad in ["", "v1 # x", "v1\n", "v1;rm"] {
            assert!(with_tag(DEPLOY, &at, bad).is_err(), "{bad:?}");
        }
        let digest = "c:\n  image: ghcr.io/acme/api:v1@sha256:abc # {\"$imagepolicy\": \"flux-system:api\"}\n";
        assert_eq!(tag(digest, &at).unwrap(), "v1");
        assert!(with_tag(digest, &at, "v2")
            .unwrap()
            .contains("image: ghcr.io/acme/api:v2 #"));
        assert_eq!(tag_of_image("localhost:5000/api"), None);
    }
}
