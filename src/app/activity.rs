//! The control room's side of operations and log tails: what each running
//! or finished operation reported (steps with their times, the command log,
//! output lines, the outcome), the dialogs that choose and confirm an
//! operation, and the log panel's ring buffer. Plain data changed only by
//! `update`; no IO.

use std::collections::VecDeque;

use crate::cluster::logs::LogLine;
use crate::model::Problem;
use crate::ops::audit::Entry;
use crate::ops::runner::Plan;
use crate::ops::{Event, Mutation, OpKind, Outcome, Progress, Request, StepState};

/// How many output lines an operation keeps.
const LINES_KEPT: usize = 200;
/// How many operations the state keeps (finished ones scroll away).
const OPS_KEPT: usize = 20;
/// Default size of the log panel's ring buffer.
pub const LOG_LINES: usize = 10_000;

/// One step as the progress panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepView {
    pub name: String,
    pub state: StepState,
    pub detail: Option<String>,
    /// Unix seconds (from the injected clock) when it started / ended.
    pub started: Option<i64>,
    pub ended: Option<i64>,
}

/// How long a finished operation's panel stays in place of the CI section.
pub const KEEP_FINISHED_SECS: i64 = 300;

/// One operation as the progress panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpView {
    pub op: u64,
    pub kind: OpKind,
    pub service: String,
    pub env: Option<String>,
    pub started: Option<i64>,
    pub steps: Vec<StepView>,
    /// The command log: every mutating request, with its result.
    pub mutations: Vec<Mutation>,
    pub lines: VecDeque<String>,
    pub outcome: Option<Outcome>,
}

impl OpView {
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// `ship api → qa`
    pub fn title(&self) -> String {
        match &self.env {
            Some(e) => format!("{} {} → {e}", self.kind.word(), self.service),
            None => format!("{} {}", self.kind.word(), self.service),
        }
    }
}

/// The operations of the session, newest last.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ops {
    pub list: Vec<OpView>,
}

impl Ops {
    /// Apply one progress event (the clock for step times is `now`).
    pub fn apply(&mut self, p: Progress, now: Option<i64>) {
        let i = match self.list.iter().position(|o| o.op == p.op) {
            Some(i) => i,
            None => {
                self.list.push(OpView {
                    op: p.op,
                    kind: p.kind,
                    service: p.service.clone(),
                    env: p.env.clone(),
                    started: now,
                    steps: Vec::new(),
                    mutations: Vec::new(),
                    lines: VecDeque::new(),
                    outcome: None,
                });
                while self.list.len() > OPS_KEPT {
                    match self.list.iter().position(|o| !o.running()) {
                        Some(old) => {
                            self.list.remove(old);
                        }
                        None => break,
                    }
                }
                self.list.len() - 1
            }
        };
        let view = &mut self.list[i];
        if p.env.is_some() {
            view.env = p.env;
        }
        match p.event {
            Event::Step {
                name,
                state,
                detail,
                took,
            } => match view
                .steps
                .iter_mut()
                .rev()
                .find(|s| s.name == name && s.state == StepState::Running)
            {
                Some(s) if state != StepState::Running => {
                    s.state = state;
                    s.detail = detail;
                    s.ended = now;
                }
                // First seen ended (it ran between two polls): its own
                // duration when the source gave one, never a made-up 0s.
                _ => view.steps.push(StepView {
                    name,
                    state,
                    detail,
                    started: match (state, took) {
                        (StepState::Running, _) => now,
                        (_, Some(t)) => now.map(|n| n - t),
                        (_, None) => None,
                    },
                    ended: (state != StepState::Running).then_some(now).flatten(),
                }),
            },
            Event::Mutation(m) => view.mutations.push(m),
            Event::Line(l) => {
                if view.lines.len() == LINES_KEPT {
                    view.lines.pop_front();
                }
                view.lines.push_back(l);
            }
            Event::Finished(o) => {
                // A step still running when the operation ended did not finish.
                for s in view
                    .steps
                    .iter_mut()
                    .filter(|s| s.state == StepState::Running)
                {
                    s.state = if o.ok {
                        StepState::Done
                    } else {
                        StepState::Failed
                    };
                    s.ended = now;
                }
                view.outcome = Some(o);
            }
        }
    }

    /// The newest operation on `service`.
    pub fn latest_for(&self, service: &str) -> Option<&OpView> {
        self.list.iter().rev().find(|o| o.service == service)
    }

    /// How many operations are running.
    pub fn running(&self) -> usize {
        self.list.iter().filter(|o| o.running()).count()
    }
}

