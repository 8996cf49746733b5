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

/// How far the commit an environment runs is behind its branch, read from
/// the local checkout (no fetch: as fresh as its `origin/<branch>`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Behind {
    /// Commits of `branch` not in what runs.
    pub commits: u32,
    /// When the oldest of them was committed (unix seconds).
    pub oldest: Option<i64>,
    /// The branch counted against (`origin/main`).
    pub branch: String,
}

impl Behind {
    /// `12 commits of origin/main not running, the oldest 9 d old` (the
    /// age when `now` is known).
    pub fn words(&self, now: Option<i64>) -> String {
        let age = match (self.oldest, now) {
            (Some(t), Some(now)) if now >= t => {
                format!(", the oldest {} old", crate::model::text::age(now - t))
            }
            _ => String::new(),
        };
        format!(
            "{} commit{} of {} not running{age}",
            self.commits,
            if self.commits == 1 { "" } else { "s" },
            self.branch
        )
    }
}

/// The commit a serving tag names: `sha-<hex>` (a push or dispatch build)
/// names a commit; anything else is a git tag.
pub fn commit_of_tag(tag: &str) -> String {
    match tag.strip_prefix("sha-") {
        Some(hex) if hex.len() >= 7 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{hex}^{{commit}}")
        }
        _ => format!("refs/tags/{tag}^{{commit}}"),
    }
}

/// [`Behind`] from GitHub's compare API (`GET /repos/{repo}/compare/
/// {tag}...HEAD?per_page=1`), for a service without a local checkout that
/// knows the tag: `ahead_by` is how many commits of the default branch are
/// not in what `tag` names, and the one commit on the first page is the
/// oldest of them (GitHub lists them oldest first). `None` when GitHub does
/// not know the tag or does not answer.
///
/// One conditional request through the client's shared rate budget: the
/// ETag and the two numbers are remembered, so asking again while the
/// branch has not moved is a 304, which costs no rate limit.
pub async fn behind_on_github(
    client: &crate::github::Client,
    repo: &str,
    tag: &str,
) -> Option<Behind> {
    let base = github_ref(tag)?;
    let v = client
        .get_remembered(
            &format!("/repos/{repo}/compare/{base}...HEAD?per_page=1"),
            |v| {
                let oldest = v["commits"]
                    .as_array()
                    .and_then(|c| c.first())
                    .map(|c| c["commit"]["committer"]["date"].clone())
                    .unwrap_or_default();
                serde_json::json!({"ahead_by": v["ahead_by"], "oldest": oldest})
            },
        )
        .await
        .ok()?;
    let commits = u32::try_from(v["ahead_by"].as_u64()?).ok()?;
    let oldest = v["oldest"]
        .as_str()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.timestamp());
    Some(Behind {
        commits,
        oldest,
        branch: "the default branch on GitHub".into(),
    })
}

/// What GitHub calls the commit a serving tag names, for a path: the hex
/// of `sha-<hex>`, else the tag itself; `None` for anything that is not a
/// plain ref (a path must not be steered by a tag).
pub fn github_ref(tag: &str) -> Option<&str> {
    let base = match tag.strip_prefix("sha-") {
        Some(hex) if hex.len() >= 7 && hex.chars().all(|c| c.is_ascii_hexdigit()) => hex,
        _ => tag,
    };
    let safe = !base.is_empty()
        && !base.starts_with('-')
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    safe.then_some(base)
}

/// The commits a change from tag `from` to tag `to` brings, from GitHub's
/// compare API: how many `to` has that `from` lacks (`ahead`), how many it
/// drops (`behind`, a rollback), and the first [`BETWEEN_LISTED`] brought,
/// oldest first, as `(short sha, subject)` with the subject made one inert
/// line. `None` when GitHub does not know a tag or does not answer.
pub async fn between_on_github(
    client: &crate::github::Client,
    repo: &str,
    from: &str,
    to: &str,
) -> Option<Between> {
    let (a, b) = (github_ref(from)?, github_ref(to)?);
    let v = client
        .get_json(&format!(
            "/repos/{repo}/compare/{a}...{b}?per_page={BETWEEN_LISTED}"
        ))
        .await
        .ok()?;
    let commits = v["commits"]
        .as_array()
        .into_iter()
        .flatten()
        .take(BETWEEN_LISTED)
        .filter_map(|c| {
            let sha = c["sha"].as_str()?;
            let subject = c["commit"]["message"].as_str().unwrap_or("");
            let subject = subject.lines().next().unwrap_or("");
            Some((
                crate::model::text::line(sha.get(..7).unwrap_or(sha)).into_owned(),
                crate::model::text::truncate(&crate::model::text::line(subject), 72),
            ))
        })
        .collect();
    Some(Between {
        ahead: v["ahead_by"].as_u64()?,
        behind: v["behind_by"].as_u64().unwrap_or(0),
        commits,
    })
}

