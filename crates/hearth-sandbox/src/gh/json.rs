//! The JSON shapes of the sandbox's GitHub answers, after GitHub's
//! published REST OpenAPI description (users, repositories, releases,
//! workflows, runs and jobs).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;
use crate::ci::RunRec;

impl GithubApi {
    pub(super) fn user_json(&self, login: &str, id: u64, kind: &str) -> Value {
        let u = format!("{}/users/{login}", self.base);
        json!({
            "login": login,
            "id": id,
            "node_id": node_id("U", id),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "gravatar_id": "",
            "url": u,
            "html_url": format!("https://github.com/{login}"),
            "followers_url": format!("{u}/followers"),
            "following_url": format!("{u}/following{{/other_user}}"),
            "gists_url": format!("{u}/gists{{/gist_id}}"),
            "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{u}/subscriptions"),
            "organizations_url": format!("{u}/orgs"),
            "repos_url": format!("{u}/repos"),
            "events_url": format!("{u}/events{{/privacy}}"),
            "received_events_url": format!("{u}/received_events"),
            "type": kind,
            "user_view_type": "public",
            "site_admin": false
        })
    }

    pub(super) fn me(&self) -> Value {
        self.user_json(USER_LOGIN, USER_ID, "User")
    }

    /// `minimal-repository` (embedded in runs); `full` adds the fields of
    /// `full-repository` that `GET /repos/{owner}/{repo}` returns.
    pub(super) fn repo_json(&self, info: &RepoInfo, full: bool) -> Value {
        let full_name = info.full_name();
        let u = format!("{}/repos/{full_name}", self.base);
        let mut v = json!({
            "id": info.id,
            "node_id": node_id("R", info.id),
            "name": info.name,
            "full_name": full_name,
            "private": true,
            "owner": self.user_json(&info.owner, ORG_ID, "Organization"),
            "html_url": format!("https://github.com/{full_name}"),
            "description": format!("The {} service (hearth sandbox)", info.service),
            "fork": false,
            "url": u,
            "git_url": format!("git://github.com/{full_name}.git"),
            "ssh_url": format!("git@github.com:{full_name}.git"),
        });
        // The many `*_url` templates minimal-repository requires.
        const URLS: [(&str, &str); 36] = [
            ("archive_url", "/{archive_format}{/ref}"),
            ("assignees_url", "/assignees{/user}"),
            ("blobs_url", "/git/blobs{/sha}"),
            ("branches_url", "/branches{/branch}"),
            ("collaborators_url", "/collaborators{/collaborator}"),
            ("comments_url", "/comments{/number}"),
            ("commits_url", "/commits{/sha}"),
            ("compare_url", "/compare/{base}...{head}"),
            ("contents_url", "/contents/{+path}"),
            ("contributors_url", "/contributors"),
            ("deployments_url", "/deployments"),
            ("downloads_url", "/downloads"),
            ("events_url", "/events"),
            ("forks_url", "/forks"),
            ("git_commits_url", "/git/commits{/sha}"),
            ("git_refs_url", "/git/refs{/sha}"),
            ("git_tags_url", "/git/tags{/sha}"),
            ("hooks_url", "/hooks"),
            ("issue_comment_url", "/issues/comments{/number}"),
            ("issue_events_url", "/issues/events{/number}"),
            ("issues_url", "/issues{/number}"),
            ("keys_url", "/keys{/key_id}"),
            ("labels_url", "/labels{/name}"),
            ("languages_url", "/languages"),
            ("merges_url", "/merges"),
            ("milestones_url", "/milestones{/number}"),
            (
                "notifications_url",
                "/notifications{?since,all,participating}",
            ),
            ("pulls_url", "/pulls{/number}"),
            ("releases_url", "/releases{/id}"),
            ("stargazers_url", "/stargazers"),
            ("statuses_url", "/statuses/{sha}"),
            ("subscribers_url", "/subscribers"),
            ("subscription_url", "/subscription"),
            ("tags_url", "/tags"),
            ("teams_url", "/teams"),
            ("trees_url", "/git/trees{/sha}"),
        ];
        if let Value::Object(m) = &mut v {
            for (key, suffix) in URLS {
                m.insert(key.into(), Value::String(format!("{u}{suffix}")));
            }
        }
        if full {
            let created = ts(info.created_at);
            let extra = json!({
                "clone_url": format!("file://{}", info.origin.display()),
                "mirror_url": null,
                "svn_url": format!("https://github.com/{full_name}"),
                "homepage": null,
                "language": "Rust",
                "license": null,
                "forks_count": 0,
                "forks": 0,
                "stargazers_count": 0,
                "watchers_count": 0,
                "watchers": 0,
                "size": 42,
                "default_branch": "main",
                "open_issues_count": 0,
                "open_issues": 0,
                "is_template": false,
                "topics": [],
                "has_issues": true,
                "has_projects": false,
                "has_wiki": false,
                "has_pages": false,
                "has_downloads": true,
                "has_discussions": false,
                "archived": false,
                "disabled": false,
                "visibility": "private",
                "pushed_at": created,
                "created_at": created,
                "updated_at": created,
                "permissions": {"admin": true, "maintain": true, "push": true, "triage": true, "pull": true},
                "allow_rebase_merge": true,
                "allow_squash_merge": true,
                "allow_merge_commit": true,
                "allow_auto_merge": false,
                "delete_branch_on_merge": false,
                "allow_forking": false,
                "web_commit_signoff_required": false,
                "network_count": 0,
                "subscribers_count": 1,
                "organization": self.user_json(&info.owner, ORG_ID, "Organization"),
            });
            if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
                m.extend(e);
            }
        }
        v
    }

    pub(super) fn release_json(&self, info: &RepoInfo, r: &ReleaseRec) -> Value {
        let full_name = info.full_name();
        let u = format!("{}/repos/{full_name}/releases/{}", self.base, r.id);
        json!({
            "url": u,
            "html_url": format!("https://github.com/{full_name}/releases/tag/{}", r.tag_name),
            "assets_url": format!("{u}/assets"),
            "upload_url": format!("{}/repos/{full_name}/releases/{}/assets{{?name,label}}", self.base, r.id),
            "tarball_url": format!("{}/repos/{full_name}/tarball/{}", self.base, r.tag_name),
            "zipball_url": format!("{}/repos/{full_name}/zipball/{}", self.base, r.tag_name),
            "id": r.id,
            "node_id": node_id("RE", r.id),
            "tag_name": r.tag_name,
            "target_commitish": r.target_commitish,
            "name": r.name,
            "body": r.body,
            "draft": r.draft,
            "prerelease": r.prerelease,
            "immutable": false,
            "created_at": ts(r.created_at),
            "updated_at": ts(r.updated_at),
            "published_at": r.published_at.map(ts),
            "author": self.me(),
            "assets": [],
        })
    }

    pub(super) fn run_json(&self, info: &RepoInfo, run: &RunRec) -> Value {
        let full_name = info.full_name();
        let u = format!("{}/repos/{full_name}/actions/runs/{}", self.base, run.id);
        let author = json!({"name": "Hearth Demo", "email": "demo@hearth.invalid"});
        let file = info.workflow_file_of(run.workflow_id);
        let name = file.trim_end_matches(".yml").trim_end_matches(".yaml");
        json!({
            "id": run.id,
            "name": name,
            "node_id": node_id("WFR", run.id),
            "check_suite_id": run.id + 500_000,
            "check_suite_node_id": node_id("CS", run.id + 500_000),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": format!(".github/workflows/{file}"),
            "display_title": run.display_title,
            "run_number": run.run_number,
            "run_attempt": run.run_attempt,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "url": u,
            "html_url": format!("https://github.com/{full_name}/actions/runs/{}", run.id),
            "pull_requests": [],
            "created_at": ts(run.created_at),
            "updated_at": ts(run.updated_at),
            "run_started_at": ts(run.run_started_at),
            "actor": self.me(),
            "triggering_actor": self.me(),
            "referenced_workflows": [],
            "jobs_url": format!("{u}/jobs"),
            "logs_url": format!("{u}/logs"),
            "check_suite_url": format!("{}/repos/{full_name}/check-suites/{}", self.base, run.id + 500_000),
            "artifacts_url": format!("{u}/artifacts"),
            "cancel_url": format!("{u}/cancel"),
            "rerun_url": format!("{u}/rerun"),
            "previous_attempt_url": (run.run_attempt > 1)
                .then(|| format!("{u}/attempts/{}", run.run_attempt - 1)),
            "workflow_url": format!("{}/repos/{full_name}/actions/workflows/{}", self.base, run.workflow_id),
            "head_commit": {
                "id": run.head_sha,
                "tree_id": tree_id(&run.head_sha),
                "message": run.head_message,
                "timestamp": ts(run.head_timestamp),
                "author": author,
                "committer": author,
            },
            "repository": self.repo_json(info, false),
            "head_repository": self.repo_json(info, false),
        })
    }

    pub(super) fn job_json(&self, info: &RepoInfo, run: &RunRec) -> Value {
        let full_name = info.full_name();
        let job = &run.job;
        let runner = job.status != "queued";
        json!({
            "id": job.id,
            "run_id": run.id,
            "run_url": format!("{}/repos/{full_name}/actions/runs/{}", self.base, run.id),
            "run_attempt": run.run_attempt,
            "node_id": node_id("CR", job.id),
            "head_sha": run.head_sha,
            "url": format!("{}/repos/{full_name}/actions/jobs/{}", self.base, job.id),
            "html_url": format!("https://github.com/{full_name}/actions/runs/{}/job/{}", run.id, job.id),
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": ts(job.created_at),
            "started_at": ts(job.started_at),
            "completed_at": job.completed_at.map(ts),
            "name": "ship",
            "steps": job.steps.iter().map(|s| json!({
                "name": s.name,
                "status": s.status,
                "conclusion": s.conclusion,
                "number": s.number,
                "started_at": s.started_at.map(ts),
                "completed_at": s.completed_at.map(ts),
            })).collect::<Vec<_>>(),
            "check_run_url": format!("{}/repos/{full_name}/check-runs/{}", self.base, job.id),
            "labels": ["ubuntu-latest"],
            "runner_id": runner.then_some(7),
            "runner_name": runner.then_some("hearth-sandbox-runner"),
            "runner_group_id": runner.then_some(1),
            "runner_group_name": runner.then_some("Default"),
            "workflow_name": info.workflow_file_of(run.workflow_id).trim_end_matches(".yml"),
            "head_branch": run.head_branch,
        })
    }

    pub(super) fn workflow_json(&self, info: &RepoInfo, id: u64) -> Value {
        let full_name = info.full_name();
        let created = ts(info.created_at);
        let file = info.workflow_file_of(id);
        let name = file.trim_end_matches(".yml").trim_end_matches(".yaml");
        let path = format!(".github/workflows/{file}");
        json!({
            "id": id,
            "node_id": node_id("W", id),
            "name": name,
            "path": path,
            "state": "active",
            "created_at": created,
            "updated_at": created,
            "url": format!("{}/repos/{full_name}/actions/workflows/{id}", self.base),
            "html_url": format!("https://github.com/{full_name}/blob/main/{path}"),
            "badge_url": format!("https://github.com/{full_name}/workflows/{name}/badge.svg"),
        })
    }
}

pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}_kwDO{id:08X}")
}

/// A stable fake tree id derived from the commit (the sandbox does not read trees).
pub(super) fn tree_id(sha: &str) -> String {
    hex::encode(Sha256::digest(format!("tree {sha}").as_bytes()))[..40].to_string()
}
