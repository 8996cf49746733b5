//! The request journal: every Kubernetes and GitHub request the sandbox
//! served, so tests can assert what a client did. Shared by the API servers
//! (which record) and the control API (which serves `GET /requests`).

use std::sync::Mutex;

use serde::Serialize;

/// One served request.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JournalEntry {
    /// RFC 3339 time the request was answered.
    pub time: String,
    /// `"kube"` or `"github"`.
    pub api: String,
    pub method: String,
    /// Path with query string.
    pub path: String,
    pub status: u16,
    /// A conditional request answered `304 Not Modified`.
    pub conditional_hit: bool,
}

/// Append-only, in-memory journal.
#[derive(Default, Debug)]
pub struct Journal {
    entries: Mutex<Vec<JournalEntry>>,
}

impl Journal {
    pub fn record(&self, api: &str, method: &str, path: &str, status: u16, conditional_hit: bool) {
        let entry = JournalEntry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            api: api.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            status,
            conditional_hit,
        };
        self.entries.lock().expect("journal lock").push(entry);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries.lock().expect("journal lock").clone()
    }

    pub fn clear(&self) {
        self.entries.lock().expect("journal lock").clear();
    }
}
