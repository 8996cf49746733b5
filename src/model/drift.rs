//! Drift: which tag an environment should run according to the service's
//! GitHub Releases, compared with the tag it does serve
//! ([`crate::model::Workload::serving_tag`]; during a stuck rollout, the old
//! one). Pure; called by the render path (overview cells, detail pane) and
//! `hearth status` alike.
//!
//! The rule, kept simple on purpose:
//! - an environment routed by `latest` (prod) should run the release GitHub
//!   marks latest, else the newest published (non-draft, non-prerelease) one;
//! - an environment routed by `prerelease` (qa) should run the newest
//!   published prerelease, else the latest release. A qa running a published
//!   release newer than that prerelease (an rc promoted to latest keeps its
//!   place in the list) is in step too.
//!
//! Drafts never count: the workflow does not fire on them. While a CI run for
//! the expected tag is active, the environment is "deploying", not drifting.

use std::collections::BTreeMap;

use crate::model::flux::GitopsReading;
use crate::model::{CiRun, Release};
use crate::registry::{Delivery, Environment, ReleaseKind, Service, Trigger};

/// How an environment's running tag relates to its releases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Releases or the running tag are not known yet: nothing to say.
    Unknown,
    /// The repo has no published release for this environment's kind.
    NoRelease,
    /// The running tag is the one the releases ask for.
    Matches { tag: String },
    /// A CI run for the expected tag is active: the deploy is under way.
    /// `by` says what deploys it: `run #12`, `Flux, manifest c48d209`.
    Deploying { expected: String, by: String },
    /// The running tag differs from the released one.
    Drift { running: String, expected: String },
}

impl Drift {
    /// Whether the environment runs something other than its release.
    pub fn is_drift(&self) -> bool {
        matches!(self, Drift::Drift { .. })
    }
}

/// The release marked latest, else the newest published stable release.
/// `releases` is newest first, as GitHub lists them.
pub fn latest(releases: &[Release]) -> Option<&Release> {
    releases
        .iter()
        .find(|r| r.latest && !r.draft)
        .or_else(|| releases.iter().find(|r| !r.draft && !r.prerelease))
}

/// The newest published prerelease (what deploys to qa).
pub fn latest_prerelease(releases: &[Release]) -> Option<&Release> {
    releases.iter().find(|r| r.prerelease && !r.draft)
}

/// The release an environment of `kind` should run (see the module doc).
pub fn expected(kind: ReleaseKind, releases: &[Release]) -> Option<&Release> {
    match kind {
        ReleaseKind::Latest => latest(releases),
        ReleaseKind::Prerelease => latest_prerelease(releases).or_else(|| latest(releases)),
    }
}

/// Compare the running tag with the releases (and active runs).
/// `releases` and `runs` are newest first; `None` means not known yet.
pub fn drift(
    kind: ReleaseKind,
    running: Option<&str>,
    releases: Option<&[Release]>,
    runs: Option<&[CiRun]>,
) -> Drift {
    let (Some(running), Some(releases)) = (running, releases) else {
        return Drift::Unknown;
    };
    let Some(want) = expected(kind, releases) else {
        return Drift::NoRelease;
    };
    if want.tag == running {
        return Drift::Matches {
            tag: running.to_string(),
        };
    }
    if kind == ReleaseKind::Prerelease {
        // A published release listed before the expected prerelease is newer
        // (typically the rc promoted to latest): qa is not behind.
        let newer = releases
            .iter()
            .take_while(|r| r.id != want.id || r.tag != want.tag)
            .any(|r| !r.draft && r.tag == running);
        if newer {
            return Drift::Matches {
                tag: running.to_string(),
            };
        }
    }
    let active = runs
        .unwrap_or_default()
        .iter()
        .find(|r| r.is_active() && run_is_for(r, &want.tag));
    if let Some(run) = active {
        return Drift::Deploying {
            expected: want.tag.clone(),
            by: format!("run #{}", run.run_number),
        };
    }
    Drift::Drift {
        running: running.to_string(),
        expected: want.tag.clone(),
    }
}

