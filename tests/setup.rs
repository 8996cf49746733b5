//! From nothing to a working pipeline, with the real binary against the
//! embedded sandbox: `hearth init` writes a registry for what runs (and
//! `hearth check` accepts it), `hearth setup --workflow --commit` gives each
//! repository the caller stub of the reusable release workflow, `hearth
//! setup --ci` applies the CI RBAC and stores a kubeconfig that may do what
//! CI needs and nothing else (proven with the real kubectl), and a ship
//! through that registry and that workflow lands in qa, checked with the
//! real `kubectl`. Also the CLI habits: `-o json|yaml|wide`, completions,
//! the man page.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hearth_sandbox::{self as sandbox, SandboxHandle, SandboxOptions};

const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");

struct Env {
    sb: SandboxHandle,
    /// A folder of the user's own (the registry `init` writes lives here).
    work: PathBuf,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    out: String,
}

async fn env() -> Env {
    env_of(1).await
}

/// [`env`] with `clusters` Kubernetes APIs (2: prod on its own).
async fn env_of(clusters: usize) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SandboxOptions::new(dir.path().join("sb"));
    opts.speed = 20.0;
    opts.clusters = clusters;
    let sb = sandbox::start(opts).await.expect("sandbox starts");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    Env {
        sb,
        work,
        state: dir.path().join("state"),
        _dir: dir,
    }
}

