//! Live sources over real HTTP: the Kubernetes watches and GitHub polling
//! against the embedded sandbox (and, for failure modes the sandbox does not
//! model, against a tiny local API server), `hearth status`, and the token
//! never leaking.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use hearth::app::{Msg, SourceId};
use hearth::cluster;
use hearth::model::{EnvObservation, ProblemKind, SourceStatus};
use hearth::registry::{Registry, Service};
use tokio::sync::mpsc;

mod support;

/// Watch one target, its events forwarded into `tx` as the control room does.
async fn watch_target(t: cluster::Target, tx: mpsc::Sender<Msg>) {
    let (etx, forward) = hearth::app::sources::forward::<cluster::Event>(tx);
    cluster::run_target(t, etx).await;
    let _ = forward.await;
}

/// A service as the registry would load it, for hand-built registries.
fn service(name: &str) -> Service {
    Service {
        directory: "/nonexistent".into(),
        image: Some(format!("ghcr.io/hearth-demo/{name}")),
        repo: Some(format!("hearth-demo/{name}")),
        ..Service::example(name)
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
    let mut targets = cluster::targets(&registry(vec![service("api")]), &Default::default(), &[]);
    let mut t = targets.remove(0);
    t.kubeconfig = Some(kubeconfig(dir.path(), &url));
    let (tx, mut rx) = mpsc::channel(100);
    let task = tokio::spawn(watch_target(t, tx));
    let (ok, msgs) = until(&mut rx, Duration::from_secs(20), |m| {
        matches!(
            m,
            Msg::Workload {
                observation: EnvObservation::Error(_),
                ..
            }
        )
    })
    .await;
    task.abort();
    assert!(ok, "no error observation: {msgs:?}");
    match observation_of(&msgs, "api", "prod").unwrap() {
        EnvObservation::Error(hearth::model::Problem { message, hint, .. }) => {
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
    let mut targets = cluster::targets(&registry(vec![service("api")]), &Default::default(), &[]);
    let mut t = targets.remove(0);
    t.kubeconfig = Some(kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}")));
    let obs = cluster::list_once(&t, Duration::from_secs(10)).await;
    match &obs[0].2 {
        EnvObservation::Error(hearth::model::Problem { message, hint, .. }) => {
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
    let task = tokio::spawn(watch_target(t, tx));
    let (ok, msgs) = until(&mut rx, Duration::from_secs(20), |m| {
        matches!(
            m,
            Msg::Workload {
                observation: EnvObservation::Error(_),
                ..
            }
        )
    })
    .await;
    task.abort();
    assert!(ok, "{msgs:?}");
}

#[tokio::test]
async fn unknown_context_names_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut svc = service("api");
    for env in &mut svc.environments {
        env.context = Some("staging".into());
    }
    let mut targets = cluster::targets(&registry(vec![svc]), &Default::default(), &[]);
    let mut t = targets.remove(0);
    t.kubeconfig = Some(kubeconfig(dir.path(), "http://127.0.0.1:1"));
    let obs = cluster::list_once(&t, Duration::from_secs(10)).await;
    match &obs[0].2 {
        EnvObservation::Error(hearth::model::Problem { message, hint, .. }) => {
            assert!(message.contains("context \"staging\""), "{message}");
            assert!(hint.contains("known contexts: c"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
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
    let mut targets = cluster::targets(&registry(vec![service("api")]), &Default::default(), &[]);
    let mut t = targets.remove(0);
    t.kubeconfig = Some(kubeconfig(dir.path(), &url));
    let obs = cluster::list_once(&t, Duration::from_secs(10)).await;
    assert!(
        matches!(&obs[0].2, EnvObservation::Missing { hint } if hint.contains("no deployment \"api\"")),
        "{obs:?}"
    );
    let (tx, mut rx) = mpsc::channel(100);
    let task = tokio::spawn(watch_target(t, tx));
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

// ---------------------------------------------------------------------------
// Against the embedded sandbox.

use std::sync::Arc;

use hearth::app::{update, Mode, State};
use hearth::github::{self, Attention, Intervals, Steering, Token};
use hearth::model::Rollout;
use hearth_sandbox::{self as sandbox, DeployTarget, Fault, SandboxHandle, SandboxOptions};

/// Tell the scheduler every service is on screen, as a watch board of 20
/// services shows them.
fn show_all(steering: &Steering, registry: &Registry) {
    steering.attend(Attention {
        shown: registry.services.iter().map(|s| s.name.clone()).collect(),
        selected: None,
        attended: true,
    });
}

/// Start the GitHub pollers of `registry` (its `hearth.api_url`), their
/// events forwarded into `tx` as the control room does.
fn spawn_github(
    registry: &Registry,
    token: Option<Token>,
    intervals: Intervals,
    tx: mpsc::Sender<Msg>,
) -> (Steering, Vec<tokio::task::JoinHandle<()>>) {
    let settings = github::Settings {
        api_url: registry.settings.api_url.clone().unwrap_or_default(),
        token,
        intervals,
        owner: registry.settings.github_owner.clone(),
    };
    let (etx, forward) = hearth::app::sources::forward::<github::Event>(tx);
    let pollers = github::spawn(&registry.services, &settings, etx);
    let mut handles = pollers.handles;
    if !handles.is_empty() {
        handles.push(forward);
    }
    (pollers.steering, handles)
}
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// A sandbox in a fresh temporary folder (kept alive by the returned guard).
async fn sandbox(speed: f64, services: Option<usize>) -> (SandboxHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SandboxOptions::new(dir.path().join("sb"));
    opts.speed = speed;
    opts.count = services;
    (sandbox::start(opts).await.expect("sandbox starts"), dir)
}

fn load(sb: &SandboxHandle) -> Registry {
    hearth::registry::load(&sb.services_path()).expect("sandbox registry loads")
}

/// Start the kube watches of `registry` against the sandbox.
fn watch(
    sb: &SandboxHandle,
    registry: &Registry,
    tx: &mpsc::Sender<Msg>,
) -> Vec<tokio::task::JoinHandle<()>> {
    cluster::targets(registry, &Default::default(), &[])
        .into_iter()
        .map(|mut t| {
            t.kubeconfig = Some(sb.kubeconfig_path());
            tokio::spawn(watch_target(t, tx.clone()))
        })
        .collect()
}

fn fast() -> Intervals {
    Intervals {
        idle: Duration::from_millis(500),
        active: Duration::from_millis(200),
        releases: Duration::from_millis(500),
        background: Duration::from_millis(500),
        max_rate: 1000.0,
        ..Intervals::default()
    }
}

fn live_tag(m: &Msg, svc: &str, env: &str) -> Option<String> {
    match m {
        Msg::Workload {
            service,
            env: e,
            observation: EnvObservation::Live(w),
        } if service == svc && e == env => w.image_tag.clone(),
        _ => None,
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Tag the clone's head, push the tag and publish a release for it, as `hearth ship` would.
async fn publish(sb: &SandboxHandle, service: &str, tag: &str, prerelease: bool) {
    let clone = sb.dir.join("repos").join(service);
    git(&clone, &["tag", tag]);
    git(&clone, &["push", "-q", "origin", tag]);
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/repos/hearth-demo/{service}/releases",
            sb.github_url
        ))
        .bearer_auth(&sb.token)
        .json(&serde_json::json!({"tag_name": tag, "name": tag, "prerelease": prerelease}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

fn render(state: &State, w: u16, h: u16) -> String {
    let theme = hearth::ui::Theme::load(None, true).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut view = hearth::ui::ViewState::default();
    terminal
        .draw(|f| hearth::ui::draw(f, state, &mut view, &theme))
        .unwrap();
    let buf = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn hearth_status(sb: &SandboxHandle, json: bool) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"));
    cmd.arg("status");
    if json {
        cmd.arg("--json");
    }
    for (k, v) in &sb.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_flows_from_ci_to_rollout_to_tag_in_status_and_frame() {
    let (sb, _dir) = sandbox(8.0, None).await;
    let registry = load(&sb);
    let (tx, mut rx) = mpsc::channel(4096);
    let mut tasks = watch(&sb, &registry, &tx);
    let (_kicks, gh) = spawn_github(
        &registry,
        Some(Token::new(sb.token.clone(), "GH_TOKEN")),
        fast(),
        tx.clone(),
    );
    tasks.extend(gh);
    let mut all = Vec::new();

    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        live_tag(m, "api", "prod").as_deref() == Some("v0.3.0")
    })
    .await;
    all.extend(seen);
    assert!(ok, "api prod never live at v0.3.0: {all:?}");

    publish(&sb, "api", "v0.4.0", false).await;
    // The run shows up active, with steps, then the rollout, then the tag.
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Runs { service, runs } if service == "api" && runs.first().is_some_and(|r| r.is_active() && r.head_branch.as_deref() == Some("v0.4.0")))
    })
    .await;
    all.extend(seen);
    assert!(ok, "no active run for v0.4.0");
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Jobs { service, jobs, .. } if service == "api" && jobs.iter().any(|j| j.steps.iter().any(|s| s.status == "in_progress" || s.status == "completed")))
    })
    .await;
    all.extend(seen);
    assert!(ok, "no job steps for the run");
    let (ok, seen) = until(&mut rx, Duration::from_secs(60), |m| {
        matches!(m, Msg::Workload { service, env, observation: EnvObservation::Live(w) }
            if service == "api" && env == "prod" && w.image_tag.as_deref() == Some("v0.4.0") && w.rollout == Rollout::Complete)
    })
    .await;
    all.extend(seen);
    assert!(ok, "api prod never completed v0.4.0");
    assert!(
        all.iter().any(
            |m| matches!(m, Msg::Workload { service, env, observation: EnvObservation::Live(w) }
            if service == "api" && env == "prod" && matches!(w.rollout, Rollout::Progressing(_)))
        ),
        "the rollout was never seen in progress"
    );
    // qa untouched.
    let qa = all.iter().rev().find_map(|m| live_tag(m, "api", "qa"));
    assert_eq!(qa.as_deref(), Some("v0.3.1-rc.1"));
    // Let the run complete (it may already have: the deploy step only starts the rollout).
    let done = |m: &Msg| matches!(m, Msg::Runs { service, runs } if service == "api" && runs.first().is_some_and(|r| !r.is_active() && r.head_branch.as_deref() == Some("v0.4.0")));
    if !all.iter().any(done) {
        let (ok, seen) = until(&mut rx, Duration::from_secs(30), done).await;
        all.extend(seen);
        assert!(ok, "the run never completed");
    }
    // Its final jobs snapshot arrives right after.
    let (_, seen) = until(&mut rx, Duration::from_secs(3), |_| false).await;
    all.extend(seen);

    // The control room shows it.
    let mut state = State::new(Arc::new(registry.clone()), Mode::INTERACTIVE);
    for m in all.iter().cloned() {
        update(&mut state, m);
    }
    let frame = render(&state, 200, 50);
    let prod = support::cell(&frame, "api", "PROD");
    assert!(
        prod.as_deref().is_some_and(|c| c.starts_with("v0.4.0 ")),
        "api's PROD cell is {prod:?}:\n{frame}"
    );

    // hearth status --json shows it too.
    let (code, out) = hearth_status(&sb, true);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
    let api = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "api")
        .unwrap();
    let prod = api["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "prod")
        .unwrap();
    assert_eq!(prod["observation"]["image_tag"], "v0.4.0");
    assert_eq!(prod["drift"], false);
    assert_eq!(api["latest_release"]["tag"], "v0.4.0");
    assert_eq!(api["latest_run"]["conclusion"], "success");
    let (code, table) = hearth_status(&sb, false);
    assert_eq!(code, 0);
    // The TAG column (third) of the api/prod row, not any v0.4.0 on the page
    // (RELEASE holds it too).
    let api_prod: Vec<&str> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() > 2 && w[0] == "api" && w[1] == "prod")
        .unwrap_or_else(|| panic!("no api/prod row:\n{table}"));
    assert_eq!(api_prod[2], "v0.4.0", "{table}");

    // The token never appears in anything produced.
    for m in &all {
        assert!(!format!("{m:?}").contains(&sb.token));
    }
    assert!(!frame.contains(&sb.token));
    assert!(!out.contains(&sb.token) && !table.contains(&sb.token));
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_set_image_and_failing_migration_are_followed() {
    let (sb, _dir) = sandbox(8.0, None).await;
    let registry = load(&sb);
    let (tx, mut rx) = mpsc::channel(4096);
    let tasks = watch(&sb, &registry, &tx);
    let (ok, _) = until(&mut rx, Duration::from_secs(30), |m| {
        live_tag(m, "web", "qa").is_some()
    })
    .await;
    assert!(ok);
    let out = std::process::Command::new("kubectl")
        .env("KUBECONFIG", sb.kubeconfig_path())
        .args([
            "--request-timeout=10s",
            "set",
            "image",
            "deploy/web",
            "-n",
            "qa",
            "web=ghcr.io/hearth-demo/web:v7.7.7",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        live_tag(m, "web", "qa").as_deref() == Some("v7.7.7")
    })
    .await;
    assert!(ok, "{seen:?}");

    // A failing migration: the reason names it and says the old pods still serve.
    sb.faults.apply(Fault::MigrationFail {
        service: "billing".into(),
    });
    sb.cluster
        .set_image("default", "billing", "ghcr.io/hearth-demo/billing:v0.9.9")
        .unwrap();
    let (ok, seen) = until(&mut rx, Duration::from_secs(60), |m| {
        matches!(m, Msg::Workload { service, env, observation: EnvObservation::Live(w) }
            if service == "billing" && env == "prod" && w.stuck_reason.as_deref().is_some_and(|r| r.contains("migration") && r.contains("old pods still serving")))
    })
    .await;
    assert!(
        ok,
        "no migration reason: {:?}",
        observation_of(&seen, "billing", "prod")
    );

    // Dropped watches reconnect and re-list: a change made afterwards still arrives.
    sb.faults.apply(Fault::DropWatches);
    sb.cluster
        .set_image("qa", "api", "ghcr.io/hearth-demo/api:v8.8.8")
        .unwrap();
    let (ok, _) = until(&mut rx, Duration::from_secs(30), |m| {
        live_tag(m, "api", "qa").as_deref() == Some("v8.8.8")
    })
    .await;
    assert!(ok, "change after dropped watches not seen");
    for t in tasks {
        t.abort();
    }
}

/// Every log line of this test binary, at trace level (everything the
/// clients log, not just hearth's own lines), for the token scan.
fn captured_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_and_rate_limits_are_shown_and_never_leak() {
    let logs = captured_logs();
    let (sb, _dir) = sandbox(8.0, None).await;
    let registry = load(&sb);
    // No token: GitHub disabled with how to fix it; Kubernetes still flows.
    let (tx, mut rx) = mpsc::channel(4096);
    let tasks = watch(&sb, &registry, &tx);
    let (_k, gh) = spawn_github(&registry, None, fast(), tx.clone());
    assert!(gh.is_empty());
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        live_tag(m, "api", "prod").is_some()
    })
    .await;
    assert!(ok);
    assert!(seen.iter().any(|m| matches!(m, Msg::Source(SourceId::GitHub, SourceStatus::Disabled(s)) if s.to_string().contains("GH_TOKEN"))));
    for t in tasks {
        t.abort();
    }

    // Rate limit exhausted: degraded with when it resets, then live again.
    let (tx, mut rx) = mpsc::channel(4096);
    let token = Token::new(sb.token.clone(), "GH_TOKEN");
    let (_k, gh) = spawn_github(&registry, Some(token), fast(), tx);
    let (ok, mut all) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Source(SourceId::GitHub, SourceStatus::Live))
    })
    .await;
    assert!(ok);
    sb.faults.apply(Fault::RateLimit { seconds: 3 });
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Source(SourceId::GitHub, SourceStatus::Degraded(s)) if s.message.contains("rate limit"))
    })
    .await;
    all.extend(seen);
    assert!(ok, "{all:?}");
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Source(SourceId::GitHub, SourceStatus::Live))
    })
    .await;
    all.extend(seen);
    assert!(ok, "never recovered from the rate limit");
    // A bad token: 401 with what to do, and no secret anywhere.
    let (tx, mut rx) = mpsc::channel(4096);
    let bad = "fake-token-wrong-for-the-sandbox";
    let (_k, gh2) = spawn_github(&registry, Some(Token::new(bad, "GH_TOKEN")), fast(), tx);
    let (ok, seen) = until(
        &mut rx,
        Duration::from_secs(30),
        |m| matches!(m, Msg::GitHubError { problem, .. } if problem.message.contains("401")),
    )
    .await;
    all.extend(seen);
    assert!(ok);
    for m in &all {
        let text = format!("{m:?}");
        assert!(!text.contains(&sb.token) && !text.contains(bad), "{text}");
    }
    // Nor in any log line, at any level.
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logged.contains("github"), "the log capture saw nothing");
    assert!(!logged.contains(&sb.token), "the token is in a log line");
    assert!(!logged.contains(bad), "the bad token is in a log line");
    for t in gh.into_iter().chain(gh2) {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_deadline_is_failed_and_status_exits_1() {
    // At speed 100 the 600 s progress deadline is 6 s.
    let (sb, _dir) = sandbox(100.0, None).await;
    let registry = load(&sb);
    let (tx, mut rx) = mpsc::channel(4096);
    let tasks = watch(&sb, &registry, &tx);
    let (ok, _) = until(&mut rx, Duration::from_secs(30), |m| {
        live_tag(m, "worker", "qa").is_some()
    })
    .await;
    assert!(ok);
    // Without `repo:`, the repo comes from the clone's origin remote (a local
    // `origins/<name>.git` path here) and `hearth.github_owner`.
    let mut worker = registry.service("worker").unwrap().clone();
    worker.repo = None;
    let owner = registry.settings.github_owner.as_deref();
    assert_eq!(
        github::resolve_repo(&worker, owner).as_deref(),
        Ok("hearth-demo/worker")
    );
    let (code, out) = hearth_status(&sb, false);
    assert_eq!(code, 0, "{out}");
    sb.faults.apply(Fault::MigrationFail {
        service: "worker".into(),
    });
    sb.cluster
        .set_image("qa", "worker", "ghcr.io/hearth-demo/worker:v0.5.0-rc.1")
        .unwrap();
    let (ok, seen) = until(&mut rx, Duration::from_secs(60), |m| {
        matches!(m, Msg::Workload { service, env, observation: EnvObservation::Live(w) }
            if service == "worker" && env == "qa" && matches!(w.rollout, Rollout::Failed(_)))
    })
    .await;
    assert!(ok, "{:?}", observation_of(&seen, "worker", "qa"));
    match observation_of(&seen, "worker", "qa") {
        Some(EnvObservation::Live(w)) => {
            assert_eq!(
                w.rollout,
                Rollout::Failed("deployment \"worker\" exceeded its progress deadline".into())
            );
            assert!(w
                .stuck_reason
                .as_deref()
                .unwrap_or("")
                .contains("migration"));
        }
        other => panic!("{other:?}"),
    }
    let (code, out) = hearth_status(&sb, false);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED: deployment \"worker\" exceeded its progress deadline"),
        "{out}"
    );
    for t in tasks {
        t.abort();
    }
}

