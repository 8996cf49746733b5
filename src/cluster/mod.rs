//! The Kubernetes client and its watches. `targets` groups the registry's
//! environments by (context, namespace); `client` builds clients the way
//! kubectl does and words their errors; `derive` is the pure derivation of a
//! service's state from its Deployment, ReplicaSets and Pods, as `slim`
//! keeps them (what hearth reads of each object); `watch` keeps
//! one set of watches per target; `once` lists once for `hearth status`.
//! Everything reports through this module's own [`Event`] type, never through
//! the app's messages: the control room maps events to `Msg`.

pub mod client;
pub mod derive;
pub mod helm;
pub mod logs;
pub mod once;
pub mod slim;
pub mod targets;
pub mod watch;

pub use client::{classify, current_context, known_contexts, KubeClient, Where, READ_RIGHTS};
pub use derive::{derive, observe, pod_status, rollout_status, split_image};
pub use once::{list_once, observe_one};
pub use targets::{targets, Target};
pub use watch::{run_target, spawn};

use std::path::PathBuf;

use crate::model::{EnvObservation, SourceId, SourceStatus};

/// Which cluster to talk to: resolved by the command layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// A kubeconfig file to read instead of `KUBECONFIG` / ~/.kube/config.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`: the context for environments that name none (`None`:
    /// the kubeconfig's current context).
    pub context: Option<String>,
}

impl Settings {
    /// The context the status bar names: `--context`, else the current one.
    pub fn display_context(&self) -> Option<String> {
        self.context
            .clone()
            .or_else(|| current_context(self.kubeconfig.as_deref()))
    }
}

/// What the watches report.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A target's watches connected, or failed with a problem.
    Status(SourceId, SourceStatus),
    /// The latest view of a service in an environment (sent on change).
    Workload {
        service: String,
        env: String,
        observation: EnvObservation,
    },
}

#[cfg(test)]
mod tests;
