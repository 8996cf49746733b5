//! Tolerant parsing of GitHub's REST answers into the domain types: every
//! field is read from a `serde_json::Value`, so an enum value hearth does not
//! know (a new run status) shows as itself instead of failing the poll. Pure.

use http::header::HeaderMap;
use serde_json::Value;

use super::GhError;
use crate::model::{text, CiJob, CiRun, CiStep, RateLimit, Release};

fn malformed(what: &str) -> GhError {
    GhError::Malformed(what.to_string())
}

/// A string field, made inert: every string hearth reads from GitHub's
/// answers goes through here (names, tags, steps, error messages).
pub(crate) fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(|t| text::line(t).into_owned())
}

fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn b(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// Releases, newest first as GitHub lists them, with `latest` set on the
/// newest published non-prerelease (GitHub's default notion of latest).
pub fn parse_releases(v: &Value) -> Result<Vec<Release>, GhError> {
    let arr = v
        .as_array()
        .ok_or_else(|| malformed("releases: expected a JSON array"))?;
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
pub fn parse_runs(v: &Value) -> Result<Vec<CiRun>, GhError> {
    let arr = v
        .get("workflow_runs")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("workflow runs: expected {\"workflow_runs\": [...]}"))?;
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
            path: s(r, "path"),
        })
        .collect())
}

/// `{"jobs": [...]}` into jobs with their steps.
pub fn parse_jobs(v: &Value) -> Result<Vec<CiJob>, GhError> {
    let arr = v
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("jobs: expected {\"jobs\": [...]}"))?;
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

/// `approvals` (a list) into the reviews of a run's environments.
pub fn parse_approvals(v: &Value) -> Result<Vec<crate::model::Review>, GhError> {
    let arr = v
        .as_array()
        .ok_or_else(|| malformed("approvals: expected a list"))?;
    Ok(arr
        .iter()
        .map(|r| crate::model::Review {
            state: s(r, "state").unwrap_or_default(),
            user: r
                .get("user")
                .and_then(|u| s(u, "login"))
                .unwrap_or_default(),
            comment: s(r, "comment").unwrap_or_default(),
            environments: r
                .get("environments")
                .and_then(Value::as_array)
                .map(|es| es.iter().filter_map(|e| s(e, "name")).collect())
                .unwrap_or_default(),
        })
        .collect())
}

/// `pending_deployments` (a list) into the environments a run waits on.
pub fn parse_pending(v: &Value) -> Result<Vec<crate::model::PendingDeployment>, GhError> {
    let arr = v
        .as_array()
        .ok_or_else(|| malformed("pending deployments: expected a list"))?;
    Ok(arr
        .iter()
        .map(|p| {
            let env = p.get("environment").cloned().unwrap_or_default();
            crate::model::PendingDeployment {
                environment: s(&env, "name").unwrap_or_default(),
                environment_id: u(&env, "id"),
                reviewers: p
                    .get("reviewers")
                    .and_then(Value::as_array)
                    .map(|rs| {
                        rs.iter()
                            .filter_map(|r| {
                                let who = r.get("reviewer")?;
                                s(who, "login")
                                    .or_else(|| s(who, "slug").map(|t| format!("team {t}")))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                can_approve: p
                    .get("current_user_can_approve")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                wait_timer: u(p, "wait_timer"),
            }
        })
        .collect())
}
