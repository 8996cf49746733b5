//! `rollback`: fast or clean.
//!
//! - **Fast** has `kubectl rollout undo` semantics through the Kubernetes
//!   API: the target ReplicaSet's pod template without `pod-template-hash`,
//!   sent as kubectl sends it (a JSON patch replacing `/spec/template` and
//!   `/metadata/annotations`, the deployment's own bookkeeping annotations
//!   kept), refused for a paused Deployment, a no-op when already there.
//!   GitHub is left as it is.
//! - **Clean** keeps the record straight: the bad release becomes a draft,
//!   the previous good release becomes latest, and CI redeploys it through a
//!   mechanism its workflow really triggers on.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams};
use kube::ResourceExt;
use serde_json::{json, Value};

use super::context::{Context, Reporter};
use super::follow::RunQuery;
use super::mechanism::{self, Mechanism};
use super::promote::{make_latest, releases, tag_sha, workflow_at};
use super::ship::{deploy_and_verify, Recovery, ROLLOUT_TIMEOUT};
use super::{Failure, Outcome, RollbackKind, RollbackRequest, System};
use crate::cluster::{self, KubeClient, READ_RIGHTS};
use crate::model::{drift, Problem, ProblemKind, Release};
use crate::registry::{Environment, ReleaseKind, Service};

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH: &str = "pod-template-hash";
/// The annotations `kubectl rollout undo` keeps from the Deployment rather
/// than copying from the ReplicaSet.
const KEEP_FROM_DEPLOYMENT: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

/// One revision of a Deployment, from its ReplicaSet.
#[derive(Clone, Debug, PartialEq)]
pub struct Revision {
    pub number: i64,
    /// The app container's tag in that revision's template.
    pub tag: Option<String>,
    pub replica_set: String,
    template: Value,
    annotations: Value,
}

/// Everything a rollback will do.
#[derive(Clone, Debug, PartialEq)]
pub enum RollbackPlan {
    Fast {
        service: Service,
        env: Environment,
        current: Revision,
        target: Revision,
        watch: bool,
        /// The Helm release managing the Deployment: the next `helm
        /// upgrade` puts the chart's image back.
        helm_release: Option<String>,
    },
    Clean {
        service: Service,
        env: Environment,
        repo: String,
        bad: Release,
        good: Release,
        sha: String,
        mechanism: Mechanism,
        watch: bool,
    },
}

impl RollbackPlan {
    pub fn env(&self) -> &Environment {
        match self {
            RollbackPlan::Fast { env, .. } | RollbackPlan::Clean { env, .. } => env,
        }
    }

    pub fn service(&self) -> &Service {
        match self {
            RollbackPlan::Fast { service, .. } | RollbackPlan::Clean { service, .. } => service,
        }
    }

    /// (from, to) tags.
    pub fn tags(&self) -> (Option<String>, Option<String>) {
        match self {
            RollbackPlan::Fast {
                current, target, ..
            } => (current.tag.clone(), target.tag.clone()),
            RollbackPlan::Clean { bad, good, .. } => {
                (Some(bad.tag.clone()), Some(good.tag.clone()))
            }
        }
    }

    pub fn mechanism_words(&self) -> String {
        match self {
            RollbackPlan::Fast { target, .. } => {
                format!("rollout undo to revision {}", target.number)
            }
            RollbackPlan::Clean { mechanism, .. } => {
                format!("clean rollback by {}", mechanism.short())
            }
        }
    }

