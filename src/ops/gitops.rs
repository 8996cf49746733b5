//! `delivery: gitops` (seed 002): the code repository is tagged and CI
//! builds the image on the tag push; deploying is a commit of the tag into
//! the environment's manifest in a separate GitOps repository, pushed with
//! real `git`; Flux applies it. hearth then asks Flux to reconcile now (the
//! `reconcile.fluxcd.io/requestedAt` annotation on the source and the
//! Kustomization, as `flux reconcile kustomization NAME --with-source`
//! does), follows the Kustomization until `lastAppliedRevision` names the
//! pushed commit with `Ready=True`, then the rollout and the smoke checks.
//!
//! A promote commits, into prod's manifest, the tag qa's manifest holds
//! and qa runs; a rollback commits the tag the manifest held before (a
//! forward commit: Flux would revert a `kubectl rollout undo`). A push
//! rejected because the remote moved on is fetched, rebased and tried
//! once more; a rebase that conflicts stops with the checkout at the
//! remote's branch, clean.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use super::context::{Context, Reporter};
use super::follow::{self, RunQuery};
use super::ship::pre_ship_gate;
use super::{Bump, Failure, OpKind, Outcome, System};
use crate::model::flux::{short_revision, FluxState};
use crate::model::{manifest, Problem, ProblemKind};
use crate::registry::{Environment, Manifest, ReleaseKind, Service};

/// Flux's API groups and resources hearth reads and annotates.
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
pub const KUSTOMIZATIONS: &str = "kustomizations";
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
pub const GIT_REPOSITORIES: &str = "gitrepositories";
/// The annotation `flux reconcile` sets.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// How long Flux may take to apply a pushed commit.
const FLUX_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the rollout may take once Flux applied.
const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(600);

/// A ship's first part: the code repository's version tag and its build.
#[derive(Clone, Debug, PartialEq)]
pub struct Build {
    pub dir: PathBuf,
    pub sha: String,
    pub workflow: String,
    pub gate: Option<String>,
    pub skipped_tests: bool,
    /// The tag is on origin already (its image was built): only the manifest changes.
    pub tagged: bool,
}

/// What a GitOps operation will do.
#[derive(Clone, Debug, PartialEq)]
pub struct GitopsPlan {
    pub kind: OpKind,
    pub service: Service,
    /// The code repository (`owner/name`).
    pub repo: String,
    pub env: Environment,
    /// The tag the manifest will hold.
    pub tag: String,
    /// The tag it holds now.
    pub from: Option<String>,
    /// The GitOps checkout and the branch Flux follows.
    pub checkout: PathBuf,
    pub branch: String,
    pub manifest: Manifest,
    /// The Kustomization that applies the manifest (namespace, name).
    pub kustomization: (String, String),
    /// The commit message.
    pub message: String,
    pub build: Option<Build>,
    pub watch: bool,
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}