/// A Deployment's revisions (number, tag), oldest first, or why they could
/// not be read.
pub type Revisions = Result<Vec<(i64, Option<String>)>, String>;

/// Which rollback the dialog will plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollbackChoice {
    Fast,
    Clean,
}

/// A dialog over the control room. Esc closes it before anything changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Dialog {
    /// Waiting for the plan(s) of these requests, then a confirmation.
    Planning {
        title: String,
        pending: Vec<Request>,
        plans: Vec<Plan>,
        refused: Vec<(String, String)>,
    },
    /// What will happen; Enter (or y) goes ahead.
    Confirm {
        plans: Vec<Plan>,
        refused: Vec<(String, String)>,
    },
    /// Choose the prerelease to promote.
    Promote {
        service: String,
        tags: Vec<String>,
        selected: usize,
    },
    /// Choose the environment, fast or clean, and the revision.
    Rollback {
        service: String,
        envs: Vec<String>,
        env: usize,
        choice: RollbackChoice,
        /// Revisions (number, tag), oldest first; `None` while loading.
        revisions: Option<Revisions>,
        /// Index into `revisions` (fast rollback).
        selected: usize,
        /// The Helm release managing each environment's Deployment, aligned
        /// with `envs`: a fast rollback there lasts until the next upgrade.
        /// With the revision to go back to, when its history was read.
        helm: Vec<Option<(String, Option<u64>)>>,
        /// What the model's own (clean) rollback does, in a line.
        clean: &'static str,
        /// What a fast rollback does, and what undoes it, in a line.
        fast: &'static str,
    },
    /// Choose the environment whose pods to restart.
    Restart {
        service: String,
        envs: Vec<String>,
        selected: usize,
    },
    /// Choose the environment (and container) whose logs to tail.
    Logs {
        service: String,
        envs: Vec<String>,
        selected: usize,
        /// The migration container instead of the app.
        migrate: bool,
    },
    /// A plan was refused: why, and what to do.
    Refused { title: String, problem: Problem },
}

/// The log panel: one tail at a time, on a bounded ring buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct LogView {
    /// Which tail the lines belong to (a new tail gets a new id).
    pub id: u64,
    pub service: String,
    pub env: String,
    pub container: Option<String>,
    pub lines: VecDeque<LogLine>,
    pub limit: usize,
    /// Paused: new lines are kept but the view stays where it is.
    pub paused: bool,
    /// Lines scrolled up from the newest.
    pub scroll: usize,
    pub pods: Vec<String>,
    /// The search text (matches are highlighted; `n` jumps).
    pub search: String,
    pub searching: bool,
    /// Lines dropped from the front since the tail started.
    pub dropped: u64,
    pub problem: Option<Problem>,
}

impl LogView {
    pub fn new(
        id: u64,
        service: &str,
        env: &str,
        container: Option<String>,
        limit: usize,
    ) -> LogView {
        LogView {
            id,
            service: service.to_string(),
            env: env.to_string(),
            container,
            lines: VecDeque::with_capacity(limit.min(4096)),
            limit: limit.max(1),
            paused: false,
            scroll: 0,
            pods: Vec::new(),
            search: String::new(),
            searching: false,
            dropped: 0,
            problem: None,
        }
    }

    /// Add a line; the oldest goes when full. While paused or scrolled up,
    /// the view keeps showing the same lines.
    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == self.limit {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
        if self.paused || self.scroll > 0 {
            self.scroll = (self.scroll + 1).min(self.lines.len().saturating_sub(1));
        }
    }

    /// Scroll up to the previous line matching the search (from the view's
    /// bottom line), if any.
    pub fn next_match(&mut self) {
        let needle = self.search.to_lowercase();
        if needle.is_empty() || self.lines.is_empty() {
            return;
        }
        let bottom = self.lines.len() - 1 - self.scroll.min(self.lines.len() - 1);
        let hit = (0..bottom)
            .rev()
            .chain((bottom..self.lines.len()).rev())
            .find(|&i| self.lines[i].text.to_lowercase().contains(&needle));
        if let Some(i) = hit {
            self.scroll = self.lines.len() - 1 - i;
        }
    }
}

/// The journal, as the detail pane shows it: per service, its newest
/// entries, and the operations interrupted in an earlier session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub entries: Vec<Entry>,
    pub interrupted: Vec<Entry>,
}

impl History {
    /// The newest entries of `service`, newest first.
    pub fn of(&self, service: &str, n: usize) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self
            .interrupted
            .iter()
            .chain(self.entries.iter())
            .filter(|e| e.service == service)
            .collect();
        all.sort_by(|a, b| b.time.cmp(&a.time));
        all.truncate(n);
        all
    }
}
