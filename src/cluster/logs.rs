//! Log tails: every pod of a service's Deployment, found by its selector,
//! each line prefixed by its pod. With `follow`, a pod watch keeps the set
//! current: pods created during a rollout join, deleted ones leave (`kubectl
//! logs -f deploy/x` follows one pod only), and a dropped stream resumes from
//! its last timestamp without repeating lines. Lines are sanitized: escape
//! sequences and control characters from a log never reach a terminal raw.

use std::collections::HashMap;
use std::time::Duration;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use tokio::sync::mpsc;

use crate::cluster::{self, KubeClient, READ_RIGHTS};
use crate::model::{Problem, ProblemKind};
use crate::registry::Service;

/// What to tail.
#[derive(Clone, Debug, Default)]
pub struct LogRequest {
    pub follow: bool,
    /// Lines per pod to start with (`--tail`); `None`: everything (one-shot)
    /// or the last 10 (follow), as kubectl does.
    pub tail: Option<i64>,
    pub since: Option<Duration>,
    /// `-c`: the container (default: the app container).
    pub container: Option<String>,
    /// `--grep`: keep matching lines only.
    pub grep: Option<regex::Regex>,
}

/// One line of a pod's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub pod: String,
    /// RFC 3339 with nanoseconds, as the API server stamps it.
    pub time: Option<String>,
    /// Sanitized: no escape sequences or control characters.
    pub text: String,
}

/// What a tail reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEvent {
    Line(LogLine),
    /// A pod joined the tail (created during a rollout, or found at start).
    Joined(String),
    /// A pod left (deleted).
    Left(String),
    /// A problem that stops the tail, or (for one pod) a note.
    Problem(Problem),
}

/// Make a log line safe to print: the shared rules of
/// [`crate::model::text`], with tabs expanded to 8-column stops.
pub fn sanitize(line: &str) -> String {
    crate::model::text::log_line(line)
}

/// Split `2026-01-01T00:00:00.123456789Z text` (a `timestamps=true` line).
fn split_time(raw: &str) -> (Option<String>, &str) {
    match raw.split_once(' ') {
        Some((t, rest)) if t.len() >= 20 && t.as_bytes()[4] == b'-' && t.ends_with('Z') => {
            (Some(t.to_string()), rest)
        }
        _ => (None, raw),
    }
}

