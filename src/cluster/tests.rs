//! Unit tests of the pure Kubernetes derivation on hand-built objects.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use std::collections::HashMap;

use kube::runtime::watcher;

use super::client::Where;
use super::watch::{ends_generation, Ev, NamespaceState, Retry, Store};
use super::*;
use crate::model::Rollout;
use crate::registry::{Registry, Service};

fn service() -> Service {
    Service::example("api")
}

/// The derivation of k8s-openapi objects as the watches keep them
/// ([`slim`]): the fixtures below are written as the API server sends them.
fn derive<'a>(
    service: &Service,
    deploy: &Deployment,
    replicasets: impl IntoIterator<Item = &'a ReplicaSet>,
    pods: impl IntoIterator<Item = &'a Pod>,
) -> crate::model::Workload {
    let rs: Vec<slim::ReplicaSet> = replicasets.into_iter().map(Into::into).collect();
    let pods: Vec<slim::Pod> = pods.into_iter().map(Into::into).collect();
    super::derive(service, &deploy.into(), &rs, &pods)
}

fn rollout_status(deploy: &Deployment) -> Rollout {
    super::rollout_status(&deploy.into())
}

fn pod_status(pod: &Pod) -> String {
    super::pod_status(&pod.into())
}

fn deployment(tag: &str, gen: i64, status: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "api", "namespace": "default", "uid": "d-1", "generation": gen,
            "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "initContainers": [{"name": "migrate", "image": format!("ghcr.io/acme/api:{tag}")}],
                    "containers": [
                        {"name": "sidecar", "image": "envoyproxy/envoy:v1.30"},
                        {"name": "web", "image": format!("ghcr.io/acme/api:{tag}")}
                    ]
                }
            }
        },
        "status": status
    }))
    .unwrap()
}

fn replicaset(hash: &str, revision: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": format!("api-{hash}"), "namespace": "default",
            "labels": {"app": "api", "pod-template-hash": hash},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "uid": "d-1"}]},
        "spec": {"selector": {"matchLabels": {"app": "api", "pod-template-hash": hash}},
                 "template": {"metadata": {}}}
    }))
    .unwrap()
}

fn pod(name: &str, hash: &str, tag: &str, status: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default",
            "labels": {"app": "api", "pod-template-hash": hash}},
        "spec": {
            "initContainers": [{"name": "migrate", "image": format!("ghcr.io/acme/api:{tag}")}],
            "containers": [
                {"name": "sidecar", "image": "envoyproxy/envoy:v1.30"},
                {"name": "web", "image": format!("ghcr.io/acme/api:{tag}")}
            ]
        },
        "status": status
    }))
    .unwrap()
}

