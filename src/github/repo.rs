//! Which GitHub repository a service lives in: `repo:` from the registry,
//! else derived from the git remote of its `directory`. Runs `git` (blocking)
//! once per service at start-up.

use std::path::Path;

use crate::model::{Problem, ProblemKind};
use crate::registry::Service;

/// `owner/name` from a git remote URL: GitHub (or GHE) https/ssh/scp forms,
/// or a local path `.../<name>.git` with `owner` from `hearth.github_owner`.
pub fn repo_from_remote(url: &str, owner: Option<&str>) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let path = if let Some((_, rest)) = url.split_once("://") {
        if url.starts_with("file://") {
            return local(rest, owner);
        }
        rest.split_once('/').map(|(_, p)| p)?
    } else if let Some((host, p)) = url.split_once(':') {
        // scp-like `git@github.com:owner/name`; a Windows drive letter is not a host.
        if host.contains('/') || host.len() == 1 {
            return local(url, owner);
        }
        p
    } else {
        return local(url, owner);
    };
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match parts.as_slice() {
        [.., o, n] => Some(format!("{o}/{n}")),
        _ => None,
    }
}

fn local(path: &str, owner: Option<&str>) -> Option<String> {
    let name = Path::new(path).file_name()?.to_str()?;
    Some(format!("{}/{name}", owner?))
}

/// The service's repository: `repo:` from the registry, else derived from
/// `git -C <directory> remote get-url origin`.
pub fn resolve_repo(service: &Service, owner: Option<&str>) -> Result<String, Problem> {
    if let Some(r) = &service.repo {
        return Ok(r.clone());
    }
    let hint = "set `repo: owner/name` in services.yaml";
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&service.directory)
        .args(["remote", "get-url", "origin"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Problem::new(
                ProblemKind::Local,
                format!("cannot run git to find the repo of {}: {e}", service.name),
                hint,
            )
        })?;
    if !out.status.success() {
        return Err(Problem::new(
            ProblemKind::NotFound,
            format!(
                "cannot tell the GitHub repo of {}: no origin remote in {}",
                service.name,
                service.directory.display()
            ),
            hint,
        ));
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    repo_from_remote(&url, owner).ok_or_else(|| {
        Problem::new(
            ProblemKind::NotFound,
            format!(
                "cannot tell the GitHub repo of {} from remote {url}",
                service.name
            ),
            "set `repo: owner/name` in services.yaml (or hearth.github_owner)",
        )
    })
}

/// The repository of every service that has one, in registry order, with
/// the problem for those whose repository cannot be told. A service hearth
/// does not ship and that names no repo has no GitHub data, which is not a
/// problem ([`Service::github_optional`]).
pub fn resolve_all(
    services: &[Service],
    owner: Option<&str>,
) -> Vec<(String, Result<String, Problem>)> {
    services
        .iter()
        .filter_map(|s| match resolve_repo(s, owner) {
            Err(_) if s.github_optional() => None,
            r => Some((s.name.clone(), r)),
        })
        .collect()
}
