//! The watches: for each target (a context and namespace), one watch per
//! kind (Deployments, ReplicaSets, Pods) run as one tokio task that keeps
//! stores of what hearth reads of each object ([`slim`](super::slim)),
//! re-lists after a drop or a 410, derives each member's
//! [`Workload`](crate::model::Workload) and reports an [`Event`] when it
//! changes.

use std::collections::{BTreeMap, HashMap};

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use tokio::sync::mpsc;

use super::client::{classify_watch, KubeClient, Where};
use super::derive::{labels_match, observe};
use super::slim;
use super::{Event, Target};
use crate::model::{EnvObservation, Problem, SourceStatus};

/// Objects of one kind as the watch last listed and updated them, each kept
/// as what hearth reads of it (`S`, a [`slim`] type), by name. Re-lists
/// (after a drop or a 410) are buffered and swapped in whole at `InitDone`
/// so that deletions missed while disconnected are not kept.
pub(super) struct Store<S> {
    live: HashMap<String, S>,
    buffer: Option<HashMap<String, S>>,
    ready: bool,
    problem: Option<Problem>,
}

impl<S> Store<S> {
    pub(super) fn new() -> Self {
        Store {
            live: HashMap::new(),
            buffer: None,
            ready: false,
            problem: None,
        }
    }

    /// Apply an event; returns the labels/name of the touched object, or
    /// `None` for a full relist (everything may have changed).
    fn apply<K: ResourceExt + Into<S>>(&mut self, ev: watcher::Event<K>) -> Touched {
        // A re-list in progress does not prove recovery yet; InitDone or a
        // live event does.
        if !matches!(ev, watcher::Event::Init | watcher::Event::InitApply(_)) {
            self.problem = None;
        }
        match ev {
            watcher::Event::Init => {
                self.buffer = Some(HashMap::new());
                Touched::Nothing
            }
            watcher::Event::InitApply(o) => {
                self.buffer
                    .get_or_insert_with(HashMap::new)
                    .insert(o.name_any(), o.into());
                Touched::Nothing
            }
            watcher::Event::InitDone => {
                if let Some(b) = self.buffer.take() {
                    self.live = b;
                }
                self.ready = true;
                Touched::All
            }
            watcher::Event::Apply(o) => {
                let name = o.name_any();
                let t = Touched::One(name.clone(), o.labels().clone());
                self.live.insert(name, o.into());
                t
            }
            watcher::Event::Delete(o) => {
                self.live.remove(&o.name_any());
                Touched::One(o.name_any(), o.labels().clone())
            }
        }
    }
}

enum Touched {
    Nothing,
    All,
    One(String, BTreeMap<String, String>),
}

pub(super) enum Ev {
    Deploy(Result<watcher::Event<Deployment>, watcher::Error>),
    Rs(Result<watcher::Event<ReplicaSet>, watcher::Error>),
    Pod(Result<watcher::Event<Pod>, watcher::Error>),
}

/// The state one namespace task keeps: three stores and what it last sent.
pub(super) struct NamespaceState {
    pub(super) target: Target,
    /// Where the target's cluster is, for messages.
    pub(super) at: Where,
    pub(super) deploys: Store<slim::Deployment>,
    pub(super) rss: Store<slim::ReplicaSet>,
    pub(super) pods: Store<slim::Pod>,
    pub(super) sent: HashMap<(String, String), EnvObservation>,
    pub(super) status: Option<SourceStatus>,
}

impl NamespaceState {
    fn problem(&self) -> Option<&Problem> {
        self.deploys
            .problem
            .as_ref()
            .or(self.rss.problem.as_ref())
            .or(self.pods.problem.as_ref())
    }

    fn ready(&self) -> bool {
        self.deploys.ready && self.rss.ready && self.pods.ready
    }

    /// Which members an event touched: a Deployment by name, a ReplicaSet or
    /// Pod by its labels matching a member's Deployment selector.
    fn affected(&self, touched: &Touched, is_deploy: bool) -> Vec<usize> {
        match touched {
            Touched::Nothing => vec![],
            Touched::All => (0..self.target.members.len()).collect(),
            Touched::One(name, labels) => (0..self.target.members.len())
                .filter(|&i| {
                    let k8s = &self.target.members[i].0.k8s_name;
                    if is_deploy {
                        return k8s == name;
                    }
                    self.deploys
                        .live
                        .get(k8s)
                        .is_some_and(|d| labels_match(&d.selector, labels))
                })
                .collect(),
        }
    }