fn running() -> Value {
    json!({
        "phase": "Running",
        "initContainerStatuses": [{"name": "migrate", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
        "containerStatuses": [
            {"name": "sidecar", "image": "x", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "web", "image": "x", "imageID": "", "ready": true, "restartCount": 1, "state": {"running": {}}}
        ]
    })
}

fn migrating_crash() -> Value {
    json!({
        "phase": "Pending",
        "initContainerStatuses": [{"name": "migrate", "image": "ghcr.io/acme/api:v2", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
        "containerStatuses": [
            {"name": "sidecar", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}},
            {"name": "web", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
        ]
    })
}

fn complete_status() -> Value {
    json!({"observedGeneration": 5, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]})
}

#[test]
fn split_image_handles_ports_digests_and_no_tag() {
    assert_eq!(
        split_image("ghcr.io/acme/api:v1.2.3"),
        ("ghcr.io/acme/api".into(), "v1.2.3".into())
    );
    assert_eq!(
        split_image("localhost:5000/api"),
        ("localhost:5000/api".into(), "latest".into())
    );
    assert_eq!(
        split_image("localhost:5000/api:v1"),
        ("localhost:5000/api".into(), "v1".into())
    );
    assert_eq!(
        split_image("api@sha256:abc"),
        ("api".into(), "sha256:abc".into())
    );
}

#[test]
fn complete_rollout_picks_container_by_image_repo() {
    let d = deployment("v1.0.0", 5, complete_status());
    let rs = [replicaset("aaa", "3")];
    let pods = [
        pod("api-aaa-1", "aaa", "v1.0.0", running()),
        pod("api-aaa-2", "aaa", "v1.0.0", running()),
    ];
    let w = derive(&service(), &d, &rs, &pods);
    assert_eq!(w.image_tag.as_deref(), Some("v1.0.0"));
    assert_eq!(w.init_image_tag.as_deref(), Some("v1.0.0"));
    assert_eq!((w.desired, w.updated, w.ready, w.available), (2, 2, 2, 2));
    assert_eq!(w.revision, Some(3));
    assert_eq!(w.rollout, Rollout::Complete);
    assert_eq!(w.stuck_reason, None);
    assert_eq!(w.pods.len(), 2);
    assert_eq!(w.pods[0].status, "Running");
    assert!(w.pods[0].ready);
    assert_eq!(w.pods[0].restarts, 1);
    assert_eq!(w.pods[0].image_tag.as_deref(), Some("v1.0.0"));
    assert_eq!(w.pods[0].template_hash.as_deref(), Some("aaa"));
}

#[test]
fn container_fallbacks_name_then_first() {
    let mut svc = service();
    svc.image = Some("elsewhere/other".into());
    svc.k8s_name = "web".into();
    let d = deployment("v9", 5, complete_status());
    // No image match: the container named like k8s_name ("web").
    assert_eq!(derive(&svc, &d, [], []).image_tag.as_deref(), Some("v9"));
    svc.k8s_name = "nothing".into();
    // Neither: the first container.
    assert_eq!(derive(&svc, &d, [], []).image_tag.as_deref(), Some("v1.30"));
}

#[test]
fn kubectl_rollout_status_rules_and_wording() {
    let msg = |gen, status| rollout_status(&deployment("v1", gen, status));
    assert_eq!(
        msg(6, complete_status()),
        Rollout::Progressing("Waiting for deployment spec update to be observed...".into())
    );
    assert_eq!(
        msg(
            5,
            json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2})
        ),
        Rollout::Progressing(
            "Waiting for deployment \"api\" rollout to finish: 1 out of 2 new replicas have been updated..."
                .into()
        )
    );
    assert_eq!(
        msg(
            5,
            json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2})
        ),
        Rollout::Progressing(
            "Waiting for deployment \"api\" rollout to finish: 1 old replicas are pending termination..."
                .into()
        )
    );
    assert_eq!(
        msg(
            5,
            json!({"observedGeneration": 5, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1})
        ),
        Rollout::Progressing(
            "Waiting for deployment \"api\" rollout to finish: 1 of 2 updated replicas are available..."
                .into()
        )
    );
    assert_eq!(
        msg(
            5,
            json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
        ),
        Rollout::Failed("deployment \"api\" exceeded its progress deadline".into())
    );
    assert_eq!(msg(5, complete_status()), Rollout::Complete);
}

#[test]
fn failing_migration_says_old_pods_still_serving() {
    let d = deployment(
        "v2",
        5,
        json!({"observedGeneration": 5, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2}),
    );
    let rs = [replicaset("old", "2"), replicaset("new", "3")];
    let pods = [
        pod("api-old-1", "old", "v1", running()),
        pod("api-old-2", "old", "v1", running()),
        pod("api-new-1", "new", "v2", migrating_crash()),
    ];
    let w = derive(&service(), &d, &rs, &pods);
    assert_eq!(
        w.stuck_reason.as_deref(),
        Some("migration \"migrate\" failing: CrashLoopBackOff, 4 restarts, last exit code 1; old pods still serving")
    );
    let new = w.pods.iter().find(|p| p.name == "api-new-1").unwrap();
    assert_eq!(new.status, "Init:CrashLoopBackOff");
    assert_eq!(new.restarts, 4);
    assert!(!new.ready);
}

