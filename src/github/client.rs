//! The GitHub HTTP client: one `octocrab` client behind a shared rate-limit
//! gate (`x-ratelimit-*`, `retry-after`, secondary limits), a bound on
//! concurrent requests, conditional GETs (ETag / `If-None-Match`, where a 304
//! costs no rate limit), and the writes the operations need, each of which
//! takes a [`WriteAccess`]. Used by the pollers, `hearth status` and the
//! operations from their own tasks. The token never leaves [`Token`] except
//! as the Authorization header, and is scrubbed from every error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, ETAG, IF_NONE_MATCH};
use http::Method;
use octocrab::Octocrab;
use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

use super::parse::{parse_rate_limit, s};
use super::token::Token;
use super::Event;
use crate::model::{Problem, ProblemKind, RateLimit, SourceStatus};
use crate::WriteAccess;

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

/// Why a request failed. Messages never contain the token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GhError {
    /// Primary or secondary rate limit: nothing until `wait` has passed.
    #[error("GitHub {message}")]
    RateLimited { wait: Duration, message: String },
    /// 401: the token was rejected.
    #[error("GitHub rejected the token (401 bad credentials)")]
    Unauthorized,
    /// 404.
    #[error("not found (404)")]
    NotFound,
    /// 403 that is not a rate limit, with GitHub's message.
    #[error("forbidden (403): {0}")]
    Forbidden(String),
    /// 422: GitHub refused the request; GitHub's message and error codes
    /// (`already_exists`, ...).
    #[error("GitHub refused it (422): {0}")]
    Invalid(String),
    /// 409.
    #[error("conflict (409): {0}")]
    Conflict(String),
    /// Other HTTP status (5xx, ...).
    #[error("GitHub answered {0}")]
    Status(u16),
    /// No HTTP answer at all.
    #[error("{0}")]
    Transport(String),
    /// An answer that is not the JSON expected.
    #[error("unexpected answer from GitHub: {0}")]
    Malformed(String),
}

impl GhError {
    /// The problem's kind, for the UI and the exit codes.
    pub fn kind(&self) -> ProblemKind {
        match self {
            GhError::RateLimited { .. } => ProblemKind::RateLimited,
            GhError::Unauthorized => ProblemKind::Unauthorized,
            GhError::NotFound => ProblemKind::NotFound,
            GhError::Forbidden(_) => ProblemKind::Forbidden,
            GhError::Invalid(_) => ProblemKind::Invalid,
            GhError::Conflict(_) => ProblemKind::Conflict,
            GhError::Status(_) => ProblemKind::Server,
            GhError::Transport(_) => ProblemKind::Unreachable,
            GhError::Malformed(_) => ProblemKind::Malformed,
        }
    }

    /// Whether GitHub said "already exists" (a release for this tag, ...).
    pub fn already_exists(&self) -> bool {
        matches!(self, GhError::Invalid(m) if m.contains("already_exists"))
    }

    /// A problem for this error on `what` (`releases`, `workflow release.yml`)
    /// of `repo`, with what to do. Reading and writing need different rights,
    /// so `writing` changes the 403 hint.
    pub fn problem(&self, repo: &str, what: &str, writing: bool) -> Problem {
        let kind = self.kind();
        match self {
            GhError::RateLimited { message, .. } => Problem::new(
                kind,
                format!("GitHub {message}"),
                "hearth waits and retries by itself",
            ),
            GhError::Unauthorized => Problem::new(
                kind,
                "GitHub rejected the token (401 bad credentials)",
                "set a valid GH_TOKEN or run gh auth login",
            ),
            GhError::NotFound if what.starts_with("workflow") => Problem::new(
                kind,
                format!("{what} not found in {repo} (404)"),
                "check `workflow:` in services.yaml",
            ),
            GhError::NotFound => Problem::new(
                kind,
                format!("{what} of {repo} not found (404)"),
                "check `repo:` in services.yaml, or that the token can read it",
            ),
            GhError::Forbidden(m) => Problem::new(
                kind,
                format!(
                    "forbidden (403) {} {what} of {repo}: {m}",
                    if writing { "changing" } else { "reading" }
                ),
                if writing {
                    "the token needs write access to contents (releases) and actions"
                } else {
                    "the token needs read access to contents and actions"
                },
            ),
            GhError::Invalid(m) => Problem::new(
                kind,
                format!("GitHub refused the change to {what} of {repo} (422): {m}"),
                "",
            ),
            GhError::Conflict(m) => Problem::new(
                kind,
                format!("conflict changing {what} of {repo} (409): {m}"),
                "someone changed it at the same time; try again",
            ),
            GhError::Status(code) => Problem::new(
                kind,
                format!("GitHub answered {code} for {what} of {repo}"),
                if writing {
                    "try again in a minute"
                } else {
                    "retrying"
                },
            ),
            GhError::Transport(m) => Problem::new(
                kind,
                format!("cannot reach GitHub for {repo}: {m}"),
                "check GITHUB_API_URL and the network",
            ),
            GhError::Malformed(m) => Problem::new(
                kind,
                format!("unexpected answer from GitHub for {what} of {repo}: {m}"),
                "",
            ),
        }
    }
}

