//! The sandbox GitHub REST API (axum, on its own loopback listener): users,
//! repositories, releases and Actions workflow runs and jobs, in the shapes of
//! GitHub's published OpenAPI description, with token auth, ETags / 304s,
//! rate-limit headers and faults. Requests are served on the sandbox's tokio
//! tasks; release changes start simulated CI runs (`ci`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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
    /// Workflow file name (`release.yml`) and its id.
    pub workflow_file: String,
    pub workflow_id: u64,
    pub created_at: DateTime<Utc>,
}

impl RepoInfo {
    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
    fn workflow_path(&self) -> String {
        format!(".github/workflows/{}", self.workflow_file)
    }
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
    base: String,
    speed: f64,
    store: Mutex<Store>,
    rate: Mutex<RateWindow>,
    journal: Arc<Journal>,
    faults: Arc<Faults>,
    deploy: Arc<dyn DeployTarget>,
    git_ready: tokio::sync::watch::Receiver<bool>,
}

/// What the GitHub API shares with the rest of the sandbox.
pub struct GithubDeps {
    pub journal: Arc<Journal>,
    pub faults: Arc<Faults>,
    /// Where CI deploy steps set images.
    pub deploy: Arc<dyn DeployTarget>,
    /// Becomes `true` once every service's git repositories exist; git
    /// reads (tag checks, workflow files) wait for it.
    pub git_ready: tokio::sync::watch::Receiver<bool>,
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
            let info = RepoInfo {
                id: store.id(),
                owner: owner.into(),
                name: name.into(),
                service: r.service.name.clone(),
                image: r.service.image.clone(),
                k8s_name: r.k8s_name.clone(),
                origin: r.origin.clone(),
                workflow_file: "release.yml".into(),
                workflow_id: store.id(),
                created_at: created,
            };
            let mut rec = RepoRec {
                info,
                releases: Vec::new(),
                runs: Vec::new(),
                latest_pin: None,
            };
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
                });
                rec.releases.push(release);
            }
            store.repos.insert(rec.info.full_name().to_lowercase(), rec);
        }
        let now = Utc::now().timestamp();
        Arc::new(GithubApi {
            token,
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
            git_ready: deps.git_ready,
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
                });
                run_id
            };
            ci::spawn_run(self.clone(), repo_key.to_string(), started, 1);
        }
    }

    // ----- JSON shapes (GitHub REST OpenAPI) -----

    fn user_json(&self, login: &str, id: u64, kind: &str) -> Value {
        let u = format!("{}/users/{login}", self.base);
        json!({
            "login": login,
            "id": id,
            "node_id": node_id("U", id),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "gravatar_id": "",
            "url": u,
            "html_url": format!("https://github.com/{login}"),
            "followers_url": format!("{u}/followers"),
            "following_url": format!("{u}/following{{/other_user}}"),
            "gists_url": format!("{u}/gists{{/gist_id}}"),
            "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{u}/subscriptions"),
            "organizations_url": format!("{u}/orgs"),
            "repos_url": format!("{u}/repos"),
            "events_url": format!("{u}/events{{/privacy}}"),
            "received_events_url": format!("{u}/received_events"),
            "type": kind,
            "user_view_type": "public",
            "site_admin": false
        })
    }

    fn me(&self) -> Value {
        self.user_json(USER_LOGIN, USER_ID, "User")
    }

    /// `minimal-repository` (embedded in runs); `full` adds the fields of
    /// `full-repository` that `GET /repos/{owner}/{repo}` returns.
    fn repo_json(&self, info: &RepoInfo, full: bool) -> Value {
        let full_name = info.full_name();
        let u = format!("{}/repos/{full_name}", self.base);
        let mut v = json!({
            "id": info.id,
            "node_id": node_id("R", info.id),
            "name": info.name,
            "full_name": full_name,
            "private": true,
            "owner": self.user_json(&info.owner, ORG_ID, "Organization"),
            "html_url": format!("https://github.com/{full_name}"),
            "description": format!("The {} service (hearth sandbox)", info.service),
            "fork": false,
            "url": u,
            "git_url": format!("git://github.com/{full_name}.git"),
            "ssh_url": format!("git@github.com:{full_name}.git"),
        });
        // The many `*_url` templates minimal-repository requires.
        const URLS: [(&str, &str); 36] = [
            ("archive_url", "/{archive_format}{/ref}"),
            ("assignees_url", "/assignees{/user}"),
            ("blobs_url", "/git/blobs{/sha}"),
            ("branches_url", "/branches{/branch}"),
            ("collaborators_url", "/collaborators{/collaborator}"),
            ("comments_url", "/comments{/number}"),
            ("commits_url", "/commits{/sha}"),
            ("compare_url", "/compare/{base}...{head}"),
            ("contents_url", "/contents/{+path}"),
            ("contributors_url", "/contributors"),
            ("deployments_url", "/deployments"),
            ("downloads_url", "/downloads"),
            ("events_url", "/events"),
            ("forks_url", "/forks"),
            ("git_commits_url", "/git/commits{/sha}"),
            ("git_refs_url", "/git/refs{/sha}"),
            ("git_tags_url", "/git/tags{/sha}"),
            ("hooks_url", "/hooks"),
            ("issue_comment_url", "/issues/comments{/number}"),
            ("issue_events_url", "/issues/events{/number}"),
            ("issues_url", "/issues{/number}"),
            ("keys_url", "/keys{/key_id}"),
            ("labels_url", "/labels{/name}"),
            ("languages_url", "/languages"),
            ("merges_url", "/merges"),
            ("milestones_url", "/milestones{/number}"),
            (
                "notifications_url",
                "/notifications{?since,all,participating}",
            ),
            ("pulls_url", "/pulls{/number}"),
            ("releases_url", "/releases{/id}"),
            ("stargazers_url", "/stargazers"),
            ("statuses_url", "/statuses/{sha}"),
            ("subscribers_url", "/subscribers"),
            ("subscription_url", "/subscription"),
            ("tags_url", "/tags"),
            ("teams_url", "/teams"),
            ("trees_url", "/git/trees{/sha}"),
        ];
        if let Value::Object(m) = &mut v {
            for (key, suffix) in URLS {
                m.insert(key.into(), Value::String(format!("{u}{suffix}")));
            }
        }
        if full {
            let created = ts(info.created_at);
            let extra = json!({
                "clone_url": format!("file://{}", info.origin.display()),
                "mirror_url": null,
                "svn_url": format!("https://github.com/{full_name}"),
                "homepage": null,
                "language": "Rust",
                "license": null,
                "forks_count": 0,
                "forks": 0,
                "stargazers_count": 0,
                "watchers_count": 0,
                "watchers": 0,
                "size": 42,
                "default_branch": "main",
                "open_issues_count": 0,
                "open_issues": 0,
                "is_template": false,
                "topics": [],
                "has_issues": true,
                "has_projects": false,
                "has_wiki": false,
                "has_pages": false,
                "has_downloads": true,
                "has_discussions": false,
                "archived": false,
                "disabled": false,
                "visibility": "private",
                "pushed_at": created,
                "created_at": created,
                "updated_at": created,
                "permissions": {"admin": true, "maintain": true, "push": true, "triage": true, "pull": true},
                "allow_rebase_merge": true,
                "allow_squash_merge": true,
                "allow_merge_commit": true,
                "allow_auto_merge": false,
                "delete_branch_on_merge": false,
                "allow_forking": false,
                "web_commit_signoff_required": false,
                "network_count": 0,
                "subscribers_count": 1,
                "organization": self.user_json(&info.owner, ORG_ID, "Organization"),
            });
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
        }
        v
    }

    fn release_json(&self, info: &RepoInfo, r: &ReleaseRec) -> Value {
        let full_name = info.full_name();
        let u = format!("{}/repos/{full_name}/releases/{}", self.base, r.id);
        json!({
            "url": u,
            "html_url": format!("https://github.com/{full_name}/releases/tag/{}", r.tag_name),
            "assets_url": format!("{u}/assets"),
            "upload_url": format!("{}/repos/{full_name}/releases/{}/assets{{?name,label}}", self.base, r.id),
            "tarball_url": format!("{}/repos/{full_name}/tarball/{}", self.base, r.tag_name),
            "zipball_url": format!("{}/repos/{full_name}/zipball/{}", self.base, r.tag_name),
            "id": r.id,
            "node_id": node_id("RE", r.id),
            "tag_name": r.tag_name,
            "target_commitish": r.target_commitish,
            "name": r.name,
            "body": r.body,
            "draft": r.draft,
            "prerelease": r.prerelease,
            "immutable": false,
            "created_at": ts(r.created_at),
            "updated_at": ts(r.updated_at),
            "published_at": r.published_at.map(ts),
            "author": self.me(),
            "assets": [],
        })
    }

    fn run_json(&self, info: &RepoInfo, run: &RunRec) -> Value {
        let full_name = info.full_name();
        let u = format!("{}/repos/{full_name}/actions/runs/{}", self.base, run.id);
        let author = json!({"name": "Hearth Demo", "email": "demo@hearth.invalid"});
        json!({
            "id": run.id,
            "name": "release",
            "node_id": node_id("WFR", run.id),
            "check_suite_id": run.id + 500_000,
            "check_suite_node_id": node_id("CS", run.id + 500_000),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": info.workflow_path(),
            "display_title": run.display_title,
            "run_number": run.run_number,
            "run_attempt": run.run_attempt,
            "event": "release",
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": info.workflow_id,
            "url": u,
            "html_url": format!("https://github.com/{full_name}/actions/runs/{}", run.id),
            "pull_requests": [],
            "created_at": ts(run.created_at),
            "updated_at": ts(run.updated_at),
            "run_started_at": ts(run.run_started_at),
            "actor": self.me(),
            "triggering_actor": self.me(),
            "referenced_workflows": [],
            "jobs_url": format!("{u}/jobs"),
            "logs_url": format!("{u}/logs"),
            "check_suite_url": format!("{}/repos/{full_name}/check-suites/{}", self.base, run.id + 500_000),
            "artifacts_url": format!("{u}/artifacts"),
            "cancel_url": format!("{u}/cancel"),
            "rerun_url": format!("{u}/rerun"),
            "previous_attempt_url": (run.run_attempt > 1)
                .then(|| format!("{u}/attempts/{}", run.run_attempt - 1)),
            "workflow_url": format!("{}/repos/{full_name}/actions/workflows/{}", self.base, info.workflow_id),
            "head_commit": {
                "id": run.head_sha,
                "tree_id": tree_id(&run.head_sha),
                "message": run.head_message,
                "timestamp": ts(run.head_timestamp),
                "author": author,
                "committer": author,
            },
            "repository": self.repo_json(info, false),
            "head_repository": self.repo_json(info, false),
        })
    }

    fn job_json(&self, info: &RepoInfo, run: &RunRec) -> Value {
        let full_name = info.full_name();
        let job = &run.job;
        let runner = job.status != "queued";
        json!({
            "id": job.id,
            "run_id": run.id,
            "run_url": format!("{}/repos/{full_name}/actions/runs/{}", self.base, run.id),
            "run_attempt": run.run_attempt,
            "node_id": node_id("CR", job.id),
            "head_sha": run.head_sha,
            "url": format!("{}/repos/{full_name}/actions/jobs/{}", self.base, job.id),
            "html_url": format!("https://github.com/{full_name}/actions/runs/{}/job/{}", run.id, job.id),
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": ts(job.created_at),
            "started_at": ts(job.started_at),
            "completed_at": job.completed_at.map(ts),
            "name": "ship",
            "steps": job.steps.iter().map(|s| json!({
                "name": s.name,
                "status": s.status,
                "conclusion": s.conclusion,
                "number": s.number,
                "started_at": s.started_at.map(ts),
                "completed_at": s.completed_at.map(ts),
            })).collect::<Vec<_>>(),
            "check_run_url": format!("{}/repos/{full_name}/check-runs/{}", self.base, job.id),
            "labels": ["ubuntu-latest"],
            "runner_id": runner.then_some(7),
            "runner_name": runner.then_some("hearth-sandbox-runner"),
            "runner_group_id": runner.then_some(1),
            "runner_group_name": runner.then_some("Default"),
            "workflow_name": "release",
            "head_branch": run.head_branch,
        })
    }

    fn workflow_json(&self, info: &RepoInfo) -> Value {
        let full_name = info.full_name();
        let created = ts(info.created_at);
        json!({
            "id": info.workflow_id,
            "node_id": node_id("W", info.workflow_id),
            "name": "release",
            "path": info.workflow_path(),
            "state": "active",
            "created_at": created,
            "updated_at": created,
            "url": format!("{}/repos/{full_name}/actions/workflows/{}", self.base, info.workflow_id),
            "html_url": format!("https://github.com/{full_name}/blob/main/{}", info.workflow_path()),
            "badge_url": format!("https://github.com/{full_name}/workflows/release/badge.svg"),
        })
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}_kwDO{id:08X}")
}

