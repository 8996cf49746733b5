//! `hearth status [SERVICE...] [--json]`: one-shot table or JSON document of
//! every service x environment. Lists each (context, namespace) once with the
//! same derivation as the live watches, fetches releases and the latest run
//! once, prints, and exits. Runs on its own tokio runtime; every call has a
//! timeout so that it always finishes quickly.
//!
//! Exit code: 0 when everything was read and no rollout failed, 1 when a
//! rollout failed, 3 when some environment or GitHub could not be read.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use std::sync::Arc;

use super::exit;
use crate::cli::{GlobalOpts, OutputFormat, StatusArgs};
use crate::config::Config;
use crate::model::{drift, CiRun, EnvObservation, Problem, ProblemKind, Release, Rollout};
use crate::registry::{Registry, ReleaseKind, Service};
use crate::{cluster, github};

/// Per-call timeout for the Kubernetes and GitHub APIs.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// GitHub requests a second `hearth status` sends at most, on average
/// (with a burst of ten seconds' worth).
const STATUS_RATE: f64 = 30.0;

/// The `--json` document. Its shape is stable and documented in docs/live.md.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub services: Vec<ServiceReport>,
    /// `live`, or `disabled` / `down` with a message.
    pub github: GitHubState,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GitHubState {
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServiceReport {
    pub name: String,
    /// `owner/name`, when known.
    pub repo: Option<String>,
    pub environments: Vec<EnvReport>,
    /// The release GitHub treats as latest (deploys to prod).
    pub latest_release: Option<Release>,
    /// The newest published prerelease (deploys to qa).
    pub latest_prerelease: Option<Release>,
    /// The newest run of the release workflow (of any workflow, for
    /// `delivery: dispatch`).
    pub latest_run: Option<CiRun>,
    /// When that run waits on a GitHub Environment: which, and who can
    /// approve (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Why GitHub data is missing for this service, when it is.
    pub github_error: Option<String>,
}

/// How far what serves is behind the branch.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BehindReport {
    /// Commits of `branch` not in what serves.
    pub commits: u32,
    /// `origin/main`, as the local checkout last fetched it.
    pub branch: String,
    /// When the oldest of them was committed (RFC 3339).
    pub oldest: Option<String>,
    /// Whether that crosses the service's `stale:` threshold.
    pub stale: bool,
    /// `12 commits of origin/main not running, the oldest 9 d old`.
    pub words: String,
}

/// A run that waits for an approval.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Waiting {
    pub run_number: u64,
    pub run_id: u64,
    /// The environments it waits on, with their reviewers.
    pub environments: Vec<crate::model::PendingDeployment>,
    /// In words: `waiting for hearth-reviewer to approve production ...`.
    pub message: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EnvReport {
    pub name: String,
    /// Empty for an environment on a `host`.
    pub namespace: String,
    /// A host outside Kubernetes that the environment runs on: what it
    /// runs is what its version endpoint reports (`observation.state` is
    /// `reported`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub context: Option<String>,
    /// `latest` or `prerelease`: which releases deploy here.
    pub release_kind: ReleaseKind,
    /// The tag the releases say should run here (`delivery: push`: what
    /// the newest successful run of its workflow deployed).
    pub expected_tag: Option<String>,
    /// `delivery: push`: where `expected_tag` comes from
    /// (`main@3f2a1c9, run #88`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_from: Option<String>,
    /// The tag that serves traffic (during a stuck rollout, the old pods').
    pub serving_tag: Option<String>,
    /// While a rollout is under way or stuck: the tag it is moving to.
    pub moving_to: Option<String>,
    /// Serving tag differs from `expected_tag` (both known).
    pub drift: bool,
    /// Set when the latest run for `expected_tag` concluded `success` while
    /// another tag serves: `run #5 succeeded but v0.9.2-rc.1 is not serving (v0.9.1 is)`.
    pub unserved: Option<String>,
    /// The image digests the ready pods run under the serving tag (two or
    /// more: the tag was pushed again between pulls).
    pub digests: Vec<String>,
    /// What the serving tag hides: different digests under it, or a tag
    /// that can move (`latest`) in prod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_warning: Option<String>,
    /// Commits of the branch not in what serves, from the service's local
    /// checkout (absent without one, or when it does not know the tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behind: Option<BehindReport>,
    /// The Helm release history, where the registry asks for it
    /// (`helm_history: true`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmReport>,
    /// What the environment's version endpoint reports (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<EndpointReport>,
    /// `delivery: gitops`: the manifest's last commit and Flux's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitopsReport>,
    pub observation: EnvObservation,
}

