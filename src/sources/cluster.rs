//! Kubernetes source: one set of watches (Deployments, ReplicaSets, Pods) per
//! (kube context, namespace) that the registry's environments name, each run
//! as a tokio task that derives a [`Workload`] per (service, environment) and
//! sends `Msg::Workload` when it changes. The derivation is a pure function
//! ([`observe`]) shared with the one-shot `hearth status`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStatus, Pod, PodSpec};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Client, Config, ResourceExt};
use tokio::sync::mpsc;

use crate::app::{Msg, SourceId};
use crate::model::{EnvObservation, PodSummary, Rollout, SourceStatus, Workload};
use crate::registry::{Registry, Service};

const REVISION: &str = "deployment.kubernetes.io/revision";
const TEMPLATE_HASH: &str = "pod-template-hash";

// ---------------------------------------------------------------------------
// Targets: which namespaces to watch and which services live there.

/// One (kube context, namespace) pair to watch and the services that have an
/// environment there. The number of watches is 3 per target, whatever the
/// number of services.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Effective context: the environment's, else `--context`, else `None`
    /// (the kubeconfig's current context).
    pub context: Option<String>,
    pub namespace: String,
    /// A kubeconfig file to read instead of `KUBECONFIG` / ~/.kube/config
    /// (tests and the demo point this at a sandbox).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// (service, environment name) pairs observed in this namespace.
    pub members: Vec<(Service, String)>,
}

