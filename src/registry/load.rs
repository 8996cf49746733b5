//! Loading and validating services.yaml: reads the file into a positioned YAML
//! tree, checks every key and value against the registry's shape, applies the
//! defaults and returns a `Registry` — or every problem found, each located.
//! Runs on the caller's thread at start-up of every mode and in `hearth check`.

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use super::error::{suggest, Problem, ProblemKind, RegistryError};
use super::tree::{self, Node, Pos, Value};
use super::{
    Delivery, Environment, GitopsRepo, ImageAt, Manifest, Registry, ReleaseKind, Service, Settings,
    SmokeCheck, Stale, Trigger, VersionEndpoint, DEFAULT_VERSION_FIELD,
};
use crate::model::text;

/// Why a value holding a control character is refused.
const CONTROL_CHARACTER: &str = "holds a control character (an escape sequence?); \
     registry values are plain text: remove it";

/// A key or value that could act on a terminal: control characters other
/// than a line break or tab (which block scalars and commands hold).
fn hostile(s: &str) -> bool {
    text::is_hostile(&s.replace(['\n', '\t'], ""))
}

/// The reserved top-level key holding registry-wide settings.
pub const SETTINGS_KEY: &str = "hearth";
/// Workflow file used when a service names none.
pub const DEFAULT_WORKFLOW: &str = "release.yml";
/// Smoke check status expected when a check names none.
pub const DEFAULT_SMOKE_STATUS: u16 = 200;

/// Keys of a service block: the seed's, then hearth's additions.
pub const SERVICE_KEYS: &[&str] = &[
    "directory",
    "image",
    "dockerfile",
    "k8s_name",
    "dev_host",
    "pre_ship_cmd",
    "shippable",
    "shippable_reason",
    "repo",
    "workflow",
    "environments",
    "smoke",
    "delivery",
    "build",
    "version",
    "helm_history",
    "stale",
    "gitops",
];
/// Keys of the `hearth:` settings block.
pub const SETTINGS_KEYS: &[&str] = &["github_owner", "api_url", "ship_all", "environments", "ci"];
/// Keys of the `hearth.ci` block.
pub const CI_KEYS: &[&str] = &["secrets", "registry_token_env"];
/// Keys of `hearth.ci.secrets`.
pub const CI_SECRET_KEYS: &[&str] = &["kubeconfig", "registry_token"];
/// Keys of one environment.
pub const ENVIRONMENT_KEYS: &[&str] = &[
    "namespace",
    "host",
    "context",
    "release",
    "accent",
    "workflow",
    "input",
    "version",
    "helm_history",
    "trigger",
    "manifest",
    "kustomization",
];
/// Keys of a service's `gitops:` block.
pub const GITOPS_KEYS: &[&str] = &["repo", "branch"];
/// Keys of an environment's `manifest:` (`delivery: gitops`).
pub const MANIFEST_KEYS: &[&str] = &["file", "image", "setter"];
/// Keys of a `stale:` threshold.
pub const STALE_KEYS: &[&str] = &["commits", "days"];
/// Keys of a `version:` endpoint.
pub const VERSION_KEYS: &[&str] = &["url", "field"];
/// Keys of a service's `build:` block (`delivery: dispatch`).
pub const BUILD_KEYS: &[&str] = &["workflow"];
/// The image-tag input of a dispatch workflow when the registry names none.
pub const DEFAULT_INPUT: &str = "image_tag";
/// Keys of one smoke check.
pub const SMOKE_KEYS: &[&str] = &["url", "status", "body"];

/// Load and validate the registry at `path`. Relative `directory` values are
/// resolved against the folder that holds the file.
pub fn load(path: &Path) -> Result<Registry, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|e| RegistryError {
        file: path.to_path_buf(),
        problems: vec![Problem {
            pos: None,
            path: String::new(),
            kind: ProblemKind::Io(if e.kind() == std::io::ErrorKind::NotFound {
                // The first thing a newcomer meets: say what to do.
                format!(
                    "{e}; pass --services FILE or set HEARTH_SERVICES, \
                     or try `hearth demo` (no cluster or token needed)"
                )
            } else {
                e.to_string()
            }),
        }],
    })?;
    let base = registry_dir(path);
    from_str(&text, path, &base)
}

/// Validate registry `text`. `file` names it in errors and in the result;
/// `base` is the folder relative `directory` values are resolved against.
pub fn from_str(text: &str, file: &Path, base: &Path) -> Result<Registry, RegistryError> {
    // Paths hold keys and messages quote values: inert on the way out.
    let fail = |problems: Vec<Problem>| RegistryError {
        file: file.to_path_buf(),
        problems: problems
            .into_iter()
            .map(|mut p| {
                p.path = text::own_line(p.path);
                if let ProblemKind::Invalid(m) | ProblemKind::Syntax(m) = &mut p.kind {
                    *m = text::own_line(std::mem::take(m));
                }
                p
            })
            .collect(),
    };
    let root = match tree::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(fail(vec![Problem {
                pos: Some(Pos { line: 1, col: 1 }),
                path: String::new(),
                kind: ProblemKind::NoServices,
            }]))
        }
        Err(e) => {
            return Err(fail(vec![Problem {
                pos: Some(e.pos),
                path: e.path,
                kind: ProblemKind::Syntax(e.message),
            }]))
        }
    };
    let mut v = Validator::default();
    let registry = v.registry(&root, file, base);
    if v.problems.is_empty() {
        Ok(registry)
    } else {
        // File order reads best; the validator visits blocks in dependency order.
        v.problems.sort_by_key(|p| p.pos.map(|p| (p.line, p.col)));
        Err(fail(v.problems))
    }
}

/// The absolute folder holding the registry file.
fn registry_dir(path: &Path) -> PathBuf {
    let parent = path.parent().unwrap_or(Path::new(""));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    if parent.is_absolute() {
        normalize(parent)
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        normalize(&cwd.join(parent))
    }
}

/// Resolve a `directory` value: `~/` is the home folder, relative paths hang
/// off `base`, and `.`/`..` are folded so the summary shows a clean path.
fn resolve_dir(base: &Path, raw: &str) -> PathBuf {
    let home = || dirs::home_dir().unwrap_or_else(|| PathBuf::from("/"));
    let p = if raw == "~" {
        home()
    } else if let Some(rest) = raw.strip_prefix("~/") {
        home().join(rest)
    } else {
        PathBuf::from(raw)
    };
    if p.is_absolute() {
        normalize(&p)
    } else {
        normalize(&base.join(p))
    }
}

fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// One key of a map, with the nodes for positions.
struct Entry<'n> {
    key: String,
    key_node: &'n Node,
    value: &'n Node,
}

/// A partial environment as written (globally or as a per-service override).
#[derive(Default)]
struct EnvPatch {
    namespace: Option<String>,
    /// A host outside Kubernetes (`delivery: dispatch` only).
    host: Option<String>,
    context: Option<String>,
    release: Option<ReleaseKind>,
    accent: Option<String>,
    workflow: Option<String>,
    input: Option<String>,
    version: Option<VersionEndpoint>,
    helm_history: Option<bool>,
    trigger: Option<Trigger>,
    manifest: Option<Manifest>,
    kustomization: Option<(String, String)>,
    /// False when a key had an error, so no follow-up "missing" error is added.
    clean: bool,
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
    /// Where each environment's `host:` was written (its key path), for
    /// the checks that need the service's delivery model first.
    host_positions: Vec<(String, Pos)>,
}

impl Validator {
    fn push(&mut self, pos: Pos, path: impl Into<String>, kind: ProblemKind) {
        self.problems.push(Problem {
            pos: Some(pos),
            path: path.into(),
            kind,
        });
    }