    pub fn steps(&self) -> Vec<(System, String)> {
        match self {
            RollbackPlan::Fast {
                service,
                env,
                current,
                target,
                watch,
                helm_release,
            } => {
                let mut out = vec![(
                    System::Kubernetes,
                    format!(
                        "PATCH deployments/{} -n {} (json patch: /spec/template and /metadata/annotations of revision {} ({}), now revision {} ({}))",
                        service.k8s_name,
                        env.namespace,
                        target.number,
                        target.tag.as_deref().unwrap_or("?"),
                        current.number,
                        current.tag.as_deref().unwrap_or("?"),
                    ),
                )];
                if *watch {
                    out.push((
                        System::Local,
                        format!("follow the rollout in {}", env.namespace),
                    ));
                }
                out.push((
                    System::Local,
                    "GitHub is left as it is (the bad release stays latest)".into(),
                ));
                if let Some(release) = helm_release {
                    out.push((
                        System::Local,
                        format!(
                            "not final: Helm manages it (release {release}), so the next helm upgrade puts the chart's image back; the model's own rollback keeps it (hearth rollback {} --env {} --clean), or by hand: helm rollback {release} REVISION -n {} (helm history {release} -n {} lists them)",
                            service.name, env.name, env.namespace, env.namespace
                        ),
                    ));
                }
                out
            }
            RollbackPlan::Clean {
                repo,
                bad,
                good,
                mechanism,
                env,
                watch,
                ..
            } => {
                let mut out = vec![(
                    System::GitHub,
                    format!(
                        "PATCH /repos/{repo}/releases/{}: draft true ({} stops being latest)",
                        bad.id, bad.tag
                    ),
                )];
                let r = format!("/repos/{repo}/releases/{}", good.id);
                match mechanism {
                    Mechanism::Edit => out.push((
                        System::GitHub,
                        format!(
                            "PATCH {r}: make_latest true ({} latest; fires `edited`)",
                            good.tag
                        ),
                    )),
                    Mechanism::Dispatch { input } => {
                        out.push((System::GitHub, format!("PATCH {r}: make_latest true")));
                        out.push((
                            System::GitHub,
                            format!(
                                "POST /repos/{repo}/actions/workflows/…/dispatches: {input}={}",
                                good.tag
                            ),
                        ));
                    }
                    Mechanism::DraftRoundTrip => {
                        out.push((System::GitHub, format!("PATCH {r}: draft true")));
                        out.push((System::GitHub, format!("PATCH {r}: draft false, make_latest true ({} latest again; fires `published`)", good.tag)));
                    }
                }
                if *watch {
                    out.push((
                        System::Local,
                        format!(
                            "follow the run(s) for {}, then the rollout in {}",
                            good.tag, env.namespace
                        ),
                    ));
                }
                out
            }
        }
    }
}

/// A Deployment's revisions, oldest first, from its ReplicaSets.
pub async fn revisions(
    kube: &KubeClient,
    service: &Service,
    ns: &str,
) -> Result<(Deployment, Vec<Revision>), Problem> {
    let deploy = kube.deployment(ns, &service.k8s_name).await?;
    let selector = deploy
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let rss = Api::<ReplicaSet>::namespaced(kube.client.clone(), ns)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| cluster::classify(&e, &kube.at, ns, READ_RIGHTS))?;
    let uid = deploy.metadata.uid.clone();
    let mut out: Vec<Revision> = rss
        .items
        .into_iter()
        .filter(|rs| {
            rs.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .filter_map(|rs| {
            let number = rs.annotations().get(REVISION)?.parse().ok()?;
            let mut template = serde_json::to_value(rs.spec.as_ref()?.template.as_ref()?).ok()?;
            if let Some(labels) = template
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                labels.remove(HASH);
            }
            let tag = main_tag(service, &template);
            Some(Revision {
                number,
                tag,
                replica_set: rs.name_any(),
                annotations: serde_json::to_value(rs.annotations()).unwrap_or(json!({})),
                template,
            })
        })
        .collect();
    out.sort_by_key(|r| r.number);
    Ok((deploy, out))
}

/// The tag of the service's app container in a pod template.
fn main_tag(service: &Service, template: &Value) -> Option<String> {
    let containers = template.pointer("/spec/containers")?.as_array()?;
    let image_of = |c: &Value| c.get("image").and_then(Value::as_str).map(str::to_string);
    let by_image = service.image.as_deref().and_then(|img| {
        containers
            .iter()
            .filter_map(image_of)
            .find(|i| cluster::split_image(i).0 == img)
    });
    by_image
        .or_else(|| containers.first().and_then(image_of))
        .map(|i| cluster::split_image(&i).1)
}

/// Whether two templates are the same apart from the hash label (kubectl's `equalIgnoreHash`).
fn same_template(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(labels) = v
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            labels.remove(HASH);
        }
        v
    };
    strip(a) == strip(b)
}

/// Work out a rollback.
pub async fn plan(ctx: &Context, req: &RollbackRequest) -> Result<RollbackPlan, Failure> {
    let service = ctx.service(&req.service)?.clone();
    let env = super::environment(&service, &req.env)?;
    match req.kind {
        RollbackKind::Fast => plan_fast(ctx, service, env, req).await,
        RollbackKind::Clean => plan_clean(ctx, service, env, req).await,
    }
}

