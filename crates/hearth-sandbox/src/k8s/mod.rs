//! The sandbox Kubernetes API: an in-memory store of Namespaces,
//! Deployments, ReplicaSets, Pods and Events (`store`), a deployment
//! controller moving rollouts forward (`controller`, a tokio task spawned by
//! [`Cluster::new`]) with its pod lifecycles (`pods`), lazily generated pod
//! logs (`logs`) and the HTTP surface that the real `kubectl` and the `kube`
//! client accept (`api`, `table`, `patch`, `selector`), served by axum on its
//! own loopback port.

mod api;
pub mod auth;
mod controller;
pub mod flux;
mod helm;
mod logs;
mod openapi;
mod patch;
mod pods;
mod rollout;
mod selector;
mod store;
mod table;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{DemoService, DeployTarget, Faults, Journal};
pub use api::router;
pub use store::Kind;
use store::{Store, WriteError};

/// How many changes a watch can resume from; older versions get 410 Gone.
const HISTORY_LIMIT: usize = 4096;

/// The simulated cluster: the store plus the controller's side state, behind
/// one lock so that the controller and the handlers never see half a change.
pub struct Cluster {
    inner: Mutex<Inner>,
    /// Pace of the simulation: 1.0 ≈ a few seconds per pod, 10.0 ten times faster.
    speed: f64,
    faults: Arc<Faults>,
    journal: Arc<Journal>,
    /// Wakes the controller early after a write.
    wake: tokio::sync::Notify,
    /// Taken down (`--clusters 2`, to show one cluster unreachable): new
    /// connections are cut and requests on open ones answer 503.
    down: Arc<std::sync::atomic::AtomicBool>,
    /// The namespaces whose Deployments this cluster holds (`None`: all).
    only: Option<Vec<String>>,
}

/// Everything the lock protects.
pub(crate) struct Inner {
    pub store: Store,
    /// Per-pod clocks and fates, keyed by (namespace, pod name).
    pub pods: HashMap<(String, String), pods::PodClock>,
    /// Deployments the controller still has work on, (namespace, name).
    pub active: HashSet<(String, String)>,
    /// When each active deployment last made progress.
    pub progress_at: HashMap<(String, String), DateTime<Utc>>,
    /// Events in creation order, so the oldest can be dropped.
    pub events: VecDeque<(String, String)>,
    /// Source of unique suffixes, pod IPs and event names.
    pub counter: u64,
    /// The cluster CA (PEM) the token controller puts in token Secrets.
    pub ca_pem: String,
    /// How often each image reference (`repo:tag`) was pushed again since
    /// the sandbox started: a pod created after a push runs a new digest
    /// under the same tag, as a registry's moved `latest` does.
    pub pushed: HashMap<String, u32>,
}

impl Cluster {
    /// Seed a Deployment per demo service in `default` (prod tag) and `qa`
    /// (qa tag), with ready ReplicaSets and Pods, and start the controller.
    /// Needs a tokio runtime.
    pub fn new(
        services: &[DemoService],
        speed: f64,
        faults: Arc<Faults>,
        journal: Arc<Journal>,
    ) -> Arc<Cluster> {
        Cluster::holding(services, speed, faults, journal, None)
    }

    /// [`Cluster::new`] holding the Deployments of the namespaces in `only`
    /// (every namespace still exists), for a sandbox of two clusters.
    pub fn holding(
        services: &[DemoService],
        speed: f64,
        faults: Arc<Faults>,
        journal: Arc<Journal>,
        only: Option<Vec<String>>,
    ) -> Arc<Cluster> {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        let cluster = Arc::new(Cluster {
            inner: Mutex::new(Inner {
                store: Store::new(HISTORY_LIMIT),
                pods: HashMap::new(),
                active: HashSet::new(),
                progress_at: HashMap::new(),
                events: VecDeque::new(),
                counter: 0,
                ca_pem: String::new(),
                pushed: HashMap::new(),
            }),
            speed,
            faults,
            journal,
            wake: tokio::sync::Notify::new(),
            down: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            only,
        });
        cluster.seed(services);
        let weak = Arc::downgrade(&cluster);
        tokio::spawn(controller::run(weak));
        cluster
    }

    /// The CA (PEM) that signed the API's certificate: what the token
    /// controller writes as `ca.crt` into service-account token Secrets.
    pub fn set_ca(&self, pem: &str) {
        self.lock().ca_pem = pem.to_string();
    }