/// A GitOps environment as `status` reports it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GitopsReport {
    /// The tag the manifest holds on the GitOps branch.
    pub manifest_tag: Option<String>,
    /// The commit that last changed the manifest, and when (RFC 3339).
    pub manifest_commit: Option<String>,
    pub committed_at: Option<String>,
    pub manifest_error: Option<String>,
    /// Flux's state in a word: Ready, Reconciling, Stalled, Failed, Suspended, Unknown.
    pub flux: Option<String>,
    /// Flux's own message (Ready's, or Stalled's when stalled).
    pub flux_message: Option<String>,
    /// The revision Flux applied last (`main@sha1:…`).
    pub last_applied_revision: Option<String>,
    pub flux_error: Option<String>,
    /// The manifest's last commit is pushed and Flux has not applied it yet.
    pub unapplied: bool,
    /// What is off, in a line (absent when Flux applied the manifest and is Ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn gitops_report(r: crate::model::flux::GitopsReading) -> GitopsReport {
    let note = r.note().map(|(words, _)| words);
    let (manifest_tag, manifest_commit, committed_at, manifest_error) = match r.manifest {
        Ok(m) => (
            Some(m.tag),
            Some(m.commit),
            chrono::DateTime::from_timestamp(m.at, 0).map(|t| t.to_rfc3339()),
            None,
        ),
        Err(e) => (None, None, None, Some(e)),
    };
    let (flux, flux_message, last_applied_revision, flux_error) = match r.flux {
        Ok(f) => (
            Some(f.word().to_string()),
            Some(f.message.clone()).filter(|m| !m.is_empty()),
            f.last_applied.clone(),
            None,
        ),
        Err(e) => (None, None, None, Some(e)),
    };
    GitopsReport {
        manifest_tag,
        manifest_commit,
        committed_at,
        manifest_error,
        flux,
        flux_message,
        last_applied_revision,
        flux_error,
        unapplied: r.unapplied,
        note,
    }
}

/// An environment's Helm history, read once.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HelmReport {
    /// `null` when Helm does not manage the Deployment (or it could not be read).
    pub history: Option<crate::model::helm::HelmHistory>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// An environment's version endpoint, read once.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EndpointReport {
    pub url: String,
    /// The version it reports, when it answered with one.
    pub reports: Option<String>,
    /// Why it reported none.
    pub error: Option<String>,
    /// Whether that is the tag the cluster serves (absent when either is unknown).
    pub matches: Option<bool>,
    /// `the endpoint reports v0.2.0; the cluster serves v0.3.0`, when not.
    pub mismatch: Option<String>,
}

impl Report {
    /// 1 when a rollout failed, 2 when an environment could not be read, else 0.
    pub fn exit_code(&self) -> u8 {
        let envs = || self.services.iter().flat_map(|s| s.environments.iter());
        if envs().any(|e| {
            matches!(&e.observation, EnvObservation::Live(w) if matches!(w.rollout, Rollout::Failed(_)))
        }) {
            exit::FAILED
        } else if envs().any(|e| matches!(e.observation, EnvObservation::Error(_)))
            || self.github.state == "down"
            || self.services.iter().any(|s| s.github_error.is_some())
        {
            exit::UNREADABLE
        } else {
            exit::OK
        }
    }
}

