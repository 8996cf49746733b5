//! `delivery: push` (seeds 003 and 004): a push starts the workflow that
//! builds and deploys. A ship runs the pre-ship gate and pushes the
//! branch; the environments whose workflow runs on that push
//! (`trigger: branch`, the default) get the commit's image, `sha-<7 hex>`.
//! An environment with `trigger: tag` (prod, behind an approval) is
//! deployed by pushing the next semver tag of the commit the branch
//! environment runs (`ship --prod`, or promote); its image is the tag. A
//! rollback re-runs the last good run of the environment's workflow
//! (`POST …/actions/runs/{id}/rerun`), which builds and deploys its own
//! commit again.
//!
//! The run a push started is found by its workflow, event (`push`), head
//! SHA and ref (the branch or the tag), among the runs that were not
//! there before the push: an older run of the same commit is never adopted.

use std::path::PathBuf;

use http::Method;
use serde_json::json;
use tokio::sync::watch;

use super::context::{Context, Reporter};
use super::follow::{self, RunQuery};
use super::ship::{follow_and_verify, pre_ship_gate, Recovery};
use super::{Bump, Failure, OpKind, Outcome, System};
use crate::model::{CiRun, Problem, ProblemKind};
use crate::registry::{Environment, Service, Trigger};

/// What a push operation sends to start the environment's workflow.
#[derive(Clone, Debug, PartialEq)]
pub enum PushAction {
    /// Run the gate, then push the branch (a ship).
    Branch {
        dir: PathBuf,
        branch: String,
        gate: Option<String>,
        skipped_tests: bool,
    },
    /// Create the annotated version tag at the commit and push it.
    Tag { dir: PathBuf, version: String },
    /// Re-run run `run` (a rollback to the commit it ran for).
    Rerun { run: Box<CiRun> },
}

/// What a push operation will do.
#[derive(Clone, Debug, PartialEq)]
pub struct PushPlan {
    pub kind: OpKind,
    pub service: Service,
    pub repo: String,
    pub env: Environment,
    /// The workflow the push starts for `env`.
    pub workflow: String,
    /// The commit that is built and deployed.
    pub sha: String,
    /// The image tag the run deploys: `sha-<7 hex>`, or the version tag.
    pub tag: String,
    /// What the environment runs now, when read.
    pub from: Option<String>,
    pub action: PushAction,
    pub watch: bool,
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// The image tag a run of `env`'s workflow deploys: the pushed tag's name
/// for a tag-triggered environment, else `sha-<7 hex>` of its commit.
pub fn run_tag(env: &Environment, run: &CiRun) -> String {
    crate::model::drift::push_run_tag(env, run)
}

impl PushPlan {
    /// `push main (dev.yml runs on it)`, `push tag v1.2.2 (prod.yml)`.
    pub fn mechanism_words(&self) -> String {
        match &self.action {
            PushAction::Branch { branch, .. } => {
                format!("push {branch} ({} runs on it)", self.workflow)
            }
            PushAction::Tag { version, .. } => {
                format!("push tag {version} ({} runs on it)", self.workflow)
            }
            PushAction::Rerun { run } => {
                format!("re-run run #{} of {}", run.run_number, self.workflow)
            }
        }
    }

    /// What it will run and send, in order.
    pub fn steps(&self) -> Vec<(System, String)> {
        let mut out = Vec::new();
        match &self.action {
            PushAction::Branch {
                dir,
                branch,
                gate,
                skipped_tests,
            } => {
                out.extend(super::ship::gate_steps(
                    gate.as_deref(),
                    *skipped_tests,
                    dir,
                ));
                out.push((
                    System::Git,
                    format!(
                        "git push origin HEAD:refs/heads/{branch} ({} at {})",
                        branch,
                        short(&self.sha)
                    ),
                ));
            }
            PushAction::Tag { version, .. } => {
                out.push((
                    System::Git,
                    format!(
                        "git tag -a {version} {} -m \"{} {version}\"",
                        short(&self.sha),
                        self.service.name
                    ),
                ));
                out.push((System::Git, format!("git push origin refs/tags/{version}")));
            }
            PushAction::Rerun { run } => out.push((
                System::GitHub,
                format!(
                    "POST /repos/{}/actions/runs/{}/rerun (run #{}, {} at {})",
                    self.repo,
                    run.id,
                    run.run_number,
                    run.head_branch.as_deref().unwrap_or("?"),
                    short(&run.head_sha)
                ),
            )),
        }
        if self.watch {
            out.push((
                System::Local,
                format!(
                    "follow the run of {} (and its approval), then the rollout of deploy/{} in {}",
                    self.workflow, self.service.k8s_name, self.env.namespace
                ),
            ));
            out.extend(super::smoke::plan_steps(
                &self.service,
                &self.env,
                &self.tag,
            ));
        }
        out
    }

