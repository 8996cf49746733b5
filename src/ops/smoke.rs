//! Smoke checks after a rollout: each of the service's `smoke:` entries is a
//! GET that must answer the expected status (and contain the expected body
//! text), retried for a bounded time, like the seeds' `GET /api/ready` and
//! "unauthenticated returns 401" gates. A URL may name `{env}` and
//! `{namespace}` (or `{host}`), so that one check serves every environment;
//! a check that names `{namespace}` does not apply to an environment on a
//! host, and is shown as not run there; the expected
//! body may name `{tag}` (the tag just deployed) or `{version}` (the same
//! without its `v`), so that a ship proves the public endpoint serves it.

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
        .replace("{host}", env.host.as_deref().unwrap_or(""))
}

/// Whether `check` can be run for `env`: one whose URL names the
/// namespace cannot, on a host (`{host}`: the other way round).
pub fn applies(check: &SmokeCheck, env: &Environment) -> bool {
    let names = |p: &str| check.url.contains(p);
    if env.on_cluster() {
        !names("{host}")
    } else {
        !names("{namespace}")
    }
}

/// Why `check` is not run for `env`.
fn not_applying(check: &SmokeCheck, env: &Environment) -> String {
    format!(
        "smoke: {} not run in {}: its URL names {}",
        check.url,
        env.name,
        if env.on_cluster() {
            "a {host}, and it runs in a namespace"
        } else {
            "a {namespace}, and it runs on a host"
        }
    )
}

/// The body a check expects, with `{tag}` and `{version}` filled in when
/// the tag is known.
pub fn body_for(check: &SmokeCheck, tag: Option<&str>) -> Option<String> {
    let body = check.body.as_ref()?;
    Some(match tag {
        Some(t) => body
            .replace("{tag}", t)
            .replace("{version}", t.trim_start_matches('v')),
        None => body.clone(),
    })
}

/// `GET url → 200 "ok"`, for the progress line.
pub fn words(check: &SmokeCheck, env: &Environment, tag: Option<&str>) -> String {
    let body = body_for(check, tag)
        .map(|b| format!(" {b:?}"))
        .unwrap_or_default();
    format!("GET {} {}{body}", url_for(check, env), check.status)
}

/// The smoke checks as the steps of a plan.
pub fn plan_steps(
    service: &crate::registry::Service,
    env: &Environment,
    tag: &str,
) -> Vec<(super::System, String)> {
    service
        .smoke
        .iter()
        .map(|check| {
            (
                super::System::Local,
                if applies(check, env) {
                    format!("smoke: {}", words(check, env, Some(tag)))
                } else {
                    not_applying(check, env)
                },
            )
        })
        .collect()
}

/// Run one check until it passes or `retry_for` has passed.
pub async fn run(
    http: &reqwest::Client,
    check: &SmokeCheck,
    env: &Environment,
    tag: Option<&str>,
    retry_for: Duration,
) -> Result<(), Problem> {
    let url = url_for(check, env);
    let want_body = body_for(check, tag);
    let deadline = Instant::now() + retry_for;
    loop {
        let got = match http.get(&url).timeout(Duration::from_secs(5)).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                match (&want_body, status == check.status) {
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

/// Every smoke check of `service` in `env`, each a step of the operation,
/// in order; the first that fails ends them.
pub async fn run_all(
    rep: &mut super::context::Reporter,
    service: &crate::registry::Service,
    env: &Environment,
    tag: &str,
) -> Result<(), Problem> {
    let http = reqwest::Client::new();
    for check in &service.smoke {
        if !applies(check, env) {
            rep.line(format!("  {}", not_applying(check, env))).await;
            continue;
        }
        let step = format!("smoke: {}", words(check, env, Some(tag)));
        rep.start(&step).await;
        if let Err(p) = run(&http, check, env, Some(tag), RETRY_FOR).await {
            rep.failed(&step, Some(p.message.clone())).await;
            return Err(p);
        }
        rep.done(&step, None).await;
    }
    Ok(())
}

pub(crate) fn root(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> SmokeCheck {
        SmokeCheck {
            url: String::new(),
            status: 200,
            body: Some(body.into()),
        }
    }

    #[test]
    fn the_expected_body_names_the_tag() {
        let c = check(r#""version":"{version}""#);
        assert_eq!(
            body_for(&c, Some("v0.7.3")).as_deref(),
            Some(r#""version":"0.7.3""#)
        );
        assert_eq!(
            body_for(&check("ok {tag}"), Some("v0.7.3")).as_deref(),
            Some("ok v0.7.3")
        );
        // Before the tag is known (a plan), the template shows as written.
        assert_eq!(
            body_for(&check("ok {tag}"), None).as_deref(),
            Some("ok {tag}")
        );
    }

    /// Against a local endpoint that serves v1.2.3: the check for that tag
    /// passes, the check for another fails with what it got.
    #[tokio::test]
    async fn a_check_with_tag_passes_only_for_the_tag_served() {
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(|| async { r#"{"status":"ok","version":"1.2.3"}"# }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let c = SmokeCheck {
            url,
            status: 200,
            body: Some(r#""version":"{version}""#.into()),
        };
        let env = Environment::defaults().remove(0);
        let http = reqwest::Client::new();
        let quick = Duration::from_millis(10);
        assert!(run(&http, &c, &env, Some("v1.2.3"), quick).await.is_ok());
        let err = run(&http, &c, &env, Some("v1.2.4"), quick)
            .await
            .unwrap_err();
        assert!(
            err.message.contains(r#"without "\"version\":\"1.2.4\"""#),
            "{}",
            err.message
        );
    }
}
