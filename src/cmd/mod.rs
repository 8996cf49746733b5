//! The command layer: one module per subcommand. A command turns its clap
//! arguments (and the environment: `GITHUB_API_URL`, the token, poll
//! overrides) into plain, resolved settings ([`Config`]) and calls the layers
//! below, which never see clap. This is also the only place that grants
//! [`WriteAccess`](access::WriteAccess) and the only place that uses `anyhow`.

pub mod access;
pub mod approve;
pub mod autopilot;
pub mod check;
pub mod completion;
pub mod control_room;
pub mod demo;
pub mod history;
pub mod init;
pub mod logging;
pub mod logs;
pub mod operation;
mod promote;
pub mod restart;
pub mod rollback;
pub mod sandbox;
pub mod setup;
pub mod ship;
pub mod status;
pub mod watch;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, GlobalOpts};
use crate::config::Config;
use crate::registry::Registry;
use crate::{cluster, github};

/// Exit codes, the same from every command (documented in `--help`).
pub mod exit {
    /// Everything worked.
    pub const OK: u8 = 0;
    /// What was asked for failed: a rollout failed, an operation stopped.
    pub const FAILED: u8 = 1;
    /// Bad input: an invalid registry, a bad option, an unknown service.
    /// Nothing was changed.
    pub const INVALID: u8 = 2;
    /// Something could not be read: an unreachable cluster, a forbidden
    /// namespace, a rejected or missing token.
    pub const UNREADABLE: u8 = 3;
    /// Refused before changing anything: a confirmation was needed and no
    /// terminal could give it, or the operation is already running.
    pub const REFUSED: u8 = 4;
}

/// Exit status when the registry is invalid (the same from every command).
pub const EXIT_INVALID: u8 = exit::INVALID;

/// An error that ends a command with a specific exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

/// End the command with `code` and `message`.
pub fn fail(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        code,
        message: message.into(),
    })
}

/// The exit code for an error that ended a command.
fn code_of(err: &anyhow::Error) -> u8 {
    if let Some(f) = err.downcast_ref::<Failure>() {
        f.code
    } else if err.is::<crate::registry::RegistryError>() {
        exit::INVALID
    } else {
        exit::FAILED
    }
}

/// Parse the command line and run.
pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let services_on_command_line = matches!(
        subcommand_value_source(&matches, "services"),
        Some(clap::parser::ValueSource::CommandLine)
    );
    let result = match &cli.command {
        Some(Command::Demo(_)) if services_on_command_line => Err(fail(
            exit::INVALID,
            format!(
                "demo brings its own registry (the sandbox's), so --services {} would not be used; \
                 drop --services, or run `hearth sandbox --dir DIR` and point hearth at DIR/services.yaml",
                cli.global.services.display()
            ),
        )),
        None => control_room::run(&cli.global),
        Some(Command::Check(args)) => check::run(&cli.global, args),
        Some(Command::Sandbox(args)) => sandbox::run(args),
        Some(Command::Status(args)) => status::run(&cli.global, args),
        Some(Command::Demo(args)) => demo::run(&cli.global, args),
        Some(Command::Ship(args)) => ship::run(&cli.global, args),
        Some(Command::Promote(args)) => promote::run(&cli.global, args),
        Some(Command::Approve(args)) => approve::run(&cli.global, args),
        Some(Command::Rollback(args)) => rollback::run(&cli.global, args),
        Some(Command::Restart(args)) => restart::run(&cli.global, args),
        Some(Command::Logs(args)) => logs::run(&cli.global, args),
        Some(Command::History(args)) => history::run(&cli.global, args),
        Some(Command::Watch(args)) => watch::run(&cli.global, args),
        Some(Command::Init(args)) => init::run(&cli.global, args),
        Some(Command::Setup(args)) => setup::run(&cli.global, args),
        Some(Command::Completion(args)) => completion::run(args),
        Some(Command::Man(args)) => completion::man(args),
    };
    match result {
        Ok(code) => code,
        // `hearth man | head`: the reader went away; that is no error.
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("hearth: {err:#}");
            ExitCode::from(code_of(&err))
        }
    }
}

/// Where an argument's value came from, looking into the subcommand too
/// (a global option given after the subcommand is recorded there).
fn subcommand_value_source(
    matches: &clap::ArgMatches,
    id: &str,
) -> Option<clap::parser::ValueSource> {
    let sub = matches.subcommand().and_then(|(_, m)| m.value_source(id));
    match (matches.value_source(id), sub) {
        (Some(clap::parser::ValueSource::CommandLine), _) | (_, None) => matches.value_source(id),
        (_, sub) => sub,
    }
}