/// Read everything once. `only` restricts to the named services (validated).
pub async fn collect(
    registry: &Registry,
    config: &Config,
    only: &[String],
) -> anyhow::Result<Report> {
    validate_names(registry, only)?;
    let services: Vec<&Service> = registry
        .services
        .iter()
        .filter(|s| only.is_empty() || only.contains(&s.name))
        .collect();
    let (client, github) = github_client(&config.github);
    let targets = cluster::targets(registry, &config.kube, only);
    let (mut observed, snapshots, mut endpoints) = tokio::join!(
        observe_all(&targets),
        fetch_all(&services, client.as_deref(), config.github.owner.as_deref()),
        read_endpoints(&services)
    );
    let mut helm = read_helm(&services, &config.kube).await;
    let mut gitops = read_gitops(&services, &config.kube).await;
    // A rejected token is one problem of GitHub's, said once, not once per service.
    let mut github = github;
    let mut snapshots = snapshots;
    let rejected = snapshots.iter().find_map(|(_, s)| {
        s.error
            .clone()
            .filter(|p| p.kind == ProblemKind::Unauthorized)
    });
    if let Some(p) = rejected {
        github = GitHubState {
            state: "down".into(),
            message: Some(p.to_string()),
        };
        for (_, s) in snapshots.iter_mut() {
            if s.error
                .as_ref()
                .is_some_and(|e| e.kind == ProblemKind::Unauthorized)
            {
                s.error = None;
            }
        }
    }
    // Name the context even when it is the kubeconfig's current one.
    let current = cluster::current_context(config.kube.kubeconfig.as_deref());
    let default_context = config.kube.context.clone().or(current);
    // The deploy runs hearth dispatched and their tags: what a dispatched
    // run deployed when its title does not say.
    let run_tags = super::operation::journal_path()
        .map(|p| crate::ops::audit::run_tags(&crate::ops::audit::Journal::new(p).entries()))
        .unwrap_or_default();
    let services = services
        .iter()
        .zip(snapshots)
        .map(|(svc, (repo, snap))| {
            service_report(
                svc,
                repo,
                snap,
                &mut observed,
                &mut endpoints,
                &mut gitops,
                default_context.as_deref(),
                &run_tags,
            )
        })
        .collect::<Vec<ServiceReport>>();
    let mut services = services;
    for s in &mut services {
        for e in &mut s.environments {
            e.helm = helm
                .remove(&(s.name.clone(), e.name.clone()))
                .map(|r| match r {
                    Ok(history) => HelmReport {
                        history,
                        error: None,
                    },
                    Err(p) => HelmReport {
                        history: None,
                        error: Some(p.to_string()),
                    },
                });
        }
    }
    read_behind(registry, &mut services, client.as_deref()).await;
    Ok(Report { services, github })
}

/// Fill in each environment's [`BehindReport`] from the services' local
/// checkouts (read concurrently; no fetch).
async fn read_behind(
    registry: &Registry,
    services: &mut [ServiceReport],
    client: Option<&github::Client>,
) {
    let now = chrono::Utc::now().timestamp();
    let jobs: Vec<_> = services
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.environments
                .iter()
                .enumerate()
                .filter_map(move |(e, env)| Some((i, e, env.serving_tag.clone()?)))
        })
        .filter_map(|(i, e, tag)| {
            let svc = registry.service(&services[i].name)?;
            let repo = services[i].repo.clone();
            Some((i, e, svc.directory.clone(), svc.stale, tag, repo))
        })
        .collect();
    let read = futures::future::join_all(jobs.into_iter().map(
        |(i, e, dir, stale, tag, repo)| async move {
            let mut b = crate::ops::git::behind(&dir, &tag).await;
            // No checkout that knows the tag: ask GitHub.
            if let (None, Some(c), Some(r), false) = (&b, client, &repo, dir.join(".git").exists())
            {
                b = crate::ops::git::behind_on_github(c, r, &tag).await;
            }
            (i, e, stale, b)
        },
    ))
    .await;
    for (i, e, stale, behind) in read {
        let Some(b) = behind else { continue };
        let words = b.words(Some(now));
        services[i].environments[e].behind = Some(BehindReport {
            commits: b.commits,
            stale: stale.is_some_and(|t| t.crossed(b.commits, b.oldest, now)),
            oldest: b
                .oldest
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            branch: b.branch,
            words,
        });
    }
}

