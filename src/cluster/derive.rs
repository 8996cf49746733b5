//! The pure derivation of what a service's Deployment, ReplicaSets and Pods
//! say: the tag of the app and migration containers, replicas, the rollout
//! state in `kubectl rollout status` wording, kubectl's pod STATUS, and why a
//! rollout is stuck. Shared by the watches and `hearth status`.
//!
//! The sandbox computes pod status and rollout state on its side too, on
//! purpose: the two are written independently so that the tests catch a
//! disagreement between what the server says and what hearth reads.

use std::collections::BTreeMap;

use kube::ResourceExt;

use super::client::Where;
use super::slim::{Container, ContainerStatus, Deployment, Pod, ReplicaSet};
use crate::model::{text, EnvObservation, PodSummary, Rollout, Workload};
use crate::registry::Service;

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

/// The service's main container among a pod's (or template's) containers:
/// image repo == registry image, else named like the Deployment, else the
/// first.
fn main_container<'a>(service: &Service, containers: &'a [Container]) -> Option<&'a Container> {
    let by_image = service.image.as_deref().and_then(|img| {
        containers
            .iter()
            .find(|c| c.image.as_deref().is_some_and(|i| split_image(i).0 == img))
    });
    by_image
        .or_else(|| containers.iter().find(|c| c.name == service.k8s_name))
        .or(containers.first())
}

