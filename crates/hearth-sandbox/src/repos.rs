//! Local git repositories for the demo services: a bare "origin" per service
//! under `DIR/origins/` and a working clone under `DIR/repos/`, with history,
//! semver tags and a release workflow. Runs once, synchronously, inside
//! `sandbox::start` (on a blocking thread).
//!
//! Speed matters (`--services 300` must start in well under 2 s), so the real
//! `git` commands run only for a couple of template histories; every service
//! then gets a copy of a template (pack files hard-linked, small files copied,
//! the clone's `config` rewritten to point at its own origin). Git reads the
//! result exactly as if it had cloned it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::DemoService;

/// GitHub owner of every demo repository.
pub const OWNER: &str = "hearth-demo";

/// The release tags of the template histories (and of `api` and every
/// `svc-NNN`), oldest first: two older releases, the current prod release
/// (the latest) and a newer qa release candidate.
pub const TAGS: [&str; 4] = ["v0.1.0", "v0.2.0", "v0.3.0", "v0.3.1-rc.1"];

/// The default services, their workflow flavour and their own version line
/// (same shape as [`TAGS`]), so the demo does not show one version everywhere.
const DEFAULT_SERVICES: [(&str, WorkflowFlavor, [&str; 4]); 7] = [
    ("api", WorkflowFlavor::Published, TAGS),
    (
        "web",
        WorkflowFlavor::Published,
        ["v1.3.0", "v1.4.0", "v1.4.2", "v1.5.0-rc.1"],
    ),
    (
        "worker",
        WorkflowFlavor::PrereleasedReleased,
        ["v0.8.0", "v0.9.0", "v0.9.1", "v0.10.0-rc.1"],
    ),
    (
        "billing",
        WorkflowFlavor::Published,
        ["v2.0.0", "v2.0.1", "v2.1.0", "v2.1.1-rc.1"],
    ),
    (
        "ledger",
        WorkflowFlavor::Dispatch,
        ["v3.0.0", "v3.1.0", "v3.2.0", "v3.2.1"],
    ),
    (
        "relay",
        WorkflowFlavor::Push,
        ["v1.0.0", "v1.1.0", "v1.2.0", "v1.2.1"],
    ),
    (
        "hecate",
        WorkflowFlavor::Gitops,
        ["v0.6.0", "v0.7.0", "v0.7.1", "v0.7.2"],
    ),
];

/// The docker compose host (outside Kubernetes) that a dispatch
/// repository's `deploy-edge.yml` deploys to; it reports what it runs at
/// the control API's `GET /hosts/edge-1/version`.
pub const EDGE_HOST: &str = "edge-1";

/// Which release activity types a demo repository's workflow listens to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkflowFlavor {
    /// `types: [published]`, as the seed's repositories declare it. An edit
    /// from prerelease to release (a promote) fires no `published`, so with
    /// this workflow a promote deploys nothing — as on GitHub.
    Published,
    /// `types: [prereleased, released]`: fires once for every create and for
    /// a promote.
    PrereleasedReleased,
    /// No release workflow: `build.yml` builds the image for a commit
    /// (`sha-<7 hex>`), `deploy-qa.yml` and `deploy-prod.yml` deploy the
    /// `image_tag` they are dispatched with; prod waits for a reviewer
    /// (seed 001, `delivery: dispatch`). `deploy-edge.yml` deploys to a
    /// compose host outside Kubernetes ([`EDGE_HOST`]).
    Dispatch,
    /// Builds and deploys on push (seed 003, `delivery: push`): `dev.yml`
    /// runs for every push to `main` and deploys `sha-<7 hex>` to
    /// namespace `dev`; `prod.yml` runs for a pushed `v*` tag and deploys
    /// the tag to `default` after a reviewer approves.
    Push,
    /// GitOps (seed 002, `delivery: gitops`): `build.yml` builds the image
    /// of a pushed `v*` tag and deploys nothing; the GitOps repository's
    /// manifests name the tag each namespace runs, and the simulated Flux
    /// applies them.
    Gitops,
}

