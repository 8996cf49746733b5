//! `hearth demo`: the sandbox and the control room in one command.
use std::process::ExitCode;

pub fn run(
    _global: &crate::cli::GlobalOpts,
    _args: &crate::cli::DemoArgs,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("hearth demo: under construction")
}
