//! The embedded sandbox: a Kubernetes API (`k8s`), a GitHub API (`gh`) with a
//! simulated CI (`ci`), local git repositories for the demo services
//! (`repos`) and a control API (`control`) with a request journal and faults
//! on demand. Everything binds to 127.0.0.1. Used by `hearth sandbox`,
//! `hearth demo` and the integration tests; runs as tokio tasks of its own.

pub mod ci;
pub mod control;
pub mod faults;
pub mod gh;
pub mod journal;
pub mod k8s;
pub mod repos;

pub use faults::{Fault, Faults};
pub use journal::{Journal, JournalEntry};

/// A demo service as the sandbox seeds it into both APIs and into git.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoService {
    /// Service name in services.yaml; also the Deployment name.
    pub name: String,
    /// Image repository without tag, e.g. `ghcr.io/hearth-demo/api`.
    pub image: String,
    /// `owner/name` of its sandbox GitHub repository.
    pub repo: String,
    /// Tag running in `default` (prod) at start: the latest release.
    pub prod_tag: String,
    /// Tag running in `qa` at start: the newest release candidate.
    pub qa_tag: String,
    /// Replicas of its Deployment in each namespace.
    pub replicas: i32,
}

/// What the simulated CI's deploy step needs from the Kubernetes side.
/// Implemented by the sandbox Kubernetes API's store.
pub trait DeployTarget: Send + Sync + 'static {
    /// Set `image` (a full reference, `repo:tag`) on every container and init
    /// container of Deployment `deployment` in `namespace` whose image
    /// repository matches, exactly as `kubectl set image` would; the
    /// deployment controller then rolls it out.
    fn set_image(&self, namespace: &str, deployment: &str, image: &str) -> Result<(), String>;
}

/// `hearth sandbox`: prepare `args.dir` and serve until interrupted.
pub fn run_cli(
    _global: &crate::cli::GlobalOpts,
    _args: &crate::cli::SandboxArgs,
) -> anyhow::Result<std::process::ExitCode> {
    anyhow::bail!("hearth sandbox: under construction")
}