    fn wrong_type(&mut self, node: &Node, path: &str, expected: &'static str) {
        self.push(
            node.pos,
            path,
            ProblemKind::WrongType {
                expected,
                found: node.type_name(),
            },
        );
    }

    /// The entries of a map node, with YAML merge keys (`<<: *base`) expanded
    /// and duplicate keys reported. Null reads as an empty map; any other
    /// non-map is a type error (and no entries).
    fn entries<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        expected: &'static str,
    ) -> Vec<Entry<'n>> {
        let pairs = match &node.value {
            Value::Map(pairs) => pairs,
            Value::Null => return Vec::new(),
            _ => {
                self.wrong_type(node, path, expected);
                return Vec::new();
            }
        };
        let mut out: Vec<Entry<'n>> = Vec::new();
        let mut merged: Vec<Entry<'n>> = Vec::new();
        for (k, val) in pairs {
            if let Some(bad) = k.as_text().filter(|t| hostile(t)) {
                self.push(
                    k.pos,
                    join(path, &text::line(&bad)),
                    ProblemKind::Invalid(CONTROL_CHARACTER.into()),
                );
                continue;
            }
            let Some(key) = k.as_text() else {
                self.push(
                    k.pos,
                    path,
                    ProblemKind::Invalid(format!(
                        "keys must be plain names, found {}",
                        k.type_name()
                    )),
                );
                continue;
            };
            if key == "<<" {
                let sources: Vec<&Node> = match &val.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![val],
                };
                for src in sources {
                    merged.extend(self.entries(src, path, "a map to merge"));
                }
                continue;
            }
            if let Some(first) = out.iter().find(|e| e.key == key) {
                let first_line = first.key_node.pos.line;
                self.push(
                    k.pos,
                    join(path, &key),
                    ProblemKind::DuplicateKey { first_line },
                );
                continue;
            }
            out.push(Entry {
                key,
                key_node: k,
                value: val,
            });
        }
        // Explicit keys win over merged ones, as YAML's merge key specifies.
        for m in merged {
            if !out.iter().any(|e| e.key == m.key) {
                out.push(m);
            }
        }
        out
    }

    fn unknown_key(&mut self, e: &Entry, path: &str, allowed: &[&'static str]) {
        self.push(
            e.key_node.pos,
            join(path, &e.key),
            ProblemKind::UnknownKey {
                suggestion: suggest(&e.key, allowed.iter().copied()),
                expected: allowed.to_vec(),
            },
        );
    }

    /// A string value; null is "not given".
    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match node.value {
            Value::Null => None,
            _ => match node.as_text() {
                Some(s) if hostile(&s) => {
                    self.push(
                        node.pos,
                        path,
                        ProblemKind::Invalid(CONTROL_CHARACTER.into()),
                    );
                    None
                }
                Some(s) => Some(s),
                None => {
                    self.wrong_type(node, path, "a string");
                    None
                }
            },
        }
    }

    /// A non-empty string without surrounding whitespace.
    fn word(&mut self, node: &Node, path: &str, what: &str) -> Option<String> {
        let s = self.string(node, path)?;
        if s.trim().is_empty() {
            self.push(
                node.pos,
                path,
                ProblemKind::Invalid(format!("{what} must not be empty")),
            );
            return None;
        }
        Some(s.trim().to_string())
    }

    fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            Value::Null => None,
            Value::Str(ref s)
                if matches!(
                    s.to_lowercase().as_str(),
                    "yes" | "no" | "on" | "off" | "y" | "n"
                ) =>
            {
                let meant = matches!(s.to_lowercase().as_str(), "yes" | "on" | "y");
                self.push(
                    node.pos,
                    path,
                    ProblemKind::Invalid(format!(
                        "expected true or false, found the string `{s}` (YAML 1.2 reads it as text); write `{meant}`"
                    )),
                );
                None
            }
            _ => {
                self.wrong_type(node, path, "true or false");
                None
            }
        }
    }

    fn registry(&mut self, root: &Node, file: &Path, base: &Path) -> Registry {
        let top = self.entries(root, "", "a map of service name → settings");
        let settings_entry = top.iter().find(|e| e.key == SETTINGS_KEY);
        let (mut settings, ship_all_nodes) = match settings_entry {
            Some(e) => self.settings(e.value),
            None => (Settings::default(), Vec::new()),
        };

        let mut services = Vec::new();
        for e in top.iter().filter(|e| e.key != SETTINGS_KEY) {
            if self.misspelt_settings_block(e) || self.stray_service_key(e) {
                continue;
            }
            services.push(self.service(e, base, &settings.environments));
        }
        if services.is_empty() && matches!(root.value, Value::Map(_)) {
            self.push(root.pos, "", ProblemKind::NoServices);
        }

        self.check_ship_all(&ship_all_nodes, &services, &mut settings);
        self.check_k8s_names(&top, &services);

        Registry {
            path: file.to_path_buf(),
            settings,
            services,
        }
    }

    /// A top-level block named like `hearth` holding only settings keys is a
    /// typo of the settings block, not a service: say so instead of listing
    /// every settings key as unknown to a service.
    fn misspelt_settings_block(&mut self, e: &Entry) -> bool {
        let Value::Map(pairs) = &e.value.value else {
            return false;
        };
        let only_settings = !pairs.is_empty()
            && pairs.iter().all(|(k, _)| {
                k.as_text()
                    .is_some_and(|k| SETTINGS_KEYS.contains(&k.as_str()) && k != "environments")
            });
        if only_settings && suggest(&e.key, [SETTINGS_KEY]).is_some() {
            self.push(
                e.key_node.pos,
                e.key.clone(),
                ProblemKind::UnknownKey {
                    suggestion: Some(SETTINGS_KEY.into()),
                    expected: vec![SETTINGS_KEY],
                },
            );
            return true;
        }
        false
    }

    /// `image: x` at the top level is a service key that lost its indent, not
    /// a service called `image`.
    fn stray_service_key(&mut self, e: &Entry) -> bool {
        if !SERVICE_KEYS.contains(&e.key.as_str()) || matches!(e.value.value, Value::Map(_)) {
            return false;
        }
        self.push(
            e.key_node.pos,
            e.key.clone(),
            ProblemKind::Invalid(format!(
                "`{}` is a service setting, not a service; indent it under the service it belongs to",
                e.key
            )),
        );
        true
    }

    /// The `hearth:` block. Returns the settings and the `ship_all` entries
    /// (checked once the services are known).
    fn settings<'n>(&mut self, node: &'n Node) -> (Settings, Vec<&'n Node>) {
        let path = SETTINGS_KEY;
        let mut settings = Settings::default();
        let mut ship_all = Vec::new();
        for e in self.entries(node, path, "a map of settings") {
            let p = join(path, &e.key);
            match e.key.as_str() {
                "github_owner" => {
                    if let Some(owner) = self.word(e.value, &p, "github_owner") {
                        if valid_owner(&owner) {
                            settings.github_owner = Some(owner);
                        } else {
                            self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{owner}` is not a GitHub user or organisation name (letters, digits and single hyphens)"
                            )));
                        }
                    }
                }
                "api_url" => {
                    if let Some(u) = self.word(e.value, &p, "api_url") {
                        match url::Url::parse(&u) {
                            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                                settings.api_url = Some(u.trim_end_matches('/').to_string());
                            }
                            _ => self.push(
                                e.value.pos,
                                p,
                                ProblemKind::Invalid(format!(
                                    "`{u}` is not an http(s) URL (for example https://github.example.com/api/v3)"
                                )),
                            ),
                        }
                    }
                }
                "ship_all" => match &e.value.value {
                    Value::Seq(items) => {
                        ship_all = items.iter().collect();
                        settings.ship_all = Some(Vec::new());
                    }
                    Value::Null => {}
                    _ => self.wrong_type(e.value, &p, "a list of service names"),
                },
                "environments" => {
                    settings.environments = self.global_environments(e.value, &p);
                }
                "ci" => self.ci(e.value, &p, &mut settings.ci),
                _ => self.unknown_key(&e, path, SETTINGS_KEYS),
            }
        }
        (settings, ship_all)
    }

    /// `hearth.ci`: secret names (GitHub's rules) and the environment
    /// variable the registry token comes from.
    fn ci(&mut self, node: &Node, path: &str, ci: &mut super::CiSettings) {
        for e in self.entries(node, path, "a map (secrets, registry_token_env)") {
            let p = join(path, &e.key);
            match e.key.as_str() {
                "secrets" => {
                    for s in self.entries(e.value, &p, "a map (kubeconfig, registry_token)") {
                        let sp = join(&p, &s.key);
                        if s.key == "kubeconfig" && matches!(s.value.value, Value::Map(_)) {
                            // One secret per kube context (two clusters).
                            for c in
                                self.entries(s.value, &sp, "a map of kube context → secret name")
                            {
                                let cp = join(&sp, &c.key);
                                let Some(name) = self.word(c.value, &cp, "a secret name") else {
                                    continue;
                                };
                                match secret_name_problem(&name) {
                                    None => ci.kubeconfig_per_context.push((c.key.clone(), name)),
                                    Some(why) => {
                                        self.push(c.value.pos, cp, ProblemKind::Invalid(why))
                                    }
                                }
                            }
                            continue;
                        }
                        let slot = match s.key.as_str() {
                            "kubeconfig" => &mut ci.kubeconfig_secret,
                            "registry_token" => &mut ci.registry_token_secret,
                            _ => {
                                self.unknown_key(&s, &p, CI_SECRET_KEYS);
                                continue;
                            }
                        };
                        let Some(name) = self.word(s.value, &sp, "a secret name") else {
                            continue;
                        };
                        match secret_name_problem(&name) {
                            None => *slot = name,
                            Some(why) => self.push(s.value.pos, sp, ProblemKind::Invalid(why)),
                        }
                    }
                }
                "registry_token_env" => {
                    if let Some(var) = self.word(e.value, &p, "an environment variable name") {
                        let ok = var
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                        if ok {
                            ci.registry_token_env = var;
                        } else {
                            self.push(
                                e.value.pos,
                                p,
                                ProblemKind::Invalid(format!(
                                    "`{var}` is not an environment variable name (letters, digits and `_`)"
                                )),
                            );
                        }
                    }
                }
                _ => self.unknown_key(&e, path, CI_KEYS),
            }
        }
    }

    fn global_environments(&mut self, node: &Node, path: &str) -> Vec<Environment> {
        let defaults = Environment::defaults();
        if node.value == Value::Null {
            // `environments:` with nothing under it: the defaults.
            return defaults;
        }
        let mut envs: Vec<Environment> = Vec::new();
        let entries = self.entries(node, path, "a map of environment name → settings");
        for e in &entries {
            let p = join(path, &e.key);
            if !self.env_name(e, &p) {
                continue;
            }
            let patch = self.env_patch(e.value, &p);
            // A global `prod`/`qa` starts from the seed's routing for that name.
            let base = defaults.iter().find(|d| d.name == e.key);
            if let Some(env) = self.apply_env(&e.key, base, patch, e.key_node.pos, &p, &[]) {
                envs.push(env);
            }
        }
        if entries.is_empty() && matches!(node.value, Value::Map(_)) {
            self.push(
                node.pos,
                path,
                ProblemKind::Invalid(
                    "name at least one environment (or leave `environments` out for prod and qa)"
                        .into(),
                ),
            );
        }
        self.check_env_collisions(&envs, node.pos, path);
        envs
    }

    fn env_name(&mut self, e: &Entry, path: &str) -> bool {
        let ok = !e.key.is_empty()
            && e.key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            self.push(
                e.key_node.pos,
                path,
                ProblemKind::Invalid("environment names use letters, digits, `-` and `_`".into()),
            );
        }
        ok
    }

    fn env_patch(&mut self, node: &Node, path: &str) -> EnvPatch {
        let before = self.problems.len();
        let mut patch = EnvPatch::default();
        for e in self.entries(
            node,
            path,
            "a map of environment settings (namespace, context, release, accent)",
        ) {
            let p = join(path, &e.key);
            match e.key.as_str() {
                "namespace" => {
                    if let Some(ns) = self.word(e.value, &p, "namespace") {
                        if valid_dns_label(&ns) {
                            patch.namespace = Some(ns);
                        } else {
                            self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{ns}` is not a valid Kubernetes namespace (lowercase letters, digits and `-`, at most 63)"
                            )));
                        }
                    }
                }
                "host" => {
                    if let Some(h) = self.word(e.value, &p, "host") {
                        if valid_host(&h) {
                            self.host_positions.push((p.clone(), e.value.pos));
                            patch.host = Some(h);
                        } else {
                            self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{h}` is not a host name (letters, digits, `-` and `.`, at most 253)"
                            )));
                        }
                    }
                }
                "context" => patch.context = self.word(e.value, &p, "context"),
                "release" => match &e.value.value {
                    Value::Str(s) => match s.as_str() {
                        "latest" => patch.release = Some(ReleaseKind::Latest),
                        "prerelease" => patch.release = Some(ReleaseKind::Prerelease),
                        other => self.push(
                            e.value.pos,
                            p,
                            ProblemKind::BadReleaseKind(other.to_string()),
                        ),
                    },
                    _ => self.wrong_type(e.value, &p, "`latest` or `prerelease`"),
                },
                "accent" => {
                    if let Some(a) = self.word(e.value, &p, "accent") {
                        if ratatui::style::Color::from_str(&a).is_ok() {
                            patch.accent = Some(a);
                        } else {
                            self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{a}` is not a colour; use a name (red, yellow, light-blue, ...), an index 0-255 or #rrggbb"
                            )));
                        }
                    }
                }
                "workflow" => {
                    if let Some(w) = self.word(e.value, &p, "workflow") {
                        match workflow_problem(&w) {
                            None => patch.workflow = Some(w),
                            Some(msg) => self.push(e.value.pos, p, ProblemKind::Invalid(msg)),
                        }
                    }
                }
                "input" => {
                    if let Some(i) = self.word(e.value, &p, "input") {
                        if i.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        {
                            patch.input = Some(i);
                        } else {
                            self.push(
                                e.value.pos,
                                p,
                                ProblemKind::Invalid(format!(
                                "`{i}` is not a workflow input name (letters, digits, `_` and `-`)"
                            )),
                            );
                        }
                    }
                }
                "version" => patch.version = self.version_endpoint(e.value, &p),
                "helm_history" => patch.helm_history = self.bool(e.value, &p),
                "trigger" => match &e.value.value {
                    Value::Str(s) if s == "branch" => patch.trigger = Some(Trigger::Branch),
                    Value::Str(s) if s == "tag" => patch.trigger = Some(Trigger::Tag),
                    _ => self.push(
                        e.value.pos,
                        p,
                        ProblemKind::Invalid(
                            "`trigger` is `branch` (a push to the branch deploys here) or `tag` (a pushed version tag does)".into(),
                        ),
                    ),
                },
                "manifest" => patch.manifest = self.manifest(e.value, &p),
                "kustomization" => {
                    if let Some(k) = self.word(e.value, &p, "kustomization") {
                        match k.split_once('/') {
                            Some((ns, name)) if valid_dns_label(ns) && valid_dns_label(name) => {
                                patch.kustomization = Some((ns.to_string(), name.to_string()))
                            }
                            None if valid_dns_label(&k) => {
                                patch.kustomization = Some(("flux-system".into(), k))
                            }
                            _ => self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{k}` is not a Kustomization: name it NAMESPACE/NAME (`flux-system/apps`), lowercase letters, digits and `-`"
                            ))),
                        }
                    }
                }
                _ => self.unknown_key(&e, path, ENVIRONMENT_KEYS),
            }
        }
        patch.clean = self.problems.len() == before;
        patch
    }

    /// Lay `patch` over `base` (an environment of the same name), or build a
    /// new environment, which then needs a namespace and a release kind.
    fn apply_env(
        &mut self,
        name: &str,
        base: Option<&Environment>,
        patch: EnvPatch,
        pos: Pos,
        path: &str,
        known: &[String],
    ) -> Option<Environment> {
        if patch.host.is_some() && patch.namespace.is_some() {
            self.push(
                pos,
                path,
                ProblemKind::Invalid(
                    "an environment runs either in a Kubernetes `namespace` or on a `host`, not both".into(),
                ),
            );
        }
        if let Some(b) = base {
            // A host replaces the namespace it would inherit.
            let namespace = match (&patch.host, patch.namespace) {
                (Some(_), _) => String::new(),
                (None, Some(ns)) => ns,
                (None, None) => b.namespace.clone(),
            };
            return Some(Environment {
                name: name.to_string(),
                host: patch.host.or_else(|| b.host.clone()),
                namespace,
                context: patch.context.or_else(|| b.context.clone()),
                release: patch.release.unwrap_or(b.release),
                accent: patch.accent.or_else(|| b.accent.clone()),
                workflow: patch.workflow.or_else(|| b.workflow.clone()),
                input: patch.input.or_else(|| b.input.clone()),
                version: patch.version.or_else(|| b.version.clone()),
                helm_history: patch.helm_history.or(b.helm_history),
                trigger: patch.trigger.or(b.trigger),
                manifest: patch.manifest.or_else(|| b.manifest.clone()),
                kustomization: patch.kustomization.or_else(|| b.kustomization.clone()),
            });
        }
        let hint = match suggest(name, known.iter().map(String::as_str)) {
            Some(s) => format!(" (`{name}` is a new environment here; did you mean `{s}`?)"),
            None => String::new(),
        };
        if patch.namespace.is_none() && patch.host.is_none() && patch.clean {
            self.push(
                pos,
                path,
                ProblemKind::MissingKey {
                    key: "namespace",
                    hint: if hint.is_empty() {
                        "; every environment names the namespace it deploys to (or, deployed by a dispatch workflow outside Kubernetes, its `host` and `version` endpoint)".into()
                    } else {
                        hint.clone()
                    },
                },
            );
        }
        if patch.release.is_none() && patch.clean {
            self.push(
                pos,
                path,
                ProblemKind::MissingKey {
                    key: "release",
                    hint: if hint.is_empty() {
                        "; say which releases deploy here: `latest` or `prerelease`".into()
                    } else {
                        hint
                    },
                },
            );
        }
        let namespace = match (&patch.host, patch.namespace) {
            (Some(_), _) => String::new(),
            (None, ns) => ns?,
        };
        Some(Environment {
            name: name.to_string(),
            host: patch.host,
            namespace,
            context: patch.context,
            release: patch.release?,
            accent: patch.accent,
            workflow: patch.workflow,
            input: patch.input,
            version: patch.version,
            helm_history: patch.helm_history,
            trigger: patch.trigger,
            manifest: patch.manifest,
            kustomization: patch.kustomization,
        })
    }

    /// Two environments of one service on the same namespace and context would
    /// make the running image ambiguous.
    fn check_env_collisions(&mut self, envs: &[Environment], pos: Pos, path: &str) {
        for (i, a) in envs.iter().enumerate() {
            if let Some(b) = envs[..i]
                .iter()
                .find(|b| a.on_cluster() && b.namespace == a.namespace && b.context == a.context)
            {
                self.push(
                    pos,
                    path,
                    ProblemKind::Invalid(format!(
                        "environments `{}` and `{}` both deploy to namespace `{}` on the same context",
                        b.name, a.name, a.namespace
                    )),
                );
            }
        }
    }

    fn service(&mut self, e: &Entry, base: &Path, global_envs: &[Environment]) -> Service {
        let name = e.key.clone();
        let path = name.as_str();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            self.push(
                e.key_node.pos,
                path,
                ProblemKind::Invalid(
                    "service names are typed on the command line: use letters, digits, `-`, `_` and `.`".into(),
                ),
            );
        }
        let mut svc = Service {
            name: name.clone(),
            directory: resolve_dir(base, &name),
            image: None,
            dockerfile: None,
            k8s_name: name.clone(),
            dev_host: None,
            pre_ship_cmd: None,
            shippable: true,
            shippable_reason: None,
            repo: None,
            workflow: DEFAULT_WORKFLOW.to_string(),
            delivery: Delivery::Release,
            build_workflow: None,
            environments: global_envs.to_vec(),
            smoke: Vec::new(),
            version: None,
            helm_history: false,
            stale: None,
            gitops: None,
        };
        let mut delivery_pos: Option<Pos> = None;
        // A block that is not a map already has its error; "no image" would be noise.
        let mut image_error = !matches!(e.value.value, Value::Map(_) | Value::Null);
        let mut k8s_node: Option<&Node> = None;
        for f in self.entries(e.value, path, "a map of service settings") {
            let p = join(path, &f.key);
            match f.key.as_str() {
                "directory" => {
                    if let Some(d) = self.word(f.value, &p, "directory") {
                        svc.directory = resolve_dir(base, &d);
                    }
                }
                "image" => {
                    let before = self.problems.len();
                    svc.image = self.word(f.value, &p, "image");
                    if let Some(img) = &svc.image {
                        if let Some(msg) = image_problem(img) {
                            self.push(f.value.pos, p, ProblemKind::Invalid(msg));
                        }
                    }
                    image_error = self.problems.len() > before;
                }
                "dockerfile" => svc.dockerfile = self.word(f.value, &p, "dockerfile"),
                "k8s_name" => {
                    if let Some(k) = self.word(f.value, &p, "k8s_name") {
                        svc.k8s_name = k;
                        k8s_node = Some(f.value);
                    }
                }
                "dev_host" => svc.dev_host = self.word(f.value, &p, "dev_host"),
                "pre_ship_cmd" => svc.pre_ship_cmd = self.word(f.value, &p, "pre_ship_cmd"),
                "shippable" => {
                    if let Some(b) = self.bool(f.value, &p) {
                        svc.shippable = b;
                    }
                }
                "shippable_reason" => {
                    svc.shippable_reason = self.word(f.value, &p, "shippable_reason")
                }
                "repo" => {
                    if let Some(r) = self.word(f.value, &p, "repo") {
                        if valid_repo(&r) {
                            svc.repo = Some(r);
                        } else {
                            self.push(
                                f.value.pos,
                                p,
                                ProblemKind::Invalid(format!(
                                    "`{r}` is not a GitHub repository; write `owner/name`"
                                )),
                            );
                        }
                    }
                }
                "workflow" => {
                    if let Some(w) = self.word(f.value, &p, "workflow") {
                        match workflow_problem(&w) {
                            None => svc.workflow = w,
                            Some(msg) => self.push(f.value.pos, p, ProblemKind::Invalid(msg)),
                        }
                    }
                }
                "environments" => {
                    svc.environments = self.service_environments(f.value, &p, global_envs);
                }
                "smoke" => svc.smoke = self.smoke(f.value, &p),
                "version" => svc.version = self.version_endpoint(f.value, &p),
                "helm_history" => {
                    if let Some(b) = self.bool(f.value, &p) {
                        svc.helm_history = b;
                    }
                }
                "stale" => svc.stale = self.stale(f.value, &p),
                "gitops" => svc.gitops = self.gitops(f.value, &p, base),
                "delivery" => {
                    if let Some(d) = self.word(f.value, &p, "delivery") {
                        match d.as_str() {
                            "release" => svc.delivery = Delivery::Release,
                            "dispatch" => {
                                svc.delivery = Delivery::Dispatch;
                                delivery_pos = Some(f.value.pos);
                            }
                            "push" => {
                                svc.delivery = Delivery::Push;
                                delivery_pos = Some(f.value.pos);
                            }
                            "gitops" => {
                                svc.delivery = Delivery::Gitops;
                                delivery_pos = Some(f.value.pos);
                            }
                            other => {
                                let names: Vec<&str> =
                                    Delivery::NAMES.iter().map(|(n, _)| *n).collect();
                                let hint = match suggest(other, names.iter().copied()) {
                                    Some(s) => format!("; did you mean `{s}`?"),
                                    None => String::new(),
                                };
                                self.push(
                                    f.value.pos,
                                    p,
                                    ProblemKind::Invalid(format!(
                                        "`{other}` is not a delivery model: use one of {}{hint}",
                                        names.join(", ")
                                    )),
                                );
                            }
                        }
                    }
                }
                "build" => {
                    for b in self.entries(f.value, &p, "a map with the build `workflow`") {
                        let bp = join(&p, &b.key);
                        match b.key.as_str() {
                            "workflow" => {
                                if let Some(w) = self.word(b.value, &bp, "workflow") {
                                    match workflow_problem(&w) {
                                        None => svc.build_workflow = Some(w),
                                        Some(msg) => {
                                            self.push(b.value.pos, bp, ProblemKind::Invalid(msg))
                                        }
                                    }
                                }
                            }
                            _ => self.unknown_key(&b, &p, BUILD_KEYS),
                        }
                    }
                }
                _ => {
                    // `imagee:` already says "did you mean `image`"; a second
                    // "no image" error for the same line would be noise.
                    image_error |=
                        suggest(&f.key, SERVICE_KEYS.iter().copied()).as_deref() == Some("image");
                    self.unknown_key(&f, path, SERVICE_KEYS)
                }
            }
        }
        self.check_delivery(&mut svc, e.key_node.pos, delivery_pos, path);
        self.check_hosts(&svc, e.key_node.pos, path);
        if svc.shippable && svc.image.is_none() && !image_error {
            self.push(e.key_node.pos, path, ProblemKind::MissingImage);
        }
        if name_ok && !valid_dns_subdomain(&svc.k8s_name) {
            let (pos, p, why) = match k8s_node {
                Some(n) => (n.pos, join(path, "k8s_name"), String::new()),
                None => (
                    e.key_node.pos,
                    path.to_string(),
                    " (k8s_name defaults to the service name; set `k8s_name`)".to_string(),
                ),
            };
            self.push(pos, p, ProblemKind::Invalid(format!(
                "`{}` is not a valid Kubernetes deployment name: lowercase letters, digits, `-` and `.`{why}",
                svc.k8s_name
            )));
        }
        svc
    }

    /// An environment on a `host` is deployed by its dispatch workflow and
    /// read by its version endpoint alone: another model has no way to
    /// deploy there, and without an endpoint nothing says what it runs.
    fn check_hosts(&mut self, svc: &Service, pos: Pos, path: &str) {
        for env in svc.environments.iter().filter(|e| !e.on_cluster()) {
            let at = join(path, &format!("environments.{}.host", env.name));
            let pos = self
                .host_positions
                .iter()
                .find(|(p, _)| *p == at)
                .map_or(pos, |(_, p)| *p);
            if svc.delivery != Delivery::Dispatch {
                self.push(pos, at, ProblemKind::Invalid(format!(
                    "an environment on a host is deployed by its own workflow run by hand: use `delivery: dispatch` for {}, or name the `namespace` {} runs in",
                    svc.name, env.name
                )));
                continue;
            }
            let endpoint = env.version.as_ref().or(svc.version.as_ref());
            match endpoint {
                None => self.push(pos, at, ProblemKind::Invalid(format!(
                    "hearth reads what a host runs from its version endpoint: add `version: {{ url: https://HOST/api/version, field: version }}` to {}",
                    env.name
                ))),
                Some(v) if v.url.contains("{namespace}") => self.push(pos, at, ProblemKind::Invalid(format!(
                    "the version URL names `{{namespace}}`, and {} runs on a host, not in a namespace: give {} its own `version:`",
                    env.name, env.name
                ))),
                Some(_) => {}
            }
        }
    }

    /// What a service's delivery model needs: `dispatch` a build workflow
    /// and a workflow per environment (its input defaults to `image_tag`);
    /// `release` has no use for either, so naming one is a mistake to say.
    fn check_delivery(&mut self, svc: &mut Service, pos: Pos, at: Option<Pos>, path: &str) {
        match svc.delivery {
            Delivery::Dispatch => {
                let at = at.unwrap_or(pos);
                if svc.build_workflow.is_none() {
                    self.push(at, join(path, "delivery"), ProblemKind::Invalid(
                        "`delivery: dispatch` needs the workflow that builds the image: add `build: { workflow: build.yml }`".into(),
                    ));
                }
                let missing: Vec<String> = svc
                    .environments
                    .iter()
                    .filter(|e| e.workflow.is_none())
                    .map(|e| e.name.clone())
                    .collect();
                if !missing.is_empty() {
                    self.push(at, join(path, "delivery"), ProblemKind::Invalid(format!(
                        "`delivery: dispatch` deploys each environment by running its workflow; name it for {}: `environments: {{ {}: {{ workflow: deploy-{}.yml, input: image_tag }} }}`",
                        missing.join(", "),
                        missing[0],
                        missing[0]
                    )));
                }
                for env in &mut svc.environments {
                    if env.workflow.is_some() && env.input.is_none() {
                        env.input = Some(DEFAULT_INPUT.into());
                    }
                }
            }
            Delivery::Push => {
                let at = at.unwrap_or(pos);
                let missing: Vec<String> = svc
                    .environments
                    .iter()
                    .filter(|e| e.workflow.is_none())
                    .map(|e| e.name.clone())
                    .collect();
                if !missing.is_empty() {
                    self.push(at, join(path, "delivery"), ProblemKind::Invalid(format!(
                        "`delivery: push` follows the workflow a push starts for each environment; name it for {}: `environments: {{ {}: {{ workflow: deploy.yml }} }}` (and `trigger: tag` where a version tag deploys)",
                        missing.join(", "),
                        missing[0],
                    )));
                }
                if svc.build_workflow.is_some() {
                    self.push(pos, join(path, "build"), ProblemKind::Invalid(
                        "`build:` is for `delivery: dispatch`; a push-delivered service builds in the workflow the push starts".into(),
                    ));
                }
                if let Some(env) = svc.environments.iter().find(|e| e.input.is_some()) {
                    self.push(pos, join(path, &format!("environments.{}.input", env.name)), ProblemKind::Invalid(
                        "an environment's `input` is for `delivery: dispatch`; a push starts its workflow with no inputs".into(),
                    ));
                }
            }
            Delivery::Gitops => {
                let at = at.unwrap_or(pos);
                if svc.gitops.is_none() {
                    self.push(at, join(path, "delivery"), ProblemKind::Invalid(
                        "`delivery: gitops` needs the repository of manifests: add `gitops: { repo: ../gitops, branch: main }`".into(),
                    ));
                }
                if svc.build_workflow.is_none() {
                    self.push(at, join(path, "delivery"), ProblemKind::Invalid(
                        "`delivery: gitops` follows the run a pushed version tag starts: add `build: { workflow: build.yml }`".into(),
                    ));
                }
                // An environment whose keys were refused already is not
                // "missing" them as well.
                let refused = |env: &str| {
                    let at = join(path, &format!("environments.{env}"));
                    self.problems.iter().any(|p| p.path.starts_with(&at))
                };
                let missing: Vec<String> = svc
                    .environments
                    .iter()
                    .filter(|e| e.manifest.is_none() || e.kustomization.is_none())
                    .filter(|e| !refused(&e.name))
                    .map(|e| e.name.clone())
                    .collect();
                if !missing.is_empty() {
                    self.push(at, join(path, "delivery"), ProblemKind::Invalid(format!(
                        "`delivery: gitops` deploys each environment by a commit to its manifest, which a Flux Kustomization applies; name both for {}: `environments: {{ {}: {{ manifest: {{ file: apps/{}/app.yaml, setter: \"flux-system:app\" }}, kustomization: flux-system/apps }} }}`",
                        missing.join(", "),
                        missing[0],
                        missing[0],
                    )));
                }
                if let Some(env) = svc
                    .environments
                    .iter()
                    .find(|e| e.workflow.is_some() || e.input.is_some())
                {
                    self.push(pos, join(path, &format!("environments.{}", env.name)), ProblemKind::Invalid(
                        "an environment's `workflow` and `input` are for `delivery: dispatch` and `push`; a GitOps environment is deployed by its manifest".into(),
                    ));
                }
            }
            Delivery::Release => {
                if svc.build_workflow.is_some() {
                    self.push(pos, join(path, "build"), ProblemKind::Invalid(
                        "`build:` is for `delivery: dispatch`; a release-delivered service builds in its release workflow".into(),
                    ));
                }
                if let Some(env) = svc.environments.iter().find(|e| e.workflow.is_some()) {
                    self.push(pos, join(path, &format!("environments.{}.workflow", env.name)), ProblemKind::Invalid(
                        "an environment's `workflow` is for `delivery: dispatch`; with releases, `workflow` names the release workflow at the service level".into(),
                    ));
                }
            }
        }
    }

    fn service_environments(
        &mut self,
        node: &Node,
        path: &str,
        global_envs: &[Environment],
    ) -> Vec<Environment> {
        let mut envs = global_envs.to_vec();
        let known: Vec<String> = global_envs.iter().map(|e| e.name.clone()).collect();
        for e in self.entries(node, path, "a map of environment name → overrides") {
            let p = join(path, &e.key);
            if !self.env_name(&e, &p) {
                continue;
            }
            let idx = envs.iter().position(|env| env.name == e.key);
            if e.value.value == Value::Bool(false) {
                // `qa: false`: this service does not run in that environment.
                match idx {
                    Some(i) => {
                        envs.remove(i);
                    }
                    None => {
                        let hint = match suggest(&e.key, known.iter().map(String::as_str)) {
                            Some(s) => format!("; did you mean `{s}`?"),
                            None => format!("; the environments are {}", known.join(", ")),
                        };
                        self.push(
                            e.key_node.pos,
                            p,
                            ProblemKind::Invalid(format!(
                                "`{}: false` removes no environment{hint}",
                                e.key
                            )),
                        );
                    }
                }
                continue;
            }
            if matches!(e.value.value, Value::Bool(true)) {
                self.wrong_type(
                    e.value,
                    &p,
                    "a map of environment overrides (or `false` to leave it out)",
                );
                continue;
            }
            let patch = self.env_patch(e.value, &p);
            let base = idx.map(|i| envs[i].clone());
            if let Some(env) =
                self.apply_env(&e.key, base.as_ref(), patch, e.key_node.pos, &p, &known)
            {
                match idx {
                    Some(i) => envs[i] = env,
                    None => envs.push(env),
                }
            }
        }
        self.check_env_collisions(&envs, node.pos, path);
        envs
    }

    /// `stale: { commits: N, days: D }` (either or both, positive).
    /// `manifest: { file: apps/qa/api.yaml, image: spec.template.spec.containers[0].image }`
    /// or `manifest: { file: …, setter: "flux-system:api" }`.
    fn manifest(&mut self, node: &Node, path: &str) -> Option<Manifest> {
        let (mut file, mut at) = (None, None);
        let before = self.problems.len();
        for e in self.entries(
            node,
            path,
            "a map with the manifest's `file` and its `image` path or `setter`",
        ) {
            let p = join(path, &e.key);
            match e.key.as_str() {
                "file" => {
                    if let Some(f) = self.word(e.value, &p, "file") {
                        if f.starts_with('/')
                            || f.split('/').any(|part| part == ".." || part.is_empty())
                        {
                            self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{f}` must be a path inside the GitOps repository (`apps/qa/api.yaml`), without `..`"
                            )));
                        } else {
                            file = Some(f);
                        }
                    }
                }
                "image" => {
                    if let Some(i) = self.word(e.value, &p, "image") {
                        if crate::model::manifest::parse_path(&i).is_some() {
                            at = Some(ImageAt::Path(i));
                        } else {
                            self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{i}` is not a YAML path: keys joined by `.`, list items as `[0]` (`spec.template.spec.containers[0].image`)"
                            )));
                        }
                    }
                }
                "setter" => {
                    if let Some(v) = self.word(e.value, &p, "setter") {
                        let parts: Vec<&str> = v.split(':').collect();
                        let ok = matches!(parts.as_slice(), [ns, pol] | [ns, pol, "tag"]
                            if valid_dns_label(ns) && !pol.is_empty());
                        if ok {
                            at = Some(ImageAt::Setter(v));
                        } else {
                            self.push(e.value.pos, p, ProblemKind::Invalid(format!(
                                "`{v}` is not an image policy: `NAMESPACE:POLICY` (the whole image) or `NAMESPACE:POLICY:tag`, as in the marker `# {{\"$imagepolicy\": \"flux-system:api\"}}`"
                            )));
                        }
                    }
                }
                _ => self.unknown_key(&e, path, MANIFEST_KEYS),
            }
        }
        if self.problems.len() > before {
            return None;
        }
        match (file, at) {
            (Some(file), Some(at)) => Some(Manifest { file, at }),
            (None, _) => {
                self.push(
                    node.pos,
                    path,
                    ProblemKind::MissingKey {
                        key: "file",
                        hint: "; name the manifest that holds the image: `file: apps/qa/api.yaml`"
                            .into(),
                    },
                );
                None
            }
            (Some(_), None) => {
                self.push(node.pos, path, ProblemKind::Invalid(
                    "say where the image is in the manifest: `image: spec.template.spec.containers[0].image`, or `setter: flux-system:POLICY` for Flux's marker".into(),
                ));
                None
            }
        }
    }

    /// `gitops: { repo: ../gitops, branch: main }`: a local checkout
    /// (resolved against the registry's folder) or a remote URL.
    fn gitops(&mut self, node: &Node, path: &str, base: &Path) -> Option<GitopsRepo> {
        let mut out = GitopsRepo {
            dir: None,
            url: None,
            branch: "main".into(),
        };
        let mut named = false;
        for e in self.entries(node, path, "a map with the GitOps `repo` and its `branch`") {
            let p = join(path, &e.key);
            match e.key.as_str() {
                "repo" => {
                    if let Some(r) = self.word(e.value, &p, "repo") {
                        named = true;
                        let remote = r.contains("://") || (r.contains('@') && r.contains(':'));
                        if remote {
                            if r.chars().any(|c| c.is_whitespace() || c.is_control()) {
                                self.push(
                                    e.value.pos,
                                    p,
                                    ProblemKind::Invalid(format!("`{r}` is not a git URL")),
                                );
                            } else {
                                out.url = Some(r);
                            }
                        } else {
                            out.dir = Some(resolve_dir(base, &r));
                        }
                    }
                }
                "branch" => {
                    if let Some(b) = self.word(e.value, &p, "branch") {
                        if b.is_empty()
                            || b.starts_with('-')
                            || b.contains("..")
                            || b.chars().any(|c| {
                                c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c)
                            })
                        {
                            self.push(
                                e.value.pos,
                                p,
                                ProblemKind::Invalid(format!("`{b}` is not a branch name")),
                            );
                        } else {
                            out.branch = b;
                        }
                    }
                }
                _ => self.unknown_key(&e, path, GITOPS_KEYS),
            }
        }
        if !named {
            self.push(
                node.pos,
                path,
                ProblemKind::MissingKey {
                    key: "repo",
                    hint: "; name the GitOps repository: a checkout (`repo: ../gitops`) or a URL"
                        .into(),
                },
            );
            return None;
        }
        Some(out)
    }

    fn stale(&mut self, node: &Node, path: &str) -> Option<Stale> {
        let mut out = Stale::default();
        for e in self.entries(node, path, "a map with `commits` and/or `days`") {
            let p = join(path, &e.key);
            let slot = match e.key.as_str() {
                "commits" => &mut out.commits,
                "days" => &mut out.days,
                _ => {
                    self.unknown_key(&e, path, STALE_KEYS);
                    continue;
                }
            };
            match e.value.value {
                Value::Int(n) if (1..=100_000).contains(&n) => *slot = Some(n as u32),
                _ => self.push(
                    e.value.pos,
                    p,
                    ProblemKind::Invalid(format!(
                        "`{}` is a whole number from 1 (a threshold of {})",
                        e.key,
                        if e.key == "days" { "days" } else { "commits" }
                    )),
                ),
            }
        }
        (out != Stale::default()).then_some(out)
    }

    /// `version: URL` or `version: { url: URL, field: a.b }`.
    fn version_endpoint(&mut self, node: &Node, path: &str) -> Option<VersionEndpoint> {
        let (mut url, mut field) = (None, DEFAULT_VERSION_FIELD.to_string());
        let mut at = (node.pos, path.to_string());
        match &node.value {
            Value::Str(_) => url = self.word(node, path, "url"),
            Value::Map(_) => {
                for e in self.entries(node, path, "a map with `url` and `field`") {
                    let kp = join(path, &e.key);
                    match e.key.as_str() {
                        "url" => {
                            url = self.word(e.value, &kp, "url");
                            at = (e.value.pos, kp);
                        }
                        "field" => {
                            if let Some(f) = self.word(e.value, &kp, "field") {
                                if f.split('.').all(|part| {
                                    !part.is_empty()
                                        && part.chars().all(|c| {
                                            c.is_ascii_alphanumeric() || c == '_' || c == '-'
                                        })
                                }) {
                                    field = f;
                                } else {
                                    self.push(e.value.pos, kp, ProblemKind::Invalid(format!(
                                        "`{f}` is not a field path (names joined by dots, as in `build.version`)"
                                    )));
                                }
                            }
                        }
                        _ => self.unknown_key(&e, path, VERSION_KEYS),
                    }
                }
                if url.is_none() {
                    self.push(
                        node.pos,
                        path,
                        ProblemKind::MissingKey {
                            key: "url",
                            hint: "; a version endpoint needs the URL to read".into(),
                        },
                    );
                }
            }
            _ => {
                self.wrong_type(node, path, "a URL or a map with `url` and `field`");
                return None;
            }
        }
        let url = url?;
        match url::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                Some(VersionEndpoint { url, field })
            }
            _ => {
                self.push(
                    at.0,
                    at.1,
                    ProblemKind::Invalid(format!("`{url}` is not an absolute http(s) URL")),
                );
                None
            }
        }
    }

    fn smoke(&mut self, node: &Node, path: &str) -> Vec<SmokeCheck> {
        let items = match &node.value {
            Value::Seq(items) => items,
            Value::Null => return Vec::new(),
            _ => {
                self.wrong_type(node, path, "a list of checks (url, status, body)");
                return Vec::new();
            }
        };
        let mut checks = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let mut url: Option<String> = None;
            let mut status = DEFAULT_SMOKE_STATUS;
            let mut body = None;
            let mut url_error = false;
            let mut url_pos = item.pos;
            let mut url_path = p.clone();
            match &item.value {
                // A bare URL is a check for 200.
                Value::Str(_) => url = self.word(item, &p, "url"),
                Value::Map(_) => {
                    for e in self.entries(item, &p, "a map") {
                        let kp = join(&p, &e.key);
                        match e.key.as_str() {
                            "url" => {
                                url = self.word(e.value, &kp, "url");
                                url_error = url.is_none();
                                url_pos = e.value.pos;
                                url_path = kp;
                            }
                            "status" => match e.value.value {
                                Value::Int(s) if (100..=599).contains(&s) => status = s as u16,
                                Value::Int(s) => self.push(
                                    e.value.pos,
                                    kp,
                                    ProblemKind::Invalid(format!(
                                        "{s} is not an HTTP status (100-599)"
                                    )),
                                ),
                                _ => self.wrong_type(e.value, &kp, "an HTTP status such as 200"),
                            },
                            "body" => body = self.string(e.value, &kp),
                            _ => self.unknown_key(&e, &p, SMOKE_KEYS),
                        }
                    }
                }
                _ => {
                    self.wrong_type(item, &p, "a URL or a map with `url`, `status`, `body`");
                    continue;
                }
            }
            match url {
                Some(u) => {
                    match url::Url::parse(&u) {
                        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                        _ => self.push(
                            url_pos,
                            url_path,
                            ProblemKind::Invalid(format!("`{u}` is not an absolute http(s) URL")),
                        ),
                    }
                    checks.push(SmokeCheck {
                        url: u,
                        status,
                        body,
                    });
                }
                None if !url_error => self.push(
                    item.pos,
                    p,
                    ProblemKind::MissingKey {
                        key: "url",
                        hint: "; a smoke check needs the URL to request".into(),
                    },
                ),
                None => {}
            }
        }
        checks
    }

    fn check_ship_all(&mut self, nodes: &[&Node], services: &[Service], settings: &mut Settings) {
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        let mut list = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let p = format!("{SETTINGS_KEY}.ship_all[{i}]");
            let Some(name) = self.word(n, &p, "a service name") else {
                continue;
            };
            match services.iter().find(|s| s.name == name) {
                None => self.push(
                    n.pos,
                    p,
                    ProblemKind::UnknownService {
                        suggestion: suggest(&name, names.iter().copied()),
                        name,
                    },
                ),
                Some(s) if !s.shippable => {
                    self.push(n.pos, p, ProblemKind::NotShippable(name));
                }
                Some(_) if list.contains(&name) => self.push(
                    n.pos,
                    p,
                    ProblemKind::Invalid(format!("`{name}` is listed twice")),
                ),
                Some(_) => list.push(name),
            }
        }
        if settings.ship_all.is_some() {
            settings.ship_all = Some(list);
        }
    }

    /// Two services that drive the same Deployment in the same place would
    /// fight over it.
    fn check_k8s_names(&mut self, top: &[Entry], services: &[Service]) {
        for (i, s) in services.iter().enumerate() {
            let clash = services[..i].iter().find(|o| {
                o.k8s_name == s.k8s_name
                    && o.environments.iter().any(|a| {
                        s.environments.iter().any(|b| {
                            a.on_cluster() && a.namespace == b.namespace && a.context == b.context
                        })
                    })
            });
            if let Some(o) = clash {
                let pos = top
                    .iter()
                    .find(|e| e.key == s.name)
                    .map(|e| e.key_node.pos)
                    .unwrap_or(Pos { line: 1, col: 1 });
                self.push(
                    pos,
                    s.name.clone(),
                    ProblemKind::Invalid(format!(
                        "service `{}` already drives deployment `{}` in the same namespace; set a distinct `k8s_name`",
                        o.name, s.k8s_name
                    )),
                );
            }
        }
    }
}

