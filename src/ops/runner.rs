//! Planning and running an operation, the same way for the CLI and the
//! control room: [`plan`] works out what a request will do without changing
//! anything (what a dry run prints and a confirmation shows); [`execute`]
//! takes the (service, environment) lock, marks the operation running in the
//! journal, runs it with a [`Reporter`], appends its journal line and
//! reports the outcome.

use tokio::sync::{mpsc, watch};

use super::approve::ApprovePlan;
use super::audit::Entry;
use super::context::{Context, Reporter};
use super::dispatch::{self, DispatchPlan};
use super::gitops::{self, GitopsPlan};
use super::promote::PromotePlan;
use super::push::{self, PushPlan};
use super::restart::RestartPlan;
use super::rollback::RollbackPlan;
use super::ship::ShipPlan;
use super::{Failure, OpKind, Outcome, Progress, Request, System, Target};
use crate::model::EnvObservation;
use crate::registry::{Delivery, Environment};

/// What an operation will do.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Ship(Box<ShipPlan>),
    Promote(Box<PromotePlan>),
    Rollback(Box<RollbackPlan>),
    /// Any operation of a `delivery: dispatch` service.
    Dispatch(Box<DispatchPlan>),
    /// Ship, promote or re-run rollback of a `delivery: push` service.
    Push(Box<PushPlan>),
    /// Ship, promote or forward-commit rollback of a `delivery: gitops` service.
    Gitops(Box<GitopsPlan>),
    /// A review of a run that waits for an approval.
    Approve(Box<ApprovePlan>),
    /// A rollout restart (every model alike).
    Restart(Box<RestartPlan>),
}

impl Plan {
    pub fn kind(&self) -> OpKind {
        match self {
            Plan::Ship(_) => OpKind::Ship,
            Plan::Promote(_) => OpKind::Promote,
            Plan::Rollback(_) => OpKind::Rollback,
            Plan::Dispatch(p) => p.kind,
            Plan::Push(p) => p.kind,
            Plan::Gitops(p) => p.kind,
            Plan::Approve(_) => OpKind::Approve,
            Plan::Restart(_) => OpKind::Restart,
        }
    }

    pub fn service(&self) -> &str {
        match self {
            Plan::Ship(p) => &p.service.name,
            Plan::Promote(p) => &p.service.name,
            Plan::Rollback(p) => &p.service().name,
            Plan::Dispatch(p) => &p.service.name,
            Plan::Push(p) => &p.service.name,
            Plan::Gitops(p) => &p.service.name,
            Plan::Approve(p) => &p.service.name,
            Plan::Restart(p) => &p.service.name,
        }
    }

    /// The environment the operation changes (`None`: a draft changes none).
    pub fn env(&self) -> Option<&Environment> {
        match self {
            Plan::Ship(p) => p.env.as_ref(),
            Plan::Promote(p) => Some(&p.env),
            Plan::Rollback(p) => Some(p.env()),
            Plan::Dispatch(p) => Some(&p.env),
            Plan::Push(p) => Some(&p.env),
            Plan::Gitops(p) => Some(&p.env),
            Plan::Approve(p) => Some(&p.env),
            Plan::Restart(p) => Some(&p.env),
        }
    }

    /// The lock's environment key (`draft` for a draft). An approval has
    /// its own: the operation that waits for it holds the environment's.
    fn env_key(&self) -> String {
        if let Plan::Approve(p) = self {
            return format!("{}:approval", p.env.name);
        }
        self.env()
            .map_or_else(|| "draft".into(), |e| e.name.clone())
    }

    /// Whether it changes what runs in production (a `latest` environment):
    /// those ask for confirmation.
    pub fn changes_prod(&self) -> bool {
        self.env()
            .is_some_and(|e| e.release == crate::registry::ReleaseKind::Latest)
    }

    /// Whether it asks before it runs (without `--yes`): what changes prod,
    /// every approval (a review is a decision made on someone's behalf) and
    /// every restart (it replaces every pod, as k9s asks before one).
    pub fn asks_first(&self) -> bool {
        self.asks_because().is_some()
    }

