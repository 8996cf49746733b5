//! The GitHub scheduler: one task decides, for every service, when its runs,
//! releases and the jobs of its active runs are read again, and spends one
//! request budget in the order a person looks at the screen:
//!
//! What it reads per service: the runs of its CI workflow, its releases,
//! the jobs (with steps) of its active runs, and the pending deployments
//! (environments, reviewers, wait timers) of a run that waits for an approval.
//!
//! 1. **focus**: the selected service, and a service an operation is running for;
//! 2. **shown**: the rows on screen;
//! 3. **active**: a run in progress or waiting for a reviewer, off screen;
//! 4. **background**: everything else, while someone is looking;
//! 5. **away**: nobody pressed a key for an hour (a shared screen in watch
//!    mode is always looked at).
//!
//! Each class has its own intervals ([`Intervals`]); when work of several
//! classes is due, the better class goes first, and background work only
//! runs while the budget keeps a reserve for the classes above it. The
//! budget itself is the client's token bucket ([`super::client::Bucket`]),
//! which every GitHub request of hearth (operations included) draws from, so
//! a burst at start-up or after a key press stays within GitHub's secondary
//! limits. Every read is conditional (ETag / `If-None-Match`): an unchanged
//! answer is a 304, which GitHub does not count against the rate limit.
//!
//! The control room tells the scheduler what it shows through [`Steering`]
//! after each frame; the operations nudge it (`kick`, `busy`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::client::{Client, Fetched, GhError};
use super::parse::{parse_jobs, parse_pending, parse_releases, parse_runs};
use super::{Event, Intervals};
use crate::model::{CiJob, CiRun, PendingDeployment, Release, SourceStatus};

/// What one service's polling needs to know.
#[derive(Clone, Debug, Default)]
pub struct PollTarget {
    pub service: String,
    pub repo: String,
    /// The workflow whose runs are the service's CI; empty: every run of
    /// the repository.
    pub workflow: String,
}

/// What the person at the screen looks at, as the last frame drew it.
#[derive(Clone, Debug, PartialEq)]
pub struct Attention {
    /// The services drawn on screen, by name.
    pub shown: Vec<String>,
    /// The selected service.
    pub selected: Option<String>,
    /// Someone is looking: a key within the last hour, or a shared screen.
    pub attended: bool,
}

impl Default for Attention {
    /// Before the first frame: nothing known to be shown, someone looking.
    fn default() -> Self {
        Attention {
            shown: Vec::new(),
            selected: None,
            attended: true,
        }
    }
}

/// How the rest of hearth steers the scheduler. Cheap to clone; a default
/// value (GitHub off) does nothing.
#[derive(Clone, Debug, Default)]
pub struct Steering {
    nudges: Option<mpsc::UnboundedSender<Nudge>>,
    attention: Option<Arc<watch::Sender<Attention>>>,
}

/// See [`Steering::seen`]. Without a screen (a one-shot command) a
/// service is always seen.
#[derive(Debug)]
pub struct Seen {
    rx: Option<watch::Receiver<Attention>>,
    service: String,
}

impl Seen {
    fn is_in(&self, a: &Attention) -> bool {
        a.selected.as_deref() == Some(self.service.as_str()) || a.shown.contains(&self.service)
    }

    /// Wait until the service is seen; `false` when the screen has gone.
    pub async fn wait(&mut self) -> bool {
        let Some(rx) = self.rx.as_mut() else {
            return true;
        };
        let service = self.service.clone();
        let seen = rx
            .wait_for(|a| {
                a.selected.as_deref() == Some(service.as_str()) || a.shown.contains(&service)
            })
            .await
            .is_ok();
        seen
    }

    /// Whether the service is seen now.
    pub fn now(&self) -> bool {
        self.rx.as_ref().is_none_or(|rx| self.is_in(&rx.borrow()))
    }
}

#[derive(Debug)]
enum Nudge {
    /// Read this service's runs and releases now.
    Kick(String),
    /// An operation started (`true`) or ended for this service.
    Busy(String, bool),
}

impl Steering {
    /// Read `service`'s runs and releases now (after hearth changed them).
    pub fn kick(&self, service: &str) {
        if let Some(tx) = &self.nudges {
            let _ = tx.send(Nudge::Kick(service.to_string()));
        }
    }

    /// An operation runs for `service` (`busy`) or has ended: while it runs,
    /// the service is polled as if selected.
    pub fn busy(&self, service: &str, busy: bool) {
        if let Some(tx) = &self.nudges {
            let _ = tx.send(Nudge::Busy(service.to_string(), busy));
        }
    }

    /// Whether `service` is drawn on screen or selected, to wait for or
    /// ask now ([`Seen`]). Holds only a receiver of what the screen shows,
    /// never its sender. For reads only the screen needs (commits behind).
    pub fn seen(&self, service: &str) -> Seen {
        Seen {
            rx: self.attention.as_ref().map(|tx| tx.subscribe()),
            service: service.to_string(),
        }
    }

