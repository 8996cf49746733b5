//! Operations: ship, ship all, promote, rollback, approve and restart, written
//! once and used by the control room's keys and by the CLI subcommands. Each
//! operation is a pipeline of steps that runs as a tokio task and reports
//! [`Progress`] events: step transitions, every mutating request it sends
//! (the command log: each `git` command, each GitHub POST/PATCH, each
//! Kubernetes PATCH, with its result), output lines, and a final outcome that
//! says what state was left and how to recover. Every operation appends one
//! line to the audit journal ([`audit`]).
//!
//! One room per delivery model: the release model (`delivery: release`, the
//! seed's) is [`ship`], [`promote`] and [`rollback`] with [`mechanism`] (how a
//! GitHub Release or a workflow makes CI deploy); [`dispatch`], [`push`] and
//! [`gitops`] are the other three. [`runner`] plans and executes any of them
//! and knows a plan only by what it shows; [`follow`] follows runs,
//! approvals and rollouts for every model. One-off setup (`init`, `setup`)
//! is in [`crate::setup`]; the log source is [`crate::cluster::logs`].
//!
//! Nothing here depends on `app` or `ui`; every mutating call needs a
//! [`WriteAccess`].

pub mod approve;
pub mod audit;
pub mod context;
pub mod dispatch;
pub mod follow;
pub mod git;
pub mod gitops;
pub mod mechanism;
pub mod place;
pub mod preship;
pub mod promote;
pub mod push;
pub mod restart;
pub mod rollback;
pub mod runner;
pub mod ship;
pub mod smoke;
pub mod version;
pub mod workflow_file;

pub use context::{Context, Locks};

use std::fmt;

use serde::Serialize;

use crate::model::{Problem, ProblemKind};
pub use crate::WriteAccess;

/// Which operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Ship,
    Promote,
    Rollback,
    /// `hearth setup --ci`.
    SetupCi,
    /// A review of a run that waits on a GitHub Environment.
    Approve,
    /// A rollout restart: new pods, same image.
    Restart,
}

impl OpKind {
    pub fn word(self) -> &'static str {
        match self {
            OpKind::Ship => "ship",
            OpKind::Promote => "promote",
            OpKind::Rollback => "rollback",
            OpKind::SetupCi => "setup-ci",
            OpKind::Approve => "approve",
            OpKind::Restart => "restart",
        }
    }
}

/// Where a ship goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A release marked latest: the `latest` environment (prod).
    Prod,
    /// A prerelease (`-rc.N`): the `prerelease` environment (qa).
    Qa,
    /// A draft: nothing deploys.
    Draft,
}

/// Which part of the version a ship bumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bump {
    #[default]
    Patch,
    Minor,
    Major,
}

/// What to ship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipRequest {
    pub service: String,
    pub target: Target,
    pub bump: Bump,
    pub skip_tests: bool,
    /// Release the latest existing tag instead of making a new one.
    pub no_version: bool,
    /// Follow CI, the rollout and the smoke checks (else stop after the release).
    pub watch: bool,
}

/// What to promote: a qa prerelease to prod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromoteRequest {
    pub service: String,
    /// Default: the newest published prerelease.
    pub tag: Option<String>,
    pub watch: bool,
}

/// How to roll back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackKind {
    /// `kubectl rollout undo` semantics: the cluster goes back, GitHub stays.
    Fast,
    /// The bad release stops being latest, the previous one becomes latest,
    /// and CI redeploys it: cluster and GitHub agree.
    Clean,
}

/// What to roll back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackRequest {
    pub service: String,
    /// Environment name (default `prod`).
    pub env: String,
    pub kind: RollbackKind,
    /// Fast: the revision to return to (default: the previous one).
    pub to_revision: Option<i64>,
    pub watch: bool,
}

/// What to approve: the run of a service that waits on a GitHub
/// Environment's required reviewers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApproveRequest {
    pub service: String,
    /// The hearth environment the run deploys to (default: any that waits).
    pub env: Option<String>,
    /// Reject instead of approve.
    pub reject: bool,
    pub comment: Option<String>,
}

/// What to restart: every pod of a service in one environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartRequest {
    pub service: String,
    pub env: String,
    /// Follow the rollout and run the smoke checks.
    pub watch: bool,
}

/// An operation to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Ship(ShipRequest),
    Promote(PromoteRequest),
    Rollback(RollbackRequest),
    Approve(ApproveRequest),
    Restart(RestartRequest),
}