    /// Take the cluster down (`true`) or bring it back. Down, it cuts new
    /// connections and answers 503 on open ones, and its watches end.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
        if down {
            self.faults.apply(super::Fault::DropWatches);
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The flag the API's listener reads to cut connections while down.
    pub fn down_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.down.clone()
    }

    /// Whether this cluster holds the Deployments of `namespace`.
    pub fn holds(&self, namespace: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|n| n == namespace))
    }

    /// Push `image` (`repo:tag`) again with new content: pods created from
    /// now on run a new digest under the same tag; running pods keep
    /// theirs. Returns the new digest.
    pub fn push_image(&self, image: &str) -> String {
        let mut inner = self.lock();
        let n = inner.pushed.entry(image.to_string()).or_insert(0);
        *n += 1;
        pods::image_digest(image, *n)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds of simulated work scaled to wall-clock time.
    pub(crate) fn scaled(&self, secs: f64) -> f64 {
        secs / self.speed
    }

    fn seed(&self, services: &[DemoService]) {
        let mut inner = self.lock();
        let seeded_at = Utc::now() - chrono::Duration::hours(2);
        let mut namespaces = vec!["default", "qa"];
        for svc in services {
            if !namespaces.contains(&svc.qa_namespace.as_str()) {
                namespaces.push(&svc.qa_namespace);
            }
        }
        for ns in namespaces {
            let obj = json!({
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns},
                    "creationTimestamp": rfc3339(seeded_at - chrono::Duration::days(30))},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            });
            let _ = inner.store.create(Kind::Namespace, obj);
        }
        for svc in services {
            for (ns, tag) in [
                ("default", &svc.prod_tag),
                (svc.qa_namespace.as_str(), &svc.qa_tag),
            ] {
                if !self.holds(ns) {
                    continue;
                }
                let image = format!("{}:{}", svc.image, tag);
                let mut dep = seed_deployment(&svc.name, ns, &image, svc.replicas, seeded_at);
                let helm = helm::MANAGED.contains(&svc.name.as_str());
                if helm {
                    helm::mark(&mut dep, &svc.name, ns);
                }
                let dep = normalize(Kind::Deployment, dep).expect("seeded deployment is valid");
                if inner.store.create(Kind::Deployment, dep).is_ok() {
                    controller::seed_rollout(self, &mut inner, ns, &svc.name, seeded_at);
                    if helm {
                        helm::install(&mut inner, &svc.name, ns, tag, seeded_at);
                    }
                }
            }
        }
        inner.active.clear();
        inner.store.reset_history();
    }

    /// Mark a deployment as needing the controller's attention.
    fn touch(&self, inner: &mut Inner, ns: &str, name: &str) {
        inner.active.insert((ns.to_string(), name.to_string()));
        self.wake.notify_one();
    }
}

impl DeployTarget for Cluster {
    fn rollout_status(&self, namespace: &str, deployment: &str) -> Result<bool, String> {
        self.rollout_state(namespace, deployment)
    }

    fn set_image(&self, namespace: &str, deployment: &str, image: &str) -> Result<(), String> {
        let repo = image_repo(image);
        if repo.is_empty() {
            return Err(format!("invalid image reference {image:?}"));
        }
        let mut inner = self.lock();
        let Some(dep) = inner
            .store
            .get(Kind::Deployment, namespace, deployment)
            .cloned()
        else {
            return Err(format!(
                "deployments.apps \"{deployment}\" not found in namespace \"{namespace}\""
            ));
        };
        let mut new = dep.clone();
        let mut matched = false;
        for list in ["initContainers", "containers"] {
            if let Some(cs) = new["spec"]["template"]["spec"][list].as_array_mut() {
                for c in cs {
                    if c["image"].as_str().map(image_repo) == Some(repo) {
                        c["image"] = json!(image);
                        matched = true;
                    }
                }
            }
        }
        if !matched {
            return Err(format!(
                "no container of deployment {namespace}/{deployment} runs an image of {repo}"
            ));
        }
        if new == dep {
            // Already so (a GitOps re-apply): no write, no new revision.
            return Ok(());
        }
        let release = new["metadata"]["annotations"]["meta.helm.sh/release-name"]
            .as_str()
            .map(str::to_string);
        inner
            .store
            .update(Kind::Deployment, new, None)
            .map_err(|e| format!("{e:?}"))?;
        // A chart's Deployment is deployed by `helm upgrade`: a new revision.
        if let Some(release) = release {
            helm::upgrade(
                &mut inner,
                &release,
                namespace,
                image_tag(image),
                Utc::now(),
            );
        }
        self.touch(&mut inner, namespace, deployment);
        Ok(())
    }
}

