//! Domain types and rules shared by every part of hearth: what the
//! Kubernetes client observed for a service in an environment, what the
//! GitHub client saw of its releases and CI runs, typed problems, and the
//! rules on top of them (drift and the expected release in `drift`, CI step
//! diffing in `ci`). Plain data and pure functions, no IO; built by the
//! clients (`cluster`, `github`), stored by `app`, drawn by `ui`, used by
//! `hearth status` and the operations alike.

pub mod ci;
pub mod drift;
pub mod endpoint;
pub mod flux;
pub mod helm;
pub mod manifest;
pub mod problem;
pub mod secrets;
pub mod text;

pub use ci::{CiEvent, CiTransition};
pub use drift::Drift;
pub use problem::{Problem, ProblemKind};

use serde::Serialize;

/// Which source a status change is about. One Kubernetes source per
/// (kube context, namespace) pair that the registry's environments name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceId {
    /// A kube watch on one namespace of one context (`None` = current context).
    Kube {
        context: Option<String>,
        namespace: String,
    },
    GitHub,
}

/// What is known about one service in one environment (a Deployment in a
/// namespace on a kube context).
#[derive(Clone, Debug, PartialEq, Serialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EnvObservation {
    /// Nothing received yet: the UI says "unknown", never an invented value.
    #[default]
    Unknown,
    /// The API answered and there is no such Deployment.
    Missing { hint: String },
    /// The environment cannot be read: forbidden, unreachable, bad credentials.
    /// The problem says what happened and what to do. Data shown before is
    /// not kept as if it were fresh.
    Error(Problem),
    /// The Deployment as last seen by the watch.
    Live(Workload),
    /// An environment on a host outside Kubernetes: what its version
    /// endpoint reports it runs. No pods, no replicas, no rollout to show.
    Reported { tag: String, url: String },
}

impl EnvObservation {
    /// What an environment on a host runs, from its version endpoint's
    /// reading: the reported tag, or the endpoint's failure as a problem.
    pub fn from_endpoint(host: &str, reading: &EndpointReading) -> EnvObservation {
        match &reading.reported {
            Ok(tag) => EnvObservation::Reported {
                tag: tag.clone(),
                url: reading.url.clone(),
            },
            Err(why) => EnvObservation::Error(Problem::new(
                ProblemKind::Unreachable,
                format!("host {host}: its version endpoint {} {why}", reading.url),
                "what it runs is unknown until the endpoint answers; check the host (docker compose ps)",
            )),
        }
    }

    /// The tag that serves: a Deployment's serving tag, or what a host's
    /// endpoint reports.
    pub fn serving_tag(&self) -> Option<&str> {
        match self {
            EnvObservation::Live(w) => w.serving_tag(),
            EnvObservation::Reported { tag, .. } => Some(tag),
            _ => None,
        }
    }
}

/// The observed state of one Deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Default)]
pub struct Workload {
    /// Tag of the container whose image matches the registry's `image`.
    pub image_tag: Option<String>,
    /// Tag of the migration init container, when there is one.
    pub init_image_tag: Option<String>,
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// `deployment.kubernetes.io/revision`.
    pub revision: Option<i64>,
    pub rollout: Rollout,
    /// Why a rollout is stuck, when the pods say it (for example
    /// "migration failing: CrashLoopBackOff, 4 restarts, exit 1; old pods still serving").
    pub stuck_reason: Option<String>,
    /// While a rollout is under way or stuck: how many pods of the new
    /// ReplicaSet are ready (`None` once it is complete).
    pub new_ready: Option<i32>,
    pub pods: Vec<PodSummary>,
    /// The Helm release that manages the Deployment (its
    /// `meta.helm.sh/release-name`, with `app.kubernetes.io/managed-by:
    /// Helm`): the next `helm upgrade` sets what the chart says, whatever a
    /// fast rollback did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm_release: Option<String>,
}

impl Workload {
    /// The tag a rollout under way (or stuck) is moving to, when it is not
    /// the one that serves.
    pub fn moving_to(&self) -> Option<&str> {
        if self.rollout == Rollout::Complete {
            return None;
        }
        let target = self.image_tag.as_deref()?;
        (self.serving_tag() != Some(target)).then_some(target)
    }

    /// The digests the ready pods run under the serving tag, in pod
    /// order, each once: two or more mean the tag was pushed again between
    /// pulls, and the pods of one Deployment run different images.
    pub fn serving_digests(&self) -> Vec<&str> {
        let serving = self.serving_tag();
        let mut out: Vec<&str> = Vec::new();
        for d in self
            .pods
            .iter()
            .filter(|p| p.ready && p.image_tag.as_deref() == serving)
            .filter_map(|p| p.digest.as_deref())
        {
            if !out.contains(&d) {
                out.push(d);
            }
        }
        out
    }

