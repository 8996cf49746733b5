//! `hearth setup --ci`: the cluster-side credentials CI deploys with, and
//! the repository secrets that carry them (the seed's "First-time CI
//! setup").
//!
//! 1. Checks first, changing nothing: the registry token's environment
//!    variable is set, every shippable repository's Actions public key can
//!    be read, the deploy namespaces exist.
//! 2. Applies the CI RBAC ([`rbac_objects`], the same objects as
//!    `deploy/rbac/ci.yaml`) by server-side apply, object by object; an
//!    object that already holds what would be applied is left alone and said
//!    to be unchanged. `--rotate` deletes the token Secret first, so the
//!    token controller issues a new token (the old one stops working).
//! 3. Waits for the token controller to fill in the token Secret, and builds
//!    a kubeconfig from its token and CA and the API server's URL (`--server`
//!    when CI reaches the cluster at another address).
//! 4. Stores the kubeconfig and the registry token as repository secrets of
//!    every shippable repository, each sealed (libsodium sealed box) to the
//!    repository's public key.
//!
//! Every mutating request is reported (the command log) and journaled; a
//! dry run reads and reports what it would send. No secret value ever
//! reaches an event, an error or the journal.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use http::Method;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cluster::client::{classify, KubeClient};
use crate::github::GhError;
use crate::model::{Problem, ProblemKind};
use crate::ops::audit::Entry;
use crate::ops::context::Reporter;
use crate::ops::{invalid, Context, Failure, OpKind, Outcome, Progress, System};
use crate::registry::Registry;

/// The namespace, ServiceAccount and token Secret CI uses.
pub const CI_NAMESPACE: &str = "ci";
pub const SERVICE_ACCOUNT: &str = "github-deployer";
pub const TOKEN_SECRET: &str = "github-deployer-token";
/// The field manager of hearth's server-side applies.
pub const FIELD_MANAGER: &str = "hearth";

/// What `hearth setup --ci` was asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CiRequest {
    /// The API server URL CI should use (default: the current context's).
    pub server: Option<String>,
    /// Replace the token (the old one stops working).
    pub rotate: bool,
    /// Read and report; send nothing that changes anything.
    pub dry_run: bool,
}

/// The namespaces the registry deploys to on `context` (environments that
/// name no context, or that one), in order, without repeats; and the
/// environments on other contexts, which this run leaves alone.
pub fn deploy_namespaces(registry: &Registry, context: Option<&str>) -> (Vec<String>, Vec<String>) {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut elsewhere = Vec::new();
    let envs = registry
        .settings
        .environments
        .iter()
        .chain(registry.services.iter().flat_map(|s| s.environments.iter()));
    for env in envs {
        match env.context.as_deref() {
            Some(c) if Some(c) != context => {
                let what = format!("{} (context {c})", env.name);
                if !elsewhere.contains(&what) {
                    elsewhere.push(what);
                }
            }
            _ => {
                if seen.insert(env.namespace.clone()) {
                    out.push(env.namespace.clone());
                }
            }
        }
    }
    (out, elsewhere)
}

/// The Kubernetes objects CI needs: namespace `ci`, ServiceAccount
/// `github-deployer`, its long-lived token Secret, and in each deploy
/// namespace a Role with what `kubectl set image` and `kubectl rollout
/// status` need, bound to the ServiceAccount.
pub fn rbac_objects(namespaces: &[String]) -> Vec<Value> {
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CI_NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": CI_NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": TOKEN_SECRET, "namespace": CI_NAMESPACE,
                "annotations": {"kubernetes.io/service-account.name": SERVICE_ACCOUNT}},
            "type": "kubernetes.io/service-account-token"}),
    ];
    for ns in namespaces {
        out.push(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns},
            "rules": [
                {"apiGroups": ["apps"], "resources": ["deployments"],
                    "verbs": ["get", "list", "watch", "patch"]},
                {"apiGroups": ["apps"], "resources": ["replicasets"],
                    "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["pods"],
                    "verbs": ["get", "list", "watch"]},
            ]}),
        );
        out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": CI_NAMESPACE}]}));
    }
    out
}