    /// The command that picks an interrupted operation up again.
    pub fn resume(&self) -> String {
        format!(
            "look at the runs of {} (gh run list -R {} -w {}), then re-run the one for {}: gh run rerun RUN -R {}",
            self.workflow, self.repo, self.workflow, self.tag, self.repo
        )
    }
}

/// The environment a plain ship deploys (the first one a branch push
/// deploys), or the one a version tag deploys (`tag`).
fn env_by_trigger(service: &Service, tag: bool) -> Result<Environment, Failure> {
    let wanted = if tag { Trigger::Tag } else { Trigger::Branch };
    service
        .environments
        .iter()
        .find(|e| e.trigger.unwrap_or_default() == wanted && e.workflow.is_some())
        .cloned()
        .ok_or_else(|| {
            super::invalid(
                format!(
                    "no environment of {} is deployed by {}",
                    service.name,
                    if tag {
                        "a pushed version tag"
                    } else {
                        "a push to the branch"
                    }
                ),
                if tag {
                    "add `trigger: tag` to the environment a version tag deploys (prod), with its `workflow`"
                } else {
                    "name the workflow a push to the branch starts: `environments: { dev: { workflow: dev.yml } }`"
                },
            )
        })
}

fn workflow_of(env: &Environment) -> String {
    env.workflow.clone().unwrap_or_default()
}

/// A workflow at `rev` must run on the push hearth will make: a push to
/// `branch`, or a tag push. Refused before anything changes, with the
/// lines to add.
pub(super) async fn check_trigger(
    dir: &std::path::Path,
    rev: &str,
    workflow: &str,
    pushed: Pushed<'_>,
) -> Result<(), Failure> {
    let path = format!(".github/workflows/{workflow}");
    let Ok(yaml) = super::git::run(dir, &["show", &format!("{rev}:{path}")]).await else {
        return Err(super::invalid(
            format!("{path} is not in {} at {}", dir.display(), short(rev)),
            "add the workflow, or name the right file in services.yaml",
        ));
    };
    let triggers = super::mechanism::Triggers::parse(&yaml)
        .map_err(|e| super::invalid(format!("{path}: {e}"), "fix the workflow file"))?;
    let (runs, what, lines) = match (&triggers.push, pushed) {
        (Some(f), Pushed::Branch(b)) => (
            f.runs_on_branch(b),
            format!("a push to {b}"),
            format!("on:\n    push:\n      branches: [{b}]"),
        ),
        (Some(f), Pushed::Tag(t)) => (
            f.runs_on_tag(t),
            format!("a pushed tag {t}"),
            "on:\n    push:\n      tags: ['v*']".to_string(),
        ),
        (None, _) => {
            return Err(super::invalid(
                format!("{path} does not run on a push: it has no `push` trigger"),
                format!("add to {path}:\n  on:\n    push:"),
            ))
        }
    };
    if !runs {
        return Err(super::invalid(
            format!("{path} does not run on {what}: its `on: push` filters leave it out"),
            format!("add to {path}:\n  {lines}"),
        ));
    }
    Ok(())
}

/// The push a workflow must run on.
#[derive(Clone, Copy)]
pub(super) enum Pushed<'a> {
    Branch(&'a str),
    Tag(&'a str),
}

/// `hearth check`'s line for a push service: which push deploys each
/// environment, by which workflow, as its file in the directory says.
pub fn check_workflows(service: &Service) -> String {
    let mut parts = Vec::new();
    for env in &service.environments {
        let Some(w) = &env.workflow else { continue };
        let text = std::fs::read_to_string(service.directory.join(".github/workflows").join(w));
        let push = text
            .ok()
            .and_then(|y| super::mechanism::Triggers::parse(&y).ok())
            .map(|t| t.push);
        parts.push(match (push, env.trigger.unwrap_or_default()) {
            (None, _) => format!("{w} not found"),
            (Some(None), _) => format!("{w} has no push trigger: {} is refused", env.name),
            (Some(Some(f)), Trigger::Tag) if f.runs_on_tag("v0.0.0") => {
                format!("{} on a pushed version tag by {w}", env.name)
            }
            (Some(Some(_)), Trigger::Tag) => {
                format!("{w} does not run on a v* tag: {} is refused", env.name)
            }
            (Some(Some(f)), Trigger::Branch) => match f.branches.as_deref() {
                Some(b) if !b.is_empty() => {
                    format!("{} on a push to {} by {w}", env.name, b.join(", "))
                }
                _ if f.runs_on_branch("main") => format!("{} on any push by {w}", env.name),
                _ => format!("{w} runs on no branch push: {} is refused", env.name),
            },
        });
    }
    parts.join("; ")
}

/// Plan a ship: the gate, then a push of the branch checked out in the
/// service's directory; the branch environment's workflow builds and
/// deploys `sha-<7 hex>`. `prod`: the tag environment, as a promote.
pub async fn plan_ship(
    ctx: &Context,
    service: &Service,
    prod: bool,
    skip_tests: bool,
    watch: bool,
) -> Result<PushPlan, Failure> {
    if prod {
        let mut plan = plan_promote(ctx, service, None, watch).await?;
        plan.kind = OpKind::Ship;
        return Ok(plan);
    }
    let repo = ctx.repo(service)?;
    let env = env_by_trigger(service, false)?;
    let workflow = workflow_of(&env);
    let dir = service.directory.clone();
    let tree = super::git::read_tree(&dir).await?;
    let branch = super::ship::ready_to_ship(&tree, &dir)?;
    let sha = tree.head.clone();
    if tree.remote_head.as_deref() == Some(sha.as_str()) {
        let tag = super::dispatch::build_tag(&sha);
        if super::dispatch::running(ctx, service, &env)
            .await
            .ok()
            .as_deref()
            == Some(tag.as_str())
        {
            // Already there: nothing to do is no failure (as for a ship-all).
            return Err(Failure::already(format!(
                "{} already runs {tag}, the head of {branch}",
                env.name
            )));
        }
        return Err(super::invalid(
            format!(
                "origin/{branch} already has {}: a push would start no run",
                short(&sha)
            ),
            format!(
                "commit what to ship first, or deploy a commit again with its run: hearth rollback {} --env {} --clean",
                service.name, env.name
            ),
        ));
    }
    check_trigger(&dir, &sha, &workflow, Pushed::Branch(&branch)).await?;
    let from = super::dispatch::running(ctx, service, &env).await.ok();
    let (gate, skipped_tests) = super::ship::gate_of(service, skip_tests);
    Ok(PushPlan {
        kind: OpKind::Ship,
        service: service.clone(),
        repo,
        tag: super::dispatch::build_tag(&sha),
        sha,
        from,
        workflow,
        env,
        action: PushAction::Branch {
            dir,
            branch,
            gate,
            skipped_tests,
        },
        watch,
    })
}

/// Plan a promote: the next semver tag (`version` when given) at the
/// commit the branch environment runs, pushed; the tag environment's
/// workflow builds and deploys it (after its approval).
pub async fn plan_promote(
    ctx: &Context,
    service: &Service,
    version: Option<&str>,
    watch: bool,
) -> Result<PushPlan, Failure> {
    let repo = ctx.repo(service)?;
    let lower = env_by_trigger(service, false)?;
    let env = env_by_trigger(service, true)?;
    let workflow = workflow_of(&env);
    let dir = service.directory.clone();
    let running = super::dispatch::running(ctx, service, &lower).await?;
    // The tag comes from the cluster: only hex goes on to git.
    let Some(short_sha) = running
        .strip_prefix("sha-")
        .filter(|h| h.len() >= 7 && h.chars().all(|c| c.is_ascii_hexdigit()))
    else {
        return Err(super::invalid(
            format!(
                "{} runs {running}, which names no commit (a push-built image is sha-<7 hex>)",
                lower.name
            ),
            format!(
                "ship a commit to {} first: hearth ship {}",
                lower.name, service.name
            ),
        ));
    };
    let sha = super::git::run(
        &dir,
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{short_sha}^{{commit}}"),
        ],
    )
    .await
    .map_err(|_| {
        super::invalid(
            format!(
                "{} runs {running}, a commit {} does not have",
                lower.name,
                dir.display()
            ),
            format!("git -C {} fetch origin", dir.display()),
        )
    })?;
    let sha = sha.trim().to_string();
    let tree = super::git::read_tree(&dir).await?;
    let mut tags = tree.local_tags.clone();
    tags.extend(tree.remote_tags.iter().map(|(t, _)| t.clone()));
    if let Some((t, _)) = tree.remote_tags.iter().find(|(t, c)| {
        *c == sha && super::version::latest_stable(std::slice::from_ref(t)).is_some()
    }) {
        return Err(super::invalid(
            format!("{} at {} is already tagged {t}", lower.name, short(&sha)),
            format!(
                "to deploy it again, re-run its run: hearth rollback {} --env {} --clean",
                service.name, env.name
            ),
        ));
    }
    let version = match version {
        Some(v) => {
            if tags.iter().any(|t| t == v) {
                return Err(super::invalid(
                    format!("tag {v} exists already"),
                    "name a new version, or leave it out for the next patch version",
                ));
            }
            if super::version::latest_stable(&[v.to_string()]).is_none() {
                return Err(super::invalid(
                    format!("{v} is not a version tag (vMAJOR.MINOR.PATCH)"),
                    "name one like v1.2.3",
                ));
            }
            v.to_string()
        }
        None => super::version::next(&tags, Bump::Patch, false),
    };
    check_trigger(&dir, &sha, &workflow, Pushed::Tag(&version)).await?;
    let from = super::dispatch::running(ctx, service, &env).await.ok();
    Ok(PushPlan {
        kind: OpKind::Promote,
        service: service.clone(),
        repo,
        sha,
        tag: version.clone(),
        from,
        workflow,
        env,
        action: PushAction::Tag { dir, version },
        watch,
    })
}

/// Plan a rollback by re-run: the newest successful run of the
/// environment's workflow that deployed something other than what runs
/// now, older than the run that deployed what runs now.
pub async fn plan_rollback(
    ctx: &Context,
    service: &Service,
    env_name: &str,
    watch: bool,
) -> Result<PushPlan, Failure> {
    let repo = ctx.repo(service)?;
    let env = super::environment(service, env_name)?;
    let workflow = env.workflow.clone().ok_or_else(|| {
        super::invalid(
            format!("{} names no workflow for {env_name}", service.name),
            format!("add `environments: {{ {env_name}: {{ workflow: deploy.yml }} }}`"),
        )
    })?;
    let from = super::dispatch::running(ctx, service, &env).await?;
    let runs =
        super::dispatch::workflow_runs(ctx, &repo, &workflow, "event=push&per_page=50").await?;
    let run = last_good_run(&env, &runs, &from).ok_or_else(|| {
        super::invalid(
            format!("no earlier successful run of {workflow} deployed anything but {from}"),
            format!(
                "roll back the Deployment instead: hearth rollback {} --env {}",
                service.name, env.name
            ),
        )
    })?;
    Ok(PushPlan {
        kind: OpKind::Rollback,
        service: service.clone(),
        repo,
        sha: run.head_sha.clone(),
        tag: run_tag(&env, &run),
        from: Some(from),
        workflow,
        env,
        action: PushAction::Rerun { run: Box::new(run) },
        watch,
    })
}

/// The run a re-run rollback repeats: among `runs` (newest first, as
/// GitHub lists them), the first successful one past the newest run that
/// deployed `serving`, whose tag is not `serving`.
pub fn last_good_run(env: &Environment, runs: &[CiRun], serving: &str) -> Option<CiRun> {
    let mut runs: Vec<&CiRun> = runs.iter().collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.id));
    let current = runs.iter().position(|r| run_tag(env, r) == serving);
    runs.into_iter()
        .skip(current.map_or(0, |i| i + 1))
        .find(|r| {
            r.status == "completed"
                && r.conclusion.as_deref() == Some("success")
                && run_tag(env, r) != serving
        })
        .cloned()
}