/// A stable fake tree id derived from the commit (the sandbox does not read trees).
fn tree_id(sha: &str) -> String {
    hex::encode(Sha256::digest(format!("tree {sha}").as_bytes()))[..40].to_string()
}

// ----- responses -----

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn not_found() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"message": "Not Found", "documentation_url": DOCS, "status": "404"}),
    )
}

fn validation(code: &str, field: &str, message: Option<String>) -> Response {
    let mut err = json!({"resource": "Release", "code": code, "field": field});
    if let Some(m) = message {
        err["message"] = Value::String(m);
    }
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({
            "message": "Validation Failed",
            "errors": [err],
            "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
            "status": "422",
        }),
    )
}

fn bad_request(message: &str) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({"message": message, "documentation_url": DOCS, "status": "400"}),
    )
}

/// `per_page` / `page` as GitHub reads them.
#[derive(Debug, Deserialize, Default)]
struct PageQuery {
    per_page: Option<usize>,
    page: Option<usize>,
}

/// Cut `items` to one page and build the `Link` header GitHub sends.
fn paginate<T: Clone>(
    items: &[T],
    q: &PageQuery,
    url: &str,
    extra: &str,
) -> (Vec<T>, Option<String>) {
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page).min(items.len());
    let end = (start + per_page).min(items.len());
    let link_to = |p: usize| format!("<{url}?{extra}per_page={per_page}&page={p}>");
    let mut links = Vec::new();
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_to(1)));
        links.push(format!("{}; rel=\"prev\"", link_to((page - 1).min(last))));
    }
    let link = (!links.is_empty()).then(|| links.join(", "));
    (items[start..end].to_vec(), link)
}