/// The API path of an object from [`rbac_objects`].
fn object_path(obj: &Value) -> String {
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
    match obj["kind"].as_str().unwrap_or("") {
        "Namespace" => format!("/api/v1/namespaces/{name}"),
        "ServiceAccount" => format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}"),
        "Secret" => format!("/api/v1/namespaces/{ns}/secrets/{name}"),
        "Role" => format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/{name}"),
        other => format!(
            "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{}s/{name}",
            other.to_ascii_lowercase()
        ),
    }
}

/// `Role/github-deployer -n qa`, as the command log names an object.
fn object_words(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("");
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{kind}/{name} -n {ns}"),
        None => format!("{kind}/{name}"),
    }
}

/// Whether `live` already holds everything in `applied` (maps may hold
/// more; lists and values must be equal): applying would change nothing.
pub fn holds(live: &Value, applied: &Value) -> bool {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => a
            .iter()
            .all(|(k, av)| l.get(k).is_some_and(|lv| holds(lv, av))),
        (Value::Array(l), Value::Array(a)) => {
            l.len() == a.len() && l.iter().zip(a).all(|(lv, av)| holds(lv, av))
        }
        (l, a) => l == a,
    }
}

/// A kubeconfig for CI: the cluster at `server` with its CA, the
/// ServiceAccount's token, and a context using them.
pub fn kubeconfig_yaml(server: &str, ca_pem: &str, token: &str, namespace: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: hearth-ci\n  \
           cluster:\n    \
             server: {server}\n    \
             certificate-authority-data: {ca}\n\
         users:\n\
         - name: {SERVICE_ACCOUNT}\n  \
           user:\n    \
             token: {token}\n\
         contexts:\n\
         - name: {SERVICE_ACCOUNT}\n  \
           context:\n    \
             cluster: hearth-ci\n    \
             user: {SERVICE_ACCOUNT}\n    \
             namespace: {namespace}\n\
         current-context: {SERVICE_ACCOUNT}\n"
    )
}

/// Seal `plaintext` to a repository's public key (base64, as GitHub gives
/// it) with a libsodium sealed box; base64 of the box, as GitHub takes it.
pub fn seal(public_key_b64: &str, plaintext: &[u8]) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bytes = b64
        .decode(public_key_b64.trim())
        .map_err(|e| format!("the repository's public key is not base64 ({e})"))?;
    let key = crypto_box::PublicKey::from_slice(&bytes).map_err(|_| {
        format!(
            "the repository's public key is {} bytes, not 32",
            bytes.len()
        )
    })?;
    let sealed = key
        .seal(&mut crypto_box::aead::OsRng, plaintext)
        .map_err(|_| "sealing the secret failed".to_string())?;
    Ok(b64.encode(sealed))
}

/// One repository's Actions public key.
struct RepoKey {
    repo: String,
    key_id: String,
    key: String,
}

/// Run `hearth setup --ci`.
pub async fn run(ctx: &Context, req: &CiRequest, tx: mpsc::Sender<Progress>) -> Outcome {
    let mut rep = ctx.reporter(tx, OpKind::SetupCi, "ci", None);
    let mut entry = Entry::new(OpKind::SetupCi, "ci", None, &ctx.user);
    let result = steps(ctx, req, &mut rep).await;
    let outcome = match result {
        Ok(o) => o,
        Err(f) => Outcome {
            ok: false,
            summary: ctx.redact(&f.problem.to_string()),
            left: f.left,
            recovery: f.recovery,
            tag: None,
            code: f.code,
        },
    };
    if !req.dry_run {
        crate::ops::runner::journal_outcome(ctx, &mut entry, &rep, &outcome);
    }
    rep.finish(outcome.clone()).await;
    outcome
}

