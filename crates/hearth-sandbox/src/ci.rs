//! The simulated CI behind the sandbox GitHub API: which release activity
//! types a create / publish / edit fires, whether a repository's workflow
//! (`on: release: types`) listens to them, and the workflow runs themselves,
//! whose steps advance on tokio tasks spawned by the GitHub API handlers.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::gh::GithubApi;

/// A release's publication state, as the activity-type rules need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseFlags {
    pub draft: bool,
    pub prerelease: bool,
}

/// Activity types fired by creating a release (GitHub's "release" event):
/// a draft fires `created` only; a published release fires `created`,
/// `published` and `released`, a published prerelease `created`, `published`
/// and `prereleased`.
pub fn create_activity(flags: ReleaseFlags) -> Vec<&'static str> {
    if flags.draft {
        vec!["created"]
    } else if flags.prerelease {
        vec!["created", "published", "prereleased"]
    } else {
        vec!["created", "published", "released"]
    }
}

/// Activity types fired by editing a release from `before` to `after`:
/// publishing a draft fires `published` and `released`/`prereleased`;
/// turning a published release back into a draft fires `unpublished`; any
/// other edit fires `edited`, plus `released` when a prerelease becomes a
/// release (a promote).
pub fn update_activity(before: ReleaseFlags, after: ReleaseFlags) -> Vec<&'static str> {
    match (before.draft, after.draft) {
        (true, false) => {
            if after.prerelease {
                vec!["published", "prereleased"]
            } else {
                vec!["published", "released"]
            }
        }
        (false, true) => vec!["unpublished"],
        (true, true) => vec!["edited"],
        (false, false) => {
            if before.prerelease && !after.prerelease {
                vec!["edited", "released"]
            } else {
                vec!["edited"]
            }
        }
    }
}

/// Whether an activity type can trigger a workflow at all for a release in
/// this state: GitHub does not run workflows for `created`, `edited` or
/// `deleted` of a draft release.
pub fn can_trigger(activity: &str, release_is_draft: bool) -> bool {
    !(release_is_draft && matches!(activity, "created" | "edited" | "deleted"))
}

/// The release activity types a workflow file listens to: `None` when it has
/// no `release` trigger, `Some(vec![])` when it takes every type.
/// Understands `on: release`, `on: [release, push]` and
/// `on: {release: {types: [published]}}` (types as a list or one string).
pub fn workflow_release_types(yaml: &str) -> Option<Vec<String>> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).ok()?;
    // YAML 1.1 parsers read a bare `on` key as `true`; accept both spellings.
    let on = doc
        .get("on")
        .or_else(|| doc.as_mapping()?.get(serde_yaml::Value::Bool(true)))?;
    match on {
        serde_yaml::Value::String(s) => (s == "release").then(Vec::new),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .any(|v| v.as_str() == Some("release"))
            .then(Vec::new),
        serde_yaml::Value::Mapping(m) => {
            let release = m.get("release")?;
            let types = match release.get("types") {
                None => return Some(Vec::new()),
                Some(t) => t,
            };
            Some(match types {
                serde_yaml::Value::String(s) => vec![s.clone()],
                serde_yaml::Value::Sequence(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            })
        }
        _ => None,
    }
}

