//! The embedded sandbox: a Kubernetes API (`k8s`), a GitHub API (`gh`) with a
//! simulated CI (`ci`), local git repositories for the demo services
//! (`repos`) and a control API (`control`) with a request journal and faults
//! on demand. Everything binds to 127.0.0.1. Used by `hearth sandbox`,
//! `hearth demo` and the integration tests; runs as tokio tasks of its own.
//!
//! This crate does not depend on the hearth app: it is the world hearth
//! talks to, reached only over HTTP and git. Where both sides compute the
//! same thing (a pod's STATUS wording, a rollout's state), each computes it
//! independently on purpose, so that the tests catch a disagreement.

pub mod ci;
pub mod control;
pub mod faults;
pub mod gh;
pub mod gitops;
pub mod hosts;
pub mod journal;
pub mod k8s;
pub mod repos;
pub mod tls;

pub use faults::{Fault, Faults, ReviewerAnswer};
pub use journal::{Journal, JournalEntry};

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use k8s::Cluster;

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
    /// The namespace below prod it runs in: `qa`, or `dev` for a
    /// push-delivered service.
    pub qa_namespace: String,
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

    /// How the Deployment's rollout stands, judged the way `kubectl rollout
    /// status` judges it (the seed's CI runs it after `set image`, so a failed
    /// migration fails the deploy step): `Ok(true)` complete, `Ok(false)`
    /// still progressing, `Err(why)` failed (`ProgressDeadlineExceeded`) or
    /// not found. Targets that cannot tell keep this default, "complete",
    /// and the deploy step then does not wait.
    fn rollout_status(&self, _namespace: &str, _deployment: &str) -> Result<bool, String> {
        Ok(true)
    }
}

/// How to start the sandbox.
pub struct SandboxOptions {
    /// Folder to prepare: services.yaml, repos/, origins/, kubeconfig, env.
    pub dir: PathBuf,
    /// Speed factor for CI steps and rollouts (2 = twice as fast).
    pub speed: f64,
    /// `Some(n)`: `n` services named `svc-001...`; `None`: the default handful.
    pub count: Option<usize>,
    /// Where the CI deploy step sets images; default: the sandbox cluster.
    /// Tests put a recording fake here.
    pub deploy: Option<Arc<dyn DeployTarget>>,
    /// Shared faults; default: fresh ones.
    pub faults: Option<Arc<Faults>>,
    /// Kubernetes manifests (multi-document YAML) created at start, such as
    /// RBAC for a read-only user. Each ServiceAccount among them gets a
    /// token and a kubeconfig context `hearth-sandbox-NAME`.
    pub manifests: Vec<String>,
    /// `Some`: start as a restart of an earlier sandbox (see [`Restart`]).
    pub restart: Option<Restart>,
    /// 1, or 2: prod (namespace `default`) on a second Kubernetes API of
    /// its own, context `hearth-sandbox-prod` (seeds 001, 003 and 004).
    pub clusters: usize,
}

/// The kube context of the second cluster (`--clusters 2`), where prod runs.
pub const PROD_CONTEXT: &str = "hearth-sandbox-prod";

/// Where the CI deploy step sets images in a sandbox of two clusters: the
/// cluster that holds the namespace.
struct Routed {
    lower: Arc<Cluster>,
    prod: Arc<Cluster>,
}

impl Routed {
    fn of(&self, namespace: &str) -> &Arc<Cluster> {
        if self.prod.holds(namespace) {
            &self.prod
        } else {
            &self.lower
        }
    }
}

impl DeployTarget for Routed {
    fn set_image(&self, namespace: &str, deployment: &str, image: &str) -> Result<(), String> {
        self.of(namespace).set_image(namespace, deployment, image)
    }
    fn rollout_status(&self, namespace: &str, deployment: &str) -> Result<bool, String> {
        self.of(namespace).rollout_status(namespace, deployment)
    }
}

