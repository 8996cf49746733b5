//! The live sources of a control room: the Kubernetes watches and the GitHub
//! pollers, each reporting through its client's own event type, forwarded
//! into the control room's channel as [`Msg`]s. The executor owns the
//! result, so that an operation can wake the pollers of its service.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Msg;
use crate::cluster;
use crate::config::Config;
use crate::github::{self, Steering};
use crate::registry::Registry;

/// The running sources. They stop when dropped.
#[derive(Debug, Default)]
pub struct Sources {
    /// Steers the GitHub scheduler: what is on screen, what an operation
    /// changed.
    pub steering: Steering,
    /// The GitHub client the pollers share, when GitHub is on.
    pub github: Option<Arc<github::Client>>,
    handles: Vec<JoinHandle<()>>,
}

impl Sources {
    /// Keep a task that lives as long as the sources (stopped with them).
    pub fn adopt(&mut self, task: JoinHandle<()>) {
        self.handles.push(task);
    }

    /// Stop every source task.
    pub fn stop(&mut self) {
        for h in self.handles.drain(..) {
            h.abort();
        }
    }
}

impl Drop for Sources {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A channel for a client's events whose receiving end forwards them into
/// `tx` as `Msg`s, until either side closes.
pub fn forward<E>(tx: mpsc::Sender<Msg>) -> (mpsc::Sender<E>, JoinHandle<()>)
where
    E: Into<Msg> + Send + 'static,
{
    let (etx, mut erx) = mpsc::channel::<E>(256);
    let task = tokio::spawn(async move {
        while let Some(e) = erx.recv().await {
            if tx.send(e.into()).await.is_err() {
                return;
            }
        }
    });
    (etx, task)
}

/// Start the Kubernetes watches and the GitHub pollers for `registry`,
/// sending into `tx`; with `helm_history`, also the Helm history reader for
/// the environments whose registry entry asks for it (the watch board shows
/// none, and its read-only RBAC has no Secrets). Must be called inside a
/// tokio runtime.
pub fn spawn(
    registry: &Registry,
    config: &Config,
    tx: mpsc::Sender<Msg>,
    helm_history: bool,
) -> Sources {
    let (kube_tx, kube_fwd) = forward::<cluster::Event>(tx.clone());
    let mut handles = cluster::spawn(cluster::targets(registry, &config.kube, &[]), kube_tx);
    handles.push(kube_fwd);
    let tx_endpoints = tx.clone();
    let (helm_tx, helm_fwd) = forward::<cluster::helm::Event>(tx.clone());
    match helm_history
        .then(|| cluster::helm::spawn(registry, &config.kube, helm_tx))
        .flatten()
    {
        Some(task) => handles.extend([task, helm_fwd]),
        None => helm_fwd.abort(),
    }
    let (gh_tx, gh_fwd) = forward::<github::Event>(tx);
    let pollers = github::spawn(&registry.services, &config.github, gh_tx);
    handles.push(gh_fwd);
    let (fx_tx, fx_fwd) = forward::<crate::flux::Event>(tx_endpoints.clone());
    match crate::flux::spawn(registry, &config.kube, fx_tx) {
        Some(task) => handles.extend([task, fx_fwd]),
        None => fx_fwd.abort(),
    }
    let (ep_tx, ep_fwd) = forward::<crate::endpoint::Event>(tx_endpoints);
    match crate::endpoint::spawn(registry, ep_tx) {
        Some(task) => handles.extend([task, ep_fwd]),
        None => ep_fwd.abort(),
    }
    handles.extend(pollers.handles);
    Sources {
        steering: pollers.steering,
        github: pollers.client,
        handles,
    }
}
