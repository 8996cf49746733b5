//! Planning and running an operation, the same way for the CLI and the
//! control room: [`plan`] works out what a request will do without changing
//! anything (what a dry run prints and a confirmation shows); [`execute`]
//! takes the (service, environment) lock, marks the operation running in the
//! journal, runs it with a [`Reporter`], appends its journal line and
//! reports the outcome.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};

use super::audit::Entry;
use super::context::{Context, Reporter};
use super::{dispatch, gitops, push};
use super::{Failure, OpKind, Outcome, Progress, Request, System, Target};
use crate::model::EnvObservation;
use crate::registry::{Delivery, Environment, Service};

/// What every model's plan shows and does. The runner, the confirmation
/// dialog, the progress panel and the journal know a plan only through
/// this: its words, its steps and its run, never its model. Each room
/// implements it for its own plan.
pub trait Operation: fmt::Debug + Send + Sync + 'static {
    fn kind(&self) -> OpKind;
    fn service(&self) -> &Service;
    /// The environment it changes (`None`: a draft changes none).
    fn env(&self) -> Option<&Environment>;
    /// The tag it moves to.
    fn to_tag(&self) -> Option<String>;
    /// The tag it moves from, when the plan read it (a rollback's title).
    fn tag_before(&self) -> Option<String> {
        None
    }
    /// How CI (or the cluster) is made to deploy, for the journal and the
    /// dialog.
    fn mechanism(&self) -> String;
    /// The requests and commands it will send, in order.
    fn steps(&self) -> Vec<(System, String)>;
    /// One line: by default `ship api v0.0.28 → prod (namespace default)`,
    /// or for a rollback `rollback api in prod (namespace default): v2 → v1`.
    fn title(&self) -> String {
        default_title(self)
    }
    /// What the person confirming should know beyond the steps, shown
    /// under them unnumbered.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// Why it asks before it runs even when it does not change prod.
    fn asks_because(&self) -> Option<&'static str> {
        None
    }
    /// The command that picks it up again when it was interrupted.
    fn resume(&self) -> String;
    /// Run it, reporting through `rep`; `cancel` ends a wait early.
    fn run<'a>(
        &'a self,
        ctx: &'a Context,
        rep: &'a mut Reporter,
        cancel: watch::Receiver<bool>,
    ) -> BoxFuture<'a, Result<Outcome, Failure>>;
}

/// The title of most operations: `ship api v0.0.28 → prod (namespace
/// default)`; a rollback says where it goes from and to.
pub fn default_title(op: &(impl Operation + ?Sized)) -> String {
    if op.kind() == OpKind::Rollback {
        return format!(
            "rollback {} in {}: {} → {}",
            op.service().name,
            place_words(op.env()),
            op.tag_before().as_deref().unwrap_or("?"),
            op.to_tag().as_deref().unwrap_or("?")
        );
    }
    format!(
        "{} {} {} → {}",
        op.kind().word(),
        op.service().name,
        op.to_tag().unwrap_or_default(),
        place_words(op.env())
    )
}

/// Where an operation lands, in a title: `prod (namespace default)`,
/// `prod (host edge-1)`, or `a draft release`.
pub fn place_words(env: Option<&Environment>) -> String {
    match env {
        Some(e) => match &e.host {
            Some(h) => format!("{} (host {h})", e.name),
            None => format!("{} (namespace {})", e.name, e.namespace),
        },
        None => "a draft release".into(),
    }
}