impl Target {
    /// The `SourceId` under which this target reports its health.
    pub fn source_id(&self) -> SourceId {
        SourceId::Kube {
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// Group every (service, environment) of the registry by distinct (context,
/// namespace), in registry order. `only` restricts to the named services.
pub fn targets(registry: &Registry, default_context: Option<&str>, only: &[String]) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    for svc in &registry.services {
        if !only.is_empty() && !only.contains(&svc.name) {
            continue;
        }
        for env in &svc.environments {
            let context = env
                .context
                .clone()
                .or_else(|| default_context.map(str::to_string));
            let member = (svc.clone(), env.name.clone());
            match out
                .iter_mut()
                .find(|t| t.context == context && t.namespace == env.namespace)
            {
                Some(t) => t.members.push(member),
                None => out.push(Target {
                    context,
                    namespace: env.namespace.clone(),
                    kubeconfig: None,
                    members: vec![member],
                }),
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Client configuration and error wording.

/// What went wrong reading an environment, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: String,
}

impl Problem {
    pub fn observation(&self) -> EnvObservation {
        EnvObservation::Error {
            message: self.message.clone(),
            hint: self.hint.clone(),
        }
    }
}

fn context_words(context: Option<&str>) -> String {
    match context {
        Some(c) => format!("context \"{c}\""),
        None => "the current context".to_string(),
    }
}

/// Build a client the way kubectl does: `KUBECONFIG` (or ~/.kube/config,
/// or `kubeconfig` when given) and the named context (or the current one;
/// in-cluster config as a last resort).
pub async fn client_for(
    context: Option<&str>,
    kubeconfig: Option<&std::path::Path>,
) -> Result<Client, Problem> {
    let opts = KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => match Kubeconfig::read_from(path) {
            Ok(k) => Config::from_custom_kubeconfig(k, &opts)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
        None => match Config::from_kubeconfig(&opts).await {
            Ok(c) => Ok(c),
            // Without an explicit context, fall back to in-cluster config like kubectl would.
            Err(e) if context.is_none() => Config::infer().await.map_err(|_| e.to_string()),
            Err(e) => Err(e.to_string()),
        },
    };
    let mut config = config.map_err(|e| {
        let known = known_contexts(kubeconfig);
        Problem {
            message: format!(
                "cannot load kube config for {}: {e}",
                context_words(context)
            ),
            hint: if known.is_empty() {
                "check KUBECONFIG and --context (kubectl config get-contexts)".into()
            } else {
                format!(
                    "check KUBECONFIG and --context (known contexts: {})",
                    known.join(", ")
                )
            },
        }
    })?;
    // An unreachable API server should fail fast, not hang the environment on "unknown".
    config.connect_timeout = Some(Duration::from_secs(5));
    Client::try_from(config).map_err(|e| Problem {
        message: format!(
            "cannot build kube client for {}: {e}",
            context_words(context)
        ),
        hint: "check KUBECONFIG and --context (kubectl config get-contexts)".into(),
    })
}

/// The names of the contexts in the kubeconfig, for error hints.
pub fn known_contexts(kubeconfig: Option<&std::path::Path>) -> Vec<String> {
    match kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map(|k| k.contexts.into_iter().map(|c| c.name).collect())
    .unwrap_or_default()
}

/// Word a kube client error for one environment, with what to do.
pub fn classify(err: &kube::Error, context: Option<&str>, namespace: &str) -> Problem {
    let ctx = context_words(context);
    match err {
        kube::Error::Api(status) if status.code == 403 => Problem {
            message: format!("forbidden: {}", status.message),
            hint: format!(
                "ask for get/list/watch on deployments, replicasets and pods in namespace \"{namespace}\" ({ctx})"
            ),
        },
        kube::Error::Api(status) if status.code == 401 => Problem {
            message: format!("unauthorized: credentials for {ctx} were rejected (expired?)"),
            hint: "refresh your credentials (log in again / renew the token in KUBECONFIG)"
                .into(),
        },
        kube::Error::Auth(e) => Problem {
            message: format!("cannot authenticate to {ctx}: {e}"),
            hint: "refresh your credentials (log in again / renew the token in KUBECONFIG)"
                .into(),
        },
        kube::Error::Api(status) => Problem {
            message: format!("API error {}: {}", status.code, status.message),
            hint: format!("check the API server of {ctx}"),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => Problem {
            message: format!("cannot reach the API server of {ctx}: {}", root_cause(err)),
            hint: "check KUBECONFIG / --context / VPN; kubectl cluster-info should answer"
                .into(),
        },
        other => Problem {
            message: format!("kube error in {ctx}: {}", short(other)),
            hint: "check KUBECONFIG / --context / VPN".into(),
        },
    }
}

/// The innermost cause ("Connection refused (os error 111)"): what a user
/// can act on, without the client's layers of wrapping.
fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// An error and its sources on one line.
fn short(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = e.source();
    }
    s
}

fn classify_watch(err: &watcher::Error, context: Option<&str>, namespace: &str) -> Problem {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => classify(e, context, namespace),
        watcher::Error::WatchError(status) => {
            classify(&kube::Error::Api(status.clone()), context, namespace)
        }
        watcher::Error::NoResourceVersion => Problem {
            message: "the API server sent no resourceVersion".into(),
            hint: "the API server does not support watches".into(),
        },
    }
}

fn missing(service: &Service, namespace: &str, context: Option<&str>) -> EnvObservation {
    EnvObservation::Missing {
        hint: format!(
            "no deployment \"{}\" in namespace \"{namespace}\" ({}); check k8s_name in services.yaml or kubectl get deploy -n {namespace}",
            service.k8s_name,
            context_words(context)
        ),
    }
}

// ---------------------------------------------------------------------------
// Pure derivation.

/// Split an image reference into (repository, tag). A digest reference
/// yields the digest as the tag; no tag yields `latest` as Docker does.
pub fn split_image(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
    match image[slash..].rfind(':') {
        Some(i) => (
            image[..slash + i].to_string(),
            image[slash + i + 1..].to_string(),
        ),
        None => (image.to_string(), "latest".to_string()),
    }
}

/// The index of the service's main container in a pod spec: image repo ==
/// registry image, else named like the Deployment, else the first.
fn main_container(service: &Service, spec: &PodSpec) -> Option<usize> {
    let by_image = service.image.as_deref().and_then(|img| {
        spec.containers
            .iter()
            .position(|c| c.image.as_deref().is_some_and(|i| split_image(i).0 == img))
    });
    by_image
        .or_else(|| {
            spec.containers
                .iter()
                .position(|c| c.name == service.k8s_name)
        })
        .or(if spec.containers.is_empty() {
            None
        } else {
            Some(0)
        })
}

fn init_container_tag(service: &Service, spec: &PodSpec) -> Option<String> {
    let inits = spec.init_containers.as_ref()?;
    let by_image = service.image.as_deref().and_then(|img| {
        inits
            .iter()
            .find(|c| c.image.as_deref().is_some_and(|i| split_image(i).0 == img))
    });
    by_image
        .or(inits.first())
        .and_then(|c| c.image.as_deref())
        .map(|i| split_image(i).1)
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn selector_of(deploy: &Deployment) -> BTreeMap<String, String> {
    deploy
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
}

fn owned_by(
    meta_owner: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
    deploy: &Deployment,
) -> bool {
    meta_owner.iter().any(|o| {
        o.kind == "Deployment"
            && (deploy.metadata.uid.as_deref() == Some(o.uid.as_str())
                || Some(&o.name) == deploy.metadata.name.as_ref())
    })
}

/// The rollout state with `kubectl rollout status`'s rules and wording.
pub fn rollout_status(deploy: &Deployment) -> Rollout {
    let name = deploy.metadata.name.clone().unwrap_or_default();
    let status = deploy.status.clone().unwrap_or_default();
    let generation = deploy.metadata.generation.unwrap_or(0);
    if generation > status.observed_generation.unwrap_or(0) {
        return Rollout::Progressing("Waiting for deployment spec update to be observed...".into());
    }
    let timed_out = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if timed_out {
        return Rollout::Failed(format!(
            "deployment \"{name}\" exceeded its progress deadline"
        ));
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if let Some(desired) = deploy.spec.as_ref().and_then(|s| s.replicas) {
        if updated < desired {
            return Rollout::Progressing(format!(
                "Waiting for deployment \"{name}\" rollout to finish: {updated} out of {desired} new replicas have been updated..."
            ));
        }
    }
    if replicas > updated {
        return Rollout::Progressing(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return Rollout::Progressing(format!(
            "Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Rollout::Complete
}

fn last_exit(cs: &ContainerStatus) -> Option<i32> {
    let term = |s: &Option<ContainerState>| {
        s.as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code)
    };
    term(&cs.state).or_else(|| term(&cs.last_state))
}

fn waiting_reason(cs: &ContainerStatus) -> Option<&str> {
    cs.state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.as_deref())
}

/// kubectl's STATUS column for a pod (the printer's rules, simplified to
/// what Deployments' pods show).
pub fn pod_status(pod: &Pod) -> String {
    let status = pod.status.clone().unwrap_or_default();
    let mut reason = status
        .reason
        .clone()
        .or(status.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let inits = status.init_container_statuses.clone().unwrap_or_default();
    let n_inits = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .map(|v| v.len())
        .unwrap_or(inits.len());
    let mut initializing = false;
    for (i, cs) in inits.iter().enumerate() {
        let state = cs.state.clone().unwrap_or_default();
        if let Some(t) = &state.terminated {
            if t.exit_code == 0 {
                continue;
            }
            reason = match (&t.reason, t.signal) {
                (Some(r), _) if !r.is_empty() => format!("Init:{r}"),
                (_, Some(sig)) if sig != 0 => format!("Init:Signal:{sig}"),
                _ => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if let Some(r) =
            waiting_reason(cs).filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{n_inits}");
        }
        initializing = true;
        break;
    }
    if !initializing {
        let mut has_running = false;
        for cs in status.container_statuses.iter().flatten().rev() {
            let state = cs.state.clone().unwrap_or_default();
            if let Some(r) = waiting_reason(cs).filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = &state.terminated {
                reason = match (&t.reason, t.signal) {
                    (Some(r), _) if !r.is_empty() => r.clone(),
                    (_, Some(sig)) if sig != 0 => format!("Signal:{sig}"),
                    _ => format!("ExitCode:{}", t.exit_code),
                };
            } else if state.running.is_some() && cs.ready {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        reason = "Terminating".into();
    }
    reason
}

fn summarize_pod(service: &Service, pod: &Pod) -> PodSummary {
    let status = pod.status.clone().unwrap_or_default();
    let containers = status.container_statuses.clone().unwrap_or_default();
    let inits = status.init_container_statuses.clone().unwrap_or_default();
    let ready = !containers.is_empty()
        && containers.iter().all(|c| c.ready)
        && pod.metadata.deletion_timestamp.is_none();
    let restarts = containers
        .iter()
        .chain(inits.iter())
        .map(|c| c.restart_count)
        .sum();
    let image_tag = pod.spec.as_ref().and_then(|spec| {
        main_container(service, spec)
            .and_then(|i| spec.containers[i].image.as_deref())
            .map(|i| split_image(i).1)
    });
    PodSummary {
        name: pod.name_any(),
        status: pod_status(pod),
        ready,
        restarts,
        image_tag,
        template_hash: pod.labels().get(TEMPLATE_HASH).cloned(),
    }
}

/// Why the new pods do not become ready, when their statuses say it.
fn stuck_reason(new_pods: &[&Pod], old_serving: bool) -> Option<String> {
    let tail = if old_serving {
        "; old pods still serving"
    } else {
        "; no pods serving"
    };
    for pod in new_pods {
        let status = pod.status.clone().unwrap_or_default();
        for cs in status.init_container_statuses.iter().flatten() {
            let waiting = waiting_reason(cs);
            let failed_now = cs
                .state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code != 0);
            if matches!(waiting, Some("CrashLoopBackOff")) || failed_now {
                let what = waiting.unwrap_or("Error");
                let exit = last_exit(cs)
                    .map(|c| format!(", last exit code {c}"))
                    .unwrap_or_default();
                return Some(format!(
                    "migration \"{}\" failing: {what}, {} restarts{exit}{tail}",
                    cs.name, cs.restart_count
                ));
            }
        }
        for cs in status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
        {
            if let Some(r @ ("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName")) =
                waiting_reason(cs)
            {
                return Some(format!("image pull failing: {r} for {}{tail}", cs.image));
            }
        }
        for cond in status.conditions.iter().flatten() {
            if cond.type_ == "PodScheduled"
                && cond.status == "False"
                && cond.reason.as_deref() == Some("Unschedulable")
            {
                let msg = cond.message.clone().unwrap_or_default();
                return Some(format!("pods unschedulable: {msg}{tail}"));
            }
        }
        for cs in status.container_statuses.iter().flatten() {
            if let Some("CrashLoopBackOff") = waiting_reason(cs) {
                let exit = last_exit(cs)
                    .map(|c| format!(", last exit code {c}"))
                    .unwrap_or_default();
                return Some(format!(
                    "container \"{}\" crashing: CrashLoopBackOff, {} restarts{exit}{tail}",
                    cs.name, cs.restart_count
                ));
            }
        }
    }
    None
}

/// Derive the observed state of one Deployment from it and the ReplicaSets
/// and Pods of its namespace (others are filtered out by selector/owner).
pub fn derive<'a>(
    service: &Service,
    deploy: &Deployment,
    replicasets: impl IntoIterator<Item = &'a ReplicaSet>,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> Workload {
    let selector = selector_of(deploy);
    let spec = deploy.spec.clone().unwrap_or_default();
    let status = deploy.status.clone().unwrap_or_default();
    let template = spec.template.spec.clone().unwrap_or_default();
    let revision = deploy
        .annotations()
        .get(REVISION)
        .and_then(|r| r.parse::<i64>().ok());

    // The new ReplicaSet: the one owned by the Deployment at its revision.
    let new_hash = replicasets
        .into_iter()
        .filter(|rs| owned_by(rs.owner_references(), deploy))
        .find(|rs| {
            revision.is_some()
                && rs
                    .annotations()
                    .get(REVISION)
                    .and_then(|r| r.parse::<i64>().ok())
                    == revision
        })
        .and_then(|rs| rs.labels().get(TEMPLATE_HASH).cloned());

    let mut mine: Vec<&Pod> = pods
        .into_iter()
        .filter(|p| labels_match(&selector, p.labels()))
        .collect();
    mine.sort_by_key(|p| p.name_any());

    let rollout = rollout_status(deploy);
    let stuck = if rollout == Rollout::Complete {
        None
    } else {
        let is_new = |p: &&Pod| match &new_hash {
            Some(h) => p.labels().get(TEMPLATE_HASH) == Some(h),
            None => true,
        };
        let new_pods: Vec<&Pod> = mine.iter().copied().filter(is_new).collect();
        let old_serving = mine
            .iter()
            .filter(|p| !is_new(p))
            .any(|p| summarize_pod(service, p).ready)
            || (new_hash.is_none() && status.available_replicas.unwrap_or(0) > 0);
        stuck_reason(&new_pods, old_serving)
    };

    Workload {
        image_tag: main_container(service, &template)
            .and_then(|i| template.containers[i].image.as_deref())
            .map(|i| split_image(i).1),
        init_image_tag: init_container_tag(service, &template),
        desired: spec.replicas.unwrap_or(1),
        updated: status.updated_replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        revision,
        rollout,
        stuck_reason: stuck,
        pods: mine.iter().map(|p| summarize_pod(service, p)).collect(),
    }
}

/// The observation of one service in one namespace given everything listed
/// there: `Missing` when no Deployment is named like the service's `k8s_name`.
pub fn observe<'a>(
    service: &Service,
    namespace: &str,
    context: Option<&str>,
    deployments: impl IntoIterator<Item = &'a Deployment>,
    replicasets: impl IntoIterator<Item = &'a ReplicaSet>,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> EnvObservation {
    match deployments
        .into_iter()
        .find(|d| d.metadata.name.as_deref() == Some(service.k8s_name.as_str()))
    {
        Some(d) => EnvObservation::Live(derive(service, d, replicasets, pods)),
        None => missing(service, namespace, context),
    }
}

// ---------------------------------------------------------------------------
// One-shot listing (hearth status).

/// List Deployments, ReplicaSets and Pods of a target once and observe every
/// member. Every call has `timeout`; a failure becomes an Error observation.
pub async fn list_once(
    target: &Target,
    timeout: Duration,
) -> Vec<(String, String, EnvObservation)> {
    let ctx = target.context.as_deref();
    let ns = target.namespace.as_str();
    let result: Result<_, Problem> = async {
        let client = tokio::time::timeout(timeout, client_for(ctx, target.kubeconfig.as_deref()))
            .await
            .map_err(|_| timed_out(ctx))??;
        let lp = ListParams::default();
        let d = Api::<Deployment>::namespaced(client.clone(), ns);
        let r = Api::<ReplicaSet>::namespaced(client.clone(), ns);
        let p = Api::<Pod>::namespaced(client, ns);
        let (d, r, p) = tokio::time::timeout(timeout, async {
            tokio::try_join!(d.list(&lp), r.list(&lp), p.list(&lp))
        })
        .await
        .map_err(|_| timed_out(ctx))?
        .map_err(|e| classify(&e, ctx, ns))?;
        Ok((d.items, r.items, p.items))
    }
    .await;
    target
        .members
        .iter()
        .map(|(svc, env)| {
            let obs = match &result {
                Ok((d, r, p)) => observe(svc, ns, ctx, d, r, p),
                Err(problem) => problem.observation(),
            };
            (svc.name.clone(), env.clone(), obs)
        })
        .collect()
}

fn timed_out(context: Option<&str>) -> Problem {
    Problem {
        message: format!(
            "the API server of {} did not answer in time",
            context_words(context)
        ),
        hint: "check KUBECONFIG / --context / VPN; kubectl cluster-info should answer".into(),
    }
}

// ---------------------------------------------------------------------------
// Watches.

/// Objects of one kind as the watch last listed and updated them. Re-lists
/// (after a drop or a 410) are buffered and swapped in whole at `InitDone`
/// so that deletions missed while disconnected are not kept.
struct Store<K> {
    live: HashMap<String, K>,
    buffer: Option<HashMap<String, K>>,
    ready: bool,
    problem: Option<Problem>,
}

impl<K: Trim + Clone> Store<K> {
    fn new() -> Self {
        Store {
            live: HashMap::new(),
            buffer: None,
            ready: false,
            problem: None,
        }
    }

    /// Apply an event; returns the labels/name of the touched object, or
    /// `None` for a full relist (everything may have changed).
    fn apply(&mut self, ev: watcher::Event<K>) -> Touched {
        // A re-list in progress does not prove recovery yet; InitDone or a
        // live event does.
        if !matches!(ev, watcher::Event::Init | watcher::Event::InitApply(_)) {
            self.problem = None;
        }
        match ev {
            watcher::Event::Init => {
                self.buffer = Some(HashMap::new());
                Touched::Nothing
            }
            watcher::Event::InitApply(mut o) => {
                trim(&mut o);
                self.buffer
                    .get_or_insert_with(HashMap::new)
                    .insert(o.name_any(), o);
                Touched::Nothing
            }
            watcher::Event::InitDone => {
                if let Some(b) = self.buffer.take() {
                    self.live = b;
                }
                self.ready = true;
                Touched::All
            }
            watcher::Event::Apply(mut o) => {
                trim(&mut o);
                let t = Touched::One(o.name_any(), o.labels().clone());
                self.live.insert(o.name_any(), o);
                t
            }
            watcher::Event::Delete(o) => {
                self.live.remove(&o.name_any());
                Touched::One(o.name_any(), o.labels().clone())
            }
        }
    }
}

/// Drop what is large and never shown (managedFields, kubectl's
/// last-applied-configuration copy of the whole object, everything of a pod
/// spec but container names and images), so that memory follows what hearth
/// displays, not the size of the manifests.
fn trim<K: Trim>(o: &mut K) {
    o.managed_fields_mut().clear();
    o.annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
    o.trim_rest();
}

/// Per-kind part of [`trim`]: keep exactly what [`derive`] reads.
trait Trim: ResourceExt {
    fn trim_rest(&mut self);
}

/// A container reduced to its name and image.
fn slim_containers(cs: &mut [Container]) {
    for c in cs.iter_mut() {
        *c = Container {
            name: std::mem::take(&mut c.name),
            image: c.image.take(),
            ..Default::default()
        };
    }
}

fn slim_pod_spec(spec: &mut PodSpec) {
    let mut containers = std::mem::take(&mut spec.containers);
    let mut inits = spec.init_containers.take();
    slim_containers(&mut containers);
    if let Some(i) = inits.as_mut() {
        slim_containers(i);
    }
    *spec = PodSpec {
        containers,
        init_containers: inits,
        ..Default::default()
    };
}

impl Trim for Pod {
    fn trim_rest(&mut self) {
        if let Some(spec) = self.spec.as_mut() {
            slim_pod_spec(spec);
        }
        if let Some(st) = self.status.as_mut() {
            st.host_ip = None;
            st.host_ips = None;
            st.pod_ips = None;
            st.pod_ip = None;
            st.resource_claim_statuses = None;
            if let Some(c) = st.conditions.as_mut() {
                c.retain(|c| c.type_ == "PodScheduled" && c.status == "False");
            }
        }
    }
}

impl Trim for Deployment {
    fn trim_rest(&mut self) {
        if let Some(spec) = self.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            slim_pod_spec(spec);
        }
    }
}

impl Trim for ReplicaSet {
    fn trim_rest(&mut self) {
        // Only the labels, revision annotation and owner are read.
        self.spec = None;
        self.status = None;
    }
}

enum Touched {
    Nothing,
    All,
    One(String, BTreeMap<String, String>),
}

enum Ev {
    Deploy(Result<watcher::Event<Deployment>, watcher::Error>),
    Rs(Result<watcher::Event<ReplicaSet>, watcher::Error>),
    Pod(Result<watcher::Event<Pod>, watcher::Error>),
}

/// The state one namespace task keeps: three stores and what it last sent.
struct NamespaceState {
    target: Target,
    deploys: Store<Deployment>,
    rss: Store<ReplicaSet>,
    pods: Store<Pod>,
    sent: HashMap<(String, String), EnvObservation>,
    status: Option<SourceStatus>,
}

impl NamespaceState {
    fn problem(&self) -> Option<&Problem> {
        self.deploys
            .problem
            .as_ref()
            .or(self.rss.problem.as_ref())
            .or(self.pods.problem.as_ref())
    }

    fn ready(&self) -> bool {
        self.deploys.ready && self.rss.ready && self.pods.ready
    }

    /// Which members an event touched: a Deployment by name, a ReplicaSet or
    /// Pod by its labels matching a member's Deployment selector.
    fn affected(&self, touched: &Touched, is_deploy: bool) -> Vec<usize> {
        match touched {
            Touched::Nothing => vec![],
            Touched::All => (0..self.target.members.len()).collect(),
            Touched::One(name, labels) => (0..self.target.members.len())
                .filter(|&i| {
                    let k8s = &self.target.members[i].0.k8s_name;
                    if is_deploy {
                        return k8s == name;
                    }
                    self.deploys
                        .live
                        .get(k8s)
                        .is_some_and(|d| labels_match(&selector_of(d), labels))
                })
                .collect(),
        }
    }

    fn observation(&self, i: usize) -> EnvObservation {
        if let Some(p) = self.problem() {
            return p.observation();
        }
        let svc = &self.target.members[i].0;
        observe(
            svc,
            &self.target.namespace,
            self.target.context.as_deref(),
            self.deploys.live.values(),
            self.rss.live.values(),
            self.pods.live.values(),
        )
    }

    /// Messages for the members whose observation changed.
    fn changes(&mut self, members: &[usize]) -> Vec<Msg> {
        let mut out = Vec::new();
        if !self.ready() && self.problem().is_none() {
            return out;
        }
        for &i in members {
            let obs = self.observation(i);
            let (svc, env) = &self.target.members[i];
            let key = (svc.name.clone(), env.clone());
            if self.sent.get(&key) != Some(&obs) {
                self.sent.insert(key, obs.clone());
                out.push(Msg::Workload {
                    service: svc.name.clone(),
                    env: env.clone(),
                    observation: obs,
                });
            }
        }
        out
    }

    fn status_change(&mut self) -> Option<Msg> {
        let status = match self.problem() {
            Some(p) => SourceStatus::Down(format!("{} — {}", p.message, p.hint)),
            None if self.ready() => SourceStatus::Live,
            None => return None,
        };
        if self.status.as_ref() == Some(&status) {
            return None;
        }
        self.status = Some(status.clone());
        tracing::info!(
            context = self.target.context.as_deref().unwrap_or("(current)"),
            namespace = %self.target.namespace,
            ?status,
            "kube source"
        );
        Some(Msg::Source(self.target.source_id(), status))
    }

    fn handle(&mut self, ev: Ev) -> Vec<Msg> {
        let ctx = self.target.context.clone();
        let ns = self.target.namespace.clone();
        // 410 Gone only means "re-list": the watcher does that by itself.
        let gone = |e: &watcher::Error| matches!(e, watcher::Error::WatchError(s) if s.code == 410);
        let (touched, is_deploy) = match ev {
            Ev::Deploy(Err(e)) | Ev::Rs(Err(e)) | Ev::Pod(Err(e)) if gone(&e) => {
                return vec![];
            }
            Ev::Deploy(Ok(e)) => (self.deploys.apply(e), true),
            Ev::Rs(Ok(e)) => (self.rss.apply(e), false),
            Ev::Pod(Ok(e)) => (self.pods.apply(e), false),
            Ev::Deploy(Err(e)) => {
                self.deploys.problem = Some(classify_watch(&e, ctx.as_deref(), &ns));
                (Touched::All, false)
            }
            Ev::Rs(Err(e)) => {
                self.rss.problem = Some(classify_watch(&e, ctx.as_deref(), &ns));
                (Touched::All, false)
            }
            Ev::Pod(Err(e)) => {
                self.pods.problem = Some(classify_watch(&e, ctx.as_deref(), &ns));
                (Touched::All, false)
            }
        };
        let members = self.affected(&touched, is_deploy);
        let mut out: Vec<Msg> = self.status_change().into_iter().collect();
        out.extend(self.changes(&members));
        out
    }
}

fn watch_stream<K>(
    client: &Client,
    ns: &str,
) -> BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api = Api::<K>::namespaced(client.clone(), ns);
    // default_backoff: errors are still yielded (so they can be shown), then
    // the watcher waits and re-lists.
    watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed()
}

/// Watch one target until the receiver is dropped.
pub async fn run_target(target: Target, tx: mpsc::Sender<Msg>) {
    let id = target.source_id();
    if tx
        .send(Msg::Source(id.clone(), SourceStatus::Connecting))
        .await
        .is_err()
    {
        return;
    }
    let client = match client_for(target.context.as_deref(), target.kubeconfig.as_deref()).await {
        Ok(c) => c,
        Err(problem) => {
            let _ = tx
                .send(Msg::Source(
                    id,
                    SourceStatus::Down(format!("{} — {}", problem.message, problem.hint)),
                ))
                .await;
            for (svc, env) in &target.members {
                let msg = Msg::Workload {
                    service: svc.name.clone(),
                    env: env.clone(),
                    observation: problem.observation(),
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            return;
        }
    };
    let ns = target.namespace.clone();
    let mut events = stream::select_all(vec![
        watch_stream::<Deployment>(&client, &ns)
            .map(Ev::Deploy)
            .boxed(),
        watch_stream::<ReplicaSet>(&client, &ns).map(Ev::Rs).boxed(),
        watch_stream::<Pod>(&client, &ns).map(Ev::Pod).boxed(),
    ]);
    let mut state = NamespaceState {
        target,
        deploys: Store::new(),
        rss: Store::new(),
        pods: Store::new(),
        sent: HashMap::new(),
        status: None,
    };
    while let Some(ev) = events.next().await {
        for msg in state.handle(ev) {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// Spawn one watch task per target of the registry.
pub fn spawn(
    registry: &Registry,
    default_context: Option<&str>,
    tx: mpsc::Sender<Msg>,
) -> Vec<tokio::task::JoinHandle<()>> {
    targets(registry, default_context, &[])
        .into_iter()
        .map(|t| tokio::spawn(run_target(t, tx.clone())))
        .collect()
}

#[cfg(test)]
mod tests;