async fn steps(ctx: &Context, req: &CiRequest, rep: &mut Reporter) -> Result<Outcome, Failure> {
    let ci = ctx.registry.settings.ci.clone();
    let names = format!(
        "{} and {}",
        ci.kubeconfig_secret_for(ctx.config.kube.display_context().as_deref()),
        ci.registry_token_secret
    );

    // 1. Checks: nothing changes until all of them pass.
    rep.start("check").await;
    let registry_token = std::env::var(&ci.registry_token_env)
        .ok()
        .filter(|v| !v.trim().is_empty());
    // Held from here on: redacted from every line, record and error.
    if let Some(t) = &registry_token {
        ctx.secrets.add(t);
    }
    if registry_token.is_none() && !req.dry_run {
        rep.failed("check", format!("{} is not set", ci.registry_token_env))
            .await;
        return Err(Failure::nothing_changed(Problem::new(
            ProblemKind::NoToken,
            format!(
                "{} is not set: it holds the token CI pushes images and checks out siblings with, stored as the {} secret",
                ci.registry_token_env, ci.registry_token_secret
            ),
            format!(
                "export {}=… (a token with write:packages), or name another variable in hearth.ci.registry_token_env; hearth reads it from the environment, never from a flag",
                ci.registry_token_env
            ),
        )));
    }
    let mut repos: Vec<String> = Vec::new();
    for svc in ctx.registry.services.iter().filter(|s| s.shippable) {
        let repo = ctx.repo(svc)?;
        if !repos.contains(&repo) {
            repos.push(repo);
        }
    }
    if repos.is_empty() {
        rep.failed("check", "no shippable service".to_string())
            .await;
        return Err(invalid(
            "the registry has no shippable service: no repository needs CI secrets",
            "mark a service `shippable: true` (it needs an image and a directory)",
        ));
    }
    let gh = ctx.github()?;
    let mut keys = Vec::new();
    for repo in &repos {
        let path = format!("/repos/{repo}/actions/secrets/public-key");
        let v = gh
            .get_json(&path)
            .await
            .map_err(|e| Failure::nothing_changed(gh_problem(&e, repo, "the Actions secrets")))?;
        let (Some(key_id), Some(key)) = (
            v["key_id"].as_str().map(str::to_string),
            v["key"].as_str().map(str::to_string),
        ) else {
            return Err(Failure::nothing_changed(Problem::new(
                ProblemKind::Malformed,
                format!("{repo}: the Actions public key answer has no key_id and key"),
                "check GITHUB_API_URL",
            )));
        };
        keys.push(RepoKey {
            repo: repo.clone(),
            key_id,
            key,
        });
    }
    let kube = KubeClient::new(
        ctx.config.kube.context.as_deref(),
        ctx.config.kube.kubeconfig.as_deref(),
    )
    .await
    .map_err(Failure::nothing_changed)?;
    let context = ctx.config.kube.display_context();
    let (namespaces, elsewhere) = deploy_namespaces(&ctx.registry, context.as_deref());
    // Environments on several clusters need a kubeconfig secret each: one
    // name for all would let this cluster's run replace the other's.
    if !elsewhere.is_empty() && ci.kubeconfig_per_context.is_empty() {
        rep.failed(
            "check",
            "one kubeconfig secret for several clusters".to_string(),
        )
        .await;
        return Err(invalid(
            format!(
                "environments run on more than one cluster ({} elsewhere), and one secret {} cannot hold a kubeconfig for each: a run per cluster would replace the one before",
                elsewhere.join(", "),
                ci.kubeconfig_secret
            ),
            format!(
                "name a secret per kube context in {}: hearth: {{ ci: {{ secrets: {{ kubeconfig: {{ {}: K3S_KUBECONFIG_A, OTHER-CONTEXT: K3S_KUBECONFIG_B }} }} }} }}, then run hearth setup --ci --context NAME for each",
                ctx.registry.path.display(),
                context.as_deref().unwrap_or("THIS-CONTEXT")
            ),
        ));
    }
    if !ci.kubeconfig_per_context.is_empty()
        && !ci
            .kubeconfig_per_context
            .iter()
            .any(|(c, _)| Some(c.as_str()) == context.as_deref())
    {
        rep.failed(
            "check",
            "no kubeconfig secret named for this context".to_string(),
        )
        .await;
        return Err(invalid(
            format!(
                "hearth.ci.secrets.kubeconfig names a secret per context, and none for {}",
                context.as_deref().unwrap_or("the current context")
            ),
            "add this context to that map, or run with --context NAME for one it names",
        ));
    }
    let kube_secret = ci.kubeconfig_secret_for(context.as_deref()).to_string();
    if !elsewhere.is_empty() {
        rep.line(format!(
            "  not this cluster: {}; run hearth setup --ci --context NAME for each",
            elsewhere.join(", ")
        ))
        .await;
    }
    for ns in &namespaces {
        let path = format!("/api/v1/namespaces/{ns}");
        if get(&kube, &path, ns, "get on namespaces").await?.is_none() {
            rep.failed("check", format!("namespace {ns} does not exist"))
                .await;
            return Err(Failure::nothing_changed(Problem::new(
                ProblemKind::NotFound,
                format!(
                    "namespace \"{ns}\" (an environment's namespace in {}) does not exist in {}",
                    ctx.registry.path.display(),
                    kube.at.words()
                ),
                "check the environments' namespaces in the registry, or --context",
            )));
        }
    }
    rep.done(
        "check",
        format!(
            "{} {} to set up; deploy namespaces {}; {}",
            repos.len(),
            if repos.len() == 1 {
                "repository"
            } else {
                "repositories"
            },
            namespaces.join(", "),
            kube.at.words()
        ),
    )
    .await;

    // 2. The CI RBAC, by server-side apply.
    rep.start("rbac").await;
    let (mut created, mut configured, mut unchanged) = (0, 0, 0);
    for obj in rbac_objects(&namespaces) {
        let path = object_path(&obj);
        let words = object_words(&obj);
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("");
        // A failure here may follow objects already applied: say so.
        let mut live = get(&kube, &path, ns, "get")
            .await
            .map_err(|f| rbac_failure(f.problem, created + configured))?;
        if req.rotate && obj["kind"] == "Secret" {
            if let Some(_old) = live.take() {
                let shown = format!("kubectl delete secret/{TOKEN_SECRET} -n {CI_NAMESPACE} (--rotate: a new token)");
                if req.dry_run {
                    rep.planned(System::Kubernetes, &shown).await;
                } else {
                    let r = send(&kube, Method::DELETE, &path, None, ns).await;
                    let ok = r.is_ok();
                    rep.mutation(
                        System::Kubernetes,
                        &shown,
                        if ok { "deleted" } else { "failed" },
                        ok,
                    )
                    .await;
                    r.map_err(|p| rbac_failure(p, created + configured))?;
                    wait_gone(&kube, &path, ns).await?;
                }
            }
        }
        if live.as_ref().is_some_and(|l| holds(l, &obj)) {
            unchanged += 1;
            rep.line(format!("  {words}: unchanged")).await;
            continue;
        }
        let shown = format!("kubectl apply --server-side --field-manager={FIELD_MANAGER} {words}");
        if req.dry_run {
            rep.planned(
                System::Kubernetes,
                &format!(
                    "{shown}  ({})",
                    if live.is_some() {
                        "would configure"
                    } else {
                        "would create"
                    }
                ),
            )
            .await;
            continue;
        }
        let apply = format!("{path}?fieldManager={FIELD_MANAGER}&force=true");
        let r = send(&kube, Method::PATCH, &apply, Some(&obj), ns).await;
        let word = if live.is_some() {
            "configured"
        } else {
            "created"
        };
        rep.mutation(
            System::Kubernetes,
            &shown,
            if r.is_ok() { word } else { "failed" },
            r.is_ok(),
        )
        .await;
        r.map_err(|p| rbac_failure(p, created + configured))?;
        if live.is_some() {
            configured += 1;
        } else {
            created += 1;
        }
    }
    rep.done(
        "rbac",
        format!("RBAC: {created} created, {configured} configured, {unchanged} unchanged"),
    )
    .await;

    if req.dry_run {
        rep.line(format!(
            "would wait for the token of {CI_NAMESPACE}/{TOKEN_SECRET} and build a kubeconfig for {}",
            req.server.as_deref().or(kube.at.server.as_deref()).unwrap_or("the current context's server")
        ))
        .await;
        for k in &keys {
            for name in [&kube_secret, &ci.registry_token_secret] {
                rep.planned(
                    System::GitHub,
                    &format!("PUT /repos/{}/actions/secrets/{name}", k.repo),
                )
                .await;
            }
        }
        if registry_token.is_none() {
            rep.line(format!(
                "note: {} is not set; the real run stops here until it is",
                ci.registry_token_env
            ))
            .await;
        }
        return Ok(Outcome {
            ok: true,
            summary: format!(
                "dry run: nothing changed; {names} would be set on {} repositories",
                keys.len()
            ),
            left: None,
            recovery: None,
            tag: None,
            code: 0,
        });
    }
    let Some(registry_token) = registry_token else {
        unreachable!("checked above")
    };

    // 3. The token, the CA and the server: a kubeconfig.
    rep.start("token").await;
    let secret_path = format!("/api/v1/namespaces/{CI_NAMESPACE}/secrets/{TOKEN_SECRET}");
    let (token, ca) = wait_token(&kube, &secret_path).await?;
    ctx.secrets.add(&token);
    let server = req
        .server
        .clone()
        .or_else(|| kube.at.server.clone())
        .unwrap_or_default();
    let first_ns = namespaces.first().map(String::as_str).unwrap_or("default");
    let kubeconfig = kubeconfig_yaml(&server, &ca, &token, first_ns);
    rep.done(
        "token",
        format!("kubeconfig built: {SERVICE_ACCOUNT} at {server}"),
    )
    .await;

    // 4. The repository secrets.
    rep.start("secrets").await;
    let values: [(&str, &[u8]); 2] = [
        (&kube_secret, kubeconfig.as_bytes()),
        (&ci.registry_token_secret, registry_token.as_bytes()),
    ];
    let mut done_repos = 0;
    for k in &keys {
        for (name, value) in values {
            let sealed = seal(&k.key, value).map_err(|e| {
                secrets_failure(
                    Problem::new(ProblemKind::Malformed, format!("{}: {e}", k.repo), ""),
                    done_repos,
                )
            })?;
            let path = format!("/repos/{}/actions/secrets/{name}", k.repo);
            let existed = match gh.get_json(&path).await {
                Ok(_) => true,
                Err(GhError::NotFound) => false,
                Err(e) => {
                    return Err(secrets_failure(
                        gh_problem(&e, &k.repo, "the Actions secrets"),
                        done_repos,
                    ))
                }
            };
            let body = json!({"encrypted_value": sealed, "key_id": k.key_id});
            let r = gh.send(&ctx.access, Method::PUT, &path, Some(&body)).await;
            let shown = format!("PUT /repos/{}/actions/secrets/{name}", k.repo);
            match r {
                Ok(_) => {
                    let word = if existed {
                        "204 updated"
                    } else {
                        "201 created"
                    };
                    rep.mutation(System::GitHub, &shown, word, true).await;
                }
                Err(e) => {
                    rep.mutation(System::GitHub, &shown, &ctx.redact(&e.to_string()), false)
                        .await;
                    return Err(secrets_failure(
                        gh_problem(&e, &k.repo, "the Actions secrets"),
                        done_repos,
                    ));
                }
            }
        }
        done_repos += 1;
    }
    rep.done(
        "secrets",
        format!("{names} set on {done_repos} repositories"),
    )
    .await;
    Ok(Outcome {
        ok: true,
        summary: format!(
            "CI set up: RBAC {created} created, {configured} configured, {unchanged} unchanged; {names} set on {done_repos} {}{}",
            if done_repos == 1 { "repository" } else { "repositories" },
            if req.rotate { "; the token was rotated" } else { "" }
        ),
        left: None,
        recovery: None,
        tag: None,
        code: 0,
    })
}