    /// What the screen shows now. Sends only when it changed; never blocks
    /// (safe from the event loop).
    pub fn attend(&self, attention: Attention) {
        if let Some(tx) = &self.attention {
            tx.send_if_modified(|a| {
                if *a == attention {
                    false
                } else {
                    *a = attention;
                    true
                }
            });
        }
    }
}

/// The scheduler's own view, for the help screen: what it spends and how
/// old the data on screen is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleView {
    /// GitHub requests sent in the last minute (304s included).
    pub per_minute: u32,
    /// The most the budget allows per minute.
    pub budget_per_minute: u32,
    /// Seconds since the oldest answer among the services shown.
    pub oldest_shown_secs: Option<u64>,
    /// Services not answered yet.
    pub waiting_first: usize,
    /// Whether the rate limit is nearly spent and only what is on screen is read.
    pub saving: bool,
}

/// Priority classes, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Focus,
    Shown,
    Active,
    Background,
    Away,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Runs,
    Releases,
    Jobs(u64),
    /// What a waiting run waits for (its environments and reviewers).
    Pending(u64),
}

impl Kind {
    fn bit(self) -> u8 {
        match self {
            Kind::Runs => 1,
            Kind::Releases => 2,
            Kind::Jobs(_) => 4,
            Kind::Pending(_) => 8,
        }
    }
}

enum Parsed {
    Runs(Vec<CiRun>),
    Releases(Vec<Release>),
    Jobs(Vec<CiJob>),
    Pending(Vec<PendingDeployment>),
}

/// What a finished request brings back to the scheduler.
struct Done {
    index: usize,
    kind: Kind,
    result: Result<Option<(Parsed, Option<String>)>, GhError>,
}

/// One service's polling state.
#[derive(Default)]
struct Svc {
    target: PollTarget,
    runs: Vec<CiRun>,
    /// Ids of the runs still going, and of those waiting for a reviewer
    /// (kept with `runs`: the scheduler asks often).
    active_runs: Vec<u64>,
    waiting_runs: Vec<u64>,
    runs_etag: Option<String>,
    releases_etag: Option<String>,
    jobs_etag: HashMap<u64, String>,
    /// When each kind was last answered (`None`: never).
    runs_at: Option<Instant>,
    releases_at: Option<Instant>,
    jobs_at: HashMap<u64, Instant>,
    /// When the pending deployments of each waiting run were read.
    pending_at: HashMap<u64, Instant>,
    /// A new run was seen: read the releases at once.
    releases_stale: bool,
    /// Read the runs at once (kicked).
    kicked: bool,
    /// Runs that completed since the last poll: their jobs once more, so
    /// the CI stream ends with the final steps.
    finishing: Vec<u64>,
    /// Kinds in flight (bits of [`Kind::bit`]).
    in_flight: u8,
    /// Kinds whose last request failed (bits); the error stays on screen
    /// until each of them answered again.
    failing: u8,
    failures: u32,
    not_before: Option<Instant>,
    last_error: Option<String>,
    /// Operations running for this service.
    busy: u32,
}

impl Svc {
    fn has_active_run(&self) -> bool {
        !self.active_runs.is_empty()
    }

    fn set_runs(&mut self, runs: Vec<CiRun>) {
        self.active_runs = runs
            .iter()
            .filter(|r| r.is_active())
            .map(|r| r.id)
            .collect();
        self.waiting_runs = runs
            .iter()
            .filter(|r| r.status == "waiting")
            .map(|r| r.id)
            .collect();
        self.runs = runs;
    }

    fn answered(&mut self, kind: Kind, now: Instant) {
        match kind {
            Kind::Runs => self.runs_at = Some(now),
            Kind::Releases => self.releases_at = Some(now),
            Kind::Jobs(id) => {
                self.jobs_at.insert(id, now);
            }
            Kind::Pending(id) => {
                self.pending_at.insert(id, now);
            }
        }
    }
}

/// The part of the budget's rate that reading services off screen may take
/// while nothing happens: an idle screen of hundreds of services stays cheap.
const BACKGROUND_SHARE: f64 = 0.2;
/// The part of the budget's rate that re-reading the rows on screen may take:
/// the rest stays for the selected service, active runs, first reads and
/// the background.
const SHOWN_SHARE: f64 = 0.6;
/// Requests in flight at most (the client allows a few more, for operations).
const MAX_IN_FLIGHT: usize = 6;
/// How often the scheduler's view and the freshness signal are sent at most.
const REPORT_EVERY: Duration = Duration::from_secs(5);