/// Every name in `only` must be a service of the registry.
fn validate_names(registry: &Registry, only: &[String]) -> anyhow::Result<()> {
    for name in only {
        if registry.service(name).is_some() {
            continue;
        }
        let names: Vec<&str> = registry.services.iter().map(|s| s.name.as_str()).collect();
        let near = names
            .iter()
            .min_by_key(|n| strsim::levenshtein(name, n))
            .filter(|n| strsim::levenshtein(name, n) <= 3);
        match near {
            Some(n) => anyhow::bail!("no service {name:?} in the registry; did you mean {n:?}?"),
            None => anyhow::bail!(
                "no service {name:?} in the registry (services: {})",
                names.join(", ")
            ),
        }
    }
    Ok(())
}

/// The one-shot GitHub client, or why there is none.
fn github_client(settings: &github::Settings) -> (Option<Arc<github::Client>>, GitHubState) {
    let state = |s: &str, m: Option<String>| GitHubState {
        state: s.into(),
        message: m,
    };
    match &settings.token {
        None => (
            None,
            state("disabled", Some(github::no_token().to_string())),
        ),
        // A one-shot read: two requests a service, sent faster than the
        // control room's steady budget (which would take a minute at 300
        // services), still paced.
        Some(t) => match github::Client::with_rate(&settings.api_url, t.clone(), None, STATUS_RATE)
        {
            Ok(c) => (Some(c), state("live", None)),
            Err(p) => (None, state("down", Some(p.to_string()))),
        },
    }
}

/// List every (context, namespace) once, all at once.
async fn observe_all(targets: &[cluster::Target]) -> HashMap<(String, String), EnvObservation> {
    futures::future::join_all(targets.iter().map(|t| cluster::list_once(t, CALL_TIMEOUT)))
        .await
        .into_iter()
        .flatten()
        .map(|(svc, env, obs)| ((svc, env), obs))
        .collect()
}

/// Releases and the latest run of every service, all at once (bounded by
/// the client's gate), with each service's repository when it has one.
async fn fetch_all(
    services: &[&Service],
    client: Option<&github::Client>,
    owner: Option<&str>,
) -> Vec<(Option<String>, github::Snapshot)> {
    // Each service's reads wait their turn at the client's pace: the time
    // allowed includes that queue, so a slow answer is not claimed where
    // hearth itself held the request back.
    let queue = Duration::from_secs_f64(2.0 * services.len() as f64 / STATUS_RATE);
    futures::future::join_all(services.iter().map(|svc| async move {
        let repo = github::resolve_repo(svc, owner);
        let snap = match (&repo, client) {
            (Err(p), _) => github::Snapshot {
                error: Some(p.clone()),
                ..Default::default()
            },
            (Ok(_), None) => github::Snapshot::default(),
            (Ok(repo), Some(c)) => tokio::time::timeout(
                CALL_TIMEOUT * 2 + queue,
                github::fetch_once(c, repo, svc.runs_workflow(), svc.delivery.runs_to_read()),
            )
            .await
            .unwrap_or_else(|_| github::Snapshot {
                error: Some(Problem::new(
                    ProblemKind::Timeout,
                    "GitHub did not answer in time",
                    "check GITHUB_API_URL and the network",
                )),
                ..Default::default()
            }),
        };
        (repo.ok(), snap)
    }))
    .await
}

/// Every version endpoint of `services`, read once, all at once.
/// The Helm history of every environment whose registry entry asks for it.
async fn read_helm(
    services: &[&Service],
    kube: &cluster::Settings,
) -> HashMap<(String, String), crate::app::HelmReading> {
    let mut clients: HashMap<Option<String>, Result<cluster::KubeClient, Problem>> = HashMap::new();
    let mut out = HashMap::new();
    for svc in services {
        for env in svc
            .environments
            .iter()
            .filter(|e| svc.reads_helm_history(e))
        {
            let context = env.context.clone().or_else(|| kube.context.clone());
            if !clients.contains_key(&context) {
                let c =
                    cluster::KubeClient::new(context.as_deref(), kube.kubeconfig.as_deref()).await;
                clients.insert(context.clone(), c);
            }
            let read = match &clients[&context] {
                Ok(c) => cluster::helm::read(c, &env.namespace, &svc.k8s_name).await,
                Err(p) => Err(p.clone()),
            };
            out.insert((svc.name.clone(), env.name.clone()), read);
        }
    }
    out
}

