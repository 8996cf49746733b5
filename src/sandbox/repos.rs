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

/// The release tags every demo repository carries, oldest first.
pub const TAGS: [&str; 4] = ["v0.1.0", "v0.2.0", "v0.3.0", "v0.3.1-rc.1"];
/// The tag running in prod (`default`) at start: the latest release.
pub const PROD_TAG: &str = "v0.3.0";
/// The tag running in `qa` at start: the newest release candidate.
pub const QA_TAG: &str = "v0.3.1-rc.1";

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
}

impl WorkflowFlavor {
    fn types(self) -> &'static str {
        match self {
            WorkflowFlavor::Published => "[published]",
            WorkflowFlavor::PrereleasedReleased => "[prereleased, released]",
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
    let names: Vec<(String, WorkflowFlavor)> = match count {
        None => vec![
            ("api".into(), WorkflowFlavor::Published),
            ("web".into(), WorkflowFlavor::Published),
            ("worker".into(), WorkflowFlavor::PrereleasedReleased),
            ("billing".into(), WorkflowFlavor::Published),
        ],
        Some(n) => (1..=n)
            .map(|i| (format!("svc-{i:03}"), WorkflowFlavor::Published))
            .collect(),
    };
    let replicas = if count.is_some() { 1 } else { 2 };
    names
        .into_iter()
        .map(|(name, flavor)| DemoRepo {
            service: DemoService {
                image: format!("ghcr.io/{OWNER}/{name}"),
                repo: format!("{OWNER}/{name}"),
                prod_tag: PROD_TAG.into(),
                qa_tag: QA_TAG.into(),
                replicas,
                name: name.clone(),
            },
            k8s_name: name.clone(),
            flavor,
            origin: dir.join("origins").join(format!("{name}.git")),
            clone: dir.join("repos").join(&name),
        })
        .collect()
}

/// The name of the non-shippable service the demo registry also lists.
pub const NON_SHIPPABLE: &str = "docs";

/// Create the origins and clones of `repos` under `dir`. Returns the history
/// of each workflow flavour used.
pub fn create_all(
    dir: &Path,
    repos: &[DemoRepo],
) -> anyhow::Result<Vec<(WorkflowFlavor, History)>> {
    let tmpl_root = dir.join(".template");
    if tmpl_root.exists() {
        fs::remove_dir_all(&tmpl_root).context("clearing an old template")?;
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
    let histories: Vec<anyhow::Result<(WorkflowFlavor, History)>> = std::thread::scope(|s| {
        let handles: Vec<_> = flavors
            .iter()
            .enumerate()
            .map(|(i, &flavor)| {
                let root = tmpl_root.join(format!("t{i}"));
                s.spawn(move || make_template(&root, flavor).map(|h| (flavor, h)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("template thread"))
            .collect()
    });
    let histories = histories.into_iter().collect::<anyhow::Result<Vec<_>>>()?;

    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    let chunk = repos.len().div_ceil(threads).max(1);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = repos
            .chunks(chunk)
            .map(|part| {
                let tmpl_root = &tmpl_root;
                let flavors = &flavors;
                s.spawn(move || -> anyhow::Result<()> {
                    for r in part {
                        let i = flavors.iter().position(|f| *f == r.flavor).unwrap_or(0);
                        copy_template(&tmpl_root.join(format!("t{i}")), r)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("copy thread")?;
        }
        Ok(())
    })?;

    // The templates were only a source for the copies (which hard-link or
    // copy every file), so they go.
    let _ = fs::remove_dir_all(&tmpl_root);

    // The non-shippable service: a plain folder (it is not deployed).
    let docs = dir.join("repos").join(NON_SHIPPABLE);
    fs::create_dir_all(&docs)?;
    fs::write(
        docs.join("README.md"),
        "# docs\n\nThe public documentation site, published by the docs team's own pipeline.\n",
    )?;
    Ok(histories)
}

/// Run git with a fixed identity and dates, so the demo history is the same
/// on every machine.
fn git(cwd: &Path, args: &[&str], date: Option<i64>) -> anyhow::Result<String> {
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

/// The commits of the demo history: message, file to touch, and whether the
/// commit gets the next tag.
const COMMITS: [(&str, &str, bool); 5] = [
    ("Initial service skeleton", "src/main.txt", true),
    ("Add health endpoint", "src/health.txt", true),
    ("Add request metrics", "src/metrics.txt", true),
    ("Retry failed jobs with backoff", "src/retry.txt", true),
    ("Tidy log lines", "src/log.txt", false),
];

/// Build one template: a working repository with history and tags, its bare
/// origin (one pack) and a clone of that origin.
fn make_template(root: &Path, flavor: WorkflowFlavor) -> anyhow::Result<History> {
    let work = root.join("work");
    fs::create_dir_all(&work)?;
    git(&work, &["init", "-q", "--template=", "-b", "main"], None)?;
    fs::create_dir_all(work.join(".github/workflows"))?;
    fs::create_dir_all(work.join("src"))?;
    fs::write(
        work.join(".github/workflows/release.yml"),
        workflow_yaml(flavor),
    )?;
    fs::write(
        work.join("Dockerfile"),
        "FROM alpine:3.20\nCOPY src /app\nCMD [\"/app/run\"]\n",
    )?;
    fs::write(
        work.join("test.sh"),
        "#!/bin/sh\n# The pre-ship gate of the demo service: quick and green.\necho \"ok: all demo tests passed\"\n",
    )?;
    set_executable(&work.join("test.sh"))?;
    fs::write(
        work.join("README.md"),
        "# hearth demo service\n\nShipped with `hearth ship`; see .github/workflows/release.yml.\n",
    )?;
    // A fixed start date 30 days before now-ish keeps ages plausible.
    let base = chrono::Utc::now().timestamp() - 30 * 86_400;
    let mut tags = Vec::new();
    let mut tag_iter = TAGS.iter();
    let mut head = (String::new(), String::new());
    for (i, (msg, file, tagged)) in COMMITS.iter().enumerate() {
        let when = base + (i as i64) * 5 * 86_400;
        fs::write(work.join(file), format!("{msg}\n"))?;
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
    git(&origin, &["repack", "-a", "-d", "-q"], None)?;
    git(
        root,
        &["clone", "-q", "--template=", &path_str(&origin)?, "clone"],
        None,
    )?;
    Ok(History { tags, head })
}

fn path_str(p: &Path) -> anyhow::Result<String> {
    p.to_str()
        .map(str::to_string)
        .with_context(|| format!("{} is not valid UTF-8", p.display()))
}

#[cfg(unix)]
fn set_executable(p: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = fs::metadata(p)?.permissions();
    perm.set_mode(0o755);
    fs::set_permissions(p, perm)?;
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_p: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Give `r` its own copy of the template at `tmpl`.
fn copy_template(tmpl: &Path, r: &DemoRepo) -> anyhow::Result<()> {
    let tmpl_origin = tmpl.join("origin.git");
    copy_tree(&tmpl_origin, &r.origin, &[])?;
    copy_tree(&tmpl.join("clone"), &r.clone, &[".git/config"])?;
    // The clone's config names the template's origin: point it at this one.
    let config = fs::read_to_string(tmpl.join("clone/.git/config"))?;
    let config = config.replace(&path_str(&tmpl_origin)?, &path_str(&r.origin)?);
    fs::write(r.clone.join(".git/config"), config)?;
    Ok(())
}

/// Recursively copy `from` to `to`. Pack files are immutable in git, so they
/// are hard-linked (falling back to a copy); `skip` lists relative paths left out.
fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> anyhow::Result<()> {
    fn walk(base: &Path, from: &Path, to: &Path, skip: &[&str]) -> anyhow::Result<()> {
        fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let src = entry.path();
            let dst = to.join(entry.file_name());
            let rel = src.strip_prefix(base).unwrap_or(&src);
            if skip.iter().any(|s| Path::new(s) == rel) {
                continue;
            }
            let ty = entry.file_type()?;
            if ty.is_dir() {
                walk(base, &src, &dst, skip)?;
            } else if src.components().any(|c| c.as_os_str() == "pack") {
                if fs::hard_link(&src, &dst).is_err() {
                    fs::copy(&src, &dst)?;
                }
            } else {
                fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
            }
        }
        Ok(())
    }
    if to.exists() {
        bail!("{} already exists; pick an empty --dir", to.display());
    }
    walk(from, from, to, skip)
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