/// The tag `env` ran before the tag it runs now: the newest earlier
/// revision of the Deployment with another tag. What a dispatch-delivered
/// service's rollback runs its deploy workflow with.
pub async fn previous_tag(
    ctx: &Context,
    service: &Service,
    env_name: &str,
) -> Result<String, Failure> {
    let env = super::environment(service, env_name)?;
    let kube = ctx.kube(&env).await?;
    let (deploy, revs) = revisions(&kube, service, &env.namespace)
        .await
        .map_err(Failure::nothing_changed)?;
    let current_template =
        serde_json::to_value(deploy.spec.as_ref().map(|s| &s.template)).unwrap_or(Value::Null);
    let current = revs
        .iter()
        .find(|r| same_template(&r.template, &current_template))
        .or(revs.last())
        .cloned();
    let now = current.as_ref().and_then(|c| c.tag.clone());
    revs.iter()
        .rev()
        .filter(|r| current.as_ref().is_none_or(|c| r.number < c.number))
        .filter_map(|r| r.tag.clone())
        .find(|t| Some(t) != now.as_ref() && !t.is_empty())
        .ok_or_else(|| {
            super::invalid(
                format!(
                    "{} in {} has no earlier revision with another tag to go back to",
                    service.k8s_name, env.namespace
                ),
                format!(
                    "name the tag: gh workflow run {} -f image_tag=TAG",
                    env.workflow.as_deref().unwrap_or("WORKFLOW")
                ),
            )
        })
}

async fn plan_fast(
    ctx: &Context,
    service: Service,
    env: Environment,
    req: &RollbackRequest,
) -> Result<RollbackPlan, Failure> {
    let kube = ctx.kube(&env).await?;
    let (deploy, revs) = revisions(&kube, &service, &env.namespace).await?;
    if deploy.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        return Err(super::invalid(
            format!(
                "deployment {} in {} is paused; a rollback would not roll out",
                service.k8s_name, env.namespace
            ),
            format!(
                "resume it first: kubectl rollout resume deploy/{} -n {}",
                service.k8s_name, env.namespace
            ),
        ));
    }
    let current_template =
        serde_json::to_value(deploy.spec.as_ref().map(|s| &s.template)).unwrap_or(Value::Null);
    let current = revs
        .iter()
        .find(|r| same_template(&r.template, &current_template))
        .cloned()
        .or_else(|| revs.last().cloned())
        .ok_or_else(|| {
            super::invalid(
                format!(
                    "no rollout history for {} in {}",
                    service.k8s_name, env.namespace
                ),
                "",
            )
        })?;
    let target = match req.to_revision {
        Some(n) => revs
            .iter()
            .find(|r| r.number == n)
            .cloned()
            .ok_or_else(|| {
                let have: Vec<String> = revs
                    .iter()
                    .map(|r| format!("{} ({})", r.number, r.tag.as_deref().unwrap_or("?")))
                    .collect();
                super::invalid(
                    format!(
                        "unable to find revision {n} of {} in {}",
                        service.k8s_name, env.namespace
                    ),
                    format!("revisions: {}", have.join(", ")),
                )
            })?,
        None => revs
            .iter()
            .rev()
            .find(|r| r.number < current.number)
            .cloned()
            .ok_or_else(|| {
                super::invalid(
                    format!(
                        "{} in {} has no earlier revision to roll back to",
                        service.k8s_name, env.namespace
                    ),
                    "",
                )
            })?,
    };
    // The rollout is followed by the tag the target revision runs; one
    // without a tag hearth can read could never be seen to arrive.
    if target.tag.as_deref().is_none_or(str::is_empty) {
        return Err(super::invalid(
            format!(
                "revision {} of {} in {} runs no image hearth can follow (no container image with a tag or digest)",
                target.number, service.k8s_name, env.namespace
            ),
            format!(
                "roll back with kubectl: kubectl rollout undo deploy/{} -n {} --to-revision={}",
                service.k8s_name, env.namespace, target.number
            ),
        ));
    }
    if same_template(&target.template, &current_template) {
        return Err(Failure {
            problem: Problem::new(
                ProblemKind::Invalid,
                format!(
                    "skipped rollback (current template already matches revision {})",
                    target.number
                ),
                "",
            ),
            left: Some("nothing changed".into()),
            recovery: None,
            code: 0,
        });
    }
    Ok(RollbackPlan::Fast {
        service,
        env,
        current,
        target,
        watch: req.watch,
        helm_release: crate::cluster::derive::helm_release(&deploy),
    })
}