fn with_link(mut resp: Response, link: Option<String>) -> Response {
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert("link", l);
    }
    resp
}

type Api = State<Arc<GithubApi>>;

// ----- handlers -----

async fn get_user(State(api): Api) -> Response {
    // `private-user`: the authenticated user sees their own account details.
    let mut me = api.me();
    let created = ts(Utc::now() - chrono::Duration::days(400));
    let extra = json!({
        "user_view_type": "private",
        "name": "Hearth Developer",
        "email": null,
        "bio": null,
        "blog": "",
        "company": null,
        "hireable": null,
        "location": null,
        "followers": 0,
        "following": 0,
        "public_gists": 0,
        "public_repos": 0,
        "created_at": created,
        "updated_at": created,
        "collaborators": 0,
        "disk_usage": 0,
        "owned_private_repos": 0,
        "private_gists": 0,
        "total_private_repos": 0,
        "two_factor_authentication": true,
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut me, extra) {
        m.extend(e);
    }
    reply(StatusCode::OK, me)
}

async fn get_user_repos(State(api): Api, Query(q): Query<PageQuery>) -> Response {
    let infos: Vec<RepoInfo> = {
        let store = api.store.lock().expect("gh store");
        store.repos.values().map(|r| r.info.clone()).collect()
    };
    let (page, link) = paginate(&infos, &q, &format!("{}/user/repos", api.base), "");
    let body: Vec<Value> = page.iter().map(|i| api.repo_json(i, true)).collect();
    with_link(reply(StatusCode::OK, Value::Array(body)), link)
}

async fn get_rate_limit(State(api): Api) -> Response {
    let (used, reset) = api.rate_snapshot(false);
    let core = json!({"limit": RATE_LIMIT, "used": used, "remaining": RATE_LIMIT.saturating_sub(used), "reset": reset});
    let untouched =
        |limit: u64| json!({"limit": limit, "used": 0, "remaining": limit, "reset": reset});
    reply(
        StatusCode::OK,
        json!({
            "resources": {"core": core, "search": untouched(30), "graphql": untouched(5000)},
            "rate": core,
        }),
    )
}

fn repo_key(owner: &str, repo: &str) -> String {
    format!("{owner}/{repo}").to_lowercase()
}

async fn get_repo(State(api): Api, Path((owner, repo)): Path<(String, String)>) -> Response {
    match api.repo(&repo_key(&owner, &repo)) {
        Some(r) => reply(StatusCode::OK, api.repo_json(&r.info, true)),
        None => not_found(),
    }
}

async fn list_releases(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let mut releases = rec.releases.clone();
    // Newest first, as GitHub lists them.
    releases.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
    let url = format!("{}/repos/{}/releases", api.base, rec.info.full_name());
    let (page, link) = paginate(&releases, &q, &url, "");
    let body: Vec<Value> = page
        .iter()
        .map(|r| api.release_json(&rec.info, r))
        .collect();
    Ok(with_link(reply(StatusCode::OK, Value::Array(body)), link))
}

async fn get_release(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let id = id.parse::<u64>().map_err(|_| not_found())?;
    let r = rec
        .releases
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(not_found)?;
    Ok(reply(StatusCode::OK, api.release_json(&rec.info, r)))
}

async fn get_latest_release(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let r = rec
        .latest_id()
        .and_then(|id| rec.releases.iter().find(|r| r.id == id))
        .ok_or_else(not_found)?;
    Ok(reply(StatusCode::OK, api.release_json(&rec.info, r)))
}

async fn get_release_by_tag(
    State(api): Api,
    Path((owner, repo, tag)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    // Drafts are not found by tag, as on GitHub.
    let r = rec
        .releases
        .iter()
        .find(|r| r.tag_name == tag && !r.draft)
        .ok_or_else(not_found)?;
    Ok(reply(StatusCode::OK, api.release_json(&rec.info, r)))
}

/// Body of create / update release. Unknown fields are ignored, as GitHub does.
#[derive(Debug, Deserialize, Default)]
struct ReleaseBody {
    tag_name: Option<String>,
    target_commitish: Option<String>,
    name: Option<String>,
    body: Option<String>,
    draft: Option<bool>,
    prerelease: Option<bool>,
    /// `"true"`, `"false"` or `"legacy"`; octocrab sends a string, some clients a bool.
    make_latest: Option<Value>,
    generate_release_notes: Option<bool>,
}

/// `make_latest` as one of `true` / `false` / `legacy` (`None` = absent).
fn parse_make_latest(v: &Option<Value>) -> Result<Option<String>, Box<Response>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::String(s)) if matches!(s.as_str(), "true" | "false" | "legacy") => {
            Ok(Some(s.clone()))
        }
        Some(other) => Err(Box::new(validation(
            "invalid",
            "make_latest",
            Some(format!(
                "make_latest must be one of \"true\", \"false\", \"legacy\", not {other}"
            )),
        ))),
    }
}

