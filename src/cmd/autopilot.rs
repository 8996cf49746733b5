//! The demo autopilot: a simulated teammate who ships through the sandbox's
//! real interfaces, so that `hearth demo` shows the whole loop (release → CI
//! steps → rollout → new tag) without anyone typing a command. Runs as a tokio
//! task on the sandbox's runtime until it is aborted.
//!
//! Each round picks the next service and, like `hearth ship --qa` then
//! `hearth ship`: commits and tags a release candidate in the service's clone,
//! pushes it to the origin with real `git`, publishes a prerelease through the
//! sandbox GitHub API over HTTP (CI deploys it to `qa`), waits for that run,
//! then tags and publishes the stable release (CI deploys it to `default`).
//! Every third round the release candidate carries a failing migration: the qa
//! rollout gets stuck with the old pods serving, and the teammate rolls qa
//! back after a while, as `hearth rollback` would.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use hearth_sandbox::{DemoService, DeployTarget, Fault, Faults, SandboxHandle};

/// What the autopilot needs of a running sandbox.
pub struct Autopilot {
    /// Base URL of the sandbox GitHub API.
    pub github_url: String,
    /// The sandbox token. Only ever sent as an Authorization header.
    pub token: String,
    /// The sandbox folder (`repos/<name>` are the working clones).
    pub dir: PathBuf,
    pub services: Vec<DemoService>,
    pub speed: f64,
    pub faults: Arc<Faults>,
    /// Where a rollback sets the previous image (the sandbox cluster).
    pub cluster: Arc<dyn DeployTarget>,
}

impl Autopilot {
    /// The autopilot of a running sandbox.
    pub fn for_sandbox(sb: &SandboxHandle, speed: f64) -> Autopilot {
        Autopilot {
            github_url: sb.github_url.clone(),
            token: sb.token.clone(),
            dir: sb.dir.clone(),
            services: sb.services.clone(),
            speed,
            faults: sb.faults.clone(),
            cluster: sb.cluster.clone(),
        }
    }

    /// Ship round after round until the task is aborted. Errors of one round
    /// are logged and the next round goes on.
    pub async fn run(self) {
        let http = reqwest::Client::new();
        self.pause(6.0).await;
        for round in 0usize.. {
            let Some(service) = self.services.get(round % self.services.len().max(1)) else {
                return;
            };
            let failing_migration = round % 3 == 2;
            if let Err(err) = self.ship_round(&http, service, failing_migration).await {
                tracing::warn!(service = %service.name, "demo autopilot round failed: {err:#}");
            }
            self.pause(8.0).await;
        }
    }

    async fn ship_round(
        &self,
        http: &reqwest::Client,
        service: &DemoService,
        failing_migration: bool,
    ) -> anyhow::Result<()> {
        let clone = self.dir.join("repos").join(&service.name);
        let stable = next_patch(&clone).await?;
        let rc = next_candidate(&clone, &stable).await?;
        if failing_migration {
            self.faults.apply(Fault::MigrationFail {
                service: service.name.clone(),
            });
        }
        let note = if failing_migration {
            "add a migration (it fails)"
        } else {
            "small improvement"
        };
        commit_and_tag(&clone, &rc, note).await?;
        let run_before = self.latest_run_id(http, service).await?;
        self.create_release(http, service, &rc, true).await?;
        if failing_migration {
            // The deploy step waits for a rollout that cannot finish: leave
            // the stuck rollout (old pods serving) on screen for a while, then
            // roll qa back to the tag it ran before, as `hearth rollback` would.
            self.pause(35.0).await;
            self.faults.clear_service(&service.name);
            let previous = previous_qa_tag(&clone, &rc).await?;
            self.cluster
                .set_image(
                    "qa",
                    &service.name,
                    &format!("{}:{previous}", service.image),
                )
                .map_err(anyhow::Error::msg)?;
            return Ok(());
        }
        self.wait_for_run(http, service, run_before).await?;
        self.pause(10.0).await;
        commit_and_tag(&clone, &stable, "").await?;
        let run_before = self.latest_run_id(http, service).await?;
        self.create_release(http, service, &stable, false).await?;
        self.wait_for_run(http, service, run_before).await?;
        Ok(())
    }

    /// Sleep `secs` of demo time (scaled by the speed factor).
    async fn pause(&self, secs: f64) {
        tokio::time::sleep(Duration::from_secs_f64(secs / self.speed)).await;
    }

    fn request(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        http.request(method, format!("{}{path}", self.github_url))
            .bearer_auth(&self.token)
            .header("accept", "application/vnd.github+json")
            .header("user-agent", "hearth-demo-autopilot")
            .timeout(Duration::from_secs(10))
    }

    async fn create_release(
        &self,
        http: &reqwest::Client,
        service: &DemoService,
        tag: &str,
        prerelease: bool,
    ) -> anyhow::Result<()> {
        let body = json!({
            "tag_name": tag,
            "name": tag,
            "prerelease": prerelease,
            "make_latest": if prerelease { "false" } else { "true" },
            "generate_release_notes": true,
        });
        let resp = self
            .request(
                http,
                reqwest::Method::POST,
                &format!("/repos/{}/releases", service.repo),
            )
            .json(&body)
            .send()
            .await
            .context("publishing the release")?;
        if !resp.status().is_success() {
            bail!("publishing {tag}: GitHub answered {}", resp.status());
        }
        Ok(())
    }