/// Shared by all GitHub tasks: one client, one rate-limit gate, a bound on
/// concurrent requests, and the last status / budget reported (to report
/// changes only).
pub struct Client {
    octo: Octocrab,
    /// The API's base URL, to key what [`Client::get_remembered`] keeps.
    api_url: String,
    token: Token,
    /// Where the status and budget changes go; `None` for one-shot use.
    events: Option<mpsc::Sender<Event>>,
    blocked_until: Mutex<Option<Instant>>,
    concurrency: Semaphore,
    bucket: Bucket,
    last_status: Mutex<Option<SourceStatus>>,
    last_budget: Mutex<Option<RateLimit>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client on `api_url` authenticated with `token`. `events` receives
    /// the source status and rate-limit budget when they change.
    pub fn new(
        api_url: &str,
        token: Token,
        events: Option<mpsc::Sender<Event>>,
    ) -> Result<Arc<Client>, Problem> {
        Client::with_rate(api_url, token, events, super::Intervals::default().max_rate)
    }

    /// A client whose requests together stay within `rate` per second on
    /// average (with a burst of ten seconds' worth, at least 20).
    pub fn with_rate(
        api_url: &str,
        token: Token,
        events: Option<mpsc::Sender<Event>>,
        rate: f64,
    ) -> Result<Arc<Client>, Problem> {
        let bad_url = |e: &dyn std::fmt::Display| {
            Problem::new(
                ProblemKind::NoConfig,
                format!("bad GitHub API URL {api_url:?}: {e}"),
                "check GITHUB_API_URL or hearth.api_url in services.yaml",
            )
        };
        let octo = Octocrab::builder()
            // Retries and backoff are ours: they must respect the shared gate.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(5)))
            .set_read_timeout(Some(Duration::from_secs(15)))
            .personal_token(token.expose().to_string())
            .base_uri(api_url)
            .map_err(|e| bad_url(&e))?
            .build()
            .map_err(|e| bad_url(&token.redact(&e.to_string())))?;
        Ok(Arc::new(Client {
            octo,
            api_url: api_url.trim_end_matches('/').to_string(),
            token,
            events,
            blocked_until: Mutex::new(None),
            concurrency: Semaphore::new(8),
            bucket: Bucket::new(rate),
            last_status: Mutex::new(None),
            last_budget: Mutex::new(None),
        }))
    }

    /// The token, for scrubbing text that leaves hearth.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The request budget every GitHub request draws from.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// The budget from the latest response, when one was seen.
    pub fn budget(&self) -> Option<RateLimit> {
        self.last_budget.lock().expect("budget lock").clone()
    }

    /// Report `status` for the GitHub source if it changed.
    pub async fn status(&self, status: SourceStatus) {
        if !changed(&self.last_status, &status) {
            return;
        }
        tracing::info!(?status, "github source");
        if let Some(tx) = &self.events {
            let _ = tx.send(Event::Status(status)).await;
        }
    }

