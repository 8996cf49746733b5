//! The application core: the one `State`, the `Msg`s that change it, and the
//! pure `update` function. Runs on the main task; never does IO and never
//! reads the clock (time arrives as `Msg::Tick`), so tests replay recorded
//! messages and get the same state every time.

mod actions;
pub mod activity;
pub mod executor;
pub mod keymap;
pub mod msg;
pub mod run;
pub mod sources;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crossterm::event::{Event, KeyEvent, KeyEventKind};
use tui_input::backend::crossterm::to_input_request;
use tui_input::Input;

pub use crate::model::ci;
pub use crate::model::drift;
pub use crate::model::{CiEvent, CiTransition, Drift, SourceId};
pub use keymap::{Action, Nav, Op};
pub use msg::Msg;

use crate::model::{CiJob, CiRun, EnvObservation, Problem, RateLimit, Release, SourceStatus};
use crate::registry::Registry;
use crate::WriteAccess;

/// What a session is for: looking only, or looking and acting. The access
/// picks the keymap: the read-only one is typed to hold navigation only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `hearth watch`: nothing can be changed from this session.
    ReadOnly,
    /// `hearth`, `hearth demo`: operations from keys (given a [`WriteAccess`]).
    ReadWrite,
}

/// What the session talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The user's cluster and GitHub.
    Live,
    /// The embedded sandbox (`hearth demo`).
    Sandbox,
}

/// A session's access and backend together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub access: Access,
    pub backend: Backend,
}

impl Mode {
    /// `hearth`: the full control room.
    pub const INTERACTIVE: Mode = Mode {
        access: Access::ReadWrite,
        backend: Backend::Live,
    };
    /// `hearth watch`: read-only, for a shared screen.
    pub const WATCH: Mode = Mode {
        access: Access::ReadOnly,
        backend: Backend::Live,
    };
    /// `hearth demo`: the control room against the embedded sandbox.
    pub const DEMO: Mode = Mode {
        access: Access::ReadWrite,
        backend: Backend::Sandbox,
    };

    /// Lower-case name for the status bar.
    pub fn label(self) -> &'static str {
        match (self.access, self.backend) {
            (Access::ReadWrite, Backend::Live) => "interactive",
            (Access::ReadOnly, Backend::Live) => "watch (read-only)",
            (Access::ReadWrite, Backend::Sandbox) => "demo",
            (Access::ReadOnly, Backend::Sandbox) => "demo (read-only)",
        }
    }

    pub fn read_only(self) -> bool {
        self.access == Access::ReadOnly
    }
}

/// Which pane keys go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    Overview,
    Detail,
}

/// What `update` asks the loop to do. Each runs as a task that sends
/// `Msg`s back. The variants that lead to a change carry the session's
/// [`WriteAccess`]: a read-only session has none, so it cannot build them.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Quit,
    /// Work out what an operation would do (the confirmation's content).
    Plan(crate::ops::Request, WriteAccess),
    /// Run a planned (and, for prod, confirmed) operation.
    Execute(Box<crate::ops::runner::Plan>, WriteAccess),
    /// Read a Deployment's revisions for the rollback dialog.
    Revisions {
        service: String,
        env: String,
        access: WriteAccess,
    },
    /// Start tailing a service's logs (replaces the running tail).
    Logs {
        id: u64,
        service: String,
        env: String,
        container: Option<String>,
    },
    /// Stop the log tail `id`.
    StopLogs(u64),
    /// Read the audit journal again (an operation finished).
    ReloadJournal,
    /// Count the commits of the branch not in what an environment runs
    /// (`tag`), in the service's checkout `dir`.
    Behind {
        service: String,
        env: String,
        dir: std::path::PathBuf,
        tag: String,
    },
    /// Ring the terminal bell (watch mode `--bell`).
    Bell,
    /// Set the terminal's title.
    Title(String),
}

/// What one `update` produced: the commands to run and whether the state
/// changed (a message that changes nothing does not cost a frame).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Outcome {
    pub commands: Vec<Command>,
    pub changed: bool,
}

impl Outcome {
    fn changed(changed: bool) -> Outcome {
        Outcome {
            commands: Vec::new(),
            changed,
        }
    }

    fn run(commands: Vec<Command>) -> Outcome {
        Outcome {
            commands,
            changed: true,
        }
    }

    /// Whether no command was asked for.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

impl PartialEq<Vec<Command>> for Outcome {
    fn eq(&self, other: &Vec<Command>) -> bool {
        &self.commands == other
    }
}

/// How many CI transitions are kept per service (older ones scroll away).
pub const CI_STREAM_LIMIT: usize = 200;
/// How many runs' job snapshots are kept per service.
const JOB_RUNS_KEPT: usize = 5;

/// Everything known about one service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceState {
    /// One observation per environment, aligned with [`State::envs`].
    pub envs: Vec<EnvObservation>,
    /// Newest first, as GitHub lists them; `None` until the first answer.
    pub releases: Option<Vec<Release>>,
    /// Newest first; `None` until the first answer.
    pub runs: Option<Vec<CiRun>>,
    /// Latest job snapshot per run id (the few most recent runs).
    pub jobs: BTreeMap<u64, Vec<CiJob>>,
    /// Step and job transitions in arrival order, like `gh run watch` prints them.
    pub ci_stream: VecDeque<CiEvent>,
    /// The latest GitHub problem for this service, cleared by fresh data.
    pub github_error: Option<Problem>,
    /// What a waiting run (by id) waits for: environments and reviewers.
    pub pending: Option<(u64, Vec<crate::model::PendingDeployment>)>,
    /// What each environment's version endpoint reports, aligned with
    /// [`State::envs`] (`None`: no endpoint, or not read yet).
    pub endpoints: Vec<Option<crate::model::EndpointReading>>,
    /// The Helm release history of each environment, aligned with
    /// [`State::envs`] (`None`: not asked for in the registry, or not read
    /// yet).
    pub helm: Vec<Option<HelmReading>>,
    /// How far what each environment runs is behind its branch in the
    /// local checkout, aligned with [`State::envs`] (`None`: not known).
    pub behind: Vec<Option<crate::ops::git::Behind>>,
    /// The serving tag each environment's `behind` was asked for.
    pub behind_asked: Vec<Option<String>>,
    /// `delivery: gitops`: each environment's manifest and Flux state,
    /// aligned with [`State::envs`] (`None`: not read yet, or another model).
    pub gitops: Vec<Option<crate::model::flux::GitopsReading>>,
}

