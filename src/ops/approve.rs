//! `approve`: approve (or reject) a workflow run that waits on a GitHub
//! Environment with required reviewers, as a reviewer does on the Actions
//! page (`POST …/actions/runs/{id}/pending_deployments`). For every delivery
//! model: a release run and a dispatched deploy wait the same way. The
//! confirmation says what would change (the tag the environment runs now and
//! the tag the run deploys); when the token's user may not approve, hearth
//! says who can and changes nothing.

use http::Method;
use serde_json::json;

use super::context::{Context, Reporter};
use super::{ApproveRequest, Failure, Outcome, System};
use crate::github::{parse_pending, parse_runs};
use crate::model::{CiRun, EnvObservation, PendingDeployment};
use crate::registry::{Environment, Service};

/// Everything an approval will do.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovePlan {
    pub service: Service,
    pub repo: String,
    /// The hearth environment the run deploys to.
    pub env: Environment,
    pub run: CiRun,
    pub pending: Vec<PendingDeployment>,
    /// `approved` or `rejected`.
    pub state: &'static str,
    pub comment: String,
    /// What the environment runs now, when read.
    pub from: Option<String>,
    /// The tag the run deploys, from its title (`deploy sha-1a2b3c4`), when it says.
    pub to: Option<String>,
    /// The commits going from `from` to `to` brings (GitHub's compare API),
    /// when both are known and GitHub answered: what the reviewer approves.
    pub commits: Option<crate::ops::git::Between>,
}

