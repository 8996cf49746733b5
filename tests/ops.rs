//! The operations end to end: the real `hearth` binary (ship, promote,
//! rollback, logs, history) against the embedded sandbox over real HTTP,
//! with real `git` on the sandbox's repositories and the real `kubectl`
//! checking the cluster. Every row of the seed's failure table is injected
//! through the sandbox and checked for the state it leaves and the recovery
//! it names; dry runs are checked through the sandbox's request journal.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use hearth_sandbox::{self as sandbox, Fault, SandboxHandle, SandboxOptions};
use serde_json::Value;
use support::eventually;

const HEARTH: &str = env!("CARGO_BIN_EXE_hearth");

/// A sandbox, its folder, and a state folder for the journal.
struct Env {
    sb: SandboxHandle,
    state: PathBuf,
    _dir: tempfile::TempDir,
}

/// What a command printed and how it ended.
struct Run {
    code: i32,
    out: String,
}

async fn env(speed: f64) -> Env {
    env_of(speed, 1).await
}

/// [`env`] with `clusters` Kubernetes APIs (2: prod on its own).
async fn env_of(speed: f64, clusters: usize) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SandboxOptions::new(dir.path().join("sb"));
    opts.speed = speed;
    opts.clusters = clusters;
    let sb = sandbox::start(opts).await.expect("sandbox starts");
    let state = dir.path().join("state");
    Env {
        sb,
        state,
        _dir: dir,
    }
}

