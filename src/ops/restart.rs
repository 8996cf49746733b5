//! `restart`: a rollout restart, the same for every delivery model. It sends
//! what `kubectl rollout restart` sends (a strategic merge patch that sets
//! the pod template's `kubectl.kubernetes.io/restartedAt` annotation), so
//! the Deployment rolls every pod onto a new ReplicaSet of the same image;
//! then follows that rollout to completion and runs the smoke checks. What
//! it is for: seed 004's restart-persistence check (does the service come
//! back with its data?) and seed 000's redeploy after a secret rotation.
//! Refused for a paused Deployment, as kubectl refuses it.

use serde_json::json;

use super::context::{Context, Reporter};
use super::ship::ROLLOUT_TIMEOUT;
use super::{Failure, Outcome, RestartRequest, System};
use crate::model::EnvObservation;
use crate::registry::{Environment, Service};

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Everything a restart will do.
#[derive(Clone, Debug, PartialEq)]
pub struct RestartPlan {
    pub service: Service,
    pub env: Environment,
    /// The tag the Deployment runs now (and runs again after the restart).
    pub tag: String,
    /// The Deployment's revision now; the restart makes the next one.
    pub revision: Option<i64>,
    /// Pods ready now, of how many.
    pub ready: (i32, i32),
    pub watch: bool,
}

impl RestartPlan {
    pub fn mechanism_words(&self) -> String {
        "rollout restart (new pods, same image)".into()
    }

    pub fn steps(&self) -> Vec<(System, String)> {
        let mut out = vec![(
            System::Kubernetes,
            format!(
                "PATCH deployments/{} -n {} (strategic merge: template annotation {RESTARTED_AT}=now)",
                self.service.k8s_name, self.env.namespace
            ),
        )];
        if self.watch {
            out.push((
                System::Local,
                format!(
                    "follow the rollout in {} until {} new pod(s) of {} are ready",
                    self.env.namespace, self.ready.1, self.tag
                ),
            ));
            out.extend(super::smoke::plan_steps(
                &self.service,
                &self.env,
                &self.tag,
            ));
        }
        out
    }
}

/// Work out a restart: the Deployment must exist, run a tag hearth can
/// follow, and not be paused.
pub async fn plan(ctx: &Context, req: &RestartRequest) -> Result<RestartPlan, Failure> {
    let service = ctx.service(&req.service)?.clone();
    let env = super::environment(&service, &req.env)?;
    let kube = ctx.kube(&env).await?;
    let deploy = kube.deployment(&env.namespace, &service.k8s_name).await?;
    if deploy.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        return Err(super::invalid(
            format!(
                "deployment {} in {} is paused; a restart would not roll out",
                service.k8s_name, env.namespace
            ),
            format!(
                "resume it first: kubectl rollout resume deploy/{} -n {}",
                service.k8s_name, env.namespace
            ),
        ));
    }
    let watched = match crate::cluster::observe_one(&kube, &service, &env.namespace).await {
        EnvObservation::Live(w) => w,
        EnvObservation::Error(p) => return Err(Failure::nothing_changed(p)),
        EnvObservation::Missing { hint } => {
            return Err(super::invalid(
                format!("no deployment {} in {}", service.k8s_name, env.namespace),
                hint,
            ))
        }
        EnvObservation::Unknown | EnvObservation::Reported { .. } => {
            return Err(super::invalid(
                format!(
                    "{} in {} could not be read",
                    service.k8s_name, env.namespace
                ),
                "try again",
            ))
        }
    };
    let tag = watched
        .image_tag
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            super::invalid(
                format!(
                    "{} in {} runs no image hearth can follow (no container image with a tag or digest)",
                    service.k8s_name, env.namespace
                ),
                format!(
                    "restart with kubectl: kubectl rollout restart deploy/{} -n {}",
                    service.k8s_name, env.namespace
                ),
            )
        })?;
    Ok(RestartPlan {
        service,
        env,
        tag,
        revision: watched.revision,
        ready: (watched.ready, watched.desired),
        watch: req.watch,
    })
}

