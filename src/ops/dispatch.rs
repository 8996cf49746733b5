//! `delivery: dispatch` (seed 001): a build workflow makes the image of a
//! commit (`sha-<first 7 hex>`); each environment is deployed by running
//! its own workflow by hand (`workflow_dispatch`) with the image tag as an
//! input; production is promoted by running its workflow with the tag qa
//! runs; a rollback runs it with the tag the environment ran before. Every
//! trigger is followed by its run (and any approval it waits for), the
//! rollout and the smoke checks, as in the release model.
//!
//! Finding the run a dispatch started: the dispatch asks for it
//! (`return_run_details: true`, GitHub's 200 with `workflow_run_id`); a
//! server that refuses the field (400, an older GitHub Enterprise) gets the
//! plain call, and the run is the one of that workflow, event and commit
//! that was not there before the call. An older run is never adopted.

use std::path::PathBuf;

use http::Method;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::context::{Context, Reporter};
use super::follow::{self, RunQuery};
use super::mechanism::Triggers;
use super::ship::{follow_and_verify, pre_ship_gate, Recovery};
use super::{Failure, OpKind, Outcome, System};
use crate::github::{parse_runs, GhError};
use crate::model::{CiRun, EnvObservation, Problem, ProblemKind};
use crate::registry::{Environment, Service, DEFAULT_INPUT};

/// The commit to build and push, for a ship.
#[derive(Clone, Debug, PartialEq)]
pub struct Build {
    pub dir: PathBuf,
    pub branch: String,
    pub sha: String,
    /// Whether the branch must be pushed (origin does not have the commit yet).
    pub push: bool,
    pub workflow: String,
    pub gate: Option<String>,
    pub skipped_tests: bool,
}

/// What a dispatch operation will do: build (a ship), then run `env`'s
/// workflow with `tag`.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchPlan {
    pub kind: OpKind,
    pub service: Service,
    pub repo: String,
    pub env: Environment,
    pub workflow: String,
    pub input: String,
    pub tag: String,
    /// The ref the workflows run at (the branch shipped, else `main`).
    pub git_ref: String,
    /// What the environment runs now, when read.
    pub from: Option<String>,
    pub build: Option<Build>,
    pub watch: bool,
}

impl DispatchPlan {
    /// `run deploy-prod.yml with image_tag=sha-1a2b3c4 (prod)`.
    pub fn mechanism_words(&self) -> String {
        format!(
            "run {} with {}={} ({})",
            self.workflow, self.input, self.tag, self.env.name
        )
    }