/// How many commits [`between_on_github`] lists.
pub const BETWEEN_LISTED: usize = 10;

/// What a change of tag brings: see [`between_on_github`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Between {
    pub ahead: u64,
    pub behind: u64,
    pub commits: Vec<(String, String)>,
}

impl Between {
    /// `brings 3 commits:` (then one line per commit, and `… and N more`),
    /// or `goes back 2 commits (nothing new)` for a rollback.
    pub fn lines(&self) -> Vec<String> {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        if self.ahead == 0 {
            return vec![if self.behind == 0 {
                "brings no new commit".to_string()
            } else {
                format!(
                    "goes back {} commit{} (nothing new)",
                    self.behind,
                    plural(self.behind)
                )
            }];
        }
        let mut out = vec![format!(
            "brings {} commit{}{}:",
            self.ahead,
            plural(self.ahead),
            if self.behind > 0 {
                format!(" and drops {}", self.behind)
            } else {
                String::new()
            }
        )];
        out.extend(self.commits.iter().map(|(sha, s)| format!("  {sha} {s}")));
        let more = self.ahead.saturating_sub(self.commits.len() as u64);
        if more > 0 {
            out.push(format!("  … and {more} more"));
        }
        out
    }
}

/// [`Behind`] for the commit `tag` names in the checkout `dir`, counted
/// against `origin/HEAD`'s branch (else `origin/main`, `origin/master`).
/// `None` when `dir` is no checkout or does not know the tag or a branch.
///
/// Cheap on purpose (the control room asks once per environment whose tag
/// changes, hundreds at start-up): the branch is looked up once per
/// checkout, then one `git log` per question, one at a time.
pub async fn behind(dir: &Path, tag: &str) -> Option<Behind> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BRANCHES: OnceLock<Mutex<HashMap<std::path::PathBuf, String>>> = OnceLock::new();
    static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    if tag.starts_with('-') || !dir.join(".git").exists() {
        return None;
    }
    let _turn = ONE_AT_A_TIME.acquire().await.ok()?;
    let known = BRANCHES
        .get_or_init(Default::default)
        .lock()
        .ok()
        .and_then(|m| m.get(dir).cloned());
    let branch = match known {
        Some(b) => b,
        None => {
            let mut found = None;
            for candidate in ["origin/HEAD", "origin/main", "origin/master"] {
                if let Ok(name) = run(
                    dir,
                    &["rev-parse", "--verify", "-q", "--abbrev-ref", candidate],
                )
                .await
                {
                    let name = name.trim().to_string();
                    if !name.is_empty() {
                        found = Some(name);
                        break;
                    }
                }
            }
            let b = found?;
            if let Ok(mut m) = BRANCHES.get_or_init(Default::default).lock() {
                m.insert(dir.to_path_buf(), b.clone());
            }
            b
        }
    };
    // An unknown tag fails the range: no count.
    let range = format!("{}..{branch}", commit_of_tag(tag));
    let log = run(dir, &["log", "--format=%ct", &range]).await.ok()?;
    let times: Vec<i64> = log.lines().filter_map(|l| l.trim().parse().ok()).collect();
    Some(Behind {
        commits: times.len() as u32,
        oldest: times.last().copied(),
        branch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_for_github_paths() {
        assert_eq!(github_ref("sha-3f2a1c9"), Some("3f2a1c9"));
        assert_eq!(github_ref("v1.2.0-rc.1"), Some("v1.2.0-rc.1"));
        assert_eq!(github_ref("sha-xyz"), Some("sha-xyz"), "not hex: a tag");
        for bad in ["", "-x", "../v1", "v1?per_page=1", "v1 v2", "a/b"] {
            assert_eq!(github_ref(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn what_a_change_of_tag_brings_in_words() {
        let b = Between {
            ahead: 12,
            behind: 0,
            commits: vec![
                ("3f2a1c9".into(), "Fix login".into()),
                ("a1b2c3d".into(), "Faster search".into()),
            ],
        };
        assert_eq!(
            b.lines(),
            vec![
                "brings 12 commits:",
                "  3f2a1c9 Fix login",
                "  a1b2c3d Faster search",
                "  … and 10 more"
            ]
        );
        let one = Between {
            ahead: 1,
            behind: 2,
            commits: vec![("3f2a1c9".into(), "Fix login".into())],
        };
        assert_eq!(
            one.lines(),
            vec!["brings 1 commit and drops 2:", "  3f2a1c9 Fix login"]
        );
        let back = Between {
            ahead: 0,
            behind: 1,
            commits: vec![],
        };
        assert_eq!(back.lines(), vec!["goes back 1 commit (nothing new)"]);
    }
}