    fn observation(&self, i: usize) -> EnvObservation {
        if let Some(p) = self.problem() {
            return EnvObservation::Error(p.clone());
        }
        let svc = &self.target.members[i].0;
        observe(
            svc,
            &self.target.namespace,
            self.target.context.as_deref(),
            self.deploys.live.values(),
            self.rss.live.values(),
            self.pods.live.values(),
        )
    }

    /// Messages for the members whose observation changed.
    fn changes(&mut self, members: &[usize]) -> Vec<Event> {
        let mut out = Vec::new();
        if !self.ready() && self.problem().is_none() {
            return out;
        }
        for &i in members {
            let obs = self.observation(i);
            let (svc, env) = &self.target.members[i];
            let key = (svc.name.clone(), env.clone());
            if self.sent.get(&key) != Some(&obs) {
                self.sent.insert(key, obs.clone());
                out.push(Event::Workload {
                    service: svc.name.clone(),
                    env: env.clone(),
                    observation: obs,
                });
            }
        }
        out
    }

    fn status_change(&mut self) -> Option<Event> {
        let status = match self.problem() {
            Some(p) => SourceStatus::Down(p.clone()),
            None if self.ready() => SourceStatus::Live,
            None => return None,
        };
        if self.status.as_ref() == Some(&status) {
            return None;
        }
        self.status = Some(status.clone());
        tracing::info!(
            context = self.target.context.as_deref().unwrap_or("(current)"),
            namespace = %self.target.namespace,
            ?status,
            "kube source"
        );
        Some(Event::Status(self.target.source_id(), status))
    }

    pub(super) fn handle(&mut self, ev: Ev) -> Vec<Event> {
        let at = self.at.clone();
        let ns = self.target.namespace.clone();
        // 410 Gone only means "re-list": the watcher does that by itself.
        let gone = |e: &watcher::Error| matches!(e, watcher::Error::WatchError(s) if s.code == 410);
        let had_problem = self.problem().is_some();
        let (touched, is_deploy) = match ev {
            Ev::Deploy(Err(e)) | Ev::Rs(Err(e)) | Ev::Pod(Err(e)) if gone(&e) => {
                return vec![];
            }
            Ev::Deploy(Ok(e)) => (self.deploys.apply(e), true),
            Ev::Rs(Ok(e)) => (self.rss.apply(e), false),
            Ev::Pod(Ok(e)) => (self.pods.apply(e), false),
            Ev::Deploy(Err(e)) => {
                self.deploys.problem = Some(classify_watch(&e, &at, &ns));
                (Touched::All, false)
            }
            Ev::Rs(Err(e)) => {
                self.rss.problem = Some(classify_watch(&e, &at, &ns));
                (Touched::All, false)
            }
            Ev::Pod(Err(e)) => {
                self.pods.problem = Some(classify_watch(&e, &at, &ns));
                (Touched::All, false)
            }
        };
        // A problem that cleared (or appeared) changes every member's cell,
        // whatever object the event was about.
        let members = if self.problem().is_some() != had_problem {
            self.affected(&Touched::All, is_deploy)
        } else {
            self.affected(&touched, is_deploy)
        };
        let mut out: Vec<Event> = self.status_change().into_iter().collect();
        out.extend(self.changes(&members));
        out
    }
}

/// The first and the longest wait before a watch is tried again (see [`Retry`]).
const RECONNECT_FIRST: std::time::Duration = std::time::Duration::from_secs(1);
const RECONNECT_MAX: std::time::Duration = std::time::Duration::from_secs(8);
/// Objects per list page while a watch (re)lists.
const LIST_PAGE: u32 = 50;

/// The wait before a watch is tried again, both between a watcher's own
/// retries (a failed list) and between generations (see [`watch_stream`]): from
/// [`RECONNECT_FIRST`], doubling, at most [`RECONNECT_MAX`], each with up to
/// a fifth of jitter so that many watches do not retry in step; back to the
/// start once an event arrives. kube's default backoff goes up to 30 s,
/// long for a screen that should show a cluster back as soon as it is.
pub(super) struct Retry {
    next: std::time::Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            next: RECONNECT_FIRST,
        }
    }
}

impl Iterator for Retry {
    type Item = std::time::Duration;
    fn next(&mut self) -> Option<std::time::Duration> {
        let wait = self.next.mul_f64(1.0 - rand::random::<f64>() / 5.0);
        self.next = (self.next * 2).min(RECONNECT_MAX);
        Some(wait)
    }
}

