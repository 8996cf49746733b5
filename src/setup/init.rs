//! `hearth init`: a registry for what already runs. Lists the Deployments of
//! the environments' namespaces, takes each one's app image and migration
//! init container, matches the image to a local checkout (by git remote,
//! else by folder name) and writes a commented `services.yaml` that `hearth
//! check` accepts: shippable where the checkout has a Dockerfile,
//! `shippable: false` with the reason otherwise.
//!
//! Discovery reads the cluster (no [`WriteAccess`](crate::WriteAccess): it
//! changes nothing there); [`render`] is pure, so the text is unit-tested.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};

use crate::cluster::{self, split_image, KubeClient};
use crate::model::Problem;
use crate::registry::Environment;

/// One Deployment found in the cluster, merged across namespaces by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The Deployment's name (the service's `k8s_name`).
    pub name: String,
    /// The app container's image repository (no tag).
    pub image: String,
    /// The app container's name.
    pub container: String,
    /// The init container that runs the same image (the migration), by name.
    pub migration: Option<String>,
    /// `(environment, namespace, tag)` where it runs.
    pub running: Vec<(String, String, String)>,
}

/// A local git checkout under `--scan`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    pub dir: PathBuf,
    /// `owner/name` when the origin remote is on GitHub.
    pub github: Option<String>,
    /// The last segment of the origin remote's path (`api` of `…/api.git`).
    pub remote_name: Option<String>,
    /// The Dockerfile found at the top (`Dockerfile`, `Dockerfile.prod`).
    pub dockerfile: Option<String>,
    /// The test command its files suggest (`./test.sh`, `npm test`, ...).
    pub tests: Option<String>,
    /// What its workflows' triggers suggest about how it is delivered,
    /// when it is not by release (a comment for the registry, never a key:
    /// environments and manifests cannot be read from a workflow).
    pub delivery: Option<String>,
}

/// How a checkout's workflows say it is delivered, in a comment's words:
/// `None` when a workflow runs on a release (the default model) or none
/// can be read.
pub fn delivery_hint(dir: &Path) -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(".github/workflows"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    let mut dispatch = Vec::new();
    let mut branch = Vec::new();
    let mut tag_only = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        let Ok(t) = crate::ops::mechanism::Triggers::parse(&text) else {
            continue;
        };
        let name = f.file_name()?.to_string_lossy().into_owned();
        if t.release.is_some() {
            return None;
        }
        if t.dispatch.as_ref().is_some_and(|i| !i.is_empty()) {
            dispatch.push(name.clone());
        }
        if let Some(p) = &t.push {
            if p.runs_on_branch("main") {
                branch.push(name);
            } else if p.runs_on_tag("v0.0.0") {
                tag_only.push(name);
            }
        }
    }
    if !dispatch.is_empty() {
        return Some(format!(
            "run by hand with inputs ({}): likely `delivery: dispatch`",
            dispatch.join(", ")
        ));
    }
    if !branch.is_empty() {
        let mut all = branch;
        all.extend(tag_only);
        return Some(format!(
            "a push starts {}: likely `delivery: push`",
            all.join(", ")
        ));
    }
    if !tag_only.is_empty() {
        return Some(format!(
            "a pushed version tag starts {} and nothing else deploys: if a GitOps repository does, `delivery: gitops`",
            tag_only.join(", ")
        ));
    }
    None
}

/// The test command a checkout's files suggest, for `pre_ship_cmd`.
fn test_command(dir: &Path) -> Option<String> {
    let has = |f: &str| dir.join(f).is_file();
    let makefile_test = std::fs::read_to_string(dir.join("Makefile"))
        .is_ok_and(|m| m.lines().any(|l| l.starts_with("test:")));
    let cmd = if has("test.sh") {
        "./test.sh"
    } else if has("bin/phpunit") {
        "./bin/phpunit"
    } else if makefile_test {
        "make test"
    } else if has("Cargo.toml") {
        "cargo test"
    } else if has("go.mod") {
        "go test ./..."
    } else if has("package.json") {
        "npm test"
    } else {
        return None;
    };
    Some(cmd.to_string())
}

/// What `init` read, ready to render.
#[derive(Clone, Debug)]
pub struct Inventory {
    /// The context read (for the header).
    pub context: String,
    pub environments: Vec<Environment>,
    pub found: Vec<Found>,
    pub checkouts: Vec<Checkout>,
    /// The folder that was scanned (for reasons), if any.
    pub scan: Option<PathBuf>,
}

