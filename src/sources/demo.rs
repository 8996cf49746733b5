//! `hearth demo`: the sandbox and the control room in one command. Starts
//! the embedded sandbox (Kubernetes API, GitHub API, simulated CI, git
//! repositories) in a temporary folder on a runtime of its own, points the
//! control room at it (registry, kubeconfig, GitHub URL and token), runs the
//! control room on the main thread, then stops the sandbox and removes the folder.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::app::Mode;
use crate::cli::{DemoArgs, GlobalOpts};
use crate::sandbox::{self, SandboxOptions};

/// The temporary folder, removed when dropped (also on error paths).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `hearth demo` subcommand.
pub fn run(global: &GlobalOpts, args: &DemoArgs) -> anyhow::Result<ExitCode> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        anyhow::bail!("--speed must be a positive number, not {}", args.speed);
    }
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
    opts.services = args.services;
    let handle = sandbox_rt
        .block_on(sandbox::start(opts))
        .context("cannot start the sandbox")?;

    let autopilot =
        (!args.no_autopilot).then(|| sandbox_rt.spawn(handle.autopilot(args.speed).run()));

    // Point everything at the sandbox the way its env file would.
    for (k, v) in &handle.env {
        std::env::set_var(k, v);
    }
    // The sandbox answers instantly and counts nothing: poll idle services
    // every few seconds so a release shows up quickly.
    if std::env::var_os("HEARTH_POLL_IDLE_SECS").is_none() {
        std::env::set_var("HEARTH_POLL_IDLE_SECS", "5");
    }
    let mut global = global.clone();
    global.services = handle.services_path();
    global.context = None;
    let registry = crate::registry::load(&global.services).map_err(|e| anyhow::anyhow!(e))?;
    let token = crate::sources::token::discover();

    let result = crate::app::run::run_with(&global, Arc::new(registry), Mode::Demo, |ctx| {
        let _sources =
            crate::sources::spawn_all(&ctx.registry, ctx.context.as_deref(), token, ctx.tx);
    });

    if let Some(task) = autopilot {
        task.abort();
    }
    sandbox_rt.block_on(handle.shutdown());
    sandbox_rt.shutdown_timeout(std::time::Duration::from_millis(500));
    drop(dir);
    result
}