// ---------------------------------------------------------------------------
// Snapshots of frames built from messages the real sources produced against
// the sandbox. What changes from run to run (pod name suffixes, restart
// counts, the sandbox's release dates, the rate-limit reset time) is
// normalized in the messages before they are replayed, and the clock is
// injected, so the frames are deterministic.

/// 2026-03-01 10:02:30 UTC.
const NOW: i64 = 1_772_359_350;

/// A problem without the ephemeral port of the test's API server.
fn no_port(p: hearth::model::Problem) -> hearth::model::Problem {
    let fix = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("127.0.0.1:") {
            out.push_str(&rest[..i + 10]);
            rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
            out.push_str("PORT");
        }
        out.push_str(rest);
        out
    };
    hearth::model::Problem {
        message: fix(&p.message),
        hint: fix(&p.hint),
        ..p
    }
}

/// A push-built image tag (`sha-<7 hex>`) names a commit of the sandbox's
/// history, whose dates (so hashes) change from run to run.
fn fixed_sha(tag: &mut Option<String>) {
    if let Some(t) = tag {
        if t.len() == 11 && t.starts_with("sha-") {
            *t = "sha-c0ffee0".into();
        }
    }
}

fn normalize(msg: Msg) -> Msg {
    match msg {
        Msg::Workload {
            service,
            env,
            observation: EnvObservation::Error(p),
        } => Msg::Workload {
            service,
            env,
            observation: EnvObservation::Error(no_port(p)),
        },
        Msg::Source(id, SourceStatus::Down(p)) => Msg::Source(id, SourceStatus::Down(no_port(p))),
        Msg::Workload {
            service,
            env,
            observation: EnvObservation::Live(mut w),
        } => {
            w.pods.sort_by(|a, b| {
                (&a.image_tag, &a.status, a.ready).cmp(&(&b.image_tag, &b.status, b.ready))
            });
            fixed_sha(&mut w.image_tag);
            fixed_sha(&mut w.init_image_tag);
            for (i, p) in w.pods.iter_mut().enumerate() {
                fixed_sha(&mut p.image_tag);
                let tag = p.image_tag.clone().unwrap_or_default();
                p.name = format!("{service}-{}-{i}", tag.replace('.', ""));
                p.template_hash = Some(tag);
                p.restarts = p.restarts.min(1);
            }
            if let Some(r) = &w.stuck_reason {
                // "... CrashLoopBackOff, 4 restarts, last exit code 1; ..." → 1 restart-count agnostic.
                let fixed: Vec<String> = r
                    .split(", ")
                    .map(|part| {
                        if part.ends_with(" restarts") {
                            "N restarts".to_string()
                        } else {
                            part.to_string()
                        }
                    })
                    .collect();
                w.stuck_reason = Some(fixed.join(", "));
            }
            Msg::Workload {
                service,
                env,
                observation: EnvObservation::Live(w),
            }
        }
        Msg::Releases {
            service,
            mut releases,
        } => {
            let n = releases.len();
            for (i, r) in releases.iter_mut().enumerate() {
                let day = format!("2026-02-{:02}T09:00:00Z", 20 + n - i);
                r.created_at = Some(day.clone());
                r.published_at = Some(day);
            }
            Msg::Releases { service, releases }
        }
        Msg::Runs { service, mut runs } => {
            for r in &mut runs {
                if r.event == "push" && r.head_branch.as_deref() == Some("main") {
                    r.head_sha = "c0ffee0".repeat(5).chars().take(40).collect();
                }
                r.created_at = Some("2026-03-01T10:00:00Z".into());
                r.updated_at = Some("2026-03-01T10:00:08Z".into());
            }
            Msg::Runs { service, runs }
        }
        Msg::Jobs {
            service,
            run_id,
            mut jobs,
        } => {
            for j in &mut jobs {
                j.started_at = j.started_at.as_ref().map(|_| "2026-03-01T10:00:01Z".into());
                j.completed_at = j
                    .completed_at
                    .as_ref()
                    .map(|_| "2026-03-01T10:00:08Z".into());
                for (k, st) in j.steps.iter_mut().enumerate() {
                    st.started_at = st
                        .started_at
                        .as_ref()
                        .map(|_| format!("2026-03-01T10:00:0{}Z", k + 1));
                    st.completed_at = st
                        .completed_at
                        .as_ref()
                        .map(|_| format!("2026-03-01T10:00:0{}Z", k + 2));
                }
            }
            Msg::Jobs {
                service,
                run_id,
                jobs,
            }
        }
        // The budget's figures vary with the run; whether it is exhausted
        // is what the frame must keep.
        Msg::RateLimit(r) => Msg::RateLimit(hearth::model::RateLimit {
            limit: 5000,
            remaining: if r.remaining == 0 { 0 } else { 4990 },
            used: if r.remaining == 0 { 5000 } else { 10 },
            reset: NOW + 600,
        }),
        Msg::Source(id, SourceStatus::Degraded(m)) if m.message.contains("resets at") => {
            Msg::Source(
                id,
                SourceStatus::Degraded(hearth::model::Problem {
                    message: "GitHub rate limit exhausted; resets at 10:12:30 UTC".into(),
                    ..m
                }),
            )
        }
        other => other,
    }
}