    /// What the serving tag hides, in words, when it hides something: pods
    /// that run different digests under it (it was pushed again between
    /// pulls), or, in an environment that deploys the latest release
    /// (`prod`), a tag that can move (`latest`, `main`).
    pub fn digest_warning(&self, env: &str, prod: bool) -> Option<String> {
        let tag = self.serving_tag()?;
        let digests = self.serving_digests();
        if digests.len() > 1 {
            let shown: Vec<&str> = digests.iter().map(|d| short_digest(d)).collect();
            return Some(format!(
                "{} digests under {tag}: the tag was pushed again, and the pods run different images ({})",
                digests.len(),
                shown.join(", ")
            ));
        }
        if !(prod && is_mutable_tag(tag)) {
            return None;
        }
        let what = digests
            .first()
            .map(|d| format!("what runs is {}", short_digest(d)))
            .unwrap_or_else(|| "no pod has reported a digest yet".into());
        Some(format!(
            "{tag} can move: the tag does not say what runs in {env}; {what}"
        ))
    }

    /// The tag actually serving traffic. Once a rollout is complete that is
    /// the Deployment's tag. Until then (under way, or stuck on a failing
    /// migration) the old tag serves as long as any ready pod runs it: the
    /// one most ready old pods run. Only when no old pod is ready does the
    /// Deployment's tag serve (or, with no pod known, it is the best guess).
    pub fn serving_tag(&self) -> Option<&str> {
        let template = self.image_tag.as_deref();
        if self.rollout == Rollout::Complete {
            return template;
        }
        let mut old: Vec<(&str, usize)> = Vec::new();
        for tag in self
            .pods
            .iter()
            .filter(|p| p.ready)
            .filter_map(|p| p.image_tag.as_deref())
            .filter(|t| Some(*t) != template)
        {
            match old.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, n)) => *n += 1,
                None => old.push((tag, 1)),
            }
        }
        // The first of the most-run old tags (pods come sorted by name).
        let most = old.iter().map(|(_, n)| *n).max();
        match most {
            Some(n) => old.iter().find(|(_, c)| *c == n).map(|(t, _)| *t),
            None => template,
        }
    }
}

/// Whether an image tag is one that is pushed again and again (`latest`,
/// a branch name such as `main`): it does not say what runs; the digest
/// does. Seed 002 lists `image: app:latest` as an anti-pattern for this.
pub fn is_mutable_tag(tag: &str) -> bool {
    const MOVING: &[&str] = &[
        "latest",
        "main",
        "master",
        "develop",
        "dev",
        "staging",
        "stable",
        "edge",
        "nightly",
        "head",
        "prod",
        "production",
        "release",
        "trunk",
    ];
    MOVING.iter().any(|m| tag.eq_ignore_ascii_case(m))
}

/// `sha256:3f2a1c9d0e1b`: the first 12 hex digits, as `docker images` shows
/// an id.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &digest[..(digest.len() - hex.len() + hex.len().min(12))]
}

/// Rollout state with `kubectl rollout status` decision rules and wording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "state", content = "message", rename_all = "snake_case")]
pub enum Rollout {
    #[default]
    Complete,
    /// Still moving; the message is kubectl's ("Waiting for deployment \"api\"
    /// rollout to finish: 1 out of 2 new replicas have been updated...").
    Progressing(String),
    /// `ProgressDeadlineExceeded` or another terminal failure.
    Failed(String),
}

/// One pod of the service, as the detail view lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct PodSummary {
    pub name: String,
    /// kubectl's STATUS column wording: "Running", "Init:0/1",
    /// "Init:CrashLoopBackOff", "Pending", "Terminating", "ImagePullBackOff"...
    pub status: String,
    pub ready: bool,
    pub restarts: i32,
    pub image_tag: Option<String>,
    /// The pod-template-hash, which ties the pod to a ReplicaSet.
    pub template_hash: Option<String>,
    /// The image digest the app container runs (`sha256:…`, from the
    /// container status's `imageID`): what a tag that can move hides.
    pub digest: Option<String>,
}

/// A GitHub Release, reduced to what hearth shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Release {
    pub id: u64,
    pub tag: String,
    pub name: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    /// True for the release GitHub reports as `releases/latest`.
    pub latest: bool,
    pub created_at: Option<String>,
    pub published_at: Option<String>,
    pub html_url: Option<String>,
}

/// A workflow run. Status and conclusion are kept as GitHub's strings so that
/// a value hearth does not know (`requested`, `pending`, ...) shows as itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct CiRun {
    pub id: u64,
    pub run_number: u64,
    pub name: Option<String>,
    pub display_title: Option<String>,
    pub event: String,
    pub head_branch: Option<String>,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub html_url: Option<String>,
    /// The workflow file it is a run of (`.github/workflows/dev.yml`).
    pub path: Option<String>,
}