/// The title GitHub gives a `workflow_dispatch` run of the workflow: its
/// `run-name` with `${{ inputs.X }}` (or `github.event.inputs.X`) filled in
/// from `inputs`, else the workflow's `name` (else the file's name).
pub fn dispatch_run_title(
    yaml: &str,
    file: &str,
    inputs: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap_or_default();
    let Some(template) = doc.get("run-name").and_then(|v| v.as_str()) else {
        return doc
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or(file)
            .to_string();
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            rest = &rest[start..];
            break;
        };
        let expr = rest[start + 3..start + end].trim();
        let name = expr
            .strip_prefix("inputs.")
            .or_else(|| expr.strip_prefix("github.event.inputs."));
        if let Some(v) = name.and_then(|n| inputs.get(n)) {
            match v {
                serde_json::Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// The input names of a workflow's `workflow_dispatch` trigger, when it has one.
pub fn workflow_dispatch_inputs(yaml: &str) -> Option<Vec<String>> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).ok()?;
    let on = doc
        .get("on")
        .or_else(|| doc.as_mapping()?.get(serde_yaml::Value::Bool(true)))?;
    match on {
        serde_yaml::Value::String(s) => (s == "workflow_dispatch").then(Vec::new),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .any(|v| v.as_str() == Some("workflow_dispatch"))
            .then(Vec::new),
        serde_yaml::Value::Mapping(m) => {
            let d = m.get("workflow_dispatch")?;
            Some(
                d.get("inputs")
                    .and_then(|i| i.as_mapping())
                    .map(|i| {
                        i.keys()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        }
        _ => None,
    }
}

/// A workflow's `on: push` trigger: the branch and tag filters it names
/// (`None`: that list is not given).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushFilter {
    pub branches: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
}

impl PushFilter {
    /// Whether a push of `git_ref` (`refs/heads/main`, `refs/tags/v1.0.0`)
    /// starts a run, by GitHub's rules: with only `branches`, tag pushes
    /// start none (and the other way round); with neither, every push does.
    pub fn matches(&self, git_ref: &str) -> bool {
        let check = |list: &Option<Vec<String>>, other: &Option<Vec<String>>, name: &str| match list
        {
            Some(patterns) => patterns.iter().any(|p| glob(p, name)),
            None => other.is_none(),
        };
        if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
            check(&self.branches, &self.tags, branch)
        } else if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
            check(&self.tags, &self.branches, tag)
        } else {
            false
        }
    }
}

/// GitHub's filter patterns, the common part: `*` matches within one path
/// segment, `**` across segments, `?` one character.
pub fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => (0..=n.len()).any(|i| go(&p[2..], &n[i..])),
            Some(b'*') => {
                let stop = n.iter().position(|&c| c == b'/').unwrap_or(n.len());
                (0..=stop).any(|i| go(&p[1..], &n[i..]))
            }
            Some(b'?') => !n.is_empty() && n[0] != b'/' && go(&p[1..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// A workflow's `on: push` filters, when it has that trigger.
pub fn workflow_push_filter(yaml: &str) -> Option<PushFilter> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).ok()?;
    let on = doc
        .get("on")
        .or_else(|| doc.as_mapping()?.get(serde_yaml::Value::Bool(true)))?;
    let list = |v: Option<&serde_yaml::Value>| -> Option<Vec<String>> {
        match v? {
            serde_yaml::Value::String(s) => Some(vec![s.clone()]),
            serde_yaml::Value::Sequence(items) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => None,
        }
    };
    match on {
        serde_yaml::Value::String(s) => (s == "push").then(PushFilter::default),
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .any(|v| v.as_str() == Some("push"))
            .then(PushFilter::default),
        serde_yaml::Value::Mapping(m) => {
            let push = m.get("push")?;
            Some(PushFilter {
                branches: list(push.get("branches")),
                tags: list(push.get("tags")),
            })
        }
        _ => None,
    }
}

/// Whether a workflow with `types` (from [`workflow_release_types`]) runs for `activity`.
pub fn workflow_listens(types: &Option<Vec<String>>, activity: &str) -> bool {
    match types {
        None => false,
        Some(t) if t.is_empty() => true,
        Some(t) => t.iter().any(|x| x == activity),
    }
}

/// What a workflow does when it runs, read from its file: the release
/// workflow builds and deploys where the release says; a `delivery:
/// dispatch` repository's build workflow only builds; its deploy workflows
/// deploy their image-tag input to the namespace their `env: NAMESPACE`
/// names, behind the GitHub Environment their job names (`environment:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Release,
    Build,
    Deploy {
        namespace: String,
    },
    /// A push-triggered workflow (`delivery: push`): builds the pushed
    /// commit (`sha-<7 hex>` for a branch, the tag's name for a tag) and
    /// deploys it to its namespace.
    BuildDeploy {
        namespace: String,
    },
    /// A deploy workflow whose `env:` names `HOST`: it deploys its
    /// `image_tag` input to a docker compose host outside Kubernetes (seed
    /// 001), which then reports it at `GET /hosts/{host}/version`.
    DeployHost {
        host: String,
    },
}

