//! How the release delivery model makes CI deploy, decided from what the
//! service's workflow really triggers on (its `on:` block), because of two
//! GitHub facts:
//!
//! - creating a published release fires `created`, `published` and
//!   `released` (a prerelease: `prereleased`); a draft fires `created` only,
//!   and GitHub runs no workflow for a draft's `created` or `edited`;
//! - changing a prerelease to a release fires `edited` and `released`, not
//!   `published`; "set as latest" alone fires only `edited`; publishing a
//!   draft fires `published` (and `released` / `prereleased`).
//!
//! So a promote edits the release when the workflow listens to `released`,
//! dispatches the workflow when it offers `workflow_dispatch` with a tag
//! input, or else makes a draft round trip (edit to draft, publish again as
//! latest, which fires `published`) — said in the confirmation. Where nothing
//! can work, hearth refuses and names the one-line fix. Pure.

use serde_yaml::Value;

/// What a workflow file triggers on, as far as releases are concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Triggers {
    /// `None`: no `release` trigger; `Some(empty)`: every activity type.
    pub release: Option<Vec<String>>,
    /// `Some(inputs)` when the workflow has `workflow_dispatch` (its input names).
    pub dispatch: Option<Vec<String>>,
    /// `Some` when the workflow runs on `push`, with its filters.
    pub push: Option<PushFilter>,
    /// The workflow's `run-name` (its runs' title), when it sets one.
    pub run_name: Option<String>,
}

/// The branch and tag filters of an `on: push` trigger (`None`: that list
/// is not given).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushFilter {
    pub branches: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
}

impl PushFilter {
    /// Whether a push of branch `name` starts the workflow (GitHub's rule:
    /// with only `tags` given, no branch push does).
    pub fn runs_on_branch(&self, name: &str) -> bool {
        match &self.branches {
            Some(p) => p.iter().any(|p| glob(p, name)),
            None => self.tags.is_none(),
        }
    }

    /// Whether a push of tag `name` starts the workflow.
    pub fn runs_on_tag(&self, name: &str) -> bool {
        match &self.tags {
            Some(p) => p.iter().any(|p| glob(p, name)),
            None => self.branches.is_none(),
        }
    }
}