struct Scheduler {
    client: Arc<Client>,
    tx: mpsc::Sender<Event>,
    intervals: Intervals,
    svcs: Vec<Svc>,
    by_name: HashMap<String, usize>,
    attention: Attention,
    shown: Vec<usize>,
    /// `shown` as a mask by service index.
    shown_mask: Vec<bool>,
    selected: Option<usize>,
    /// Between reads of a background service's runs: the configured
    /// interval, longer when there are so many services off screen that
    /// reading them would take more than [`BACKGROUND_SHARE`] of the budget.
    background: Duration,
    /// Between reads of the runs of a service on screen without an active
    /// run: the configured interval, longer when the rows on screen would
    /// take more than [`SHOWN_SHARE`] of the budget.
    shown_interval: Duration,
    inflight: JoinSet<Done>,
    sent: VecDeque<Instant>,
    last_report: Option<Instant>,
    last_view: Option<ScheduleView>,
    answered_since_report: bool,
}

/// Start the scheduler for `targets`; it runs until every receiver of its
/// events is gone. Must be called inside a tokio runtime.
pub fn start(
    client: Arc<Client>,
    targets: Vec<PollTarget>,
    intervals: Intervals,
    tx: mpsc::Sender<Event>,
) -> (Steering, tokio::task::JoinHandle<()>) {
    let (ntx, nrx) = mpsc::unbounded_channel();
    let (atx, arx) = watch::channel(Attention::default());
    let by_name = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.service.clone(), i))
        .collect();
    let svcs = targets
        .into_iter()
        .map(|target| Svc {
            target,
            ..Svc::default()
        })
        .collect();
    let scheduler = Scheduler {
        client,
        tx,
        intervals,
        svcs,
        by_name,
        attention: Attention::default(),
        shown: Vec::new(),
        shown_mask: Vec::new(),
        selected: None,
        background: intervals.background,
        shown_interval: intervals.idle,
        inflight: JoinSet::new(),
        sent: VecDeque::new(),
        last_report: None,
        last_view: None,
        answered_since_report: false,
    };
    let mut scheduler = scheduler;
    scheduler.attend(Attention::default());
    let handle = tokio::spawn(scheduler.run(nrx, arx));
    (
        Steering {
            nudges: Some(ntx),
            attention: Some(Arc::new(atx)),
        },
        handle,
    )
}

