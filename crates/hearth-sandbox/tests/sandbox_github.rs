//! Integration tests of the sandbox GitHub API, simulated CI and control
//! API, over real HTTP on 127.0.0.1 with the real `octocrab` client and real
//! `git`. (`hearth sandbox`, the command, is tested in the app's tests/cli.rs.)

use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hearth_sandbox::{self as sandbox, DeployTarget, SandboxHandle, SandboxOptions};
use octocrab::models::workflows::{Conclusion, Job, Status};
use octocrab::Octocrab;

/// Records every `set_image` the CI deploy step makes.
#[derive(Default)]
struct FakeDeploy {
    calls: Mutex<Vec<(String, String, String)>>,
}

impl DeployTarget for FakeDeploy {
    fn set_image(&self, namespace: &str, deployment: &str, image: &str) -> Result<(), String> {
        self.calls
            .lock()
            .unwrap()
            .push((namespace.into(), deployment.into(), image.into()));
        Ok(())
    }
}

impl FakeDeploy {
    fn calls(&self) -> Vec<(String, String, String)> {
        self.calls.lock().unwrap().clone()
    }
}

struct Env {
    sb: SandboxHandle,
    deploy: Arc<FakeDeploy>,
    octo: Octocrab,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn env(speed: f64) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let deploy = Arc::new(FakeDeploy::default());
    let mut opts = SandboxOptions::new(dir.path().join("sb"));
    opts.speed = speed;
    opts.deploy = Some(deploy.clone());
    let sb = sandbox::start(opts).await.expect("sandbox starts");
    let octo = Octocrab::builder()
        .base_uri(sb.github_url.as_str())
        .unwrap()
        .personal_token(sb.token.clone())
        .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
        .build()
        .unwrap();
    Env {
        sb,
        deploy,
        octo,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Env {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.sb.github_url))
            .bearer_auth(&self.sb.token)
    }

    /// Tag HEAD of a service's clone and push the tag to its origin.
    fn push_tag(&self, service: &str, tag: &str) {
        let clone = self.sb.dir.join("repos").join(service);
        git(&clone, &["tag", tag]);
        git(&clone, &["push", "-q", "origin", tag]);
    }

    async fn post_fault(&self, fault: serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/faults", self.sb.control_url))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "fault accepted");
    }
}

