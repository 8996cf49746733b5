//! The deployment and replica-set controllers of the sandbox cluster, run
//! as one tokio task spawned by `Cluster::new`: template changes become new
//! (or reused) ReplicaSets, rolling updates honour maxSurge/maxUnavailable
//! with Kubernetes' rounding, pods walk Pending → Init (migrate) →
//! PodInitializing → Running → Ready on a clock scaled by the cluster's
//! speed, and Deployment status and conditions follow what really happened.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::pods::{advance_pod, is_available, is_ready, PodClock};
use super::store::{meta_mut, obj_name, Kind};
use super::{rfc3339, tick, Cluster, Inner};

/// Simulated seconds a deleted pod stays Terminating.
const TERMINATING: f64 = 1.0;
/// At most this many Events are kept; older ones are deleted.
const MAX_EVENTS: usize = 3000;
const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

/// The controller loop: reconcile active deployments every tick, or sooner
/// when a write wakes it. Ends when the cluster is dropped.
pub(crate) async fn run(cluster: Weak<Cluster>) {
    loop {
        let Some(c) = cluster.upgrade() else { return };
        step(&c, Utc::now());
        let notified = c.wake.notified();
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(tick()) => {}
        }
    }
}

fn step(c: &Arc<Cluster>, now: DateTime<Utc>) {
    let mut inner = c.lock();
    let keys: Vec<(String, String)> = inner.active.iter().cloned().collect();
    for (ns, name) in keys {
        if !reconcile(c, &mut inner, &ns, &name, now, false) {
            inner.active.remove(&(ns.clone(), name.clone()));
            inner.progress_at.remove(&(ns, name));
        }
    }
}

