//! The sandbox GitHub REST API (axum, on its own loopback listener): users,
//! repositories, releases and Actions workflow runs and jobs, in the shapes of
//! GitHub's published OpenAPI description, with token auth, ETags / 304s,
//! rate-limit headers and faults. Requests are served on the sandbox's tokio
//! tasks; release changes start simulated CI runs (`ci`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};

mod handlers;
mod json;
mod middleware;
mod ops;
pub mod secrets;

use handlers::*;
use middleware::github_layer;

use super::ci::{self, JobRec, ReleaseFlags, RunRec};
use super::repos::{self, DemoRepo, History};
use super::{DeployTarget, Faults, Journal};

const DOCS: &str = "https://docs.github.com/rest";
/// The user the sandbox token belongs to.
const USER_LOGIN: &str = "hearth-dev";
const USER_ID: u64 = 1;
const ORG_ID: u64 = 2;
/// Requests per hour, as for an authenticated GitHub user.
pub const RATE_LIMIT: u64 = 5000;

/// Immutable facts about a demo repository.
#[derive(Clone, Debug)]
pub struct RepoInfo {
    pub id: u64,
    pub owner: String,
    pub name: String,
    pub service: String,
    pub image: String,
    pub k8s_name: String,
    pub origin: PathBuf,
    /// The first workflow's file name (`release.yml`; a dispatch
    /// repository's build workflow) and its id.
    pub workflow_file: String,
    pub workflow_id: u64,
    /// Every workflow of the repository (file name, id), the first one first.
    pub workflows: Vec<(String, u64)>,
    pub created_at: DateTime<Utc>,
}

impl RepoInfo {
    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
    fn workflow_path(&self) -> String {
        format!(".github/workflows/{}", self.workflow_file)
    }
    /// The workflow a path segment names (file name or id): (file, id).
    pub fn workflow(&self, name_or_id: &str) -> Option<(String, u64)> {
        self.workflows
            .iter()
            .find(|(f, id)| f == name_or_id || id.to_string() == name_or_id)
            .cloned()
    }
    /// The file name of workflow `id` (the first workflow's when unknown).
    pub fn workflow_file_of(&self, id: u64) -> &str {
        self.workflows
            .iter()
            .find(|(_, i)| *i == id)
            .map_or(self.workflow_file.as_str(), |(f, _)| f.as_str())
    }
}

/// The GitHub Environments of every sandbox repository that require a
/// reviewer, with their ids.
pub const GATED_ENVIRONMENTS: [(&str, u64); 1] = [("production", 161_088_068)];

/// The gate a run of a workflow whose job deploys to `environment` waits
/// on (in `state`): `None` unless that environment requires a reviewer.
pub(crate) fn gate_for(environment: Option<&str>, state: &str) -> Option<ci::Gate> {
    let e = environment?;
    GATED_ENVIRONMENTS
        .iter()
        .find(|(name, _)| *name == e)
        .map(|(name, id)| ci::Gate {
            environment: name.to_string(),
            environment_id: *id,
            state: state.into(),
            comment: None,
            reviewer: None,
            since: None,
        })
}

/// A release as the sandbox stores it.
#[derive(Clone, Debug)]
pub struct ReleaseRec {
    pub id: u64,
    pub tag_name: String,
    pub target_commitish: String,
    pub name: Option<String>,
    pub body: Option<String>,
    pub draft: bool,
    pub prerelease: bool,
    /// Set by `make_latest: "false"`: never chosen as latest by default.
    pub not_latest: bool,
    pub created_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl ReleaseRec {
    fn flags(&self) -> ReleaseFlags {
        ReleaseFlags {
            draft: self.draft,
            prerelease: self.prerelease,
        }
    }
}

/// One repository's releases and runs.
#[derive(Clone, Debug)]
pub struct RepoRec {
    pub info: RepoInfo,
    pub releases: Vec<ReleaseRec>,
    pub runs: Vec<RunRec>,
    /// The release explicitly made latest (`make_latest: "true"`).
    pub latest_pin: Option<u64>,
}

impl RepoRec {
    /// The id GitHub would report as `releases/latest`: the pinned one while
    /// it is a published non-prerelease, else the newest such release.
    pub fn latest_id(&self) -> Option<u64> {
        let eligible = |r: &&ReleaseRec| !r.draft && !r.prerelease;
        if let Some(pin) = self.latest_pin {
            if self.releases.iter().filter(eligible).any(|r| r.id == pin) {
                return Some(pin);
            }
        }
        self.releases
            .iter()
            .filter(eligible)
            .filter(|r| !r.not_latest)
            .max_by_key(|r| (r.published_at, r.id))
            .map(|r| r.id)
    }
}

#[derive(Debug, Default)]
struct Store {
    /// Keyed by lower-case `owner/name` (GitHub names are case-insensitive).
    repos: BTreeMap<String, RepoRec>,
    next_id: u64,
}

impl Store {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Debug)]
struct RateWindow {
    used: u64,
    reset: i64,
}