/// Run id → the image tag hearth dispatched it with (its journal; see
/// [`crate::ops::audit::run_tags`]).
pub type RunTags = BTreeMap<u64, String>;

/// The drift of `env` of `service` by its delivery model: its releases
/// (release), its workflow's newest successful run (push, dispatch) or its
/// manifest (gitops). Every caller (the control room, `status`) goes
/// through here.
#[allow(clippy::too_many_arguments)]
pub fn for_service(
    service: &Service,
    env: &Environment,
    running: Option<&str>,
    releases: Option<&[Release]>,
    runs: Option<&[CiRun]>,
    gitops: Option<&GitopsReading>,
    rolling_to: Option<&str>,
    run_tags: &RunTags,
) -> Drift {
    match service.delivery {
        Delivery::Push => push_drift(env, running, runs),
        Delivery::Dispatch => dispatch_drift(env, running, runs, run_tags),
        Delivery::Gitops => gitops_drift(running, gitops, rolling_to),
        _ => drift(env.release, running, releases, runs),
    }
}

/// The tag `env` of `service` should run, by its delivery model.
pub fn expected_tag(
    service: &Service,
    env: &Environment,
    releases: &[Release],
    runs: &[CiRun],
    gitops: Option<&GitopsReading>,
    run_tags: &RunTags,
) -> Option<String> {
    match service.delivery {
        Delivery::Push => push_expected(env, runs).map(|r| push_run_tag(env, r)),
        Delivery::Dispatch => dispatch_expected(env, runs)
            .and_then(|r| dispatch_run_tag(r, run_tags))
            .map(str::to_string),
        Delivery::Gitops => gitops.and_then(GitopsReading::expected).map(str::to_string),
        _ => expected(env.release, releases).map(|r| r.tag.clone()),
    }
}

/// Where that tag comes from when it is not a release: `main@3f2a1c9,
/// run #88` for push; `None` for the models whose words say "release".
pub fn expected_source(
    service: &Service,
    env: &Environment,
    runs: &[CiRun],
    gitops: Option<&GitopsReading>,
    run_tags: &RunTags,
) -> Option<String> {
    match service.delivery {
        Delivery::Push => push_source(env, runs),
        Delivery::Dispatch => dispatch_source(env, runs, run_tags),
        Delivery::Gitops => gitops_source(service, env, gitops?),
        _ => None,
    }
}

/// What should run and why, after "running X, …": `released v1.2.0`,
/// `main@3f2a1c9, run #88 deployed sha-3f2a1c9`, `apps/qa/api.yaml@c48d209
/// (main) says v0.7.3`.
pub fn expected_words(delivery: Delivery, source: Option<&str>, expected: &str) -> String {
    match (source, delivery) {
        (Some(s), Delivery::Gitops) => format!("{s} says {expected}"),
        (Some(s), _) => format!("{s} deployed {expected}"),
        (None, _) => format!("released {expected}"),
    }
}

/// `delivery: gitops`: what runs against what the environment's manifest
/// holds on the GitOps branch; while Flux has not applied the manifest's
/// last commit (or is reconciling), or the Deployment is rolling out to
/// that tag (`rolling_to`, a rollout that is not stuck), "deploying".
pub fn gitops_drift(
    running: Option<&str>,
    reading: Option<&GitopsReading>,
    rolling_to: Option<&str>,
) -> Drift {
    let (Some(running), Some(reading)) = (running, reading) else {
        return Drift::Unknown;
    };
    let Ok(m) = &reading.manifest else {
        return Drift::Unknown;
    };
    if m.tag == running {
        return Drift::Matches { tag: m.tag.clone() };
    }
    // Flux that is stalled, failing or suspended deploys nothing: drift.
    let flux_ok = reading.flux.as_ref().is_ok_and(|f| !f.troubled());
    let flux_busy = reading.flux.as_ref().is_ok_and(|f| f.reconciling);
    if flux_ok && (reading.unapplied || flux_busy) {
        return Drift::Deploying {
            expected: m.tag.clone(),
            by: format!("Flux, manifest {}", &m.commit[..m.commit.len().min(7)]),
        };
    }
    if rolling_to == Some(m.tag.as_str()) {
        return Drift::Deploying {
            expected: m.tag.clone(),
            by: "Flux applied it; the rollout is under way".into(),
        };
    }
    Drift::Drift {
        running: running.to_string(),
        expected: m.tag.clone(),
    }
}

