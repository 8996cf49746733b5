//! `hearth check [FILE]`: validate a registry and print a summary of what
//! hearth will do with it, or every problem found (exit 2). Touches nothing
//! but the registry file.

use std::process::ExitCode;

use super::EXIT_INVALID;
use crate::cli::{CheckArgs, GlobalOpts};

/// Run `hearth check`: the summary on stdout and exit 0, or the problems on
/// stderr and exit 2.
pub fn run(global: &GlobalOpts, args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let path = args.file.as_ref().unwrap_or(&global.services);
    match crate::registry::check::check(path, global.context.as_deref()) {
        Ok(summary) => {
            print!("{summary}");
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