#[test]
fn image_pull_and_unschedulable_reasons() {
    let d = deployment(
        "v2",
        5,
        json!({"observedGeneration": 5, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 0}),
    );
    let pull = json!({"phase": "Pending",
        "initContainerStatuses": [{"name": "migrate", "image": "ghcr.io/acme/api:v2", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff"}}}]});
    let w = derive(
        &service(),
        &d,
        &[replicaset("new", "3")],
        &[pod("p", "new", "v2", pull)],
    );
    assert_eq!(
        w.stuck_reason.as_deref(),
        Some("image pull failing: ImagePullBackOff for ghcr.io/acme/api:v2; no pods serving")
    );
    assert_eq!(w.pods[0].status, "Init:ImagePullBackOff");

    let unsched = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]});
    let w = derive(
        &service(),
        &d,
        &[replicaset("new", "3")],
        &[pod("p", "new", "v2", unsched)],
    );
    assert_eq!(
        w.stuck_reason.as_deref(),
        Some("pods unschedulable: 0/3 nodes are available: 3 Insufficient cpu.; no pods serving")
    );
    assert_eq!(w.pods[0].status, "Pending");
}

#[test]
fn pod_status_wording() {
    let init_running = json!({"phase": "Pending",
        "initContainerStatuses": [{"name": "migrate", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"running": {}}}]});
    assert_eq!(pod_status(&pod("p", "h", "v", init_running)), "Init:0/1");
    let mut terminating = pod("p", "h", "v", running());
    terminating.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
    assert_eq!(pod_status(&terminating), "Terminating");
    let crash = json!({"phase": "Running",
        "containerStatuses": [{"name": "web", "image": "x", "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
    assert_eq!(pod_status(&pod("p", "h", "v", crash)), "CrashLoopBackOff");
}

#[test]
fn missing_deployment_and_other_deployments_pods_ignored() {
    let obs = observe(&service(), "qa", None, [], [], []);
    match obs {
        EnvObservation::Missing { hint } => {
            assert!(
                hint.contains("no deployment \"api\" in namespace \"qa\""),
                "{hint}"
            )
        }
        other => panic!("expected missing, got {other:?}"),
    }
    let d = deployment("v1", 5, complete_status());
    let mut other: Pod = pod("web-1", "zzz", "v1", running());
    other
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("app".into(), "web".into());
    let w = derive(&service(), &d, [], [&other]);
    assert!(w.pods.is_empty());
}

#[test]
fn targets_group_by_context_and_namespace() {
    let mut a = service();
    let mut b = service();
    b.name = "web".into();
    a.environments[1].context = Some("staging".into());
    b.environments[1].context = Some("staging".into());
    let reg = Registry {
        path: "services.yaml".into(),
        settings: Default::default(),
        services: vec![a, b],
    };
    let main = Settings {
        context: Some("main".into()),
        ..Settings::default()
    };
    let t = targets(&reg, &main, &[]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].context.as_deref(), Some("main"));
    assert_eq!(t[0].namespace, "default");
    assert_eq!(t[0].members.len(), 2);
    assert_eq!(t[1].context.as_deref(), Some("staging"));
    assert_eq!(t[1].namespace, "qa");
    assert_eq!(
        targets(&reg, &Settings::default(), &["web".into()])[0]
            .members
            .len(),
        1
    );
}

#[test]
fn forbidden_and_unauthorized_wording() {
    let status = |code: u16| {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: "pods is forbidden: User \"dev\" cannot list".into(),
            ..Default::default()
        }))
    };
    let prod = Where {
        context: Some("prod".into()),
        server: None,
    };
    let p = classify(&status(403), &prod, "default", READ_RIGHTS);
    assert!(p.message.starts_with("forbidden: "), "{}", p.message);
    assert!(p.hint.contains("get/list/watch") && p.hint.contains("\"default\""));
    let p = classify(&status(401), &Where::default(), "default", READ_RIGHTS);
    assert!(p.message.contains("expired"), "{}", p.message);
}