/// Every GitOps service's manifests and Kustomizations, read once.
async fn read_gitops(
    services: &[&Service],
    kube: &cluster::Settings,
) -> HashMap<(String, String), crate::model::flux::GitopsReading> {
    let mut clients = HashMap::new();
    let mut out = HashMap::new();
    for svc in services
        .iter()
        .filter(|s| s.delivery == crate::registry::Delivery::Gitops)
    {
        for (env, reading) in crate::flux::read_service(svc, kube, &mut clients).await {
            out.insert((svc.name.clone(), env), reading);
        }
    }
    out
}

async fn read_endpoints(
    services: &[&Service],
) -> HashMap<(String, String), crate::model::EndpointReading> {
    let http = reqwest::Client::new();
    let reads = services.iter().flat_map(|svc| {
        svc.environments.iter().filter_map(|env| {
            let (url, field) = svc.version_endpoint(env)?;
            let key = (svc.name.clone(), env.name.clone());
            let http = &http;
            Some(async move { (key, crate::endpoint::read(http, &url, field).await) })
        })
    });
    futures::future::join_all(reads).await.into_iter().collect()
}

/// What an endpoint reading says next to the tag that serves.
fn endpoint_report(
    reading: crate::model::EndpointReading,
    serving: Option<&str>,
    moving: bool,
) -> EndpointReport {
    let reports = reading.reported.as_ref().ok().cloned();
    // As in the control room: while a rollout moves the endpoint may lag.
    let matches = match (&reports, serving) {
        (Some(r), Some(s)) if !moving => Some(crate::model::endpoint::same_version(r, s)),
        _ => None,
    };
    let mismatch = match (matches, &reports, serving) {
        (Some(false), Some(r), Some(s)) => {
            Some(format!("the endpoint reports {r}; the cluster serves {s}"))
        }
        _ => None,
    };
    EndpointReport {
        url: reading.url,
        error: reading.reported.err(),
        reports,
        matches,
        mismatch,
    }
}

/// One service's report from what was read, by the control room's rules.
#[allow(clippy::too_many_arguments)]
fn service_report(
    svc: &Service,
    repo: Option<String>,
    snap: github::Snapshot,
    observed: &mut HashMap<(String, String), EnvObservation>,
    endpoints: &mut HashMap<(String, String), crate::model::EndpointReading>,
    gitops: &mut HashMap<(String, String), crate::model::flux::GitopsReading>,
    default_context: Option<&str>,
    run_tags: &drift::RunTags,
) -> ServiceReport {
    let environments = svc
        .environments
        .iter()
        .map(|env| {
            let key = (svc.name.clone(), env.name.clone());
            // On a host the version endpoint is what runs (and not a
            // second opinion beside it).
            let observation = match &env.host {
                Some(h) => endpoints
                    .remove(&key)
                    .map(|r| EnvObservation::from_endpoint(h, &r))
                    .unwrap_or_default(),
                None => observed.remove(&key).unwrap_or_default(),
            };
            let (running, moving) = match &observation {
                EnvObservation::Live(w) => (w.serving_tag(), w.moving_to()),
                EnvObservation::Reported { tag, .. } => (Some(tag.as_str()), None),
                _ => (None, None),
            };
            let reading = gitops.remove(&(svc.name.clone(), env.name.clone()));
            let d = drift::for_service(
                svc,
                env,
                running,
                Some(&snap.releases),
                Some(&snap.runs),
                reading.as_ref(),
                match &observation {
                    EnvObservation::Live(w) if matches!(w.rollout, Rollout::Progressing(_)) => {
                        w.moving_to()
                    }
                    _ => None,
                },
                run_tags,
            );
            let unserved = drift::unserved_run(svc, env, &d, Some(&snap.runs))
                .map(|run| drift::unserved_message(run, &d));
            let endpoint = endpoints
                .remove(&(svc.name.clone(), env.name.clone()))
                .map(|r| endpoint_report(r, running, moving.is_some()));
            let (digests, digest_warning) = match &observation {
                EnvObservation::Live(w) => (
                    w.serving_digests()
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    w.digest_warning(&env.name, env.release == ReleaseKind::Latest),
                ),
                _ => (Vec::new(), None),
            };
            EnvReport {
                endpoint,
                helm: None,
                digests,
                digest_warning,
                behind: None,
                serving_tag: running.map(str::to_string),
                moving_to: moving.map(str::to_string),
                unserved,
                name: env.name.clone(),
                namespace: env.namespace.clone(),
                host: env.host.clone(),
                context: env
                    .context
                    .clone()
                    .or_else(|| default_context.map(str::to_string)),
                release_kind: env.release,
                drift: d.is_drift(),
                expected_tag: drift::expected_tag(
                    svc,
                    env,
                    &snap.releases,
                    &snap.runs,
                    reading.as_ref(),
                    run_tags,
                ),
                expected_from: drift::expected_source(
                    svc,
                    env,
                    &snap.runs,
                    reading.as_ref(),
                    run_tags,
                ),
                gitops: reading.map(gitops_report),
                observation,
            }
        })
        .collect();
    ServiceReport {
        name: svc.name.clone(),
        repo,
        environments,
        latest_release: drift::latest(&snap.releases).cloned(),
        latest_prerelease: drift::latest_prerelease(&snap.releases).cloned(),
        waiting: snap
            .latest_run
            .as_ref()
            .filter(|r| r.status == "waiting")
            .map(|r| Waiting {
                run_number: r.run_number,
                run_id: r.id,
                message: crate::model::ci::approval_words(&snap.waiting, "hearth approve"),
                environments: snap.waiting.clone(),
            }),
        latest_run: snap.latest_run,
        // As in the control room: no repo for a service hearth does not ship is no error.
        github_error: snap
            .error
            .filter(|_| !svc.github_optional())
            .map(|p| p.to_string()),
    }
}

