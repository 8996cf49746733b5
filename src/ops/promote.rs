//! `promote`: make a qa prerelease the latest release, so that the same
//! image deploys to prod with no rebuild, through a mechanism the
//! workflow really triggers on ([`super::mechanism`]), then watch it deploy.

use http::Method;
use serde_json::{json, Value};

use super::context::{Context, Reporter};
use super::follow::RunQuery;
use super::mechanism::{self, Mechanism, Triggers};
use super::ship::{deploy_and_verify, Recovery};
use super::{Failure, Outcome, PromoteRequest, System};
use crate::github::{parse_releases, GhError};
use crate::model::{drift, Problem, Release};
use crate::registry::{Environment, ReleaseKind, Service};

/// Everything a promote will do.
#[derive(Clone, Debug, PartialEq)]
pub struct PromotePlan {
    pub service: Service,
    pub repo: String,
    pub env: Environment,
    pub release: Release,
    /// The release that is latest now (what prod should be running).
    pub current: Option<Release>,
    pub sha: String,
    pub mechanism: Mechanism,
    pub watch: bool,
}

impl PromotePlan {
    pub fn steps(&self) -> Vec<(System, String)> {
        let id = self.release.id;
        let r = format!("/repos/{}/releases/{id}", self.repo);
        let mut out = Vec::new();
        match &self.mechanism {
            Mechanism::Edit => out.push((
                System::GitHub,
                format!("PATCH {r}: prerelease false, make_latest true (fires `released`)"),
            )),
            Mechanism::Dispatch { input } => {
                out.push((
                    System::GitHub,
                    format!("PATCH {r}: prerelease false, make_latest true"),
                ));
                out.push((
                    System::GitHub,
                    format!(
                        "POST /repos/{}/actions/workflows/{}/dispatches: ref {}, {input}={}",
                        self.repo, self.service.workflow, self.release.tag, self.release.tag
                    ),
                ));
            }
            Mechanism::DraftRoundTrip => {
                out.push((System::GitHub, format!("PATCH {r}: draft true")));
                out.push((
                    System::GitHub,
                    format!("PATCH {r}: draft false, prerelease false, make_latest true (fires `published`)"),
                ));
            }
        }
        if self.watch {
            out.push((
                System::Local,
                format!(
                    "follow the run(s) for {}, then the rollout of deploy/{} in {}",
                    self.release.tag, self.service.k8s_name, self.env.namespace
                ),
            ));
        }
        out
    }
}

/// The releases of `repo`, newest first.
pub async fn releases(ctx: &Context, repo: &str) -> Result<Vec<Release>, Failure> {
    let client = ctx.github()?;
    client
        .get_json(&format!("/repos/{repo}/releases?per_page=50"))
        .await
        .and_then(|v| parse_releases(&v))
        .map_err(|e| Failure::from(ctx.github_problem(&e, repo, "releases", false)))
}

/// The release workflow as GitHub will run it for `git_ref`, parsed.
pub async fn workflow_at(
    ctx: &Context,
    service: &Service,
    git_ref: &str,
) -> Result<Triggers, Failure> {
    let path = format!(".github/workflows/{}", service.workflow);
    let yaml = super::workflow_file::text(ctx, service, &service.workflow, git_ref)
        .await
        .ok_or_else(|| {
            super::invalid(
                format!("cannot read {path} of {} at {git_ref}", service.name),
                "add the release workflow: hearth setup --workflow",
            )
        })?;
    Triggers::parse(&yaml)
        .map_err(|e| super::invalid(format!("{path} at {git_ref}: {e}"), "fix the workflow file"))
}

/// Work out a promote: the prerelease (the newest one by default), the
/// mechanism, the commit; refuse what cannot work.
pub async fn plan(ctx: &Context, req: &PromoteRequest) -> Result<PromotePlan, Failure> {
    let service = ctx.service(&req.service)?.clone();
    let repo = ctx.repo(&service)?;
    let env = service
        .environment_for(ReleaseKind::Latest)
        .cloned()
        .ok_or_else(|| {
            super::invalid(
                format!("{} has no prod (latest) environment", service.name),
                "add one under `environments:`",
            )
        })?;
    let all = releases(ctx, &repo).await?;
    let release = match &req.tag {
        Some(tag) => all.iter().find(|r| &r.tag == tag).cloned().ok_or_else(|| {
            let pre: Vec<&str> = all
                .iter()
                .filter(|r| r.prerelease && !r.draft)
                .map(|r| r.tag.as_str())
                .take(5)
                .collect();
            super::invalid(
                format!("{} has no release {tag}", service.name),
                if pre.is_empty() {
                    format!("ship one to qa first: hearth ship {} --qa", service.name)
                } else {
                    format!("its prereleases: {}", pre.join(", "))
                },
            )
        })?,
        None => drift::latest_prerelease(&all).cloned().ok_or_else(|| {
            super::invalid(
                format!("{} has no published prerelease to promote", service.name),
                format!("ship one to qa first: hearth ship {} --qa", service.name),
            )
        })?,
    };
    if release.draft {
        return Err(super::invalid(
            format!("{} is a draft, not a qa prerelease", release.tag),
            format!(
                "publish it, or ship it: hearth ship {} --no-version",
                service.name
            ),
        ));
    }
    if !release.prerelease {
        return Err(super::invalid(
            format!("{} is already a release, not a prerelease", release.tag),
            format!(
                "to redeploy an older release to prod: hearth rollback {} --clean",
                service.name
            ),
        ));
    }
    let triggers = workflow_at(ctx, &service, &release.tag).await?;
    let mechanism = mechanism::promote(&triggers, &service.workflow)
        .map_err(|r| super::invalid(r.message, r.fix))?;
    let sha = tag_sha(ctx, &repo, &release.tag).await?;
    Ok(PromotePlan {
        current: drift::latest(&all).cloned(),
        service,
        repo,
        env,
        release,
        sha,
        mechanism,
        watch: req.watch,
    })
}

