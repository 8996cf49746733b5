//! Pod lifecycles in the sandbox cluster (run by the controller task):
//! each pod's stage is a pure function of its clock — Pending → Init
//! (migrate, or its crash loop) → PodInitializing → Running → Ready — and
//! its status and kubelet Events are rewritten only when the stage changes.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::controller::{record_event, uid};
use super::store::{obj_name, Kind};
use super::{image_tag, rfc3339, Cluster, Inner};

/// Simulated seconds a new pod waits before its first container starts.
pub(crate) const PENDING: f64 = 0.5;
/// Simulated seconds one run of the migrate init container takes.
pub(crate) const MIGRATE: f64 = 1.5;
/// Simulated seconds between init done and the app container running.
pub(crate) const INITIALIZING: f64 = 0.5;
/// Simulated seconds the app container runs before it is ready.
pub(crate) const STARTING: f64 = 1.5;

/// What the controller knows about a pod beyond its object: when it was
/// created and whether its migration is doomed.
#[derive(Clone, Debug)]
pub(crate) struct PodClock {
    pub created: DateTime<Utc>,
    pub migrate_fails: bool,
    /// Name and image of the pod's (first) init container, the migration.
    pub init: Option<(String, String)>,
    pub deleting_at: Option<DateTime<Utc>>,
    /// Last status signature written, so unchanged pods are not rewritten.
    pub stage_key: String,
    /// Earliest moment logs are generated from (seeded pods start mid-life).
    pub log_from: DateTime<Utc>,
    pub app: String,
    pub image: String,
    /// How often the image had been pushed again when the pod pulled it
    /// (its digest: [`image_digest`]).
    pub pushes: u32,
    pub ip: String,
}

fn condition_true(pod: &Value, t: &str) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
}

/// Ready and not terminating.
pub(crate) fn is_ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null() && condition_true(pod, "Ready")
}

/// Available (minReadySeconds is 0 here, so: ready).
pub(crate) fn is_available(pod: &Value) -> bool {
    is_ready(pod)
}

/// Where a pod is in its life at `now`.
#[derive(Clone, Debug, PartialEq)]
enum Stage {
    Pending,
    /// Migration running (attempt `restarts`).
    Migrating {
        restarts: i64,
        since: f64,
    },
    /// Migration failed; waiting out the back-off.
    CrashLoop {
        restarts: i64,
        failed_at: f64,
        started: f64,
    },
    Initializing {
        done: f64,
    },
    Starting {
        since: f64,
    },
    Ready {
        since: f64,
    },
}

/// The stage of a pod `t` simulated seconds after creation.
fn stage_at(t: f64, has_init: bool, fails: bool) -> Stage {
    if t < PENDING {
        return Stage::Pending;
    }
    if !has_init {
        return if t < PENDING + STARTING {
            Stage::Starting { since: PENDING }
        } else {
            Stage::Ready {
                since: PENDING + STARTING,
            }
        };
    }
    let mut start = PENDING;
    if fails {
        let mut restarts = 0;
        loop {
            let end = start + MIGRATE;
            if t < end {
                return Stage::Migrating {
                    restarts,
                    since: start,
                };
            }
            restarts += 1;
            let backoff = (10.0 * 2f64.powi(restarts as i32 - 1)).min(300.0);
            if t < end + backoff {
                return Stage::CrashLoop {
                    restarts,
                    failed_at: end,
                    started: start,
                };
            }
            start = end + backoff;
        }
    }
    let done = start + MIGRATE;
    if t < done {
        return Stage::Migrating {
            restarts: 0,
            since: start,
        };
    }
    if t < done + INITIALIZING {
        return Stage::Initializing { done };
    }
    let since = done + INITIALIZING;
    if t < since + STARTING {
        return Stage::Starting { since };
    }
    Stage::Ready {
        since: since + STARTING,
    }
}