fn cell_rollout(obs: &EnvObservation) -> String {
    match obs {
        EnvObservation::Unknown => "unknown".into(),
        EnvObservation::Missing { .. } => "missing (see below)".into(),
        EnvObservation::Error(_) => "error (see below)".into(),
        EnvObservation::Reported { .. } => "host (its endpoint reports it)".into(),
        EnvObservation::Live(w) => {
            let base = match &w.rollout {
                Rollout::Complete => "complete".to_string(),
                Rollout::Progressing(m) => format!("progressing: {m}"),
                Rollout::Failed(m) => format!("FAILED: {m}"),
            };
            match &w.stuck_reason {
                Some(r) => format!("{base} ({r})"),
                None => base,
            }
        }
    }
}

/// The rows of the table, header first (`wide` adds the namespace, the
/// context and the reason a rollout is stuck), and the hint lines for what
/// could not be read.
fn table_rows(report: &Report, wide: bool) -> (Vec<Vec<String>>, Vec<String>) {
    let mut header: Vec<String> = [
        "SERVICE", "ENV", "TAG", "READY", "ROLLOUT", "RELEASE", "RUN",
    ]
    .map(String::from)
    .to_vec();
    if wide {
        header.extend(["NAMESPACE", "CONTEXT", "BEHIND", "FLUX"].map(String::from));
    }
    let mut rows: Vec<Vec<String>> = vec![header];
    let mut notes: Vec<String> = Vec::new();
    let mut env_notes: Vec<(String, Vec<String>)> = Vec::new();
    for s in &report.services {
        let run = s
            .latest_run
            .as_ref()
            .map(|r| {
                format!(
                    "#{} {}",
                    r.run_number,
                    r.conclusion.clone().unwrap_or_else(|| r.status.clone())
                )
            })
            .unwrap_or_else(|| "-".into());
        if let Some(e) = &s.github_error {
            notes.push(format!("{}: {e}", s.name));
        }
        if let Some(w) = &s.waiting {
            notes.push(format!("{}: run #{} {}", s.name, w.run_number, w.message));
        }
        for e in &s.environments {
            // TAG is what serves; while a rollout moves, `serving → target`
            // with the new pods' readiness, so one tag is never shown as both
            // running and drifting.
            let (tag, ready) = match &e.observation {
                EnvObservation::Live(w) => {
                    let serving = e.serving_tag.clone().unwrap_or_else(|| "-".into());
                    match (&e.moving_to, w.new_ready) {
                        (Some(t), Some(n)) => {
                            (format!("{serving} → {t}"), format!("{n}/{} new", w.desired))
                        }
                        (Some(t), None) => (
                            format!("{serving} → {t}"),
                            format!("{}/{}", w.ready, w.desired),
                        ),
                        _ => (serving, format!("{}/{}", w.ready, w.desired)),
                    }
                }
                EnvObservation::Reported { tag, .. } => (tag.clone(), "-".into()),
                _ => ("-".into(), "-".into()),
            };
            if let Some(u) = &e.unserved {
                notes.push(format!("{} {}: {u}", s.name, e.name));
            }
            if let Some(d) = &e.digest_warning {
                notes.push(format!("{} {}: {d}", s.name, e.name));
            }
            if let Some(b) = e.behind.as_ref().filter(|b| b.stale) {
                notes.push(format!("{} {}: stale, {}", s.name, e.name, b.words));
            }
            if let Some(n) = e.gitops.as_ref().and_then(|g| g.note.as_ref()) {
                notes.push(format!("{} {}: {n}", s.name, e.name));
            }
            if let Some(err) = e.helm.as_ref().and_then(|h| h.error.as_ref()) {
                notes.push(format!("{} {}: Helm history: {err}", s.name, e.name));
            }
            if let Some(ep) = &e.endpoint {
                if let Some(m) = &ep.mismatch {
                    notes.push(format!("{} {}: {m} ({})", s.name, e.name, ep.url));
                } else if let Some(why) = &ep.error {
                    notes.push(format!(
                        "{} {}: version endpoint {}: {why}",
                        s.name, e.name, ep.url
                    ));
                }
            }
            let note = match &e.observation {
                EnvObservation::Missing { hint } => Some(hint.clone()),
                EnvObservation::Error(p) => Some(p.to_string()),
                _ => None,
            };
            if let Some(note) = note {
                // One line per distinct problem, naming every cell it affects.
                let who = format!("{} {}", s.name, e.name);
                match env_notes.iter_mut().find(|(n, _)| *n == note) {
                    Some((_, cells)) => cells.push(who),
                    None => env_notes.push((note, vec![who])),
                }
            }
            let release = match (&e.expected_tag, e.drift) {
                // The rollout is moving to the released tag: not drift, but not there yet.
                (Some(t), true) if e.moving_to.as_ref() == Some(t) => {
                    format!("{t} (not serving yet)")
                }
                (Some(t), true) => format!("{t} (drift)"),
                (Some(t), false) => t.clone(),
                (None, _) => "-".into(),
            };
            let mut row = vec![
                s.name.clone(),
                e.name.clone(),
                tag,
                ready,
                cell_rollout(&e.observation),
                release,
                run.clone(),
            ];
            if wide {
                row.push(match &e.host {
                    Some(h) => format!("host {h}"),
                    None => e.namespace.clone(),
                });
                row.push(e.context.clone().unwrap_or_else(|| "-".into()));
                row.push(match &e.behind {
                    Some(b) if b.stale => format!("{} (stale)", b.commits),
                    Some(b) => b.commits.to_string(),
                    None => "-".into(),
                });
                // Flux's word for a GitOps environment (its message is a note).
                row.push(match &e.gitops {
                    Some(g) if g.unapplied && g.flux.as_deref() != Some("Stalled") => {
                        format!("{} (commit not applied)", g.flux.as_deref().unwrap_or("?"))
                    }
                    Some(g) => g.flux.clone().unwrap_or_else(|| "unknown".into()),
                    None => "-".into(),
                });
            }
            rows.push(row);
        }
    }
    for (note, cells) in env_notes {
        notes.push(format!("{}: {note}", cells.join(", ")));
    }
    if let Some(m) = &report.github.message {
        notes.push(format!("github: {m}"));
    }
    (rows, notes)
}