impl Env {
    /// Run hearth in the work folder with the sandbox's endpoints but not
    /// its registry (`HEARTH_SERVICES` is left out: the user's own file).
    async fn hearth(&self, args: &[&str]) -> Run {
        let mut cmd = tokio::process::Command::new(HEARTH);
        cmd.args(args)
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("XDG_STATE_HOME", &self.state)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in &self.sb.env {
            if k != "HEARTH_SERVICES" {
                cmd.env(k, v);
            }
        }
        let out = tokio::time::timeout(Duration::from_secs(150), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("hearth {args:?} did not finish in 150 s"))
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let out_all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(!out_all.contains(&self.sb.token), "the token leaked");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout,
            out: out_all,
        }
    }

    fn kubectl_tag(&self, deploy: &str, ns: &str) -> String {
        let out = std::process::Command::new("kubectl")
            .env("KUBECONFIG", self.sb.kubeconfig_path())
            .args(["--request-timeout=10s", "get", "deploy", deploy, "-n", ns])
            .args(["-o", "jsonpath={.spec.template.spec.containers[0].image}"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let image = String::from_utf8_lossy(&out.stdout).into_owned();
        image.rsplit(':').next().unwrap_or_default().to_string()
    }

    fn repos(&self) -> PathBuf {
        self.sb.dir.join("repos")
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_zero_init_workflow_then_ship_to_qa() {
    let e = env().await;
    let scan = e.repos();
    let scan = scan.to_str().unwrap();

    // init --stdout prints a registry for every Deployment that runs.
    let printed = e.hearth(&["init", "--scan", scan, "--stdout"]).await;
    assert_eq!(printed.code, 0, "{}", printed.out);
    let doc: serde_yaml::Value = serde_yaml::from_str(&printed.stdout).unwrap();
    for svc in ["api", "web", "worker", "billing"] {
        let block = &doc[svc];
        assert_eq!(
            block["image"].as_str(),
            Some(format!("ghcr.io/hearth-demo/{svc}").as_str()),
            "{svc}: {}",
            printed.stdout
        );
        assert_eq!(block["k8s_name"].as_str(), Some(svc));
        assert_eq!(block["dockerfile"].as_str(), Some("Dockerfile"));
        assert_eq!(block["pre_ship_cmd"].as_str(), Some("./test.sh"));
        assert!(block.get("shippable").is_none(), "{svc} is shippable");
    }
    assert_eq!(doc["hearth"]["github_owner"].as_str(), Some("hearth-demo"));
    // docs runs nowhere, so init knows nothing of it.
    assert!(doc.get("docs").is_none());
    // Services that do not ship by release get their workflows' hint.
    for (svc, hint) in [
        (
            "relay",
            "a push starts dev.yml, prod.yml: likely `delivery: push`",
        ),
        ("ledger", "likely `delivery: dispatch`"),
        ("hecate", "if a GitOps repository does, `delivery: gitops`"),
    ] {
        let block = printed
            .stdout
            .split(&format!("\n{svc}:\n"))
            .nth(1)
            .and_then(|b| b.split("\n\n").next())
            .unwrap_or_default();
        assert!(block.contains(hint), "{svc}: {block}");
    }
    let api = printed.stdout.split("\napi:\n").nth(1).unwrap_or_default();
    assert!(!api.split("\n\n").next().unwrap().contains("delivery"));

    // init writes services.yaml, check accepts it, a second init refuses.
    let wrote = e.hearth(&["init", "--scan", scan]).await;
    assert_eq!(wrote.code, 0, "{}", wrote.out);
    let registry = e.work.join("services.yaml");
    let written = std::fs::read_to_string(&registry).unwrap();
    let check = e.hearth(&["check", "services.yaml"]).await;
    assert_eq!(check.code, 0, "{}", check.out);
    assert!(
        check.out.contains("7 services (7 shippable)"),
        "{}",
        check.out
    );
    let again = e.hearth(&["init", "--scan", scan]).await;
    assert_eq!(again.code, 4, "{}", again.out);
    assert!(again.out.contains("never overwrites"), "{}", again.out);
    assert_eq!(std::fs::read_to_string(&registry).unwrap(), written);

    // setup --workflow --dry-run shows the diff and writes nothing.
    let api = e.repos().join("api");
    let wf = api.join(".github/workflows/release.yml");
    let before = std::fs::read_to_string(&wf).unwrap();
    let dry = e.hearth(&["setup", "--workflow", "api", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{}", dry.out);
    assert!(
        dry.out.contains("+    types: [published, released]"),
        "{}",
        dry.out
    );
    assert!(dry.out.contains("-    types: [published]"), "{}", dry.out);
    // The seed's published-only workflow is reported with its fix.
    assert!(dry.out.contains("deploys nothing"), "{}", dry.out);
    assert_eq!(std::fs::read_to_string(&wf).unwrap(), before);

    // --commit writes and commits the stub in every shippable repository.
    let head_before = git(&api, &["rev-parse", "HEAD"]);
    let set = e.hearth(&["setup", "--workflow", "--commit"]).await;
    assert_eq!(set.code, 0, "{}", set.out);
    for svc in ["api", "web", "worker", "billing"] {
        let dir = e.repos().join(svc);
        let text = std::fs::read_to_string(dir.join(".github/workflows/release.yml")).unwrap();
        assert!(text.contains("release-template.yml@main"), "{svc}: {text}");
        assert!(
            text.contains(&format!("image: \"ghcr.io/hearth-demo/{svc}\"")),
            "{text}"
        );
        assert_eq!(git(&dir, &["status", "--porcelain"]), "", "{svc} is clean");
        assert!(git(&dir, &["log", "-1", "--format=%s"]).contains("release template"));
    }
    assert_ne!(git(&api, &["rev-parse", "HEAD"]), head_before);
    let rerun = e.hearth(&["setup", "--workflow", "api", "--commit"]).await;
    assert!(rerun.out.contains("is up to date"), "{}", rerun.out);

    // setup --ci: first a dry run, which sends nothing that changes anything.
    let mutating = |e: &Env| {
        e.sb.journal
            .entries()
            .into_iter()
            .filter(|j| j.method != "GET" && j.method != "HEAD")
            .map(|j| format!("{} {} {}", j.api, j.method, j.path))
            .collect::<Vec<_>>()
    };
    let writes_before = mutating(&e);
    let dry = e.hearth(&["setup", "--ci", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{}", dry.out);
    assert!(
        dry.out
            .contains("PUT /repos/hearth-demo/api/actions/secrets/K3S_KUBECONFIG"),
        "{}",
        dry.out
    );
    assert!(
        dry.out
            .contains("Role/github-deployer -n qa  (would create)"),
        "{}",
        dry.out
    );
    assert_eq!(mutating(&e), writes_before, "{}", dry.out);
    // Without a terminal and without --yes it refuses, changing nothing.
    let refused = e.hearth(&["setup", "--ci"]).await;
    assert_eq!(refused.code, 4, "{}", refused.out);
    assert_eq!(mutating(&e), writes_before);

    let set = e.hearth(&["setup", "--ci", "--yes"]).await;
    assert_eq!(set.code, 0, "{}", set.out);
    assert!(
        set.out
            .contains("RBAC: 7 created, 0 configured, 0 unchanged"),
        "{}",
        set.out
    );
    assert!(set.out.contains("201 created"), "{}", set.out);
    let registry_token =
        e.sb.env
            .iter()
            .find(|(k, _)| k == "GITHUB_KATFORGE_TOKEN")
            .unwrap()
            .1
            .clone();
    for svc in ["api", "web", "worker", "billing"] {
        let repo = format!("hearth-demo/{svc}");
        assert_eq!(
            e.sb.github.secrets.names(&repo),
            ["K3S_KUBECONFIG", "KATFORGE_GITHUB_TOKEN"],
            "{repo}"
        );
        let token =
            e.sb.github
                .secrets
                .open(&repo, "KATFORGE_GITHUB_TOKEN")
                .unwrap();
        assert_eq!(String::from_utf8(token).unwrap(), registry_token);
    }
    assert!(
        !set.out.contains(&registry_token),
        "the registry token leaked"
    );
    // What CI would get: a kubeconfig that may set an image in qa and do
    // nothing else, proven with the real kubectl.
    let kubeconfig =
        e.sb.github
            .secrets
            .open("hearth-demo/web", "K3S_KUBECONFIG")
            .unwrap();
    let ci_config = e.work.join("ci-kubeconfig");
    std::fs::write(&ci_config, &kubeconfig).unwrap();
    let web_qa = e.kubectl_tag("web", "qa");
    let ci = |args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .env("KUBECONFIG", &ci_config)
            .arg("--request-timeout=10s")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let image = format!("web=ghcr.io/hearth-demo/web:{web_qa}");
    let (ok, out) = ci(&["-n", "qa", "set", "image", "deployment/web", &image]);
    assert!(ok, "set image in qa: {out}");
    let (ok, out) = ci(&[
        "-n",
        "qa",
        "rollout",
        "status",
        "deployment/web",
        "--timeout=60s",
    ]);
    assert!(ok, "rollout status in qa: {out}");
    let (ok, out) = ci(&["-n", "qa", "delete", "deployment", "web"]);
    assert!(!ok && out.contains("forbidden"), "delete: {out}");
    let (ok, out) = ci(&["-n", "ci", "get", "secrets"]);
    assert!(!ok && out.contains("forbidden"), "another namespace: {out}");
    assert_eq!(
        e.kubectl_tag("web", "qa"),
        web_qa,
        "the deployment is still there"
    );

    // Again: safe, and it says what changed (nothing in the cluster).
    let before_again = e.sb.journal.entries().len();
    let again = e.hearth(&["setup", "--ci", "--yes"]).await;
    assert_eq!(again.code, 0, "{}", again.out);
    assert!(
        again
            .out
            .contains("RBAC: 0 created, 0 configured, 7 unchanged"),
        "{}",
        again.out
    );
    assert!(again.out.contains("204 updated"), "{}", again.out);
    let kube_writes: Vec<_> = e.sb.journal.entries()[before_again..]
        .iter()
        .filter(|j| j.api == "kube" && j.method != "GET")
        .map(|j| format!("{} {}", j.method, j.path))
        .collect();
    assert!(kube_writes.is_empty(), "{kube_writes:?}");
    // --rotate: a new token; the old kubeconfig stops working.
    let rotated = e.hearth(&["setup", "--ci", "--yes", "--rotate"]).await;
    assert_eq!(rotated.code, 0, "{}", rotated.out);
    assert!(
        rotated.out.contains("delete secret/github-deployer-token"),
        "{}",
        rotated.out
    );
    let (ok, out) = ci(&["-n", "qa", "get", "deployment", "web"]);
    assert!(!ok && out.contains("Unauthorized"), "the old token: {out}");
    let fresh =
        e.sb.github
            .secrets
            .open("hearth-demo/web", "K3S_KUBECONFIG")
            .unwrap();
    assert_ne!(fresh, kubeconfig);
    std::fs::write(&ci_config, &fresh).unwrap();
    let (ok, out) = ci(&["-n", "qa", "get", "deployment", "web"]);
    assert!(ok, "the new token: {out}");
    // The journal has each request and result, and no secret.
    let audit = std::fs::read_to_string(e.state.join("hearth/audit.jsonl")).unwrap();
    assert!(audit.contains("\"op\":\"setup-ci\""), "{audit}");
    assert!(
        audit.contains("PUT /repos/hearth-demo/api/actions/secrets/K3S_KUBECONFIG → 201 created"),
        "{audit}"
    );
    assert!(
        !audit.contains(&registry_token) && !audit.contains("hearth-sandbox-sa."),
        "{audit}"
    );

    // A ship through that registry and that workflow reaches qa.
    let qa_before = e.kubectl_tag("api", "qa");
    let ship = e.hearth(&["ship", "api", "--qa", "--yes"]).await;
    assert_eq!(ship.code, 0, "{}", ship.out);
    let rc = ship
        .out
        .split_whitespace()
        .find(|w| w.starts_with('v') && w.contains("-rc."))
        .expect("an rc tag")
        .to_string();
    assert_ne!(rc, qa_before);
    assert_eq!(e.kubectl_tag("api", "qa"), rc, "{}", ship.out);
    // The workflow commit went to the origin with the tag.
    let origin = e.sb.dir.join("origins").join("api.git");
    let at_tag = git(
        &origin,
        &["show", &format!("{rc}:.github/workflows/release.yml")],
    );
    assert!(at_tag.contains("[published, released]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_speaks_kubectl_output_formats() {
    let e = env().await;
    let reg = e.sb.dir.join("services.yaml");
    let reg = reg.to_str().unwrap();
    let yaml = e
        .hearth(&["--services", reg, "status", "api", "-o", "yaml"])
        .await;
    assert_eq!(yaml.code, 0, "{}", yaml.out);
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml.stdout).unwrap();
    assert_eq!(doc["services"][0]["name"].as_str(), Some("api"));
    let prod_tag = e.kubectl_tag("api", "default");
    assert_eq!(
        doc["services"][0]["environments"][0]["serving_tag"].as_str(),
        Some(prod_tag.as_str())
    );
    let json = e.hearth(&["--services", reg, "status", "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["services"].as_array().map(Vec::len), Some(8));
    let wide = e
        .hearth(&["--services", reg, "status", "api", "-o", "wide"])
        .await;
    let header = wide.stdout.lines().next().unwrap();
    assert!(
        header.ends_with("NAMESPACE  CONTEXT         BEHIND  FLUX"),
        "{header}"
    );
    let prod = wide
        .stdout
        .lines()
        .find(|l| l.starts_with("api ") && l.contains(" prod "))
        .unwrap();
    assert!(
        prod.contains(" default ") && prod.contains(" hearth-sandbox "),
        "{prod}"
    );
    // v0.3.0 lacks the two commits of main after it (the checkout says so).
    // BEHIND, then FLUX (`-`: api is not delivered by GitOps).
    let cols: Vec<&str> = prod.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 2..], ["2", "-"], "{prod}");
    // --json and -o cannot both be given.
    let both = e
        .hearth(&["--services", reg, "status", "--json", "-o", "yaml"])
        .await;
    assert_eq!(both.code, 2, "{}", both.out);
}

#[test]
fn completions_and_man_page_come_from_the_cli() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(HEARTH)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["completion", "bash"]).contains("complete -F _hearth"));
    assert!(run(&["completion", "zsh"]).starts_with("#compdef hearth"));
    assert!(run(&["completion", "fish"]).contains("complete -c hearth"));
    let man = run(&["man"]);
    assert!(man.contains(".TH hearth 1"), "{man}");
    let dir = tempfile::tempdir().unwrap();
    run(&["man", "--dir", dir.path().to_str().unwrap()]);
    for page in [
        "hearth.1",
        "hearth-ship.1",
        "hearth-watch.1",
        "hearth-init.1",
    ] {
        assert!(dir.path().join(page).exists(), "{page}");
    }
    let help = run(&["--help"]);
    assert!(help.contains("Exit codes: 0 ok"), "{help}");
}

/// Environments on two clusters: one kubeconfig secret name for both is
/// refused before anything changes; with a name per context, a run per
/// cluster stores each cluster's kubeconfig under its own name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_ci_stores_a_kubeconfig_secret_per_cluster() {
    let e = env_of(2).await;
    let sandbox_reg = std::fs::read_to_string(e.sb.services_path()).unwrap();
    let one = e.work.join("one.yaml");
    std::fs::write(&one, &sandbox_reg).unwrap();
    let writes = |e: &Env| {
        e.sb.journal
            .entries()
            .into_iter()
            .filter(|j| j.method != "GET" && j.method != "HEAD")
            .count()
    };
    let before = writes(&e);
    let r = e
        .hearth(&[
            "--services",
            one.to_str().unwrap(),
            "setup",
            "--ci",
            "--yes",
        ])
        .await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out
            .contains("one secret K3S_KUBECONFIG cannot hold a kubeconfig for each"),
        "{}",
        r.out
    );
    assert_eq!(writes(&e), before, "a refused setup sent something");

    let per_context = e.work.join("per-context.yaml");
    std::fs::write(
        &per_context,
        sandbox_reg.replacen(
            "hearth:\n",
            "hearth:\n  ci:\n    secrets:\n      kubeconfig: { hearth-sandbox: K3S_KUBECONFIG_DEV, hearth-sandbox-prod: K3S_KUBECONFIG_PROD }\n",
            1,
        ),
    )
    .unwrap();
    let reg = per_context.to_str().unwrap();
    for context in ["hearth-sandbox", "hearth-sandbox-prod"] {
        let r = e
            .hearth(&[
                "--services",
                reg,
                "--context",
                context,
                "setup",
                "--ci",
                "--yes",
            ])
            .await;
        assert_eq!(r.code, 0, "{context}: {}", r.out);
    }
    assert_eq!(
        e.sb.github.secrets.names("hearth-demo/relay"),
        [
            "K3S_KUBECONFIG_DEV",
            "K3S_KUBECONFIG_PROD",
            "KATFORGE_GITHUB_TOKEN"
        ]
    );
    let server = |name: &str| {
        let k = e.sb.github.secrets.open("hearth-demo/relay", name).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_slice(&k).unwrap();
        doc["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(server("K3S_KUBECONFIG_DEV"), e.sb.kube_url);
    assert_eq!(
        server("K3S_KUBECONFIG_PROD"),
        e.sb.prod_kube_url.clone().unwrap()
    );
    e.sb.shutdown().await;
}
