//! The audit journal: every operation appends one JSON line to
//! `$XDG_STATE_HOME/hearth/audit.jsonl` (time, git user, service,
//! environment, from-tag, to-tag, mechanism, steps, result). While an
//! operation runs, a marker file in `running/` beside the journal says so;
//! an operation whose process died leaves its marker behind, and the next
//! session shows it as interrupted with its recovery command. Never holds a
//! token: entries are built from plain fields, never from requests.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{OpKind, StepState};

/// One step as the journal records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub state: StepState,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub secs: Option<f64>,
}

/// One operation in the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339, UTC.
    pub time: String,
    pub user: String,
    pub op: String,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to_tag: Option<String>,
    /// How CI was made to deploy (`release published`, `draft round trip`,
    /// `workflow_dispatch`, `rollout undo`, ...).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mechanism: Option<String>,
    pub steps: Vec<StepRecord>,
    /// Every mutating request sent and its result (`git push … → ok`,
    /// `PUT /repos/o/r/actions/secrets/K3S_KUBECONFIG → 201 created`);
    /// requests and results only, never a body.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mutations: Vec<String>,
    /// `ok`, `failed`, `interrupted` or `planned` (a dry run records nothing).
    pub result: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recovery: Option<String>,
    /// Who started it when it was not a person at the keyboard (`autopilot`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub by: Option<String>,
    /// The deploy workflow runs it started by hand (`workflow_dispatch`)
    /// and the image tag each was given.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub runs: Vec<StartedRun>,
}

/// A deploy run an operation started and the tag it was given. GitHub does
/// not return a dispatched run's inputs, so when the run's title does not
/// name its tag, this is how drift knows what the run deployed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedRun {
    /// `owner/name`.
    pub repo: String,
    pub workflow: String,
    /// The run's id (not its number).
    pub id: u64,
    pub tag: String,
}

/// Run id → the tag hearth gave it, from every entry's started runs.
pub fn run_tags<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> BTreeMap<u64, String> {
    entries
        .into_iter()
        .flat_map(|e| e.runs.iter())
        .map(|r| (r.id, r.tag.clone()))
        .collect()
}

impl StepState {
    fn as_str(self) -> &'static str {
        match self {
            StepState::Running => "running",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }
}

/// The journal file and its `running/` markers.
#[derive(Clone, Debug)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: PathBuf) -> Journal {
        Journal { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn running_dir(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("running")
    }

    /// Append one entry. Journal problems are logged, never fatal: the
    /// operation itself already happened.
    pub fn append(&self, entry: &Entry) {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
            line.push('\n');
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            f.write_all(line.as_bytes())
        };
        if let Err(e) = write() {
            tracing::warn!(path = %self.path.display(), "cannot write the audit journal: {e}");
        }
    }

    /// Mark an operation as running; the marker holds the entry it would
    /// record if the process died now.
    pub fn mark_running(&self, id: &str, entry: &Entry) {
        let dir = self.running_dir();
        let _ = fs::create_dir_all(&dir);
        if let Ok(text) = serde_json::to_string(entry) {
            let _ = fs::write(dir.join(format!("{id}.json")), text);
        }
    }

    /// The operation finished (its line is in the journal).
    pub fn clear_running(&self, id: &str) {
        let _ = fs::remove_file(self.running_dir().join(format!("{id}.json")));
    }

    /// Every entry, oldest first (unreadable lines are skipped).
    pub fn entries(&self) -> Vec<Entry> {
        fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Operations whose process died while they ran (their markers are
    /// left, and no other process holds them: the pid in the id is gone).
    pub fn interrupted(&self) -> Vec<Entry> {
        let Ok(dir) = fs::read_dir(self.running_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<Entry> = dir
            .flatten()
            .filter(|f| {
                let name = f.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
                pid.is_none_or(|p| p != std::process::id() && !alive(p))
            })
            .filter_map(|f| fs::read_to_string(f.path()).ok())
            .filter_map(|t| serde_json::from_str::<Entry>(&t).ok())
            .map(|mut e| {
                e.result = "interrupted".into();
                e
            })
            .collect();
        out.sort_by(|a, b| a.time.cmp(&b.time));
        out
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Entry {
    /// A new entry for an operation starting now.
    pub fn new(op: OpKind, service: &str, env: Option<&str>, user: &str) -> Entry {
        Entry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            user: user.to_string(),
            op: op.word().to_string(),
            service: service.to_string(),
            env: env.map(str::to_string),
            from_tag: None,
            to_tag: None,
            mechanism: None,
            steps: Vec::new(),
            mutations: Vec::new(),
            result: "running".into(),
            summary: String::new(),
            recovery: None,
            by: None,
            runs: Vec::new(),
        }
    }

    /// One line for `hearth history`.
    pub fn line(&self) -> String {
        let change = match (&self.from_tag, &self.to_tag) {
            (Some(f), Some(t)) => format!("{f} → {t}"),
            (None, Some(t)) => format!("→ {t}"),
            (Some(f), None) => format!("{f} →"),
            (None, None) => "-".into(),
        };
        let mut line = format!(
            "{}  {:<8} {:<12} {:<5} {:<26} {:<11} {}",
            self.time.replace('T', " ").trim_end_matches('Z'),
            self.op,
            self.service,
            self.env.as_deref().unwrap_or("-"),
            change,
            self.result,
            self.user,
        );
        if let Some(by) = &self.by {
            line.push_str(&format!(" ({by})"));
        }
        if !self.summary.is_empty() {
            line.push_str(&format!("  {}", self.summary));
        }
        if let Some(r) = self.recovery.as_ref().filter(|_| self.result != "ok") {
            line.push_str(&format!("  → {r}"));
        }
        line
    }

    /// The steps in a few words (`gate done, tag done, publish failed`).
    pub fn steps_line(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("{} {}", s.name, s.state.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_markers_become_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path().join("hearth/audit.jsonl"));
        let mut e = Entry::new(OpKind::Ship, "api", Some("qa"), "dev");
        e.to_tag = Some("v0.0.28-rc.1".into());
        e.result = "ok".into();
        j.append(&e);
        j.append(&e);
        assert_eq!(j.entries().len(), 2);
        assert!(j.entries()[0].line().contains("→ v0.0.28-rc.1"));
        // A marker of a process that is gone (pid 0 never is ours).
        let mut r = Entry::new(OpKind::Promote, "api", Some("prod"), "dev");
        r.recovery = Some("hearth promote api v0.0.28-rc.1".into());
        j.mark_running("999999999-1", &r);
        let lost = j.interrupted();
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].result, "interrupted");
        j.clear_running("999999999-1");
        assert!(j.interrupted().is_empty());
        // A marker of this very process is not interrupted.
        j.mark_running(&format!("{}-2", std::process::id()), &r);
        assert!(j.interrupted().is_empty());
    }
}