impl Scheduler {
    async fn run(
        mut self,
        mut nudges: mpsc::UnboundedReceiver<Nudge>,
        mut attention: watch::Receiver<Attention>,
    ) {
        // The last scan of every service, while it still holds: nothing
        // changed since (no answer, nudge or attention) and nothing that was
        // not due then is due now. Most wakes are the budget's (a token is
        // there again), and they then skip a scan of every service.
        let mut scanned: Option<Scan> = None;
        loop {
            if self.tx.is_closed() {
                return;
            }
            // What the screen shows now, before choosing what to read.
            if attention.has_changed().unwrap_or(false) {
                let a = attention.borrow_and_update().clone();
                self.attend(a);
                scanned = None;
            }
            let now = Instant::now();
            // Dispatch everything due that the budget allows.
            let mut wake = now + Duration::from_secs(60);
            while self.inflight.len() < MAX_IN_FLIGHT {
                let saving = self.saving();
                let scan = match scanned.take() {
                    Some(scan) if scan.holds(now, saving) => scan,
                    _ => self.scan(now, saving),
                };
                match self.next(&scan, now) {
                    Next::Go(index, kind) => self.dispatch(index, kind, now),
                    Next::At(t) => {
                        scanned = Some(scan);
                        wake = wake.min(t);
                        break;
                    }
                }
            }
            if let Some(at) = self.report_due() {
                wake = wake.min(at);
            }
            tokio::select! {
                Some(done) = self.inflight.join_next(), if !self.inflight.is_empty() => {
                    scanned = None;
                    if let Ok(done) = done {
                        if self.handle(done).await.is_err() {
                            return;
                        }
                    }
                }
                nudge = nudges.recv() => match nudge {
                    Some(n) => {
                        self.nudge(n);
                        scanned = None;
                    }
                    None => {
                        // Nobody steers any more (tests, one-shot use): go on
                        // with what is known.
                        std::future::pending::<()>().await;
                    }
                },
                changed = attention.changed() => {
                    if changed.is_err() {
                        std::future::pending::<()>().await;
                    }
                    let a = attention.borrow_and_update().clone();
                    self.attend(a);
                    scanned = None;
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            if self.report().await.is_err() {
                return;
            }
        }
    }

    fn nudge(&mut self, nudge: Nudge) {
        match nudge {
            Nudge::Kick(name) => {
                if let Some(&i) = self.by_name.get(&name) {
                    let s = &mut self.svcs[i];
                    s.kicked = true;
                    s.releases_stale = true;
                    s.not_before = None;
                }
            }
            Nudge::Busy(name, busy) => {
                if let Some(&i) = self.by_name.get(&name) {
                    let s = &mut self.svcs[i];
                    s.busy = if busy {
                        s.busy + 1
                    } else {
                        s.busy.saturating_sub(1)
                    };
                }
            }
        }
    }

    fn attend(&mut self, a: Attention) {
        self.shown = a
            .shown
            .iter()
            .filter_map(|n| self.by_name.get(n).copied())
            .collect();
        self.shown_mask = vec![false; self.svcs.len()];
        for &i in &self.shown {
            self.shown_mask[i] = true;
        }
        self.selected = a
            .selected
            .as_ref()
            .and_then(|n| self.by_name.get(n).copied());
        self.attention = a;
        let off_screen = self.svcs.len().saturating_sub(self.shown.len()) as f64;
        let rate = self.client.bucket().rate() * BACKGROUND_SHARE;
        self.background = self
            .intervals
            .background
            .max(Duration::from_secs_f64(off_screen / rate));
        let shown = self.shown.len() as f64;
        self.shown_interval = self.intervals.idle.max(Duration::from_secs_f64(
            shown / (self.client.bucket().rate() * SHOWN_SHARE),
        ));
    }

    fn class(&self, i: usize) -> Class {
        let s = &self.svcs[i];
        let attended = self.attention.attended;
        if s.busy > 0 || (attended && self.selected == Some(i)) {
            Class::Focus
        } else if attended && self.shown_mask.get(i).copied().unwrap_or(false) {
            Class::Shown
        } else if s.has_active_run() {
            Class::Active
        } else if attended {
            Class::Background
        } else {
            Class::Away
        }
    }

    /// How long after the last answer each kind is read again, per class.
    fn interval(&self, class: Class, kind: Kind, active_run: bool) -> Duration {
        let iv = &self.intervals;
        match (kind, class) {
            (Kind::Runs | Kind::Jobs(_), Class::Focus) => iv.active,
            (Kind::Runs | Kind::Jobs(_), Class::Shown) if active_run => iv.active,
            (Kind::Runs, Class::Shown) => self.shown_interval,
            (Kind::Runs | Kind::Jobs(_), Class::Active) => iv.idle * 2,
            (Kind::Jobs(_), Class::Shown) => iv.active,
            (Kind::Jobs(_), _) => iv.idle * 2,
            (Kind::Runs, Class::Background) => self.background,
            (Kind::Runs, Class::Away) => self.background * 10,
            (Kind::Releases, Class::Focus | Class::Shown) => iv.releases,
            (Kind::Releases, Class::Active) => iv.releases * 2,
            (Kind::Releases, Class::Background) => self.background * 10,
            (Kind::Releases, Class::Away) => self.background * 30,
            // Who may approve changes seldom; the run's status says when
            // the wait ends.
            (Kind::Pending(_), Class::Focus | Class::Shown) => iv.releases,
            (Kind::Pending(_), _) => iv.releases * 4,
        }
    }

    /// When `kind` of service `i` is due (`now`: at once).
    fn due(&self, i: usize, kind: Kind, class: Class, now: Instant) -> Instant {
        let s = &self.svcs[i];
        let active = s.has_active_run();
        let since = |at: Option<Instant>| at.map(|t| t + self.interval(class, kind, active));
        let due = match kind {
            Kind::Runs if s.kicked => None,
            Kind::Runs => since(s.runs_at),
            Kind::Releases if s.releases_stale => None,
            Kind::Releases => since(s.releases_at),
            Kind::Jobs(id) if s.finishing.contains(&id) => None,
            Kind::Jobs(id) => since(s.jobs_at.get(&id).copied()),
            Kind::Pending(id) => since(s.pending_at.get(&id).copied()),
        };
        let due = due.unwrap_or(now);
        match s.not_before {
            Some(t) => due.max(t),
            None => due,
        }
    }

    /// The best read that is due now (by rank, class, then how long it has
    /// been due) and when the next of the others is.
    fn scan(&self, now: Instant, saving: bool) -> Scan {
        let mut best: Option<(u8, Class, Instant, usize, Kind)> = None;
        let mut soonest: Option<Instant> = None;
        for i in 0..self.svcs.len() {
            let class = self.class(i);
            if saving && class > Class::Shown && self.svcs[i].runs_at.is_some() {
                continue;
            }
            let s = &self.svcs[i];
            let jobs = s
                .active_runs
                .iter()
                .chain(&s.finishing)
                .map(|&id| Kind::Jobs(id));
            let pending = s.waiting_runs.iter().map(|&id| Kind::Pending(id));
            // Releases only after the first runs answer (which may make
            // them stale at once); jobs only of known runs.
            let kinds = std::iter::once(Kind::Runs)
                .chain(s.runs_at.is_some().then_some(Kind::Releases))
                .chain(jobs)
                .chain(pending);
            for kind in kinds {
                if s.in_flight & kind.bit() != 0 {
                    continue;
                }
                let due = self.due(i, kind, class, now);
                if due > now {
                    soonest = Some(soonest.map_or(due, |t| t.min(due)));
                    continue;
                }
                // A first read (nothing known yet) goes right after focus:
                // it is once per service and makes every screen complete.
                let first = match kind {
                    Kind::Runs => s.runs_at.is_none(),
                    Kind::Releases => s.releases_at.is_none(),
                    Kind::Jobs(_) | Kind::Pending(_) => false,
                };
                let rank = match class {
                    Class::Focus => 0,
                    _ if first => 1,
                    Class::Shown => 2,
                    Class::Active => 3,
                    Class::Background => 4,
                    Class::Away => 5,
                };
                let key = (rank, class, due, i, kind);
                if best.is_none_or(|b| (key.0, key.1, key.2, key.3) < (b.0, b.1, b.2, b.3)) {
                    best = Some(key);
                }
            }
        }
        Scan {
            best: best.map(|(rank, _, _, i, kind)| (rank, i, kind)),
            soonest,
            saving,
        }
    }

    /// The work to do next, or when to look again.
    fn next(&self, scan: &Scan, now: Instant) -> Next {
        // Nothing due: look again when something is (while saving, soon:
        // the rate limit's reset ends it).
        let fallback = now + Duration::from_secs(if scan.saving { 5 } else { 60 });
        let Some((rank, i, kind)) = scan.best else {
            return Next::At(scan.soonest.unwrap_or(fallback));
        };
        // The budget: background work keeps a reserve for what is looked at.
        let need = if rank <= 3 {
            1.0
        } else {
            self.client.bucket().burst() * 0.25
        };
        match self.client.bucket().time_until(need) {
            Duration::ZERO => Next::Go(i, kind),
            wait => Next::At(now + wait),
        }
    }

    /// Whether GitHub's rate limit is nearly spent until its reset: then
    /// only what is looked at is read (and what was never read, once).
    fn saving(&self) -> bool {
        let now = chrono::Utc::now().timestamp();
        self.client
            .budget()
            .is_some_and(|b| b.limit > 0 && b.remaining < (b.limit / 20).max(50) && b.reset > now)
    }

    fn dispatch(&mut self, index: usize, kind: Kind, now: Instant) {
        let s = &mut self.svcs[index];
        s.in_flight |= kind.bit();
        match kind {
            Kind::Runs => s.kicked = false,
            Kind::Releases => s.releases_stale = false,
            Kind::Jobs(id) => s.finishing.retain(|f| *f != id),
            Kind::Pending(_) => {}
        }
        self.sent.push_back(now);
        let client = self.client.clone();
        let repo = s.target.repo.clone();
        let (path, etag) = match kind {
            Kind::Runs => {
                let workflow = Some(s.target.workflow.as_str()).filter(|w| !w.is_empty());
                (super::runs_path(&repo, workflow, 5), s.runs_etag.clone())
            }
            Kind::Releases => (
                format!("/repos/{repo}/releases?per_page=30"),
                s.releases_etag.clone(),
            ),
            Kind::Jobs(id) => (
                format!("/repos/{repo}/actions/runs/{id}/jobs"),
                s.jobs_etag.get(&id).cloned(),
            ),
            Kind::Pending(id) => (
                format!("/repos/{repo}/actions/runs/{id}/pending_deployments"),
                None,
            ),
        };
        self.inflight.spawn(async move {
            let result = match client.get(&path, etag.as_deref()).await {
                Ok(Fetched::NotModified) => Ok(None),
                Ok(Fetched::Body { value, etag }) => match kind {
                    Kind::Runs => parse_runs(&value).map(Parsed::Runs),
                    Kind::Releases => parse_releases(&value).map(Parsed::Releases),
                    Kind::Jobs(_) => parse_jobs(&value).map(Parsed::Jobs),
                    Kind::Pending(_) => parse_pending(&value).map(Parsed::Pending),
                }
                .map(|p| Some((p, etag))),
                Err(e) => Err(e),
            };
            Done {
                index,
                kind,
                result,
            }
        });
    }

    async fn send(&self, event: Event) -> Result<(), Closed> {
        self.tx.send(event).await.map_err(|_| Closed)
    }

    async fn handle(&mut self, done: Done) -> Result<(), Closed> {
        let Done {
            index,
            kind,
            result,
        } = done;
        let now = Instant::now();
        self.svcs[index].in_flight &= !kind.bit();
        let got = match result {
            Ok(got) => got,
            Err(e) => return self.failed(index, kind, &e, now).await,
        };
        self.client.status(SourceStatus::Live).await;
        self.answered_since_report = true;
        let service = self.svcs[index].target.service.clone();
        let first = self.svcs[index].runs_at.is_none();
        {
            let s = &mut self.svcs[index];
            s.failures = 0;
            s.not_before = None;
            s.answered(kind, now);
        }
        match (kind, got) {
            (_, None) => {}
            (Kind::Runs, Some((Parsed::Runs(runs), etag))) => {
                let s = &mut self.svcs[index];
                s.runs_etag = etag;
                if runs.iter().any(|r| !s.runs.iter().any(|o| o.id == r.id)) && !first {
                    // A new run usually means a new release.
                    s.releases_stale = true;
                }
                // Runs that completed since the last poll; a run that
                // started and finished between two polls counts too (not at
                // start-up, where every old run is "new").
                let finished: Vec<u64> = runs
                    .iter()
                    .filter(|r| !r.is_active())
                    .filter(|r| match s.runs.iter().find(|o| o.id == r.id) {
                        Some(o) => o.is_active(),
                        None => !first,
                    })
                    .map(|r| r.id)
                    .collect();
                s.finishing.extend(finished);
                if runs != s.runs {
                    s.set_runs(runs.clone());
                    let (active, waiting) = (&s.active_runs, &s.waiting_runs);
                    s.jobs_etag.retain(|id, _| active.contains(id));
                    s.jobs_at.retain(|id, _| active.contains(id));
                    s.pending_at.retain(|id, _| waiting.contains(id));
                    self.send(Event::Runs { service, runs }).await?;
                }
            }
            (Kind::Releases, Some((Parsed::Releases(releases), etag))) => {
                self.svcs[index].releases_etag = etag;
                self.send(Event::Releases { service, releases }).await?;
            }
            (Kind::Jobs(run_id), Some((Parsed::Jobs(jobs), etag))) => {
                if let Some(e) = etag {
                    self.svcs[index].jobs_etag.insert(run_id, e);
                }
                self.send(Event::Jobs {
                    service,
                    run_id,
                    jobs,
                })
                .await?;
            }
            (Kind::Pending(run_id), Some((Parsed::Pending(pending), _))) => {
                self.send(Event::Pending {
                    service,
                    run_id,
                    pending,
                })
                .await?;
            }
            _ => {}
        }
        let s = &mut self.svcs[index];
        let was = s.failing;
        s.failing &= !kind.bit();
        if was != 0 && s.failing == 0 && s.last_error.take().is_some() {
            let service = s.target.service.clone();
            self.send(Event::Recovered { service }).await?;
        }
        Ok(())
    }

    /// Report a failed request (once per distinct message) and back off
    /// that service; a malformed answer does not stop its other reads.
    async fn failed(
        &mut self,
        index: usize,
        kind: Kind,
        err: &GhError,
        now: Instant,
    ) -> Result<(), Closed> {
        let what = match kind {
            Kind::Runs => {
                let w = &self.svcs[index].target.workflow;
                if w.is_empty() {
                    "workflow runs".to_string()
                } else {
                    format!("workflow {w}")
                }
            }
            Kind::Releases => "releases".to_string(),
            Kind::Jobs(_) => "jobs".to_string(),
            Kind::Pending(_) => "pending deployments".to_string(),
        };
        let repo = self.svcs[index].target.repo.clone();
        let problem = err.problem(&repo, &what, false);
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
        let s = &mut self.svcs[index];
        s.failing |= kind.bit();
        if !matches!(err, GhError::Malformed(_)) {
            s.failures += 1;
            // Exponential backoff: 5 s, 10 s, ... up to 5 min.
            let secs = 5u64.saturating_mul(1 << s.failures.min(7).saturating_sub(1));
            s.not_before = Some(now + Duration::from_secs(secs.min(300)));
        } else {
            // Not again at once: as if it had answered.
            s.answered(kind, now);
        }
        let text = problem.to_string();
        if s.last_error.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        s.last_error = Some(text.clone());
        let service = s.target.service.clone();
        tracing::warn!(%service, message = %text, "github poll");
        self.send(Event::Error { service, problem }).await
    }

    fn report_due(&self) -> Option<Instant> {
        Some(
            self.last_report
                .map_or_else(Instant::now, |t| t + REPORT_EVERY),
        )
    }

    /// Every few seconds: that GitHub answered (freshness), and the
    /// scheduler's view when it changed.
    async fn report(&mut self) -> Result<(), Closed> {
        let now = Instant::now();
        if self.last_report.is_some_and(|t| now < t + REPORT_EVERY) {
            return Ok(());
        }
        self.last_report = Some(now);
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.sent.pop_front();
        }
        if std::mem::take(&mut self.answered_since_report) {
            self.send(Event::Answered).await?;
        }
        let view = ScheduleView {
            per_minute: self.sent.len() as u32,
            budget_per_minute: (self.client.bucket().rate() * 60.0).round() as u32,
            oldest_shown_secs: self
                .shown
                .iter()
                .filter_map(|&i| self.svcs[i].runs_at)
                .map(|t| now.duration_since(t).as_secs())
                .max(),
            waiting_first: self.svcs.iter().filter(|s| s.runs_at.is_none()).count(),
            saving: self.saving(),
        };
        if self.last_view.as_ref() != Some(&view) {
            self.last_view = Some(view.clone());
            self.send(Event::Schedule(view)).await?;
        }
        Ok(())
    }
}

enum Next {
    Go(usize, Kind),
    At(Instant),
}

/// What [`Scheduler::scan`] found.
struct Scan {
    /// The read to make next: its rank, service and kind.
    best: Option<(u8, usize, Kind)>,
    /// When the soonest read that was not due yet is.
    soonest: Option<Instant>,
    /// Whether the rate limit was being saved.
    saving: bool,
}

impl Scan {
    /// Whether the scan still holds at `now`, when nothing changed since it
    /// was made: no read has come due since (what was due still is, in the
    /// same order) and the rate limit is saved as it was.
    fn holds(&self, now: Instant, saving: bool) -> bool {
        self.saving == saving && self.soonest.is_none_or(|t| now < t)
    }
}

/// Nobody listens any more.
struct Closed;

/// The scheduler against a small local HTTP server of 30 repositories: what
/// is on screen is read first and far more often than the rest; a kick
/// reads a service off screen at once; the rest is still read.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::Token;
    use axum::extract::{Path, State};
    use axum::routing::get;
    use serde_json::json;
    use std::sync::Mutex;
    use tokio::task::JoinHandle;

