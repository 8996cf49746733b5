//! A simulated Flux: the source-controller's `GitRepository` and the
//! kustomize-controller's `Kustomization` (both `v1`), served by the
//! sandbox API like any kind, and one controller task that does what the
//! two controllers do for them, on their interval (scaled by the sandbox
//! speed) and at once when `reconcile.fluxcd.io/requestedAt` changes (what
//! `flux reconcile kustomization NAME --with-source` sets):
//!
//! - a `GitRepository` resolves its branch in the (local, bare) repository
//!   its `spec.url` names and reports the artifact `BRANCH@sha1:SHA`;
//! - a `Kustomization` reads the YAML files under its `spec.path` at that
//!   revision and sets the image of every container of every Deployment
//!   they hold (in `spec.targetNamespace`, else the manifest's namespace),
//!   as a `kubectl set image` would; re-applied on every interval, so a
//!   change made by hand is reverted, as Flux does. A manifest it cannot
//!   read stalls it (`Ready=False`, `Stalled=True`, reason `BuildFailed`,
//!   Flux's message); a suspended one (`spec.suspend: true`) is left alone.
//!
//! Status fields and conditions follow Flux's published CRDs
//! (`lastAppliedRevision`, `lastAttemptedRevision`,
//! `lastHandledReconcileAt`, `observedGeneration`, `artifact.revision`).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};

use super::store::Kind;
use super::{rfc3339, Cluster};
use crate::DeployTarget;

/// The annotation `flux reconcile` sets to ask for a reconcile now.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// Where the sandbox's Flux objects live.
pub const NAMESPACE: &str = "flux-system";
/// How long applying a revision takes at speed 1 (Reconciling meanwhile).
const APPLY_SECS: f64 = 1.0;
/// Largest manifest file read.
const MAX_MANIFEST: usize = 1024 * 1024;

/// The fields Flux's CRDs require, checked on every write.
pub(crate) fn validate(kind: Kind, obj: Value) -> Result<Value, String> {
    let spec = obj
        .get("spec")
        .filter(|s| s.is_object())
        .ok_or("spec: Required value")?;
    let text = |field: &str| -> Result<&str, String> {
        spec.pointer(field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("spec{}: Required value", field.replace('/', ".")))
    };
    let interval = text("/interval")?;
    if parse_interval(interval).is_none() {
        return Err(format!(
            "spec.interval: Invalid value: \"{interval}\": spec.interval in body should match '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'"
        ));
    }
    match kind {
        Kind::GitRepository => {
            text("/url")?;
        }
        Kind::Kustomization => {
            if !spec["prune"].is_boolean() {
                return Err("spec.prune: Required value".into());
            }
            let source = text("/sourceRef/kind")?;
            if !["OCIRepository", "GitRepository", "Bucket"].contains(&source) {
                return Err(format!(
                    "spec.sourceRef.kind: Unsupported value: \"{source}\": supported values: \"OCIRepository\", \"GitRepository\", \"Bucket\""
                ));
            }
            text("/sourceRef/name")?;
        }
        _ => {}
    }
    if !spec["suspend"].is_null() && !spec["suspend"].is_boolean() {
        return Err("spec.suspend: Invalid value: must be a boolean".into());
    }
    Ok(obj)
}

/// `1m`, `30s`, `1h30m`, `500ms`: Go's duration syntax, as Flux's intervals use it.
pub fn parse_interval(s: &str) -> Option<Duration> {
    let mut total = 0.0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (unit, len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else {
            return None;
        };
        total += value * unit;
        rest = &rest[len..];
    }
    Some(Duration::from_secs_f64(total))
}

/// What the sandbox's Flux is seeded with: one `GitRepository` named
/// `gitops` and a `Kustomization` per environment (name, path).
pub struct FluxSeed {
    /// `file:///…/gitops.git`.
    pub url: String,
    pub branch: String,
    pub kustomizations: Vec<(String, String)>,
}

/// The name of the seeded `GitRepository`.
pub const SOURCE: &str = "gitops";

