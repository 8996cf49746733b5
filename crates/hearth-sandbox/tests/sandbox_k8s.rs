//! The sandbox Kubernetes API over real HTTP: the real `kubectl` (v1.32 on
//! this machine) and the `kube` client against `sandbox::k8s::router` served
//! on 127.0.0.1:0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hearth_sandbox::k8s::auth::ADMIN_TOKEN;
use hearth_sandbox::k8s::{kubeconfig_yaml, router, Cluster};
use hearth_sandbox::tls::{Tls, TlsListener};
use hearth_sandbox::{DemoService, DeployTarget, Fault, Faults, Journal};
use serde_json::Value;

struct Sandbox {
    url: String,
    /// The CA of the API's certificate (DER).
    ca: Vec<u8>,
    /// Dropping it stops the listener.
    _stop: tokio::sync::watch::Sender<bool>,
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
                qa_namespace: "qa".into(),
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
    // HTTPS, as `hearth_sandbox::start` serves it: kubectl sends its token
    // only over TLS.
    let tls = Tls::generate().unwrap();
    cluster.set_ca(&tls.ca_pem);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let listener = TlsListener::new(listener, &tls, stop_rx).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("https://{addr}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        kubeconfig_yaml(&url, &tls.ca_pem, &[]),
    )
    .unwrap();
    Sandbox {
        url,
        ca: tls.ca_der.clone(),
        _stop: stop,
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

    /// An HTTP client that trusts the sandbox's CA.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_der(&self.ca).unwrap())
            .build()
            .unwrap()
    }

    async fn http(&self, method: &str, path: &str, ctype: &str, body: &str) -> (u16, String) {
        let client = self.client();
        let req = client
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", ctype)
            .body(body.to_string());
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    fn kube_client(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url.parse().unwrap());
        config.default_namespace = "qa".into();
        config.auth_info.token = Some(ADMIN_TOKEN.to_string().into());
        config.root_cert = Some(vec![self.ca.clone()]);
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

    // kubectl pages through lists with limit/continue.
    let out = sb.k(&["get", "pods", "-A", "--chunk-size=4"]).await;
    assert_eq!(out.lines().count(), 1 + 14, "{out}");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_tail_and_follow() {
    let sb = start(2, 20.0).await;
    let out = sb
        .k(&[
            "logs",
            "deploy/api",
            "-n",
            "default",
            "-c",
            "api",
            "--tail",
            "5",
        ])
        .await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines.iter().all(|l| l.contains("api v1.4.0")), "{out}");

    let out = sb
        .k(&[
            "logs",
            "deploy/web",
            "-n",
            "qa",
            "--tail",
            "2",
            "--timestamps",
        ])
        .await;
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().all(|l| l.starts_with("20")), "{out}");

    let out = sb
        .k(&["logs", "deploy/api", "-n", "qa", "-c", "migrate"])
        .await;
    assert!(out.contains("schema up to date"), "{out}");