/// An environment's Helm history as last read: `Ok(None)` when Helm does
/// not manage its Deployment.
pub type HelmReading = Result<Option<crate::model::helm::HelmHistory>, Problem>;

impl ServiceState {
    /// The release GitHub marks latest, else the newest published one.
    pub fn latest_release(&self) -> Option<&Release> {
        drift::latest(self.releases.as_deref()?)
    }

    /// The newest run, if any run is known.
    pub fn latest_run(&self) -> Option<&CiRun> {
        self.runs.as_ref()?.first()
    }

    /// The run whose steps the detail pane shows: the newest run with jobs.
    pub fn watched_run(&self) -> Option<(u64, &Vec<CiJob>)> {
        if let Some(run) = self.latest_run() {
            if let Some(jobs) = self.jobs.get(&run.id) {
                return Some((run.id, jobs));
            }
        }
        self.jobs.iter().next_back().map(|(id, jobs)| (*id, jobs))
    }
}

/// The whole application state. Plain data; changed only by [`update`].
#[derive(Clone, Debug)]
pub struct State {
    pub registry: Arc<Registry>,
    pub mode: Mode,
    /// The write capability of a read-write session (set by the command
    /// layer); without it, no operation can be asked for.
    pub write: Option<WriteAccess>,
    /// Environment names in display order (the overview's columns).
    pub envs: Vec<String>,
    /// Aligned with `registry.services`.
    pub services: Vec<ServiceState>,
    /// Service name → index in `services`.
    index: HashMap<String, usize>,
    /// Index (into `services`) of the selected service.
    pub selected: usize,
    pub focus: Focus,
    /// Lines the detail pane is scrolled down by.
    pub detail_scroll: u16,
    /// How far the detail pane can scroll (from the last frame).
    pub detail_max: u16,
    /// The `/` filter text.
    pub filter: Input,
    /// Whether keys currently go to the filter input.
    pub filter_editing: bool,
    pub help: bool,
    pub sources: BTreeMap<SourceId, SourceStatus>,
    pub rate_limit: Option<RateLimit>,
    /// The GitHub scheduler's view (shown in help).
    pub schedule: Option<crate::github::ScheduleView>,
    /// The kube context the status bar names (`--context` or the kubeconfig's current one).
    pub kube_context: Option<String>,
    /// Counts changes other than the clock's: what a frame derived from
    /// the data (the overview's column widths over every service) is
    /// reused while it stays the same.
    pub generation: u64,
    /// Unix seconds from the latest `Msg::Tick`; `None` before the first.
    pub now: Option<i64>,
    /// Terminal size from the latest resize.
    pub size: (u16, u16),
    /// Operations of this session: progress, command log, outcome.
    pub ops: activity::Ops,
    /// The open dialog, if any (keys go to it).
    pub dialog: Option<activity::Dialog>,
    /// The log panel, when a tail is open.
    pub logs: Option<activity::LogView>,
    /// Whether log panels may open (off in watch mode unless `--logs`).
    pub logs_enabled: bool,
    /// Lines the log panel keeps.
    pub log_limit: usize,
    next_log: u64,
    /// The audit journal.
    pub history: activity::History,
    /// The deploy runs the journal says hearth dispatched, and their tags
    /// (kept with `history`).
    pub run_tags: crate::model::drift::RunTags,
    /// A brief message and the unix second it goes away ("read-only").
    pub notice: Option<(String, i64)>,
    /// A message shown from the first frame for a number of seconds
    /// (counted from the first clock tick): what the demo is about to do.
    pub announcement: Option<(String, i64)>,
    /// Whether the demo's autopilot is on (the status bar says so).
    pub autopilot: bool,
    /// Unix second each source last answered (a 304 counts).
    pub seen: BTreeMap<SourceId, i64>,
    /// Unix second each source's status last changed.
    pub since: BTreeMap<SourceId, i64>,
    /// Watch mode's settings (`None` outside `hearth watch`).
    pub watch: Option<WatchSettings>,
    /// Services failing now (a failed rollout or run), for the bell and the title.
    pub failing: std::collections::BTreeSet<String>,
}

/// What `hearth watch` was started with.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WatchSettings {
    /// Rotate the detail pane through services every this many seconds.
    pub cycle: Option<i64>,
    /// Ring the terminal bell when a rollout or run fails.
    pub bell: bool,
    /// When the detail pane last moved on.
    pub last_cycle: Option<i64>,
}

/// How long a source may stay silent (or disconnected) before the screen
/// says its data is stale.
pub const STALE_SECS: i64 = 60;

/// GitHub answered within this long: its data is as fresh as polling gets
/// (watch mode's bar says "now"; the scheduler reports answers every 5 s).
pub const QUIET_SECS: i64 = 10;

impl State {
    /// A fresh state for a registry: every cell unknown, no source connected.
    pub fn new(registry: Arc<Registry>, mode: Mode) -> State {
        let envs = registry.environment_names();
        let services = registry
            .services
            .iter()
            .map(|_| ServiceState {
                envs: vec![EnvObservation::Unknown; envs.len()],
                endpoints: vec![None; envs.len()],
                helm: vec![None; envs.len()],
                behind: vec![None; envs.len()],
                behind_asked: vec![None; envs.len()],
                gitops: vec![None; envs.len()],
                ..ServiceState::default()
            })
            .collect();
        let index = registry
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        State {
            registry,
            mode,
            generation: 0,
            write: None,
            envs,
            services,
            index,
            selected: 0,
            focus: Focus::Overview,
            detail_scroll: 0,
            detail_max: u16::MAX,
            filter: Input::default(),
            filter_editing: false,
            help: false,
            sources: BTreeMap::new(),
            rate_limit: None,
            schedule: None,
            kube_context: None,
            now: None,
            size: (0, 0),
            ops: activity::Ops::default(),
            dialog: None,
            logs: None,
            logs_enabled: !mode.read_only(),
            log_limit: activity::LOG_LINES,
            next_log: 1,
            history: activity::History::default(),
            run_tags: Default::default(),
            notice: None,
            announcement: None,
            autopilot: false,
            seen: BTreeMap::new(),
            since: BTreeMap::new(),
            watch: None,
            failing: std::collections::BTreeSet::new(),
        }
    }

