//! Faults on demand, set through the control API (`POST /faults`) and read by
//! the API servers and the simulated CI on every request or step.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A fault, as posted to `POST /faults` (JSON, tagged by `kind`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The service's next CI runs fail at the build step.
    BuildFail { service: String },
    /// The service's migration init container fails (CrashLoopBackOff) in
    /// pods created from now on.
    MigrationFail { service: String },
    /// The service's next CI runs fail at the deploy step, before they set
    /// the image (the CI credentials are rejected): the image is built, the
    /// cluster is not updated.
    DeployFail { service: String },
    /// The service's next release creations (`POST /releases`) answer 500.
    ReleaseFail { service: String },
    /// The service's smoke endpoint answers 500.
    SmokeFail { service: String },
    /// Every followed log stream of the service's pods also carries
    /// `per_pod` extra lines a second (a log flood, for load tests).
    LogFlood { service: String, per_pod: u32 },
    /// GitHub answers 502 for `seconds`.
    GithubError { seconds: u64 },
    /// GitHub's rate limit is exhausted (403 + `x-ratelimit-remaining: 0`) for `seconds`.
    RateLimit { seconds: u64 },
    /// Every API response is delayed by `ms`.
    Slow { ms: u64 },
    /// Every open Kubernetes watch connection is dropped now.
    DropWatches,
    /// Requests whose path starts with `path` get a body of malformed JSON.
    Malformed { path: String },
    /// The service's next CI runs name their build step `name`, as a workflow
    /// pushed with that step name would (hostile-text tests put escape
    /// sequences in it).
    StepName { service: String, name: String },
    /// `workflow_dispatch` answers 400 to `return_run_details`, as a GitHub
    /// Enterprise Server older than the field does.
    RefuseRunDetails,
    /// The service's version endpoint reports `version` whatever its pods
    /// run, as a public hostname still pointing at an old cluster does
    /// (seed 004's failed production gate).
    StaleVersion { service: String, version: String },
    /// The reviewer of the service's gated environments answers its waiting
    /// runs: `reject` rejects each (with a comment) about a second after it
    /// starts waiting; `never` never answers, and the token's user is not a
    /// reviewer (`current_user_can_approve: false`, a review answers 422),
    /// as when another team must approve.
    Reviewer {
        service: String,
        answer: ReviewerAnswer,
    },
    /// The service's gated environments have a wait timer of `minutes`
    /// (divided by the sandbox speed, as every CI duration is): an approved
    /// run starts its job only once the timer, counted from when it began
    /// to wait, has run out.
    WaitTimer { service: String, minutes: u32 },
}

/// How a `reviewer` fault answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewerAnswer {
    Reject,
    Never,
}

#[derive(Default, Debug)]
struct FaultSet {
    build_fail: HashSet<String>,
    migration_fail: HashSet<String>,
    deploy_fail: HashSet<String>,
    release_fail: HashSet<String>,
    smoke_fail: HashSet<String>,
    log_flood: Vec<(String, u32)>,
    github_error_until: Option<Instant>,
    rate_limit_until: Option<Instant>,
    slow: Duration,
    malformed: Vec<String>,
    step_name: Vec<(String, String)>,
    refuse_run_details: bool,
    stale_version: Vec<(String, String)>,
    reviewer: Vec<(String, ReviewerAnswer)>,
    wait_timer: Vec<(String, u32)>,
}

/// The active faults. Cheap to query from request handlers.
#[derive(Debug)]
pub struct Faults {
    set: Mutex<FaultSet>,
    /// Bumped on `DropWatches`; watch handlers end their stream when it changes.
    drop_watches: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            set: Mutex::new(FaultSet::default()),
            drop_watches: watch::channel(0).0,
        }
    }
}