    /// What it will run and send, in order.
    pub fn steps(&self) -> Vec<(System, String)> {
        let mut out = Vec::new();
        if let Some(b) = &self.build {
            out.extend(super::ship::gate_steps(
                b.gate.as_deref(),
                b.skipped_tests,
                &b.dir,
            ));
            if b.push {
                out.push((
                    System::Git,
                    format!("git push origin HEAD:refs/heads/{}", b.branch),
                ));
            }
            out.push((
                System::GitHub,
                format!(
                    "POST /repos/{}/actions/workflows/{}/dispatches: ref {} (builds {})",
                    self.repo, b.workflow, b.branch, self.tag
                ),
            ));
        }
        out.push((
            System::GitHub,
            format!(
                "POST /repos/{}/actions/workflows/{}/dispatches: ref {}, {}={}",
                self.repo, self.workflow, self.git_ref, self.input, self.tag
            ),
        ));
        if self.watch {
            out.push((
                System::Local,
                match &self.env.host {
                    Some(host) => format!(
                        "follow the run (and its approval), then host {host}'s version endpoint until it reports {}",
                        self.tag
                    ),
                    None => format!(
                        "follow the run (and its approval), then the rollout of deploy/{} in {}",
                        self.service.k8s_name, self.env.namespace
                    ),
                },
            ));
            out.extend(super::smoke::plan_steps(
                &self.service,
                &self.env,
                &self.tag,
            ));
        }
        out
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// The tag the build workflow gives the image of `sha`.
pub fn build_tag(sha: &str) -> String {
    format!("sha-{}", short(sha))
}

/// The environment named `name` of a dispatch service, with its workflow
/// and input.
fn env_of(service: &Service, name: &str) -> Result<(Environment, String, String), Failure> {
    let env = super::environment(service, name)?;
    let workflow = env.workflow.clone().ok_or_else(|| {
        super::invalid(
            format!("{} names no workflow for {name}", service.name),
            format!("add `environments: {{ {name}: {{ workflow: deploy-{name}.yml }} }}` to services.yaml"),
        )
    })?;
    let input = env.input.clone().unwrap_or_else(|| DEFAULT_INPUT.into());
    Ok((env, workflow, input))
}

/// The environment a plain ship goes to (qa, else the first that is not
/// prod), and prod (the `latest` one).
fn ship_env(service: &Service, prod: bool) -> &str {
    let latest = |e: &&Environment| e.release == crate::registry::ReleaseKind::Latest;
    let pick = if prod {
        service.environments.iter().find(latest)
    } else {
        service
            .environments
            .iter()
            .find(|e| !latest(e))
            .or(service.environments.first())
    };
    pick.map_or("qa", |e| e.name.as_str())
}

/// The prod environment's name (the `latest` one).
pub fn prod_env(service: &Service) -> &str {
    ship_env(service, true)
}

/// A workflow at `rev` of `dir` must offer `workflow_dispatch`, and (for a
/// deploy workflow) the named input; refused before anything changes, with
/// the lines to add.
async fn check_workflow(
    ctx: &Context,
    service: &Service,
    rev: &str,
    workflow: &str,
    input: Option<&str>,
) -> Result<(), Failure> {
    let path = format!(".github/workflows/{workflow}");
    let Some(yaml) = super::workflow_file::text(ctx, service, workflow, rev).await else {
        return Err(super::invalid(
            format!(
                "{path} is not in {} at {}",
                service.directory.display(),
                short(rev)
            ),
            "add the workflow, or name the right file in services.yaml",
        ));
    };
    let lines = |what: &str| {
        format!(
            "add to {path}:\n  on:\n    workflow_dispatch:{}",
            match what {
                "" => String::new(),
                i => format!("\n      inputs:\n        {i}:\n          required: true"),
            }
        )
    };
    let triggers = Triggers::parse(&yaml)
        .map_err(|e| super::invalid(format!("{path}: {e}"), "fix the workflow file"))?;
    let Some(inputs) = triggers.dispatch else {
        return Err(super::invalid(
            format!("{path} cannot be run by hand: it has no `workflow_dispatch` trigger"),
            lines(input.unwrap_or("")),
        ));
    };
    if let Some(i) = input {
        if !inputs.iter().any(|x| x == i) {
            return Err(super::invalid(
                format!(
                    "{path} has no input `{i}` to pass the image tag in (its inputs: {})",
                    if inputs.is_empty() {
                        "none".into()
                    } else {
                        inputs.join(", ")
                    }
                ),
                lines(i),
            ));
        }
    }
    Ok(())
}

/// Whether a workflow's `run-name` puts input `input` in its runs' titles
/// (`${{ inputs.image_tag }}`, `${{ github.event.inputs.image_tag }}`).
fn names_input(run_name: Option<&str>, input: &str) -> bool {
    run_name.is_some_and(|r| {
        r.split("${{").skip(1).any(|expr| {
            let expr = expr.split("}}").next().unwrap_or("").trim();
            expr == format!("inputs.{input}") || expr == format!("github.event.inputs.{input}")
        })
    })
}

/// `hearth check`'s line for a dispatch service: whether each workflow in
/// its directory can be run by hand with its input.
pub fn check_workflows(service: &Service) -> String {
    let mut parts = Vec::new();
    let read =
        |w: &str| std::fs::read_to_string(service.directory.join(".github/workflows").join(w));
    if let Some(b) = &service.build_workflow {
        parts.push(match read(b).ok().and_then(|y| Triggers::parse(&y).ok()) {
            Some(t) if t.dispatch.is_some() => format!("ship builds with {b}"),
            Some(_) => format!("{b} has no workflow_dispatch: ship is refused"),
            None => format!("{b} not found"),
        });
    }
    for env in &service.environments {
        let (Some(w), input) = (&env.workflow, env.input.as_deref().unwrap_or(DEFAULT_INPUT))
        else {
            continue;
        };
        parts.push(match read(w).ok().and_then(|y| Triggers::parse(&y).ok()) {
            Some(Triggers {
                dispatch: Some(inputs),
                run_name,
                ..
            }) if inputs.iter().any(|i| i == input) => {
                if names_input(run_name.as_deref(), input) {
                    format!("{} by {w}", env.name)
                } else {
                    // GitHub does not return a run's inputs: without the
                    // tag in the title, drift knows only hearth's own runs.
                    format!(
                        "{} by {w} (its runs' titles do not name the tag: only the runs hearth starts show what {} should run; add `run-name: deploy ${{{{ inputs.{input} }}}}`)",
                        env.name, env.name
                    )
                }
            }
            Some(_) => format!(
                "{w} lacks workflow_dispatch input {input}: {} is refused",
                env.name
            ),
            None => format!("{w} not found"),
        });
    }
    parts.join("; ")
}

/// What `env` runs now (the serving tag), read from the cluster, or, for
/// an environment on a host, from its version endpoint.
pub(super) async fn running(
    ctx: &Context,
    service: &Service,
    env: &Environment,
) -> Result<String, Failure> {
    if !env.on_cluster() {
        // A host outside Kubernetes: what its endpoint reports.
        return follow::host_running(&reqwest::Client::new(), service, env)
            .await
            .map_err(Failure::nothing_changed);
    }
    let kube = ctx.kube(env).await?;
    match crate::cluster::observe_one(&kube, service, &env.namespace).await {
        EnvObservation::Live(w) => {
            if w.rollout != crate::model::Rollout::Complete {
                return Err(super::invalid(
                    format!(
                        "{} in {} is still rolling out",
                        service.k8s_name, env.namespace
                    ),
                    format!(
                        "wait for it: kubectl rollout status deploy/{} -n {}",
                        service.k8s_name, env.namespace
                    ),
                ));
            }
            w.serving_tag().map(str::to_string).ok_or_else(|| {
                super::invalid(
                    format!(
                        "{} in {} runs no image tag hearth can read",
                        service.k8s_name, env.namespace
                    ),
                    "",
                )
            })
        }
        EnvObservation::Missing { .. } => Err(super::invalid(
            format!(
                "there is no Deployment {} in {}",
                service.k8s_name, env.namespace
            ),
            "check k8s_name in services.yaml",
        )),
        EnvObservation::Error(p) => Err(Failure::nothing_changed(p)),
        EnvObservation::Unknown | EnvObservation::Reported { .. } => {
            Err(Failure::nothing_changed(Problem::new(
                ProblemKind::Unreachable,
                format!("what {} runs could not be read", env.name),
                "kubectl cluster-info should answer",
            )))
        }
    }
}

/// The tag to roll an environment on a host back to: it has no revision
/// history, so it is the tag of the newest successful run of its deploy
/// workflow that gave it another tag than the one it reports now (the tag
/// from hearth's journal of the runs it started, else from the run's title).
pub async fn previous_host_tag(
    ctx: &Context,
    service: &Service,
    env_name: &str,
) -> Result<String, Failure> {
    let repo = ctx.repo(service)?;
    let (env, workflow, input) = env_of(service, env_name)?;
    let now = running(ctx, service, &env).await?;
    let runs = workflow_runs(ctx, &repo, &workflow, "per_page=30").await?;
    let tags = super::audit::run_tags(&ctx.journal.entries());
    let mut good: Vec<&CiRun> = runs
        .iter()
        .filter(|r| !r.is_active() && r.conclusion.as_deref() == Some("success"))
        .collect();
    good.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    good.iter()
        .filter_map(|r| crate::model::drift::dispatch_run_tag(r, &tags))
        .find(|t| !crate::model::endpoint::same_version(t, &now))
        .map(str::to_string)
        .ok_or_else(|| {
            super::invalid(
                format!(
                    "no earlier successful run of {workflow} deployed another tag than {now} to {}",
                    env.name
                ),
                format!("name the tag: gh workflow run {workflow} -f {input}=TAG"),
            )
        })
}

/// Plan a ship: the commit checked out in the service's directory, built
/// by the build workflow, then deployed to qa (`prod`: to prod).
pub async fn plan_ship(
    ctx: &Context,
    service: &Service,
    prod: bool,
    skip_tests: bool,
    watch: bool,
) -> Result<DispatchPlan, Failure> {
    let repo = ctx.repo(service)?;
    let (env, workflow, input) = env_of(service, ship_env(service, prod))?;
    let build_workflow = service.build_workflow.clone().ok_or_else(|| {
        super::invalid(
            format!("{} names no build workflow", service.name),
            "add `build: { workflow: build.yml }` to services.yaml",
        )
    })?;
    let dir = service.directory.clone();
    let tree = super::git::read_tree(&dir).await?;
    let branch = super::ship::ready_to_ship(&tree, &dir)?;
    let sha = tree.head.clone();
    check_workflow(ctx, service, &sha, &build_workflow, None).await?;
    check_workflow(ctx, service, &sha, &workflow, Some(&input)).await?;
    let from = running(ctx, service, &env).await.ok();
    let push = tree.remote_head.as_deref() != Some(sha.as_str());
    let (gate, skipped_tests) = super::ship::gate_of(service, skip_tests);
    Ok(DispatchPlan {
        kind: OpKind::Ship,
        service: service.clone(),
        repo,
        workflow,
        input,
        tag: build_tag(&sha),
        git_ref: branch.clone(),
        from,
        env,
        build: Some(Build {
            dir,
            branch,
            sha,
            push,
            workflow: build_workflow,
            gate,
            skipped_tests,
        }),
        watch,
    })
}

/// Plan a promote: prod's workflow run with the tag qa runs now, read
/// from the cluster (`tag` must be that tag when given).
pub async fn plan_promote(
    ctx: &Context,
    service: &Service,
    tag: Option<&str>,
    watch: bool,
) -> Result<DispatchPlan, Failure> {
    let repo = ctx.repo(service)?;
    let (qa, _, _) = env_of(service, ship_env(service, false))?;
    let (env, workflow, input) = env_of(service, prod_env(service))?;
    let qa_tag = running(ctx, service, &qa).await?;
    if let Some(t) = tag.filter(|t| *t != qa_tag) {
        return Err(super::invalid(
            format!(
                "{} runs {qa_tag}, not {t}: promote moves what qa runs",
                qa.name
            ),
            format!(
                "ship {t} to {} first, or promote {qa_tag}: hearth promote {}",
                qa.name, service.name
            ),
        ));
    }
    // The workflow as it will run: at the branch the dispatch names.
    let git_ref = default_branch(&service.directory).await;
    check_workflow(ctx, service, &git_ref, &workflow, Some(&input)).await?;
    let from = running(ctx, service, &env).await.ok();
    if from.as_deref() == Some(qa_tag.as_str()) {
        return Err(Failure::already(format!(
            "{} already runs {qa_tag}",
            env.name
        )));
    }
    Ok(DispatchPlan {
        kind: OpKind::Promote,
        service: service.clone(),
        repo,
        workflow,
        input,
        tag: qa_tag,
        git_ref,
        from,
        env,
        build: None,
        watch,
    })
}

/// Plan a rollback by dispatch: `env`'s workflow run with the previous
/// good tag. On a cluster that is the tag the Deployment's previous
/// revision ran; a host has no revision history, so it is the tag of the
/// deploy workflow's newest good run that gave it another tag
/// ([`previous_host_tag`]).
pub async fn plan_rollback(
    ctx: &Context,
    service: &Service,
    env_name: &str,
    watch: bool,
) -> Result<DispatchPlan, Failure> {
    let repo = ctx.repo(service)?;
    let (env, workflow, input) = env_of(service, env_name)?;
    let tag = match env.on_cluster() {
        true => super::rollback::previous_tag(ctx, service, env_name).await?,
        false => previous_host_tag(ctx, service, env_name).await?,
    };
    // The workflow as it will run: at the branch the dispatch names.
    let git_ref = default_branch(&service.directory).await;
    check_workflow(ctx, service, &git_ref, &workflow, Some(&input)).await?;
    let from = running(ctx, service, &env).await.ok();
    Ok(DispatchPlan {
        kind: OpKind::Rollback,
        service: service.clone(),
        repo,
        workflow,
        input,
        tag,
        git_ref,
        from,
        env,
        build: None,
        watch,
    })
}

/// The branch checked out in `dir` (workflows run at it), else `main`.
async fn default_branch(dir: &std::path::Path) -> String {
    match super::git::read_tree(dir).await {
        Ok(t) => t.branch.unwrap_or_else(|| "main".into()),
        Err(_) => "main".into(),
    }
}

/// Run `workflow` at `git_ref` with `inputs` and return the run it
/// started (see the module's notes on finding it).
async fn trigger(
    ctx: &Context,
    rep: &mut Reporter,
    repo: &str,
    workflow: &str,
    git_ref: &str,
    sha: &str,
    inputs: Map<String, Value>,
) -> Result<CiRun, Failure> {
    let query = RunQuery {
        repo: repo.to_string(),
        workflow: workflow.to_string(),
        sha: sha.to_string(),
        event: "workflow_dispatch".into(),
        tag: None,
    };
    // The runs that exist before the call: a run among them is never adopted.
    let before = query
        .existing(ctx)
        .await
        .map_err(Failure::nothing_changed)?;
    let path = format!("/repos/{repo}/actions/workflows/{workflow}/dispatches");
    let asked = json!({"ref": git_ref, "inputs": inputs, "return_run_details": true});
    let refused = |e: GhError, ctx: &Context| {
        Failure::nothing_changed(ctx.github_problem(
            &e,
            repo,
            &format!("workflow {workflow}"),
            true,
        ))
    };
    let answer = match rep.github(ctx, Method::POST, &path, Some(&asked)).await {
        Ok(v) => v,
        // A server that does not know the field: the plain call.
        Err(GhError::Status(400)) => {
            let plain = json!({"ref": git_ref, "inputs": inputs});
            rep.github(ctx, Method::POST, &path, Some(&plain))
                .await
                .map_err(|e| refused(e, ctx))?
        }
        Err(e) => return Err(refused(e, ctx)),
    };
    let client = ctx.github()?.clone();
    if let Some(id) = answer.get("workflow_run_id").and_then(Value::as_u64) {
        let run = client
            .get_json(&format!("/repos/{repo}/actions/runs/{id}"))
            .await
            .and_then(|v| parse_runs(&json!({ "workflow_runs": [v] })))
            .map_err(|e| {
                Failure::after(
                    ctx.github_problem(&e, repo, &format!("run {id}"), false),
                    &format!("{workflow} was started (run id {id})"),
                    "watch it on GitHub: gh run watch",
                )
            })?;
        if let Some(run) = run.into_iter().next() {
            return Ok(run);
        }
    }
    let runs = follow::find_runs(ctx, &query, &before, follow::RUN_START_TIMEOUT)
        .await
        .map_err(|p| {
            Failure::after(
                p,
                &format!("{workflow} was asked to run"),
                "watch it on GitHub: gh run watch",
            )
        })?;
    runs.into_iter().next().ok_or_else(|| {
        Failure::after(
            Problem::new(
                ProblemKind::Timeout,
                format!(
                    "no run of {workflow} started within {} s",
                    follow::RUN_START_TIMEOUT.as_secs()
                ),
                "look at the Actions tab",
            ),
            &format!("{workflow} was asked to run; no run showed"),
            format!("gh workflow run {workflow} -R {repo}"),
        )
    })
}

/// Run a planned dispatch operation.
pub async fn run(
    ctx: &Context,
    plan: &DispatchPlan,
    rep: &mut Reporter,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, Failure> {
    let name = &plan.service.name;
    let mut sha = String::new();
    if let Some(b) = &plan.build {
        let again = format!("hearth ship {name}");
        pre_ship_gate(
            rep,
            b.gate.as_deref(),
            b.skipped_tests,
            &b.dir,
            cancel,
            &again,
            "nothing: nothing pushed, nothing built",
        )
        .await?;
        if b.push {
            const PUSH: &str = "push";
            rep.start(PUSH).await;
            let refspec = format!("HEAD:refs/heads/{}", b.branch);
            if let Err(p) = rep.git(&b.dir, &["push", "origin", &refspec]).await {
                rep.failed(PUSH, Some(p.message.clone())).await;
                return Err(Failure::after(
                    p,
                    "nothing pushed, nothing built",
                    format!(
                        "fix the push (git -C {} push origin {}), then {again}",
                        b.dir.display(),
                        b.branch
                    ),
                ));
            }
            rep.done(PUSH, Some(format!("{} {}", b.branch, short(&b.sha))))
                .await;
        }
        const BUILD: &str = "build";
        rep.start(BUILD).await;
        let run = trigger(
            ctx,
            rep,
            &plan.repo,
            &b.workflow,
            &b.branch,
            &b.sha,
            Map::new(),
        )
        .await;
        let run = match run {
            Ok(r) => r,
            Err(f) => {
                rep.failed(BUILD, Some(f.problem.message.clone())).await;
                return Err(f);
            }
        };
        rep.done(
            BUILD,
            Some(format!("run #{} of {}", run.run_number, b.workflow)),
        )
        .await;
        match follow::follow_runs(ctx, rep, &plan.repo, vec![run]).await {
            Ok(_) => {}
            Err(follow::CiFailure::Failed {
                run,
                step,
                conclusion,
                ..
            }) => {
                return Err(Failure::after(
                    Problem::new(
                        ProblemKind::Server,
                        format!(
                            "build run #{} {conclusion} at {:?}",
                            run.run_number,
                            step.unwrap_or_else(|| "a step".into())
                        ),
                        "",
                    ),
                    &format!(
                        "{} is pushed; no image {} was built; nothing deployed",
                        b.branch, plan.tag
                    ),
                    format!("fix the build, then {again}"),
                ))
            }
            Err(follow::CiFailure::NoRun) => {}
            Err(follow::CiFailure::GitHub(p)) => {
                return Err(Failure::after(
                    p,
                    "the build is running; its state is unknown",
                    "watch it on GitHub: gh run watch",
                ))
            }
        }
        sha = b.sha.clone();
    }
    const DEPLOY: &str = "run deploy workflow";
    rep.start(DEPLOY).await;
    if sha.is_empty() {
        // The commit the workflow will run at, as GitHub sees the ref (a
        // local clone's origin/<ref> may not be fetched): what a run this
        // dispatch starts reports as its head SHA.
        let client = ctx.github()?.clone();
        sha = match client
            .get_json(&format!("/repos/{}/commits/{}", plan.repo, plan.git_ref))
            .await
        {
            Ok(v) => {
                crate::model::text::line(v.get("sha").and_then(Value::as_str).unwrap_or_default())
                    .into_owned()
            }
            Err(e) => {
                let p = ctx.github_problem(
                    &e,
                    &plan.repo,
                    &format!("commit of {}", plan.git_ref),
                    false,
                );
                rep.failed(DEPLOY, Some(p.message.clone())).await;
                return Err(Failure::nothing_changed(p));
            }
        };
    }
    let mut inputs = Map::new();
    inputs.insert(plan.input.clone(), json!(plan.tag));
    let run = match trigger(
        ctx,
        rep,
        &plan.repo,
        &plan.workflow,
        &plan.git_ref,
        &sha,
        inputs,
    )
    .await
    {
        Ok(r) => r,
        Err(f) => {
            rep.failed(DEPLOY, Some(f.problem.message.clone())).await;
            return Err(f);
        }
    };
    rep.started_run(super::audit::StartedRun {
        repo: plan.repo.clone(),
        workflow: plan.workflow.clone(),
        id: run.id,
        tag: plan.tag.clone(),
    });
    rep.done(
        DEPLOY,
        Some(format!(
            "run #{} of {} with {}={}",
            run.run_number, plan.workflow, plan.input, plan.tag
        )),
    )
    .await;
    if !plan.watch {
        return Ok(Outcome {
            ok: true,
            summary: format!(
                "{name} {}: {} started (run #{}); not watched (--no-watch)",
                plan.tag, plan.workflow, run.run_number
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
        vec![run],
        Recovery {
            started: format!("{} was run with {}={}", plan.workflow, plan.input, plan.tag),
            left_undeployed: format!(
                "{} with {}={} deployed nothing",
                plan.workflow, plan.input, plan.tag
            ),
            build_failed: format!(
                "fix the deploy run, then gh workflow run {} -R {} -f {}={}",
                plan.workflow, plan.repo, plan.input, plan.tag
            ),
            deploy_failed: format!(
                "re-run it (gh run rerun RUN -R {}), or run {} with {}={previous}",
                plan.repo, plan.workflow, plan.input
            ),
        },
    )
    .await
}

/// The runs of `workflow` in `repo` (newest first) with `query` (such as
/// `event=push&per_page=50`); a GitHub error refuses before anything
/// changed, in `github_problem`'s words.
pub(super) async fn workflow_runs(
    ctx: &Context,
    repo: &str,
    workflow: &str,
    query: &str,
) -> Result<Vec<CiRun>, Failure> {
    let client = ctx.github()?.clone();
    client
        .get_json(&format!(
            "/repos/{repo}/actions/workflows/{workflow}/runs?{query}"
        ))
        .await
        .and_then(|v| parse_runs(&v))
        .map_err(|e| {
            Failure::nothing_changed(ctx.github_problem(
                &e,
                repo,
                &format!("runs of {workflow}"),
                false,
            ))
        })
}

impl super::runner::Operation for DispatchPlan {
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
        DispatchPlan::steps(self)
    }
    fn tag_before(&self) -> Option<String> {
        self.from.clone()
    }
    fn resume(&self) -> String {
        format!(
            "look at the runs of {} (gh run list -R {}), then run it again: gh workflow run {} -R {} -f {}={}",
            self.workflow, self.repo, self.workflow, self.repo, self.input, self.tag
        )
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
    use super::names_input;

    #[test]
    fn a_run_name_names_the_input_only_in_an_expression_of_it() {
        assert!(names_input(
            Some("deploy ${{ inputs.image_tag }}"),
            "image_tag"
        ));
        assert!(names_input(
            Some("${{github.event.inputs.image_tag}} to prod"),
            "image_tag"
        ));
        assert!(!names_input(Some("deploy ${{ inputs.tag }}"), "image_tag"));
        assert!(!names_input(Some("deploy image_tag"), "image_tag"));
        assert!(!names_input(None, "image_tag"));
    }
}