fn parse_body(raw: &[u8]) -> Result<ReleaseBody, Box<Response>> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReleaseBody::default());
    }
    serde_json::from_slice(raw)
        .map_err(|e| Box::new(bad_request(&format!("Problems parsing JSON: {e}"))))
}

fn apply_make_latest(rec: &mut RepoRec, id: u64, make_latest: Option<&str>) {
    match make_latest {
        Some("true") => {
            rec.latest_pin = Some(id);
            if let Some(r) = rec.releases.iter_mut().find(|r| r.id == id) {
                r.not_latest = false;
            }
        }
        Some("false") => {
            if rec.latest_pin == Some(id) {
                rec.latest_pin = None;
            }
            if let Some(r) = rec.releases.iter_mut().find(|r| r.id == id) {
                r.not_latest = true;
            }
        }
        _ => {}
    }
}

async fn create_release(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> Response {
    let key = repo_key(&owner, &repo);
    let Some(rec) = api.repo(&key) else {
        return not_found();
    };
    let body = match parse_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let make_latest = match parse_make_latest(&body.make_latest) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let Some(tag) = body.tag_name.clone().filter(|t| !t.trim().is_empty()) else {
        return validation("missing_field", "tag_name", None);
    };
    if rec.releases.iter().any(|r| r.tag_name == tag) {
        return validation("already_exists", "tag_name", None);
    }
    api.wait_for_git().await;
    let Some(_sha) = repos::tag_commit(&rec.info.origin, &tag).await else {
        return validation(
            "invalid",
            "tag_name",
            Some(format!(
                "tag {tag} does not exist in {}; push it first (git push origin {tag})",
                rec.info.full_name()
            )),
        );
    };
    let draft = body.draft.unwrap_or(false);
    let prerelease = body.prerelease.unwrap_or(false);
    let notes = if body.generate_release_notes.unwrap_or(false) && body.body.is_none() {
        Some(generated_notes(&rec, &tag))
    } else {
        body.body.clone()
    };
    let now = Utc::now();
    let release = {
        let mut store = api.store.lock().expect("gh store");
        let id = store.id();
        let Some(rec) = store.repos.get_mut(&key) else {
            return not_found();
        };
        // Re-check under the lock: two creates for one tag race otherwise.
        if rec.releases.iter().any(|r| r.tag_name == tag) {
            return validation("already_exists", "tag_name", None);
        }
        let release = ReleaseRec {
            id,
            tag_name: tag.clone(),
            target_commitish: body
                .target_commitish
                .clone()
                .unwrap_or_else(|| "main".into()),
            name: body.name.clone().or_else(|| Some(tag.clone())),
            body: notes,
            draft,
            prerelease,
            not_latest: false,
            created_at: now,
            published_at: (!draft).then_some(now),
            updated_at: now,
        };
        rec.releases.push(release.clone());
        if !draft && !prerelease {
            apply_make_latest(rec, id, make_latest.as_deref());
        }
        release
    };
    api.fire(&key, &release, &ci::create_activity(release.flags()))
        .await;
    reply(StatusCode::CREATED, api.release_json(&rec.info, &release))
}

/// Release notes in GitHub's generated style: the commits since the previous tag.
fn generated_notes(rec: &RepoRec, tag: &str) -> String {
    let prev = rec
        .releases
        .iter()
        .filter(|r| !r.draft && r.tag_name != tag)
        .max_by_key(|r| r.created_at)
        .map(|r| r.tag_name.clone());
    match prev {
        Some(p) => format!(
            "## What's Changed\n* Changes since {p}\n\n**Full Changelog**: https://github.com/{}/compare/{p}...{tag}",
            rec.info.full_name()
        ),
        None => format!("## What's Changed\n* First release {tag}"),
    }
}

async fn update_release(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
    raw: axum::body::Bytes,
) -> Response {
    let key = repo_key(&owner, &repo);
    let Some(rec) = api.repo(&key) else {
        return not_found();
    };
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let body = match parse_body(&raw) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let make_latest = match parse_make_latest(&body.make_latest) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    let Some(old) = rec.releases.iter().find(|r| r.id == id).cloned() else {
        return not_found();
    };
    if let Some(tag) = body.tag_name.as_ref().filter(|t| **t != old.tag_name) {
        if rec.releases.iter().any(|r| &r.tag_name == tag) {
            return validation("already_exists", "tag_name", None);
        }
        api.wait_for_git().await;
        if repos::tag_commit(&rec.info.origin, tag).await.is_none() {
            return validation(
                "invalid",
                "tag_name",
                Some(format!(
                    "tag {tag} does not exist in {}",
                    rec.info.full_name()
                )),
            );
        }
    }
    let now = Utc::now();
    let new = {
        let mut store = api.store.lock().expect("gh store");
        let Some(rec) = store.repos.get_mut(&key) else {
            return not_found();
        };
        let Some(r) = rec.releases.iter_mut().find(|r| r.id == id) else {
            return not_found();
        };
        if let Some(t) = &body.tag_name {
            r.tag_name = t.clone();
        }
        if let Some(t) = &body.target_commitish {
            r.target_commitish = t.clone();
        }
        if let Some(n) = &body.name {
            r.name = Some(n.clone());
        }
        if let Some(b) = &body.body {
            r.body = Some(b.clone());
        }
        if let Some(d) = body.draft {
            if r.draft && !d {
                r.published_at = Some(now);
            }
            if d {
                r.published_at = None;
            }
            r.draft = d;
        }
        if let Some(p) = body.prerelease {
            r.prerelease = p;
        }
        r.updated_at = now;
        let new = r.clone();
        if !new.draft && !new.prerelease {
            apply_make_latest(rec, id, make_latest.as_deref());
        }
        new
    };
    api.fire(&key, &new, &ci::update_activity(old.flags(), new.flags()))
        .await;
    reply(StatusCode::OK, api.release_json(&rec.info, &new))
}

async fn delete_release(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let key = repo_key(&owner, &repo);
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let removed = {
        let mut store = api.store.lock().expect("gh store");
        let Some(rec) = store.repos.get_mut(&key) else {
            return not_found();
        };
        let Some(pos) = rec.releases.iter().position(|r| r.id == id) else {
            return not_found();
        };
        if rec.latest_pin == Some(id) {
            rec.latest_pin = None;
        }
        rec.releases.remove(pos)
    };
    // A workflow may listen to `deleted` (never for drafts: `can_trigger`).
    api.fire(&key, &removed, &["deleted"]).await;
    StatusCode::NO_CONTENT.into_response()
}

/// Filters of the runs lists.
#[derive(Debug, Deserialize, Default)]
struct RunsQuery {
    per_page: Option<usize>,
    page: Option<usize>,
    event: Option<String>,
    status: Option<String>,
    head_sha: Option<String>,
    branch: Option<String>,
    actor: Option<String>,
}

fn list_runs_of(api: &GithubApi, rec: &RepoRec, q: &RunsQuery, url: &str) -> Response {
    let mut runs: Vec<&RunRec> = rec
        .runs
        .iter()
        .filter(|_| q.event.as_deref().is_none_or(|e| e == "release"))
        .filter(|r| {
            q.status
                .as_deref()
                .is_none_or(|s| r.status == s || r.conclusion.as_deref() == Some(s))
        })
        .filter(|r| q.head_sha.as_deref().is_none_or(|s| r.head_sha == s))
        .filter(|r| q.branch.as_deref().is_none_or(|b| r.head_branch == b))
        .filter(|_| q.actor.as_deref().is_none_or(|a| a == USER_LOGIN))
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.id));
    let total = runs.len();
    let pq = PageQuery {
        per_page: q.per_page,
        page: q.page,
    };
    let mut extra = String::new();
    for (k, v) in [
        ("event", &q.event),
        ("status", &q.status),
        ("head_sha", &q.head_sha),
        ("branch", &q.branch),
    ] {
        if let Some(v) = v {
            extra.push_str(&format!("{k}={v}&"));
        }
    }
    let (page, link) = paginate(&runs, &pq, url, &extra);
    let body = json!({
        "total_count": total,
        "workflow_runs": page.iter().map(|r| api.run_json(&rec.info, r)).collect::<Vec<_>>(),
    });
    with_link(reply(StatusCode::OK, body), link)
}