/// Column widths for `rows`; the rollout column (long wording) is not
/// padded beyond 60 unless `wide`.
fn widths(rows: &[Vec<String>], wide: bool) -> Vec<usize> {
    let mut widths = vec![0usize; rows.first().map_or(0, Vec::len)];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            let n = c.chars().count();
            widths[i] = widths[i].max(if wide || i != 4 { n } else { n.min(60) });
        }
    }
    widths
}

fn format_row(row: &[String], widths: &[usize]) -> String {
    let line: Vec<String> = row
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
        .collect();
    line.join("  ").trim_end().to_string()
}

/// The plain table, plus hint lines for what could not be read.
pub fn render_table(report: &Report) -> String {
    render_rows(report, false)
}

fn render_rows(report: &Report, wide: bool) -> String {
    let (rows, notes) = table_rows(report, wide);
    let widths = widths(&rows, wide);
    let mut out = String::new();
    for r in &rows {
        out.push_str(&format_row(r, &widths));
        out.push('\n');
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

/// The report in the chosen format.
fn render(report: &Report, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table => render_rows(report, false),
        OutputFormat::Wide => render_rows(report, true),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(report)?;
            s.push('\n');
            s
        }
        OutputFormat::Yaml => serde_yaml::to_string(report)?,
    })
}