    /// The newest run of the service's repository (`Null` when none).
    async fn latest_run(
        &self,
        http: &reqwest::Client,
        service: &DemoService,
    ) -> anyhow::Result<Value> {
        let mut runs: Value = self
            .request(
                http,
                reqwest::Method::GET,
                &format!("/repos/{}/actions/runs?per_page=1", service.repo),
            )
            .send()
            .await
            .context("listing workflow runs")?
            .json()
            .await
            .context("reading workflow runs")?;
        Ok(runs["workflow_runs"][0].take())
    }

    async fn latest_run_id(
        &self,
        http: &reqwest::Client,
        service: &DemoService,
    ) -> anyhow::Result<u64> {
        Ok(self.latest_run(http, service).await?["id"]
            .as_u64()
            .unwrap_or(0))
    }

    /// Wait until a run newer than `before` has completed (at most two minutes
    /// of demo time; a workflow that does not fire is not an error).
    async fn wait_for_run(
        &self,
        http: &reqwest::Client,
        service: &DemoService,
        before: u64,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs_f64(120.0 / self.speed);
        while Instant::now() < deadline {
            self.pause(1.0).await;
            let run = self.latest_run(http, service).await?;
            if run["id"].as_u64().unwrap_or(0) > before && run["status"] == "completed" {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The next patch version after the newest stable `vX.Y.Z` tag of `clone`.
async fn next_patch(clone: &Path) -> anyhow::Result<String> {
    let tags = git(clone, &["tag", "--list", "v*"]).await?;
    let newest = tags
        .lines()
        .filter_map(|t| semver::Version::parse(t.trim_start_matches('v')).ok())
        .filter(|v| v.pre.is_empty())
        .max()
        .context("no stable vX.Y.Z tag to bump")?;
    Ok(format!(
        "v{}.{}.{}",
        newest.major,
        newest.minor,
        newest.patch + 1
    ))
}

/// The next `-rc.N` of `stable` (a candidate that was rolled back keeps its tag).
async fn next_candidate(clone: &Path, stable: &str) -> anyhow::Result<String> {
    let tags = git(clone, &["tag", "--list", &format!("{stable}-rc.*")]).await?;
    let n = tags
        .lines()
        .filter_map(|t| t.rsplit('.').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    Ok(format!("{stable}-rc.{}", n + 1))
}

/// The newest release candidate before `rc` (what qa ran before it).
async fn previous_qa_tag(clone: &Path, rc: &str) -> anyhow::Result<String> {
    let current = semver::Version::parse(rc.trim_start_matches('v'))?;
    let tags = git(clone, &["tag", "--list", "v*"]).await?;
    tags.lines()
        .filter_map(|t| semver::Version::parse(t.trim_start_matches('v')).ok())
        .filter(|v| *v < current)
        .max()
        .map(|v| format!("v{v}"))
        .context("no earlier tag to roll qa back to")
}

/// Commit (an empty commit when `note` is empty) and tag, then push both.
async fn commit_and_tag(clone: &Path, tag: &str, note: &str) -> anyhow::Result<()> {
    if !note.is_empty() {
        let log = clone.join("CHANGELOG.md");
        let mut text = std::fs::read_to_string(&log).unwrap_or_default();
        text.push_str(&format!("- {tag}: {note}\n"));
        std::fs::write(&log, text).with_context(|| format!("writing {}", log.display()))?;
        git(clone, &["add", "CHANGELOG.md"]).await?;
        git(clone, &["commit", "-q", "-m", &format!("{note} ({tag})")]).await?;
    }
    git(clone, &["tag", tag]).await?;
    git(clone, &["push", "-q", "origin", "HEAD", tag]).await?;
    Ok(())
}

async fn git(cwd: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(cwd)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn next_patch_and_previous_candidate_follow_the_tags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        git(p, &["init", "-q", "-b", "main"]).await.unwrap();
        git(
            p,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "x",
            ],
        )
        .await
        .unwrap();
        for t in ["v0.1.0", "v0.3.0", "v0.3.1-rc.1", "v0.2.9"] {
            git(p, &["tag", t]).await.unwrap();
        }
        assert_eq!(next_patch(p).await.unwrap(), "v0.3.1");
        assert_eq!(next_candidate(p, "v0.3.1").await.unwrap(), "v0.3.1-rc.2");
        assert_eq!(next_candidate(p, "v0.4.0").await.unwrap(), "v0.4.0-rc.1");
        assert_eq!(
            previous_qa_tag(p, "v0.3.1-rc.2").await.unwrap(),
            "v0.3.1-rc.1"
        );
        assert_eq!(previous_qa_tag(p, "v0.3.1-rc.1").await.unwrap(), "v0.3.0");
    }
}