    /// Why it asks first, in a few words after "it" or "this".
    pub fn asks_because(&self) -> Option<&'static str> {
        match self {
            _ if self.changes_prod() => Some("changes prod"),
            Plan::Approve(_) => Some("reviews a deployment on someone's behalf"),
            Plan::Restart(_) => Some("replaces every pod"),
            _ => None,
        }
    }

    /// The tag it moves to.
    pub fn to_tag(&self) -> Option<String> {
        match self {
            Plan::Ship(p) => Some(p.tag.clone()),
            Plan::Promote(p) => Some(p.release.tag.clone()),
            Plan::Rollback(p) => p.tags().1,
            Plan::Dispatch(p) => Some(p.tag.clone()),
            Plan::Push(p) => Some(p.tag.clone()),
            Plan::Gitops(p) => Some(p.tag.clone()),
            Plan::Approve(p) => p.to.clone(),
            Plan::Restart(p) => Some(p.tag.clone()),
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
            Plan::Dispatch(p) => p.mechanism_words(),
            Plan::Push(p) => p.mechanism_words(),
            Plan::Gitops(p) => p.mechanism_words(),
            Plan::Approve(p) => p.mechanism_words(),
            Plan::Restart(p) => p.mechanism_words(),
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
            Plan::Approve(p) => format!(
                "{} {} in {env}: {} → {to}",
                p.verb(),
                self.service(),
                p.from.as_deref().unwrap_or("?")
            ),
            Plan::Restart(p) => format!(
                "restart {} in {env}: {to} again, revision {} → new pods",
                self.service(),
                p.revision.map_or_else(|| "?".into(), |r| r.to_string())
            ),
            Plan::Dispatch(p) if p.kind == OpKind::Rollback => format!(
                "rollback {} in {env}: {} → {to}",
                self.service(),
                p.from.as_deref().unwrap_or("?")
            ),
            Plan::Push(p) if p.kind == OpKind::Rollback => format!(
                "rollback {} in {env}: {} → {to}",
                self.service(),
                p.from.as_deref().unwrap_or("?")
            ),
            Plan::Gitops(p) if p.kind == OpKind::Rollback => format!(
                "rollback {} in {env}: {} → {to} (a forward commit)",
                self.service(),
                p.from.as_deref().unwrap_or("?")
            ),
            _ => format!("{} {} {to} → {env}", self.kind().word(), self.service()),
        }
    }

    /// The requests and commands it will send, in order.
    pub fn steps(&self) -> Vec<(System, String)> {
        match self {
            Plan::Ship(p) => p.steps(),
            Plan::Promote(p) => p.steps(),
            Plan::Rollback(p) => p.steps(),
            Plan::Dispatch(p) => p.steps(),
            Plan::Push(p) => p.steps(),
            Plan::Gitops(p) => p.steps(),
            Plan::Approve(p) => p.steps(),
            Plan::Restart(p) => p.steps(),
        }
    }

    /// What the person confirming should know beyond the steps, shown under
    /// them unnumbered: the commits an approval lets into production.
    pub fn notes(&self) -> Vec<String> {
        match self {
            Plan::Approve(p) => p.notes(),
            _ => Vec::new(),
        }
    }
}