/// A planned operation of any model.
#[derive(Clone)]
pub struct Plan(Arc<dyn Operation>);

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The same plan (a dialog holds the plans it was given, never copies).
impl PartialEq for Plan {
    fn eq(&self, other: &Plan) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Plan {
    pub fn new(op: impl Operation) -> Plan {
        Plan(Arc::new(op))
    }

    pub fn kind(&self) -> OpKind {
        self.0.kind()
    }

    pub fn service(&self) -> &str {
        &self.0.service().name
    }

    /// The environment the operation changes (`None`: a draft changes none).
    pub fn env(&self) -> Option<&Environment> {
        self.0.env()
    }

    /// The lock's environment key (`draft` for a draft). An approval has
    /// its own: the operation that waits for it holds the environment's.
    fn env_key(&self) -> String {
        match (self.kind(), self.env()) {
            (OpKind::Approve, Some(e)) => format!("{}:approval", e.name),
            (_, e) => e.map_or_else(|| "draft".into(), |e| e.name.clone()),
        }
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
        match self.changes_prod() {
            true => Some("changes prod"),
            false => self.0.asks_because(),
        }
    }

    /// The tag it moves to.
    pub fn to_tag(&self) -> Option<String> {
        self.0.to_tag()
    }

    /// How CI (or the cluster) is made to deploy, for the journal and the dialog.
    pub fn mechanism(&self) -> String {
        self.0.mechanism()
    }

    /// One line: `ship api v0.0.28 → prod (namespace default)`.
    pub fn title(&self) -> String {
        self.0.title()
    }

    /// The requests and commands it will send, in order.
    pub fn steps(&self) -> Vec<(System, String)> {
        self.0.steps()
    }

    /// What the person confirming should know beyond the steps, shown under
    /// them unnumbered: the commits an approval lets into production.
    pub fn notes(&self) -> Vec<String> {
        self.0.notes()
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
        Request::Approve(r) => return Ok(Plan::new(super::approve::plan(ctx, r).await?)),
        Request::Restart(r) => return Ok(Plan::new(super::restart::plan(ctx, r).await?)),
        // A fast rollback undoes a Deployment's last change. An environment
        // outside Kubernetes has none: its rollback is always its model's.
        Request::Rollback(r)
            if (r.kind == super::RollbackKind::Fast
                && service.environment(&r.env).is_none_or(|e| e.on_cluster()))
                || service.delivery == Delivery::Release =>
        {
            return Ok(Plan::new(super::rollback::plan(ctx, r).await?));
        }
        _ => {}
    }
    if service.delivery == Delivery::Release {
        return Ok(match req {
            Request::Promote(r) => Plan::new(super::promote::plan(ctx, r).await?),
            Request::Ship(r) => Plan::new(super::ship::plan(ctx, r).await?),
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
        (Delivery::Push, Request::Ship(r)) => {
            Plan::new(push::plan_ship(ctx, &service, prod(r), r.skip_tests, r.watch).await?)
        }
        (Delivery::Push, Request::Promote(r)) => {
            Plan::new(push::plan_promote(ctx, &service, r.tag.as_deref(), r.watch).await?)
        }
        (Delivery::Push, Request::Rollback(r)) => {
            Plan::new(push::plan_rollback(ctx, &service, &r.env, r.watch).await?)
        }
        (Delivery::Gitops, Request::Ship(r)) => {
            Plan::new(gitops::plan_ship(ctx, &service, prod(r), r.skip_tests, r.watch).await?)
        }
        (Delivery::Gitops, Request::Promote(r)) => {
            Plan::new(gitops::plan_promote(ctx, &service, r.tag.as_deref(), r.watch).await?)
        }
        (Delivery::Gitops, Request::Rollback(r)) => {
            Plan::new(gitops::plan_rollback(ctx, &service, &r.env, r.watch).await?)
        }
        (_, Request::Ship(r)) => {
            Plan::new(dispatch::plan_ship(ctx, &service, prod(r), r.skip_tests, r.watch).await?)
        }
        (_, Request::Promote(r)) => {
            Plan::new(dispatch::plan_promote(ctx, &service, r.tag.as_deref(), r.watch).await?)
        }
        (_, Request::Rollback(r)) => {
            Plan::new(dispatch::plan_rollback(ctx, &service, &r.env, r.watch).await?)
        }
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
    entry.recovery = Some(plan.0.resume());
    let marker = format!("{}-{op}", std::process::id());
    ctx.journal.mark_running(&marker, &entry);
    let result = plan.0.run(ctx, &mut rep, cancel).await;
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
