//! The sandbox's GitOps repository (seed 002): `DIR/gitops.git`, bare,
//! which the simulated Flux reads, and a checkout of it, `DIR/gitops`, which
//! the registry names. It holds only manifests: `apps/ENV/SERVICE.yaml` per
//! `delivery: gitops` service and environment (qa, prod), each a Deployment
//! whose image line carries Flux's image-automation setter marker. Its
//! history is a few deploy commits, so that a rollback has a tag to go back
//! to and the log says which version was deployed when.
//!
//! `POST /gitops/race` on the control API makes the next push to the
//! repository lose a race: someone else's commit lands on `main` just
//! before it (a pre-receive hook moves `main` and refuses the push), as
//! when a teammate pushed first. With `conflict`, that commit changes the
//! image lines a hearth commit changes too.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::repos::{self, DemoRepo};

/// The branch Flux follows.
pub const BRANCH: &str = "main";

/// `DIR/gitops.git`.
pub fn bare(dir: &Path) -> PathBuf {
    dir.join("gitops.git")
}

/// `DIR/gitops`: the checkout the sandbox registry names.
pub fn checkout(dir: &Path) -> PathBuf {
    dir.join("gitops")
}

/// Where an environment's manifest of `service` lives in the repository.
pub fn manifest_file(env: &str, service: &str) -> String {
    format!("apps/{env}/{service}.yaml")
}

/// The Kustomizations of the sandbox: one per environment, (name, path).
pub fn kustomizations() -> Vec<(String, String)> {
    vec![
        ("apps-qa".into(), "./apps/qa".into()),
        ("apps-prod".into(), "./apps/prod".into()),
    ]
}

/// The image policy the setter marker of `service` in `env` names.
pub fn policy(service: &str, env: &str) -> String {
    format!("{}:{service}-{env}", crate::k8s::flux::NAMESPACE)
}

fn manifest(r: &DemoRepo, env: &str, namespace: &str, tag: &str) -> String {
    let name = &r.k8s_name;
    format!(
        "# {name} in {env}. Flux applies this file; the tag on the image line is\n# what runs (hearth ship and promote commit it here).\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  template:\n    spec:\n      containers:\n        - name: {name}\n          image: {image}:{tag} # {{\"$imagepolicy\": \"{policy}\"}}\n",
        image = r.service.image,
        policy = policy(name, env)
    )
}

/// The pre-receive hook of the bare repository (see [`arm_race`]).
const RACE_HOOK: &str = r#"#!/bin/sh
# hearth sandbox: POST /gitops/race makes the next push lose a race.
race=../gitops-race
[ -f "$race" ] || exit 0
sha=$(cat "$race")
rm -f "$race"
old=$(git rev-parse -q --verify refs/heads/main)
env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY -u GIT_ALTERNATE_OBJECT_DIRECTORIES \
  git update-ref refs/heads/main "$sha" "$old" || exit 0
echo "main moved on while this push was under way (someone else pushed first): fetch, rebase and push again" >&2
exit 1
"#;