fn ns_state() -> NamespaceState {
    let reg = Registry {
        path: "services.yaml".into(),
        settings: Default::default(),
        services: vec![service()],
    };
    NamespaceState {
        target: targets(&reg, &Settings::default(), &[]).remove(0),
        at: Where::default(),
        deploys: Store::new(),
        rss: Store::new(),
        pods: Store::new(),
        sent: HashMap::new(),
        status: None,
    }
}

/// A namespace whose three lists are in: api's Deployment serving v1.0.0.
fn ns_state_serving_v1() -> NamespaceState {
    let mut st = ns_state();
    feed(
        &mut st,
        vec![deployment("v1.0.0", 5, complete_status())],
        vec![],
        vec![],
    );
    st
}

fn list<K>(items: Vec<K>) -> Vec<Result<watcher::Event<K>, watcher::Error>> {
    let mut evs = vec![Ok(watcher::Event::Init)];
    evs.extend(items.into_iter().map(|o| Ok(watcher::Event::InitApply(o))));
    evs.push(Ok(watcher::Event::InitDone));
    evs
}

fn feed(
    st: &mut NamespaceState,
    d: Vec<Deployment>,
    r: Vec<ReplicaSet>,
    p: Vec<Pod>,
) -> Vec<Event> {
    let mut out = Vec::new();
    for e in list(d) {
        out.extend(st.handle(Ev::Deploy(e)));
    }
    for e in list(r) {
        out.extend(st.handle(Ev::Rs(e)));
    }
    for e in list(p) {
        out.extend(st.handle(Ev::Pod(e)));
    }
    out
}

#[test]
fn watch_state_sends_changes_only_and_relists_replace() {
    let mut st = ns_state();
    let d = deployment("v1.0.0", 5, complete_status());
    let msgs = feed(
        &mut st,
        vec![d.clone()],
        vec![replicaset("aaa", "3")],
        vec![pod("api-aaa-1", "aaa", "v1.0.0", running())],
    );
    // Nothing before all three lists are in; then Live + one workload.
    assert!(msgs
        .iter()
        .any(|m| matches!(m, Event::Status(_, SourceStatus::Live))));
    let workloads: Vec<_> = msgs
        .iter()
        .filter(|m| matches!(m, Event::Workload { .. }))
        .collect();
    assert_eq!(workloads.len(), 1, "{msgs:?}");
    // The same object again: no message.
    assert!(st
        .handle(Ev::Deploy(Ok(watcher::Event::Apply(d.clone()))))
        .is_empty());
    // A pod of another app: no message.
    let mut other = pod("web-1", "zzz", "v1", running());
    other.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    assert!(st
        .handle(Ev::Pod(Ok(watcher::Event::Apply(other))))
        .is_empty());
    // A new image: one message with the new tag.
    let msgs = st.handle(Ev::Deploy(Ok(watcher::Event::Apply(deployment(
        "v2.0.0",
        6,
        complete_status(),
    )))));
    assert!(
        matches!(&msgs[..], [Event::Workload { observation: EnvObservation::Live(w), .. }]
        if w.image_tag.as_deref() == Some("v2.0.0"))
    );
    // A re-list (after a drop) without the Deployment: missing, not stale.
    let mut msgs = Vec::new();
    for e in list(vec![]) {
        msgs.extend(st.handle(Ev::Deploy(e)));
    }
    assert!(
        matches!(
            msgs.last(),
            Some(Event::Workload {
                observation: EnvObservation::Missing { .. },
                ..
            })
        ),
        "{msgs:?}"
    );
}

