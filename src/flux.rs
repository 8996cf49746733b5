//! GitOps environments (`delivery: gitops`): what each environment's
//! manifest holds on the GitOps branch (read after a `git fetch` of the
//! checkout), the commit that last changed it, and what its Flux
//! `Kustomization` says (Ready, Reconciling, Stalled with Flux's message,
//! suspended; the revision it applied). This is what should run for the
//! model, and the chain a deploy walks (manifest commit → Flux applied →
//! rollout). Read every [`PERIOD`], one service at a time, and sent as an
//! [`Event`] when it changed. `hearth status` reads it once.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cluster::{KubeClient, Settings};
use crate::model::flux::{FluxState, GitopsReading, ManifestCommit};
use crate::model::text;
use crate::ops::gitops::{KUSTOMIZATIONS, KUSTOMIZE_GROUP};
use crate::registry::{Delivery, Environment, Registry, Service};

/// How often each GitOps service is read.
pub const PERIOD: Duration = Duration::from_secs(10);

/// What the reader reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub service: String,
    pub env: String,
    pub reading: GitopsReading,
}

/// Read every environment of a GitOps `service`: fetch its checkout once,
/// then each manifest and Kustomization. `kube` gives the client of an
/// environment.
pub async fn read_service(
    service: &Service,
    kube: &Settings,
    clients: &mut HashMap<Option<String>, KubeClient>,
) -> Vec<(String, GitopsReading)> {
    let checkout = crate::ops::gitops::checkout(service).await;
    let fetched = match &checkout {
        Ok((dir, branch)) => crate::ops::gitops::fetch(dir, branch)
            .await
            .map(|_| (dir.clone(), branch.clone()))
            .map_err(|f| text::line(&f.problem.message).into_owned()),
        Err(f) => Err(text::line(&f.problem.message).into_owned()),
    };
    let mut out = Vec::new();
    for env in &service.environments {
        let manifest = match &fetched {
            Ok((dir, branch)) => manifest_commit(dir, branch, env).await,
            Err(e) => Err(e.clone()),
        };
        let flux = flux_state(env, kube, clients).await;
        let unapplied = match (&fetched, &manifest, &flux) {
            (Ok((dir, _)), Ok(m), Ok(f)) => !applied_since(dir, &m.commit, f).await,
            _ => false,
        };
        out.push((
            env.name.clone(),
            GitopsReading {
                manifest,
                flux,
                unapplied,
            },
        ));
    }
    out
}

/// Whether Flux applied `commit` or a commit after it.
async fn applied_since(dir: &std::path::Path, commit: &str, f: &FluxState) -> bool {
    let Some(applied) = f
        .last_applied
        .as_deref()
        .and_then(crate::model::flux::revision_sha)
        .filter(|s| s.chars().all(|c| c.is_ascii_hexdigit()) && !s.is_empty())
    else {
        return false;
    };
    if applied.starts_with(commit) || commit.starts_with(applied) {
        return true;
    }
    crate::ops::git::run(dir, &["merge-base", "--is-ancestor", commit, applied])
        .await
        .is_ok()
}

async fn manifest_commit(
    dir: &std::path::Path,
    branch: &str,
    env: &Environment,
) -> Result<ManifestCommit, String> {
    let m = env
        .manifest
        .as_ref()
        .ok_or_else(|| format!("no manifest named for {}", env.name))?;
    let rev = format!("origin/{branch}");
    let tag = crate::ops::gitops::tag_at(dir, &rev, m)
        .await
        .map_err(|f| text::line(&f.problem.message).into_owned())?;
    let log = crate::ops::git::run(
        dir,
        &["log", "-1", "--format=%H%x09%ct%x09%s", &rev, "--", &m.file],
    )
    .await
    .map_err(|p| text::line(&p.message).into_owned())?;
    let mut parts = log.trim().splitn(3, '\t');
    let commit = parts.next().unwrap_or("").to_string();
    let at = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
    let subject = text::truncate(&text::line(parts.next().unwrap_or("")), 200);
    if !commit.chars().all(|c| c.is_ascii_hexdigit()) || commit.is_empty() {
        return Err(format!("no commit changed {}", m.file));
    }
    Ok(ManifestCommit {
        tag,
        commit,
        at,
        subject,
    })
}

async fn flux_state(
    env: &Environment,
    kube: &Settings,
    clients: &mut HashMap<Option<String>, KubeClient>,
) -> Result<FluxState, String> {
    let (ns, name) = env
        .kustomization
        .as_ref()
        .ok_or_else(|| format!("no Kustomization named for {}", env.name))?;
    let context = env.context.clone().or_else(|| kube.context.clone());
    let client = match clients.get(&context) {
        Some(c) => c.clone(),
        None => {
            let c = KubeClient::new(context.as_deref(), kube.kubeconfig.as_deref())
                .await
                .map_err(|p| text::line(&p.message).into_owned())?;
            clients.insert(context, c.clone());
            c
        }
    };
    let obj = client
        .flux_object(KUSTOMIZE_GROUP, KUSTOMIZATIONS, ns, name)
        .await
        .map_err(|p| text::line(&p.message).into_owned())?;
    Ok(FluxState::from_object(&obj))
}

/// Start reading the GitOps services of `registry`; `None` when it has none.
pub fn spawn(
    registry: &Registry,
    kube: &Settings,
    tx: mpsc::Sender<Event>,
) -> Option<JoinHandle<()>> {
    let services: Vec<Service> = registry
        .services
        .iter()
        .filter(|s| s.delivery == Delivery::Gitops)
        .cloned()
        .collect();
    if services.is_empty() {
        return None;
    }
    let kube = kube.clone();
    Some(tokio::spawn(async move {
        let mut clients = HashMap::new();
        let mut last: HashMap<(String, String), GitopsReading> = HashMap::new();
        let gap = (PERIOD / services.len() as u32).max(Duration::from_millis(200));
        let mut pause = Duration::from_millis(20);
        loop {
            for s in &services {
                for (env, reading) in read_service(s, &kube, &mut clients).await {
                    let key = (s.name.clone(), env.clone());
                    if last.get(&key) == Some(&reading) {
                        continue;
                    }
                    last.insert(key, reading.clone());
                    let event = Event {
                        service: s.name.clone(),
                        env,
                        reading,
                    };
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(pause).await;
            }
            pause = gap;
        }
    }))
}