/// The GitHub API server state, shared by its handlers and the CI tasks.
pub struct GithubApi {
    token: String,
    /// A token with read-only permissions: any write is 403.
    readonly_token: String,
    base: String,
    speed: f64,
    store: Mutex<Store>,
    rate: Mutex<RateWindow>,
    journal: Arc<Journal>,
    faults: Arc<Faults>,
    deploy: Arc<dyn DeployTarget>,
    hosts: Arc<crate::hosts::Hosts>,
    git_ready: tokio::sync::watch::Receiver<bool>,
    /// Repository Actions secrets and the key they are sealed to.
    pub secrets: secrets::SecretStore,
}

/// What the GitHub API shares with the rest of the sandbox.
pub struct GithubDeps {
    pub journal: Arc<Journal>,
    pub faults: Arc<Faults>,
    /// Where CI deploy steps set images.
    pub deploy: Arc<dyn DeployTarget>,
    /// Where deploy steps of workflows that name a `HOST` deploy.
    pub hosts: Arc<crate::hosts::Hosts>,
    /// Becomes `true` once every service's git repositories exist; git
    /// reads (tag checks, workflow files) wait for it.
    pub git_ready: tokio::sync::watch::Receiver<bool>,
    /// A second token whose every write is refused (403), as a fine-grained
    /// token with read-only permissions is.
    pub readonly_token: String,
}

impl std::fmt::Debug for GithubApi {
    // Hand-written so that the token never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApi")
            .field("base", &self.base)
            .finish()
    }
}