impl Faults {
    pub fn apply(&self, fault: Fault) {
        let mut s = self.set.lock().expect("faults lock");
        let now = Instant::now();
        match fault {
            Fault::BuildFail { service } => {
                s.build_fail.insert(service);
            }
            Fault::MigrationFail { service } => {
                s.migration_fail.insert(service);
            }
            Fault::DeployFail { service } => {
                s.deploy_fail.insert(service);
            }
            Fault::ReleaseFail { service } => {
                s.release_fail.insert(service);
            }
            Fault::SmokeFail { service } => {
                s.smoke_fail.insert(service);
            }
            Fault::LogFlood { service, per_pod } => {
                s.log_flood.retain(|(n, _)| *n != service);
                s.log_flood.push((service, per_pod));
            }
            Fault::GithubError { seconds } => {
                s.github_error_until = Some(now + Duration::from_secs(seconds))
            }
            Fault::RateLimit { seconds } => {
                s.rate_limit_until = Some(now + Duration::from_secs(seconds))
            }
            Fault::Slow { ms } => s.slow = Duration::from_millis(ms),
            Fault::DropWatches => {
                self.drop_watches.send_modify(|g| *g += 1);
            }
            Fault::Malformed { path } => s.malformed.push(path),
            Fault::RefuseRunDetails => s.refuse_run_details = true,
            Fault::StaleVersion { service, version } => {
                s.stale_version.retain(|(n, _)| *n != service);
                s.stale_version.push((service, version));
            }
            Fault::Reviewer { service, answer } => {
                s.reviewer.retain(|(n, _)| *n != service);
                s.reviewer.push((service, answer));
            }
            Fault::WaitTimer { service, minutes } => {
                s.wait_timer.retain(|(n, _)| *n != service);
                s.wait_timer.push((service, minutes));
            }
            Fault::StepName { service, name } => {
                s.step_name.retain(|(n, _)| *n != service);
                s.step_name.push((service, name));
            }
        }
    }

    /// Clear every fault.
    pub fn clear(&self) {
        *self.set.lock().expect("faults lock") = FaultSet::default();
    }

    /// Clear the build and migration faults of one service.
    pub fn clear_service(&self, service: &str) {
        let mut s = self.set.lock().expect("faults lock");
        s.build_fail.remove(service);
        s.migration_fail.remove(service);
        s.deploy_fail.remove(service);
        s.release_fail.remove(service);
        s.smoke_fail.remove(service);
        s.log_flood.retain(|(n, _)| n != service);
        s.step_name.retain(|(n, _)| n != service);
        s.stale_version.retain(|(n, _)| n != service);
        s.reviewer.retain(|(n, _)| n != service);
        s.wait_timer.retain(|(n, _)| n != service);
    }

    /// How the service's reviewer answers, under a `reviewer` fault.
    pub fn reviewer(&self, service: &str) -> Option<ReviewerAnswer> {
        let s = self.set.lock().expect("faults lock");
        s.reviewer
            .iter()
            .find(|(n, _)| n == service)
            .map(|(_, a)| *a)
    }

    /// The wait timer (minutes) of the service's gated environments.
    pub fn wait_timer(&self, service: &str) -> u32 {
        let s = self.set.lock().expect("faults lock");
        s.wait_timer
            .iter()
            .find(|(n, _)| n == service)
            .map_or(0, |(_, m)| *m)
    }

    /// What the service's version endpoint reports under a `stale_version`.
    pub fn stale_version(&self, service: &str) -> Option<String> {
        let s = self.set.lock().expect("faults lock");
        s.stale_version
            .iter()
            .find(|(n, _)| n == service)
            .map(|(_, v)| v.clone())
    }

    /// Whether dispatches refuse `return_run_details`.
    pub fn refuses_run_details(&self) -> bool {
        self.set.lock().expect("faults lock").refuse_run_details
    }

    /// The build step's name for the service's next runs, under a `step_name`.
    pub fn step_name(&self, service: &str) -> Option<String> {
        let s = self.set.lock().expect("faults lock");
        s.step_name
            .iter()
            .find(|(n, _)| n == service)
            .map(|(_, name)| name.clone())
    }

    /// Extra log lines a second per pod of the service, under a `log_flood`.
    pub fn log_flood(&self, service: &str) -> Option<u32> {
        let s = self.set.lock().expect("faults lock");
        s.log_flood
            .iter()
            .find(|(n, _)| n == service)
            .map(|(_, r)| *r)
    }

    pub fn deploy_fails(&self, service: &str) -> bool {
        self.set
            .lock()
            .expect("faults lock")
            .deploy_fail
            .contains(service)
    }

