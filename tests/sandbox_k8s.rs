//! The sandbox Kubernetes API over real HTTP: the real `kubectl` (v1.32 on
//! this machine) and the `kube` client against `sandbox::k8s::router` served
//! on 127.0.0.1:0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth::sandbox::k8s::{kubeconfig_yaml, router, Cluster};
use hearth::sandbox::{DemoService, DeployTarget, Fault, Faults, Journal};
use serde_json::Value;

struct Sandbox {
    url: String,
    dir: tempfile::TempDir,
    cluster: Arc<Cluster>,
    faults: Arc<Faults>,
    journal: Arc<Journal>,
}

fn services(n: usize) -> Vec<DemoService> {
    let names = ["api", "web", "worker"];
    (0..n)
        .map(|i| {
            let name = if i < names.len() {
                names[i].to_string()
            } else {
                format!("svc{i:03}")
            };
            DemoService {
                image: format!("ghcr.io/hearth-demo/{name}"),
                repo: format!("hearth-demo/{name}"),
                prod_tag: "v1.4.0".into(),
                qa_tag: "v1.5.0-rc.1".into(),
                replicas: if i == 0 { 3 } else { 2 },
                name,
            }
        })
        .collect()
}

async fn start(n: usize, speed: f64) -> Sandbox {
    let faults = Arc::new(Faults::default());
    let journal = Arc::new(Journal::default());
    let cluster = Cluster::new(&services(n), speed, faults.clone(), journal.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(cluster.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kubeconfig"), kubeconfig_yaml(&url)).unwrap();
    Sandbox {
        url,
        dir,
        cluster,
        faults,
        journal,
    }
}

/// Output of a finished kubectl run.
struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Sandbox {
    fn kubectl_cmd(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--request-timeout=20s")
            .args(args)
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        cmd
    }

    async fn kubectl(&self, args: &[&str]) -> Out {
        let out = self.kubectl_cmd(args).output().await.unwrap();
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// kubectl that must succeed; returns stdout.
    async fn k(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.ok,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    async fn kjson(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.k(&a).await).unwrap()
    }

    async fn http(&self, method: &str, path: &str, ctype: &str, body: &str) -> (u16, String) {
        let client = reqwest::Client::new();
        let req = client
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .header("content-type", ctype)
            .body(body.to_string());
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    fn kube_client(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url.parse().unwrap());
        config.default_namespace = "qa".into();
        kube::Client::try_from(config).unwrap()
    }
}

/// Poll `f` until it returns Some, failing after `secs`.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_lists_seeded_objects() {
    let sb = start(3, 20.0).await;
    let out = sb.k(&["get", "deploy", "-A"]).await;
    assert!(out.contains("NAMESPACE"), "{out}");
    assert!(out.contains("READY"), "{out}");
    assert!(out.contains("UP-TO-DATE"), "{out}");
    for line in ["api", "web", "worker"] {
        assert!(out.contains(line), "{out}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("qa ") && l.contains("api") && l.contains("3/3")),
        "{out}"
    );

    let out = sb.k(&["get", "deploy", "-n", "qa", "-o", "wide"]).await;
    assert!(out.contains("IMAGES"), "{out}");
    assert!(out.contains("ghcr.io/hearth-demo/api:v1.5.0-rc.1"), "{out}");
    assert!(out.contains("app=api"), "{out}");

    let out = sb
        .k(&["get", "rs,pods", "-n", "default", "-o", "yaml"])
        .await;
    assert!(out.contains("pod-template-hash"), "{out}");
    assert!(out.contains("deployment.kubernetes.io/revision"), "{out}");
    assert!(out.contains("ownerReferences"), "{out}");

    let pods = sb
        .kjson(&["get", "pods", "-n", "default", "-l", "app=api"])
        .await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for p in items {
        assert_eq!(p["status"]["phase"], "Running");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(
            p["spec"]["initContainers"][0]["image"],
            "ghcr.io/hearth-demo/api:v1.4.0"
        );
    }

    let out = sb.k(&["get", "pods", "-n", "qa"]).await;
    assert!(out.contains("STATUS") && out.contains("RESTARTS"), "{out}");
    assert!(out.contains("Running"), "{out}");

    let out = sb.k(&["get", "rs", "-n", "qa"]).await;
    assert!(out.contains("DESIRED") && out.contains("CURRENT"), "{out}");

    let out = sb.k(&["get", "events", "-n", "qa"]).await;
    assert!(out.contains("ScalingReplicaSet"), "{out}");

    let out = sb.k(&["get", "ns"]).await;
    assert!(out.contains("default") && out.contains("qa"), "{out}");

    let dep = sb.kjson(&["get", "deploy", "web", "-n", "qa"]).await;
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["name"],
        "web"
    );
    assert_eq!(
        dep["spec"]["template"]["spec"]["initContainers"][0]["name"],
        "migrate"
    );
    assert_eq!(dep["status"]["availableReplicas"], 2);

    let missing = sb.kubectl(&["get", "deploy", "nope", "-n", "qa"]).await;
    assert!(!missing.ok);
    assert!(missing.stderr.contains("NotFound") || missing.stderr.contains("not found"));

    let journal = sb.journal.entries();
    assert!(journal.iter().all(|e| e.api == "kube"));
    assert!(journal
        .iter()
        .any(|e| e.path.starts_with("/apis/apps/v1/deployments")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_set_image_rollout_status_history_undo() {
    let sb = start(3, 20.0).await;
    let before = sb.kjson(&["get", "deploy", "api", "-n", "qa"]).await;
    let old_image = before["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    let gen = before["metadata"]["generation"].as_i64().unwrap();
    sb.k(&[
        "set",
        "image",
        "deploy/api",
        "-n",
        "qa",
        "api=ghcr.io/hearth-demo/api:v2.0.0",
    ])
    .await;
    let after = sb.kjson(&["get", "deploy", "api", "-n", "qa"]).await;
    assert_eq!(after["metadata"]["generation"].as_i64().unwrap(), gen + 1);
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/hearth-demo/api:v2.0.0"
    );
    // The init container keeps its image: set image names containers.
    assert_eq!(
        after["spec"]["template"]["spec"]["initContainers"][0]["image"],
        old_image.as_str()
    );
    let out = sb
        .k(&[
            "rollout",
            "status",
            "deploy/api",
            "-n",
            "qa",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let dep = sb.kjson(&["get", "deploy", "api", "-n", "qa"]).await;
    assert_eq!(
        dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    assert_eq!(dep["status"]["updatedReplicas"], 3);
    assert_eq!(dep["status"]["availableReplicas"], 3);
    let conds = dep["status"]["conditions"].as_array().unwrap();
    assert!(conds
        .iter()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable"));
    let pods = sb
        .kjson(&["get", "pods", "-n", "qa", "-l", "app=api"])
        .await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "old pods are gone");
    assert!(items
        .iter()
        .all(|p| p["spec"]["containers"][0]["image"] == "ghcr.io/hearth-demo/api:v2.0.0"));
    let events = sb.k(&["get", "events", "-n", "qa"]).await;
    assert!(events.contains("Scaled up replica set"), "{events}");
    assert!(events.contains("Scaled down replica set"), "{events}");

    let out = sb
        .k(&["rollout", "history", "deploy/api", "-n", "qa"])
        .await;
    assert!(out.contains("REVISION"), "{out}");
    assert!(
        out.lines().any(|l| l.trim_start().starts_with('1')),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_start().starts_with('2')),
        "{out}"
    );

    // Undo goes back to revision 1's template, which becomes revision 3.
    sb.k(&["rollout", "undo", "deploy/api", "-n", "qa"]).await;
    sb.k(&[
        "rollout",
        "status",
        "deploy/api",
        "-n",
        "qa",
        "--timeout=60s",
    ])
    .await;
    let dep = sb.kjson(&["get", "deploy", "api", "-n", "qa"]).await;
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        old_image.as_str()
    );
    assert_eq!(
        dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let rs = sb.kjson(&["get", "rs", "-n", "qa", "-l", "app=api"]).await;
    assert_eq!(
        rs["items"].as_array().unwrap().len(),
        2,
        "the old ReplicaSet was reused"
    );

    // --to-revision picks a specific one (revision 2 = v2.0.0).
    sb.k(&[
        "rollout",
        "undo",
        "deploy/api",
        "-n",
        "qa",
        "--to-revision=2",
    ])
    .await;
    sb.k(&[
        "rollout",
        "status",
        "deploy/api",
        "-n",
        "qa",
        "--timeout=60s",
    ])
    .await;
    let dep = sb.kjson(&["get", "deploy", "api", "-n", "qa"]).await;
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/hearth-demo/api:v2.0.0"
    );
    assert_eq!(
        dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "4"
    );
}
