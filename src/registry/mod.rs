//! The service registry: the model of `services.yaml`, its loading and
//! validation. Errors name the file, line, column and key path. Runs wherever
//! the registry is read (start-up of every mode); no other module parses YAML.

pub mod check;
mod error;
mod load;
pub mod tree;

pub use error::{Pos, Problem, ProblemKind, RegistryError};
pub use load::{
    from_str as load_str, load, BUILD_KEYS, DEFAULT_INPUT, DEFAULT_SMOKE_STATUS, DEFAULT_WORKFLOW,
    ENVIRONMENT_KEYS, SERVICE_KEYS, SETTINGS_KEY, SETTINGS_KEYS, SMOKE_KEYS,
};

use std::path::PathBuf;

use serde::Serialize;

/// Which kind of GitHub Release deploys to an environment (the seed's routing:
/// a release marked latest → prod, a prerelease → qa).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    Latest,
    Prerelease,
}

/// How a service reaches its environments (`delivery:`): the model decides
/// what ship, promote and rollback do and what should run where. See
/// `docs/delivery.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// The seed's model: a GitHub Release fires the release workflow, which
    /// builds and deploys (a prerelease to qa, a latest release to prod).
    #[default]
    Release,
    /// Seed 001's model: a build workflow makes the image; each environment
    /// is deployed by running its own workflow by hand (`workflow_dispatch`)
    /// with the image tag as an input.
    Dispatch,
    /// Seeds 003 and 004: a push starts the workflow that builds and
    /// deploys. A push to the branch deploys the environments whose
    /// workflow runs on it; an environment with `trigger: tag` is
    /// deployed by pushing a version tag (prod, behind an approval).
    Push,
    /// Seed 002's model: a pushed version tag builds the image; a commit of
    /// the tag into the environment's manifest in a GitOps repository
    /// deploys it, when Flux applies that commit.
    Gitops,
}

/// What starts the workflow that deploys an environment of a `delivery:
/// push` service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A push to the branch (`on: push: branches`).
    #[default]
    Branch,
    /// A pushed version tag (`on: push: tags`).
    Tag,
}

impl Delivery {
    /// Every model's name as the registry spells it, and whether hearth
    /// can ship with it yet.
    pub const NAMES: [(&'static str, bool); 4] = [
        ("release", true),
        ("dispatch", true),
        ("push", true),
        ("gitops", true),
    ];

    pub fn word(self) -> &'static str {
        match self {
            Delivery::Release => "release",
            Delivery::Dispatch => "dispatch",
            Delivery::Push => "push",
            Delivery::Gitops => "gitops",
        }
    }

    // The model's rules that the shared code asks about, kept here so that
    // no printer or command matches on the model itself.

    /// Whether a plain `hearth ship` goes to qa (prod then needs `--prod`).
    pub fn ships_to_qa_by_default(self) -> bool {
        matches!(self, Delivery::Dispatch | Delivery::Push | Delivery::Gitops)
    }

    /// Whether the model makes GitHub Releases (the RELEASE column has one
    /// to show).
    pub fn makes_releases(self) -> bool {
        self == Delivery::Release
    }

    /// How many of the newest runs a one-shot read (`status`) takes: a
    /// push or dispatch service's environments each need their workflow's
    /// newest successful run; the other models need the latest run only.
    pub fn runs_to_read(self) -> u32 {
        match self {
            Delivery::Push | Delivery::Dispatch => 20,
            _ => 1,
        }
    }

    /// What a fast rollback leaves the model saying, for its summary.
    pub fn after_fast_rollback(self) -> &'static str {
        match self {
            Delivery::Release => "GitHub still names the release it had",
            Delivery::Dispatch => "the next run of its deploy workflow sets the tag it is given",
            Delivery::Push => "the next push that runs its workflow deploys again",
            Delivery::Gitops => {
                "Flux puts the manifest's tag back at its next reconcile (within its interval)"
            }
        }
    }

    /// Whether a successful run of the service's CI deploys what it ran
    /// for: a GitOps build run only builds (Flux deploys), so its success
    /// says nothing about what serves.
    pub fn runs_deploy(self) -> bool {
        self != Delivery::Gitops
    }

    /// What the rollback dialog's fast kind does, and what undoes it.
    pub fn fast_rollback_words(self) -> &'static str {
        match self {
            Delivery::Gitops => {
                "fast: kubectl rollout undo; ⚠ Flux puts the manifest's tag back at its next reconcile"
            }
            _ => "fast: kubectl rollout undo semantics; GitHub keeps the bad release latest",
        }
    }

    /// Whether an automation reverts a fast rollback (Flux re-applies the
    /// manifest): the dialog offers the model's own rollback first.
    pub fn reverts_fast_rollback(self) -> bool {
        self == Delivery::Gitops
    }

    /// What the rollback dialog's second kind does, in a line.
    pub fn clean_rollback_words(self) -> &'static str {
        match self {
            Delivery::Release => {
                "clean: the bad release becomes a draft, the previous one latest, and CI redeploys it"
            }
            Delivery::Dispatch => {
                "clean: run the deploy workflow again with the tag it ran before"
            }
            Delivery::Push => {
                "clean: re-run the last good run (it builds and deploys its own commit again)"
            }
            Delivery::Gitops => {
                "clean: commit the previous tag into the manifest (a forward commit Flux applies)"
            }
        }
    }
}

