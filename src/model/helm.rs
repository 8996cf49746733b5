//! A Helm release's history, as `helm history` lists it (read from Helm's
//! release Secrets by `cluster::helm`).

use serde::Serialize;

/// One revision, as `helm history` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelmRevision {
    pub revision: u64,
    /// `deployed`, `superseded`, `failed`, `pending-upgrade`, ...
    pub status: String,
    /// `NAME-VERSION`, as `helm history`'s CHART column.
    pub chart: String,
    pub app_version: String,
    /// RFC 3339, when the revision was deployed.
    pub updated: String,
    pub description: String,
}

/// A release's history, newest revision first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelmHistory {
    pub release: String,
    pub revisions: Vec<HelmRevision>,
}

impl HelmHistory {
    /// The revision `helm rollback NAME` (no revision) would go back to:
    /// the newest `superseded` one older than the `deployed` one.
    pub fn previous(&self) -> Option<u64> {
        let current = self.revisions.iter().position(|r| r.status == "deployed")?;
        self.revisions[current + 1..]
            .iter()
            .find(|r| r.status == "superseded")
            .map(|r| r.revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(revision: u64, status: &str) -> HelmRevision {
        HelmRevision {
            revision,
            status: status.into(),
            chart: "billing-0.1.0".into(),
            app_version: String::new(),
            updated: String::new(),
            description: String::new(),
        }
    }

    /// `helm rollback NAME`'s target: past the deployed revision and a
    /// failed one, the newest superseded.
    #[test]
    fn previous_is_the_newest_superseded_below_deployed() {
        let h = HelmHistory {
            release: "billing".into(),
            revisions: vec![
                rev(5, "failed"),
                rev(4, "deployed"),
                rev(3, "failed"),
                rev(2, "superseded"),
                rev(1, "superseded"),
            ],
        };
        assert_eq!(h.previous(), Some(2));
        let first = HelmHistory {
            release: "billing".into(),
            revisions: vec![rev(1, "deployed")],
        };
        assert_eq!(first.previous(), None);
    }
}
