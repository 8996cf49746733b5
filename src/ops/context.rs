//! What a running operation has: the registry, the clients (one GitHub
//! client, a Kubernetes client per context), the write capability, the audit
//! journal, the locks that keep two operations off the same service and
//! environment, and a [`Reporter`] that turns what the pipeline does into
//! [`Progress`] events. Every mutating request goes through a method here,
//! so that each one is reported to the command log.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::Method;
use serde_json::Value;
use tokio::sync::mpsc;

use super::audit::{Journal, StepRecord};
use super::{Event, Failure, Mutation, OpKind, Outcome, Progress, StepState, System};
use crate::cluster::KubeClient;
use crate::config::Config;
use crate::github::{self, GhError};
use crate::model::secrets::Secrets;
use crate::model::Problem;
use crate::registry::{Environment, Registry, Service};
use crate::WriteAccess;

/// Keeps two operations off the same (service, environment).
#[derive(Clone, Debug, Default)]
pub struct Locks(Arc<Mutex<HashSet<(String, String)>>>);

/// Held while an operation runs on (service, environment); released on drop.
#[derive(Debug)]
pub struct LockGuard {
    locks: Locks,
    key: (String, String),
}

impl Locks {
    /// Take (service, env), or say what holds it.
    pub fn take(&self, service: &str, env: &str) -> Result<LockGuard, Failure> {
        let key = (service.to_string(), env.to_string());
        let mut set = self.0.lock().expect("locks");
        if !set.insert(key.clone()) {
            return Err(Failure::refused(
                format!("an operation on {service} in {env} is already running"),
                "wait for it to finish (its progress is on screen), then try again",
            ));
        }
        Ok(LockGuard {
            locks: self.clone(),
            key,
        })
    }

    /// Whether (service, env) is taken.
    pub fn is_taken(&self, service: &str, env: &str) -> bool {
        self.0
            .lock()
            .expect("locks")
            .contains(&(service.to_string(), env.to_string()))
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.locks.0.lock().expect("locks").remove(&self.key);
    }
}

/// Everything operations share in one session.
pub struct Context {
    pub registry: Arc<Registry>,
    pub config: Config,
    /// The GitHub client, made on first use (inside the runtime); `None`
    /// when there is no token (operations that need GitHub refuse with how
    /// to provide one).
    github: std::sync::OnceLock<Result<Arc<github::Client>, Problem>>,
    kube: tokio::sync::Mutex<HashMap<Option<String>, KubeClient>>,
    pub access: WriteAccess,
    pub journal: Journal,
    pub locks: Locks,
    /// `git config user.name` of whoever runs hearth, for the journal.
    pub user: String,
    next_op: AtomicU64,
    /// Every secret this session holds, redacted from all it prints or writes.
    pub secrets: Secrets,
}

impl Context {
    pub fn new(
        registry: Arc<Registry>,
        config: Config,
        access: WriteAccess,
        journal_path: PathBuf,
    ) -> Context {
        Context {
            registry,
            github: std::sync::OnceLock::new(),
            kube: tokio::sync::Mutex::new(HashMap::new()),
            access,
            journal: Journal::new(journal_path),
            locks: Locks::default(),
            user: git_user(),
            next_op: AtomicU64::new(1),
            secrets: {
                let s = Secrets::default();
                if let Some(t) = &config.github.token {
                    s.add(t.expose());
                }
                s
            },
            config,
        }
    }

    /// A reporter for an operation of this context: it redacts this
    /// context's secrets from everything it sends and records.
    pub fn reporter(
        &self,
        tx: mpsc::Sender<Progress>,
        kind: OpKind,
        service: &str,
        env: Option<&str>,
    ) -> Reporter {
        let mut rep = Reporter::new(tx, self.op_id(), kind, service, env);
        rep.secrets = self.secrets.clone();
        rep
    }

    /// A new operation id.
    pub fn op_id(&self) -> u64 {
        self.next_op.fetch_add(1, Ordering::Relaxed)
    }