    /// Whether a service needs attention: a failed or stuck rollout, its
    /// newest run failed, a successful run whose tag does not serve, or
    /// Flux stalled, failing or suspended on one of its environments.
    pub fn is_failing(&self, i: usize) -> bool {
        let svc = &self.services[i];
        let env_failed = svc.envs.iter().any(|o| {
            matches!(o, EnvObservation::Live(w) if matches!(w.rollout, crate::model::Rollout::Failed(_)) || w.stuck_reason.is_some())
        });
        let run_failed = svc.latest_run().is_some_and(|r| {
            !r.is_active() && r.conclusion.as_deref().is_some_and(|c| !ci::is_good(c))
        });
        let flux_trouble =
            (0..self.envs.len()).any(|e| self.gitops_note(i, e).is_some_and(|(_, t)| t));
        env_failed
            || run_failed
            || flux_trouble
            || (0..self.envs.len()).any(|e| self.is_unserved(i, e))
    }

    /// Whether something is under way for a service: a rollout, a CI run,
    /// or a manifest commit Flux has not applied yet.
    fn is_applying(&self, i: usize) -> bool {
        (0..self.envs.len()).any(|e| self.gitops_note(i, e).is_some_and(|(_, t)| !t))
    }

    /// Whether something is under way for a service: a rollout or a CI run.
    pub fn is_active(&self, i: usize) -> bool {
        let svc = &self.services[i];
        self.is_applying(i)
            || svc.runs.iter().flatten().any(CiRun::is_active)
            || svc.envs.iter().any(|o| {
                matches!(o, EnvObservation::Live(w) if matches!(w.rollout, crate::model::Rollout::Progressing(_)))
            })
    }

    /// [`State::is_failing`] of every service, for a frame that asks often.
    pub fn failing_flags(&self) -> Vec<bool> {
        (0..self.services.len())
            .map(|i| self.is_failing(i))
            .collect()
    }

    /// Services in watch order: failing first, then active, then the rest,
    /// each group in registry order.
    pub fn watch_order(&self) -> Vec<usize> {
        self.watch_order_with(&self.failing_flags())
    }

    /// [`State::watch_order`] given the failing flags of this frame.
    pub fn watch_order_with(&self, failing: &[bool]) -> Vec<usize> {
        let mut order = self.visible();
        order.sort_by_cached_key(|&i| {
            let rank = if failing.get(i).copied().unwrap_or(false) {
                0
            } else if self.is_active(i) {
                1
            } else {
                2
            };
            (rank, i)
        });
        order
    }

    /// Whether something the screen may show counts seconds, so that each
    /// second of the clock needs a frame: a running operation's steps (and
    /// a finished one, until its panel goes), a run's steps while it runs,
    /// a source's trouble and how long it has lasted, GitHub silent for a
    /// while, and an age under a minute. Everything else shows minutes or
    /// more and is redrawn every ten seconds (see `Msg::Tick`). A display
    /// that counts seconds belongs here; `tick_frames` in
    /// tests/snapshots.rs holds the screens to it.
    pub fn counts_seconds(&self) -> bool {
        let Some(now) = self.now else {
            return true;
        };
        // Up to and including the 60th second: the frame that turns
        // `59 s` into `1 min` is drawn on time.
        let young = |t: Option<i64>| t.is_some_and(|t| now - t <= 60);
        let ops = self.ops.list.iter().any(|o| {
            o.running()
                || o.steps
                    .iter()
                    .filter_map(|s| s.ended)
                    .max()
                    .is_some_and(|end| now - end <= activity::KEEP_FINISHED_SECS)
        });
        let runs = self.services.iter().any(|s| {
            s.runs.iter().flatten().any(CiRun::is_active)
                || s.jobs.values().flatten().any(|j| j.status != "completed")
        });
        let sources = self
            .sources
            .values()
            .any(|st| !matches!(st, SourceStatus::Live | SourceStatus::Disabled(_)));
        let silent = self
            .silent_for(&SourceId::GitHub)
            .is_some_and(|a| a + 1 >= QUIET_SECS);
        let behind = |s: &ServiceState| s.behind.iter().flatten().any(|b| young(b.oldest));
        // A GitOps environment's chain says how long ago its links were:
        // the manifest's commit, the run that built the tag, hearth's own
        // operation.
        let gitops = |(i, s): (usize, &ServiceState)| {
            s.gitops
                .iter()
                .flatten()
                .any(|g| g.manifest.as_ref().is_ok_and(|m| young(Some(m.at))))
                || s.gitops.iter().any(Option::is_some)
                    && (s
                        .runs
                        .iter()
                        .flatten()
                        .take(JOB_RUNS_KEPT)
                        .any(|r| young(ci::parse_time(r.updated_at.as_deref())))
                        || self
                            .history
                            .of(&self.registry.services[i].name, 20)
                            .into_iter()
                            .any(|x| young(ci::parse_time(Some(&x.time)))))
        };
        let ages = self.services.iter().any(behind) || self.services.iter().enumerate().any(gitops);
        ops || runs || sources || silent || ages
    }

    /// How many seconds a source has been silent, when known.
    pub fn silent_for(&self, id: &SourceId) -> Option<i64> {
        Some(self.now? - self.seen.get(id)?)
    }

    /// Show `text` from the first frame for `secs` seconds.
    pub fn announce(&mut self, text: impl Into<String>, secs: i64) {
        self.announcement = Some((text.into(), secs));
        self.autopilot = true;
    }

    /// Show a brief message for a few seconds.
    fn say(&mut self, text: impl Into<String>) {
        let now = self.now.unwrap_or(0);
        self.notice = Some((text.into(), now + 4));
    }