impl ApprovePlan {
    pub fn verb(&self) -> &'static str {
        if self.state == "approved" {
            "approve"
        } else {
            "reject"
        }
    }

    fn environments(&self) -> String {
        self.pending
            .iter()
            .map(|p| p.environment.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `approve production for run #12 of deploy-prod (deploy sha-1a2b3c4)`.
    pub fn mechanism_words(&self) -> String {
        format!(
            "{} {} for run #{} of {}",
            self.verb(),
            self.environments(),
            self.run.run_number,
            self.run.name.as_deref().unwrap_or("the workflow")
        )
    }

    pub fn steps(&self) -> Vec<(System, String)> {
        let ids: Vec<String> = self
            .pending
            .iter()
            .map(|p| p.environment_id.to_string())
            .collect();
        let mut out = vec![(
            System::GitHub,
            format!(
                "POST /repos/{}/actions/runs/{}/pending_deployments: environments [{}], state {}",
                self.repo,
                self.run.id,
                ids.join(", "),
                self.state
            ),
        )];
        if self.state == "approved" {
            out.push((
                System::Local,
                format!(
                    "then run #{} deploys {} to {} (namespace {}): {} → {}",
                    self.run.run_number,
                    self.to.as_deref().unwrap_or("its tag"),
                    self.env.name,
                    self.env.namespace,
                    self.from.as_deref().unwrap_or("?"),
                    self.to.as_deref().unwrap_or("?")
                ),
            ));
        }
        out
    }

    /// For an approval, the commits it lets in (`brings 3 commits:` and one
    /// line per commit), when GitHub said.
    pub fn notes(&self) -> Vec<String> {
        match &self.commits {
            Some(b) if self.state == "approved" => b.lines(),
            _ => Vec::new(),
        }
    }
}

/// The tag a run's title names: `deploy sha-1a2b3c4` → `sha-1a2b3c4`; a
/// release run's title is its tag.
fn tag_of(run: &CiRun) -> Option<String> {
    let title = run.display_title.as_deref()?;
    let last = title.split_whitespace().last()?;
    (!last.is_empty()).then(|| last.to_string())
}

/// Find the run of `req.service` that waits for an approval (in `req.env`
/// when named) and plan approving or rejecting it.
pub async fn plan(ctx: &Context, req: &ApproveRequest) -> Result<ApprovePlan, Failure> {
    let service = ctx.service(&req.service)?.clone();
    let repo = ctx.repo(&service)?;
    let client = ctx.github()?.clone();
    let env = match &req.env {
        Some(name) => Some(super::environment(&service, name)?),
        None => None,
    };
    // A dispatch environment's runs are its workflow's; otherwise any run
    // of the repository that waits.
    let path = match env.as_ref().and_then(|e| e.workflow.as_deref()) {
        Some(w) => format!("/repos/{repo}/actions/workflows/{w}/runs?status=waiting&per_page=20"),
        None => format!("/repos/{repo}/actions/runs?status=waiting&per_page=20"),
    };
    let redact = |e: crate::github::GhError, what: &str| {
        Failure::nothing_changed(ctx.github_problem(&e, &repo, what, false))
    };
    let runs = client
        .get_json(&path)
        .await
        .and_then(|v| parse_runs(&v))
        .map_err(|e| redact(e, "waiting runs"))?;
    let mut found: Vec<(CiRun, Vec<PendingDeployment>, Environment)> = Vec::new();
    for run in runs.into_iter().filter(|r| r.status == "waiting") {
        let pending = client
            .get_json(&format!(
                "/repos/{repo}/actions/runs/{}/pending_deployments",
                run.id
            ))
            .await
            .and_then(|v| parse_pending(&v))
            .map_err(|e| redact(e, "pending deployments"))?;
        if pending.is_empty() {
            continue;
        }
        // The hearth environment: the one asked for, else the one whose
        // workflow or name matches, else prod.
        let target = env.clone().or_else(|| {
            service
                .environments
                .iter()
                .find(|e| {
                    e.workflow.is_some()
                        && run.name.as_deref().is_some_and(|n| {
                            e.workflow
                                .as_deref()
                                .is_some_and(|w| w.trim_end_matches(".yml") == n)
                        })
                })
                .or_else(|| {
                    service
                        .environments
                        .iter()
                        .find(|e| pending.iter().any(|p| p.environment == e.name))
                })
                .or_else(|| {
                    service
                        .environments
                        .iter()
                        .find(|e| e.release == crate::registry::ReleaseKind::Latest)
                })
                .cloned()
        });
        if let Some(t) = target {
            found.push((run, pending, t));
        }
    }
    let where_ = req
        .env
        .as_deref()
        .map(|e| format!(" for {e}"))
        .unwrap_or_default();
    let Some((run, pending, env)) = found.into_iter().max_by_key(|(r, _, _)| r.id) else {
        return Err(super::invalid(
            format!("no run of {} waits for an approval{where_}", service.name),
            format!("hearth status {} shows what runs and waits", service.name),
        ));
    };
    if let Some(p) = pending.iter().find(|p| !p.can_approve) {
        return Err(super::invalid(
            format!(
                "you cannot approve {} for run #{}",
                p.environment, run.run_number
            ),
            if p.reviewers.is_empty() {
                "ask a required reviewer of the environment".to_string()
            } else {
                format!("ask {}", p.reviewers.join(" or "))
            },
        ));
    }
    let from = match ctx.kube(&env).await {
        // A host: what its endpoint reports.
        Err(_) if !env.on_cluster() => {
            super::follow::host_running(&reqwest::Client::new(), &service, &env)
                .await
                .ok()
        }
        Ok(kube) => match crate::cluster::observe_one(&kube, &service, &env.namespace).await {
            EnvObservation::Live(w) => w.serving_tag().map(str::to_string),
            _ => None,
        },
        Err(_) => None,
    };
    // A push run's title is its commit message: its tag follows from the
    // push (the version tag, or sha-<7 hex> of the commit).
    let to = if run.event == "push" {
        Some(super::push::run_tag(&env, &run))
    } else {
        tag_of(&run)
    };
    let commits = match (&from, &to) {
        (Some(f), Some(t)) if f != t => {
            crate::ops::git::between_on_github(&client, &repo, f, t).await
        }
        _ => None,
    };
    Ok(ApprovePlan {
        to,
        commits,
        repo,
        env,
        run,
        pending,
        state: if req.reject { "rejected" } else { "approved" },
        comment: req.comment.clone().unwrap_or_else(|| {
            format!(
                "{} with hearth by {}",
                if req.reject { "rejected" } else { "approved" },
                ctx.user
            )
        }),
        from,
        service,
    })
}

/// Send the review.
pub async fn run(
    ctx: &Context,
    plan: &ApprovePlan,
    rep: &mut Reporter,
) -> Result<Outcome, Failure> {
    let step = format!("{} {}", plan.verb(), plan.environments());
    rep.start(&step).await;
    let ids: Vec<u64> = plan.pending.iter().map(|p| p.environment_id).collect();
    let body = json!({"environment_ids": ids, "state": plan.state, "comment": plan.comment});
    let path = format!(
        "/repos/{}/actions/runs/{}/pending_deployments",
        plan.repo, plan.run.id
    );
    if let Err(e) = rep.github(ctx, Method::POST, &path, Some(&body)).await {
        let p = ctx.github_problem(&e, &plan.repo, "pending deployments", true);
        rep.failed(&step, Some(p.message.clone())).await;
        return Err(Failure::nothing_changed(p));
    }
    rep.done(&step, Some(format!("run #{}", plan.run.run_number)))
        .await;
    let name = &plan.service.name;
    Ok(Outcome {
        ok: true,
        summary: if plan.state == "approved" {
            format!(
                "{name}: {} approved for run #{}; it goes on to deploy {} (hearth status {name})",
                plan.environments(),
                plan.run.run_number,
                plan.to.as_deref().unwrap_or("its tag")
            )
        } else {
            format!(
                "{name}: {} rejected for run #{}; nothing deploys",
                plan.environments(),
                plan.run.run_number
            )
        },
        left: None,
        recovery: None,
        tag: plan.to.clone(),
        code: 0,
    })
}

impl super::runner::Operation for ApprovePlan {
    fn kind(&self) -> super::OpKind {
        super::OpKind::Approve
    }
    fn service(&self) -> &Service {
        &self.service
    }
    fn env(&self) -> Option<&crate::registry::Environment> {
        Some(&self.env)
    }
    fn to_tag(&self) -> Option<String> {
        self.to.clone()
    }
    fn mechanism(&self) -> String {
        self.mechanism_words()
    }
    fn steps(&self) -> Vec<(super::System, String)> {
        ApprovePlan::steps(self)
    }
    fn title(&self) -> String {
        format!(
            "{} {} in {}: {} → {}",
            self.verb(),
            self.service.name,
            super::runner::place_words(Some(&self.env)),
            self.from.as_deref().unwrap_or("?"),
            self.to.as_deref().unwrap_or_default()
        )
    }
    fn notes(&self) -> Vec<String> {
        ApprovePlan::notes(self)
    }
    fn asks_because(&self) -> Option<&'static str> {
        Some("reviews a deployment on someone's behalf")
    }
    fn resume(&self) -> String {
        format!(
            "look at run #{} (gh run view {} -R {}), then hearth approve {} --env {}",
            self.run.run_number, self.run.id, self.repo, self.service.name, self.env.name
        )
    }
    fn run<'a>(
        &'a self,
        ctx: &'a Context,
        rep: &'a mut Reporter,
        _cancel: tokio::sync::watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'a, Result<Outcome, Failure>> {
        Box::pin(run(ctx, self, rep))
    }
}