impl Request {
    pub fn kind(&self) -> OpKind {
        match self {
            Request::Ship(_) => OpKind::Ship,
            Request::Promote(_) => OpKind::Promote,
            Request::Rollback(_) => OpKind::Rollback,
            Request::Approve(_) => OpKind::Approve,
            Request::Restart(_) => OpKind::Restart,
        }
    }

    pub fn service(&self) -> &str {
        match self {
            Request::Ship(r) => &r.service,
            Request::Promote(r) => &r.service,
            Request::Rollback(r) => &r.service,
            Request::Approve(r) => &r.service,
            Request::Restart(r) => &r.service,
        }
    }
}

// The step and system words every view shows live in the domain model,
// so that the views need nothing from this layer.
pub use crate::model::{StepState, System};

/// One entry of the command log: a mutating request and its result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mutation {
    pub system: System,
    /// As a person would type or read it: `git push --atomic origin main v0.0.28`,
    /// `POST /repos/acme/api/releases`, `PATCH deployments/api -n default`.
    pub request: String,
    /// `ok`, `201 Created`, `exit 1: ...`; `None` while it runs (or in a plan).
    pub result: Option<String>,
    pub ok: bool,
}

/// What an operation reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A step started, finished, failed or was skipped; `detail` says why or what.
    Step {
        name: String,
        state: StepState,
        detail: Option<String>,
        /// How long the step took by its own source's clock (a CI step's
        /// start and end as GitHub reports them), when hearth did not see it
        /// start: it may have started and ended between two polls.
        took: Option<i64>,
    },
    /// A mutating request was sent (or, in a dry run, would be).
    Mutation(Mutation),
    /// A line of output: the pre-ship command, a CI step transition, a
    /// failed job's log.
    Line(String),
    /// The operation ended.
    Finished(Outcome),
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub ok: bool,
    /// One line: `api v0.0.28 deployed`, `release published; CI build failed`.
    pub summary: String,
    /// What was left behind (the seed's failure table), when it failed.
    pub left: Option<String>,
    /// The command that recovers, when it failed.
    pub recovery: Option<String>,
    /// The tag the operation was about, when known.
    pub tag: Option<String>,
    /// The process exit code a CLI should end with.
    pub code: u8,
}

/// An event of one operation, as it crosses a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Unique per process: several operations run at once.
    pub op: u64,
    pub kind: OpKind,
    pub service: String,
    pub env: Option<String>,
    pub event: Event,
}

/// Why an operation stopped: the problem, what it left, how to recover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub problem: Problem,
    pub left: Option<String>,
    pub recovery: Option<String>,
    pub code: u8,
}

impl Failure {
    /// A failure that left nothing changed.
    pub fn nothing_changed(problem: Problem) -> Failure {
        let code = match problem.kind {
            ProblemKind::Invalid | ProblemKind::NotFound | ProblemKind::NoConfig => 2,
            ProblemKind::Unauthorized
            | ProblemKind::Forbidden
            | ProblemKind::Unreachable
            | ProblemKind::NoToken
            | ProblemKind::Timeout
            | ProblemKind::RateLimited => 3,
            _ => 1,
        };
        Failure {
            problem,
            left: Some("nothing changed".into()),
            recovery: None,
            code,
        }
    }

    /// A failure after something changed: what was left and how to recover.
    pub fn after(problem: Problem, left: &str, recovery: impl Into<String>) -> Failure {
        Failure {
            problem,
            left: Some(left.to_string()),
            recovery: Some(recovery.into()),
            code: 1,
        }
    }

    /// Nothing to do: the environment is already where it was asked to
    /// go. No error (exit 0), and nothing changed.
    pub fn already(message: impl Into<String>) -> Failure {
        Failure {
            problem: Problem::new(ProblemKind::Invalid, message, ""),
            left: Some("nothing changed".into()),
            recovery: None,
            code: 0,
        }
    }

    /// Refused before anything changed (busy, needs confirmation).
    pub fn refused(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure {
            problem: Problem::new(ProblemKind::Invalid, message, hint),
            left: Some("nothing changed".into()),
            recovery: None,
            code: 4,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problem)
    }
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Failure {
        Failure::nothing_changed(p)
    }
}

/// An invalid request: a problem of kind `Invalid`, nothing changed.
/// The environment of `service` named `name`, or a refusal that lists its
/// environments.
pub fn environment(
    service: &crate::registry::Service,
    name: &str,
) -> Result<crate::registry::Environment, Failure> {
    service.environment(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = service
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        invalid(
            format!("{} has no environment {name:?}", service.name),
            format!("its environments: {}", names.join(", ")),
        )
    })
}

pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Failure {
    Failure::nothing_changed(Problem::new(ProblemKind::Invalid, message, hint))
}
