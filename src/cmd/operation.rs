//! What the operation subcommands (`ship`, `promote`, `rollback`) share:
//! building the operations context from the live settings, the dry run's
//! plan, the confirmation before a change to prod (asked on a terminal,
//! `--yes` to skip it, refused without either), progress printed as lines
//! (`✓ api v0.0.28 deployed`), Ctrl-C, and the exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::access::WriteAccess;
use super::exit;
use crate::cli::{GlobalOpts, OpOpts};
use crate::config::Config;
use crate::ops::runner::{self, Plan};
use crate::ops::{Context, Event, Outcome, Progress, Request, StepState, System};
use crate::registry::Registry;

/// The journal of this user: `$XDG_STATE_HOME/hearth/audit.jsonl`.
pub fn journal_path() -> anyhow::Result<std::path::PathBuf> {
    Ok(super::logging::log_dir()?.join("audit.jsonl"))
}

/// An operations context (its GitHub client is made on first use).
pub fn context(registry: Arc<Registry>, config: Config, journal: std::path::PathBuf) -> Context {
    Context::new(registry, config, WriteAccess::grant(), journal)
}

/// How a progress event prints, as one line (or none).
pub fn line(p: &Progress, prefix: &str) -> Option<String> {
    let text = match &p.event {
        Event::Step {
            name,
            state,
            detail,
            ..
        } => match (state, detail) {
            (StepState::Running, _) => format!("● {name}…"),
            (StepState::Done, Some(d)) if d.contains(' ') => format!("✓ {d}"),
            (StepState::Done, Some(d)) => format!("✓ {name} ({d})"),
            (StepState::Done, None) => format!("✓ {name}"),
            (StepState::Failed, Some(d)) => format!("✗ {name}: {d}"),
            (StepState::Failed, None) => format!("✗ {name}"),
            (StepState::Skipped, Some(d)) => format!("- {name} skipped ({d})"),
            (StepState::Skipped, None) => format!("- {name} skipped"),
        },
        Event::Mutation(m) => format!(
            "  $ {}{}",
            m.request,
            m.result
                .as_deref()
                .map(|r| format!("  → {r}"))
                .unwrap_or_default()
        ),
        Event::Line(l) => l.clone(),
        Event::Finished(o) => finished_text(o),
    };
    Some(
        text.lines()
            .map(|l| format!("{prefix}{l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

fn finished_text(o: &Outcome) -> String {
    if o.ok {
        return format!("✓ {}", o.summary);
    }
    let mut s = format!("✗ {}", o.summary);
    if let Some(l) = &o.left {
        s.push_str(&format!("\n  left: {l}"));
    }
    if let Some(r) = &o.recovery {
        s.push_str(&format!("\n  to recover: {r}"));
    }
    s
}

/// The plan as the dry run prints it.
pub fn plan_text(plan: &Plan) -> String {
    let mut s = format!("{} would:\n", plan.title());
    for (i, (system, step)) in plan.steps().iter().enumerate() {
        let who = match system {
            System::Git => "git",
            System::GitHub => "github",
            System::Kubernetes => "k8s",
            System::Local => "local",
        };
        s.push_str(&format!("  {:>2}. [{who}] {step}\n", i + 1));
    }
    for note in plan.notes() {
        s.push_str(&format!("      {note}\n"));
    }
    s.push_str(&format!("  mechanism: {}\n", plan.mechanism()));
    s
}

/// Ask before changing prod. `Ok(false)`: the user said no.
pub fn confirm(plans: &[&Plan], yes: bool) -> anyhow::Result<bool> {
    if yes || !plans.iter().any(|p| p.asks_first()) {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        let why = plans
            .iter()
            .find_map(|p| p.asks_because())
            .unwrap_or("changes prod");
        return Err(super::fail(
            exit::REFUSED,
            format!(
                "this {why} and stdin is not a terminal to confirm it; nothing changed. \
                 Pass --yes to go ahead without asking (or --dry-run to see the plan)"
            ),
        ));
    }
    let mut err = std::io::stderr();
    for p in plans {
        let _ = write!(err, "{}", plan_text(p));
    }
    let _ = write!(err, "Proceed? [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Plan every request; the failures are printed and give the exit code.
pub async fn plan_all(
    ctx: &Context,
    reqs: &[Request],
) -> Vec<Result<Plan, (String, crate::ops::Failure)>> {
    let mut out = Vec::new();
    for r in reqs {
        out.push(
            runner::plan(ctx, r)
                .await
                .map_err(|f| (r.service().to_string(), f)),
        );
    }
    out
}

/// Run planned operations at once, printing their progress (prefixed by the
/// service when there are several); each one's outcome, or `None` when
/// interrupted.
pub async fn run_all(ctx: Arc<Context>, plans: Vec<Plan>) -> Option<Vec<(String, Outcome)>> {
    let several = plans.len() > 1;
    let (tx, mut rx) = mpsc::channel::<Progress>(1024);
    let (cancel_tx, cancel) = watch::channel(false);
    let mut tasks = Vec::new();
    for plan in plans {
        let ctx = ctx.clone();
        let tx = tx.clone();
        let cancel = cancel.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = runner::execute(&ctx, &plan, tx, cancel, None).await;
            (plan.service().to_string(), outcome)
        }));
    }
    drop(tx);
    let printer = tokio::spawn(async move {
        let mut out = std::io::stdout();
        while let Some(p) = rx.recv().await {
            let prefix = if several {
                format!("[{}] ", p.service)
            } else {
                String::new()
            };
            if let Some(l) = line(&p, &prefix) {
                let _ = writeln!(out, "{l}");
                let _ = out.flush();
            }
        }
    });
    let mut outcomes = Vec::new();
    let mut interrupted = false;
    let mut all = futures::future::join_all(tasks);
    tokio::select! {
        results = &mut all => {
            outcomes = results.into_iter().flatten().collect();
        }
        _ = tokio::signal::ctrl_c() => {
            interrupted = true;
            let _ = cancel_tx.send(true);
        }
    }
    if interrupted {
        // Give a pre-ship command a moment to be stopped, then leave: what
        // was started goes on in CI; the journal marks the operation as
        // interrupted, and the next session shows it.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), all).await;
        eprintln!("hearth: interrupted; what was already sent goes on (hearth history shows it)");
        return None;
    }
    let _ = printer.await;
    Some(outcomes)
}

/// The summary table after several operations.
fn summary_table(rows: &[(String, String, String)]) -> String {
    let w0 = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let w1 = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(3)
        .max(3);
    let mut s = format!("\n{:<w0$}  {:<w1$}  RESULT\n", "SERVICE", "TAG");
    for (a, b, c) in rows {
        s.push_str(&format!("{a:<w0$}  {b:<w1$}  {c}\n"));
    }
    s
}

/// The common body of `ship`, `promote` and `rollback`: plan, dry run or
/// confirm, run, exit code.
pub fn run_requests(
    global: &GlobalOpts,
    op: &OpOpts,
    reqs: Vec<Request>,
) -> anyhow::Result<ExitCode> {
    run_requests_with(global, op, reqs, Vec::new())
}

/// [`run_requests`], with services that were skipped before planning
/// (service, why) for the summary table.
pub fn run_requests_with(
    global: &GlobalOpts,
    op: &OpOpts,
    reqs: Vec<Request>,
    skipped: Vec<(String, String)>,
) -> anyhow::Result<ExitCode> {
    let registry = super::load_registry(global)?;
    let config = super::live_config(global, &registry);
    let _log = super::logging::init(&global.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ctx = Arc::new(context(Arc::new(registry), config, journal_path()?));
    let code = runtime.block_on(async {
        let planned = plan_all(&ctx, &reqs).await;
        let mut worst = exit::OK;
        let mut plans = Vec::new();
        let mut rows: Vec<(String, String, String)> = skipped
            .iter()
            .map(|(s, why)| (s.clone(), "-".into(), format!("skipped: {why}")))
            .collect();
        for (s, why) in &skipped {
            println!("- {s} skipped: {why}");
        }
        let several = reqs.len() + skipped.len() > 1;
        for p in planned {
            match p {
                Ok(plan) => plans.push(plan),
                Err((service, f)) => {
                    let prefix = if reqs.len() > 1 {
                        format!("[{service}] ")
                    } else {
                        String::new()
                    };
                    let mut text = format!("{prefix}✗ {}", f.problem);
                    if f.code == 0 {
                        text = format!("{prefix}- {}", f.problem);
                    }
                    if let Some(l) = &f.left {
                        text.push_str(&format!("\n{prefix}  left: {l}"));
                    }
                    // Everything printed here passes the session's redaction.
                    println!("{}", ctx.redact(&text));
                    rows.push((
                        service,
                        "-".into(),
                        ctx.redact(&format!("not started: {}", f.problem.message)),
                    ));
                    worst = worst.max(f.code);
                }
            }
        }
        if op.dry_run {
            for p in &plans {
                print!("{}", plan_text(p));
            }
            return Ok(worst);
        }
        if plans.is_empty() {
            return Ok(worst);
        }
        let refs: Vec<&Plan> = plans.iter().collect();
        if !confirm(&refs, op.yes)? {
            eprintln!("hearth: not confirmed; nothing changed");
            return Ok(exit::REFUSED);
        }
        let Some(outcomes) = run_all(ctx.clone(), plans).await else {
            return Ok(130);
        };
        for (service, o) in &outcomes {
            worst = worst.max(o.code);
            let result = if o.ok {
                o.summary.clone()
            } else {
                format!("FAILED: {}", o.summary)
            };
            rows.push((
                service.clone(),
                o.tag.clone().unwrap_or_else(|| "-".into()),
                ctx.redact(&result),
            ));
        }
        if several {
            print!("{}", summary_table(&rows));
        }
        Ok::<u8, anyhow::Error>(worst)
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(ExitCode::from(code))
}