fn gh_problem(e: &GhError, repo: &str, what: &str) -> Problem {
    match e {
        GhError::Forbidden(_) | GhError::NotFound => Problem::new(
            e.kind(),
            format!("{repo}: {what}: {e}"),
            "the token needs the Secrets permission (read and write) on the repository, or the classic `repo` scope",
        ),
        _ => e.problem(repo, what, true),
    }
}

fn rbac_failure(problem: Problem, applied: usize) -> Failure {
    Failure {
        problem,
        left: Some(if applied == 0 {
            "nothing changed".into()
        } else {
            format!("{applied} RBAC objects applied; no secret set")
        }),
        recovery: Some("hearth setup --ci (safe to run again)".into()),
        code: 1,
    }
}

/// A failure after the cluster was changed, with what it left.
fn after_rbac(problem: Problem, left: &str) -> Failure {
    Failure {
        problem,
        left: Some(left.to_string()),
        recovery: Some("hearth setup --ci (safe to run again)".into()),
        code: 1,
    }
}

fn secrets_failure(problem: Problem, done: usize) -> Failure {
    Failure {
        problem,
        left: Some(format!(
            "the RBAC is applied; secrets set on {done} repositories"
        )),
        recovery: Some("hearth setup --ci (safe to run again)".into()),
        code: 1,
    }
}

