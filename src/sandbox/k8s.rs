//! The sandbox Kubernetes API: an in-memory store of Deployments,
//! ReplicaSets, Pods and Events, a deployment controller and pod log
//! generators (tokio tasks), served over HTTP by axum. (under construction)

use std::sync::Arc;

use super::{DemoService, DeployTarget, Faults, Journal};

/// The simulated cluster.
pub struct Cluster {}

impl Cluster {
    /// Seed a Deployment per demo service in `default` (prod tag) and `qa`
    /// (qa tag), and start the controller. Needs a tokio runtime.
    pub fn new(
        _services: &[DemoService],
        _speed: f64,
        _faults: Arc<Faults>,
        _journal: Arc<Journal>,
    ) -> Arc<Cluster> {
        Arc::new(Cluster {})
    }
}

impl DeployTarget for Cluster {
    fn set_image(&self, _namespace: &str, _deployment: &str, _image: &str) -> Result<(), String> {
        Err("the sandbox Kubernetes API is under construction".into())
    }
}

/// The HTTP routes of the Kubernetes API.
pub fn router(_cluster: Arc<Cluster>) -> axum::Router {
    axum::Router::new()
}