/// What a restarted sandbox keeps of the one before it, as a k3s server and
/// GitHub keep theirs across a restart: its three ports, its TLS certificate
/// and CA, and its GitHub tokens (the kubeconfig's admin token is fixed).
/// Everything else starts afresh. A client started against the earlier one
/// (its env file, its kubeconfig) can reconnect without being told.
#[derive(Clone)]
pub struct Restart {
    kube: std::net::SocketAddr,
    kube2: Option<std::net::SocketAddr>,
    github: std::net::SocketAddr,
    control: std::net::SocketAddr,
    tls: Arc<tls::Tls>,
    token: String,
    readonly_token: String,
}

impl std::fmt::Debug for Restart {
    // Hand-written: the tokens must not reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restart")
            .field("kube", &self.kube)
            .field("github", &self.github)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl SandboxOptions {
    /// Options for `dir` with the default services at normal speed.
    pub fn new(dir: impl Into<PathBuf>) -> SandboxOptions {
        SandboxOptions {
            dir: dir.into(),
            speed: 1.0,
            count: None,
            deploy: None,
            faults: None,
            manifests: Vec::new(),
            restart: None,
            clusters: 1,
        }
    }
}

/// A running sandbox. Dropping it asks the servers to stop; [`SandboxHandle::shutdown`]
/// also waits for them.
pub struct SandboxHandle {
    /// The prepared folder (absolute).
    pub dir: PathBuf,
    /// Base URL of the Kubernetes API (`https://127.0.0.1:PORT`).
    pub kube_url: String,
    /// The CA that signed the Kubernetes API's certificate, PEM.
    pub kube_ca_pem: String,
    /// The same CA, DER (a root certificate for Rust clients).
    pub kube_ca_der: Vec<u8>,
    /// Base URL of the GitHub API (`GITHUB_API_URL`).
    pub github_url: String,
    /// Base URL of the control API (`HEARTH_SANDBOX_URL`).
    pub control_url: String,
    /// The sandbox GitHub token (`GH_TOKEN`). Never log it.
    pub token: String,
    /// A read-only GitHub token (`HEARTH_SANDBOX_READONLY_TOKEN`): reads as
    /// `token` does, every write is 403. Never log it.
    pub readonly_token: String,
    /// `KEY=value` pairs of DIR/env, in order.
    pub env: Vec<(String, String)>,
    pub cluster: Arc<Cluster>,
    /// `--clusters 2`: the second cluster, which holds prod (`default`).
    pub prod_cluster: Option<Arc<Cluster>>,
    /// Its API's base URL.
    pub prod_kube_url: Option<String>,
    pub github: Arc<gh::GithubApi>,
    pub faults: Arc<Faults>,
    pub journal: Arc<Journal>,
    /// The demo services seeded into both APIs.
    pub services: Vec<DemoService>,
    git_ready: tokio::sync::watch::Receiver<bool>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    restart: Restart,
}

impl std::fmt::Debug for SandboxHandle {
    // Hand-written: the token must not reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("dir", &self.dir)
            .field("kube_url", &self.kube_url)
            .field("github_url", &self.github_url)
            .field("control_url", &self.control_url)
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// Wait until every service's origin and clone exist. Immediate for up
    /// to [`EAGER_REPOS`] services; larger sandboxes create them in the
    /// background. Errs when that failed.
    pub async fn git_ready(&self) -> anyhow::Result<()> {
        let mut rx = self.git_ready.clone();
        rx.wait_for(|ready| *ready)
            .await
            .map(|_| ())
            .map_err(|_| anyhow::anyhow!("creating the demo git repositories failed"))
    }

    /// A receiver that turns `true` once every git repository exists (for
    /// a waiter that must not borrow the handle).
    pub fn git_ready_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.git_ready.clone()
    }

    /// `DIR/services.yaml`.
    pub fn services_path(&self) -> PathBuf {
        self.dir.join("services.yaml")
    }

    /// `DIR/kubeconfig`.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// `DIR/env`.
    pub fn env_path(&self) -> PathBuf {
        self.dir.join("env")
    }

    /// The env file's lines (`export KEY=value`), as printed on start.
    pub fn env_lines(&self) -> Vec<String> {
        env_lines(&self.env)
    }

