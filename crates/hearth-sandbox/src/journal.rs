//! The request journal: every Kubernetes and GitHub request the sandbox
//! served, so tests can assert what a client did. Shared by the API servers
//! (which record) and the control API (which serves `GET /requests`).

use std::collections::VecDeque;
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

/// How many entries the journal keeps: a long `hearth demo` polling hundreds
/// of services must not grow without bound; tests stay far below this.
pub const JOURNAL_LIMIT: usize = 200_000;

/// Append-only, in-memory journal of the last [`JOURNAL_LIMIT`] requests.
#[derive(Default, Debug)]
pub struct Journal {
    entries: Mutex<VecDeque<JournalEntry>>,
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
        let mut entries = self.entries.lock().expect("journal lock");
        if entries.len() >= JOURNAL_LIMIT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries
            .lock()
            .expect("journal lock")
            .iter()
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.entries.lock().expect("journal lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_entries_only() {
        let j = Journal::default();
        for i in 0..JOURNAL_LIMIT + 3 {
            j.record("github", "GET", &format!("/{i}"), 200, false);
        }
        let e = j.entries();
        assert_eq!(e.len(), JOURNAL_LIMIT);
        assert_eq!(e[0].path, "/3");
        j.clear();
        assert!(j.entries().is_empty());
    }
}
