//! The demo autopilot: a simulated teammate who ships through hearth's own
//! operations, so that `hearth demo` tells the whole story (commit → pre-ship
//! tests → tag → prerelease → CI steps → rollout in qa → promote to prod)
//! without anyone typing a command. Its operations are real ones, started
//! `by: autopilot`: they show in the control room's progress panel and in
//! the audit journal like anyone's. Runs as a tokio task until aborted.
//!
//! Each round picks the next service, commits a small change in its clone,
//! ships a release candidate to qa (the next version: versions only move
//! forward) and, once it is deployed, promotes it to prod. Every third round
//! the candidate carries a failing migration: the qa rollout gets stuck with
//! the old pods serving, the deploy step fails at its timeout, the run
//! fails — and then the teammate rolls qa back to the revision it ran
//! before, as `hearth rollback SERVICE --env qa` would.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use hearth_sandbox::{Fault, Faults, SandboxHandle};
use tokio::sync::{mpsc, watch};

use crate::ops::runner;
use crate::ops::{
    ApproveRequest, Bump, Context, Progress, PromoteRequest, Request, RollbackKind,
    RollbackRequest, ShipRequest, Target,
};

/// Who the journal says started the autopilot's operations.
pub const BY: &str = "autopilot";

/// The one line the demo's first frame says about the autopilot.
pub const ANNOUNCE: &str = "autopilot on: a simulated teammate ships a release candidate to qa, promotes it to prod (approving the gated prod runs of ledger and relay), and every third round breaks a migration and rolls qa back (hearth demo --no-autopilot keeps the sandbox still)";

/// What the autopilot needs.
pub struct Autopilot {
    pub ops: Arc<Context>,
    /// The sandbox folder (`repos/<name>` are the working clones).
    pub dir: PathBuf,
    pub services: Vec<String>,
    pub speed: f64,
    pub faults: Arc<Faults>,
}

impl Autopilot {
    /// The autopilot of a running sandbox, acting through `ops`.
    pub fn for_sandbox(sb: &SandboxHandle, ops: Arc<Context>, speed: f64) -> Autopilot {
        Autopilot {
            ops,
            dir: sb.dir.clone(),
            services: sb.services.iter().map(|s| s.name.clone()).collect(),
            speed,
            faults: sb.faults.clone(),
        }
    }

    /// Ship round after round until the task is aborted, reporting every
    /// operation's progress into `tx`. A round that fails is logged and the
    /// next one goes on.
    pub async fn run(self, tx: mpsc::Sender<Progress>) {
        let (_stop, cancel) = watch::channel(false);
        self.pause(6.0).await;
        for round in 0usize.. {
            let Some(service) = self.services.get(round % self.services.len().max(1)) else {
                return;
            };
            let failing = round % 3 == 2;
            if let Err(err) = self.round(service, failing, &tx, cancel.clone()).await {
                tracing::warn!(%service, "demo autopilot round: {err:#}");
            }
            self.pause(8.0).await;
        }
    }

