//! The handlers of the sandbox GitHub API: users, repositories, releases
//! (with GitHub's 422 shapes and release activity types that start CI runs)
//! and Actions workflows, runs and jobs.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::json::ts;
use super::*;
use crate::ci::{self, RunRec};
use crate::repos;

// ----- responses -----

pub(super) fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

pub(super) fn not_found() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"message": "Not Found", "documentation_url": DOCS, "status": "404"}),
    )
}

pub(super) fn validation(code: &str, field: &str, message: Option<String>) -> Response {
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

pub(super) fn bad_request(message: &str) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({"message": message, "documentation_url": DOCS, "status": "400"}),
    )
}

/// `per_page` / `page` as GitHub reads them.
#[derive(Debug, Deserialize, Default)]
pub(super) struct PageQuery {
    pub(super) per_page: Option<usize>,
    pub(super) page: Option<usize>,
}

/// Cut `items` to one page and build the `Link` header GitHub sends.
pub(super) fn paginate<T: Clone>(
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

pub(super) fn with_link(mut resp: Response, link: Option<String>) -> Response {
    if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert("link", l);
    }
    resp
}

pub(super) type Api = State<Arc<GithubApi>>;

// ----- handlers -----

pub(super) async fn get_user(State(api): Api) -> Response {
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

pub(super) async fn get_user_repos(State(api): Api, Query(q): Query<PageQuery>) -> Response {
    let infos: Vec<RepoInfo> = {
        let store = api.store.lock().expect("gh store");
        store.repos.values().map(|r| r.info.clone()).collect()
    };
    let (page, link) = paginate(&infos, &q, &format!("{}/user/repos", api.base), "");
    let body: Vec<Value> = page.iter().map(|i| api.repo_json(i, true)).collect();
    with_link(reply(StatusCode::OK, Value::Array(body)), link)
}

pub(super) async fn get_rate_limit(State(api): Api) -> Response {
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

pub(super) fn repo_key(owner: &str, repo: &str) -> String {
    format!("{owner}/{repo}").to_lowercase()
}

pub(super) async fn get_repo(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
) -> Response {
    match api.repo(&repo_key(&owner, &repo)) {
        Some(r) => reply(StatusCode::OK, api.repo_json(&r.info, true)),
        None => not_found(),
    }
}

pub(super) async fn list_releases(
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

pub(super) async fn get_release(
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

pub(super) async fn get_latest_release(
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

pub(super) async fn get_release_by_tag(
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
pub(super) struct ReleaseBody {
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
pub(super) fn parse_make_latest(v: &Option<Value>) -> Result<Option<String>, Box<Response>> {
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

pub(super) fn parse_body(raw: &[u8]) -> Result<ReleaseBody, Box<Response>> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReleaseBody::default());
    }
    serde_json::from_slice(raw)
        .map_err(|e| Box::new(bad_request(&format!("Problems parsing JSON: {e}"))))
}

/// GitHub's 422 for `make_latest: true` on a release that stays a prerelease.
fn latest_prerelease(make_latest: Option<&str>, prerelease: bool) -> Option<Response> {
    (make_latest == Some("true") && prerelease).then(|| {
        validation(
            "invalid",
            "make_latest",
            Some("A prerelease cannot be the latest release; send prerelease: false with make_latest: true".into()),
        )
    })
}

pub(super) fn apply_make_latest(rec: &mut RepoRec, id: u64, make_latest: Option<&str>) {
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

pub(super) async fn create_release(
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
    if let Some(r) = latest_prerelease(make_latest.as_deref(), prerelease) {
        return r;
    }
    if api.faults.release_fails(&rec.info.service) {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"message": "Server Error", "documentation_url": DOCS, "status": "500"}),
        );
    }
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
pub(super) fn generated_notes(rec: &RepoRec, tag: &str) -> String {
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

pub(super) async fn update_release(
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
    // GitHub refuses to make a prerelease latest unless it stops being one.
    if let Some(r) = latest_prerelease(
        make_latest.as_deref(),
        body.prerelease.unwrap_or(old.prerelease),
    ) {
        return r;
    }
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

pub(super) async fn delete_release(
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
pub(super) struct RunsQuery {
    per_page: Option<usize>,
    page: Option<usize>,
    event: Option<String>,
    status: Option<String>,
    head_sha: Option<String>,
    branch: Option<String>,
    actor: Option<String>,
}

pub(super) fn list_runs_of(api: &GithubApi, rec: &RepoRec, q: &RunsQuery, url: &str) -> Response {
    let mut runs: Vec<&RunRec> = rec
        .runs
        .iter()
        .filter(|r| q.event.as_deref().is_none_or(|e| e == r.event))
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

pub(super) async fn list_runs(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<RunsQuery>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let url = format!("{}/repos/{}/actions/runs", api.base, rec.info.full_name());
    Ok(list_runs_of(&api, &rec, &q, &url))
}

pub(super) async fn list_workflows(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let workflows: Vec<Value> = rec
        .info
        .workflows
        .iter()
        .map(|(_, id)| api.workflow_json(&rec.info, *id))
        .collect();
    Ok(reply(
        StatusCode::OK,
        json!({"total_count": workflows.len(), "workflows": workflows}),
    ))
}

pub(super) async fn list_workflow_runs(
    State(api): Api,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    Query(q): Query<RunsQuery>,
) -> Result<Response, Response> {
    let mut rec = api.repo_or_404(&owner, &repo)?;
    let Some((_, id)) = rec.info.workflow(&workflow) else {
        return Err(not_found());
    };
    rec.runs.retain(|r| r.workflow_id == id);
    let url = format!(
        "{}/repos/{}/actions/workflows/{workflow}/runs",
        api.base,
        rec.info.full_name()
    );
    Ok(list_runs_of(&api, &rec, &q, &url))
}

pub(super) fn find_run(rec: &RepoRec, id: &str) -> Option<RunRec> {
    let id = id.parse::<u64>().ok()?;
    rec.runs.iter().find(|r| r.id == id).cloned()
}

pub(super) async fn get_run(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let run = find_run(&rec, &id).ok_or_else(not_found)?;
    Ok(reply(StatusCode::OK, api.run_json(&rec.info, &run)))
}

pub(super) async fn list_jobs(
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

pub(super) async fn rerun(
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
        run.job = JobRec::queued_for(job_id, now, &run.role);
        if let Some(gate) = &mut run.gate {
            gate.state = "waiting".into();
            gate.comment = None;
            gate.reviewer = None;
        }
        run.run_attempt
    };
    ci::spawn_run(api.clone(), key, id, attempt);
    reply(StatusCode::CREATED, json!({}))
}

pub(super) async fn cancel(
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

pub(super) async fn fallback() -> Response {
    not_found()
}