fn init_container_tag(service: &Service, inits: Option<&Vec<Container>>) -> Option<String> {
    let inits = inits?;
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

/// Whether a ReplicaSet is owned by the Deployment (by uid, else by name).
fn owned_by(rs: &ReplicaSet, deploy: &Deployment) -> bool {
    rs.owners.iter().any(|(uid, name)| {
        deploy.uid.as_deref() == Some(uid.as_str()) || Some(name) == deploy.name.as_ref()
    })
}

/// The rollout state with `kubectl rollout status`'s rules and wording.
pub fn rollout_status(deploy: &Deployment) -> Rollout {
    let name = text::own_line(deploy.name.clone().unwrap_or_default());
    if deploy.generation > deploy.observed_generation {
        return Rollout::Progressing("Waiting for deployment spec update to be observed...".into());
    }
    if deploy.deadline_exceeded {
        return Rollout::Failed(format!(
            "deployment \"{name}\" exceeded its progress deadline"
        ));
    }
    let updated = deploy.updated;
    let replicas = deploy.current;
    let available = deploy.available;
    if let Some(desired) = deploy.replicas {
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
    cs.terminated.as_ref().map(|t| t.exit_code).or(cs.last_exit)
}

fn waiting_reason(cs: &ContainerStatus) -> Option<&str> {
    cs.waiting.as_deref()
}

/// kubectl's STATUS column for a pod (the printer's rules, simplified to
/// what Deployments' pods show).
pub fn pod_status(pod: &Pod) -> String {
    text::own_line(pod_status_raw(pod))
}

fn pod_status_raw(pod: &Pod) -> String {
    let mut reason = pod
        .reason
        .clone()
        .or(pod.phase.clone())
        .unwrap_or_else(|| "Unknown".into());
    let inits = &pod.init_statuses;
    let n_inits = pod
        .init_containers
        .as_ref()
        .map(|v| v.len())
        .unwrap_or(inits.len());
    let mut initializing = false;
    for (i, cs) in inits.iter().enumerate() {
        if let Some(t) = &cs.terminated {
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
        for cs in pod.statuses.iter().rev() {
            if let Some(r) = waiting_reason(cs).filter(|r| !r.is_empty()) {
                reason = r.to_string();
            } else if let Some(t) = &cs.terminated {
                reason = match (&t.reason, t.signal) {
                    (Some(r), _) if !r.is_empty() => r.clone(),
                    (_, Some(sig)) if sig != 0 => format!("Signal:{sig}"),
                    _ => format!("ExitCode:{}", t.exit_code),
                };
            } else if cs.running && cs.ready {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if pod.terminating {
        reason = "Terminating".into();
    }
    reason
}

fn summarize_pod(service: &Service, pod: &Pod) -> PodSummary {
    let containers = &pod.statuses;
    let ready = !containers.is_empty() && containers.iter().all(|c| c.ready) && !pod.terminating;
    let restarts = containers
        .iter()
        .chain(pod.init_statuses.iter())
        .map(|c| c.restarts)
        .sum();
    let main = main_container(service, &pod.containers);
    let image_tag = main
        .and_then(|c| c.image.as_deref())
        .map(|i| split_image(i).1);
    let digest = main
        .and_then(|m| containers.iter().find(|c| c.name == m.name))
        .and_then(|c| digest_of(&c.image_id));
    PodSummary {
        name: text::own_line(pod.name.clone()),
        status: pod_status(pod),
        ready,
        restarts,
        image_tag,
        template_hash: pod
            .labels
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
        for cs in &pod.init_statuses {
            let waiting = waiting_reason(cs);
            let failed_now = cs.terminated.as_ref().is_some_and(|t| t.exit_code != 0);
            if matches!(waiting, Some("CrashLoopBackOff")) || failed_now {
                let what = waiting.unwrap_or("Error");
                let exit = last_exit(cs)
                    .map(|c| format!(", last exit code {c}"))
                    .unwrap_or_default();
                return Some(format!(
                    "migration \"{}\" failing: {what}, {} restarts{exit}{tail}",
                    cs.name, cs.restarts
                ));
            }
        }
        for cs in pod.init_statuses.iter().chain(pod.statuses.iter()) {
            if let Some(r @ ("ImagePullBackOff" | "ErrImagePull" | "InvalidImageName")) =
                waiting_reason(cs)
            {
                return Some(format!("image pull failing: {r} for {}{tail}", cs.image));
            }
        }
        if let Some(msg) = &pod.unschedulable {
            return Some(format!("pods unschedulable: {msg}{tail}"));
        }
        for cs in &pod.statuses {
            if let Some("CrashLoopBackOff") = waiting_reason(cs) {
                let exit = last_exit(cs)
                    .map(|c| format!(", last exit code {c}"))
                    .unwrap_or_default();
                return Some(format!(
                    "container \"{}\" crashing: CrashLoopBackOff, {} restarts{exit}{tail}",
                    cs.name, cs.restarts
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
    let selector = &deploy.selector;
    let revision = deploy.revision;

    // The new ReplicaSet: the one owned by the Deployment at its revision.
    let new_hash = replicasets
        .into_iter()
        .filter(|rs| owned_by(rs, deploy))
        .find(|rs| revision.is_some() && rs.revision == revision)
        .and_then(|rs| rs.template_hash.clone());

    let mut mine: Vec<&Pod> = pods
        .into_iter()
        .filter(|p| labels_match(selector, &p.labels))
        .collect();
    mine.sort_by(|a, b| a.name.cmp(&b.name));

    let rollout = rollout_status(deploy);
    let (stuck, new_ready) = if rollout == Rollout::Complete {
        (None, None)
    } else {
        let is_new = |p: &&Pod| match &new_hash {
            Some(h) => p.labels.get(TEMPLATE_HASH) == Some(h),
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
            || (new_hash.is_none() && deploy.available > 0);
        (
            stuck_reason(&new_pods, old_serving).map(text::own_line),
            Some(new_ready),
        )
    };

    Workload {
        image_tag: main_container(service, &deploy.containers)
            .and_then(|c| c.image.as_deref())
            .map(|i| split_image(i).1),
        init_image_tag: init_container_tag(service, deploy.init_containers.as_ref()),
        desired: deploy.replicas.unwrap_or(1),
        updated: deploy.updated,
        ready: deploy.ready,
        available: deploy.available,
        revision,
        rollout,
        stuck_reason: stuck,
        new_ready,
        pods: mine.iter().map(|p| summarize_pod(service, p)).collect(),
        helm_release: deploy.helm_release.clone(),
    }
}

/// The Helm release that manages a Deployment, from what Helm puts on it.
pub fn helm_release(deploy: &k8s_openapi::api::apps::v1::Deployment) -> Option<String> {
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
        .find(|d| d.name.as_deref() == Some(service.k8s_name.as_str()))
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