fn git(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Poll `f` until it yields `Some`, or panic after `secs` (generous: the box is loaded).
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_of(err: &octocrab::Error) -> u16 {
    match err {
        octocrab::Error::GitHub { source, .. } => source.status_code.as_u16(),
        other => panic!("expected a GitHub error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_list_get_latest_by_tag_create_update_delete() {
    let e = env(50.0).await;
    let rel = e.octo.repos("hearth-demo", "api");
    let releases = rel.releases();

    let all = releases.list().per_page(100).send().await.unwrap();
    let tags: Vec<&str> = all.items.iter().map(|r| r.tag_name.as_str()).collect();
    assert_eq!(tags, ["v0.3.1-rc.1", "v0.3.0", "v0.2.0", "v0.1.0"]);
    assert!(all.items[0].prerelease);
    assert!(all.items[0].author.is_some());

    // Pagination: two per page, Link header to the next page.
    let page1 = releases.list().per_page(2).send().await.unwrap();
    assert_eq!(page1.items.len(), 2);
    let page2: octocrab::Page<octocrab::models::repos::Release> =
        e.octo.get_page(&page1.next).await.unwrap().expect("page 2");
    assert_eq!(page2.items[0].tag_name, "v0.2.0");

    let latest = releases.get_latest().await.unwrap();
    assert_eq!(latest.tag_name, "v0.3.0");
    let by_tag = releases.get_by_tag("v0.3.1-rc.1").await.unwrap();
    assert!(by_tag.prerelease);
    let by_id = releases.get(by_tag.id.0).await.unwrap();
    assert_eq!(by_id.tag_name, "v0.3.1-rc.1");
    assert_eq!(
        status_of(&releases.get_by_tag("v9.9.9").await.unwrap_err()),
        404
    );

    // Create needs the tag in the origin: 422 first, then 201 once pushed.
    let missing = releases.create("v0.4.0").send().await.unwrap_err();
    assert_eq!(status_of(&missing), 422);
    e.push_tag("api", "v0.4.0");
    let created = releases
        .create("v0.4.0")
        .name("v0.4.0")
        .body("notes")
        .make_latest(octocrab::repos::releases::MakeLatest::True)
        .send()
        .await
        .unwrap();
    assert!(!created.draft && !created.prerelease);
    assert_eq!(releases.get_latest().await.unwrap().tag_name, "v0.4.0");

    // A second release for the same tag: GitHub's 422 shape.
    let dup = e
        .http
        .post(format!(
            "{}/repos/hearth-demo/api/releases",
            e.sb.github_url
        ))
        .bearer_auth(&e.sb.token)
        .json(&serde_json::json!({"tag_name": "v0.4.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), 422);
    let body: serde_json::Value = dup.json().await.unwrap();
    assert_eq!(body["message"], "Validation Failed");
    assert_eq!(body["errors"][0]["code"], "already_exists");
    assert_eq!(body["errors"][0]["field"], "tag_name");
    assert_eq!(body["errors"][0]["resource"], "Release");
    assert!(body["documentation_url"].is_string());

    // Update: mark it draft; latest falls back to v0.3.0.
    let updated = releases
        .update(created.id.0)
        .draft(true)
        .name("pulled")
        .send()
        .await
        .unwrap();
    assert!(updated.draft);
    assert_eq!(updated.name.as_deref(), Some("pulled"));
    assert_eq!(releases.get_latest().await.unwrap().tag_name, "v0.3.0");

    releases.delete(created.id.0).await.unwrap();
    assert_eq!(
        status_of(&releases.get(created.id.0).await.unwrap_err()),
        404
    );
    let _ = rel.get().await.unwrap();
    e.sb.shutdown().await;
}

async fn jobs_of(e: &Env, repo: &str, run_id: u64) -> Job {
    let jobs = e
        .octo
        .workflows("hearth-demo", repo)
        .list_jobs(run_id.into())
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.items.len(), 1);
    jobs.items.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prerelease_runs_ci_whose_steps_advance_and_deploy_to_qa() {
    // Slow enough (the build step takes 1.5 s) that polling sees steps run.
    let e = env(2.0).await;
    e.push_tag("api", "v0.3.2-rc.1");
    let sha = git(&e.sb.dir.join("repos/api"), &["rev-parse", "HEAD"]);
    let release = e
        .octo
        .repos("hearth-demo", "api")
        .releases()
        .create("v0.3.2-rc.1")
        .prerelease(true)
        .send()
        .await
        .unwrap();
    assert!(release.prerelease);

    let wf = e.octo.workflows("hearth-demo", "api");
    let run = eventually(20, "a run for the new release", || async {
        let runs = wf
            .list_runs("release.yml")
            .event("release")
            .send()
            .await
            .unwrap();
        runs.items.into_iter().find(|r| r.head_sha == sha)
    })
    .await;
    assert_eq!(run.event, "release");
    assert_eq!(run.head_branch, "v0.3.2-rc.1");
    assert_eq!(run.run_number, 5);

    // Watch the steps move: some step is seen running before the run completes.
    let mut saw_running_step = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let job = jobs_of(&e, "api", run.id.0).await;
        saw_running_step |= job
            .steps
            .iter()
            .any(|s| s.status == Status::InProgress && s.started_at.is_some());
        if job.status == Status::Completed {
            break job;
        }
        assert!(Instant::now() < deadline, "timed out waiting for the run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(saw_running_step, "steps advance one by one");
    assert_eq!(job.conclusion, Some(Conclusion::Success));
    let names: Vec<&str> = job.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Set up job",
            "Checkout",
            "Build and push image",
            "Deploy to k3s",
            "Complete job"
        ]
    );
    for s in &job.steps {
        assert_eq!(s.conclusion, Some(Conclusion::Success));
        assert!(s.started_at.is_some() && s.completed_at.is_some());
    }
    let run = wf.get(run.id).await.unwrap();
    assert_eq!(run.status, "completed");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(
        e.deploy.calls(),
        vec![(
            "qa".to_string(),
            "api".to_string(),
            "ghcr.io/hearth-demo/api:v0.3.2-rc.1".to_string()
        )]
    );

    // Filters: head_sha and status.
    let by_sha = e
        .get(&format!(
            "/repos/hearth-demo/api/actions/runs?head_sha={sha}&status=success"
        ))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(by_sha["total_count"], 1);
    let all = wf.list_all_runs().per_page(2u8).send().await.unwrap();
    assert_eq!(all.items.len(), 2);
    assert_eq!(all.total_count, Some(5));
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_types_decide_which_edits_start_runs() {
    let e = env(20.0).await;
    let count_runs = |repo: &'static str| {
        let e = &e;
        async move {
            e.octo
                .workflows("hearth-demo", repo)
                .list_all_runs()
                .send()
                .await
                .unwrap()
                .total_count
                .unwrap()
        }
    };
    // api listens to `published` only: a draft starts nothing, publishing it does.
    e.push_tag("api", "v0.3.2");
    let api = e.octo.repos("hearth-demo", "api");
    let draft = api
        .releases()
        .create("v0.3.2")
        .draft(true)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count_runs("api").await, 4, "a draft triggers nothing");
    api.releases()
        .update(draft.id.0)
        .draft(false)
        .send()
        .await
        .unwrap();
    eventually(20, "publishing the draft starts a run", || async {
        (count_runs("api").await == 5).then_some(())
    })
    .await;

    // Promote the rc on api: `edited` + `released`, no `published` → no run.
    let rc = api.releases().get_by_tag("v0.3.1-rc.1").await.unwrap();
    api.releases()
        .update(rc.id.0)
        .prerelease(false)
        .make_latest(octocrab::repos::releases::MakeLatest::True)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count_runs("api").await, 5, "promote fires no `published`");
    assert_eq!(
        api.releases().get_latest().await.unwrap().tag_name,
        "v0.3.1-rc.1"
    );

    // worker listens to `prereleased, released`: the promote deploys to prod.
    let worker = e.octo.repos("hearth-demo", "worker");
    let rc = worker.releases().get_by_tag("v0.10.0-rc.1").await.unwrap();
    worker
        .releases()
        .update(rc.id.0)
        .prerelease(false)
        .send()
        .await
        .unwrap();
    eventually(30, "the promote's deploy to default", || async {
        e.deploy
            .calls()
            .contains(&(
                "default".into(),
                "worker".into(),
                "ghcr.io/hearth-demo/worker:v0.10.0-rc.1".into(),
            ))
            .then_some(())
    })
    .await;
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_304_is_free_and_rate_limit_headers_count() {
    let e = env(1.0).await;
    let r = e
        .get("/repos/hearth-demo/api/releases")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let etag = h["etag"].to_str().unwrap().to_string();
    let used: u64 = h["x-ratelimit-used"].to_str().unwrap().parse().unwrap();
    let remaining: u64 = h["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(used + remaining, 5000);
    assert_eq!(h["x-ratelimit-limit"], "5000");
    assert_eq!(h["x-ratelimit-resource"], "core");
    assert!(h.contains_key("x-ratelimit-reset"));

    for _ in 0..3 {
        let r = e
            .get("/repos/hearth-demo/api/releases")
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304);
        assert_eq!(
            r.headers()["x-ratelimit-used"].to_str().unwrap(),
            used.to_string()
        );
        assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    }
    // A weak validator matches too, as on GitHub.
    let r = e
        .get("/repos/hearth-demo/api/releases")
        .header("if-none-match", format!("W/{etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(e.sb.github.rate_used(), used);

    // A stale ETag gets the full body and costs one request.
    let r = e
        .get("/repos/hearth-demo/api/releases")
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(e.sb.github.rate_used(), used + 1);

    // Every GET carries an ETag.
    for path in [
        "/user",
        "/user/repos",
        "/repos/hearth-demo/api",
        "/repos/hearth-demo/api/releases/latest",
        "/repos/hearth-demo/api/actions/runs",
        "/repos/hearth-demo/api/actions/workflows",
    ] {
        let r = e.get(path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().contains_key("etag"), "{path}");
    }
    let hits: Vec<_> =
        e.sb.journal
            .entries()
            .into_iter()
            .filter(|j| j.conditional_hit)
            .collect();
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|j| j.status == 304 && j.api == "github"));
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_a_valid_token_get_401() {
    let e = env(1.0).await;
    let url = format!("{}/repos/hearth-demo/api/releases", e.sb.github_url);
    let r = e.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["message"], "Requires authentication");
    let r = e.http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = e
        .http
        .get(&url)
        .header("authorization", format!("token {}", e.sb.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the `token` scheme works too");
    // The 401 body never echoes a token.
    let text = e
        .http
        .get(&url)
        .bearer_auth("secret-xyz")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("secret-xyz"));
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_faults_5xx_rate_limit_slow_malformed() {
    let e = env(1.0).await;
    let path = "/repos/hearth-demo/api/releases";

    e.post_fault(serde_json::json!({"kind": "github_error", "seconds": 60}))
        .await;
    let r = e.get(path).send().await.unwrap();
    assert_eq!(r.status(), 502);
    assert!(r.headers().contains_key("retry-after"));
    let err = e
        .octo
        .repos("hearth-demo", "api")
        .releases()
        .list()
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 502);
    e.http
        .delete(format!("{}/faults", e.sb.control_url))
        .send()
        .await
        .unwrap();
    assert_eq!(e.get(path).send().await.unwrap().status(), 200);

    e.post_fault(serde_json::json!({"kind": "rate_limit", "seconds": 60}))
        .await;
    let r = e.get(path).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let reset: i64 = r.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset > chrono::Utc::now().timestamp());
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("rate limit exceeded"));
    e.sb.faults.clear();

    e.post_fault(serde_json::json!({"kind": "slow", "ms": 400}))
        .await;
    let t = Instant::now();
    assert_eq!(e.get(path).send().await.unwrap().status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    e.sb.faults.clear();

    e.post_fault(serde_json::json!({"kind": "malformed", "path": "/repos/hearth-demo/api/rel"}))
        .await;
    let r = e.get(path).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
    assert!(e
        .octo
        .repos("hearth-demo", "api")
        .releases()
        .list()
        .send()
        .await
        .is_err());
    // Other paths are unaffected.
    assert_eq!(e.get("/user").send().await.unwrap().status(), 200);
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_fault_fails_the_run_and_rerun_succeeds() {
    let e = env(20.0).await;
    e.post_fault(serde_json::json!({"kind": "build_fail", "service": "web"}))
        .await;
    e.push_tag("web", "v0.3.2");
    e.octo
        .repos("hearth-demo", "web")
        .releases()
        .create("v0.3.2")
        .send()
        .await
        .unwrap();
    let wf = e.octo.workflows("hearth-demo", "web");
    let run = eventually(20, "the run", || async {
        let runs = wf.list_all_runs().branch("v0.3.2").send().await.unwrap();
        runs.items.into_iter().next()
    })
    .await;
    let job = eventually(30, "the failed run", || async {
        let job = jobs_of(&e, "web", run.id.0).await;
        (job.status == Status::Completed).then_some(job)
    })
    .await;
    assert_eq!(job.conclusion, Some(Conclusion::Failure));
    let conclusions: Vec<_> = job.steps.iter().map(|s| s.conclusion.clone()).collect();
    assert_eq!(
        conclusions,
        [
            Some(Conclusion::Success),
            Some(Conclusion::Success),
            Some(Conclusion::Failure),
            Some(Conclusion::Skipped),
            Some(Conclusion::Success),
        ]
    );
    assert!(
        e.deploy.calls().is_empty(),
        "a failed build deploys nothing"
    );
    assert_eq!(
        wf.get(run.id).await.unwrap().conclusion.as_deref(),
        Some("failure")
    );

    e.sb.faults.clear();
    // A completed run cannot be cancelled.
    let r = e
        .http
        .post(format!(
            "{}/repos/hearth-demo/web/actions/runs/{}/cancel",
            e.sb.github_url, run.id
        ))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    wf.rerun_run(run.id).await.unwrap();
    let job = eventually(30, "the re-run", || async {
        let job = jobs_of(&e, "web", run.id.0).await;
        (job.status == Status::Completed && job.run_attempt == 2).then_some(job)
    })
    .await;
    assert_eq!(job.conclusion, Some(Conclusion::Success));
    assert_eq!(
        e.deploy.calls(),
        vec![(
            "default".to_string(),
            "web".to_string(),
            "ghcr.io/hearth-demo/web:v0.3.2".to_string()
        )]
    );
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_serves_the_journal_and_faults() {
    let e = env(1.0).await;
    let c = &e.sb.control_url;
    let t0 = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    e.get("/repos/hearth-demo/api/releases?per_page=1")
        .send()
        .await
        .unwrap();
    e.http
        .get(format!("{}/user", e.sb.github_url))
        .send()
        .await
        .unwrap();
    let entries: serde_json::Value = e
        .http
        .get(format!("{c}/requests"))
        .query(&[("since", t0.as_str()), ("api", "github")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["method"], "GET");
    assert_eq!(
        entries[0]["path"],
        "/repos/hearth-demo/api/releases?per_page=1"
    );
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["conditional_hit"], false);
    assert_eq!(entries[1]["status"], 401);
    assert!(entries[0]["time"].is_string());

    let bad = e
        .http
        .get(format!("{c}/requests?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let r = e.http.delete(format!("{c}/requests")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(e.sb.journal.entries().is_empty());

    let r = e
        .http
        .post(format!("{c}/faults"))
        .body("{\"kind\":\"explode\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    e.post_fault(serde_json::json!({"kind": "build_fail", "service": "api"}))
        .await;
    e.post_fault(serde_json::json!({"kind": "rate_limit", "seconds": 30}))
        .await;
    let active: serde_json::Value = e
        .http
        .get(format!("{c}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        active[0],
        serde_json::json!({"kind": "build_fail", "service": "api"})
    );
    assert_eq!(active[1]["kind"], "rate_limit");
    let r = e.http.delete(format!("{c}/faults")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(!e.sb.faults.build_fails("api"));
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_dir_has_repos_with_tags_and_a_registry() {
    let e = env(1.0).await;
    let dir = &e.sb.dir;
    for (svc, expected) in [
        ("api", ["v0.1.0", "v0.2.0", "v0.3.0", "v0.3.1-rc.1"]),
        ("web", ["v1.3.0", "v1.4.0", "v1.4.2", "v1.5.0-rc.1"]),
        ("worker", ["v0.8.0", "v0.9.0", "v0.9.1", "v0.10.0-rc.1"]),
        ("billing", ["v2.0.0", "v2.0.1", "v2.1.0", "v2.1.1-rc.1"]),
    ] {
        let clone = dir.join("repos").join(svc);
        let origin_dir = dir.join("origins").join(format!("{svc}.git"));
        for repo in [&clone, &origin_dir] {
            let tags = git(repo, &["tag", "--list", "--sort=v:refname"]);
            assert_eq!(tags.lines().collect::<Vec<_>>(), expected, "{svc}");
            // The prod tag resolves (packed-refs stays sorted for git's lookups).
            git(
                repo,
                &[
                    "rev-parse",
                    "--verify",
                    &format!("refs/tags/{}", expected[2]),
                ],
            );
        }
        // The GitHub releases carry the same names; latest is the prod tag.
        let latest: serde_json::Value = e
            .get(&format!("/repos/hearth-demo/{svc}/releases/latest"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(latest["tag_name"], expected[2]);
        let svc_model = e.sb.services.iter().find(|s| s.name == svc).unwrap();
        assert_eq!(
            (svc_model.prod_tag.as_str(), svc_model.qa_tag.as_str()),
            (expected[2], expected[3])
        );
        let origin = git(&clone, &["remote", "get-url", "origin"]);
        assert_eq!(
            Path::new(&origin),
            dir.join("origins").join(format!("{svc}.git"))
        );
        assert_eq!(git(&clone, &["status", "--porcelain"]), "");
        let wf = std::fs::read_to_string(clone.join(".github/workflows/release.yml")).unwrap();
        assert!(wf.contains("release:") && wf.contains("types:"));
        let test = Command::new("sh")
            .arg("-c")
            .arg("./test.sh")
            .current_dir(&clone)
            .output()
            .unwrap();
        assert!(test.status.success());
        // The origin knows the tags the clone pushes.
        git(&clone, &["tag", "v9.0.0"]);
        git(&clone, &["push", "-q", "origin", "v9.0.0"]);
        assert!(!git(&origin_dir, &["rev-parse", "v9.0.0"]).is_empty());
    }
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(e.sb.services_path()).unwrap()).unwrap();
    assert_eq!(
        yaml["hearth"]["api_url"].as_str(),
        Some(e.sb.github_url.as_str())
    );
    assert_eq!(yaml["hearth"]["github_owner"].as_str(), Some("hearth-demo"));
    assert_eq!(yaml["api"]["repo"].as_str(), Some("hearth-demo/api"));
    assert_eq!(
        yaml["api"]["image"].as_str(),
        Some("ghcr.io/hearth-demo/api")
    );
    assert_eq!(yaml["docs"]["shippable"].as_bool(), Some(false));
    // Every demo service has a block (hearth's own tests load it with the
    // real registry loader: tests/registry.rs).
    let names: Vec<&str> = yaml
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| *k != "hearth")
        .collect();
    assert_eq!(
        names,
        ["api", "web", "worker", "billing", "ledger", "relay", "hecate", "docs"]
    );
    assert_eq!(yaml["api"]["directory"].as_str(), Some("repos/api"));
    let kubeconfig = std::fs::read_to_string(e.sb.kubeconfig_path()).unwrap();
    assert!(kubeconfig.contains(&e.sb.kube_url));
    // The GitHub API knows the same repositories.
    let repos: serde_json::Value = e
        .get("/user/repos")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(repos.as_array().unwrap().len(), 7);
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dir_that_already_holds_a_sandbox_is_refused() {
    let e = env(1.0).await;
    let err = sandbox::start(SandboxOptions::new(&e.sb.dir))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already holds a sandbox"), "{err}");
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_services_start_and_their_repos_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SandboxOptions::new(dir.path().join("sb"));
    opts.count = Some(300);
    opts.speed = 50.0;
    opts.deploy = Some(Arc::new(FakeDeploy::default()));
    let sb = sandbox::start(opts).await.unwrap();
    assert_eq!(sb.services.len(), 300);
    assert_eq!(sb.services[299].name, "svc-300");
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(sb.services_path()).unwrap()).unwrap();
    assert_eq!(
        yaml.as_mapping().unwrap().len(),
        302,
        "300 + the non-shippable one + the hearth block"
    );

    // A release requested at once waits for the repositories, then checks
    // the tag in the service's own origin.
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}/repos/hearth-demo/svc-300/releases",
            sb.github_url
        ))
        .bearer_auth(&sb.token)
        .json(&serde_json::json!({"tag_name": "v9.9.9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "invalid");
    tokio::time::timeout(Duration::from_secs(60), sb.git_ready())
        .await
        .expect("repos within a minute")
        .unwrap();
    for svc in ["svc-001", "svc-150", "svc-300"] {
        let clone = sb.dir.join("repos").join(svc);
        assert_eq!(git(&clone, &["status", "--porcelain"]), "");
        assert!(git(&clone, &["tag", "--list"]).contains("v0.3.0"));
        // Each service's origin is its own: a tag pushed here is nowhere else.
        git(&clone, &["tag", &format!("v1.0.0-{svc}")]);
        git(&clone, &["push", "-q", "origin", &format!("v1.0.0-{svc}")]);
    }
    let other = sb.dir.join("origins/svc-002.git");
    assert!(!git(&other, &["tag", "--list"]).contains("v1.0.0"));
    sb.shutdown().await;
}

fn kubectl(sb: &SandboxHandle, args: &[&str]) -> (bool, String) {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(sb.kubeconfig_path())
        .arg("--request-timeout=20s")
        .args(args)
        .output()
        .expect("kubectl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Wait for a run of `repo` at `branch` to complete and return its conclusion.
async fn run_conclusion(octo: &Octocrab, repo: &str, branch: &str) -> String {
    let wf = octo.workflows("hearth-demo", repo);
    eventually(90, "the CI run to complete", || async {
        let runs = wf.list_all_runs().branch(branch).send().await.ok()?;
        let run = runs.items.into_iter().next()?;
        (run.status == "completed").then(|| run.conclusion.unwrap_or_default())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cycle_release_ci_rollout_ready_in_both_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SandboxOptions::new(dir.path().join("sb"));
    opts.speed = 20.0;
    let sb = sandbox::start(opts).await.unwrap();
    let octo = Octocrab::builder()
        .base_uri(sb.github_url.as_str())
        .unwrap()
        .personal_token(sb.token.clone())
        .build()
        .unwrap();
    let clone = sb.dir.join("repos/api");
    let image = |ns: &str| {
        kubectl(
            &sb,
            &[
                "get",
                "deploy",
                "api",
                "-n",
                ns,
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.initContainers[0].image}",
            ],
        )
        .1
    };
    assert_eq!(
        image("default"),
        "ghcr.io/hearth-demo/api:v0.3.0 ghcr.io/hearth-demo/api:v0.3.0"
    );

    // qa: a prerelease deploys to `qa` only.
    git(&clone, &["tag", "v0.3.2-rc.1"]);
    git(&clone, &["push", "-q", "origin", "v0.3.2-rc.1"]);
    octo.repos("hearth-demo", "api")
        .releases()
        .create("v0.3.2-rc.1")
        .prerelease(true)
        .send()
        .await
        .unwrap();
    assert_eq!(run_conclusion(&octo, "api", "v0.3.2-rc.1").await, "success");
    assert_eq!(
        image("qa"),
        "ghcr.io/hearth-demo/api:v0.3.2-rc.1 ghcr.io/hearth-demo/api:v0.3.2-rc.1"
    );
    let (ok, out) = kubectl(
        &sb,
        &[
            "rollout",
            "status",
            "deploy/api",
            "-n",
            "qa",
            "--timeout=90s",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(
        image("default").split(' ').next(),
        Some("ghcr.io/hearth-demo/api:v0.3.0")
    );

    // prod: a release deploys to `default`.
    git(&clone, &["tag", "v0.3.2"]);
    git(&clone, &["push", "-q", "origin", "v0.3.2"]);
    octo.repos("hearth-demo", "api")
        .releases()
        .create("v0.3.2")
        .send()
        .await
        .unwrap();
    assert_eq!(run_conclusion(&octo, "api", "v0.3.2").await, "success");
    let (ok, out) = kubectl(
        &sb,
        &[
            "rollout",
            "status",
            "deploy/api",
            "-n",
            "default",
            "--timeout=90s",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        image("default").split(' ').next(),
        Some("ghcr.io/hearth-demo/api:v0.3.2")
    );
    let (_, ready) = kubectl(
        &sb,
        &[
            "get",
            "deploy",
            "api",
            "-n",
            "default",
            "-o",
            "jsonpath={.status.readyReplicas}/{.spec.replicas}",
        ],
    );
    assert_eq!(ready, "2/2");

    // The journal saw the CI's work only through the APIs the clients used.
    let github = sb
        .journal
        .entries()
        .into_iter()
        .filter(|e| e.api == "github")
        .count();
    assert!(github > 0);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_migration_fails_the_deploy_step_and_old_pods_keep_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = SandboxOptions::new(dir.path().join("sb"));
    // Fast enough that the 600 s progress deadline passes in 10 s.
    opts.speed = 60.0;
    let sb = sandbox::start(opts).await.unwrap();
    sb.faults.apply(sandbox::Fault::MigrationFail {
        service: "web".into(),
    });
    let octo = Octocrab::builder()
        .base_uri(sb.github_url.as_str())
        .unwrap()
        .personal_token(sb.token.clone())
        .build()
        .unwrap();
    let clone = sb.dir.join("repos/web");
    git(&clone, &["tag", "v0.3.2"]);
    git(&clone, &["push", "-q", "origin", "v0.3.2"]);
    octo.repos("hearth-demo", "web")
        .releases()
        .create("v0.3.2")
        .send()
        .await
        .unwrap();
    // While the deploy step waits on the rollout, the new pods crash-loop in
    // migrate and the old ones keep serving.
    eventually(60, "a crash-looping migrate container", || async {
        let (_, pods) = kubectl(&sb, &["get", "pods", "-n", "default", "-l", "app=web"]);
        pods.contains("Init:CrashLoopBackOff").then_some(())
    })
    .await;
    let ready = || {
        kubectl(
            &sb,
            &[
                "get",
                "deploy",
                "web",
                "-n",
                "default",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ],
        )
        .1
    };
    assert!(
        ready().parse::<i32>().unwrap_or(0) >= 1,
        "old pods still ready"
    );
    // The rollout hits its progress deadline: `rollout status` fails the step.
    assert_eq!(run_conclusion(&octo, "web", "v0.3.2").await, "failure");
    let run = octo
        .workflows("hearth-demo", "web")
        .list_all_runs()
        .branch("v0.3.2")
        .send()
        .await
        .unwrap()
        .items
        .remove(0);
    let job = octo
        .workflows("hearth-demo", "web")
        .list_jobs(run.id)
        .send()
        .await
        .unwrap()
        .items
        .remove(0);
    let failed: Vec<&str> = job
        .steps
        .iter()
        .filter(|s| s.conclusion == Some(Conclusion::Failure))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(failed, ["Deploy to k3s"]);
    assert!(
        ready().parse::<i32>().unwrap_or(0) >= 1,
        "old pods still ready"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_and_deploys_nothing() {
    // At speed 2 the deploy step would set the image about 2.75 s in: ample
    // margin for the cancel to land first on a loaded box.
    let e = env(2.0).await;
    e.push_tag("billing", "v0.3.2");
    e.octo
        .repos("hearth-demo", "billing")
        .releases()
        .create("v0.3.2")
        .send()
        .await
        .unwrap();
    let wf = e.octo.workflows("hearth-demo", "billing");
    let run = wf
        .list_all_runs()
        .branch("v0.3.2")
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .expect("the run exists as soon as the release does");
    let r = e
        .http
        .post(format!(
            "{}/repos/hearth-demo/billing/actions/runs/{}/cancel",
            e.sb.github_url, run.id
        ))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let run = wf.get(run.id).await.unwrap();
    assert_eq!(run.conclusion.as_deref(), Some("cancelled"));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let job = jobs_of(&e, "billing", run.id.0).await;
    assert_eq!(job.conclusion, Some(Conclusion::Cancelled));
    assert!(job.steps.iter().all(|s| s.status == Status::Completed));
    assert!(e.deploy.calls().is_empty());
    e.sb.shutdown().await;
}

/// Errors of `value` against a JSON Schema subset (type, properties,
/// required, items, enum, anyOf, oneOf, allOf, additionalProperties), as
/// `path: problem` lines.
fn schema_errors(schema: &serde_json::Value, value: &serde_json::Value, path: &str) -> Vec<String> {
    use serde_json::Value;
    let mut errs = Vec::new();
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        });
        if !ok {
            errs.push(format!("{path}: expected {types:?}, got {value}"));
            return errs;
        }
    }
    if let Some(Value::Array(choices)) = schema.get("enum") {
        if !choices.contains(value) {
            errs.push(format!("{path}: {value} not in {choices:?}"));
        }
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for s in all {
            errs.extend(schema_errors(s, value, path));
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = schema.get(key) {
            let matching = alts
                .iter()
                .filter(|s| schema_errors(s, value, path).is_empty())
                .count();
            if matching == 0 || (key == "oneOf" && matching > 1) {
                errs.push(format!("{path}: {matching} alternatives of {key} match"));
            }
        }
    }
    if let Value::Object(obj) = value {
        if let Some(Value::Array(req)) = schema.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    errs.push(format!("{path}: missing required {r}"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => errs.extend(schema_errors(s, v, &format!("{path}.{k}"))),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{path}: unexpected {k}")),
                    Some(s @ Value::Object(_)) => {
                        errs.extend(schema_errors(s, v, &format!("{path}.{k}")))
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            errs.extend(schema_errors(s, v, &format!("{path}[{i}]")));
        }
    }
    errs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_validate_against_githubs_openapi_description() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/github_openapi_subset.json")).unwrap();
    let e = env(3.0).await;
    let r = "/repos/{owner}/{repo}";
    let check = |op: String, body: serde_json::Value| {
        let schema = &fixture["responses"][&op];
        assert!(schema.is_object(), "no schema for {op}");
        let errs = schema_errors(schema, &body, "$");
        assert!(errs.is_empty(), "{op}:\n{}", errs.join("\n"));
    };
    let get = |path: String| {
        let e = &e;
        async move {
            let resp = e.get(&path).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            resp.json::<serde_json::Value>().await.unwrap()
        }
    };
    check("GET /user 200".into(), get("/user".into()).await);
    check(
        "GET /user/repos 200".into(),
        get("/user/repos".into()).await,
    );
    check(
        "GET /rate_limit 200".into(),
        get("/rate_limit".into()).await,
    );
    check(
        format!("GET {r} 200"),
        get("/repos/hearth-demo/api".into()).await,
    );
    let rels = get("/repos/hearth-demo/api/releases".into()).await;
    check(format!("GET {r}/releases 200"), rels.clone());
    let id = rels[0]["id"].as_u64().unwrap();
    check(
        format!("GET {r}/releases/{{release_id}} 200"),
        get(format!("/repos/hearth-demo/api/releases/{id}")).await,
    );
    check(
        format!("GET {r}/releases/latest 200"),
        get("/repos/hearth-demo/api/releases/latest".into()).await,
    );
    check(
        format!("GET {r}/releases/tags/{{tag}} 200"),
        get("/repos/hearth-demo/api/releases/tags/v0.3.0".into()).await,
    );
    check(
        format!("GET {r}/actions/workflows 200"),
        get("/repos/hearth-demo/api/actions/workflows".into()).await,
    );

    e.push_tag("api", "v0.3.2-rc.1");
    let post = |body: serde_json::Value| {
        let e = &e;
        async move {
            let resp = e
                .http
                .post(format!(
                    "{}/repos/hearth-demo/api/releases",
                    e.sb.github_url
                ))
                .bearer_auth(&e.sb.token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, created) = post(serde_json::json!({"tag_name": "v0.3.2-rc.1", "prerelease": true, "generate_release_notes": true})).await;
    assert_eq!(status, 201);
    check(format!("POST {r}/releases 201"), created.clone());
    let (status, dup) = post(serde_json::json!({"tag_name": "v0.3.2-rc.1"})).await;
    assert_eq!(status, 422);
    check(format!("POST {r}/releases 422"), dup);
    let (status, missing) = post(serde_json::json!({"tag_name": "v7.7.7"})).await;
    assert_eq!(status, 422);
    check(format!("POST {r}/releases 422"), missing);

    // Runs and jobs while the run is queued or in progress, then once done.
    let runs_path = "/repos/hearth-demo/api/actions/runs?per_page=3";
    let run_id = get(runs_path.into()).await["workflow_runs"][0]["id"]
        .as_u64()
        .unwrap();
    for _ in 0..2 {
        check(
            format!("GET {r}/actions/runs 200"),
            get(runs_path.into()).await,
        );
        check(
            format!("GET {r}/actions/workflows/{{workflow_id}}/runs 200"),
            get("/repos/hearth-demo/api/actions/workflows/release.yml/runs".into()).await,
        );
        check(
            format!("GET {r}/actions/runs/{{run_id}} 200"),
            get(format!("/repos/hearth-demo/api/actions/runs/{run_id}")).await,
        );
        check(
            format!("GET {r}/actions/runs/{{run_id}}/jobs 200"),
            get(format!("/repos/hearth-demo/api/actions/runs/{run_id}/jobs")).await,
        );
        eventually(60, "the run to complete", || async {
            let run = get(format!("/repos/hearth-demo/api/actions/runs/{run_id}")).await;
            (run["status"] == "completed").then_some(())
        })
        .await;
    }
    let patched = e
        .http
        .patch(format!(
            "{}/repos/hearth-demo/api/releases/{}",
            e.sb.github_url, created["id"]
        ))
        .bearer_auth(&e.sb.token)
        .json(&serde_json::json!({"prerelease": false, "make_latest": "true"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    check(
        format!("PATCH {r}/releases/{{release_id}} 200"),
        patched.json().await.unwrap(),
    );
    // delivery: dispatch: a dispatch that returns its run, the wait on a
    // reviewer-gated environment, and the approval.
    let post = |path: String, body: serde_json::Value| {
        e.http
            .post(format!("{}{path}", e.sb.github_url))
            .bearer_auth(&e.sb.token)
            .json(&body)
            .send()
    };
    let actions = "/repos/hearth-demo/ledger/actions";
    let resp = post(
        format!("{actions}/workflows/deploy-prod.yml/dispatches"),
        serde_json::json!({"ref": "main", "inputs": {"image_tag": "v3.2.1"}, "return_run_details": true}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let details: serde_json::Value = resp.json().await.unwrap();
    check(
        format!("POST {r}/actions/workflows/{{workflow_id}}/dispatches 200"),
        details.clone(),
    );
    let run_id = details["workflow_run_id"].as_u64().unwrap();
    eventually(60, "the prod run to wait for its reviewer", || async {
        let run = get(format!("{actions}/runs/{run_id}")).await;
        (run["status"] == "waiting").then_some(())
    })
    .await;
    let pending = get(format!("{actions}/runs/{run_id}/pending_deployments")).await;
    check(
        format!("GET {r}/actions/runs/{{run_id}}/pending_deployments 200"),
        pending.clone(),
    );
    let env_id = pending[0]["environment"]["id"].clone();
    let approved = post(
        format!("{actions}/runs/{run_id}/pending_deployments"),
        serde_json::json!({"environment_ids": [env_id], "state": "approved", "comment": "ok"}),
    )
    .await
    .unwrap();
    assert_eq!(approved.status(), 200);
    check(
        format!("POST {r}/actions/runs/{{run_id}}/pending_deployments 200"),
        approved.json().await.unwrap(),
    );
    let reviews = get(format!("{actions}/runs/{run_id}/approvals")).await;
    assert_eq!(reviews[0]["state"], "approved", "{reviews}");
    check(
        format!("GET {r}/actions/runs/{{run_id}}/approvals 200"),
        reviews,
    );
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_secrets_public_key_put_list_get_delete() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let e = env(1.0).await;
    let base = "/repos/hearth-demo/api/actions/secrets";
    let key: serde_json::Value = e
        .get(&format!("{base}/public-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key_id = key["key_id"].as_str().unwrap().to_string();
    let pk = crypto_box::PublicKey::from_slice(&b64.decode(key["key"].as_str().unwrap()).unwrap())
        .unwrap();
    let sealed = b64.encode(pk.seal(&mut crypto_box::aead::OsRng, b"v1").unwrap());
    let put = |name: &str, body: serde_json::Value| {
        e.http
            .put(format!("{}{base}/{name}", e.sb.github_url))
            .bearer_auth(&e.sb.token)
            .json(&body)
            .send()
    };
    let body = serde_json::json!({"encrypted_value": sealed, "key_id": key_id});
    assert_eq!(
        put("K3S_KUBECONFIG", body.clone()).await.unwrap().status(),
        201
    );
    assert_eq!(
        put("K3S_KUBECONFIG", body.clone()).await.unwrap().status(),
        204
    );
    assert_eq!(
        e.sb.github
            .secrets
            .open("hearth-demo/api", "K3S_KUBECONFIG")
            .as_deref(),
        Some(&b"v1"[..])
    );
    // GitHub's refusals: a reserved prefix, a wrong key id, a box that does
    // not open with the repository's key.
    let r = put("GITHUB_TOKEN", body.clone()).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("GITHUB_"));
    let wrong_id = serde_json::json!({"encrypted_value": sealed, "key_id": "1"});
    assert_eq!(put("X", wrong_id).await.unwrap().status(), 422);
    let other = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng).public_key();
    let foreign = b64.encode(other.seal(&mut crypto_box::aead::OsRng, b"v").unwrap());
    let foreign = serde_json::json!({"encrypted_value": foreign, "key_id": key_id});
    assert_eq!(put("X", foreign).await.unwrap().status(), 422);
    let list: serde_json::Value = e.get(base).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["secrets"][0]["name"], "K3S_KUBECONFIG");
    assert!(list["secrets"][0].get("value").is_none());
    let one = e
        .get(&format!("{base}/K3S_KUBECONFIG"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    // A read-only token may not even read them.
    let r = e
        .http
        .get(format!("{}{base}", e.sb.github_url))
        .bearer_auth(&e.sb.readonly_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let del = e
        .http
        .delete(format!("{}{base}/K3S_KUBECONFIG", e.sb.github_url))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let gone = e
        .get(&format!("{base}/K3S_KUBECONFIG"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    e.sb.shutdown().await;
}

/// `delivery: dispatch` in GitHub's shapes: a build workflow and one deploy
/// workflow per environment, run by hand; `return_run_details` answers 200
/// with the run (400 under the `refuse_run_details` fault, then the plain
/// call's 204); the prod workflow's job waits on the `production`
/// environment until a reviewer approves (`pending_deployments`), then
/// deploys its `image_tag` input to its namespace; a rejection deploys
/// nothing; inputs the workflow does not declare, or a missing required
/// one, are GitHub's 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_workflows_wait_for_a_reviewer_and_deploy_their_input() {
    let e = env(20.0).await;
    let base = "/repos/hearth-demo/ledger/actions";
    let post = |path: String, body: serde_json::Value| {
        e.http
            .post(format!("{}{path}", e.sb.github_url))
            .bearer_auth(&e.sb.token)
            .json(&body)
            .send()
    };
    let run_of = |id: u64| e.get(&format!("{base}/runs/{id}")).send();
    let wait_status = |id: u64, want: &'static str| async move {
        for _ in 0..200 {
            let run: serde_json::Value = run_of(id).await.unwrap().json().await.unwrap();
            if run["status"] == want {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} never reached {want}");
    };
    // The workflows GitHub lists for the repository.
    let wfs: serde_json::Value = e
        .get(&format!("{base}/workflows"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = wfs["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        [
            ".github/workflows/build.yml",
            ".github/workflows/deploy-qa.yml",
            ".github/workflows/deploy-prod.yml",
            ".github/workflows/deploy-edge.yml"
        ]
    );

    // Build: 200 with the run it started.
    let r = post(
        format!("{base}/workflows/build.yml/dispatches"),
        serde_json::json!({"ref": "main", "return_run_details": true}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let details: serde_json::Value = r.json().await.unwrap();
    let build = details["workflow_run_id"]
        .as_u64()
        .expect("workflow_run_id");
    assert!(details["run_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/actions/runs/{build}")));
    let run = wait_status(build, "completed").await;
    assert_eq!(run["conclusion"], "success");
    assert_eq!(run["path"], ".github/workflows/build.yml");
    let sha = run["head_sha"].as_str().unwrap().to_string();
    let tag = format!("sha-{}", &sha[..7]);
    assert_eq!(run["display_title"], format!("build {tag}"));
    assert!(e.deploy.calls().is_empty(), "a build deploys nothing");
    // Its runs are listed under its own workflow only.
    let listed: serde_json::Value = e
        .get(&format!("{base}/workflows/deploy-prod.yml/runs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["workflow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["path"] == ".github/workflows/deploy-prod.yml"));

    // Inputs GitHub would refuse.
    let r = post(
        format!("{base}/workflows/deploy-qa.yml/dispatches"),
        serde_json::json!({"ref": "main", "inputs": {}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let r = post(
        format!("{base}/workflows/deploy-qa.yml/dispatches"),
        serde_json::json!({"ref": "main", "inputs": {"image_tag": tag, "color": "red"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);

    // Prod waits for its reviewer.
    let r = post(format!("{base}/workflows/deploy-prod.yml/dispatches"), serde_json::json!({"ref": "main", "inputs": {"image_tag": tag}, "return_run_details": true})).await.unwrap();
    let prod = r.json::<serde_json::Value>().await.unwrap()["workflow_run_id"]
        .as_u64()
        .unwrap();
    wait_status(prod, "waiting").await;
    let reviews: serde_json::Value = e
        .get(&format!("{base}/runs/{prod}/approvals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reviews, serde_json::json!([]), "no one has answered yet");
    let pending: serde_json::Value = e
        .get(&format!("{base}/runs/{prod}/pending_deployments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = &pending[0];
    assert_eq!(p["environment"]["name"], "production");
    assert_eq!(p["current_user_can_approve"], true);
    assert_eq!(p["reviewers"][0]["type"], "User");
    assert_eq!(p["reviewers"][0]["reviewer"]["login"], "hearth-reviewer");
    let env_id = p["environment"]["id"].as_u64().unwrap();
    assert!(
        e.deploy.calls().is_empty(),
        "nothing deploys before the approval"
    );
    let r = post(
        format!("{base}/runs/{prod}/pending_deployments"),
        serde_json::json!({"environment_ids": [env_id + 1], "state": "approved", "comment": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422, "an environment the run does not wait on");
    let r = post(
        format!("{base}/runs/{prod}/pending_deployments"),
        serde_json::json!({"environment_ids": [env_id], "state": "approved", "comment": "ship it"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let deployments: serde_json::Value = r.json().await.unwrap();
    assert_eq!(deployments[0]["environment"], "production");
    let run = wait_status(prod, "completed").await;
    assert_eq!(run["conclusion"], "success");
    assert_eq!(
        e.deploy.calls(),
        [(
            "default".to_string(),
            "ledger".to_string(),
            format!("ghcr.io/hearth-demo/ledger:{tag}")
        )]
    );
    let pending: serde_json::Value = e
        .get(&format!("{base}/runs/{prod}/pending_deployments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending, serde_json::json!([]));

    // A rejection: the run fails, nothing deploys.
    let r = post(format!("{base}/workflows/deploy-prod.yml/dispatches"), serde_json::json!({"ref": "main", "inputs": {"image_tag": "v3.2.0"}, "return_run_details": true})).await.unwrap();
    let rejected = r.json::<serde_json::Value>().await.unwrap()["workflow_run_id"]
        .as_u64()
        .unwrap();
    wait_status(rejected, "waiting").await;
    let r = post(format!("{base}/runs/{rejected}/pending_deployments"), serde_json::json!({"environment_ids": [env_id], "state": "rejected", "comment": "not today"})).await.unwrap();
    assert_eq!(r.status(), 200);
    let run = wait_status(rejected, "completed").await;
    assert_eq!(run["conclusion"], "failure");
    assert_eq!(e.deploy.calls().len(), 1, "a rejected run deployed");
    // Who rejected it and why, as GitHub lists a run's reviews.
    let reviews: serde_json::Value = e
        .get(&format!("{base}/runs/{rejected}/approvals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reviews.as_array().map(Vec::len), Some(1), "{reviews}");
    assert_eq!(reviews[0]["state"], "rejected", "{reviews}");
    assert_eq!(reviews[0]["comment"], "not today", "{reviews}");
    assert_eq!(reviews[0]["user"]["login"], "hearth-dev", "{reviews}");
    assert_eq!(
        reviews[0]["environments"][0]["name"], "production",
        "{reviews}"
    );

    // An older server: 400 to the field, 204 to the plain call.
    e.post_fault(serde_json::json!({"kind": "refuse_run_details"}))
        .await;
    let r = post(format!("{base}/workflows/deploy-qa.yml/dispatches"), serde_json::json!({"ref": "main", "inputs": {"image_tag": tag}, "return_run_details": true})).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = post(
        format!("{base}/workflows/deploy-qa.yml/dispatches"),
        serde_json::json!({"ref": "main", "inputs": {"image_tag": tag}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    e.sb.shutdown().await;
}

/// The push-event runs of relay's `workflow`, newest first.
async fn push_runs(e: &Env, workflow: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = e
        .get(&format!(
            "/repos/hearth-demo/relay/actions/workflows/{workflow}/runs?event=push"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["workflow_runs"].as_array().cloned().unwrap_or_default()
}

/// A push to a demo origin starts the runs whose `on: push` filters match,
/// at the pushed commit: a push to main runs dev.yml (building and
/// deploying `sha-<7 hex>` to dev), a pushed `v*` tag runs prod.yml, which
/// waits for the reviewer; a push to another branch starts nothing; a
/// re-run builds the run's own commit again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_start_the_runs_their_filters_match() {
    let e = env(20.0).await;
    let base = "/repos/hearth-demo/relay/actions";
    let clone = e.sb.dir.join("repos/relay");
    let runs = |workflow: &'static str| push_runs(&e, workflow);
    let dev0 = runs("dev.yml").await.len();
    let prod0 = runs("prod.yml").await.len();

    git(
        &clone,
        &["commit", "-q", "--allow-empty", "-m", "Faster relay"],
    );
    let head = git(&clone, &["rev-parse", "HEAD"]);
    git(&clone, &["push", "-q", "origin", "main"]);
    let run = eventually(20, "the dev run of the push", || async {
        runs("dev.yml")
            .await
            .into_iter()
            .find(|r| r["head_sha"] == head.as_str())
    })
    .await;
    assert_eq!(run["event"], "push");
    assert_eq!(run["head_branch"], "main");
    assert_eq!(run["path"], ".github/workflows/dev.yml");
    let id = run["id"].as_u64().unwrap();
    let tag = format!("sha-{}", &head[..7]);
    eventually(20, "the dev run to deploy the commit", || async {
        let calls = e.deploy.calls();
        calls
            .iter()
            .any(|(ns, dep, image)| {
                ns == "dev" && dep == "relay" && image.ends_with(&format!(":{tag}"))
            })
            .then_some(())
    })
    .await;
    assert_eq!(
        runs("prod.yml").await.len(),
        prod0,
        "a branch push ran prod.yml"
    );

    // Another branch: no filter matches, no run.
    git(&clone, &["push", "-q", "origin", "HEAD:refs/heads/feature"]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        runs("dev.yml").await.len(),
        dev0 + 1,
        "a feature push ran dev.yml"
    );

    // A version tag: prod.yml, waiting for its reviewer.
    git(&clone, &["tag", "-a", "v1.3.0", "-m", "v1.3.0"]);
    git(&clone, &["push", "-q", "origin", "refs/tags/v1.3.0"]);
    let prod = eventually(20, "the prod run of the tag", || async {
        runs("prod.yml")
            .await
            .into_iter()
            .find(|r| r["head_branch"] == "v1.3.0" && r["status"] == "waiting")
    })
    .await;
    assert_eq!(
        prod["head_sha"],
        head.as_str(),
        "an annotated tag runs at its commit"
    );

    // A re-run of the finished dev run builds the same commit again.
    eventually(20, "the dev run to finish", || async {
        let r: serde_json::Value = e
            .get(&format!("{base}/runs/{id}"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["status"] == "completed").then_some(())
    })
    .await;
    let before = e.deploy.calls().len();
    let r = e
        .http
        .post(format!("{}{base}/runs/{id}/rerun", e.sb.github_url))
        .bearer_auth(&e.sb.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    eventually(20, "the re-run to deploy the same tag", || async {
        let calls = e.deploy.calls();
        calls[before..]
            .iter()
            .any(|(ns, _, image)| ns == "dev" && image.ends_with(&format!(":{tag}")))
            .then_some(())
    })
    .await;
    let r: serde_json::Value = e
        .get(&format!("{base}/runs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["run_attempt"], 2);
    e.sb.shutdown().await;
}