    /// Index of a service by name.
    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Whether a service passes the filter (case-insensitive substring of its
    /// name or Deployment name).
    pub fn matches_filter(&self, index: usize) -> bool {
        let needle = self.filter.value().trim();
        if needle.is_empty() {
            return true;
        }
        let needle = needle.to_lowercase();
        let service = &self.registry.services[index];
        service.name.to_lowercase().contains(&needle)
            || service.k8s_name.to_lowercase().contains(&needle)
    }

    /// Indices of the services the overview shows, in registry order.
    pub fn visible(&self) -> Vec<usize> {
        (0..self.services.len())
            .filter(|&i| self.matches_filter(i))
            .collect()
    }

    /// The selected service, when it is visible.
    pub fn selected_service(&self) -> Option<usize> {
        (self.selected < self.services.len() && self.matches_filter(self.selected))
            .then_some(self.selected)
    }

    /// Whether a service declares an environment (some services override the list).
    pub fn service_has_env(&self, service: usize, env: usize) -> bool {
        let name = &self.envs[env];
        self.registry.services[service]
            .environments
            .iter()
            .any(|e| &e.name == name)
    }

    /// How the tag service `service` runs in environment `env` (index into
    /// [`State::envs`]) compares with its releases; `Unknown` unless the
    /// Deployment is live and the service declares the environment.
    pub fn drift(&self, service: usize, env: usize) -> Drift {
        let name = &self.envs[env];
        let Some(environment) = self.registry.services[service]
            .environments
            .iter()
            .find(|e| &e.name == name)
        else {
            return Drift::Unknown;
        };
        let svc = &self.services[service];
        let (running, rolling_to) = match &svc.envs[env] {
            EnvObservation::Live(w) => (
                w.serving_tag(),
                w.moving_to()
                    .filter(|_| matches!(w.rollout, crate::model::Rollout::Progressing(_))),
            ),
            // A host: what its endpoint reports; no rollout to see.
            EnvObservation::Reported { tag, .. } => (Some(tag.as_str()), None),
            _ => return Drift::Unknown,
        };
        drift::for_service(
            &self.registry.services[service],
            environment,
            running,
            svc.releases.as_deref(),
            svc.runs.as_deref(),
            svc.gitops.get(env).and_then(Option::as_ref),
            rolling_to,
            &self.run_tags,
        )
    }

    /// Where a push environment's expected tag comes from (`main@3f2a1c9,
    /// run #88`); `None` for the other models, whose words say "release".
    pub fn expected_source(&self, service: usize, env: usize) -> Option<String> {
        let svc = &self.registry.services[service];
        let environment = svc.environment(self.envs.get(env)?)?;
        let state = &self.services[service];
        drift::expected_source(
            svc,
            environment,
            state.runs.as_deref().unwrap_or_default(),
            state.gitops.get(env).and_then(Option::as_ref),
            &self.run_tags,
        )
    }

    /// A GitOps environment's Flux trouble or unapplied manifest commit:
    /// `(words, trouble)`; `None` for other models and when all is well.
    pub fn gitops_note(&self, service: usize, env: usize) -> Option<(String, bool)> {
        self.services[service].gitops.get(env)?.as_ref()?.note()
    }

    /// How many commits of the branch environment `env` of `service` does
    /// not run (when more than none), and whether that crosses the
    /// registry's `stale:` threshold now.
    pub fn behind_mark(&self, service: usize, env: usize) -> Option<(u32, bool)> {
        let b = self.services[service].behind.get(env)?.as_ref()?;
        if b.commits == 0 {
            return None;
        }
        let stale = match (self.registry.services[service].stale, self.now) {
            (Some(t), Some(now)) => t.crossed(b.commits, b.oldest, now),
            (Some(t), None) => t.crossed(b.commits, None, 0),
            _ => false,
        };
        Some((b.commits, stale))
    }

    /// `12 commits of origin/main not running, the oldest 9 d old`, for
    /// the notes and the detail pane.
    pub fn behind_words(&self, service: usize, env: usize) -> Option<String> {
        let b = self.services[service].behind.get(env)?.as_ref()?;
        if b.commits == 0 {
            return None;
        }
        Some(b.words(self.now))
    }

    /// What an environment's serving tag hides (different digests under
    /// it, or a tag that can move in prod): [`Workload::digest_warning`].
    ///
    /// [`Workload::digest_warning`]: crate::model::Workload::digest_warning
    pub fn digest_warning(&self, service: usize, env: usize) -> Option<String> {
        let EnvObservation::Live(w) = &self.services[service].envs[env] else {
            return None;
        };
        let name = self.envs.get(env)?;
        let prod = self.registry.services[service]
            .environment(name)
            .is_some_and(|e| e.release == crate::registry::ReleaseKind::Latest);
        w.digest_warning(name, prod)
    }

    /// `the endpoint reports v0.2.0; the cluster serves v0.3.0`, when an
    /// environment's version endpoint names another version than the tag
    /// its pods serve (not while a rollout moves: the endpoint may lag).
    pub fn endpoint_mismatch(&self, service: usize, env: usize) -> Option<String> {
        let svc = &self.services[service];
        let reading = svc.endpoints.get(env)?.as_ref()?;
        let reported = reading.reported.as_ref().ok()?;
        let EnvObservation::Live(w) = &svc.envs[env] else {
            return None;
        };
        if w.moving_to().is_some() {
            return None;
        }
        let serving = w.serving_tag()?;
        (!crate::model::endpoint::same_version(reported, serving))
            .then(|| format!("the endpoint reports {reported}; the cluster serves {serving}"))
    }

    /// Whether [`State::unserved`] has something to say (without saying it).
    pub fn is_unserved(&self, service: usize, env: usize) -> bool {
        if !self.registry.services[service].delivery.runs_deploy() {
            return false;
        }
        let d = self.drift(service, env);
        let svc = &self.registry.services[service];
        let Some(environment) = svc.environment(&self.envs[env]) else {
            return false;
        };
        drift::unserved_run(svc, environment, &d, self.services[service].runs.as_deref()).is_some()
    }

    /// `qa: run #5 succeeded but v0.9.2-rc.1 is not serving (v0.9.1 is):
    /// rolled back at 10:04`, when the environment's latest run for its
    /// released tag says success while another tag serves. Why, when the
    /// journal knows (a rollback by hearth).
    pub fn unserved(&self, service: usize, env: usize) -> Option<String> {
        if !self.is_unserved(service, env) {
            return None;
        }
        let d = self.drift(service, env);
        let svc = &self.registry.services[service];
        let environment = svc.environment(&self.envs[env])?;
        let run =
            drift::unserved_run(svc, environment, &d, self.services[service].runs.as_deref())?;
        let env_name = &self.envs[env];
        let mut text = format!("{env_name}: {}", drift::unserved_message(run, &d));
        let name = &self.registry.services[service].name;
        let rollback = self
            .history
            .of(name, 20)
            .into_iter()
            .find(|e| e.env.as_deref() == Some(env_name.as_str()))
            .filter(|e| e.op == "rollback" && e.result == "ok");
        if let Some(e) = rollback {
            let at = e.time.get(11..16).unwrap_or(&e.time);
            let by =
                e.by.as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default();
            text.push_str(&format!(": rolled back{by} at {at} UTC"));
        }
        Some(text)
    }

    fn move_selection(&mut self, delta: isize) {
        let visible = self.visible();
        if visible.is_empty() {
            return;
        }
        let pos = visible.iter().position(|&i| i == self.selected);
        let next = match pos {
            Some(p) => (p as isize + delta).clamp(0, visible.len() as isize - 1) as usize,
            None => 0,
        };
        if visible[next] != self.selected {
            self.selected = visible[next];
            self.detail_scroll = 0;
        }
    }

    /// After the filter changes, keep the selection on a visible service.
    fn reselect(&mut self) {
        if self.selected_service().is_none() {
            if let Some(&first) = self.visible().first() {
                self.selected = first;
                self.detail_scroll = 0;
            }
        }
    }

    fn page(&self) -> isize {
        // The overview shows about half the terminal; a page is that many rows.
        (self.size.1 / 2).max(1) as isize
    }
}

/// Apply one message to the state; return what the loop should do and
/// whether anything visible changed.
pub fn update(state: &mut State, msg: Msg) -> Outcome {
    let watched = matches!(msg, Msg::Workload { .. } | Msg::Runs { .. });
    let tick = matches!(msg, Msg::Tick(_));
    let mut outcome = apply(state, msg);
    if outcome.changed && !tick {
        state.generation = state.generation.wrapping_add(1);
    }
    if watched && outcome.changed {
        outcome.commands.extend(failing_changed(state));
    }
    outcome
}

/// In watch mode: ring the bell for a service that starts failing (with
/// `--bell`) and keep the terminal title's count of failing services.
fn failing_changed(state: &mut State) -> Vec<Command> {
    let Some(watch) = &state.watch else {
        return Vec::new();
    };
    let now: std::collections::BTreeSet<String> = (0..state.services.len())
        .filter(|&i| state.is_failing(i))
        .map(|i| state.registry.services[i].name.clone())
        .collect();
    if now == state.failing {
        return Vec::new();
    }
    let mut commands = Vec::new();
    if watch.bell && now.iter().any(|s| !state.failing.contains(s)) {
        commands.push(Command::Bell);
    }
    commands.push(Command::Title(title_for(now.len())));
    state.failing = now;
    // Something new needs attention: the cycle starts again from the top.
    if let Some(w) = state.watch.as_mut() {
        w.last_cycle = None;
    }
    commands
}

/// The terminal title in watch mode.
pub fn title_for(failing: usize) -> String {
    match failing {
        0 => "hearth watch: all well".to_string(),
        1 => "hearth watch: 1 failing".to_string(),
        n => format!("hearth watch: {n} failing"),
    }
}

/// With `--cycle`, move the detail pane on to the next service (in watch
/// order) every so many seconds; whether the selection moved.
fn cycle(state: &mut State, now: i64) -> bool {
    let Some(every) = state.watch.as_ref().and_then(|w| w.cycle) else {
        return false;
    };
    let last = state.watch.as_ref().and_then(|w| w.last_cycle);
    match last {
        // The first tick: start with the service that needs attention most.
        None => {
            if let Some(&first) = state.watch_order().first() {
                state.selected = first;
            }
        }
        Some(t) if now - t < every => return false,
        Some(_) => {
            let order = state.watch_order();
            if let Some(pos) = order.iter().position(|&i| i == state.selected) {
                state.selected = order[(pos + 1) % order.len()];
            } else if let Some(&first) = order.first() {
                state.selected = first;
            }
            state.detail_scroll = 0;
        }
    }
    if let Some(w) = state.watch.as_mut() {
        w.last_cycle = Some(now);
    }
    true
}

fn apply(state: &mut State, msg: Msg) -> Outcome {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Resize(w, h) => Outcome::changed(set(&mut state.size, (w, h))),
        Msg::Viewport { detail_max } => {
            state.detail_max = detail_max;
            let clamped = state.detail_scroll.min(detail_max);
            Outcome::changed(set(&mut state.detail_scroll, clamped))
        }
        Msg::Tick(now) => {
            let cycled = cycle(state, now);
            let expired = state
                .notice
                .as_ref()
                .is_some_and(|(_, until)| now >= *until);
            if expired {
                state.notice = None;
            }
            let before = state.now.replace(now);
            // The clock shows minutes and most ages minutes or more: a frame
            // every ten seconds (on the minute too) keeps them within ten
            // seconds of true; a display that counts seconds asks for
            // every second's frame.
            let redraw = before.is_none_or(|b| b / 10 != now / 10) || state.counts_seconds();
            Outcome::changed(before != Some(now) && redraw || cycled || expired)
        }
        Msg::Op(p) => {
            let finished = matches!(p.event, crate::ops::Event::Finished(_));
            state.ops.apply(p, state.now);
            // A finished operation wrote its journal line: show it.
            Outcome::run(if finished {
                vec![Command::ReloadJournal]
            } else {
                Vec::new()
            })
        }
        Msg::Planned { request, result } => Outcome::run(actions::planned(state, request, result)),
        Msg::Revisions {
            service,
            env,
            result,
        } => {
            if let Some(activity::Dialog::Rollback {
                service: s,
                envs,
                env: e,
                revisions,
                selected,
                ..
            }) = &mut state.dialog
            {
                if *s == service && envs.get(*e) == Some(&env) {
                    // Default: the revision before the newest.
                    *selected = match &result {
                        Ok(r) => r.len().saturating_sub(2),
                        Err(_) => 0,
                    };
                    *revisions = Some(result);
                }
            }
            Outcome::changed(true)
        }
        Msg::Log { id, event } => Outcome::changed(actions::log_event(state, id, event)),
        Msg::Journal(h) => {
            let tags = crate::ops::audit::run_tags(h.entries.iter().chain(&h.interrupted));
            let changed = set(&mut state.history, h) | set(&mut state.run_tags, tags);
            Outcome::changed(changed)
        }
        Msg::Source(id, status) => {
            if let Some(now) = state.now {
                if status == SourceStatus::Live {
                    state.seen.insert(id.clone(), now);
                }
                if state.sources.get(&id) != Some(&status) {
                    state.since.insert(id.clone(), now);
                }
            }
            Outcome::changed(state.sources.insert(id, status.clone()) != Some(status))
        }
        Msg::Answered(id) => {
            // Freshness shows as an age in watch mode, which the clock's
            // tick redraws every second anyway.
            if let Some(now) = state.now {
                state.seen.insert(id, now);
            }
            Outcome::default()
        }
        Msg::Workload {
            service,
            env,
            observation,
        } => {
            let (Some(s), Some(e)) = (
                state.service_index(&service),
                state.envs.iter().position(|n| *n == env),
            ) else {
                return Outcome::default();
            };
            let changed = set(&mut state.services[s].envs[e], observation);
            let mut outcome = Outcome::changed(changed);
            outcome.commands.extend(ask_behind(state, s, e, false));
            outcome
        }
        Msg::Releases { service, releases } => with_service(state, &service, |svc| {
            set(&mut svc.github_error, None) | set(&mut svc.releases, Some(releases))
        }),
        Msg::Runs { service, runs } => {
            let mut outcome = with_service(state, &service, |svc| {
                set(&mut svc.github_error, None) | set(&mut svc.runs, Some(runs))
            });
            // A new run: the branch may have moved (a push), so every
            // environment's count is read again.
            if let (true, Some(s)) = (outcome.changed, state.service_index(&service)) {
                for e in 0..state.envs.len() {
                    outcome.commands.extend(ask_behind(state, s, e, true));
                }
            }
            outcome
        }
        Msg::Behind {
            service,
            env,
            tag,
            behind,
        } => with_env(state, &service, &env, |svc, e| {
            svc.behind_asked[e].as_deref() == Some(tag.as_str()) && set(&mut svc.behind[e], behind)
        }),
        Msg::Jobs {
            service,
            run_id,
            jobs,
        } => with_service(state, &service, |svc| apply_jobs(svc, run_id, jobs)),
        Msg::Pending {
            service,
            run_id,
            pending,
        } => with_service(state, &service, |svc| {
            set(&mut svc.pending, Some((run_id, pending)))
        }),
        Msg::Helm {
            service,
            env,
            history,
        } => with_env(state, &service, &env, |svc, e| {
            set(&mut svc.helm[e], Some(history))
        }),
        Msg::Endpoint {
            service,
            env,
            reading,
        } => {
            // On a host the endpoint is what the environment runs.
            let host = state
                .registry
                .services
                .iter()
                .find(|s| s.name == service)
                .and_then(|s| s.environment(&env))
                .and_then(|e| e.host.clone());
            with_env(state, &service, &env, |svc, e| {
                let seen = match &host {
                    Some(h) => set(&mut svc.envs[e], EnvObservation::from_endpoint(h, &reading)),
                    None => false,
                };
                set(&mut svc.endpoints[e], Some(reading)) | seen
            })
        }
        Msg::Gitops {
            service,
            env,
            reading,
        } => with_env(state, &service, &env, |svc, e| {
            set(&mut svc.gitops[e], Some(reading))
        }),
        Msg::RateLimit(limit) => Outcome::changed(set(&mut state.rate_limit, Some(limit))),
        Msg::Schedule(view) => {
            // Shown only in help: elsewhere nothing to redraw.
            let shown = state.help;
            Outcome::changed(set(&mut state.schedule, Some(view)) && shown)
        }
        Msg::GitHubError { service, problem } => with_service(state, &service, |svc| {
            set(&mut svc.github_error, Some(problem))
        }),
        Msg::GitHubRecovered { service } => {
            with_service(state, &service, |svc| set(&mut svc.github_error, None))
        }
    }
}