/// Work out what `req` will do, without changing anything.
pub async fn plan(ctx: &Context, req: &Request) -> Result<Plan, Failure> {
    let service = ctx.service(req.service())?.clone();
    // Every model ships only what the registry says hearth may ship.
    if let (Request::Ship(_), false) = (req, service.shippable) {
        return Err(super::invalid(
            format!(
                "{} is not shippable: {}",
                service.name,
                service
                    .shippable_reason
                    .as_deref()
                    .unwrap_or("shippable: false")
            ),
            "set `shippable: true` in services.yaml once it can be",
        ));
    }
    // The cluster's and GitHub's own operations: the same for every model.
    match req {
        Request::Approve(r) => {
            return Ok(Plan::Approve(Box::new(super::approve::plan(ctx, r).await?)))
        }
        Request::Restart(r) => {
            return Ok(Plan::Restart(Box::new(super::restart::plan(ctx, r).await?)))
        }
        // A fast rollback undoes a Deployment's last change. An environment
        // outside Kubernetes has none: its rollback is always its model's.
        Request::Rollback(r)
            if (r.kind == super::RollbackKind::Fast
                && service.environment(&r.env).is_none_or(|e| e.on_cluster()))
                || service.delivery == Delivery::Release =>
        {
            return Ok(Plan::Rollback(Box::new(
                super::rollback::plan(ctx, r).await?,
            )));
        }
        _ => {}
    }
    if service.delivery == Delivery::Release {
        return Ok(match req {
            Request::Promote(r) => Plan::Promote(Box::new(super::promote::plan(ctx, r).await?)),
            Request::Ship(r) => Plan::Ship(Box::new(super::ship::plan(ctx, r).await?)),
            _ => unreachable!("approve, restart and rollback are planned above"),
        });
    }
    // A model without releases.
    if let Request::Ship(r) = req {
        if r.target == Target::Draft || r.no_version {
            return Err(super::invalid(
                format!(
                    "{} is delivered by {}: there are no releases to draft or re-release",
                    service.name,
                    service.delivery.word()
                ),
                format!("hearth ship {}", service.name),
            ));
        }
    }
    let prod = |r: &super::ShipRequest| r.target == Target::Prod;
    Ok(match (service.delivery, req) {
        (Delivery::Push, Request::Ship(r)) => Plan::Push(Box::new(
            push::plan_ship(ctx, &service, prod(r), r.skip_tests, r.watch).await?,
        )),
        (Delivery::Push, Request::Promote(r)) => Plan::Push(Box::new(
            push::plan_promote(ctx, &service, r.tag.as_deref(), r.watch).await?,
        )),
        (Delivery::Push, Request::Rollback(r)) => Plan::Push(Box::new(
            push::plan_rollback(ctx, &service, &r.env, r.watch).await?,
        )),
        (Delivery::Gitops, Request::Ship(r)) => Plan::Gitops(Box::new(
            gitops::plan_ship(ctx, &service, prod(r), r.skip_tests, r.watch).await?,
        )),
        (Delivery::Gitops, Request::Promote(r)) => Plan::Gitops(Box::new(
            gitops::plan_promote(ctx, &service, r.tag.as_deref(), r.watch).await?,
        )),
        (Delivery::Gitops, Request::Rollback(r)) => Plan::Gitops(Box::new(
            gitops::plan_rollback(ctx, &service, &r.env, r.watch).await?,
        )),
        (_, Request::Ship(r)) => Plan::Dispatch(Box::new(
            dispatch::plan_ship(ctx, &service, prod(r), r.skip_tests, r.watch).await?,
        )),
        (_, Request::Promote(r)) => Plan::Dispatch(Box::new(
            dispatch::plan_promote(ctx, &service, r.tag.as_deref(), r.watch).await?,
        )),
        (_, Request::Rollback(r)) => Plan::Dispatch(Box::new(
            dispatch::plan_rollback(ctx, &service, &r.env, r.watch).await?,
        )),
        _ => unreachable!("approve and restart are planned above"),
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
        Plan::Dispatch(p) => dispatch::run(ctx, p, &mut rep, cancel).await,
        Plan::Push(p) => push::run(ctx, p, &mut rep, cancel).await,
        Plan::Gitops(p) => gitops::run(ctx, p, &mut rep, cancel).await,
        Plan::Approve(p) => super::approve::run(ctx, p, &mut rep).await,
        Plan::Restart(p) => super::restart::run(ctx, p, &mut rep).await,
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

/// Complete an operation's journal entry (its steps, every mutating request
/// and its result, the outcome; redacted) and append it.
pub(crate) fn journal_outcome(ctx: &Context, entry: &mut Entry, rep: &Reporter, outcome: &Outcome) {
    entry.steps = rep.steps().to_vec();
    entry.runs = rep.started_runs().to_vec();
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
        Plan::Approve(p) => format!(
            "look at run #{} (gh run view {} -R {}), then hearth approve {s} --env {}",
            p.run.run_number, p.run.id, p.repo, p.env.name
        ),
        Plan::Restart(p) => format!(
            "kubectl rollout status deploy/{} -n {}, then hearth restart {s} --env {}",
            p.service.k8s_name, p.env.namespace, p.env.name
        ),
        Plan::Push(p) => p.resume(),
        Plan::Gitops(p) => p.resume(),
        Plan::Dispatch(p) => format!(
            "look at the runs of {} (gh run list -R {}), then run it again: gh workflow run {} -R {} -f {}={}",
            p.workflow, p.repo, p.workflow, p.repo, p.input, p.tag
        ),
    }
}