/// Whether a chart deploys this demo Deployment (Helm labels, Helm's
/// release Secrets, a revision per deploy).
pub fn helm_managed(deployment: &str) -> bool {
    helm::MANAGED.contains(&deployment)
}

/// The repository part of an image reference (`ghcr.io/o/api:v1` →
/// `ghcr.io/o/api`); a `:` inside the registry host's port is kept.
pub(crate) fn image_repo(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// The tag of an image reference, `latest` when it has none.
pub(crate) fn image_tag(image: &str) -> &str {
    let repo = image_repo(image);
    image
        .get(repo.len()..)
        .and_then(|t| t.strip_prefix(':'))
        .filter(|t| !t.is_empty())
        .unwrap_or("latest")
}

/// Kubernetes-style timestamp (seconds, `Z`).
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn seed_deployment(name: &str, ns: &str, image: &str, replicas: i32, at: DateTime<Utc>) -> Value {
    let container = |cname: &str, extra: Value| {
        let mut c = json!({
            "name": cname,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File"
        });
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    };
    json!({
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": name},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "creationTimestamp": rfc3339(at)
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "initContainers": [container("migrate", json!({
                        "command": ["/app/migrate", "up"]
                    }))],
                    "containers": [container(name, json!({
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "env": [{"name": "SERVICE_NAME", "value": name}],
                        "readinessProbe": {
                            "httpGet": {"path": "/api/ready", "port": 8080, "scheme": "HTTP"},
                            "periodSeconds": 5, "timeoutSeconds": 1,
                            "successThreshold": 1, "failureThreshold": 3
                        }
                    }))],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "schedulerName": "default-scheduler",
                    "securityContext": {}
                }
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            },
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        },
        "status": {}
    })
}

/// A kubeconfig with one cluster and the admin user and context, all named
/// `hearth-sandbox` (the current context), pointing at `server_url` (whose
/// certificate `ca_pem` signed) with a static token; plus a user and a context `hearth-sandbox-NAME` for each of
/// `service_accounts` (name, namespace, token).
pub fn kubeconfig_yaml(
    server_url: &str,
    ca_pem: &str,
    service_accounts: &[(String, String, String)],
) -> String {
    kubeconfig_yaml_for(&[("hearth-sandbox", server_url)], ca_pem, service_accounts)
}

/// [`kubeconfig_yaml`] for several clusters (`name`, server URL), each
/// with an admin context of its name; the first is the current context
/// and the one the service accounts' contexts point at.
pub fn kubeconfig_yaml_for(
    clusters: &[(&str, &str)],
    ca_pem: &str,
    service_accounts: &[(String, String, String)],
) -> String {
    let ca = auth::encode_base64(ca_pem.as_bytes());
    let first = clusters.first().map_or("hearth-sandbox", |c| c.0);
    let mut cluster_list = String::new();
    let mut contexts = String::new();
    for (name, url) in clusters {
        cluster_list.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\n"
        ));
        contexts.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: hearth-sandbox\n    namespace: default\n"
        ));
    }
    let mut users = format!(
        "- name: hearth-sandbox\n  user:\n    token: {}\n",
        auth::ADMIN_TOKEN
    );
    for (name, ns, token) in service_accounts {
        contexts.push_str(&format!(
            "- name: hearth-sandbox-{name}\n  context:\n    cluster: {first}\n    user: {name}\n    namespace: {ns}\n"
        ));
        users.push_str(&format!("- name: {name}\n  user:\n    token: {token}\n"));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{cluster_list}contexts:\n{contexts}current-context: {first}\nusers:\n{users}preferences: {{}}\n"
    )
}

/// Why a create was refused.
pub(crate) enum CreateError {
    /// 422: the object is not valid (the message says why).
    Invalid(String),
    /// 404/409 from the store, with the object's name.
    Write(String, WriteError),
    /// 404: the namespace does not exist.
    NoNamespace(String),
}

