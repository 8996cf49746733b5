//! The GitHub pollers: one tokio task per service polls its release
//! workflow's runs (and, while a run is active, that run's jobs and steps)
//! and its releases, with conditional requests (ETag / If-None-Match; an
//! unchanged answer is a free 304), and reports [`Event`]s. All pollers share
//! one [`Client`] and one [`Pacer`], which spreads their requests evenly so
//! that the total rate stays bounded however many services there are.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{Client, Fetched, GhError};
use super::parse::{parse_jobs, parse_releases, parse_runs};
use super::{Event, Intervals};
use crate::model::{CiRun, SourceStatus};

/// Spreads requests: at most `rate` per second, one after the other, so
/// that pollers started together (or a hundred idle services) never burst.
#[derive(Debug)]
pub struct Pacer {
    gap: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    /// A pacer allowing `rate` requests per second.
    pub fn new(rate: f64) -> Arc<Pacer> {
        Arc::new(Pacer {
            gap: Duration::from_secs_f64(1.0 / rate.max(0.01)),
            next: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    /// Wait for this caller's slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.gap;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// What one service's poller needs to know.
#[derive(Clone, Debug)]
pub struct PollTarget {
    pub service: String,
    pub repo: String,
    pub workflow: String,
}

/// Why a round stopped early.
enum Stop {
    /// A request failed (reported); try again after a backoff.
    Failed,
    /// Nobody listens any more: end the task.
    Closed,
}

struct Poller {
    client: Arc<Client>,
    pacer: Arc<Pacer>,
    tx: mpsc::Sender<Event>,
    target: PollTarget,
    intervals: Intervals,
    releases_etag: Option<String>,
    runs_etag: Option<String>,
    runs: Vec<CiRun>,
    /// Whether a runs list was received yet (the first one is history, not news).
    runs_seen: bool,
    /// Jobs ETag per run being followed.
    jobs_etag: HashMap<u64, String>,
    releases_due: Instant,
    failures: u32,
    /// The error last reported, until a clean round.
    last_error: Option<String>,
    /// Whether any request of the current round failed.
    round_failed: bool,
}

impl Poller {
    async fn send(&self, event: Event) -> Result<(), Stop> {
        self.tx.send(event).await.map_err(|_| Stop::Closed)
    }

    /// Report a failed request of `what`; the round goes on for a malformed
    /// answer (the other requests may be fine) and stops otherwise.
    async fn error(&mut self, err: &GhError, what: &str) -> Result<(), Stop> {
        let problem = err.problem(&self.target.repo, what, false);
        let problem = crate::model::Problem {
            message: self.client.token().redact(&problem.message),
            ..problem
        };
        match err {
            GhError::RateLimited { .. } | GhError::Transport(_) | GhError::Status(_) => {
                self.client
                    .status(SourceStatus::Degraded(problem.clone()))
                    .await
            }
            GhError::Unauthorized => {
                self.client
                    .status(SourceStatus::Down(problem.clone()))
                    .await
            }
            _ => {}
        }
        self.failures += 1;
        self.round_failed = true;
        let text = problem.to_string();
        if self.last_error.as_deref() != Some(text.as_str()) {
            self.last_error = Some(text.clone());
            tracing::warn!(service = %self.target.service, message = %text, "github poll");
            self.send(Event::Error {
                service: self.target.service.clone(),
                problem,
            })
            .await?;
        }
        match err {
            GhError::Malformed(_) => Ok(()),
            _ => Err(Stop::Failed),
        }
    }

    /// One conditional GET, parsed: `None` when unchanged (304) or when a
    /// malformed answer was reported and the round goes on.
    async fn fetch<T>(
        &mut self,
        path: &str,
        etag: Option<String>,
        what: &str,
        parse: fn(&Value) -> Result<T, GhError>,
    ) -> Result<Option<(T, Option<String>)>, Stop> {
        self.pacer.wait().await;
        let got = self.client.get(path, etag.as_deref()).await;
        let parsed = match got {
            Ok(Fetched::NotModified) => return Ok(None),
            Ok(Fetched::Body { value, etag }) => parse(&value).map(|v| (v, etag)),
            Err(e) => Err(e),
        };
        match parsed {
            Ok(v) => Ok(Some(v)),
            Err(e) => self.error(&e, what).await.map(|()| None),
        }
    }

    /// After a round in which every request succeeded: if an error was on
    /// screen, say it is over (unchanged data answers 304 and sends nothing).
    async fn round_done(&mut self) -> Result<(), Stop> {
        if !self.round_failed {
            // GitHub answered (a 304 says nothing else): the data is fresh.
            self.send(Event::Answered).await?;
        }
        if self.round_failed || self.last_error.take().is_none() {
            return Ok(());
        }
        self.send(Event::Recovered {
            service: self.target.service.clone(),
        })
        .await
    }

    /// One round: runs, releases when due, jobs of active runs.
    async fn round(&mut self) -> Result<(), Stop> {
        self.round_failed = false;
        let workflow = Some(self.target.workflow.as_str()).filter(|w| !w.is_empty());
        let runs_path = super::runs_path(&self.target.repo, workflow, 5);
        let what =
            workflow.map_or_else(|| "workflow runs".to_string(), |w| format!("workflow {w}"));
        let mut new_run = false;
        let mut finished: Vec<u64> = Vec::new();
        let etag = self.runs_etag.clone();
        let fetched = self.fetch(&runs_path, etag, &what, parse_runs).await?;
        self.failures = 0;
        self.client.status(SourceStatus::Live).await;
        if let Some((runs, etag)) = fetched {
            let first_poll = !self.runs_seen;
            self.runs_seen = true;
            self.runs_etag = etag;
            new_run = runs.iter().any(|r| !self.runs.iter().any(|o| o.id == r.id));
            // Runs that completed since the last poll: fetch their jobs once
            // more so the CI stream ends with the final steps. A run that
            // started and finished between two idle polls counts too (not at
            // start-up, where every old run is "new").
            finished = runs
                .iter()
                .filter(|r| !r.is_active())
                .filter(|r| match self.runs.iter().find(|o| o.id == r.id) {
                    Some(o) => o.is_active(),
                    None => !first_poll,
                })
                .map(|r| r.id)
                .collect();
            if runs != self.runs {
                self.runs = runs.clone();
                self.send(Event::Runs {
                    service: self.target.service.clone(),
                    runs,
                })
                .await?;
            }
        }

        // A new run usually means a new release: fetch releases now.
        if new_run || Instant::now() >= self.releases_due {
            self.releases_due = Instant::now() + self.intervals.releases;
            let path = format!("/repos/{}/releases?per_page=30", self.target.repo);
            let etag = self.releases_etag.clone();
            if let Some((releases, etag)) =
                self.fetch(&path, etag, "releases", parse_releases).await?
            {
                self.releases_etag = etag;
                self.send(Event::Releases {
                    service: self.target.service.clone(),
                    releases,
                })
                .await?;
            }
        }

        let follow: Vec<u64> = self
            .runs
            .iter()
            .filter(|r| r.is_active())
            .map(|r| r.id)
            .chain(finished)
            .collect();
        for run_id in follow {
            let path = format!("/repos/{}/actions/runs/{run_id}/jobs", self.target.repo);
            let etag = self.jobs_etag.get(&run_id).cloned();
            if let Some((jobs, etag)) = self.fetch(&path, etag, "jobs", parse_jobs).await? {
                if let Some(e) = etag {
                    self.jobs_etag.insert(run_id, e);
                }
                self.send(Event::Jobs {
                    service: self.target.service.clone(),
                    run_id,
                    jobs,
                })
                .await?;
            }
        }
        // Forget ETags of runs no longer followed.
        let runs = &self.runs;
        self.jobs_etag
            .retain(|id, _| runs.iter().any(|r| r.id == *id && r.is_active()));
        self.round_done().await
    }

    fn next_delay(&self) -> Duration {
        if self.failures > 0 {
            // Exponential backoff on errors: 5 s, 10 s, ... up to 5 min.
            let secs = 5u64.saturating_mul(1 << self.failures.min(6).saturating_sub(1));
            return Duration::from_secs(secs.min(300)).max(self.intervals.active);
        }
        if self.runs.iter().any(CiRun::is_active) {
            self.intervals.active
        } else {
            // Up to 20 % jitter so that idle pollers drift apart instead of
            // firing in step.
            let jitter = rand::random::<f64>() * 0.2;
            self.intervals.idle.mul_f64(1.0 + jitter)
        }
    }
}

/// Poll one service until the receiver is dropped. `kick` wakes it early
/// (for example right after hearth published a release).
pub async fn run_service(
    client: Arc<Client>,
    pacer: Arc<Pacer>,
    target: PollTarget,
    intervals: Intervals,
    kick: Arc<tokio::sync::Notify>,
    tx: mpsc::Sender<Event>,
) {
    let mut p = Poller {
        client,
        pacer,
        tx,
        target,
        intervals,
        releases_etag: None,
        runs_etag: None,
        runs: Vec::new(),
        runs_seen: false,
        jobs_etag: HashMap::new(),
        releases_due: Instant::now(),
        failures: 0,
        last_error: None,
        round_failed: false,
    };
    loop {
        match p.round().await {
            Err(Stop::Closed) => return,
            Ok(()) | Err(Stop::Failed) => {}
        }
        if p.tx.is_closed() {
            return;
        }
        let delay = p.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = kick.notified() => {}
        }
    }
}

/// Handles to wake the pollers early, by service name.
#[derive(Clone, Default, Debug)]
pub struct Kicks(pub HashMap<String, Arc<tokio::sync::Notify>>);

impl Kicks {
    /// Poll `service` now (after publishing or editing one of its releases).
    pub fn kick(&self, service: &str) {
        if let Some(n) = self.0.get(service) {
            n.notify_one();
        }
    }
}