async fn plan_clean(
    ctx: &Context,
    service: Service,
    env: Environment,
    req: &RollbackRequest,
) -> Result<RollbackPlan, Failure> {
    if env.release != ReleaseKind::Latest {
        return Err(super::invalid(
            format!(
                "a clean rollback moves the latest release; {} deploys prereleases",
                env.name
            ),
            format!(
                "roll {} back fast instead: hearth rollback {} --env {}",
                env.name, service.name, env.name
            ),
        ));
    }
    let repo = ctx.repo(&service)?;
    let all = releases(ctx, &repo).await?;
    let bad = drift::latest(&all).cloned().ok_or_else(|| {
        super::invalid(
            format!("{} has no latest release to roll back from", service.name),
            "",
        )
    })?;
    let good = all
        .iter()
        .filter(|r| !r.draft && !r.prerelease && r.id != bad.id)
        .filter(|r| {
            let (a, b) = (semver(&r.tag), semver(&bad.tag));
            a.is_some() && a < b
        })
        .max_by_key(|r| semver(&r.tag))
        .cloned()
        .ok_or_else(|| {
            super::invalid(
                format!(
                    "{} has no release before {} to return to",
                    service.name, bad.tag
                ),
                "",
            )
        })?;
    let triggers = workflow_at(ctx, &service, &good.tag).await?;
    let mechanism = mechanism::clean_rollback(&triggers, &service.workflow)
        .map_err(|r| super::invalid(r.message, r.fix))?;
    let sha = tag_sha(ctx, &repo, &good.tag).await?;
    Ok(RollbackPlan::Clean {
        service,
        env,
        repo,
        bad,
        good,
        sha,
        mechanism,
        watch: req.watch,
    })
}

fn semver(tag: &str) -> Option<semver::Version> {
    semver::Version::parse(tag.strip_prefix('v')?).ok()
}

