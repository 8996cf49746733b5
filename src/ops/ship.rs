//! `ship`: the pre-ship gate, the next version tagged and pushed, a GitHub
//! Release published (prerelease for qa, draft for `--draft`, latest
//! otherwise), then the run(s) it started followed step by step, the rollout
//! in the target namespace, and the smoke checks. Planned first, read-only
//! (that plan is what `--dry-run` prints and what a confirmation shows);
//! every failure stops where the seed's failure table says and names the
//! recovery command.

use std::path::PathBuf;
use std::time::Duration;

use http::Method;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::context::{Context, Reporter};
use super::follow::{self, CiFailure, RunQuery};
use super::mechanism::{self, Triggers};
use super::place::{AfterFailure, Place};
use super::preship::{self, GateError};
use super::{version, Failure, Outcome, ShipRequest, System, Target};
use crate::github::GhError;
use crate::model::{Problem, ProblemKind};
use crate::registry::{Environment, ReleaseKind, Service};

/// How long the pre-ship command may run.
pub const GATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long the rollout may take once CI says it deployed.
pub const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Everything a ship will do, worked out without changing anything.
#[derive(Clone, Debug, PartialEq)]
pub struct ShipPlan {
    pub service: Service,
    pub repo: String,
    pub target: Target,
    /// The environment the release deploys to (`None` for a draft).
    pub env: Option<Environment>,
    pub dir: PathBuf,
    pub branch: String,
    pub sha: String,
    pub tag: String,
    /// Whether the tag is new (created and pushed) or exists (`--no-version`).
    pub new_tag: bool,
    /// The previous release's tag, for the notes and the journal.
    pub previous: Option<String>,
    /// The pre-ship command, unless skipped.
    pub gate: Option<String>,
    pub skipped_tests: bool,
    pub watch: bool,
}

impl ShipPlan {
    fn prerelease(&self) -> bool {
        self.target == Target::Qa
    }

    fn draft(&self) -> bool {
        self.target == Target::Draft
    }

    /// `latest (prod)`, `prerelease (qa)`, `draft (deploys nothing)`.
    pub fn kind_words(&self) -> String {
        match (&self.target, &self.env) {
            (Target::Draft, _) => "draft (deploys nothing)".into(),
            (Target::Prod, Some(e)) => format!("latest ({})", e.name),
            (Target::Qa, Some(e)) => format!("prerelease ({})", e.name),
            (_, None) => "release".into(),
        }
    }

