//! Following what an operation set off: the workflow runs a release (or a
//! dispatch) started, found by head SHA and polled fast right after; their
//! step transitions streamed like `gh run watch`; a failed job's log tail
//! fetched and shown under the failed step like `gh run view --log-failed`;
//! then the rollout in the target namespace followed until the new tag
//! serves, or it fails with the reason.

use std::time::Duration;

use tokio::time::Instant;

use super::context::{Context, Reporter};
use super::StepState;
use crate::github::{parse_jobs, parse_runs, GhError};
use crate::model::ci::{self, CiTransition};
use crate::model::{CiJob, CiRun, EnvObservation, Problem, ProblemKind, Rollout};
use crate::registry::{Environment, Service};

/// How often runs and jobs are polled while an operation follows them.
const RUN_POLL: Duration = Duration::from_millis(1000);
/// How long a release may take to start its run(s) before hearth says none came.
pub const RUN_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How many lines of a failed job's log are shown.
pub const LOG_TAIL: usize = 20;

/// A timeout in words: "45 minutes", "2 hours", "1m30s".
fn span(d: Duration) -> String {
    let secs = d.as_secs();
    let plural = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else {
        ci::format_duration(secs as i64)
    }
}

/// Why following CI stopped.
#[derive(Debug)]
pub enum CiFailure {
    /// No run started within the time allowed.
    NoRun,
    /// A run concluded other than success; the failed step's name, and
    /// for a run a reviewer rejected, who and why ("rejected by sam: …").
    Failed {
        run: Box<CiRun>,
        step: Option<String>,
        conclusion: String,
        review: Option<String>,
    },
    /// GitHub could not be read.
    GitHub(Problem),
}

/// Where to look for the runs an operation starts: a workflow's runs of one
/// event for one commit, and (when given) for one tag. An earlier rc built
/// from the same commit has runs with the same head SHA: the tag tells them
/// apart (GitHub sets a release or tag-dispatched run's `head_branch` to it).
#[derive(Clone, Debug)]
pub struct RunQuery {
    pub repo: String,
    pub workflow: String,
    pub sha: String,
    /// `release` or `workflow_dispatch`.
    pub event: String,
    /// The tag the runs must be for.
    pub tag: Option<String>,
}

impl RunQuery {
    fn path(&self) -> String {
        format!(
            "/repos/{}/actions/workflows/{}/runs?event={}&head_sha={}&per_page=20",
            self.repo, self.workflow, self.event, self.sha
        )
    }

    /// The ids of the runs that exist already (taken before the change
    /// that starts new ones, so that those are told apart). When they cannot
    /// be read, a new run could not be told from an old one: the operation
    /// must stop before it changes anything.
    pub async fn existing(&self, ctx: &Context) -> Result<Vec<u64>, Problem> {
        let client = ctx.github().map_err(|f| f.problem)?;
        let runs = client
            .get_json(&self.path())
            .await
            .and_then(|v| parse_runs(&v))
            .map_err(|e| {
                let p = ctx.github_problem(&e, &self.repo, &format!("workflow {}", self.workflow), false);
                Problem::new(
                    p.kind,
                    format!("cannot read the earlier runs, so a new run could not be told from an old one: {}", p.message),
                    p.hint,
                )
            })?;
        Ok(runs.iter().map(|r| r.id).collect())
    }

    /// Whether `run` is one this query looks for (beyond the server's
    /// filters, which an older server may not apply).
    fn matches(&self, run: &CiRun) -> bool {
        run.head_sha == self.sha
            && run.event == self.event
            && self
                .tag
                .as_deref()
                .is_none_or(|t| run.head_branch.as_deref() == Some(t))
    }
}

