//! `hearth sandbox`: prepare a folder with the embedded sandbox (the
//! `hearth-sandbox` crate), print the env lines and serve until SIGINT or
//! SIGTERM, optionally with the demo autopilot shipping through it.

use std::process::ExitCode;

use anyhow::Context;
use hearth_sandbox::{self as sandbox, SandboxOptions, EAGER_REPOS};

use super::autopilot::Autopilot;
use crate::cli::SandboxArgs;

/// The RBAC of a read-only `hearth watch` the repository ships; the
/// sandbox applies it, so that its kubeconfig has a context with exactly
/// those rights (`hearth-sandbox-hearth-watch`).
pub const WATCH_RBAC: &str = include_str!("../../deploy/rbac/hearth-watch.yaml");

/// `hearth sandbox --dir D --wait`: wait for another process's sandbox in
/// D to be ready (its env file is written last), then print the file's path.
fn wait_ready(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let env = args.dir.join("env");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.timeout);
    while !env.exists() {
        if std::time::Instant::now() >= deadline {
            return Err(super::fail(
                super::exit::UNREADABLE,
                format!(
                    "no sandbox became ready in {} within {} s ({} does not exist); is `hearth sandbox --dir {}` running?",
                    args.dir.display(),
                    args.timeout,
                    env.display(),
                    args.dir.display()
                ),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    println!("{}", env.display());
    Ok(ExitCode::SUCCESS)
}

/// Run `hearth sandbox`.
pub fn run(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    if args.wait {
        return wait_ready(args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let mut opts = SandboxOptions::new(&args.dir);
        opts.speed = args.speed;
        opts.count = args.count;
        opts.clusters = args.clusters.into();
        opts.manifests.push(WATCH_RBAC.to_string());
        let handle = sandbox::start(opts).await?;
        for line in handle.env_lines() {
            println!("{line}");
        }
        eprintln!(
            "hearth sandbox: {} services ready in {} (load the env with: set -a; . {}/env; set +a). Ctrl-C stops.",
            handle.services.len(),
            handle.dir.display(),
            handle.dir.display()
        );
        eprintln!(
            "hearth sandbox: read-only as a wall display would be: hearth --context hearth-sandbox-hearth-watch watch (GH_TOKEN=$HEARTH_SANDBOX_READONLY_TOKEN for a read-only GitHub token)"
        );
        if handle.services.len() > EAGER_REPOS {
            let mut rx = handle.git_ready_signal();
            let n = handle.services.len();
            let t = std::time::Instant::now();
            tokio::spawn(async move {
                if rx.wait_for(|ready| *ready).await.is_ok() {
                    eprintln!(
                        "hearth sandbox: git repositories of all {n} services ready ({:.1} s later)",
                        t.elapsed().as_secs_f64()
                    );
                }
            });
        }
        let autopilot = if args.autopilot {
            eprintln!("hearth sandbox: {}", super::autopilot::ANNOUNCE);
            let registry = std::sync::Arc::new(crate::registry::load(&handle.services_path())?);
            let ops = std::sync::Arc::new(super::operation::context(
                registry,
                super::demo::sandbox_config(&handle),
                handle.dir.join("state/audit.jsonl"),
            ));
            let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::ops::Progress>(256);
            // Nobody watches this process's screen: the progress goes to the log.
            tokio::spawn(async move {
                while let Some(p) = rx.recv().await {
                    if let Some(line) = super::operation::line(&p, "") {
                        tracing::info!(service = %p.service, "autopilot: {line}");
                    }
                }
            });
            Some(tokio::spawn(Autopilot::for_sandbox(&handle, ops, args.speed).run(tx)))
        } else {
            None
        };
        wait_for_signal().await?;
        eprintln!("hearth sandbox: stopping");
        if let Some(task) = autopilot {
            task.abort();
        }
        handle.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("listening for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