    pub fn release_fails(&self, service: &str) -> bool {
        self.set
            .lock()
            .expect("faults lock")
            .release_fail
            .contains(service)
    }

    pub fn smoke_fails(&self, service: &str) -> bool {
        self.set
            .lock()
            .expect("faults lock")
            .smoke_fail
            .contains(service)
    }

    pub fn build_fails(&self, service: &str) -> bool {
        self.set
            .lock()
            .expect("faults lock")
            .build_fail
            .contains(service)
    }

    pub fn migration_fails(&self, service: &str) -> bool {
        self.set
            .lock()
            .expect("faults lock")
            .migration_fail
            .contains(service)
    }

    pub fn github_error(&self) -> bool {
        let s = self.set.lock().expect("faults lock");
        s.github_error_until.is_some_and(|t| Instant::now() < t)
    }

    /// Seconds until the exhausted rate limit recovers, when exhausted.
    pub fn rate_limited(&self) -> Option<Duration> {
        let s = self.set.lock().expect("faults lock");
        s.rate_limit_until
            .and_then(|t| t.checked_duration_since(Instant::now()))
    }

    pub fn delay(&self) -> Duration {
        self.set.lock().expect("faults lock").slow
    }

    pub fn malformed(&self, path: &str) -> bool {
        let s = self.set.lock().expect("faults lock");
        s.malformed.iter().any(|p| path.starts_with(p.as_str()))
    }

    /// A receiver that changes whenever watches must be dropped.
    pub fn watch_drops(&self) -> watch::Receiver<u64> {
        self.drop_watches.subscribe()
    }
}

impl Faults {
    /// The faults in force now (time-limited ones with their seconds left),
    /// for `GET /faults`. `DropWatches` is instantaneous and never listed.
    pub fn active(&self) -> Vec<Fault> {
        let s = self.set.lock().expect("faults lock");
        let now = Instant::now();
        let left = |until: Option<Instant>| {
            until
                .and_then(|t| t.checked_duration_since(now))
                .map(|d| d.as_secs_f64().ceil() as u64)
        };
        let mut out: Vec<Fault> = Vec::new();
        let mut build: Vec<_> = s.build_fail.iter().cloned().collect();
        build.sort();
        out.extend(
            build
                .into_iter()
                .map(|service| Fault::BuildFail { service }),
        );
        let sorted = |set: &HashSet<String>| {
            let mut v: Vec<String> = set.iter().cloned().collect();
            v.sort();
            v
        };
        out.extend(
            sorted(&s.migration_fail)
                .into_iter()
                .map(|service| Fault::MigrationFail { service }),
        );
        out.extend(
            sorted(&s.deploy_fail)
                .into_iter()
                .map(|service| Fault::DeployFail { service }),
        );
        out.extend(
            sorted(&s.release_fail)
                .into_iter()
                .map(|service| Fault::ReleaseFail { service }),
        );
        out.extend(
            sorted(&s.smoke_fail)
                .into_iter()
                .map(|service| Fault::SmokeFail { service }),
        );
        if let Some(seconds) = left(s.github_error_until) {
            out.push(Fault::GithubError { seconds });
        }
        if let Some(seconds) = left(s.rate_limit_until) {
            out.push(Fault::RateLimit { seconds });
        }
        if !s.slow.is_zero() {
            out.push(Fault::Slow {
                ms: s.slow.as_millis() as u64,
            });
        }
        out.extend(
            s.log_flood
                .iter()
                .map(|(service, per_pod)| Fault::LogFlood {
                    service: service.clone(),
                    per_pod: *per_pod,
                }),
        );
        out.extend(
            s.malformed
                .iter()
                .map(|path| Fault::Malformed { path: path.clone() }),
        );
        if s.refuse_run_details {
            out.push(Fault::RefuseRunDetails);
        }
        out.extend(s.step_name.iter().map(|(service, name)| Fault::StepName {
            service: service.clone(),
            name: name.clone(),
        }));
        out.extend(
            s.stale_version
                .iter()
                .map(|(service, version)| Fault::StaleVersion {
                    service: service.clone(),
                    version: version.clone(),
                }),
        );
        out
    }
}