/// The runs of the query that are not in `before`, polled every half second
/// until at least one shows or `timeout` passes. A workflow that listens to
/// several activity types may start several runs; a second one can appear a
/// moment after the first, so polling goes on briefly after the first is found.
pub async fn find_runs(
    ctx: &Context,
    query: &RunQuery,
    before: &[u64],
    timeout: Duration,
) -> Result<Vec<CiRun>, Problem> {
    let client = ctx.github().map_err(|f| f.problem)?.clone();
    let path = query.path();
    let (repo, workflow) = (&query.repo, &query.workflow);
    let deadline = Instant::now() + timeout;
    let mut settle: Option<Instant> = None;
    loop {
        let runs = match client.get_json(&path).await.and_then(|v| parse_runs(&v)) {
            Ok(runs) => runs,
            Err(GhError::RateLimited { wait, .. }) if Instant::now() + wait < deadline => {
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(e) => {
                return Err(ctx.github_problem(&e, repo, &format!("workflow {workflow}"), false))
            }
        };
        let mut new: Vec<CiRun> = runs
            .into_iter()
            .filter(|r| !before.contains(&r.id) && query.matches(r))
            .collect();
        new.sort_by_key(|r| r.id);
        if !new.is_empty() {
            match settle {
                None => settle = Some(Instant::now() + Duration::from_millis(1500)),
                Some(t) if Instant::now() >= t => return Ok(new),
                Some(_) => {}
            }
        }
        if Instant::now() >= deadline {
            return Ok(new);
        }
        tokio::time::sleep(RUN_POLL / 2).await;
    }
}

/// Follow `runs` to completion, reporting each step as it starts and ends
/// (a step of the operation each) and, when one fails, the last lines of the
/// failed job's log. Ok when every run succeeded.
pub async fn follow_runs(
    ctx: &Context,
    rep: &mut Reporter,
    repo: &str,
    mut runs: Vec<CiRun>,
) -> Result<Vec<CiRun>, CiFailure> {
    let client = ctx
        .github()
        .map_err(|f| CiFailure::GitHub(f.problem))?
        .clone();
    let timeout = ctx.config.github.intervals.run_timeout;
    let deadline = Instant::now() + timeout;
    let mut jobs: Vec<(u64, Vec<CiJob>)> = runs.iter().map(|r| (r.id, Vec::new())).collect();
    let several = runs.len() > 1;
    // The approval step of each run while it waits on an environment, and
    // whether a reviewer rejected it.
    let mut waiting: Vec<Option<String>> = vec![None; runs.len()];
    let mut rejected_at: Vec<Option<(String, Option<String>)>> = vec![None; runs.len()];
    loop {
        let mut all_done = true;
        for (i, run) in runs.clone().iter().enumerate() {
            if !run.is_active() && !jobs[i].1.is_empty() {
                continue;
            }
            let path = format!("/repos/{repo}/actions/runs/{}", run.id);
            let fresh = client.get_json(&path).await.map_err(|e| {
                CiFailure::GitHub(ctx.github_problem(&e, repo, "workflow run", false))
            })?;
            let fresh = parse_runs(&serde_json::json!({ "workflow_runs": [fresh] }))
                .ok()
                .and_then(|r| r.into_iter().next())
                .unwrap_or_else(|| run.clone());
            let path = format!("/repos/{repo}/actions/runs/{}/jobs", run.id);
            let next = client
                .get_json(&path)
                .await
                .and_then(|v| parse_jobs(&v))
                .map_err(|e| CiFailure::GitHub(ctx.github_problem(&e, repo, "jobs", false)))?;
            let prefix = if several {
                format!("run #{} ", fresh.run_number)
            } else {
                String::new()
            };
            if fresh.status == "waiting" && waiting[i].is_none() {
                let pending = client
                    .get_json(&format!(
                        "/repos/{repo}/actions/runs/{}/pending_deployments",
                        run.id
                    ))
                    .await
                    .and_then(|v| crate::github::parse_pending(&v))
                    .unwrap_or_default();
                let envs: Vec<&str> = pending.iter().map(|p| p.environment.as_str()).collect();
                let name = format!(
                    "{prefix}approval{}",
                    if envs.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", envs.join(", "))
                    }
                );
                rep.start(&name).await;
                rep.line(format!(
                    "  {}",
                    crate::model::ci::approval_words(&pending, "hearth approve")
                ))
                .await;
                waiting[i] = Some(name);
            } else if fresh.status != "waiting" {
                let rejected = is_rejected(&fresh, &next);
                // A run rejected before a poll saw it wait still failed at
                // its approval, not at "a step".
                let seen = waiting[i].take();
                let started = seen.is_some();
                let name = seen.or_else(|| rejected.then(|| format!("{prefix}approval")));
                if let Some(name) = name {
                    if rejected {
                        if !started {
                            rep.start(&name).await;
                        }
                        // A reviewer's comment is text from GitHub like any other:
                        // inert from the parser, and never a secret.
                        let review = rejection(&client, repo, run.id)
                            .await
                            .map(|w| ctx.redact(&w));
                        let words = review.clone().unwrap_or_else(|| "rejected".into());
                        rep.failed(&name, Some(words)).await;
                        rejected_at[i] = Some((name, review));
                    } else {
                        rep.done(&name, Some("approved".into())).await;
                    }
                }
            }
            for ev in ci::diff(run.id, &jobs[i].1, &next) {
                let Some(step) = ev.step.clone() else {
                    continue;
                };
                let name = format!("{prefix}{step}");
                match &ev.transition {
                    CiTransition::Started => rep.start(&name).await,
                    CiTransition::Completed(c) if c == "skipped" => rep.skipped(&name, None).await,
                    CiTransition::Completed(c) if ci::is_good(c) => {
                        let d = ev.duration.map(ci::format_duration);
                        rep.end_took(&name, StepState::Done, d, ev.duration).await
                    }
                    CiTransition::Completed(c) => {
                        // Failed steps carry their own duration too.
                        let detail = match ev.duration {
                            Some(d) => format!("{c} after {}", ci::format_duration(d)),
                            None => c.clone(),
                        };
                        rep.end_took(&name, StepState::Failed, Some(detail), ev.duration)
                            .await;
                        show_failed_log(ctx, rep, repo, &next, &step).await;
                    }
                }
            }
            jobs[i].1 = next;
            runs[i] = fresh;
            if runs[i].is_active() {
                all_done = false;
            }
        }
        if all_done {
            break;
        }
        if Instant::now() >= deadline {
            // A run still waiting on a reviewer: say that is what did not
            // come, and that the run goes on waiting.
            let waits = waiting.iter().flatten().next();
            return Err(CiFailure::GitHub(match waits {
                Some(step) => Problem::new(
                    ProblemKind::Timeout,
                    format!(
                        "no one answered the {step} within {}; the run still waits",
                        span(timeout)
                    ),
                    "approve it with hearth approve (or on the run's page), or cancel it: hearth stopped following it",
                ),
                None => Problem::new(
                    ProblemKind::Timeout,
                    format!(
                        "the CI run did not finish within {}",
                        span(timeout)
                    ),
                    "look at the run on GitHub; hearth stopped following it",
                ),
            }));
        }
        tokio::time::sleep(RUN_POLL).await;
    }
    for (i, run) in runs.iter().enumerate() {
        if let Some((step, review)) = rejected_at[i].take() {
            return Err(CiFailure::Failed {
                run: Box::new(run.clone()),
                step: Some(step),
                conclusion: REJECTED.into(),
                review,
            });
        }
        let conclusion = run.conclusion.clone().unwrap_or_else(|| "unknown".into());
        if conclusion != "success" {
            let step = jobs[i]
                .1
                .iter()
                .flat_map(|j| j.steps.iter())
                .find(|s| s.conclusion.as_deref().is_some_and(|c| !ci::is_good(c)))
                .map(|s| s.name.clone());
            return Err(CiFailure::Failed {
                run: Box::new(run.clone()),
                step,
                conclusion,
                review: None,
            });
        }
    }
    Ok(runs)
}

