//! Command-line interface: clap definitions and dispatch to the mode or
//! subcommand. Runs on the main thread before any runtime starts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// hearth: a terminal control room for services shipped to Kubernetes through
/// GitHub Releases and GitHub Actions.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every mode understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// The service registry. For `sandbox` and `demo`: the number of demo
    /// services to create instead (`--services 300`).
    #[arg(
        long,
        global = true,
        env = "HEARTH_SERVICES",
        default_value = "services.yaml"
    )]
    pub services: PathBuf,
    /// Kube context for environments that name none (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Colour theme: a built-in name (default, light, high-contrast, ...) or a YAML file.
    #[arg(long, global = true)]
    pub theme: Option<String>,
    /// Log level for the log file (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a services.yaml and print a summary.
    Check,
    /// Serve the embedded Kubernetes + GitHub sandbox on loopback.
    Sandbox(SandboxArgs),
    /// Print every service x environment once (a table, or JSON) and exit.
    Status(StatusArgs),
    /// Start the sandbox in a temporary directory and open the control room on it.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Folder to prepare (registry, git repositories, kubeconfig, env file).
    #[arg(long)]
    pub dir: PathBuf,
    /// Speed factor for CI steps and rollouts (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Number of demo services: given as the global `--services N` (a number
    /// instead of a registry path), filled in by [`main`].
    #[arg(skip)]
    pub services: Option<usize>,
    /// Let a simulated teammate ship releases (qa, then prod; now and then a
    /// failing migration that gets rolled back) so the loop can be watched.
    #[arg(long)]
    pub autopilot: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Services to show (default: all).
    pub service: Vec<String>,
    /// Print a JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Speed factor for CI steps and rollouts.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Number of demo services: given as the global `--services N`, filled in by [`main`].
    #[arg(skip)]
    pub services: Option<usize>,
    /// Do not let the simulated teammate ship releases: the sandbox stays
    /// still until you act on it yourself.
    #[arg(long)]
    pub no_autopilot: bool,
}

impl GlobalOpts {
    /// `--services N` given as a number: how many demo services `sandbox` and
    /// `demo` create. (One flag serves both meanings because a global option
    /// and a subcommand option cannot share a name in clap.)
    pub fn service_count(&self) -> Option<usize> {
        self.services.to_str()?.parse().ok()
    }
}

/// Parse the command line and run.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => crate::app::run::run(&cli.global),
        Some(Command::Check) => crate::registry::check::run(&cli.global),
        Some(Command::Sandbox(args)) => {
            let mut args = args.clone();
            args.services = args.services.or(cli.global.service_count());
            crate::sandbox::run_cli(&cli.global, &args)
        }
        Some(Command::Status(args)) => crate::sources::status::run(&cli.global, args),
        Some(Command::Demo(args)) => {
            let mut args = args.clone();
            args.services = args.services.or(cli.global.service_count());
            crate::sources::demo::run(&cli.global, &args)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hearth: {err:#}");
            ExitCode::FAILURE
        }
    }
}