/// A host name: labels of letters, digits and inner `-`, joined by `.`, ≤ 253.
fn valid_host(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// GitHub user/organisation: alphanumerics and single inner hyphens, ≤ 39.
fn valid_owner(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// `owner/name`, the shape GitHub accepts.
fn valid_repo(s: &str) -> bool {
    let Some((owner, name)) = s.split_once('/') else {
        return false;
    };
    valid_owner(owner)
        && !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// RFC 1123 label: namespaces.
fn valid_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: deployment names.
fn valid_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(valid_dns_label)
}

/// The image is a repository (an OCI reference's name: an optional registry
/// host, then lowercase path components); hearth adds the release tag itself.
fn image_problem(img: &str) -> Option<String> {
    if img.chars().any(char::is_whitespace) {
        return Some(format!(
            "`{img}` is not an image repository (it contains spaces)"
        ));
    }
    let (head, last) = match img.rsplit_once('/') {
        Some((h, l)) => (Some(h), l),
        None => (None, img),
    };
    if last.contains(':') || last.contains('@') {
        let bare = last.split([':', '@']).next().unwrap_or(last);
        let repo = match head {
            Some(h) => format!("{h}/{bare}"),
            None => bare.to_string(),
        };
        return Some(format!(
            "give the image repository without a tag or digest (`{repo}`); hearth adds the release tag"
        ));
    }
    oci_name_problem(img).map(|why| {
        format!(
            "`{}` is not an image repository: {why} (for example `ghcr.io/acme/api`)",
            text::line(img)
        )
    })
}

/// The OCI distribution spec's grammar for a repository name:
/// `[domain[:port]/]component(/component)*`, each component
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, at most 255 characters. The first
/// part is a domain when it holds a `.` or `:` or is `localhost`.
fn oci_name_problem(img: &str) -> Option<String> {
    if img.is_empty() {
        return Some("it is empty".into());
    }
    if img.len() > 255 {
        return Some("it is longer than 255 characters".into());
    }
    let mut parts: Vec<&str> = img.split('/').collect();
    let first = parts[0];
    if parts.len() > 1 && (first.contains(['.', ':']) || first == "localhost") {
        let (host, port) = match first.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            });
        if !host_ok {
            return Some(format!("`{}` is not a registry host", text::line(host)));
        }
        if let Some(p) = port {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 5 {
                return Some(format!("`{}` is not a port", text::line(p)));
            }
        }
        parts.remove(0);
    }
    for part in parts {
        if let Some(why) = component_problem(part) {
            return Some(why);
        }
    }
    None
}