/// Where a GitOps environment's expected tag comes from:
/// `apps/qa/api.yaml@c48d209 (main)`.
pub fn gitops_source(
    service: &Service,
    env: &Environment,
    reading: &GitopsReading,
) -> Option<String> {
    let m = reading.manifest.as_ref().ok()?;
    let file = env
        .manifest
        .as_ref()
        .map_or("the manifest", |f| f.file.as_str());
    let branch = service
        .gitops
        .as_ref()
        .map_or("main", |g| g.branch.as_str());
    Some(format!(
        "{file}@{} ({branch})",
        &m.commit[..m.commit.len().min(7)]
    ))
}

/// `delivery: push`: the image tag a run of `env`'s workflow deploys: the
/// pushed tag's name for a tag-triggered environment, else `sha-<first 7
/// hex>` of the commit it ran for.
pub fn push_run_tag(env: &Environment, run: &CiRun) -> String {
    match env.trigger {
        Some(Trigger::Tag) => run.head_branch.clone().unwrap_or_default(),
        _ => format!("sha-{}", &run.head_sha[..run.head_sha.len().min(7)]),
    }
}

/// `env`'s runs among `runs` (its workflow's push runs), the most recently
/// run first: a re-run (a rollback) counts from when it ran again.
fn push_runs<'a>(env: &Environment, runs: &'a [CiRun]) -> Vec<&'a CiRun> {
    let Some(workflow) = env.workflow.as_deref() else {
        return Vec::new();
    };
    let mut out: Vec<&CiRun> = runs
        .iter()
        .filter(|r| r.event == "push" && r.of_workflow(workflow))
        .collect();
    out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
    out
}

/// The run whose deploy `env` should be running: the newest successful
/// run of its workflow.
pub fn push_expected<'a>(env: &Environment, runs: &'a [CiRun]) -> Option<&'a CiRun> {
    push_runs(env, runs)
        .into_iter()
        .find(|r| !r.is_active() && r.conclusion.as_deref() == Some("success"))
}

/// `delivery: push`: what runs against what the newest successful run of
/// the environment's workflow deployed; while a newer run of it is active,
/// "deploying". Unknown while no successful run is in `runs` (the runs
/// read are the newest few).
pub fn push_drift(env: &Environment, running: Option<&str>, runs: Option<&[CiRun]>) -> Drift {
    let (Some(running), Some(runs)) = (running, runs) else {
        return Drift::Unknown;
    };
    let active = push_runs(env, runs).into_iter().find(|r| r.is_active());
    let Some(good) = push_expected(env, runs) else {
        return match active {
            Some(r) => Drift::Deploying {
                expected: push_run_tag(env, r),
                by: format!("run #{}", r.run_number),
            },
            None => Drift::Unknown,
        };
    };
    let expected = push_run_tag(env, good);
    if expected == running {
        return Drift::Matches { tag: expected };
    }
    if let Some(r) = active {
        return Drift::Deploying {
            expected: push_run_tag(env, r),
            by: format!("run #{}", r.run_number),
        };
    }
    Drift::Drift {
        running: running.to_string(),
        expected,
    }
}

/// `env`'s deploy runs among `runs` (its workflow's `workflow_dispatch`
/// runs), the most recently run first.
fn dispatch_runs<'a>(env: &Environment, runs: &'a [CiRun]) -> Vec<&'a CiRun> {
    let Some(workflow) = env.workflow.as_deref() else {
        return Vec::new();
    };
    let mut out: Vec<&CiRun> = runs
        .iter()
        .filter(|r| r.event == "workflow_dispatch" && r.of_workflow(workflow))
        .collect();
    out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
    out
}

