//! Benchmarks of the live sources' pure hot paths: deriving one service's
//! observation from a namespace of 300 Deployments / 300 ReplicaSets / 600
//! Pods (what one watch event costs), deriving all 300 (what a re-list
//! costs), and parsing a GitHub jobs response. Run with
//! `cargo bench --bench sources`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use hearth::registry::Service;
use hearth::{cluster, github};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

const SERVICES: usize = 300;

fn service(i: usize) -> Service {
    Service::example(&format!("svc-{i:03}"))
}

fn namespace() -> (Vec<Deployment>, Vec<ReplicaSet>, Vec<Pod>) {
    let mut d = Vec::new();
    let mut r = Vec::new();
    let mut p = Vec::new();
    for i in 0..SERVICES {
        let name = format!("svc-{i:03}");
        let image = format!("ghcr.io/acme/{name}:v1.{i}.0");
        d.push(
            serde_json::from_value(json!({
                "metadata": {"name": name, "uid": format!("u{i}"), "generation": 2,
                    "annotations": {"deployment.kubernetes.io/revision": "2"}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {
                        "initContainers": [{"name": "migrate", "image": image}],
                        "containers": [{"name": "app", "image": image}]}}},
                "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1,
                    "readyReplicas": 2, "availableReplicas": 2}
            }))
            .unwrap(),
        );
        for (hash, rev) in [("old", "1"), ("new", "2")] {
            r.push(
                serde_json::from_value(json!({
                    "metadata": {"name": format!("{name}-{hash}"),
                        "labels": {"app": name, "pod-template-hash": hash},
                        "annotations": {"deployment.kubernetes.io/revision": rev},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": format!("u{i}")}]}
                }))
                .unwrap(),
            );
        }
        for (j, hash) in ["old", "new"].iter().enumerate() {
            p.push(serde_json::from_value(json!({
                "metadata": {"name": format!("{name}-{hash}-{j}"), "labels": {"app": name, "pod-template-hash": hash}},
                "spec": {"initContainers": [{"name": "migrate", "image": image}],
                         "containers": [{"name": "app", "image": image}]},
                "status": {"phase": "Pending",
                    "initContainerStatuses": [{"name": "migrate", "image": image, "imageID": "", "ready": false,
                        "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 1}}}]}
            }))
            .unwrap());
        }
    }
    (d, r, p)
}

fn bench(c: &mut Criterion) {
    // As the watches keep them: what hearth reads of each object.
    let (d, r, p) = namespace();
    let d: Vec<cluster::slim::Deployment> = d.into_iter().map(Into::into).collect();
    let r: Vec<cluster::slim::ReplicaSet> = r.into_iter().map(Into::into).collect();
    let p: Vec<cluster::slim::Pod> = p.into_iter().map(Into::into).collect();
    let services: Vec<Service> = (0..SERVICES).map(service).collect();
    c.bench_function("observe one service in a 300-service namespace", |b| {
        b.iter(|| {
            black_box(cluster::observe(
                &services[150],
                "default",
                None,
                &d,
                &r,
                &p,
            ))
        })
    });
    c.bench_function("observe all 300 services (a re-list)", |b| {
        b.iter(|| {
            for s in &services {
                black_box(cluster::observe(s, "default", None, &d, &r, &p));
            }
        })
    });
    let jobs = json!({"total_count": 1, "jobs": [{"id": 1, "run_id": 2, "name": "ship", "status": "in_progress",
        "steps": (1..=5).map(|n| json!({"number": n, "name": format!("step {n}"), "status": "completed",
            "conclusion": "success", "started_at": "2026-03-01T10:00:00Z", "completed_at": "2026-03-01T10:00:01Z"}))
            .collect::<Vec<_>>()}]});
    c.bench_function("parse a jobs response", |b| {
        b.iter(|| black_box(github::parse_jobs(&jobs).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
