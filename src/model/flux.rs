//! What a Flux `Kustomization` says (`kustomize.toolkit.fluxcd.io/v1`),
//! read from its status: whether it is suspended, Ready, Reconciling or
//! Stalled (with Flux's own message), and which revision of its source it
//! last applied (`main@sha1:…`). Pure; the text is cleaned where it is read.

use serde::Serialize;
use serde_json::Value;

use super::text;

/// The state of one Kustomization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FluxState {
    pub suspended: bool,
    /// The `Ready` condition: `Some(true)` True, `Some(false)` False, `None` Unknown or absent.
    pub ready: Option<bool>,
    pub reconciling: bool,
    pub stalled: bool,
    /// The `Ready` condition's message (or `Stalled`'s, when stalled).
    pub message: String,
    pub last_applied: Option<String>,
    pub last_attempted: Option<String>,
    pub last_handled: Option<String>,
    /// When the `Ready` condition last changed (unix seconds).
    pub ready_since: Option<i64>,
}

fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

fn clean(v: &Value) -> Option<String> {
    v.as_str()
        .map(|s| text::truncate(&text::line(s), 300))
        .filter(|s| !s.is_empty())
}

impl FluxState {
    /// From a Kustomization object as the API serves it.
    pub fn from_object(obj: &Value) -> FluxState {
        let ready = condition(obj, "Ready");
        let stalled = condition(obj, "Stalled").is_some_and(|c| c["status"] == "True");
        let message = if stalled {
            condition(obj, "Stalled").and_then(|c| clean(&c["message"]))
        } else {
            ready.and_then(|c| clean(&c["message"]))
        };
        FluxState {
            suspended: obj["spec"]["suspend"] == true,
            ready: match ready.and_then(|c| c["status"].as_str()) {
                Some("True") => Some(true),
                Some("False") => Some(false),
                _ => None,
            },
            reconciling: condition(obj, "Reconciling").is_some_and(|c| c["status"] == "True"),
            stalled,
            message: message.unwrap_or_default(),
            last_applied: clean(&obj["status"]["lastAppliedRevision"]),
            last_attempted: clean(&obj["status"]["lastAttemptedRevision"]),
            last_handled: clean(&obj["status"]["lastHandledReconcileAt"]),
            ready_since: ready
                .and_then(|c| c["lastTransitionTime"].as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp()),
        }
    }

    /// One word, as `flux get kustomizations` would put it.
    pub fn word(&self) -> &'static str {
        if self.suspended {
            "Suspended"
        } else if self.stalled {
            "Stalled"
        } else if self.reconciling {
            "Reconciling"
        } else {
            match self.ready {
                Some(true) => "Ready",
                Some(false) => "Failed",
                None => "Unknown",
            }
        }
    }

    /// Whether it is in trouble (stalled, failed, suspended).
    pub fn troubled(&self) -> bool {
        self.suspended || self.stalled || self.ready == Some(false)
    }

    /// Whether it has applied the commit `sha` (a full or abbreviated hex).
    pub fn applied(&self, sha: &str) -> bool {
        self.last_applied
            .as_deref()
            .and_then(revision_sha)
            .is_some_and(|s| !sha.is_empty() && (s.starts_with(sha) || sha.starts_with(s)))
    }

    /// Whether its last attempt was at `sha` and failed there.
    pub fn failed_at(&self, sha: &str) -> bool {
        (self.stalled || self.ready == Some(false))
            && self
                .last_attempted
                .as_deref()
                .and_then(revision_sha)
                .is_some_and(|s| !sha.is_empty() && s.starts_with(sha))
    }

    /// `Ready (main@3f2a1c9)`, `Stalled: kustomize build failed: …`.
    pub fn words(&self) -> String {
        let rev = self
            .last_applied
            .as_deref()
            .map(short_revision)
            .map(|r| format!(" (applied {r})"))
            .unwrap_or_default();
        match self.word() {
            "Ready" => format!("Ready{rev}"),
            "Suspended" => format!("Suspended{rev}"),
            w if self.message.is_empty() => format!("{w}{rev}"),
            w => format!("{w}: {}", self.message),
        }
    }
}

