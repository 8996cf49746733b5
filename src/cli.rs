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
    /// Ship: pre-ship tests, next version tagged and pushed, a GitHub Release,
    /// then follow CI, the rollout and the smoke checks. No service: the
    /// registry's ship_all list.
    Ship(ShipArgs),
    /// Make a qa prerelease the latest release, so the same image deploys to prod.
    Promote(PromoteArgs),
    /// Roll an environment back: fast (rollout undo) or clean (the previous
    /// release becomes latest again and CI redeploys it).
    Rollback(RollbackArgs),
    /// Approve (or reject) a run that waits on a GitHub Environment's
    /// required reviewers, after a confirmation that shows what would deploy.
    Approve(ApproveArgs),
    /// Restart every pod of a service in one environment (a rollout
    /// restart, as `kubectl rollout restart` sends it; same image), then
    /// follow the rollout and run the smoke checks. Asks first.
    Restart(RestartArgs),
    /// Print or follow the logs of every pod of a service.
    Logs(LogsArgs),
    /// The audit journal: every operation hearth ran, newest last.
    History(HistoryArgs),
    /// The control room for a shared screen: read-only by construction,
    /// laid out to be read from across a room, made to run for days.
    Watch(WatchArgs),
    /// Write a services.yaml for the Deployments that already run on the
    /// current context, matched to local checkouts (never overwrites).
    Init(InitArgs),
    /// Set up what shipping needs: --workflow writes each repository's
    /// release workflow (a stub calling the shared release template).
    Setup(SetupArgs),
    /// Print a shell completion script: `hearth completion bash > /etc/bash_completion.d/hearth`.
    Completion(CompletionArgs),
    /// Print the man page (roff): `hearth man | man -l -`; `--dir DIR` writes one page per command.
    Man(ManArgs),
}

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The folder holding the services' git checkouts (each subfolder is
    /// matched to an image by its git remote, else by its name).
    #[arg(long, value_name = "DIR")]
    pub scan: Option<PathBuf>,
    /// Print the registry instead of writing `--services` (services.yaml).
    #[arg(long)]
    pub stdout: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SetupArgs {
    /// Services whose repositories to set up (default: every shippable one).
    pub service: Vec<String>,
    /// Write `.github/workflows/WORKFLOW` in each service's directory: the
    /// caller stub of the reusable release template, listening to
    /// `published` and `released`. Shows the diff.
    #[arg(long)]
    pub workflow: bool,
    /// With --workflow: also `git commit` the file (ship pushes it).
    #[arg(long, requires = "workflow")]
    pub commit: bool,
    /// The repository holding the reusable workflow, OWNER/REPO[@REF]
    /// (default: GITHUB_OWNER/hearth@main).
    #[arg(long, value_name = "REPO@REF")]
    pub template: Option<String>,
    /// Set up what CI deploys with: apply the CI RBAC (deploy/rbac/ci.yaml)
    /// by server-side apply, build a kubeconfig from its token, and store it
    /// and the registry token as secrets of every shippable repository.
    #[arg(long, conflicts_with_all = ["workflow", "commit", "template"])]
    pub ci: bool,
    /// With --ci: the API server URL CI reaches the cluster at (default:
    /// the current context's server).
    #[arg(long, value_name = "URL", requires = "ci")]
    pub server: Option<String>,
    /// With --ci: replace the ServiceAccount token (the old one stops
    /// working) and store the new kubeconfig.
    #[arg(long, requires = "ci")]
    pub rotate: bool,
    /// With --ci: go ahead without asking (needed when stdin is not a terminal).
    #[arg(long, short = 'y', requires = "ci")]
    pub yes: bool,
    /// Show what would change, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write hearth.1 and one page per subcommand (hearth-ship.1, ...) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Rotate the detail pane through the services every SECONDS (those
    /// with a failure or activity first).
    #[arg(long, value_name = "SECONDS")]
    pub cycle: Option<u64>,
    /// Ring the terminal bell when a rollout or a run fails.
    #[arg(long)]
    pub bell: bool,
    /// Allow log panels (off by default: log lines may hold what a shared
    /// screen should not show).
    #[arg(long)]
    pub logs: bool,
}

