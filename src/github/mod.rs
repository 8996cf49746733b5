//! The GitHub client and its pollers. `client` is the HTTP client (reads,
//! conditional GETs, the writes the operations need) behind a shared
//! rate-limit gate; `parse` turns answers into domain types; `repo` finds a
//! service's repository; `token` finds and guards the token; `scheduler`
//! reads every service's runs, jobs and releases on one request budget, in
//! the order the screen needs them. Everything reports through this
//! module's own [`Event`] type, never through the app's messages: the control
//! room maps events to `Msg`, `hearth status` and the operations read the
//! client directly.

pub mod client;
pub mod parse;
pub mod repo;
pub mod scheduler;
pub mod token;

pub use client::{classify, Client, Fetched, GhError};
pub use parse::{
    parse_approvals, parse_jobs, parse_pending, parse_rate_limit, parse_releases, parse_runs,
};
pub use repo::{repo_from_remote, resolve_all, resolve_repo};
pub use scheduler::{Attention, PollTarget, ScheduleView, Steering};
pub use token::Token;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::{CiJob, CiRun, Problem, ProblemKind, RateLimit, Release, SourceStatus};
use crate::registry::Service;

/// What the GitHub client and pollers report.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The GitHub source connected, degraded or went down.
    Status(SourceStatus),
    /// The rate-limit budget from the latest response, when it changed.
    RateLimit(RateLimit),
    /// The releases of a service's repository, newest first.
    Releases {
        service: String,
        releases: Vec<Release>,
    },
    /// Recent runs of the service's release workflow, newest first (sent on change).
    Runs { service: String, runs: Vec<CiRun> },
    /// Jobs (with steps) of one run; sent while the run is active and once
    /// when it completes.
    Jobs {
        service: String,
        run_id: u64,
        jobs: Vec<CiJob>,
    },
    /// What a waiting run waits for: environments, reviewers, wait timers.
    Pending {
        service: String,
        run_id: u64,
        pending: Vec<crate::model::PendingDeployment>,
    },
    /// A problem with one service's GitHub data (repo not found, 403, ...).
    Error { service: String, problem: Problem },
    /// A whole poll of the service succeeded after an `Error`: the data shown
    /// is current again (a 304 sends nothing else to say so).
    Recovered { service: String },
    /// GitHub answered since the last such event: what is shown is as
    /// fresh as now (sent every few seconds at most).
    Answered,
    /// What the scheduler spends and how old the data on screen is.
    Schedule(ScheduleView),
}

/// How often to poll, and how fast at most.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intervals {
    /// Between reads of the runs of a service on screen while none is
    /// active. Conditional requests answered 304 do not count against the
    /// rate limit, so this mostly bounds how soon a run started elsewhere
    /// shows up.
    pub idle: Duration,
    /// Between reads of runs and jobs of the selected service, and of a
    /// service on screen while a run is active (`gh run watch` uses 3 s).
    pub active: Duration,
    /// Between reads of the releases of a service on screen when no new
    /// run hints at a new release.
    pub releases: Duration,
    /// Between reads of the runs of a service off screen (its releases:
    /// ten times that; nobody looking for an hour: ten times again).
    pub background: Duration,
    /// Requests per second all of hearth's GitHub requests together stay
    /// within on average (the client's token bucket).
    pub max_rate: f64,
    /// How long an operation follows a CI run (a run that waits on a
    /// reviewer included) before it stops following and says the run goes
    /// on: 45 minutes, `HEARTH_RUN_TIMEOUT_SECS` to change it.
    pub run_timeout: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            idle: Duration::from_secs(5),
            active: Duration::from_millis(2500),
            releases: Duration::from_secs(30),
            background: Duration::from_secs(60),
            max_rate: 10.0,
            run_timeout: Duration::from_secs(45 * 60),
        }
    }
}

/// Where GitHub is and how to reach it: resolved by the command layer.
#[derive(Clone, Debug)]
pub struct Settings {
    /// API base URL without a trailing slash.
    pub api_url: String,
    /// `None`: GitHub is off and the control room says how to provide one.
    pub token: Option<Token>,
    pub intervals: Intervals,
    /// `hearth.github_owner`, for repositories derived from local remotes.
    pub owner: Option<String>,
}

/// The problem shown when no token is found.
pub fn no_token() -> Problem {
    Problem::new(
        ProblemKind::NoToken,
        "no token",
        "set GH_TOKEN or run gh auth login",
    )
}

/// The running scheduler: its task and the handle that steers it.
#[derive(Debug, Default)]
pub struct Pollers {
    pub steering: Steering,
    pub client: Option<Arc<Client>>,
    pub handles: Vec<tokio::task::JoinHandle<()>>,
}

/// Start the scheduler for every service with a repository. Without a
/// token it reports `Disabled` and starts nothing, so the rest still runs.
/// Must be called inside a tokio runtime.
pub fn spawn(services: &[Service], settings: &Settings, tx: mpsc::Sender<Event>) -> Pollers {
    let mut pollers = Pollers::default();
    let Some(token) = settings.token.clone() else {
        let _ = tx.try_send(Event::Status(SourceStatus::Disabled(no_token())));
        return pollers;
    };
    let client = match Client::with_rate(
        &settings.api_url,
        token,
        Some(tx.clone()),
        settings.intervals.max_rate,
    ) {
        Ok(c) => c,
        Err(problem) => {
            let _ = tx.try_send(Event::Status(SourceStatus::Down(problem)));
            return pollers;
        }
    };
    let _ = tx.try_send(Event::Status(SourceStatus::Connecting));
    let by_name = |name: &str| services.iter().find(|s| s.name == name);
    let mut targets = Vec::new();
    for (name, repo) in resolve_all(services, settings.owner.as_deref()) {
        match repo {
            Ok(repo) => {
                // Empty: every run of the repository (`delivery: dispatch`).
                let workflow = by_name(&name)
                    .and_then(|s| s.runs_workflow().map(str::to_string))
                    .unwrap_or_default();
                targets.push(PollTarget {
                    service: name,
                    repo,
                    workflow,
                });
            }
            Err(problem) => {
                let _ = tx.try_send(Event::Error {
                    service: name,
                    problem,
                });
            }
        }
    }
    let (steering, handle) = scheduler::start(client.clone(), targets, settings.intervals, tx);
    pollers.steering = steering;
    pollers.handles.push(handle);
    pollers.client = Some(client);
    pollers
}