/// The `hearth status` subcommand.
pub fn run(global: &GlobalOpts, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let registry = super::load_registry(global)?;
    let config = super::live_config(global, &registry);
    let format = match (args.output, args.json) {
        (Some(f), _) => f,
        (None, true) => OutputFormat::Json,
        (None, false) => OutputFormat::Table,
    };
    if args.watch && !(args.interval.is_finite() && args.interval >= 0.2) {
        return Err(super::fail(
            exit::INVALID,
            format!(
                "--interval must be at least 0.2 seconds, not {}",
                args.interval
            ),
        ));
    }
    // Belt and braces: nothing printed may contain the token.
    let token = config.github.token.clone();
    let redact = move |text: String| match &token {
        Some(t) => t.redact(&text),
        None => text,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = rt.block_on(collect(&registry, &config, &args.service))?;
    print!("{}", redact(render(&report, format)?));
    if !args.watch {
        // Drop pending client tasks quickly rather than waiting on keep-alives.
        rt.shutdown_timeout(Duration::from_millis(100));
        return Ok(ExitCode::from(report.exit_code()));
    }
    let _ = std::io::Write::flush(&mut std::io::stdout());
    rt.block_on(watch(&registry, &config, args, format, report, &redact))
}

/// `--watch`: read again every `--interval` and print what changed, until
/// Ctrl-C. Tables print the changed rows (in the first table's widths);
/// JSON and YAML print the whole report again, JSON as one line.
async fn watch(
    registry: &Registry,
    config: &Config,
    args: &StatusArgs,
    format: OutputFormat,
    first: Report,
    redact: &dyn Fn(String) -> String,
) -> anyhow::Result<ExitCode> {
    let wide = format == OutputFormat::Wide;
    let (rows, _) = table_rows(&first, wide);
    let widths = widths(&rows, wide);
    let mut last_rows = rows;
    let mut last = first;
    let interval = Duration::from_secs_f64(args.interval);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::from(last.exit_code())),
            _ = tokio::time::sleep(interval) => {}
        }
        let report = collect(registry, config, &args.service).await?;
        if report == last {
            continue;
        }
        let text = match format {
            OutputFormat::Table | OutputFormat::Wide => {
                let (rows, _) = table_rows(&report, wide);
                let mut out = String::new();
                for r in rows.iter().skip(1).filter(|r| !last_rows.contains(r)) {
                    out.push_str(&format_row(r, &widths));
                    out.push('\n');
                }
                last_rows = rows;
                out
            }
            OutputFormat::Json => format!("{}\n", serde_json::to_string(&report)?),
            OutputFormat::Yaml => format!("---\n{}", serde_yaml::to_string(&report)?),
        };
        print!("{}", redact(text));
        let _ = std::io::Write::flush(&mut std::io::stdout());
        last = report;
    }
}
