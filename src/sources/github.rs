//! GitHub source: one tokio task per service polls its repository's releases
//! and its release workflow's runs (and, while a run is active, that run's
//! jobs and steps) with conditional requests (ETag / If-None-Match), and sends
//! `Msg::Releases` / `Msg::Runs` / `Msg::Jobs` / `Msg::RateLimit` /
//! `Msg::GitHubError`. Tasks share one [`Gate`] that honours rate limits.
//! Responses are parsed tolerantly from `serde_json::Value` so that an enum
//! value hearth does not know shows as itself. The token never leaves
//! [`crate::sources::token::Token`] except as the Authorization header.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, ETAG, IF_NONE_MATCH};
use octocrab::Octocrab;
use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use crate::app::{Msg, SourceId};
use crate::model::{CiJob, CiRun, CiStep, RateLimit, Release, SourceStatus};
use crate::registry::{Registry, Service};
use crate::sources::token::{self, Token};

/// How often to poll.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intervals {
    /// Between polls of a service with no active run. Conditional requests
    /// answered 304 do not count against the rate limit, so this mostly
    /// bounds how soon a run started elsewhere shows up.
    pub idle: Duration,
    /// Between polls of runs and jobs while a run is active (`gh run watch` uses 3 s).
    pub active: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            idle: Duration::from_secs(30),
            active: Duration::from_millis(2500),
        }
    }
}

impl Intervals {
    /// Defaults, overridden by `HEARTH_POLL_IDLE_SECS` / `HEARTH_POLL_ACTIVE_MS`.
    pub fn from_env() -> Intervals {
        let mut i = Intervals::default();
        if let Some(s) = env_num("HEARTH_POLL_IDLE_SECS") {
            i.idle = Duration::from_secs_f64(s.max(0.1));
        }
        if let Some(ms) = env_num("HEARTH_POLL_ACTIVE_MS") {
            i.active = Duration::from_millis(ms.max(50.0) as u64);
        }
        i
    }
}

fn env_num(var: &str) -> Option<f64> {
    std::env::var(var).ok().and_then(|v| v.trim().parse().ok())
}

/// The GitHub API base URL: `GITHUB_API_URL`, else the registry's
/// `hearth.api_url`, else api.github.com.
pub fn api_url(registry: &Registry) -> String {
    std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| registry.settings.api_url.clone())
        .unwrap_or_else(|| "https://api.github.com".into())
        .trim_end_matches('/')
        .to_string()
}

// ---------------------------------------------------------------------------
// Repository derivation.

/// `owner/name` from a git remote URL: GitHub (or GHE) https/ssh/scp forms,
/// or a local path `.../<name>.git` with `owner` from `hearth.github_owner`.
pub fn repo_from_remote(url: &str, owner: Option<&str>) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let path = if let Some((_, rest)) = url.split_once("://") {
        if url.starts_with("file://") {
            return local(rest, owner);
        }
        rest.split_once('/').map(|(_, p)| p)?
    } else if let Some((host, p)) = url.split_once(':') {
        // scp-like `git@github.com:owner/name`; a Windows drive letter is not a host.
        if host.contains('/') || host.len() == 1 {
            return local(url, owner);
        }
        p
    } else {
        return local(url, owner);
    };
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [.., o, n] => Some(format!("{o}/{n}")),
        _ => None,
    }
}

fn local(path: &str, owner: Option<&str>) -> Option<String> {
    let name = Path::new(path).file_name()?.to_str()?;
    Some(format!("{}/{name}", owner?))
}