/// Load the registry named by `--services`, or say exactly what is wrong.
pub fn load_registry(global: &GlobalOpts) -> anyhow::Result<Registry> {
    Ok(crate::registry::load(&global.services)?)
}

/// The settings for live mode: the kubeconfig of `KUBECONFIG` (read by
/// the kube client) with `--context`; GitHub at `GITHUB_API_URL`, else the
/// registry's `hearth.api_url`, else api.github.com, with the token from
/// `GH_TOKEN` / `GITHUB_TOKEN` / `gh auth token` (blocking: call before the
/// terminal is taken), and the poll intervals with their overrides
/// (`HEARTH_POLL_IDLE_SECS`, `HEARTH_POLL_ACTIVE_MS`).
pub fn live_config(global: &GlobalOpts, registry: &Registry) -> Config {
    Config {
        kube: cluster::Settings {
            kubeconfig: None,
            context: global.context.clone(),
        },
        github: github::Settings {
            api_url: api_url(registry),
            token: github::token::discover(),
            intervals: intervals_from_env(),
            owner: registry.settings.github_owner.clone(),
        },
    }
}

/// The GitHub API base URL: `GITHUB_API_URL`, else the registry's
/// `hearth.api_url`, else api.github.com.
fn api_url(registry: &Registry) -> String {
    std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| registry.settings.api_url.clone())
        .unwrap_or_else(|| "https://api.github.com".into())
        .trim_end_matches('/')
        .to_string()
}

/// The default intervals, overridden by `HEARTH_POLL_IDLE_SECS` /
/// `HEARTH_POLL_ACTIVE_MS` / `HEARTH_POLL_RATE`, and how long an operation
/// follows a run (`HEARTH_RUN_TIMEOUT_SECS`).
fn intervals_from_env() -> github::Intervals {
    let num = |var: &str| -> Option<f64> {
        std::env::var(var)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|v: &f64| v.is_finite())
    };
    let mut i = github::Intervals::default();
    if let Some(s) = num("HEARTH_POLL_IDLE_SECS") {
        i.idle = Duration::from_secs_f64(s.max(0.1));
    }
    if let Some(ms) = num("HEARTH_POLL_ACTIVE_MS") {
        i.active = Duration::from_millis(ms.max(50.0) as u64);
    }
    if let Some(rate) = num("HEARTH_POLL_RATE") {
        i.max_rate = rate.max(0.1);
    }
    if let Some(s) = num("HEARTH_RUN_TIMEOUT_SECS") {
        i.run_timeout = Duration::from_secs_f64(s.clamp(1.0, 7.0 * 24.0 * 3600.0));
    }
    i
}

/// Load the theme the way every TUI command does (`--theme`, `NO_COLOR`).
pub fn theme(global: &GlobalOpts) -> anyhow::Result<crate::ui::Theme> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    Ok(crate::ui::Theme::load(global.theme.as_deref(), no_color)?)
}

#[cfg(test)]
mod dialog_keys;
#[cfg(test)]
mod recorded;

/// A screen left on for days should not grow: glibc's allocator keeps pages
/// freed inside its arenas (a watch's re-lists and polls free as much as
/// they allocate, in a different order), so a background thread hands them
/// back to the kernel every `period`. Off the render path; elsewhere than
/// glibc, nothing to do.
pub(crate) fn return_freed_memory_every(period: std::time::Duration) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::Builder::new()
        .name("malloc-trim".into())
        .spawn(move || loop {
            std::thread::sleep(period);
            // SAFETY: malloc_trim only walks the allocator's own free lists.
            unsafe {
                libc::malloc_trim(0);
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| tracing::warn!("no malloc-trim thread: {e}"));
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = period;
}

#[cfg(test)]
mod tests {
    /// The compile-time guarantee is that `WriteAccess::grant` is visible in
    /// `cmd/` only; this keeps the watch command itself out of it.
    #[test]
    fn the_watch_command_never_grants_write_access() {
        let watch = include_str!("watch.rs");
        let code: String = watch
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !code.contains("WriteAccess"),
            "cmd/watch.rs names WriteAccess"
        );
        assert!(!code.contains("grant("), "cmd/watch.rs grants something");
        assert!(code.contains("write: None") && code.contains("ops: None"));
        assert!(code.contains("Mode::WATCH"));
    }
}