    async fn report_budget(&self, rl: RateLimit) {
        if changed(&self.last_budget, &rl) {
            if let Some(tx) = &self.events {
                let _ = tx.send(Event::RateLimit(rl)).await;
            }
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
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        if let Some(e) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            headers.insert(IF_NONE_MATCH, e);
        }
        let (status, h, body) = self.request(Method::GET, path, None, headers).await?;
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        let value: Value = serde_json::from_str(&body)
            .map_err(|e| GhError::Malformed(format!("{}: invalid JSON ({e})", short(path))))?;
        let etag = h
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Fetched::Body { value, etag })
    }

    /// GET `path` conditionally and return `keep` of its JSON: the ETag of
    /// the last answer and what `keep` made of it are remembered per API
    /// and path for the life of the process (at most [`REMEMBERED`]
    /// answers), so asking again sends `If-None-Match` and an unchanged
    /// answer is a 304, which GitHub does not count against the rate limit.
    /// `keep` makes the answer small (the compare API's answer lists up to
    /// 250 commits and their files; hearth keeps two numbers of it).
    pub async fn get_remembered(
        &self,
        path: &str,
        keep: impl FnOnce(Value) -> Value,
    ) -> Result<Value, GhError> {
        let key = format!("{}{path}", self.api_url);
        let known = remembered()
            .lock()
            .expect("remembered lock")
            .get(&key)
            .cloned();
        match self.get(path, known.as_ref().map(|k| k.0.as_str())).await? {
            Fetched::NotModified => match known {
                Some((_, value)) => Ok(value),
                None => Err(GhError::Malformed(format!(
                    "{}: 304 to an unconditional request",
                    short(path)
                ))),
            },
            Fetched::Body { value, etag } => {
                let value = keep(value);
                let mut map = remembered().lock().expect("remembered lock");
                match etag {
                    Some(etag) => {
                        if map.len() >= REMEMBERED && !map.contains_key(&key) {
                            // Full: forget one (any) to stay bounded.
                            if let Some(k) = map.keys().next().cloned() {
                                map.remove(&k);
                            }
                        }
                        map.insert(key, (etag, value.clone()));
                    }
                    None => {
                        map.remove(&key);
                    }
                }
                Ok(value)
            }
        }
    }

    /// GET `path` unconditionally and return its JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, GhError> {
        match self.get(path, None).await? {
            Fetched::Body { value, .. } => Ok(value),
            Fetched::NotModified => Err(GhError::Malformed(format!(
                "{}: 304 to an unconditional request",
                short(path)
            ))),
        }
    }

    /// GET `path` as plain text (a job's log, which GitHub answers with a
    /// redirect to the text; the client follows it).
    pub async fn get_text(&self, path: &str) -> Result<String, GhError> {
        let (_, _, body) = self
            .request(Method::GET, path, None, HeaderMap::new())
            .await?;
        Ok(body)
    }

    /// A mutating request: `method` on `path` with a JSON `body`; GitHub's
    /// JSON answer (`Null` for an empty one, as after a 204).
    pub async fn send(
        &self,
        _access: &WriteAccess,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GhError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        let (_, _, text) = self.request(method, path, body, headers).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .map_err(|e| GhError::Malformed(format!("{}: invalid JSON ({e})", short(path))))
    }

    /// One request through the gate: waits out a rate limit, holds a
    /// concurrency permit, records the budget, and maps failures. Returns the
    /// status (2xx or 304), the headers and the body.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: HeaderMap,
    ) -> Result<(u16, HeaderMap, String), GhError> {
        self.wait_open().await;
        self.bucket.take().await;
        let _permit = self.concurrency.acquire().await.expect("semaphore open");
        let transport = |e: octocrab::Error| GhError::Transport(self.token.redact(&e.to_string()));
        let call = async {
            match method {
                Method::GET => self.octo._get_with_headers(path, Some(headers)).await,
                Method::POST => self.octo._post(path, body).await,
                Method::PATCH => self.octo._patch(path, body).await,
                Method::PUT => self.octo._put(path, body).await,
                Method::DELETE => self.octo._delete(path, body).await,
                other => unreachable!("hearth sends no {other} to GitHub"),
            }
        };
        let resp = tokio::time::timeout(Duration::from_secs(20), call)
            .await
            .map_err(|_| GhError::Transport("GitHub did not answer within 20 s".into()))?
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        if let Some(rl) = parse_rate_limit(&h) {
            self.report_budget(rl).await;
        }
        if status == 304 {
            return Ok((status, h, String::new()));
        }
        let text = self.octo.body_to_string(resp).await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok((status, h, text));
        }
        let err = classify(status, &h, &text);
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

