//! Planning and running an operation, the same way for the CLI and the
//! control room: [`plan`] works out what a request will do without changing
//! anything (what a dry run prints and a confirmation shows); [`execute`]
//! takes the (service, environment) lock, marks the operation running in the
//! journal, runs it with a [`Reporter`], appends its journal line and
//! reports the outcome.

use tokio::sync::{mpsc, watch};

use super::audit::Entry;
use super::context::{Context, Reporter};
use super::promote::PromotePlan;
use super::rollback::RollbackPlan;
use super::ship::ShipPlan;
use super::{Failure, OpKind, Outcome, Progress, Request, System, Target};
use crate::model::EnvObservation;
use crate::registry::Environment;

/// What an operation will do.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Ship(Box<ShipPlan>),
    Promote(Box<PromotePlan>),
    Rollback(Box<RollbackPlan>),
}

impl Plan {
    pub fn kind(&self) -> OpKind {
        match self {
            Plan::Ship(_) => OpKind::Ship,
            Plan::Promote(_) => OpKind::Promote,
            Plan::Rollback(_) => OpKind::Rollback,
        }
    }

    pub fn service(&self) -> &str {
        match self {
            Plan::Ship(p) => &p.service.name,
            Plan::Promote(p) => &p.service.name,
            Plan::Rollback(p) => &p.service().name,
        }
    }

    /// The environment the operation changes (`None`: a draft changes none).
    pub fn env(&self) -> Option<&Environment> {
        match self {
            Plan::Ship(p) => p.env.as_ref(),
            Plan::Promote(p) => Some(&p.env),
            Plan::Rollback(p) => Some(p.env()),
        }
    }

    /// The lock's environment key (`draft` for a draft).
    fn env_key(&self) -> String {
        self.env()
            .map_or_else(|| "draft".into(), |e| e.name.clone())
    }

    /// Whether it changes what runs in production (a `latest` environment):
    /// those ask for confirmation.
    pub fn changes_prod(&self) -> bool {
        self.env()
            .is_some_and(|e| e.release == crate::registry::ReleaseKind::Latest)
    }

    /// The tag it moves to.
    pub fn to_tag(&self) -> Option<String> {
        match self {
            Plan::Ship(p) => Some(p.tag.clone()),
            Plan::Promote(p) => Some(p.release.tag.clone()),
            Plan::Rollback(p) => p.tags().1,
        }
    }

    /// How CI (or the cluster) is made to deploy, for the journal and the dialog.
    pub fn mechanism(&self) -> String {
        match self {
            Plan::Ship(p) => match p.target {
                Target::Draft => "draft release (deploys nothing)".into(),
                _ => format!("release published as {}", p.kind_words()),
            },
            Plan::Promote(p) => p.mechanism.words(),
            Plan::Rollback(p) => p.mechanism_words(),
        }
    }

    /// One line: `ship api v0.0.28 → prod (namespace default)`.
    pub fn title(&self) -> String {
        let to = self.to_tag().unwrap_or_default();
        let env = match self.env() {
            Some(e) => format!("{} (namespace {})", e.name, e.namespace),
            None => "a draft release".into(),
        };
        match self {
            Plan::Rollback(p) => {
                let (from, to) = p.tags();
                format!(
                    "rollback {} in {env}: {} → {}",
                    self.service(),
                    from.unwrap_or_else(|| "?".into()),
                    to.unwrap_or_else(|| "?".into())
                )
            }
            _ => format!("{} {} {to} → {env}", self.kind().word(), self.service()),
        }
    }

    /// The requests and commands it will send, in order.
    pub fn steps(&self) -> Vec<(System, String)> {
        match self {
            Plan::Ship(p) => p.steps(),
            Plan::Promote(p) => p.steps(),
            Plan::Rollback(p) => p.steps(),
        }
    }
}

/// Work out what `req` will do, without changing anything.
pub async fn plan(ctx: &Context, req: &Request) -> Result<Plan, Failure> {
    Ok(match req {
        Request::Ship(r) => Plan::Ship(Box::new(super::ship::plan(ctx, r).await?)),
        Request::Promote(r) => Plan::Promote(Box::new(super::promote::plan(ctx, r).await?)),
        Request::Rollback(r) => Plan::Rollback(Box::new(super::rollback::plan(ctx, r).await?)),
    })
}

