//! The pure derivation of what a service's Deployment, ReplicaSets and Pods
//! say: the tag of the app and migration containers, replicas, the rollout
//! state in `kubectl rollout status` wording, kubectl's pod STATUS, and why a
//! rollout is stuck. Shared by the watches and `hearth status`.
//!
//! The sandbox computes pod status and rollout state on its side too, on
//! purpose: the two are written independently so that the tests catch a
//! disagreement between what the server says and what hearth reads.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, Pod, PodSpec};
use kube::ResourceExt;

use super::client::Where;
use crate::model::{text, EnvObservation, PodSummary, Rollout, Workload};
use crate::registry::Service;

const REVISION: &str = "deployment.kubernetes.io/revision";
const TEMPLATE_HASH: &str = "pod-template-hash";

/// Split an image reference into (repository, tag). A digest reference
/// yields the digest as the tag; no tag yields `latest` as Docker does.
/// Image strings are untrusted (anyone who can set an image writes them):
/// both parts come out inert ([`text::line`]).
pub fn split_image(image: &str) -> (String, String) {
    let image = text::line(image);
    let image = image.as_ref();
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

pub(crate) fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub(crate) fn selector_of(deploy: &Deployment) -> BTreeMap<String, String> {
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
    let name = text::own_line(deploy.metadata.name.clone().unwrap_or_default());
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
    text::own_line(pod_status_raw(pod))
}

fn pod_status_raw(pod: &Pod) -> String {
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
    let main = pod
        .spec
        .as_ref()
        .and_then(|spec| main_container(service, spec).map(|i| &spec.containers[i]));
    let image_tag = main
        .and_then(|c| c.image.as_deref())
        .map(|i| split_image(i).1);
    let digest = main
        .and_then(|m| containers.iter().find(|c| c.name == m.name))
        .and_then(|c| digest_of(&c.image_id));
    PodSummary {
        name: text::own_line(pod.name_any()),
        status: pod_status(pod),
        ready,
        restarts,
        image_tag,
        template_hash: pod
            .labels()
            .get(TEMPLATE_HASH)
            .map(|h| text::line(h).into_owned()),
        digest,
    }
}

/// The digest in a container status's `imageID`
/// (`ghcr.io/acme/web@sha256:…`, `docker-pullable://web@sha256:…`, or the
/// bare `sha256:…` some runtimes report); `None` before the image is
/// pulled (empty) or when it names no digest hearth can read.
fn digest_of(image_id: &str) -> Option<String> {
    let at = image_id.rfind("sha256:")?;
    let hex: String = image_id[at + 7..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| format!("sha256:{hex}"))
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
    let (stuck, new_ready) = if rollout == Rollout::Complete {
        (None, None)
    } else {
        let is_new = |p: &&Pod| match &new_hash {
            Some(h) => p.labels().get(TEMPLATE_HASH) == Some(h),
            None => true,
        };
        let new_pods: Vec<&Pod> = mine.iter().copied().filter(is_new).collect();
        let new_ready = new_pods
            .iter()
            .filter(|p| summarize_pod(service, p).ready)
            .count() as i32;
        let old_serving = mine
            .iter()
            .filter(|p| !is_new(p))
            .any(|p| summarize_pod(service, p).ready)
            || (new_hash.is_none() && status.available_replicas.unwrap_or(0) > 0);
        (
            stuck_reason(&new_pods, old_serving).map(text::own_line),
            Some(new_ready),
        )
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
        new_ready,
        pods: mine.iter().map(|p| summarize_pod(service, p)).collect(),
        helm_release: helm_release(deploy),
    }
}

/// The Helm release that manages a Deployment, from what Helm puts on it.
pub fn helm_release(deploy: &Deployment) -> Option<String> {
    let managed = deploy
        .labels()
        .get("app.kubernetes.io/managed-by")
        .is_some_and(|m| m == "Helm");
    let name = deploy.annotations().get("meta.helm.sh/release-name")?;
    (managed && !name.is_empty()).then(|| text::own_line(name.clone()))
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

fn missing(service: &Service, namespace: &str, context: Option<&str>) -> EnvObservation {
    let at = Where {
        context: context.map(str::to_string),
        server: None,
    };
    EnvObservation::Missing {
        hint: format!(
            "no deployment \"{}\" in namespace \"{namespace}\" ({}); check k8s_name in services.yaml or kubectl get deploy -n {namespace}",
            service.k8s_name,
            at.words()
        ),
    }
}

#[cfg(test)]
mod digest_tests {
    use super::digest_of;

    /// The shapes runtimes report `imageID` in; nothing before the pull.
    #[test]
    fn the_digest_of_every_image_id_shape() {
        let hex = "0123456789abcdef".repeat(4);
        let want = Some(format!("sha256:{hex}"));
        assert_eq!(digest_of(&format!("ghcr.io/acme/web@sha256:{hex}")), want);
        assert_eq!(
            digest_of(&format!("docker-pullable://web@sha256:{hex}")),
            want
        );
        assert_eq!(digest_of(&format!("sha256:{hex}")), want);
        assert_eq!(digest_of(""), None, "not pulled yet");
        assert_eq!(digest_of("sha256:abc"), None, "too short to be one");
        assert_eq!(digest_of("ghcr.io/acme/web:v1"), None);
        // Whatever follows the hex digits (a hostile suffix) is not kept.
        assert_eq!(digest_of(&format!("sha256:{hex}\u{1b}]0;x\u{7}")), want);
    }
}
