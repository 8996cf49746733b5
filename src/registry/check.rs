//! `hearth check`: validate a registry and print a summary.
use std::process::ExitCode;

pub fn run(_global: &crate::cli::GlobalOpts) -> anyhow::Result<ExitCode> {
    anyhow::bail!("hearth check: under construction")
}
