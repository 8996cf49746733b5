//! One-shot listing for `hearth status`: each target's Deployments,
//! ReplicaSets and Pods listed once, observed with the same derivation as the
//! watches. Every call has a timeout so that the command always finishes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::client::{classify, timed_out, KubeClient, Where, READ_RIGHTS};
use super::derive::observe;
use super::slim;
use super::Target;
use crate::model::{EnvObservation, Problem};

/// List Deployments, ReplicaSets and Pods of a target once and observe every
/// member. Every call has `timeout`; a failure becomes an Error observation.
pub async fn list_once(
    target: &Target,
    timeout: Duration,
) -> Vec<(String, String, EnvObservation)> {
    let ctx = target.context.as_deref();
    let ns = target.namespace.as_str();
    let mut at = Where {
        context: target.context.clone(),
        server: None,
    };
    let result: Result<_, Problem> = async {
        let kube =
            tokio::time::timeout(timeout, KubeClient::new(ctx, target.kubeconfig.as_deref()))
                .await
                .map_err(|_| timed_out(&at))??;
        at = kube.at.clone();
        let client = kube.client;
        let lp = ListParams::default();
        let d = Api::<Deployment>::namespaced(client.clone(), ns);
        let r = Api::<ReplicaSet>::namespaced(client.clone(), ns);
        let p = Api::<Pod>::namespaced(client, ns);
        let (d, r, p) = tokio::time::timeout(timeout, async {
            tokio::try_join!(d.list(&lp), r.list(&lp), p.list(&lp))
        })
        .await
        .map_err(|_| timed_out(&at))?
        .map_err(|e| classify(&e, &at, ns, READ_RIGHTS))?;
        Ok(slim_lists(d.items, r.items, p.items))
    }
    .await;
    target
        .members
        .iter()
        .map(|(svc, env)| {
            let obs = match &result {
                Ok((d, r, p)) => observe(svc, ns, ctx, d, r, p),
                Err(problem) => EnvObservation::Error(problem.clone()),
            };
            (svc.name.clone(), env.clone(), obs)
        })
        .collect()
}

/// One service's Deployment in one namespace, with the ReplicaSets and Pods
/// its selector matches, observed once (what an operation polls while it
/// follows a rollout).
pub async fn observe_one(
    kube: &KubeClient,
    service: &crate::registry::Service,
    namespace: &str,
) -> EnvObservation {
    let at = &kube.at;
    let deploy = match Api::<Deployment>::namespaced(kube.client.clone(), namespace)
        .get_opt(&service.k8s_name)
        .await
    {
        Ok(Some(d)) => slim::Deployment::from(d),
        Ok(None) => return observe(service, namespace, at.context.as_deref(), [], [], []),
        Err(e) => return EnvObservation::Error(classify(&e, at, namespace, READ_RIGHTS)),
    };
    let selector = deploy
        .selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let lp = ListParams::default().labels(&selector);
    let rs = Api::<ReplicaSet>::namespaced(kube.client.clone(), namespace);
    let pods = Api::<Pod>::namespaced(kube.client.clone(), namespace);
    match tokio::try_join!(rs.list(&lp), pods.list(&lp)) {
        Ok((r, p)) => {
            let (_, r, p) = slim_lists(vec![], r.items, p.items);
            observe(service, namespace, at.context.as_deref(), [&deploy], &r, &p)
        }
        Err(e) => EnvObservation::Error(classify(&e, at, namespace, READ_RIGHTS)),
    }
}

/// Lists as what hearth reads of each object.
type SlimLists = (Vec<slim::Deployment>, Vec<slim::ReplicaSet>, Vec<slim::Pod>);

fn slim_lists(d: Vec<Deployment>, r: Vec<ReplicaSet>, p: Vec<Pod>) -> SlimLists {
    (
        d.into_iter().map(Into::into).collect(),
        r.into_iter().map(Into::into).collect(),
        p.into_iter().map(Into::into).collect(),
    )
}