/// Who rejected run `id` and why, from its reviews
/// (`GET …/runs/{id}/approvals`): "rejected by sam: “not today”". None when
/// the reviews cannot be read or name no rejection (the failure then says
/// only that it was rejected).
async fn rejection(client: &crate::github::Client, repo: &str, id: u64) -> Option<String> {
    let reviews = client
        .get_json(&format!("/repos/{repo}/actions/runs/{id}/approvals"))
        .await
        .and_then(|v| crate::github::parse_approvals(&v))
        .ok()?;
    reviews
        .iter()
        .find(|r| r.state == "rejected")
        .map(crate::model::Review::words)
}

/// The conclusion [`CiFailure::Failed`] carries for a run a reviewer
/// rejected at its approval.
pub const REJECTED: &str = "rejected";

/// Whether a finished run was rejected at an environment's approval: it
/// failed with every step of its jobs skipped (no job ran).
fn is_rejected(run: &CiRun, jobs: &[CiJob]) -> bool {
    // A cancelled run also skips its steps; GitHub ends a rejected one
    // as a failure.
    run.status == "completed"
        && run.conclusion.as_deref() == Some("failure")
        && !jobs.is_empty()
        && jobs.iter().all(|j| {
            j.steps
                .iter()
                .all(|s| s.conclusion.as_deref() == Some("skipped"))
        })
}

