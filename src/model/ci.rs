//! The CI step stream: diffing consecutive job snapshots of a workflow run
//! into transitions (job or step started, completed with a conclusion and a
//! duration), the way `gh run watch` reports them. Pure; called by `update`.

use std::fmt;

use chrono::DateTime;

use crate::model::{CiJob, CiStep};

/// What happened to a job or a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiTransition {
    Started,
    /// Completed with GitHub's conclusion (`success`, `failure`, `skipped`, ...).
    Completed(String),
}

/// One transition of the CI stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiEvent {
    pub run_id: u64,
    pub job: String,
    /// The step's name; `None` for a job-level transition.
    pub step: Option<String>,
    pub transition: CiTransition,
    /// When it happened, as GitHub reported it (RFC 3339).
    pub at: Option<String>,
    /// Seconds from start to completion, when both are known.
    pub duration: Option<i64>,
}

impl CiEvent {
    /// Whether this transition is a failure (a completed job or step whose
    /// conclusion is not success, skipped or neutral).
    pub fn is_failure(&self) -> bool {
        matches!(&self.transition, CiTransition::Completed(c) if !is_good(c))
    }
}

/// Whether a conclusion is not a failure.
pub fn is_good(conclusion: &str) -> bool {
    matches!(conclusion, "success" | "skipped" | "neutral")
}

impl fmt::Display for CiEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.step.as_deref().unwrap_or("job");
        match &self.transition {
            CiTransition::Started => write!(f, "{}: {what} started", self.job),
            CiTransition::Completed(conclusion) => {
                write!(f, "{}: {what} {conclusion}", self.job)?;
                if let Some(d) = self.duration {
                    write!(f, " ({})", format_duration(d))?;
                }
                Ok(())
            }
        }
    }
}

/// `12s`, `3m04s`, `1h02m`.
pub fn format_duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// Unix seconds of an RFC 3339 timestamp.
pub fn parse_time(s: Option<&str>) -> Option<i64> {
    DateTime::parse_from_rfc3339(s?).ok().map(|t| t.timestamp())
}

/// Seconds between two RFC 3339 timestamps.
pub fn duration_between(start: Option<&str>, end: Option<&str>) -> Option<i64> {
    Some(parse_time(end)? - parse_time(start)?)
}

/// The transitions between two snapshots of the same run's jobs. A job or
/// step first seen already completed yields only its completion.
pub fn diff(run_id: u64, prev: &[CiJob], next: &[CiJob]) -> Vec<CiEvent> {
    let mut events = Vec::new();
    for job in next {
        let old = prev.iter().find(|j| j.id == job.id);
        let old_status = old.map(|j| j.status.as_str());
        let job_event = |transition, at: Option<&String>, duration| CiEvent {
            run_id,
            job: job.name.clone(),
            step: None,
            transition,
            at: at.cloned(),
            duration,
        };
        if started(old_status, &job.status) {
            events.push(job_event(
                CiTransition::Started,
                job.started_at.as_ref(),
                None,
            ));
        }
        for step in &job.steps {
            let old_step = old.and_then(|j| j.steps.iter().find(|s| s.number == step.number));
            step_events(
                run_id,
                job,
                old_step.map(|s| s.status.as_str()),
                step,
                &mut events,
            );
        }
        if completed(old_status, &job.status) {
            events.push(job_event(
                CiTransition::Completed(conclusion(job.conclusion.as_deref())),
                job.completed_at.as_ref(),
                duration_between(job.started_at.as_deref(), job.completed_at.as_deref()),
            ));
        }
    }
    events
}

fn step_events(
    run_id: u64,
    job: &CiJob,
    old_status: Option<&str>,
    step: &CiStep,
    events: &mut Vec<CiEvent>,
) {
    let event = |transition, at: Option<&String>, duration| CiEvent {
        run_id,
        job: job.name.clone(),
        step: Some(step.name.clone()),
        transition,
        at: at.cloned(),
        duration,
    };
    if started(old_status, &step.status) {
        events.push(event(CiTransition::Started, step.started_at.as_ref(), None));
    }
    if completed(old_status, &step.status) {
        events.push(event(
            CiTransition::Completed(conclusion(step.conclusion.as_deref())),
            step.completed_at.as_ref(),
            duration_between(step.started_at.as_deref(), step.completed_at.as_deref()),
        ));
    }
}

fn conclusion(c: Option<&str>) -> String {
    c.unwrap_or("completed").to_string()
}

/// A newly running job or step (not one first seen already completed).
fn started(old: Option<&str>, new: &str) -> bool {
    new == "in_progress" && !matches!(old, Some("in_progress") | Some("completed"))
}

fn completed(old: Option<&str>, new: &str) -> bool {
    new == "completed" && old != Some("completed")
}

/// What a waiting run waits for, in words: who may approve which
/// environment, any wait timer, and whether the token's user can (`how`
/// says how: "hearth approve" on the command line, "a approves" in the
/// control room).
pub fn approval_words(pending: &[crate::model::PendingDeployment], how: &str) -> String {
    if pending.is_empty() {
        return "waiting for an approval (GitHub did not say which)".into();
    }
    pending
        .iter()
        .map(|p| {
            let who = if p.reviewers.is_empty() {
                "a reviewer".to_string()
            } else {
                p.reviewers.join(" or ")
            };
            let timer = if p.wait_timer > 0 {
                format!(", then a {} min wait timer", p.wait_timer)
            } else {
                String::new()
            };
            let you = if p.can_approve {
                format!(" (you can: {how})")
            } else {
                " (you cannot approve it)".to_string()
            };
            format!("waiting for {who} to approve {}{timer}{you}", p.environment)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: &str, steps: Vec<(&str, &str, Option<&str>)>) -> CiJob {
        CiJob {
            id: 3,
            run_id: 1,
            name: "ship".into(),
            status: status.into(),
            conclusion: (status == "completed").then(|| "failure".into()),
            started_at: Some("2026-01-01T10:00:00Z".into()),
            completed_at: (status == "completed").then(|| "2026-01-01T10:01:05Z".into()),
            steps: steps
                .into_iter()
                .enumerate()
                .map(|(i, (name, status, conclusion))| CiStep {
                    number: i as u64 + 1,
                    name: name.into(),
                    status: status.into(),
                    conclusion: conclusion.map(Into::into),
                    started_at: Some("2026-01-01T10:00:00Z".into()),
                    completed_at: Some("2026-01-01T10:00:30Z".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn first_snapshot_completed_yields_completions_only() {
        let events = diff(
            1,
            &[],
            &[job(
                "completed",
                vec![("Build", "completed", Some("failure"))],
            )],
        );
        let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            lines,
            vec!["ship: Build failure (30s)", "ship: job failure (1m05s)"]
        );
        assert!(events.iter().all(|e| e.is_failure()));
    }

    #[test]
    fn no_change_no_events() {
        let a = job("in_progress", vec![("Build", "in_progress", None)]);
        assert!(diff(1, std::slice::from_ref(&a), std::slice::from_ref(&a)).is_empty());
    }

    #[test]
    fn durations_format_like_gh() {
        assert_eq!(format_duration(5), "5s");
        assert_eq!(format_duration(184), "3m04s");
        assert_eq!(format_duration(3720), "1h02m");
        assert_eq!(format_duration(-3), "0s");
    }
}