impl GitopsPlan {
    /// `commit v0.7.3 into apps/qa/api.yaml (Flux: flux-system/apps-qa)`.
    pub fn mechanism_words(&self) -> String {
        let tagged = match &self.build {
            Some(b) if !b.tagged => format!("tag {} (built by {}), ", self.tag, b.workflow),
            _ => String::new(),
        };
        format!(
            "{tagged}commit {} into {} (Flux: {}/{})",
            self.tag, self.manifest.file, self.kustomization.0, self.kustomization.1
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
            if !b.tagged {
                out.push((
                    System::Git,
                    format!(
                        "git tag -a {} {} -m \"{} {}\"",
                        self.tag,
                        short(&b.sha),
                        self.service.name,
                        self.tag
                    ),
                ));
                out.push((
                    System::Git,
                    format!("git push origin refs/tags/{}", self.tag),
                ));
                out.push((
                    System::Local,
                    format!("follow the run of {} that builds {}", b.workflow, self.tag),
                ));
            }
        }
        let dir = self.checkout.display();
        out.push((
            System::Git,
            format!(
                "git -C {dir} commit {} ({} → {}): \"{}\"",
                self.manifest.file,
                self.from.as_deref().unwrap_or("?"),
                self.tag,
                self.message
            ),
        ));
        out.push((
            System::Git,
            format!(
                "git -C {dir} push origin HEAD:refs/heads/{} (fetch, rebase and push again once if refused)",
                self.branch
            ),
        ));
        if self.watch {
            let (ns, name) = &self.kustomization;
            out.push((
                System::Kubernetes,
                format!("annotate kustomization/{name} -n {ns} and its source {REQUESTED_AT}=now (flux reconcile --with-source)"),
            ));
            out.push((
                System::Local,
                format!(
                    "follow kustomization/{name} until it applied the commit, then the rollout of deploy/{} in {}",
                    self.service.k8s_name, self.env.namespace
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
            "look at git -C {} log -3 origin/{} and flux get kustomizations -n {}, then hearth {} {}",
            self.checkout.display(),
            self.branch,
            self.kustomization.0,
            self.kind.word(),
            self.service.name
        )
    }
}

/// The environment a plain ship deploys (the first prerelease one), or prod.
fn env_of(service: &Service, prod: bool) -> Result<Environment, Failure> {
    let want = if prod {
        ReleaseKind::Latest
    } else {
        ReleaseKind::Prerelease
    };
    service
        .environments
        .iter()
        .find(|e| e.release == want)
        .cloned()
        .ok_or_else(|| {
            super::invalid(
                format!(
                    "{} has no {} environment",
                    service.name,
                    if prod {
                        "prod (latest)"
                    } else {
                        "qa (prerelease)"
                    }
                ),
                "name its environments in services.yaml",
            )
        })
}

fn manifest_of(
    service: &Service,
    env: &Environment,
) -> Result<(Manifest, (String, String)), Failure> {
    match (&env.manifest, &env.kustomization) {
        (Some(m), Some(k)) => Ok((m.clone(), k.clone())),
        _ => Err(super::invalid(
            format!(
                "{} names no manifest and Kustomization for {}",
                service.name, env.name
            ),
            format!(
                "add `environments: {{ {}: {{ manifest: {{ file: …, setter: … }}, kustomization: flux-system/… }} }}`",
                env.name
            ),
        )),
    }
}

/// Where hearth keeps clones of remote GitOps repositories.
fn clones_dir() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/state")))?;
    Some(state.join("hearth").join("gitops"))
}

/// The GitOps checkout of `service` and its branch: the local one the
/// registry names, or hearth's clone of the remote (made on first use).
pub async fn checkout(service: &Service) -> Result<(PathBuf, String), Failure> {
    let Some(g) = &service.gitops else {
        return Err(super::invalid(
            format!("{} names no GitOps repository", service.name),
            "add `gitops: { repo: ../gitops, branch: main }` to it in services.yaml",
        ));
    };
    let dir = match (&g.dir, &g.url) {
        (Some(d), _) => d.clone(),
        (None, Some(url)) => {
            let slug: String = shown_url(url)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let root = clones_dir().ok_or_else(|| {
                super::invalid(
                    "no state directory to clone the GitOps repository into",
                    "set XDG_STATE_HOME",
                )
            })?;
            let dir = root.join(slug.trim_matches('-'));
            if !dir.join(".git").exists() {
                std::fs::create_dir_all(&root).map_err(|e| {
                    super::invalid(format!("cannot create {}: {e}", root.display()), "")
                })?;
                let target = dir.display().to_string();
                super::git::run(&root, &["clone", "-q", "--", url, &target])
                    .await
                    .map_err(|p| {
                        Failure::nothing_changed(Problem::new(
                            p.kind,
                            format!(
                                "cloning the GitOps repository failed: {}",
                                without_userinfo(&p.message)
                            ),
                            format!("check that `git clone {}` works here", shown_url(url)),
                        ))
                    })?;
            }
            dir
        }
        (None, None) => {
            return Err(super::invalid(
                format!("{}'s gitops block names no repository", service.name),
                "add `repo:` to it",
            ))
        }
    };
    if super::git::run(&dir, &["rev-parse", "--is-inside-work-tree"])
        .await
        .is_err()
    {
        return Err(super::invalid(
            format!("{} is not a git checkout", dir.display()),
            "point `gitops.repo` at a clone of the GitOps repository",
        ));
    }
    Ok((dir, g.branch.clone()))
}

/// `hearth check`'s line for a GitOps service: whether its build runs on
/// a version tag, and per environment the tag its manifest holds in the
/// checkout (as it is, unfetched) or why it cannot be read.
pub fn check_manifests(service: &Service) -> String {
    let mut parts = Vec::new();
    if let Some(w) = &service.build_workflow {
        let text = std::fs::read_to_string(service.directory.join(".github/workflows").join(w));
        let push = text
            .ok()
            .and_then(|y| super::mechanism::Triggers::parse(&y).ok())
            .map(|t| t.push);
        parts.push(match push {
            None => format!("{w} not found"),
            Some(Some(f)) if f.runs_on_tag("v0.0.0") => format!("{w} builds a pushed version tag"),
            Some(_) => format!("{w} does not run on a pushed v* tag: ship is refused"),
        });
    }
    let dir = service.gitops.as_ref().and_then(|g| g.dir.clone());
    for env in &service.environments {
        let Some(m) = &env.manifest else { continue };
        let Some(dir) = &dir else {
            parts.push(format!(
                "{}: {} (in the clone hearth makes)",
                env.name, m.file
            ));
            continue;
        };
        parts.push(match std::fs::read_to_string(dir.join(&m.file)) {
            Err(_) => format!("{}: {} not found in {}", env.name, m.file, dir.display()),
            Ok(text) => match manifest::tag(&text, &m.at) {
                Ok(tag) => format!("{}: {} holds {tag}", env.name, m.file),
                Err(why) => format!("{}: {}: {why}", env.name, m.file),
            },
        });
    }
    parts.join("; ")
}

/// Fetch the branch and read the tag the manifest holds there.
async fn remote_tag(dir: &Path, branch: &str, m: &Manifest) -> Result<String, Failure> {
    fetch(dir, branch).await?;
    tag_at(dir, &format!("origin/{branch}"), m).await
}

pub(crate) async fn fetch(dir: &Path, branch: &str) -> Result<(), Failure> {
    super::git::run(dir, &["fetch", "-q", "origin", branch])
        .await
        .map(|_| ())
        .map_err(|p| {
            Failure::nothing_changed(Problem::new(
                p.kind,
                format!(
                    "fetching the GitOps repository failed: {}",
                    without_userinfo(&p.message)
                ),
                format!("git -C {} fetch origin {branch}", dir.display()),
            ))
        })
}

/// The tag `m` holds at `rev`.
/// A URL as it may be shown: without the user and password a URL can
/// carry (`https://user:token@host/…` → `https://host/…`).
pub fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host_part, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = host_part.rsplit_once('@').map_or(host_part, |(_, h)| h);
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

/// `text` with every `scheme://user:password@` made `scheme://`: git's
/// messages name the remote's URL, which may carry a token.
pub fn without_userinfo(text: &str) -> String {
    static USERINFO: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    USERINFO
        .get_or_init(|| regex::Regex::new(r"://[^/@\s'\x22]+@").expect("a valid pattern"))
        .replace_all(text, "://")
        .into_owned()
}

/// One operation at a time in a GitOps checkout (services may share one):
/// the edit, commit, rebase and push of one must not interleave with
/// another's.
fn checkout_lock(dir: &Path) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut all = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    all.entry(dir.to_path_buf()).or_default().clone()
}

/// The tag `m` holds at `rev` (made one inert line: the file is the
/// repository's, not hearth's).
pub(crate) async fn tag_at(dir: &Path, rev: &str, m: &Manifest) -> Result<String, Failure> {
    let text = super::git::run(dir, &["show", &format!("{rev}:{}", m.file)])
        .await
        .map_err(|_| {
            super::invalid(
                format!("{} is not in the GitOps repository at {rev}", m.file),
                "name the right file in services.yaml (`manifest: { file: … }`)",
            )
        })?;
    manifest::tag(&text, &m.at).map_err(|why| {
        super::invalid(
            format!("{}: {why}", m.file),
            "fix the manifest or its `manifest:` keys",
        )
    })
}

/// The checkout must be on the branch, clean and not ahead of origin:
/// hearth commits one line and pushes only that.
async fn ready_checkout(dir: &Path, branch: &str) -> Result<(), Failure> {
    let d = dir.display();
    let on = super::git::run(dir, &["symbolic-ref", "--short", "-q", "HEAD"])
        .await
        .unwrap_or_default();
    if on.trim() != branch {
        return Err(super::invalid(
            format!("the GitOps checkout {d} is not on {branch}"),
            format!("git -C {d} switch {branch}"),
        ));
    }
    let dirty = super::git::run(dir, &["status", "--porcelain"])
        .await
        .unwrap_or_default();
    if !dirty.trim().is_empty() {
        return Err(super::invalid(
            format!("the GitOps checkout {d} has uncommitted changes"),
            format!("commit or stash them: git -C {d} status"),
        ));
    }
    let ahead = super::git::run(
        dir,
        &["rev-list", "--count", &format!("origin/{branch}..HEAD")],
    )
    .await
    .unwrap_or_default();
    if ahead.trim() != "0" && !ahead.trim().is_empty() {
        return Err(super::invalid(
            format!(
                "the GitOps checkout {d} has {} commit(s) origin/{branch} does not",
                ahead.trim()
            ),
            format!("push or drop them first: git -C {d} log origin/{branch}..HEAD"),
        ));
    }
    Ok(())
}

/// The Kustomization's state; refused when it is suspended (a commit
/// would sit unapplied), with the command that resumes it.
async fn kustomization_ready(
    ctx: &Context,
    env: &Environment,
    ks: &(String, String),
) -> Result<FluxState, Failure> {
    let kube = ctx.kube(env).await?;
    let obj = kube
        .flux_object(KUSTOMIZE_GROUP, KUSTOMIZATIONS, &ks.0, &ks.1)
        .await
        .map_err(|p| {
            Failure::nothing_changed(Problem::new(
                p.kind,
                format!(
                    "the Kustomization {}/{} could not be read: {}",
                    ks.0, ks.1, p.message
                ),
                format!(
                    "check `kustomization:` of {} in services.yaml (kubectl get kustomizations -A)",
                    env.name
                ),
            ))
        })?;
    let state = FluxState::from_object(&obj);
    if state.suspended {
        return Err(super::invalid(
            format!(
                "the Kustomization {}/{} is suspended: a commit would not be applied",
                ks.0, ks.1
            ),
            format!(
                "resume it first: flux resume kustomization {} -n {}",
                ks.1, ks.0
            ),
        ));
    }
    Ok(state)
}

#[allow(clippy::too_many_arguments)]
async fn commit_plan(
    ctx: &Context,
    kind: OpKind,
    service: &Service,
    env: Environment,
    tag: String,
    message: String,
    build: Option<Build>,
    watch: bool,
) -> Result<GitopsPlan, Failure> {
    let repo = ctx.repo(service)?;
    let (m, ks) = manifest_of(service, &env)?;
    let (checkout, branch) = checkout(service).await?;
    let from = remote_tag(&checkout, &branch, &m).await?;
    if from == tag {
        return Err(Failure::already(format!(
            "{}'s manifest already holds {tag} ({})",
            env.name, m.file
        )));
    }
    ready_checkout(&checkout, &branch).await?;
    kustomization_ready(ctx, &env, &ks).await?;
    Ok(GitopsPlan {
        kind,
        service: service.clone(),
        repo,
        env,
        tag,
        from: Some(from),
        checkout,
        branch,
        manifest: m,
        kustomization: ks,
        message,
        build,
        watch,
    })
}

/// Plan a ship: the gate, the next version tag at the head of the code
/// repository (built by the build workflow on its push), then its commit
/// into the lower environment's manifest. `prod`: a promote.
pub async fn plan_ship(
    ctx: &Context,
    service: &Service,
    prod: bool,
    skip_tests: bool,
    watch: bool,
) -> Result<GitopsPlan, Failure> {
    if prod {
        let mut plan = plan_promote(ctx, service, None, watch).await?;
        plan.kind = OpKind::Ship;
        return Ok(plan);
    }
    let env = env_of(service, false)?;
    let workflow = service.build_workflow.clone().ok_or_else(|| {
        super::invalid(
            format!("{} names no build workflow", service.name),
            "add `build: { workflow: build.yml }` (the workflow a pushed version tag starts)",
        )
    })?;
    let dir = service.directory.clone();
    let tree = super::git::read_tree(&dir).await?;
    super::ship::ready_to_ship(&tree, &dir)?;
    let sha = tree.head.clone();
    // A version tag at this commit on origin: its image exists already.
    let existing = tree
        .remote_tags
        .iter()
        .find(|(t, c)| {
            *c == sha && super::version::latest_stable(std::slice::from_ref(t)).is_some()
        })
        .map(|(t, _)| t.clone());
    let tagged = existing.is_some();
    let tag = match existing {
        Some(t) => t,
        None => super::version::next(&tree.all_tags(), Bump::Patch, false),
    };
    let (gate, skipped_tests) = super::ship::gate_of(service, skip_tests);
    let message = format!(
        "chore: deploy {} {tag} to {} (hearth)",
        service.name, env.name
    );
    commit_plan(
        ctx,
        OpKind::Ship,
        service,
        env,
        tag,
        message,
        Some(Build {
            dir,
            sha,
            workflow,
            gate,
            skipped_tests,
            tagged,
        }),
        watch,
    )
    .await
}

/// Plan a promote: the tag the lower environment's manifest holds (and it
/// runs), or `version`, committed into prod's manifest.
pub async fn plan_promote(
    ctx: &Context,
    service: &Service,
    version: Option<&str>,
    watch: bool,
) -> Result<GitopsPlan, Failure> {
    let lower = env_of(service, false)?;
    let env = env_of(service, true)?;
    let (lower_m, _) = manifest_of(service, &lower)?;
    let (dir, branch) = checkout(service).await?;
    let tag = match version {
        Some(v) => {
            if !manifest::valid_tag(v) {
                return Err(super::invalid(
                    format!("`{v}` is not an image tag"),
                    "name one like v1.2.3",
                ));
            }
            v.to_string()
        }
        None => {
            let held = remote_tag(&dir, &branch, &lower_m).await?;
            let runs = super::dispatch::running(ctx, service, &lower).await?;
            if runs != held {
                return Err(super::invalid(
                    format!(
                        "{}'s manifest holds {held} but {} runs {runs}: Flux has not applied it",
                        lower.name, lower.name
                    ),
                    format!(
                        "wait for it, or look: flux get kustomizations -A (then hearth promote {})",
                        service.name
                    ),
                ));
            }
            held
        }
    };
    let message = format!(
        "chore: promote {} {tag} to {} (hearth)",
        service.name, env.name
    );
    commit_plan(
        ctx,
        OpKind::Promote,
        service,
        env,
        tag,
        message,
        None,
        watch,
    )
    .await
}

/// Plan a rollback: a forward commit of the tag the environment's
/// manifest held before its current one.
pub async fn plan_rollback(
    ctx: &Context,
    service: &Service,
    env_name: &str,
    watch: bool,
) -> Result<GitopsPlan, Failure> {
    let env = super::environment(service, env_name)?;
    let (m, _) = manifest_of(service, &env)?;
    let (dir, branch) = checkout(service).await?;
    let current = remote_tag(&dir, &branch, &m).await?;
    let log = super::git::run(
        &dir,
        &[
            "log",
            "--format=%H",
            "-n",
            "50",
            &format!("origin/{branch}"),
            "--",
            &m.file,
        ],
    )
    .await
    .unwrap_or_default();
    let mut previous = None;
    for commit in log.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Ok(t) = tag_at(&dir, commit, &m).await {
            if t != current {
                previous = Some((t, commit.to_string()));
                break;
            }
        }
    }
    let Some((tag, at)) = previous else {
        return Err(super::invalid(
            format!(
                "{} never held another tag than {current} (in its last 50 commits)",
                m.file
            ),
            format!(
                "commit the tag to go back to by hand, or roll the Deployment back (Flux reverts it): hearth rollback {} --env {}",
                service.name, env.name
            ),
        ));
    };
    let message = format!(
        "rollback: {} to {tag} in {} — {current} is rolled back by {} with hearth (it held {tag} at {})",
        service.name,
        env.name,
        ctx.user,
        short(&at)
    );
    commit_plan(
        ctx,
        OpKind::Rollback,
        service,
        env,
        tag,
        message,
        None,
        watch,
    )
    .await
}