/// A deployment target: a namespace on a kube context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Environment {
    /// `prod`, `qa`, ...
    pub name: String,
    /// The Kubernetes namespace; empty for an environment on a `host`.
    pub namespace: String,
    /// `delivery: dispatch`: a host outside Kubernetes (docker compose, as
    /// in seed 001) that the environment's workflow deploys to. What it runs
    /// is what its `version` endpoint reports; hearth has no cluster to read
    /// or act on there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Kube context; `None` means the current context (or `--context`).
    pub context: Option<String>,
    pub release: ReleaseKind,
    /// Theme colour name for this environment's accent (prod in red, ...).
    pub accent: Option<String>,
    /// `delivery: dispatch`: the workflow that deploys here, run by hand
    /// (`workflow_dispatch`), and the name of its image-tag input.
    pub workflow: Option<String>,
    pub input: Option<String>,
    /// What the environment's public endpoint says it runs (overrides the
    /// service's `version:`).
    pub version: Option<VersionEndpoint>,
    /// Read the Helm release history from Helm's release Secrets here
    /// (overrides the service's `helm_history:`). Reading Secrets is a
    /// strong right, so it is asked for, never assumed.
    pub helm_history: Option<bool>,
    /// `delivery: push`: what starts the workflow that deploys here.
    pub trigger: Option<Trigger>,
    /// `delivery: gitops`: the manifest in the GitOps repository that
    /// names the tag this environment runs.
    pub manifest: Option<Manifest>,
    /// `delivery: gitops`: the Flux `Kustomization` that applies it
    /// (namespace, name).
    pub kustomization: Option<(String, String)>,
}

/// Where an environment's image tag lives in the GitOps repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// The file, relative to the repository's root (`apps/qa/api.yaml`).
    pub file: String,
    pub at: ImageAt,
}

/// How the image line of a manifest is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageAt {
    /// A dot path to the image string (`spec.template.spec.containers[0].image`).
    Path(String),
    /// The line that carries Flux's image-automation setter marker
    /// `# {"$imagepolicy": "NAMESPACE:POLICY"}` (the whole image), or
    /// `…:POLICY:tag` (the tag alone).
    Setter(String),
}

/// The GitOps repository of a `delivery: gitops` service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GitopsRepo {
    /// A local checkout (resolved against the registry's folder)...
    pub dir: Option<PathBuf>,
    /// ...or a remote that hearth clones into its state directory.
    pub url: Option<String>,
    /// The branch Flux follows (default `main`).
    pub branch: String,
}

impl Environment {
    /// Whether the environment runs in a Kubernetes namespace (not on a `host`).
    pub fn on_cluster(&self) -> bool {
        self.host.is_none()
    }

    /// Where it runs, in words: `namespace qa` or `host edge-1`.
    pub fn place(&self) -> String {
        match &self.host {
            Some(h) => format!("host {h}"),
            None => format!("namespace {}", self.namespace),
        }
    }

    /// The seed's default environments: prod = `default` (latest), qa = `qa` (prerelease).
    pub fn defaults() -> Vec<Environment> {
        vec![
            Environment {
                name: "prod".into(),
                namespace: "default".into(),
                host: None,
                context: None,
                release: ReleaseKind::Latest,
                accent: Some("red".into()),
                workflow: None,
                input: None,
                version: None,
                helm_history: None,
                trigger: None,
                manifest: None,
                kustomization: None,
            },
            Environment {
                name: "qa".into(),
                namespace: "qa".into(),
                host: None,
                context: None,
                release: ReleaseKind::Prerelease,
                accent: Some("yellow".into()),
                workflow: None,
                input: None,
                version: None,
                helm_history: None,
                trigger: None,
                manifest: None,
                kustomization: None,
            },
        ]
    }
}