    /// Options for a sandbox in `dir` that comes back as this one restarted:
    /// same ports, certificate and tokens, fresh state. Stop this one first
    /// (its ports must be free).
    pub fn restart_options(&self, dir: impl Into<PathBuf>) -> SandboxOptions {
        SandboxOptions {
            restart: Some(self.restart.clone()),
            clusters: if self.prod_cluster.is_some() { 2 } else { 1 },
            ..SandboxOptions::new(dir)
        }
    }

    /// Stop the servers: open connections get a moment to finish, then are cut.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn env_lines(env: &[(String, String)]) -> Vec<String> {
    env.iter()
        .map(|(k, v)| format!("export {k}={}", shell_quote(v)))
        .collect()
}

/// Quote for `sh` only when needed, so plain paths and URLs stay readable.
fn shell_quote(v: &str) -> String {
    let plain = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:+=@,%".contains(c));
    if plain && !v.is_empty() {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// A fresh random token for the sandbox GitHub API.
fn new_token() -> String {
    let bytes: [u8; 20] = rand::random();
    format!("ghs_sandbox{}", hex::encode(bytes))
}

/// The sandbox registry: every demo service plus one non-shippable one.
fn registry_yaml(
    repos: &[repos::DemoRepo],
    github_url: &str,
    control_url: &str,
    default_set: bool,
    two_clusters: bool,
) -> String {
    let mut out = String::new();
    out.push_str("# hearth sandbox registry, written by `hearth sandbox`.\n");
    out.push_str("# Every service's repo is served by the sandbox GitHub API.\n");
    out.push_str("hearth:\n");
    out.push_str(&format!("  github_owner: {}\n", repos::OWNER));
    out.push_str(&format!("  api_url: {github_url}\n"));
    if default_set {
        let names: Vec<&str> = repos.iter().map(|r| r.service.name.as_str()).collect();
        out.push_str(&format!("  ship_all: [{}]\n", names.join(", ")));
    }
    if two_clusters {
        // Prod runs on its own cluster (`--clusters 2`).
        out.push_str(&format!(
            "  environments:\n    prod: {{ namespace: default, release: latest, context: {PROD_CONTEXT}, accent: red }}\n    qa: {{ namespace: qa, release: prerelease, accent: yellow }}\n"
        ));
    }
    for r in repos {
        let s = &r.service;
        let gitops_keys = gitops_yaml(&r.k8s_name);
        let delivery = match r.flavor {
            repos::WorkflowFlavor::Dispatch => "  delivery: dispatch\n  build: { workflow: build.yml }\n  environments:\n    qa: { workflow: deploy-qa.yml, input: image_tag }\n    prod: { workflow: deploy-prod.yml, input: image_tag }\n",
            // Seed 003: a push to main deploys dev; a version tag deploys
            // prod, after a reviewer approves.
            repos::WorkflowFlavor::Push => "  delivery: push\n  environments:\n    qa: false\n    dev: { namespace: dev, release: prerelease, workflow: dev.yml }\n    prod: { workflow: prod.yml, trigger: tag }\n  stale: { commits: 3, days: 14 }\n",
            // Seed 002: a version tag builds the image; the GitOps
            // repository says what runs and Flux applies it. qa's manifest
            // is found by Flux's setter marker, prod's by a YAML path.
            repos::WorkflowFlavor::Gitops => &gitops_keys,
            _ => "  workflow: release.yml\n",
        };
        // The demo's services name their version endpoint (what the public
        // URL says it serves); hundreds of generated ones do not.
        let version = if default_set {
            format!(
                "  version: {{ url: \"{control_url}/apps/{{namespace}}/{k8s}/version\", field: version }}\n",
                k8s = r.k8s_name
            )
        } else {
            String::new()
        };
        // A chart deploys it (seed 004): its Helm history is read.
        let helm = if k8s::helm_managed(&r.k8s_name) {
            "  helm_history: true\n"
        } else {
            ""
        };
        out.push_str(&format!(
            "{name}:\n  directory: repos/{name}\n  image: {image}\n  dockerfile: Dockerfile\n  k8s_name: {k8s}\n  pre_ship_cmd: ./test.sh\n  repo: {repo}\n{delivery}{version}{helm}  smoke:\n    - url: {control_url}/apps/{{namespace}}/{k8s}/api/ready\n      status: 200\n      body: ok\n",
            name = s.name,
            image = s.image,
            k8s = r.k8s_name,
            repo = s.repo,
        ));
    }
    out.push_str(&format!(
        "{name}:\n  directory: repos/{name}\n  shippable: false\n  shippable_reason: published by the docs team's own pipeline, not by hearth\n",
        name = repos::NON_SHIPPABLE
    ));
    out
}

/// The delivery keys of a `delivery: gitops` service of the sandbox.
fn gitops_yaml(name: &str) -> String {
    format!(
        "  delivery: gitops\n  build: {{ workflow: build.yml }}\n  gitops: {{ repo: gitops, branch: {branch} }}\n  environments:\n    qa:\n      manifest: {{ file: {qa}, setter: \"{policy}\" }}\n      kustomization: {ns}/apps-qa\n    prod:\n      manifest: {{ file: {prod}, image: \"spec.template.spec.containers[0].image\" }}\n      kustomization: {ns}/apps-prod\n",
        branch = gitops::BRANCH,
        qa = gitops::manifest_file("qa", name),
        prod = gitops::manifest_file("prod", name),
        policy = gitops::policy(name, "qa"),
        ns = k8s::flux::NAMESPACE,
    )
}

/// Write `contents` to `path` through a temporary file, so a reader polling
/// for the file never sees it half written.
fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Bind a free loopback port, or `addr` (a restart): the earlier sandbox
/// may still be letting go of it, so an address in use is retried for a while.
async fn bind(addr: Option<std::net::SocketAddr>) -> anyhow::Result<(TcpListener, String)> {
    let listener = match addr {
        None => TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port")?,
        Some(addr) => {
            let mut tries = 0;
            loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 50 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => return Err(e).with_context(|| format!("binding {addr} again")),
                }
            }
        }
    };
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

/// Prepare `opts.dir` and serve the Kubernetes, GitHub and control APIs on
/// three 127.0.0.1 ports. Needs a multi-threaded tokio runtime. DIR/env is
/// written last, so once it exists everything it names is ready.
pub async fn start(opts: SandboxOptions) -> anyhow::Result<SandboxHandle> {
    if !(opts.speed.is_finite() && opts.speed > 0.0) {
        bail!("--speed must be a positive number, not {}", opts.speed);
    }
    if opts.count == Some(0) {
        bail!("--count must be at least 1");
    }
    if !(1..=2).contains(&opts.clusters) {
        bail!("--clusters must be 1 or 2, not {}", opts.clusters);
    }
    fs::create_dir_all(&opts.dir).with_context(|| format!("creating {}", opts.dir.display()))?;
    let dir = opts
        .dir
        .canonicalize()
        .with_context(|| format!("resolving {}", opts.dir.display()))?;
    for sub in ["repos", "origins", "services.yaml", "env"] {
        if dir.join(sub).exists() {
            bail!(
                "{} already holds a sandbox ({sub} exists); remove it or pick another --dir",
                dir.display()
            );
        }
    }
    let demo = repos::demo_services(opts.count, &dir);
    let git_demo = demo.clone();
    let git_dir = dir.clone();
    let git_task = tokio::task::spawn_blocking(move || {
        let templates = repos::prepare(&git_dir, &git_demo)?;
        gitops::prepare(&git_dir, &git_demo)?;
        anyhow::Ok(templates)
    });

    let again = opts.restart.as_ref();
    let (kube_listener, kube_url) = bind(again.map(|r| r.kube)).await?;
    // The Kubernetes API speaks HTTPS (see `tls`).
    let kube_url = kube_url.replacen("http://", "https://", 1);
    let (gh_listener, github_url) = bind(again.map(|r| r.github)).await?;
    let (control_listener, control_url) = bind(again.map(|r| r.control)).await?;
    let kube2 = if opts.clusters == 2 {
        let (l, url) = bind(again.and_then(|r| r.kube2)).await?;
        Some((l, url.replacen("http://", "https://", 1)))
    } else {
        None
    };
    let kube2_addr = match &kube2 {
        Some((l, _)) => Some(l.local_addr()?),
        None => None,
    };
    let addrs = (
        kube_listener.local_addr()?,
        gh_listener.local_addr()?,
        control_listener.local_addr()?,
    );
    let templates = git_task.await.context("git setup")??;
    let histories = templates.histories();
    // A push-delivered service's lower environment runs its main's head
    // as dev's workflow built it.
    let mut demo = demo;
    for r in &mut demo {
        if r.flavor == repos::WorkflowFlavor::Push {
            if let Some((_, h)) = histories.iter().find(|(f, _)| *f == r.flavor) {
                r.service.qa_tag = format!("sha-{}", &h.head.0[..7]);
                // prod runs the newest version tag (no release candidates here).
                r.service.prod_tag = r.tags[3].clone();
            }
        }
    }

    // Creating a repository costs sixteen inodes, which some file
    // systems make slow; a large sandbox creates them in the background
    // (the GitHub API waits for them before any git read) so that it serves
    // at once. The default handful is created before DIR/env is written.
    let (git_tx, git_ready) = tokio::sync::watch::channel(false);
    if demo.len() <= EAGER_REPOS {
        let repos = demo.clone();
        tokio::task::spawn_blocking(move || templates.materialize(&repos))
            .await
            .context("git setup")??;
        let _ = git_tx.send(true);
    } else {
        let repos = demo.clone();
        tokio::task::spawn_blocking(move || match templates.materialize(&repos) {
            Ok(()) => {
                let _ = git_tx.send(true);
            }
            Err(err) => {
                // The sender drops: waiters stop waiting and git reads fail visibly.
                tracing::error!("creating the demo git repositories failed: {err:#}");
                eprintln!("hearth sandbox: creating the demo git repositories failed: {err:#}");
            }
        });
    }

    let journal = Arc::new(Journal::default());
    let faults = opts.faults.unwrap_or_default();
    let services: Vec<DemoService> = demo.iter().map(|r| r.service.clone()).collect();
    // Two clusters: the first holds every namespace but prod's
    // Deployments, the second prod's.
    let (cluster, prod_cluster) = if kube2.is_some() {
        let lower: Vec<String> = services
            .iter()
            .map(|s| s.qa_namespace.clone())
            .chain(["qa".to_string()])
            .collect();
        let prod = Cluster::holding(
            &services,
            opts.speed,
            faults.clone(),
            journal.clone(),
            Some(vec!["default".into()]),
        );
        let first = Cluster::holding(
            &services,
            opts.speed,
            faults.clone(),
            journal.clone(),
            Some(lower),
        );
        (first, Some(prod))
    } else {
        let c = Cluster::new(&services, opts.speed, faults.clone(), journal.clone());
        (c, None)
    };
    // Where images are set: the cluster that holds the namespace.
    let clusters: Arc<dyn DeployTarget> = match &prod_cluster {
        Some(prod) => Arc::new(Routed {
            lower: cluster.clone(),
            prod: prod.clone(),
        }),
        None => cluster.clone(),
    };
    // The CI's deploy step (tests put a recording fake here).
    let deploy: Arc<dyn DeployTarget> = opts.deploy.unwrap_or_else(|| clusters.clone());
    // The simulated Flux applies to the cluster that holds each namespace
    // (never to a test's fake target).
    if gitops::bare(&dir).exists() {
        // With two clusters each runs its own Flux: prod's applies prod's
        // manifests, the first cluster's the rest.
        let all = gitops::kustomizations();
        let (prod_ks, lower_ks): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|(name, _)| prod_cluster.is_some() && name == "apps-prod");
        for (c, kustomizations) in [(Some(&cluster), lower_ks), (prod_cluster.as_ref(), prod_ks)] {
            let Some(c) = c.filter(|_| !kustomizations.is_empty()) else {
                continue;
            };
            c.seed_flux(&k8s::flux::FluxSeed {
                url: format!("file://{}", gitops::bare(&dir).display()),
                branch: gitops::BRANCH.into(),
                kustomizations,
            });
            k8s::flux::spawn(c, clusters.clone());
        }
    }
    let (token, readonly_token) = match again {
        Some(r) => (r.token.clone(), r.readonly_token.clone()),
        None => (new_token(), new_token()),
    };
    let hosts = Arc::new(hosts::Hosts::default());
    let github = gh::GithubApi::new(
        github_url.clone(),
        token.clone(),
        opts.speed,
        &demo,
        &histories,
        gh::GithubDeps {
            journal: journal.clone(),
            faults: faults.clone(),
            deploy,
            hosts: hosts.clone(),
            git_ready: git_ready.clone(),
            readonly_token: readonly_token.clone(),
        },
    );
    let control = control::Control {
        journal: journal.clone(),
        faults: faults.clone(),
        cluster: cluster.clone(),
        prod_cluster: prod_cluster.clone(),
        hosts: hosts.clone(),
        kube_url: kube_url.clone(),
        github_url: github_url.clone(),
        dir: dir.clone(),
    };

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let certs = match &opts.restart {
        Some(r) => r.tls.clone(),
        None => Arc::new(tls::Tls::generate().context("generating the sandbox TLS certificates")?),
    };
    cluster.set_ca(&certs.ca_pem);
    if let Some(p) = &prod_cluster {
        p.set_ca(&certs.ca_pem);
    }
    let kube_listener = tls::TlsListener::new(kube_listener, &certs, stop_rx.clone())
        .context("the Kubernetes API listener")?;
    fn serve<L: axum::serve::Listener>(
        stop_rx: &tokio::sync::watch::Receiver<bool>,
        listener: L,
        router: axum::Router,
        name: &'static str,
    ) -> JoinHandle<()>
    where
        L::Addr: std::fmt::Debug,
    {
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("sandbox {name} API stopped: {err}");
            }
        })
    }
    let mut tasks = vec![
        serve(
            &stop_rx,
            kube_listener,
            k8s::router(cluster.clone()),
            "kube",
        ),
        serve(&stop_rx, gh_listener, gh::router(github.clone()), "github"),
        serve(
            &stop_rx,
            control_listener,
            control::router(control),
            "control",
        ),
    ];

    let mut prod_kube_url = None;
    if let (Some((listener, url)), Some(prod)) = (kube2, &prod_cluster) {
        let listener = tls::TlsListener::with_switch(
            listener,
            &certs,
            stop_rx.clone(),
            Some(prod.down_flag()),
        )
        .context("the second Kubernetes API listener")?;
        tasks.push(serve(
            &stop_rx,
            listener,
            k8s::router(prod.clone()),
            "kube (prod)",
        ));
        prod_kube_url = Some(url);
    }
    tasks.push(tokio::spawn(gh::watch_pushes(
        github.clone(),
        repos::push_events(&dir),
        stop_rx.clone(),
    )));

    let mut accounts = Vec::new();
    for manifest in &opts.manifests {
        for (ns, name) in cluster.apply_manifest(manifest)? {
            let token = cluster.service_account_token(&ns, &name)?;
            accounts.push((name, ns, token));
        }
    }
    let mut kube_clusters = vec![("hearth-sandbox", kube_url.as_str())];
    if let Some(url) = &prod_kube_url {
        kube_clusters.push((PROD_CONTEXT, url.as_str()));
    }
    write_atomic(
        &dir.join("kubeconfig"),
        &k8s::kubeconfig_yaml_for(&kube_clusters, &certs.ca_pem, &accounts),
    )?;
    write_atomic(
        &dir.join("services.yaml"),
        &registry_yaml(
            &demo,
            &github_url,
            &control_url,
            opts.count.is_none(),
            prod_kube_url.is_some(),
        ),
    )?;
    let path_string = |p: PathBuf| p.to_string_lossy().into_owned();
    let env = vec![
        (
            "KUBECONFIG".to_string(),
            path_string(dir.join("kubeconfig")),
        ),
        ("GITHUB_API_URL".to_string(), github_url.clone()),
        ("GH_TOKEN".to_string(), token.clone()),
        (
            "HEARTH_SERVICES".to_string(),
            path_string(dir.join("services.yaml")),
        ),
        ("HEARTH_SANDBOX_URL".to_string(), control_url.clone()),
        (
            "HEARTH_SANDBOX_READONLY_TOKEN".to_string(),
            readonly_token.clone(),
        ),
        // The seed's registry token (ghcr push, sibling checkouts), which
        // `hearth setup --ci` stores as the KATFORGE_GITHUB_TOKEN secret.
        // The sandbox has no registry: any value does.
        (
            "GITHUB_KATFORGE_TOKEN".to_string(),
            format!("ghcr-sandbox-{}", hex::encode(rand::random::<[u8; 12]>())),
        ),
    ];
    let mut env_text = format!(
        "# hearth sandbox in {dir}: source it with  set -a; . {dir}/env; set +a\n\
         # HEARTH_SERVICES below replaces ./services.yaml in the shell that sources\n\
         # it (hearth's header shows which registry it reads); `unset HEARTH_SERVICES`\n\
         # to use your own registry again.\n",
        dir = dir.display()
    );
    env_text.push_str(&env_lines(&env).join("\n"));
    env_text.push('\n');
    write_atomic(&dir.join("env"), &env_text)?;

    let restart = Restart {
        kube: addrs.0,
        kube2: kube2_addr,
        github: addrs.1,
        control: addrs.2,
        tls: certs.clone(),
        token: token.clone(),
        readonly_token: readonly_token.clone(),
    };
    Ok(SandboxHandle {
        dir,
        kube_url,
        kube_ca_pem: certs.ca_pem.clone(),
        kube_ca_der: certs.ca_der.clone(),
        github_url,
        control_url,
        token,
        readonly_token,
        env,
        cluster,
        prod_cluster,
        prod_kube_url,
        github,
        faults,
        journal,
        services,
        git_ready,
        stop,
        tasks,
        restart,
    })
}