/// The runs of a service's CI: one workflow's, or (`None`) every run of the
/// repository.
pub fn runs_path(repo: &str, workflow: Option<&str>, per_page: u32) -> String {
    match workflow {
        Some(w) => format!("/repos/{repo}/actions/workflows/{w}/runs?per_page={per_page}"),
        None => format!("/repos/{repo}/actions/runs?per_page={per_page}"),
    }
}

/// What `hearth status` needs of one service: its releases and latest run.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub releases: Vec<Release>,
    pub latest_run: Option<CiRun>,
    /// The newest runs read (`per_page` of [`fetch_once`]), newest first.
    pub runs: Vec<CiRun>,
    /// What the latest run waits for, when it waits on an environment.
    pub waiting: Vec<crate::model::PendingDeployment>,
    pub error: Option<Problem>,
}

/// Fetch the releases and the latest run of `repo` once (of `workflow`,
/// else of the whole repository), and what that run waits for.
pub async fn fetch_once(
    client: &Client,
    repo: &str,
    workflow: Option<&str>,
    per_page: u32,
) -> Snapshot {
    let mut snap = Snapshot::default();
    let rel = format!("/repos/{repo}/releases?per_page=30");
    let runs = runs_path(repo, workflow, per_page.max(1));
    let (r1, r2) = tokio::join!(client.get_json(&rel), client.get_json(&runs));
    let what = workflow.map_or_else(|| "workflow runs".to_string(), |w| format!("workflow {w}"));
    let problem = |e: &GhError, what: &str| {
        let p = e.problem(repo, what, false);
        Problem {
            message: client.token().redact(&p.message),
            ..p
        }
    };
    match r1.and_then(|v| parse_releases(&v)) {
        Ok(r) => snap.releases = r,
        Err(e) => snap.error = Some(problem(&e, "releases")),
    }
    match r2.and_then(|v| parse_runs(&v)) {
        Ok(r) => {
            snap.latest_run = r.first().cloned();
            snap.runs = r;
        }
        Err(e) => snap.error = snap.error.or(Some(problem(&e, &what))),
    }
    if let Some(run) = snap.latest_run.as_ref().filter(|r| r.status == "waiting") {
        let path = format!("/repos/{repo}/actions/runs/{}/pending_deployments", run.id);
        match client.get_json(&path).await.and_then(|v| parse_pending(&v)) {
            Ok(p) => snap.waiting = p,
            Err(e) => snap.error = snap.error.or(Some(problem(&e, "pending deployments"))),
        }
    }
    snap
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderMap, HeaderValue};
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
        assert!(GhError::NotFound
            .problem("a/b", "releases", false)
            .message
            .contains("releases of a/b not found"));
    }
}

/// The poller against a small local HTTP server: conditional requests, 304s,
/// jobs of an active run, and no token in anything sent.
#[cfg(test)]
mod http_tests {
    use super::*;
    use serde_json::Value;
    use std::sync::Mutex;
    use tokio::time::Instant;

    fn target() -> PollTarget {
        PollTarget {
            service: "api".into(),
            repo: "o/r".into(),
            workflow: "release.yml".into(),
        }
    }
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
        let intervals = Intervals {
            idle: Duration::from_millis(100),
            active: Duration::from_millis(50),
            releases: Duration::from_millis(100),
            background: Duration::from_millis(100),
            max_rate: 1000.0,
            ..Intervals::default()
        };
        let client = Client::with_rate(
            &url,
            Token::new(secret, "GH_TOKEN"),
            Some(tx.clone()),
            intervals.max_rate,
        )
        .unwrap();
        let (_steering, task) = scheduler::start(client, vec![target()], intervals, tx);
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
        assert!(msgs.iter().any(|m| matches!(m, Event::Jobs { run_id: 42, jobs, .. } if jobs[0].steps[0].status == "requested")));
        assert!(msgs
            .iter()
            .any(|m| matches!(m, Event::Releases { releases, .. } if releases[0].latest)));
        assert!(msgs
            .iter()
            .any(|m| matches!(m, Event::RateLimit(rl) if rl.remaining == 4999)));
        assert!(msgs
            .iter()
            .any(|m| matches!(m, Event::Status(SourceStatus::Live))));
        // Runs are re-sent only on change: in_progress then completed.
        assert_eq!(
            msgs.iter()
                .filter(|m| matches!(m, Event::Runs { .. }))
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
        let secret = "test-other-secret";
        let client = Client::new(&url, Token::new(secret, "GH_TOKEN"), Some(tx.clone())).unwrap();
        let (_steering, task) = scheduler::start(client, vec![target()], Intervals::default(), tx);
        let mut got = None;
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            assert!(!format!("{m:?}").contains(secret));
            if let Event::Error { problem, .. } = m {
                got = Some(problem.to_string());
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