    type Seen = Arc<Mutex<Vec<(String, std::time::Instant)>>>;

    async fn runs(
        State(seen): State<Seen>,
        Path(repo): Path<String>,
    ) -> axum::Json<serde_json::Value> {
        seen.lock().unwrap().push((repo, std::time::Instant::now()));
        axum::Json(json!({"total_count": 0, "workflow_runs": []}))
    }

    async fn releases() -> axum::Json<serde_json::Value> {
        axum::Json(json!([]))
    }

    fn name(i: usize) -> String {
        format!("svc-{i:02}")
    }

    /// `n` repositories `o/svc-NN` served by `runs` (which records each
    /// read in `seen`), scheduled with `intervals`: the steering, the task,
    /// and the task that drains the events.
    async fn scheduled<H, T>(
        n: usize,
        runs: H,
        seen: &Seen,
        intervals: Intervals,
    ) -> (Steering, JoinHandle<()>, JoinHandle<()>)
    where
        H: axum::handler::Handler<T, Seen>,
        T: 'static,
    {
        let app = axum::Router::new()
            .route("/repos/o/{repo}/actions/workflows/ci.yml/runs", get(runs))
            .route("/repos/o/{repo}/releases", get(releases))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let (tx, mut rx) = mpsc::channel(10_000);
        let client =
            Client::with_rate(&url, Token::new("t", "GH_TOKEN"), Some(tx.clone()), 1000.0).unwrap();
        let targets = (0..n)
            .map(|i| PollTarget {
                service: name(i),
                repo: format!("o/{}", name(i)),
                workflow: "ci.yml".into(),
            })
            .collect();
        let (steering, task) = start(client, targets, intervals, tx);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        (steering, task, drain)
    }

