//! `hearth setup --ci` (see [`crate::setup::ci`]) and
//! `hearth setup --workflow [SERVICE...]`: write each shippable service's
//! release workflow (the caller stub of the reusable template, see
//! [`crate::setup::workflow`]), show the diff, and commit it with `--commit`.
//! An existing workflow that would leave an operation starting no run is
//! reported with its fix before it is replaced.

use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{exit, fail};
use crate::cli::{GlobalOpts, SetupArgs};
use crate::registry::{Registry, Service};
use crate::setup::ci::CiRequest;
use crate::setup::workflow::{self, Secrets, Template};

/// Run `hearth setup`.
pub fn run(global: &GlobalOpts, args: &SetupArgs) -> anyhow::Result<ExitCode> {
    if args.ci {
        return ci(global, args);
    }
    let registry = super::load_registry(global)?;
    if !args.workflow {
        return Err(fail(
            exit::INVALID,
            "say what to set up: --workflow (each repository's release workflow) \
             or --ci (the cluster credentials and repository secrets CI deploys with)",
        ));
    }
    let current = super::live_config(global, &registry).kube.display_context();
    workflows(&registry, args, current.as_deref())
}

/// `hearth setup --ci`: see [`crate::setup::ci`].
fn ci(global: &GlobalOpts, args: &SetupArgs) -> anyhow::Result<ExitCode> {
    if !args.service.is_empty() {
        return Err(fail(
            exit::INVALID,
            "setup --ci sets up every shippable repository; it takes no service names",
        ));
    }
    if let Some(server) = &args.server {
        if !server.starts_with("https://") && !server.starts_with("http://") {
            return Err(fail(
                exit::INVALID,
                format!("--server {server}: give the API server's URL, for example https://k3s.example.com:6443"),
            ));
        }
    }
    let registry = super::load_registry(global)?;
    let config = super::live_config(global, &registry);
    let _log = super::logging::init(&global.log_level)?;
    if !args.dry_run && !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(fail(
                exit::REFUSED,
                "setup --ci changes the cluster's RBAC and every shippable repository's secrets, \
                 and stdin is not a terminal to confirm it; nothing changed. Pass --yes to go ahead \
                 (or --dry-run to see the plan)",
            ));
        }
        let ci = &registry.settings.ci;
        eprint!(
            "This applies the CI RBAC (namespace ci, ServiceAccount github-deployer) to {} and sets {} and {} on every shippable repository{}. Proceed? [y/N] ",
            config.kube.display_context().map(|c| format!("context \"{c}\"")).unwrap_or_else(|| "the current context".into()),
            ci.kubeconfig_secret_for(config.kube.display_context().as_deref()),
            ci.registry_token_secret,
            if args.rotate { ", replacing the token" } else { "" },
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
            eprintln!("hearth: not confirmed; nothing changed");
            return Ok(ExitCode::from(exit::REFUSED));
        }
    }
    let req = CiRequest {
        server: args.server.clone(),
        rotate: args.rotate,
        dry_run: args.dry_run,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ctx = super::operation::context(
        Arc::new(registry),
        config,
        super::operation::journal_path()?,
    );
    let outcome = runtime.block_on(async {
        let (tx, mut rx) = mpsc::channel(64);
        let printer = tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                if let Some(l) = super::operation::line(&p, "") {
                    println!("{l}");
                }
            }
        });
        let outcome = crate::setup::ci::run(&ctx, &req, tx).await;
        let _ = printer.await;
        outcome
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(ExitCode::from(outcome.code))
}

/// The services named (validated), else every shippable one.
fn chosen<'a>(registry: &'a Registry, names: &[String]) -> anyhow::Result<Vec<&'a Service>> {
    if names.is_empty() {
        return Ok(registry.services.iter().filter(|s| s.shippable).collect());
    }
    names
        .iter()
        .map(|n| match registry.service(n) {
            Some(s) if s.shippable => Ok(s),
            Some(s) => Err(fail(
                exit::INVALID,
                format!(
                    "{n} is not shippable ({}); hearth writes no release workflow for it",
                    s.shippable_reason.as_deref().unwrap_or("shippable: false")
                ),
            )),
            None => Err(fail(
                exit::INVALID,
                format!("no service {n:?} in the registry"),
            )),
        })
        .collect()
}