/// GET an object; `None` when it does not exist.
async fn get(
    kube: &KubeClient,
    path: &str,
    ns: &str,
    need: &str,
) -> Result<Option<Value>, Failure> {
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| invalid(format!("bad request {path}: {e}"), ""))?;
    match kube.client.request::<Value>(request).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(Failure::nothing_changed(classify(&e, &kube.at, ns, need))),
    }
}

/// A mutating request (`PATCH` server-side apply, `DELETE`).
async fn send(
    kube: &KubeClient,
    method: Method,
    path: &str,
    body: Option<&Value>,
    ns: &str,
) -> Result<Value, Problem> {
    let mut b = http::Request::builder()
        .method(method.clone())
        .uri(path)
        .header(http::header::ACCEPT, "application/json");
    if body.is_some() {
        b = b.header(http::header::CONTENT_TYPE, "application/apply-patch+yaml");
    }
    let request = b
        .body(
            body.map(|v| serde_json::to_vec(v).unwrap_or_default())
                .unwrap_or_default(),
        )
        .map_err(|e| Problem::new(ProblemKind::Invalid, format!("bad request {path}: {e}"), ""))?;
    let need = if method == Method::DELETE {
        "delete"
    } else {
        "patch (server-side apply)"
    };
    kube.client
        .request::<Value>(request)
        .await
        .map_err(|e| classify(&e, &kube.at, ns, need))
}