/// A workflow file's role and the GitHub Environment its job deploys to.
pub fn workflow_role(yaml: &str, release_workflow: bool) -> (Role, Option<String>) {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap_or_default();
    let namespace = doc
        .get("env")
        .and_then(|e| e.get("NAMESPACE"))
        .and_then(|n| n.as_str())
        .map(str::to_string);
    let host = doc
        .get("env")
        .and_then(|e| e.get("HOST"))
        .and_then(|n| n.as_str())
        .map(str::to_string);
    let environment = doc
        .get("jobs")
        .and_then(|j| j.as_mapping())
        .and_then(|jobs| {
            jobs.values().find_map(|job| {
                let env = job.get("environment")?;
                env.as_str()
                    .or_else(|| env.get("name")?.as_str())
                    .map(str::to_string)
            })
        });
    let role = match (namespace, host) {
        (Some(namespace), _) => Role::Deploy { namespace },
        (None, Some(host)) => Role::DeployHost { host },
        (None, None) if release_workflow => Role::Release,
        (None, None) => Role::Build,
    };
    (role, environment)
}

/// A run's wait on a GitHub Environment with required reviewers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    pub environment: String,
    pub environment_id: u64,
    /// `waiting`, `approved` or `rejected`.
    pub state: String,
    pub comment: Option<String>,
    /// Who approved or rejected it (a login).
    pub reviewer: Option<String>,
    /// When the run began to wait (its wait timer counts from then).
    pub since: Option<DateTime<Utc>>,
}

/// The reviewer every gated sandbox environment requires.
pub const REVIEWER: &str = "hearth-reviewer";

/// The steps of the demo release job, with their base duration in seconds
/// (divided by the sandbox speed).
pub const STEPS: [(&str, f64); 5] = [
    ("Set up job", 1.0),
    ("Checkout", 1.0),
    ("Build and push image", 3.0),
    ("Deploy to k3s", 2.0),
    ("Complete job", 0.5),
];
const BUILD_STEP: usize = 2;
const DEPLOY_STEP: usize = 3;
/// How long a run waits in `queued` before a runner picks it up.
const QUEUED_SECS: f64 = 0.5;

/// One step of a job.
#[derive(Clone, Debug)]
pub struct StepRec {
    pub name: String,
    /// Which of [`STEPS`] it is (its duration and what it does), whatever
    /// its name says.
    pub kind: usize,
    pub number: i64,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// The single job (`ship`) of a run attempt.
#[derive(Clone, Debug)]
pub struct JobRec {
    pub id: u64,
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub steps: Vec<StepRec>,
    /// The job's log as GitHub serves it (`GET /actions/jobs/{id}/logs`):
    /// timestamped lines, a `##[group]Run ...` per step, `##[error]` on failure.
    pub log: Vec<String>,
}

impl JobRec {
    /// A fresh, queued job of the release workflow.
    pub fn queued(id: u64, now: DateTime<Utc>) -> JobRec {
        JobRec::queued_for(id, now, &Role::Release)
    }

    /// A fresh, queued job of a workflow with `role`: a build job has no
    /// deploy step, a deploy job no build step.
    pub fn queued_for(id: u64, now: DateTime<Utc>, role: &Role) -> JobRec {
        let kinds: Vec<usize> = (0..STEPS.len())
            .filter(|&k| match role {
                Role::Release => true,
                Role::Build => k != DEPLOY_STEP,
                Role::Deploy { .. } | Role::DeployHost { .. } => k != BUILD_STEP,
                Role::BuildDeploy { .. } => true,
            })
            .collect();
        JobRec {
            id,
            status: "queued".into(),
            conclusion: None,
            created_at: now,
            started_at: now,
            completed_at: None,
            steps: kinds
                .iter()
                .enumerate()
                .map(|(i, &kind)| StepRec {
                    name: match role {
                        Role::DeployHost { .. } if kind == DEPLOY_STEP => {
                            "Deploy to the compose host".to_string()
                        }
                        _ => STEPS[kind].0.to_string(),
                    },
                    kind,
                    number: i as i64 + 1,
                    status: "queued".into(),
                    conclusion: None,
                    started_at: None,
                    completed_at: None,
                })
                .collect(),
            log: Vec::new(),
        }
    }

    /// Append a log line stamped now.
    pub fn log(&mut self, text: &str) {
        self.log.push(format!(
            "{} {text}",
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        ));
    }