/// GitHub's filter patterns, the common part: `*` within a path segment,
/// `**` across segments, `?` one character; anything else literally.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) if rest.first() == Some(&b'*') => {
                (0..=n.len()).any(|i| go(&rest[1..], &n[i..]))
            }
            Some((b'*', rest)) => {
                let stop = n.iter().position(|&c| c == b'/').unwrap_or(n.len());
                (0..=stop).any(|i| go(rest, &n[i..]))
            }
            Some((b'?', rest)) => n.first().is_some_and(|&c| c != b'/') && go(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Input names a dispatch can pass the tag in, in order of preference.
const TAG_INPUTS: &[&str] = &["tag", "version", "release", "image_tag", "ref"];

impl Triggers {
    /// Read the `on:` block of a workflow file.
    pub fn parse(yaml: &str) -> Result<Triggers, String> {
        let doc: Value = serde_yaml::from_str(yaml).map_err(|e| format!("not valid YAML: {e}"))?;
        // YAML 1.1 parsers read a bare `on` key as `true`; accept both spellings.
        let on = doc
            .get("on")
            .or_else(|| doc.as_mapping()?.get(Value::Bool(true)))
            .ok_or("no `on:` block")?;
        let mut t = Triggers {
            run_name: doc
                .get("run-name")
                .and_then(Value::as_str)
                .map(|s| crate::model::text::own_line(s.to_string())),
            ..Triggers::default()
        };
        let names = |v: &Value| -> Vec<String> {
            match v {
                // A workflow file is anyone's who can push: its names are
                // made inert here, where it is read.
                Value::String(s) => vec![crate::model::text::own_line(s.clone())],
                Value::Sequence(items) => items
                    .iter()
                    .filter_map(|v| {
                        v.as_str()
                            .map(|s| crate::model::text::own_line(s.to_string()))
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        match on {
            Value::String(_) | Value::Sequence(_) => {
                let events = names(on);
                if events.iter().any(|e| e == "release") {
                    t.release = Some(Vec::new());
                }
                if events.iter().any(|e| e == "workflow_dispatch") {
                    t.dispatch = Some(Vec::new());
                }
                if events.iter().any(|e| e == "push") {
                    t.push = Some(PushFilter::default());
                }
            }
            Value::Mapping(m) => {
                if let Some(release) = m.get("release") {
                    t.release = Some(release.get("types").map(names).unwrap_or_default());
                }
                if let Some(d) = m.get("workflow_dispatch") {
                    let inputs = d
                        .get("inputs")
                        .and_then(Value::as_mapping)
                        .map(|i| {
                            i.keys()
                                .filter_map(|k| {
                                    k.as_str()
                                        .map(|s| crate::model::text::own_line(s.to_string()))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    t.dispatch = Some(inputs);
                }
                if let Some(p) = m.get("push") {
                    t.push = Some(PushFilter {
                        branches: p.get("branches").map(names),
                        tags: p.get("tags").map(names),
                    });
                }
            }
            _ => return Err("`on:` is neither an event, a list nor a map".into()),
        }
        Ok(t)
    }

    /// Whether a release activity type starts the workflow.
    pub fn listens(&self, activity: &str) -> bool {
        match &self.release {
            None => false,
            Some(types) => types.is_empty() || types.iter().any(|t| t == activity),
        }
    }

    /// The `workflow_dispatch` input that takes the tag, when there is one.
    pub fn dispatch_tag_input(&self) -> Option<&str> {
        let inputs = self.dispatch.as_ref()?;
        TAG_INPUTS
            .iter()
            .find_map(|want| inputs.iter().find(|i| i == want))
            .map(String::as_str)
    }

    /// The release types, as written in the file (for messages).
    pub fn types_words(&self) -> String {
        match &self.release {
            None => "no release trigger".into(),
            Some(t) if t.is_empty() => "every release activity".into(),
            Some(t) => format!("release types [{}]", t.join(", ")),
        }
    }
}

/// How a promote (or a clean rollback) makes CI deploy a release to prod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// Edit the release (prerelease → release, latest): fires `released`.
    Edit,
    /// Run the workflow by hand with the tag as the named input.
    Dispatch { input: String },
    /// Edit to draft, then publish again as latest: fires `published`.
    DraftRoundTrip,
}

impl Mechanism {
    /// How the confirmation and the journal say it.
    pub fn words(&self) -> String {
        match self {
            Mechanism::Edit => "edit the release (fires `released`)".into(),
            Mechanism::Dispatch { input } => {
                format!("run the workflow by workflow_dispatch with {input}=TAG")
            }
            Mechanism::DraftRoundTrip => {
                "draft round trip: make the release a draft, then publish it again as latest (fires `published`; the release is briefly a draft)".into()
            }
        }
    }

    /// A short name for the journal and `hearth check`.
    pub fn short(&self) -> &'static str {
        match self {
            Mechanism::Edit => "edit",
            Mechanism::Dispatch { .. } => "workflow_dispatch",
            Mechanism::DraftRoundTrip => "draft round trip",
        }
    }
}

/// Why nothing can make CI deploy, and the one-line change that fixes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub fix: String,
}

fn fix_line(workflow: &str, want: &str) -> String {
    format!(
        "in .github/workflows/{workflow}, listen to it: `on: {{release: {{types: [{want}]}}}}` (hearth setup --workflow writes it)"
    )
}

/// Whether creating a release (published; prerelease for qa) starts the
/// workflow. A draft starts nothing, by design.
pub fn ship(t: &Triggers, prerelease: bool, workflow: &str) -> Result<(), Refusal> {
    let kind = if prerelease {
        "prereleased"
    } else {
        "released"
    };
    if ["created", "published", kind].iter().any(|a| t.listens(a)) {
        return Ok(());
    }
    Err(Refusal {
        message: format!(
            "publishing a release would start no run: {workflow} has {}",
            t.types_words()
        ),
        fix: fix_line(workflow, "published, released"),
    })
}

/// How a promote makes CI deploy the promoted release.
pub fn promote(t: &Triggers, workflow: &str) -> Result<Mechanism, Refusal> {
    if t.listens("released") || t.listens("edited") {
        return Ok(Mechanism::Edit);
    }
    if let Some(input) = t.dispatch_tag_input() {
        return Ok(Mechanism::Dispatch {
            input: input.to_string(),
        });
    }
    if t.listens("published") {
        return Ok(Mechanism::DraftRoundTrip);
    }
    Err(Refusal {
        message: format!(
            "nothing a promote can do starts {workflow}: it has {}{}",
            t.types_words(),
            if t.dispatch.is_some() {
                " and a workflow_dispatch without a tag input"
            } else {
                ""
            }
        ),
        fix: fix_line(workflow, "published, released"),
    })
}

/// How a clean rollback makes CI redeploy the previous release (already a
/// published release, so only an `edited`, a dispatch or a draft round trip
/// can start a run).
pub fn clean_rollback(t: &Triggers, workflow: &str) -> Result<Mechanism, Refusal> {
    if let Some(input) = t.dispatch_tag_input() {
        return Ok(Mechanism::Dispatch {
            input: input.to_string(),
        });
    }
    if t.listens("edited") {
        return Ok(Mechanism::Edit);
    }
    if t.listens("published") || t.listens("released") {
        return Ok(Mechanism::DraftRoundTrip);
    }
    Err(Refusal {
        message: format!(
            "nothing a clean rollback can do starts {workflow}: it has {}",
            t.types_words()
        ),
        fix: fix_line(workflow, "published, released"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names read from a workflow file reach refusals and plans: inert.
    #[test]
    fn names_from_a_workflow_file_are_inert() {
        let yaml = "on:\n  workflow_dispatch:\n    inputs:\n      \"tag\\e]0;X\\a\": {}\n  release:\n    types: [\"pub\\e[2Jlished\"]\n";
        let t = Triggers::parse(yaml).unwrap();
        let names = [t.dispatch.unwrap(), t.release.unwrap()].concat();
        assert_eq!(names.len(), 2, "{names:?}");
        for n in &names {
            assert!(!n.contains('\u{1b}') && !n.contains('\u{7}'), "{n:?}");
        }
        assert_eq!(names, ["tag", "published"]);
    }

    fn t(yaml: &str) -> Triggers {
        Triggers::parse(yaml).unwrap()
    }

    #[test]
    fn triggers_parse_every_spelling() {
        let p = t("on:\n  release:\n    types: [published]\n");
        assert!(p.listens("published") && !p.listens("released"));
        assert!(t("on: release\n").listens("edited"));
        assert!(t("on: [push, release]\n").listens("released"));
        assert!(t("on:\n  release:\n    types: released\n").listens("released"));
        assert!(!t("on:\n  push:\n    branches: [main]\n").listens("published"));
        let d = t("on:\n  workflow_dispatch:\n    inputs:\n      environment: {}\n      tag: {required: true}\n");
        assert_eq!(d.dispatch_tag_input(), Some("tag"));
        assert_eq!(t("on: [workflow_dispatch]\n").dispatch_tag_input(), None);
        assert!(Triggers::parse("not: [valid").is_err());
        assert!(Triggers::parse("name: x\n").is_err());
    }

    #[test]
    fn push_filters_follow_github() {
        let branch = t("on:\n  push:\n    branches: [main, 'release/**']\n")
            .push
            .unwrap();
        assert!(branch.runs_on_branch("main") && branch.runs_on_branch("release/1/x"));
        assert!(!branch.runs_on_branch("feature"));
        assert!(
            !branch.runs_on_tag("v1.0.0"),
            "branches only: a tag push runs nothing"
        );
        let tags = t("on:\n  push:\n    tags: ['v*']\n").push.unwrap();
        assert!(tags.runs_on_tag("v1.2.3") && !tags.runs_on_tag("x1"));
        assert!(
            !tags.runs_on_branch("main"),
            "tags only: a branch push runs nothing"
        );
        let any = t("on: [push]\n").push.unwrap();
        assert!(any.runs_on_branch("x") && any.runs_on_tag("y"));
        let bare = t("on:\n  push:\n").push.unwrap();
        assert!(bare.runs_on_branch("main"));
        assert!(glob("v?.*", "v1.2") && !glob("v*", "v1/2") && glob("**", "a/b"));
        assert!(t("on: release\n").push.is_none());
    }

    #[test]
    fn promote_picks_a_mechanism_the_workflow_triggers_on() {
        let wf = "release.yml";
        assert_eq!(
            promote(
                &t("on:\n  release:\n    types: [published, released]\n"),
                wf
            ),
            Ok(Mechanism::Edit)
        );
        assert_eq!(
            promote(&t("on:\n  release:\n    types: [published]\n"), wf),
            Ok(Mechanism::DraftRoundTrip)
        );
        assert_eq!(
            promote(
                &t("on:\n  release:\n    types: [published]\n  workflow_dispatch:\n    inputs:\n      version: {}\n"),
                wf
            ),
            Ok(Mechanism::Dispatch {
                input: "version".into()
            })
        );
        let refused = promote(&t("on:\n  release:\n    types: [prereleased]\n"), wf).unwrap_err();
        assert!(
            refused.fix.contains("types: [published, released]"),
            "{refused:?}"
        );
        assert!(ship(&t("on:\n  release:\n    types: [prereleased]\n"), true, wf).is_ok());
        assert!(ship(&t("on:\n  release:\n    types: [prereleased]\n"), false, wf).is_err());
    }

    #[test]
    fn clean_rollback_needs_a_run_for_an_already_published_release() {
        let wf = "release.yml";
        // `released` alone cannot fire again for a release that already is one.
        assert_eq!(
            clean_rollback(&t("on:\n  release:\n    types: [released]\n"), wf),
            Ok(Mechanism::DraftRoundTrip)
        );
        assert_eq!(
            clean_rollback(&t("on:\n  release:\n    types: [edited]\n"), wf),
            Ok(Mechanism::Edit)
        );
        assert!(clean_rollback(&t("on:\n  push: {}\n"), wf).is_err());
    }
}