impl kube::runtime::utils::Backoff for Retry {
    fn reset(&mut self) {
        self.next = RECONNECT_FIRST;
    }
}

/// Whether a watch error ends the generation: the watch could not start or
/// broke (connection refused or cut, an error status). A failed list is
/// retried by the watcher itself, and a 410 makes it list again anyway.
pub(super) fn ends_generation(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchStartFailed(_) | watcher::Error::WatchFailed(_) => true,
        watcher::Error::WatchError(status) => status.code != 410,
        _ => false,
    }
}

/// One kind's events in one namespace, in generations: each generation is a
/// kube watcher that lists first and then watches (re-listing by itself
/// after a 410). When a watch fails (the connection to the API server lost,
/// an error status), the generation ends after yielding the error and the
/// next one lists afresh instead of resuming from the old resourceVersion:
/// a server that comes back may not be the one that issued it (a restarted
/// or restored cluster), and resuming would keep what it no longer holds.
/// The list is also what proves the source recovered: a resumed watch on a
/// quiet namespace sends nothing that would.
fn watch_stream<K>(
    client: &Client,
    ns: &str,
) -> BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
    K::DynamicType: Default,
{
    let api = Api::<K>::namespaced(client.clone(), ns);
    // Errors are still yielded (so they can be shown), then the watcher
    // waits (see `Retry`) and tries again.
    let generation = move || {
        // Lists in pages of 50 (kube's default is 500): a page is parsed
        // whole, so at hundreds of Deployments and Pods a smaller page is a
        // smaller peak, for a few more requests at start-up only.
        watcher(api.clone(), watcher::Config::default().page_size(LIST_PAGE))
            .backoff(Retry::default())
            .boxed()
    };
    struct Gen<K> {
        current: Option<BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>>,
        /// The wait before the next generation, when the last one failed.
        wait: Option<std::time::Duration>,
        retry: Retry,
    }
    let start = Gen {
        current: None,
        wait: None,
        retry: Retry::default(),
    };
    stream::unfold(start, move |mut g| {
        let generation = generation.clone();
        async move {
            loop {
                if g.current.is_none() {
                    if let Some(wait) = g.wait.take() {
                        tokio::time::sleep(wait).await;
                    }
                    g.current = Some(generation());
                }
                let current = g.current.as_mut()?;
                match current.next().await {
                    Some(Err(e)) if ends_generation(&e) => {
                        g.current = None;
                        g.wait = g.retry.next();
                        return Some((Err(e), g));
                    }
                    Some(ev) => {
                        if matches!(ev, Ok(watcher::Event::InitDone)) {
                            kube::runtime::utils::Backoff::reset(&mut g.retry);
                        }
                        return Some((ev, g));
                    }
                    None => g.current = None,
                }
            }
        }
    })
    .boxed()
}

/// Watch one target until the receiver is dropped.
pub async fn run_target(target: Target, tx: mpsc::Sender<Event>) {
    let id = target.source_id();
    if tx
        .send(Event::Status(id.clone(), SourceStatus::Connecting))
        .await
        .is_err()
    {
        return;
    }
    let kube = match KubeClient::new(target.context.as_deref(), target.kubeconfig.as_deref()).await
    {
        Ok(c) => c,
        Err(problem) => {
            let _ = tx
                .send(Event::Status(id, SourceStatus::Down(problem.clone())))
                .await;
            for (svc, env) in &target.members {
                let msg = Event::Workload {
                    service: svc.name.clone(),
                    env: env.clone(),
                    observation: EnvObservation::Error(problem.clone()),
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            return;
        }
    };
    let client = kube.client;
    let ns = target.namespace.clone();
    let mut events = stream::select_all(vec![
        watch_stream::<Deployment>(&client, &ns)
            .map(Ev::Deploy)
            .boxed(),
        watch_stream::<ReplicaSet>(&client, &ns).map(Ev::Rs).boxed(),
        watch_stream::<Pod>(&client, &ns).map(Ev::Pod).boxed(),
    ]);
    let mut state = NamespaceState {
        target,
        at: kube.at,
        deploys: Store::new(),
        rss: Store::new(),
        pods: Store::new(),
        sent: HashMap::new(),
        status: None,
    };
    while let Some(ev) = events.next().await {
        for msg in state.handle(ev) {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// Spawn one watch task per target.
pub fn spawn(targets: Vec<Target>, tx: mpsc::Sender<Event>) -> Vec<tokio::task::JoinHandle<()>> {
    targets
        .into_iter()
        .map(|t| tokio::spawn(run_target(t, tx.clone())))
        .collect()
}