/// The command that reads how far environment `e` of service `s` is behind
/// its branch: when its serving tag is new (or `again`, after a run).
fn ask_behind(state: &mut State, s: usize, e: usize, again: bool) -> Option<Command> {
    let EnvObservation::Live(w) = &state.services[s].envs[e] else {
        return None;
    };
    let tag = w.serving_tag()?.to_string();
    let svc = &mut state.services[s];
    if !again && svc.behind_asked[e].as_deref() == Some(tag.as_str()) {
        return None;
    }
    if again && svc.behind_asked[e].is_none() {
        return None;
    }
    svc.behind_asked[e] = Some(tag.clone());
    Some(Command::Behind {
        service: state.registry.services[s].name.clone(),
        env: state.envs[e].clone(),
        dir: state.registry.services[s].directory.clone(),
        tag,
    })
}

/// Store `value` in `slot`; whether it differed.
fn set<T: PartialEq>(slot: &mut T, value: T) -> bool {
    if *slot == value {
        false
    } else {
        *slot = value;
        true
    }
}

/// Apply `f` to the named service (an unknown name changes nothing).
/// Apply `f` to a service's state and the index of one of its
/// environments (in [`State::envs`]); unknown names change nothing.
fn with_env(
    state: &mut State,
    service: &str,
    env: &str,
    f: impl FnOnce(&mut ServiceState, usize) -> bool,
) -> Outcome {
    let (Some(s), Some(e)) = (
        state.service_index(service),
        state.envs.iter().position(|n| n == env),
    ) else {
        return Outcome::default();
    };
    Outcome::changed(f(&mut state.services[s], e))
}

