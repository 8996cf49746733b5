//! The object store of the sandbox Kubernetes API: JSON objects keyed by
//! kind, namespace and name, a global resourceVersion counter, a bounded
//! history of changes for watches and a broadcast of every change. Shared by
//! the HTTP handlers (axum tasks) and the deployment controller task.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::broadcast;

/// The resource kinds the sandbox serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Pod,
    Event,
    Deployment,
    ReplicaSet,
    ServiceAccount,
    Secret,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
    /// Flux's source of manifests (`source.toolkit.fluxcd.io/v1`).
    GitRepository,
    /// Flux's applier of a path of a source (`kustomize.toolkit.fluxcd.io/v1`).
    Kustomization,
}

/// The RBAC API group.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// Flux's source API group.
pub const FLUX_SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// Flux's kustomize API group.
pub const FLUX_KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

impl Kind {
    /// All kinds, in discovery order.
    pub const ALL: [Kind; 13] = [
        Kind::Namespace,
        Kind::Pod,
        Kind::Event,
        Kind::ServiceAccount,
        Kind::Secret,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Role,
        Kind::RoleBinding,
        Kind::ClusterRole,
        Kind::ClusterRoleBinding,
        Kind::GitRepository,
        Kind::Kustomization,
    ];

    /// The kind for a URL resource segment (`deployments`).
    pub fn from_plural(plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == plural)
    }

    /// The kind for an object's `kind` field (`Deployment`).
    pub fn from_kind(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.kind() == kind)
    }

    /// The URL resource segment.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Pod => "pods",
            Kind::Event => "events",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::ServiceAccount => "serviceaccounts",
            Kind::Secret => "secrets",
            Kind::Role => "roles",
            Kind::RoleBinding => "rolebindings",
            Kind::ClusterRole => "clusterroles",
            Kind::ClusterRoleBinding => "clusterrolebindings",
            Kind::GitRepository => "gitrepositories",
            Kind::Kustomization => "kustomizations",
        }
    }

    /// The singular resource name used in discovery.
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Pod => "pod",
            Kind::Event => "event",
            Kind::Deployment => "deployment",
            Kind::ReplicaSet => "replicaset",
            Kind::ServiceAccount => "serviceaccount",
            Kind::Secret => "secret",
            Kind::Role => "role",
            Kind::RoleBinding => "rolebinding",
            Kind::ClusterRole => "clusterrole",
            Kind::ClusterRoleBinding => "clusterrolebinding",
            Kind::GitRepository => "gitrepository",
            Kind::Kustomization => "kustomization",
        }
    }

    /// The `kind` field of objects.
    pub fn kind(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Pod => "Pod",
            Kind::Event => "Event",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Secret => "Secret",
            Kind::Role => "Role",
            Kind::RoleBinding => "RoleBinding",
            Kind::ClusterRole => "ClusterRole",
            Kind::ClusterRoleBinding => "ClusterRoleBinding",
            Kind::GitRepository => "GitRepository",
            Kind::Kustomization => "Kustomization",
        }
    }

    /// API group ("" for core).
    pub fn group(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps",
            Kind::Role | Kind::RoleBinding | Kind::ClusterRole | Kind::ClusterRoleBinding => {
                RBAC_GROUP
            }
            Kind::GitRepository => FLUX_SOURCE_GROUP,
            Kind::Kustomization => FLUX_KUSTOMIZE_GROUP,
            _ => "",
        }
    }

    /// The `apiVersion` field of objects.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet => "apps/v1",
            Kind::Role | Kind::RoleBinding | Kind::ClusterRole | Kind::ClusterRoleBinding => {
                "rbac.authorization.k8s.io/v1"
            }
            Kind::GitRepository => "source.toolkit.fluxcd.io/v1",
            Kind::Kustomization => "kustomize.toolkit.fluxcd.io/v1",
            _ => "v1",
        }
    }

    /// Whether objects live in namespaces.
    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace | Kind::ClusterRole | Kind::ClusterRoleBinding
        )
    }

    /// `deployments.apps`, as Kubernetes names a resource in error messages.
    pub fn qualified(self) -> String {
        if self.group().is_empty() {
            self.plural().to_string()
        } else {
            format!("{}.{}", self.plural(), self.group())
        }
    }

    /// kubectl short names (`deploy`, `rs`, `po`).
    pub fn short_names(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["ns"],
            Kind::Pod => &["po"],
            Kind::Event => &["ev"],
            Kind::Deployment => &["deploy"],
            Kind::ReplicaSet => &["rs"],
            Kind::ServiceAccount => &["sa"],
            Kind::GitRepository => &["gitrepo"],
            Kind::Kustomization => &["ks"],
            _ => &[],
        }
    }

    /// Whether the object counts `metadata.generation` (bumped by a spec change).
    pub fn has_generation(self) -> bool {
        matches!(
            self,
            Kind::Deployment | Kind::ReplicaSet | Kind::GitRepository | Kind::Kustomization
        )
    }

    /// Objects a client may create with POST (Pods, ReplicaSets and Events
    /// belong to the controller).
    pub fn creatable(self) -> bool {
        !matches!(self, Kind::Pod | Kind::ReplicaSet | Kind::Event)
    }
}

/// Key of a stored object.
pub type Key = (Kind, String, String);

/// The type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    /// The watch event `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One change to the store, as watches see it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: Kind,
    pub namespace: String,
    pub ctype: ChangeType,
    pub object: Value,
}

/// Why a write was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteError {
    NotFound,
    Conflict(String),
    AlreadyExists,
}

/// The store proper; lives behind the cluster's mutex.
pub struct Store {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// The resourceVersion before the oldest change still in `history`:
    /// a watch from an older version gets 410 Gone.
    history_floor: u64,
    tx: broadcast::Sender<Arc<Change>>,
    uid_counter: u64,
}