    // -f keeps streaming new lines (bounded by the test).
    let mut cmd = sb.kubectl_cmd(&[
        "logs",
        "-f",
        "deploy/api",
        "-n",
        "default",
        "-c",
        "api",
        "--tail",
        "1",
    ]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = tokio::io::BufReader::new(stdout);
    let mut got = Vec::new();
    use tokio::io::AsyncBufReadExt;
    let read = async {
        let mut line = String::new();
        while got.len() < 4 {
            line.clear();
            if reader.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            got.push(line.clone());
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("logs -f streams new lines");
    child.kill().await.unwrap();
    assert_eq!(got.len(), 4, "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_output_watch_events() {
    let sb = start(2, 20.0).await;
    let mut cmd = sb.kubectl_cmd(&["get", "deploy", "-n", "qa", "-w", "--output-watch-events"]);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = tokio::io::BufReader::new(stdout);
    use tokio::io::AsyncBufReadExt;
    let mut seen = String::new();
    let mut line = String::new();
    // Initial state arrives as ADDED rows.
    while !(seen.contains("ADDED") && seen.contains("api") && seen.contains("web")) {
        line.clear();
        let n = tokio::time::timeout(Duration::from_secs(20), reader.read_line(&mut line))
            .await
            .expect("watch output")
            .unwrap();
        assert!(n > 0, "watch ended early: {seen}");
        seen.push_str(&line);
    }
    assert!(seen.contains("EVENT"), "{seen}");
    // A change arrives as MODIFIED.
    sb.cluster
        .set_image("qa", "web", "ghcr.io/hearth-demo/web:v3.0.0")
        .unwrap();
    while !seen.contains("MODIFIED") {
        line.clear();
        let n = tokio::time::timeout(Duration::from_secs(20), reader.read_line(&mut line))
            .await
            .expect("a MODIFIED event")
            .unwrap();
        assert!(n > 0, "watch ended early: {seen}");
        seen.push_str(&line);
    }
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_target_set_image_rolls_out_both_containers() {
    let sb = start(1, 20.0).await;
    sb.cluster
        .set_image("default", "api", "ghcr.io/hearth-demo/api:v1.6.0")
        .unwrap();
    let dep = sb.kjson(&["get", "deploy", "api", "-n", "default"]).await;
    let spec = &dep["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["image"],
        "ghcr.io/hearth-demo/api:v1.6.0"
    );
    assert_eq!(
        spec["initContainers"][0]["image"],
        "ghcr.io/hearth-demo/api:v1.6.0"
    );
    sb.k(&[
        "rollout",
        "status",
        "deploy/api",
        "-n",
        "default",
        "--timeout=60s",
    ])
    .await;
    // Old ReplicaSets beyond revisionHistoryLimit are pruned.
    sb.k(&[
        "patch",
        "deploy",
        "api",
        "-n",
        "default",
        "--type=merge",
        "-p",
        r#"{"spec":{"revisionHistoryLimit":1}}"#,
    ])
    .await;
    for tag in ["v1.7.0", "v1.8.0"] {
        sb.cluster
            .set_image("default", "api", &format!("ghcr.io/hearth-demo/api:{tag}"))
            .unwrap();
        sb.k(&[
            "rollout",
            "status",
            "deploy/api",
            "-n",
            "default",
            "--timeout=60s",
        ])
        .await;
    }
    eventually(30, "pruned ReplicaSets", || async {
        let rs = sb
            .kjson(&["get", "rs", "-n", "default", "-l", "app=api"])
            .await;
        (rs["items"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    let history = sb
        .k(&["rollout", "history", "deploy/api", "-n", "default"])
        .await;
    assert!(history.contains('3') && history.contains('4'), "{history}");
    assert!(sb.cluster.set_image("default", "nope", "x:1").is_err());
    assert!(sb
        .cluster
        .set_image("default", "api", "other/image:1")
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_migration_keeps_old_pods_serving() {
    let sb = start(2, 20.0).await;
    // A short deadline so ProgressDeadlineExceeded shows within the test.
    sb.k(&[
        "patch",
        "deploy",
        "web",
        "-n",
        "qa",
        "--type=merge",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":60}}"#,
    ])
    .await;
    sb.faults.apply(Fault::MigrationFail {
        service: "web".into(),
    });
    sb.cluster
        .set_image("qa", "web", "ghcr.io/hearth-demo/web:v9.0.0-bad")
        .unwrap();
    // The new pod crash-loops in its migrate init container...
    let pod = eventually(30, "Init:CrashLoopBackOff", || async {
        let pods = sb
            .kjson(&["get", "pods", "-n", "qa", "-l", "app=web"])
            .await;
        pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["status"]["initContainerStatuses"][0]["restartCount"]
                    .as_i64()
                    .unwrap_or(0)
                    >= 1
                    && p["status"]["initContainerStatuses"][0]["state"]["waiting"]["reason"]
                        == "CrashLoopBackOff"
            })
            .cloned()
    })
    .await;
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(
        pod["status"]["initContainerStatuses"][0]["lastState"]["terminated"]["exitCode"],
        1
    );
    let table = sb.k(&["get", "pods", "-n", "qa", "-l", "app=web"]).await;
    assert!(
        table.contains("Init:CrashLoopBackOff") || table.contains("Init:0/1"),
        "{table}"
    );
    let out = sb
        .k(&[
            "logs",
            pod["metadata"]["name"].as_str().unwrap(),
            "-n",
            "qa",
            "-c",
            "migrate",
        ])
        .await;
    assert!(out.contains("failed"), "{out}");
    // ...while the old pods keep serving (maxUnavailable 0 for 2 replicas).
    let dep = eventually(60, "ProgressDeadlineExceeded", || async {
        let dep = sb.kjson(&["get", "deploy", "web", "-n", "qa"]).await;
        let stuck = dep["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
        stuck.then_some(dep)
    })
    .await;
    assert_eq!(dep["status"]["availableReplicas"], 2);
    assert_eq!(dep["status"]["updatedReplicas"], 1);
    let ready_old = sb
        .kjson(&["get", "pods", "-n", "qa", "-l", "app=web"])
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["spec"]["containers"][0]["image"] == "ghcr.io/hearth-demo/web:v1.5.0-rc.1"
                && p["status"]["conditions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count();
    assert_eq!(ready_old, 2);
    let out = sb
        .kubectl(&[
            "rollout",
            "status",
            "deploy/web",
            "-n",
            "qa",
            "--timeout=20s",
        ])
        .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains("exceeded its progress deadline"),
        "{}",
        out.stderr
    );
    let events = sb.k(&["get", "events", "-n", "qa"]).await;
    assert!(events.contains("BackOff"), "{events}");
    // Repeated back-offs are one event with a rising count.
    let evs = sb
        .kjson(&[
            "get",
            "events",
            "-n",
            "qa",
            "--field-selector",
            "reason=BackOff",
        ])
        .await;
    let evs = evs["items"].as_array().unwrap();
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0]["count"].as_i64().unwrap() >= 2, "{evs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http_410_409_faults() {
    let sb = start(2, 20.0).await;
    // 410 Gone (as a watch ERROR event) for a version older than the history.
    let (status, body) = sb
        .http(
            "GET",
            "/apis/apps/v1/namespaces/qa/deployments?watch=1&resourceVersion=1",
            "",
            "",
        )
        .await;
    assert_eq!(status, 200);
    let ev: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    // A version it never issued (a client of an earlier sandbox on this
    // port): the API server's "Too large resource version", so it lists again.
    let (status, body) = sb
        .http(
            "GET",
            "/apis/apps/v1/namespaces/qa/deployments?watch=1&resourceVersion=999999999",
            "",
            "",
        )
        .await;
    assert_eq!(status, 504, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["reason"], "Timeout");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("Too large resource version: 999999999, current: "));
    assert_eq!(
        err["details"]["causes"][0]["reason"],
        "ResourceVersionTooLarge"
    );

    // Pagination with limit/continue.
    let (_, body) = sb
        .http("GET", "/apis/apps/v1/deployments?&limit=3", "", "")
        .await;
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
    let token = page["metadata"]["continue"].as_str().unwrap();
    let (_, body) = sb
        .http(
            "GET",
            &format!("/apis/apps/v1/deployments?limit=3&continue={token}"),
            "",
            "",
        )
        .await;
    let page2: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page2["items"].as_array().unwrap().len(), 1);
    assert!(page2["metadata"]["continue"].is_null());
    assert_eq!(
        page2["metadata"]["resourceVersion"],
        page["metadata"]["resourceVersion"]
    );

    // 409 Conflict for an update carrying a stale resourceVersion.
    let (_, body) = sb
        .http("GET", "/apis/apps/v1/namespaces/qa/deployments/api", "", "")
        .await;
    let mut dep: Value = serde_json::from_str(&body).unwrap();
    dep["spec"]["replicas"] = 4.into();
    let (status, _) = sb
        .http(
            "PUT",
            "/apis/apps/v1/namespaces/qa/deployments/api",
            "application/json",
            &dep.to_string(),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = sb
        .http(
            "PUT",
            "/apis/apps/v1/namespaces/qa/deployments/api",
            "application/json",
            &dep.to_string(),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let st: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["reason"], "Conflict");
    // Unsupported patch types and bad JSON get clear errors.
    let (status, _) = sb
        .http(
            "PATCH",
            "/apis/apps/v1/namespaces/qa/deployments/api",
            "text/plain",
            "{}",
        )
        .await;
    assert_eq!(status, 415);
    let (status, _) = sb
        .http(
            "PATCH",
            "/apis/apps/v1/namespaces/qa/deployments/api",
            "application/merge-patch+json",
            "{nope",
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = sb
        .http("GET", "/apis/apps/v1/namespaces/qa/widgets", "", "")
        .await;
    assert_eq!(status, 404);
    let (status, _) = sb
        .http(
            "GET",
            "/api/v1/namespaces/qa/pods?labelSelector=app%20in%20(api",
            "",
            "",
        )
        .await;
    assert_eq!(status, 400);

    // Malformed bodies on demand.
    sb.faults.apply(Fault::Malformed {
        path: "/apis/apps/v1/namespaces/qa/deployments".into(),
    });
    let (_, body) = sb
        .http("GET", "/apis/apps/v1/namespaces/qa/deployments", "", "")
        .await;
    assert!(serde_json::from_str::<Value>(&body).is_err());
    sb.faults.clear();

    // Slow responses.
    sb.faults.apply(Fault::Slow { ms: 300 });
    let t = Instant::now();
    sb.http("GET", "/version", "", "").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    sb.faults.clear();

    // Dropping watches ends open streams.
    let client = sb.client();
    let mut resp = client
        .get(format!("{}/apis/apps/v1/deployments?watch=true", sb.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap();
    assert!(first.is_some());
    sb.faults.apply(Fault::DropWatches);
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(_chunk) = resp.chunk().await.unwrap() {}
    })
    .await;
    assert!(ended.is_ok(), "watch stream ended after DropWatches");
    let journal = sb.journal.entries();
    assert!(journal.iter().any(|e| e.method == "PUT" && e.status == 409));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_client_list_watch_patch_logs() {
    use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
    use kube::runtime::watcher;

    let sb = start(3, 20.0).await;
    let client = sb.kube_client();
    let all: Api<Deployment> = Api::all(client.clone());
    assert_eq!(
        all.list(&ListParams::default()).await.unwrap().items.len(),
        6
    );
    let qa: Api<Deployment> = Api::namespaced(client.clone(), "qa");
    let listed = qa
        .list(&ListParams::default().labels("app=api"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());

    let image_of = |d: &Deployment| {
        d.spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap()
    };
    for config in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut stream = watcher(qa.clone(), config).boxed();
        let mut initial = 0;
        loop {
            match stream.try_next().await.unwrap().unwrap() {
                watcher::Event::InitApply(_) => initial += 1,
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
        assert_eq!(initial, 3);
        // Drop every watch: the watcher reconnects and keeps delivering.
        sb.faults.apply(Fault::DropWatches);
        let tag = format!("v7.0.{initial}-{}", sb.journal.entries().len());
        let patch = serde_json::json!({"spec": {"template": {"spec": {
            "containers": [{"name": "worker", "image": format!("ghcr.io/hearth-demo/worker:{tag}")}]}}}});
        qa.patch("worker", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .unwrap();
        let done = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let watcher::Event::Apply(d) = stream.try_next().await.unwrap().unwrap() {
                    let st = d.status.clone().unwrap_or_default();
                    if image_of(&d).ends_with(&tag)
                        && st.observed_generation == d.metadata.generation
                        && st.updated_replicas == Some(2)
                        && st.available_replicas == Some(2)
                        && st.replicas == Some(2)
                    {
                        return d;
                    }
                }
            }
        })
        .await
        .expect("rollout seen through the watcher");
        assert_eq!(
            done.status.unwrap().observed_generation,
            done.metadata.generation
        );
    }

    // Merge and JSON patches.
    let d = qa
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    let ops: json_patch::Patch = serde_json::from_value(serde_json::json!([
        {"op": "replace", "path": "/spec/replicas", "value": 1}
    ]))
    .unwrap();
    let d = qa
        .patch("web", &PatchParams::default(), &Patch::<()>::Json(ops))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(1));

    // Pod logs, one-shot and streamed.
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = pods
        .list(&ListParams::default().labels("app=api"))
        .await
        .unwrap()
        .items[0]
        .metadata
        .name
        .clone()
        .unwrap();
    let text = pods
        .logs(
            &pod,
            &LogParams {
                container: Some("api".into()),
                tail_lines: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let stream = pods
        .log_stream(
            &pod,
            &LogParams {
                container: Some("api".into()),
                follow: true,
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let lines: Vec<String> = tokio::time::timeout(
        Duration::from_secs(30),
        stream.lines().take(3).try_collect(),
    )
    .await
    .expect("log_stream delivers lines")
    .unwrap();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.contains("v1.4.0")), "{lines:?}");
}

/// Bench figure: seeding 300 services, then a full list and a watch of all
/// their Deployments through the kube client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_300_services_list_and_watch() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, ListParams};
    use kube::runtime::watcher;

    let t = Instant::now();
    let sb = start(300, 10.0).await;
    let seeded = t.elapsed();
    let all: Api<Deployment> = Api::all(sb.kube_client());
    let t = Instant::now();
    let list = all.list(&ListParams::default()).await.unwrap();
    let listed = t.elapsed();
    assert_eq!(list.items.len(), 600);
    let t = Instant::now();
    let mut stream = watcher(all, watcher::Config::default()).boxed();
    let mut n = 0;
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            watcher::Event::InitApply(_) => n += 1,
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    let watched = t.elapsed();
    assert_eq!(n, 600);
    eprintln!(
        "bench: seed 300 services {seeded:?}; list 600 deployments {listed:?}; watcher initial sync {watched:?}"
    );
    assert!(seeded < Duration::from_secs(10), "seeding took {seeded:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_restart_delete_and_kube_create() {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, PostParams};

    let sb = start(3, 20.0).await;
    sb.k(&["scale", "deploy", "web", "-n", "qa", "--replicas=4"])
        .await;
    sb.k(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "qa",
        "--timeout=60s",
    ])
    .await;
    let pods = sb
        .kjson(&["get", "pods", "-n", "qa", "-l", "app=web"])
        .await;
    assert_eq!(pods["items"].as_array().unwrap().len(), 4);

    sb.k(&["rollout", "restart", "deploy/api", "-n", "qa"])
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
    let rs = sb.kjson(&["get", "rs", "-n", "qa", "-l", "app=api"]).await;
    assert_eq!(rs["items"].as_array().unwrap().len(), 2);

    // A paused deployment holds a template change until resumed.
    sb.k(&["rollout", "pause", "deploy/worker", "-n", "qa"])
        .await;
    sb.k(&[
        "set",
        "image",
        "deploy/worker",
        "-n",
        "qa",
        "worker=ghcr.io/hearth-demo/worker:v5.0.0",
    ])
    .await;
    let dep = eventually(30, "DeploymentPaused", || async {
        let dep = sb.kjson(&["get", "deploy", "worker", "-n", "qa"]).await;
        let paused = dep["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["reason"] == "DeploymentPaused");
        paused.then_some(dep)
    })
    .await;
    assert_eq!(dep["status"]["availableReplicas"], 2);
    let rs = sb
        .kjson(&["get", "rs", "-n", "qa", "-l", "app=worker"])
        .await;
    assert_eq!(
        rs["items"].as_array().unwrap().len(),
        1,
        "no new ReplicaSet while paused"
    );
    sb.k(&["rollout", "resume", "deploy/worker", "-n", "qa"])
        .await;
    sb.k(&[
        "rollout",
        "status",
        "deploy/worker",
        "-n",
        "qa",
        "--timeout=60s",
    ])
    .await;
    let rs = sb
        .kjson(&["get", "rs", "-n", "qa", "-l", "app=worker"])
        .await;
    assert_eq!(rs["items"].as_array().unwrap().len(), 2);

    // A deleted pod terminates and its ReplicaSet replaces it.
    let pods = sb
        .kjson(&["get", "pods", "-n", "default", "-l", "app=web"])
        .await;
    let victim = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    sb.k(&["delete", "pod", &victim, "-n", "default"]).await;
    eventually(30, "a replacement pod", || async {
        let pods = sb
            .kjson(&["get", "pods", "-n", "default", "-l", "app=web"])
            .await;
        let items = pods["items"].as_array().unwrap().clone();
        let ready = items
            .iter()
            .filter(|p| p["status"]["containerStatuses"][0]["ready"] == true)
            .count();
        (items
            .iter()
            .all(|p| p["metadata"]["name"] != victim.as_str())
            && ready == 2)
            .then_some(())
    })
    .await;

    // JSON clients can create a Deployment; the controller rolls it out.
    let api: Api<Deployment> = Api::namespaced(sb.kube_client(), "qa");
    let dep: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "hello"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "hello"}},
            "template": {"metadata": {"labels": {"app": "hello"}},
                "spec": {"containers": [{"name": "hello", "image": "nginx:1.27"}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &dep).await.unwrap();
    sb.k(&[
        "rollout",
        "status",
        "deploy/hello",
        "-n",
        "qa",
        "--timeout=60s",
    ])
    .await;
    assert!(
        api.create(&PostParams::default(), &dep).await.is_err(),
        "409 AlreadyExists"
    );
}

/// A 10-replica rollout never has more than 13 live pods (maxSurge 25%
/// rounds up to 3) nor fewer than 8 ready ones (maxUnavailable 25% rounds
/// down to 2), observed through a kube watcher on every pod change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_respects_surge_and_unavailable() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams};
    use kube::runtime::watcher;
    use std::collections::BTreeMap;

    let sb = start(2, 20.0).await;
    let client = sb.kube_client();
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "qa");
    let scale = serde_json::json!({"spec": {"replicas": 10}});
    deps.patch("web", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    sb.k(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "qa",
        "--timeout=60s",
    ])
    .await;

    let pods: Api<Pod> = Api::namespaced(client, "qa");
    let config = watcher::Config::default().labels("app=web");
    let mut stream = watcher(pods, config).boxed();
    let mut state: BTreeMap<String, (bool, bool, String)> = BTreeMap::new();
    let summary = |p: &Pod| {
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let image = p.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap();
        (p.metadata.deletion_timestamp.is_none(), ready, image)
    };
    loop {
        match stream.try_next().await.unwrap().unwrap() {
            watcher::Event::InitApply(p) => {
                state.insert(p.metadata.name.clone().unwrap(), summary(&p));
            }
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(state.len(), 10);
    sb.cluster
        .set_image("qa", "web", "ghcr.io/hearth-demo/web:v2.0.0")
        .unwrap();
    let (mut max_live, mut min_ready) = (0, usize::MAX);
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match stream.try_next().await.unwrap().unwrap() {
                watcher::Event::Apply(p) => {
                    state.insert(p.metadata.name.clone().unwrap(), summary(&p));
                }
                watcher::Event::Delete(p) => {
                    state.remove(&p.metadata.name.clone().unwrap());
                }
                _ => continue,
            }
            let live = state.values().filter(|(l, _, _)| *l).count();
            let ready = state.values().filter(|(l, r, _)| *l && *r).count();
            max_live = max_live.max(live);
            min_ready = min_ready.min(ready);
            let done = state.len() == 10
                && state
                    .values()
                    .all(|(l, r, i)| *l && *r && i.ends_with(":v2.0.0"));
            if done {
                return;
            }
        }
    })
    .await
    .expect("rollout completes");
    assert!(max_live <= 13, "at most 13 live pods, saw {max_live}");
    assert!(max_live > 10, "the rollout surged, saw {max_live}");
    assert!(min_ready >= 8, "at least 8 ready pods, saw {min_ready}");
}

/// Stress figure (run with `--ignored`): every one of 600 Deployments rolls
/// out at once, as a `ship_all` of 300 services would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress figure, not a regression test"]
async fn stress_rollout_all_300_services() {
    let sb = start(300, 10.0).await;
    let t = Instant::now();
    for s in services(300) {
        for ns in ["default", "qa"] {
            sb.cluster
                .set_image(ns, &s.name, &format!("{}:v9.0.0", s.image))
                .unwrap();
        }
    }
    let client = sb.client();
    loop {
        let body: Value = client
            .get(format!("{}/apis/apps/v1/deployments", sb.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let done = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["reason"] == "NewReplicaSetAvailable")
                    && d["status"]["observedGeneration"] == d["metadata"]["generation"]
            })
            .count();
        if done == 600 {
            eprintln!("stress: 600 rollouts complete after {:?}", t.elapsed());
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "only {done} of 600 rolled out"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_file_writes_validate_fields_and_server_side_apply() {
    let sb = start(2, 20.0).await;
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/rbac/ci.yaml");
    // Default client-side validation reads /openapi/v3 first.
    let out = sb.k(&["apply", "-f", manifest]).await;
    assert!(out.contains("namespace/ci created"), "{out}");
    assert!(
        out.contains("role.rbac.authorization.k8s.io/github-deployer created"),
        "{out}"
    );
    let out = sb.k(&["apply", "-f", manifest]).await;
    assert!(out.contains("namespace/ci unchanged"), "{out}");
    assert!(!out.contains("created"), "{out}");
    let out = sb.k(&["apply", "--server-side", "-f", manifest]).await;
    assert!(out.contains("namespace/ci serverside-applied"), "{out}");
    // The token controller filled in the token and the CA.
    let secret = sb
        .kjson(&["get", "secret", "github-deployer-token", "-n", "ci"])
        .await;
    assert!(secret["data"]["token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert!(secret["data"]["ca.crt"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));

    // Unknown fields are refused as the apiserver does under Strict.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n  namespace: qa\n  labelz: {a: b}\n",
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    for verb in ["apply", "create"] {
        let out = sb.kubectl(&[verb, "-f", bad]).await;
        assert!(!out.ok, "{verb}: {}", out.stdout);
        assert!(
            out.stderr
                .contains("strict decoding error: unknown field \"metadata.labelz\""),
            "{verb}: {}",
            out.stderr
        );
    }
    let out = sb.kubectl(&["get", "sa", "x", "-n", "qa"]).await;
    assert!(!out.ok, "nothing was created: {}", out.stdout);
    sb.k(&["apply", "--validate=false", "-f", bad]).await;

    // replace -f: a known field changes, an unknown one is refused.
    let live = dir.path().join("web.json");
    let mut dep = sb.kjson(&["get", "deploy", "web", "-n", "qa"]).await;
    dep["spec"]["replicas"] = serde_json::json!(3);
    std::fs::write(&live, serde_json::to_vec(&dep).unwrap()).unwrap();
    sb.k(&["replace", "-f", live.to_str().unwrap()]).await;
    let mut dep = sb.kjson(&["get", "deploy", "web", "-n", "qa"]).await;
    assert_eq!(dep["spec"]["replicas"], 3);
    dep["spec"]["replicaz"] = serde_json::json!(4);
    std::fs::write(&live, serde_json::to_vec(&dep).unwrap()).unwrap();
    let out = sb.kubectl(&["replace", "-f", live.to_str().unwrap()]).await;
    assert!(
        !out.ok && out.stderr.contains("unknown field \"spec.replicaz\""),
        "{}",
        out.stderr
    );
}

/// Check `v` against a schema of the fixture's shape: declared properties
/// only (a structural schema prunes the rest), types, enums, patterns and
/// required fields. Returns every mismatch as `path: what`.
fn check_schema(v: &Value, schema: &Value, defs: &Value, path: &str, out: &mut Vec<String>) {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(name) => &defs[name],
        None => schema,
    };
    if schema["x-any"] == true {
        return;
    }
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        _ => true,
    };
    if !ok {
        out.push(format!("{path}: {v} is not a {ty}"));
        return;
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(v) {
            out.push(format!("{path}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(p), Some(s)) = (schema["pattern"].as_str(), v.as_str()) {
        if !regex::Regex::new(p).unwrap().is_match(s) {
            out.push(format!("{path}: {s:?} does not match {p}"));
        }
    }
    if schema["format"] == "date-time" {
        if let Some(s) = v.as_str() {
            if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                out.push(format!("{path}: {s:?} is not a date-time"));
            }
        }
    }
    if let Some(obj) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(r.as_str().unwrap()) {
                out.push(format!("{path}.{}: required", r.as_str().unwrap()));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, val) in obj {
                match props.get(k) {
                    Some(s) => check_schema(val, s, defs, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: not declared by the CRD")),
                }
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
        for (i, item) in list.iter().enumerate() {
            check_schema(item, items, defs, &format!("{path}[{i}]"), out);
        }
    }
}

/// Flux's kinds as the real kubectl sees them, and as Flux's published v1
/// CRDs declare them (the fixture): list, get, annotate, the printer
/// columns, and a controller that applies a pushed manifest at once when
/// asked, reports `lastAppliedRevision`, stalls on a manifest it cannot
/// parse, and leaves a suspended Kustomization alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_kinds_follow_the_published_crds() {
    let sb = start(1, 20.0).await;
    let repo = sb.dir.path().join("gitops.git");
    let work = sb.dir.path().join("work");
    let git = |dir: &std::path::Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    std::fs::create_dir_all(work.join("apps/qa")).unwrap();
    let manifest = |tag: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: qa\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/hearth-demo/api:{tag}\n")
    };
    std::fs::write(work.join("apps/qa/api.yaml"), manifest("v1.5.0-rc.1")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "manifests"]);
    git(
        sb.dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            repo.to_str().unwrap(),
        ],
    );
    git(&work, &["remote", "add", "origin", repo.to_str().unwrap()]);
    sb.cluster.seed_flux(&hearth_sandbox::k8s::flux::FluxSeed {
        url: format!("file://{}", repo.display()),
        branch: "main".into(),
        kustomizations: vec![("apps-qa".into(), "./apps/qa".into())],
    });
    hearth_sandbox::k8s::flux::spawn(&sb.cluster, sb.cluster.clone());

    let head = git(&work, &["rev-parse", "HEAD"]);
    eventually(20, "the first reconcile", || async {
        let v = sb
            .kjson(&[
                "get",
                "kustomizations.kustomize.toolkit.fluxcd.io",
                "apps-qa",
                "-n",
                "flux-system",
            ])
            .await;
        (v["status"]["lastAppliedRevision"] == format!("main@sha1:{head}")).then_some(())
    })
    .await;

    // What is served matches the CRDs' schemas.
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/flux_v1_subset.json")).unwrap();
    for (kind, resource, name) in [
        (
            "Kustomization",
            "kustomizations.kustomize.toolkit.fluxcd.io",
            "apps-qa",
        ),
        (
            "GitRepository",
            "gitrepositories.source.toolkit.fluxcd.io",
            "gitops",
        ),
    ] {
        let v = sb
            .kjson(&["get", resource, name, "-n", "flux-system"])
            .await;
        let mut problems = Vec::new();
        check_schema(&v, &fixture[kind]["schema"], &fixture, kind, &mut problems);
        assert!(problems.is_empty(), "{kind}: {problems:#?}\n{v:#}");
        // The printer columns kubectl prints.
        let table = sb.k(&["get", resource, "-n", "flux-system"]).await;
        let header: Vec<String> = table
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .map(str::to_uppercase)
            .collect();
        let want: Vec<String> = fixture[kind]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_uppercase())
            .collect();
        assert_eq!(header, want, "{table}");
    }
    // A schema check that can fail: an undeclared field and a bad enum.
    let mut bad = sb
        .kjson(&["get", "ks", "apps-qa", "-n", "flux-system"])
        .await;
    bad["status"]["lastAppliedRevison"] = serde_json::json!("x");
    bad["status"]["conditions"][0]["status"] = serde_json::json!("Yes");
    let mut problems = Vec::new();
    check_schema(
        &bad,
        &fixture["Kustomization"]["schema"],
        &fixture,
        "ks",
        &mut problems,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");

    // A pushed manifest is applied at once when asked (kubectl annotate).
    std::fs::write(work.join("apps/qa/api.yaml"), manifest("v1.5.1")).unwrap();
    git(&work, &["commit", "-qam", "deploy v1.5.1"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let head = git(&work, &["rev-parse", "HEAD"]);
    for what in ["gitrepository/gitops", "kustomization/apps-qa"] {
        sb.k(&[
            "annotate",
            "--overwrite",
            "-n",
            "flux-system",
            what,
            "reconcile.fluxcd.io/requestedAt=now-1",
        ])
        .await;
    }
    eventually(10, "the asked-for reconcile", || async {
        let v = sb
            .kjson(&["get", "ks", "apps-qa", "-n", "flux-system"])
            .await;
        (v["status"]["lastAppliedRevision"] == format!("main@sha1:{head}")
            && v["status"]["lastHandledReconcileAt"] == "now-1")
            .then_some(())
    })
    .await;
    let image = sb
        .k(&[
            "get",
            "deploy",
            "api",
            "-n",
            "qa",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(image, "ghcr.io/hearth-demo/api:v1.5.1");

    // A manifest it cannot parse stalls it, with a message.
    std::fs::write(work.join("apps/qa/bad.yaml"), "kind: [oops\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "broken"]);
    git(&work, &["push", "-q", "origin", "main"]);
    for what in ["gitrepository/gitops", "kustomization/apps-qa"] {
        sb.k(&[
            "annotate",
            "--overwrite",
            "-n",
            "flux-system",
            what,
            "reconcile.fluxcd.io/requestedAt=now-2",
        ])
        .await;
    }
    let stalled = eventually(10, "Stalled", || async {
        let v = sb
            .kjson(&["get", "ks", "apps-qa", "-n", "flux-system"])
            .await;
        let conds = v["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if v["status"]["lastHandledReconcileAt"] != "now-2" {
            return None;
        }
        conds
            .iter()
            .find(|c| c["type"] == "Stalled" && c["status"] == "True")
            .map(|c| c["message"].as_str().unwrap_or("").to_string())
    })
    .await;
    assert!(stalled.contains("kustomize build failed"), "{stalled}");
    let table = sb.k(&["get", "ks", "-n", "flux-system"]).await;
    assert!(table.contains("False"), "{table}");

    // Suspended: a reconcile asked for is not handled.
    sb.k(&[
        "patch",
        "ks",
        "apps-qa",
        "-n",
        "flux-system",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ])
    .await;
    sb.k(&[
        "annotate",
        "--overwrite",
        "-n",
        "flux-system",
        "kustomization/apps-qa",
        "reconcile.fluxcd.io/requestedAt=now-3",
    ])
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let v = sb
        .kjson(&["get", "ks", "apps-qa", "-n", "flux-system"])
        .await;
    assert_eq!(v["status"]["lastHandledReconcileAt"], "now-2", "{v:#}");
}