impl WorkflowFlavor {
    /// The workflow files of a repository of this flavour, the first one first.
    pub fn workflow_files(self) -> &'static [&'static str] {
        match self {
            WorkflowFlavor::Dispatch => &[
                "build.yml",
                "deploy-qa.yml",
                "deploy-prod.yml",
                "deploy-edge.yml",
            ],
            WorkflowFlavor::Push => &["dev.yml", "prod.yml"],
            WorkflowFlavor::Gitops => &["build.yml"],
            _ => &["release.yml"],
        }
    }

    fn types(self) -> &'static str {
        match self {
            WorkflowFlavor::Published => "[published]",
            WorkflowFlavor::PrereleasedReleased => "[prereleased, released]",
            WorkflowFlavor::Dispatch | WorkflowFlavor::Push | WorkflowFlavor::Gitops => "[]",
        }
    }

    /// The namespace of the environment below prod: `qa`, or `dev` for
    /// the push flavour.
    pub fn lower_namespace(self) -> &'static str {
        match self {
            WorkflowFlavor::Push => "dev",
            _ => "qa",
        }
    }
}

/// A demo service with everything the sandbox needs to seed it.
#[derive(Clone, Debug)]
pub struct DemoRepo {
    pub service: DemoService,
    /// Deployment name (same as the service name in the demo).
    pub k8s_name: String,
    pub flavor: WorkflowFlavor,
    /// `DIR/origins/<name>.git`.
    pub origin: PathBuf,
    /// `DIR/repos/<name>`.
    pub clone: PathBuf,
    /// This service's names for the template's tags, in [`TAGS`] order.
    pub tags: [String; 4],
}

/// A repository's history, shared by every copy of one template.
#[derive(Clone, Debug)]
pub struct History {
    /// `(tag, commit sha, commit message, commit time)`, oldest first.
    pub tags: Vec<(String, String, String, i64)>,
    /// Commit sha and message of `main`'s head (one commit past the last tag).
    pub head: (String, String),
}

/// The demo service list: a handful by default, or `svc-001...` when `count` is given.
pub fn demo_services(count: Option<usize>, dir: &Path) -> Vec<DemoRepo> {
    let names: Vec<(String, WorkflowFlavor, [&str; 4])> = match count {
        None => DEFAULT_SERVICES
            .iter()
            .map(|(n, f, t)| (n.to_string(), *f, *t))
            .collect(),
        Some(n) => (1..=n)
            .map(|i| (format!("svc-{i:03}"), WorkflowFlavor::Published, TAGS))
            .collect(),
    };
    let replicas = if count.is_some() { 1 } else { 2 };
    names
        .into_iter()
        .map(|(name, flavor, tags)| DemoRepo {
            service: DemoService {
                image: format!("ghcr.io/{OWNER}/{name}"),
                repo: format!("{OWNER}/{name}"),
                prod_tag: tags[2].into(),
                qa_tag: tags[3].into(),
                qa_namespace: flavor.lower_namespace().into(),
                replicas,
                name: name.clone(),
            },
            k8s_name: name.clone(),
            flavor,
            origin: dir.join("origins").join(format!("{name}.git")),
            clone: dir.join("repos").join(&name),
            tags: tags.map(str::to_string),
        })
        .collect()
}

/// The name of the non-shippable service the demo registry also lists.
pub const NON_SHIPPABLE: &str = "docs";

/// The template histories, ready to be stamped out once per service.
pub struct Templates {
    built: Vec<Template>,
}

struct Template {
    flavor: WorkflowFlavor,
    history: History,
    bare: Snapshot,
    clone: Snapshot,
    /// Path of the template's origin, as the template clone's config names it.
    origin: String,
}