/// Run a planned GitOps operation.
pub async fn run(
    ctx: &Context,
    plan: &GitopsPlan,
    rep: &mut Reporter,
    cancel: watch::Receiver<bool>,
) -> Result<Outcome, Failure> {
    let name = &plan.service.name;
    if let Some(b) = &plan.build {
        build(ctx, plan, b, rep, cancel).await?;
    }
    let commit = commit_and_push(plan, rep).await?;
    let pushed = format!(
        "the manifest commit {} ({} → {}) is pushed to {}",
        short(&commit),
        plan.from.as_deref().unwrap_or("?"),
        plan.tag,
        plan.branch
    );
    if !plan.watch {
        return Ok(Outcome {
            ok: true,
            summary: format!(
                "{name} {} → {}: {pushed}; Flux applies it within its interval; not watched (--no-watch)",
                plan.tag, plan.env.name
            ),
            left: None,
            recovery: None,
            tag: Some(plan.tag.clone()),
            code: 0,
        });
    }
    reconcile(ctx, plan, rep).await.map_err(|p| {
        Failure::after(
            p,
            &pushed,
            "Flux applies it at its next interval; watch it: flux get kustomizations -A --watch",
        )
    })?;
    let applied = follow_flux(ctx, plan, rep, &commit).await.map_err(|p| {
        Failure::after(
            p,
            &format!("{pushed}; Flux did not apply it"),
            format!(
                "fix what Flux says (git -C {} log -3), then reconcile: flux reconcile kustomization {} -n {} --with-source; or go back: hearth rollback {name} --env {} --clean",
                plan.checkout.display(),
                plan.kustomization.1,
                plan.kustomization.0,
                plan.env.name
            ),
        )
    })?;
    let rollout = format!("rollout {}", plan.env.name);
    rep.start(&rollout).await;
    if let Err(p) = follow::follow_rollout(
        ctx,
        rep,
        &plan.service,
        &plan.env,
        &plan.tag,
        ROLLOUT_TIMEOUT,
    )
    .await
    {
        rep.failed(&rollout, Some(p.message.clone())).await;
        return Err(Failure::after(
            p,
            &format!("{pushed}; Flux applied it; the rollout did not complete"),
            format!(
                "look at the pods (hearth logs {name} --env {}), then go back with a forward commit: hearth rollback {name} --env {} --clean",
                plan.env.name, plan.env.name
            ),
        ));
    }
    rep.done(
        &rollout,
        Some(format!("{} serves in {}", plan.tag, plan.env.namespace)),
    )
    .await;
    if let Err(p) = super::smoke::run_all(rep, &plan.service, &plan.env, &plan.tag).await {
        return Err(Failure::after(
            p,
            &format!("{} serves in {} but fails its smoke check", plan.tag, plan.env.namespace),
            format!(
                "look at its logs (hearth logs {name} --env {}), or go back: hearth rollback {name} --env {} --clean",
                plan.env.name, plan.env.name
            ),
        ));
    }
    Ok(Outcome {
        ok: true,
        summary: format!(
            "{name} {} serves in {}: manifest commit {} applied by Flux ({applied})",
            plan.tag,
            plan.env.name,
            short(&commit)
        ),
        left: None,
        recovery: None,
        tag: Some(plan.tag.clone()),
        code: 0,
    })
}