/// Run a planned restart.
pub async fn run(
    ctx: &Context,
    plan: &RestartPlan,
    rep: &mut Reporter,
) -> Result<Outcome, Failure> {
    let RestartPlan {
        service, env, tag, ..
    } = plan;
    let name = &service.name;
    let step = format!("restart {}", env.name);
    rep.start(&step).await;
    let kube = ctx.kube(env).await?;
    // kubectl's own shape: RFC 3339 in the local zone.
    let now = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}});
    if let Err(p) = rep
        .kube_strategic_patch(
            ctx,
            &kube,
            &env.namespace,
            &service.k8s_name,
            patch,
            &format!("template annotation {RESTARTED_AT}={now}"),
        )
        .await
    {
        rep.failed(&step, Some(p.message.clone())).await;
        return Err(Failure::nothing_changed(p));
    }
    rep.done(
        &step,
        Some(format!(
            "{} in {} restarted ({RESTARTED_AT}={now})",
            service.k8s_name, env.namespace
        )),
    )
    .await;
    if !plan.watch {
        return Ok(Outcome {
            ok: true,
            summary: format!(
                "{name} in {} restarted; not watched (--no-watch): kubectl rollout status deploy/{} -n {}",
                env.name, service.k8s_name, env.namespace
            ),
            left: None,
            recovery: None,
            tag: Some(tag.clone()),
            code: 0,
        });
    }
    let rollout = format!("rollout {}", env.name);
    rep.start(&rollout).await;
    // The PATCH answered with the new generation: the rollout counts as
    // complete only once that generation is observed and every replica
    // runs the new template.
    if let Err(p) =
        super::follow::follow_rollout(ctx, rep, service, env, tag, ROLLOUT_TIMEOUT).await
    {
        rep.failed(&rollout, Some(p.message.clone())).await;
        return Err(Failure::after(
            p,
            &format!(
                "{} in {} is restarting; the new pods did not all become ready",
                service.k8s_name, env.namespace
            ),
            format!(
                "look at the new pods (hearth logs {name} --env {}); kubectl rollout status deploy/{} -n {}",
                env.name, service.k8s_name, env.namespace
            ),
        ));
    }
    rep.done(
        &rollout,
        Some(format!("new pods of {tag} serve in {}", env.namespace)),
    )
    .await;
    if let Err(p) = super::smoke::run_all(rep, service, env, tag).await {
        return Err(Failure::after(
            p,
            &format!(
                "{tag} restarted in {} but fails its smoke check",
                env.namespace
            ),
            format!("look at its logs: hearth logs {name} --env {}", env.name),
        ));
    }
    Ok(Outcome {
        ok: true,
        summary: format!(
            "{name} restarted in {}: {tag} serves from new pods",
            env.name
        ),
        left: None,
        recovery: None,
        tag: Some(tag.clone()),
        code: 0,
    })
}

impl super::runner::Operation for RestartPlan {
    fn kind(&self) -> super::OpKind {
        super::OpKind::Restart
    }
    fn service(&self) -> &Service {
        &self.service
    }
    fn env(&self) -> Option<&crate::registry::Environment> {
        Some(&self.env)
    }
    fn to_tag(&self) -> Option<String> {
        Some(self.tag.clone())
    }
    fn mechanism(&self) -> String {
        self.mechanism_words()
    }
    fn steps(&self) -> Vec<(super::System, String)> {
        RestartPlan::steps(self)
    }
    fn title(&self) -> String {
        format!(
            "restart {} in {}: {} again, revision {} → new pods",
            self.service.name,
            super::runner::place_words(Some(&self.env)),
            self.tag,
            self.revision.map_or_else(|| "?".into(), |r| r.to_string())
        )
    }
    fn asks_because(&self) -> Option<&'static str> {
        Some("replaces every pod")
    }
    fn resume(&self) -> String {
        format!(
            "kubectl rollout status deploy/{} -n {}, then hearth restart {} --env {}",
            self.service.k8s_name, self.env.namespace, self.service.name, self.env.name
        )
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