async fn list_runs(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<RunsQuery>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let url = format!("{}/repos/{}/actions/runs", api.base, rec.info.full_name());
    Ok(list_runs_of(&api, &rec, &q, &url))
}

async fn list_workflows(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    Ok(reply(
        StatusCode::OK,
        json!({"total_count": 1, "workflows": [api.workflow_json(&rec.info)]}),
    ))
}

async fn list_workflow_runs(
    State(api): Api,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    Query(q): Query<RunsQuery>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    if workflow != rec.info.workflow_file && workflow != rec.info.workflow_id.to_string() {
        return Err(not_found());
    }
    let url = format!(
        "{}/repos/{}/actions/workflows/{workflow}/runs",
        api.base,
        rec.info.full_name()
    );
    Ok(list_runs_of(&api, &rec, &q, &url))
}

fn find_run(rec: &RepoRec, id: &str) -> Option<RunRec> {
    let id = id.parse::<u64>().ok()?;
    rec.runs.iter().find(|r| r.id == id).cloned()
}

async fn get_run(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let run = find_run(&rec, &id).ok_or_else(not_found)?;
    Ok(reply(StatusCode::OK, api.run_json(&rec.info, &run)))
}

async fn list_jobs(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let run = find_run(&rec, &id).ok_or_else(not_found)?;
    Ok(reply(
        StatusCode::OK,
        json!({"total_count": 1, "jobs": [api.job_json(&rec.info, &run)]}),
    ))
}