fn with_service(
    state: &mut State,
    service: &str,
    f: impl FnOnce(&mut ServiceState) -> bool,
) -> Outcome {
    match state.service_index(service) {
        Some(s) => Outcome::changed(f(&mut state.services[s])),
        None => Outcome::default(),
    }
}

/// Diff a run's new job snapshot against the previous one into the CI
/// stream, then keep the snapshot.
fn apply_jobs(svc: &mut ServiceState, run_id: u64, jobs: Vec<CiJob>) -> bool {
    if svc.jobs.get(&run_id) == Some(&jobs) {
        return false;
    }
    let events = match svc.jobs.get(&run_id) {
        Some(prev) => ci::diff(run_id, prev, &jobs),
        None => ci::diff(run_id, &[], &jobs),
    };
    for event in events {
        if svc.ci_stream.len() == CI_STREAM_LIMIT {
            svc.ci_stream.pop_front();
        }
        svc.ci_stream.push_back(event);
    }
    svc.jobs.insert(run_id, jobs);
    while svc.jobs.len() > JOB_RUNS_KEPT {
        svc.jobs.pop_first();
    }
    true
}

fn on_key(state: &mut State, key: KeyEvent) -> Outcome {
    if key.kind == KeyEventKind::Release {
        return Outcome::default();
    }
    if state.filter_editing {
        return Outcome::run(on_filter_key(state, key));
    }
    if state.dialog.is_some() && !state.help {
        return Outcome::run(actions::dialog_key(state, key));
    }
    if state.logs.is_some() && state.focus == Focus::Detail && !state.help {
        if let Some(commands) = actions::log_key(state, key) {
            return Outcome::run(commands);
        }
    }
    let Some(action) = keymap::lookup(state.mode.access, &key) else {
        if let Some(op) = keymap::operation_key(&key) {
            // A key that would change something elsewhere: say why not.
            state.say(format!(
                "read-only: {} is not available in {} mode",
                keymap::op_words(op),
                state.mode.label()
            ));
            return Outcome::changed(true);
        }
        return Outcome::default();
    };
    if state.help && !matches!(action, Action::Nav(Nav::Help | Nav::Back | Nav::Quit)) {
        // The overlay is modal: other keys would act on a screen the user cannot see.
        return Outcome::default();
    }
    match action {
        Action::Nav(Nav::Logs) => Outcome::run(actions::open_logs(state)),
        Action::Nav(nav) => Outcome::run(navigate(state, nav)),
        Action::Op(op) => Outcome::run(actions::start(state, op)),
    }
}

