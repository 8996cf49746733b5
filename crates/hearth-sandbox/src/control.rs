//! The sandbox control API (`HEARTH_SANDBOX_URL`, its own loopback listener):
//! the request journal (`GET/DELETE /requests`) and faults on demand
//! (`GET/POST/DELETE /faults`). Served on the sandbox's tokio tasks; the
//! reference is docs/sandbox.md.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Fault, Faults, Journal};
use crate::k8s::Cluster;

/// What the control API serves from.
#[derive(Clone)]
pub struct Control {
    pub journal: Arc<Journal>,
    pub faults: Arc<Faults>,
    /// For the demo services' own endpoints (`GET /apps/...`).
    pub cluster: Arc<Cluster>,
    /// `--clusters 2`: the cluster that holds prod.
    pub prod_cluster: Option<Arc<Cluster>>,
    /// Hosts outside Kubernetes (`GET /hosts/...`).
    pub hosts: Arc<crate::hosts::Hosts>,
    /// URLs shown by `GET /`.
    pub kube_url: String,
    pub github_url: String,
    /// The sandbox directory (its GitOps repository).
    pub dir: std::path::PathBuf,
}

impl Control {
    /// The cluster holding `namespace`'s Deployments.
    fn cluster_of(&self, namespace: &str) -> &Arc<Cluster> {
        match &self.prod_cluster {
            Some(p) if p.holds(namespace) => p,
            _ => &self.cluster,
        }
    }
}

/// Filters of `GET /requests`.
#[derive(Debug, Deserialize)]
struct RequestsQuery {
    /// RFC 3339 time: only entries answered at or after it.
    since: Option<String>,
    /// `kube` or `github`.
    api: Option<String>,
}

async fn index(State(c): State<Control>) -> Response {
    Json(json!({
        "kube_url": c.kube_url,
        "github_url": c.github_url,
        "endpoints": ["GET /requests", "DELETE /requests", "GET /faults", "POST /faults", "DELETE /faults", "GET /hosts/{host}/version", "GET /hosts/{host}/api/ready", "POST /images/push", "POST /clusters/{n}/down", "POST /clusters/{n}/up", "POST /gitops/race"],
    }))
    .into_response()
}

/// `GET /apps/{namespace}/{deployment}/api/ready`: the demo service's
/// readiness endpoint, as its smoke check calls it: 200 `ok vX` while ready
/// pods serve, 503 when none does, 500 under a `smoke_fail` fault.
async fn app_ready(
    State(c): State<Control>,
    axum::extract::Path((namespace, deployment)): axum::extract::Path<(String, String)>,
) -> Response {
    if c.faults.smoke_fails(&deployment) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "error: database unreachable\n",
        )
            .into_response();
    }
    match c
        .cluster_of(&namespace)
        .serving_tags(&namespace, &deployment)
    {
        None => (StatusCode::NOT_FOUND, "no such app\n").into_response(),
        Some(tags) if tags.is_empty() => {
            (StatusCode::SERVICE_UNAVAILABLE, "no ready pod\n").into_response()
        }
        Some(tags) => (StatusCode::OK, format!("ok {}\n", tags[0])).into_response(),
    }
}

/// `GET /apps/{namespace}/{deployment}/version`: the app's version
/// endpoint, `{"status":"ok","version":"0.3.0"}` with the tag its ready pods
/// serve (without the `v`, as seed 002's health check answers), or what a
/// `stale_version` fault says.
async fn app_version(
    State(c): State<Control>,
    axum::extract::Path((namespace, deployment)): axum::extract::Path<(String, String)>,
) -> Response {
    if let Some(v) = c.faults.stale_version(&deployment) {
        return Json(json!({"status": "ok", "version": v})).into_response();
    }
    match c
        .cluster_of(&namespace)
        .serving_tags(&namespace, &deployment)
    {
        None => (StatusCode::NOT_FOUND, "no such app\n").into_response(),
        Some(tags) if tags.is_empty() => {
            (StatusCode::SERVICE_UNAVAILABLE, "no ready pod\n").into_response()
        }
        Some(tags) => Json(json!({
            "status": "ok",
            "version": tags[0].trim_start_matches('v'),
        }))
        .into_response(),
    }
}

/// `GET /hosts/{host}/version`: what a compose host runs,
/// `{"status":"ok","version":"sha-1a2b3c4"}` (the tag as deployed), or what
/// a `stale_version` fault naming the host says; 404 before any deploy.
async fn host_version(
    State(c): State<Control>,
    axum::extract::Path(host): axum::extract::Path<String>,
) -> Response {
    if let Some(v) = c.faults.stale_version(&host) {
        return Json(json!({"status": "ok", "version": v})).into_response();
    }
    match c.hosts.running(&host) {
        None => (StatusCode::NOT_FOUND, "nothing deployed on this host\n").into_response(),
        Some(tag) => Json(json!({"status": "ok", "version": tag})).into_response(),
    }
}

/// `GET /hosts/{host}/api/ready`: a compose host's readiness, `ok TAG`.
async fn host_ready(
    State(c): State<Control>,
    axum::extract::Path(host): axum::extract::Path<String>,
) -> Response {
    if c.faults.smoke_fails(&host) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "error: database unreachable\n",
        )
            .into_response();
    }
    match c.hosts.running(&host) {
        None => (StatusCode::NOT_FOUND, "nothing deployed on this host\n").into_response(),
        Some(tag) => (StatusCode::OK, format!("ok {tag}\n")).into_response(),
    }
}