    /// The service named `name`, or what the registry has instead.
    pub fn service(&self, name: &str) -> Result<&Service, Failure> {
        self.registry.service(name).ok_or_else(|| {
            let names: Vec<&str> = self
                .registry
                .services
                .iter()
                .map(|s| s.name.as_str())
                .collect();
            let near = names
                .iter()
                .min_by_key(|n| strsim::levenshtein(name, n))
                .filter(|n| strsim::levenshtein(name, n) <= 3);
            super::invalid(
                format!("no service {name:?} in {}", self.registry.path.display()),
                match near {
                    Some(n) => format!("did you mean {n:?}?"),
                    None => format!("services: {}", names.join(", ")),
                },
            )
        })
    }

    /// The GitHub client, or the problem of not having one. Must be called
    /// inside the tokio runtime the first time.
    pub fn github(&self) -> Result<&Arc<github::Client>, Failure> {
        self.github
            .get_or_init(|| {
                let settings = &self.config.github;
                match &settings.token {
                    None => Err(github::no_token()),
                    Some(t) => github::Client::new(&settings.api_url, t.clone(), None),
                }
            })
            .as_ref()
            .map_err(|p| Failure::nothing_changed(p.clone()))
    }

    /// The service's repository (`owner/name`).
    pub fn repo(&self, service: &Service) -> Result<String, Failure> {
        github::resolve_repo(service, self.config.github.owner.as_deref()).map_err(Failure::from)
    }

    /// A Kubernetes client for an environment's context (cached). An
    /// environment on a host has no cluster: every operation that would
    /// read or change a Deployment there (a fast rollback, a restart, logs)
    /// is refused here, before anything changes.
    pub async fn kube(&self, env: &Environment) -> Result<KubeClient, Failure> {
        if let Some(host) = &env.host {
            return Err(super::invalid(
                format!(
                    "{} runs on host {host}, outside Kubernetes: there is no Deployment for hearth to read or change there",
                    env.name
                ),
                format!(
                    "deploy it with its workflow (hearth rollback SERVICE --env {} --clean runs it with the tag it ran before)",
                    env.name
                ),
            ));
        }
        let context = env
            .context
            .clone()
            .or_else(|| self.config.kube.context.clone());
        let mut cache = self.kube.lock().await;
        if let Some(c) = cache.get(&context) {
            return Ok(c.clone());
        }
        let client =
            KubeClient::new(context.as_deref(), self.config.kube.kubeconfig.as_deref()).await?;
        cache.insert(context, client.clone());
        Ok(client)
    }

    /// A GitHub error as a problem fit to show (what happened and what to
    /// do), with every secret this session holds redacted: the one way the
    /// operations turn a GitHub error into words.
    pub fn github_problem(&self, e: &GhError, repo: &str, what: &str, mutating: bool) -> Problem {
        let p = e.problem(repo, what, mutating);
        Problem {
            message: self.redact(&p.message),
            ..p
        }
    }

    /// Scrub every secret this session holds from text that leaves hearth.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }
}