/// Recompute a pod's status from its clock; write it when it changed.
pub(crate) fn advance_pod(
    c: &Cluster,
    inner: &mut Inner,
    pod: Value,
    clock: &PodClock,
    now: DateTime<Utc>,
    seeding: bool,
) -> Value {
    let t = (now - clock.created).num_milliseconds() as f64 / 1000.0 * c.speed;
    let stage = stage_at(t, clock.init.is_some(), clock.migrate_fails);
    let key = match &stage {
        Stage::Pending => "pending".to_string(),
        Stage::Migrating { restarts, .. } => format!("migrating-{restarts}"),
        Stage::CrashLoop { restarts, .. } => format!("crash-{restarts}"),
        Stage::Initializing { .. } => "initializing".into(),
        Stage::Starting { .. } => "starting".into(),
        Stage::Ready { .. } => "ready".into(),
    };
    if key == clock.stage_key {
        return pod;
    }
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let name = obj_name(&pod).to_string();
    let at = |sim: f64| {
        rfc3339(clock.created + chrono::Duration::milliseconds((sim / c.speed * 1000.0) as i64))
    };
    let image = &clock.image;
    let (init_name, init_image) = clock
        .init
        .clone()
        .unwrap_or_else(|| (String::new(), image.clone()));
    let init_id = format!(
        "{}@sha256:{}",
        super::image_repo(&init_image),
        template_digest(&init_image)
    );
    let image_id = format!(
        "{}@{}",
        super::image_repo(image),
        image_digest(image, clock.pushes)
    );
    let cid = |n: &str, r: i64| {
        format!(
            "containerd://{}",
            template_digest(&format!("{name}/{n}/{r}"))
        )
    };
    let waiting = |reason: &str| json!({"waiting": {"reason": reason}});
    let cond = |t: &str, ok: bool| json!({"type": t, "status": if ok {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": at(0.0)});
    let (phase, init_status, app_status, initialized, ready) = match &stage {
        Stage::Pending => ("Pending", None, None, false, false),
        Stage::Migrating { restarts, since } => {
            let mut s = json!({"name": init_name, "image": init_image, "imageID": init_id,
                "containerID": cid(&init_name, *restarts), "ready": false, "started": true,
                "restartCount": restarts, "state": {"running": {"startedAt": at(*since)}}});
            if *restarts > 0 {
                s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": at(*since - MIGRATE), "finishedAt": at(*since),
                    "containerID": cid(&init_name, restarts - 1)}});
            }
            let app = json!({"name": clock.app, "image": image, "imageID": "", "ready": false,
                "started": false, "restartCount": 0, "state": waiting("PodInitializing")});
            ("Pending", Some(s), Some(app), false, false)
        }
        Stage::CrashLoop {
            restarts,
            failed_at,
            started,
        } => {
            let backoff = (10.0 * 2f64.powi(*restarts as i32 - 1)).min(300.0) as i64;
            let s = json!({"name": init_name, "image": init_image, "imageID": init_id,
                "containerID": cid(&init_name, restarts - 1), "ready": false, "started": false,
                "restartCount": restarts,
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off {backoff}s restarting failed container={init_name} pod={name}_{ns}")}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": at(*started), "finishedAt": at(*failed_at),
                    "containerID": cid(&init_name, restarts - 1)}}});
            let app = json!({"name": clock.app, "image": image, "imageID": "", "ready": false,
                "started": false, "restartCount": 0, "state": waiting("PodInitializing")});
            ("Pending", Some(s), Some(app), false, false)
        }
        Stage::Initializing { done } => {
            let s = json!({"name": init_name, "image": init_image, "imageID": init_id,
                "containerID": cid(&init_name, 0), "ready": true, "started": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                    "startedAt": at(done - MIGRATE), "finishedAt": at(*done),
                    "containerID": cid(&init_name, 0)}}});
            let app = json!({"name": clock.app, "image": image, "imageID": "", "ready": false,
                "started": false, "restartCount": 0, "state": waiting("PodInitializing")});
            ("Pending", Some(s), Some(app), true, false)
        }
        Stage::Starting { since } | Stage::Ready { since } => {
            let is_ready = matches!(stage, Stage::Ready { .. });
            let started = if is_ready { since - STARTING } else { *since };
            let done = started - INITIALIZING;
            let s = json!({"name": init_name, "image": init_image, "imageID": init_id,
                "containerID": cid(&init_name, 0), "ready": true, "started": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                    "startedAt": at(done - MIGRATE), "finishedAt": at(done),
                    "containerID": cid(&init_name, 0)}}});
            let app = json!({"name": clock.app, "image": image, "imageID": image_id,
                "containerID": cid(&clock.app, 0), "ready": is_ready, "started": true,
                "restartCount": 0, "state": {"running": {"startedAt": at(started)}}});
            ("Running", Some(s), Some(app), true, is_ready)
        }
    };
    let mut status = json!({
        "phase": phase,
        "qosClass": "BestEffort",
        "conditions": [
            cond("PodReadyToStartContainers", !matches!(stage, Stage::Pending)),
            cond("Initialized", initialized),
            cond("Ready", ready),
            cond("ContainersReady", ready),
            cond("PodScheduled", true),
        ],
        "hostIP": "192.168.49.2",
        "startTime": at(0.0),
    });
    if !matches!(stage, Stage::Pending) {
        status["podIP"] = json!(clock.ip);
        status["podIPs"] = json!([{"ip": clock.ip}]);
    }
    if let Some(s) = init_status.filter(|_| clock.init.is_some()) {
        status["initContainerStatuses"] = json!([s]);
    }
    if let Some(s) = app_status {
        status["containerStatuses"] = json!([s]);
    }
    let mut new_pod = pod.clone();
    new_pod["status"] = status;
    if let Some(cl) = inner.pods.get_mut(&(ns.clone(), name.clone())) {
        cl.stage_key = key;
    }
    if !seeding {
        pod_stage_events(inner, &ns, &name, &uid(&pod), &stage, clock, now);
    }
    inner
        .store
        .update(Kind::Pod, new_pod.clone(), None)
        .unwrap_or(new_pod)
}