/// Up to this many services, every git repository exists before `start` returns.
pub const EAGER_REPOS: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("/tmp/sb/kubeconfig"), "/tmp/sb/kubeconfig");
        assert_eq!(shell_quote("http://127.0.0.1:80"), "http://127.0.0.1:80");
        assert_eq!(shell_quote("/tmp/my sb"), "'/tmp/my sb'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn registry_lists_every_service_and_the_non_shippable_one() {
        let repos = repos::demo_services(None, Path::new("/sb"));
        let yaml = registry_yaml(
            &repos,
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            true,
            false,
        );
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(doc["hearth"]["ship_all"].as_sequence().unwrap().len(), 7);
        // relay ships on push: dev on main, prod on a version tag.
        assert_eq!(doc["relay"]["delivery"].as_str(), Some("push"));
        assert_eq!(
            doc["relay"]["environments"]["prod"]["trigger"].as_str(),
            Some("tag")
        );
        assert_eq!(doc["worker"]["repo"].as_str(), Some("hearth-demo/worker"));
        // ledger ships by dispatch, with a workflow per environment.
        assert_eq!(doc["ledger"]["delivery"].as_str(), Some("dispatch"));
        assert_eq!(
            doc["ledger"]["build"]["workflow"].as_str(),
            Some("build.yml")
        );
        assert_eq!(
            doc["ledger"]["environments"]["prod"]["workflow"].as_str(),
            Some("deploy-prod.yml")
        );
        assert!(doc["ledger"].get("workflow").is_none());
        assert_eq!(doc["docs"]["shippable"].as_bool(), Some(false));
        let many = repos::demo_services(Some(3), Path::new("/sb"));
        let yaml = registry_yaml(
            &many,
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            false,
            true,
        );
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert!(doc["hearth"].get("ship_all").is_none());
        assert_eq!(
            doc["hearth"]["environments"]["prod"]["context"].as_str(),
            Some(PROD_CONTEXT)
        );
        assert_eq!(doc["svc-003"]["k8s_name"].as_str(), Some("svc-003"));
    }
}
