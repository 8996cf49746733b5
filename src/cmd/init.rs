//! `hearth init [--scan DIR] [--stdout]`: write a `services.yaml` for what
//! already runs on the current context (see [`crate::setup::init`]). Never
//! overwrites an existing file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{exit, fail};
use crate::cli::{GlobalOpts, InitArgs};
use crate::cluster::KubeClient;
use crate::registry::Environment;
use crate::setup::init::{self, Inventory};

/// Run `hearth init`.
pub fn run(global: &GlobalOpts, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let target = &global.services;
    if !args.stdout && target.exists() {
        return Err(fail(
            exit::REFUSED,
            format!(
                "{} exists; hearth init never overwrites a registry: move it away, \
                 name another file with --services FILE, or print with --stdout",
                target.display()
            ),
        ));
    }
    let cwd = std::env::current_dir()?;
    let scan = args.scan.clone().unwrap_or_else(|| PathBuf::from("."));
    let scan = absolute(&cwd, &scan);
    let checkouts = init::scan(&scan).map_err(|e| {
        fail(
            exit::INVALID,
            format!("cannot read --scan {}: {e}", scan.display()),
        )
    })?;
    let environments = Environment::defaults();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (context, found) = rt.block_on(async {
        let client = KubeClient::new(global.context.as_deref(), None)
            .await
            .map_err(|p| fail(exit::UNREADABLE, p.to_string()))?;
        let context = client
            .at
            .context
            .clone()
            .or_else(|| crate::cluster::current_context(None))
            .unwrap_or_else(|| "in-cluster".into());
        let found = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            init::discover(&client, &environments),
        )
        .await
        .map_err(|_| {
            fail(
                exit::UNREADABLE,
                format!("{} did not answer in 30 s", client.at.words()),
            )
        })?
        .map_err(|p| fail(exit::UNREADABLE, p.to_string()))?;
        anyhow::Ok((context, found))
    })?;
    let base = if args.stdout {
        cwd.clone()
    } else {
        absolute(&cwd, target)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(cwd.clone())
    };
    let inventory = Inventory {
        context,
        environments,
        found,
        checkouts,
        scan: Some(scan),
    };
    let text = init::render(&inventory, &base);
    if args.stdout {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    // `create_new`: a file that appeared meanwhile is not overwritten either.
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
        .map_err(|e| {
            fail(
                exit::REFUSED,
                format!("cannot create {}: {e}", target.display()),
            )
        })?;
    file.write_all(text.as_bytes())?;
    let shippable = inventory
        .found
        .iter()
        .filter(|f| {
            init::match_checkout(f, &inventory.checkouts)
                .is_some_and(|(c, _)| c.dockerfile.is_some())
        })
        .count();
    eprintln!(
        "hearth: wrote {} ({} services, {shippable} shippable); review it, then run `hearth check`",
        target.display(),
        inventory.found.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}
