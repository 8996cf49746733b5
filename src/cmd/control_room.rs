//! `hearth` with no subcommand: the interactive control room on the user's
//! cluster and GitHub, with write access (operations from keys).

use std::process::ExitCode;
use std::sync::Arc;

use super::access::WriteAccess;
use crate::app::run::{run_with, Session};
use crate::app::{sources, Mode};
use crate::cli::GlobalOpts;

/// Run the interactive control room.
pub fn run(global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let registry = super::load_registry(global)?;
    let theme = super::theme(global)?;
    let _log = super::logging::init(&global.log_level)?;
    // Left open all day like a watch: hand freed pages back (see there).
    super::return_freed_memory_every(std::time::Duration::from_secs(60));
    // Token discovery may run `gh auth token`: do it before the terminal is taken.
    let config = super::live_config(global, &registry);
    let registry = Arc::new(registry);
    let journal = super::operation::journal_path()?;
    let ops = super::operation::context(registry.clone(), config.clone(), journal.clone());
    let session = Session {
        registry,
        config,
        mode: Mode::INTERACTIVE,
        write: Some(WriteAccess::grant()),
        theme,
        ops: Some(Arc::new(ops)),
        journal: Some(crate::ops::audit::Journal::new(journal)),
        logs: true,
        announce: None,
        watch: None,
    };
    run_with(session, |ctx| {
        sources::spawn(&ctx.registry, &ctx.config, ctx.tx, true)
    })?;
    Ok(ExitCode::SUCCESS)
}
