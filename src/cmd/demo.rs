//! `hearth demo`: the sandbox and the control room in one command. Starts
//! the embedded sandbox (Kubernetes API, GitHub API, simulated CI, git
//! repositories) in a temporary folder on a runtime of its own, points the
//! control room at it through its settings (registry, kubeconfig, GitHub URL
//! and token; no environment variable is changed), runs the control room on
//! the main thread, then stops the sandbox and removes the folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hearth_sandbox::{self as sandbox, SandboxHandle, SandboxOptions};

use super::access::WriteAccess;
use super::autopilot::Autopilot;

use crate::app::run::{run_with, Session};
use crate::app::{sources, Mode};
use crate::cli::{DemoArgs, GlobalOpts};
use crate::config::Config;
use crate::{cluster, github};

/// The temporary folder, removed when dropped (also on error paths).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The settings that point every client at a running sandbox.
pub fn sandbox_config(sb: &SandboxHandle) -> Config {
    Config {
        kube: cluster::Settings {
            kubeconfig: Some(sb.kubeconfig_path()),
            context: None,
        },
        github: github::Settings {
            api_url: sb.github_url.clone(),
            token: Some(github::Token::new(sb.token.clone(), "the sandbox")),
            intervals: github::Intervals {
                // The sandbox counts nothing against a budget: poll quickly
                // so that a release shows at once.
                idle: Duration::from_secs(2),
                max_rate: 20.0,
                ..github::Intervals::default()
            },
            owner: Some(sandbox::repos::OWNER.to_string()),
        },
    }
}

/// The `hearth demo` subcommand.
pub fn run(global: &GlobalOpts, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        anyhow::bail!("--speed must be a positive number, not {}", args.speed);
    }
    let theme = super::theme(global)?;
    let _log = super::logging::init(&global.log_level)?;
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let dir =
        TempDir(std::env::temp_dir().join(format!("hearth-demo-{stamp}-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)
        .with_context(|| format!("cannot create {}", dir.0.display()))?;

    // The sandbox runs on its own runtime so that it outlives the control
    // room's and keeps serving while the terminal UI blocks the main thread.
    let sandbox_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sandbox")
        .enable_all()
        .build()
        .context("cannot start the sandbox runtime")?;
    let mut opts = SandboxOptions::new(dir.0.clone());
    opts.speed = args.speed;
    opts.count = args.count;
    opts.clusters = args.clusters.into();
    let handle = sandbox_rt
        .block_on(sandbox::start(opts))
        .context("cannot start the sandbox")?;

    let registry = Arc::new(crate::registry::load(&handle.services_path())?);
    let config = sandbox_config(&handle);
    // The demo keeps its own journal, in its folder: a demo is not history.
    let journal = handle.dir.join("state/audit.jsonl");
    let ops = Arc::new(super::operation::context(
        registry.clone(),
        config.clone(),
        journal.clone(),
    ));
    // The autopilot acts through the control room's own operations context:
    // its operations share the locks and show in the progress panel.
    let autopilot =
        (!args.no_autopilot).then(|| Autopilot::for_sandbox(&handle, ops.clone(), args.speed));
    let session = Session {
        registry,
        config,
        mode: Mode::DEMO,
        write: Some(WriteAccess::grant()),
        theme,
        ops: Some(ops),
        journal: Some(crate::ops::audit::Journal::new(journal)),
        logs: true,
        announce: autopilot
            .as_ref()
            .map(|_| super::autopilot::ANNOUNCE.to_string()),
        watch: None,
    };
    let result = run_with(session, move |ctx| {
        let mut sources = sources::spawn(&ctx.registry, &ctx.config, ctx.tx.clone(), true);
        if let Some(pilot) = autopilot {
            let (ptx, forward) = sources::forward::<crate::ops::Progress>(ctx.tx);
            sources.adopt(forward);
            sources.adopt(tokio::spawn(pilot.run(ptx)));
        }
        sources
    });

    sandbox_rt.block_on(handle.shutdown());
    sandbox_rt.shutdown_timeout(Duration::from_millis(500));
    drop(dir);
    result?;
    Ok(ExitCode::SUCCESS)
}