fn component_problem(part: &str) -> Option<String> {
    let shown = text::line(part);
    if part.is_empty() {
        return Some("it has an empty path component (`//` or a `/` at an end)".into());
    }
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Some(if c.is_ascii_uppercase() {
            format!("`{shown}` has an uppercase letter; repository names are lowercase")
        } else if text::is_hostile(&c.to_string()) {
            format!("`{shown}` holds a control character")
        } else {
            format!("`{shown}` holds `{c}`; use lowercase letters, digits, `.`, `_` and `-`")
        });
    }
    let b = part.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Some(format!(
            "`{shown}` must start and end with a letter or digit"
        ));
    }
    // Separators: one `.`, one or two `_`, or any run of `-`; never mixed.
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return Some(format!(
                "`{shown}` has the separator `{sep}`; use one `.`, `_`, `__` or dashes"
            ));
        }
    }
    None
}

fn workflow_problem(w: &str) -> Option<String> {
    if w.contains('/') {
        let file = w.rsplit('/').next().unwrap_or(w);
        return Some(format!(
            "give the workflow file name only (`{file}`), as in .github/workflows/"
        ));
    }
    let ok = w.ends_with(".yml") || w.ends_with(".yaml") || w.chars().all(|c| c.is_ascii_digit());
    (!ok).then(|| format!("`{w}` is not a workflow file name (for example `release.yml`)"))
}

