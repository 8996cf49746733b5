//! Smoke checks after a rollout: each of the service's `smoke:` entries is a
//! GET that must answer the expected status (and contain the expected body
//! text), retried for a bounded time, like the seeds' `GET /api/ready` and
//! "unauthenticated returns 401" gates. A URL may name `{env}` and
//! `{namespace}`, so that one check serves every environment.

use std::time::Duration;

use tokio::time::Instant;

use crate::model::{Problem, ProblemKind};
use crate::registry::{Environment, SmokeCheck};

/// How long a check is retried before it fails.
pub const RETRY_FOR: Duration = Duration::from_secs(60);

/// The check's URL for an environment.
pub fn url_for(check: &SmokeCheck, env: &Environment) -> String {
    check
        .url
        .replace("{env}", &env.name)
        .replace("{namespace}", &env.namespace)
}

/// `GET url → 200 "ok"`, for the progress line.
pub fn words(check: &SmokeCheck, env: &Environment) -> String {
    let body = check
        .body
        .as_ref()
        .map(|b| format!(" {b:?}"))
        .unwrap_or_default();
    format!("GET {} {}{body}", url_for(check, env), check.status)
}

/// Run one check until it passes or `retry_for` has passed.
pub async fn run(
    http: &reqwest::Client,
    check: &SmokeCheck,
    env: &Environment,
    retry_for: Duration,
) -> Result<(), Problem> {
    let url = url_for(check, env);
    let deadline = Instant::now() + retry_for;
    loop {
        let got = match http.get(&url).timeout(Duration::from_secs(5)).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                match (&check.body, status == check.status) {
                    (_, false) => Err(format!("answered {status}, not {}", check.status)),
                    (Some(want), true) if !body.contains(want.as_str()) => {
                        Err(format!("answered {status} without {want:?} in the body"))
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => Err(format!("no answer: {}", root(&e))),
        };
        match got {
            Ok(()) => return Ok(()),
            Err(why) if Instant::now() >= deadline => {
                return Err(Problem::new(
                    ProblemKind::Server,
                    format!("smoke check GET {url} failed: {why}"),
                    format!(
                        "the new version runs but does not answer as expected; look at its logs (hearth logs SERVICE --env {}) or roll back",
                        env.name
                    ),
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

pub(crate) fn root(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