/// The commit that last changed an environment's manifest, and the tag the
/// manifest holds on the branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManifestCommit {
    pub tag: String,
    /// Full sha.
    pub commit: String,
    /// Commit time, unix seconds.
    pub at: i64,
    pub subject: String,
}

/// What one GitOps environment says: its manifest and its Flux state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GitopsReading {
    pub manifest: Result<ManifestCommit, String>,
    pub flux: Result<FluxState, String>,
    /// The manifest's last commit is pushed and Flux has not applied it
    /// (nor anything after it) yet.
    pub unapplied: bool,
}

impl GitopsReading {
    /// What to say when something is off: `(words, trouble)`, trouble
    /// being Flux failing, stalled or suspended (or unreadable), else a
    /// manifest commit Flux has not applied yet. `None` when all is well.
    pub fn note(&self) -> Option<(String, bool)> {
        match &self.flux {
            Err(e) => return Some((format!("Flux: {e}"), true)),
            Ok(f) if f.suspended => {
                return Some((
                    "Flux Kustomization suspended: no commit is applied until it is resumed (flux resume kustomization)".into(),
                    true,
                ))
            }
            Ok(f) if f.stalled || f.ready == Some(false) => {
                return Some((format!("Flux {}: {}", f.word(), f.message), true))
            }
            Ok(_) => {}
        }
        match &self.manifest {
            Err(e) => Some((format!("GitOps manifest: {e}"), true)),
            Ok(m) if self.unapplied => Some((
                format!(
                    "manifest commit {} ({}) not applied by Flux yet",
                    &m.commit[..m.commit.len().min(7)],
                    m.tag
                ),
                false,
            )),
            Ok(_) => None,
        }
    }

    /// The tag the manifest holds (what should run).
    pub fn expected(&self) -> Option<&str> {
        self.manifest.as_ref().ok().map(|m| m.tag.as_str())
    }
}

/// The commit of a Flux revision (`main@sha1:SHA` → `SHA`).
pub fn revision_sha(revision: &str) -> Option<&str> {
    revision.rsplit_once("@sha1:").map(|(_, s)| s)
}

/// `main@sha1:3f2a1c9d…` → `main@3f2a1c9`.
pub fn short_revision(revision: &str) -> String {
    match revision.rsplit_once("@sha1:") {
        Some((branch, sha)) => format!("{branch}@{}", &sha[..sha.len().min(7)]),
        None => revision.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_read_from_conditions() {
        let ready = json!({"spec": {}, "status": {"lastAppliedRevision": "main@sha1:3f2a1c9d00",
            "conditions": [{"type": "Ready", "status": "True", "message": "Applied revision: main@sha1:3f2a1c9d00"}]}});
        let s = FluxState::from_object(&ready);
        assert_eq!(s.word(), "Ready");
        assert!(s.applied("3f2a1c9"));
        assert!(!s.applied("4f2a1c9"));
        assert_eq!(s.words(), "Ready (applied main@3f2a1c9)");
        let stalled = json!({"spec": {}, "status": {"lastAttemptedRevision": "main@sha1:abc",
            "conditions": [{"type": "Ready", "status": "False", "message": "x"},
                {"type": "Stalled", "status": "True", "message": "kustomize build failed: \u{1b}]0;pwned\u{7}bad"}]}});
        let s = FluxState::from_object(&stalled);
        assert_eq!(s.word(), "Stalled");
        assert!(s.failed_at("abc"));
        assert!(!s.message.contains('\u{1b}'), "{:?}", s.message);
        let suspended = json!({"spec": {"suspend": true}, "status": {}});
        assert_eq!(FluxState::from_object(&suspended).word(), "Suspended");
        assert_eq!(FluxState::from_object(&json!({})).word(), "Unknown");
    }
}
