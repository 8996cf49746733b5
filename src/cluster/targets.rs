//! Which (kube context, namespace) pairs to watch, and which services have
//! an environment in each. Pure.

use super::Settings;
use crate::model::SourceId;
use crate::registry::{Registry, Service};

/// One (kube context, namespace) pair to watch and the services that have an
/// environment there. The number of watches is 3 per target, whatever the
/// number of services.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Effective context: the environment's, else `--context`, else `None`
    /// (the kubeconfig's current context).
    pub context: Option<String>,
    pub namespace: String,
    /// A kubeconfig file to read instead of `KUBECONFIG` / ~/.kube/config
    /// (tests and the demo point this at a sandbox).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// (service, environment name) pairs observed in this namespace.
    pub members: Vec<(Service, String)>,
}

impl Target {
    /// The `SourceId` under which this target reports its health.
    pub fn source_id(&self) -> SourceId {
        SourceId::Kube {
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }
}

/// Group every (service, environment) of the registry by distinct (context,
/// namespace), in registry order. `only` restricts to the named services.
pub fn targets(registry: &Registry, settings: &Settings, only: &[String]) -> Vec<Target> {
    let default_context = settings.context.as_deref();
    let mut out: Vec<Target> = Vec::new();
    for svc in &registry.services {
        if !only.is_empty() && !only.contains(&svc.name) {
            continue;
        }
        // An environment on a host has no namespace to watch.
        for env in svc.environments.iter().filter(|e| e.on_cluster()) {
            let context = env
                .context
                .clone()
                .or_else(|| default_context.map(str::to_string));
            let member = (svc.clone(), env.name.clone());
            match out
                .iter_mut()
                .find(|t| t.context == context && t.namespace == env.namespace)
            {
                Some(t) => t.members.push(member),
                None => out.push(Target {
                    context,
                    namespace: env.namespace.clone(),
                    kubeconfig: settings.kubeconfig.clone(),
                    members: vec![member],
                }),
            }
        }
    }
    out
}