/// An endpoint that reports the version it serves, as
/// `{"status":"ok","version":"0.7.3"}` does: hearth reads it beside what the
/// cluster runs, so that a public endpoint that still serves the old version
/// (DNS on the old cluster, a stale CDN) is seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionEndpoint {
    /// May name `{env}`, `{namespace}` and `{host}`.
    pub url: String,
    /// Where the version is in the JSON answer, as a dot path
    /// (`version`, `build.version`); an answer that is not JSON is the
    /// version itself (trimmed).
    pub field: String,
}

/// The field a version endpoint reports in when the registry names none.
pub const DEFAULT_VERSION_FIELD: &str = "version";

impl Service {
    /// Whether hearth reads the Helm release history of `env` (its own
    /// `helm_history:`, else the service's; off unless asked).
    pub fn reads_helm_history(&self, env: &Environment) -> bool {
        env.helm_history.unwrap_or(self.helm_history)
    }

    /// The version endpoint of `env` (its own, else the service's), with
    /// `{env}` and `{namespace}` filled in: the URL and the field.
    pub fn version_endpoint<'a>(&'a self, env: &'a Environment) -> Option<(String, &'a str)> {
        let v = env.version.as_ref().or(self.version.as_ref())?;
        let url = v
            .url
            .replace("{env}", &env.name)
            .replace("{namespace}", &env.namespace)
            .replace("{host}", env.host.as_deref().unwrap_or(""));
        Some((url, v.field.as_str()))
    }
}

/// A smoke check run after a rollout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SmokeCheck {
    pub url: String,
    /// Expected HTTP status (default 200).
    pub status: u16,
    /// Text the body must contain.
    pub body: Option<String>,
}

/// One service of the registry, with defaults applied and paths resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    /// Absolute path: `directory` resolved against the registry file's folder.
    pub directory: PathBuf,
    /// Image repository without tag (`ghcr.io/katforge/api.katforge.com`).
    pub image: Option<String>,
    pub dockerfile: Option<String>,
    /// Deployment name; defaults to the service name.
    pub k8s_name: String,
    pub dev_host: Option<String>,
    pub pre_ship_cmd: Option<String>,
    pub shippable: bool,
    pub shippable_reason: Option<String>,
    /// `owner/name`; when `None`, derived later from the git remote of `directory`.
    pub repo: Option<String>,
    /// Release workflow file name (default `release.yml`).
    pub workflow: String,
    /// How the service is delivered (`delivery:`, default `release`).
    pub delivery: Delivery,
    /// `delivery: dispatch`: the workflow that builds the image
    /// (`build: { workflow: … }`); its run for a commit produces the tag
    /// `sha-<first 7 hex of the commit>`.
    pub build_workflow: Option<String>,
    /// Effective environments: the registry-wide ones with this service's overrides.
    pub environments: Vec<Environment>,
    pub smoke: Vec<SmokeCheck>,
    /// The version endpoint of every environment that names none itself.
    pub version: Option<VersionEndpoint>,
    /// Read the Helm release history of every environment from Helm's
    /// release Secrets (`helm_history: true`; an environment may say
    /// otherwise).
    pub helm_history: bool,
    /// When an environment counts as stale (`stale: { commits: 10, days:
    /// 7 }`): that many commits of the branch not running, or the oldest of
    /// them that many days old. `None`: never flagged (the count still shows).
    pub stale: Option<Stale>,
    /// `delivery: gitops`: the repository of manifests Flux applies.
    pub gitops: Option<GitopsRepo>,
}

/// A staleness threshold (seed 003's "warn when images are stale").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
pub struct Stale {
    pub commits: Option<u32>,
    pub days: Option<u32>,
}

impl Stale {
    /// Whether `commits` not running, the oldest committed at `oldest`
    /// (unix seconds), cross the threshold at `now`.
    pub fn crossed(&self, commits: u32, oldest: Option<i64>, now: i64) -> bool {
        if commits == 0 {
            return false;
        }
        let by_count = self.commits.is_some_and(|n| commits >= n);
        let by_age = match (self.days, oldest) {
            (Some(d), Some(t)) => now - t >= i64::from(d) * 86_400,
            _ => false,
        };
        by_count || by_age
    }
}

impl Service {
    /// This service's environment named `name` (after overrides).
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The environment a release of `kind` deploys to: the first one routed
    /// by that kind (`latest` → prod, `prerelease` → qa by default).
    pub fn environment_for(&self, kind: ReleaseKind) -> Option<&Environment> {
        self.environments.iter().find(|e| e.release == kind)
    }

    /// The workflow whose runs are this service's CI: the release workflow;
    /// `None` for `delivery: dispatch`, whose build and deploy workflows all
    /// count (the repository's runs).
    pub fn runs_workflow(&self) -> Option<&str> {
        match self.delivery {
            Delivery::Release => Some(&self.workflow),
            Delivery::Dispatch | Delivery::Push | Delivery::Gitops => None,
        }
    }