async fn get_requests(State(c): State<Control>, Query(q): Query<RequestsQuery>) -> Response {
    let since = match q.since.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
        Some(Err(e)) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("since must be an RFC 3339 time (2026-01-02T03:04:05Z): {e}")})),
            )
                .into_response()
        }
    };
    let entries: Vec<_> = c
        .journal
        .entries()
        .into_iter()
        .filter(|e| q.api.as_deref().is_none_or(|a| a == e.api))
        .filter(|e| {
            since
                .is_none_or(|s| chrono::DateTime::parse_from_rfc3339(&e.time).is_ok_and(|t| t >= s))
        })
        .collect();
    Json(entries).into_response()
}

async fn clear_requests(State(c): State<Control>) -> StatusCode {
    c.journal.clear();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(c): State<Control>) -> Response {
    Json(c.faults.active()).into_response()
}

async fn post_fault(State(c): State<Control>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            c.faults.apply(fault.clone());
            (StatusCode::CREATED, Json(fault)).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": format!("not a fault: {e}"),
                "expected": "{\"kind\": \"build_fail\"|\"migration_fail\" (+ \"service\"), \"github_error\"|\"rate_limit\" (+ \"seconds\"), \"slow\" (+ \"ms\"), \"drop_watches\", \"malformed\" (+ \"path\"), \"step_name\" (+ \"service\", \"name\"), \"stale_version\" (+ \"service\", \"version\")}",
            })),
        )
            .into_response(),
    }
}

/// `POST /images/push {"image": "repo:tag"}`: the tag is pushed again with
/// new content (a moved `latest`): pods created from now on run the new
/// digest, running pods keep theirs.
#[derive(Debug, Deserialize)]
struct PushImage {
    image: String,
}

async fn push_image(State(c): State<Control>, Json(body): Json<PushImage>) -> Response {
    if body.image.trim().is_empty() || body.image.chars().any(char::is_control) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "image must be a reference such as ghcr.io/acme/web:latest"})),
        )
            .into_response();
    }
    let digest = c.cluster.push_image(&body.image);
    if let Some(p) = &c.prod_cluster {
        p.push_image(&body.image);
    }
    Json(json!({"image": body.image, "digest": digest})).into_response()
}

/// `POST /clusters/{n}/down` and `/clusters/{n}/up`: take cluster `n` (1,
/// or 2 with `--clusters 2`) down or bring it back. Down, its API cuts new
/// connections and answers 503 on open ones, as an unreachable k3s does.
async fn cluster_switch(
    State(c): State<Control>,
    axum::extract::Path((n, state)): axum::extract::Path<(usize, String)>,
) -> Response {
    let cluster = match (n, &c.prod_cluster) {
        (1, _) => &c.cluster,
        (2, Some(p)) => p,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": format!("no cluster {n} (the sandbox runs {})", if c.prod_cluster.is_some() { 2 } else { 1 })})),
            )
                .into_response()
        }
    };
    match state.as_str() {
        "down" => cluster.set_down(true),
        "up" => cluster.set_down(false),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({"error": "use /clusters/N/down or /clusters/N/up"})),
            )
                .into_response()
        }
    }
    Json(json!({"cluster": n, "down": cluster.is_down()})).into_response()
}

/// The body of `POST /gitops/race`.
#[derive(Debug, Default, Deserialize)]
struct RaceBody {
    /// Change the image lines too (the rebase conflicts).
    #[serde(default)]
    conflict: bool,
}

/// `POST /gitops/race` (`{"conflict": true}` optional): the next push to the
/// GitOps repository loses a race to someone else's commit.
async fn gitops_race(State(c): State<Control>, body: Option<Json<RaceBody>>) -> Response {
    let conflict = body.map(|b| b.0.conflict).unwrap_or_default();
    let dir = c.dir.clone();
    match tokio::task::spawn_blocking(move || crate::gitops::arm_race(&dir, conflict)).await {
        Ok(Ok(sha)) => {
            Json(json!({"armed": true, "conflict": conflict, "commit": sha})).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::CONFLICT,
            Json(json!({"error": format!("{e:#}")})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn clear_faults(State(c): State<Control>) -> StatusCode {
    c.faults.clear();
    StatusCode::NO_CONTENT
}

/// The HTTP routes of the control API.
pub fn router(control: Control) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/requests", get(get_requests).delete(clear_requests))
        .route("/apps/{namespace}/{deployment}/api/ready", get(app_ready))
        .route("/apps/{namespace}/{deployment}/version", get(app_version))
        .route("/hosts/{host}/version", get(host_version))
        .route("/hosts/{host}/api/ready", get(host_ready))
        .route("/images/push", axum::routing::post(push_image))
        .route("/clusters/{n}/{state}", axum::routing::post(cluster_switch))
        .route("/gitops/race", axum::routing::post(gitops_race))
        .route(
            "/faults",
            get(get_faults).post(post_fault).delete(clear_faults),
        )
        .with_state(control)
}