    /// What the ship will run and send, in order (the dry run's output and
    /// the confirmation's body).
    pub fn steps(&self) -> Vec<(System, String)> {
        let mut out = gate_steps(self.gate.as_deref(), self.skipped_tests, &self.dir);
        if self.new_tag {
            out.push((
                System::Git,
                format!("git tag {} {}", self.tag, short(&self.sha)),
            ));
            out.push((
                System::Git,
                format!(
                    "git push --atomic origin HEAD:refs/heads/{} refs/tags/{}",
                    self.branch, self.tag
                ),
            ));
        }
        out.push((
            System::GitHub,
            format!(
                "POST /repos/{}/releases/generate-notes (tag {})",
                self.repo, self.tag
            ),
        ));
        out.push((
            System::GitHub,
            format!(
                "POST /repos/{}/releases: {} as {}",
                self.repo,
                self.tag,
                self.kind_words()
            ),
        ));
        if self.watch {
            if let Some(env) = &self.env {
                out.push((
                    System::Local,
                    format!(
                        "follow the run(s) of {} for {}, then the rollout of deploy/{} in {}",
                        self.service.workflow, self.tag, self.service.k8s_name, env.namespace
                    ),
                ));
                out.extend(super::smoke::plan_steps(&self.service, env, &self.tag));
            }
        }
        out
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

/// Work out what `req` will do, reading the working tree, the remote and
/// GitHub, and refuse what cannot work (a dirty tree, a detached HEAD, a
/// branch behind its remote, a workflow the release would not start, an
/// existing release for `--no-version`), each with the command that fixes it.
pub async fn plan(ctx: &Context, req: &ShipRequest) -> Result<ShipPlan, Failure> {
    let service = ctx.service(&req.service)?.clone();
    let repo = ctx.repo(&service)?;
    let dir = service.directory.clone();
    let env = match req.target {
        Target::Draft => None,
        Target::Prod => Some(env_for(&service, ReleaseKind::Latest)?),
        Target::Qa => Some(env_for(&service, ReleaseKind::Prerelease)?),
    };
    let tree = super::git::read_tree(&dir).await?;
    let branch = ready_to_ship(&tree, &dir)?;
    let rc = req.target == Target::Qa;
    let tags = tree.all_tags();
    let (tag, new_tag, sha) = if req.no_version {
        let Some(tag) = version::latest_existing(&tags, rc) else {
            return Err(super::invalid(
                format!(
                    "--no-version: {} has no {} tag to release",
                    service.name,
                    if rc { "release candidate" } else { "stable" }
                ),
                format!(
                    "ship a new version: hearth ship {}{}",
                    service.name,
                    if rc { " --qa" } else { "" }
                ),
            ));
        };
        let Some(sha) = tree.remote_tag(&tag).map(str::to_string) else {
            return Err(super::invalid(
                format!("--no-version: tag {tag} is not on GitHub yet"),
                format!("push it first: git -C {} push origin {tag}", dir.display()),
            ));
        };
        (tag, false, sha)
    } else {
        let tag = version::next(&tags, req.bump, rc);
        (tag, true, tree.head.clone())
    };
    let client = ctx.github()?;
    // An existing release for the tag would be a 422 later: say so now.
    let path = format!("/repos/{repo}/releases/tags/{tag}");
    match client.get_json(&path).await {
        Ok(_) => {
            return Err(super::invalid(
                format!("a release for {tag} of {} already exists", service.name),
                format!(
                    "delete it first (gh release delete {tag} -R {repo}), or ship a new version: hearth ship {}{}",
                    service.name,
                    if rc { " --qa" } else { "" }
                ),
            ))
        }
        Err(GhError::NotFound) => {}
        Err(e) => return Err(Failure::from(ctx.github_problem(&e, &repo, "releases", false))),
    }
    // The workflow at the commit being released must start for a release.
    if let Some(env) = &env {
        let yaml = super::git::run(
            &dir,
            &[
                "show",
                &format!("{sha}:.github/workflows/{}", service.workflow),
            ],
        )
        .await
        .map_err(|_| {
            super::invalid(
                format!(
                    "{} has no .github/workflows/{} at {}",
                    service.name,
                    service.workflow,
                    short(&sha)
                ),
                "add the release workflow: hearth setup --workflow",
            )
        })?;
        let triggers = Triggers::parse(&yaml).map_err(|e| {
            super::invalid(
                format!(".github/workflows/{}: {e}", service.workflow),
                "fix the workflow file",
            )
        })?;
        mechanism::ship(&triggers, rc, &service.workflow).map_err(|r| {
            super::invalid(format!("{} (shipping to {})", r.message, env.name), r.fix)
        })?;
    }
    let previous = match version::latest_existing(&tags, false) {
        Some(t) if t != tag => Some(t),
        _ => None,
    };
    let gate = if req.skip_tests {
        None
    } else {
        service.pre_ship_cmd.clone()
    };
    Ok(ShipPlan {
        skipped_tests: req.skip_tests && service.pre_ship_cmd.is_some(),
        watch: req.watch && req.target != Target::Draft,
        service,
        repo,
        target: req.target,
        env,
        dir,
        branch,
        sha,
        tag,
        new_tag,
        previous,
        gate,
    })
}

/// The pre-ship gate: `gate` run in `dir` (or said skipped); a failure stops
/// before any git change, with `again` (the command that ships again) in
/// the recovery. Shared by every delivery model's ship.
pub(super) async fn pre_ship_gate(
    rep: &mut Reporter,
    gate: Option<&str>,
    skipped: bool,
    dir: &std::path::Path,
    cancel: watch::Receiver<bool>,
    again: &str,
    left: &str,
) -> Result<(), Failure> {
    const GATE: &str = "pre-ship tests";
    match gate {
        Some(cmd) => {
            rep.start(GATE).await;
            match preship::run(cmd, dir, GATE_TIMEOUT, rep, cancel).await {
                Ok(()) => rep.done(GATE, None).await,
                Err(GateError::Cancelled) => {
                    rep.failed(GATE, Some("cancelled".into())).await;
                    return Err(Failure::nothing_changed(Problem::new(
                        ProblemKind::Local,
                        "cancelled during the pre-ship tests",
                        "",
                    )));
                }
                Err(GateError::Failed { problem, tail }) => {
                    rep.failed(GATE, Some(problem.message.clone())).await;
                    if !tail.is_empty() {
                        rep.line(format!("  last lines of {cmd}:")).await;
                        for l in tail.iter().rev().take(preship::TAIL).rev() {
                            rep.line(format!("  │ {l}")).await;
                        }
                    }
                    return Err(Failure {
                        problem,
                        left: Some(left.into()),
                        recovery: Some(format!(
                            "fix the tests and ship again ({again}), or in an emergency {again} --skip-tests"
                        )),
                        code: 1,
                    });
                }
            }
        }
        None if skipped => {
            rep.skipped(GATE, Some("--skip-tests".into())).await;
        }
        None => {}
    }
    Ok(())
}

/// The gate a ship runs (the service's `pre_ship_cmd` unless
/// `--skip-tests`) and whether one was skipped: every model's ship.
pub(super) fn gate_of(
    service: &crate::registry::Service,
    skip_tests: bool,
) -> (Option<String>, bool) {
    let gate = service.pre_ship_cmd.clone();
    let skipped = skip_tests && gate.is_some();
    (gate.filter(|_| !skip_tests), skipped)
}

/// The pre-ship steps a plan shows: the gate's command, or that it is skipped.
pub(super) fn gate_steps(
    gate: Option<&str>,
    skipped: bool,
    dir: &std::path::Path,
) -> Vec<(System, String)> {
    match gate {
        Some(cmd) => vec![(
            System::Local,
            format!("run the pre-ship tests: {cmd} (in {})", dir.display()),
        )],
        None if skipped => vec![(
            System::Local,
            "skip the pre-ship tests (--skip-tests)".into(),
        )],
        None => Vec::new(),
    }
}

/// The working tree can be shipped from: on a branch, clean, not behind
/// its remote. Returns the branch; every refusal names the command that fixes it.
pub(super) fn ready_to_ship(
    tree: &super::git::Tree,
    dir: &std::path::Path,
) -> Result<String, Failure> {
    let Some(branch) = tree.branch.clone() else {
        return Err(super::invalid(
            format!("{} is on a detached HEAD", dir.display()),
            format!(
                "check out the branch to ship: git -C {} switch main",
                dir.display()
            ),
        ));
    };
    if !tree.dirty.is_empty() {
        return Err(super::invalid(
            format!(
                "{} has uncommitted changes ({})",
                dir.display(),
                tree.dirty
                    .iter()
                    .take(3)
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("commit or stash them: git -C {} stash", dir.display()),
        ));
    }
    if !tree.remote_in_history {
        return Err(super::invalid(
            format!("{branch} in {} is behind origin/{branch}", dir.display()),
            format!(
                "bring it up to date: git -C {} pull --ff-only",
                dir.display()
            ),
        ));
    }
    Ok(branch)
}

fn env_for(service: &Service, kind: ReleaseKind) -> Result<Environment, Failure> {
    service.environment_for(kind).cloned().ok_or_else(|| {
        super::invalid(
            format!(
                "{} has no environment that {} releases deploy to",
                service.name,
                match kind {
                    ReleaseKind::Latest => "latest",
                    ReleaseKind::Prerelease => "prerelease",
                }
            ),
            "add one under `environments:` in services.yaml",
        )
    })
}

/// Run a planned ship, reporting every step. Ok with the final outcome when
/// it got as far as asked (deployed, or released with `--no-watch`).
pub async fn run(
    ctx: &Context,
    plan: &ShipPlan,
    rep: &mut Reporter,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, Failure> {
    let name = &plan.service.name;
    let qa = if plan.prerelease() { " --qa" } else { "" };

    // 1. The pre-ship gate: a failure stops before any git change.
    pre_ship_gate(
        rep,
        plan.gate.as_deref(),
        plan.skipped_tests,
        &plan.dir,
        cancel,
        &format!("hearth ship {name}{qa}"),
        "nothing: no tag, no release",
    )
    .await?;

    // The runs that exist already, read before anything changes: a run for
    // this commit and tag that is not among them is the one this ship starts.
    let query = RunQuery {
        repo: plan.repo.clone(),
        workflow: plan.service.workflow.clone(),
        sha: plan.sha.clone(),
        event: "release".into(),
        tag: Some(plan.tag.clone()),
    };
    let before = if plan.watch {
        match query.existing(ctx).await {
            Ok(ids) => ids,
            Err(p) => return Err(Failure::nothing_changed(p)),
        }
    } else {
        Vec::new()
    };

    // 2. Tag and push.
    if plan.new_tag {
        const TAG: &str = "tag and push";
        rep.start(TAG).await;
        if let Err(p) = rep.git(&plan.dir, &["tag", &plan.tag, &plan.sha]).await {
            rep.failed(TAG, Some(p.message.clone())).await;
            return Err(Failure::after(
                p,
                "no tag was made; nothing on GitHub",
                format!(
                    "look at git status in {}, then hearth ship {name}{qa}",
                    plan.dir.display()
                ),
            ));
        }
        let push = [
            "push",
            "--atomic",
            "origin",
            &format!("HEAD:refs/heads/{}", plan.branch),
            &format!("refs/tags/{}", plan.tag),
        ];
        if let Err(p) = rep.git(&plan.dir, &push).await {
            rep.failed(TAG, Some(p.message.clone())).await;
            return Err(Failure::after(
                p,
                &format!("the tag {} exists locally only; nothing on GitHub", plan.tag),
                format!(
                    "fix the push (git -C {} push origin {}), then hearth ship {name}{qa} --no-version; or drop the tag: git -C {} tag -d {}",
                    plan.dir.display(),
                    plan.tag,
                    plan.dir.display(),
                    plan.tag
                ),
            ));
        }
        rep.done(
            TAG,
            Some(format!("{} {} pushed", plan.tag, short(&plan.sha))),
        )
        .await;
    }

    // 3. Publish the release (notes generated by GitHub).
    const PUBLISH: &str = "publish release";
    rep.start(PUBLISH).await;
    let notes_path = format!("/repos/{}/releases/generate-notes", plan.repo);
    let mut notes_req = json!({ "tag_name": plan.tag, "target_commitish": plan.branch });
    if let Some(p) = &plan.previous {
        notes_req["previous_tag_name"] = json!(p);
    }
    let notes = match rep
        .github(ctx, Method::POST, &notes_path, Some(&notes_req))
        .await
    {
        Ok(v) => v.get("body").and_then(Value::as_str).map(str::to_string),
        // Notes are nice to have: the release goes out without them.
        Err(_) => None,
    };
    let body = json!({
        "tag_name": plan.tag,
        "target_commitish": plan.branch,
        "name": plan.tag,
        "body": notes.unwrap_or_default(),
        "draft": plan.draft(),
        "prerelease": plan.prerelease(),
        "make_latest": if plan.target == Target::Prod { "true" } else { "false" },
    });
    let path = format!("/repos/{}/releases", plan.repo);
    if let Err(e) = rep.github(ctx, Method::POST, &path, Some(&body)).await {
        let problem = ctx.github_problem(&e, &plan.repo, "releases", true);
        rep.failed(PUBLISH, Some(problem.message.clone())).await;
        return Err(Failure::after(
            problem,
            &format!("the tag {} is on GitHub, with no release", plan.tag),
            format!("hearth ship {name}{qa} --no-version (retries just the release)"),
        ));
    }
    let published = format!(
        "{name} {} → release published as {}",
        plan.tag,
        plan.kind_words()
    );
    rep.done(PUBLISH, Some(published.clone())).await;
    let Some(env) = plan.env.clone().filter(|_| plan.watch) else {
        return Ok(Outcome {
            ok: true,
            summary: if plan.draft() {
                format!("{name} {} released as a draft (nothing deploys)", plan.tag)
            } else {
                format!("{published}; not watched (--no-watch)")
            },
            left: None,
            recovery: None,
            tag: Some(plan.tag.clone()),
            code: 0,
        });
    };

    // 4. Watch: the run(s), the rollout, the smoke checks.
    deploy_and_verify(
        ctx,
        rep,
        &plan.service,
        &env,
        &plan.tag,
        &query,
        &before,
        Recovery {
            started: "the release is published".into(),
            left_undeployed: "the tag and the release exist; no image was pushed".into(),
            build_failed: format!(
                "delete the release (gh release delete {} -R {}), fix the build, then hearth ship {name}{qa}",
                plan.tag, plan.repo
            ),
            deploy_failed: format!(
                "re-run the workflow (gh run rerun RUN -R {}), or hearth rollback {name} --env {} if a partial roll happened",
                plan.repo, env.name
            ),
        },
    )
    .await
}

/// What to say when CI fails at the build or at the deploy.
pub struct Recovery {
    /// What the trigger did, true whatever CI does next, in the model's
    /// words (`the release is published`, `deploy-prod.yml was run with
    /// image_tag=sha-1a2b3c4`).
    pub started: String,
    /// What is left when the run failed before it deployed, in the model's
    /// words (`the tag and the release exist; no image was pushed`).
    pub left_undeployed: String,
    pub build_failed: String,
    pub deploy_failed: String,
}

/// After the change that starts CI: find the run(s), follow them step by
/// step, follow the rollout of `tag` in `env`, run the smoke checks. Shared
/// by ship, promote and the clean rollback.
#[allow(clippy::too_many_arguments)]
pub async fn deploy_and_verify(
    ctx: &Context,
    rep: &mut Reporter,
    service: &Service,
    env: &Environment,
    tag: &str,
    query: &RunQuery,
    before: &[u64],
    recovery: Recovery,
) -> Result<Outcome, Failure> {
    // The step says what it did: the run's own outcome is its steps' lines.
    const FIND: &str = "find CI run";
    rep.start(FIND).await;
    let runs = match follow::find_runs(ctx, query, before, follow::RUN_START_TIMEOUT).await {
        Ok(runs) if !runs.is_empty() => runs,
        Ok(_) => {
            rep.failed(FIND, Some("no run started".into())).await;
            return Err(Failure::after(
                Problem::new(
                    ProblemKind::Timeout,
                    format!(
                        "no run of {} started within {} s",
                        query.workflow,
                        follow::RUN_START_TIMEOUT.as_secs()
                    ),
                    "check the workflow's `on:` triggers and the Actions tab",
                ),
                &format!("{}; CI did not start", recovery.started),
                format!(
                    "look at the workflow, then re-run it: gh workflow run {} -R {}",
                    query.workflow, query.repo
                ),
            ));
        }
        Err(p) => {
            rep.failed(FIND, Some(p.message.clone())).await;
            return Err(Failure::after(
                p,
                &recovery.started,
                "watch it on GitHub: gh run watch",
            ));
        }
    };
    let numbers: Vec<String> = runs.iter().map(|r| format!("#{}", r.run_number)).collect();
    rep.done(
        FIND,
        Some(format!(
            "found run {} of {}",
            numbers.join(", "),
            query.workflow
        )),
    )
    .await;
    follow_and_verify(ctx, rep, service, env, tag, &query.repo, runs, recovery).await
}

/// Follow `runs` step by step (and any approval they wait for), then `env`
/// to `tag` where it runs ([`Place`]: the rollout, or a host's endpoint),
/// then the smoke checks. Shared by every
/// delivery model once it knows the run its trigger started.
#[allow(clippy::too_many_arguments)]
pub async fn follow_and_verify(
    ctx: &Context,
    rep: &mut Reporter,
    service: &Service,
    env: &Environment,
    tag: &str,
    repo: &str,
    runs: Vec<crate::model::CiRun>,
    recovery: Recovery,
) -> Result<Outcome, Failure> {
    let name = &service.name;
    match follow::follow_runs(ctx, rep, repo, runs).await {
        Ok(_) => {}
        Err(CiFailure::Failed {
            run,
            step,
            conclusion,
            review,
        }) => {
            let step = step.unwrap_or_else(|| "a step".into());
            if conclusion == follow::REJECTED {
                // A reviewer said no: no job ran, nothing deployed. Who and
                // why, when GitHub's reviews of the run say.
                let (message, next) = match review {
                    Some(words) => (
                        format!("CI run #{} was {words} at its {step}", run.run_number),
                        "nothing to undo; once the reviewer's concern is met, run the operation again",
                    ),
                    None => (
                        format!("CI run #{} was rejected at its {step}", run.run_number),
                        "nothing to undo; ask the environment's reviewers why (their comment is on the run's page on GitHub)",
                    ),
                };
                return Err(Failure::after(
                    Problem::new(ProblemKind::Server, message, ""),
                    &format!(
                        "{}; no job of run #{} ran",
                        recovery.left_undeployed, run.run_number
                    ),
                    next,
                ));
            }
            let at_deploy = step.to_lowercase().contains("deploy");
            let mut problem = Problem::new(
                ProblemKind::Server,
                format!("CI run #{} {conclusion} at {step:?}", run.run_number),
                "",
            );
            if !at_deploy {
                return Err(Failure::after(
                    problem,
                    &recovery.left_undeployed,
                    recovery.build_failed,
                ));
            }
            // A deploy that failed: did the place get the new tag (a
            // failing migration) or not at all? Said only once it was read.
            let place = Place::of(env);
            match place.after_failure(ctx, service, tag).await {
                AfterFailure::Stuck { reason, serving } => {
                    let serving = serving.unwrap_or_else(|| "nothing".into());
                    if let Some(r) = &reason {
                        rep.line(format!("  {}: {r}", env.name)).await;
                        problem.message = format!("{}: {r}", problem.message);
                    }
                    return Err(Failure::after(
                        problem,
                        &format!(
                            "the new ReplicaSet of {tag} is stuck in {}; {serving} still serves",
                            env.namespace
                        ),
                        format!("hearth rollback {name} --env {} (and look at the migration: hearth logs {name} --env {} -c migrate)", env.name, env.name),
                    ));
                }
                AfterFailure::Other(what) => {
                    return Err(Failure::after(
                        problem,
                        &place.not_updated(&what),
                        recovery.deploy_failed.replace("RUN", &run.id.to_string()),
                    ));
                }
                AfterFailure::Unknown(why) => {
                    return Err(Failure::after(
                        problem,
                        &format!(
                            "the image is built; {} (it could not be read: {})",
                            place.unknown(),
                            ctx.redact(&why)
                        ),
                        format!(
                            "see what {} runs (hearth status {name}), then {}",
                            env.name,
                            recovery.deploy_failed.replace("RUN", &run.id.to_string())
                        ),
                    ));
                }
            }
        }
        Err(CiFailure::NoRun) => unreachable!("runs were found"),
        Err(CiFailure::GitHub(p)) => {
            return Err(Failure::after(
                p,
                &format!("{}; CI state unknown", recovery.started),
                "watch it on GitHub: gh run watch",
            ));
        }
    }
    let place = Place::of(env);
    if let Err((p, left)) = place.follow(ctx, rep, service, tag, ROLLOUT_TIMEOUT).await {
        return Err(Failure::after(p, &left, place.rollback(name)));
    }
    smoke_and_done(rep, service, env, tag).await
}

/// The smoke checks after a deploy is seen, then the outcome.
async fn smoke_and_done(
    rep: &mut Reporter,
    service: &Service,
    env: &Environment,
    tag: &str,
) -> Result<Outcome, Failure> {
    let name = &service.name;
    if let Err(p) = super::smoke::run_all(rep, service, env, tag).await {
        let place = Place::of(env);
        return Err(Failure::after(
            p,
            &format!("{tag} serves {} but fails its smoke check", place.words()),
            place.rollback(name),
        ));
    }
    Ok(Outcome {
        ok: true,
        summary: format!("{name} {tag} deployed"),
        left: None,
        recovery: None,
        tag: Some(tag.to_string()),
        code: 0,
    })
}

impl super::runner::Operation for ShipPlan {
    fn kind(&self) -> super::OpKind {
        super::OpKind::Ship
    }
    fn service(&self) -> &Service {
        &self.service
    }
    fn env(&self) -> Option<&Environment> {
        self.env.as_ref()
    }
    fn to_tag(&self) -> Option<String> {
        Some(self.tag.clone())
    }
    fn mechanism(&self) -> String {
        match self.target {
            Target::Draft => "draft release (deploys nothing)".into(),
            _ => format!("release published as {}", self.kind_words()),
        }
    }
    fn steps(&self) -> Vec<(System, String)> {
        ShipPlan::steps(self)
    }
    fn resume(&self) -> String {
        let qa = if self.target == Target::Qa {
            " --qa"
        } else {
            ""
        };
        format!(
            "look at git status and the release of {} ({}), then hearth ship {}{qa} --no-version",
            self.tag, self.repo, self.service.name
        )
    }
    fn run<'a>(
        &'a self,
        ctx: &'a Context,
        rep: &'a mut Reporter,
        cancel: watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'a, Result<Outcome, Failure>> {
        Box::pin(run(ctx, self, rep, cancel))
    }
}