fn replay(registry: &Registry, msgs: &[Msg]) -> State {
    let mut state = State::new(Arc::new(registry.clone()), Mode::INTERACTIVE);
    update(&mut state, Msg::Tick(NOW));
    for m in msgs {
        update(&mut state, normalize(m.clone()));
    }
    update(&mut state, Msg::Tick(NOW));
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_recorded_drift_failed_migration_rate_limited() {
    let (sb, _dir) = sandbox(8.0, None).await;
    let registry = load(&sb);
    let (tx, mut rx) = mpsc::channel(4096);
    let mut tasks = watch(&sb, &registry, &tx);
    let token = Token::new(sb.token.clone(), "GH_TOKEN");
    let (_k, gh) = spawn_github(&registry, Some(token), fast(), tx.clone());
    tasks.extend(gh);
    let mut all = Vec::new();
    // Everything listed and polled once.
    let mut releases_seen = std::collections::HashSet::new();
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        if let Msg::Releases { service, .. } = m {
            releases_seen.insert(service.clone());
        }
        releases_seen.len() == 4
    })
    .await;
    all.extend(seen);
    assert!(ok);
    // Drift: prod api runs a tag no release names.
    sb.cluster
        .set_image("default", "api", "ghcr.io/hearth-demo/api:v0.3.0-hotfix")
        .unwrap();
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Workload { service, env, observation: EnvObservation::Live(w) }
            if service == "api" && env == "prod" && w.image_tag.as_deref() == Some("v0.3.0-hotfix") && w.rollout == Rollout::Complete)
    })
    .await;
    all.extend(seen);
    assert!(ok);
    // A failing migration in qa: stuck, old pods serving.
    sb.faults.apply(Fault::MigrationFail {
        service: "web".into(),
    });
    sb.cluster
        .set_image("qa", "web", "ghcr.io/hearth-demo/web:v1.5.1-rc.1")
        .unwrap();
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Workload { service, env, observation: EnvObservation::Live(w) }
            if service == "web" && env == "qa" && w.stuck_reason.as_deref().is_some_and(|r| r.contains("CrashLoopBackOff")))
    })
    .await;
    all.extend(seen);
    assert!(ok);
    // Rate limited.
    sb.faults.apply(Fault::RateLimit { seconds: 600 });
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::Source(SourceId::GitHub, SourceStatus::Degraded(_)))
    })
    .await;
    all.extend(seen);
    assert!(ok);
    // The poller that met the limit reports it for its service (it sends the
    // source's status first).
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        matches!(m, Msg::GitHubError { .. })
    })
    .await;
    all.extend(seen);
    assert!(ok, "no service reported the rate limit");
    for t in tasks {
        t.abort();
    }
    // Every service that recorded the rate limit says so in its CI cell when
    // the whole recording is replayed.
    let limited: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|m| match m {
            Msg::GitHubError { service, .. } => Some(service.clone()),
            _ => None,
        })
        .collect();
    {
        let mut named = registry.clone();
        named.path = "services.yaml".into();
        let frame = render(&replay(&named, &all), 160, 48);
        for service in ["api", "web", "worker", "billing", "ledger"] {
            let ci = support::cell(&frame, service, "CI").unwrap_or_default();
            assert_eq!(
                ci == "rate limited",
                limited.contains(service),
                "{service}'s CI cell {ci:?} (rate-limit errors recorded for {limited:?}):\n{frame}"
            );
        }
    }
    // Deterministic replay for the snapshot: the crash-looping pod flips
    // between CrashLoopBackOff and Error as it restarts, so keep web/qa as
    // first seen in CrashLoopBackOff (what the wait above waited for); which
    // pollers got a rate-limit error before the shared gate closed is a race
    // (checked cell by cell above), so the snapshot keeps the status and the
    // budget but not those per-service errors.
    let mut stuck_seen = false;
    all.retain(|m| match m {
        Msg::Workload {
            service,
            env,
            observation: EnvObservation::Live(w),
        } if service == "web" && env == "qa" => {
            let keep = !stuck_seen;
            stuck_seen |= w
                .stuck_reason
                .as_deref()
                .is_some_and(|r| r.contains("CrashLoopBackOff"));
            keep
        }
        Msg::GitHubError { .. } => false,
        _ => true,
    });
    // The sandbox's folder is new every run; the snapshot names the file.
    let mut named = registry.clone();
    named.path = "services.yaml".into();
    let state = replay(&named, &all);
    let frame = render(&state, 160, 48);
    // The PROD cell holds the hotfix kubectl set (NOTES or RELEASE cannot
    // satisfy this).
    assert!(
        support::cell(&frame, "api", "PROD").is_some_and(|c| c.starts_with("v0.3.0-hotfix")),
        "{frame}"
    );
    // The stuck cell: what serves, where it is moving, the new pods' readiness.
    let web = frame
        .lines()
        .find(|l| l.starts_with("│web "))
        .expect("web row");
    assert!(web.contains("v1.5.0-rc.1 → v1.5.1-rc.1 0/2 ✗"), "{frame}");
    insta::assert_snapshot!("recorded_drift_failed_migration_rate_limited_160x48", frame);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_recorded_no_token_unreachable_cluster() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let kc = kubeconfig(dir.path(), &format!("http://127.0.0.1:{port}"));
    let registry = registry(vec![service("api"), service("web")]);
    let (tx, mut rx) = mpsc::channel(4096);
    let mut tasks = Vec::new();
    for mut t in cluster::targets(&registry, &Default::default(), &[]) {
        t.kubeconfig = Some(kc.clone());
        tasks.push(tokio::spawn(watch_target(t, tx.clone())));
    }
    let (_k, gh) = spawn_github(&registry, None, fast(), tx.clone());
    assert!(gh.is_empty());
    let mut errors = 0;
    let (ok, mut all) = until(&mut rx, Duration::from_secs(30), |m| {
        if matches!(
            m,
            Msg::Workload {
                observation: EnvObservation::Error(_),
                ..
            }
        ) {
            errors += 1;
        }
        errors == 4
    })
    .await;
    assert!(ok, "{all:?}");
    // Whatever else is queued (source statuses).
    while let Ok(m) = rx.try_recv() {
        all.push(m);
    }
    for t in tasks {
        t.abort();
    }
    // The port differs per run; the message does not name it.
    let state = replay(&registry, &all);
    let frame = render(&state, 120, 35);
    assert!(frame.contains("GH_TOKEN"), "{frame}");
    insta::assert_snapshot!("recorded_no_token_unreachable_cluster_120x35", frame);
}