/// Report a refusal (nothing changed) as a finished operation.
pub async fn refused(
    ctx: &Context,
    req: &Request,
    failure: &Failure,
    tx: mpsc::Sender<Progress>,
) -> Outcome {
    let rep = ctx.reporter(tx, req.kind(), req.service(), None);
    let outcome = outcome_of(failure, None);
    rep.finish(outcome.clone()).await;
    outcome
}

fn outcome_of(f: &Failure, tag: Option<String>) -> Outcome {
    Outcome {
        ok: f.code == 0,
        summary: f.problem.to_string(),
        left: f.left.clone(),
        recovery: f.recovery.clone(),
        tag,
        code: f.code,
    }
}

/// Run a planned operation: lock, journal marker, the pipeline, the journal
/// line, the final event. `by` names a non-human initiator (`autopilot`).
pub async fn execute(
    ctx: &Context,
    plan: &Plan,
    tx: mpsc::Sender<Progress>,
    cancel: watch::Receiver<bool>,
    by: Option<&str>,
) -> Outcome {
    let env = plan.env_key();
    let mut rep = ctx.reporter(tx, plan.kind(), plan.service(), Some(&env));
    let op = rep.op();
    let _lock = match ctx.locks.take(plan.service(), &env) {
        Ok(l) => l,
        Err(f) => {
            let outcome = outcome_of(&f, plan.to_tag());
            rep.finish(outcome.clone()).await;
            return outcome;
        }
    };
    let mut entry = Entry::new(
        plan.kind(),
        plan.service(),
        plan.env().map(|e| e.name.as_str()),
        &ctx.user,
    );
    entry.to_tag = plan.to_tag();
    entry.mechanism = Some(plan.mechanism());
    entry.by = by.map(str::to_string);
    entry.from_tag = current_tag(ctx, plan).await;
    entry.recovery = Some(resume_command(plan));
    let marker = format!("{}-{op}", std::process::id());
    ctx.journal.mark_running(&marker, &entry);
    let result = match plan {
        Plan::Ship(p) => super::ship::run(ctx, p, &mut rep, cancel).await,
        Plan::Promote(p) => super::promote::run(ctx, p, &mut rep).await,
        Plan::Rollback(p) => super::rollback::run(ctx, p, &mut rep).await,
    };
    let outcome = match result {
        Ok(o) => o,
        Err(f) => outcome_of(&f, plan.to_tag()),
    };
    journal_outcome(ctx, &mut entry, &rep, &outcome);
    ctx.journal.clear_running(&marker);
    rep.finish(outcome.clone()).await;
    outcome
}

/// What the environment serves before the operation, for the journal.
/// Complete an operation's journal entry (its steps, every mutating request
/// and its result, the outcome; redacted) and append it.
pub(super) fn journal_outcome(ctx: &Context, entry: &mut Entry, rep: &Reporter, outcome: &Outcome) {
    entry.steps = rep.steps().to_vec();
    entry.mutations = rep
        .mutations()
        .iter()
        .map(|m| {
            ctx.redact(&format!(
                "{} → {}",
                m.request,
                m.result.as_deref().unwrap_or("")
            ))
        })
        .collect();
    entry.result = if outcome.ok { "ok" } else { "failed" }.into();
    entry.summary = ctx.redact(&outcome.summary);
    entry.recovery = outcome.recovery.as_deref().map(|r| ctx.redact(r));
    ctx.journal.append(entry);
}

async fn current_tag(ctx: &Context, plan: &Plan) -> Option<String> {
    let env = plan.env()?;
    let kube = ctx.kube(env).await.ok()?;
    let service = ctx.registry.service(plan.service())?;
    match crate::cluster::observe_one(&kube, service, &env.namespace).await {
        EnvObservation::Live(w) => w.serving_tag().map(str::to_string),
        _ => None,
    }
}

/// The command that picks an interrupted operation up again.
fn resume_command(plan: &Plan) -> String {
    let s = plan.service();
    match plan {
        Plan::Ship(p) => {
            let qa = if p.target == Target::Qa { " --qa" } else { "" };
            format!("look at git status and the release of {} ({}), then hearth ship {s}{qa} --no-version", p.tag, p.repo)
        }
        Plan::Promote(p) => format!("hearth promote {s} {}", p.release.tag),
        Plan::Rollback(p) => match p.as_ref() {
            RollbackPlan::Fast { env, .. } => format!("hearth rollback {s} --env {}", env.name),
            RollbackPlan::Clean { .. } => format!("hearth rollback {s} --clean"),
        },
    }
}