async fn rerun(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let key = repo_key(&owner, &repo);
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let attempt = {
        let mut store = api.store.lock().expect("gh store");
        let job_id = store.id();
        let Some(rec) = store.repos.get_mut(&key) else {
            return not_found();
        };
        let Some(run) = rec.runs.iter_mut().find(|r| r.id == id) else {
            return not_found();
        };
        if run.status != "completed" {
            return reply(
                StatusCode::FORBIDDEN,
                json!({"message": "This workflow run is not completed yet; wait for it or cancel it before re-running.", "documentation_url": DOCS, "status": "403"}),
            );
        }
        let now = Utc::now();
        run.run_attempt += 1;
        run.status = "queued".into();
        run.conclusion = None;
        run.updated_at = now;
        run.run_started_at = now;
        run.job = JobRec::queued(job_id, now);
        run.run_attempt
    };
    ci::spawn_run(api.clone(), key, id, attempt);
    reply(StatusCode::CREATED, json!({}))
}

async fn cancel(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Response {
    let key = repo_key(&owner, &repo);
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    let mut store = api.store.lock().expect("gh store");
    let Some(rec) = store.repos.get_mut(&key) else {
        return not_found();
    };
    let Some(run) = rec.runs.iter_mut().find(|r| r.id == id) else {
        return not_found();
    };
    if run.status == "completed" {
        return reply(
            StatusCode::CONFLICT,
            json!({"message": "Cannot cancel a workflow run that is completed.", "documentation_url": DOCS, "status": "409"}),
        );
    }
    // The CI task sees the `cancelled` conclusion and stops touching the run.
    let now = Utc::now();
    run.status = "completed".into();
    run.conclusion = Some("cancelled".into());
    run.updated_at = now;
    run.job.status = "completed".into();
    run.job.conclusion = Some("cancelled".into());
    run.job.completed_at = Some(now);
    for step in &mut run.job.steps {
        if step.status == "in_progress" {
            step.conclusion = Some("cancelled".into());
            step.completed_at = Some(now);
        } else if step.status == "queued" {
            step.conclusion = Some("skipped".into());
        }
        step.status = "completed".into();
    }
    reply(StatusCode::ACCEPTED, json!({}))
}

async fn fallback() -> Response {
    not_found()
}

// ----- middleware: auth, faults, rate limit, ETag, journal -----

/// The token a request carries (`Authorization: Bearer X` or `token X`).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .then(|| token.trim())
}

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Sha256::digest(body)))
}