    /// A job that completed successfully at `end` (seeded history).
    pub fn succeeded(id: u64, start: DateTime<Utc>) -> JobRec {
        JobRec::succeeded_for(id, start, &Role::Release)
    }

    /// [`JobRec::succeeded`] for a workflow with `role`.
    pub fn succeeded_for(id: u64, start: DateTime<Utc>, role: &Role) -> JobRec {
        let mut job = JobRec::queued_for(id, start, role);
        let mut t = start;
        for step in job.steps.iter_mut() {
            let secs = STEPS[step.kind].1;
            step.status = "completed".into();
            step.conclusion = Some("success".into());
            step.started_at = Some(t);
            t += chrono::Duration::milliseconds((secs * 1000.0) as i64);
            step.completed_at = Some(t);
        }
        job.status = "completed".into();
        job.conclusion = Some("success".into());
        job.completed_at = Some(t);
        job
    }
}

/// A workflow run (one attempt's worth of state; re-runs bump `run_attempt`).
#[derive(Clone, Debug)]
pub struct RunRec {
    pub id: u64,
    pub run_number: u64,
    pub run_attempt: u32,
    /// The event that started it: `release` or `workflow_dispatch`.
    pub event: String,
    /// The activity type that started it (`published`, `released`, ...;
    /// empty for a dispatch).
    pub activity: String,
    pub head_sha: String,
    /// For release events GitHub reports the tag as the head branch.
    pub head_branch: String,
    pub head_message: String,
    pub head_timestamp: DateTime<Utc>,
    pub display_title: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_started_at: DateTime<Utc>,
    /// The release as the event payload carried it.
    pub release_id: u64,
    pub tag: String,
    pub prerelease: bool,
    pub job: JobRec,
    /// The workflow it is a run of (an id of the repository's workflows).
    pub workflow_id: u64,
    /// What it does: build and deploy per release, build only, or deploy.
    pub role: Role,
    /// The GitHub Environment it waits on before its job starts, if any.
    pub gate: Option<Gate>,
}

/// The namespace a release's deploy step targets: prerelease → `qa`, else `default`.
pub fn namespace_for(prerelease: bool) -> &'static str {
    if prerelease {
        "qa"
    } else {
        "default"
    }
}

fn scaled(secs: f64, speed: f64) -> Duration {
    Duration::from_secs_f64((secs / speed.max(0.01)).max(0.0))
}

/// Drive attempt `attempt` of run `run_id` in repository `repo` to completion.
/// Stops quietly if the run was re-run (a newer attempt took over) or deleted.
pub fn spawn_run(api: Arc<GithubApi>, repo: String, run_id: u64, attempt: u32) {
    tokio::spawn(async move {
        drive(api, repo, run_id, attempt).await;
    });
}