/// The service's repository: `repo:` from the registry, else derived from
/// `git -C <directory> remote get-url origin`.
pub fn resolve_repo(service: &Service, owner: Option<&str>) -> Result<String, String> {
    if let Some(r) = &service.repo {
        return Ok(r.clone());
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&service.directory)
        .args(["remote", "get-url", "origin"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git to find the repo of {}: {e}", service.name))?;
    if !out.status.success() {
        return Err(format!(
            "cannot tell the GitHub repo of {}: no origin remote in {}; set `repo: owner/name` in services.yaml",
            service.name,
            service.directory.display()
        ));
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    repo_from_remote(&url, owner).ok_or_else(|| {
        format!(
            "cannot tell the GitHub repo of {} from remote {url}; set `repo: owner/name` in services.yaml (or hearth.github_owner)",
            service.name
        )
    })
}

// ---------------------------------------------------------------------------
// Tolerant parsing.

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// Releases, newest first as GitHub lists them, with `latest` set on the
/// newest published non-prerelease (GitHub's default notion of latest).
pub fn parse_releases(v: &Value) -> Result<Vec<Release>, String> {
    let arr = v.as_array().ok_or("releases: expected a JSON array")?;
    let mut out: Vec<Release> = arr
        .iter()
        .map(|r| Release {
            id: u(r, "id"),
            tag: s(r, "tag_name").unwrap_or_default(),
            name: s(r, "name"),
            draft: b(r, "draft"),
            prerelease: b(r, "prerelease"),
            latest: false,
            created_at: s(r, "created_at"),
            published_at: s(r, "published_at"),
            html_url: s(r, "html_url"),
        })
        .collect();
    let latest = out
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.draft && !r.prerelease)
        .max_by(|(_, a), (_, b)| {
            let ka = a.published_at.as_ref().or(a.created_at.as_ref());
            let kb = b.published_at.as_ref().or(b.created_at.as_ref());
            ka.cmp(&kb).then(a.id.cmp(&b.id))
        })
        .map(|(i, _)| i);
    if let Some(i) = latest {
        out[i].latest = true;
    }
    Ok(out)
}

/// `{"workflow_runs": [...]}` into runs, newest first.
pub fn parse_runs(v: &Value) -> Result<Vec<CiRun>, String> {
    let arr = v
        .get("workflow_runs")
        .and_then(Value::as_array)
        .ok_or("workflow runs: expected {\"workflow_runs\": [...]}")?;
    Ok(arr
        .iter()
        .map(|r| CiRun {
            id: u(r, "id"),
            run_number: u(r, "run_number"),
            name: s(r, "name"),
            display_title: s(r, "display_title"),
            event: s(r, "event").unwrap_or_default(),
            head_branch: s(r, "head_branch"),
            head_sha: s(r, "head_sha").unwrap_or_default(),
            status: s(r, "status").unwrap_or_else(|| "unknown".into()),
            conclusion: s(r, "conclusion"),
            created_at: s(r, "created_at"),
            updated_at: s(r, "updated_at"),
            html_url: s(r, "html_url"),
        })
        .collect())
}

/// `{"jobs": [...]}` into jobs with their steps.
pub fn parse_jobs(v: &Value) -> Result<Vec<CiJob>, String> {
    let arr = v
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or("jobs: expected {\"jobs\": [...]}")?;
    Ok(arr
        .iter()
        .map(|j| CiJob {
            id: u(j, "id"),
            run_id: u(j, "run_id"),
            name: s(j, "name").unwrap_or_default(),
            status: s(j, "status").unwrap_or_else(|| "unknown".into()),
            conclusion: s(j, "conclusion"),
            started_at: s(j, "started_at"),
            completed_at: s(j, "completed_at"),
            steps: j
                .get("steps")
                .and_then(Value::as_array)
                .map(|steps| {
                    steps
                        .iter()
                        .map(|st| CiStep {
                            number: u(st, "number"),
                            name: s(st, "name").unwrap_or_default(),
                            status: s(st, "status").unwrap_or_else(|| "unknown".into()),
                            conclusion: s(st, "conclusion"),
                            started_at: s(st, "started_at"),
                            completed_at: s(st, "completed_at"),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

/// The rate-limit budget from response headers, when present.
pub fn parse_rate_limit(h: &HeaderMap) -> Option<RateLimit> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let remaining = get("x-ratelimit-remaining")?.parse().ok()?;
    Some(RateLimit {
        limit: get("x-ratelimit-limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        remaining,
        used: get("x-ratelimit-used")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        reset: get("x-ratelimit-reset")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    })
}

// ---------------------------------------------------------------------------
// The client: conditional GETs behind a shared rate-limit gate.

/// What a GET came back with.
#[derive(Debug)]
pub enum Fetched {
    /// 304: unchanged since the ETag we sent (free against the rate limit).
    NotModified,
    Body {
        value: Value,
        etag: Option<String>,
    },
}

/// Why a GET failed. Messages never contain the token.
#[derive(Debug, Clone, PartialEq)]
pub enum GhError {
    /// Primary or secondary rate limit: nothing until `wait` has passed.
    RateLimited { wait: Duration, message: String },
    /// 401: the token was rejected.
    Unauthorized,
    /// 404 on `path`.
    NotFound,
    /// 403 that is not a rate limit.
    Forbidden(String),
    /// Other HTTP status (5xx, ...).
    Status(u16),
    /// No HTTP answer at all.
    Transport(String),
    /// An answer that is not the JSON expected.
    Malformed(String),
}

/// Shared by all GitHub tasks: one client, one rate-limit gate, a bound on
/// concurrent requests, and the last status / budget sent (to send changes only).
pub struct Gate {
    octo: Octocrab,
    token: Token,
    tx: mpsc::Sender<Msg>,
    blocked_until: Mutex<Option<Instant>>,
    concurrency: Semaphore,
    last_status: Mutex<Option<SourceStatus>>,
    last_budget: Mutex<Option<RateLimit>>,
}

impl Gate {
    /// A client on `api_url` authenticated with `token`.
    pub fn new(api_url: &str, token: Token, tx: mpsc::Sender<Msg>) -> Result<Arc<Gate>, String> {
        let octo = Octocrab::builder()
            // Retries and backoff are ours: they must respect the shared gate.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(5)))
            .set_read_timeout(Some(Duration::from_secs(15)))
            .personal_token(token.expose().to_string())
            .base_uri(api_url)
            .map_err(|e| format!("bad GitHub API URL {api_url:?}: {e}"))?
            .build()
            .map_err(|e| token.redact(&format!("cannot build the GitHub client: {e}")))?;
        Ok(Arc::new(Gate {
            octo,
            token,
            tx,
            blocked_until: Mutex::new(None),
            concurrency: Semaphore::new(8),
            last_status: Mutex::new(None),
            last_budget: Mutex::new(None),
        }))
    }

    /// Send `status` for the GitHub source if it changed.
    pub async fn status(&self, status: SourceStatus) {
        let changed = {
            let mut last = self.last_status.lock().expect("status lock");
            if last.as_ref() == Some(&status) {
                false
            } else {
                *last = Some(status.clone());
                true
            }
        };
        if changed {
            tracing::info!(?status, "github source");
            let _ = self.tx.send(Msg::Source(SourceId::GitHub, status)).await;
        }
    }

    async fn budget(&self, rl: RateLimit) {
        let changed = {
            let mut last = self.last_budget.lock().expect("budget lock");
            if last.as_ref() == Some(&rl) {
                false
            } else {
                *last = Some(rl.clone());
                true
            }
        };
        if changed {
            let _ = self.tx.send(Msg::RateLimit(rl)).await;
        }
    }

    fn block_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut b = self.blocked_until.lock().expect("gate lock");
        if b.is_none_or(|t| t < until) {
            *b = Some(until);
        }
    }

    async fn wait_open(&self) {
        loop {
            let until = *self.blocked_until.lock().expect("gate lock");
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// GET `path` (relative to the API base) with `If-None-Match: etag`.
    pub async fn get(&self, path: &str, etag: Option<&str>) -> Result<Fetched, GhError> {
        self.wait_open().await;
        let _permit = self.concurrency.acquire().await.expect("semaphore open");
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        if let Some(e) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            headers.insert(IF_NONE_MATCH, e);
        }
        let resp = tokio::time::timeout(
            Duration::from_secs(20),
            self.octo._get_with_headers(path, Some(headers)),
        )
        .await
        .map_err(|_| GhError::Transport("GitHub did not answer within 20 s".into()))?
        .map_err(|e| GhError::Transport(self.token.redact(&e.to_string())))?;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        if let Some(rl) = parse_rate_limit(&h) {
            self.budget(rl).await;
        }
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        let body = self
            .octo
            .body_to_string(resp)
            .await
            .map_err(|e| GhError::Transport(self.token.redact(&e.to_string())))?;
        if (200..300).contains(&status) {
            let value: Value = serde_json::from_str(&body)
                .map_err(|e| GhError::Malformed(format!("{path}: invalid JSON ({e})")))?;
            let etag = h
                .get(ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return Ok(Fetched::Body { value, etag });
        }
        let err = classify(status, &h, &body);
        match &err {
            GhError::RateLimited { wait, .. } => self.block_for(*wait),
            // A 5xx with retry-after (an outage, a deploy): everyone waits.
            GhError::Status(_) => {
                if let Some(secs) = h
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                {
                    self.block_for(Duration::from_secs(secs.clamp(1, 300)));
                }
            }
            _ => {}
        }
        Err(err)
    }
}

/// Map a non-2xx answer to an error; rate limits carry how long to wait:
/// `retry-after`, else until `x-ratelimit-reset` when the budget is 0, else
/// 60 s for a secondary limit (GitHub's advice).
pub fn classify(status: u16, h: &HeaderMap, body: &str) -> GhError {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| s(&v, "message"))
        .unwrap_or_default();
    if status == 403 || status == 429 {
        if let Some(secs) = get("retry-after").and_then(|v| v.parse::<u64>().ok()) {
            return GhError::RateLimited {
                wait: Duration::from_secs(secs.max(1)),
                message: format!("secondary rate limit: retry after {secs} s"),
            };
        }
        if get("x-ratelimit-remaining") == Some("0") {
            let reset = get("x-ratelimit-reset")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            let now = chrono::Utc::now().timestamp();
            let secs = (reset - now).clamp(1, 3600) as u64;
            let at = chrono::DateTime::from_timestamp(reset, 0)
                .map(|t| t.format("%H:%M:%S UTC").to_string())
                .unwrap_or_else(|| format!("in {secs} s"));
            return GhError::RateLimited {
                wait: Duration::from_secs(secs),
                message: format!("rate limit exhausted; resets at {at}"),
            };
        }
        if status == 429 || message.to_lowercase().contains("rate limit") {
            return GhError::RateLimited {
                wait: Duration::from_secs(60),
                message: "secondary rate limit; backing off 60 s".into(),
            };
        }
        return GhError::Forbidden(message);
    }
    match status {
        401 => GhError::Unauthorized,
        404 => GhError::NotFound,
        s => GhError::Status(s),
    }
}

/// A user-facing sentence for an error on `what` of `repo`, saying what to do.
pub fn describe(err: &GhError, repo: &str, what: &str) -> String {
    match err {
        GhError::RateLimited { message, .. } => format!("GitHub {message}"),
        GhError::Unauthorized => {
            "GitHub rejected the token (401 bad credentials): set a valid GH_TOKEN or run gh auth login".into()
        }
        GhError::NotFound if what.starts_with("workflow") => format!(
            "{what} not found in {repo} (404): check `workflow:` in services.yaml"
        ),
        GhError::NotFound => format!(
            "repo {repo} not found (404): check `repo:` in services.yaml, or that the token can read it"
        ),
        GhError::Forbidden(m) => format!(
            "forbidden (403) reading {what} of {repo}: {m}; the token needs read access to contents and actions"
        ),
        GhError::Status(s) => format!("GitHub answered {s} for {what} of {repo}; retrying"),
        GhError::Transport(m) => format!(
            "cannot reach GitHub for {repo}: {m}; check GITHUB_API_URL and the network"
        ),
        GhError::Malformed(m) => format!("unexpected answer from GitHub: {m}"),
    }
}

// ---------------------------------------------------------------------------
// Per-service poller.

struct Poller {
    gate: Arc<Gate>,
    service: String,
    repo: String,
    workflow: String,
    intervals: Intervals,
    releases_etag: Option<String>,
    runs_etag: Option<String>,
    runs: Vec<CiRun>,
    /// Whether a runs list was received yet (the first one is history, not news).
    runs_seen: bool,
    /// Jobs ETag per run being followed.
    jobs_etag: HashMap<u64, String>,
    releases_due: Instant,
    failures: u32,
    /// The error last sent as `Msg::GitHubError`, until a clean round.
    last_error: Option<String>,
    /// Whether any request of the current round failed.
    round_failed: bool,
}

impl Poller {
    async fn send(&self, msg: Msg) -> bool {
        self.gate.tx.send(msg).await.is_ok()
    }

    async fn error(&mut self, err: &GhError, what: &str) -> bool {
        let message = self.gate.token.redact(&describe(err, &self.repo, what));
        match err {
            GhError::RateLimited { .. } => {
                self.gate
                    .status(SourceStatus::Degraded(message.clone()))
                    .await
            }
            GhError::Unauthorized => self.gate.status(SourceStatus::Down(message.clone())).await,
            GhError::Transport(_) | GhError::Status(_) => {
                self.gate
                    .status(SourceStatus::Degraded(message.clone()))
                    .await
            }
            _ => {}
        }
        self.failures += 1;
        self.round_failed = true;
        if self.last_error.as_deref() == Some(message.as_str()) {
            return true;
        }
        self.last_error = Some(message.clone());
        tracing::warn!(service = %self.service, %message, "github poll");
        self.send(Msg::GitHubError {
            service: self.service.clone(),
            message,
        })
        .await
    }

    async fn ok(&mut self) {
        self.failures = 0;
        self.gate.status(SourceStatus::Live).await;
    }

    /// After a round in which every request succeeded: if an error was on
    /// screen, say it is over (unchanged data answers 304 and sends nothing).
    async fn round_done(&mut self) -> bool {
        if self.round_failed || self.last_error.take().is_none() {
            return true;
        }
        self.send(Msg::GitHubRecovered {
            service: self.service.clone(),
        })
        .await
    }

    /// One round: runs, releases when due, jobs of active runs. Returns
    /// false when the receiver is gone.
    async fn round(&mut self) -> bool {
        self.round_failed = false;
        let runs_path = format!(
            "/repos/{}/actions/workflows/{}/runs?per_page=5",
            self.repo, self.workflow
        );
        let mut new_run = false;
        let mut finished: Vec<u64> = Vec::new();
        match self.gate.get(&runs_path, self.runs_etag.as_deref()).await {
            Ok(Fetched::NotModified) => self.ok().await,
            Ok(Fetched::Body { value, etag }) => match parse_runs(&value) {
                Ok(runs) => {
                    self.ok().await;
                    let first_poll = !self.runs_seen;
                    self.runs_seen = true;
                    self.runs_etag = etag;
                    new_run = runs.iter().any(|r| !self.runs.iter().any(|o| o.id == r.id));
                    // Runs that completed since the last poll: fetch their jobs
                    // once more so the CI stream ends with the final steps. A run
                    // that started and finished between two idle polls counts
                    // too (not at start-up, where every old run is "new").
                    finished = runs
                        .iter()
                        .filter(|r| !r.is_active())
                        .filter(|r| match self.runs.iter().find(|o| o.id == r.id) {
                            Some(o) => o.is_active(),
                            None => !first_poll,
                        })
                        .map(|r| r.id)
                        .collect();
                    if runs != self.runs {
                        self.runs = runs.clone();
                        if !self
                            .send(Msg::Runs {
                                service: self.service.clone(),
                                runs,
                            })
                            .await
                        {
                            return false;
                        }
                    }
                }
                Err(m) => {
                    if !self.error(&GhError::Malformed(m), "workflow runs").await {
                        return false;
                    }
                }
            },
            Err(e) => {
                let what = format!("workflow {}", self.workflow);
                return self.error(&e, &what).await;
            }
        }

        // A new run usually means a new release: fetch releases now.
        if new_run || Instant::now() >= self.releases_due {
            self.releases_due = Instant::now() + self.intervals.idle;
            let path = format!("/repos/{}/releases?per_page=30", self.repo);
            match self.gate.get(&path, self.releases_etag.as_deref()).await {
                Ok(Fetched::NotModified) => {}
                Ok(Fetched::Body { value, etag }) => match parse_releases(&value) {
                    Ok(releases) => {
                        self.releases_etag = etag;
                        let msg = Msg::Releases {
                            service: self.service.clone(),
                            releases,
                        };
                        if !self.send(msg).await {
                            return false;
                        }
                    }
                    Err(m) => {
                        if !self.error(&GhError::Malformed(m), "releases").await {
                            return false;
                        }
                    }
                },
                Err(e) => return self.error(&e, "releases").await,
            }
        }

        let follow: Vec<u64> = self
            .runs
            .iter()
            .filter(|r| r.is_active())
            .map(|r| r.id)
            .chain(finished)
            .collect();
        for run_id in follow {
            let path = format!("/repos/{}/actions/runs/{run_id}/jobs", self.repo);
            let etag = self.jobs_etag.get(&run_id).cloned();
            match self.gate.get(&path, etag.as_deref()).await {
                Ok(Fetched::NotModified) => {}
                Ok(Fetched::Body { value, etag }) => match parse_jobs(&value) {
                    Ok(jobs) => {
                        if let Some(e) = etag {
                            self.jobs_etag.insert(run_id, e);
                        }
                        let msg = Msg::Jobs {
                            service: self.service.clone(),
                            run_id,
                            jobs,
                        };
                        if !self.send(msg).await {
                            return false;
                        }
                    }
                    Err(m) => {
                        if !self.error(&GhError::Malformed(m), "jobs").await {
                            return false;
                        }
                    }
                },
                Err(e) => return self.error(&e, "jobs").await,
            }
        }
        // Forget ETags of runs no longer followed.
        let active: Vec<u64> = self
            .runs
            .iter()
            .filter(|r| r.is_active())
            .map(|r| r.id)
            .collect();
        self.jobs_etag.retain(|id, _| active.contains(id));
        self.round_done().await
    }

    fn next_delay(&self) -> Duration {
        if self.failures > 0 {
            // Exponential backoff on errors: 5 s, 10 s, ... up to 5 min.
            let secs = 5u64.saturating_mul(1 << self.failures.min(6).saturating_sub(1));
            return Duration::from_secs(secs.min(300)).max(self.intervals.active);
        }
        if self.runs.iter().any(CiRun::is_active) {
            self.intervals.active
        } else {
            // Up to 20 % jitter so that hundreds of idle pollers started
            // together do not fire in one burst every interval.
            let jitter = rand::random::<f64>() * 0.2;
            self.intervals.idle.mul_f64(1.0 + jitter)
        }
    }
}

/// Run the poller for one service until the receiver is dropped. `kick`
/// wakes it early (for example right after hearth published a release).
pub async fn run_service(
    gate: Arc<Gate>,
    service: String,
    repo: String,
    workflow: String,
    intervals: Intervals,
    kick: Arc<tokio::sync::Notify>,
) {
    let mut p = Poller {
        gate,
        service,
        repo,
        workflow,
        intervals,
        releases_etag: None,
        runs_etag: None,
        runs: Vec::new(),
        runs_seen: false,
        jobs_etag: HashMap::new(),
        releases_due: Instant::now(),
        failures: 0,
        last_error: None,
        round_failed: false,
    };
    loop {
        if !p.round().await || p.gate.tx.is_closed() {
            return;
        }
        let delay = p.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = kick.notified() => {}
        }
    }
}

/// Handles to wake the pollers early, by service name.
#[derive(Clone, Default)]
pub struct Kicks(pub HashMap<String, Arc<tokio::sync::Notify>>);

impl Kicks {
    /// Poll `service` now (after publishing or editing one of its releases).
    pub fn kick(&self, service: &str) {
        if let Some(n) = self.0.get(service) {
            n.notify_one();
        }
    }
}

/// Start the GitHub source for every service of the registry. Without a
/// token it reports `Disabled` and starts nothing, so the rest still runs.
pub fn spawn(
    registry: &Registry,
    token: Option<Token>,
    intervals: Intervals,
    tx: mpsc::Sender<Msg>,
) -> (Kicks, Vec<tokio::task::JoinHandle<()>>) {
    let mut kicks = Kicks::default();
    let mut handles = Vec::new();
    let Some(token) = token else {
        let _ = tx.try_send(Msg::Source(
            SourceId::GitHub,
            SourceStatus::Disabled(token::NO_TOKEN.into()),
        ));
        return (kicks, handles);
    };
    let url = api_url(registry);
    let gate = match Gate::new(&url, token, tx.clone()) {
        Ok(g) => g,
        Err(e) => {
            let _ = tx.try_send(Msg::Source(SourceId::GitHub, SourceStatus::Down(e)));
            return (kicks, handles);
        }
    };
    let _ = tx.try_send(Msg::Source(SourceId::GitHub, SourceStatus::Connecting));
    let owner = registry.settings.github_owner.clone();
    for svc in &registry.services {
        match resolve_repo(svc, owner.as_deref()) {
            Ok(repo) => {
                let kick = Arc::new(tokio::sync::Notify::new());
                kicks.0.insert(svc.name.clone(), kick.clone());
                handles.push(tokio::spawn(run_service(
                    gate.clone(),
                    svc.name.clone(),
                    repo,
                    svc.workflow.clone(),
                    intervals,
                    kick,
                )));
            }
            // A service hearth does not ship, with no repo to be found, simply
            // has no GitHub data; that is not an error worth a red line.
            Err(_) if !svc.shippable && svc.repo.is_none() => {}
            Err(message) => {
                let _ = tx.try_send(Msg::GitHubError {
                    service: svc.name.clone(),
                    message,
                });
            }
        }
    }
    (kicks, handles)
}

// ---------------------------------------------------------------------------
// One-shot (hearth status).

/// What `hearth status` needs of one service: its releases and latest run.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub releases: Vec<Release>,
    pub latest_run: Option<CiRun>,
    pub error: Option<String>,
}

/// Fetch releases and the latest run of one service once.
pub async fn fetch_once(gate: &Gate, service: &Service, owner: Option<&str>) -> Snapshot {
    let repo = match resolve_repo(service, owner) {
        Ok(r) => r,
        Err(e) => {
            return Snapshot {
                error: Some(e),
                ..Default::default()
            }
        }
    };
    let mut snap = Snapshot::default();
    let rel = format!("/repos/{repo}/releases?per_page=30");
    let runs = format!(
        "/repos/{repo}/actions/workflows/{}/runs?per_page=1",
        service.workflow
    );
    let (r1, r2) = tokio::join!(gate.get(&rel, None), gate.get(&runs, None));
    match r1 {
        Ok(Fetched::Body { value, .. }) => match parse_releases(&value) {
            Ok(r) => snap.releases = r,
            Err(m) => snap.error = Some(m),
        },
        Ok(Fetched::NotModified) => {}
        Err(e) => snap.error = Some(gate.token.redact(&describe(&e, &repo, "releases"))),
    }
    match r2 {
        Ok(Fetched::Body { value, .. }) => match parse_runs(&value) {
            Ok(r) => snap.latest_run = r.into_iter().next(),
            Err(m) => snap.error = snap.error.or(Some(m)),
        },
        Ok(Fetched::NotModified) => {}
        Err(e) => {
            let what = format!("workflow {}", service.workflow);
            snap.error = snap
                .error
                .or(Some(gate.token.redact(&describe(&e, &repo, &what))))
        }
    }
    snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repo_from_remote_forms() {
        let o = Some("acme");
        assert_eq!(
            repo_from_remote("git@github.com:katforge/api.git", None).as_deref(),
            Some("katforge/api")
        );
        assert_eq!(
            repo_from_remote("https://github.com/katforge/api", None).as_deref(),
            Some("katforge/api")
        );
        assert_eq!(
            repo_from_remote("ssh://git@ghe.example.com:22/team/web.git/", None).as_deref(),
            Some("team/web")
        );
        assert_eq!(
            repo_from_remote("/tmp/sb/origins/api.git", o).as_deref(),
            Some("acme/api")
        );
        assert_eq!(
            repo_from_remote("file:///tmp/sb/origins/api.git", o).as_deref(),
            Some("acme/api")
        );
        assert_eq!(repo_from_remote("/tmp/sb/origins/api.git", None), None);
    }

    #[test]
    fn unknown_enum_values_stay_strings() {
        let jobs = parse_jobs(&json!({"total_count": 1, "jobs": [{"id": 7, "run_id": 3, "name": "build",
            "status": "requested", "conclusion": null, "future_field": 1,
            "steps": [{"number": 1, "name": "Set up job", "status": "pending", "conclusion": "startup_failure"}]}]}))
        .unwrap();
        assert_eq!(jobs[0].status, "requested");
        assert_eq!(jobs[0].steps[0].status, "pending");
        assert_eq!(
            jobs[0].steps[0].conclusion.as_deref(),
            Some("startup_failure")
        );
        let runs = parse_runs(
            &json!({"total_count": 1, "workflow_runs": [{"id": 3, "run_number": 9,
            "event": "release", "head_sha": "abc", "status": "waiting", "conclusion": null}]}),
        )
        .unwrap();
        assert_eq!(runs[0].status, "waiting");
        assert!(runs[0].is_active());
        assert!(parse_runs(&json!({"nope": 1})).is_err());
    }

    #[test]
    fn latest_is_newest_published_stable_release() {
        let r = parse_releases(&json!([
            {"id": 3, "tag_name": "v0.0.29-rc.1", "prerelease": true, "draft": false, "published_at": "2026-01-03T00:00:00Z"},
            {"id": 4, "tag_name": "v0.0.30", "prerelease": false, "draft": true},
            {"id": 2, "tag_name": "v0.0.28", "prerelease": false, "draft": false, "published_at": "2026-01-02T00:00:00Z"},
            {"id": 1, "tag_name": "v0.0.27", "prerelease": false, "draft": false, "published_at": "2026-01-01T00:00:00Z"}
        ]))
        .unwrap();
        let latest: Vec<&str> = r
            .iter()
            .filter(|r| r.latest)
            .map(|r| r.tag.as_str())
            .collect();
        assert_eq!(latest, ["v0.0.28"]);
    }

    #[test]
    fn rate_limit_classification() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        let reset = (chrono::Utc::now().timestamp() + 120).to_string();
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).unwrap());
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
        match classify(403, &h, "{\"message\":\"API rate limit exceeded\"}") {
            GhError::RateLimited { wait, message } => {
                assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
                assert!(message.contains("resets at"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let rl = parse_rate_limit(&h).unwrap();
        assert_eq!((rl.limit, rl.remaining), (5000, 0));
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert!(matches!(
            classify(429, &h, ""),
            GhError::RateLimited { wait, .. } if wait == Duration::from_secs(7)
        ));
        assert_eq!(
            classify(
                403,
                &HeaderMap::new(),
                "{\"message\":\"Resource not accessible\"}"
            ),
            GhError::Forbidden("Resource not accessible".into())
        );
        assert_eq!(classify(401, &HeaderMap::new(), ""), GhError::Unauthorized);
        assert!(describe(&GhError::NotFound, "a/b", "releases").contains("repo a/b not found"));
    }
}

/// The poller against a small local HTTP server: conditional requests, 304s,
/// jobs of an active run, and no token in anything sent.
#[cfg(test)]
mod http_tests {
    use super::*;
    use axum::extract::State;
    use axum::http::{HeaderMap as AxHeaders, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// (endpoint, If-None-Match, Authorization) of each request served.
    type Request = (String, Option<String>, Option<String>);

    #[derive(Clone, Default)]
    struct Seen {
        requests: Arc<Mutex<Vec<Request>>>,
        run_polls: Arc<AtomicUsize>,
    }

    async fn runs(State(seen): State<Seen>, h: AxHeaders) -> axum::response::Response {
        let n = seen.run_polls.fetch_add(1, Ordering::SeqCst);
        record(&seen, "runs", &h);
        // First two polls: an active run; afterwards: completed.
        let status = if n < 2 { "in_progress" } else { "completed" };
        let etag = format!("\"runs-{status}\"");
        if h.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
        }
        let body = json!({"total_count": 1, "workflow_runs": [{"id": 42, "run_number": 7,
            "event": "release", "head_sha": "abc", "status": status,
            "conclusion": if n < 2 { Value::Null } else { json!("success") }}]});
        (
            [
                ("etag", etag),
                ("x-ratelimit-remaining", "4999".into()),
                ("x-ratelimit-limit", "5000".into()),
            ],
            axum::Json(body),
        )
            .into_response()
    }

    async fn releases(State(seen): State<Seen>, h: AxHeaders) -> axum::response::Response {
        record(&seen, "releases", &h);
        if h.get("if-none-match").is_some() {
            return (StatusCode::NOT_MODIFIED, [("etag", "\"rel\"")]).into_response();
        }
        let body = json!([{"id": 1, "tag_name": "v1.0.0", "draft": false, "prerelease": false}]);
        ([("etag", "\"rel\"")], axum::Json(body)).into_response()
    }

    async fn jobs(State(seen): State<Seen>, h: AxHeaders) -> axum::response::Response {
        record(&seen, "jobs", &h);
        let body = json!({"total_count": 1, "jobs": [{"id": 1, "run_id": 42, "name": "release",
            "status": "in_progress", "steps": [{"number": 1, "name": "build", "status": "requested"}]}]});
        axum::Json(body).into_response()
    }

    fn record(seen: &Seen, what: &str, h: &AxHeaders) {
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
        seen.requests.lock().unwrap().push((
            what.to_string(),
            get("if-none-match"),
            get("authorization"),
        ));
    }

    #[tokio::test]
    async fn polls_conditionally_and_follows_active_run() {
        let seen = Seen::default();
        let app = axum::Router::new()
            .route("/repos/o/r/actions/workflows/release.yml/runs", get(runs))
            .route("/repos/o/r/releases", get(releases))
            .route("/repos/o/r/actions/runs/42/jobs", get(jobs))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let (tx, mut rx) = mpsc::channel(100);
        let secret = "fake-token-TESTSECRET-should-never-leak";
        let gate = Gate::new(&url, Token::new(secret, "GH_TOKEN"), tx).unwrap();
        let intervals = Intervals {
            idle: Duration::from_millis(100),
            active: Duration::from_millis(50),
        };
        let task = tokio::spawn(run_service(
            gate,
            "api".into(),
            "o/r".into(),
            "release.yml".into(),
            intervals,
            Arc::new(tokio::sync::Notify::new()),
        ));
        let mut msgs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.run_polls.load(Ordering::SeqCst) < 6 && Instant::now() < deadline {
            if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                msgs.push(m);
            }
        }
        task.abort();
        while let Ok(m) = rx.try_recv() {
            msgs.push(m);
        }
        let reqs = seen.requests.lock().unwrap().clone();
        // Every request authenticated; later polls conditional.
        assert!(reqs
            .iter()
            .all(|r| r.2.as_deref() == Some(&format!("Bearer {secret}"))));
        assert!(reqs
            .iter()
            .filter(|r| r.0 == "runs")
            .skip(3)
            .all(|r| r.1.is_some()));
        assert!(reqs
            .iter()
            .filter(|r| r.0 == "releases")
            .skip(1)
            .all(|r| r.1.is_some()));
        // The active run's jobs were followed, including once after it completed.
        assert!(reqs.iter().filter(|r| r.0 == "jobs").count() >= 2);
        assert!(msgs.iter().any(|m| matches!(m, Msg::Jobs { run_id: 42, jobs, .. } if jobs[0].steps[0].status == "requested")));
        assert!(msgs
            .iter()
            .any(|m| matches!(m, Msg::Releases { releases, .. } if releases[0].latest)));
        assert!(msgs
            .iter()
            .any(|m| matches!(m, Msg::RateLimit(rl) if rl.remaining == 4999)));
        assert!(msgs
            .iter()
            .any(|m| matches!(m, Msg::Source(SourceId::GitHub, SourceStatus::Live))));
        // Runs are re-sent only on change: in_progress then completed.
        assert_eq!(
            msgs.iter()
                .filter(|m| matches!(m, Msg::Runs { .. }))
                .count(),
            2
        );
        for m in &msgs {
            assert!(!format!("{m:?}").contains(secret));
        }
    }

    #[tokio::test]
    async fn errors_name_what_to_do_without_the_token() {
        let app = axum::Router::new().route(
            "/repos/{o}/{r}/actions/workflows/{w}/runs",
            get(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    "{\"message\":\"Bad credentials\"}",
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let (tx, mut rx) = mpsc::channel(100);
        let secret = "ghp_OTHERSECRET";
        let gate = Gate::new(&url, Token::new(secret, "GH_TOKEN"), tx).unwrap();
        let task = tokio::spawn(run_service(
            gate,
            "api".into(),
            "o/r".into(),
            "release.yml".into(),
            Intervals::default(),
            Arc::new(tokio::sync::Notify::new()),
        ));
        let mut got = None;
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            assert!(!format!("{m:?}").contains(secret));
            if let Msg::GitHubError { message, .. } = m {
                got = Some(message);
                break;
            }
        }
        task.abort();
        let message = got.expect("a GitHubError");
        assert!(
            message.contains("401") && message.contains("GH_TOKEN"),
            "{message}"
        );
    }
}