// ---------------------------------------------------------------------------
// Measurements (not assertions): run with
//   cargo test --release --test live -- --ignored --nocapture measure_

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Event-to-screen latency: from a `set image` in the sandbox to the first
/// frame (the real `update` + `ui::draw` on a 200x50 TestBackend) showing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement harness: prints figures for the README, asserts nothing"]
async fn measure_event_to_screen_latency() {
    let trials: usize = std::env::var("HEARTH_MEASURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let (sb, _dir) = sandbox(20.0, None).await;
    let registry = load(&sb);
    let (tx, mut rx) = mpsc::channel(4096);
    let tasks = watch(&sb, &registry, &tx);
    let mut state = State::new(Arc::new(registry.clone()), Mode::INTERACTIVE);
    let theme = hearth::ui::Theme::load(None, true).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let mut view = hearth::ui::ViewState::default();
    let screen = |t: &Terminal<TestBackend>| -> String {
        t.backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect()
    };
    // Settle: everything live.
    let (ok, seen) = until(&mut rx, Duration::from_secs(30), |m| {
        live_tag(m, "api", "qa").is_some()
    })
    .await;
    assert!(ok);
    for m in seen {
        update(&mut state, m);
    }
    let mut samples = Vec::new();
    for i in 0..trials {
        let tag = format!("v9.{i}.0");
        // Drain what is still arriving from the previous trial.
        while let Ok(m) = rx.try_recv() {
            update(&mut state, m);
        }
        let t0 = std::time::Instant::now();
        sb.cluster
            .set_image("qa", "api", &format!("ghcr.io/hearth-demo/api:{tag}"))
            .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("no message within 10 s")
                .unwrap();
            update(&mut state, m);
            while let Ok(m) = rx.try_recv() {
                update(&mut state, m);
            }
            terminal
                .draw(|f| hearth::ui::draw(f, &state, &mut view, &theme))
                .unwrap();
            if screen(&terminal).contains(&tag) {
                samples.push(t0.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    samples.sort();
    println!(
        "event-to-screen latency over {trials} trials: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().unwrap()
    );
    for t in tasks {
        t.abort();
    }
}

/// Counted (non-304) GitHub requests for 20 idle services over a window,
/// extrapolated to an hour, then while one run is active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement harness: prints figures for the README, asserts nothing"]
async fn measure_github_budget() {
    let window: u64 = std::env::var("HEARTH_MEASURE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let (sb, _dir) = sandbox(1.0, Some(20)).await;
    let registry = load(&sb);
    let counted = |since: usize| {
        sb.journal.entries()[since..]
            .iter()
            .filter(|e| e.api == "github" && !e.conditional_hit)
            .count()
    };
    let total = |since: usize| {
        sb.journal.entries()[since..]
            .iter()
            .filter(|e| e.api == "github")
            .count()
    };
    let start = sb.journal.entries().len();
    let (tx, mut rx) = mpsc::channel(100_000);
    let token = Token::new(sb.token.clone(), "GH_TOKEN");
    let (kicks, tasks) = spawn_github(&registry, Some(token), Intervals::default(), tx);
    show_all(&kicks, &registry);
    // Keep the channel drained.
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs(10)).await;
    let startup = counted(start);
    let idle_from = sb.journal.entries().len();
    tokio::time::sleep(Duration::from_secs(window)).await;
    let idle = counted(idle_from);
    let idle_all = total(idle_from);
    println!(
        "github idle, 20 services: start-up {startup} counted requests (once); then {idle} counted / {idle_all} total in {window} s = {:.0} counted/hour steady state",
        idle as f64 * 3600.0 / window as f64
    );
    // One active run.
    let active_from = sb.journal.entries().len();
    let t0 = std::time::Instant::now();
    publish(&sb, "svc-001", "v0.4.0", false).await;
    // As `hearth ship` does after publishing: poll that service now.
    kicks.kick("svc-001");
    let active_window = 30u64;
    tokio::time::sleep(Duration::from_secs(active_window)).await;
    let active = counted(active_from);
    let active_all = total(active_from);
    println!(
        "github with one active run (~8 s run + follow-up) over {:?}: {active} counted / {active_all} total = {:.0} counted/hour if a run were always active",
        t0.elapsed(),
        active as f64 * 3600.0 / active_window as f64
    );
    for t in tasks {
        t.abort();
    }
    drain.abort();
}

/// A teammate's release, which this hearth did not make (no kick): from the
/// release POST to the state showing (a) the release and (b) its CI run,
/// for 20 services on the GitHub poller's default intervals (the ones
/// `hearth watch` uses); and whether the run was first seen while it still
/// ran (so its steps stream), or only once it had finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement harness: prints figures for the README, asserts nothing"]
async fn measure_teammate_release_latency() {
    let trials: usize = std::env::var("HEARTH_MEASURE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    // Speed 1: a CI run takes about 8 s, as a short real one would.
    let (sb, _dir) = sandbox(1.0, Some(20)).await;
    let registry = load(&sb);
    let (tx, mut rx) = mpsc::channel(100_000);
    let token = Token::new(sb.token.clone(), "GH_TOKEN");
    let (steering, tasks) = spawn_github(&registry, Some(token), Intervals::default(), tx);
    show_all(&steering, &registry);
    let mut state = State::new(Arc::new(registry.clone()), Mode::WATCH);
    // Settle: the first answer for each of the 20 services.
    let settle = std::time::Instant::now();
    while state.services.iter().filter(|s| s.runs.is_some()).count() < 20 {
        assert!(settle.elapsed() < Duration::from_secs(120), "first answers");
        let m = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("first answers")
            .unwrap();
        update(&mut state, m);
    }
    println!("all 20 services answered in {:?}", settle.elapsed());
    let (mut release_seen, mut run_seen, mut while_running) = (Vec::new(), Vec::new(), 0);
    for i in 0..trials {
        let n = i % 20;
        let service = format!("svc-{:03}", n + 1);
        let tag = format!("v0.4.{i}-rc.1");
        // A pause of a few seconds between teammates, at a random phase of
        // the poll cycle.
        tokio::time::sleep(Duration::from_millis(1500 + (i as u64 * 737) % 3000)).await;
        while let Ok(m) = rx.try_recv() {
            update(&mut state, m);
        }
        let t0 = std::time::Instant::now();
        publish(&sb, &service, &tag, true).await;
        let (mut rel, mut run) = (None, None);
        while run.is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(90),
                "{service} {tag}: no run in 90 s"
            );
            let m = tokio::time::timeout(Duration::from_secs(60), rx.recv())
                .await
                .expect("a message within 60 s")
                .unwrap();
            update(&mut state, m);
            let svc = &state.services[n];
            if rel.is_none()
                && svc
                    .releases
                    .as_ref()
                    .is_some_and(|rs| rs.iter().any(|r| r.tag == tag))
            {
                rel = Some(t0.elapsed());
            }
            if let Some(r) = svc.runs.as_ref().and_then(|rs| {
                rs.iter()
                    .find(|r| r.head_branch.as_deref() == Some(tag.as_str()))
            }) {
                run = Some(t0.elapsed());
                if r.status != "completed" {
                    while_running += 1;
                }
            }
        }
        release_seen.push(rel.unwrap_or_else(|| run.unwrap()));
        run_seen.push(run.unwrap());
    }
    release_seen.sort();
    run_seen.sort();
    println!(
        "teammate release → release in state over {trials} trials: p50 {:?}, p95 {:?}, max {:?}",
        percentile(&release_seen, 0.5),
        percentile(&release_seen, 0.95),
        release_seen.last().unwrap()
    );
    println!(
        "teammate release → its CI run in state: p50 {:?}, p95 {:?}, max {:?}; first seen while running in {while_running}/{trials}",
        percentile(&run_seen, 0.5),
        percentile(&run_seen, 0.95),
        run_seen.last().unwrap()
    );
    for t in tasks {
        t.abort();
    }
}

/// Sources down and failing, recorded from the real clients: qa's API
/// server forbids listing Deployments (RBAC), and one service's repository
/// does not exist on GitHub (the sandbox's real 404). The frame shows no
/// healthy qa cell and no release for the missing repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_recorded_sources_down_and_errors() {
    let (sb, dir) = sandbox(8.0, None).await;
    let mut registry = load(&sb);
    registry
        .services
        .iter_mut()
        .find(|s| s.name == "worker")
        .unwrap()
        .repo = Some("hearth-demo/worker-gone".into());
    let forbidden = serve(axum::Router::new().fallback(|| async {
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "deployments.apps is forbidden: User \"dev\" cannot list resource \"deployments\" in namespace \"qa\"",
                "reason": "Forbidden", "code": 403
            })),
        )
            .into_response()
    }))
    .await;
    let qa_config = kubeconfig(dir.path(), &forbidden);
    let (tx, mut rx) = mpsc::channel(4096);
    let mut tasks: Vec<_> = cluster::targets(&registry, &Default::default(), &[])
        .into_iter()
        .map(|mut t| {
            t.kubeconfig = Some(if t.namespace == "qa" {
                qa_config.clone()
            } else {
                sb.kubeconfig_path()
            });
            tokio::spawn(watch_target(t, tx.clone()))
        })
        .collect();
    let token = Token::new(sb.token.clone(), "GH_TOKEN");
    let (_k, gh) = spawn_github(&registry, Some(token), fast(), tx.clone());
    tasks.extend(gh);
    // Until: every prod cell live, every qa cell an error, worker's 404
    // reported, and the others' releases listed.
    let shippable: Vec<String> = ["api", "web", "worker", "billing", "ledger", "hecate"]
        .map(String::from)
        .to_vec();
    let mut prod_live = std::collections::HashSet::new();
    let mut qa_error = std::collections::HashSet::new();
    let mut releases = std::collections::HashSet::new();
    let mut missing = false;
    // relay runs in dev, which this user may read.
    let mut dev_live = false;
    let mut runs = std::collections::HashSet::new();
    let (ok, all) = until(&mut rx, Duration::from_secs(30), |m| {
        match m {
            Msg::Workload {
                service,
                env,
                observation,
            } => match (env.as_str(), observation) {
                ("prod", EnvObservation::Live(_)) => {
                    prod_live.insert(service.clone());
                }
                // docs is not deployed: its prod cell is known once the
                // watch says the Deployment is missing.
                ("prod", EnvObservation::Missing { .. }) => {
                    prod_live.insert(service.clone());
                }
                ("qa", EnvObservation::Error(_)) => {
                    qa_error.insert(service.clone());
                }
                ("dev", EnvObservation::Live(_)) => dev_live = true,
                _ => {}
            },
            Msg::Releases { service, .. } => {
                releases.insert(service.clone());
            }
            Msg::Runs { service, .. } => {
                runs.insert(service.clone());
            }
            Msg::GitHubError { service, problem } if service == "worker" => {
                missing = problem.kind == ProblemKind::NotFound;
            }
            _ => {}
        }
        shippable
            .iter()
            .all(|s| prod_live.contains(s) && qa_error.contains(s))
            && prod_live.contains("docs")
            && dev_live
            && ["ledger", "relay", "hecate"]
                .iter()
                .all(|s| runs.contains(*s))
            && missing
            && ["api", "web", "billing"]
                .iter()
                .all(|s| releases.contains(*s))
    })
    .await;
    for t in tasks {
        t.abort();
    }
    assert!(
        ok,
        "prod live {prod_live:?}, qa errors {qa_error:?}, releases {releases:?}, worker 404 {missing}"
    );
    assert!(
        !all.iter()
            .any(|m| matches!(m, Msg::Releases { service, .. } if service == "worker")),
        "releases arrived for a repository GitHub does not have"
    );
    // The sandbox's folder is new every run; the snapshot names the file.
    let mut named = registry.clone();
    named.path = "services.yaml".into();
    let frame = render(&replay(&named, &all), 160, 48);
    for s in &shippable {
        let qa = support::cell(&frame, s, "QA").unwrap_or_default();
        assert!(
            !qa.contains('✓') && !qa.contains("2/2"),
            "{s}'s qa cell claims health under a forbidden namespace: {qa:?}\n{frame}"
        );
        let prod = support::cell(&frame, s, "PROD").unwrap_or_default();
        assert!(prod.contains("2/2 ✓"), "{s}'s prod cell {prod:?}\n{frame}");
    }
    let ci = support::cell(&frame, "worker", "CI").unwrap_or_default();
    assert_eq!(ci, "error", "{frame}");
    let release = support::cell(&frame, "worker", "RELEASE").unwrap_or_default();
    assert!(
        !release.starts_with('v'),
        "worker's RELEASE {release:?}\n{frame}"
    );
    insta::assert_snapshot!("recorded_sources_down_and_errors_160x48", frame);
    sb.shutdown().await;
}