/// Wait until a deleted object is gone (finalizers, the token controller).
async fn wait_gone(kube: &KubeClient, path: &str, ns: &str) -> Result<(), Failure> {
    for _ in 0..100 {
        let left = "the old token Secret was deleted (its token no longer works); no secret set";
        let found = get(kube, path, ns, "get on secrets")
            .await
            .map_err(|f| after_rbac(f.problem, left))?;
        if found.is_none() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(after_rbac(
        Problem::new(
            ProblemKind::Timeout,
            format!("{TOKEN_SECRET} was deleted but still exists after 10 s"),
            "check for finalizers on the Secret",
        ),
        "the old token Secret is being deleted; no secret set",
    ))
}

/// Wait (up to 30 s) for the token controller to fill in the token Secret;
/// its token and CA (PEM).
async fn wait_token(kube: &KubeClient, path: &str) -> Result<(String, String), Failure> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |v: &Value| {
        v.as_str()
            .and_then(|s| b64.decode(s).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| !s.is_empty())
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let secret = get(kube, path, CI_NAMESPACE, "get on secrets")
            .await
            .map_err(|f| after_rbac(f.problem, "the CI RBAC is applied; no secret set"))?;
        if let Some(s) = &secret {
            if let Some(token) = decode(&s["data"]["token"]) {
                let Some(ca) = decode(&s["data"]["ca.crt"]) else {
                    return Err(after_rbac(
                        Problem::new(
                            ProblemKind::Malformed,
                            format!("{CI_NAMESPACE}/{TOKEN_SECRET} has a token but no ca.crt"),
                            "check the cluster's token controller (kube-controller-manager)",
                        ),
                        "the CI RBAC is applied; no secret set",
                    ));
                };
                return Ok((token, ca));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(after_rbac(
                Problem::new(
                    ProblemKind::Timeout,
                    format!("the token controller did not fill in {CI_NAMESPACE}/{TOKEN_SECRET} within 30 s"),
                    "check that the ServiceAccount exists and the controller manager runs (kubectl -n ci describe secret github-deployer-token)",
                ),
                "the CI RBAC is applied; no secret set",
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repositorys_rbac_yaml_is_what_setup_applies() {
        let text = include_str!("../../deploy/rbac/ci.yaml");
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .filter(|v: &Value| !v.is_null())
            .collect();
        assert_eq!(docs, rbac_objects(&["default".into(), "qa".into()]));
    }

    #[test]
    fn namespaces_are_those_of_this_context_once_each() {
        let text = "hearth:\n  environments:\n    prod: { namespace: default }\n    qa: { namespace: qa }\n    edge: { namespace: qa, context: edge-cluster, release: latest }\napi:\n  image: ghcr.io/o/api\n";
        let reg = crate::registry::load_str(
            text,
            std::path::Path::new("s.yaml"),
            std::path::Path::new("/"),
        )
        .unwrap();
        let (here, elsewhere) = deploy_namespaces(&reg, Some("main"));
        assert_eq!(here, ["default", "qa"]);
        assert_eq!(elsewhere, ["edge (context edge-cluster)"]);
        let (here, elsewhere) = deploy_namespaces(&reg, Some("edge-cluster"));
        assert_eq!(here, ["default", "qa"]);
        assert!(elsewhere.is_empty());
    }

    #[test]
    fn holds_means_applying_changes_nothing() {
        let applied = json!({"metadata": {"name": "x"}, "rules": [{"verbs": ["get"]}]});
        let live = json!({"metadata": {"name": "x", "uid": "1"}, "rules": [{"verbs": ["get"], "apiGroups": []}]});
        assert!(holds(&live, &applied));
        let more =
            json!({"metadata": {"name": "x"}, "rules": [{"verbs": ["get"]}, {"verbs": ["list"]}]});
        assert!(!holds(&live, &more));
        assert!(!holds(&live, &json!({"metadata": {"name": "y"}})));
    }

    #[test]
    fn a_sealed_secret_opens_with_the_private_key_only() {
        let sk = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let pk = base64::engine::general_purpose::STANDARD.encode(sk.public_key().as_bytes());
        let sealed = seal(&pk, b"kubeconfig").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .unwrap();
        assert_eq!(sk.unseal(&bytes).unwrap(), b"kubeconfig");
        let other = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        assert!(other.unseal(&bytes).is_err());
        assert!(seal("bm90IGEga2V5", b"x").unwrap_err().contains("not 32"));
    }

    #[test]
    fn the_kubeconfig_is_one_context_with_the_token() {
        let k = kubeconfig_yaml("https://10.0.0.1:6443", "PEM", "tok", "qa");
        let v: Value = serde_yaml::from_str(&k).unwrap();
        assert_eq!(
            v["clusters"][0]["cluster"]["server"],
            "https://10.0.0.1:6443"
        );
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        assert_eq!(v["current-context"], SERVICE_ACCOUNT);
        assert_eq!(v["contexts"][0]["context"]["namespace"], "qa");
    }
}
