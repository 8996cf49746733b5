//! `hearth logs SERVICE [--env E] [-f] [--tail N] [--since D] [-c C] [--grep RE]`:
//! every pod of the service's Deployment, each line prefixed by its pod (in
//! its own colour on a terminal), pods joining and leaving during a rollout
//! with `-f`. Lines are sanitized before they are printed.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc;

use super::exit;
use crate::cli::{GlobalOpts, LogsArgs};
use crate::cluster::logs::{self, LogEvent, LogRequest};
use crate::cluster::KubeClient;

/// `30s`, `5m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("--since {s:?}: expected a duration like 30s, 5m, 2h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => {
            return Err(format!(
                "--since {s:?}: unknown unit {other:?} (use s, m, h or d)"
            ))
        }
    };
    Ok(Duration::from_secs(secs))
}

/// Run `hearth logs`.
pub fn run(global: &GlobalOpts, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let registry = super::load_registry(global)?;
    let config = super::live_config(global, &registry);
    let Some(service) = registry.service(&args.service).cloned() else {
        return Err(super::fail(
            exit::INVALID,
            format!(
                "no service {:?} in {}",
                args.service,
                registry.path.display()
            ),
        ));
    };
    let Some(env) = service.environment(&args.env).cloned() else {
        let names: Vec<&str> = service
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        return Err(super::fail(
            exit::INVALID,
            format!(
                "{} has no environment {:?} (its environments: {})",
                service.name,
                args.env,
                names.join(", ")
            ),
        ));
    };
    let since = args
        .since
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| super::fail(exit::INVALID, e))?;
    let grep = args
        .grep
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| super::fail(exit::INVALID, format!("--grep: {e}")))?;
    if let Some(p) = crate::cluster::logs::on_host(&env) {
        return Err(super::fail(exit::INVALID, p.to_string()));
    }
    let req = LogRequest {
        follow: args.follow,
        tail: args.tail,
        since,
        container: args.container.clone(),
        grep,
    };
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = runtime.block_on(async move {
        let context = env.context.clone().or(config.kube.context.clone());
        let kube = KubeClient::new(context.as_deref(), config.kube.kubeconfig.as_deref())
            .await
            .map_err(|p| super::fail(exit::UNREADABLE, p.to_string()))?;
        let (tx, mut rx) = mpsc::channel(1024);
        let task = tokio::spawn(logs::tail(kube, service, env.namespace.clone(), req, tx));
        let mut palette: Vec<String> = Vec::new();
        let mut out = std::io::stdout();
        let mut code = exit::OK;
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = tokio::signal::ctrl_c() => break,
            };
            let Some(ev) = ev else { break };
            match ev {
                LogEvent::Line(l) => {
                    let pod = if color {
                        let i = palette.iter().position(|p| *p == l.pod).unwrap_or_else(|| {
                            palette.push(l.pod.clone());
                            palette.len() - 1
                        });
                        const COLORS: [u8; 6] = [36, 33, 35, 32, 34, 31];
                        format!("\u{1b}[{}m{}\u{1b}[0m", COLORS[i % COLORS.len()], l.pod)
                    } else {
                        l.pod.clone()
                    };
                    if writeln!(out, "{pod} │ {}", l.text).is_err() {
                        break;
                    }
                }
                LogEvent::Joined(p) if args.follow => eprintln!("+ {p}"),
                LogEvent::Left(p) => eprintln!("- {p}"),
                LogEvent::Joined(_) => {}
                LogEvent::Problem(p) => {
                    eprintln!("hearth: {p}");
                    code = exit::UNREADABLE;
                }
            }
        }
        task.abort();
        Ok::<u8, anyhow::Error>(code)
    })?;
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(ExitCode::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }
}
