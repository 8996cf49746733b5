//! `hearth status`: one-shot table or JSON of every service x environment.
use std::process::ExitCode;

pub fn run(
    _global: &crate::cli::GlobalOpts,
    _args: &crate::cli::StatusArgs,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("hearth status: under construction")
}
