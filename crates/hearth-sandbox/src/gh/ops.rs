//! The sandbox GitHub endpoints the operations call beyond releases and
//! runs: generated release notes, a job's log (a redirect to plain text, as
//! GitHub serves it), file contents and commits at a ref, and
//! `workflow_dispatch`, which starts a run when the workflow at the ref
//! offers it.

use crate::faults::ReviewerAnswer;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::handlers::{not_found, reply, repo_key, validation, Api};
use super::*;
use crate::ci::{self, JobRec, RunRec};
use crate::repos;

/// `POST /repos/{o}/{r}/releases/generate-notes`: notes for a tag, from the
/// previous tag (given, else the newest published release's).
pub(super) async fn generate_notes(
    State(api): Api,
    Path((owner, repo)): Path<(String, String)>,
    raw: axum::body::Bytes,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let Some(tag) = body.get("tag_name").and_then(Value::as_str) else {
        return Ok(validation("missing_field", "tag_name", None));
    };
    let previous = body
        .get("previous_tag_name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            rec.releases
                .iter()
                .filter(|r| !r.draft && r.tag_name != tag)
                .max_by_key(|r| r.created_at)
                .map(|r| r.tag_name.clone())
        });
    let full = rec.info.full_name();
    let text = match previous {
        Some(p) => format!(
            "## What's Changed\n* Changes since {p}\n\n**Full Changelog**: https://github.com/{full}/compare/{p}...{tag}"
        ),
        None => format!("## What's Changed\n* First release {tag}"),
    };
    Ok(reply(StatusCode::OK, json!({"name": tag, "body": text})))
}

/// The signature of a job log's download URL (GitHub's are signed blob URLs).
fn log_signature(api: &GithubApi, job: u64) -> String {
    let mut h = Sha256::new();
    h.update(api.token.as_bytes());
    h.update(format!(":job-log:{job}").as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// `GET /repos/{o}/{r}/actions/jobs/{id}/logs`: 302 to the plain-text log.
pub(super) async fn job_logs(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let id: u64 = id.parse().map_err(|_| not_found())?;
    if !rec.runs.iter().any(|r| r.job.id == id) {
        return Err(not_found());
    }
    let sig = log_signature(&api, id);
    let location = format!("{}/_logs/{owner}/{repo}/jobs/{id}?sig={sig}", api.base);
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct SigQuery {
    sig: Option<String>,
}

/// The log text a job-log redirect points at (no token needed: signed URL).
pub(super) async fn raw_job_log(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
    Query(q): Query<SigQuery>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_found();
    };
    if q.sig.as_deref() != Some(log_signature(&api, id).as_str()) {
        return (StatusCode::FORBIDDEN, "signature does not match").into_response();
    }
    let Some(rec) = api.repo(&repo_key(&owner, &repo)) else {
        return not_found();
    };
    let Some(run) = rec.runs.iter().find(|r| r.job.id == id) else {
        return not_found();
    };
    let mut text = run.job.log.join("\n");
    text.push('\n');
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct RefQuery {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
}

/// Standard base64 with GitHub's line breaks every 60 characters.
fn base64_lines(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    let mut wrapped = String::new();
    for (i, c) in out.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            wrapped.push('\n');
        }
        wrapped.push(c);
    }
    wrapped.push('\n');
    wrapped
}

/// `GET /repos/{o}/{r}/contents/{path}?ref=`: a file at a ref.
pub(super) async fn get_contents(
    State(api): Api,
    Path((owner, repo, path)): Path<(String, String, String)>,
    Query(q): Query<RefQuery>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    api.wait_for_git().await;
    let rev = q.git_ref.unwrap_or_else(|| "main".into());
    let Some(text) = repos::workflow_at(&rec.info.origin, &rev, &path).await else {
        return Err(not_found());
    };
    let blob = repos::git_output(&rec.info.origin, &["rev-parse", &format!("{rev}:{path}")])
        .await
        .unwrap_or_default();
    let full = rec.info.full_name();
    let url = format!("{}/repos/{full}/contents/{path}?ref={rev}", api.base);
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    Ok(reply(
        StatusCode::OK,
        json!({
            "type": "file",
            "encoding": "base64",
            "size": text.len(),
            "name": name,
            "path": path,
            "content": base64_lines(text.as_bytes()),
            "sha": blob,
            "url": url,
            "git_url": format!("{}/repos/{full}/git/blobs/{blob}", api.base),
            "html_url": format!("https://github.com/{full}/blob/{rev}/{path}"),
            "download_url": Value::Null,
            "_links": {"self": url, "git": Value::Null, "html": Value::Null},
        }),
    ))
}

/// `GET /repos/{o}/{r}/commits/{ref}`: the commit a ref names.
pub(super) async fn get_commit(
    State(api): Api,
    Path((owner, repo, git_ref)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    api.wait_for_git().await;
    let Some(sha) = repos::git_output(
        &rec.info.origin,
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{git_ref}^{{commit}}"),
        ],
    )
    .await
    else {
        return Ok(reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": format!("No commit found for SHA: {git_ref}"), "documentation_url": DOCS, "status": "422"}),
        ));
    };
    let message = repos::commit_message(&rec.info.origin, &sha)
        .await
        .unwrap_or_default();
    let full = rec.info.full_name();
    Ok(reply(
        StatusCode::OK,
        json!({
            "sha": sha,
            "node_id": format!("C_{}", &sha[..sha.len().min(12)]),
            "url": format!("{}/repos/{full}/commits/{sha}", api.base),
            "html_url": format!("https://github.com/{full}/commit/{sha}"),
            "commit": {"message": message, "author": {"name": "hearth demo", "email": "demo@hearth.invalid", "date": Utc::now().to_rfc3339()}},
            "parents": [],
        }),
    ))
}