impl GithubApi {
    /// A GitHub API for `repos`, seeded with a release per history tag (the
    /// prod tag latest, the rc a prerelease) and a successful run for each.
    /// `base` is the API's own URL (used in the `url` fields).
    pub fn new(
        base: String,
        token: String,
        speed: f64,
        repos: &[DemoRepo],
        histories: &[(repos::WorkflowFlavor, History)],
        deps: GithubDeps,
    ) -> Arc<GithubApi> {
        let mut store = Store {
            repos: BTreeMap::new(),
            next_id: 1000,
        };
        for r in repos {
            let Some((_, history)) = histories.iter().find(|(f, _)| *f == r.flavor) else {
                continue;
            };
            let (owner, name) = r.service.repo.split_once('/').unwrap_or((repos::OWNER, ""));
            let created = history
                .tags
                .first()
                .and_then(|t| DateTime::from_timestamp(t.3, 0))
                .unwrap_or_else(Utc::now);
            let id = store.id();
            let workflows: Vec<(String, u64)> = r
                .flavor
                .workflow_files()
                .iter()
                .map(|f| (f.to_string(), store.id()))
                .collect();
            let info = RepoInfo {
                id,
                owner: owner.into(),
                name: name.into(),
                service: r.service.name.clone(),
                image: r.service.image.clone(),
                k8s_name: r.k8s_name.clone(),
                origin: r.origin.clone(),
                workflow_file: workflows[0].0.clone(),
                workflow_id: workflows[0].1,
                workflows,
                created_at: created,
            };
            let mut rec = RepoRec {
                info,
                releases: Vec::new(),
                runs: Vec::new(),
                latest_pin: None,
            };
            if r.flavor == repos::WorkflowFlavor::Push {
                // No releases: dev's runs for the last two pushes to main,
                // prod's for the last two version tags.
                let t = |i: usize| (&history.tags[i], r.tags[i].clone());
                let head = &history.head;
                let last = &history.tags[3];
                let seeded = [
                    (0, "dev", &last.1, &last.2, last.3, "main".to_string()),
                    (
                        0,
                        "dev",
                        &head.0,
                        &head.1,
                        last.3 + 5 * 86_400,
                        "main".to_string(),
                    ),
                    (1, "default", &t(2).0 .1, &t(2).0 .2, t(2).0 .3, t(2).1),
                    (1, "default", &t(3).0 .1, &t(3).0 .2, t(3).0 .3, t(3).1),
                ];
                for (n, (wf, ns, sha, msg, when, branch)) in seeded.into_iter().enumerate() {
                    let tag = if wf == 0 {
                        format!("sha-{}", &sha[..7])
                    } else {
                        branch.clone()
                    };
                    let run = seeded_push_run(
                        &mut store,
                        SeededPush {
                            number: n as u64 + 1,
                            sha,
                            message: msg,
                            when,
                            git_ref: branch,
                            tag,
                            workflow_id: rec.info.workflows[wf].1,
                            role: ci::Role::BuildDeploy {
                                namespace: ns.to_string(),
                            },
                            // prod's runs were approved; a re-run asks again.
                            gate: gate_for(Some("production").filter(|_| wf == 1), "approved"),
                        },
                    );
                    rec.runs.push(run);
                }
                store.repos.insert(rec.info.full_name().to_lowercase(), rec);
                continue;
            }
            if r.flavor == repos::WorkflowFlavor::Gitops {
                // No releases: the build runs of the last two version tags.
                for (n, i) in [2usize, 3].into_iter().enumerate() {
                    let (_, sha, msg, when) = &history.tags[i];
                    let run = seeded_push_run(
                        &mut store,
                        SeededPush {
                            number: n as u64 + 1,
                            sha,
                            message: msg,
                            when: *when,
                            git_ref: r.tags[i].clone(),
                            tag: r.tags[i].clone(),
                            workflow_id: rec.info.workflows[0].1,
                            role: ci::Role::Build,
                            gate: None,
                        },
                    );
                    rec.runs.push(run);
                }
                store.repos.insert(rec.info.full_name().to_lowercase(), rec);
                continue;
            }
            if r.flavor == repos::WorkflowFlavor::Dispatch {
                // No releases: each environment's last deploy run, by hand,
                // of the tag it runs (workflows: build, deploy-qa,
                // deploy-prod).
                for (n, (env_workflow, ns, tag)) in [
                    (1, "qa", &r.service.qa_tag),
                    (2, "default", &r.service.prod_tag),
                ]
                .into_iter()
                .enumerate()
                {
                    let (_, sha, msg, when) = &history.tags[2];
                    let at = DateTime::from_timestamp(*when + 600 + n as i64 * 60, 0)
                        .unwrap_or_else(Utc::now);
                    let role = ci::Role::Deploy {
                        namespace: ns.to_string(),
                    };
                    let job = JobRec::succeeded_for(store.id(), at, &role);
                    let done = job.completed_at.unwrap_or(at);
                    rec.runs.push(RunRec {
                        id: store.id(),
                        run_number: n as u64 + 1,
                        run_attempt: 1,
                        event: "workflow_dispatch".into(),
                        activity: String::new(),
                        head_sha: sha.clone(),
                        head_branch: "main".into(),
                        head_message: msg.clone(),
                        head_timestamp: DateTime::from_timestamp(*when, 0).unwrap_or(at),
                        display_title: format!("deploy {tag}"),
                        status: "completed".into(),
                        conclusion: Some("success".into()),
                        created_at: at,
                        updated_at: done,
                        run_started_at: at,
                        release_id: 0,
                        tag: tag.clone(),
                        prerelease: false,
                        job,
                        workflow_id: rec.info.workflows[env_workflow].1,
                        role,
                        gate: None,
                    });
                }
                store.repos.insert(rec.info.full_name().to_lowercase(), rec);
                continue;
            }
            for (n, ((_, sha, msg, when), tag)) in history.tags.iter().zip(&r.tags).enumerate() {
                let at = DateTime::from_timestamp(*when + 600, 0).unwrap_or_else(Utc::now);
                let prerelease = tag.contains('-');
                let release = ReleaseRec {
                    id: store.id(),
                    tag_name: tag.clone(),
                    target_commitish: "main".into(),
                    name: Some(tag.clone()),
                    body: Some(format!("* {msg}")),
                    draft: false,
                    prerelease,
                    not_latest: false,
                    created_at: at,
                    published_at: Some(at),
                    updated_at: at,
                };
                let run_at = at + chrono::Duration::seconds(2);
                let job = JobRec::succeeded(store.id(), run_at);
                let done = job.completed_at.unwrap_or(run_at);
                rec.runs.push(RunRec {
                    id: store.id(),
                    run_number: n as u64 + 1,
                    run_attempt: 1,
                    event: "release".into(),
                    activity: "published".into(),
                    head_sha: sha.clone(),
                    head_branch: tag.clone(),
                    head_message: msg.clone(),
                    head_timestamp: DateTime::from_timestamp(*when, 0).unwrap_or(at),
                    display_title: tag.clone(),
                    status: "completed".into(),
                    conclusion: Some("success".into()),
                    created_at: run_at,
                    updated_at: done,
                    run_started_at: run_at,
                    release_id: release.id,
                    tag: tag.clone(),
                    prerelease,
                    job,
                    workflow_id: rec.info.workflow_id,
                    role: ci::Role::Release,
                    gate: None,
                });
                rec.releases.push(release);
            }
            store.repos.insert(rec.info.full_name().to_lowercase(), rec);
        }
        let now = Utc::now().timestamp();
        Arc::new(GithubApi {
            token,
            readonly_token: deps.readonly_token,
            base,
            speed,
            store: Mutex::new(store),
            rate: Mutex::new(RateWindow {
                used: 0,
                reset: now + 3600,
            }),
            journal: deps.journal,
            faults: deps.faults,
            deploy: deps.deploy,
            hosts: deps.hosts,
            git_ready: deps.git_ready,
            secrets: secrets::SecretStore::new(),
        })
    }

