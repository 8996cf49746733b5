//! The executor: runs the commands `update` asks for as tokio tasks that
//! report back as `Msg`s — planning and running operations (which need the
//! session's operations context, and so its write access), reading a
//! Deployment's revisions, log tails. It owns the sources, so that a
//! finished operation wakes the GitHub poller of its service.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::activity::History;
use super::sources::Sources;
use super::{Command, Msg};
use crate::cluster::logs::{self, LogEvent, LogRequest};
use crate::cluster::KubeClient;
use crate::config::Config;
use crate::ops::audit::Journal;
use crate::ops::{runner, Context, Progress};
use crate::registry::Registry;

/// Where the executor reports, and what it runs against.
pub struct Executor {
    pub sources: Sources,
    tx: Option<mpsc::Sender<Msg>>,
    registry: Option<Arc<Registry>>,
    config: Option<Config>,
    /// The operations context of a read-write session (`None` in watch mode).
    ops: Option<Arc<Context>>,
    /// The journal the detail pane shows (read-only sessions read it too).
    journal: Option<Journal>,
    logs: HashMap<u64, JoinHandle<()>>,
    cancel: watch::Sender<bool>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("ops", &self.ops.is_some())
            .field("logs", &self.logs.len())
            .finish_non_exhaustive()
    }
}

impl Default for Executor {
    /// An executor that runs nothing (for tests of the loop).
    fn default() -> Executor {
        Executor {
            sources: Sources::default(),
            tx: None,
            registry: None,
            config: None,
            ops: None,
            journal: None,
            logs: HashMap::new(),
            cancel: watch::channel(false).0,
        }
    }
}

impl Executor {
    /// An executor reporting into `tx`. `ops` is the operations context of
    /// a read-write session; `journal` the audit journal to show.
    pub fn new(
        sources: Sources,
        tx: mpsc::Sender<Msg>,
        registry: Arc<Registry>,
        config: Config,
        ops: Option<Arc<Context>>,
        journal: Option<Journal>,
    ) -> Executor {
        Executor {
            sources,
            tx: Some(tx),
            registry: Some(registry),
            config: Some(config),
            ops,
            journal,
            logs: HashMap::new(),
            cancel: watch::channel(false).0,
        }
    }

    /// Tell the GitHub scheduler what the screen shows (only a change is sent).
    pub fn attend(&self, attention: crate::github::Attention) {
        self.sources.steering.attend(attention);
    }

    /// Send the journal once (at start). Must be called inside the runtime.
    pub fn load_journal(&self) {
        if let (Some(tx), Some(j)) = (self.tx.clone(), self.journal.clone()) {
            tokio::spawn(send_journal(j, tx));
        }
    }

