//! git, through the `git` command as the seed does: reading a service's
//! working tree (branch, HEAD, dirty files, tags, what the remote has, read
//! with `ls-remote` so that a check changes nothing) and the few writes a
//! ship makes (tag, push), which the pipeline sends through the reporter so
//! that each is in the command log.

use std::path::Path;

use crate::model::{Problem, ProblemKind};

/// Run `git -C dir args`; stdout on success, else a problem with git's words.
pub async fn run(dir: &Path, args: &[&str]) -> Result<String, Problem> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            Problem::new(
                ProblemKind::Local,
                format!("cannot run git: {e}"),
                "install git and make sure it is on PATH",
            )
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no message");
    // git relays a remote's words ("remote: ..."): inert like any outside text.
    Err(Problem::new(
        ProblemKind::Local,
        format!(
            "git {} failed (exit {}): {first}",
            args.join(" "),
            out.status.code().unwrap_or(-1)
        ),
        "",
    )
    .inert())
}

/// What a ship needs to know of a working tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    /// `None` on a detached HEAD.
    pub branch: Option<String>,
    pub head: String,
    /// `git status --porcelain` lines (tracked changes only).
    pub dirty: Vec<String>,
    /// Tags the local repository has.
    pub local_tags: Vec<String>,
    /// Tags the remote has, with the commit each names.
    pub remote_tags: Vec<(String, String)>,
    /// The remote's commit for the branch, when it has the branch.
    pub remote_head: Option<String>,
    /// Whether the remote's commit is already in HEAD's history.
    pub remote_in_history: bool,
}

impl Tree {
    /// Every tag, local or remote.
    pub fn all_tags(&self) -> Vec<String> {
        let mut tags = self.local_tags.clone();
        for (t, _) in &self.remote_tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        tags
    }

    /// The commit the remote names for `tag`.
    pub fn remote_tag(&self, tag: &str) -> Option<&str> {
        self.remote_tags
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, sha)| sha.as_str())
    }
}

/// Read a working tree without changing anything (the remote through `ls-remote`).
pub async fn read_tree(dir: &Path) -> Result<Tree, Problem> {
    if !dir.join(".git").exists() && run(dir, &["rev-parse", "--git-dir"]).await.is_err() {
        return Err(Problem::new(
            ProblemKind::NotFound,
            format!("{} is not a git repository", dir.display()),
            "check `directory:` in services.yaml",
        ));
    }
    let head = run(dir, &["rev-parse", "HEAD"]).await?.trim().to_string();
    let branch = run(dir, &["symbolic-ref", "--quiet", "--short", "HEAD"])
        .await
        .ok()
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty());
    let dirty = run(dir, &["status", "--porcelain", "--untracked-files=no"])
        .await?
        .lines()
        .map(str::to_string)
        .collect();
    let local_tags = run(dir, &["tag", "--list"])
        .await?
        .lines()
        .map(str::to_string)
        .collect();
    let remote = run(dir, &["ls-remote", "--heads", "--tags", "origin"])
        .await
        .map_err(|p| Problem {
            hint: "check the origin remote: git remote -v; git fetch origin".into(),
            ..p
        })?;
    let mut remote_tags: Vec<(String, String)> = Vec::new();
    let mut remote_head = None;
    for line in remote.lines() {
        let Some((sha, r)) = line.split_once('\t') else {
            continue;
        };
        if let Some(tag) = r.strip_prefix("refs/tags/") {
            // `v1^{}` is the commit an annotated tag points at: prefer it.
            match tag.strip_suffix("^{}") {
                Some(t) => {
                    remote_tags.retain(|(n, _)| n != t);
                    remote_tags.push((t.to_string(), sha.to_string()));
                }
                None if !remote_tags.iter().any(|(n, _)| n == tag) => {
                    remote_tags.push((tag.to_string(), sha.to_string()))
                }
                None => {}
            }
        } else if let (Some(b), Some(h)) = (&branch, r.strip_prefix("refs/heads/")) {
            if h == b {
                remote_head = Some(sha.to_string());
            }
        }
    }
    let remote_in_history = match &remote_head {
        None => true,
        Some(sha) if *sha == head => true,
        Some(sha) => run(dir, &["merge-base", "--is-ancestor", sha, "HEAD"])
            .await
            .is_ok(),
    };
    Ok(Tree {
        branch,
        head,
        dirty,
        local_tags,
        remote_tags,
        remote_head,
        remote_in_history,
    })
}

/// The commit a tag names in the local repository.
pub async fn tag_commit(dir: &Path, tag: &str) -> Option<String> {
    run(dir, &["rev-parse", &format!("{tag}^{{commit}}")])
        .await
        .ok()
        .map(|s| s.trim().to_string())
}