/// Whether `If-None-Match` names `etag` (weak or strong, or `*`).
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches("W/").to_string();
    if_none_match
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

fn set_rate_headers(headers: &mut HeaderMap, limit: u64, used: u64, reset: i64) {
    let remaining = limit.saturating_sub(used);
    for (k, v) in [
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-used", used.min(limit).to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-resource", "core".to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
}

async fn github_layer(State(api): Api, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let bare_path = req.uri().path().to_string();
    let if_none_match = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let delay = api.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let authed = bearer(req.headers()).map(|t| t == api.token);
    let mut conditional_hit = false;
    let mut resp = match authed {
        None => reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}),
        ),
        Some(false) => reply(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}),
        ),
        Some(true) => {
            serve_authed(
                &api,
                req,
                next,
                &method,
                &bare_path,
                if_none_match,
                &mut conditional_hit,
            )
            .await
        }
    };
    if authed != Some(true) {
        // Unauthenticated requests have GitHub's small anonymous budget.
        let reset = Utc::now().timestamp() + 3600;
        set_rate_headers(resp.headers_mut(), 60, 1, reset);
    }
    resp.headers_mut().insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    api.journal.record(
        "github",
        method.as_str(),
        &path,
        resp.status().as_u16(),
        conditional_hit,
    );
    resp
}

