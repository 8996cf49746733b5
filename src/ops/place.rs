//! Where an environment runs, as an operation verifies a deploy: a
//! namespace of a cluster (read through its Deployment and followed through
//! its rollout) or a host outside Kubernetes (read and followed through its
//! version endpoint). The code every model shares after a trigger
//! ([`super::ship::follow_and_verify`]) asks a [`Place`] what runs and
//! follows it to a tag without knowing which it is.

use std::time::Duration;

use super::context::Reporter;
use super::{follow, Context};
use crate::model::{EnvObservation, Problem};
use crate::registry::{Environment, Service};

/// Where `env` runs.
#[derive(Clone, Copy, Debug)]
pub enum Place<'a> {
    Cluster(&'a Environment),
    Host(&'a Environment, &'a str),
}

/// What a deploy step that failed left, once read.
pub enum AfterFailure {
    /// The Deployment has the new tag but its rollout is stuck (a failing
    /// migration): why, and what still serves.
    Stuck {
        reason: Option<String>,
        serving: Option<String>,
    },
    /// The place does not run the new tag: what it runs instead.
    Other(String),
    /// It could not be read: why.
    Unknown(String),
}

impl<'a> Place<'a> {
    pub fn of(env: &'a Environment) -> Place<'a> {
        match env.host.as_deref() {
            Some(host) => Place::Host(env, host),
            None => Place::Cluster(env),
        }
    }

    /// "in qa" or "on host edge-1", after "serves".
    pub fn words(&self) -> String {
        match self {
            Place::Cluster(env) => format!("in {}", env.namespace),
            Place::Host(_, host) => format!("on host {host}"),
        }
    }

    /// What a failed deploy did not update: "the cluster" or "host edge-1".
    fn subject(&self) -> String {
        match self {
            Place::Cluster(_) => "the cluster".into(),
            Place::Host(_, host) => format!("host {host}"),
        }
    }

    /// The rollback to offer when the new tag is in place but bad: a
    /// Deployment's previous revision, or (a host has none) the deploy
    /// workflow run again with the previous good tag.
    pub fn rollback(&self, service: &str) -> String {
        match self {
            Place::Cluster(env) => format!("hearth rollback {service} --env {}", env.name),
            Place::Host(env, _) => format!("hearth rollback {service} --env {} --clean", env.name),
        }
    }

    /// Read what runs after a deploy step failed, to say what it left.
    pub async fn after_failure(&self, ctx: &Context, service: &Service, tag: &str) -> AfterFailure {
        match *self {
            Place::Host(env, host) => {
                match follow::host_running(&reqwest::Client::new(), service, env).await {
                    Ok(v) => AfterFailure::Other(format!("host {host} reports {v}")),
                    Err(p) => AfterFailure::Unknown(p.message),
                }
            }
            Place::Cluster(env) => {
                let kube = match ctx.kube(env).await {
                    Ok(k) => k,
                    Err(f) => return AfterFailure::Unknown(f.problem.message),
                };
                match crate::cluster::observe_one(&kube, service, &env.namespace).await {
                    EnvObservation::Live(w) if w.image_tag.as_deref() == Some(tag) => {
                        AfterFailure::Stuck {
                            reason: w.stuck_reason.clone(),
                            serving: w.serving_tag().map(str::to_string),
                        }
                    }
                    EnvObservation::Live(w) => AfterFailure::Other(format!(
                        "{} still runs {}",
                        env.namespace,
                        w.serving_tag().unwrap_or("no tag")
                    )),
                    EnvObservation::Missing { .. } => AfterFailure::Other(format!(
                        "there is no Deployment {} in {}",
                        service.k8s_name, env.namespace
                    )),
                    EnvObservation::Error(p) => AfterFailure::Unknown(p.message),
                    EnvObservation::Unknown | EnvObservation::Reported { .. } => {
                        AfterFailure::Unknown("no answer".into())
                    }
                }
            }
        }
    }

    /// What a failed deploy left, in words: "the image is built; host
    /// edge-1 was not updated (…)".
    pub fn not_updated(&self, what: &str) -> String {
        format!(
            "the image is built; {} was not updated ({what})",
            self.subject()
        )
    }

    /// What runs is unknown: "cluster state unknown" or "what host edge-1
    /// runs is unknown".
    pub fn unknown(&self) -> String {
        match self {
            Place::Cluster(_) => "cluster state unknown".into(),
            Place::Host(_, host) => format!("what host {host} runs is unknown"),
        }
    }

    /// Follow the place to `tag` as one step of the operation: the rollout,
    /// or the endpoint until it reports the tag. On failure, the problem and
    /// what it left.
    pub async fn follow(
        &self,
        ctx: &Context,
        rep: &mut Reporter,
        service: &Service,
        tag: &str,
        timeout: Duration,
    ) -> Result<(), (Problem, String)> {
        let (step, result, done, left) = match *self {
            Place::Cluster(env) => {
                let step = format!("rollout {}", env.name);
                rep.start(&step).await;
                let r = follow::follow_rollout(ctx, rep, service, env, tag, timeout).await;
                (
                    step,
                    r,
                    format!("{tag} serves in {}", env.namespace),
                    "CI finished but the rollout did not complete".to_string(),
                )
            }
            Place::Host(env, host) => {
                let step = format!("host {host} ({})", env.name);
                rep.start(&step).await;
                let r = follow::follow_host(rep, service, env, tag, timeout).await;
                (
                    step,
                    r,
                    format!("host {host} reports {tag}"),
                    format!("CI finished but host {host} does not report {tag}"),
                )
            }
        };
        match result {
            Ok(()) => {
                rep.done(&step, Some(done)).await;
                Ok(())
            }
            Err(p) => {
                rep.failed(&step, Some(p.message.clone())).await;
                Err((p, left))
            }
        }
    }
}