/// `GET /repos/{o}/{r}/compare/{base}...{head}`: how far `head` is ahead
/// of `base` (`ahead_by`, `behind_by`, `status`) and the commits `head`
/// has that `base` lacks, oldest first: the first 250 without paging
/// parameters, else the page `per_page` / `page` ask for with GitHub's
/// `Link` header. `HEAD` names the default branch.
pub(super) async fn compare(
    State(api): Api,
    Path((owner, repo, basehead)): Path<(String, String, String)>,
    Query(q): Query<super::handlers::PageQuery>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    api.wait_for_git().await;
    let not_found = || {
        reply(
            StatusCode::NOT_FOUND,
            json!({"message": "Not Found", "documentation_url": DOCS, "status": "404"}),
        )
    };
    let Some((base, head)) = basehead.split_once("...") else {
        return Ok(not_found());
    };
    if base.starts_with('-') || head.starts_with('-') {
        return Ok(not_found());
    }
    let origin = &rec.info.origin;
    let resolve = |r: &str| {
        let r = if r == "HEAD" { "main" } else { r };
        let spec = format!("{r}^{{commit}}");
        async move { repos::git_output(origin, &["rev-parse", "--verify", "-q", &spec]).await }
    };
    let (Some(b), Some(h)) = (resolve(base).await, resolve(head).await) else {
        return Ok(not_found());
    };
    let count = |range: String| async move {
        repos::git_output(origin, &["rev-list", "--count", &range])
            .await
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ahead = count(format!("{b}..{h}")).await;
    let behind = count(format!("{h}..{b}")).await;
    let log = repos::git_output(
        origin,
        &[
            "log",
            "--reverse",
            "--format=%H%x09%cI%x09%s",
            &format!("{b}..{h}"),
        ],
    )
    .await
    .unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let (lines, link) = if q.per_page.is_none() && q.page.is_none() {
        (lines.into_iter().take(250).collect(), None)
    } else {
        let url = format!(
            "{}/repos/{}/compare/{basehead}",
            api.base,
            rec.info.full_name()
        );
        super::handlers::paginate(&lines, &q, &url, "")
    };
    let commits: Vec<Value> = lines
        .iter()
        .filter_map(|l| {
            let mut p = l.splitn(3, '\t');
            let (sha, date, msg) = (p.next()?, p.next()?, p.next().unwrap_or(""));
            Some(json!({
                "sha": sha,
                "commit": {
                    "message": msg,
                    "author": {"name": "Hearth Demo", "email": "demo@hearth.invalid", "date": date},
                    "committer": {"name": "Hearth Demo", "email": "demo@hearth.invalid", "date": date},
                },
            }))
        })
        .collect();
    let status = match (ahead, behind) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    Ok(super::handlers::with_link(
        reply(
            StatusCode::OK,
            json!({
                "status": status,
                "ahead_by": ahead,
                "behind_by": behind,
                "total_commits": ahead,
                "base_commit": {"sha": b},
                "merge_base_commit": {"sha": b},
                "commits": commits,
            }),
        ),
        link,
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct DispatchBody {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    inputs: serde_json::Map<String, Value>,
    /// Since 2026 GitHub answers 200 with the run it started when asked.
    #[serde(default)]
    return_run_details: Option<bool>,
}

/// `POST /repos/{o}/{r}/actions/workflows/{workflow}/dispatches`: a
/// `workflow_dispatch` run of the workflow at `ref`, when it offers that
/// trigger and every input it requires is given. The release workflow
/// deploys the tag its tag input names where that tag's release says; a
/// build workflow builds `sha-<commit>`; a deploy workflow deploys its
/// `image_tag` input to its namespace, after a reviewer approves when its
/// environment requires one. 204, or 200 with the run's id and addresses
/// with `return_run_details: true` (400 under the `refuse_run_details` fault,
/// as an older GitHub Enterprise answers).
pub(super) async fn dispatch(
    State(api): Api,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    body: Option<Json<DispatchBody>>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let key = repo_key(&owner, &repo);
    let Some(Json(body)) = body else {
        return Ok(validation("missing_field", "ref", None));
    };
    let Some((file, workflow_id)) = rec.info.workflow(&workflow) else {
        return Err(not_found());
    };
    if body.return_run_details.is_some() && api.faults().refuses_run_details() {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid request.\n\n\"return_run_details\" is not a permitted key.", "documentation_url": DOCS, "status": "400"}),
        ));
    }
    api.wait_for_git().await;
    let Some(sha) = repos::git_output(
        &rec.info.origin,
        &[
            "rev-parse",
            "--verify",
            "-q",
            &format!("{}^{{commit}}", body.git_ref),
        ],
    )
    .await
    else {
        return Ok(reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": format!("No ref found for: {}", body.git_ref), "documentation_url": DOCS, "status": "422"}),
        ));
    };
    let yaml = repos::workflow_at(&rec.info.origin, &sha, &format!(".github/workflows/{file}"))
        .await
        .unwrap_or_default();
    let Some(inputs) = ci::workflow_dispatch_inputs(&yaml) else {
        return Ok(reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Workflow does not have 'workflow_dispatch' trigger", "documentation_url": DOCS, "status": "422"}),
        ));
    };
    if let Some(unknown) = body.inputs.keys().find(|k| !inputs.contains(k)) {
        return Ok(reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": format!("Unexpected inputs provided: [\"{unknown}\"]"), "documentation_url": DOCS, "status": "422"}),
        ));
    }
    let (role, environment) = ci::workflow_role(
        &yaml,
        workflow_id == rec.info.workflow_id && rec.info.workflows.len() == 1,
    );
    let tag = match &role {
        ci::Role::Build => format!("sha-{}", &sha[..7]),
        _ => ["tag", "version", "release", "image_tag", "ref"]
            .iter()
            .filter(|k| inputs.iter().any(|i| i == *k))
            .find_map(|k| body.inputs.get(*k).and_then(Value::as_str))
            .unwrap_or(&body.git_ref)
            .to_string(),
    };
    if matches!(role, ci::Role::Deploy { .. } | ci::Role::DeployHost { .. })
        && !body.inputs.contains_key("image_tag")
    {
        return Ok(reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "Required input 'image_tag' not provided", "documentation_url": DOCS, "status": "422"}),
        ));
    }
    // A deploy run is titled as GitHub titles it: its `run-name`, else
    // the workflow's name.
    let title = ci::dispatch_run_title(&yaml, &file, &body.inputs);
    let gate = super::gate_for(environment.as_deref(), "waiting");
    let message = repos::commit_message(&rec.info.origin, &sha)
        .await
        .unwrap_or_default();
    let release = rec.releases.iter().find(|r| r.tag_name == tag).cloned();
    let run_id = {
        let mut store = api.store.lock().expect("gh store");
        let run_id = store.id();
        let job_id = store.id();
        let Some(rec) = store.repos.get_mut(&key) else {
            return Err(not_found());
        };
        let now = Utc::now();
        let run_number = rec.runs.iter().map(|r| r.run_number).max().unwrap_or(0) + 1;
        rec.runs.push(RunRec {
            id: run_id,
            run_number,
            run_attempt: 1,
            event: "workflow_dispatch".into(),
            activity: String::new(),
            head_sha: sha,
            head_branch: body.git_ref.clone(),
            head_message: message,
            head_timestamp: now,
            display_title: match &role {
                ci::Role::Build => format!("build {tag}"),
                ci::Role::Deploy { .. } | ci::Role::DeployHost { .. } => title.clone(),
                _ => format!("deploy {tag}"),
            },
            status: "queued".into(),
            conclusion: None,
            created_at: now,
            updated_at: now,
            run_started_at: now,
            release_id: release.as_ref().map_or(0, |r| r.id),
            tag,
            prerelease: release.as_ref().is_some_and(|r| r.prerelease),
            job: JobRec::queued_for(job_id, now, &role),
            workflow_id,
            role,
            gate,
        });
        run_id
    };
    ci::spawn_run(api.clone(), key, run_id, 1);
    if body.return_run_details == Some(true) {
        let full = rec.info.full_name();
        return Ok(reply(
            StatusCode::OK,
            json!({
                "workflow_run_id": run_id,
                "run_url": format!("{}/repos/{full}/actions/runs/{run_id}", api.base),
                "html_url": format!("https://github.com/{full}/actions/runs/{run_id}"),
            }),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A gated environment as GitHub describes it in `pending_deployments`.
fn environment_json(api: &GithubApi, info: &RepoInfo, gate: &ci::Gate) -> Value {
    let full = info.full_name();
    json!({
        "id": gate.environment_id,
        "node_id": format!("EN_kwDO{:08X}", gate.environment_id),
        "name": gate.environment,
        "url": format!("{}/repos/{full}/environments/{}", api.base, gate.environment),
        "html_url": format!("https://github.com/{full}/deployments/activity_log?environments_filter={}", gate.environment),
    })
}

/// `GET /repos/{o}/{r}/actions/runs/{id}/pending_deployments`: the
/// environments a waiting run waits on, with their reviewers (an empty list
/// for a run that waits on nothing).
pub(super) async fn pending_deployments(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let run = super::handlers::find_run(&rec, &id).ok_or_else(not_found)?;
    let pending: Vec<Value> = run
        .gate
        .iter()
        .filter(|g| g.state == "waiting" && run.status != "completed")
        .map(|g| {
            let timer = api.faults().wait_timer(&rec.info.service);
            let can = api.faults().reviewer(&rec.info.service) != Some(ReviewerAnswer::Never);
            json!({
                "environment": environment_json(&api, &rec.info, g),
                "wait_timer": timer,
                "wait_timer_started_at": g.since.filter(|_| timer > 0).map(super::json::ts),
                "current_user_can_approve": can,
                "reviewers": [{
                    "type": "User",
                    "reviewer": api.user_json(ci::REVIEWER, 9, "User"),
                }],
            })
        })
        .collect();
    Ok(reply(StatusCode::OK, Value::Array(pending)))
}

/// `GET /repos/{o}/{r}/actions/runs/{id}/approvals`: the reviews of the
/// run's environments (who approved or rejected, with their comment);
/// empty while no one has answered.
pub(super) async fn approvals(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let run = super::handlers::find_run(&rec, &id).ok_or_else(not_found)?;
    let reviews: Vec<Value> = run
        .gate
        .iter()
        .filter(|g| matches!(g.state.as_str(), "approved" | "rejected"))
        .map(|g| {
            let login = g.reviewer.as_deref().unwrap_or(ci::REVIEWER);
            let user = if login == super::USER_LOGIN {
                api.me()
            } else {
                api.user_json(login, 9, "User")
            };
            json!({
                "environments": [environment_json(&api, &rec.info, g)],
                "state": g.state,
                "user": user,
                "comment": g.comment.clone().unwrap_or_default(),
            })
        })
        .collect();
    Ok(reply(StatusCode::OK, Value::Array(reviews)))
}

#[derive(Debug, Deserialize)]
pub(super) struct ReviewBody {
    environment_ids: Vec<u64>,
    state: String,
    comment: Option<String>,
}

/// `POST /repos/{o}/{r}/actions/runs/{id}/pending_deployments`: approve or
/// reject the run's wait on the named environments. 200 with the
/// deployments an approval creates; 422 for an environment the run does not
/// wait on or a state other than `approved` / `rejected`.
pub(super) async fn review_deployments(
    State(api): Api,
    Path((owner, repo, id)): Path<(String, String, String)>,
    body: Option<Json<ReviewBody>>,
) -> Result<Response, Response> {
    let rec = api.repo_or_404(&owner, &repo)?;
    let key = repo_key(&owner, &repo);
    let Some(Json(body)) = body else {
        return Ok(validation("missing_field", "environment_ids", None));
    };
    if !matches!(body.state.as_str(), "approved" | "rejected") {
        return Ok(validation("invalid", "state", Some(body.state.clone())));
    }
    let run = super::handlers::find_run(&rec, &id).ok_or_else(not_found)?;
    let waiting = run
        .gate
        .as_ref()
        .filter(|g| g.state == "waiting" && run.status != "completed");
    let Some(gate) = waiting.filter(|g| body.environment_ids.contains(&g.environment_id)) else {
        return Ok(reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "No pending deployment requests to approve or reject", "documentation_url": DOCS, "status": "422"}),
        ));
    };
    // Another team's environment (a `reviewer: never` fault): this token's
    // user is not among its reviewers.
    if api.faults().reviewer(&rec.info.service) == Some(ReviewerAnswer::Never) {
        return Ok(reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": format!("You are not a required reviewer for {}", gate.environment), "documentation_url": DOCS, "status": "422"}),
        ));
    }
    let env = environment_json(&api, &rec.info, gate);
    let deployment_id = {
        let mut store = api.store.lock().expect("gh store");
        let deployment_id = store.id();
        if let Some(r) = store
            .repos
            .get_mut(&key)
            .and_then(|r| r.runs.iter_mut().find(|r| r.id == run.id))
        {
            if let Some(g) = &mut r.gate {
                g.state = body.state.clone();
                g.comment = body.comment.clone();
                g.reviewer = Some(super::USER_LOGIN.into());
            }
            r.updated_at = Utc::now();
        }
        deployment_id
    };
    let deployments = if body.state == "approved" {
        let full = rec.info.full_name();
        let url = format!("{}/repos/{full}/deployments/{deployment_id}", api.base);
        json!([{
            "id": deployment_id,
            "node_id": format!("DE_kwDO{deployment_id:08X}"),
            "sha": run.head_sha,
            "ref": run.head_branch,
            "task": "deploy",
            "payload": {},
            "original_environment": env["name"],
            "environment": env["name"],
            "description": body.comment,
            "creator": api.me(),
            "created_at": super::json::ts(Utc::now()),
            "updated_at": super::json::ts(Utc::now()),
            "statuses_url": format!("{url}/statuses"),
            "repository_url": format!("{}/repos/{full}", api.base),
            "url": url,
        }])
    } else {
        json!([])
    };
    Ok(reply(StatusCode::OK, deployments))
}