impl Env {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(HEARTH);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::var("HOME").unwrap_or_default())
            .env("XDG_STATE_HOME", &self.state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.sb.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run hearth to the end (at most two minutes).
    async fn hearth(&self, args: &[&str]) -> Run {
        let out = tokio::time::timeout(Duration::from_secs(120), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("hearth {args:?} did not finish in 120 s"))
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(&self.sb.token), "the token leaked: {text}");
        Run {
            code: out.status.code().unwrap_or(-1),
            out: text,
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.sb.kubeconfig_path()
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("kubectl")
            .env("KUBECONFIG", self.kubeconfig())
            .arg("--request-timeout=10s")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The app container's tag of a Deployment, as kubectl reads it.
    fn tag(&self, deploy: &str, ns: &str) -> String {
        let image = self.kubectl(&[
            "get",
            "deploy",
            deploy,
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ]);
        image.rsplit(':').next().unwrap_or_default().to_string()
    }

    fn clone_dir(&self, service: &str) -> PathBuf {
        self.sb.dir.join("repos").join(service)
    }

    fn origin(&self, service: &str) -> PathBuf {
        self.sb.dir.join("origins").join(format!("{service}.git"))
    }

    /// The releases of a demo repository, newest first.
    async fn releases(&self, service: &str) -> Vec<Value> {
        let v: Value = reqwest::Client::new()
            .get(format!(
                "{}/repos/hearth-demo/{service}/releases",
                self.sb.github_url
            ))
            .bearer_auth(&self.sb.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    async fn release(&self, service: &str, tag: &str) -> Option<Value> {
        self.releases(service)
            .await
            .into_iter()
            .find(|r| r["tag_name"] == tag)
    }

    /// Mutating requests the sandbox served (anything but GET/HEAD).
    fn mutations(&self) -> usize {
        self.sb
            .journal
            .entries()
            .iter()
            .filter(|e| !matches!(e.method.as_str(), "GET" | "HEAD"))
            .count()
    }

    fn journal_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state.join("hearth/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
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
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn rc_tag(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with('v') && w.contains("-rc."))
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-'))
        .unwrap_or_else(|| panic!("no rc tag in:\n{out}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ship_to_qa_then_prod_streams_steps_and_records_them() {
    let e = env(20.0).await;
    let prod0 = e.tag("api", "default");
    let r = e.hearth(&["ship", "api", "--qa", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    let rc = rc_tag(&r.out);
    assert_eq!(
        rc, "v0.3.1-rc.2",
        "after v0.3.1-rc.1 comes rc.2:\n{}",
        r.out
    );
    for line in [
        "✓ pre-ship tests",
        &format!("✓ api {rc} → release published as prerelease (qa)"),
        "✓ Build and push image",
        "✓ Deploy to k3s",
        &format!("✓ {rc} serves in qa"),
        "✓ smoke: GET ",
        &format!("✓ api {rc} deployed"),
        "$ git push --atomic origin",
        "$ POST /repos/hearth-demo/api/releases",
    ] {
        assert!(r.out.contains(line), "no {line:?} in:\n{}", r.out);
    }
    assert_eq!(e.tag("api", "qa"), rc, "kubectl: qa runs the candidate");
    assert_eq!(e.tag("api", "default"), prod0, "kubectl: prod untouched");
    // The tag is on the origin, at the clone's HEAD.
    let head = git(&e.clone_dir("api"), &["rev-parse", "HEAD"]);
    assert_eq!(
        git(
            &e.origin("api"),
            &["rev-parse", &format!("{rc}^{{commit}}")]
        ),
        head
    );
    let rel = e.release("api", &rc).await.expect("release");
    assert_eq!(rel["prerelease"], true);
    assert!(
        rel["body"].as_str().unwrap().contains("What's Changed"),
        "notes generated"
    );

    let r = e.hearth(&["ship", "api", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("✓ api v0.3.1 deployed"), "{}", r.out);
    assert_eq!(e.tag("api", "default"), "v0.3.1");
    let latest: Value = reqwest::Client::new()
        .get(format!(
            "{}/repos/hearth-demo/api/releases/latest",
            e.sb.github_url
        ))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["tag_name"], "v0.3.1");

    let journal = e.journal_lines();
    assert_eq!(journal.len(), 2, "{journal:?}");
    assert_eq!(journal[0]["op"], "ship");
    assert_eq!(journal[0]["env"], "qa");
    assert_eq!(journal[0]["from_tag"], "v0.3.1-rc.1");
    assert_eq!(journal[0]["to_tag"], rc.as_str());
    assert_eq!(journal[0]["result"], "ok");
    assert!(journal[0]["steps"].as_array().unwrap().len() >= 5);
    assert!(!std::fs::read_to_string(e.state.join("hearth/audit.jsonl"))
        .unwrap()
        .contains(&e.sb.token));
    let h = e.hearth(&["history", "api"]).await;
    assert_eq!(h.code, 0);
    assert!(
        h.out.contains("ship") && h.out.contains("→ v0.3.1 "),
        "{}",
        h.out
    );
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_send_nothing_and_prod_needs_a_confirmation() {
    let e = env(20.0).await;
    // A candidate in qa, so that qa has a revision to roll back to.
    let r = e
        .hearth(&["ship", "api", "--qa", "--yes", "--skip-tests"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let tags_before = git(&e.origin("api"), &["tag", "--list"]);
    let before = e.mutations();
    for args in [
        &["ship", "api", "--qa", "--dry-run"][..],
        &["ship", "--dry-run", "--yes"],
        &["promote", "api", "--dry-run"],
        &["rollback", "api", "--env", "qa", "--dry-run"],
        &["rollback", "api", "--clean", "--dry-run"],
    ] {
        let r = e.hearth(args).await;
        assert_eq!(r.code, 0, "{args:?}: {}", r.out);
        assert!(r.out.contains("would:"), "{args:?}: {}", r.out);
    }
    assert_eq!(e.mutations(), before, "a dry run sent a mutating request");
    assert_eq!(
        git(&e.origin("api"), &["tag", "--list"]),
        tags_before,
        "a dry run tagged"
    );
    // Ship all plans every ship_all service and says why docs is skipped.
    let r = e.hearth(&["ship", "--dry-run", "--yes"]).await;
    for s in ["api", "web", "worker", "billing"] {
        assert!(
            r.out.contains(&format!("ship {s} ")),
            "no plan for {s}:\n{}",
            r.out
        );
    }
    assert!(r.out.contains("- docs skipped"), "{}", r.out);
    // Changing prod without a terminal and without --yes is refused.
    let r = e.hearth(&["ship", "api"]).await;
    assert_eq!(r.code, 4, "{}", r.out);
    assert!(
        r.out.contains("--yes") && r.out.contains("nothing changed"),
        "{}",
        r.out
    );
    assert_eq!(e.mutations(), before);
    assert_eq!(
        e.journal_lines().len(),
        1,
        "a refusal or a dry run is not an operation"
    );
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_no_version_and_an_existing_release() {
    let e = env(20.0).await;
    let prod0 = e.tag("web", "default");
    let r = e.hearth(&["ship", "web", "--draft", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    let rel = e.release("web", "v1.5.0").await.expect("draft release");
    assert_eq!(
        rel["draft"], true,
        "a draft, continuing the open v1.5.0 line"
    );
    assert!(r.out.contains("draft"), "{}", r.out);
    // --no-version releases the newest existing rc again: its release exists.
    let r = e
        .hearth(&["ship", "web", "--qa", "--no-version", "--yes"])
        .await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains("already exists")
            && r.out.contains("gh release delete")
            && r.out.contains("hearth ship web --qa"),
        "the error names both ways forward:\n{}",
        r.out
    );
    assert_eq!(e.tag("web", "default"), prod0);
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_uses_a_mechanism_each_workflow_triggers_on() {
    let e = env(20.0).await;
    // api listens to `published` only: a draft round trip, said in the plan.
    let r = e.hearth(&["promote", "api", "--dry-run"]).await;
    assert!(r.out.contains("draft round trip"), "{}", r.out);
    let r = e.hearth(&["promote", "api", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(
        e.tag("api", "default"),
        "v0.3.1-rc.1",
        "prod runs the promoted rc"
    );
    let rel = e.release("api", "v0.3.1-rc.1").await.unwrap();
    assert_eq!(
        (rel["prerelease"].clone(), rel["draft"].clone()),
        (false.into(), false.into())
    );
    // worker listens to `released`: a plain edit.
    let r = e.hearth(&["promote", "worker", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("by edit"), "{}", r.out);
    assert_eq!(e.tag("worker", "default"), "v0.10.0-rc.1");
    // billing, given a workflow_dispatch with a tag input: dispatched.
    let clone = e.clone_dir("billing");
    let wf = clone.join(".github/workflows/release.yml");
    let text = std::fs::read_to_string(&wf).unwrap().replace(
        "on:\n  release:\n    types: [published]\n",
        "on:\n  release:\n    types: [published]\n  workflow_dispatch:\n    inputs:\n      tag:\n        required: true\n",
    );
    std::fs::write(&wf, text).unwrap();
    git(&clone, &["commit", "-qam", "Deploy by hand too"]);
    let r = e
        .hearth(&["ship", "billing", "--qa", "--yes", "--skip-tests"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("- pre-ship tests skipped (--skip-tests)"),
        "{}",
        r.out
    );
    let rc = rc_tag(&r.out);
    let r = e.hearth(&["promote", "billing", &rc, "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("workflow_dispatch") && r.out.contains("/dispatches"),
        "{}",
        r.out
    );
    assert_eq!(e.tag("billing", "default"), rc);
    // An unknown tag is refused with the prereleases there are.
    let r = e.hearth(&["promote", "api", "v0.0.0-nope", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(r.out.contains("has no release v0.0.0-nope"), "{}", r.out);
    let journal = e.journal_lines();
    let mechanisms: Vec<&str> = journal
        .iter()
        .filter(|j| j["op"] == "promote")
        .filter_map(|j| j["mechanism"].as_str())
        .collect();
    assert!(
        mechanisms[0].starts_with("draft round trip"),
        "{mechanisms:?}"
    );
    assert!(mechanisms[1].starts_with("edit"), "{mechanisms:?}");
    assert!(
        mechanisms[2].contains("workflow_dispatch"),
        "{mechanisms:?}"
    );
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_nothing_can_trigger_is_refused_with_the_fix() {
    let e = env(20.0).await;
    let clone = e.clone_dir("web");
    let wf = clone.join(".github/workflows/release.yml");
    let text = std::fs::read_to_string(&wf)
        .unwrap()
        .replace("types: [published]", "types: [prereleased]");
    std::fs::write(&wf, text).unwrap();
    git(&clone, &["commit", "-qam", "Only prereleases"]);
    let r = e.hearth(&["ship", "web", "--yes", "--dry-run"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains("would start no run") && r.out.contains("types: [published, released]"),
        "{}",
        r.out
    );
    let r = e.hearth(&["ship", "web", "--qa", "--yes"]).await;
    assert_eq!(r.code, 0, "a prerelease still starts it:\n{}", r.out);
    let rc = rc_tag(&r.out);
    let r = e.hearth(&["promote", "web", &rc, "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out
            .contains("nothing a promote can do starts release.yml"),
        "{}",
        r.out
    );
    e.sb.shutdown().await;
}

/// What `kubectl rollout history` and the Deployment say after a rollback,
/// with the ReplicaSet-specific parts (hash, names) left out.
fn rollback_shape(e: &Env, deploy: &str) -> (String, Value) {
    let history = e
        .kubectl(&[
            "rollout",
            "history",
            &format!("deploy/{deploy}"),
            "-n",
            "default",
        ])
        .replace(deploy, "DEPLOY");
    let d: Value =
        serde_json::from_str(&e.kubectl(&["get", "deploy", deploy, "-n", "default", "-o", "json"]))
            .unwrap();
    let mut ann = d["metadata"]["annotations"].clone();
    if let Some(m) = ann.as_object_mut() {
        m.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    let labels = d["spec"]["template"]["metadata"]["labels"].clone();
    let shape = serde_json::json!({"annotations": ann, "template_labels": labels})
        .to_string()
        .replace(deploy, "DEPLOY");
    (history, serde_json::from_str(&shape).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_rollback_leaves_what_kubectl_rollout_undo_leaves() {
    let e = env(20.0).await;
    // The same history on two services: a release to prod, then back.
    for s in ["web", "billing"] {
        let r = e.hearth(&["ship", s, "--yes", "--skip-tests"]).await;
        assert_eq!(r.code, 0, "{}", r.out);
    }
    let web0 = e.tag("web", "default");
    let r = e.hearth(&["rollback", "web", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("$ PATCH deployments/web -n default"),
        "{}",
        r.out
    );
    e.kubectl(&["rollout", "undo", "deploy/billing", "-n", "default"]);
    e.kubectl(&[
        "rollout",
        "status",
        "deploy/billing",
        "-n",
        "default",
        "--timeout=60s",
    ]);
    assert_ne!(e.tag("web", "default"), web0);
    assert_eq!(
        e.tag("web", "default"),
        "v1.4.2",
        "back to the previous revision"
    );
    let (h_web, d_web) = rollback_shape(&e, "web");
    let (h_billing, d_billing) = rollback_shape(&e, "billing");
    assert_eq!(h_web, h_billing, "rollout history differs from kubectl's");
    assert_eq!(
        d_web, d_billing,
        "annotations or template labels differ from kubectl's"
    );
    // Already there: a no-op, said as kubectl says it, exit 0 as kubectl's,
    // no request that changes anything. It is decided while planning, before
    // anything runs, so (as every refusal) it adds no journal entry.
    let before = e.mutations();
    let journaled = e.journal_lines();
    let r = e
        .hearth(&["rollback", "web", "--yes", "--to-revision", "3"])
        .await;
    assert!(r.out.contains("skipped rollback"), "{}", r.out);
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(e.mutations(), before, "a no-op rollback sent a mutation");
    assert_eq!(
        e.journal_lines(),
        journaled,
        "a no-op rollback was journaled"
    );
    // A paused Deployment is refused with the command that resumes it.
    e.kubectl(&["rollout", "pause", "deploy/web", "-n", "default"]);
    let r = e.hearth(&["rollback", "web", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out
            .contains("kubectl rollout resume deploy/web -n default"),
        "{}",
        r.out
    );
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_rollback_makes_the_previous_release_latest_and_redeploys_it() {
    let e = env(20.0).await;
    let r = e.hearth(&["ship", "api", "--yes", "--skip-tests"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(e.tag("api", "default"), "v0.3.1");
    let r = e.hearth(&["rollback", "api", "--clean", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(
        e.tag("api", "default"),
        "v0.3.0",
        "CI redeployed the previous release"
    );
    assert_eq!(e.release("api", "v0.3.1").await.unwrap()["draft"], true);
    let latest: Value = reqwest::Client::new()
        .get(format!(
            "{}/repos/hearth-demo/api/releases/latest",
            e.sb.github_url
        ))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(latest["tag_name"], "v0.3.0", "GitHub and the cluster agree");
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_table_pre_ship_tag_push_and_release() {
    let e = env(20.0).await;
    let releases0 = e.releases("api").await.len();
    // 1. Pre-ship tests fail: nothing left.
    let clone = e.clone_dir("api");
    std::fs::write(
        clone.join("test.sh"),
        "#!/bin/sh\necho 'FAIL: 1 of 12 tests'\nexit 1\n",
    )
    .unwrap();
    git(&clone, &["commit", "-qam", "A failing test"]);
    let r = e.hearth(&["ship", "api", "--qa", "--yes"]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(
        r.out.contains("FAIL: 1 of 12 tests"),
        "the test output is shown:\n{}",
        r.out
    );
    assert!(
        r.out.contains("left: nothing: no tag, no release"),
        "{}",
        r.out
    );
    assert!(r.out.contains("--skip-tests"), "{}", r.out);
    assert!(!git(&e.origin("api"), &["tag", "--list"]).contains("v0.3.1-rc.2"));
    assert_eq!(e.releases("api").await.len(), releases0);
    git(&clone, &["revert", "--no-edit", "HEAD"]);
    // 2. The push fails (the origin refuses): the tag exists locally only.
    std::fs::create_dir_all(e.origin("api").join("hooks")).unwrap();
    let hook = e.origin("api").join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'refused by policy' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let r = e.hearth(&["ship", "api", "--qa", "--yes"]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(
        r.out.contains("exists locally only") && r.out.contains("--no-version"),
        "{}",
        r.out
    );
    assert!(git(&clone, &["tag", "--list"]).contains("v0.3.1-rc.2"));
    assert!(!git(&e.origin("api"), &["tag", "--list"]).contains("v0.3.1-rc.2"));
    assert_eq!(e.releases("api").await.len(), releases0);
    // Recover as told: push the tag, then release it.
    std::fs::remove_file(&hook).unwrap();
    git(&clone, &["push", "-q", "origin", "HEAD", "v0.3.1-rc.2"]);
    // 3. The release POST fails: the tag is on GitHub, no release.
    e.sb.faults.apply(Fault::ReleaseFail {
        service: "api".into(),
    });
    let r = e
        .hearth(&["ship", "api", "--qa", "--no-version", "--yes"])
        .await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(
        r.out.contains("is on GitHub, with no release")
            && r.out.contains("hearth ship api --qa --no-version"),
        "{}",
        r.out
    );
    assert!(e.release("api", "v0.3.1-rc.2").await.is_none());
    e.sb.faults.clear_service("api");
    let r = e
        .hearth(&["ship", "api", "--qa", "--no-version", "--yes"])
        .await;
    assert_eq!(r.code, 0, "the recovery works:\n{}", r.out);
    assert_eq!(e.tag("api", "qa"), "v0.3.1-rc.2");
    let h = e.hearth(&["history", "api", "--json"]).await;
    let entries: Vec<Value> = h
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let results: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["result"].as_str())
        .collect();
    assert_eq!(results, ["failed", "failed", "failed", "ok"], "{}", h.out);
    for e in &entries[..3] {
        assert!(
            e["recovery"]
                .as_str()
                .is_some_and(|r| r.contains("hearth ship api")),
            "{e}"
        );
    }
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_table_build_deploy_and_migration() {
    let e = env(20.0).await;
    // 4. The build fails: tag and release exist, no image, nothing deployed.
    let qa0 = e.tag("web", "qa");
    e.sb.faults.apply(Fault::BuildFail {
        service: "web".into(),
    });
    let r = e
        .hearth(&["ship", "web", "--qa", "--yes", "--skip-tests"])
        .await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("✗ Build and push image"), "{}", r.out);
    assert!(
        r.out.contains("failed to solve"),
        "the failed job's log tail is shown:\n{}",
        r.out
    );
    assert!(
        r.out.contains("no image was pushed") && r.out.contains("gh release delete"),
        "{}",
        r.out
    );
    assert_eq!(e.tag("web", "qa"), qa0);
    e.sb.faults.clear_service("web");
    // 5. The deploy fails before it touches the cluster.
    e.sb.faults.apply(Fault::DeployFail {
        service: "worker".into(),
    });
    let qa0 = e.tag("worker", "qa");
    let r = e
        .hearth(&["ship", "worker", "--qa", "--yes", "--skip-tests"])
        .await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(
        r.out.contains("✗ Deploy to k3s") && r.out.contains("Unauthorized"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("the cluster was not updated") && r.out.contains("gh run rerun"),
        "{}",
        r.out
    );
    assert_eq!(e.tag("worker", "qa"), qa0);
    e.sb.faults.clear_service("worker");
    // 6. The migration fails: the new ReplicaSet is stuck, the old pods serve.
    e.sb.faults.apply(Fault::MigrationFail {
        service: "billing".into(),
    });
    let qa0 = e.tag("billing", "qa");
    let r = e
        .hearth(&["ship", "billing", "--qa", "--yes", "--skip-tests"])
        .await;
    assert_eq!(r.code, 1, "{}", r.out);
    let rc = rc_tag(&r.out);
    assert!(r.out.contains("migration \"migrate\" failing"), "{}", r.out);
    assert!(r.out.contains(&format!("{qa0} still serves")), "{}", r.out);
    assert!(
        r.out.contains("hearth rollback billing --env qa"),
        "{}",
        r.out
    );
    assert_eq!(e.tag("billing", "qa"), rc, "the template moved on");
    let pods = e.kubectl(&["get", "pods", "-n", "qa", "-l", "app=billing", "-o", "wide"]);
    assert!(pods.contains("Init:"), "{pods}");
    e.sb.faults.clear_service("billing");
    let r = e
        .hearth(&["rollback", "billing", "--env", "qa", "--yes"])
        .await;
    assert_eq!(r.code, 0, "the recovery works:\n{}", r.out);
    assert_eq!(e.tag("billing", "qa"), qa0);
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_operation_shows_in_the_next_session() {
    let e = env(1.0).await;
    let mut child = e
        .command(&["ship", "api", "--qa", "--yes", "--skip-tests"])
        .spawn()
        .unwrap();
    // Wait until it is following CI (the release is out), then kill it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if e.releases("api")
            .await
            .iter()
            .any(|r| r["tag_name"] == "v0.3.1-rc.2")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the release never came"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().await.unwrap();
    let _ = child.wait().await;
    let h = e.hearth(&["history", "api"]).await;
    assert!(h.out.contains("interrupted"), "{}", h.out);
    assert!(
        h.out.contains("hearth ship api --qa --no-version"),
        "the recovery is named:\n{}",
        h.out
    );
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_every_pod_through_a_rollout() {
    let e = env(10.0).await;
    let r = e.hearth(&["logs", "web", "--tail", "2"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    let pods_before: Vec<String> = e
        .kubectl(&[
            "get", "pods", "-n", "default", "-l", "app=web", "-o", "name",
        ])
        .lines()
        .map(|l| l.trim_start_matches("pod/").to_string())
        .collect();
    assert_eq!(pods_before.len(), 2);
    for p in &pods_before {
        assert_eq!(
            r.out.matches(&format!("{p} │ ")).count(),
            2,
            "two lines of {p}:\n{}",
            r.out
        );
    }
    let mut child = e
        .command(&["logs", "web", "-f", "--tail", "1"])
        .spawn()
        .unwrap();
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    let text = |s: &std::sync::Arc<std::sync::Mutex<String>>| s.lock().unwrap().clone();
    wait_until("the first lines of both pods", || {
        pods_before
            .iter()
            .all(|p| text(&out).contains(&format!("{p} │ ")))
    })
    .await;
    e.kubectl(&[
        "set",
        "image",
        "deploy/web",
        "-n",
        "default",
        "web=ghcr.io/hearth-demo/web:v1.9.9",
    ]);
    e.kubectl(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "default",
        "--timeout=60s",
    ]);
    let pods_after: Vec<String> = e
        .kubectl(&[
            "get",
            "pods",
            "-n",
            "default",
            "-l",
            "app=web",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ])
        .lines()
        .map(str::to_string)
        .filter(|p| !pods_before.contains(p))
        .collect();
    assert_eq!(pods_after.len(), 2, "two new pods: {pods_after:?}");
    wait_until(
        "lines from the new pods, announced as they joined, and the old ones leaving",
        || {
            let (o, e2) = (text(&out), text(&err));
            pods_after
                .iter()
                .all(|p| o.contains(&format!("{p} │ ")) && e2.contains(&format!("+ {p}")))
                && pods_before.iter().all(|p| e2.contains(&format!("- {p}")))
        },
    )
    .await;
    // The new pods run the new version, and no line came twice.
    let o = text(&out);
    assert!(o.contains("v1.9.9"), "{o}");
    let lines: Vec<&str> = o.lines().collect();
    let mut unique = lines.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), lines.len(), "a line was printed twice:\n{o}");
    let _ = child.kill().await;
    e.sb.shutdown().await;
}

/// Read a child's output into a shared string as it comes.
fn collect(
    mut r: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<String>> {
    let shared = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let s = shared.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 8192];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 {
                break;
            }
            s.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    shared
}

/// Wait (at most 60 s) for `ok` to hold.
async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------
// Measurements (not assertions): run with
//   cargo test --release --test ops -- --ignored --nocapture measure_

/// Process CPU seconds (user + system) from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory in MB from /proc/self/status.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The log panel under a flood: `hearth sandbox` (its own process) streams
/// 5,000 lines a second from two pods; this process tails them with the
/// real log tail, applies them with the real `update` into the panel's ring
/// buffer and draws the real frame at 30 fps. Reports lines received, frame
/// time p50/p99/max, this process's CPU and its memory at start and end.
#[test]
#[ignore = "measurement harness"]
fn measure_log_panel_under_a_flood() {
    use hearth::app::{update, Mode, Msg, State};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;
    let secs: u64 = std::env::var("HEARTH_MEASURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let sb_dir = dir.path().join("sb");
    let mut child = std::process::Command::new(HEARTH)
        .args(["sandbox", "--speed", "20", "--dir"])
        .arg(&sb_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !sb_dir.join("env").exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let env_text = std::fs::read_to_string(sb_dir.join("env")).unwrap();
    let var = |k: &str| {
        env_text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {k}=")))
            .unwrap()
            .trim_matches('\'')
            .to_string()
    };
    let control = var("HEARTH_SANDBOX_URL");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{control}/faults"))
            .json(&serde_json::json!({"kind": "log_flood", "service": "web", "per_pod": 2500}))
            .send()
            .await
            .unwrap();
    });
    let registry =
        std::sync::Arc::new(hearth::registry::load(&sb_dir.join("services.yaml")).unwrap());
    let service = registry.service("web").unwrap().clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel(65_536);
    let kubeconfig = sb_dir.join("kubeconfig");
    rt.spawn(async move {
        let kube = hearth::cluster::KubeClient::new(None, Some(&kubeconfig))
            .await
            .unwrap();
        let req = hearth::cluster::logs::LogRequest {
            follow: true,
            tail: Some(10),
            ..Default::default()
        };
        hearth::cluster::logs::tail(kube, service, "default".into(), req, tx).await;
    });
    let mut state = State::new(registry, Mode::INTERACTIVE);
    update(&mut state, Msg::Tick(1_800_000_000));
    // Open the panel the way `l` + Enter does.
    let key = |c| {
        Msg::Key(crossterm::event::KeyEvent::new(
            c,
            crossterm::event::KeyModifiers::NONE,
        ))
    };
    update(&mut state, key(crossterm::event::KeyCode::Char('j')));
    update(&mut state, key(crossterm::event::KeyCode::Char('l')));
    let cmds = update(&mut state, key(crossterm::event::KeyCode::Enter)).commands;
    let id = cmds
        .iter()
        .find_map(|c| match c {
            hearth::app::Command::Logs { id, .. } => Some(*id),
            _ => None,
        })
        .expect("the log panel opened");
    let theme = hearth::ui::Theme::load(None, false).unwrap();
    let mut view = hearth::ui::ViewState::default();
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let (cpu0, rss0) = (cpu_secs(), rss_mb());
    let start = std::time::Instant::now();
    let mut frames: Vec<Duration> = Vec::new();
    let mut lines = 0u64;
    let frame = Duration::from_millis(33);
    let mut rss_warm = 0.0;
    while start.elapsed() < Duration::from_secs(secs) {
        let tick = std::time::Instant::now();
        while let Ok(ev) = rx.try_recv() {
            if matches!(ev, hearth::cluster::logs::LogEvent::Line(_)) {
                lines += 1;
            }
            update(&mut state, Msg::Log { id, event: ev });
        }
        let t = std::time::Instant::now();
        term.draw(|f| hearth::ui::draw(f, &state, &mut view, &theme))
            .unwrap();
        frames.push(t.elapsed());
        if rss_warm == 0.0 && start.elapsed() > Duration::from_secs(10) {
            rss_warm = rss_mb();
        }
        if let Some(rest) = frame.checked_sub(tick.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (cpu1, rss1) = (cpu_secs(), rss_mb());
    frames.sort();
    let pct = |p: f64| frames[((frames.len() as f64 - 1.0) * p) as usize];
    let kept = state.logs.as_ref().map_or(0, |l| l.lines.len());
    println!(
        "log panel, {secs} s: {lines} lines received = {:.0}/s (panel keeps {kept}); frames {}: p50 {:?} p99 {:?} max {:?}; CPU {:.1}% of a core; RSS {rss0:.1} MB at start, {rss_warm:.1} MB at 10 s, {rss1:.1} MB at the end",
        lines as f64 / elapsed,
        frames.len(),
        pct(0.5),
        pct(0.99),
        frames.last().unwrap(),
        (cpu1 - cpu0) / elapsed * 100.0,
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// hearth's own overhead in a ship to qa against the sandbox (without the
/// pre-ship command): from starting `hearth ship` to the release POST, from
/// the run's creation (the sandbox creates it while it answers that POST) to
/// hearth printing it, and from the rollout completing (seen by a watch on
/// the Deployment) to the `deployed` line. Five ships; median and worst.
#[test]
#[ignore = "measurement harness"]
fn measure_ship_overhead() {
    use chrono::{DateTime, Utc};
    use tokio::io::AsyncBufReadExt;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let e = env(10.0).await;
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..5 {
            // The time the qa Deployment is complete with a new image.
            let kube = hearth::cluster::KubeClient::new(None, Some(&e.kubeconfig())).await.unwrap();
            let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
                kube::Api::namespaced(kube.client.clone(), "qa");
            let before = e.tag("api", "qa");
            let complete = tokio::spawn(async move {
                loop {
                    let d = deployments.get("api").await.unwrap();
                    let tag = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).and_then(|s| s.containers[0].image.clone()).unwrap_or_default();
                    let st = d.status.clone().unwrap_or_default();
                    let done = !tag.ends_with(&format!(":{before}"))
                        && st.observed_generation == d.metadata.generation
                        && st.updated_replicas == Some(2)
                        && st.available_replicas == Some(2)
                        && st.replicas == Some(2);
                    if done {
                        return Utc::now();
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            let t0 = Utc::now();
            let mut child = e.command(&["ship", "api", "--qa", "--yes", "--skip-tests"]).spawn().unwrap();
            let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
            let (mut shown, mut deployed) = (None, None);
            while let Ok(Some(l)) = lines.next_line().await {
                if l.starts_with("✓ run #") {
                    shown = Some(Utc::now());
                }
                if l.ends_with(" deployed") {
                    deployed = Some(Utc::now());
                }
            }
            let _ = child.wait().await;
            let post = e
                .sb
                .journal
                .entries()
                .into_iter()
                .rev()
                .find(|j| j.method == "POST" && j.path.ends_with("/releases"))
                .map(|j| DateTime::parse_from_rfc3339(&j.time).unwrap().to_utc())
                .unwrap();
            let done = complete.await.unwrap();
            let ms = |x: DateTime<Utc>, y: DateTime<Utc>| (y - x).num_milliseconds();
            a.push(ms(t0, post));
            b.push(ms(post, shown.expect("a run line")));
            c.push(ms(done, deployed.expect("a deployed line")));
        }
        for v in [&mut a, &mut b, &mut c] {
            v.sort();
        }
        println!(
            "ship overhead over 5 ships (ms, median / worst): command → release POST {} / {}; run created → shown {} / {}; rollout complete → deployed line {} / {}",
            a[2], a[4], b[2], b[4], c[2], c[4]
        );
        e.sb.shutdown().await;
    });
}

/// When the runs that exist already cannot be read, a new run could not be
/// told from an old one: the ship stops before it tags, pushes or publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_earlier_runs_stop_a_ship_before_it_changes_anything() {
    let e = env(20.0).await;
    let releases0 = e.releases("api").await.len();
    let tags0 = git(&e.origin("api"), &["tag", "--list"]);
    let before = e.mutations();
    e.sb.faults.apply(Fault::Malformed {
        path: "/repos/hearth-demo/api/actions/workflows/".into(),
    });
    let r = e
        .hearth(&["ship", "api", "--qa", "--yes", "--skip-tests"])
        .await;
    assert_ne!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("cannot read the earlier runs"),
        "the refusal does not say why:\n{}",
        r.out
    );
    assert_eq!(
        e.mutations(),
        before,
        "a request that changes something was sent"
    );
    assert_eq!(
        git(&e.origin("api"), &["tag", "--list"]),
        tags0,
        "a tag was pushed"
    );
    assert_eq!(
        e.releases("api").await.len(),
        releases0,
        "a release was made"
    );
    e.sb.shutdown().await;
}

/// A deploy step that fails while the cluster cannot be read: hearth says
/// the cluster's state is unknown, never that it was not updated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_with_an_unreadable_cluster_says_its_state_is_unknown() {
    let e = env(20.0).await;
    e.sb.faults.apply(Fault::DeployFail {
        service: "worker".into(),
    });
    e.sb.faults.apply(Fault::Malformed {
        path: "/apis/apps/v1/namespaces/qa/deployments/worker".into(),
    });
    let r = e
        .hearth(&["ship", "worker", "--qa", "--yes", "--skip-tests"])
        .await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("✗ Deploy to k3s"), "{}", r.out);
    assert!(
        r.out
            .contains("cluster state unknown (it could not be read"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("was not updated"), "{}", r.out);
    e.sb.shutdown().await;
}

/// A fast rollback with --no-watch says what it checked: the PATCH was
/// accepted, the rollout was not watched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_rollback_without_watching_says_it_was_not_watched() {
    let e = env(20.0).await;
    let r = e.hearth(&["ship", "worker", "--yes", "--skip-tests"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    let r = e
        .hearth(&["rollback", "worker", "--yes", "--no-watch"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out
            .contains("patched back to revision 1 (v0.9.1); not watched (--no-watch)")
            && r.out
                .contains("kubectl rollout status deploy/worker -n default"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("rolled back to"), "{}", r.out);
    e.sb.shutdown().await;
}

/// A revision that runs an image by digest (no tag) is followed by its
/// digest: the rollback ends when the pods run it, not at a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_rollback_to_a_digest_revision_is_followed_by_its_digest() {
    let e = env(20.0).await;
    let container = e.kubectl(&[
        "get",
        "deploy",
        "worker",
        "-n",
        "default",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].name}",
    ]);
    let digest = format!("sha256:{}", "ab12".repeat(16));
    for image in [
        format!("ghcr.io/hearth-demo/worker@{digest}"),
        "ghcr.io/hearth-demo/worker:v0.9.1".to_string(),
    ] {
        e.kubectl(&[
            "set",
            "image",
            "deploy/worker",
            "-n",
            "default",
            &format!("{container}={image}"),
        ]);
        e.kubectl(&[
            "rollout",
            "status",
            "deploy/worker",
            "-n",
            "default",
            "--timeout=60s",
        ]);
    }
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        e.hearth(&["rollback", "worker", "--yes", "--to-revision", "2"]),
    )
    .await
    .expect("the rollback to a digest was not seen to arrive within 60 s");
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains(&format!("{digest} serves in default")),
        "{}",
        r.out
    );
    e.sb.shutdown().await;
}

// ---------------------------------------------------------------------------
// delivery: dispatch (the sandbox's `ledger`: build.yml, deploy-qa.yml,
// deploy-prod.yml behind the `production` environment's reviewer).
// ---------------------------------------------------------------------------

/// What `hearth status SERVICE -o json` says of the service (stdout only).
async fn status_of(e: &Env, service: &str) -> Option<Value> {
    let out = e
        .command(&["status", service, "-o", "json"])
        .output()
        .await
        .ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(v["services"][0].clone())
}

/// One environment of a service's `status -o json` report.
fn env_report(v: &Value, name: &str) -> Value {
    v["environments"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// The number N of `run #N of WORKFLOW` in an operation's output.
fn deploy_run_number(out: &str, workflow: &str) -> u64 {
    let at = out
        .find(&format!(" of {workflow} with"))
        .unwrap_or_else(|| panic!("no run of {workflow} in:\n{out}"));
    let start = out[..at].rfind('#').expect("run #") + 1;
    out[start..at].parse().expect("a run number")
}

/// Mutating requests the sandbox served, as `METHOD path`.
fn mutating(e: &Env) -> Vec<String> {
    e.sb.journal
        .entries()
        .iter()
        .filter(|x| !matches!(x.method.as_str(), "GET" | "HEAD"))
        .map(|x| format!("{} {}", x.method, x.path))
        .collect()
}

/// Seed 001's compose hosts: prod runs on a host outside Kubernetes, deployed
/// by its workflow and read by its version endpoint alone. Before anything
/// is deployed there its state is the endpoint's answer, not a tag; promote
/// follows the run and then the endpoint until it reports the tag (the
/// smoke check that names a namespace is said not to apply); a rollback
/// runs the workflow with the tag of the run before; logs and restart are
/// refused; nothing touches the cluster's prod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_to_a_compose_host_read_by_its_version_endpoint() {
    let e = env(20.0).await;
    let registry = e.sb.dir.join("services.yaml");
    let text = std::fs::read_to_string(&registry).unwrap();
    let url = format!("{}/hosts/edge-1/version", e.sb.control_url);
    let hosted = text.replace(
        "    prod: { workflow: deploy-prod.yml, input: image_tag }\n",
        &format!("    prod: {{ host: edge-1, workflow: deploy-edge.yml, input: image_tag, version: {{ url: \"{url}\" }} }}\n"),
    );
    assert_ne!(hosted, text, "the ledger block changed shape");
    std::fs::write(&registry, hosted).unwrap();
    let prod_before = e.tag("ledger", "default");

    let c = e.hearth(&["check"]).await;
    assert!(
        c.out.contains("host edge-1") && c.out.contains(&format!("read by {url}")),
        "{}",
        c.out
    );
    // Nothing deployed on the host yet: its endpoint's answer, never a tag.
    let v = status_of(&e, "ledger").await.expect("status");
    let prod = env_report(&v, "prod");
    assert_eq!(prod["host"], "edge-1", "{prod}");
    assert_eq!(prod["observation"]["state"], "error", "{prod}");
    assert!(prod["serving_tag"].is_null(), "{prod}");
    let logs = e.hearth(&["logs", "ledger", "--env", "prod"]).await;
    assert_ne!(logs.code, 0, "{}", logs.out);
    assert!(
        logs.out.contains("runs on host edge-1") && logs.out.contains("docker compose logs"),
        "{}",
        logs.out
    );
    let restart = e
        .hearth(&["restart", "ledger", "--env", "prod", "--yes"])
        .await;
    assert_ne!(restart.code, 0, "{}", restart.out);
    assert!(
        restart.out.contains("runs on host edge-1"),
        "{}",
        restart.out
    );

    let clone = e.clone_dir("ledger");
    let mut shipped: Vec<String> = Vec::new();
    for n in 1..=2 {
        git(
            &clone,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                &format!("Change {n}"),
            ],
        );
        let head = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();
        let tag = format!("sha-{}", &head[..7]);
        let r = e.hearth(&["ship", "ledger", "--yes"]).await;
        assert_eq!(r.code, 0, "{}", r.out);
        if n == 1 {
            // The plan names the host, not an empty namespace.
            let dry = e.hearth(&["promote", "ledger", "--dry-run"]).await;
            assert!(
                dry.out
                    .contains(&format!("promote ledger {tag} → prod (host edge-1)")),
                "{}",
                dry.out
            );
        }
        let before = mutating(&e).len();
        // The second time the host goes on reporting the old version for
        // a while (a container slow to answer): the promote must wait for
        // the endpoint, not take the run's success for the deploy.
        let slow = shipped.first().cloned();
        if let Some(old) = &slow {
            e.sb.faults.apply(Fault::StaleVersion {
                service: "edge-1".into(),
                version: old.clone(),
            });
        }
        let out_file = e.state.with_extension(format!("promote{n}.out"));
        let mut child = e
            .command(&["promote", "ledger", "--yes"])
            .stdout(std::fs::File::create(&out_file).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if let Some(old) = &slow {
            let said = format!("the endpoint reports {old}");
            eventually(60, "the promote to follow the host's endpoint", || async {
                let text = std::fs::read_to_string(&out_file).unwrap_or_default();
                text.contains(&said).then_some(())
            })
            .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            assert!(
                child.try_wait().unwrap().is_none(),
                "the promote ended while the host still reported {old}"
            );
            e.sb.faults.clear_service("edge-1");
        }
        let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
            .await
            .expect("the promote ends")
            .unwrap();
        let p = Run {
            code: status.code().unwrap_or(-1),
            out: std::fs::read_to_string(&out_file).unwrap(),
        };
        assert_eq!(p.code, 0, "{}", p.out);
        assert!(
            p.out
                .contains(&format!("of deploy-edge.yml with image_tag={tag}"))
                && p.out.contains(&format!("host edge-1 reports {tag}")),
            "{}",
            p.out
        );
        assert!(
            p.out
                .contains("not run in prod: its URL names a {namespace}"),
            "the namespace smoke check is said not to apply:\n{}",
            p.out
        );
        let sent = mutating(&e)[before..].to_vec();
        assert!(
            sent.iter().all(|m| !m.contains("/namespaces/")),
            "a deploy to the host touched the cluster: {sent:?}"
        );
        let v = status_of(&e, "ledger").await.expect("status");
        let prod = env_report(&v, "prod");
        assert_eq!(prod["observation"]["state"], "reported", "{prod}");
        assert_eq!(prod["serving_tag"], tag.as_str(), "{prod}");
        assert_eq!(prod["expected_tag"], tag.as_str(), "{prod}");
        assert_eq!(prod["drift"], false, "{prod}");
        shipped.push(tag);
    }
    assert_eq!(
        e.tag("ledger", "default"),
        prod_before,
        "the cluster's prod moved"
    );

    // Rollback: no Deployment, so it is the workflow run with the tag of
    // the run before (plain `rollback`, no --clean needed).
    let r = e
        .hearth(&["rollback", "ledger", "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out
            .contains(&format!("of deploy-edge.yml with image_tag={}", shipped[0])),
        "{}",
        r.out
    );
    let v = status_of(&e, "ledger").await.expect("status");
    let prod = env_report(&v, "prod");
    assert_eq!(prod["serving_tag"], shipped[0].as_str(), "{prod}");
    assert_eq!(prod["drift"], false, "{prod}");
    e.sb.shutdown().await;
}

/// Ship → qa builds the commit and runs qa's workflow with its tag; promote
/// runs prod's workflow with the tag qa runs, waits for the reviewer, whom
/// `hearth approve` answers; a clean rollback runs prod's workflow with the
/// tag prod ran before; every step is journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_ship_approve_promote_and_roll_back() {
    let e = env(20.0).await;
    let prod0 = e.tag("ledger", "default");
    let clone = e.clone_dir("ledger");
    git(&clone, &["commit", "-q", "--allow-empty", "-m", "A change"]);
    let head = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();
    let tag = format!("sha-{}", &head[..7]);

    // Ship: qa by default for this model.
    let r = e.hearth(&["ship", "ledger", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("✓ run #") && r.out.contains("of build.yml"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains(&format!("of deploy-qa.yml with image_tag={tag}")),
        "{}",
        r.out
    );
    assert_eq!(e.tag("ledger", "qa"), tag);
    assert_eq!(
        e.tag("ledger", "default"),
        prod0,
        "a ship to qa touched prod"
    );
    assert_eq!(
        git(&e.origin("ledger"), &["rev-parse", "main"]).trim(),
        head,
        "the branch was pushed"
    );
    // What qa should run is what its deploy run was given (its title,
    // `run-name: deploy ${{ inputs.image_tag }}`): in step.
    let qa_run = deploy_run_number(&r.out, "deploy-qa.yml");
    let v = status_of(&e, "ledger").await.expect("status");
    let qa = env_report(&v, "qa");
    assert_eq!(qa["expected_tag"], tag.as_str(), "{qa}");
    assert_eq!(
        qa["expected_from"],
        format!("run #{qa_run} of deploy-qa.yml"),
        "{qa}"
    );
    assert_eq!(qa["drift"], false, "{qa}");

    // Promote waits for the reviewer (and says so); approve answers.
    let promote_out = e.state.with_extension("promote.out");
    let promote = e
        .command(&["promote", "ledger", "--yes"])
        .stdout(std::fs::File::create(&promote_out).unwrap())
        .spawn()
        .unwrap();
    let waiting = eventually(60, "the prod run to wait for its reviewer", || async {
        status_of(&e, "ledger").await?.get("waiting").cloned()
    })
    .await;
    eventually(
        60,
        "the promote to show the approval it waits for",
        || async {
            let text = std::fs::read_to_string(&promote_out).unwrap_or_default();
            text.contains("waiting for hearth-reviewer to approve production")
                .then_some(())
        },
    )
    .await;
    assert_eq!(waiting["environments"][0]["environment"], "production");
    assert_eq!(
        waiting["environments"][0]["reviewers"][0],
        "hearth-reviewer"
    );
    let dry = e
        .hearth(&["approve", "ledger", "--env", "prod", "--dry-run"])
        .await;
    assert_eq!(dry.code, 0, "{}", dry.out);
    assert!(
        dry.out.contains(&format!("{prod0} → {tag}")),
        "the confirmation shows what would change:\n{}",
        dry.out
    );
    // ... and the commits the reviewer lets in, the newest being ours.
    assert!(
        dry.out.contains("brings ") && dry.out.contains(&format!("{} A change", &head[..7])),
        "the confirmation lists the commits:\n{}",
        dry.out
    );
    let r = e
        .hearth(&["approve", "ledger", "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let out = tokio::time::timeout(Duration::from_secs(120), promote.wait_with_output())
        .await
        .expect("the promote ends after the approval")
        .unwrap();
    let text = std::fs::read_to_string(&promote_out).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("✓ approval (production) (approved)"),
        "{text}"
    );
    assert_eq!(e.tag("ledger", "default"), tag, "prod runs what qa ran");
    let v = status_of(&e, "ledger").await.expect("status");
    let prod = env_report(&v, "prod");
    assert_eq!(prod["expected_tag"], tag.as_str(), "{prod}");
    assert_eq!(prod["drift"], false, "{prod}");

    // Nothing waits now: approve says so and sends nothing.
    let before = mutating(&e).len();
    let r = e.hearth(&["approve", "ledger", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains("no run of ledger waits for an approval"),
        "{}",
        r.out
    );
    assert_eq!(mutating(&e).len(), before);

    // Clean rollback: prod's workflow with the tag prod ran before, after
    // its reviewer approves (in a task, as a teammate would).
    let rollback = e
        .command(&["rollback", "ledger", "--env", "prod", "--clean", "--yes"])
        .spawn()
        .unwrap();
    eventually(60, "the rollback's run to wait", || async {
        status_of(&e, "ledger").await?.get("waiting").map(|_| ())
    })
    .await;
    let r = e
        .hearth(&[
            "approve",
            "ledger",
            "--env",
            "prod",
            "--yes",
            "--comment",
            "roll back",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let out = tokio::time::timeout(Duration::from_secs(120), rollback.wait_with_output())
        .await
        .expect("the rollback ends")
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("image_tag={prod0}")), "{text}");
    assert_eq!(e.tag("ledger", "default"), prod0);
    // The rollback's run is the newest good deploy: prod should run prod0.
    let v = status_of(&e, "ledger").await.expect("status");
    let prod = env_report(&v, "prod");
    assert_eq!(prod["expected_tag"], prod0.as_str(), "{prod}");
    assert_eq!(prod["drift"], false, "{prod}");

    let journal = e.journal_lines();
    let ops: Vec<&str> = journal.iter().filter_map(|j| j["op"].as_str()).collect();
    // Each line is written when its operation ends: an approval before the
    // operation that waited for it.
    assert_eq!(ops, ["ship", "approve", "promote", "approve", "rollback"]);
    assert!(journal[1]["mutations"][0]
        .as_str()
        .unwrap()
        .contains("pending_deployments"));
    e.sb.shutdown().await;
}

/// The reviewer side of a gated prod: a reviewer who rejects (the promote
/// fails at its approval step and prod is untouched); another team's
/// environment whose approval does not come from us (`hearth approve`
/// says who can and sends nothing); a wait timer (shown while the run
/// waits, and the run starts only once it has run out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_prod_rejected_not_ours_to_approve_and_behind_a_wait_timer() {
    let e = env(20.0).await;
    let prod0 = e.tag("ledger", "default");
    let qa = e.tag("ledger", "qa");
    assert_ne!(prod0, qa, "the sandbox's qa and prod differ");

    // A rejecting reviewer.
    e.sb.faults.apply(Fault::Reviewer {
        service: "ledger".into(),
        answer: sandbox::ReviewerAnswer::Reject,
    });
    let r = e.hearth(&["promote", "ledger", "--yes"]).await;
    assert_ne!(r.code, 0, "{}", r.out);
    assert!(
        // Who rejected it and why, from the run's reviews.
        r.out.contains("✗ approval (production): rejected by hearth-reviewer: “not this one: the reviewer rejected it”")
            && r.out.contains("✗ CI run #")
            && r.out.contains("was rejected by hearth-reviewer: “not this one: the reviewer rejected it” at its approval (production)")
            && r.out.contains("once the reviewer's concern is met, run the operation again")
            && r.out.contains(&format!(
                "deploy-prod.yml with image_tag={qa} deployed nothing"
            )),
        "{}",
        r.out
    );
    assert_eq!(e.tag("ledger", "default"), prod0, "a rejected run deployed");

    // Not ours to approve: status says so; approve refuses, sends nothing.
    // The promote follows its run for 20 s (HEARTH_RUN_TIMEOUT_SECS; 45
    // minutes by default), then stops following and says the run waits.
    e.sb.faults.apply(Fault::Reviewer {
        service: "ledger".into(),
        answer: sandbox::ReviewerAnswer::Never,
    });
    let promote = e
        .command(&["promote", "ledger", "--yes"])
        .env("HEARTH_RUN_TIMEOUT_SECS", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = eventually(60, "the prod run to wait", || async {
        status_of(&e, "ledger").await?.get("waiting").cloned()
    })
    .await;
    assert_eq!(
        waiting["environments"][0]["can_approve"], false,
        "{waiting}"
    );
    assert!(
        waiting["message"]
            .as_str()
            .unwrap_or_default()
            .contains("(you cannot approve it)"),
        "{waiting}"
    );
    let before = mutating(&e).len();
    let r = e
        .hearth(&["approve", "ledger", "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains("you cannot approve production") && r.out.contains("ask hearth-reviewer"),
        "{}",
        r.out
    );
    assert_eq!(mutating(&e).len(), before, "approve sent a request");
    let out = tokio::time::timeout(Duration::from_secs(90), promote.wait_with_output())
        .await
        .expect("the promote stops following after its run timeout")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("no one answered the approval (production) within 20s; the run still waits")
            && text.contains("approve it with hearth approve (or on the run's page), or cancel it"),
        "{text}"
    );
    // It stopped following; the run itself still waits, and nothing deployed.
    let still = status_of(&e, "ledger")
        .await
        .and_then(|v| v.get("waiting").cloned());
    assert!(still.is_some(), "the run no longer waits: {text}");
    assert_eq!(e.tag("ledger", "default"), prod0);

    // A 2 min wait timer (6 s at speed 20): shown while the run waits; an
    // approval lets the run start only once it has run out.
    e.sb.faults.clear_service("ledger");
    e.sb.faults.apply(Fault::WaitTimer {
        service: "ledger".into(),
        minutes: 2,
    });
    let promote_out = e.state.with_extension("timer.out");
    let promote = e
        .command(&["promote", "ledger", "--yes"])
        .stdout(std::fs::File::create(&promote_out).unwrap())
        .spawn()
        .unwrap();
    // The promote's own run waits and says so (the killed promote's run
    // still waits too: approve takes the newest).
    eventually(60, "the promote to show its run's wait timer", || async {
        let text = std::fs::read_to_string(&promote_out).unwrap_or_default();
        text.contains("then a 2 min wait timer").then_some(())
    })
    .await;
    let waiting = status_of(&e, "ledger")
        .await
        .and_then(|v| v.get("waiting").cloned())
        .expect("a run waits");
    assert_eq!(waiting["environments"][0]["wait_timer"], 2, "{waiting}");
    assert!(
        waiting["message"]
            .as_str()
            .unwrap_or_default()
            .contains("then a 2 min wait timer"),
        "{waiting}"
    );
    let r = e
        .hearth(&["approve", "ledger", "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let out = tokio::time::timeout(Duration::from_secs(60), promote.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the promote did not end:\n{}",
                std::fs::read_to_string(&promote_out).unwrap_or_default()
            )
        })
        .unwrap();
    let text = std::fs::read_to_string(&promote_out).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(e.tag("ledger", "default"), qa, "prod runs what qa ran");
    // The approval came within a second or two; the job started only once
    // the timer (6 s from when the run began to wait) had run out.
    let number = deploy_run_number(&text, "deploy-prod.yml");
    let runs: Value = reqwest::Client::new()
        .get(format!(
            "{}/repos/hearth-demo/ledger/actions/workflows/deploy-prod.yml/runs",
            e.sb.github_url
        ))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run = runs["workflow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_number"] == number)
        .unwrap()
        .clone();
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(run[k].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert!(
        at("run_started_at") - at("created_at") >= 6,
        "the job did not wait out the timer: created {}, started {}",
        run["created_at"],
        run["run_started_at"]
    );
    e.sb.shutdown().await;
}

/// A server that refuses `return_run_details` (400) gets the plain call, and
/// the run is found by workflow, event and commit, never an older one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_finds_its_run_on_a_server_without_run_details() {
    let e = env(20.0).await;
    e.sb.faults.apply(Fault::RefuseRunDetails);
    let clone = e.clone_dir("ledger");
    // qa's workflow names no tag in its run title (no `run-name`): what its
    // run was given is known from hearth's journal alone.
    let wf = clone.join(".github/workflows/deploy-qa.yml");
    let text = std::fs::read_to_string(&wf).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("run-name:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(text, without, "the sandbox's workflow had a run-name");
    std::fs::write(&wf, without).unwrap();
    // `hearth check` says so, for qa alone.
    let c = e.hearth(&["check"]).await;
    assert!(
        c.out
            .contains("qa by deploy-qa.yml (its runs' titles do not name the tag")
            && c.out.contains("prod by deploy-prod.yml")
            && !c.out.contains("prod by deploy-prod.yml (its runs'"),
        "{}",
        c.out
    );
    git(&clone, &["commit", "-q", "-am", "Another change"]);
    let head = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();
    let r = e.hearth(&["ship", "ledger", "--yes", "--skip-tests"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("→ GitHub answered 400"),
        "the refused call is in the command log:\n{}",
        r.out
    );
    let tag = format!("sha-{}", &head[..7]);
    assert_eq!(e.tag("ledger", "qa"), tag);
    let qa_run = deploy_run_number(&r.out, "deploy-qa.yml");
    let v = status_of(&e, "ledger").await.expect("status");
    let qa = env_report(&v, "qa");
    assert_eq!(qa["expected_tag"], tag.as_str(), "{qa}");
    assert_eq!(
        qa["expected_from"],
        format!("run #{qa_run} of deploy-qa.yml"),
        "{qa}"
    );
    // Without the journal (another machine's ship) the run's tag is not
    // known, and neither is drift: no guess.
    std::fs::remove_file(e.state.join("hearth/audit.jsonl")).unwrap();
    let v = status_of(&e, "ledger").await.expect("status");
    let qa = env_report(&v, "qa");
    assert_eq!(qa["expected_tag"], Value::Null, "{qa}");
    assert_eq!(qa["drift"], false, "{qa}");
    // A promote's run is found the same way (its commit read from GitHub).
    let promote = e.command(&["promote", "ledger", "--yes"]).spawn().unwrap();
    eventually(60, "the prod run to wait for its reviewer", || async {
        status_of(&e, "ledger").await?.get("waiting").map(|_| ())
    })
    .await;
    let r = e
        .hearth(&["approve", "ledger", "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let out = tokio::time::timeout(Duration::from_secs(120), promote.wait_with_output())
        .await
        .expect("the promote ends")
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("→ GitHub answered 400"), "{text}");
    assert_eq!(e.tag("ledger", "default"), tag);
    e.sb.shutdown().await;
}

/// A deploy workflow that cannot be run by hand, or lacks the input, is
/// refused before anything changes, with the lines to add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_refuses_a_workflow_it_cannot_run_and_changes_nothing() {
    let e = env(20.0).await;
    let clone = e.clone_dir("ledger");
    let wf = clone.join(".github/workflows/deploy-qa.yml");
    let text = std::fs::read_to_string(&wf).unwrap();
    std::fs::write(
        &wf,
        text.replace(
            "image_tag:\n        description",
            "tag:\n        description",
        ),
    )
    .unwrap();
    git(&clone, &["commit", "-qam", "Rename the input"]);
    let before = mutating(&e);
    let r = e.hearth(&["ship", "ledger", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains("deploy-qa.yml has no input `image_tag`")
            && r.out.contains("workflow_dispatch:"),
        "{}",
        r.out
    );
    assert_eq!(mutating(&e), before, "a refused ship sent a request");
    // A service the registry marks not shippable: refused with its reason,
    // whatever its model, before anything is read or sent.
    let r = e.hearth(&["ship", "docs", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains(
            "docs is not shippable: published by the docs team's own pipeline, not by hearth"
        ) && r.out.contains("set `shippable: true` in services.yaml"),
        "{}",
        r.out
    );
    assert_eq!(mutating(&e), before, "a refused ship sent a request");
    std::fs::write(
        &wf,
        "name: deploy-qa\non:\n  push:\n    branches: [main]\njobs: {}\n",
    )
    .unwrap();
    git(&clone, &["commit", "-qam", "Deploy on push only"]);
    let r = e.hearth(&["ship", "ledger", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out.contains("no `workflow_dispatch` trigger"),
        "{}",
        r.out
    );
    assert_eq!(mutating(&e), before);
    assert!(
        e.journal_lines().is_empty(),
        "a refusal is not an operation"
    );
    e.sb.shutdown().await;
}

/// The pods of a Deployment, by name, as kubectl lists them.
fn pods_of(e: &Env, deploy: &str, ns: &str) -> Vec<String> {
    let out = e.kubectl(&[
        "get",
        "pods",
        "-n",
        ns,
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
    ]);
    let prefix = format!("{deploy}-");
    let mut pods: Vec<String> = out
        .lines()
        .filter(|p| p.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    pods.sort();
    pods
}

/// `hearth restart` sends what `kubectl rollout restart` sends, follows the
/// new pods to ready and runs the smoke check; it asks first, a dry run
/// and a refusal change nothing, and it is journaled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_rolls_new_pods_of_the_same_image_as_kubectl_does() {
    let e = env(20.0).await;
    let revision = |d: &str| {
        e.kubectl(&[
            "get",
            "deploy",
            d,
            "-n",
            "default",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ])
        .parse::<i64>()
        .unwrap()
    };
    let restarted_at = |d: &str| {
        e.kubectl(&[
            "get",
            "deploy",
            d,
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
        ])
    };
    let (tag0, rev0, pods0) = (
        e.tag("web", "default"),
        revision("web"),
        pods_of(&e, "web", "default"),
    );
    assert!(!pods0.is_empty());
    // Without --yes and without a terminal: refused, nothing sent.
    let before = e.mutations();
    let r = e.hearth(&["restart", "web", "--env", "qa"]).await;
    assert_eq!(r.code, 4, "{}", r.out);
    assert!(
        r.out
            .contains("this replaces every pod and stdin is not a terminal"),
        "{}",
        r.out
    );
    let r = e
        .hearth(&["restart", "web", "--env", "prod", "--dry-run"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out
            .contains("PATCH deployments/web -n default (strategic merge"),
        "{}",
        r.out
    );
    assert_eq!(
        e.mutations(),
        before,
        "a refusal or a dry run sent a mutation"
    );
    assert_eq!(restarted_at("web"), "");

    let r = e
        .hearth(&["restart", "web", "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out
            .contains("$ PATCH deployments/web -n default (strategic merge"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("✓ smoke: GET") && r.out.contains("web restarted in prod"),
        "{}",
        r.out
    );
    let stamp = restarted_at("web");
    let rfc3339 = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$").unwrap();
    assert!(rfc3339.is_match(&stamp), "restartedAt {stamp:?}");
    assert_eq!(revision("web"), rev0 + 1, "a new revision");
    assert_eq!(e.tag("web", "default"), tag0, "the same image");
    let pods1 = pods_of(&e, "web", "default");
    assert!(
        !pods1.is_empty() && pods1.iter().all(|p| !pods0.contains(p)),
        "every pod replaced: {pods0:?} → {pods1:?}"
    );
    // The same as kubectl's own restart of another service: the annotation
    // on the template, one new revision.
    let billing0 = revision("billing");
    e.kubectl(&["rollout", "restart", "deploy/billing", "-n", "default"]);
    assert_eq!(revision("billing"), billing0 + 1);
    assert!(rfc3339.is_match(&restarted_at("billing")));

    let last = e.journal_lines().pop().expect("a journal line");
    assert_eq!(last["op"], "restart", "{last}");
    assert_eq!(last["result"], "ok", "{last}");
    assert_eq!(last["env"], "prod", "{last}");
    assert!(
        last["mutations"][0]
            .as_str()
            .is_some_and(|m| m.contains("strategic merge") && m.ends_with("→ ok")),
        "{last}"
    );
    e.sb.shutdown().await;
}

/// The prod environment of `service` in `hearth status -o json`.
async fn prod_of(e: &Env, service: &str) -> Value {
    let s = status_of(e, service).await.expect("status answers");
    s["environments"]
        .as_array()
        .and_then(|envs| envs.iter().find(|x| x["name"] == "prod").cloned())
        .unwrap_or_else(|| panic!("no prod in {s}"))
}

/// A tag that moves: prod runs `web:latest`; the tag is pushed again and one
/// pod is replaced, so the Deployment's pods run two digests under one tag,
/// which `status -o json` reports (digests and a warning) until a restart
/// brings every pod onto the new digest. `latest` in prod stays a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_pushed_again_shows_two_digests_until_a_restart() {
    let e = env(20.0).await;
    let jsonpath = |what: &str| {
        e.kubectl(&[
            "get",
            "deploy",
            "web",
            "-n",
            "default",
            "-o",
            &format!("jsonpath={what}"),
        ])
    };
    let image = jsonpath("{.spec.template.spec.containers[0].image}");
    let container = jsonpath("{.spec.template.spec.containers[0].name}");
    let latest = format!("{}:latest", image.rsplit_once(':').unwrap().0);
    e.kubectl(&[
        "set",
        "image",
        "deploy/web",
        &format!("{container}={latest}"),
        "-n",
        "default",
    ]);
    e.kubectl(&[
        "rollout",
        "status",
        "deploy/web",
        "-n",
        "default",
        "--timeout=60s",
    ]);
    let prod = prod_of(&e, "web").await;
    assert_eq!(prod["digests"].as_array().map(Vec::len), Some(1), "{prod}");
    let first = prod["digests"][0].as_str().unwrap().to_string();
    assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
    assert!(
        prod["digest_warning"]
            .as_str()
            .is_some_and(|w| w.starts_with("latest can move")),
        "{prod}"
    );
    // The tag is pushed again; one pod is replaced and pulls the new content.
    let pushed: Value = reqwest::Client::new()
        .post(format!("{}/images/push", e.sb.control_url))
        .json(&serde_json::json!({"image": latest}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = pushed["digest"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let pod = pods_of(&e, "web", "default")[0].clone();
    e.kubectl(&["delete", "pod", &pod, "-n", "default", "--wait=false"]);
    let mut prod = Value::Null;
    for _ in 0..100 {
        prod = prod_of(&e, "web").await;
        if prod["digests"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let digests: Vec<&str> = prod["digests"]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        digests.len() == 2
            && digests.contains(&first.as_str())
            && digests.contains(&second.as_str()),
        "two digests under latest: {prod}"
    );
    assert!(
        prod["digest_warning"]
            .as_str()
            .is_some_and(|w| w.starts_with("2 digests under latest")),
        "{prod}"
    );
    let table = e.hearth(&["status", "web"]).await;
    assert!(
        table.out.contains("web prod: 2 digests under latest"),
        "{}",
        table.out
    );
    // A restart: every pod pulls the new content.
    let r = e
        .hearth(&["restart", "web", "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let prod = prod_of(&e, "web").await;
    assert_eq!(
        prod["digests"],
        serde_json::json!([second]),
        "after the restart, one digest: the new one"
    );
    e.sb.shutdown().await;
}

/// Helm history from Helm's release Secrets: the sandbox's chart-deployed
/// `billing` has revision 1; a ship is a `helm upgrade` (revision 2
/// deployed, 1 superseded); a release Secret written here by the real tools
/// (`gzip`, `base64`, `kubectl create secret`) reads back as revision 3.
/// A fast rollback's plan says it is not final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_history_is_read_from_the_release_secrets() {
    let e = env(20.0).await;
    let revisions = |prod: &Value| -> Vec<(u64, String, String)> {
        prod["helm"]["history"]["revisions"]
            .as_array()
            .unwrap_or_else(|| panic!("no helm history: {prod}"))
            .iter()
            .map(|r| {
                (
                    r["revision"].as_u64().unwrap(),
                    r["status"].as_str().unwrap().to_string(),
                    r["app_version"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let prod = prod_of(&e, "billing").await;
    assert_eq!(prod["observation"]["helm_release"], "billing", "{prod}");
    let tag0 = e.tag("billing", "default");
    assert_eq!(
        revisions(&prod),
        [(1, "deployed".to_string(), tag0.clone())]
    );
    let r = e
        .hearth(&["ship", "billing", "--yes", "--skip-tests"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let tag1 = e.tag("billing", "default");
    let prod = prod_of(&e, "billing").await;
    assert_eq!(
        revisions(&prod),
        [
            (2, "deployed".to_string(), tag1.clone()),
            (1, "superseded".to_string(), tag0)
        ]
    );
    // Written the way Helm writes it, by other code than hearth's.
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"name":"billing","namespace":"default","version":3,"info":{"status":"failed","last_deployed":"2026-12-03T11:00:00Z","description":"Upgrade \"billing\" failed: timed out"},"chart":{"metadata":{"name":"billing","version":"0.5.0","appVersion":"v9.9.9"}}}"#;
    std::fs::write(dir.path().join("release.json"), json).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("gzip -c release.json | base64 -w0 > release")
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(out.success());
    let file = format!("release={}", dir.path().join("release").display());
    // kubectl does the Secret's own base64; applied server-side.
    let manifest = e.kubectl(&[
        "create",
        "secret",
        "generic",
        "sh.helm.release.v1.billing.v3",
        "-n",
        "default",
        "--type=helm.sh/release.v1",
        "--from-file",
        &file,
        "--dry-run=client",
        "-o",
        "yaml",
    ]);
    let path = dir.path().join("secret.yaml");
    std::fs::write(&path, manifest).unwrap();
    e.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=helm",
        "-f",
        path.to_str().unwrap(),
    ]);
    e.kubectl(&[
        "label",
        "secret",
        "sh.helm.release.v1.billing.v3",
        "-n",
        "default",
        "owner=helm",
        "name=billing",
        "version=3",
        "status=failed",
    ]);
    let prod = prod_of(&e, "billing").await;
    let revs = prod["helm"]["history"]["revisions"].as_array().unwrap();
    assert_eq!(revs[0]["revision"], 3, "{prod}");
    assert_eq!(revs[0]["status"], "failed");
    assert_eq!(revs[0]["chart"], "billing-0.5.0");
    assert_eq!(revs[0]["app_version"], "v9.9.9");
    assert_eq!(
        revs[0]["description"],
        "Upgrade \"billing\" failed: timed out"
    );
    let r = e.hearth(&["rollback", "billing", "--dry-run"]).await;
    assert!(
        r.out
            .contains("not final: Helm manages it (release billing)")
            && r.out.contains("helm rollback billing REVISION -n default"),
        "{}",
        r.out
    );
    e.sb.shutdown().await;
}

// delivery: push (the sandbox's `relay`: dev.yml on a push to main deploys
// sha-<7 hex> to dev; prod.yml on a pushed v* tag deploys the tag to prod
// behind the `production` environment's reviewer).
// ---------------------------------------------------------------------------

/// Run hearth `args` (an operation whose run waits for its reviewer), wait
/// until its output says it waits, approve it with `hearth approve`, and
/// return its exit code and output once it ends.
async fn approved(e: &Env, args: &[&str], service: &str) -> (i32, String) {
    let out_path = e.state.with_extension(format!("{}.out", args.join("-")));
    let child = e
        .command(args)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .spawn()
        .unwrap();
    eventually(
        60,
        "the operation to show the approval it waits for",
        || async {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            text.contains("waiting for hearth-reviewer to approve production")
                .then_some(())
        },
    )
    .await;
    let r = e
        .hearth(&["approve", service, "--env", "prod", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the operation ends after the approval")
        .unwrap();
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    (out.status.code().unwrap_or(-1), text)
}

/// Ship pushes main and follows the run the push started (dev gets the
/// commit's image); promote tags what dev runs with the next version and
/// pushes the tag (prod, after its reviewer); a clean rollback re-runs the
/// last good prod run, which builds and deploys its own tag again. A ship
/// with nothing to push is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_ship_tag_promote_and_rerun_rollback() {
    let e = env(20.0).await;
    let prod0 = e.tag("relay", "default");
    let clone = e.clone_dir("relay");

    // Nothing new: dev runs the head of main already; nothing is sent.
    let before = mutating(&e).len();
    let r = e.hearth(&["ship", "relay", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("dev already runs sha-"), "{}", r.out);
    assert_eq!(
        mutating(&e).len(),
        before,
        "a ship with nothing to do sent something"
    );

    git(
        &clone,
        &["commit", "-q", "--allow-empty", "-m", "Speed up the relay"],
    );
    let head = git(&clone, &["rev-parse", "HEAD"]).trim().to_string();
    let tag = format!("sha-{}", &head[..7]);
    let r = e.hearth(&["ship", "relay", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("of dev.yml"),
        "the run the push started:\n{}",
        r.out
    );
    assert_eq!(e.tag("relay", "dev"), tag);
    assert_eq!(
        e.tag("relay", "default"),
        prod0,
        "a ship to dev touched prod"
    );
    assert_eq!(
        git(&e.origin("relay"), &["rev-parse", "main"]).trim(),
        head,
        "main was pushed"
    );
    // The run hearth followed is the push's: its head SHA is the commit.
    let runs: Value = reqwest::Client::new()
        .get(format!(
            "{}/repos/hearth-demo/relay/actions/workflows/dev.yml/runs?event=push",
            e.sb.github_url
        ))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs["workflow_runs"][0]["head_sha"], head.as_str());
    // What dev runs is main's head; prod (v1.2.1) lacks the two commits
    // after it, under relay's threshold of three.
    let v = status_of(&e, "relay").await.expect("status");
    let env = |name: &str| {
        v["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(env("dev")["behind"]["commits"], 0, "{v}");
    assert_eq!(env("prod")["behind"]["commits"], 2, "{v}");
    assert_eq!(env("prod")["behind"]["stale"], false, "{v}");
    assert_eq!(env("dev")["expected_tag"], tag.as_str(), "{v}");
    assert_eq!(
        env("dev")["expected_from"],
        format!(
            "main@{}, run #{}",
            &head[..7],
            runs["workflow_runs"][0]["run_number"]
        ),
        "{v}"
    );

    // Promote: the next version tag at the commit dev runs, pushed; prod's
    // run waits for its reviewer.
    let dry = e.hearth(&["promote", "relay", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{}", dry.out);
    assert!(
        dry.out
            .contains(&format!("git tag -a v1.2.2 {}", &head[..7])),
        "{}",
        dry.out
    );
    let (code, text) = approved(&e, &["promote", "relay", "--yes"], "relay").await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("✓ approval (production) (approved)"),
        "{text}"
    );
    assert_eq!(e.tag("relay", "default"), "v1.2.2");
    assert_eq!(
        git(&e.origin("relay"), &["rev-parse", "v1.2.2^{commit}"]).trim(),
        head,
        "the version tag names the commit dev ran"
    );

    // The same commit again: already tagged, refused, nothing sent.
    let before = mutating(&e).len();
    let again = e.hearth(&["promote", "relay", "--yes"]).await;
    assert_eq!(again.code, 2, "{}", again.out);
    assert!(
        again.out.contains("is already tagged v1.2.2"),
        "{}",
        again.out
    );
    assert_eq!(mutating(&e).len(), before);

    // Rollback by re-run: prod's last good run before v1.2.2 (v1.2.1's).
    let dry = e
        .hearth(&["rollback", "relay", "--env", "prod", "--clean", "--dry-run"])
        .await;
    assert!(dry.out.contains("v1.2.2 → v1.2.1"), "{}", dry.out);
    assert!(dry.out.contains("/rerun"), "{}", dry.out);
    let (code, text) = approved(
        &e,
        &["rollback", "relay", "--env", "prod", "--clean", "--yes"],
        "relay",
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(e.tag("relay", "default"), prod0);

    let journal = e.journal_lines();
    let ops: Vec<&str> = journal.iter().filter_map(|j| j["op"].as_str()).collect();
    assert_eq!(ops, ["ship", "approve", "promote", "approve", "rollback"]);
    let sent = |i: usize| journal[i]["mutations"].to_string();
    assert!(
        sent(0).contains("git push origin HEAD:refs/heads/main"),
        "{}",
        sent(0)
    );
    assert!(
        sent(2).contains("git push origin refs/tags/v1.2.2"),
        "{}",
        sent(2)
    );
    assert!(sent(4).contains("/rerun"), "{}", sent(4));

    // Dev rolled back by hand while origin has the head: a push would
    // start no run, so a ship is refused and sends nothing.
    let r = e
        .hearth(&["rollback", "relay", "--env", "dev", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    let before = mutating(&e).len();
    let r = e.hearth(&["ship", "relay", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(r.out.contains("a push would start no run"), "{}", r.out);
    assert_eq!(mutating(&e).len(), before, "a refused ship sent something");
    e.sb.shutdown().await;
}

// Two clusters (`--clusters 2`: prod on a second Kubernetes API).
// ---------------------------------------------------------------------------

/// Each environment's cells come from its own cluster; with the prod
/// cluster down only prod's cells are marked, naming its context, and qa
/// still reads; an operation on prod acts on the prod cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_read_and_act_each_on_its_own() {
    let e = env_of(20.0, 2).await;
    let prod = e.sb.prod_cluster.clone().expect("a second cluster");
    let kubectl_on = |context: &str, args: &[&str]| {
        let out = std::process::Command::new("kubectl")
            .env("KUBECONFIG", e.kubeconfig())
            .args(["--request-timeout=10s", "--context", context])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // prod lives only on the second cluster, qa only on the first.
    let names = |ctx: &str, ns: &str| kubectl_on(ctx, &["get", "deploy", "-n", ns, "-o", "name"]);
    assert!(names("hearth-sandbox-prod", "default").contains("deployment.apps/api"));
    assert!(!names("hearth-sandbox-prod", "qa").contains("api"));
    assert!(!names("hearth-sandbox", "default").contains("api"));
    assert!(names("hearth-sandbox", "qa").contains("deployment.apps/api"));

    let v = status_of(&e, "api").await.expect("status");
    let envs = v["environments"].as_array().unwrap();
    let prod_env = envs.iter().find(|x| x["name"] == "prod").unwrap();
    assert_eq!(prod_env["context"], "hearth-sandbox-prod", "{v}");
    assert_eq!(prod_env["serving_tag"], "v0.3.0", "{v}");
    // Each cluster runs its own Flux: hecate's prod Kustomization is read
    // on prod's context, qa's on the first.
    let v = status_of(&e, "hecate").await.expect("status");
    for env in v["environments"].as_array().unwrap() {
        assert_eq!(env["gitops"]["flux"], "Ready", "{env}");
    }
    assert!(e
        .kubectl(&[
            "--context",
            "hearth-sandbox-prod",
            "get",
            "ks",
            "-A",
            "-o",
            "name"
        ])
        .contains("apps-prod"));

    // The prod cluster down: its cells say so and name its context.
    prod.set_down(true);
    let r = e.hearth(&["status", "api"]).await;
    let prod_line = r
        .out
        .lines()
        .find(|l| l.contains(" prod "))
        .unwrap_or_default();
    let qa_line = r
        .out
        .lines()
        .find(|l| l.contains(" qa "))
        .unwrap_or_default();
    assert!(prod_line.contains("error"), "{}", r.out);
    assert!(
        qa_line.contains("v0.3.1-rc.1") && qa_line.contains("complete"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("context \"hearth-sandbox-prod\""),
        "the notes name the cluster that is down:\n{}",
        r.out
    );
    prod.set_down(false);

    // A promote to prod acts on the prod cluster.
    let r = e.hearth(&["promote", "api", "v0.3.1-rc.1", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    let image = kubectl_on(
        "hearth-sandbox-prod",
        &[
            "get",
            "deploy",
            "api",
            "-n",
            "default",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert!(image.ends_with(":v0.3.1-rc.1"), "{image}");
    e.sb.shutdown().await;
}

// GitOps (`delivery: gitops`: hecate, seed 002).
// ---------------------------------------------------------------------------

impl Env {
    fn gitops_bare(&self) -> PathBuf {
        self.sb.dir.join("gitops.git")
    }

    /// A Kustomization's status field, as the real kubectl reads it.
    fn kustomization(&self, name: &str, field: &str) -> String {
        self.kubectl(&[
            "get",
            "kustomizations.kustomize.toolkit.fluxcd.io",
            name,
            "-n",
            "flux-system",
            "-o",
            &format!("jsonpath={{.status.{field}}}"),
        ])
    }

    async fn race(&self, conflict: bool) {
        let r = reqwest::Client::new()
            .post(format!("{}/gitops/race", self.sb.control_url))
            .json(&serde_json::json!({ "conflict": conflict }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }
}

/// Ship tags the code repository, follows the tag's build run, commits the
/// tag into qa's manifest (Flux's setter marker) and pushes it with real
/// git, asks Flux to reconcile and follows the Kustomization to the commit,
/// then the rollout; promote commits qa's tag into prod's manifest (a YAML
/// path); a clean rollback is a forward commit of the tag qa's manifest
/// held before. Each is journaled with its git and Kubernetes requests;
/// `status` says what the manifests hold and that Flux is Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_ship_promote_and_forward_commit_rollback() {
    let e = env(20.0).await;
    let clone = e.clone_dir("hecate");
    let bare = e.gitops_bare();
    assert_eq!(e.tag("hecate", "qa"), "v0.7.2");
    assert_eq!(e.tag("hecate", "default"), "v0.7.1");
    git(
        &clone,
        &["commit", "-q", "--allow-empty", "-m", "Faster search"],
    );

    // check says where each environment's tag is and what it holds.
    let c = e.hearth(&["check"]).await;
    assert_eq!(c.code, 0, "{}", c.out);
    assert!(
        c.out.contains("build.yml builds a pushed version tag; prod: apps/prod/hecate.yaml holds v0.7.1; qa: apps/qa/hecate.yaml holds v0.7.2"),
        "{}",
        c.out
    );

    // A dry run says what it will commit and pushes nothing.
    let head0 = git(&bare, &["rev-parse", "main"]);
    let dry = e.hearth(&["ship", "hecate", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{}", dry.out);
    assert!(
        dry.out
            .contains("commit apps/qa/hecate.yaml (v0.7.2 → v0.7.3)"),
        "{}",
        dry.out
    );
    assert_eq!(git(&bare, &["rev-parse", "main"]), head0);

    let r = e.hearth(&["ship", "hecate", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("of build.yml"),
        "the tag's build run:\n{}",
        r.out
    );
    let head = git(&bare, &["rev-parse", "main"]);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]),
        "chore: deploy hecate v0.7.3 to qa (hearth)"
    );
    assert!(
        git(&bare, &["show", "main:apps/qa/hecate.yaml"])
            .contains("image: ghcr.io/hearth-demo/hecate:v0.7.3 # {\"$imagepolicy\": \"flux-system:hecate-qa\"}"),
        "one line changed, the marker kept"
    );
    assert_eq!(
        e.kustomization("apps-qa", "lastAppliedRevision"),
        format!("main@sha1:{head}")
    );
    assert!(
        r.out.contains(&format!("Flux applied main@{}", &head[..7])),
        "{}",
        r.out
    );
    assert_eq!(e.tag("hecate", "qa"), "v0.7.3");
    assert_eq!(
        e.tag("hecate", "default"),
        "v0.7.1",
        "a ship to qa touched prod"
    );
    assert_eq!(
        git(&e.origin("hecate"), &["rev-parse", "v0.7.3^{commit}"]),
        git(&clone, &["rev-parse", "HEAD"]),
        "the version tag names the shipped commit"
    );

    let r = e.hearth(&["promote", "hecate", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(e.tag("hecate", "default"), "v0.7.3");
    assert!(git(&bare, &["show", "main:apps/prod/hecate.yaml"]).contains("hecate:v0.7.3"));
    // Promoting again has nothing to do and sends nothing.
    let before = git(&bare, &["rev-parse", "main"]);
    let again = e.hearth(&["promote", "hecate", "--yes"]).await;
    assert_eq!(again.code, 0, "{}", again.out);
    assert!(again.out.contains("already holds v0.7.3"), "{}", again.out);
    assert_eq!(git(&bare, &["rev-parse", "main"]), before);

    let r = e
        .hearth(&["rollback", "hecate", "--env", "qa", "--clean", "--yes"])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(e.tag("hecate", "qa"), "v0.7.2");
    assert!(
        git(&bare, &["log", "-1", "--format=%s", "main"])
            .starts_with("rollback: hecate to v0.7.2 in qa — v0.7.3"),
        "a forward commit with the reason"
    );

    let v = status_of(&e, "hecate").await.expect("status");
    let qa = v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "qa")
        .cloned()
        .unwrap();
    assert_eq!(qa["expected_tag"], "v0.7.2", "{qa}");
    assert_eq!(qa["gitops"]["flux"], "Ready", "{qa}");
    assert_eq!(qa["drift"], false, "{qa}");
    assert!(
        qa["expected_from"]
            .as_str()
            .unwrap()
            .starts_with("apps/qa/hecate.yaml@"),
        "{qa}"
    );

    let journal = e.journal_lines();
    let ops: Vec<&str> = journal.iter().filter_map(|j| j["op"].as_str()).collect();
    assert_eq!(ops, ["ship", "promote", "rollback"]);
    let sent = journal[0]["mutations"].to_string();
    for want in [
        "git push origin refs/tags/v0.7.3",
        "git commit -q -m chore: deploy hecate v0.7.3 to qa (hearth)",
        "git push origin HEAD:refs/heads/main",
        "kustomizations.kustomize.toolkit.fluxcd.io/apps-qa",
        "reconcile.fluxcd.io/requestedAt",
    ] {
        assert!(sent.contains(want), "{want} in {sent}");
    }
    e.sb.shutdown().await;
}

/// What goes wrong with GitOps: a suspended Kustomization refuses the ship
/// before anything changes (with the command that resumes it); a push
/// that lost a race is fetched, rebased and pushed again; a manifest Flux
/// cannot build stops the ship with Flux's own message after the commit;
/// a rebase that conflicts stops with nothing pushed and the checkout at
/// origin, clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_suspended_race_stalled_and_conflict() {
    let e = env(20.0).await;
    let clone = e.clone_dir("hecate");
    let bare = e.gitops_bare();
    let checkout = e.sb.dir.join("gitops");
    git(
        &clone,
        &["commit", "-q", "--allow-empty", "-m", "Faster search"],
    );

    // Suspended: refused, nothing tagged, nothing committed.
    e.kubectl(&[
        "patch",
        "kustomization",
        "apps-qa",
        "-n",
        "flux-system",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    let head0 = git(&bare, &["rev-parse", "main"]);
    let r = e.hearth(&["ship", "hecate", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.out);
    assert!(
        r.out
            .contains("flux resume kustomization apps-qa -n flux-system"),
        "{}",
        r.out
    );
    assert_eq!(git(&bare, &["rev-parse", "main"]), head0);
    assert!(git(&e.origin("hecate"), &["tag", "-l", "v0.7.3"]).is_empty());
    e.kubectl(&[
        "patch",
        "kustomization",
        "apps-qa",
        "-n",
        "flux-system",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);

    // A race lost: someone's commit lands first; hearth rebases onto it.
    e.race(false).await;
    let r = e.hearth(&["ship", "hecate", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.out.contains("the push was refused"), "{}", r.out);
    let subjects = git(&bare, &["log", "-2", "--format=%s", "main"]);
    assert_eq!(
        subjects, "chore: deploy hecate v0.7.3 to qa (hearth)\ndocs: who is on call (ops)",
        "hearth's commit on top of theirs"
    );
    assert_eq!(e.tag("hecate", "qa"), "v0.7.3");

    // A manifest Flux cannot build: the ship stops at Flux, with its message.
    let other = e._dir.path().join("other");
    git(
        e._dir.path(),
        &[
            "clone",
            "-q",
            bare.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(
        other.join("apps/qa/broken.yaml"),
        "kind: Deployment\nmetadata: {name: [oops\n",
    )
    .unwrap();
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-q", "-m", "Add a broken manifest"]);
    git(&other, &["push", "-q", "origin", "main"]);
    git(
        &clone,
        &["commit", "-q", "--allow-empty", "-m", "Even faster"],
    );
    let r = e.hearth(&["ship", "hecate", "--yes"]).await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("kustomize build failed"), "{}", r.out);
    assert!(r.out.contains("Flux did not apply it"), "{}", r.out);
    assert_eq!(e.tag("hecate", "qa"), "v0.7.3", "nothing applied");
    // The simulated Flux marks the Kustomization Stalled on its own
    // schedule (under CI's load, after hearth has read it failing).
    eventually(30, "apps-qa to be Stalled", || async {
        e.kustomization("apps-qa", "conditions")
            .contains("Stalled")
            .then_some(())
    })
    .await;
    let v = status_of(&e, "hecate").await.expect("status");
    let qa = v["environments"][1].clone();
    assert_eq!(qa["name"], "qa");
    assert_eq!(qa["gitops"]["flux"], "Stalled", "{qa}");
    assert!(qa["gitops"]["note"]
        .as_str()
        .unwrap()
        .contains("kustomize build failed"));
    git(&other, &["pull", "-q", "--rebase", "origin", "main"]);
    git(&other, &["rm", "-q", "apps/qa/broken.yaml"]);
    git(&other, &["commit", "-q", "-m", "Drop the broken manifest"]);
    git(&other, &["push", "-q", "origin", "main"]);

    // A conflicting race: the same lines changed; nothing pushed, the
    // checkout clean at origin.
    e.race(true).await;
    let r = e
        .hearth(&["rollback", "hecate", "--env", "qa", "--clean", "--yes"])
        .await;
    assert_eq!(r.code, 1, "{}", r.out);
    assert!(r.out.contains("changed the same lines"), "{}", r.out);
    assert!(r.out.contains("nothing pushed"), "{}", r.out);
    assert_eq!(git(&checkout, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&checkout, &["rev-parse", "HEAD"]),
        git(&bare, &["rev-parse", "main"]),
        "the checkout is at origin's main"
    );
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]),
        "hotfix: pin the hotfix images (ops)",
        "hearth pushed nothing"
    );
    e.sb.shutdown().await;
}

/// Without a local checkout, how far what runs is behind the default
/// branch comes from GitHub's compare API: the same count the checkout
/// gives, said to come from GitHub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_behind_without_a_checkout_come_from_github() {
    let e = env(20.0).await;
    let with = status_of(&e, "relay").await.expect("status");
    let text = std::fs::read_to_string(e.sb.services_path()).unwrap();
    let elsewhere = text.replace("directory: repos/relay", "directory: repos/not-here");
    assert_ne!(text, elsewhere);
    let path = e.sb.dir.join("services-no-checkout.yaml");
    std::fs::write(&path, elsewhere).unwrap();
    let out = e
        .command(&[
            "--services",
            path.to_str().unwrap(),
            "status",
            "relay",
            "-o",
            "json",
        ])
        .output()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let without = &v["services"][0];
    let env_of = |v: &Value, name: &str| {
        v["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .cloned()
            .unwrap()
    };
    for env in ["prod", "dev"] {
        let (a, b) = (env_of(&with, env), env_of(without, env));
        assert_eq!(
            a["behind"]["commits"], b["behind"]["commits"],
            "{env}: {a} / {b}"
        );
        assert_eq!(a["behind"]["oldest"], b["behind"]["oldest"], "{env}");
        assert_eq!(b["behind"]["branch"], "the default branch on GitHub", "{b}");
    }
    assert_eq!(
        env_of(without, "prod")["behind"]["commits"],
        1,
        "v1.2.1 is one commit behind main"
    );
    // GitHub was asked once per environment, with the tag each runs.
    let asked: Vec<String> =
        e.sb.journal
            .entries()
            .iter()
            .filter(|x| x.path.contains("/compare/"))
            .map(|x| x.path.clone())
            .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked
            .iter()
            .any(|p| p.ends_with("/compare/v1.2.1...HEAD?per_page=1")),
        "{asked:?}"
    );
    e.sb.shutdown().await;
}

/// The compare request is conditional: asked again while the branch has
/// not moved it is a 304 (no rate limit spent) with the same answer; after
/// a push it is answered anew with one more commit. The sandbox pages the
/// commits oldest first, as GitHub does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_requests_are_conditional_and_paged() {
    use hearth::github::{Client, Token};
    let e = env(20.0).await;
    let client = Client::new(
        &e.sb.github_url,
        Token::new(e.sb.token.clone(), "GH_TOKEN"),
        None,
    )
    .expect("client");
    let repo = "hearth-demo/relay";
    let compared = |e: &Env| -> Vec<(u16, bool)> {
        e.sb.journal
            .entries()
            .iter()
            .filter(|x| x.path.contains("/compare/v1.2.1...HEAD"))
            .map(|x| (x.status, x.conditional_hit))
            .collect()
    };
    let first = hearth::ops::git::behind_on_github(&client, repo, "v1.2.1")
        .await
        .expect("behind");
    assert_eq!(first.commits, 1, "{first:?}");
    let again = hearth::ops::git::behind_on_github(&client, repo, "v1.2.1")
        .await
        .expect("behind again");
    assert_eq!(again, first);
    assert_eq!(compared(&e), vec![(200, false), (304, true)]);

    // Two commits pushed to main: answered anew, the oldest first.
    let clone = e.clone_dir("relay");
    git(&clone, &["commit", "-q", "--allow-empty", "-m", "One"]);
    git(&clone, &["commit", "-q", "--allow-empty", "-m", "Two"]);
    git(&clone, &["push", "-q", "origin", "HEAD:main"]);
    let moved = hearth::ops::git::behind_on_github(&client, repo, "v1.2.1")
        .await
        .expect("behind after a push");
    assert_eq!(moved.commits, 3, "{moved:?}");
    assert_eq!(moved.oldest, first.oldest, "the oldest is still the oldest");
    assert_eq!(compared(&e), vec![(200, false), (304, true), (200, false)]);

    // The sandbox's pages: one commit a page, oldest first, with a Link.
    let page = |n: u32| {
        let url = format!(
            "{}/repos/{repo}/compare/v1.2.1...HEAD?per_page=1&page={n}",
            e.sb.github_url
        );
        let token = e.sb.token.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .header("user-agent", "hearth-test")
                .send()
                .await
                .unwrap()
        }
    };
    let r = page(1).await;
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("page=3>; rel=\"last\""), "{link}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["ahead_by"], 3);
    assert_eq!(v["commits"].as_array().unwrap().len(), 1);
    let v: Value = page(3).await.json().await.unwrap();
    assert_eq!(v["commits"][0]["commit"]["message"], "Two", "{v}");
    e.sb.shutdown().await;
}

/// A GitOps repository named by URL is cloned into hearth's state
/// directory on first use and shipped through like a local checkout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitops_repository_by_url_is_cloned_into_the_state_directory() {
    let e = env(20.0).await;
    let bare = e.gitops_bare();
    let text = std::fs::read_to_string(e.sb.services_path()).unwrap();
    let url = format!("file://{}", bare.display());
    let by_url = text.replace(
        "gitops: { repo: gitops,",
        &format!("gitops: {{ repo: \"{url}\","),
    );
    assert_ne!(text, by_url);
    let path = e.sb.dir.join("services-by-url.yaml");
    std::fs::write(&path, by_url).unwrap();
    git(
        &e.clone_dir("hecate"),
        &["commit", "-q", "--allow-empty", "-m", "Faster search"],
    );
    let r = e
        .hearth(&[
            "--services",
            path.to_str().unwrap(),
            "ship",
            "hecate",
            "--yes",
        ])
        .await;
    assert_eq!(r.code, 0, "{}", r.out);
    assert_eq!(
        git(&bare, &["log", "-1", "--format=%s", "main"]),
        "chore: deploy hecate v0.7.3 to qa (hearth)"
    );
    let clones = e.state.join("hearth/gitops");
    let made: Vec<_> = std::fs::read_dir(&clones)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(made.len(), 1, "one clone in {}", clones.display());
    assert_eq!(
        git(&made[0].path(), &["rev-parse", "HEAD"]),
        git(&bare, &["rev-parse", "main"]),
        "the clone holds the pushed commit"
    );
    // The sandbox's own checkout was not used.
    assert_ne!(
        git(&e.sb.dir.join("gitops"), &["rev-parse", "HEAD"]),
        git(&bare, &["rev-parse", "main"])
    );
    assert_eq!(e.tag("hecate", "qa"), "v0.7.3");
    e.sb.shutdown().await;
}
