//! `hearth watch`: the control room for a wall display or a screen shared
//! in a call. Read-only by construction: this command never grants a
//! `WriteAccess`, so the session has no operations context, its keymap holds
//! navigation only, and no command that changes anything can be built. The
//! high-contrast theme is the default here.

use std::process::ExitCode;
use std::sync::Arc;

use crate::app::run::{run_with, Session};
use crate::app::{sources, Mode, WatchSettings};
use crate::cli::{GlobalOpts, WatchArgs};

/// Run `hearth watch`.
pub fn run(global: &GlobalOpts, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let registry = super::load_registry(global)?;
    let mut global = global.clone();
    if global.theme.is_none() {
        global.theme = Some("high-contrast".into());
    }
    let theme = super::theme(&global)?;
    let _log = super::logging::init(&global.log_level)?;
    let config = super::live_config(&global, &registry);
    let session = Session {
        registry: Arc::new(registry),
        config,
        mode: Mode::WATCH,
        write: None,
        theme,
        ops: None,
        journal: Some(crate::ops::audit::Journal::new(
            super::operation::journal_path()?,
        )),
        logs: args.logs,
        announce: None,
        watch: Some(WatchSettings {
            cycle: args.cycle.map(|c| c.max(1) as i64),
            bell: args.bell,
            last_cycle: None,
        }),
    };
    super::return_freed_memory_every(std::time::Duration::from_secs(60));
    run_with(session, |ctx| {
        // The board shows no Helm history, and the read-only RBAC for a
        // shared screen has no right on Secrets: none is read.
        sources::spawn(&ctx.registry, &ctx.config, ctx.tx, false)
    })?;
    Ok(ExitCode::SUCCESS)
}