    /// Run one command (quitting is the loop's business). Must be called
    /// inside the runtime.
    pub fn run(&mut self, command: Command) {
        let Some(tx) = self.tx.clone() else {
            return;
        };
        match command {
            Command::Quit => {}
            Command::Plan(request, _access) => {
                let Some(ctx) = self.ops.clone() else { return };
                tokio::spawn(async move {
                    let result = runner::plan(&ctx, &request)
                        .await
                        .map(Box::new)
                        .map_err(|f| f.problem);
                    let _ = tx.send(Msg::Planned { request, result }).await;
                });
            }
            Command::Execute(plan, _access) => {
                let Some(ctx) = self.ops.clone() else { return };
                let steering = self.sources.steering.clone();
                let cancel = self.cancel.subscribe();
                tokio::spawn(async move {
                    let (ptx, mut prx) = mpsc::channel::<Progress>(256);
                    let fwd_tx = tx.clone();
                    let forward = tokio::spawn(async move {
                        while let Some(p) = prx.recv().await {
                            if fwd_tx.send(Msg::Op(p)).await.is_err() {
                                return;
                            }
                        }
                    });
                    let service = plan.service().to_string();
                    // While it runs, the service's runs are read as often
                    // as the selected one's.
                    steering.busy(&service, true);
                    runner::execute(&ctx, &plan, ptx, cancel, None).await;
                    let _ = forward.await;
                    steering.busy(&service, false);
                    // What changed on GitHub shows at once, not at the next idle poll.
                    steering.kick(&service);
                });
            }
            Command::Revisions {
                service,
                env,
                access: _,
            } => {
                let Some(ctx) = self.ops.clone() else { return };
                tokio::spawn(async move {
                    let result = revisions(&ctx, &service, &env).await;
                    let _ = tx
                        .send(Msg::Revisions {
                            service,
                            env,
                            result,
                        })
                        .await;
                });
            }
            Command::Logs {
                id,
                service,
                env,
                container,
            } => {
                let (Some(registry), Some(config)) = (self.registry.clone(), self.config.clone())
                else {
                    return;
                };
                for (_, h) in self.logs.drain() {
                    h.abort();
                }
                self.logs.insert(
                    id,
                    tokio::spawn(tail(registry, config, id, service, env, container, tx)),
                );
            }
            Command::Bell => {
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = out.write_all(b"\x07");
                let _ = out.flush();
            }
            Command::Title(title) => {
                let _ =
                    crossterm::execute!(std::io::stdout(), crossterm::terminal::SetTitle(title));
            }
            Command::Behind {
                service,
                env,
                dir,
                tag,
            } => {
                // Without a checkout, GitHub's compare API (the shared budget).
                let fallback = self
                    .sources
                    .github
                    .clone()
                    .filter(|_| !dir.join(".git").exists())
                    .zip(self.registry.as_ref().and_then(|r| {
                        let owner = self.config.as_ref().and_then(|c| c.github.owner.clone());
                        crate::github::resolve_repo(r.service(&service)?, owner.as_deref()).ok()
                    }));
                let mut seen = self.sources.steering.seen(&service);
                tokio::spawn(async move {
                    // Asked for every environment whose tag changes (all of
                    // them at start-up) but shown only in a row on screen
                    // and the detail pane: read once the service is on
                    // screen or selected (a `git log`, else a request).
                    // GitHub is asked one at a time, and only while a
                    // tenth of a burst is spare: after the scheduler's reads
                    // of what is on screen (which need one token), before
                    // its background reads (which keep a quarter).
                    static ONE_AT_A_TIME: tokio::sync::Semaphore =
                        tokio::sync::Semaphore::const_new(1);
                    if !seen.wait().await {
                        return;
                    }
                    // Until then the task is small: at start-up there is
                    // one per service and environment (a thousand at 300
                    // services), and the reads below, boxed, are not part
                    // of its size.
                    Box::pin(async move {
                        let mut behind = crate::ops::git::behind(&dir, &tag).await;
                        if let (None, Some((client, repo))) = (&behind, fallback) {
                            let _turn = loop {
                                let Ok(turn) = ONE_AT_A_TIME.acquire().await else {
                                    return;
                                };
                                client.bucket().spare(client.bucket().burst() * 0.1).await;
                                // Scrolled past (a filter being typed) while it
                                // waited its turn: wait until seen again.
                                if seen.now() {
                                    break turn;
                                }
                                drop(turn);
                                if !seen.wait().await {
                                    return;
                                }
                            };
                            behind = crate::ops::git::behind_on_github(&client, &repo, &tag).await;
                        }
                        let _ = tx
                            .send(Msg::Behind {
                                service,
                                env,
                                tag,
                                behind,
                            })
                            .await;
                    })
                    .await;
                });
            }
            Command::ReloadJournal => {
                if let Some(j) = self.journal.clone() {
                    tokio::spawn(send_journal(j, tx));
                }
            }
            Command::StopLogs(id) => {
                if let Some(h) = self.logs.remove(&id) {
                    h.abort();
                }
            }
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        let _ = self.cancel.send(true);
        for (_, h) in self.logs.drain() {
            h.abort();
        }
    }
}

async fn send_journal(journal: Journal, tx: mpsc::Sender<Msg>) {
    let history = tokio::task::spawn_blocking(move || History {
        entries: journal.entries(),
        interrupted: journal.interrupted(),
    })
    .await
    .unwrap_or_default();
    let _ = tx.send(Msg::Journal(history)).await;
}

async fn revisions(
    ctx: &Context,
    service: &str,
    env: &str,
) -> Result<Vec<(i64, Option<String>)>, String> {
    let svc = ctx.service(service).map_err(|f| f.problem.to_string())?;
    let environment = svc
        .environment(env)
        .ok_or_else(|| format!("{service} has no environment {env}"))?;
    let kube = ctx
        .kube(environment)
        .await
        .map_err(|f| f.problem.to_string())?;
    let (_, revs) = crate::ops::rollback::revisions(&kube, svc, &environment.namespace)
        .await
        .map_err(|p| p.to_string())?;
    Ok(revs.into_iter().map(|r| (r.number, r.tag)).collect())
}

/// Tail a service's logs into the control room until aborted.
async fn tail(
    registry: Arc<Registry>,
    config: Config,
    id: u64,
    service: String,
    env: String,
    container: Option<String>,
    tx: mpsc::Sender<Msg>,
) {
    let send = |event| Msg::Log { id, event };
    let Some(svc) = registry.service(&service).cloned() else {
        return;
    };
    let Some(environment) = svc.environment(&env).cloned() else {
        return;
    };
    if let Some(p) = crate::cluster::logs::on_host(&environment) {
        let _ = tx.send(send(LogEvent::Problem(p))).await;
        return;
    }
    let context = environment.context.clone().or(config.kube.context.clone());
    let kube = match KubeClient::new(context.as_deref(), config.kube.kubeconfig.as_deref()).await {
        Ok(k) => k,
        Err(p) => {
            let _ = tx.send(send(LogEvent::Problem(p))).await;
            return;
        }
    };
    let (ltx, mut lrx) = mpsc::channel(4096);
    let req = LogRequest {
        follow: true,
        tail: Some(100),
        container,
        ..LogRequest::default()
    };
    let task = tokio::spawn(logs::tail(
        kube,
        svc,
        environment.namespace.clone(),
        req,
        ltx,
    ));
    while let Some(ev) = lrx.recv().await {
        if tx.send(send(ev)).await.is_err() {
            break;
        }
    }
    task.abort();
}