    /// Whether missing GitHub data is fine for this service: hearth does not
    /// ship it and the registry names no repository for it.
    pub fn github_optional(&self) -> bool {
        !self.shippable && self.repo.is_none()
    }

    /// A shippable service named `name` with the defaults a registry block
    /// of just `image: ghcr.io/acme/<name>` gets: for tests, benches and examples.
    pub fn example(name: &str) -> Service {
        Service {
            name: name.to_string(),
            directory: format!("/src/{name}").into(),
            image: Some(format!("ghcr.io/acme/{name}")),
            dockerfile: None,
            k8s_name: name.to_string(),
            dev_host: None,
            pre_ship_cmd: None,
            shippable: true,
            shippable_reason: None,
            repo: None,
            workflow: DEFAULT_WORKFLOW.into(),
            delivery: Delivery::Release,
            build_workflow: None,
            environments: Environment::defaults(),
            smoke: Vec::new(),
            version: None,
            helm_history: false,
            stale: None,
            gitops: None,
        }
    }
}

/// Registry-wide settings (the reserved top-level `hearth:` block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub github_owner: Option<String>,
    /// GitHub API base URL (GitHub Enterprise, the sandbox); `GITHUB_API_URL` wins.
    pub api_url: Option<String>,
    /// Services `hearth ship` ships with no argument; default: every shippable one.
    pub ship_all: Option<Vec<String>>,
    /// Registry-wide environments, in display order.
    pub environments: Vec<Environment>,
    /// What `hearth setup --ci` stores in each repository (`hearth.ci`).
    pub ci: CiSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            github_owner: None,
            api_url: None,
            ship_all: None,
            environments: Environment::defaults(),
            ci: CiSettings::default(),
        }
    }
}

/// The repository secrets CI reads (`hearth.ci.secrets`) and where the
/// registry token's value comes from (`hearth.ci.registry_token_env`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CiSettings {
    /// The secret holding the deploy kubeconfig (the seed's `K3S_KUBECONFIG`).
    pub kubeconfig_secret: String,
    /// Environments on several clusters: the kubeconfig secret of each
    /// kube context (`secrets: { kubeconfig: { CONTEXT: NAME, ... } }`),
    /// so that `hearth setup --ci --context C` for one cluster does not
    /// replace the other's.
    pub kubeconfig_per_context: Vec<(String, String)>,
    /// The secret holding the token CI pushes images and checks out
    /// siblings with (the seed's `KATFORGE_GITHUB_TOKEN`).
    pub registry_token_secret: String,
    /// The environment variable `hearth setup --ci` reads that token from
    /// (the seed's `GITHUB_KATFORGE_TOKEN`); never a flag.
    pub registry_token_env: String,
}

impl CiSettings {
    /// The kubeconfig secret of kube context `context` (the per-context
    /// name when the registry sets one, else the single name).
    pub fn kubeconfig_secret_for(&self, context: Option<&str>) -> &str {
        self.kubeconfig_per_context
            .iter()
            .find(|(c, _)| Some(c.as_str()) == context)
            .map_or(self.kubeconfig_secret.as_str(), |(_, n)| n.as_str())
    }
}

impl Default for CiSettings {
    fn default() -> Self {
        CiSettings {
            kubeconfig_secret: "K3S_KUBECONFIG".into(),
            kubeconfig_per_context: Vec::new(),
            registry_token_secret: "KATFORGE_GITHUB_TOKEN".into(),
            registry_token_env: "GITHUB_KATFORGE_TOKEN".into(),
        }
    }
}

/// A loaded, validated registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// The file it was loaded from.
    pub path: PathBuf,
    pub settings: Settings,
    /// Services in file order.
    pub services: Vec<Service>,
}

impl Registry {
    /// The service named `name`.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// What `hearth ship` with no service ships: the `ship_all` list when the
    /// settings give one (validated: every entry names a shippable service),
    /// otherwise every shippable service, in file order.
    pub fn ship_all(&self) -> Vec<&Service> {
        match &self.settings.ship_all {
            Some(names) => names.iter().filter_map(|n| self.service(n)).collect(),
            None => self.services.iter().filter(|s| s.shippable).collect(),
        }
    }

    /// Every environment name that any service uses, in display order.
    pub fn environment_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for env in self
            .settings
            .environments
            .iter()
            .chain(self.services.iter().flat_map(|s| s.environments.iter()))
        {
            if !names.contains(&env.name) {
                names.push(env.name.clone());
            }
        }
        names
    }
}