#[allow(clippy::too_many_arguments)]
fn pod_stage_events(
    inner: &mut Inner,
    ns: &str,
    name: &str,
    puid: &str,
    stage: &Stage,
    clock: &PodClock,
    now: DateTime<Utc>,
) {
    let app = &clock.app;
    let (init, init_image) = clock.init.clone().unwrap_or_default();
    let mut ev = |etype: &str, reason: &str, msg: String| {
        record_event(
            inner,
            ns,
            Kind::Pod,
            name,
            puid,
            etype,
            reason,
            &msg,
            "kubelet",
            now,
        );
    };
    match stage {
        Stage::Migrating { restarts: 0, .. } => {
            ev(
                "Normal",
                "Pulled",
                format!("Container image \"{init_image}\" already present on machine"),
            );
            ev("Normal", "Started", format!("Started container {init}"));
        }
        Stage::CrashLoop { .. } => ev(
            "Warning",
            "BackOff",
            format!("Back-off restarting failed container {init} in pod {name}_{ns}({puid})"),
        ),
        Stage::Starting { .. } => ev("Normal", "Started", format!("Started container {app}")),
        _ => {}
    }
}

/// A stable pseudo digest for ids that only need to look real.
/// The digest a pod pulls for `image` after it was pushed again `pushes`
/// times: the same for every pod that pulls the same content.
pub(crate) fn image_digest(image: &str, pushes: u32) -> String {
    if pushes == 0 {
        format!("sha256:{}", template_digest(image))
    } else {
        format!("sha256:{}", template_digest(&format!("{image}#{pushes}")))
    }
}

fn template_digest(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The image tag a pod runs, for its logs.
pub(crate) fn pod_tag(clock: &PodClock) -> &str {
    image_tag(&clock.image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_stages() {
        assert_eq!(stage_at(0.1, true, false), Stage::Pending);
        assert!(matches!(
            stage_at(1.0, true, false),
            Stage::Migrating { restarts: 0, .. }
        ));
        assert!(matches!(
            stage_at(2.2, true, false),
            Stage::Initializing { .. }
        ));
        assert!(matches!(stage_at(3.0, true, false), Stage::Starting { .. }));
        assert!(matches!(stage_at(9.0, true, false), Stage::Ready { .. }));
        assert!(matches!(
            stage_at(5.0, true, true),
            Stage::CrashLoop { restarts: 1, .. }
        ));
        assert!(matches!(
            stage_at(13.0, true, true),
            Stage::Migrating { restarts: 1, .. }
        ));
        assert!(matches!(
            stage_at(500.0, true, true),
            Stage::CrashLoop { .. }
        ));
    }
}