/// Under a failed step: the last lines of its job's log.
async fn show_failed_log(ctx: &Context, rep: &Reporter, repo: &str, jobs: &[CiJob], step: &str) {
    let Some(job) = jobs.iter().find(|j| j.steps.iter().any(|s| s.name == step)) else {
        return;
    };
    let Ok(client) = ctx.github() else {
        return;
    };
    match client
        .get_text(&format!("/repos/{repo}/actions/jobs/{}/logs", job.id))
        .await
    {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let from = lines.len().saturating_sub(LOG_TAIL);
            rep.line(format!(
                "  log of job {:?} (last {} lines):",
                job.name,
                lines.len() - from
            ))
            .await;
            for l in &lines[from..] {
                rep.line(format!(
                    "  │ {}",
                    crate::model::text::log_line(&ctx.redact(l))
                ))
                .await;
            }
        }
        Err(e) => {
            rep.line(format!(
                "  (the job's log could not be read: {})",
                ctx.redact(&e.to_string())
            ))
            .await
        }
    }
}

/// Follow the rollout of `service` in `env` until the Deployment serves
/// `tag` with every replica ready, or it fails (a crash-looping migration,
/// the progress deadline), or `timeout` passes.
pub async fn follow_rollout(
    ctx: &Context,
    rep: &mut Reporter,
    service: &Service,
    env: &Environment,
    tag: &str,
    timeout: Duration,
) -> Result<(), Problem> {
    let kube = ctx.kube(env).await.map_err(|f| f.problem)?;
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let obs = crate::cluster::observe_one(&kube, service, &env.namespace).await;
        match &obs {
            EnvObservation::Live(w) => {
                let serving = w.serving_tag();
                let line = match &w.rollout {
                    Rollout::Complete => format!(
                        "deployment \"{}\" successfully rolled out",
                        service.k8s_name
                    ),
                    Rollout::Progressing(m) | Rollout::Failed(m) => m.clone(),
                };
                if line != last {
                    rep.line(format!("  {line}")).await;
                    last = line;
                }
                if w.image_tag.as_deref() == Some(tag)
                    && w.rollout == Rollout::Complete
                    && serving == Some(tag)
                {
                    return Ok(());
                }
                if let Rollout::Failed(m) = &w.rollout {
                    if w.image_tag.as_deref() == Some(tag) {
                        let why = w.stuck_reason.clone().unwrap_or_default();
                        return Err(Problem::new(
                            ProblemKind::Server,
                            if why.is_empty() {
                                m.clone()
                            } else {
                                format!("{m}: {why}")
                            },
                            format!("{} still serves {}", env.name, serving.unwrap_or("nothing")),
                        ));
                    }
                }
                if w.image_tag.as_deref() != Some(tag) && Instant::now() >= deadline {
                    return Err(Problem::new(
                        ProblemKind::Timeout,
                        format!(
                            "{} in {} runs {}, not {tag}",
                            service.k8s_name,
                            env.namespace,
                            w.image_tag.as_deref().unwrap_or("nothing")
                        ),
                        "the deploy did not set the image; look at the CI run",
                    ));
                }
            }
            EnvObservation::Missing { hint } => {
                return Err(Problem::new(
                    ProblemKind::NotFound,
                    format!("no deployment {} in {}", service.k8s_name, env.namespace),
                    hint.clone(),
                ))
            }
            EnvObservation::Error(p) => return Err(p.clone()),
            // A cluster read never reports a host's endpoint.
            EnvObservation::Unknown | EnvObservation::Reported { .. } => {}
        }
        if Instant::now() >= deadline {
            return Err(Problem::new(
                ProblemKind::Timeout,
                format!(
                    "the rollout of {} in {} did not finish within {} s",
                    service.k8s_name,
                    env.namespace,
                    timeout.as_secs()
                ),
                format!(
                    "kubectl rollout status deploy/{} -n {}",
                    service.k8s_name, env.namespace
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What an environment on a host runs, read once from its version
/// endpoint; the endpoint's failure as a problem.
pub async fn host_running(
    http: &reqwest::Client,
    service: &Service,
    env: &Environment,
) -> Result<String, Problem> {
    let host = env.host.as_deref().unwrap_or("?");
    let Some((url, field)) = service.version_endpoint(env) else {
        return Err(Problem::new(
            ProblemKind::Invalid,
            format!(
                "{} runs on host {host} and names no version endpoint",
                env.name
            ),
            "add `version: { url: ..., field: version }` to the environment in services.yaml",
        ));
    };
    let reading = crate::endpoint::read(http, &url, field).await;
    match crate::model::EnvObservation::from_endpoint(host, &reading) {
        EnvObservation::Reported { tag, .. } => Ok(tag),
        EnvObservation::Error(p) => Err(p),
        _ => unreachable!("an endpoint reading is a tag or a problem"),
    }
}

/// Follow an environment on a host after its deploy run: read its version
/// endpoint until it reports `tag` (a compose host reports the new version
/// once the new container answers), or `timeout` passes.
pub async fn follow_host(
    rep: &mut Reporter,
    service: &Service,
    env: &Environment,
    tag: &str,
    timeout: Duration,
) -> Result<(), Problem> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let now = host_running(&http, service, env).await;
        let line = match &now {
            Ok(v) => format!("the endpoint reports {v}"),
            Err(p) => p.message.clone(),
        };
        if line != last {
            rep.line(format!("  {line}")).await;
            last = line;
        }
        if let Ok(v) = &now {
            if crate::model::endpoint::same_version(v, tag) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(Problem::new(
                ProblemKind::Timeout,
                format!(
                    "host {} did not report {tag} within {} s ({last})",
                    env.host.as_deref().unwrap_or("?"),
                    timeout.as_secs()
                ),
                "look at the host (docker compose ps, docker compose logs) and at the deploy run's log",
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_reads_as_words() {
        assert_eq!(span(Duration::from_secs(45 * 60)), "45 minutes");
        assert_eq!(span(Duration::from_secs(60)), "1 minute");
        assert_eq!(span(Duration::from_secs(7200)), "2 hours");
        assert_eq!(span(Duration::from_secs(8)), "8s");
        assert_eq!(span(Duration::from_secs(90)), "1m30s");
    }

    fn run(id: u64, sha: &str, event: &str, branch: &str) -> CiRun {
        CiRun {
            id,
            run_number: id,
            name: None,
            display_title: None,
            event: event.into(),
            head_branch: Some(branch.into()),
            head_sha: sha.into(),
            status: "completed".into(),
            conclusion: Some("success".into()),
            created_at: None,
            updated_at: None,
            html_url: None,
            path: None,
        }
    }

    /// An earlier rc built from the same commit has a green run with the same
    /// head SHA and event: only the tag tells it from the run being waited for.
    #[test]
    fn a_run_for_an_earlier_tag_of_the_same_commit_is_not_adopted() {
        let query = RunQuery {
            repo: "o/api".into(),
            workflow: "release.yml".into(),
            sha: "abc123".into(),
            event: "release".into(),
            tag: Some("v1.2.0-rc.2".into()),
        };
        assert!(!query.matches(&run(1, "abc123", "release", "v1.2.0-rc.1")));
        assert!(!query.matches(&run(2, "abc123", "workflow_dispatch", "v1.2.0-rc.2")));
        assert!(!query.matches(&run(3, "def456", "release", "v1.2.0-rc.2")));
        assert!(query.matches(&run(4, "abc123", "release", "v1.2.0-rc.2")));
        // Without a tag (a run started by a branch push), the commit and the
        // event decide.
        let any_tag = RunQuery { tag: None, ..query };
        assert!(any_tag.matches(&run(1, "abc123", "release", "main")));
    }
}