    /// Wait until the services' git repositories exist (at once, unless a
    /// large sandbox is still creating them in the background).
    async fn wait_for_git(&self) {
        let mut rx = self.git_ready.clone();
        let _ = rx.wait_for(|ready| *ready).await;
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The CI speed factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn deploy(&self) -> &dyn DeployTarget {
        self.deploy.as_ref()
    }

    /// The hosts outside Kubernetes that deploy workflows naming `HOST` deploy to.
    pub fn hosts(&self) -> &crate::hosts::Hosts {
        &self.hosts
    }

    /// A handler's repository, or GitHub's 404 to answer with.
    // The error is the reply itself, handed straight back to axum by `?`.
    #[allow(clippy::result_large_err)]
    fn repo_or_404(&self, owner: &str, name: &str) -> Result<RepoRec, Response> {
        self.repo(&repo_key(owner, name)).ok_or_else(not_found)
    }

    /// A copy of a repository's state (`owner/name`), for tests and `hearth demo`.
    pub fn repo(&self, full_name: &str) -> Option<RepoRec> {
        self.store
            .lock()
            .expect("gh store")
            .repos
            .get(&full_name.to_lowercase())
            .cloned()
    }

    /// Run `f` on attempt `attempt` of run `run_id`; `None` when the run is
    /// gone or a newer attempt replaced it.
    pub fn with_run<T>(
        &self,
        repo: &str,
        run_id: u64,
        attempt: u32,
        f: impl FnOnce(&RepoInfo, &mut RunRec) -> T,
    ) -> Option<T> {
        let mut store = self.store.lock().expect("gh store");
        let rec = store.repos.get_mut(repo)?;
        let run = rec
            .runs
            .iter_mut()
            .find(|r| r.id == run_id && r.run_attempt == attempt)?;
        if run.conclusion.as_deref() == Some("cancelled") {
            return None;
        }
        Some(f(&rec.info, run))
    }

    /// The rate-limit window, reset when its hour is over.
    fn rate_snapshot(&self, consume: bool) -> (u64, i64) {
        let mut rate = self.rate.lock().expect("rate lock");
        let now = Utc::now().timestamp();
        if now >= rate.reset {
            rate.used = 0;
            rate.reset = now + 3600;
        }
        if consume {
            rate.used += 1;
        }
        (rate.used, rate.reset)
    }

    /// Requests counted against the rate limit in the current window.
    pub fn rate_used(&self) -> u64 {
        self.rate_snapshot(false).0
    }

    /// Fire the release activity types `activities` for `release` in `repo`:
    /// start a run for each one the repository's workflow listens to.
    async fn fire(self: &Arc<Self>, repo_key: &str, release: &ReleaseRec, activities: &[&str]) {
        let Some(info) = self.repo(repo_key).map(|r| r.info) else {
            return;
        };
        self.wait_for_git().await;
        let Some(sha) = repos::tag_commit(&info.origin, &release.tag_name).await else {
            return;
        };
        let types = repos::workflow_at(&info.origin, &sha, &info.workflow_path())
            .await
            .and_then(|y| ci::workflow_release_types(&y));
        let message = repos::commit_message(&info.origin, &sha)
            .await
            .unwrap_or_default();
        for activity in activities {
            if !ci::can_trigger(activity, release.draft) || !ci::workflow_listens(&types, activity)
            {
                continue;
            }
            let started = {
                let mut store = self.store.lock().expect("gh store");
                let run_id = store.id();
                let job_id = store.id();
                let Some(rec) = store.repos.get_mut(repo_key) else {
                    return;
                };
                let now = Utc::now();
                let run_number = rec.runs.iter().map(|r| r.run_number).max().unwrap_or(0) + 1;
                rec.runs.push(RunRec {
                    id: run_id,
                    run_number,
                    run_attempt: 1,
                    event: "release".into(),
                    activity: activity.to_string(),
                    head_sha: sha.clone(),
                    head_branch: release.tag_name.clone(),
                    head_message: message.clone(),
                    head_timestamp: now,
                    display_title: release
                        .name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| release.tag_name.clone()),
                    status: "queued".into(),
                    conclusion: None,
                    created_at: now,
                    updated_at: now,
                    run_started_at: now,
                    release_id: release.id,
                    tag: release.tag_name.clone(),
                    prerelease: release.prerelease,
                    job: JobRec::queued(job_id, now),
                    workflow_id: rec.info.workflow_id,
                    role: ci::Role::Release,
                    gate: None,
                });
                run_id
            };
            ci::spawn_run(self.clone(), repo_key.to_string(), started, 1);
        }
    }
}