    async fn round(
        &self,
        service: &str,
        failing: bool,
        tx: &mpsc::Sender<Progress>,
        cancel: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let clone = self.dir.join("repos").join(service);
        // The environment a plain ship deploys (qa; dev for a push service).
        let (lower, releases, reverted) = self
            .ops
            .registry
            .service(service)
            .map(|s| {
                let lower = s
                    .environments
                    .iter()
                    .find(|e| e.release != crate::registry::ReleaseKind::Latest)
                    .map_or_else(|| "qa".to_string(), |e| e.name.clone());
                (
                    lower,
                    s.delivery.makes_releases(),
                    s.delivery.reverts_fast_rollback(),
                )
            })
            .unwrap_or_else(|| ("qa".into(), true, false));
        let note = if failing {
            "add a migration (it fails)"
        } else {
            "small improvement"
        };
        commit(&clone, note).await?;
        if failing {
            self.faults.apply(Fault::MigrationFail {
                service: service.to_string(),
            });
        }
        let shipped = self
            .execute(
                Request::Ship(ShipRequest {
                    service: service.to_string(),
                    target: Target::Qa,
                    bump: Bump::Patch,
                    skip_tests: false,
                    no_version: false,
                    watch: true,
                }),
                tx,
                cancel.clone(),
            )
            .await;
        if failing {
            // The failure played out (the run failed, qa is stuck with the
            // old pods serving): now the teammate rolls qa back.
            self.faults.clear_service(service);
            self.pause(4.0).await;
            self.execute(
                Request::Rollback(RollbackRequest {
                    service: service.to_string(),
                    env: lower,
                    // Where Flux would put the tag back, the forward commit.
                    kind: if reverted {
                        RollbackKind::Clean
                    } else {
                        RollbackKind::Fast
                    },
                    to_revision: None,
                    watch: true,
                }),
                tx,
                cancel,
            )
            .await;
            return Ok(());
        }
        let Some(tag) = shipped.filter(|o| o.ok).and_then(|o| o.tag) else {
            return Ok(());
        };
        self.pause(10.0).await;
        let promote = self.execute(
            Request::Promote(PromoteRequest {
                service: service.to_string(),
                // Without releases, promote takes what the lower
                // environment runs (a push service tags it with a version).
                tag: releases.then_some(tag),
                watch: true,
            }),
            tx,
            cancel.clone(),
        );
        // A reviewer-gated prod run (the dispatch service's): the simulated
        // teammate approves it a little later, as a reviewer would.
        let approve = async {
            for _ in 0..20 {
                self.pause(4.0).await;
                let req = Request::Approve(ApproveRequest {
                    service: service.to_string(),
                    env: Some("prod".into()),
                    reject: false,
                    comment: Some("looks good (autopilot)".into()),
                });
                if let Ok(plan) = runner::plan(&self.ops, &req).await {
                    runner::execute(&self.ops, &plan, tx.clone(), cancel.clone(), Some(BY)).await;
                    return;
                }
            }
        };
        if self.gated(service) {
            tokio::join!(promote, approve);
        } else {
            promote.await;
        }
        Ok(())
    }

    /// Whether the service's prod deploys wait for a reviewer (the
    /// sandbox gates the prod runs of `delivery: dispatch` and `push`).
    fn gated(&self, service: &str) -> bool {
        self.ops.registry.service(service).is_some_and(|s| {
            matches!(
                s.delivery,
                crate::registry::Delivery::Dispatch | crate::registry::Delivery::Push
            )
        })
    }

    /// Plan and run one operation as the autopilot.
    async fn execute(
        &self,
        req: Request,
        tx: &mpsc::Sender<Progress>,
        cancel: watch::Receiver<bool>,
    ) -> Option<crate::ops::Outcome> {
        match runner::plan(&self.ops, &req).await {
            Ok(plan) => Some(runner::execute(&self.ops, &plan, tx.clone(), cancel, Some(BY)).await),
            Err(f) => {
                tracing::warn!(service = req.service(), "autopilot: {}", f.problem);
                None
            }
        }
    }

    /// Sleep `secs` of demo time (scaled by the speed factor).
    async fn pause(&self, secs: f64) {
        tokio::time::sleep(Duration::from_secs_f64(secs / self.speed.max(0.01))).await;
    }
}

/// Commit a line in CHANGELOG.md (the teammate's work that gets shipped).
async fn commit(clone: &Path, note: &str) -> anyhow::Result<()> {
    let log = clone.join("CHANGELOG.md");
    let mut text = std::fs::read_to_string(&log).unwrap_or_default();
    text.push_str(&format!("- {note}\n"));
    std::fs::write(&log, text).with_context(|| format!("writing {}", log.display()))?;
    git(clone, &["add", "CHANGELOG.md"]).await?;
    git(clone, &["commit", "-q", "-m", note]).await?;
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