async fn drive(api: Arc<GithubApi>, repo: String, run_id: u64, attempt: u32) {
    let speed = api.speed();
    tokio::time::sleep(scaled(QUEUED_SECS, speed)).await;
    // A job that deploys to a GitHub Environment with required reviewers
    // waits (run and job `waiting`) until a reviewer approves or rejects.
    // Under a `reviewer: reject` fault the reviewer rejects a second (at
    // speed 1) after the run began to wait; under `wait_timer` an approved
    // run starts once the timer has run out.
    let mut timer_ends = None;
    loop {
        let Some(gate) = api.with_run(&repo, run_id, attempt, |rec, run| {
            let now = Utc::now();
            let mut state = run.gate.as_ref().map(|g| g.state.clone());
            if state.as_deref() == Some("waiting") && run.status != "waiting" {
                run.status = "waiting".into();
                run.job.status = "waiting".into();
                run.updated_at = now;
                if let Some(g) = &mut run.gate {
                    g.since = Some(now);
                }
            }
            let faults = api.faults();
            if let Some(g) = &mut run.gate {
                let since = g.since.unwrap_or(now);
                let waited = (now - since).to_std().unwrap_or_default();
                if g.state == "waiting"
                    && faults.reviewer(&rec.service) == Some(crate::faults::ReviewerAnswer::Reject)
                    && waited >= scaled(1.0, speed).max(Duration::from_secs(1))
                {
                    g.state = "rejected".into();
                    g.comment = Some("not this one: the reviewer rejected it".into());
                    g.reviewer = Some(REVIEWER.into());
                    state = Some(g.state.clone());
                    run.updated_at = now;
                }
                let minutes = faults.wait_timer(&rec.service);
                timer_ends = (minutes > 0).then(|| {
                    since
                        + chrono::Duration::from_std(scaled(minutes as f64 * 60.0, speed))
                            .unwrap_or_default()
                });
            }
            state
        }) else {
            return;
        };
        let timer_running = timer_ends.is_some_and(|t| Utc::now() < t);
        match gate.as_deref() {
            Some("waiting") => tokio::time::sleep(Duration::from_millis(100)).await,
            Some("approved") if timer_running => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Some("rejected") => {
                api.with_run(&repo, run_id, attempt, |_, run| {
                    let now = Utc::now();
                    for step in &mut run.job.steps {
                        step.status = "completed".into();
                        step.conclusion = Some("skipped".into());
                    }
                    run.job.status = "completed".into();
                    run.job.conclusion = Some("failure".into());
                    run.job.completed_at = Some(now);
                    run.status = "completed".into();
                    run.conclusion = Some("failure".into());
                    run.updated_at = now;
                });
                return;
            }
            _ => break,
        }
    }
    // Pick up the run: in_progress, job started.
    let Some((service, image, k8s_name, tag, prerelease, kinds, role)) =
        api.with_run(&repo, run_id, attempt, |rec, run| {
            let now = Utc::now();
            run.status = "in_progress".into();
            run.run_started_at = now;
            run.updated_at = now;
            run.job.status = "in_progress".into();
            run.job.started_at = now;
            if let Some(name) = api.faults().step_name(&rec.service) {
                if let Some(step) = run.job.steps.iter_mut().find(|s| s.kind == BUILD_STEP) {
                    step.name = name;
                }
            }
            (
                rec.service.clone(),
                rec.image.clone(),
                rec.k8s_name.clone(),
                run.tag.clone(),
                run.prerelease,
                run.job.steps.iter().map(|s| s.kind).collect::<Vec<_>>(),
                run.role.clone(),
            )
        })
    else {
        return;
    };
    let namespace = match &role {
        Role::Deploy { namespace } | Role::BuildDeploy { namespace } => namespace.clone(),
        Role::DeployHost { host } => host.clone(),
        _ => namespace_for(prerelease).to_string(),
    };
    let on_host = matches!(role, Role::DeployHost { .. });
    let mut failed = false;
    for (i, &kind) in kinds.iter().enumerate() {
        let secs = &STEPS[kind].1;
        let last = i == kinds.len() - 1;
        if failed && !last {
            let alive = api.with_run(&repo, run_id, attempt, |_, run| {
                let step = &mut run.job.steps[i];
                step.status = "completed".into();
                step.conclusion = Some("skipped".into());
            });
            if alive.is_none() {
                return;
            }
            continue;
        }
        let alive = api.with_run(&repo, run_id, attempt, |_, run| {
            let now = Utc::now();
            let step = &mut run.job.steps[i];
            step.status = "in_progress".into();
            step.started_at = Some(now);
            run.updated_at = now;
            let name = run.job.steps[i].name.clone();
            run.job.log(&format!("##[group]Run {name}"));
            for line in step_output(kind, &image, &tag, &namespace, on_host) {
                run.job.log(&line);
            }
        });
        if alive.is_none() {
            return;
        }
        tokio::time::sleep(scaled(*secs, speed)).await;
        let result = match kind {
            BUILD_STEP if api.faults().build_fails(&service) => Err(
                "ERROR: failed to solve: process \"/bin/sh -c make release\" did not complete successfully: exit code: 2".to_string(),
            ),
            DEPLOY_STEP if api.faults().deploy_fails(&service) => Err(
                "error: You must be logged in to the server (Unauthorized): the K3S_KUBECONFIG secret was rejected".to_string(),
            ),
            DEPLOY_STEP if matches!(role, Role::DeployHost { .. }) => {
                deploy_host(&api, &namespace, &tag);
                Ok(())
            }
            DEPLOY_STEP => deploy(&api, &repo, run_id, &k8s_name, &image, &tag, &namespace).await,
            _ => Ok(()),
        };
        let ok = result.is_ok();
        let alive = api.with_run(&repo, run_id, attempt, |_, run| {
            let now = Utc::now();
            let step = &mut run.job.steps[i];
            step.status = "completed".into();
            step.conclusion = Some(if ok { "success" } else { "failure" }.into());
            step.completed_at = Some(now);
            run.updated_at = now;
            match &result {
                Ok(()) if kind == DEPLOY_STEP && on_host => {
                    run.job
                        .log(&format!("Container {namespace}-app-1  Started"));
                }
                Ok(()) if kind == DEPLOY_STEP => {
                    let dep = k8s_name.clone();
                    run.job
                        .log(&format!("deployment \"{dep}\" successfully rolled out"));
                }
                Ok(()) => {}
                Err(why) => {
                    run.job.log(why);
                    run.job.log("##[error]Process completed with exit code 1.");
                }
            }
            run.job.log("##[endgroup]");
        });
        if alive.is_none() {
            return;
        }
        failed |= !ok;
    }
    api.with_run(&repo, run_id, attempt, |_, run| {
        let now = Utc::now();
        let conclusion = if failed { "failure" } else { "success" };
        run.job.status = "completed".into();
        run.job.conclusion = Some(conclusion.into());
        run.job.completed_at = Some(now);
        run.status = "completed".into();
        run.conclusion = Some(conclusion.into());
        run.updated_at = now;
    });
}