/// The gate, the version tag pushed, its build run followed to success.
async fn build(
    ctx: &Context,
    plan: &GitopsPlan,
    b: &Build,
    rep: &mut Reporter,
    cancel: watch::Receiver<bool>,
) -> Result<(), Failure> {
    let name = &plan.service.name;
    let again = format!("hearth ship {name}");
    pre_ship_gate(
        rep,
        b.gate.as_deref(),
        b.skipped_tests,
        &b.dir,
        cancel,
        &again,
        "nothing: nothing tagged, nothing committed",
    )
    .await?;
    if b.tagged {
        rep.skipped("tag", Some(format!("{} is on origin already", plan.tag)))
            .await;
        return Ok(());
    }
    let version = &plan.tag;
    let query = RunQuery {
        repo: plan.repo.clone(),
        workflow: b.workflow.clone(),
        sha: b.sha.clone(),
        event: "push".into(),
        tag: Some(version.clone()),
    };
    let before = query
        .existing(ctx)
        .await
        .map_err(Failure::nothing_changed)?;
    const TAG: &str = "tag";
    rep.start(TAG).await;
    let message = format!("{name} {version}");
    if let Err(p) = rep
        .git(&b.dir, &["tag", "-a", version, &b.sha, "-m", &message])
        .await
    {
        rep.failed(TAG, Some(p.message.clone())).await;
        return Err(Failure::after(p, "nothing tagged", "look at git tag -l"));
    }
    let refspec = format!("refs/tags/{version}");
    if let Err(p) = rep.git(&b.dir, &["push", "origin", &refspec]).await {
        rep.failed(TAG, Some(p.message.clone())).await;
        return Err(Failure::after(
            p,
            &format!("{version} is tagged here, not pushed"),
            format!(
                "push it (git -C {} push origin {refspec}), or delete it: git -C {} tag -d {version}",
                b.dir.display(),
                b.dir.display()
            ),
        ));
    }
    rep.done(TAG, Some(format!("{version} at {}", short(&b.sha))))
        .await;
    const FIND: &str = "find the build";
    rep.start(FIND).await;
    let pushed = format!("{version} is pushed; the manifest is unchanged");
    let runs = follow::find_runs(ctx, &query, &before, follow::RUN_START_TIMEOUT)
        .await
        .map_err(|p| Failure::after(p, &pushed, "watch it on GitHub: gh run watch"))?;
    let Some(first) = runs.first() else {
        let p = Problem::new(
            ProblemKind::Timeout,
            format!(
                "no run of {} started for {version} within {} s",
                b.workflow,
                follow::RUN_START_TIMEOUT.as_secs()
            ),
            format!("look at the `on: push: tags` filter of {}", b.workflow),
        );
        rep.failed(FIND, Some(p.message.clone())).await;
        return Err(Failure::after(
            p,
            &pushed,
            format!("gh run list -R {} -w {}", plan.repo, b.workflow),
        ));
    };
    rep.done(
        FIND,
        Some(format!("run #{} of {}", first.run_number, b.workflow)),
    )
    .await;
    match follow::follow_runs(ctx, rep, &plan.repo, runs).await {
        Ok(_) | Err(follow::CiFailure::NoRun) => Ok(()),
        Err(follow::CiFailure::Failed {
            run,
            step,
            conclusion,
            ..
        }) => Err(Failure::after(
            Problem::new(
                ProblemKind::Server,
                format!(
                    "build run #{} {conclusion} at {:?}",
                    run.run_number,
                    step.unwrap_or_else(|| "a step".into())
                ),
                "",
            ),
            &format!("{version} is pushed; no image was built; the manifest is unchanged"),
            format!(
                "fix the build and re-run it (gh run rerun -R {}), then {again}",
                plan.repo
            ),
        )),
        Err(follow::CiFailure::GitHub(p)) => Err(Failure::after(
            p,
            &format!(
                "{version} is pushed; its build's state is unknown; the manifest is unchanged"
            ),
            "watch it on GitHub: gh run watch",
        )),
    }
}

