//! `hearth setup --workflow [SERVICE...]`: write each shippable service's
//! release workflow (the caller stub of the reusable template, see
//! [`crate::ops::workflow`]), show the diff, and commit it with `--commit`.
//! An existing workflow that would leave an operation starting no run is
//! reported with its fix before it is replaced.

use std::path::Path;
use std::process::ExitCode;

use super::{exit, fail};
use crate::cli::{GlobalOpts, SetupArgs};
use crate::ops::workflow::{self, Secrets, Template};
use crate::registry::{Registry, Service};

/// Run `hearth setup`.
pub fn run(global: &GlobalOpts, args: &SetupArgs) -> anyhow::Result<ExitCode> {
    let registry = super::load_registry(global)?;
    if !args.workflow {
        return Err(fail(
            exit::INVALID,
            "say what to set up: --workflow (each repository's release workflow)",
        ));
    }
    workflows(&registry, args)
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

fn workflows(registry: &Registry, args: &SetupArgs) -> anyhow::Result<ExitCode> {
    let services = chosen(registry, &args.service)?;
    let template = template(registry, args)?;
    let secrets = Secrets::default();
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