/// A seeded run a push started, long finished and successful.
struct SeededPush<'a> {
    number: u64,
    sha: &'a str,
    message: &'a str,
    when: i64,
    /// The branch or tag pushed.
    git_ref: String,
    /// The image tag it built.
    tag: String,
    workflow_id: u64,
    role: ci::Role,
    gate: Option<ci::Gate>,
}

fn seeded_push_run(store: &mut Store, s: SeededPush<'_>) -> RunRec {
    let at = DateTime::from_timestamp(s.when + 60, 0).unwrap_or_else(Utc::now);
    let job = JobRec::succeeded_for(store.id(), at, &s.role);
    let done = job.completed_at.unwrap_or(at);
    RunRec {
        id: store.id(),
        run_number: s.number,
        run_attempt: 1,
        event: "push".into(),
        activity: String::new(),
        head_sha: s.sha.to_string(),
        head_branch: s.git_ref,
        head_message: s.message.to_string(),
        head_timestamp: DateTime::from_timestamp(s.when, 0).unwrap_or(at),
        display_title: s.message.to_string(),
        status: "completed".into(),
        conclusion: Some("success".into()),
        created_at: at,
        updated_at: done,
        run_started_at: at,
        release_id: 0,
        tag: s.tag,
        prerelease: false,
        job,
        workflow_id: s.workflow_id,
        role: s.role,
        gate: s.gate,
    }
}