/// A token bucket: requests at `rate` per second on average, with bursts
/// of up to `burst`. GitHub's secondary limits are points per minute (900
/// for REST) and concurrent requests; the default (10/s, burst 100) stays
/// well inside the first even in the first minute.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    /// Tokens left and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// A full bucket of `rate` per second.
    pub fn new(rate: f64) -> Bucket {
        let rate = rate.max(0.01);
        let burst = (rate * 10.0).max(20.0);
        Bucket {
            rate,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Tokens now, after refilling.
    fn refill(&self, state: &mut (f64, Instant)) {
        let now = Instant::now();
        let gained = now.duration_since(state.1).as_secs_f64() * self.rate;
        *state = ((state.0 + gained).min(self.burst), now);
    }

    /// How long until `need` tokens are there (zero: now).
    pub fn time_until(&self, need: f64) -> Duration {
        let mut state = self.state.lock().expect("bucket lock");
        self.refill(&mut state);
        let missing = need.min(self.burst) - state.0;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.rate)
        }
    }

    /// Wait until at least `reserve` tokens are there, taking none: work
    /// that may wait (commits-behind counts) leaves the budget to what is
    /// on screen.
    pub async fn spare(&self, reserve: f64) {
        loop {
            match self.time_until(reserve) {
                Duration::ZERO => return,
                wait => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Take one token, waiting for it when the bucket is empty.
    pub async fn take(&self) {
        let wait = {
            let mut state = self.state.lock().expect("bucket lock");
            self.refill(&mut state);
            // Take it now (going below zero reserves the next token):
            // callers queue in the order they came.
            state.0 -= 1.0;
            if state.0 >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-state.0 / self.rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// How many answers [`Client::get_remembered`] keeps at most (two per
/// environment of a few hundred services).
pub const REMEMBERED: usize = 2048;

/// The answers [`Client::get_remembered`] keeps: by API URL and path, the
/// ETag and the kept value.
fn remembered() -> &'static Mutex<std::collections::HashMap<String, (String, Value)>> {
    static MAP: std::sync::OnceLock<Mutex<std::collections::HashMap<String, (String, Value)>>> =
        std::sync::OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// Replace `last` with `new`; whether it changed.
fn changed<T: PartialEq + Clone>(last: &Mutex<Option<T>>, new: &T) -> bool {
    let mut last = last.lock().expect("change lock");
    if last.as_ref() == Some(new) {
        false
    } else {
        *last = Some(new.clone());
        true
    }
}

/// A path without its query, for messages.
fn short(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// Map a non-2xx answer to an error; rate limits carry how long to wait:
/// `retry-after`, else until `x-ratelimit-reset` when the budget is 0, else
/// 60 s for a secondary limit (GitHub's advice).
pub fn classify(status: u16, h: &HeaderMap, body: &str) -> GhError {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let json = serde_json::from_str::<Value>(body).ok();
    let message = json
        .as_ref()
        .and_then(|v| s(v, "message"))
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
        409 => GhError::Conflict(message),
        422 => {
            // GitHub's validation shape: {"message", "errors": [{"code", "field", "message"}]}.
            let details: Vec<String> = json
                .as_ref()
                .and_then(|v| v.get("errors"))
                .and_then(Value::as_array)
                .map(|errs| {
                    errs.iter()
                        .map(|e| {
                            let code = s(e, "code").unwrap_or_default();
                            let field = s(e, "field").unwrap_or_default();
                            match s(e, "message") {
                                Some(m) => format!("{field} {code}: {m}"),
                                None => format!("{field} {code}"),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            if details.is_empty() {
                GhError::Invalid(message)
            } else {
                GhError::Invalid(format!("{message} ({})", details.join("; ")))
            }
        }
        s => GhError::Status(s),
    }
}