/// Run a planned push operation.
pub async fn run(
    ctx: &Context,
    plan: &PushPlan,
    rep: &mut Reporter,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, Failure> {
    let name = &plan.service.name;
    let query = |git_ref: &str| RunQuery {
        repo: plan.repo.clone(),
        workflow: plan.workflow.clone(),
        sha: plan.sha.clone(),
        event: "push".into(),
        tag: Some(git_ref.to_string()),
    };
    let runs = match &plan.action {
        PushAction::Branch {
            dir,
            branch,
            gate,
            skipped_tests,
        } => {
            let again = format!("hearth ship {name}");
            pre_ship_gate(
                rep,
                gate.as_deref(),
                *skipped_tests,
                dir,
                cancel,
                &again,
                "nothing: nothing pushed",
            )
            .await?;
            let q = query(branch);
            let before = q.existing(ctx).await.map_err(Failure::nothing_changed)?;
            const PUSH: &str = "push";
            rep.start(PUSH).await;
            let refspec = format!("HEAD:refs/heads/{branch}");
            if let Err(p) = rep.git(dir, &["push", "origin", &refspec]).await {
                rep.failed(PUSH, Some(p.message.clone())).await;
                return Err(Failure::after(
                    p,
                    "nothing pushed",
                    format!(
                        "fix the push (git -C {} push origin {branch}), then {again}",
                        dir.display()
                    ),
                ));
            }
            rep.done(PUSH, Some(format!("{branch} {}", short(&plan.sha))))
                .await;
            started(ctx, rep, plan, &q, &before, &format!("{branch} is pushed")).await?
        }
        PushAction::Tag { dir, version } => {
            let q = query(version);
            let before = q.existing(ctx).await.map_err(Failure::nothing_changed)?;
            const TAG: &str = "tag";
            rep.start(TAG).await;
            let message = format!("{name} {version}");
            if let Err(p) = rep
                .git(dir, &["tag", "-a", version, &plan.sha, "-m", &message])
                .await
            {
                rep.failed(TAG, Some(p.message.clone())).await;
                return Err(Failure::after(p, "nothing tagged", "look at git tag -l"));
            }
            let refspec = format!("refs/tags/{version}");
            if let Err(p) = rep.git(dir, &["push", "origin", &refspec]).await {
                rep.failed(TAG, Some(p.message.clone())).await;
                return Err(Failure::after(
                    p,
                    &format!("{version} is tagged here, not pushed"),
                    format!(
                        "push it (git -C {} push origin {refspec}), or delete it: git -C {} tag -d {version}",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
            rep.done(TAG, Some(format!("{version} at {}", short(&plan.sha))))
                .await;
            started(ctx, rep, plan, &q, &before, &format!("{version} is pushed")).await?
        }
        PushAction::Rerun { run } => {
            const RERUN: &str = "re-run";
            rep.start(RERUN).await;
            let path = format!("/repos/{}/actions/runs/{}/rerun", plan.repo, run.id);
            if let Err(e) = rep.github(ctx, Method::POST, &path, Some(&json!({}))).await {
                let p = ctx.github_problem(&e, &plan.repo, &format!("run {}", run.id), true);
                rep.failed(RERUN, Some(p.message.clone())).await;
                return Err(Failure::nothing_changed(p));
            }
            rep.done(
                RERUN,
                Some(format!("run #{} ({})", run.run_number, plan.tag)),
            )
            .await;
            // The same run, its new attempt queued.
            let mut again = (**run).clone();
            again.status = "queued".into();
            again.conclusion = None;
            vec![again]
        }
    };
    let number = runs.first().map_or(0, |r| r.run_number);
    if !plan.watch {
        return Ok(Outcome {
            ok: true,
            summary: format!(
                "{name} {}: run #{number} of {} started; not watched (--no-watch)",
                plan.tag, plan.workflow
            ),
            left: None,
            recovery: None,
            tag: Some(plan.tag.clone()),
            code: 0,
        });
    }
    let previous = plan
        .from
        .clone()
        .unwrap_or_else(|| "the previous tag".into());
    follow_and_verify(
        ctx,
        rep,
        &plan.service,
        &plan.env,
        &plan.tag,
        &plan.repo,
        runs,
        Recovery {
            started: "the push is in origin".into(),
            left_undeployed: format!(
                "the push is in origin; run #{number} failed before it deployed"
            ),
            build_failed: format!(
                "fix it and push again, or re-run it: gh run rerun -R {} (run #{number})",
                plan.repo
            ),
            deploy_failed: format!(
                "re-run it (gh run rerun -R {}), or go back to {previous}: hearth rollback {name} --env {} --clean",
                plan.repo, plan.env.name
            ),
        },
    )
    .await
}

/// The run(s) the push started, or a failure that says what was pushed.
async fn started(
    ctx: &Context,
    rep: &mut Reporter,
    plan: &PushPlan,
    query: &RunQuery,
    before: &[u64],
    done: &str,
) -> Result<Vec<CiRun>, Failure> {
    const FIND: &str = "find the run";
    rep.start(FIND).await;
    let runs = follow::find_runs(ctx, query, before, follow::RUN_START_TIMEOUT)
        .await
        .map_err(|p| Failure::after(p, done, "watch it on GitHub: gh run watch"))?;
    match runs.first() {
        Some(r) => {
            rep.done(
                FIND,
                Some(format!("run #{} of {}", r.run_number, plan.workflow)),
            )
            .await;
            Ok(runs)
        }
        None => {
            let p = Problem::new(
                ProblemKind::Timeout,
                format!(
                    "no run of {} started for {} within {} s",
                    plan.workflow,
                    short(&plan.sha),
                    follow::RUN_START_TIMEOUT.as_secs()
                ),
                format!(
                    "look at the Actions tab, and at the `on: push` filters of {}",
                    plan.workflow
                ),
            );
            rep.failed(FIND, Some(p.message.clone())).await;
            Err(Failure::after(
                p,
                &format!("{done}; no run showed"),
                format!("gh run list -R {} -w {}", plan.repo, plan.workflow),
            ))
        }
    }
}

impl super::runner::Operation for PushPlan {
    fn kind(&self) -> OpKind {
        self.kind
    }
    fn service(&self) -> &Service {
        &self.service
    }
    fn env(&self) -> Option<&Environment> {
        Some(&self.env)
    }
    fn to_tag(&self) -> Option<String> {
        Some(self.tag.clone())
    }
    fn mechanism(&self) -> String {
        self.mechanism_words()
    }
    fn steps(&self) -> Vec<(super::System, String)> {
        PushPlan::steps(self)
    }
    fn tag_before(&self) -> Option<String> {
        self.from.clone()
    }
    fn resume(&self) -> String {
        PushPlan::resume(self)
    }
    fn run<'a>(
        &'a self,
        ctx: &'a Context,
        rep: &'a mut Reporter,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'a, Result<Outcome, Failure>> {
        Box::pin(run(ctx, self, rep, cancel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: u64, sha: &str, branch: &str, conclusion: &str) -> CiRun {
        CiRun {
            id,
            run_number: id,
            name: None,
            display_title: None,
            event: "push".into(),
            head_branch: Some(branch.into()),
            head_sha: sha.into(),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
            created_at: None,
            updated_at: None,
            html_url: None,
            path: None,
        }
    }

    fn env(trigger: Option<Trigger>) -> Environment {
        Environment {
            trigger,
            ..Environment::defaults().remove(1)
        }
    }

    /// The re-run goes back from what serves: past the run that deployed
    /// it, to the newest successful run of something else; a failed run and
    /// a newer run than the serving one are never picked.
    #[test]
    fn the_last_good_run_is_older_than_what_serves() {
        let dev = env(None);
        let runs = vec![
            run(5, "eeeeeee1", "main", "success"),
            run(4, "ddddddd1", "main", "success"),
            run(3, "ccccccc1", "main", "failure"),
            run(2, "bbbbbbb1", "main", "success"),
            run(1, "aaaaaaa1", "main", "success"),
        ];
        let pick = last_good_run(&dev, &runs, "sha-ddddddd").unwrap();
        assert_eq!(pick.id, 2, "past the serving run #4 and the failed #3");
        // What serves came from no listed run: the newest other success.
        let pick = last_good_run(&dev, &runs, "sha-fffffff").unwrap();
        assert_eq!(pick.id, 5);
        assert!(last_good_run(&dev, &runs, "sha-aaaaaaa").is_none());
        // A tag-triggered environment's runs deploy their tag.
        let prod = env(Some(Trigger::Tag));
        let tags = vec![
            run(9, "x", "v1.2.2", "success"),
            run(8, "y", "v1.2.1", "success"),
        ];
        assert_eq!(last_good_run(&prod, &tags, "v1.2.2").unwrap().id, 8);
        assert_eq!(run_tag(&prod, &tags[0]), "v1.2.2");
        assert_eq!(run_tag(&dev, &runs[0]), "sha-eeeeeee");
    }
}
