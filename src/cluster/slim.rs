//! What hearth keeps of a Deployment, a ReplicaSet and a Pod: exactly the
//! fields [`derive`](super::derive) reads, in hearth's own small types.
//!
//! The watches hold every object of their namespaces for as long as hearth
//! runs. A k8s-openapi `Pod` is a few kilobytes even with its spec emptied
//! (every optional field of the spec, the status and the metadata is there,
//! inline); at 300 services, three namespaces each, they were most of the
//! heap. These types are what is left once an object is read: names, labels,
//! images, counts and the few status words the columns show. Strings stay
//! as the API server sent them; [`derive`](super::derive) makes them inert
//! on the way out, as before.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;

use super::derive::helm_release;

const REVISION: &str = "deployment.kubernetes.io/revision";
const TEMPLATE_HASH: &str = "pod-template-hash";

/// A container of a pod template or a pod: its name and image.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
}

/// Kept in a new allocation of their own size: a `collect` from the
/// `into_iter` of a `Vec` reuses its buffer in place, which would keep a
/// k8s-openapi `Container`'s worth of memory for each of these.
fn containers(cs: Vec<core::Container>) -> Vec<Container> {
    let mut kept = Vec::with_capacity(cs.len());
    kept.extend(cs.into_iter().map(|c| Container {
        name: c.name,
        image: c.image,
    }));
    kept
}

/// A Deployment: what the rollout status, the tag and the owner checks read.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub name: Option<String>,
    pub uid: Option<String>,
    pub generation: i64,
    /// The `deployment.kubernetes.io/revision` annotation, when a number.
    pub revision: Option<i64>,
    /// The Helm release that manages it ([`helm_release`]).
    pub helm_release: Option<String>,
    pub selector: BTreeMap<String, String>,
    /// `spec.replicas`: the desired count, when set.
    pub replicas: Option<i32>,
    pub containers: Vec<Container>,
    pub init_containers: Option<Vec<Container>>,
    pub observed_generation: i64,
    /// `status.replicas`: every pod of every ReplicaSet.
    pub current: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// A `Progressing` condition with reason `ProgressDeadlineExceeded`.
    pub deadline_exceeded: bool,
}

impl From<apps::Deployment> for Deployment {
    fn from(d: apps::Deployment) -> Self {
        let helm_release = helm_release(&d);
        let meta = d.metadata;
        let revision = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION))
            .and_then(|r| r.parse::<i64>().ok());
        let spec = d.spec.unwrap_or_default();
        let template = spec.template.spec.unwrap_or_default();
        let status = d.status.unwrap_or_default();
        let deadline_exceeded = status.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        Deployment {
            name: meta.name,
            uid: meta.uid,
            generation: meta.generation.unwrap_or(0),
            revision,
            helm_release,
            selector: spec.selector.match_labels.unwrap_or_default(),
            replicas: spec.replicas,
            containers: containers(template.containers),
            init_containers: template.init_containers.map(containers),
            observed_generation: status.observed_generation.unwrap_or(0),
            current: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            deadline_exceeded,
        }
    }
}

/// A ReplicaSet: which Deployment owns it, at which revision, with which
/// pod-template hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSet {
    /// The (uid, name) of each Deployment among its owners.
    pub owners: Vec<(String, String)>,
    pub revision: Option<i64>,
    pub template_hash: Option<String>,
}

impl From<apps::ReplicaSet> for ReplicaSet {
    fn from(rs: apps::ReplicaSet) -> Self {
        let meta = rs.metadata;
        ReplicaSet {
            owners: meta
                .owner_references
                .unwrap_or_default()
                .iter()
                .filter(|o| o.kind == "Deployment")
                .map(|o| (o.uid.clone(), o.name.clone()))
                .collect(),
            revision: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .and_then(|r| r.parse::<i64>().ok()),
            template_hash: meta.labels.and_then(|mut l| l.remove(TEMPLATE_HASH)),
        }
    }
}

/// How a container ended, as its status says.
#[derive(Debug, Clone, PartialEq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: Option<String>,
    pub signal: Option<i32>,
}

impl From<core::ContainerStateTerminated> for Terminated {
    fn from(t: core::ContainerStateTerminated) -> Self {
        Terminated {
            exit_code: t.exit_code,
            reason: t.reason,
            signal: t.signal,
        }
    }
}

/// A container's status: readiness, restarts, its state now and how it
/// last ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    /// `imageID` as the runtime reports it.
    pub image_id: String,
    pub ready: bool,
    pub restarts: i32,
    /// The reason of a waiting state, when it gives one.
    pub waiting: Option<String>,
    pub terminated: Option<Terminated>,
    pub running: bool,
    /// The exit code of the last termination (`lastState`).
    pub last_exit: Option<i32>,
}

impl From<core::ContainerStatus> for ContainerStatus {
    fn from(cs: core::ContainerStatus) -> Self {
        let state = cs.state.unwrap_or_default();
        ContainerStatus {
            name: cs.name,
            image: cs.image,
            image_id: cs.image_id,
            ready: cs.ready,
            restarts: cs.restart_count,
            waiting: state.waiting.and_then(|w| w.reason),
            terminated: state.terminated.map(Terminated::from),
            running: state.running.is_some(),
            last_exit: cs
                .last_state
                .and_then(|s| s.terminated)
                .map(|t| t.exit_code),
        }
    }
}

/// A Pod: labels to match a selector, images, and the status words of
/// kubectl's STATUS column and of a stuck rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub terminating: bool,
    pub containers: Vec<Container>,
    pub init_containers: Option<Vec<Container>>,
    pub reason: Option<String>,
    pub phase: Option<String>,
    pub init_statuses: Vec<ContainerStatus>,
    pub statuses: Vec<ContainerStatus>,
    /// The message of a `PodScheduled=False` condition for reason
    /// `Unschedulable`.
    pub unschedulable: Option<String>,
}

impl From<core::Pod> for Pod {
    fn from(p: core::Pod) -> Self {
        let meta = p.metadata;
        let spec = p.spec.unwrap_or_default();
        let status = p.status.unwrap_or_default();
        // A new allocation, not the k8s-openapi one reused (see `containers`).
        let statuses = |v: Option<Vec<core::ContainerStatus>>| {
            let v = v.unwrap_or_default();
            let mut kept = Vec::with_capacity(v.len());
            kept.extend(v.into_iter().map(ContainerStatus::from));
            kept
        };
        let unschedulable = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            })
            .map(|c| c.message.unwrap_or_default());
        Pod {
            // What kube's `name_any` gives: the name, else the generate-name.
            name: meta.name.or(meta.generate_name).unwrap_or_default(),
            labels: meta.labels.unwrap_or_default(),
            terminating: meta.deletion_timestamp.is_some(),
            containers: containers(spec.containers),
            init_containers: spec.init_containers.map(containers),
            reason: status.reason,
            phase: status.phase,
            init_statuses: statuses(status.init_container_statuses),
            statuses: statuses(status.container_statuses),
            unschedulable,
        }
    }
}

/// Shorthands for the tests and the one-shot paths that hold k8s-openapi
/// objects by reference.
impl From<&apps::Deployment> for Deployment {
    fn from(d: &apps::Deployment) -> Self {
        d.clone().into()
    }
}

impl From<&apps::ReplicaSet> for ReplicaSet {
    fn from(rs: &apps::ReplicaSet) -> Self {
        rs.clone().into()
    }
}

impl From<&core::Pod> for Pod {
    fn from(p: &core::Pod) -> Self {
        p.clone().into()
    }
}
