//! Messages: everything that enters `update`. Terminal input arrives as
//! `Msg::Key`/`Msg::Resize`; the clients' events (kube watches, GitHub
//! polling, log tails, operations) are mapped to the other variants by the
//! tasks that forward them.

use crate::model::{
    CiJob, CiRun, EnvObservation, Problem, RateLimit, Release, SourceId, SourceStatus,
};

/// A message for `update`.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    Key(crossterm::event::KeyEvent),
    Resize(u16, u16),
    /// What the last frame could show: how far the detail pane can scroll
    /// before its end is the last line on screen. Sent by the loop after a
    /// draw that changed it, so that scrolling stops at the end.
    Viewport {
        detail_max: u16,
    },
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
        problem: Problem,
    },
    /// A whole poll of the service succeeded after a `GitHubError`: the data
    /// shown is current again (a 304 sends nothing else to say so).
    GitHubRecovered {
        service: String,
    },
    /// The Helm release history of an environment (where the registry asks
    /// for it): `Ok(None)` when Helm does not manage the Deployment.
    Helm {
        service: String,
        env: String,
        history: Result<Option<crate::model::helm::HelmHistory>, Problem>,
    },
    /// How far what an environment runs (`tag`) is behind its branch in
    /// the local checkout (`None`: no checkout, or it does not know the tag).
    Behind {
        service: String,
        env: String,
        tag: String,
        behind: Option<crate::ops::git::Behind>,
    },
    /// What a GitOps environment's manifest holds and its Flux
    /// Kustomization says (`delivery: gitops`).
    Gitops {
        service: String,
        env: String,
        reading: crate::model::flux::GitopsReading,
    },
    /// What an environment's version endpoint reports.
    Endpoint {
        service: String,
        env: String,
        reading: crate::model::EndpointReading,
    },
    /// What a service's waiting run waits for.
    Pending {
        service: String,
        run_id: u64,
        pending: Vec<crate::model::PendingDeployment>,
    },
    /// A source answered (nothing changed, but what is shown is fresh).
    Answered(SourceId),
    /// What the GitHub scheduler spends and how old the data on screen is.
    Schedule(crate::github::ScheduleView),
    /// An operation's progress.
    Op(crate::ops::Progress),
    /// The plan of a request the control room asked for (or why it was refused).
    Planned {
        request: crate::ops::Request,
        result: Result<Box<crate::ops::runner::Plan>, crate::model::Problem>,
    },
    /// A Deployment's revisions (number, tag), oldest first, for the rollback dialog.
    Revisions {
        service: String,
        env: String,
        result: crate::app::activity::Revisions,
    },
    /// An event of the log tail `id`.
    Log {
        id: u64,
        event: crate::cluster::logs::LogEvent,
    },
    /// The audit journal, read at start and after each operation.
    Journal(crate::app::activity::History),
}

impl From<crate::github::Event> for Msg {
    fn from(e: crate::github::Event) -> Msg {
        use crate::github::Event;
        match e {
            Event::Status(status) => Msg::Source(SourceId::GitHub, status),
            Event::RateLimit(rl) => Msg::RateLimit(rl),
            Event::Releases { service, releases } => Msg::Releases { service, releases },
            Event::Runs { service, runs } => Msg::Runs { service, runs },
            Event::Jobs {
                service,
                run_id,
                jobs,
            } => Msg::Jobs {
                service,
                run_id,
                jobs,
            },
            Event::Error { service, problem } => Msg::GitHubError { service, problem },
            Event::Recovered { service } => Msg::GitHubRecovered { service },
            Event::Answered => Msg::Answered(SourceId::GitHub),
            Event::Schedule(view) => Msg::Schedule(view),
            Event::Pending {
                service,
                run_id,
                pending,
            } => Msg::Pending {
                service,
                run_id,
                pending,
            },
        }
    }
}

impl From<crate::cluster::helm::Event> for Msg {
    fn from(e: crate::cluster::helm::Event) -> Msg {
        Msg::Helm {
            service: e.service,
            env: e.env,
            history: e.history,
        }
    }
}

impl From<crate::flux::Event> for Msg {
    fn from(e: crate::flux::Event) -> Msg {
        Msg::Gitops {
            service: e.service,
            env: e.env,
            reading: e.reading,
        }
    }
}

impl From<crate::endpoint::Event> for Msg {
    fn from(e: crate::endpoint::Event) -> Msg {
        Msg::Endpoint {
            service: e.service,
            env: e.env,
            reading: e.reading,
        }
    }
}

impl From<crate::cluster::Event> for Msg {
    fn from(e: crate::cluster::Event) -> Msg {
        use crate::cluster::Event;
        match e {
            Event::Status(id, status) => Msg::Source(id, status),
            Event::Workload {
                service,
                env,
                observation,
            } => Msg::Workload {
                service,
                env,
                observation,
            },
        }
    }
}

impl From<crate::ops::Progress> for Msg {
    fn from(p: crate::ops::Progress) -> Msg {
        Msg::Op(p)
    }
}