/// What a step prints when it starts, as a real runner would.
fn step_output(step: usize, image: &str, tag: &str, ns: &str, on_host: bool) -> Vec<String> {
    match step {
        0 => vec![
            "Current runner version: '2.321.0'".into(),
            "Operating System: Ubuntu 24.04".into(),
        ],
        1 => vec![format!("Syncing repository: checking out {tag}")],
        BUILD_STEP => vec![
            format!("docker buildx build --push -t {image}:{tag} ."),
            "#1 [internal] load build definition from Dockerfile".into(),
            "#5 [build 2/4] RUN make release".into(),
        ],
        DEPLOY_STEP if on_host => vec![
            format!("ssh deploy@{ns} IMAGE={image}:{tag} ./deploy-compose.sh"),
            "docker compose -f docker-compose.cicd.yml up -d app".into(),
        ],
        DEPLOY_STEP => {
            vec![
                format!("kubectl set image -n {ns} deployment/... '*={image}:{tag}'"),
                format!("kubectl rollout status -n {ns} --timeout=60s deployment/..."),
            ]
        }
        _ => vec!["Cleaning up orphan processes".into()],
    }
}

/// The deploy step: `kubectl set image` in the namespace the release
/// selects, then `kubectl rollout status --timeout=60s` (scaled by speed), so a
/// rollout that fails (a crash-looping migration hits the progress deadline)
/// fails the step, as in the seed's workflow. The error is kubectl's words.
async fn deploy(
    api: &GithubApi,
    repo: &str,
    run_id: u64,
    deployment: &str,
    image: &str,
    tag: &str,
    ns: &str,
) -> Result<(), String> {
    let reference = format!("{image}:{tag}");
    if let Err(err) = api.deploy().set_image(ns, deployment, &reference) {
        tracing::warn!(%repo, run_id, %ns, "deploy step failed: {err}");
        return Err(format!("error: {err}"));
    }
    let speed = api.speed();
    let deadline = tokio::time::Instant::now() + scaled(ROLLOUT_TIMEOUT_SECS, speed);
    let poll = scaled(0.5, speed).max(Duration::from_millis(20));
    loop {
        match api.deploy().rollout_status(ns, deployment) {
            Ok(true) => return Ok(()),
            Ok(false) if tokio::time::Instant::now() < deadline => tokio::time::sleep(poll).await,
            Ok(false) => {
                tracing::warn!(%repo, run_id, %ns, "deploy step: rollout timed out");
                return Err("error: timed out waiting for the condition".into());
            }
            Err(err) => {
                tracing::warn!(%repo, run_id, %ns, "deploy step: rollout failed: {err}");
                return Err(format!("error: {err}"));
            }
        }
    }
}

/// The deploy step of a compose host: `docker compose up -d` returns at
/// once and the new container answers a moment later (2 s, scaled), so the
/// run succeeds before the host reports the new tag, as on a real host.
fn deploy_host(api: &Arc<GithubApi>, host: &str, tag: &str) {
    let (api, host, tag) = (api.clone(), host.to_string(), tag.to_string());
    tokio::spawn(async move {
        tokio::time::sleep(scaled(2.0, api.speed())).await;
        api.hosts().deploy(&host, &tag);
    });
}