/// Build the template histories for `repos` under `dir/.git-shared` (real
/// `git`), and the `origins/`, `repos/` folders with the non-shippable
/// service's plain folder. Cheap: the per-service work is [`Templates::materialize`].
pub fn prepare(dir: &Path, repos: &[DemoRepo]) -> anyhow::Result<Templates> {
    // The templates stay: every repository borrows their objects through
    // `objects/info/alternates` and hard-links their unchanging files.
    let tmpl_root = dir.join(".git-shared");
    if tmpl_root.exists() {
        fs::remove_dir_all(&tmpl_root).context("clearing old shared git objects")?;
    }
    fs::create_dir_all(dir.join("origins"))?;
    fs::create_dir_all(dir.join("repos"))?;
    let mut flavors: Vec<WorkflowFlavor> = Vec::new();
    for r in repos {
        if !flavors.contains(&r.flavor) {
            flavors.push(r.flavor);
        }
    }
    // The templates are independent: build them on parallel threads.
    let built: Vec<anyhow::Result<Template>> = std::thread::scope(|s| {
        let handles: Vec<_> = flavors
            .iter()
            .enumerate()
            .map(|(i, &flavor)| {
                let root = tmpl_root.join(format!("t{i}"));
                s.spawn(move || -> anyhow::Result<Template> {
                    let history = make_template(&root, flavor)?;
                    let origin = root.join("origin.git");
                    let alternates = root.join("alternates");
                    fs::write(
                        &alternates,
                        format!("{}\n", path_str(&origin.join("objects"))?),
                    )?;
                    let bare = snapshot(&origin, "", &alternates)?;
                    let clone = snapshot(&root.join("clone"), ".git", &alternates)?;
                    let _ = fs::remove_dir_all(root.join("work"));
                    Ok(Template {
                        flavor,
                        history,
                        bare,
                        clone,
                        origin: path_str(&origin)?,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("template thread"))
            .collect()
    });
    let built = built.into_iter().collect::<anyhow::Result<Vec<_>>>()?;

    // The non-shippable service: a plain folder (it is not deployed).
    let docs = dir.join("repos").join(NON_SHIPPABLE);
    fs::create_dir_all(&docs)?;
    fs::write(
        docs.join("README.md"),
        "# docs\n\nThe public documentation site, published by the docs team's own pipeline.\n",
    )?;
    Ok(Templates { built })
}

impl Templates {
    /// The history of each workflow flavour (tags, commits), for seeding the GitHub API.
    pub fn histories(&self) -> Vec<(WorkflowFlavor, History)> {
        self.built
            .iter()
            .map(|t| (t.flavor, t.history.clone()))
            .collect()
    }

    /// Give every repo in `repos` its origin and working clone, on a few
    /// threads. New inodes are what costs here, so each service gets only
    /// the directories and files that must be its own.
    pub fn materialize(&self, repos: &[DemoRepo]) -> anyhow::Result<()> {
        let threads = 4;
        let chunk = repos.len().div_ceil(threads).max(1);
        std::thread::scope(|s| -> anyhow::Result<()> {
            let handles: Vec<_> = repos
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || -> anyhow::Result<()> {
                        for r in part {
                            let t = self
                                .built
                                .iter()
                                .find(|t| t.flavor == r.flavor)
                                .context("a template per flavour")?;
                            let renames: Vec<(&str, &str)> = TAGS
                                .iter()
                                .zip(r.tags.iter())
                                .filter(|(a, b)| **a != b.as_str())
                                .map(|(a, b)| (*a, b.as_str()))
                                .collect();
                            t.bare.write(&r.origin, "", "", &renames)?;
                            t.clone
                                .write(&r.clone, &t.origin, &path_str(&r.origin)?, &renames)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("repo thread")?;
            }
            Ok(())
        })
    }
}

/// Run git with a fixed identity and dates, so the demo history is the same
/// on every machine.
pub(crate) fn git(cwd: &Path, args: &[&str], date: Option<i64>) -> anyhow::Result<String> {
    let mut cmd = Command::new("git");
    cmd.current_dir(cwd)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Hearth Demo")
        .env("GIT_AUTHOR_EMAIL", "demo@hearth.invalid")
        .env("GIT_COMMITTER_NAME", "Hearth Demo")
        .env("GIT_COMMITTER_EMAIL", "demo@hearth.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(t) = date {
        let d = format!("@{t} +0000");
        cmd.env("GIT_AUTHOR_DATE", &d).env("GIT_COMMITTER_DATE", &d);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "git {} failed in {}: {}",
            args.join(" "),
            cwd.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn workflow_yaml(flavor: WorkflowFlavor) -> String {
    format!(
        r#"# Builds the image and deploys it when a release fires.
# prerelease → namespace qa, latest release → namespace default (prod).
name: release
on:
  release:
    types: {types}
jobs:
  ship:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Build and push image
        run: |
          docker build -t ghcr.io/${{{{ github.repository }}}}:${{{{ github.event.release.tag_name }}}} .
          docker push ghcr.io/${{{{ github.repository }}}}:${{{{ github.event.release.tag_name }}}}
      - name: Deploy to k3s
        run: |
          NS=${{{{ github.event.release.prerelease && 'qa' || 'default' }}}}
          kubectl set image -n "$NS" deployment/${{{{ github.event.repository.name }}}} \
            '*=ghcr.io/${{{{ github.repository }}}}:${{{{ github.event.release.tag_name }}}}'
"#,
        types = flavor.types()
    )
}

/// The workflow files of a template of `flavor`.
fn workflow_files(flavor: WorkflowFlavor) -> Vec<(&'static str, String)> {
    if flavor == WorkflowFlavor::Push {
        return push_workflow_files();
    }
    if flavor == WorkflowFlavor::Gitops {
        return vec![(
            "build.yml",
            r#"# A pushed version tag builds the image, tagged with the version. It
# deploys nothing: the GitOps repository says what runs, and Flux applies it.
name: build
on:
  push:
    tags: ['v*']
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Build and push image
        run: |
          docker build -t ghcr.io/${{ github.repository }}:${GITHUB_REF_NAME} .
          docker push ghcr.io/${{ github.repository }}:${GITHUB_REF_NAME}
"#
            .to_string(),
        )];
    }
    if flavor != WorkflowFlavor::Dispatch {
        return vec![("release.yml", workflow_yaml(flavor))];
    }
    let deploy = |name: &str, ns: &str, environment: &str| {
        format!(
            r#"# Deploys the image tag it is run with to namespace {ns}, by hand:
# gh workflow run deploy-{name}.yml -f image_tag=sha-1a2b3c4
name: deploy-{name}
run-name: deploy ${{{{ inputs.image_tag }}}}
on:
  workflow_dispatch:
    inputs:
      image_tag:
        description: The image tag to deploy
        required: true
env:
  NAMESPACE: {ns}
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: {environment}
    steps:
      - uses: actions/checkout@v4
      - name: Deploy to k3s
        run: |
          kubectl set image -n "$NAMESPACE" deployment/${{{{ github.event.repository.name }}}}             '*=ghcr.io/${{{{ github.repository }}}}:${{{{ inputs.image_tag }}}}'
"#
        )
    };
    vec![
        (
            "build.yml",
            r#"# Builds and pushes the image of a commit, tagged sha-<first 7 hex>.
name: build
on:
  workflow_dispatch:
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Build and push image
        run: |
          TAG=sha-${GITHUB_SHA::7}
          docker build -t ghcr.io/${{ github.repository }}:$TAG .
          docker push ghcr.io/${{ github.repository }}:$TAG
"#
            .to_string(),
        ),
        ("deploy-qa.yml", deploy("qa", "qa", "staging")),
        ("deploy-prod.yml", deploy("prod", "default", "production")),
        (
            "deploy-edge.yml",
            format!(
                r#"# Deploys the image tag it is run with to the docker compose host
# {EDGE_HOST} (not Kubernetes), by hand: it reports what it runs at its
# version endpoint. gh workflow run deploy-edge.yml -f image_tag=sha-1a2b3c4
name: deploy-edge
run-name: deploy ${{{{ inputs.image_tag }}}}
on:
  workflow_dispatch:
    inputs:
      image_tag:
        description: The image tag to deploy
        required: true
env:
  HOST: {EDGE_HOST}
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: edge
    steps:
      - uses: actions/checkout@v4
      - name: Deploy to the compose host
        run: |
          ssh deploy@"$HOST" IMAGE=ghcr.io/${{{{ github.repository }}}}:${{{{ inputs.image_tag }}}} ./deploy-compose.sh
"#
            ),
        ),
    ]
}

/// The workflows of a push-delivered repository (seed 003).
fn push_workflow_files() -> Vec<(&'static str, String)> {
    let job = |ns: &str, tag: &str, environment: &str| {
        format!(
            r#"env:
  NAMESPACE: {ns}
jobs:
  ship:
    runs-on: ubuntu-latest{environment}
    steps:
      - uses: actions/checkout@v4
      - name: Build and push image
        run: |
          docker build -t ghcr.io/${{{{ github.repository }}}}:{tag} -t ghcr.io/${{{{ github.repository }}}}:latest .
          docker push --all-tags ghcr.io/${{{{ github.repository }}}}
      - name: Deploy to k3s
        run: |
          kubectl set image -n "$NAMESPACE" deployment/${{{{ github.event.repository.name }}}} \
            '*=ghcr.io/${{{{ github.repository }}}}:{tag}'
"#
        )
    };
    vec![
        (
            "dev.yml",
            format!(
                "# Every push to main builds the commit (sha-<first 7 hex>) and deploys it to dev.\nname: dev\non:\n  push:\n    branches: [main]\n{}",
                job("dev", "sha-${GITHUB_SHA::7}", "")
            ),
        ),
        (
            "prod.yml",
            format!(
                "# A pushed version tag builds it and deploys it to prod, once a reviewer approves.\nname: prod\non:\n  push:\n    tags: ['v*']\n{}",
                job("default", "${GITHUB_REF_NAME}", "\n    environment: production")
            ),
        ),
    ]
}

/// The post-receive hook of every demo origin: it appends each pushed ref
/// (`NAME OLD NEW REF`) to `origins/push-events`, which the sandbox GitHub
/// reads to start the runs a push triggers (`on: push`).
pub const PUSH_HOOK: &str = "#!/bin/sh\n# hearth sandbox: tell the simulated GitHub about this push.\nname=$(basename \"$PWD\" .git)\nwhile read -r old new ref; do\n  echo \"$name $old $new $ref\" >> ../push-events\ndone\n";

/// The file the origins' hooks append pushes to.
pub fn push_events(dir: &Path) -> PathBuf {
    dir.join("origins").join("push-events")
}

/// The commits of the demo history: message, file to touch, and whether the
/// commit gets the next tag.
const COMMITS: [(&str, bool); 5] = [
    ("Initial service skeleton", true),
    ("Add health endpoint", true),
    ("Add request metrics", true),
    ("Retry failed jobs with backoff", true),
    ("Tidy log lines", false),
];

/// Build one template: a working repository with history and tags, its bare
/// origin (one pack) and a clone of that origin.
fn make_template(root: &Path, flavor: WorkflowFlavor) -> anyhow::Result<History> {
    let work = root.join("work");
    fs::create_dir_all(&work)?;
    git(&work, &["init", "-q", "--template=", "-b", "main"], None)?;
    fs::create_dir_all(work.join(".github/workflows"))?;
    for (file, text) in workflow_files(flavor) {
        fs::write(work.join(".github/workflows").join(file), text)?;
    }
    fs::write(
        work.join("Dockerfile"),
        "FROM alpine:3.20\nCOPY src /app\nCMD [\"/app/run\"]\n",
    )?;
    fs::write(
        work.join("test.sh"),
        "#!/bin/sh\n# The pre-ship gate of the demo service: quick and green.\necho \"ok: all demo tests passed\"\n",
    )?;
    set_executable(&work.join("test.sh"))?;
    // A fixed start date 30 days before now-ish keeps ages plausible.
    let base = chrono::Utc::now().timestamp() - 30 * 86_400;
    let mut tags = Vec::new();
    let mut tag_iter = TAGS.iter();
    let mut head = (String::new(), String::new());
    let mut readme = String::from(
        "# hearth demo service\n\nShipped with `hearth ship`; see .github/workflows/release.yml.\n\n## Changes\n",
    );
    for (i, (msg, tagged)) in COMMITS.iter().enumerate() {
        let when = base + (i as i64) * 5 * 86_400;
        // One file carries the history: every file is one more inode per service.
        readme.push_str(&format!("- {msg}\n"));
        fs::write(work.join("README.md"), &readme)?;
        git(&work, &["add", "-A"], Some(when))?;
        git(&work, &["commit", "-q", "-m", msg], Some(when))?;
        let sha = git(&work, &["rev-parse", "HEAD"], None)?;
        if *tagged {
            let tag = tag_iter.next().expect("enough tags");
            git(&work, &["tag", tag], Some(when))?;
            tags.push((tag.to_string(), sha.clone(), msg.to_string(), when));
        }
        head = (sha, msg.to_string());
    }
    let origin = root.join("origin.git");
    git(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "--template=",
            "-b",
            "main",
            "origin.git",
        ],
        None,
    )?;
    git(
        &work,
        &["remote", "add", "origin", &path_str(&origin)?],
        None,
    )?;
    git(&work, &["push", "-q", "origin", "main", "--tags"], None)?;
    // One pack, no bitmap or server info, refs packed: as few files as
    // possible, since each is copied once per service.
    git(
        &origin,
        &[
            "-c",
            "repack.writeBitmaps=false",
            "repack",
            "-a",
            "-d",
            "-n",
            "-q",
        ],
        None,
    )?;
    git(&origin, &["pack-refs", "--all"], None)?;
    let _ = fs::remove_file(origin.join("objects/info/packs"));
    // Installed after the template's own push, so that push reports nothing.
    fs::create_dir_all(origin.join("hooks"))?;
    fs::write(origin.join("hooks/post-receive"), PUSH_HOOK)?;
    set_executable(&origin.join("hooks/post-receive"))?;
    git(
        root,
        &[
            "-c",
            "core.logAllRefUpdates=false",
            "clone",
            "-q",
            "--template=",
            &path_str(&origin)?,
            "clone",
        ],
        None,
    )?;
    let clone = root.join("clone");
    git(&clone, &["pack-refs", "--all"], None)?;
    let _ = fs::remove_dir_all(clone.join(".git/logs"));
    let _ = fs::remove_file(clone.join(".git/objects/info/packs"));
    Ok(History { tags, head })
}

fn path_str(p: &Path) -> anyhow::Result<String> {
    p.to_str()
        .map(str::to_string)
        .with_context(|| format!("{} is not valid UTF-8", p.display()))
}

#[cfg(test)]
mod tests {
    use super::rename_tags;

    #[test]
    fn renamed_tags_stay_sorted() {
        let packed = "# pack-refs with: peeled fully-peeled sorted \n\
                      a1 refs/heads/main\n\
                      b2 refs/tags/v0.1.0\n\
                      c3 refs/tags/v0.3.0\n\
                      ^d4\n";
        let out = rename_tags(packed, &[("v0.1.0", "v0.8.0"), ("v0.3.0", "v0.10.0")]);
        assert_eq!(
            out,
            "# pack-refs with: peeled fully-peeled sorted \n\
             a1 refs/heads/main\n\
             c3 refs/tags/v0.10.0\n^d4\n\
             b2 refs/tags/v0.8.0\n"
        );
    }
}

#[cfg(unix)]
pub(crate) fn set_executable(p: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = fs::metadata(p)?.permissions();
    perm.set_mode(0o755);
    fs::set_permissions(p, perm)?;
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn set_executable(_p: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// How one file of a per-service repository comes to be.
#[derive(Debug)]
enum Source {
    /// A hard link to this template file: git only ever replaces these files
    /// (write a `.lock`, rename), never edits them in place, so sharing the
    /// inode is safe and costs no new inode.
    Link(PathBuf),
    /// A file of its own (working-tree files, which people edit in place).
    Write(Vec<u8>, bool),
}

/// One repository of a template: what to create for each service.
#[derive(Debug, Default)]
struct Snapshot {
    /// Relative directories, parents first.
    dirs: Vec<PathBuf>,
    files: Vec<(PathBuf, Source)>,
}

/// Describe the template repository at `root` (bare when `git_dir` is empty,
/// else a working tree with `.git`). Objects stay shared through
/// `objects/info/alternates` (a link to `alternates`); empty directories and
/// the symbolic `refs/remotes/origin/HEAD` are left out (git needs neither).
fn snapshot(root: &Path, git_dir: &str, alternates: &Path) -> anyhow::Result<Snapshot> {
    fn walk(root: &Path, dir: &Path, git: &Path, out: &mut Snapshot) -> anyhow::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            if rel.starts_with(git.join("objects")) || rel.starts_with(git.join("refs/remotes")) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                walk(root, &path, git, out)?;
            } else if rel.starts_with(git) && (git_is_bare(git) || rel != git.join("config")) {
                out.files.push((rel, Source::Link(path)));
            } else {
                let exec = is_executable(&entry.metadata()?);
                out.files.push((rel, Source::Write(fs::read(&path)?, exec)));
            }
        }
        Ok(())
    }
    let git = Path::new(git_dir);
    let mut snap = Snapshot::default();
    walk(root, root, git, &mut snap)?;
    snap.files.push((
        git.join("objects/info/alternates"),
        Source::Link(alternates.to_path_buf()),
    ));
    let mut dirs: Vec<PathBuf> = vec![PathBuf::new(), git.join("refs")];
    for (rel, _) in &snap.files {
        let mut p = rel.parent();
        while let Some(d) = p {
            dirs.push(d.to_path_buf());
            p = d.parent();
        }
    }
    dirs.sort_by_key(|d| (d.components().count(), d.clone()));
    dirs.dedup();
    snap.dirs = dirs;
    Ok(snap)
}

/// A bare template's files are all git's (its `config` is the same for every origin).
fn git_is_bare(git: &Path) -> bool {
    git.as_os_str().is_empty()
}

#[cfg(unix)]
fn is_executable(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_m: &fs::Metadata) -> bool {
    false
}

impl Snapshot {
    /// Create the snapshot under `to`, replacing `config_from` with
    /// `config_to` in a written `config` (the clone's origin URL) and
    /// renaming tags in `packed-refs` (`renames`: template name → this one's).
    fn write(
        &self,
        to: &Path,
        config_from: &str,
        config_to: &str,
        renames: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        if to.exists() {
            bail!("{} already exists; pick an empty --dir", to.display());
        }
        for d in &self.dirs {
            let p = to.join(d);
            match fs::create_dir(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(e).with_context(|| format!("creating {}", p.display()));
                }
                _ => {}
            }
        }
        for (rel, source) in &self.files {
            let p = to.join(rel);
            match source {
                Source::Link(from)
                    if !renames.is_empty()
                        && rel.file_name().is_some_and(|n| n == "packed-refs") =>
                {
                    let text = fs::read_to_string(from)?;
                    write_file(&p, rename_tags(&text, renames).as_bytes(), false)?;
                }
                Source::Link(from) => {
                    if fs::hard_link(from, &p).is_err() {
                        fs::copy(from, &p).with_context(|| format!("writing {}", p.display()))?;
                    }
                }
                Source::Write(data, exec) => {
                    if rel.file_name().is_some_and(|n| n == "config") && !config_from.is_empty() {
                        let text = String::from_utf8_lossy(data).replace(config_from, config_to);
                        write_file(&p, text.as_bytes(), *exec)?;
                    } else {
                        write_file(&p, data, *exec)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// `packed-refs` with tags renamed, its ref lines sorted again (the file
/// declares itself `sorted`, and git binary-searches it).
fn rename_tags(packed_refs: &str, renames: &[(&str, &str)]) -> String {
    let mut header = String::new();
    // (name, line, peeled line of an annotated tag)
    let mut refs: Vec<(String, String, Option<String>)> = Vec::new();
    for line in packed_refs.lines() {
        if line.starts_with('#') {
            header.push_str(line);
            header.push('\n');
        } else if line.starts_with('^') {
            if let Some(last) = refs.last_mut() {
                last.2 = Some(line.to_string());
            }
        } else if let Some((sha, name)) = line.split_once(' ') {
            let name = renames
                .iter()
                .find(|(from, _)| name.strip_prefix("refs/tags/") == Some(*from))
                .map(|(_, to)| format!("refs/tags/{to}"))
                .unwrap_or_else(|| name.to_string());
            refs.push((name.clone(), format!("{sha} {name}"), None));
        }
    }
    refs.sort();
    let mut out = header;
    for (_, line, peeled) in refs {
        out.push_str(&line);
        out.push('\n');
        if let Some(p) = peeled {
            out.push_str(&p);
            out.push('\n');
        }
    }
    out
}

fn write_file(p: &Path, data: &[u8], exec: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if exec { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = exec;
    let mut f = opts
        .open(p)
        .with_context(|| format!("writing {}", p.display()))?;
    f.write_all(data)
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

/// The commit a tag points at in a bare origin, or `None` when the tag does
/// not exist there. Used by the GitHub API to validate `tag_name`.
pub async fn tag_commit(origin: &Path, tag: &str) -> Option<String> {
    if tag.is_empty() || tag.starts_with('-') {
        return None;
    }
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(origin)
        .args(["rev-parse", "--verify", "-q"])
        .arg(format!("refs/tags/{tag}^{{commit}}"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!sha.is_empty()).then_some(sha)
}

/// `git args` in `origin`, its trimmed stdout when it succeeds.
pub async fn git_output(origin: &Path, args: &[&str]) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(origin)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .await
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

/// The commit message of `sha` in `origin` (first line), for a run's head commit.
pub async fn commit_message(origin: &Path, sha: &str) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(origin)
        .args(["log", "-1", "--format=%s", sha])
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The workflow file `path` (e.g. `.github/workflows/release.yml`) as committed
/// at `rev` in `origin`.
pub async fn workflow_at(origin: &Path, rev: &str, path: &str) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(origin)
        .arg("show")
        .arg(format!("{rev}:{path}"))
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}