impl GithubApi {
    /// A push to a demo origin (a line its post-receive hook wrote:
    /// `NAME OLD NEW REF`): start a run of every workflow whose `on: push`
    /// filters match the ref, at the pushed commit, as GitHub does. A
    /// workflow deploying to a namespace builds and deploys the commit
    /// (`sha-<7 hex>` for a branch, the tag's name for a tag).
    pub async fn pushed(self: &Arc<Self>, line: &str) {
        let mut parts = line.split_whitespace();
        let (Some(name), Some(_old), Some(new), Some(git_ref)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        if new.bytes().all(|b| b == b'0') {
            return; // a deletion starts nothing
        }
        let Some(key) = ({
            let store = self.store.lock().expect("gh store");
            store
                .repos
                .iter()
                .find(|(_, r)| r.info.origin.file_stem().and_then(|s| s.to_str()) == Some(name))
                .map(|(k, _)| k.clone())
        }) else {
            return;
        };
        let Some(info) = self.repo(&key).map(|r| r.info) else {
            return;
        };
        let Some(sha) = repos::git_output(
            &info.origin,
            &["rev-parse", "--verify", "-q", &format!("{new}^{{commit}}")],
        )
        .await
        else {
            return;
        };
        let message = repos::commit_message(&info.origin, &sha)
            .await
            .unwrap_or_default();
        let short_ref = git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| git_ref.strip_prefix("refs/tags/"))
            .unwrap_or(git_ref)
            .to_string();
        let is_tag = git_ref.starts_with("refs/tags/");
        for (file, workflow_id) in &info.workflows {
            let Some(yaml) =
                repos::workflow_at(&info.origin, &sha, &format!(".github/workflows/{file}")).await
            else {
                continue;
            };
            if !ci::workflow_push_filter(&yaml).is_some_and(|f| f.matches(git_ref)) {
                continue;
            }
            let (role, environment) = ci::workflow_role(&yaml, false);
            let role = match role {
                ci::Role::Deploy { namespace } => ci::Role::BuildDeploy { namespace },
                other => other,
            };
            let tag = if is_tag {
                short_ref.clone()
            } else {
                format!("sha-{}", &sha[..7.min(sha.len())])
            };
            let gate = gate_for(environment.as_deref(), "waiting");
            let run_id = {
                let mut store = self.store.lock().expect("gh store");
                let run_id = store.id();
                let job_id = store.id();
                let Some(rec) = store.repos.get_mut(&key) else {
                    return;
                };
                let now = Utc::now();
                let run_number = rec.runs.iter().map(|r| r.run_number).max().unwrap_or(0) + 1;
                rec.runs.push(RunRec {
                    id: run_id,
                    run_number,
                    run_attempt: 1,
                    event: "push".into(),
                    activity: String::new(),
                    head_sha: sha.clone(),
                    head_branch: short_ref.clone(),
                    head_message: message.clone(),
                    head_timestamp: now,
                    display_title: message.clone(),
                    status: "queued".into(),
                    conclusion: None,
                    created_at: now,
                    updated_at: now,
                    run_started_at: now,
                    release_id: 0,
                    tag: tag.clone(),
                    prerelease: false,
                    job: JobRec::queued_for(job_id, now, &role),
                    workflow_id: *workflow_id,
                    role,
                    gate,
                });
                run_id
            };
            tracing::info!(repo = %key, %git_ref, workflow = %file, run_id, "push started a run");
            ci::spawn_run(self.clone(), key.clone(), run_id, 1);
        }
    }
}

/// Read the pushes the origins' hooks append to `path` and start their
/// runs, until `stop` turns true. Polls the file's length (a stat) five
/// times a second; a push starts its runs within that.
pub async fn watch_pushes(
    api: Arc<GithubApi>,
    path: PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut offset = std::fs::metadata(&path).map_or(0, |m| m.len());
    let mut pending = String::new();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
        }
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        if len <= offset {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let end = (len as usize).min(bytes.len());
        pending.push_str(&String::from_utf8_lossy(&bytes[offset as usize..end]));
        offset = end as u64;
        while let Some(i) = pending.find('\n') {
            let line: String = pending.drain(..=i).collect();
            api.pushed(line.trim()).await;
        }
    }
}