/// `kubectl rollout status --timeout=60s` of the deploy step, before speed
/// scaling: a stuck rollout (a failing migration) fails the run within a minute.
const ROLLOUT_TIMEOUT_SECS: f64 = 60.0;

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLISHED: ReleaseFlags = ReleaseFlags {
        draft: false,
        prerelease: false,
    };
    const PRE: ReleaseFlags = ReleaseFlags {
        draft: false,
        prerelease: true,
    };
    const DRAFT: ReleaseFlags = ReleaseFlags {
        draft: true,
        prerelease: false,
    };

    #[test]
    fn activity_types_follow_github() {
        assert_eq!(create_activity(DRAFT), ["created"]);
        assert_eq!(
            create_activity(PUBLISHED),
            ["created", "published", "released"]
        );
        assert_eq!(
            create_activity(PRE),
            ["created", "published", "prereleased"]
        );
        assert_eq!(update_activity(DRAFT, PUBLISHED), ["published", "released"]);
        assert_eq!(update_activity(PRE, PUBLISHED), ["edited", "released"]);
        assert_eq!(update_activity(PUBLISHED, DRAFT), ["unpublished"]);
        assert_eq!(update_activity(PUBLISHED, PUBLISHED), ["edited"]);
        assert!(!can_trigger("created", true));
        assert!(can_trigger("created", false));
    }

    #[test]
    fn workflow_triggers_parse() {
        let t = workflow_release_types("on:\n  release:\n    types: [published]\n");
        assert_eq!(t, Some(vec!["published".to_string()]));
        assert!(workflow_listens(&t, "published"));
        assert!(!workflow_listens(&t, "released"));
        let all = workflow_release_types("on: release\n");
        assert!(workflow_listens(&all, "edited"));
        let list = workflow_release_types("on: [push, release]\n");
        assert!(workflow_listens(&list, "released"));
        let one = workflow_release_types("on:\n  release:\n    types: released\n");
        assert!(workflow_listens(&one, "released"));
        let push = workflow_push_filter("on:\n  push:\n    branches: [main]\n").unwrap();
        assert!(push.matches("refs/heads/main"));
        assert!(!push.matches("refs/heads/feature"));
        assert!(
            !push.matches("refs/tags/v1.0.0"),
            "branches only: no tag runs"
        );
        let tags = workflow_push_filter("on:\n  push:\n    tags: ['v*']\n").unwrap();
        assert!(tags.matches("refs/tags/v1.2.3"));
        assert!(!tags.matches("refs/tags/release-1"));
        assert!(
            !tags.matches("refs/heads/main"),
            "tags only: no branch runs"
        );
        let any = workflow_push_filter("on: [push]\n").unwrap();
        assert!(any.matches("refs/heads/x") && any.matches("refs/tags/y"));
        assert!(glob("releases/**", "releases/a/b") && !glob("releases/*", "releases/a/b"));
        assert_eq!(workflow_push_filter("on: release\n"), None);
        let none = workflow_release_types("on:\n  push:\n    branches: [main]\n");
        assert!(!workflow_listens(&none, "published"));
        assert_eq!(workflow_release_types("not: [valid"), None);
    }

    #[test]
    fn a_dispatched_run_is_titled_by_its_run_name_else_its_name() {
        let inputs: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"image_tag": "sha-1a2b3c4"}"#).unwrap();
        let with = "name: deploy-qa\nrun-name: deploy ${{ inputs.image_tag }} (${{ github.event.inputs.image_tag }})\non: workflow_dispatch\n";
        assert_eq!(
            dispatch_run_title(with, "deploy-qa.yml", &inputs),
            "deploy sha-1a2b3c4 (sha-1a2b3c4)"
        );
        let without = "name: deploy-qa\non: workflow_dispatch\n";
        assert_eq!(
            dispatch_run_title(without, "deploy-qa.yml", &inputs),
            "deploy-qa"
        );
        assert_eq!(
            dispatch_run_title("on: workflow_dispatch\n", "deploy-qa.yml", &inputs),
            "deploy-qa.yml"
        );
    }
}