impl CiRun {
    /// Whether it is a run of workflow file `workflow` (`dev.yml`).
    pub fn of_workflow(&self, workflow: &str) -> bool {
        self.path
            .as_deref()
            .is_some_and(|p| p.rsplit('/').next() == Some(workflow))
    }

    /// Whether the run is still going (anything but `completed`).
    pub fn is_active(&self) -> bool {
        self.status != "completed"
    }
}

/// What an environment's version endpoint said when last read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointReading {
    pub url: String,
    /// The version it reports, or why there is none ("answered 503").
    pub reported: Result<String, String>,
}

/// A run's wait on a GitHub Environment with required reviewers
/// (`GET …/actions/runs/{id}/pending_deployments`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct PendingDeployment {
    /// The GitHub Environment (`production`).
    pub environment: String,
    pub environment_id: u64,
    /// Who can approve: user logins and team slugs.
    pub reviewers: Vec<String>,
    /// Whether the token's user may approve it.
    pub can_approve: bool,
    /// Minutes of a wait timer, 0 when none.
    pub wait_timer: u64,
}

/// A reviewer's answer to a run's wait on a GitHub Environment
/// (`GET …/actions/runs/{id}/approvals`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Review {
    /// `approved` or `rejected`.
    pub state: String,
    /// The reviewer's login.
    pub user: String,
    /// Their comment, empty when none.
    pub comment: String,
    /// The GitHub Environments it answered for.
    pub environments: Vec<String>,
}

impl Review {
    /// "rejected by sam: “not during the freeze”".
    pub fn words(&self) -> String {
        let who = if self.user.is_empty() {
            String::new()
        } else {
            format!(" by {}", self.user)
        };
        match self.comment.trim() {
            "" => format!("{}{who}", self.state),
            c => format!("{}{who}: “{c}”", self.state),
        }
    }
}

/// A job of a workflow run, with its steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct CiJob {
    pub id: u64,
    pub run_id: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub steps: Vec<CiStep>,
}

/// A step of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct CiStep {
    pub number: u64,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
}

/// GitHub's rate-limit budget, from the `x-ratelimit-*` headers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    /// Unix seconds when the window resets.
    pub reset: i64,
}

/// The health of one data source, shown in the status bar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(tag = "state", content = "message", rename_all = "snake_case")]
pub enum SourceStatus {
    #[default]
    Connecting,
    Live,
    /// Working but impaired (retrying, rate limited, partial).
    Degraded(Problem),
    /// Not working; the problem says why and what to do.
    Down(Problem),
    /// Turned off (no token, watch mode without GitHub, ...).
    Disabled(Problem),
}

/// The state of an operation's step (what the progress panel shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Running,
    Done,
    Failed,
    Skipped,
}

/// Which system an operation's mutating request went to (the command log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum System {
    Git,
    GitHub,
    Kubernetes,
    Local,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(tag: &str, ready: bool) -> PodSummary {
        PodSummary {
            name: format!("p-{tag}"),
            status: if ready {
                "Running"
            } else {
                "Init:CrashLoopBackOff"
            }
            .into(),
            ready,
            image_tag: Some(tag.into()),
            ..PodSummary::default()
        }
    }

    #[test]
    fn serving_tag_is_what_ready_pods_run_until_the_rollout_completes() {
        let mut w = Workload {
            image_tag: Some("v2".into()),
            rollout: Rollout::Failed("deadline".into()),
            pods: vec![pod("v2", false), pod("v1", true), pod("v1", true)],
            ..Workload::default()
        };
        assert_eq!(
            w.serving_tag(),
            Some("v1"),
            "a stuck rollout: old pods serve"
        );
        w.rollout = Rollout::Progressing("1 of 2".into());
        w.pods = vec![pod("v2", true), pod("v1", true)];
        assert_eq!(
            w.serving_tag(),
            Some("v1"),
            "half-way: the old tag still serves until the rollout completes"
        );
        assert_eq!(w.moving_to(), Some("v2"));
        w.pods = vec![pod("v2", true), pod("v2", true), pod("v1", false)];
        assert_eq!(
            w.serving_tag(),
            Some("v2"),
            "no old pod ready: the new tag serves"
        );
        w.pods.clear();
        assert_eq!(
            w.serving_tag(),
            Some("v2"),
            "no pods known: the Deployment's tag"
        );
        w.rollout = Rollout::Complete;
        w.pods = vec![pod("v1", true)];
        assert_eq!(
            w.serving_tag(),
            Some("v2"),
            "complete: the Deployment's tag"
        );
    }
}