impl Cluster {
    /// Create the `flux-system` namespace and the Flux objects of `seed`.
    pub fn seed_flux(&self, seed: &FluxSeed) {
        let mut inner = self.lock();
        let created = rfc3339(Utc::now() - chrono::Duration::days(30));
        let _ = inner.store.create(
            Kind::Namespace,
            json!({"metadata": {"name": NAMESPACE, "creationTimestamp": created,
                "labels": {"kubernetes.io/metadata.name": NAMESPACE}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        );
        let _ = inner.store.create(
            Kind::GitRepository,
            json!({
                "metadata": {"name": SOURCE, "namespace": NAMESPACE, "creationTimestamp": created},
                "spec": {"interval": "1m", "url": seed.url, "ref": {"branch": seed.branch}, "timeout": "60s"},
            }),
        );
        for (name, path) in &seed.kustomizations {
            let _ = inner.store.create(
                Kind::Kustomization,
                json!({
                    "metadata": {"name": name, "namespace": NAMESPACE, "creationTimestamp": created},
                    "spec": {"interval": "1m", "path": path, "prune": true,
                        "sourceRef": {"kind": "GitRepository", "name": SOURCE}, "timeout": "2m"},
                }),
            );
        }
    }
}

/// Start the controller of `cluster`'s Flux objects; it sets images
/// through `deploy` (the cluster, or the cluster that holds the namespace).
pub fn spawn(cluster: &Arc<Cluster>, deploy: Arc<dyn DeployTarget>) {
    let weak = Arc::downgrade(cluster);
    tokio::spawn(run(weak, deploy));
}

type Key = (String, String);

#[derive(Default)]
struct Controller {
    /// When each object was last reconciled on its own (its interval).
    last: HashMap<(Kind, Key), Instant>,
    /// Kustomizations being applied: when the apply finishes, and what
    /// asked for it (the requestedAt it answers).
    applying: HashMap<Key, (Instant, Option<String>)>,
}

async fn run(cluster: Weak<Cluster>, deploy: Arc<dyn DeployTarget>) {
    let mut ctl = Controller::default();
    loop {
        let Some(c) = cluster.upgrade() else { return };
        ctl.sources(&c).await;
        ctl.kustomizations(&c, deploy.as_ref()).await;
        drop(c);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn key_of(obj: &Value) -> Key {
    (
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
    )
}

fn requested(obj: &Value) -> Option<String> {
    obj["metadata"]["annotations"][REQUESTED_AT]
        .as_str()
        .map(str::to_string)
}

/// Whether a reconcile was asked for and not handled yet.
fn asked(obj: &Value) -> bool {
    requested(obj).is_some_and(|r| obj["status"]["lastHandledReconcileAt"].as_str() != Some(&r))
}

fn ready_condition(obj: &Value) -> Option<&Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// Conditions as Flux writes them: a transition time that moves only when
/// the status of that type changes.
fn conditions(old: &Value, generation: i64, list: &[(&str, &str, &str, &str)]) -> Value {
    let now = rfc3339(Utc::now());
    let prior = old["status"]["conditions"].as_array();
    Value::Array(
        list.iter()
            .map(|(ty, status, reason, message)| {
                let since = prior
                    .and_then(|cs| {
                        cs.iter()
                            .find(|c| c["type"] == *ty && c["status"] == *status)
                    })
                    .and_then(|c| c["lastTransitionTime"].as_str())
                    .map_or_else(|| now.clone(), str::to_string);
                json!({"type": ty, "status": status, "reason": reason, "message": message,
                    "observedGeneration": generation, "lastTransitionTime": since})
            })
            .collect(),
    )
}

/// Write `status` on `kind` `key` when it changed.
fn set_status(c: &Cluster, kind: Kind, key: &Key, status: Value) {
    let mut inner = c.lock();
    let Some(mut obj) = inner.store.get(kind, &key.0, &key.1).cloned() else {
        return;
    };
    if obj["status"] == status {
        return;
    }
    obj["status"] = status;
    let _ = inner.store.update(kind, obj, None);
}

fn interval_of(c: &Cluster, obj: &Value) -> Duration {
    let d = obj["spec"]["interval"]
        .as_str()
        .and_then(parse_interval)
        .unwrap_or(Duration::from_secs(60));
    Duration::from_secs_f64(c.scaled(d.as_secs_f64()).max(0.05))
}

async fn git(dir: &str, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// The sha of `revision` (`main@sha1:SHA`).
fn revision_sha(revision: &str) -> Option<&str> {
    revision.rsplit_once("@sha1:").map(|(_, s)| s)
}

impl Controller {
    fn due(&self, c: &Cluster, kind: Kind, key: &Key, obj: &Value) -> bool {
        asked(obj)
            || self
                .last
                .get(&(kind, key.clone()))
                .is_none_or(|t| t.elapsed() >= interval_of(c, obj))
    }

    /// The source-controller: resolve each `GitRepository`'s branch.
    async fn sources(&mut self, c: &Arc<Cluster>) {
        let repos: Vec<Value> = c
            .lock()
            .store
            .list(Kind::GitRepository, None)
            .into_iter()
            .cloned()
            .collect();
        for repo in repos {
            let key = key_of(&repo);
            if repo["spec"]["suspend"] == true || !self.due(c, Kind::GitRepository, &key, &repo) {
                continue;
            }
            self.last
                .insert((Kind::GitRepository, key.clone()), Instant::now());
            let url = repo["spec"]["url"].as_str().unwrap_or("");
            let branch = repo["spec"]["ref"]["branch"].as_str().unwrap_or("main");
            let generation = repo["metadata"]["generation"].as_i64().unwrap_or(1);
            let resolved = match url.strip_prefix("file://") {
                Some(path) => git(path, &["rev-parse", "--verify", "-q", &format!("refs/heads/{branch}")])
                    .await
                    .map(|s| s.trim().to_string())
                    .map_err(|e| format!("failed to checkout and determine revision: unable to clone '{url}': reference 'refs/heads/{branch}' not found{}", if e.is_empty() { String::new() } else { format!(": {e}") })),
                None => Err(format!("failed to checkout and determine revision: unable to clone '{url}': the sandbox reaches file:// URLs only")),
            };
            let mut status = repo["status"].clone();
            if !status.is_object() {
                status = json!({});
            }
            status["observedGeneration"] = json!(generation);
            if let Some(r) = requested(&repo) {
                status["lastHandledReconcileAt"] = json!(r);
            }
            match resolved {
                Ok(sha) => {
                    let revision = format!("{branch}@sha1:{sha}");
                    if status["artifact"]["revision"] != revision.as_str() {
                        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
                            revision.as_bytes(),
                        ));
                        let path = format!("gitrepository/{}/{}/{sha}.tar.gz", key.0, key.1);
                        status["artifact"] = json!({
                            "revision": revision,
                            "digest": format!("sha256:{digest}"),
                            "lastUpdateTime": rfc3339(Utc::now()),
                            "path": path,
                            "url": format!("http://source-controller.{NAMESPACE}.svc.cluster.local./{path}"),
                            "size": 4096,
                        });
                    }
                    let message = format!("stored artifact for revision '{revision}'");
                    status["conditions"] = conditions(
                        &repo,
                        generation,
                        &[
                            ("Ready", "True", "Succeeded", &message),
                            ("ArtifactInStorage", "True", "Succeeded", &message),
                        ],
                    );
                }
                Err(message) => {
                    status["conditions"] = conditions(
                        &repo,
                        generation,
                        &[
                            ("Ready", "False", "GitOperationFailed", &message),
                            ("FetchFailed", "True", "GitOperationFailed", &message),
                        ],
                    );
                }
            }
            set_status(c, Kind::GitRepository, &key, status);
        }
    }

    /// The kustomize-controller: apply each `Kustomization`'s path at its
    /// source's revision.
    async fn kustomizations(&mut self, c: &Arc<Cluster>, deploy: &dyn DeployTarget) {
        let (list, sources): (Vec<Value>, Vec<Value>) = {
            let inner = c.lock();
            (
                inner
                    .store
                    .list(Kind::Kustomization, None)
                    .into_iter()
                    .cloned()
                    .collect(),
                inner
                    .store
                    .list(Kind::GitRepository, None)
                    .into_iter()
                    .cloned()
                    .collect(),
            )
        };
        for ks in list {
            let key = key_of(&ks);
            if ks["spec"]["suspend"] == true {
                self.applying.remove(&key);
                continue;
            }
            let generation = ks["metadata"]["generation"].as_i64().unwrap_or(1);
            let src_ns = ks["spec"]["sourceRef"]["namespace"]
                .as_str()
                .unwrap_or(&key.0);
            let src_name = ks["spec"]["sourceRef"]["name"].as_str().unwrap_or("");
            let revision = sources
                .iter()
                .find(|s| key_of(s) == (src_ns.to_string(), src_name.to_string()))
                .and_then(|s| s["status"]["artifact"]["revision"].as_str())
                .map(str::to_string);
            let Some(revision) = revision else {
                continue; // the source has no artifact yet
            };
            if let Some((at, asked_at)) = self.applying.get(&key).cloned() {
                if Instant::now() < at {
                    continue;
                }
                self.applying.remove(&key);
                self.apply(c, deploy, &key, &revision, generation, asked_at)
                    .await;
                continue;
            }
            let new_revision = ks["status"]["lastAttemptedRevision"] != revision.as_str();
            if !(new_revision || self.due(c, Kind::Kustomization, &key, &ks)) {
                continue;
            }
            self.last
                .insert((Kind::Kustomization, key.clone()), Instant::now());
            // Reconciling first, so that a follower sees the work start.
            let mut status = ks["status"].clone();
            if !status.is_object() {
                status = json!({});
            }
            let message = format!("Building manifests for revision {revision}");
            // Ready keeps its word during an interval's re-apply; a new
            // revision or an asked-for reconcile makes it Unknown.
            let keep = ready_condition(&ks)
                .filter(|_| !(new_revision || asked(&ks)))
                .map(|r| {
                    let f = |k: &str| r[k].as_str().unwrap_or("").to_string();
                    (f("status"), f("reason"), f("message"))
                });
            let (rs, rr, rm) = keep.unwrap_or_else(|| {
                (
                    "Unknown".into(),
                    "Progressing".into(),
                    "Reconciliation in progress".into(),
                )
            });
            let interval = !(new_revision || asked(&ks));
            let mut list = vec![
                (
                    "Reconciling",
                    "True",
                    "ProgressingWithRetry",
                    message.as_str(),
                ),
                ("Ready", rs.as_str(), rr.as_str(), rm.as_str()),
            ];
            // An interval's re-apply of a stalled revision is still stalled.
            let stalled = ks["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Stalled"))
                .filter(|c| interval && c["status"] == "True")
                .map(|c| {
                    let f = |k: &str| c[k].as_str().unwrap_or("").to_string();
                    (f("reason"), f("message"))
                });
            if let Some((reason, msg)) = &stalled {
                list.push(("Stalled", "True", reason.as_str(), msg.as_str()));
            }
            status["conditions"] = conditions(&ks, generation, &list);
            set_status(c, Kind::Kustomization, &key, status);
            let at = Instant::now() + Duration::from_secs_f64(c.scaled(APPLY_SECS));
            self.applying.insert(key, (at, requested(&ks)));
        }
    }

    async fn apply(
        &mut self,
        c: &Arc<Cluster>,
        deploy: &dyn DeployTarget,
        key: &Key,
        revision: &str,
        generation: i64,
        asked_at: Option<String>,
    ) {
        // Read it again: the object may have moved (or gone) meanwhile.
        let Some(ks) = c
            .lock()
            .store
            .get(Kind::Kustomization, &key.0, &key.1)
            .cloned()
        else {
            return;
        };
        let url = {
            let inner = c.lock();
            let src_ns = ks["spec"]["sourceRef"]["namespace"]
                .as_str()
                .unwrap_or(&key.0)
                .to_string();
            let src_name = ks["spec"]["sourceRef"]["name"].as_str().unwrap_or("");
            inner
                .store
                .get(Kind::GitRepository, &src_ns, src_name)
                .and_then(|s| s["spec"]["url"].as_str())
                .unwrap_or("")
                .to_string()
        };
        let result = build(&url, revision, &ks).await;
        let mut status = ks["status"].clone();
        if !status.is_object() {
            status = json!({});
        }
        status["observedGeneration"] = json!(generation);
        status["lastAttemptedRevision"] = json!(revision);
        if let Some(r) = asked_at {
            status["lastHandledReconcileAt"] = json!(r);
        }
        let outcome = match result {
            Err(message) => Err(("BuildFailed", message, true)),
            Ok(deployments) => {
                let mut failed = None;
                let mut inventory = Vec::new();
                for d in &deployments {
                    inventory.push(json!({"id": format!("{}_{}_apps_Deployment", d.namespace, d.name), "v": "v1"}));
                    for image in &d.images {
                        if let Err(e) = deploy.set_image(&d.namespace, &d.name, image) {
                            failed = Some(format!(
                                "Deployment/{}/{} dry-run failed: {e}",
                                d.namespace, d.name
                            ));
                        }
                    }
                }
                status["inventory"] = json!({"entries": inventory});
                match failed {
                    Some(m) => Err(("ReconciliationFailed", m, false)),
                    None => Ok(()),
                }
            }
        };
        match outcome {
            Ok(()) => {
                status["lastAppliedRevision"] = json!(revision);
                let message = format!("Applied revision: {revision}");
                status["conditions"] = conditions(
                    &ks,
                    generation,
                    &[("Ready", "True", "ReconciliationSucceeded", &message)],
                );
            }
            Err((reason, message, stalled)) => {
                let mut list = vec![("Ready", "False", reason, message.as_str())];
                if stalled {
                    list.push(("Stalled", "True", reason, message.as_str()));
                }
                status["conditions"] = conditions(&ks, generation, &list);
            }
        }
        set_status(c, Kind::Kustomization, key, status);
    }
}

/// A Deployment a manifest holds: where, and the images of its containers.
struct Manifested {
    namespace: String,
    name: String,
    images: Vec<String>,
}

/// "kustomize build": the Deployments of the YAML files under the
/// Kustomization's path at `revision`, or Flux's message for why not.
async fn build(url: &str, revision: &str, ks: &Value) -> Result<Vec<Manifested>, String> {
    use serde::Deserialize;
    let Some(repo) = url.strip_prefix("file://") else {
        return Err(format!("source '{url}' is not reachable"));
    };
    let Some(sha) = revision_sha(revision) else {
        return Err(format!("revision '{revision}' names no commit"));
    };
    let path = ks["spec"]["path"]
        .as_str()
        .unwrap_or("./")
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_string();
    let listed = git(repo, &["ls-tree", "-r", "--name-only", sha, "--", &path])
        .await
        .map_err(|e| format!("kustomization path not found: {e}"))?;
    let files: Vec<&str> = listed
        .lines()
        .filter(|f| f.ends_with(".yaml") || f.ends_with(".yml"))
        .filter(|f| !f.ends_with("kustomization.yaml"))
        .collect();
    if files.is_empty() {
        return Err(format!(
            "kustomization path not found: stat /tmp/kustomization/{path}: no such file or directory"
        ));
    }
    let target = ks["spec"]["targetNamespace"].as_str();
    let mut out = Vec::new();
    for file in files {
        let text = git(repo, &["show", &format!("{sha}:{file}")])
            .await
            .map_err(|e| format!("kustomize build failed: {file}: {e}"))?;
        if text.len() > MAX_MANIFEST {
            return Err(format!("kustomize build failed: {file}: larger than 1 MiB"));
        }
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc).map_err(|e| {
                format!("kustomize build failed: accumulating resources from '{file}': MalformedYAMLError: {e}")
            })?;
            if v.is_null() {
                continue;
            }
            if v["kind"] != "Deployment" {
                continue;
            }
            let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
            let namespace = target
                .or(v["metadata"]["namespace"].as_str())
                .unwrap_or("default")
                .to_string();
            let mut images = Vec::new();
            for list in ["initContainers", "containers"] {
                for ctr in v["spec"]["template"]["spec"][list]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    match ctr["image"].as_str() {
                        Some(i) if !i.trim().is_empty() => images.push(i.trim().to_string()),
                        _ => {
                            return Err(format!(
                                "kustomize build failed: {file}: Deployment/{namespace}/{name}: spec.template.spec.{list}[].image: Required value"
                            ))
                        }
                    }
                }
            }
            if name.is_empty() {
                return Err(format!(
                    "kustomize build failed: {file}: a Deployment has no metadata.name"
                ));
            }
            out.push(Manifested {
                namespace,
                name,
                images,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_go_durations() {
        assert_eq!(parse_interval("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_interval("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_interval("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_interval("5m0s"), Some(Duration::from_secs(300)));
        assert_eq!(parse_interval("1d"), None);
        assert_eq!(parse_interval(""), None);
    }

    #[test]
    fn flux_objects_need_what_their_crds_require() {
        let ks = json!({"metadata": {"name": "a"}, "spec": {"interval": "1m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "gitops"}}});
        assert!(validate(Kind::Kustomization, ks.clone()).is_ok());
        let mut bad = ks.clone();
        bad["spec"]["sourceRef"]["kind"] = json!("Git");
        assert!(validate(Kind::Kustomization, bad)
            .unwrap_err()
            .contains("Unsupported value"));
        let mut bad = ks;
        bad["spec"].as_object_mut().unwrap().remove("prune");
        assert_eq!(
            validate(Kind::Kustomization, bad).unwrap_err(),
            "spec.prune: Required value"
        );
        let repo =
            json!({"metadata": {"name": "g"}, "spec": {"interval": "1x", "url": "file:///x"}});
        assert!(validate(Kind::GitRepository, repo)
            .unwrap_err()
            .starts_with("spec.interval: Invalid value"));
    }
}