    #[tokio::test]
    async fn what_is_shown_goes_first_and_most_often() {
        let seen: Seen = Arc::default();
        let intervals = Intervals {
            idle: Duration::from_millis(200),
            active: Duration::from_millis(100),
            releases: Duration::from_secs(5),
            background: Duration::from_secs(2),
            max_rate: 1000.0,
            ..Intervals::default()
        };
        let (steering, task, drain) = scheduled(30, runs, &seen, intervals).await;
        // The first frame shows services 20..25, 22 selected.
        steering.attend(Attention {
            shown: (20..26).map(name).collect(),
            selected: Some(name(22)),
            attended: true,
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        steering.kick(&name(3));
        tokio::time::sleep(Duration::from_millis(300)).await;
        task.abort();
        drain.abort();
        let seen = seen.lock().unwrap().clone();
        let first: Vec<&str> = seen.iter().take(6).map(|(r, _)| r.as_str()).collect();
        assert_eq!(first[0], "svc-22", "the selected service first: {first:?}");
        let mut rest: Vec<&str> = first[1..].to_vec();
        rest.sort();
        assert_eq!(rest, ["svc-20", "svc-21", "svc-23", "svc-24", "svc-25"]);
        let count = |n: usize| seen.iter().filter(|(r, _)| *r == name(n)).count();
        // In 1.8 s: the selected one about every 100 ms, the shown ones
        // every 200 ms, the others once (their interval is 2 s) — and the
        // kicked one once more.
        assert!(count(22) >= 10, "selected read {} times", count(22));
        assert!(count(20) >= 5, "shown read {} times", count(20));
        assert_eq!(count(10), 1, "off screen read {} times", count(10));
        assert_eq!(count(3), 2, "kicked read {} times", count(3));
        assert!((0..30).all(|n| count(n) >= 1), "every service read once");
    }

    async fn slow_runs(
        State(seen): State<Seen>,
        Path(repo): Path<String>,
    ) -> axum::Json<serde_json::Value> {
        seen.lock().unwrap().push((repo, std::time::Instant::now()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        axum::Json(json!({"total_count": 0, "workflow_runs": []}))
    }

    /// Every service's first read comes before the rows on screen are read
    /// again: a large registry's screen (and the watch board's order) is
    /// complete soon, not after the shown rows have had many turns.
    #[tokio::test]
    async fn first_reads_go_before_rereads_of_the_rows_shown() {
        let seen: Seen = Arc::default();
        // Shown rows are due again after 30 ms; 60 first reads of 20 ms
        // each, 6 at a time, take about 200 ms.
        let intervals = Intervals {
            idle: Duration::from_millis(30),
            active: Duration::from_millis(30),
            releases: Duration::from_secs(5),
            background: Duration::from_secs(60),
            max_rate: 1000.0,
            ..Intervals::default()
        };
        let (steering, task, drain) = scheduled(60, slow_runs, &seen, intervals).await;
        steering.attend(Attention {
            shown: (0..6).map(name).collect(),
            selected: Some(name(0)),
            attended: true,
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        task.abort();
        drain.abort();
        let seen = seen.lock().unwrap().clone();
        let first_of = |n: usize| seen.iter().position(|(r, _)| *r == name(n));
        let last_first = (0..60)
            .map(|n| first_of(n).unwrap_or_else(|| panic!("{} never read", name(n))))
            .max()
            .unwrap();
        let second_of_shown = seen
            .iter()
            .enumerate()
            .filter(|(_, (r, _))| *r == name(3))
            .nth(1)
            .map(|(i, _)| i)
            .expect("a shown row read again");
        assert!(
            last_first < second_of_shown,
            "the last first read ({last_first}) after a shown row's second ({second_of_shown})"
        );
    }

    /// A run that waits for a reviewer: what it waits for is read (and
    /// sent) without anyone asking, as for every model's runs.
    #[tokio::test]
    async fn a_waiting_run_brings_its_reviewers() {
        let app = axum::Router::new()
            .route(
                "/repos/o/r/actions/runs",
                get(|| async {
                    axum::Json(json!({"total_count": 1, "workflow_runs": [{"id": 9, "run_number": 3,
                        "event": "workflow_dispatch", "head_sha": "abc", "status": "waiting", "conclusion": null}]}))
                }),
            )
            .route("/repos/o/r/releases", get(releases))
            .route(
                "/repos/o/r/actions/runs/9/pending_deployments",
                get(|| async {
                    axum::Json(json!([{"environment": {"id": 5, "name": "production"}, "wait_timer": 0,
                        "current_user_can_approve": false,
                        "reviewers": [{"type": "User", "reviewer": {"login": "hearth-reviewer"}}]}]))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let (tx, mut rx) = mpsc::channel(1000);
        let client =
            Client::with_rate(&url, Token::new("t", "GH_TOKEN"), Some(tx.clone()), 1000.0).unwrap();
        let target = PollTarget {
            service: "ledger".into(),
            repo: "o/r".into(),
            workflow: String::new(),
        };
        let (_steering, task) = start(client, vec![target], Intervals::default(), tx);
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(e) = rx.recv().await {
                if let Event::Pending {
                    run_id, pending, ..
                } = e
                {
                    return Some((run_id, pending));
                }
            }
            None
        })
        .await
        .expect("pending deployments within 10 s")
        .expect("an event");
        task.abort();
        assert_eq!(got.0, 9);
        assert_eq!(got.1[0].environment, "production");
        assert_eq!(got.1[0].reviewers, ["hearth-reviewer"]);
        assert!(!got.1[0].can_approve);
    }
}

#[cfg(test)]
mod seen_tests {
    use super::*;

    /// `Seen::wait` waits for the service to be drawn or selected; without
    /// a screen (a one-shot command) it does not wait; a closed screen ends
    /// the wait with `false`.
    #[tokio::test]
    async fn reads_for_the_screen_wait_until_the_service_is_seen() {
        assert!(Steering::default().seen("api").wait().await);
        assert!(Steering::default().seen("api").now());
        let (tx, _rx) = watch::channel(Attention::default());
        let steering = Steering {
            nudges: None,
            attention: Some(Arc::new(tx)),
        };
        let mut beta = steering.seen("beta");
        let waiting = tokio::spawn(async move { beta.wait().await });
        let look = |shown: &[&str], selected: Option<&str>| Attention {
            shown: shown.iter().map(|s| s.to_string()).collect(),
            selected: selected.map(str::to_string),
            attended: true,
        };
        steering.attend(look(&["alpha"], Some("alpha")));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "beta is not on screen yet");
        steering.attend(look(&["alpha", "beta"], Some("alpha")));
        assert!(tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("seen")
            .unwrap());
        // Selected (in the detail pane) counts too.
        steering.attend(look(&["alpha"], Some("gamma")));
        assert!(steering.seen("gamma").wait().await);
        // Asked now: scrolled away is no longer seen.
        let alpha = steering.seen("alpha");
        assert!(alpha.now());
        steering.attend(look(&["beta"], Some("gamma")));
        assert!(!alpha.now());
        // The screen goes away: the wait ends, unseen.
        let mut delta = steering.seen("delta");
        let waiting = tokio::spawn(async move { delta.wait().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(steering);
        assert!(!tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("ended")
            .unwrap());
    }
}