/// List the Deployments of every environment's namespace and merge them by
/// name. The first environment that runs one (prod first) gives its image.
pub async fn discover(
    client: &KubeClient,
    environments: &[Environment],
) -> Result<Vec<Found>, Problem> {
    let mut by_name: BTreeMap<String, Found> = BTreeMap::new();
    for env in environments {
        let api: Api<Deployment> = Api::namespaced(client.client.clone(), &env.namespace);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| cluster::classify(&e, &client.at, &env.namespace, "list deployments"))?;
        for d in list.items {
            let Some(name) = d.metadata.name.clone() else {
                continue;
            };
            let Some(spec) = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
                continue;
            };
            let app = spec
                .containers
                .iter()
                .find(|c| c.name == name)
                .or_else(|| spec.containers.first());
            let Some(app) = app else { continue };
            let Some(image) = app.image.as_deref() else {
                continue;
            };
            let (repo, tag) = split_image(image);
            let migration = spec
                .init_containers
                .iter()
                .flatten()
                .find(|c| c.image.as_deref().is_some_and(|i| split_image(i).0 == repo))
                .map(|c| c.name.clone());
            let entry = by_name.entry(name.clone()).or_insert_with(|| Found {
                name: name.clone(),
                image: repo.clone(),
                container: app.name.clone(),
                migration,
                running: Vec::new(),
            });
            entry
                .running
                .push((env.name.clone(), env.namespace.clone(), tag));
        }
    }
    Ok(by_name.into_values().collect())
}

/// Every git checkout directly under `dir` (and `dir` itself when it is
/// one), with its origin remote and Dockerfile.
pub fn scan(dir: &Path) -> std::io::Result<Vec<Checkout>> {
    let mut dirs = vec![dir.to_path_buf()];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    dirs.extend(entries);
    Ok(dirs
        .into_iter()
        .filter(|d| d.join(".git").exists())
        .map(|d| {
            let remote = origin_url(&d);
            let github = remote
                .as_deref()
                .and_then(|u| crate::github::repo_from_remote(u, None));
            let remote_name = remote.as_deref().and_then(|u| {
                let last = u.trim_end_matches('/').rsplit(['/', ':']).next()?;
                Some(last.trim_end_matches(".git").to_string()).filter(|s| !s.is_empty())
            });
            let dockerfile = ["Dockerfile", "Dockerfile.prod", "dockerfile"]
                .into_iter()
                .find(|f| d.join(f).is_file())
                .map(str::to_string);
            Checkout {
                tests: test_command(&d),
                delivery: delivery_hint(&d),
                dir: d,
                github,
                remote_name,
                dockerfile,
            }
        })
        .collect())
}

fn origin_url(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["remote", "get-url", "origin"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `(owner, name)` of `registry/owner/name`, the image's last two segments.
fn image_owner_name(image: &str) -> (Option<&str>, &str) {
    let mut parts = image.rsplit('/');
    let name = parts.next().unwrap_or(image);
    (parts.next(), name)
}

/// How a checkout matched a Deployment, for the comment beside `directory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The checkout's GitHub remote is the image's `owner/name`.
    Remote,
    /// The remote's or the folder's name is the image's or the Deployment's.
    Name,
}

/// The checkout that builds `found`'s image, and how it matched.
pub fn match_checkout<'a>(
    found: &Found,
    checkouts: &'a [Checkout],
) -> Option<(&'a Checkout, Match)> {
    let (owner, name) = image_owner_name(&found.image);
    let slug = owner.map(|o| format!("{o}/{name}"));
    if let Some(c) = checkouts
        .iter()
        .find(|c| c.github.is_some() && c.github == slug)
    {
        return Some((c, Match::Remote));
    }
    let names = [name, found.name.as_str()];
    checkouts
        .iter()
        .find(|c| {
            let folder = c.dir.file_name().and_then(|f| f.to_str());
            names
                .iter()
                .any(|n| c.remote_name.as_deref() == Some(*n) || folder == Some(*n))
        })
        .map(|c| (c, Match::Name))
}