/// Create an object as the apiserver would: name checked, server fields
/// dropped, defaults filled, validated against its type. A Secret's
/// `stringData` becomes `data`; a service-account token Secret is filled in
/// by the token controller (here, at once).
pub(crate) fn create_in(
    inner: &mut Inner,
    kind: Kind,
    ns: Option<&str>,
    mut obj: Value,
) -> Result<Value, CreateError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '.');
    if !valid {
        return Err(CreateError::Invalid(format!(
            "{} \"{name}\" is invalid: metadata.name: Invalid value: a lowercase RFC 1123 subdomain is required",
            kind.kind()
        )));
    }
    {
        let meta = store::meta_mut(&mut obj);
        for field in ["uid", "resourceVersion", "generation", "creationTimestamp"] {
            meta.remove(field);
        }
        match ns {
            Some(ns) => meta.insert("namespace".into(), json!(ns)),
            None => meta.remove("namespace"),
        };
    }
    if let Some(ns) = ns {
        if inner.store.get(Kind::Namespace, "", ns).is_none() {
            return Err(CreateError::NoNamespace(ns.to_string()));
        }
    }
    match kind {
        Kind::Namespace => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            store::meta_mut(&mut obj)
                .entry("labels")
                .or_insert_with(|| json!({}))["kubernetes.io/metadata.name"] = json!(name);
        }
        Kind::Secret => {
            if let Some(plain) = obj.get("stringData").and_then(Value::as_object).cloned() {
                for (k, v) in plain {
                    let text = v.as_str().unwrap_or("").as_bytes().to_vec();
                    obj["data"][k.as_str()] = json!(auth::encode_base64(&text));
                }
                obj.as_object_mut().map(|o| o.remove("stringData"));
            }
            if obj["type"].is_null() {
                obj["type"] = json!("Opaque");
            }
            if obj["type"] == auth::SA_TOKEN_TYPE {
                fill_token(inner, &mut obj);
            }
        }
        _ => {}
    }
    obj["apiVersion"] = json!(kind.api_version());
    obj["kind"] = json!(kind.kind());
    let obj = normalize(kind, obj)
        .map_err(|e| CreateError::Invalid(format!("{} \"{name}\" is invalid: {e}", kind.kind())))?;
    let created = inner
        .store
        .create(kind, obj)
        .map_err(|e| CreateError::Write(name.clone(), e))?;
    if kind == Kind::ServiceAccount {
        // Token Secrets written before their ServiceAccount get their token now.
        let ns = ns.unwrap_or("");
        let waiting: Vec<Value> = inner
            .store
            .list(Kind::Secret, Some(ns))
            .into_iter()
            .filter(|s| s["type"] == auth::SA_TOKEN_TYPE && s["data"]["token"].is_null())
            .filter(|s| s["metadata"]["annotations"][auth::SA_NAME_ANNOTATION] == name.as_str())
            .cloned()
            .collect();
        for mut secret in waiting {
            fill_token(inner, &mut secret);
            let _ = inner.store.update(Kind::Secret, secret, None);
        }
    }
    Ok(created)
}

