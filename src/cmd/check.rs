//! `hearth check [FILE]`: validate a registry and print a summary of what
//! hearth will do with it, or every problem found (exit 2). Touches nothing
//! but the registry file.

use std::process::ExitCode;

use super::EXIT_INVALID;
use crate::registry::Registry;
use crate::setup::workflow;

/// One line per shippable service: what ship, promote and clean rollback
/// will do with its workflow file as it is in its directory.
fn mechanisms(registry: &Registry) -> String {
    let mut out = String::from("\noperations (from each repository's workflow file):\n");
    let width = registry
        .services
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(0);
    for svc in registry.services.iter().filter(|s| s.shippable) {
        if svc.delivery != crate::registry::Delivery::Release {
            let line = match svc.delivery {
                crate::registry::Delivery::Push => crate::ops::push::check_workflows(svc),
                crate::registry::Delivery::Gitops => crate::ops::gitops::check_manifests(svc),
                _ => crate::ops::dispatch::check_workflows(svc),
            };
            out.push_str(&format!("  {:<width$}  {line}\n", svc.name));
            continue;
        }
        let rel = workflow::path_of(svc);
        let line = match std::fs::read_to_string(svc.directory.join(&rel)) {
            Ok(text) => workflow::mechanisms(&text, &svc.workflow),
            Err(_) => format!(
                "{rel} not found in {} (hearth setup --workflow {} writes it)",
                svc.directory.display(),
                svc.name
            ),
        };
        out.push_str(&format!("  {:<width$}  {line}\n", svc.name));
    }
    out
}
use crate::cli::{CheckArgs, GlobalOpts};

/// Run `hearth check`: the summary on stdout and exit 0, or the problems on
/// stderr and exit 2.
pub fn run(global: &GlobalOpts, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let path = args.file.as_ref().unwrap_or(&global.services);
    match crate::registry::check::check(path, global.context.as_deref()) {
        Ok(summary) => {
            print!("{summary}");
            // The registry is valid: say how each shippable service's
            // workflow lets the operations make CI deploy.
            if let Ok(registry) = crate::registry::load(path) {
                print!("{}", mechanisms(&registry));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("{err}");
            let n = err.problems.len();
            eprintln!(
                "hearth check: {n} problem{} in {}",
                if n == 1 { "" } else { "s" },
                err.file.display()
            );
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}