/// Commit the tag into the manifest and push it; a refused push is
/// fetched, rebased and pushed once more. Returns the pushed commit.
async fn commit_and_push(plan: &GitopsPlan, rep: &mut Reporter) -> Result<String, Failure> {
    let dir = &plan.checkout;
    let d = dir.display().to_string();
    let branch = &plan.branch;
    let file = &plan.manifest.file;
    const COMMIT: &str = "commit manifest";
    rep.start(COMMIT).await;
    let lock = checkout_lock(dir);
    let _one_at_a_time = lock.lock().await;
    // Up to date with origin before the edit (a fast-forward of the checkout).
    if let Err(f) = fetch(dir, branch).await {
        rep.failed(COMMIT, Some(f.problem.message.clone())).await;
        return Err(f);
    }
    if let Err(p) = super::git::run(
        dir,
        &["merge", "--ff-only", "-q", &format!("origin/{branch}")],
    )
    .await
    {
        rep.failed(COMMIT, Some(p.message.clone())).await;
        return Err(Failure::nothing_changed(Problem::new(
            p.kind,
            format!(
                "the GitOps checkout cannot fast-forward to origin/{branch}: {}",
                p.message
            ),
            format!("git -C {d} status"),
        )));
    }
    let path = dir.join(file);
    let edited = std::fs::read_to_string(&path)
        .map_err(|e| format!("{file}: {e}"))
        .and_then(|text| {
            manifest::with_tag(&text, &plan.manifest.at, &plan.tag)
                .map_err(|w| format!("{file}: {w}"))
        });
    let text = match edited {
        Ok(t) => t,
        Err(why) => {
            rep.failed(COMMIT, Some(why.clone())).await;
            return Err(super::invalid(
                why,
                "fix the manifest or its `manifest:` keys in services.yaml",
            ));
        }
    };
    if let Err(e) = std::fs::write(&path, text) {
        rep.failed(COMMIT, Some(e.to_string())).await;
        return Err(super::invalid(
            format!("cannot write {}: {e}", path.display()),
            "",
        ));
    }
    let committed = async {
        rep.git(dir, &["add", "--", file]).await?;
        rep.git(dir, &["commit", "-q", "-m", &plan.message, "--", file])
            .await
    }
    .await;
    if let Err(p) = committed {
        // Leave the checkout as it was.
        let _ = super::git::run(dir, &["checkout", "-q", "--", file]).await;
        let _ = super::git::run(dir, &["reset", "-q", "--", file]).await;
        rep.failed(COMMIT, Some(p.message.clone())).await;
        return Err(Failure::nothing_changed(p));
    }
    let mut commit = head(dir).await;
    rep.done(COMMIT, Some(format!("{} {}", short(&commit), plan.message)))
        .await;
    const PUSH: &str = "push manifest";
    rep.start(PUSH).await;
    let refspec = format!("HEAD:refs/heads/{branch}");
    if rep.git(dir, &["push", "origin", &refspec]).await.is_err() {
        rep.line("  the push was refused; fetching, rebasing and pushing once more")
            .await;
        let _ = fetch(dir, branch).await;
        if rep
            .git(dir, &["rebase", "-q", &format!("origin/{branch}")])
            .await
            .is_err()
        {
            let _ = super::git::run(dir, &["rebase", "--abort"]).await;
            let _ =
                super::git::run(dir, &["reset", "-q", "--hard", &format!("origin/{branch}")]).await;
            let theirs = super::git::run(
                dir,
                &[
                    "log",
                    "-1",
                    "--format=%h %an: %s",
                    &format!("origin/{branch}"),
                ],
            )
            .await
            .map(|s| crate::model::text::line(s.trim()).into_owned())
            .unwrap_or_default();
            let why = format!("someone else's commit changed the same lines of {file} ({theirs})");
            rep.failed(PUSH, Some(why.clone())).await;
            return Err(Failure {
                problem: Problem::new(ProblemKind::Conflict, why, ""),
                left: Some(format!(
                    "nothing pushed; the rebase was undone and the GitOps checkout is at origin/{branch}, clean"
                )),
                recovery: Some(format!(
                    "look at what they deployed (git -C {d} log -3 -p origin/{branch} -- {file}), then {} again",
                    plan.kind.word()
                )),
                code: 1,
            });
        }
        commit = head(dir).await;
        if let Err(p) = rep.git(dir, &["push", "origin", &refspec]).await {
            rep.failed(PUSH, Some(p.message.clone())).await;
            return Err(Failure::after(
                p,
                &format!("the manifest commit {} is made here, not pushed", short(&commit)),
                format!("push it (git -C {d} push origin {branch}), or drop it: git -C {d} reset --hard origin/{branch}"),
            ));
        }
        rep.done(
            PUSH,
            Some(format!(
                "{branch} {} (rebased on a newer origin/{branch})",
                short(&commit)
            )),
        )
        .await;
    } else {
        rep.done(PUSH, Some(format!("{branch} {}", short(&commit))))
            .await;
    }
    Ok(commit)
}

