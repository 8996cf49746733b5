//! The next version from a repository's semver tags: `v0.0.27` → `v0.0.28`
//! (`--minor`, `--major`), a release candidate `v0.0.28-rc.1` then `-rc.2`.
//! Versions only move forward: when a candidate line is already open above
//! the latest stable release (`v1.5.0-rc.1` after `v1.4.2`), a patch ship
//! continues it (`v1.5.0-rc.2`, then `v1.5.0`) instead of going back to
//! `v1.4.3`. Pure.

use semver::{Prerelease, Version};

use super::Bump;

fn parse(tag: &str) -> Option<Version> {
    Version::parse(tag.strip_prefix('v')?).ok()
}

fn tag_of(v: &Version) -> String {
    format!("v{v}")
}

/// The candidate number of `-rc.N`, when the prerelease is one.
fn rc_number(pre: &Prerelease) -> Option<u64> {
    pre.as_str().strip_prefix("rc.")?.parse().ok()
}

/// The newest stable (non-prerelease) version among `tags`.
pub fn latest_stable(tags: &[String]) -> Option<Version> {
    tags.iter()
        .filter_map(|t| parse(t))
        .filter(|v| v.pre.is_empty())
        .max()
}

/// The version the next ship releases: a stable one, or (`rc`) the next
/// release candidate of it.
pub fn next(tags: &[String], bump: Bump, rc: bool) -> String {
    let versions: Vec<Version> = tags.iter().filter_map(|t| parse(t)).collect();
    let stable = versions
        .iter()
        .filter(|v| v.pre.is_empty())
        .max()
        .cloned()
        .unwrap_or_else(|| Version::new(0, 0, 0));
    let bumped = match bump {
        Bump::Patch => Version::new(stable.major, stable.minor, stable.patch + 1),
        Bump::Minor => Version::new(stable.major, stable.minor + 1, 0),
        Bump::Major => Version::new(stable.major + 1, 0, 0),
    };
    // An open candidate line above the latest stable release: continue it
    // rather than go back below it.
    let open = versions
        .iter()
        .filter(|v| !v.pre.is_empty())
        .map(|v| Version::new(v.major, v.minor, v.patch))
        .filter(|base| *base > stable)
        .max();
    let base = match open {
        Some(o) if o > bumped => o,
        _ => bumped,
    };
    if !rc {
        return tag_of(&base);
    }
    let n = versions
        .iter()
        .filter(|v| (v.major, v.minor, v.patch) == (base.major, base.minor, base.patch))
        .filter_map(|v| rc_number(&v.pre))
        .max()
        .unwrap_or(0);
    let mut v = base;
    v.pre = Prerelease::new(&format!("rc.{}", n + 1)).expect("rc.N is a valid prerelease");
    tag_of(&v)
}

/// The newest existing tag of a kind: the newest stable one, or (`rc`) the
/// newest prerelease (what `--no-version` releases).
pub fn latest_existing(tags: &[String], rc: bool) -> Option<String> {
    tags.iter()
        .filter_map(|t| parse(t).map(|v| (v, t)))
        .filter(|(v, _)| v.pre.is_empty() != rc)
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, t)| t.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn patch_minor_major_and_candidates() {
        let t = tags(&["v0.0.26", "v0.0.27", "not-semver", "v0.0.9"]);
        assert_eq!(next(&t, Bump::Patch, false), "v0.0.28");
        assert_eq!(next(&t, Bump::Minor, false), "v0.1.0");
        assert_eq!(next(&t, Bump::Major, false), "v1.0.0");
        assert_eq!(next(&t, Bump::Patch, true), "v0.0.28-rc.1");
        let t = tags(&["v0.0.27", "v0.0.28-rc.1"]);
        assert_eq!(next(&t, Bump::Patch, true), "v0.0.28-rc.2");
        assert_eq!(next(&t, Bump::Patch, false), "v0.0.28");
        let t = tags(&["v0.0.27", "v0.0.28-rc.1", "v0.0.28-rc.10", "v0.0.28-rc.2"]);
        assert_eq!(next(&t, Bump::Patch, true), "v0.0.28-rc.11");
        assert_eq!(next(&[], Bump::Patch, false), "v0.0.1");
    }

    #[test]
    fn versions_only_move_forward() {
        // An open candidate line above the latest release is continued.
        let t = tags(&["v1.4.2", "v1.5.0-rc.1"]);
        assert_eq!(next(&t, Bump::Patch, true), "v1.5.0-rc.2");
        assert_eq!(next(&t, Bump::Patch, false), "v1.5.0");
        assert_eq!(next(&t, Bump::Minor, true), "v1.5.0-rc.2");
        assert_eq!(next(&t, Bump::Major, true), "v2.0.0-rc.1");
        // A candidate below the latest release is history, not a line.
        let t = tags(&["v1.4.2", "v1.4.0-rc.3"]);
        assert_eq!(next(&t, Bump::Patch, true), "v1.4.3-rc.1");
    }

    #[test]
    fn latest_existing_by_kind() {
        let t = tags(&["v0.1.0", "v0.2.0", "v0.2.1-rc.1", "v0.1.5"]);
        assert_eq!(latest_existing(&t, false).as_deref(), Some("v0.2.0"));
        assert_eq!(latest_existing(&t, true).as_deref(), Some("v0.2.1-rc.1"));
        assert_eq!(latest_existing(&[], false), None);
        assert_eq!(latest_stable(&t), Version::parse("0.2.0").ok());
    }
}