/// The run whose deploy a dispatch environment should be running: the
/// newest successful run of its deploy workflow.
pub fn dispatch_expected<'a>(env: &Environment, runs: &'a [CiRun]) -> Option<&'a CiRun> {
    dispatch_runs(env, runs)
        .into_iter()
        .find(|r| !r.is_active() && r.conclusion.as_deref() == Some("success"))
}

/// The tag a dispatched deploy run was given. GitHub does not return a
/// run's inputs: hearth's journal knows the runs it started; otherwise the
/// run's title, when the workflow names the input in its `run-name`
/// (`run-name: deploy ${{ inputs.image_tag }}`), holds it: the one word
/// shaped like a tag hearth ships (`sha-<hex>`, a version). Two such words,
/// or none, and the tag is unknown.
pub fn dispatch_run_tag<'a>(run: &'a CiRun, run_tags: &'a RunTags) -> Option<&'a str> {
    if let Some(tag) = run_tags.get(&run.id) {
        return Some(tag);
    }
    let title = run.display_title.as_deref()?;
    let mut words = title
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | ',' | '(' | ')' | ':')))
        .filter(|w| tag_shaped(w));
    let first = words.next()?;
    words.all(|w| w == first).then_some(first)
}

/// `sha-` and 7 to 40 hex digits, or a version (`v1.2.3`, `1.2`,
/// `v0.9.2-rc.1`).
fn tag_shaped(word: &str) -> bool {
    if let Some(hex) = word.strip_prefix("sha-") {
        return (7..=40).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let v = word.strip_prefix('v').unwrap_or(word);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && word.len() <= 128
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+'))
}

/// `delivery: dispatch`: what runs against what the newest successful run
/// of the environment's deploy workflow was given; while a newer run of it
/// is active, "deploying". Unknown while no successful run is among `runs`
/// (the newest few of the repository) or its tag is not known (see
/// [`dispatch_run_tag`]).
pub fn dispatch_drift(
    env: &Environment,
    running: Option<&str>,
    runs: Option<&[CiRun]>,
    run_tags: &RunTags,
) -> Drift {
    let (Some(running), Some(runs)) = (running, runs) else {
        return Drift::Unknown;
    };
    let active = dispatch_runs(env, runs).into_iter().find(|r| r.is_active());
    let deploying = |r: &CiRun| Drift::Deploying {
        expected: dispatch_run_tag(r, run_tags)
            .unwrap_or("a new tag")
            .to_string(),
        by: format!("run #{}", r.run_number),
    };
    let expected = dispatch_expected(env, runs).and_then(|r| dispatch_run_tag(r, run_tags));
    let Some(expected) = expected else {
        return active.map_or(Drift::Unknown, deploying);
    };
    // A host's endpoint may say `0.7.3` for the tag `v0.7.3`.
    let same = match env.on_cluster() {
        true => expected == running,
        false => super::endpoint::same_version(expected, running),
    };
    if same {
        return Drift::Matches {
            tag: expected.to_string(),
        };
    }
    if let Some(r) = active {
        return deploying(r);
    }
    Drift::Drift {
        running: running.to_string(),
        expected: expected.to_string(),
    }
}

/// Where a dispatch environment's expected tag comes from: `run #12 of
/// deploy-prod.yml`; `None` while its tag is unknown.
pub fn dispatch_source(env: &Environment, runs: &[CiRun], run_tags: &RunTags) -> Option<String> {
    let run = dispatch_expected(env, runs)?;
    dispatch_run_tag(run, run_tags)?;
    Some(format!(
        "run #{} of {}",
        run.run_number,
        env.workflow.as_deref().unwrap_or("its workflow")
    ))
}

/// Where a push environment's expected tag comes from, for the detail
/// pane: `main@3f2a1c9, run #88`.
pub fn push_source(env: &Environment, runs: &[CiRun]) -> Option<String> {
    let run = push_expected(env, runs)?;
    Some(format!(
        "{}@{}, run #{}",
        run.head_branch.as_deref().unwrap_or("?"),
        &run.head_sha[..run.head_sha.len().min(7)],
        run.run_number
    ))
}

/// A run that concluded `success` for the tag an environment should run,
/// while another tag serves there: a deploy that "worked" but is not what
/// users get (rolled back, or overwritten by hand). Returns the run; the
/// caller words it with [`unserved_message`]. `runs` is newest first.
pub fn unserved_success<'a>(drift: &Drift, runs: Option<&'a [CiRun]>) -> Option<&'a CiRun> {
    let Drift::Drift { expected, .. } = drift else {
        return None;
    };
    runs.unwrap_or_default()
        .iter()
        .find(|r| run_is_for(r, expected))
        .filter(|r| !r.is_active() && r.conclusion.as_deref() == Some("success"))
}