/// Run a planned rollback.
pub async fn run(
    ctx: &Context,
    plan: &RollbackPlan,
    rep: &mut Reporter,
) -> Result<Outcome, Failure> {
    match plan {
        RollbackPlan::Fast {
            service,
            env,
            current,
            target,
            watch,
            ..
        } => {
            let name = &service.name;
            let step = format!("roll back to revision {}", target.number);
            rep.start(&step).await;
            let kube = ctx.kube(env).await?;
            // The annotations kubectl sends: the Deployment's own bookkeeping,
            // the rest from the target revision.
            let deploy = kube.deployment(&env.namespace, &service.k8s_name).await?;
            let mut annotations = serde_json::Map::new();
            for (k, v) in deploy.annotations() {
                if KEEP_FROM_DEPLOYMENT.contains(&k.as_str()) {
                    annotations.insert(k.clone(), json!(v));
                }
            }
            if let Some(rs) = target.annotations.as_object() {
                for (k, v) in rs {
                    if !KEEP_FROM_DEPLOYMENT.contains(&k.as_str()) {
                        annotations.insert(k.clone(), v.clone());
                    }
                }
            }
            let patch = json!([
                {"op": "replace", "path": "/spec/template", "value": target.template},
                {"op": "replace", "path": "/metadata/annotations", "value": annotations},
            ]);
            if let Err(p) = rep
                .kube_patch(ctx, &kube, &env.namespace, &service.k8s_name, patch)
                .await
            {
                rep.failed(&step, Some(p.message.clone())).await;
                return Err(Failure::nothing_changed(p));
            }
            let tag = target.tag.clone().unwrap_or_default();
            rep.done(
                &step,
                Some(format!(
                    "{name} {} → {} in {} (rollout undo)",
                    current.tag.as_deref().unwrap_or("?"),
                    tag,
                    env.namespace
                )),
            )
            .await;
            if *watch {
                let step = format!("rollout {}", env.name);
                rep.start(&step).await;
                if let Err(p) =
                    super::follow::follow_rollout(ctx, rep, service, env, &tag, ROLLOUT_TIMEOUT)
                        .await
                {
                    rep.failed(&step, Some(p.message.clone())).await;
                    return Err(Failure::after(
                        p,
                        &format!(
                            "{} in {} is set back to revision {}; the rollout did not complete",
                            service.k8s_name, env.namespace, target.number
                        ),
                        format!(
                            "kubectl rollout status deploy/{} -n {}",
                            service.k8s_name, env.namespace
                        ),
                    ));
                }
                rep.done(&step, Some(format!("{tag} serves in {}", env.namespace)))
                    .await;
            }
            let summary = if *watch {
                // What the delivery model still says should run there.
                let still = service.delivery.after_fast_rollback();
                format!("{name} rolled back to {tag} in {}; {still}", env.name)
            } else {
                // Only the PATCH was accepted: nothing was seen to roll out.
                format!(
                    "{name} in {} patched back to revision {} ({tag}); not watched (--no-watch): kubectl rollout status deploy/{} -n {}",
                    env.name, target.number, service.k8s_name, env.namespace
                )
            };
            Ok(Outcome {
                ok: true,
                summary,
                left: None,
                recovery: None,
                tag: Some(tag),
                code: 0,
            })
        }
        RollbackPlan::Clean {
            service,
            env,
            repo,
            bad,
            good,
            sha,
            mechanism,
            watch,
        } => {
            let name = &service.name;
            let event = match mechanism {
                Mechanism::Dispatch { .. } => "workflow_dispatch",
                _ => "release",
            };
            let query = RunQuery {
                repo: repo.clone(),
                workflow: service.workflow.clone(),
                sha: sha.clone(),
                event: event.into(),
                tag: Some(good.tag.clone()),
            };
            let before = query
                .existing(ctx)
                .await
                .map_err(Failure::nothing_changed)?;
            let step = format!("make {} latest again", good.tag);
            rep.start(&step).await;
            let path = format!("/repos/{repo}/releases/{}", bad.id);
            if let Err(e) = rep
                .github(
                    ctx,
                    http::Method::PATCH,
                    &path,
                    Some(&json!({"draft": true})),
                )
                .await
            {
                let p = ctx.github_problem(&e, repo, &format!("release {}", bad.tag), true);
                rep.failed(&step, Some(p.message.clone())).await;
                return Err(Failure::nothing_changed(p));
            }
            if let Err(p) = make_latest(ctx, rep, service, repo, good, mechanism).await {
                rep.failed(&step, Some(p.message.clone())).await;
                return Err(Failure::after(
                    p,
                    &format!("{} is a draft now; {} is not latest yet", bad.tag, good.tag),
                    format!("hearth rollback {name} --clean"),
                ));
            }
            rep.done(
                &step,
                Some(format!(
                    "{name} {} → {} latest ({}; {} is a draft)",
                    bad.tag,
                    good.tag,
                    mechanism.short(),
                    bad.tag
                )),
            )
            .await;
            if !*watch {
                return Ok(Outcome {
                    ok: true,
                    summary: format!(
                        "{name} {} is latest again; not watched (--no-watch)",
                        good.tag
                    ),
                    left: None,
                    recovery: None,
                    tag: Some(good.tag.clone()),
                    code: 0,
                });
            }
            deploy_and_verify(
                ctx,
                rep,
                service,
                env,
                &good.tag,
                &query,
                &before,
                Recovery {
                    started: format!("{} is the latest release again", good.tag),
                    left_undeployed: "the tag and the release exist; no image was pushed".into(),
                    build_failed: format!("look at the run; GitHub already names {} latest", good.tag),
                    deploy_failed: format!("re-run the workflow (gh run rerun RUN -R {repo}), or hearth rollback {name} (fast)"),
                },
            )
            .await
        }
    }
}

impl super::runner::Operation for RollbackPlan {
    fn kind(&self) -> super::OpKind {
        super::OpKind::Rollback
    }
    fn service(&self) -> &Service {
        RollbackPlan::service(self)
    }
    fn env(&self) -> Option<&crate::registry::Environment> {
        Some(RollbackPlan::env(self))
    }
    fn to_tag(&self) -> Option<String> {
        self.tags().1
    }
    fn mechanism(&self) -> String {
        self.mechanism_words()
    }
    fn steps(&self) -> Vec<(super::System, String)> {
        RollbackPlan::steps(self)
    }
    fn tag_before(&self) -> Option<String> {
        self.tags().0
    }
    fn resume(&self) -> String {
        let s = &RollbackPlan::service(self).name;
        match self {
            RollbackPlan::Fast { env, .. } => format!("hearth rollback {s} --env {}", env.name),
            RollbackPlan::Clean { .. } => format!("hearth rollback {s} --clean"),
        }
    }
    fn run<'a>(
        &'a self,
        ctx: &'a Context,
        rep: &'a mut Reporter,
        _cancel: tokio::sync::watch::Receiver<bool>,
    ) -> futures::future::BoxFuture<'a, Result<Outcome, Failure>> {
        Box::pin(run(ctx, self, rep))
    }
}
