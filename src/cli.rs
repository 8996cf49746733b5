//! Command-line interface: the clap definitions, and nothing else. The
//! command layer (`cmd`) turns what is parsed here into resolved settings;
//! nothing below it sees these types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The text `--help` ends with; the codes are `cmd::exit`.
pub const EXIT_CODES_HELP: &str = "Exit codes: 0 ok; 1 failed (a rollout or an operation); \
2 invalid input (registry, options, unknown service); 3 could not read (cluster, GitHub, token); \
4 refused (confirmation needed, or already running).";

/// hearth: a terminal control room for services shipped to Kubernetes through
/// GitHub Releases and GitHub Actions.
#[derive(Debug, Parser)]
#[command(
    name = "hearth",
    version,
    about,
    long_about = None,
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every mode understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// The service registry file.
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
    Check(CheckArgs),
    /// Serve the embedded Kubernetes + GitHub sandbox on loopback.
    Sandbox(SandboxArgs),
    /// Print every service x environment once (a table, or JSON) and exit.
    Status(StatusArgs),
    /// Start the sandbox in a temporary directory and open the control room on it.
    Demo(DemoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The registry to check (default: `--services`, else ./services.yaml).
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Folder to prepare (registry, git repositories, kubeconfig, env file).
    #[arg(long)]
    pub dir: PathBuf,
    /// Speed factor for CI steps and rollouts (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Number of demo services to create, named svc-001... (default: the
    /// handful of demo services api, web, worker, billing and docs).
    #[arg(long)]
    pub count: Option<usize>,
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
    /// Number of demo services to create (default: the handful of demo services).
    #[arg(long)]
    pub count: Option<usize>,
    /// Do not let the simulated teammate ship releases: the sandbox stays
    /// still until you act on it yourself.
    #[arg(long)]
    pub no_autopilot: bool,
}
