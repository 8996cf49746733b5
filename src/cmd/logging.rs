//! Logging: tracing to a daily-rolling file in the XDG state directory
//! (`$XDG_STATE_HOME/hearth`, default `~/.local/state/hearth`), never to the
//! terminal the TUI owns. Set up once on the main thread by every mode.

use std::path::PathBuf;

use anyhow::{anyhow, Context};
use tracing_subscriber::EnvFilter;

/// Keeps the background log writer alive; logs are flushed when it drops.
pub struct Guard {
    _worker: Option<tracing_appender::non_blocking::WorkerGuard>,
    /// The folder the log files are written to.
    pub dir: PathBuf,
}

/// The folder logs go to: `$XDG_STATE_HOME/hearth`, else `~/.local/state/hearth`.
pub fn log_dir() -> anyhow::Result<PathBuf> {
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(state).join("hearth"));
    }
    let home = dirs::home_dir().ok_or_else(|| {
        anyhow!("cannot find the home directory for the log folder; set XDG_STATE_HOME")
    })?;
    Ok(home.join(".local/state/hearth"))
}

/// Start logging at `level` (`error`, `warn`, `info`, `debug`, `trace`, or a
/// tracing filter such as `hearth=debug,kube=info`) to `hearth.log.YYYY-MM-DD`.
/// Calling it again in the same process keeps the first subscriber.
pub fn init(level: &str) -> anyhow::Result<Guard> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    // A bare word that is not a level would silently become a target filter.
    if !level.contains(['=', ',']) && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
        anyhow::bail!(
            "--log-level '{level}': unknown level (use error, warn, info, debug or trace)"
        );
    }
    let filter = EnvFilter::try_new(level).map_err(|e| {
        anyhow!("--log-level '{level}': {e} (use error, warn, info, debug or trace)")
    })?;
    let dir = log_dir()?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the log folder {}", dir.display()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("hearth.log")
        .max_log_files(7)
        .build(&dir)
        .with_context(|| format!("cannot open a log file in {}", dir.display()))?;
    // The writer's queue is allocated in full up front: tracing-appender's
    // default of 128,000 lines is 4 MB whether anything is logged or not.
    // hearth logs little; a burst beyond 1,024 queued lines drops lines
    // rather than blocking a task.
    let (writer, worker) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(1024)
        .lossy(true)
        .finish(appender);
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .is_ok();
    Ok(Guard {
        _worker: installed.then_some(worker),
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_level_is_explained() {
        let err = init("loud")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("--log-level"), "{err}");
    }
}