#[test]
fn watch_error_replaces_data_and_recovery_restores_it() {
    let mut st = ns_state_serving_v1();
    let forbidden = kube::Error::Api(Box::new(kube::core::Status {
        code: 403,
        message: "pods is forbidden".into(),
        ..Default::default()
    }));
    let msgs = st.handle(Ev::Pod(Err(watcher::Error::InitialListFailed(forbidden))));
    assert!(msgs.iter().any(
        |m| matches!(m, Event::Status(_, SourceStatus::Down(s)) if s.message.contains("forbidden"))
    ));
    assert!(msgs.iter().any(|m| matches!(
        m,
        Event::Workload {
            observation: EnvObservation::Error(_),
            ..
        }
    )));
    // 410 Gone is only a re-list: nothing shown.
    let gone = watcher::Error::WatchError(Box::new(kube::core::Status {
        code: 410,
        ..Default::default()
    }));
    assert!(st.handle(Ev::Deploy(Err(gone))).is_empty());
    // The pods list succeeds again: live again, data back.
    let mut msgs = Vec::new();
    for e in list(vec![]) {
        msgs.extend(st.handle(Ev::Pod(e)));
    }
    assert!(msgs
        .iter()
        .any(|m| matches!(m, Event::Status(_, SourceStatus::Live))));
    assert!(msgs.iter().any(|m| matches!(
        m,
        Event::Workload {
            observation: EnvObservation::Live(_),
            ..
        }
    )));
}

#[test]
fn recovery_by_another_objects_event_restores_every_cell() {
    // A watch that resumes after a drop sends only what changes; the first
    // event may be about another app's pod. The problem is gone all the
    // same, so every member's cell must come back, not only the touched one.
    let mut st = ns_state_serving_v1();
    let refused = watcher::Error::WatchFailed(kube::Error::Service("connection refused".into()));
    let msgs = st.handle(Ev::Pod(Err(refused)));
    assert!(msgs.iter().any(|m| matches!(
        m,
        Event::Workload {
            observation: EnvObservation::Error(_),
            ..
        }
    )));
    let mut other = pod("web-1", "zzz", "v1", running());
    other.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    let msgs = st.handle(Ev::Pod(Ok(watcher::Event::Apply(other))));
    assert!(
        msgs.iter().any(|m| matches!(
            m,
            Event::Workload {
                observation: EnvObservation::Live(w),
                ..
            } if w.image_tag.as_deref() == Some("v1.0.0")
        )),
        "{msgs:?}"
    );
}

#[test]
fn a_failed_watch_ends_its_generation_and_a_gone_one_does_not() {
    let status = |code| {
        watcher::Error::WatchError(Box::new(kube::core::Status {
            code,
            ..Default::default()
        }))
    };
    let refused = || kube::Error::Service("connection refused".into());
    assert!(ends_generation(
        &watcher::Error::WatchStartFailed(refused())
    ));
    assert!(ends_generation(&watcher::Error::WatchFailed(refused())));
    assert!(ends_generation(&status(500)));
    assert!(!ends_generation(&status(410)));
    assert!(!ends_generation(&watcher::Error::InitialListFailed(
        refused()
    )));
}

#[test]
fn watch_retries_come_within_eight_seconds_and_start_over_after_an_event() {
    use kube::runtime::utils::Backoff;
    use std::time::Duration;
    let mut retry = Retry::default();
    let waits: Vec<Duration> = retry.by_ref().take(8).collect();
    assert!(waits[0] <= Duration::from_secs(1) && waits[0] >= Duration::from_millis(800));
    assert!(waits[1] > Duration::from_millis(1500), "{waits:?}");
    assert!(
        waits.iter().all(|w| *w <= Duration::from_secs(8)),
        "{waits:?}"
    );
    assert!(waits[7] >= Duration::from_millis(6400), "{waits:?}");
    retry.reset();
    assert!(retry.next().unwrap() <= Duration::from_secs(1));
}