/// Create the repository with the manifests of the `gitops` services in
/// `repos`, in a few dated commits, its bare origin and the checkout. Does
/// nothing when no service ships by GitOps.
pub fn prepare(dir: &Path, demo: &[DemoRepo]) -> anyhow::Result<()> {
    let services: Vec<&DemoRepo> = demo
        .iter()
        .filter(|r| r.flavor == repos::WorkflowFlavor::Gitops)
        .collect();
    if services.is_empty() {
        return Ok(());
    }
    let work = dir.join(".gitops-work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(work.join("apps/qa"))?;
    fs::create_dir_all(work.join("apps/prod"))?;
    let g = |args: &[&str], when: Option<i64>| repos::git(&work, args, when);
    g(&["init", "-q", "--template=", "-b", BRANCH], None)?;
    fs::write(
        work.join("README.md"),
        "# gitops\n\nManifests only. Flux applies apps/qa to namespace qa and apps/prod to\nnamespace default (Kustomizations flux-system/apps-qa and apps-prod).\n",
    )?;
    let base = chrono::Utc::now().timestamp() - 20 * 86_400;
    // (environment, namespace, which of the service's tags), oldest first:
    // both start at tags[1]; qa then gets tags[2], prod tags[2], qa tags[3].
    let steps: [(&str, &str, usize); 4] = [
        ("", "", 1),
        ("qa", "qa", 2),
        ("prod", "default", 2),
        ("qa", "qa", 3),
    ];
    for (i, (env, ns, t)) in steps.iter().enumerate() {
        let when = base + i as i64 * 3 * 86_400;
        let mut message = String::new();
        for r in &services {
            if env.is_empty() {
                for (e, n) in [("qa", "qa"), ("prod", "default")] {
                    fs::write(
                        work.join(manifest_file(e, &r.k8s_name)),
                        manifest(r, e, n, &r.tags[*t]),
                    )?;
                }
                message = "Add the manifests of the GitOps services".into();
            } else {
                fs::write(
                    work.join(manifest_file(env, &r.k8s_name)),
                    manifest(r, env, ns, &r.tags[*t]),
                )?;
                message = format!("chore: deploy {} {} to {env}", r.k8s_name, r.tags[*t]);
            }
        }
        g(&["add", "-A"], Some(when))?;
        g(&["commit", "-q", "-m", &message], Some(when))?;
    }
    let bare = bare(dir);
    repos::git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            "--template=",
            &path(&work)?,
            &path(&bare)?,
        ],
        None,
    )?;
    fs::remove_dir_all(&work)?;
    fs::create_dir_all(bare.join("hooks"))?;
    fs::write(bare.join("hooks/pre-receive"), RACE_HOOK)?;
    repos::set_executable(&bare.join("hooks/pre-receive"))?;
    repos::git(
        dir,
        &[
            "clone",
            "-q",
            "--template=",
            &path(&bare)?,
            &path(&checkout(dir))?,
        ],
        None,
    )?;
    Ok(())
}

fn path(p: &Path) -> anyhow::Result<String> {
    p.to_str()
        .map(str::to_string)
        .context("the sandbox directory's path must be UTF-8")
}

/// Make the next push to the GitOps repository lose a race: commit, as
/// someone else, on top of `main` (a note in the README, or with
/// `conflict` a hotfix tag on every image line), keep it aside, and let the
/// pre-receive hook move `main` to it when the next push arrives. Returns
/// the commit's sha.
pub fn arm_race(dir: &Path, conflict: bool) -> anyhow::Result<String> {
    let bare = bare(dir);
    anyhow::ensure!(bare.exists(), "this sandbox has no GitOps repository");
    let other = dir.join(".gitops-other");
    let _ = fs::remove_dir_all(&other);
    repos::git(
        dir,
        &["clone", "-q", "--template=", &path(&bare)?, &path(&other)?],
        None,
    )?;
    let message = if conflict {
        for env in ["qa", "prod"] {
            let folder = other.join("apps").join(env);
            for entry in fs::read_dir(&folder)? {
                let file = entry?.path();
                let text = fs::read_to_string(&file)?;
                let changed: Vec<String> = text
                    .lines()
                    .map(|l| match (l.find("image:"), l.find(" #")) {
                        (Some(_), Some(hash)) => {
                            let (image, rest) = l.split_at(hash);
                            format!("{image}-hotfix{rest}")
                        }
                        _ => l.to_string(),
                    })
                    .collect();
                fs::write(&file, changed.join("\n") + "\n")?;
            }
        }
        "hotfix: pin the hotfix images (ops)"
    } else {
        let readme = other.join("README.md");
        let mut text = fs::read_to_string(&readme).unwrap_or_default();
        text.push_str("\nOn call this week: ops.\n");
        fs::write(&readme, text)?;
        "docs: who is on call (ops)"
    };
    let g = |args: &[&str]| repos::git(&other, args, None);
    g(&["add", "-A"])?;
    g(&["commit", "-q", "-m", message])?;
    let sha = g(&["rev-parse", "HEAD"])?;
    g(&["push", "-q", "origin", "HEAD:refs/hearth/race"])?;
    fs::write(dir.join("gitops-race"), &sha)?;
    let _ = fs::remove_dir_all(&other);
    Ok(sha)
}