/// [`unserved_success`] by the service's model: nothing for a model whose
/// runs do not deploy (gitops builds only); for `dispatch`, the newest good
/// run of the environment's own deploy workflow (another environment's run
/// of the same tag is not this one's); otherwise the newest run for the
/// expected tag.
pub fn unserved_run<'a>(
    service: &Service,
    env: &Environment,
    drift: &Drift,
    runs: Option<&'a [CiRun]>,
) -> Option<&'a CiRun> {
    if !service.delivery.runs_deploy() {
        return None;
    }
    match (service.delivery, drift) {
        (Delivery::Dispatch, Drift::Drift { .. }) => dispatch_expected(env, runs?),
        (Delivery::Dispatch, _) => None,
        _ => unserved_success(drift, runs),
    }
}

/// `run #5 succeeded but v0.9.2-rc.1 is not serving (v0.9.1 is)`; the
/// caller names the environment.
pub fn unserved_message(run: &CiRun, drift: &Drift) -> String {
    match drift {
        Drift::Drift { running, expected } => format!(
            "run #{} succeeded but {expected} is not serving ({running} is)",
            run.run_number
        ),
        _ => format!("run #{} succeeded", run.run_number),
    }
}

/// Whether a workflow run builds `tag`: a release-triggered run's
/// `head_branch` is the tag; its title usually names it too.
fn run_is_for(run: &CiRun, tag: &str) -> bool {
    run.head_branch.as_deref() == Some(tag)
        || run
            .display_title
            .as_deref()
            .is_some_and(|t| t.split_whitespace().any(|w| w == tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(id: u64, tag: &str, draft: bool, prerelease: bool, latest: bool) -> Release {
        Release {
            id,
            tag: tag.into(),
            draft,
            prerelease,
            latest,
            ..Release::default()
        }
    }

    fn run(number: u64, branch: &str, status: &str) -> CiRun {
        CiRun {
            id: number,
            run_number: number,
            head_branch: Some(branch.into()),
            display_title: Some(branch.into()),
            status: status.into(),
            ..CiRun::default()
        }
    }

    /// Newest first: a draft, an rc, the latest stable, an older rc.
    fn releases() -> Vec<Release> {
        vec![
            rel(5, "v0.0.30", true, false, false),
            rel(4, "v0.0.29-rc.1", false, true, false),
            rel(3, "v0.0.28", false, false, true),
            rel(2, "v0.0.28-rc.1", false, true, false),
        ]
    }

    #[test]
    fn expected_tags_follow_the_release_kind() {
        let r = releases();
        assert_eq!(expected(ReleaseKind::Latest, &r).unwrap().tag, "v0.0.28");
        assert_eq!(
            expected(ReleaseKind::Prerelease, &r).unwrap().tag,
            "v0.0.29-rc.1"
        );
        // No prerelease at all: qa follows latest.
        let stable = vec![rel(3, "v0.0.28", false, false, true)];
        assert_eq!(
            expected(ReleaseKind::Prerelease, &stable).unwrap().tag,
            "v0.0.28"
        );
        // Nothing marked latest: the newest published stable one.
        let unmarked = vec![
            rel(2, "v0.0.2-rc.1", false, true, false),
            rel(1, "v0.0.1", false, false, false),
        ];
        assert_eq!(
            expected(ReleaseKind::Latest, &unmarked).unwrap().tag,
            "v0.0.1"
        );
        // Drafts never count.
        let drafts = vec![rel(1, "v0.0.1", true, false, false)];
        assert_eq!(expected(ReleaseKind::Latest, &drafts), None);
        assert_eq!(expected(ReleaseKind::Prerelease, &drafts), None);
    }

    #[test]
    fn matches_and_drift() {
        let r = releases();
        assert_eq!(
            drift(ReleaseKind::Latest, Some("v0.0.28"), Some(&r), None),
            Drift::Matches {
                tag: "v0.0.28".into()
            }
        );
        let d = drift(ReleaseKind::Latest, Some("v0.0.27"), Some(&r), Some(&[]));
        assert_eq!(
            d,
            Drift::Drift {
                running: "v0.0.27".into(),
                expected: "v0.0.28".into()
            }
        );
        assert!(d.is_drift());
        // qa behind its newest prerelease.
        assert!(drift(
            ReleaseKind::Prerelease,
            Some("v0.0.28-rc.1"),
            Some(&r),
            None
        )
        .is_drift());
        // prod running an rc is drift even though the rc is newer.
        assert!(drift(ReleaseKind::Latest, Some("v0.0.29-rc.1"), Some(&r), None).is_drift());
    }

    #[test]
    fn promoted_rc_in_qa_is_not_drift() {
        // v0.0.29-rc.1 was promoted: it is now latest, the newest prerelease is older.
        let r = vec![
            rel(4, "v0.0.29-rc.1", false, false, true),
            rel(2, "v0.0.28-rc.1", false, true, false),
        ];
        assert_eq!(
            drift(
                ReleaseKind::Prerelease,
                Some("v0.0.29-rc.1"),
                Some(&r),
                None
            ),
            Drift::Matches {
                tag: "v0.0.29-rc.1".into()
            }
        );
        // A draft listed first is not a reason.
        let r = vec![
            rel(5, "v0.0.30", true, false, false),
            rel(2, "v0.0.28-rc.1", false, true, false),
        ];
        assert!(drift(ReleaseKind::Prerelease, Some("v0.0.30"), Some(&r), None).is_drift());
    }

    #[test]
    fn active_run_for_the_expected_tag_is_deploying() {
        let r = releases();
        let runs = vec![run(42, "v0.0.28", "in_progress")];
        assert_eq!(
            drift(ReleaseKind::Latest, Some("v0.0.27"), Some(&r), Some(&runs)),
            Drift::Deploying {
                expected: "v0.0.28".into(),
                by: "run #42".into()
            }
        );
        // A finished run, or a run for another tag, does not hide drift.
        let done = vec![run(42, "v0.0.28", "completed")];
        assert!(drift(ReleaseKind::Latest, Some("v0.0.27"), Some(&r), Some(&done)).is_drift());
        let other = vec![run(43, "v0.0.29-rc.1", "queued")];
        assert!(drift(ReleaseKind::Latest, Some("v0.0.27"), Some(&r), Some(&other)).is_drift());
    }

    #[test]
    fn unknown_without_data_and_no_release_without_releases() {
        let r = releases();
        assert_eq!(
            drift(ReleaseKind::Latest, None, Some(&r), None),
            Drift::Unknown
        );
        assert_eq!(
            drift(ReleaseKind::Latest, Some("v1"), None, None),
            Drift::Unknown
        );
        assert_eq!(
            drift(ReleaseKind::Latest, Some("v1"), Some(&[]), None),
            Drift::NoRelease
        );
    }

    fn deploy(id: u64, title: &str, status: &str, conclusion: Option<&str>, at: &str) -> CiRun {
        CiRun {
            id,
            run_number: id,
            display_title: Some(title.into()),
            event: "workflow_dispatch".into(),
            status: status.into(),
            conclusion: conclusion.map(str::to_string),
            updated_at: Some(at.into()),
            path: Some(".github/workflows/deploy-prod.yml".into()),
            ..CiRun::default()
        }
    }

    fn prod() -> Environment {
        Environment {
            workflow: Some("deploy-prod.yml".into()),
            ..Environment::defaults().remove(0)
        }
    }

    #[test]
    fn a_dispatch_environment_should_run_what_its_last_good_deploy_was_given() {
        let env = prod();
        let none = RunTags::new();
        let runs = vec![
            deploy(
                7,
                "deploy sha-bbbbbbb",
                "completed",
                Some("failure"),
                "2026-01-03T00:00:00Z",
            ),
            deploy(
                6,
                "deploy sha-aaaaaaa",
                "completed",
                Some("success"),
                "2026-01-02T00:00:00Z",
            ),
            // Another workflow's run (a qa deploy) never counts for prod.
            CiRun {
                path: Some(".github/workflows/deploy-qa.yml".into()),
                ..deploy(
                    8,
                    "deploy sha-ccccccc",
                    "completed",
                    Some("success"),
                    "2026-01-04T00:00:00Z",
                )
            },
        ];
        let d = dispatch_drift(&env, Some("sha-aaaaaaa"), Some(&runs), &none);
        assert_eq!(
            d,
            Drift::Matches {
                tag: "sha-aaaaaaa".into()
            }
        );
        // A fast rollback (or a hand edit) leaves what the run deployed behind.
        let d = dispatch_drift(&env, Some("sha-0000000"), Some(&runs), &none);
        assert_eq!(
            d,
            Drift::Drift {
                running: "sha-0000000".into(),
                expected: "sha-aaaaaaa".into()
            }
        );
        assert_eq!(
            dispatch_source(&env, &runs, &none).as_deref(),
            Some("run #6 of deploy-prod.yml")
        );
        // A newer run under way: deploying what it was given.
        let mut busy = runs.clone();
        busy.insert(
            0,
            deploy(9, "deploy v1.2.0", "waiting", None, "2026-01-05T00:00:00Z"),
        );
        assert_eq!(
            dispatch_drift(&env, Some("sha-0000000"), Some(&busy), &none),
            Drift::Deploying {
                expected: "v1.2.0".into(),
                by: "run #9".into()
            }
        );
    }

    #[test]
    fn a_dispatched_tag_comes_from_the_journal_else_the_title_else_nobody() {
        let env = prod();
        // The workflow has no run-name: GitHub titles the run by its name.
        let runs = vec![deploy(
            6,
            "deploy-prod",
            "completed",
            Some("success"),
            "2026-01-02T00:00:00Z",
        )];
        let none = RunTags::new();
        assert_eq!(
            dispatch_drift(&env, Some("sha-aaaaaaa"), Some(&runs), &none),
            Drift::Unknown
        );
        assert_eq!(dispatch_source(&env, &runs, &none), None);
        let journal: RunTags = [(6, "sha-aaaaaaa".to_string())].into();
        assert_eq!(
            dispatch_drift(&env, Some("sha-aaaaaaa"), Some(&runs), &journal),
            Drift::Matches {
                tag: "sha-aaaaaaa".into()
            }
        );
        // Titles: one tag-shaped word, quoted or not; two different ones
        // are ambiguous; words that are not tags are not guessed at.
        let tag = |title: &str| {
            dispatch_run_tag(&deploy(1, title, "completed", None, ""), &none).map(str::to_string)
        };
        assert_eq!(
            tag("deploy 'v0.9.2-rc.1' to prod").as_deref(),
            Some("v0.9.2-rc.1")
        );
        assert_eq!(tag("Deploy sha-1a2b3c4").as_deref(), Some("sha-1a2b3c4"));
        assert_eq!(tag("deploy v1.2.0 over v1.1.0"), None);
        assert_eq!(tag("deploy latest"), None);
        assert_eq!(tag("deploy sha-xyz1234"), None);
        assert_eq!(tag("roll 2026 out"), None);
    }
}
