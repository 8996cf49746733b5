//! Screens recorded from real code paths: the sandbox, the real sources and
//! a real operation (which needs a [`WriteAccess`], so the test lives where
//! one can be granted). The hand-built snapshots in `tests/screens.rs` show
//! these states at fixed times; this proves the sources and the operation
//! really produce them, cell by cell.

use std::sync::Arc;
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch};

use super::access::WriteAccess;
use crate::app::{update, Mode, Msg, State};
use crate::model::EnvObservation;
use crate::ops::{runner, Bump, Context, Request, ShipRequest, Target};
use crate::ui::{draw, Theme, ViewState};

fn render(state: &State, w: u16, h: u16) -> String {
    let theme = Theme::load(None, true).unwrap();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, state, &mut ViewState::default(), &theme))
        .unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The text of `service`'s overview cell under `column`: from where the
/// header names the column to where the next column starts.
fn cell(screen: &str, service: &str, column: &str) -> String {
    let header = screen
        .lines()
        .find(|l| l.contains("SERVICE") && l.contains("PROD"))
        .unwrap_or_default();
    let cols: Vec<char> = header.chars().collect();
    let start = header
        .find(column)
        .map(|b| header[..b].chars().count())
        .unwrap_or(0);
    let end = (start + column.len()..cols.len())
        .find(|&i| cols[i] != ' ' && cols[i - 1] == ' ')
        .unwrap_or(cols.len());
    let row = screen
        .lines()
        .find(|l| {
            l.trim_start_matches(['│', ' '])
                .strip_prefix(service)
                .is_some_and(|r| r.starts_with(' '))
        })
        .unwrap_or_default();
    row.chars()
        .skip(start)
        .take(end - start)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A ship whose migration fails, run for real against the sandbox while the
/// real sources watch: the overview and the progress panel agree (qa still
/// serves the old rc and is stuck moving to the new one; CI shows the failed
/// run; the panel names the failed step, what was left and the recovery).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_ship_recorded_from_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = hearth_sandbox::SandboxOptions::new(dir.path().join("sb"));
    opts.speed = 20.0;
    let sb = hearth_sandbox::start(opts).await.expect("sandbox starts");
    let registry = Arc::new(crate::registry::load(&sb.services_path()).unwrap());
    let config = super::demo::sandbox_config(&sb);
    let ctx = Context::new(
        registry.clone(),
        config.clone(),
        WriteAccess::grant(),
        dir.path().join("audit.jsonl"),
    );
    let (tx, mut rx) = mpsc::channel::<Msg>(16_384);
    let sources = crate::app::sources::spawn(&registry, &config, tx.clone(), true);
    let mut all: Vec<Msg> = Vec::new();
    // Until web's qa Deployment and its releases are known.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (mut live, mut releases) = (false, false);
    while !(live && releases) {
        let m = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the sources answer")
            .unwrap();
        match &m {
            Msg::Workload {
                service,
                env,
                observation: EnvObservation::Live(_),
            } if service == "web" && env == "qa" => live = true,
            Msg::Releases { service, .. } if service == "web" => releases = true,
            _ => {}
        }
        all.push(m);
    }
    sb.faults.apply(hearth_sandbox::Fault::MigrationFail {
        service: "web".into(),
    });
    let req = Request::Ship(ShipRequest {
        service: "web".into(),
        target: Target::Qa,
        bump: Bump::Patch,
        skip_tests: true,
        no_version: false,
        watch: true,
    });
    let plan = runner::plan(&ctx, &req).await.expect("the ship plans");
    let (ptx, mut prx) = mpsc::channel(4096);
    let (_stop, cancel) = watch::channel(false);
    let forward = {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(p) = prx.recv().await {
                let _ = tx.send(Msg::Op(p)).await;
            }
        })
    };
    // As the control room does: web is selected and the operation's service
    // is read as often as the scheduler reads anything.
    sources.steering.attend(crate::github::Attention {
        shown: registry.services.iter().map(|s| s.name.clone()).collect(),
        selected: Some("web".into()),
        attended: true,
    });
    sources.steering.busy("web", true);
    let outcome = runner::execute(&ctx, &plan, ptx, cancel, None).await;
    assert!(!outcome.ok, "the ship succeeded under a failing migration");
    let _ = forward.await;
    // A little more of the sources' view, then stop them.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(m)) = tokio::time::timeout_at(until, rx.recv()).await {
        all.push(m);
    }
    drop(sources);
    while let Ok(m) = rx.try_recv() {
        all.push(m);
    }
    let web = registry
        .services
        .iter()
        .position(|s| s.name == "web")
        .unwrap();
    let mut state = State::new(registry, Mode::INTERACTIVE);
    for m in all {
        update(&mut state, m);
    }
    // Select web, whose detail pane holds the operation's panel.
    state.selected = web;
    let frame = render(&state, 160, 48);
    let rc = outcome.tag.clone().expect("the ship names its tag");
    let qa = cell(&frame, "web", "QA");
    assert!(
        qa.starts_with(&format!("v1.5.0-rc.1 → {rc} 0/2 ✗")),
        "qa must show the old rc serving and the stuck move: {qa:?}\n{frame}"
    );
    let ci = cell(&frame, "web", "CI");
    assert!(
        ci.starts_with("✗ #") && ci.contains("failure"),
        "CI must show the failed run: {ci:?}\n{frame}"
    );
    // (The panel wraps its lines: fragments that fit on one.)
    for line in [
        "✗ Deploy to k3s  failure after".to_string(),
        format!("left: the new ReplicaSet of {rc} is stuck in qa;"),
        "v1.5.0-rc.1 still serves".to_string(),
        "to recover: hearth rollback web --env qa".to_string(),
        format!("✓ publish release  web {rc} → release published as prerelease"),
    ] {
        assert!(frame.contains(&line), "the panel lacks {line:?}:\n{frame}");
    }
    sb.shutdown().await;
}