fn template(registry: &Registry, args: &SetupArgs) -> anyhow::Result<Template> {
    let text = match (&args.template, &registry.settings.github_owner) {
        (Some(t), _) => t.clone(),
        (None, Some(owner)) => format!("{owner}/hearth@main"),
        (None, None) => {
            return Err(fail(
                exit::INVALID,
                "where is the reusable workflow? pass --template OWNER/REPO@REF \
                 (the repository holding .github/workflows/release-template.yml), \
                 or set hearth.github_owner",
            ))
        }
    };
    Template::parse(&text).map_err(|e| fail(exit::INVALID, e))
}

/// Write or check each service's workflow stub. `current` is the context
/// the environments without one deploy to (`--context`, else the
/// kubeconfig's current one).
fn workflows(
    registry: &Registry,
    args: &SetupArgs,
    current: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let services = chosen(registry, &args.service)?;
    let template = template(registry, args)?;
    // The secret of each release kind's context: one, or one per cluster.
    let ci = &registry.settings.ci;
    let context_of = |kind: crate::registry::ReleaseKind| {
        registry
            .settings
            .environments
            .iter()
            .find(|e| e.release == kind)
            .and_then(|e| e.context.clone())
            .or_else(|| current.map(str::to_string))
    };
    let prod = ci
        .kubeconfig_secret_for(context_of(crate::registry::ReleaseKind::Latest).as_deref())
        .to_string();
    let qa = ci
        .kubeconfig_secret_for(context_of(crate::registry::ReleaseKind::Prerelease).as_deref())
        .to_string();
    let secrets = Secrets {
        kubeconfig_qa: (qa != prod).then_some(qa),
        kubeconfig: prod,
        registry_token: ci.registry_token_secret.clone(),
    };
    let mut failed = false;
    for svc in services {
        let rel = workflow::path_of(svc);
        let path = svc.directory.join(&rel);
        let new = workflow::stub(svc, &template, &secrets);
        let old = std::fs::read_to_string(&path).ok();
        // Up to date, unless --commit still has the file to commit.
        let to_commit = args.commit && !args.dry_run && uncommitted(&svc.directory, &rel);
        if old.as_deref() == Some(new.as_str()) && !to_commit {
            println!("{}: {rel} is up to date", svc.name);
            continue;
        }
        if let Some(old) = &old {
            for p in workflow::problems(old, &svc.workflow) {
                println!("{}: the current {rel}: {p}", svc.name);
            }
        }
        let diff = similar::TextDiff::from_lines(old.as_deref().unwrap_or(""), &new);
        let a = if old.is_some() {
            format!("a/{rel}")
        } else {
            "/dev/null".into()
        };
        print!(
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&a, &format!("b/{rel}"))
        );
        if args.dry_run {
            println!("{}: not written (--dry-run)", svc.name);
            continue;
        }
        if let Err(e) = write(&path, &new) {
            eprintln!("hearth: {}: cannot write {}: {e}", svc.name, path.display());
            failed = true;
            continue;
        }
        if !args.commit {
            println!(
                "{}: wrote {}; review it, then commit it (or run again with --commit)",
                svc.name,
                path.display()
            );
            continue;
        }
        match commit(&svc.directory, &rel) {
            Ok(lines) => {
                for l in lines {
                    println!("{}: {l}", svc.name);
                }
            }
            Err(e) => {
                eprintln!("hearth: {}: {e}", svc.name);
                failed = true;
            }
        }
    }
    Ok(ExitCode::from(if failed { exit::FAILED } else { exit::OK }))
}

/// Whether git has `rel` as new or changed in `dir`.
fn uncommitted(dir: &Path, rel: &str) -> bool {
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["status", "--porcelain", "--", rel])
        .stdin(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

/// `git add` and `git commit` of the workflow alone, each command said.
fn commit(dir: &Path, rel: &str) -> Result<Vec<String>, String> {
    let message = "Release workflow: call the shared release template (hearth setup --workflow)";
    let mut said = Vec::new();
    for args in [
        vec!["add", "--", rel],
        vec!["commit", "-q", "-m", message, "--", rel],
    ] {
        said.push(format!("$ git {}", args.join(" ")));
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {} failed in {}: {}",
                args[0],
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    said.push("committed; `hearth ship` pushes it with the next tag".into());
    Ok(said)
}