/// `git config user.name`, else `$USER`, else "unknown".
fn git_user() -> String {
    std::process::Command::new("git")
        .args(["config", "user.name"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Reports one operation's progress and keeps what the journal records.
pub struct Reporter {
    tx: mpsc::Sender<Progress>,
    op: u64,
    kind: OpKind,
    service: String,
    env: Option<String>,
    steps: Vec<StepRecord>,
    started: Vec<(String, Instant)>,
    mutations: Vec<Mutation>,
    runs: Vec<super::audit::StartedRun>,
    /// Redacted from every event and record (empty: nothing to redact).
    pub secrets: Secrets,
}

impl Reporter {
    pub fn new(
        tx: mpsc::Sender<Progress>,
        op: u64,
        kind: OpKind,
        service: &str,
        env: Option<&str>,
    ) -> Reporter {
        Reporter {
            tx,
            op,
            kind,
            service: service.to_string(),
            env: env.map(str::to_string),
            steps: Vec::new(),
            started: Vec::new(),
            mutations: Vec::new(),
            runs: Vec::new(),
            secrets: Secrets::default(),
        }
    }

    /// The environment the operation is about, once known.
    /// The operation's id.
    pub fn op(&self) -> u64 {
        self.op
    }

    pub fn set_env(&mut self, env: &str) {
        self.env = Some(env.to_string());
    }

    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    async fn send(&self, event: Event) {
        let event = self.scrub(event);
        let _ = self
            .tx
            .send(Progress {
                op: self.op,
                kind: self.kind,
                service: self.service.clone(),
                env: self.env.clone(),
                event,
            })
            .await;
    }

    /// The event with every secret redacted from its text.
    fn scrub(&self, event: Event) -> Event {
        let r = |s: String| self.secrets.redact(&s);
        match event {
            Event::Step {
                name,
                state,
                detail,
                took,
            } => Event::Step {
                name: r(name),
                state,
                detail: detail.map(r),
                took,
            },
            Event::Mutation(m) => Event::Mutation(Mutation {
                request: r(m.request),
                result: m.result.map(r),
                ..m
            }),
            Event::Line(l) => Event::Line(r(l)),
            Event::Finished(o) => Event::Finished(Outcome {
                summary: r(o.summary),
                left: o.left.map(r),
                recovery: o.recovery.map(r),
                ..o
            }),
        }
    }

    /// A step starts.
    pub async fn start(&mut self, name: &str) {
        self.started.push((name.to_string(), Instant::now()));
        self.send(Event::Step {
            name: name.to_string(),
            state: StepState::Running,
            detail: None,
            took: None,
        })
        .await;
    }

    /// A step ends in `state`, with what it found or why.
    pub async fn end(&mut self, name: &str, state: StepState, detail: Option<String>) {
        self.end_took(name, state, detail, None).await;
    }

    /// A step ends, with how long it took by its own source's clock (used
    /// when it was not seen to start).
    pub async fn end_took(
        &mut self,
        name: &str,
        state: StepState,
        detail: Option<String>,
        took: Option<i64>,
    ) {
        let secs = self
            .started
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.elapsed().as_secs_f64())
            .or(took.map(|t| t as f64));
        self.steps.push(StepRecord {
            name: self.secrets.redact(name),
            state,
            detail: detail.as_deref().map(|d| self.secrets.redact(d)),
            secs,
        });
        self.send(Event::Step {
            name: name.to_string(),
            state,
            detail,
            took,
        })
        .await;
    }

    pub async fn done(&mut self, name: &str, detail: impl Into<Option<String>>) {
        self.end(name, StepState::Done, detail.into()).await;
    }

    pub async fn failed(&mut self, name: &str, detail: impl Into<Option<String>>) {
        self.end(name, StepState::Failed, detail.into()).await;
    }

    pub async fn skipped(&mut self, name: &str, detail: impl Into<Option<String>>) {
        self.end(name, StepState::Skipped, detail.into()).await;
    }

    /// A line of output.
    pub async fn line(&self, text: impl Into<String>) {
        self.send(Event::Line(text.into())).await;
    }

    /// A mutating request and its result, for the command log.
    pub async fn mutation(&mut self, system: System, request: &str, result: &str, ok: bool) {
        let m = Mutation {
            system,
            request: self.secrets.redact(request),
            result: Some(self.secrets.redact(result)),
            ok,
        };
        self.mutations.push(m.clone());
        self.send(Event::Mutation(m)).await;
    }

    /// A request a dry run would send.
    pub async fn planned(&mut self, system: System, request: &str) {
        self.send(Event::Mutation(Mutation {
            system,
            request: request.to_string(),
            result: None,
            ok: true,
        }))
        .await;
    }

    /// The steps so far, for the journal.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// The mutations sent so far.
    pub fn mutations(&self) -> &[Mutation] {
        &self.mutations
    }

    /// A deploy run this operation started by hand, and its tag (for the
    /// journal: drift reads a dispatched run's tag there).
    pub fn started_run(&mut self, run: super::audit::StartedRun) {
        self.runs.push(run);
    }

    /// The runs started so far.
    pub fn started_runs(&self) -> &[super::audit::StartedRun] {
        &self.runs
    }

    /// The operation ended.
    pub async fn finish(&self, outcome: Outcome) {
        self.send(Event::Finished(outcome)).await;
    }

    // ----- mutating requests, each reported -----

    /// Run `git args` in `dir` (a mutation: tag, push, commit).
    pub async fn git(&mut self, dir: &Path, args: &[&str]) -> Result<String, Problem> {
        let shown = format!("git {}", args.join(" "));
        match super::git::run(dir, args).await {
            Ok(out) => {
                self.mutation(System::Git, &shown, "ok", true).await;
                Ok(out)
            }
            Err(mut p) => {
                // git names the remote's URL, which may carry a token.
                p.message = super::gitops::without_userinfo(&p.message);
                self.mutation(System::Git, &shown, &p.message, false).await;
                Err(p)
            }
        }
    }

    /// A mutating GitHub request.
    pub async fn github(
        &mut self,
        ctx: &Context,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GhError> {
        let client = match ctx.github() {
            Ok(c) => c.clone(),
            Err(_) => {
                return Err(GhError::Unauthorized);
            }
        };
        let mut shown = format!("{method} {}", path.split('?').next().unwrap_or(path));
        if let Some(Value::Object(fields)) = body {
            // The fields that decide what happens, not the release notes.
            let mut brief = fields.clone();
            brief.remove("body");
            let text = Value::Object(brief).to_string();
            shown.push(' ');
            shown.push_str(&crate::model::text::truncate(&text, 160));
        }
        let result = client.send(&ctx.access, method.clone(), path, body).await;
        match &result {
            Ok(v) => {
                let what = v
                    .get("id")
                    .and_then(Value::as_u64)
                    .map(|id| format!("ok (id {id})"))
                    .unwrap_or_else(|| "ok".into());
                self.mutation(System::GitHub, &shown, &what, true).await;
            }
            Err(e) => {
                let text = ctx.redact(&e.to_string());
                self.mutation(System::GitHub, &shown, &text, false).await;
            }
        }
        result
    }

    /// A Kubernetes JSON patch of a Deployment.
    pub async fn kube_patch(
        &mut self,
        ctx: &Context,
        kube: &KubeClient,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> Result<(), Problem> {
        let shown = format!("PATCH deployments/{name} -n {namespace} (json patch)");
        let sent = kube
            .json_patch_deployment(&ctx.access, namespace, name, &patch)
            .await;
        self.kube_sent(shown, sent).await
    }

    /// A Kubernetes strategic merge patch of a Deployment; `what` says what
    /// it sets (the command log and the journal show no bodies).
    pub async fn kube_strategic_patch(
        &mut self,
        ctx: &Context,
        kube: &KubeClient,
        namespace: &str,
        name: &str,
        patch: Value,
        what: &str,
    ) -> Result<(), Problem> {
        let shown = format!("PATCH deployments/{name} -n {namespace} (strategic merge: {what})");
        let sent = kube
            .strategic_patch_deployment(&ctx.access, namespace, name, &patch)
            .await;
        self.kube_sent(shown, sent).await
    }

    async fn kube_sent(
        &mut self,
        shown: String,
        sent: Result<k8s_openapi::api::apps::v1::Deployment, Problem>,
    ) -> Result<(), Problem> {
        match sent {
            Ok(_) => {
                self.mutation(System::Kubernetes, &shown, "ok", true).await;
                Ok(())
            }
            Err(p) => {
                self.mutation(System::Kubernetes, &shown, &p.message, false)
                    .await;
                Err(p)
            }
        }
    }
}
