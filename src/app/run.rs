//! The interactive control room loop (terminal setup, event loop, teardown).
use std::process::ExitCode;

pub fn run(_global: &crate::cli::GlobalOpts) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the control room is under construction")
}