#[allow(clippy::too_many_arguments)]
async fn serve_authed(
    api: &Arc<GithubApi>,
    req: Request,
    next: Next,
    method: &Method,
    bare_path: &str,
    if_none_match: Option<String>,
    conditional_hit: &mut bool,
) -> Response {
    let free = bare_path == "/rate_limit";
    if let Some(left) = api.faults.rate_limited() {
        let (used, _) = api.rate_snapshot(false);
        let reset = Utc::now().timestamp() + left.as_secs().max(1) as i64;
        let mut resp = reply(
            StatusCode::FORBIDDEN,
            json!({
                "message": format!("API rate limit exceeded for user ID {USER_ID}. If you reach out to GitHub Support for help, please include the request ID."),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                "status": "403",
            }),
        );
        set_rate_headers(resp.headers_mut(), RATE_LIMIT, RATE_LIMIT.max(used), reset);
        return resp;
    }
    let (used_now, _) = api.rate_snapshot(false);
    if used_now >= RATE_LIMIT && !free {
        let (used, reset) = api.rate_snapshot(false);
        let mut resp = reply(
            StatusCode::FORBIDDEN,
            json!({"message": format!("API rate limit exceeded for user ID {USER_ID}."), "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", "status": "403"}),
        );
        set_rate_headers(resp.headers_mut(), RATE_LIMIT, used, reset);
        return resp;
    }
    if api.faults.github_error() {
        let (used, reset) = api.rate_snapshot(!free);
        let mut resp = reply(
            StatusCode::BAD_GATEWAY,
            json!({"message": "Server Error", "documentation_url": DOCS, "status": "502"}),
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("5"));
        set_rate_headers(resp.headers_mut(), RATE_LIMIT, used, reset);
        return resp;
    }
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let malformed = api.faults.malformed(bare_path);
    if *method == Method::GET && parts.status == StatusCode::OK && !malformed {
        let etag = etag_of(&bytes);
        if if_none_match.is_some_and(|inm| etag_matches(&inm, &etag)) {
            // A 304 does not count against the rate limit, as on GitHub.
            *conditional_hit = true;
            let (used, reset) = api.rate_snapshot(false);
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            if let Ok(v) = HeaderValue::from_str(&etag) {
                resp.headers_mut().insert("etag", v);
            }
            set_rate_headers(resp.headers_mut(), RATE_LIMIT, used, reset);
            return resp;
        }
        if let Ok(v) = HeaderValue::from_str(&etag) {
            parts.headers.insert("etag", v);
        }
        parts.headers.insert(
            "cache-control",
            HeaderValue::from_static("private, max-age=60, s-maxage=60"),
        );
    }
    let (used, reset) = api.rate_snapshot(!free);
    set_rate_headers(&mut parts.headers, RATE_LIMIT, used, reset);
    let body = if malformed {
        parts.headers.remove("content-length");
        Body::from("{\"message\": \"this is not valid JSON")
    } else {
        Body::from(bytes)
    };
    Response::from_parts(parts, body)
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
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(api.clone(), github_layer))
        .with_state(api)
}

#[cfg(test)]
mod tests {
    use super::*;

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