/// Why GitHub would refuse `name` as a repository secret's name, if it would.
pub fn secret_name_problem(name: &str) -> Option<String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(format!(
            "`{name}` is not a GitHub secret name (letters, digits and `_`, not starting with a digit)"
        ));
    }
    if name.to_ascii_uppercase().starts_with("GITHUB_") {
        return Some(format!(
            "`{name}`: GitHub reserves the GITHUB_ prefix for its own secrets (the seed flips the words: KATFORGE_GITHUB_TOKEN)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(valid_repo("hearth-demo/api"));
        assert!(valid_repo("katforge/api.katforge.com"));
        assert!(!valid_repo("api"));
        assert!(!valid_repo("a/b/c"));
        assert!(!valid_repo("-x/y"));
        assert!(valid_dns_label("qa"));
        assert!(!valid_dns_label("QA"));
        assert!(valid_dns_subdomain("api.v2"));
        assert!(!valid_dns_subdomain("api_v2"));
        assert!(image_problem("ghcr.io/katforge/api").is_none());
        assert!(image_problem("localhost:5000/api").is_none());
        assert!(image_problem("ghcr.io/katforge/api:v1").is_some());
        assert!(image_problem("docker.io/library/redis").is_none());
        assert!(image_problem("api").is_none());
        assert!(image_problem("registry.example.com:443/team/sub_dir/a__b-c--d.e").is_none());
        for bad in [
            "ghcr.io/acme/api\u{1b}[2J",
            "ghcr.io/Acme/api",
            "ghcr.io//api",
            "ghcr.io/acme/api/",
            "ghcr.io/acme/-api",
            "ghcr.io/acme/a..b",
            "ghcr.io/acme/a_-b",
            "bad_host.io:x/api",
            "ghcr.io:99999999/api",
        ] {
            let why = image_problem(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(!text::is_hostile(&why), "{why:?}");
        }
        assert!(workflow_problem("release.yml").is_none());
        assert!(workflow_problem(".github/workflows/release.yml").is_some());
        assert!(workflow_problem("release").is_some());
    }

    #[test]
    fn the_ci_block_names_secrets_by_githubs_rules() {
        let load = |text: &str| from_str(text, Path::new("services.yaml"), Path::new("/"));
        let reg = load(
            "hearth:\n  ci:\n    secrets:\n      kubeconfig: DEPLOY_KUBECONFIG\n    registry_token_env: GHCR_TOKEN\napi:\n  image: ghcr.io/o/api\n",
        )
        .unwrap();
        assert_eq!(reg.settings.ci.kubeconfig_secret, "DEPLOY_KUBECONFIG");
        assert_eq!(
            reg.settings.ci.registry_token_secret,
            "KATFORGE_GITHUB_TOKEN"
        );
        assert_eq!(reg.settings.ci.registry_token_env, "GHCR_TOKEN");
        let err = load(
            "hearth:\n  ci:\n    secrets:\n      registry_token: GITHUB_KATFORGE_TOKEN\n      kubeconfg: X\napi:\n  image: ghcr.io/o/api\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("services.yaml:4:23: hearth.ci.secrets.registry_token"),
            "{err}"
        );
        assert!(err.contains("GITHUB_ prefix"), "{err}");
        assert!(
            err.contains("hearth.ci.secrets.kubeconfg: unknown key"),
            "{err}"
        );
    }

    #[test]
    fn directories_resolve_against_base() {
        let base = Path::new("/srv/reg");
        assert_eq!(
            resolve_dir(base, "repos/api"),
            PathBuf::from("/srv/reg/repos/api")
        );
        assert_eq!(resolve_dir(base, "../api"), PathBuf::from("/srv/api"));
        assert_eq!(resolve_dir(base, "/opt/x/./y"), PathBuf::from("/opt/x/y"));
    }
}