/// The token controller: a token Secret whose ServiceAccount exists gets a
/// fresh token, the namespace and the cluster CA.
fn fill_token(inner: &Inner, secret: &mut Value) {
    let ns = secret["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let Some(sa) = secret["metadata"]["annotations"][auth::SA_NAME_ANNOTATION]
        .as_str()
        .map(str::to_string)
    else {
        return;
    };
    if inner.store.get(Kind::ServiceAccount, &ns, &sa).is_none() {
        return;
    }
    let bytes: [u8; 24] = rand::random();
    let token = format!("hearth-sandbox-sa.{}", hex::encode(bytes));
    secret["data"]["token"] = json!(auth::encode_base64(token.as_bytes()));
    secret["data"]["namespace"] = json!(auth::encode_base64(ns.as_bytes()));
    secret["data"]["ca.crt"] = json!(auth::encode_base64(inner.ca_pem.as_bytes()));
}

impl Cluster {
    /// Create every object of a multi-document YAML manifest (as the admin
    /// would with `kubectl create -f`), in order; objects that exist are
    /// left alone. Returns the ServiceAccounts it created, (namespace, name).
    pub fn apply_manifest(&self, yaml: &str) -> anyhow::Result<Vec<(String, String)>> {
        use serde::Deserialize;
        let mut accounts = Vec::new();
        let mut inner = self.lock();
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let v: Value = Value::deserialize(doc)?;
            if v.is_null() {
                continue;
            }
            let kind_name = v["kind"].as_str().unwrap_or("").to_string();
            let kind = Kind::from_kind(&kind_name)
                .filter(|k| k.creatable())
                .ok_or_else(|| anyhow::anyhow!("the sandbox does not serve kind {kind_name:?}"))?;
            let ns = kind.namespaced().then(|| {
                v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
                    .to_string()
            });
            match create_in(&mut inner, kind, ns.as_deref(), v) {
                Ok(obj) if kind == Kind::ServiceAccount => accounts.push((
                    ns.unwrap_or_default(),
                    obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
                )),
                Ok(_) | Err(CreateError::Write(_, WriteError::AlreadyExists)) => {}
                Err(CreateError::Invalid(m)) => anyhow::bail!("{m}"),
                Err(CreateError::NoNamespace(n)) => anyhow::bail!("namespaces \"{n}\" not found"),
                Err(CreateError::Write(n, e)) => anyhow::bail!("{kind_name} {n}: {e:?}"),
            }
        }
        inner.store.reset_history();
        Ok(accounts)
    }

    /// A token for a ServiceAccount: the `NAME-token` Secret's, created
    /// (and filled in by the token controller) when missing.
    pub fn service_account_token(&self, ns: &str, name: &str) -> anyhow::Result<String> {
        let secret_name = format!("{name}-token");
        let mut inner = self.lock();
        if inner.store.get(Kind::Secret, ns, &secret_name).is_none() {
            let secret = json!({
                "metadata": {"name": secret_name, "namespace": ns,
                    "annotations": {auth::SA_NAME_ANNOTATION: name}},
                "type": auth::SA_TOKEN_TYPE
            });
            match create_in(&mut inner, Kind::Secret, Some(ns), secret) {
                Ok(_) => {}
                Err(CreateError::Invalid(m)) => anyhow::bail!("{m}"),
                Err(CreateError::NoNamespace(n)) => anyhow::bail!("namespaces \"{n}\" not found"),
                Err(CreateError::Write(n, e)) => anyhow::bail!("secret {n}: {e:?}"),
            }
        }
        let secret = inner
            .store
            .get(Kind::Secret, ns, &secret_name)
            .ok_or_else(|| anyhow::anyhow!("no secret {secret_name}"))?;
        secret["data"]["token"]
            .as_str()
            .and_then(auth::decode_base64)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| anyhow::anyhow!("the ServiceAccount {ns}/{name} does not exist"))
    }
}

/// Validate an object against its Kubernetes type and drop what the type
/// does not know (nulls, unknown fields), so stored objects compare equal
/// whatever client wrote them.
pub(crate) fn normalize(kind: Kind, obj: Value) -> Result<Value, String> {
    use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, rbac::v1 as rbac};
    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
        v: Value,
    ) -> Result<Value, String> {
        let typed: T = serde_json::from_value(v).map_err(|e| e.to_string())?;
        serde_json::to_value(typed).map_err(|e| e.to_string())
    }
    match kind {
        Kind::Deployment => round_trip::<apps::Deployment>(obj),
        Kind::ReplicaSet => round_trip::<apps::ReplicaSet>(obj),
        Kind::Pod => round_trip::<core::Pod>(obj),
        Kind::Event => round_trip::<core::Event>(obj),
        Kind::Namespace => round_trip::<core::Namespace>(obj),
        Kind::ServiceAccount => round_trip::<core::ServiceAccount>(obj),
        Kind::Secret => round_trip::<core::Secret>(obj),
        Kind::Role => round_trip::<rbac::Role>(obj),
        Kind::RoleBinding => round_trip::<rbac::RoleBinding>(obj),
        Kind::ClusterRole => round_trip::<rbac::ClusterRole>(obj),
        Kind::ClusterRoleBinding => round_trip::<rbac::ClusterRoleBinding>(obj),
        Kind::GitRepository | Kind::Kustomization => flux::validate(kind, obj),
    }
}

/// How long the controller sleeps between ticks when nothing wakes it.
fn tick() -> Duration {
    Duration::from_millis(50)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_parts() {
        assert_eq!(image_repo("ghcr.io/o/api:v1.2.3"), "ghcr.io/o/api");
        assert_eq!(image_tag("ghcr.io/o/api:v1.2.3"), "v1.2.3");
        assert_eq!(image_repo("localhost:5000/api"), "localhost:5000/api");
        assert_eq!(image_tag("localhost:5000/api"), "latest");
        assert_eq!(image_repo("api@sha256:abc"), "api");
    }
}