/// A public endpoint that serves another version than the cluster (seed
/// 004's production gate: DNS still on the old cluster), through the real
/// sandbox: its version endpoint is read by the control room's reader and by
/// `hearth status`, and both flag it with what each side says; without the
/// fault they agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_endpoint_on_another_version_is_flagged() {
    let (sb, _dir) = sandbox(8.0, None).await;
    let registry = load(&sb);
    let config = hearth::cmd::demo::sandbox_config(&sb);
    // Before the fault: the endpoint names what prod serves.
    let report = hearth::cmd::status::collect(&registry, &config, &["api".into()])
        .await
        .unwrap();
    let prod = &report.services[0].environments[0];
    let ep = prod
        .endpoint
        .as_ref()
        .expect("api names a version endpoint");
    assert_eq!(ep.matches, Some(true), "{ep:?} vs {:?}", prod.serving_tag);
    assert!(ep.mismatch.is_none());

    sb.faults.apply(Fault::StaleVersion {
        service: "api".into(),
        version: "0.0.1".into(),
    });
    let report = hearth::cmd::status::collect(&registry, &config, &["api".into()])
        .await
        .unwrap();
    let prod = &report.services[0].environments[0];
    let serving = prod.serving_tag.clone().unwrap();
    let ep = prod.endpoint.as_ref().unwrap();
    assert_eq!(ep.reports.as_deref(), Some("0.0.1"));
    assert_eq!(ep.matches, Some(false));
    assert_eq!(
        ep.mismatch.as_deref(),
        Some(format!("the endpoint reports 0.0.1; the cluster serves {serving}").as_str())
    );

    // The control room's reader and watch, into the state and a frame.
    let (tx, mut rx) = mpsc::channel(4096);
    let mut tasks = watch(&sb, &registry, &tx);
    let (etx, fwd) = hearth::app::sources::forward::<hearth::endpoint::Event>(tx.clone());
    tasks.push(hearth::endpoint::spawn(&registry, etx).expect("the demo names version endpoints"));
    tasks.push(fwd);
    let (ok, all) = until(&mut rx, Duration::from_secs(30), {
        let (mut live, mut read) = (false, false);
        move |m| {
            live |= live_tag(m, "api", "prod").is_some();
            read |= matches!(m, Msg::Endpoint { service, env, reading }
                if service == "api" && env == "prod" && reading.reported.is_ok());
            live && read
        }
    })
    .await;
    for t in tasks {
        t.abort();
    }
    assert!(ok, "api's prod and its endpoint were not both read");
    let state = replay(&registry, &all);
    let api = state.service_index("api").unwrap();
    assert_eq!(
        state.endpoint_mismatch(api, 0).as_deref(),
        Some(format!("the endpoint reports 0.0.1; the cluster serves {serving}").as_str())
    );
    let frame = render(&state, 160, 48);
    let cell = support::cell(&frame, "api", "PROD").unwrap_or_default();
    assert!(
        cell.ends_with('⚠'),
        "api's prod cell does not flag it: {cell:?}\n{frame}"
    );
    assert!(
        frame.contains("prod: the endpoint reports 0.0.1; the cluster serves"),
        "NOTES do not say it:\n{frame}"
    );
}