async fn head(dir: &Path) -> String {
    super::git::run(dir, &["rev-parse", "HEAD"])
        .await
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Ask Flux to reconcile now: `requestedAt` on the Kustomization's source
/// and on the Kustomization, as `flux reconcile … --with-source` does.
async fn reconcile(ctx: &Context, plan: &GitopsPlan, rep: &mut Reporter) -> Result<(), Problem> {
    const STEP: &str = "reconcile";
    rep.start(STEP).await;
    let kube = ctx.kube(&plan.env).await.map_err(|f| f.problem)?;
    let (ns, name) = &plan.kustomization;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let annotations = json!({ REQUESTED_AT: now });
    let ks = kube
        .flux_object(KUSTOMIZE_GROUP, KUSTOMIZATIONS, ns, name)
        .await;
    let source = ks.as_ref().ok().and_then(|k| {
        let r = &k["spec"]["sourceRef"];
        (r["kind"] == "GitRepository").then(|| {
            (
                r["namespace"].as_str().unwrap_or(ns).to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        })
    });
    let mut targets = Vec::new();
    if let Some((sns, sname)) = source.filter(|(_, n)| !n.is_empty()) {
        targets.push((SOURCE_GROUP, GIT_REPOSITORIES, sns, sname));
    }
    targets.push((KUSTOMIZE_GROUP, KUSTOMIZATIONS, ns.clone(), name.clone()));
    for (group, plural, tns, tname) in targets {
        let shown =
            format!("PATCH {plural}.{group}/{tname} -n {tns} (annotate {REQUESTED_AT}={now})");
        match kube
            .annotate_flux(&ctx.access, group, plural, &tns, &tname, &annotations)
            .await
        {
            Ok(_) => rep.mutation(System::Kubernetes, &shown, "ok", true).await,
            Err(p) => {
                rep.mutation(System::Kubernetes, &shown, &p.message, false)
                    .await;
                rep.failed(STEP, Some(p.message.clone())).await;
                return Err(p);
            }
        }
    }
    rep.done(
        STEP,
        Some(format!("asked Flux to reconcile {ns}/{name} now")),
    )
    .await;
    Ok(())
}

/// Follow the Kustomization until it applied `commit` with Ready=True;
/// stop at Stalled, a failure at the commit, a suspension or the timeout.
/// Returns the applied revision, short.
async fn follow_flux(
    ctx: &Context,
    plan: &GitopsPlan,
    rep: &mut Reporter,
    commit: &str,
) -> Result<String, Problem> {
    const STEP: &str = "flux apply";
    rep.start(STEP).await;
    let kube = ctx.kube(&plan.env).await.map_err(|f| f.problem)?;
    let (ns, name) = &plan.kustomization;
    let deadline = Instant::now() + FLUX_TIMEOUT;
    let mut last = String::new();
    loop {
        match kube
            .flux_object(KUSTOMIZE_GROUP, KUSTOMIZATIONS, ns, name)
            .await
        {
            Ok(obj) => {
                let s = FluxState::from_object(&obj);
                let line = format!("kustomization/{name}: {}", s.words());
                if line != last {
                    rep.line(format!("  {line}")).await;
                    last = line;
                }
                if s.applied(commit) && s.ready == Some(true) {
                    let rev = s
                        .last_applied
                        .as_deref()
                        .map(short_revision)
                        .unwrap_or_default();
                    rep.done(STEP, Some(format!("Flux applied {rev}"))).await;
                    return Ok(rev);
                }
                let why = if s.suspended {
                    Some(format!(
                        "the Kustomization {ns}/{name} was suspended before it applied {}",
                        short(commit)
                    ))
                } else if s.stalled || s.failed_at(commit) {
                    Some(format!(
                        "Flux could not apply {}: {}",
                        short(commit),
                        s.message
                    ))
                } else {
                    None
                };
                if let Some(why) = why {
                    rep.failed(STEP, Some(why.clone())).await;
                    return Err(Problem::new(ProblemKind::Server, why, ""));
                }
            }
            Err(p) => {
                if last != p.message {
                    rep.line(format!("  {}", p.message)).await;
                    last = p.message.clone();
                }
            }
        }
        if Instant::now() >= deadline {
            let why = format!(
                "Flux did not apply {} within {} s",
                short(commit),
                FLUX_TIMEOUT.as_secs()
            );
            rep.failed(STEP, Some(why.clone())).await;
            return Err(Problem::new(ProblemKind::Timeout, why, ""));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl super::runner::Operation for GitopsPlan {
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
        GitopsPlan::steps(self)
    }
    fn tag_before(&self) -> Option<String> {
        self.from.clone()
    }
    fn title(&self) -> String {
        let title = super::runner::default_title(self);
        match self.kind {
            OpKind::Rollback => format!("{title} (a forward commit)"),
            _ => title,
        }
    }
    fn resume(&self) -> String {
        GitopsPlan::resume(self)
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

    #[test]
    fn urls_are_shown_without_their_credentials() {
        assert_eq!(
            shown_url("https://bot:ghp_secret@github.com/acme/gitops.git"),
            "https://github.com/acme/gitops.git"
        );
        assert_eq!(
            shown_url("https://github.com/acme/gitops"),
            "https://github.com/acme/gitops"
        );
        assert_eq!(
            shown_url("file:///srv/gitops.git"),
            "file:///srv/gitops.git"
        );
        assert_eq!(shown_url("ssh://git@host"), "ssh://host");
        assert_eq!(
            shown_url("git@github.com:acme/gitops.git"),
            "git@github.com:acme/gitops.git"
        );
    }
}