/// Bring a freshly seeded deployment to a finished rollout at once.
pub(crate) fn seed_rollout(
    c: &Cluster,
    inner: &mut Inner,
    ns: &str,
    name: &str,
    at: DateTime<Utc>,
) {
    reconcile(c, inner, ns, name, at, true);
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

pub(crate) fn uid(v: &Value) -> String {
    v["metadata"]["uid"].as_str().unwrap_or("").to_string()
}

fn revision(v: &Value) -> i64 {
    v["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn owned_by(v: &Value, owner_uid: &str) -> bool {
    v["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
}

/// A template as the deployment holds it: the ReplicaSet's own template
/// minus its `pod-template-hash` label.
fn strip_hash(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    t
}

/// Serialise with sorted keys so equal templates hash equally.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<_, _> = m.iter().collect();
            out.push('{');
            for (k, v) in sorted {
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push(':');
                canonical(v, out);
                out.push(',');
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for v in a {
                canonical(v, out);
                out.push(',');
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Kubernetes-looking template hash: digits of a 32-bit hash mapped through
/// the alphabet Kubernetes uses for generated names.
pub(crate) fn template_hash(template: &Value) -> String {
    let mut s = String::new();
    canonical(template, &mut s);
    let digest = Sha256::digest(s.as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    safe_encode(&n.to_string())
}

const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char)
        .collect()
}

fn random_suffix(inner: &mut Inner) -> String {
    inner.counter += 1;
    let mut x = inner
        .counter
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .rotate_left(17);
    (0..5)
        .map(|_| {
            let c = ALPHANUMS[(x % ALPHANUMS.len() as u64) as usize] as char;
            x /= ALPHANUMS.len() as u64;
            c
        })
        .collect()
}

/// Resolve an intOrString like `25%` against `total`, rounding up or down.
fn int_or_percent(v: &Value, total: i64, round_up: bool, default_pct: f64) -> i64 {
    let pct = match v {
        Value::Number(n) => return n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().unwrap_or(default_pct),
            None => return s.trim().parse().unwrap_or(0),
        },
        _ => default_pct,
    };
    let x = pct * total as f64 / 100.0;
    if round_up {
        x.ceil() as i64
    } else {
        x.floor() as i64
    }
}

/// Record a core/v1 Event about an object, keeping at most `MAX_EVENTS`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_event(
    inner: &mut Inner,
    ns: &str,
    kind: Kind,
    name: &str,
    obj_uid: &str,
    etype: &str,
    reason: &str,
    message: &str,
    component: &str,
    now: DateTime<Utc>,
) {
    let ts = rfc3339(now);
    // A repeat of a recent event bumps its count, as the kubelet's and the
    // controllers' event recorders do.
    let repeat = inner.events.iter().rev().take(64).find_map(|(ens, ename)| {
        let ev = inner.store.get(Kind::Event, ens, ename)?;
        let same = ens == ns
            && ev["involvedObject"]["uid"] == obj_uid
            && ev["reason"] == reason
            && ev["message"] == message;
        same.then(|| ev.clone())
    });
    if let Some(mut ev) = repeat {
        ev["count"] = json!(ev["count"].as_i64().unwrap_or(1) + 1);
        ev["lastTimestamp"] = json!(ts);
        let _ = inner.store.update(Kind::Event, ev, None);
        return;
    }
    inner.counter += 1;
    let ename = format!("{name}.{:016x}", 0x1870_0000_0000_0000u64 + inner.counter);
    let ev = json!({
        "metadata": {"name": ename, "namespace": ns, "creationTimestamp": ts},
        "involvedObject": {
            "kind": kind.kind(), "namespace": ns, "name": name, "uid": obj_uid,
            "apiVersion": kind.api_version()
        },
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "count": 1,
        "type": etype,
        "reportingComponent": component,
        "reportingInstance": ""
    });
    if inner.store.create(Kind::Event, ev).is_ok() {
        inner.events.push_back((ns.to_string(), ename));
    }
    while inner.events.len() > MAX_EVENTS {
        if let Some((ons, oname)) = inner.events.pop_front() {
            let _ = inner.store.delete(Kind::Event, &ons, &oname);
        }
    }
}

/// What one reconcile pass is about.
struct Pass<'a> {
    ns: &'a str,
    name: &'a str,
    dep: &'a Value,
    dep_uid: String,
    replicas: i64,
    now: DateTime<Utc>,
    seeding: bool,
}

/// The replica totals of a deployment's pods.
#[derive(Clone, Copy, Default)]
struct Totals {
    replicas: i64,
    ready: i64,
    available: i64,
    /// Pods (terminating ones included) of the old ReplicaSets.
    old_pods: i64,
}

/// One reconcile pass over a deployment. Returns whether it still needs
/// attention (a rollout or pod transition in progress).
pub(crate) fn reconcile(
    c: &Cluster,
    inner: &mut Inner,
    ns: &str,
    name: &str,
    now: DateTime<Utc>,
    seeding: bool,
) -> bool {
    let Some(dep) = inner.store.get(Kind::Deployment, ns, name).cloned() else {
        return false;
    };
    let pass = Pass {
        ns,
        name,
        dep: &dep,
        dep_uid: uid(&dep),
        replicas: dep["spec"]["replicas"].as_i64().unwrap_or(1).max(0),
        now,
        seeding,
    };
    let paused = dep["spec"]["paused"].as_bool().unwrap_or(false);
    // 1. The ReplicaSets of this deployment, and which one is "new".
    let Some((mut rss, new_idx)) = replica_sets(inner, &pass, paused) else {
        return true;
    };
    // 2. Pods: advance their clocks, finish terminations.
    let (mut pods, mut transitions) = advance_pods(c, inner, &rss, &pass);
    // 3. Rolling update arithmetic, as the Kubernetes deployment controller.
    let limits = Limits::of(&dep, pass.replicas);
    let available: Vec<i64> = pods
        .iter()
        .map(|ps| ps.iter().filter(|p| is_available(p)).count() as i64)
        .collect();
    let current: Vec<i64> = rss.iter().map(|rs| int(&rs["spec"]["replicas"])).collect();
    let mut olds: Vec<usize> = (0..rss.len()).filter(|&i| Some(i) != new_idx).collect();
    olds.sort_by_key(|&i| revision(&rss[i]));
    let spec = match new_idx {
        Some(n) if !paused || olds.iter().all(|&i| current[i] == 0) => {
            limits.plan(n, &olds, &current, &available)
        }
        _ => current.clone(),
    };
    // 4. Write spec changes and sync pods to them.
    scale(c, inner, &pass, &mut rss, &mut pods, &spec, limits);
    // 5. ReplicaSet statuses.
    let totals = replica_set_statuses(inner, &pass, &mut rss, &pods, new_idx, &mut transitions);
    // 6. Deployment status and conditions.
    let complete = deployment_status(c, inner, &pass, &rss, new_idx, totals, limits, paused);
    if paused {
        return transitions;
    }
    if let Some(n) = new_idx.filter(|_| complete && !transitions && totals.old_pods == 0) {
        let limit = dep["spec"]["revisionHistoryLimit"]
            .as_i64()
            .unwrap_or(10)
            .max(0) as usize;
        prune_history(inner, ns, &rss, n, limit);
    }
    !complete || transitions || totals.old_pods > 0
}

/// The deployment's ReplicaSets and the index of the new one (the one whose
/// template is the deployment's; created unless paused). A rollback to an
/// older template makes its ReplicaSet the newest revision, as in
/// Kubernetes. `None` when a new ReplicaSet could not be stored.
fn replica_sets(
    inner: &mut Inner,
    pass: &Pass<'_>,
    paused: bool,
) -> Option<(Vec<Value>, Option<usize>)> {
    let dep = pass.dep;
    let template = dep["spec"]["template"].clone();
    let mut rss: Vec<Value> = inner
        .store
        .list_prefix(Kind::ReplicaSet, pass.ns, &format!("{}-", pass.name))
        .into_iter()
        .filter(|rs| owned_by(rs, &pass.dep_uid))
        .cloned()
        .collect();
    let max_rev = rss.iter().map(revision).max().unwrap_or(0);
    let new_idx = match rss
        .iter()
        .position(|rs| strip_hash(&rs["spec"]["template"]) == template)
    {
        Some(i) => {
            if revision(&rss[i]) < max_rev {
                let old_rev = revision(&rss[i]);
                let ann = meta_mut(&mut rss[i])
                    .entry("annotations")
                    .or_insert_with(|| json!({}));
                ann[REVISION] = json!((max_rev + 1).to_string());
                let history = match ann["deployment.kubernetes.io/revision-history"].as_str() {
                    Some(h) if !h.is_empty() => format!("{h},{old_rev}"),
                    _ => old_rev.to_string(),
                };
                ann["deployment.kubernetes.io/revision-history"] = json!(history);
            }
            Some(i)
        }
        // A paused deployment keeps its template change to itself: no new
        // ReplicaSet, no rolling, until it is resumed.
        None if paused => None,
        None => {
            let hash = template_hash(&template);
            let rs = new_replica_set(dep, &template, &hash, max_rev + 1, pass.now);
            let rs = inner.store.create(Kind::ReplicaSet, rs).ok()?;
            rss.push(rs);
            Some(rss.len() - 1)
        }
    };
    let change_cause = dep["metadata"]["annotations"]["kubernetes.io/change-cause"].clone();
    if let Some(n) = new_idx.filter(|_| !change_cause.is_null()) {
        let ann = meta_mut(&mut rss[n])
            .entry("annotations")
            .or_insert_with(|| json!({}));
        ann["kubernetes.io/change-cause"] = change_cause;
    }
    Some((rss, new_idx))
}

/// Each ReplicaSet's pods with their clocks advanced and finished
/// terminations removed; whether any pod is still in transition.
fn advance_pods(
    c: &Cluster,
    inner: &mut Inner,
    rss: &[Value],
    pass: &Pass<'_>,
) -> (Vec<Vec<Value>>, bool) {
    let mut pods: Vec<Vec<Value>> = Vec::with_capacity(rss.len());
    let mut transitions = false;
    for rs in rss {
        let rs_uid = uid(rs);
        let rs_pods: Vec<Value> = inner
            .store
            .list_prefix(Kind::Pod, pass.ns, &format!("{}-", obj_name(rs)))
            .into_iter()
            .filter(|p| owned_by(p, &rs_uid))
            .cloned()
            .collect();
        let mut kept = Vec::new();
        for pod in rs_pods {
            let pkey = (pass.ns.to_string(), obj_name(&pod).to_string());
            let Some(clock) = inner.pods.get(&pkey).cloned() else {
                kept.push(pod);
                continue;
            };
            if let Some(at) = clock.deleting_at {
                if pass.now >= at || pass.seeding {
                    let _ = inner.store.delete(Kind::Pod, &pkey.0, &pkey.1);
                    inner.pods.remove(&pkey);
                } else {
                    transitions = true;
                    kept.push(pod);
                }
                continue;
            }
            let pod = advance_pod(c, inner, pod, &clock, pass.now, pass.seeding);
            if !is_ready(&pod) {
                transitions = true;
            }
            kept.push(pod);
        }
        pods.push(kept);
    }
    (pods, transitions)
}

/// Write each ReplicaSet's wanted replicas (with the scaling events and the
/// desired/max annotations) and sync its pods to it.
fn scale(
    c: &Cluster,
    inner: &mut Inner,
    pass: &Pass<'_>,
    rss: &mut [Value],
    pods: &mut [Vec<Value>],
    spec: &[i64],
    limits: Limits,
) {
    for i in 0..rss.len() {
        let before = int(&rss[i]["spec"]["replicas"]);
        if spec[i] != before {
            rss[i]["spec"]["replicas"] = json!(spec[i]);
            let verb = if spec[i] > before { "up" } else { "down" };
            let msg = format!(
                "Scaled {verb} replica set {} from {before} to {}",
                obj_name(&rss[i]),
                spec[i]
            );
            record_event(
                inner,
                pass.ns,
                Kind::Deployment,
                pass.name,
                &pass.dep_uid,
                "Normal",
                "ScalingReplicaSet",
                &msg,
                "deployment-controller",
                pass.now,
            );
        }
        let ann = meta_mut(&mut rss[i])
            .entry("annotations")
            .or_insert_with(|| json!({}));
        ann["deployment.kubernetes.io/desired-replicas"] = json!(limits.replicas.to_string());
        ann["deployment.kubernetes.io/max-replicas"] =
            json!((limits.replicas + limits.max_surge).to_string());
        let rs_pods = std::mem::take(&mut pods[i]);
        pods[i] = sync_pods(c, inner, &rss[i], rs_pods, spec[i], pass);
    }
}

/// Each ReplicaSet's status from its pods, stored when it changed; the
/// deployment's totals.
fn replica_set_statuses(
    inner: &mut Inner,
    pass: &Pass<'_>,
    rss: &mut [Value],
    pods: &[Vec<Value>],
    new_idx: Option<usize>,
    transitions: &mut bool,
) -> Totals {
    let mut totals = Totals::default();
    for i in 0..rss.len() {
        let live: Vec<&Value> = pods[i]
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        if live.len() != pods[i].len() {
            *transitions = true;
        }
        let n = live.len() as i64;
        let ready = live.iter().filter(|p| is_ready(p)).count() as i64;
        let avail = live.iter().filter(|p| is_available(p)).count() as i64;
        let mut status = json!({
            "replicas": n,
            "fullyLabeledReplicas": n,
            "observedGeneration": rss[i]["metadata"]["generation"].as_i64().unwrap_or(1)
        });
        if ready > 0 {
            status["readyReplicas"] = json!(ready);
        }
        if avail > 0 {
            status["availableReplicas"] = json!(avail);
        }
        rss[i]["status"] = status;
        if Some(i) != new_idx {
            totals.old_pods += pods[i].len() as i64;
        }
        totals.replicas += n;
        totals.ready += ready;
        totals.available += avail;
        let stored = inner
            .store
            .get(Kind::ReplicaSet, pass.ns, obj_name(&rss[i]))
            .cloned();
        if stored.as_ref() != Some(&rss[i]) {
            let _ = inner.store.update(Kind::ReplicaSet, rss[i].clone(), None);
        }
    }
    totals
}

/// The deployment's status and its `Progressing` / `Available` conditions
/// (with `ProgressDeadlineExceeded` when stuck past the deadline), stored
/// when changed. Returns whether the rollout is complete.
#[allow(clippy::too_many_arguments)]
fn deployment_status(
    c: &Cluster,
    inner: &mut Inner,
    pass: &Pass<'_>,
    rss: &[Value],
    new_idx: Option<usize>,
    totals: Totals,
    limits: Limits,
    paused: bool,
) -> bool {
    let dep = pass.dep;
    let replicas = pass.replicas;
    let now = pass.now;
    let key = (pass.ns.to_string(), pass.name.to_string());
    let new_name = new_idx.map_or(String::new(), |n| obj_name(&rss[n]).to_string());
    let Totals {
        replicas: status_replicas,
        ready,
        available: avail,
        ..
    } = totals;
    let updated = new_idx.map_or(0, |n| int(&rss[n]["status"]["replicas"]));
    let old = &dep["status"];
    let generation = dep["metadata"]["generation"].as_i64().unwrap_or(1);
    let observed_before = old["observedGeneration"].as_i64().unwrap_or(0);
    let complete = updated == replicas && status_replicas == replicas && avail == replicas;
    let progressed = generation > observed_before
        || updated > int(&old["updatedReplicas"])
        || status_replicas - updated < int(&old["replicas"]) - int(&old["updatedReplicas"])
        || ready > int(&old["readyReplicas"])
        || avail > int(&old["availableReplicas"]);
    if progressed || pass.seeding {
        inner.progress_at.insert(key.clone(), now);
    }
    let last_progress = *inner.progress_at.entry(key).or_insert(now);
    let deadline = dep["spec"]["progressDeadlineSeconds"]
        .as_i64()
        .unwrap_or(600) as f64;
    let old_conds = old["conditions"].as_array().cloned().unwrap_or_default();
    let old_cond = |t: &str| old_conds.iter().find(|c| c["type"] == t).cloned();
    let (p_status, p_reason, p_msg) = if paused {
        (
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".to_string(),
        )
    } else if complete {
        (
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else if !progressed
        && (now - last_progress).num_milliseconds() as f64 / 1000.0 > c.scaled(deadline)
    {
        (
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{new_name}\" has timed out progressing."),
        )
    } else {
        (
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    };
    let min_ok = avail >= replicas - limits.max_unavailable;
    let (a_status, a_reason, a_msg) = if min_ok {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    let cond = |t: &str, status: &str, reason: &str, msg: &str, touch: bool| {
        let prev = old_cond(t);
        let same = prev
            .as_ref()
            .is_some_and(|p| p["status"] == status && p["reason"] == reason);
        let ts = rfc3339(now);
        let transition = match &prev {
            Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
            _ => json!(ts),
        };
        let update = match &prev {
            Some(p) if same && !touch => p["lastUpdateTime"].clone(),
            _ => json!(ts),
        };
        json!({"type": t, "status": status, "lastUpdateTime": update,
            "lastTransitionTime": transition, "reason": reason, "message": msg})
    };
    let mut status = json!({
        "observedGeneration": generation,
        "replicas": status_replicas,
        "updatedReplicas": updated,
        "conditions": [
            cond("Available", a_status, a_reason, a_msg, false),
            cond("Progressing", p_status, p_reason, &p_msg, progressed && !complete),
        ]
    });
    if ready > 0 {
        status["readyReplicas"] = json!(ready);
    }
    if avail > 0 {
        status["availableReplicas"] = json!(avail);
    }
    if replicas - avail > 0 {
        status["unavailableReplicas"] = json!(replicas - avail);
    }
    if p_reason == "ProgressDeadlineExceeded"
        && old_cond("Progressing").is_some_and(|p| p["reason"] != p_reason)
    {
        let msg = format!("ReplicaSet \"{new_name}\" has timed out progressing.");
        record_event(
            inner,
            pass.ns,
            Kind::Deployment,
            pass.name,
            &pass.dep_uid,
            "Warning",
            "ProgressDeadlineExceeded",
            &msg,
            "deployment-controller",
            now,
        );
    }
    let new_rev = new_idx.map(|n| revision(&rss[n]));
    let mut new_dep = dep.clone();
    new_dep["status"] = status;
    let ann = meta_mut(&mut new_dep)
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if let Some(rev) = new_rev {
        ann[REVISION] = json!(rev.to_string());
    }
    if new_dep != *dep {
        let _ = inner.store.update(Kind::Deployment, new_dep, None);
    }
    complete
}

/// Delete old, scaled-down ReplicaSets beyond `revisionHistoryLimit`, oldest
/// first, as the Kubernetes deployment controller does.
fn prune_history(inner: &mut Inner, ns: &str, rss: &[Value], new_idx: usize, limit: usize) {
    let mut olds: Vec<&Value> = rss
        .iter()
        .enumerate()
        .filter(|(i, rs)| *i != new_idx && int(&rs["spec"]["replicas"]) == 0)
        .map(|(_, rs)| rs)
        .collect();
    if olds.len() <= limit {
        return;
    }
    olds.sort_by_key(|rs| revision(rs));
    let excess = olds.len() - limit;
    for rs in olds.into_iter().take(excess) {
        let _ = inner.store.delete(Kind::ReplicaSet, ns, obj_name(rs));
    }
}

/// The bounds of a rolling update, resolved against the replica count.
#[derive(Clone, Copy, Debug)]
struct Limits {
    replicas: i64,
    max_surge: i64,
    max_unavailable: i64,
}

impl Limits {
    /// The limits of a deployment's strategy (`Recreate`: no surge, all unavailable).
    fn of(dep: &Value, replicas: i64) -> Limits {
        let strategy = &dep["spec"]["strategy"];
        let recreate = strategy["type"] == "Recreate";
        let ru = &strategy["rollingUpdate"];
        let max_surge = if recreate {
            0
        } else {
            int_or_percent(&ru["maxSurge"], replicas, true, 25.0)
        };
        let mut max_unavailable = if recreate {
            replicas
        } else {
            int_or_percent(&ru["maxUnavailable"], replicas, false, 25.0)
        };
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        Limits {
            replicas,
            max_surge,
            max_unavailable,
        }
    }

    /// One step of the Kubernetes rolling update: the wanted spec replicas
    /// of every ReplicaSet, given their `current` spec and `available` pods.
    /// `olds` are the old ReplicaSets' indices, oldest first.
    fn plan(&self, new_idx: usize, olds: &[usize], current: &[i64], available: &[i64]) -> Vec<i64> {
        let replicas = self.replicas;
        let mut spec = current.to_vec();
        if olds.iter().all(|&i| spec[i] == 0) {
            // Nothing to replace: the new ReplicaSet simply follows the scale.
            spec[new_idx] = replicas;
            return spec;
        }
        // Scale the new ReplicaSet up within maxSurge.
        let total: i64 = spec.iter().sum();
        let allowed = replicas + self.max_surge;
        if spec[new_idx] > replicas {
            spec[new_idx] = replicas;
        } else if total < allowed && spec[new_idx] < replicas {
            spec[new_idx] = replicas.min(spec[new_idx] + allowed - total);
        }
        // Scale old ones down without going under maxUnavailable.
        let min_available = replicas - self.max_unavailable;
        let all_pods: i64 = spec.iter().sum();
        let new_unavailable = (spec[new_idx] - available[new_idx]).max(0);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return spec;
        }
        // First drop old pods that are not available anyway.
        let mut cleaned = 0;
        for &i in olds {
            if cleaned >= max_scaled_down {
                break;
            }
            let unhealthy = (spec[i] - available[i]).max(0);
            let n = unhealthy.min(max_scaled_down - cleaned);
            spec[i] -= n;
            cleaned += n;
        }
        // Then as many available ones as availability allows.
        let available_total: i64 = (0..spec.len()).map(|i| available[i].min(spec[i])).sum();
        if available_total > min_available {
            let mut left = available_total - min_available;
            for &i in olds {
                let n = spec[i].min(left);
                spec[i] -= n;
                left -= n;
            }
        }
        spec
    }
}

fn new_replica_set(
    dep: &Value,
    template: &Value,
    hash: &str,
    rev: i64,
    now: DateTime<Utc>,
) -> Value {
    let name = obj_name(dep);
    let ns = dep["metadata"]["namespace"].clone();
    let mut tpl = template.clone();
    if !tpl["metadata"]["labels"].is_object() {
        tpl["metadata"]["labels"] = json!({});
    }
    tpl["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = dep["spec"]["selector"].clone();
    if !selector["matchLabels"].is_object() {
        selector["matchLabels"] = json!({});
    }
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let mut annotations = json!({ REVISION: rev.to_string() });
    if let Some(cause) = dep["metadata"]["annotations"]["kubernetes.io/change-cause"].as_str() {
        annotations["kubernetes.io/change-cause"] = json!(cause);
    }
    json!({
        "metadata": {
            "name": format!("{name}-{hash}"),
            "namespace": ns,
            "labels": tpl["metadata"]["labels"].clone(),
            "annotations": annotations,
            "creationTimestamp": rfc3339(now),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                "uid": uid(dep), "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": {"replicas": 0, "selector": selector, "template": tpl},
        "status": {"replicas": 0}
    })
}

/// Create or terminate pods of one ReplicaSet until `want` are live.
fn sync_pods(
    c: &Cluster,
    inner: &mut Inner,
    rs: &Value,
    mut pods: Vec<Value>,
    want: i64,
    pass: &Pass<'_>,
) -> Vec<Value> {
    let live = |p: &Value| p["metadata"]["deletionTimestamp"].is_null();
    let mut n = pods.iter().filter(|p| live(p)).count() as i64;
    while n < want {
        let Some(pod) = create_pod(c, inner, rs, pass) else {
            break;
        };
        pods.push(pod);
        n += 1;
    }
    if n > want {
        terminate_pods(c, inner, rs, &mut pods, (n - want) as usize, pass);
    }
    pods
}

/// One new pod of `rs`, with its clock and events (seeded pods start out
/// running for an hour). `None` when the store refused it.
fn create_pod(c: &Cluster, inner: &mut Inner, rs: &Value, pass: &Pass<'_>) -> Option<Value> {
    let (dep_name, now, seeding) = (pass.name, pass.now, pass.seeding);
    let ns = pass.ns.to_string();
    let rs_name = obj_name(rs).to_string();
    let rs_uid = uid(rs);
    let pod_name = format!("{rs_name}-{}", random_suffix(inner));
    let template = &rs["spec"]["template"];
    let app = template["spec"]["containers"][0]["name"]
        .as_str()
        .unwrap_or(dep_name)
        .to_string();
    let image = template["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let init = template["spec"]["initContainers"][0]["name"]
        .as_str()
        .map(|n| {
            let img = template["spec"]["initContainers"][0]["image"].as_str();
            (n.to_string(), img.unwrap_or(&image).to_string())
        });
    inner.counter += 1;
    let ip = format!(
        "10.244.{}.{}",
        (inner.counter / 250) % 250,
        inner.counter % 250 + 2
    );
    let node = format!("sandbox-node-{}", inner.counter % 3 + 1);
    let mut spec = template["spec"].clone();
    spec["nodeName"] = json!(node);
    spec["serviceAccountName"] = json!("default");
    let created = now;
    let pod = json!({
        "metadata": {
            "name": pod_name,
            "generateName": format!("{rs_name}-"),
            "namespace": ns,
            "labels": template["metadata"]["labels"].clone(),
            "creationTimestamp": rfc3339(created),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name,
                "uid": rs_uid, "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort"}
    });
    let pod = inner.store.create(Kind::Pod, pod).ok()?;
    let clock = PodClock {
        created,
        migrate_fails: init.is_some() && !seeding && c.faults.migration_fails(dep_name),
        init,
        deleting_at: None,
        stage_key: String::new(),
        // Seeded pods have run for hours; their logs keep the last ~200 lines.
        log_from: if seeding {
            Utc::now()
                - chrono::Duration::milliseconds(
                    (super::logs::interval(c.speed) * 200_000.0) as i64,
                )
        } else {
            created
        },
        app,
        pushes: inner.pushed.get(&image).copied().unwrap_or(0),
        image,
        ip,
    };
    inner
        .pods
        .insert((ns.clone(), pod_name.clone()), clock.clone());
    if !seeding {
        let msg = format!("Created pod: {pod_name}");
        record_event(
            inner,
            &ns,
            Kind::ReplicaSet,
            &rs_name,
            &rs_uid,
            "Normal",
            "SuccessfulCreate",
            &msg,
            "replicaset-controller",
            now,
        );
        let msg = format!("Successfully assigned {ns}/{pod_name} to {node}");
        let puid = uid(&pod);
        record_event(
            inner,
            &ns,
            Kind::Pod,
            &pod_name,
            &puid,
            "Normal",
            "Scheduled",
            &msg,
            "default-scheduler",
            now,
        );
    }
    // Seeded pods have been running for hours.
    let at = if seeding {
        now + chrono::Duration::hours(1)
    } else {
        now
    };
    let pod = advance_pod(c, inner, pod, &clock, at, seeding);
    Some(pod)
}

/// Terminate `count` live pods of `rs`: not-ready ones first, then the newest.
fn terminate_pods(
    c: &Cluster,
    inner: &mut Inner,
    rs: &Value,
    pods: &mut [Value],
    count: usize,
    pass: &Pass<'_>,
) {
    let (now, seeding) = (pass.now, pass.seeding);
    let ns = pass.ns.to_string();
    let rs_name = obj_name(rs).to_string();
    let rs_uid = uid(rs);
    let live = |p: &Value| p["metadata"]["deletionTimestamp"].is_null();
    // Terminate not-ready pods first, then the newest.
    let mut order: Vec<usize> = (0..pods.len()).filter(|&i| live(&pods[i])).collect();
    order.sort_by_key(|&i| {
        (
            is_ready(&pods[i]),
            std::cmp::Reverse(pods[i]["metadata"]["creationTimestamp"].clone().to_string()),
        )
    });
    for &i in order.iter().take(count) {
        let pod_name = obj_name(&pods[i]).to_string();
        let pkey = (ns.clone(), pod_name.clone());
        if seeding {
            let _ = inner.store.delete(Kind::Pod, &ns, &pod_name);
            inner.pods.remove(&pkey);
            continue;
        }
        let at = now + chrono::Duration::milliseconds((c.scaled(TERMINATING) * 1000.0) as i64);
        if let Some(clock) = inner.pods.get_mut(&pkey) {
            clock.deleting_at = Some(at);
        }
        let mut pod = pods[i].clone();
        meta_mut(&mut pod).insert("deletionTimestamp".into(), json!(rfc3339(at)));
        meta_mut(&mut pod).insert("deletionGracePeriodSeconds".into(), json!(30));
        if let Ok(p) = inner.store.update(Kind::Pod, pod, None) {
            pods[i] = p;
        }
        let msg = format!("Deleted pod: {pod_name}");
        record_event(
            inner,
            &ns,
            Kind::ReplicaSet,
            &rs_name,
            &rs_uid,
            "Normal",
            "SuccessfulDelete",
            &msg,
            "replicaset-controller",
            now,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_rounding_like_kubernetes() {
        assert_eq!(int_or_percent(&json!("25%"), 2, true, 25.0), 1);
        assert_eq!(int_or_percent(&json!("25%"), 2, false, 25.0), 0);
        assert_eq!(int_or_percent(&json!("25%"), 10, true, 25.0), 3);
        assert_eq!(int_or_percent(&json!("25%"), 10, false, 25.0), 2);
        assert_eq!(int_or_percent(&json!(1), 10, false, 25.0), 1);
    }

    #[test]
    fn rolling_plan_like_kubernetes() {
        let ten = Limits {
            replicas: 10,
            max_surge: 3,
            max_unavailable: 2,
        };
        // Start: new RS (index 1) surges by 3, old loses 2 of its 10.
        assert_eq!(ten.plan(1, &[0], &[10, 0], &[10, 0]), vec![8, 3]);
        // Room under the surge is filled; nothing old can go while the new
        // pods are not ready.
        assert_eq!(ten.plan(1, &[0], &[8, 3], &[8, 0]), vec![8, 5]);
        // Five new pods ready: five old ones can go.
        assert_eq!(ten.plan(1, &[0], &[8, 5], &[8, 5]), vec![3, 5]);
        // Done: old at 0, new follows the scale.
        assert_eq!(ten.plan(1, &[0], &[0, 10], &[0, 10]), vec![0, 10]);
        // Two replicas: surge 1, unavailable 0; a failing new pod keeps both old.
        let two = Limits {
            replicas: 2,
            max_surge: 1,
            max_unavailable: 0,
        };
        assert_eq!(two.plan(1, &[0], &[2, 0], &[2, 0]), vec![2, 1]);
        assert_eq!(two.plan(1, &[0], &[2, 1], &[2, 0]), vec![2, 1]);
        // Unavailable old pods go first, even with no room otherwise.
        assert_eq!(two.plan(1, &[0], &[2, 1], &[1, 0]), vec![2, 1]);
        assert_eq!(two.plan(1, &[0], &[2, 1], &[1, 1]), vec![1, 1]);
    }

    #[test]
    fn template_hash_ignores_key_order() {
        let a = json!({"a": 1, "b": {"c": [1, 2]}});
        let b = json!({"b": {"c": [1, 2]}, "a": 1});
        assert_eq!(template_hash(&a), template_hash(&b));
        assert_ne!(template_hash(&a), template_hash(&json!({"a": 2})));
    }
}