/// A namespace with more Deployments and Pods than one list page (50): the
/// watch lists page by page (`limit` and `continue`, as against a real API
/// server) and every service is live in every namespace, none left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_lists_page_by_page_and_misses_no_service() {
    let (sb, _dir) = sandbox(1.0, Some(60)).await;
    let registry = load(&sb);
    let deployed: Vec<String> = registry
        .services
        .iter()
        .filter(|s| s.shippable)
        .map(|s| s.name.clone())
        .collect();
    assert!(deployed.len() > 50, "{} services", deployed.len());
    let (tx, mut rx) = mpsc::channel(8192);
    let tasks = watch(&sb, &registry, &tx);
    let mut live = std::collections::BTreeSet::new();
    let (ok, seen) = until(&mut rx, Duration::from_secs(60), |m| {
        if let Msg::Workload {
            service,
            env,
            observation: EnvObservation::Live(_),
        } = m
        {
            live.insert((service.clone(), env.clone()));
        }
        deployed
            .iter()
            .all(|s| live.contains(&(s.clone(), "prod".to_string())))
    })
    .await;
    let missing: Vec<&String> = deployed
        .iter()
        .filter(|s| !live.contains(&((*s).clone(), "prod".to_string())))
        .collect();
    assert!(
        ok,
        "not live in prod: {missing:?} ({} messages)",
        seen.len()
    );
    let lists: Vec<String> = sb
        .journal
        .entries()
        .into_iter()
        .filter(|e| e.api == "kube" && e.path.contains("/namespaces/default/deployments?"))
        .map(|e| e.path)
        .filter(|p| !p.contains("watch=true"))
        .collect();
    assert!(
        lists
            .iter()
            .any(|p| p.split(['?', '&']).any(|q| q == "limit=50"))
            && lists.iter().any(|p| p.contains("continue=")),
        "prod's Deployments were not listed page by page: {lists:?}"
    );
    for t in tasks {
        t.abort();
    }
}
