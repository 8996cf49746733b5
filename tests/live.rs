//! Live sources over real HTTP: the Kubernetes watches and GitHub polling
//! against the embedded sandbox (and, for failure modes the sandbox does not
//! model, against a tiny local API server), `hearth status`, and the token
//! never leaking.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use hearth::app::{Msg, SourceId};
use hearth::model::{EnvObservation, SourceStatus};
use hearth::registry::{Environment, Registry, Service};
use hearth::sources::cluster;
use tokio::sync::mpsc;

/// A service as the registry would load it, for hand-built registries.
fn service(name: &str) -> Service {
    Service {
        name: name.into(),
        directory: "/nonexistent".into(),
        image: Some(format!("ghcr.io/hearth-demo/{name}")),
        dockerfile: None,
        k8s_name: name.into(),
        dev_host: None,
        pre_ship_cmd: None,
        shippable: true,
        shippable_reason: None,
        repo: Some(format!("hearth-demo/{name}")),
        workflow: "release.yml".into(),
        environments: Environment::defaults(),
        smoke: vec![],
    }
}

fn registry(services: Vec<Service>) -> Registry {
    Registry {
        path: "services.yaml".into(),
        settings: Default::default(),
        services,
    }
}

fn kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: kube-secret-token\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    path
}

/// Serve `app` on a loopback port; returns its base URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Receive until `pred` matches or `timeout` passes; returns everything seen.
async fn until(
    rx: &mut mpsc::Receiver<Msg>,
    timeout: Duration,
    mut pred: impl FnMut(&Msg) -> bool,
) -> (bool, Vec<Msg>) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                let hit = pred(&m);
                seen.push(m);
                if hit {
                    return (true, seen);
                }
            }
            _ => return (false, seen),
        }
    }
}

fn observation_of<'a>(msgs: &'a [Msg], svc: &str, env: &str) -> Option<&'a EnvObservation> {
    msgs.iter().rev().find_map(|m| match m {
        Msg::Workload {
            service,
            env: e,
            observation,
        } if service == svc && e == env => Some(observation),
        _ => None,
    })
}

#[tokio::test]
async fn forbidden_namespace_is_shown_with_the_rbac_to_ask_for() {
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "deployments.apps is forbidden: User \"dev\" cannot list resource \"deployments\" in namespace \"default\"",
                "reason": "Forbidden", "code": 403
            })),
        )
            .into_response()
    });
    let url = serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let mut targets = cluster::targets(&registry(vec![service("api")]), None, &[]);
    let mut t = targets.remove(0);
    t.kubeconfig = Some(kubeconfig(dir.path(), &url));
    let (tx, mut rx) = mpsc::channel(100);
    let task = tokio::spawn(cluster::run_target(t, tx));
    let (ok, msgs) = until(&mut rx, Duration::from_secs(20), |m| {
        matches!(
            m,
            Msg::Workload {
                observation: EnvObservation::Error { .. },
                ..
            }
        )
    })
    .await;
    task.abort();
    assert!(ok, "no error observation: {msgs:?}");
    match observation_of(&msgs, "api", "prod").unwrap() {
        EnvObservation::Error { message, hint } => {
            assert!(message.starts_with("forbidden: "), "{message}");
            assert!(
                hint.contains("get/list/watch") && hint.contains("\"default\""),
                "{hint}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(msgs.iter().any(|m| matches!(m,
        Msg::Source(SourceId::Kube { namespace, .. }, SourceStatus::Down(_)) if namespace == "default")));
    for m in &msgs {
        assert!(!format!("{m:?}").contains("kube-secret-token"));
    }
}

#[tokio::test]
async fn unreachable_api_server_says_what_to_check() {
    // Bind then drop a listener: a port that refuses connections.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut targets = cluster::targets(&registry(vec![service("api")]), None, &[]);
    let mut t = targets.remove(0);
    t.kubeconfig = Some(kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}")));
    let obs = cluster::list_once(&t, Duration::from_secs(10)).await;
    match &obs[0].2 {
        EnvObservation::Error { message, hint } => {
            assert!(message.contains("cannot reach the API server"), "{message}");
            assert!(
                hint.contains("KUBECONFIG") && hint.contains("VPN"),
                "{hint}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The watch path says the same, per environment.
    let (tx, mut rx) = mpsc::channel(100);
    let task = tokio::spawn(cluster::run_target(t, tx));
    let (ok, msgs) = until(&mut rx, Duration::from_secs(20), |m| {
        matches!(
            m,
            Msg::Workload {
                observation: EnvObservation::Error { .. },
                ..
            }
        )
    })
    .await;
    task.abort();
    assert!(ok, "{msgs:?}");
}

#[tokio::test]
async fn missing_deployment_is_missing_not_unknown() {
    // An API server with nothing in it: empty lists, watches that stay open.
    let app = axum::Router::new().fallback(|uri: axum::http::Uri| async move {
        if uri.query().unwrap_or("").contains("watch=true") {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let kind = if uri.path().contains("/pods") {
            "PodList"
        } else if uri.path().contains("/replicasets") {
            "ReplicaSetList"
        } else {
            "DeploymentList"
        };
        axum::Json(serde_json::json!({"kind": kind, "apiVersion": "v1",
            "metadata": {"resourceVersion": "1"}, "items": []}))
        .into_response()
    });
    let url = serve(app).await;
    let dir = tempfile::tempdir().unwrap();
    let mut targets = cluster::targets(&registry(vec![service("api")]), None, &[]);
    let mut t = targets.remove(0);
    t.kubeconfig = Some(kubeconfig(dir.path(), &url));
    let obs = cluster::list_once(&t, Duration::from_secs(10)).await;
    assert!(
        matches!(&obs[0].2, EnvObservation::Missing { hint } if hint.contains("no deployment \"api\"")),
        "{obs:?}"
    );
    let (tx, mut rx) = mpsc::channel(100);
    let task = tokio::spawn(cluster::run_target(t, tx));
    let (ok, msgs) = until(&mut rx, Duration::from_secs(20), |m| {
        matches!(
            m,
            Msg::Workload {
                observation: EnvObservation::Missing { .. },
                ..
            }
        )
    })
    .await;
    task.abort();
    assert!(ok, "{msgs:?}");
    assert!(msgs
        .iter()
        .any(|m| matches!(m, Msg::Source(_, SourceStatus::Live))));
}