/// The commit a tag names on GitHub.
pub async fn tag_sha(ctx: &Context, repo: &str, tag: &str) -> Result<String, Failure> {
    let client = ctx.github()?;
    let v = client
        .get_json(&format!("/repos/{repo}/commits/{tag}"))
        .await
        .map_err(|e| {
            Failure::from(ctx.github_problem(&e, repo, &format!("commit of {tag}"), false))
        })?;
    v.get("sha")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| super::invalid(format!("GitHub named no commit for {tag}"), ""))
}

/// Make `release` the latest through `mechanism` (shared with the clean
/// rollback): the requests, each in the command log.
pub async fn make_latest(
    ctx: &Context,
    rep: &mut Reporter,
    service: &Service,
    repo: &str,
    release: &Release,
    mechanism: &Mechanism,
) -> Result<(), Problem> {
    let path = format!("/repos/{repo}/releases/{}", release.id);
    let latest = json!({"draft": false, "prerelease": false, "make_latest": "true"});
    let send =
        |e: GhError| ctx.github_problem(&e, repo, &format!("release {}", release.tag), false);
    match mechanism {
        Mechanism::Edit => {
            rep.github(ctx, Method::PATCH, &path, Some(&latest))
                .await
                .map_err(send)?;
        }
        Mechanism::Dispatch { input } => {
            rep.github(ctx, Method::PATCH, &path, Some(&latest))
                .await
                .map_err(send)?;
            let d = format!(
                "/repos/{repo}/actions/workflows/{}/dispatches",
                service.workflow
            );
            let body = json!({"ref": release.tag, "inputs": {input.as_str(): release.tag}});
            rep.github(ctx, Method::POST, &d, Some(&body))
                .await
                .map_err(send)?;
        }
        Mechanism::DraftRoundTrip => {
            rep.github(ctx, Method::PATCH, &path, Some(&json!({"draft": true})))
                .await
                .map_err(send)?;
            rep.github(ctx, Method::PATCH, &path, Some(&latest))
                .await
                .map_err(send)?;
        }
    }
    Ok(())
}

/// Run a planned promote.
pub async fn run(
    ctx: &Context,
    plan: &PromotePlan,
    rep: &mut Reporter,
) -> Result<Outcome, Failure> {
    let name = &plan.service.name;
    let tag = &plan.release.tag;
    let event = match plan.mechanism {
        Mechanism::Dispatch { .. } => "workflow_dispatch",
        _ => "release",
    };
    let query = RunQuery {
        repo: plan.repo.clone(),
        workflow: plan.service.workflow.clone(),
        sha: plan.sha.clone(),
        event: event.into(),
        tag: Some(tag.clone()),
    };
    let before = query
        .existing(ctx)
        .await
        .map_err(Failure::nothing_changed)?;
    let step = format!("promote {tag}");
    rep.start(&step).await;
    if let Err(p) = make_latest(
        ctx,
        rep,
        &plan.service,
        &plan.repo,
        &plan.release,
        &plan.mechanism,
    )
    .await
    {
        rep.failed(&step, Some(p.message.clone())).await;
        let left = if plan.mechanism == Mechanism::DraftRoundTrip
            && rep.mutations().iter().filter(|m| m.ok).count() == 1
        {
            format!("{tag} was made a draft and not published again")
        } else {
            format!("{tag} may be half changed; look at its release page")
        };
        return Err(Failure::after(
            p,
            &left,
            format!("hearth promote {name} {tag}"),
        ));
    }
    rep.done(
        &step,
        Some(format!(
            "{name} {tag} → release published as latest ({}) by {}",
            plan.env.name,
            plan.mechanism.short()
        )),
    )
    .await;
    if !plan.watch {
        return Ok(Outcome {
            ok: true,
            summary: format!("{name} {tag} promoted; not watched (--no-watch)"),
            left: None,
            recovery: None,
            tag: Some(tag.clone()),
            code: 0,
        });
    }
    deploy_and_verify(
        ctx,
        rep,
        &plan.service,
        &plan.env,
        tag,
        &query,
        &before,
        Recovery {
            started: format!("{tag} is the latest release"),
            left_undeployed: "the tag and the release exist; no image was pushed".into(),
            build_failed: format!("look at the run, then hearth promote {name} {tag} again"),
            deploy_failed: format!(
                "re-run the workflow (gh run rerun RUN -R {}), or hearth rollback {name}",
                plan.repo
            ),
        },
    )
    .await
}

impl super::runner::Operation for PromotePlan {
    fn kind(&self) -> super::OpKind {
        super::OpKind::Promote
    }
    fn service(&self) -> &Service {
        &self.service
    }
    fn env(&self) -> Option<&crate::registry::Environment> {
        Some(&self.env)
    }
    fn to_tag(&self) -> Option<String> {
        Some(self.release.tag.clone())
    }
    fn mechanism(&self) -> String {
        self.mechanism.words()
    }
    fn steps(&self) -> Vec<(super::System, String)> {
        PromotePlan::steps(self)
    }
    fn resume(&self) -> String {
        format!("hearth promote {} {}", self.service.name, self.release.tag)
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