fn selector(deploy: &k8s_openapi::api::apps::v1::Deployment) -> String {
    deploy
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The container to read: `-c`, else the app container (image matches the
/// registry's), else the first.
fn container_of(service: &Service, pod: &Pod, wanted: Option<&str>) -> Option<String> {
    if let Some(w) = wanted {
        return Some(w.to_string());
    }
    let spec = pod.spec.as_ref()?;
    let by_image = service.image.as_deref().and_then(|img| {
        spec.containers.iter().find(|c| {
            c.image
                .as_deref()
                .is_some_and(|i| cluster::split_image(i).0 == img)
        })
    });
    by_image.or(spec.containers.first()).map(|c| c.name.clone())
}

/// Why the logs of `env` cannot be read, when it runs on a host outside
/// Kubernetes: there are no pods.
pub fn on_host(env: &crate::registry::Environment) -> Option<Problem> {
    let host = env.host.as_deref()?;
    Some(Problem::new(
        ProblemKind::Invalid,
        format!(
            "{} runs on host {host}, outside Kubernetes: hearth has no pods to read logs from",
            env.name
        ),
        format!("read them on the host: ssh {host} docker compose logs -f"),
    ))
}

/// Tail the logs of `service`'s pods in `namespace` into `tx` until the
/// receiver is dropped (or, without `follow`, until every pod's log is read).
pub async fn tail(
    kube: KubeClient,
    service: Service,
    namespace: String,
    req: LogRequest,
    tx: mpsc::Sender<LogEvent>,
) {
    let deploy = match kube.deployment(&namespace, &service.k8s_name).await {
        Ok(d) => d,
        Err(p) => {
            let _ = tx.send(LogEvent::Problem(p)).await;
            return;
        }
    };
    let selector = selector(&deploy);
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), &namespace);
    if !req.follow {
        one_shot(&kube, &pods, &service, &namespace, &selector, &req, &tx).await;
        return;
    }
    let mut streams: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let cfg = watcher::Config::default().labels(&selector);
    let mut events = watcher(pods.clone(), cfg).default_backoff().boxed();
    while let Some(ev) = events.next().await {
        if tx.is_closed() {
            break;
        }
        let seen = |pod: Pod, streams: &mut HashMap<String, tokio::task::JoinHandle<()>>| {
            let name = pod.name_any();
            if pod.metadata.deletion_timestamp.is_some() {
                return;
            }
            if streams.get(&name).is_some_and(|h| !h.is_finished()) {
                return;
            }
            let Some(container) = container_of(&service, &pod, req.container.as_deref()) else {
                return;
            };
            let first = !streams.contains_key(&name);
            streams.insert(
                name.clone(),
                tokio::spawn(follow_pod(
                    pods.clone(),
                    name,
                    container,
                    req.clone(),
                    first,
                    tx.clone(),
                )),
            );
        };
        match ev {
            Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => {
                seen(p, &mut streams)
            }
            Ok(watcher::Event::Delete(p)) => {
                let name = p.name_any();
                if let Some(h) = streams.remove(&name) {
                    h.abort();
                    let _ = tx.send(LogEvent::Left(name)).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let p = cluster::client::classify_watch(&e, &kube.at, &namespace);
                let _ = tx.send(LogEvent::Problem(p)).await;
            }
        }
    }
    for (_, h) in streams {
        h.abort();
    }
}

/// Without `follow`: each pod's log once, all lines in time order.
async fn one_shot(
    kube: &KubeClient,
    pods: &Api<Pod>,
    service: &Service,
    namespace: &str,
    selector: &str,
    req: &LogRequest,
    tx: &mpsc::Sender<LogEvent>,
) {
    let list = match pods.list(&ListParams::default().labels(selector)).await {
        Ok(l) => l,
        Err(e) => {
            let _ = tx
                .send(LogEvent::Problem(cluster::classify(
                    &e,
                    &kube.at,
                    namespace,
                    READ_RIGHTS,
                )))
                .await;
            return;
        }
    };
    let mut lines: Vec<LogLine> = Vec::new();
    for pod in list.items {
        let name = pod.name_any();
        let Some(container) = container_of(service, &pod, req.container.as_deref()) else {
            continue;
        };
        let lp = LogParams {
            container: Some(container),
            tail_lines: req.tail,
            since_seconds: req.since.map(|d| d.as_secs() as i64),
            timestamps: true,
            ..LogParams::default()
        };
        match pods.logs(&name, &lp).await {
            Ok(text) => {
                for raw in text.lines() {
                    let (time, rest) = split_time(raw);
                    let text = sanitize(rest);
                    if req.grep.as_ref().is_none_or(|re| re.is_match(&text)) {
                        lines.push(LogLine {
                            pod: name.clone(),
                            time,
                            text,
                        });
                    }
                }
            }
            Err(e) => {
                let p = cluster::classify(&e, &kube.at, namespace, "get on pods/log");
                let _ = tx
                    .send(LogEvent::Problem(Problem {
                        message: format!("{name}: {}", p.message),
                        ..p
                    }))
                    .await;
            }
        }
    }
    lines.sort_by(|a, b| a.time.cmp(&b.time));
    for l in lines {
        if tx.send(LogEvent::Line(l)).await.is_err() {
            return;
        }
    }
}

/// Follow one pod's log until it is deleted (the task is aborted) or the
/// receiver is gone; a dropped stream resumes after the last timestamp seen.
async fn follow_pod(
    pods: Api<Pod>,
    name: String,
    container: String,
    req: LogRequest,
    announce: bool,
    tx: mpsc::Sender<LogEvent>,
) {
    if announce && tx.send(LogEvent::Joined(name.clone())).await.is_err() {
        return;
    }
    let mut last: Option<String> = None;
    let mut waited = Duration::from_millis(250);
    loop {
        let mut lp = LogParams {
            follow: true,
            container: Some(container.clone()),
            timestamps: true,
            ..LogParams::default()
        };
        match &last {
            // The API server takes whole seconds; the lines of that second
            // come again and are skipped below.
            Some(t) => lp.since_time = t.parse::<k8s_openapi::jiff::Timestamp>().ok(),
            None => {
                lp.tail_lines = Some(req.tail.unwrap_or(10));
                lp.since_seconds = req.since.map(|d| d.as_secs() as i64);
            }
        }
        match pods.log_stream(&name, &lp).await {
            Ok(stream) => {
                waited = Duration::from_millis(250);
                let mut lines = stream.lines();
                while let Ok(Some(raw)) = lines.try_next().await {
                    let (time, rest) = split_time(&raw);
                    // Resuming from a timestamp repeats the lines of that
                    // instant: skip what was already sent.
                    if let (Some(t), Some(l)) = (&time, &last) {
                        if t <= l {
                            continue;
                        }
                    }
                    if time.is_some() {
                        last = time.clone();
                    }
                    let text = sanitize(rest);
                    if req.grep.as_ref().is_some_and(|re| !re.is_match(&text)) {
                        continue;
                    }
                    let line = LogLine {
                        pod: name.clone(),
                        time,
                        text,
                    };
                    if tx.send(LogEvent::Line(line)).await.is_err() {
                        return;
                    }
                }
            }
            // Not started yet (PodInitializing, a crash-looping migration):
            // wait and ask again.
            Err(kube::Error::Api(s)) if s.code == 400 || s.code == 404 => {}
            Err(e) => {
                let p = Problem::new(ProblemKind::Unreachable, format!("{name}: {e}"), "");
                if tx.send(LogEvent::Problem(p)).await.is_err() {
                    return;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(waited).await;
        waited = (waited * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_escapes_and_shows_controls() {
        assert_eq!(sanitize("\u{1b}[31mred\u{1b}[0m plain"), "red plain");
        assert_eq!(sanitize("title\u{1b}]0;pwned\u{7}after"), "titleafter");
        assert_eq!(sanitize("bell\u{7} tab\tend\r"), "bell^G tab      end");
        assert_eq!(sanitize("clear\u{1b}c!"), "clear!");
        assert_eq!(sanitize("c1 \u{9b}2J"), "c1 ");
        assert_eq!(sanitize("ünïcödé ✓"), "ünïcödé ✓");
    }

    #[test]
    fn timestamps_split_from_the_text() {
        let (t, rest) = split_time("2026-12-01T10:00:00.123456789Z GET /api/ready 200");
        assert_eq!(t.as_deref(), Some("2026-12-01T10:00:00.123456789Z"));
        assert_eq!(rest, "GET /api/ready 200");
        assert_eq!(split_time("no time here"), (None, "no time here"));
    }
}