impl Store {
    /// An empty store keeping `history_limit` changes for watches.
    pub fn new(history_limit: usize) -> Store {
        Store {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit,
            history_floor: 1,
            tx: broadcast::channel(16384).0,
            uid_counter: 0,
        }
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Forget the history so far: seeding is not replayable, like a fresh
    /// apiserver whose watch cache starts at its current version.
    pub fn reset_history(&mut self) {
        self.history.clear();
        self.history_floor = self.rv;
    }

    /// Changes after `rv`, or `None` when `rv` is older than the history.
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Arc<Change>>> {
        if rv < self.history_floor {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    /// One object.
    pub fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<&Value> {
        self.objects.get(&(kind, ns.to_string(), name.to_string()))
    }

    /// Objects of `kind`, in one namespace or (`None`) all.
    pub fn list(&self, kind: Kind, ns: Option<&str>) -> Vec<&Value> {
        let lo = (kind, ns.unwrap_or("").to_string(), String::new());
        self.objects
            .range(lo..)
            .take_while(|((k, n, _), _)| *k == kind && ns.is_none_or(|ns| n == ns))
            .map(|(_, v)| v)
            .collect()
    }

    /// Objects of `kind` in `ns` whose name starts with `prefix`.
    pub fn list_prefix(&self, kind: Kind, ns: &str, prefix: &str) -> Vec<&Value> {
        let lo = (kind, ns.to_string(), prefix.to_string());
        self.objects
            .range(lo..)
            .take_while(|((k, n, name), _)| *k == kind && n == ns && name.starts_with(prefix))
            .map(|(_, v)| v)
            .collect()
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let n = self.uid_counter;
        format!(
            "5a4d{:04x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (n >> 16) & 0xffff,
            n & 0xffff,
            n % 0xfff,
            (n * 7) % 0xfff,
            n.wrapping_mul(0x9e37_79b9)
        )
    }

    fn emit(&mut self, kind: Kind, ns: &str, ctype: ChangeType, object: Value) {
        let change = Arc::new(Change {
            rv: self.rv,
            kind,
            namespace: ns.to_string(),
            ctype,
            object,
        });
        self.history.push_back(change.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(change);
    }

    /// Create an object: assigns uid, resourceVersion, creationTimestamp and
    /// generation.
    pub fn create(&mut self, kind: Kind, mut obj: Value) -> Result<Value, WriteError> {
        let ns = obj_ns(&obj).to_string();
        let name = obj_name(&obj).to_string();
        let key = (kind, ns.clone(), name);
        if self.objects.contains_key(&key) {
            return Err(WriteError::AlreadyExists);
        }
        self.rv += 1;
        let uid = self.next_uid();
        let meta = meta_mut(&mut obj);
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(self.rv.to_string()));
        if !meta.contains_key("creationTimestamp") {
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        }
        if kind.has_generation() {
            meta.insert("generation".into(), json!(1));
        }
        obj["apiVersion"] = json!(kind.api_version());
        obj["kind"] = json!(kind.kind());
        self.objects.insert(key, obj.clone());
        self.emit(kind, &ns, ChangeType::Added, obj.clone());
        Ok(obj)
    }

    /// Replace an object. When `expected_rv` is given it must match the
    /// stored resourceVersion (409 Conflict otherwise). Bumps
    /// metadata.generation when the spec changed.
    pub fn update(
        &mut self,
        kind: Kind,
        mut obj: Value,
        expected_rv: Option<&str>,
    ) -> Result<Value, WriteError> {
        let ns = obj_ns(&obj).to_string();
        let name = obj_name(&obj).to_string();
        let key = (kind, ns.clone(), name.clone());
        let Some(old) = self.objects.get(&key) else {
            return Err(WriteError::NotFound);
        };
        let old_rv = old["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if let Some(want) = expected_rv {
            if !want.is_empty() && want != old_rv {
                return Err(WriteError::Conflict(format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
                    kind.qualified(),
                    name
                )));
            }
        }
        if obj == *old {
            return Ok(obj);
        }
        let spec_changed = old.get("spec") != obj.get("spec");
        let old_meta = old["metadata"].clone();
        self.rv += 1;
        let rv = self.rv;
        let meta = meta_mut(&mut obj);
        // Server-owned metadata survives any client update.
        for field in ["uid", "creationTimestamp", "generation"] {
            match old_meta.get(field) {
                Some(v) => meta.insert(field.into(), v.clone()),
                None => meta.remove(field),
            };
        }
        if spec_changed && kind.has_generation() {
            let g = old_meta["generation"].as_i64().unwrap_or(1) + 1;
            meta.insert("generation".into(), json!(g));
        }
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        obj["apiVersion"] = json!(kind.api_version());
        obj["kind"] = json!(kind.kind());
        self.objects.insert(key, obj.clone());
        self.emit(kind, &ns, ChangeType::Modified, obj.clone());
        Ok(obj)
    }

    /// Remove an object; watchers see DELETED.
    pub fn delete(&mut self, kind: Kind, ns: &str, name: &str) -> Result<Value, WriteError> {
        let key = (kind, ns.to_string(), name.to_string());
        let Some(mut obj) = self.objects.remove(&key) else {
            return Err(WriteError::NotFound);
        };
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.emit(kind, ns, ChangeType::Deleted, obj.clone());
        Ok(obj)
    }
}

/// `metadata.namespace` or "".
pub fn obj_ns(obj: &Value) -> &str {
    obj["metadata"]["namespace"].as_str().unwrap_or("")
}

/// `metadata.name` or "".
pub fn obj_name(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or("")
}

/// `metadata` as a mutable map, created when missing.
pub fn meta_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// The current time as a Kubernetes timestamp.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
