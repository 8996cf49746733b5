//! Kubernetes clients configured the way `kubectl` is (`KUBECONFIG` or a
//! given kubeconfig, the named or current context), the wording of their
//! errors as typed [`Problem`]s that say what to do, and the writes the
//! operations need (each takes a [`WriteAccess`]). Used by the watches,
//! `hearth status` and the operations from their own tasks.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config};

use crate::model::{Problem, ProblemKind};
use crate::WriteAccess;

/// Where a cluster is: the context (`None` = the kubeconfig's current
/// one) and, once a client was built, the API server's URL, so that every
/// message names both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Where {
    pub context: Option<String>,
    pub server: Option<String>,
}

impl Where {
    /// `context "prod" (https://10.0.0.1:6443)`, `the current context`.
    pub fn words(&self) -> String {
        let ctx = match &self.context {
            Some(c) => format!("context \"{c}\""),
            None => "the current context".to_string(),
        };
        match &self.server {
            Some(s) => format!("{ctx} ({s})"),
            None => ctx,
        }
    }
}

/// A client for one context, with where it points.
#[derive(Clone)]
pub struct KubeClient {
    pub client: Client,
    pub at: Where,
}

impl KubeClient {
    /// Build a client the way kubectl does: `kubeconfig` when given (else
    /// `KUBECONFIG` or ~/.kube/config) and the named context (or the current
    /// one; in-cluster config as a last resort).
    pub async fn new(
        context: Option<&str>,
        kubeconfig: Option<&Path>,
    ) -> Result<KubeClient, Problem> {
        let mut at = Where {
            context: context.map(str::to_string),
            server: None,
        };
        let opts = KubeConfigOptions {
            context: context.map(str::to_string),
            ..Default::default()
        };
        let config = match kubeconfig {
            Some(path) => match Kubeconfig::read_from(path) {
                Ok(k) => Config::from_custom_kubeconfig(k, &opts)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            None => match Config::from_kubeconfig(&opts).await {
                Ok(c) => Ok(c),
                // Without an explicit context, fall back to in-cluster config like kubectl would.
                Err(e) if context.is_none() => Config::infer().await.map_err(|_| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        let mut config = config.map_err(|e| {
            let known = known_contexts(kubeconfig);
            Problem::new(
                ProblemKind::NoConfig,
                format!("cannot load kube config for {}: {e}", at.words()),
                if known.is_empty() {
                    "check KUBECONFIG and --context (kubectl config get-contexts)".to_string()
                } else {
                    format!(
                        "check KUBECONFIG and --context (known contexts: {})",
                        known.join(", ")
                    )
                },
            )
        })?;
        at.server = Some(
            config
                .cluster_url
                .to_string()
                .trim_end_matches('/')
                .to_string(),
        );
        // An unreachable API server should fail fast, not hang the environment on "unknown".
        config.connect_timeout = Some(Duration::from_secs(5));
        let client = Client::try_from(config).map_err(|e| {
            Problem::new(
                ProblemKind::NoConfig,
                format!("cannot build kube client for {}: {e}", at.words()),
                "check KUBECONFIG and --context (kubectl config get-contexts)",
            )
        })?;
        Ok(KubeClient { client, at })
    }

    /// Send a JSON patch (RFC 6902, `application/json-patch+json`, the way
    /// `kubectl rollout undo` does) to a Deployment. A write: it needs the
    /// session's [`WriteAccess`].
    pub async fn json_patch_deployment(
        &self,
        access: &WriteAccess,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<Deployment, Problem> {
        self.patch_deployment(
            access,
            "application/json-patch+json",
            namespace,
            name,
            patch,
        )
        .await
    }

    /// Send a strategic merge patch (the way `kubectl rollout restart`
    /// does) to a Deployment. A write: it needs the session's [`WriteAccess`].
    pub async fn strategic_patch_deployment(
        &self,
        access: &WriteAccess,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<Deployment, Problem> {
        self.patch_deployment(
            access,
            "application/strategic-merge-patch+json",
            namespace,
            name,
            patch,
        )
        .await
    }

    async fn patch_deployment(
        &self,
        _access: &WriteAccess,
        content_type: &str,
        namespace: &str,
        name: &str,
        patch: &serde_json::Value,
    ) -> Result<Deployment, Problem> {
        let path = format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}");
        let body = serde_json::to_vec(patch).unwrap_or_default();
        self.send(
            http::Request::patch(path).header(http::header::CONTENT_TYPE, content_type),
            body,
            namespace,
            &format!("patch on deployments (deployment \"{name}\")"),
        )
        .await
    }

    /// Send one request with a JSON answer; a failure classified as what
    /// `need` (`get on …`, `patch on …`) in `namespace` could not do.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
        namespace: &str,
        need: &str,
    ) -> Result<T, Problem> {
        let request = request
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .map_err(|e| Problem::new(ProblemKind::Invalid, format!("bad request: {e}"), ""))?;
        self.client
            .request::<T>(request)
            .await
            .map_err(|e| classify(&e, &self.at, namespace, need))
    }

    /// Get a Flux object (`kustomizations` of `kustomize.toolkit.fluxcd.io`,
    /// `gitrepositories` of `source.toolkit.fluxcd.io`), as JSON.
    pub async fn flux_object(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Result<serde_json::Value, Problem> {
        let path = format!("/apis/{group}/v1/namespaces/{namespace}/{plural}/{name}");
        self.send(
            http::Request::get(path),
            Vec::new(),
            namespace,
            &format!("get on {plural}.{group} (\"{name}\")"),
        )
        .await
    }

    /// Set annotations on a Flux object (a merge patch, as `kubectl
    /// annotate` sends). A write: it needs the session's [`WriteAccess`].
    pub async fn annotate_flux(
        &self,
        _access: &WriteAccess,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        annotations: &serde_json::Value,
    ) -> Result<serde_json::Value, Problem> {
        let path = format!("/apis/{group}/v1/namespaces/{namespace}/{plural}/{name}");
        let body = serde_json::json!({"metadata": {"annotations": annotations}});
        self.send(
            http::Request::patch(path)
                .header(http::header::CONTENT_TYPE, "application/merge-patch+json"),
            serde_json::to_vec(&body).unwrap_or_default(),
            namespace,
            &format!("patch on {plural}.{group} (\"{name}\")"),
        )
        .await
    }

    /// Get a Deployment.
    pub async fn deployment(&self, namespace: &str, name: &str) -> Result<Deployment, Problem> {
        Api::<Deployment>::namespaced(self.client.clone(), namespace)
            .get(name)
            .await
            .map_err(|e| classify(&e, &self.at, namespace, "get on deployments"))
    }
}

/// The names of the contexts in the kubeconfig, for error hints.
pub fn known_contexts(kubeconfig: Option<&Path>) -> Vec<String> {
    match kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map(|k| k.contexts.into_iter().map(|c| c.name).collect())
    .unwrap_or_default()
}

/// The kubeconfig's current context, for the status bar and `hearth status`.
pub fn current_context(kubeconfig: Option<&Path>) -> Option<String> {
    match kubeconfig {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .ok()
    .and_then(|k| k.current_context)
}

/// What a reading session needs: the hint a 403 on a watch or list gives.
pub const READ_RIGHTS: &str = "get/list/watch on deployments, replicasets and pods";

/// Word a kube client error in `namespace`, with what to do. `need` names
/// the RBAC rights the request needed (for a 403's hint).
/// The server's words in the message are untrusted and come out inert.
pub fn classify(err: &kube::Error, at: &Where, namespace: &str, need: &str) -> Problem {
    classify_raw(err, at, namespace, need).inert()
}

fn classify_raw(err: &kube::Error, at: &Where, namespace: &str, need: &str) -> Problem {
    let ctx = at.words();
    match err {
        kube::Error::Api(status) if status.code == 403 => Problem::new(
            ProblemKind::Forbidden,
            format!("forbidden: {}", status.message),
            format!("ask for {need} in namespace \"{namespace}\" ({ctx})"),
        ),
        kube::Error::Api(status) if status.code == 401 => Problem::new(
            ProblemKind::Unauthorized,
            format!("unauthorized: credentials for {ctx} were rejected (expired?)"),
            "refresh your credentials (log in again / renew the token in KUBECONFIG)",
        ),
        kube::Error::Auth(e) => Problem::new(
            ProblemKind::Unauthorized,
            format!("cannot authenticate to {ctx}: {e}"),
            "refresh your credentials (log in again / renew the token in KUBECONFIG)",
        ),
        kube::Error::Api(status) if status.code == 404 => Problem::new(
            ProblemKind::NotFound,
            format!("not found: {}", status.message),
            format!("check the name and namespace \"{namespace}\" ({ctx})"),
        ),
        kube::Error::Api(status) if status.code == 409 => Problem::new(
            ProblemKind::Conflict,
            format!("conflict: {}", status.message),
            "someone changed it at the same time; try again",
        ),
        kube::Error::Api(status) if status.code == 422 || status.code == 400 => Problem::new(
            ProblemKind::Invalid,
            format!("refused ({}): {}", status.code, status.message),
            "",
        ),
        kube::Error::Api(status) => Problem::new(
            ProblemKind::Server,
            format!("API error {}: {}", status.code, status.message),
            format!("check the API server of {ctx}"),
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) => Problem::new(
            ProblemKind::Unreachable,
            format!("cannot reach the API server of {ctx}: {}", root_cause(err)),
            "check KUBECONFIG / --context / VPN; kubectl cluster-info should answer",
        ),
        other => Problem::new(
            ProblemKind::Other,
            format!("kube error in {ctx}: {}", short(other)),
            "check KUBECONFIG / --context / VPN",
        ),
    }
}

/// The innermost cause ("Connection refused (os error 111)"): what a user
/// can act on, without the client's layers of wrapping.
fn root_cause(err: &dyn std::error::Error) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// An error and its sources on one line.
fn short(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = e.source();
    }
    s
}

/// Word a watch error like a client error.
pub fn classify_watch(err: &watcher::Error, at: &Where, namespace: &str) -> Problem {
    match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => classify(e, at, namespace, READ_RIGHTS),
        watcher::Error::WatchError(status) => classify(
            &kube::Error::Api(status.clone()),
            at,
            namespace,
            READ_RIGHTS,
        ),
        watcher::Error::NoResourceVersion => Problem::new(
            ProblemKind::Malformed,
            "the API server sent no resourceVersion",
            "the API server does not support watches",
        ),
    }
}

/// The API server of `at` did not answer in time.
pub fn timed_out(at: &Where) -> Problem {
    Problem::new(
        ProblemKind::Timeout,
        format!("the API server of {} did not answer in time", at.words()),
        "check KUBECONFIG / --context / VPN; kubectl cluster-info should answer",
    )
}