/// The HTTP routes of the GitHub API, with auth, faults, ETags, rate limits
/// and journaling applied to every request.
pub fn router(api: Arc<GithubApi>) -> Router {
    let repo = "/repos/{owner}/{repo}";
    Router::new()
        .route("/user", get(get_user))
        .route("/user/repos", get(get_user_repos))
        .route("/rate_limit", get(get_rate_limit))
        .route(repo, get(get_repo))
        .route(
            &format!("{repo}/releases"),
            get(list_releases).post(create_release),
        )
        .route(&format!("{repo}/releases/latest"), get(get_latest_release))
        .route(
            &format!("{repo}/releases/tags/{{tag}}"),
            get(get_release_by_tag),
        )
        .route(
            &format!("{repo}/releases/{{id}}"),
            get(get_release)
                .patch(update_release)
                .delete(delete_release),
        )
        .route(&format!("{repo}/actions/workflows"), get(list_workflows))
        .route(
            &format!("{repo}/actions/workflows/{{workflow}}/runs"),
            get(list_workflow_runs),
        )
        .route(&format!("{repo}/actions/runs"), get(list_runs))
        .route(&format!("{repo}/actions/runs/{{id}}"), get(get_run))
        .route(&format!("{repo}/actions/runs/{{id}}/jobs"), get(list_jobs))
        .route(&format!("{repo}/actions/runs/{{id}}/rerun"), post(rerun))
        .route(&format!("{repo}/actions/runs/{{id}}/cancel"), post(cancel))
        .route(
            &format!("{repo}/actions/runs/{{id}}/pending_deployments"),
            get(ops::pending_deployments).post(ops::review_deployments),
        )
        .route(
            &format!("{repo}/actions/runs/{{id}}/approvals"),
            get(ops::approvals),
        )
        .route(
            &format!("{repo}/releases/generate-notes"),
            post(ops::generate_notes),
        )
        .route(
            &format!("{repo}/actions/jobs/{{id}}/logs"),
            get(ops::job_logs),
        )
        .route(
            &format!("{repo}/contents/{{*path}}"),
            get(ops::get_contents),
        )
        .route(&format!("{repo}/commits/{{ref}}"), get(ops::get_commit))
        .route(&format!("{repo}/compare/{{basehead}}"), get(ops::compare))
        .route(&format!("{repo}/actions/secrets"), get(secrets::list))
        .route(
            &format!("{repo}/actions/secrets/public-key"),
            get(secrets::public_key),
        )
        .route(
            &format!("{repo}/actions/secrets/{{name}}"),
            get(secrets::get_one)
                .put(secrets::put)
                .delete(secrets::delete),
        )
        .route(
            &format!("{repo}/actions/workflows/{{workflow}}/dispatches"),
            post(ops::dispatch),
        )
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            github_layer,
        ))
        // Signed download URLs (job logs) need no token, as on GitHub; they
        // sit outside the API's auth layer.
        .route("/_logs/{owner}/{repo}/jobs/{id}", get(ops::raw_job_log))
        .with_state(api)
}

#[cfg(test)]
mod tests {
    use super::middleware::{bearer, etag_matches, etag_of};
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};
    use serde_json::json;

    #[test]
    fn pages_and_link_header() {
        let items: Vec<u32> = (1..=7).collect();
        let q = PageQuery {
            per_page: Some(3),
            page: Some(2),
        };
        let (page, link) = paginate(&items, &q, "http://h/x", "");
        assert_eq!(page, [4, 5, 6]);
        let link = link.unwrap();
        assert!(link.contains("<http://h/x?per_page=3&page=3>; rel=\"next\""));
        assert!(link.contains("<http://h/x?per_page=3&page=3>; rel=\"last\""));
        assert!(link.contains("rel=\"prev\"") && link.contains("rel=\"first\""));
        let (page, link) = paginate(&items, &PageQuery::default(), "http://h/x", "");
        assert_eq!(page.len(), 7);
        assert!(link.is_none());
        let far = PageQuery {
            per_page: Some(3),
            page: Some(9),
        };
        assert!(paginate(&items, &far, "u", "").0.is_empty());
    }

    #[test]
    fn etags_match_weak_strong_and_lists() {
        let tag = etag_of(b"{}");
        assert!(etag_matches(&tag, &tag));
        assert!(etag_matches(&format!("W/{tag}"), &tag));
        assert!(etag_matches(&format!("\"x\", {tag}"), &tag));
        assert!(etag_matches("*", &tag));
        assert!(!etag_matches("\"other\"", &tag));
        assert_ne!(etag_of(b"{}"), etag_of(b"[]"));
    }

    #[test]
    fn bearer_and_token_schemes() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", HeaderValue::from_static("token abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn make_latest_accepts_strings_and_bools() {
        assert_eq!(parse_make_latest(&None).unwrap(), None);
        assert_eq!(
            parse_make_latest(&Some(json!("legacy")))
                .unwrap()
                .as_deref(),
            Some("legacy")
        );
        assert_eq!(
            parse_make_latest(&Some(json!(true))).unwrap().as_deref(),
            Some("true")
        );
        assert!(parse_make_latest(&Some(json!("maybe"))).is_err());
    }
}
