//! Messages: everything that enters `update`. Terminal input arrives as
//! `Msg::Key`/`Msg::Resize`; sources (kube watches, GitHub polling, log tails,
//! operations) send the other variants from their own tokio tasks.

use crate::model::{CiJob, CiRun, EnvObservation, RateLimit, Release, SourceStatus};

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

/// A message for `update`.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Key(crossterm::event::KeyEvent),
    Resize(u16, u16),
    /// Frame/clock tick; carries the current wall-clock time (unix seconds) so
    /// that `update` stays pure and tests can inject the clock.
    Tick(i64),
    /// A source connected, degraded or went down.
    Source(SourceId, SourceStatus),
    /// The Kubernetes source's latest view of a service in an environment.
    Workload {
        service: String,
        env: String,
        observation: EnvObservation,
    },
    /// The releases of a service's repository, newest first.
    Releases {
        service: String,
        releases: Vec<Release>,
    },
    /// Recent runs of the service's release workflow, newest first.
    Runs {
        service: String,
        runs: Vec<CiRun>,
    },
    /// Jobs (with steps) of one run; sent while the run is active and once
    /// when it completes. `update` diffs consecutive snapshots to append step
    /// transitions to the service's CI stream.
    Jobs {
        service: String,
        run_id: u64,
        jobs: Vec<CiJob>,
    },
    /// GitHub rate-limit headers from the latest response.
    RateLimit(RateLimit),
    /// A problem with one service's GitHub data (repo not found, 403, ...).
    GitHubError {
        service: String,
        message: String,
    },
    /// A whole poll of the service succeeded after a `GitHubError`: the data
    /// shown is current again (a 304 sends nothing else to say so).
    GitHubRecovered {
        service: String,
    },
}
