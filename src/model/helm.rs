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