/// Options every operation understands.
#[derive(Debug, Clone, Args)]
pub struct OpOpts {
    /// Print what would be run and sent, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask first (a change to prod, an approval, a restart asks; needed
    /// when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Stop once the change is made; do not follow CI and the rollout.
    #[arg(long)]
    pub no_watch: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ShipArgs {
    /// Services to ship (default: the registry's ship_all list, else every shippable one).
    pub service: Vec<String>,
    /// Ship a release candidate to qa (a prerelease, vX.Y.Z-rc.N). For a
    /// `delivery: dispatch` service qa is the default target.
    #[arg(long, conflicts_with_all = ["draft", "prod"])]
    pub qa: bool,
    /// Ship straight to prod (asks first). The default for
    /// `delivery: release`; a `delivery: dispatch` service ships to qa
    /// unless this is given.
    #[arg(long, conflicts_with = "draft")]
    pub prod: bool,
    /// Publish a draft release: build nothing, deploy nothing.
    #[arg(long)]
    pub draft: bool,
    /// Bump the patch version (the default).
    #[arg(long, conflicts_with_all = ["minor", "major"])]
    pub patch: bool,
    /// Bump the minor version.
    #[arg(long, conflicts_with = "major")]
    pub minor: bool,
    /// Bump the major version.
    #[arg(long)]
    pub major: bool,
    /// Skip the pre-ship tests (said in the output and the journal).
    #[arg(long)]
    pub skip_tests: bool,
    /// Release the latest existing tag instead of making a new version.
    #[arg(long)]
    pub no_version: bool,
    #[command(flatten)]
    pub op: OpOpts,
}

#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    pub service: String,
    /// The prerelease to promote (default: the newest one).
    pub tag: Option<String>,
    #[command(flatten)]
    pub op: OpOpts,
}

#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    pub service: String,
    /// The environment the waiting run deploys to (default: whichever waits).
    #[arg(long)]
    pub env: Option<String>,
    /// Reject the deployment instead of approving it.
    #[arg(long)]
    pub reject: bool,
    /// The review comment GitHub records (default: who approved, with hearth).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    #[command(flatten)]
    pub op: OpOpts,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    pub service: String,
    /// The environment to roll back.
    #[arg(long, default_value = "prod")]
    pub env: String,
    /// Fast rollback: the revision to return to (default: the previous one).
    #[arg(long, conflicts_with = "clean")]
    pub to_revision: Option<i64>,
    /// Clean record: the bad release stops being latest, the previous one
    /// becomes latest, and CI redeploys it.
    #[arg(long)]
    pub clean: bool,
    #[command(flatten)]
    pub op: OpOpts,
}

#[derive(Debug, Clone, Args)]
pub struct RestartArgs {
    pub service: String,
    /// The environment whose pods to restart.
    #[arg(long, default_value = "prod")]
    pub env: String,
    #[command(flatten)]
    pub op: OpOpts,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    pub service: String,
    /// The environment whose pods to read.
    #[arg(long, default_value = "prod")]
    pub env: String,
    /// Follow: keep printing, with pods that join during a rollout.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Lines per pod to start with.
    #[arg(long)]
    pub tail: Option<i64>,
    /// Only lines newer than this (`30s`, `5m`, `2h`).
    #[arg(long)]
    pub since: Option<String>,
    /// The container (default: the app container; `migrate` for the migration).
    #[arg(long, short = 'c')]
    pub container: Option<String>,
    /// Only lines matching this regular expression.
    #[arg(long)]
    pub grep: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Only this service's operations.
    pub service: Option<String>,
    /// How many of the newest to show.
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
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
    /// handful of demo services api, web, worker, billing, ledger, relay and docs).
    #[arg(long)]
    pub count: Option<usize>,
    /// Let a simulated teammate ship releases (qa, then prod; now and then a
    /// failing migration that gets rolled back) so the loop can be watched.
    #[arg(long)]
    pub autopilot: bool,
    /// 2: serve prod (namespace default) from a second Kubernetes API, the
    /// kubeconfig context hearth-sandbox-prod, as a team with a dev and a
    /// prod cluster has it. `POST $HEARTH_SANDBOX_URL/clusters/2/down`
    /// takes it down.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub clusters: u8,
    /// Start nothing: wait until the sandbox starting in --dir is ready (its
    /// env file written), print the env file's path and exit; exit 3 after
    /// --timeout. For scripts: `hearth sandbox --dir D & hearth sandbox --dir D --wait && . D/env`.
    #[arg(long, conflicts_with_all = ["count", "autopilot"])]
    pub wait: bool,
    /// With --wait: how long to wait, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, requires = "wait")]
    pub timeout: u64,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Services to show (default: all).
    pub service: Vec<String>,
    /// Print a JSON document instead of a table (the same as `-o json`).
    #[arg(long, conflicts_with = "output")]
    pub json: bool,
    /// Output format: table (default), wide (adds the namespace and the
    /// context, and never shortens the rollout's wording), json or yaml.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// Keep reading and print a line for every service x environment whose
    /// state changed (like `kubectl get -w`); Ctrl-C stops.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// With --watch: seconds between reads.
    #[arg(
        long,
        default_value_t = 2.0,
        value_name = "SECONDS",
        requires = "watch"
    )]
    pub interval: f64,
}

/// `-o` formats, kubectl's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
    Yaml,
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
    /// 2: prod on a second cluster (its own Kubernetes API and context).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub clusters: u8,
}