/// Keys while the filter is being edited: Esc clears it, Enter keeps it,
/// arrows still move the selection, everything else edits the text.
fn on_filter_key(state: &mut State, key: KeyEvent) -> Vec<Command> {
    use crossterm::event::{KeyCode, KeyModifiers};
    match (key.code, key.modifiers) {
        (KeyCode::Esc, _) => {
            state.filter.reset();
            state.filter_editing = false;
        }
        (KeyCode::Enter, _) => state.filter_editing = false,
        (KeyCode::Char('c'), KeyModifiers::CONTROL) => return vec![Command::Quit],
        (KeyCode::Up, _) => state.move_selection(-1),
        (KeyCode::Down, _) => state.move_selection(1),
        _ => {
            if let Some(req) = to_input_request(&Event::Key(key)) {
                state.filter.handle(req);
            }
        }
    }
    state.reselect();
    Vec::new()
}

/// Apply a navigation action: it changes only what hearth shows.
fn navigate(state: &mut State, nav: Nav) -> Vec<Command> {
    let detail = state.focus == Focus::Detail;
    match nav {
        Nav::Quit => return vec![Command::Quit],
        Nav::Help => state.help = !state.help,
        Nav::Up if detail => state.detail_scroll = state.detail_scroll.saturating_sub(1),
        Nav::Down if detail => {
            state.detail_scroll = state.detail_scroll.saturating_add(1).min(state.detail_max)
        }
        Nav::PageUp if detail => {
            state.detail_scroll = state.detail_scroll.saturating_sub(state.page() as u16)
        }
        Nav::PageDown if detail => {
            state.detail_scroll = state
                .detail_scroll
                .saturating_add(state.page() as u16)
                .min(state.detail_max)
        }
        Nav::First if detail => state.detail_scroll = 0,
        Nav::Last if detail && state.detail_max != u16::MAX => {
            state.detail_scroll = state.detail_max
        }
        Nav::Up => state.move_selection(-1),
        Nav::Down => state.move_selection(1),
        Nav::PageUp => state.move_selection(-state.page()),
        Nav::PageDown => state.move_selection(state.page()),
        Nav::First => state.move_selection(isize::MIN / 2),
        Nav::Last => state.move_selection(isize::MAX / 2),
        Nav::ToggleFocus => {
            state.focus = match state.focus {
                Focus::Overview => Focus::Detail,
                Focus::Detail => Focus::Overview,
            }
        }
        Nav::Filter => {
            state.filter_editing = true;
            state.focus = Focus::Overview;
        }
        Nav::Logs => {}
        Nav::Back => {
            if state.help {
                state.help = false;
            } else if state.focus == Focus::Detail {
                state.focus = Focus::Overview;
                state.detail_scroll = 0;
            } else if !state.filter.value().is_empty() {
                state.filter.reset();
                state.reselect();
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CiStep, Rollout, Workload};
    use crate::registry::{Service, Settings};
    use crossterm::event::{KeyCode, KeyModifiers};

    fn registry(names: &[&str]) -> Arc<Registry> {
        Arc::new(Registry {
            path: "services.yaml".into(),
            settings: Settings::default(),
            services: names.iter().map(|n| Service::example(n)).collect(),
        })
    }

    fn key(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    fn code(code: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    #[test]
    fn fresh_state_is_unknown_everywhere() {
        let state = State::new(registry(&["api", "web"]), Mode::INTERACTIVE);
        assert_eq!(state.envs, vec!["prod", "qa"]);
        assert!(state.services[1]
            .envs
            .iter()
            .all(|o| *o == EnvObservation::Unknown));
        assert!(state.sources.is_empty());
        assert_eq!(state.now, None);
    }

    #[test]
    fn quit_keys_return_quit() {
        let mut state = State::new(registry(&["api"]), Mode::INTERACTIVE);
        assert_eq!(update(&mut state, key('q')), vec![Command::Quit]);
        let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(update(&mut state, ctrl_c), vec![Command::Quit]);
    }

    #[test]
    fn selection_moves_and_clamps() {
        let mut state = State::new(registry(&["a", "b", "c"]), Mode::INTERACTIVE);
        update(&mut state, key('j'));
        update(&mut state, code(KeyCode::Down));
        update(&mut state, key('j'));
        assert_eq!(state.selected, 2);
        update(&mut state, key('k'));
        assert_eq!(state.selected, 1);
        update(&mut state, key('g'));
        assert_eq!(state.selected, 0);
        update(&mut state, code(KeyCode::Up));
        assert_eq!(state.selected, 0);
        update(&mut state, code(KeyCode::End));
        assert_eq!(state.selected, 2);
    }

    #[test]
    fn filter_narrows_and_escape_clears() {
        let mut state = State::new(registry(&["api", "web", "worker"]), Mode::INTERACTIVE);
        update(&mut state, key('/'));
        assert!(state.filter_editing);
        update(&mut state, key('w'));
        // `q` while typing is text, not quit.
        assert!(update(&mut state, key('o')).is_empty());
        assert_eq!(state.filter.value(), "wo");
        assert_eq!(state.visible(), vec![2]);
        assert_eq!(state.selected, 2, "selection follows the filter");
        update(&mut state, code(KeyCode::Enter));
        assert!(!state.filter_editing);
        assert_eq!(state.visible(), vec![2]);
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.visible(), vec![0, 1, 2]);
        update(&mut state, key('/'));
        update(&mut state, key('x'));
        assert!(state.visible().is_empty());
        update(&mut state, code(KeyCode::Esc));
        assert!(!state.filter_editing);
        assert_eq!(state.filter.value(), "");
    }

    #[test]
    fn help_toggles_and_is_modal() {
        let mut state = State::new(registry(&["a", "b"]), Mode::INTERACTIVE);
        update(&mut state, key('?'));
        assert!(state.help);
        update(&mut state, key('j'));
        assert_eq!(state.selected, 0, "keys under the overlay do nothing");
        update(&mut state, code(KeyCode::Esc));
        assert!(!state.help);
        update(&mut state, key('?'));
        assert_eq!(update(&mut state, key('q')), vec![Command::Quit]);
    }

    #[test]
    fn enter_focuses_detail_where_arrows_scroll() {
        let mut state = State::new(registry(&["a", "b"]), Mode::INTERACTIVE);
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.focus, Focus::Detail);
        update(&mut state, key('j'));
        update(&mut state, key('j'));
        assert_eq!(state.selected, 0);
        assert_eq!(state.detail_scroll, 2);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(state.focus, Focus::Overview);
        update(&mut state, code(KeyCode::Enter));
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.focus, Focus::Overview);
    }

    #[test]
    fn the_detail_pane_stops_scrolling_at_its_end_and_esc_resets_it() {
        let mut state = State::new(registry(&["a", "b"]), Mode::INTERACTIVE);
        update(&mut state, code(KeyCode::Enter));
        // The frame says the pane can scroll 3 lines.
        update(&mut state, Msg::Viewport { detail_max: 3 });
        for _ in 0..5 {
            update(&mut state, key('j'));
        }
        assert_eq!(state.detail_scroll, 3, "past the end does nothing");
        update(&mut state, key('k'));
        assert_eq!(state.detail_scroll, 2, "one key back up moves at once");
        update(&mut state, key('G'));
        assert_eq!(state.detail_scroll, 3);
        // Content shrank (a pod went away): the scroll follows.
        update(&mut state, Msg::Viewport { detail_max: 1 });
        assert_eq!(state.detail_scroll, 1);
        update(&mut state, code(KeyCode::Esc));
        assert_eq!((state.focus, state.detail_scroll), (Focus::Overview, 0));
    }

    #[test]
    fn source_data_is_stored() {
        let mut state = State::new(registry(&["api"]), Mode::WATCH);
        let workload = Workload {
            image_tag: Some("v0.0.28".into()),
            desired: 2,
            ready: 2,
            rollout: Rollout::Complete,
            ..Workload::default()
        };
        update(
            &mut state,
            Msg::Workload {
                service: "api".into(),
                env: "qa".into(),
                observation: EnvObservation::Live(workload.clone()),
            },
        );
        assert_eq!(state.services[0].envs[1], EnvObservation::Live(workload));
        // Unknown services and environments are ignored, not a panic.
        update(
            &mut state,
            Msg::Workload {
                service: "nope".into(),
                env: "qa".into(),
                observation: EnvObservation::Unknown,
            },
        );
        update(
            &mut state,
            Msg::Workload {
                service: "api".into(),
                env: "staging".into(),
                observation: EnvObservation::Unknown,
            },
        );
        update(
            &mut state,
            Msg::GitHubError {
                service: "api".into(),
                problem: Problem::new(crate::model::ProblemKind::NotFound, "repo not found", ""),
            },
        );
        assert_eq!(
            state.services[0]
                .github_error
                .as_ref()
                .map(|p| p.message.as_str()),
            Some("repo not found")
        );
        update(
            &mut state,
            Msg::Releases {
                service: "api".into(),
                releases: vec![Release {
                    tag: "v0.0.28".into(),
                    latest: true,
                    ..Release::default()
                }],
            },
        );
        assert_eq!(state.services[0].github_error, None);
        assert_eq!(
            state.services[0].latest_release().map(|r| r.tag.as_str()),
            Some("v0.0.28")
        );
        update(
            &mut state,
            Msg::Runs {
                service: "api".into(),
                runs: vec![CiRun {
                    id: 7,
                    status: "in_progress".into(),
                    ..CiRun::default()
                }],
            },
        );
        assert_eq!(state.services[0].latest_run().map(|r| r.id), Some(7));
        update(
            &mut state,
            Msg::RateLimit(RateLimit {
                limit: 5000,
                remaining: 4990,
                used: 10,
                reset: 0,
            }),
        );
        assert_eq!(state.rate_limit.as_ref().map(|r| r.remaining), Some(4990));
        update(
            &mut state,
            Msg::Source(SourceId::GitHub, SourceStatus::Live),
        );
        assert_eq!(state.sources[&SourceId::GitHub], SourceStatus::Live);
        update(&mut state, Msg::Tick(1_700_000_000));
        assert_eq!(state.now, Some(1_700_000_000));
    }

    #[test]
    fn jobs_snapshots_become_a_step_stream() {
        let mut state = State::new(registry(&["api"]), Mode::INTERACTIVE);
        let step = |n: u64, name: &str, status: &str, conclusion: Option<&str>| CiStep {
            number: n,
            name: name.into(),
            status: status.into(),
            conclusion: conclusion.map(Into::into),
            started_at: (status != "queued").then(|| "2026-01-01T00:00:00Z".into()),
            completed_at: (status == "completed").then(|| "2026-01-01T00:00:12Z".into()),
        };
        let job = |steps: Vec<CiStep>, status: &str| CiJob {
            id: 1,
            run_id: 9,
            name: "ship".into(),
            status: status.into(),
            steps,
            ..CiJob::default()
        };
        let jobs = |j| Msg::Jobs {
            service: "api".into(),
            run_id: 9,
            jobs: vec![j],
        };
        update(
            &mut state,
            jobs(job(
                vec![
                    step(1, "Checkout", "in_progress", None),
                    step(2, "Build", "queued", None),
                ],
                "in_progress",
            )),
        );
        update(
            &mut state,
            jobs(job(
                vec![
                    step(1, "Checkout", "completed", Some("success")),
                    step(2, "Build", "in_progress", None),
                ],
                "in_progress",
            )),
        );
        // The same snapshot again adds nothing.
        update(
            &mut state,
            jobs(job(
                vec![
                    step(1, "Checkout", "completed", Some("success")),
                    step(2, "Build", "in_progress", None),
                ],
                "in_progress",
            )),
        );
        let stream: Vec<String> = state.services[0]
            .ci_stream
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            stream,
            vec![
                "ship: job started",
                "ship: Checkout started",
                "ship: Checkout success (12s)",
                "ship: Build started",
            ]
        );
    }
}