/// `dir` relative to `base` when it lies below it, else as it is.
fn relative(dir: &Path, base: &Path) -> String {
    let shown = dir.strip_prefix(base).unwrap_or(dir);
    let s = shown.display().to_string();
    if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

/// A YAML scalar that needs no quotes stays bare; anything else is quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@ ".contains(c))
        && !s.starts_with(['-', ':', '@', ' '])
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !matches!(s, "true" | "false" | "null" | "yes" | "no" | "on" | "off");
    if plain {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

/// The registry text. `base` is the folder the file will live in (relative
/// `directory` values hang from it).
pub fn render(inv: &Inventory, base: &Path) -> String {
    let mut out = String::new();
    let envs: Vec<String> = inv
        .environments
        .iter()
        .map(|e| format!("{} ({})", e.namespace, e.name))
        .collect();
    out.push_str(&format!(
        "# services.yaml, written by `hearth init` from context \"{}\", namespaces {}.\n",
        inv.context,
        envs.join(" and ")
    ));
    out.push_str(
        "# One block per Deployment found. Review it, then run `hearth check`;\n\
         # the reference is docs/services-yaml.md. `pre_ship_cmd` (the tests\n\
         # `hearth ship` runs first) and `smoke` checks cannot be read from a\n\
         # cluster: add them where you have them.\n",
    );
    if inv.found.is_empty() {
        out.push_str("#\n# No Deployments were found in those namespaces.\n");
        return out;
    }
    // A registry-wide owner when every image names the same one.
    let owners: Vec<Option<&str>> = inv
        .found
        .iter()
        .map(|f| image_owner_name(&f.image).0)
        .collect();
    let owner = owners
        .first()
        .copied()
        .flatten()
        .filter(|o| owners.iter().all(|x| *x == Some(o)));
    if let Some(o) = owner {
        out.push_str(&format!(
            "\nhearth:\n   # The GitHub owner of repositories whose remote does not say (from the images).\n   github_owner: {}\n",
            scalar(o)
        ));
    }
    for f in &inv.found {
        out.push('\n');
        let running: Vec<String> = f
            .running
            .iter()
            .map(|(env, _, tag)| format!("{env} {tag}"))
            .collect();
        out.push_str(&format!("# running: {}\n", running.join(", ")));
        out.push_str(&format!("{}:\n", scalar(&f.name)));
        let checkout = match_checkout(f, &inv.checkouts);
        let reason = match checkout {
            Some((c, how)) => {
                let how = match how {
                    Match::Remote => "matched by its git remote",
                    Match::Name => "matched by name",
                };
                out.push_str(&format!(
                    "   directory:    {}   # {how}\n",
                    scalar(&relative(&c.dir, base))
                ));
                match &c.dockerfile {
                    Some(_) => None,
                    None => Some(format!("no Dockerfile in {}", relative(&c.dir, base))),
                }
            }
            None => Some(match &inv.scan {
                Some(dir) => format!("no checkout of {} found under {}", f.image, dir.display()),
                None => format!("no checkout of {} given (hearth init --scan DIR)", f.image),
            }),
        };
        out.push_str(&format!("   image:        {}\n", scalar(&f.image)));
        if let Some(df) = checkout.and_then(|(c, _)| c.dockerfile.as_deref()) {
            out.push_str(&format!("   dockerfile:   {}\n", scalar(df)));
        }
        out.push_str(&format!("   k8s_name:     {}\n", scalar(&f.name)));
        if let Some(repo) = checkout.and_then(|(c, _)| c.github.as_deref()) {
            out.push_str(&format!("   repo:         {}\n", scalar(repo)));
        }
        if let Some(m) = &f.migration {
            out.push_str(&format!(
                "   # migration: init container `{}` runs the same image (the release workflow sets both)\n",
                m
            ));
        }
        if let Some(hint) = checkout.and_then(|(c, _)| c.delivery.as_deref()) {
            out.push_str(&format!(
                "   # delivery: its workflows say {hint} (see docs/delivery.md for the keys)\n"
            ));
        }
        match checkout.and_then(|(c, _)| c.tests.as_deref()) {
            Some(cmd) => out.push_str(&format!(
                "   pre_ship_cmd: {}   # guessed from its files; runs before every ship\n",
                scalar(cmd)
            )),
            None => out
                .push_str("   # pre_ship_cmd: ./bin/test   # the tests `hearth ship` runs first\n"),
        }
        if let Some(reason) = reason {
            out.push_str("   shippable:    false\n");
            out.push_str(&format!("   shippable_reason: {}\n", scalar(&reason)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, image: &str) -> Found {
        Found {
            name: name.into(),
            image: image.into(),
            container: name.into(),
            migration: Some("migrate".into()),
            running: vec![("prod".into(), "default".into(), "v1.0.0".into())],
        }
    }

    fn checkout(dir: &str, github: Option<&str>, dockerfile: bool) -> Checkout {
        Checkout {
            dir: PathBuf::from(dir),
            github: github.map(str::to_string),
            remote_name: github.map(|g| g.rsplit('/').next().unwrap().to_string()),
            dockerfile: dockerfile.then(|| "Dockerfile".to_string()),
            tests: dockerfile.then(|| "./test.sh".to_string()),
            delivery: None,
        }
    }

    #[test]
    fn a_remote_match_beats_a_name_match() {
        let f = found("api", "ghcr.io/acme/api");
        let cs = [
            checkout("/src/api", Some("other/api"), true),
            checkout("/src/backend", Some("acme/api"), true),
        ];
        let (c, how) = match_checkout(&f, &cs).unwrap();
        assert_eq!(c.dir, PathBuf::from("/src/backend"));
        assert_eq!(how, Match::Remote);
        let cs = [checkout("/src/api", None, true)];
        assert_eq!(match_checkout(&f, &cs).unwrap().1, Match::Name);
        assert!(match_checkout(&f, &[checkout("/src/web", None, true)]).is_none());
    }

    /// Each model's workflows, as a checkout holds them, give their hint;
    /// a release workflow gives none.
    #[test]
    fn workflows_hint_at_the_delivery_model() {
        let dir = tempfile::tempdir().unwrap();
        let wf = dir.path().join(".github/workflows");
        std::fs::create_dir_all(&wf).unwrap();
        let write = |name: &str, text: &str| std::fs::write(wf.join(name), text).unwrap();
        write("build.yml", "on:\n  push:\n    tags: ['v*']\njobs: {}\n");
        assert!(delivery_hint(dir.path()).unwrap().contains(
            "build.yml and nothing else deploys: if a GitOps repository does, `delivery: gitops`"
        ));
        write("dev.yml", "on:\n  push:\n    branches: [main]\njobs: {}\n");
        assert_eq!(
            delivery_hint(dir.path()).unwrap(),
            "a push starts dev.yml, build.yml: likely `delivery: push`"
        );
        write(
            "deploy.yml",
            "on:\n  workflow_dispatch:\n    inputs:\n      image_tag: {}\njobs: {}\n",
        );
        assert!(delivery_hint(dir.path())
            .unwrap()
            .contains("`delivery: dispatch`"));
        write(
            "release.yml",
            "on:\n  release:\n    types: [published]\njobs: {}\n",
        );
        assert_eq!(delivery_hint(dir.path()), None);
    }

    #[test]
    fn render_marks_what_cannot_ship_and_why() {
        let inv = Inventory {
            context: "k3s".into(),
            environments: Environment::defaults(),
            found: vec![
                found("api", "ghcr.io/acme/api"),
                found("ui", "ghcr.io/acme/ui"),
                found("cron", "ghcr.io/acme/cron"),
            ],
            checkouts: vec![
                checkout("/src/api", Some("acme/api"), true),
                checkout("/src/ui", None, false),
            ],
            scan: Some(PathBuf::from("/src")),
        };
        let text = render(&inv, Path::new("/src"));
        assert!(text.contains("github_owner: acme"), "{text}");
        let api = text.split("\napi:\n").nth(1).unwrap();
        let api = api.split("\n\n").next().unwrap();
        assert!(
            api.contains("directory:    api   # matched by its git remote"),
            "{api}"
        );
        assert!(api.contains("repo:         acme/api"), "{api}");
        assert!(api.contains("dockerfile:   Dockerfile"), "{api}");
        assert!(!api.contains("shippable"), "{api}");
        assert!(api.contains("pre_ship_cmd: ./test.sh"), "{api}");
        assert!(!api.contains("delivery"), "a release service: {api}");
        let ui = text.split("\nui:\n").nth(1).unwrap();
        assert!(ui.contains("shippable_reason: no Dockerfile in ui"), "{ui}");
        let cron = text.split("\ncron:\n").nth(1).unwrap();
        assert!(
            cron.contains("no checkout of ghcr.io/acme/cron found under /src"),
            "{cron}"
        );
    }
}
