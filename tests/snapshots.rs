//! Snapshot tests of every view and overlay of the control room, rendered
//! into ratatui's `TestBackend` at fixed sizes. States are built by replaying
//! recorded source messages through `update` with an injected clock, so the
//! frames are deterministic. Where a theme is under test, the cells' styles
//! (runs of fg/bg/modifiers) are part of the snapshot. Also drives the real
//! event loop with scripted keys and source messages.

use std::fmt::Write as _;
use std::sync::Arc;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use hearth::app::run::event_loop;
use hearth::app::run::Executor;
use hearth::app::{update, Mode, Msg, SourceId, State, WatchSettings};
use hearth::model::{
    CiJob, CiRun, CiStep, EnvObservation, PodSummary, Problem, ProblemKind, RateLimit, Release,
    Rollout, SourceStatus, Workload,
};
use hearth::registry::{Registry, Service, Settings};
use hearth::ui::{draw, Theme, ViewState};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};
use ratatui::Terminal;

/// 2026-03-01 10:02:30 UTC: the injected clock.
const NOW: i64 = 1_772_359_350;

fn service(name: &str, shippable: bool, reason: Option<&str>) -> Service {
    Service {
        directory: format!("/work/src/{name}").into(),
        image: Some(format!("ghcr.io/katforge/{name}")),
        dockerfile: Some("Dockerfile".into()),
        shippable,
        shippable_reason: reason.map(Into::into),
        repo: Some(format!("katforge/{name}")),
        ..Service::example(name)
    }
}

fn registry() -> Arc<Registry> {
    Arc::new(Registry {
        path: "/work/hearth/services.yaml".into(),
        settings: Settings::default(),
        services: vec![
            service("api", true, None),
            service("katforge", true, None),
            service("stumper", true, None),
            service(
                "geargoblins",
                false,
                Some("No Dockerfile in geargoblins.com/ui yet."),
            ),
        ],
    })
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn pod(name: &str, status: &str, ready: bool, restarts: i32, tag: &str) -> PodSummary {
    PodSummary {
        name: name.into(),
        status: status.into(),
        ready,
        restarts,
        image_tag: Some(tag.into()),
        template_hash: None,
        digest: None,
    }
}

fn live(tag: &str, ready: i32, desired: i32, rollout: Rollout) -> Workload {
    Workload {
        image_tag: Some(tag.into()),
        init_image_tag: Some(tag.into()),
        desired,
        updated: desired,
        ready,
        available: ready,
        revision: Some(4),
        rollout,
        stuck_reason: None,
        new_ready: None,
        helm_release: None,
        pods: Vec::new(),
    }
}

fn workload(service: &str, env: &str, w: Workload) -> Msg {
    Msg::Workload {
        service: service.into(),
        env: env.into(),
        observation: EnvObservation::Live(w),
    }
}

fn release(id: u64, tag: &str, prerelease: bool, latest: bool) -> Release {
    Release {
        id,
        tag: tag.into(),
        name: Some(tag.into()),
        draft: false,
        prerelease,
        latest,
        created_at: Some("2026-03-01T09:00:00Z".into()),
        published_at: Some(format!("2026-03-01T09:{:02}:00Z", id % 60)),
        html_url: None,
    }
}

fn run(id: u64, number: u64, status: &str, conclusion: Option<&str>, title: &str) -> CiRun {
    CiRun {
        id,
        run_number: number,
        name: Some("release".into()),
        display_title: Some(title.into()),
        event: "release".into(),
        head_branch: Some(title.into()),
        head_sha: "0123abcd".into(),
        status: status.into(),
        conclusion: conclusion.map(Into::into),
        created_at: Some("2026-03-01T10:00:00Z".into()),
        updated_at: None,
        html_url: None,
        path: Some(".github/workflows/release.yml".into()),
    }
}

/// The recorded messages of a quiet, healthy control room.
fn healthy() -> Vec<Msg> {
    let mut msgs = vec![
        Msg::Tick(NOW),
        Msg::Source(
            SourceId::Kube {
                context: None,
                namespace: "default".into(),
            },
            SourceStatus::Live,
        ),
        Msg::Source(
            SourceId::Kube {
                context: None,
                namespace: "qa".into(),
            },
            SourceStatus::Live,
        ),
        Msg::Source(SourceId::GitHub, SourceStatus::Live),
        Msg::RateLimit(RateLimit {
            limit: 5000,
            remaining: 4987,
            used: 13,
            reset: NOW + 1800,
        }),
    ];
    for (svc, tag, qa) in [
        ("api", "v0.0.28", "v0.0.29-rc.1"),
        ("katforge", "v1.4.2", "v1.4.2"),
        ("stumper", "v0.3.0", "v0.3.1-rc.2"),
    ] {
        let mut prod = live(tag, 2, 2, Rollout::Complete);
        prod.pods = vec![
            pod(&format!("{svc}-7c9f8-2xkq4"), "Running", true, 0, tag),
            pod(&format!("{svc}-7c9f8-9dpl1"), "Running", true, 0, tag),
        ];
        msgs.push(workload(svc, "prod", prod));
        msgs.push(workload(svc, "qa", live(qa, 1, 1, Rollout::Complete)));
        msgs.push(Msg::Releases {
            service: svc.into(),
            releases: vec![
                release(3, qa, qa != tag, false),
                release(2, tag, false, true),
                release(1, "v0.0.1", false, false),
            ],
        });
        msgs.push(Msg::Runs {
            service: svc.into(),
            runs: vec![run(100, 41, "completed", Some("success"), qa)],
        });
    }
    msgs.push(Msg::Workload {
        service: "geargoblins".into(),
        env: "prod".into(),
        observation: EnvObservation::Missing {
            hint: "no Deployment geargoblins in namespace default".into(),
        },
    });
    msgs
}

fn step(n: u64, name: &str, status: &str, conclusion: Option<&str>, start: u32) -> CiStep {
    CiStep {
        number: n,
        name: name.into(),
        status: status.into(),
        conclusion: conclusion.map(Into::into),
        started_at: (status != "queued").then(|| format!("2026-03-01T10:01:{start:02}Z")),
        completed_at: (status == "completed")
            .then(|| format!("2026-03-01T10:01:{:02}Z", start + 7)),
    }
}

fn jobs(status: &str, steps: Vec<CiStep>) -> Msg {
    Msg::Jobs {
        service: "api".into(),
        run_id: 101,
        jobs: vec![CiJob {
            id: 7,
            run_id: 101,
            name: "ship".into(),
            status: status.into(),
            conclusion: (status == "completed").then(|| "success".into()),
            started_at: Some("2026-03-01T10:01:00Z".into()),
            completed_at: None,
            steps,
        }],
    }
}

/// A ship of api v0.0.29 in progress: three job snapshots as the GitHub
/// poller would send them.
fn shipping() -> Vec<Msg> {
    vec![
        Msg::Runs {
            service: "api".into(),
            runs: vec![
                run(101, 42, "in_progress", None, "v0.0.29"),
                run(100, 41, "completed", Some("success"), "v0.0.29-rc.1"),
            ],
        },
        jobs(
            "in_progress",
            vec![
                step(1, "Set up job", "in_progress", None, 0),
                step(2, "Checkout", "queued", None, 0),
                step(3, "Build and push image", "queued", None, 0),
                step(4, "Deploy to k3s", "queued", None, 0),
            ],
        ),
        jobs(
            "in_progress",
            vec![
                step(1, "Set up job", "completed", Some("success"), 0),
                step(2, "Checkout", "in_progress", None, 7),
                step(3, "Build and push image", "queued", None, 0),
                step(4, "Deploy to k3s", "queued", None, 0),
            ],
        ),
        jobs(
            "in_progress",
            vec![
                step(1, "Set up job", "completed", Some("success"), 0),
                step(2, "Checkout", "completed", Some("success"), 7),
                step(3, "Build and push image", "in_progress", None, 14),
                step(4, "Deploy to k3s", "queued", None, 0),
            ],
        ),
    ]
}

fn state_from(mode: Mode, msgs: impl IntoIterator<Item = Msg>) -> State {
    let mut state = State::new(registry(), mode);
    state.kube_context = Some("k3s-katforge".into());
    for msg in msgs {
        update(&mut state, msg);
    }
    state
}

fn render(state: &State, theme: &Theme, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut view = ViewState::default();
    terminal
        .draw(|frame| draw(frame, state, &mut view, theme))
        .unwrap();
    terminal
}

fn text(state: &State, theme: &Theme, width: u16, height: u16) -> String {
    render(state, theme, width, height).backend().to_string()
}

/// The frame's text followed by its style runs: for each row, each run of
/// cells sharing fg/bg/modifiers that is not the terminal default.
fn styled(state: &State, theme: &Theme, width: u16, height: u16) -> String {
    let terminal = render(state, theme, width, height);
    let buffer = terminal.backend().buffer();
    let mut out = terminal.backend().to_string();
    out.push_str("--- styles (row: columns fg bg modifiers) ---\n");
    out.push_str(&style_runs(buffer));
    out
}

fn color(c: Option<Color>) -> String {
    match c {
        None | Some(Color::Reset) => "-".into(),
        Some(Color::Rgb(r, g, b)) => format!("#{r:02x}{g:02x}{b:02x}"),
        Some(other) => format!("{other:?}"),
    }
}

fn style_runs(buffer: &Buffer) -> String {
    let mut out = String::new();
    let area = buffer.area;
    for y in 0..area.height {
        let mut runs = Vec::new();
        let mut start = 0;
        let mut current: Option<Style> = None;
        for x in 0..=area.width {
            let style = (x < area.width).then(|| {
                let cell = &buffer[(x, y)];
                Style::default()
                    .fg(cell.fg)
                    .bg(cell.bg)
                    .add_modifier(cell.modifier)
            });
            if style != current {
                if let Some(s) = current {
                    let plain = color(s.fg) == "-"
                        && color(s.bg) == "-"
                        && s.add_modifier == Modifier::empty();
                    if !plain {
                        let mods = if s.add_modifier.is_empty() {
                            String::new()
                        } else {
                            format!(" {:?}", s.add_modifier)
                        };
                        runs.push(format!(
                            "{start}-{} {} {}{mods}",
                            x - 1,
                            color(s.fg),
                            color(s.bg)
                        ));
                    }
                }
                start = x;
                current = style;
            }
        }
        if !runs.is_empty() {
            let _ = writeln!(out, "{y:>2}: {}", runs.join(" | "));
        }
    }
    out
}

/// Assert that the overview cell under `column` of `service` starts with
/// `want` (the key cell beside a snapshot: it fails on its own).
#[track_caller]
fn assert_cell(frame: &str, service: &str, column: &str, want: &str) {
    let cell = column_cell(frame, service, column).unwrap_or_default();
    assert!(
        cell.starts_with(want),
        "{service} {column}: {cell:?}, expected {want:?}\n{frame}"
    );
}

fn theme(name: &str) -> Theme {
    Theme::load(Some(name), false).unwrap()
}

#[test]
fn overview_empty_80x24_default() {
    let state = state_from(Mode::INTERACTIVE, [Msg::Tick(NOW)]);
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "PROD", "unknown");
    assert_cell(&frame, "api", "RELEASE", "unknown");
    insta::assert_snapshot!(styled(&state, &theme("default"), 80, 24));
}

#[test]
fn overview_empty_160x48_light() {
    let state = state_from(Mode::INTERACTIVE, [Msg::Tick(NOW)]);
    let frame = text(&state, &theme("light"), 160, 48);
    assert_cell(&frame, "katforge", "QA", "unknown");
    insta::assert_snapshot!(styled(&state, &theme("light"), 160, 48));
}

#[test]
fn overview_data_80x24() {
    let state = state_from(Mode::INTERACTIVE, healthy());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "PROD", "v0.0.28 2/2 ✓");
    assert_cell(&frame, "api", "QA", "v0.0.29-rc.1 1/1 ✓");
    assert_cell(&frame, "geargoblins", "PROD", "— not deployed");
    insta::assert_snapshot!(frame);
}

#[test]
fn overview_data_160x48_default_styles() {
    let state = state_from(Mode::INTERACTIVE, healthy());
    let frame = text(&state, &theme("default"), 160, 48);
    assert_cell(&frame, "stumper", "QA", "v0.3.1-rc.2 1/1 ✓");
    insta::assert_snapshot!(styled(&state, &theme("default"), 160, 48));
}

#[test]
fn overview_data_160x48_high_contrast_styles() {
    let state = state_from(Mode::INTERACTIVE, healthy());
    let frame = text(&state, &theme("high-contrast"), 160, 48);
    assert_cell(&frame, "katforge", "PROD", "v1.4.2 2/2 ✓");
    insta::assert_snapshot!(styled(&state, &theme("high-contrast"), 160, 48));
}

#[test]
fn overview_data_no_color_keeps_modifiers() {
    let state = state_from(Mode::INTERACTIVE, healthy());
    let theme = Theme::load(Some("default"), true).unwrap();
    let terminal = render(&state, &theme, 80, 24);
    let cells = terminal.backend().buffer().content();
    let coloured = cells
        .iter()
        .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
        .count();
    assert_eq!(coloured, 0, "NO_COLOR: not one cell has a colour");
    assert!(
        cells
            .iter()
            .any(|c| c.modifier.contains(Modifier::REVERSED)),
        "the selection still shows (reversed)"
    );
    insta::assert_snapshot!(styled(&state, &theme, 80, 24));
}

#[test]
fn overview_very_wide_side_by_side_200x50() {
    let state = state_from(Mode::INTERACTIVE, healthy().into_iter().chain(shipping()));
    let frame = text(&state, &theme("k9s"), 200, 50);
    assert_cell(&frame, "api", "PROD", "v0.0.28 2/2 ✓");
    insta::assert_snapshot!(frame);
}

#[test]
fn detail_focused_120x35() {
    let msgs = healthy().into_iter().chain([code(KeyCode::Enter)]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    let frame = text(&state, &theme("default"), 120, 35);
    assert!(
        frame.contains("PROD (default)  ✓ complete  v0.0.28 (matches release)  2/2 ready"),
        "{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn detail_non_shippable_selected_80x24() {
    let msgs = healthy().into_iter().chain([code(KeyCode::End)]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "geargoblins", "PROD", "— not deployed");
    insta::assert_snapshot!(frame);
}

#[test]
fn ci_stream_160x48() {
    let msgs = healthy().into_iter().chain(shipping());
    let state = state_from(Mode::INTERACTIVE, msgs);
    let frame = text(&state, &theme("default"), 160, 48);
    assert!(frame.contains("● run #42 in_progress  v0.0.29"), "{frame}");
    assert!(frame.contains("● Build and push image"), "{frame}");
    insta::assert_snapshot!(frame);
}

#[test]
fn ci_stream_80x24_scrolled_light_styles() {
    let msgs = healthy().into_iter().chain(shipping()).chain([
        code(KeyCode::Tab),
        key('j'),
        key('j'),
        key('j'),
        key('j'),
    ]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    let frame = text(&state, &theme("light"), 80, 24);
    // Scrolled: the environment's first lines gave way to the CI section.
    assert!(!frame.contains("PROD (default)"), "{frame}");
    assert!(frame.contains("● run #42 in_progress  v0.0.29"), "{frame}");
    insta::assert_snapshot!(styled(&state, &theme("light"), 80, 24));
}

#[test]
fn filter_active_80x24() {
    let msgs = healthy().into_iter().chain([key('/'), key('s'), key('t')]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "stumper", "PROD", "v0.3.0 2/2 ✓");
    assert!(
        column_cell(&frame, "api", "PROD").is_none(),
        "filtered out:\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn filter_no_match_160x48() {
    let msgs = healthy()
        .into_iter()
        .chain([key('/'), key('z'), key('z'), code(KeyCode::Enter)]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    let frame = text(&state, &theme("default"), 160, 48);
    assert!(frame.contains("no service matches 'zz'"), "{frame}");
    insta::assert_snapshot!(frame);
}

#[test]
fn help_overlay_80x24_default_styles() {
    let msgs = healthy().into_iter().chain([key('?')]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    // Every operation key, and the help's last line: nothing is cut at 80x24.
    let screen = text(&state, &theme("default"), 80, 24);
    for line in [
        "│ R          restart every pod of an environment",
        "│ a          approve the run that waits",
        "│ Esc or ? closes this help",
    ] {
        assert!(screen.contains(line), "{line:?} missing:\n{screen}");
    }
    insta::assert_snapshot!(styled(&state, &theme("default"), 80, 24));
}

#[test]
fn help_overlay_watch_mode_160x48_high_contrast() {
    let msgs = healthy().into_iter().chain([key('?')]);
    let state = state_from(Mode::WATCH, msgs);
    let frame = text(&state, &theme("high-contrast"), 160, 48);
    assert!(frame.contains("help: watch (read-only) mode"), "{frame}");
    insta::assert_snapshot!(styled(&state, &theme("high-contrast"), 160, 48));
}

// Sources down and errors: recorded from the real clients in
// tests/live.rs (`snapshot_recorded_sources_down_and_errors`), where a
// forbidden namespace and a missing repository produce what they really do.

#[test]
fn sources_connecting_80x24() {
    let msgs = [
        Msg::Tick(NOW),
        Msg::Source(
            SourceId::Kube {
                context: Some("k3s-katforge".into()),
                namespace: "default".into(),
            },
            SourceStatus::Connecting,
        ),
        Msg::Source(
            SourceId::GitHub,
            SourceStatus::Disabled(hearth::github::no_token()),
        ),
    ];
    let state = state_from(Mode::DEMO, msgs);
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "RELEASE", "no token");
    assert_cell(&frame, "api", "PROD", "unknown");
    insta::assert_snapshot!(frame);
}

/// A `TestBackend` that keeps the text of every frame the loop flushes, so a
/// test can wait for a frame instead of sleeping and hoping.
struct Recording {
    inner: TestBackend,
    frames: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ratatui::backend::Backend for Recording {
    type Error = <TestBackend as ratatui::backend::Backend>::Error;
    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>,
    {
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> Result<ratatui::layout::Position, Self::Error> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<ratatui::layout::Position>>(
        &mut self,
        position: P,
    ) -> Result<(), Self::Error> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> Result<(), Self::Error> {
        self.inner.clear()
    }
    fn clear_region(&mut self, t: ratatui::backend::ClearType) -> Result<(), Self::Error> {
        self.inner.clear_region(t)
    }
    fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
        self.inner.size()
    }
    fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        self.frames.lock().unwrap().push(self.inner.to_string());
        self.inner.flush()
    }
}

/// Drive the real loop: source messages arrive on the channel, keys on the
/// event stream; a frame shows the data, and `q` ends the loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_loop_draws_source_data_and_quits_on_q() {
    use std::time::Duration;
    let mut state = State::new(registry(), Mode::INTERACTIVE);
    let theme = Theme::default();
    let mut view = ViewState::default();
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let backend = Recording {
        inner: TestBackend::new(120, 35),
        frames: frames.clone(),
    };
    let mut terminal = Terminal::new(backend).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (keys_tx, keys_rx) = tokio::sync::mpsc::channel::<std::io::Result<Event>>(16);
    let keys = tokio_stream::wrappers::ReceiverStream::new(keys_rx);

    let seen = frames.clone();
    let driver = async move {
        tx.send(workload(
            "api",
            "prod",
            live("v9.9.9-loop", 2, 2, Rollout::Complete),
        ))
        .await
        .unwrap();
        // Wait for a frame that shows the message, then quit.
        for _ in 0..2000 {
            if seen
                .lock()
                .unwrap()
                .iter()
                .any(|f| f.contains("v9.9.9-loop"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        keys_tx.send(Ok(Event::Key(q))).await.unwrap();
        keys_tx
    };
    let mut executor = Executor::default();
    let looped = tokio::time::timeout(Duration::from_secs(20), async {
        let (result, _keys_tx) = tokio::join!(
            event_loop(
                &mut terminal,
                &mut state,
                &mut view,
                &theme,
                &mut rx,
                keys,
                std::future::pending::<()>(),
                &mut executor,
            ),
            driver
        );
        result
    })
    .await;
    looped
        .expect("q ends the loop")
        .expect("the loop runs cleanly");
    let frames = frames.lock().unwrap();
    let shown = frames
        .iter()
        .find(|f| f.contains("v9.9.9-loop"))
        .unwrap_or_else(|| {
            panic!(
                "no frame showed the source data; last:\n{:?}",
                frames.last()
            )
        });
    assert!(shown.contains("geargoblins"), "{shown}");
    assert_eq!(
        support_prod_tag(shown, "api").as_deref(),
        Some("v9.9.9-loop"),
        "{shown}"
    );
}

/// The first word of a service's PROD cell in a frame's text.
fn support_prod_tag(frame: &str, service: &str) -> Option<String> {
    let line = frame.lines().find(|l| {
        l.trim_start_matches(['"', '│', ' '])
            .strip_prefix(service)
            .is_some_and(|r| r.starts_with(' '))
    })?;
    line.trim_start_matches(['"', '│', ' '])
        .split_whitespace()
        .nth(1)
        .map(str::to_string)
}

/// The stop future (SIGTERM in production) ends the loop too.
#[tokio::test]
async fn event_loop_stops_on_signal_future() {
    let mut state = State::new(registry(), Mode::WATCH);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let (_tx, mut rx) = tokio::sync::mpsc::channel(1);
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        event_loop(
            &mut terminal,
            &mut state,
            &mut ViewState::default(),
            &Theme::default(),
            &mut rx,
            futures::stream::pending(),
            std::future::ready(()),
            &mut Executor::default(),
        ),
    )
    .await;
    assert!(matches!(result, Ok(Ok(()))));
}

/// Tiny and odd sizes (a split pane, a resize in progress) draw without panicking.
#[test]
fn any_size_draws_without_panic() {
    let msgs = healthy()
        .into_iter()
        .chain(shipping())
        .chain([key('?'), key('/'), key('a')]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (79, 23), (300, 100)] {
        let screen = text(&state, &theme("default"), w, h);
        assert_eq!(screen.lines().count(), h as usize);
    }
}

/// A build step fails: the run, the job and the step say so, in the stream too.
#[test]
fn ci_failed_build_120x35() {
    let failed = Msg::Jobs {
        service: "api".into(),
        run_id: 101,
        jobs: vec![CiJob {
            id: 7,
            run_id: 101,
            name: "ship".into(),
            status: "completed".into(),
            conclusion: Some("failure".into()),
            started_at: Some("2026-03-01T10:01:00Z".into()),
            completed_at: Some("2026-03-01T10:01:40Z".into()),
            steps: vec![
                step(1, "Set up job", "completed", Some("success"), 0),
                step(2, "Checkout", "completed", Some("success"), 7),
                step(3, "Build and push image", "completed", Some("failure"), 14),
                step(4, "Deploy to k3s", "completed", Some("skipped"), 21),
            ],
        }],
    };
    let done = Msg::Runs {
        service: "api".into(),
        runs: vec![run(101, 42, "completed", Some("failure"), "v0.0.29")],
    };
    let msgs = healthy()
        .into_iter()
        .chain(shipping())
        .chain([failed, done]);
    let state = state_from(Mode::INTERACTIVE, msgs);
    let frame = text(&state, &theme("default"), 120, 35);
    assert!(frame.contains("✗ run #42 failure  v0.0.29"), "{frame}");
    assert!(frame.contains("✗ Build and push image"), "{frame}");
    insta::assert_snapshot!(frame);
}

// ---------------------------------------------------------------------------
// Live scenarios: each is the sequence of messages the Kubernetes watch and
// the GitHub poller send (their wording copied from `sources::cluster` and
// `sources::github`), replayed after the healthy start. Each is snapshotted
// at 80x24 and 160x48.

fn kube(namespace: &str) -> SourceId {
    SourceId::Kube {
        context: None,
        namespace: namespace.into(),
    }
}

fn hashed(name: &str, status: &str, ready: bool, restarts: i32, tag: &str) -> PodSummary {
    let mut p = pod(name, status, ready, restarts, tag);
    p.template_hash = name.split('-').nth(1).map(Into::into);
    p
}

fn api_releases_with(tag: &str) -> Msg {
    Msg::Releases {
        service: "api".into(),
        releases: vec![
            release(4, tag, false, true),
            release(3, "v0.0.29-rc.1", true, false),
            release(2, "v0.0.28", false, false),
        ],
    }
}

/// `hearth ship api`: v0.0.29 is published, CI runs and its deploy step sets
/// the image; the watch then reports the rollout step by step, the new pods
/// passing through the migration init container.
fn rolling_out() -> Vec<Msg> {
    let mut msgs = vec![
        api_releases_with("v0.0.29"),
        Msg::Runs {
            service: "api".into(),
            runs: vec![
                run(101, 42, "in_progress", None, "v0.0.29"),
                run(100, 41, "completed", Some("success"), "v0.0.29-rc.1"),
            ],
        },
        jobs(
            "in_progress",
            vec![
                step(1, "Set up job", "completed", Some("success"), 0),
                step(2, "Checkout", "completed", Some("success"), 7),
                step(3, "Build and push image", "completed", Some("success"), 14),
                step(4, "Deploy to k3s", "in_progress", None, 21),
            ],
        ),
    ];
    let old = |n: &str| hashed(&format!("api-7c9f8-{n}"), "Running", true, 0, "v0.0.28");
    let mut w = live(
        "v0.0.29",
        2,
        2,
        Rollout::Progressing("Waiting for deployment spec update to be observed...".into()),
    );
    w.updated = 0;
    w.revision = Some(5);
    w.new_ready = Some(0);
    w.pods = vec![old("2xkq4"), old("9dpl1")];
    msgs.push(workload("api", "prod", w.clone()));
    w.rollout = Rollout::Progressing(
        "Waiting for deployment \"api\" rollout to finish: 1 out of 2 new replicas have been updated..."
            .into(),
    );
    w.updated = 1;
    w.pods = vec![
        hashed("api-5d4b7-8kq2n", "Init:0/1", false, 0, "v0.0.29"),
        old("2xkq4"),
        old("9dpl1"),
    ];
    msgs.push(workload("api", "prod", w.clone()));
    w.new_ready = Some(1);
    w.pods = vec![
        hashed("api-5d4b7-8kq2n", "Running", true, 0, "v0.0.29"),
        hashed("api-5d4b7-x7c4m", "Init:0/1", false, 0, "v0.0.29"),
        old("2xkq4"),
        hashed("api-7c9f8-9dpl1", "Terminating", false, 0, "v0.0.28"),
    ];
    msgs.push(workload("api", "prod", w));
    msgs
}

/// The migration init container of v0.0.29 fails: the new pod crash-loops
/// in init, the old pods keep serving, and the deployment passes its
/// progress deadline; the workflow's `kubectl rollout status` fails the run.
fn failed_migration() -> Vec<Msg> {
    let mut msgs = rolling_out();
    let mut w = live(
        "v0.0.29",
        2,
        2,
        Rollout::Failed("deployment \"api\" exceeded its progress deadline".into()),
    );
    w.updated = 1;
    w.revision = Some(5);
    w.new_ready = Some(0);
    w.stuck_reason = Some(
        "migration \"migrate\" failing: CrashLoopBackOff, 4 restarts, last exit code 1; old pods still serving"
            .into(),
    );
    w.pods = vec![
        hashed(
            "api-5d4b7-8kq2n",
            "Init:CrashLoopBackOff",
            false,
            4,
            "v0.0.29",
        ),
        hashed("api-7c9f8-2xkq4", "Running", true, 0, "v0.0.28"),
        hashed("api-7c9f8-9dpl1", "Running", true, 0, "v0.0.28"),
    ];
    msgs.push(workload("api", "prod", w));
    msgs.push(Msg::Jobs {
        service: "api".into(),
        run_id: 101,
        jobs: vec![CiJob {
            id: 7,
            run_id: 101,
            name: "ship".into(),
            status: "completed".into(),
            conclusion: Some("failure".into()),
            started_at: Some("2026-03-01T10:01:00Z".into()),
            completed_at: Some("2026-03-01T10:02:28Z".into()),
            steps: vec![
                step(1, "Set up job", "completed", Some("success"), 0),
                step(2, "Checkout", "completed", Some("success"), 7),
                step(3, "Build and push image", "completed", Some("success"), 14),
                CiStep {
                    number: 4,
                    name: "Deploy to k3s".into(),
                    status: "completed".into(),
                    conclusion: Some("failure".into()),
                    started_at: Some("2026-03-01T10:01:21Z".into()),
                    completed_at: Some("2026-03-01T10:02:27Z".into()),
                },
            ],
        }],
    });
    msgs.push(Msg::Runs {
        service: "api".into(),
        runs: vec![
            run(101, 42, "completed", Some("failure"), "v0.0.29"),
            run(100, 41, "completed", Some("success"), "v0.0.29-rc.1"),
        ],
    });
    msgs
}

/// stumper: prod still runs v0.3.0 though v0.3.1 is the latest release
/// (its deploy never happened), and qa is being deployed v0.3.2-rc.1 by an
/// active run. The user has selected stumper.
fn drift() -> Vec<Msg> {
    vec![
        Msg::Releases {
            service: "stumper".into(),
            releases: vec![
                release(13, "v0.3.2-rc.1", true, false),
                release(12, "v0.3.1", false, true),
                release(11, "v0.3.1-rc.2", true, false),
                release(10, "v0.3.0", false, false),
            ],
        },
        Msg::Runs {
            service: "stumper".into(),
            runs: vec![
                run(201, 57, "in_progress", None, "v0.3.2-rc.1"),
                run(200, 56, "completed", Some("cancelled"), "v0.3.1"),
            ],
        },
        key('j'),
        key('j'),
    ]
}

/// No GitHub token: the GitHub source reports itself off with the how-to
/// and sends nothing else; Kubernetes data still arrives.
fn no_token() -> Vec<Msg> {
    let mut msgs = vec![
        Msg::Tick(NOW),
        Msg::Source(kube("default"), SourceStatus::Connecting),
        Msg::Source(kube("qa"), SourceStatus::Connecting),
        Msg::Source(
            SourceId::GitHub,
            SourceStatus::Disabled(hearth::github::no_token()),
        ),
        Msg::Source(kube("default"), SourceStatus::Live),
        Msg::Source(kube("qa"), SourceStatus::Live),
    ];
    for (svc, tag, qa) in [
        ("api", "v0.0.28", "v0.0.29-rc.1"),
        ("katforge", "v1.4.2", "v1.4.2"),
        ("stumper", "v0.3.0", "v0.3.1-rc.2"),
    ] {
        msgs.push(workload(svc, "prod", live(tag, 2, 2, Rollout::Complete)));
        msgs.push(workload(svc, "qa", live(qa, 1, 1, Rollout::Complete)));
    }
    msgs
}

const UNREACHABLE: &str =
    "cannot reach the API server of the current context: Connection refused (os error 111)";
const UNREACHABLE_HINT: &str =
    "check KUBECONFIG / --context / VPN; kubectl cluster-info should answer";

/// The cluster goes away: both namespace watches go down, and every
/// environment is replaced by an error (not the stale data).
fn unreachable_cluster() -> Vec<Msg> {
    let mut msgs = Vec::new();
    for ns in ["default", "qa"] {
        msgs.push(Msg::Source(
            kube(ns),
            SourceStatus::Down(Problem::new(
                ProblemKind::Unreachable,
                UNREACHABLE,
                UNREACHABLE_HINT,
            )),
        ));
    }
    for svc in ["api", "katforge", "stumper", "geargoblins"] {
        for env in ["prod", "qa"] {
            msgs.push(Msg::Workload {
                service: svc.into(),
                env: env.into(),
                observation: EnvObservation::Error(Problem::new(
                    ProblemKind::Unreachable,
                    UNREACHABLE,
                    UNREACHABLE_HINT,
                )),
            });
        }
    }
    msgs
}

/// The GitHub budget runs out: the last response says 0 remaining, the gate
/// reports the source degraded, and each service's poller its error once.
fn rate_limited() -> Vec<Msg> {
    let message = Problem::new(
        ProblemKind::RateLimited,
        "GitHub rate limit exhausted; resets at 10:32:30 UTC",
        "",
    );
    let mut msgs = vec![
        Msg::RateLimit(RateLimit {
            limit: 5000,
            remaining: 0,
            used: 5000,
            reset: NOW + 1800,
        }),
        Msg::Source(SourceId::GitHub, SourceStatus::Degraded(message.clone())),
    ];
    for svc in ["api", "katforge", "stumper"] {
        msgs.push(Msg::GitHubError {
            service: svc.into(),
            problem: message.clone(),
        });
    }
    msgs
}

/// qa is forbidden to the user's credentials and stumper has no Deployment
/// in prod.
fn forbidden_and_missing() -> Vec<Msg> {
    let forbidden = "forbidden: deployments.apps is forbidden: User \"dev\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"qa\"";
    let hint = "ask for get/list/watch on deployments, replicasets and pods in namespace \"qa\" (the current context)";
    let mut msgs = vec![Msg::Source(
        kube("qa"),
        SourceStatus::Down(Problem::new(ProblemKind::Forbidden, forbidden, hint)),
    )];
    for svc in ["api", "katforge", "stumper", "geargoblins"] {
        msgs.push(Msg::Workload {
            service: svc.into(),
            env: "qa".into(),
            observation: EnvObservation::Error(Problem::new(
                ProblemKind::Forbidden,
                forbidden,
                hint,
            )),
        });
    }
    msgs.push(Msg::Workload {
        service: "stumper".into(),
        env: "prod".into(),
        observation: EnvObservation::Missing {
            hint: "no deployment \"stumper\" in namespace \"default\" (the current context); check k8s_name in services.yaml or kubectl get deploy -n default".into(),
        },
    });
    msgs.extend([key('j'), key('j')]);
    msgs
}

fn after_healthy(scenario: Vec<Msg>) -> State {
    state_from(Mode::INTERACTIVE, healthy().into_iter().chain(scenario))
}

#[test]
fn rolling_out_80x24() {
    let state = after_healthy(rolling_out());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "PROD", "….28 → v0.0.29 1/2 ⟳");
    assert_cell(&frame, "api", "CI", "● #42 running");
    insta::assert_snapshot!(frame);
}

#[test]
fn rolling_out_160x48() {
    let state = after_healthy(rolling_out());
    let frame = text(&state, &theme("default"), 160, 48);
    assert_cell(&frame, "api", "CI", "● #42 running");
    insta::assert_snapshot!(frame);
}

#[test]
fn failed_migration_80x24() {
    let state = after_healthy(failed_migration());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "PROD", "….28 → v0.0.29 0/2 ✗");
    assert_cell(&frame, "api", "CI", "✗ #42 failure");
    insta::assert_snapshot!(frame);
}

#[test]
fn failed_migration_160x48_styles() {
    let state = after_healthy(failed_migration());
    let frame = text(&state, &theme("default"), 160, 48);
    assert_cell(&frame, "api", "CI", "✗ #42 failure");
    insta::assert_snapshot!(styled(&state, &theme("default"), 160, 48));
}

#[test]
fn drift_80x24() {
    let state = after_healthy(drift());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "stumper", "PROD", "v0.3.0 2/2 ✓ ≠");
    assert_cell(&frame, "stumper", "QA", "v0.3.1-rc.2 1/1 ✓ ⇡");
    insta::assert_snapshot!(frame);
}

#[test]
fn drift_160x48_styles() {
    let state = after_healthy(drift());
    let frame = text(&state, &theme("default"), 160, 48);
    assert_cell(&frame, "stumper", "PROD", "v0.3.0 2/2 ✓ ≠");
    insta::assert_snapshot!(styled(&state, &theme("default"), 160, 48));
}

#[test]
fn no_token_80x24_styles() {
    let state = state_from(Mode::INTERACTIVE, no_token());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "RELEASE", "no token");
    assert_cell(&frame, "api", "PROD", "v0.0.28 2/2 ✓");
    insta::assert_snapshot!(styled(&state, &theme("default"), 80, 24));
}

#[test]
fn no_token_160x48() {
    let state = state_from(Mode::INTERACTIVE, no_token());
    let frame = text(&state, &theme("default"), 160, 48);
    assert_cell(&frame, "katforge", "CI", "no token");
    insta::assert_snapshot!(frame);
}

#[test]
fn unreachable_cluster_80x24() {
    let state = after_healthy(unreachable_cluster());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "PROD", "unreachable");
    assert_cell(&frame, "api", "QA", "unreachable");
    assert_cell(&frame, "api", "RELEASE", "v0.0.28");
    insta::assert_snapshot!(frame);
}

#[test]
fn unreachable_cluster_160x48() {
    let state = after_healthy(unreachable_cluster());
    let frame = text(&state, &theme("default"), 160, 48);
    assert_cell(&frame, "stumper", "QA", "unreachable");
    insta::assert_snapshot!(frame);
}

#[test]
fn rate_limited_80x24() {
    let state = after_healthy(rate_limited());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "CI", "rate limited");
    assert_cell(&frame, "api", "PROD", "v0.0.28 2/2 ✓");
    insta::assert_snapshot!(frame);
}

#[test]
fn rate_limited_160x48_styles() {
    let state = after_healthy(rate_limited());
    let frame = text(&state, &theme("default"), 160, 48);
    assert_cell(&frame, "katforge", "CI", "rate limited");
    insta::assert_snapshot!(styled(&state, &theme("default"), 160, 48));
}

#[test]
fn forbidden_and_missing_80x24() {
    let state = after_healthy(forbidden_and_missing());
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "api", "QA", "forbidden");
    assert_cell(&frame, "stumper", "PROD", "missing");
    assert_cell(&frame, "api", "PROD", "v0.0.28 2/2 ✓");
    insta::assert_snapshot!(frame);
}

// ---------------------------------------------------------------------------
// Two clusters (seeds 001, 003, 004): prod on its own context, which goes
// down while qa's cluster answers.

const PROD_DOWN: &str = "cannot reach the API server of context \"k3s-prod\" (https://10.0.0.2:6443): Connection refused (os error 111)";

fn two_cluster_state() -> State {
    two_cluster_state_in(Mode::INTERACTIVE)
}

fn two_cluster_state_in(mode: Mode) -> State {
    let mut envs = hearth::registry::Environment::defaults();
    envs[0].context = Some("k3s-prod".into());
    let mut reg = (*registry()).clone();
    reg.settings.environments = envs.clone();
    for s in &mut reg.services {
        s.environments = envs.clone();
    }
    let mut state = State::new(Arc::new(reg), mode);
    state.kube_context = Some("k3s-dev".into());
    if mode == Mode::WATCH {
        state.watch = Some(WatchSettings {
            cycle: None,
            bell: false,
            last_cycle: None,
        });
    }
    let prod_source = SourceId::Kube {
        context: Some("k3s-prod".into()),
        namespace: "default".into(),
    };
    let mut msgs = healthy();
    // Prod's watch is on its own cluster; the healthy start's context-less
    // `default` source is not in this registry.
    msgs.retain(|m| !matches!(m, Msg::Source(SourceId::Kube { namespace, .. }, _) if namespace == "default"));
    msgs.push(Msg::Source(prod_source.clone(), SourceStatus::Live));
    msgs.push(Msg::Source(
        prod_source,
        SourceStatus::Down(Problem::new(
            ProblemKind::Unreachable,
            PROD_DOWN,
            UNREACHABLE_HINT,
        )),
    ));
    for svc in ["api", "katforge", "stumper", "geargoblins"] {
        msgs.push(Msg::Workload {
            service: svc.into(),
            env: "prod".into(),
            observation: EnvObservation::Error(Problem::new(
                ProblemKind::Unreachable,
                PROD_DOWN,
                UNREACHABLE_HINT,
            )),
        });
    }
    for msg in msgs {
        update(&mut state, msg);
    }
    state
}

/// The cell under `column` of `service`'s overview row: the characters
/// between that column's header and the next one's (one character per
/// terminal cell in a `TestBackend` frame).
fn column_cell(frame: &str, service: &str, column: &str) -> Option<String> {
    let lines: Vec<Vec<char>> = frame.lines().map(|l| l.chars().collect()).collect();
    let find = |hay: &[char], needle: &str| {
        let n: Vec<char> = needle.chars().collect();
        hay.windows(n.len()).position(|w| w == n.as_slice())
    };
    let header = lines
        .iter()
        .find(|l| find(l, "SERVICE").is_some() && find(l, column).is_some())?;
    let start = find(header, column)?;
    let end = header[start + column.len()..]
        .iter()
        .position(|c| c.is_ascii_uppercase())
        .map_or(header.len(), |i| start + column.len() + i);
    let row = lines.iter().find(|l| {
        let text: String = l.iter().collect();
        text.trim_start_matches(['"', '│', ' '])
            .strip_prefix(service)
            .is_some_and(|r| r.starts_with(' '))
    })?;
    Some(
        row.get(start..end.min(row.len()))?
            .iter()
            .collect::<String>()
            .trim()
            .to_string(),
    )
}

#[test]
fn two_clusters_one_down_80x24() {
    let state = two_cluster_state();
    let frame = text(&state, &theme("default"), 80, 24);
    let prod = column_cell(&frame, "api", "PROD").unwrap_or_default();
    let qa = column_cell(&frame, "api", "QA").unwrap_or_default();
    assert_eq!(
        prod, "unreachable",
        "a down cluster's cell says so:\n{frame}"
    );
    assert!(
        qa.starts_with("v0.0.29-rc.1"),
        "qa reads on: {qa:?}\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn two_clusters_one_down_160x48() {
    let state = two_cluster_state();
    let frame = text(&state, &theme("default"), 160, 48);
    let qa = column_cell(&frame, "katforge", "QA").unwrap_or_default();
    assert!(qa.starts_with("v1.4.2"), "qa reads on: {qa:?}\n{frame}");
    assert!(
        frame.contains("k3s-prod"),
        "the notice names the cluster that is down:\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

// ---------------------------------------------------------------------------
// Commits not yet running (seed 003's "compare the git SHA in the image with
// HEAD"): a `↓N` after the cell, in the warning colour past the registry's
// `stale:` threshold, with the count and age in NOTES and the detail pane.

fn behind_state() -> State {
    let mut reg = (*registry()).clone();
    reg.services[0].stale = Some(hearth::registry::Stale {
        commits: Some(3),
        days: None,
    });
    let mut state = State::new(Arc::new(reg), Mode::INTERACTIVE);
    state.kube_context = Some("k3s-katforge".into());
    for msg in healthy() {
        update(&mut state, msg);
    }
    const DAY: i64 = 86_400;
    behind(&mut state, ("api", "prod", "v0.0.28"), 4, 9 * DAY);
    behind(&mut state, ("api", "qa", "v0.0.29-rc.1"), 1, 2 * DAY);
    behind(&mut state, ("katforge", "prod", "v1.4.2"), 0, 0);
    state
}

/// `(service, env, tag)` is `commits` behind origin/main, the oldest of
/// them `age` seconds old.
fn behind(state: &mut State, (service, env, tag): (&str, &str, &str), commits: u32, age: i64) {
    update(
        state,
        Msg::Behind {
            service: service.into(),
            env: env.into(),
            tag: tag.into(),
            behind: Some(hearth::ops::git::Behind {
                commits,
                oldest: Some(NOW - age),
                branch: "origin/main".into(),
            }),
        },
    );
}

#[test]
fn commits_behind_80x24() {
    let frame = text(&behind_state(), &theme("default"), 80, 24);
    let prod = column_cell(&frame, "api", "PROD").unwrap_or_default();
    let qa = column_cell(&frame, "api", "QA").unwrap_or_default();
    let katforge = column_cell(&frame, "katforge", "PROD").unwrap_or_default();
    assert!(prod.ends_with("↓4"), "{prod:?}\n{frame}");
    assert!(qa.ends_with("↓1"), "{qa:?}\n{frame}");
    assert!(
        !katforge.contains('↓'),
        "none behind, no mark: {katforge:?}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn commits_behind_160x48_styles() {
    let state = behind_state();
    let frame = text(&state, &theme("default"), 160, 48);
    assert!(
        frame.contains("prod: stale, 4 commits of origin/main not running, the oldest 9 d old"),
        "the note says why prod is stale:\n{frame}"
    );
    assert!(
        frame.contains("↓ 1 commit of origin/main not running, the oldest 2 d old"),
        "the detail pane counts qa's:\n{frame}"
    );
    insta::assert_snapshot!(styled(&state, &theme("default"), 160, 48));
}

/// `hearth watch` on a shared screen with the prod cluster down: prod's
/// cells say so on every board row, qa's still read, and the notice names
/// the context.
#[test]
fn watch_two_clusters_one_down_120x36() {
    let state = two_cluster_state_in(Mode::WATCH);
    let frame = text(&state, &theme("default"), 120, 36);
    let row = frame
        .lines()
        .find(|l| l.contains(" api ") && l.contains("PROD"))
        .unwrap_or_default();
    assert!(row.contains("PROD unreachable"), "{row}\n{frame}");
    assert!(row.contains("QA v0.0.29-rc.1"), "{row}\n{frame}");
    assert!(frame.contains("k3s-prod"), "{frame}");
    insta::assert_snapshot!(frame);
}

// ---------------------------------------------------------------------------
// GitOps (seed 002): what should run is what the manifest says; the detail
// pane shows the chain tag built → manifest commit → Flux applied → rollout,
// with the link that is stuck named; watch marks Flux's trouble.

const MANIFEST_COMMIT: &str = "c48d209e5b1f0a7d3c2b9e8f6a4d1c0b7e5f3a21";
const OLDER_COMMIT: &str = "5d463dff11a3ed00f40bc320c25672496346c511";

/// Where the deploy of v0.7.3 to qa stands.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// The manifest commit is pushed; Flux reconciles and has not applied it.
    Applying,
    /// Flux cannot build the manifests: stalled, with its message.
    Stalled,
    /// Flux applied it; the rollout is half-way.
    RollingOut,
    /// Rolled out; hearth's ship ran the smoke checks (the journal).
    Done,
    /// Flux applied it; the new pods crash (the migration fails).
    RolloutStuck,
    /// The tag's build run failed; Flux applied the manifest anyway; prod's
    /// Kustomization is suspended.
    BuildFailedProdSuspended,
}

fn gitops_state(stage: Stage, mode: Mode) -> State {
    use hearth::model::flux::{FluxState, GitopsReading, ManifestCommit};
    use hearth::registry::{Delivery, GitopsRepo, ImageAt, Manifest};
    let mut hecate = service("hecate", true, None);
    hecate.delivery = Delivery::Gitops;
    hecate.build_workflow = Some("build.yml".into());
    hecate.gitops = Some(GitopsRepo {
        dir: Some("/work/src/gitops".into()),
        url: None,
        branch: "main".into(),
    });
    for env in &mut hecate.environments {
        env.manifest = Some(Manifest {
            file: format!("apps/{}/hecate.yaml", env.name),
            at: ImageAt::Setter(format!("flux-system:hecate-{}", env.name)),
        });
        env.kustomization = Some(("flux-system".into(), format!("apps-{}", env.name)));
    }
    let mut reg = (*registry()).clone();
    reg.services.insert(0, hecate);
    let mut state = State::new(Arc::new(reg), mode);
    state.kube_context = Some("k3s-hecate".into());
    if mode == Mode::WATCH {
        state.watch = Some(WatchSettings {
            cycle: None,
            bell: false,
            last_cycle: None,
        });
    }
    for msg in healthy() {
        update(&mut state, msg);
    }
    let ready = |applied: &str| FluxState {
        ready: Some(true),
        message: format!("Applied revision: main@sha1:{applied}"),
        last_applied: Some(format!("main@sha1:{applied}")),
        last_attempted: Some(format!("main@sha1:{applied}")),
        ready_since: Some(NOW - 90),
        ..FluxState::default()
    };
    let qa_flux = match stage {
        Stage::Applying => FluxState {
            reconciling: true,
            ready: None,
            message: "Reconciliation in progress".into(),
            ..ready(OLDER_COMMIT)
        },
        Stage::Stalled => FluxState {
            stalled: true,
            ready: Some(false),
            message: "kustomize build failed: accumulating resources from 'apps/qa/broken.yaml': MalformedYAMLError: did not find expected ',' or ']'".into(),
            last_attempted: Some(format!("main@sha1:{MANIFEST_COMMIT}")),
            ..ready(OLDER_COMMIT)
        },
        Stage::RollingOut | Stage::Done | Stage::RolloutStuck | Stage::BuildFailedProdSuspended => {
            ready(MANIFEST_COMMIT)
        }
    };
    let prod_flux = match stage {
        Stage::BuildFailedProdSuspended => FluxState {
            suspended: true,
            ..ready(OLDER_COMMIT)
        },
        _ => ready(OLDER_COMMIT),
    };
    let manifest = |tag: &str, commit: &str, ago: i64, subject: &str| ManifestCommit {
        tag: tag.into(),
        commit: commit.into(),
        at: NOW - ago,
        subject: subject.into(),
    };
    let readings = [
        (
            "qa",
            GitopsReading {
                manifest: Ok(manifest(
                    "v0.7.3",
                    MANIFEST_COMMIT,
                    120,
                    "chore: deploy hecate v0.7.3 to qa (hearth)",
                )),
                unapplied: matches!(stage, Stage::Applying | Stage::Stalled),
                flux: Ok(qa_flux),
            },
        ),
        (
            "prod",
            GitopsReading {
                manifest: Ok(manifest(
                    "v0.7.1",
                    OLDER_COMMIT,
                    6 * 86_400,
                    "chore: deploy hecate v0.7.1 to prod",
                )),
                unapplied: false,
                flux: Ok(prod_flux),
            },
        ),
    ];
    for (env, reading) in readings {
        update(
            &mut state,
            Msg::Gitops {
                service: "hecate".into(),
                env: env.into(),
                reading,
            },
        );
    }
    let mut qa = live("v0.7.2", 2, 2, Rollout::Complete);
    if stage == Stage::Done {
        qa = live("v0.7.3", 2, 2, Rollout::Complete);
        let step = |name: &str| hearth::ops::audit::StepRecord {
            name: name.into(),
            state: hearth::ops::StepState::Done,
            detail: None,
            secs: Some(1.0),
        };
        let entry = hearth::ops::audit::Entry {
            time: "2026-03-01T10:02:00Z".into(),
            user: "maintainer".into(),
            op: "ship".into(),
            service: "hecate".into(),
            env: Some("qa".into()),
            from_tag: Some("v0.7.2".into()),
            to_tag: Some("v0.7.3".into()),
            mechanism: None,
            steps: vec![
                step("commit manifest"),
                step("flux apply"),
                step("rollout qa"),
                step("smoke: GET https://hecate.example/api/ready 200"),
            ],
            mutations: Vec::new(),
            result: "ok".into(),
            summary: "hecate v0.7.3 serves in qa".into(),
            recovery: None,
            by: None,
            runs: Vec::new(),
        };
        update(
            &mut state,
            Msg::Journal(hearth::app::activity::History {
                entries: vec![entry],
                interrupted: Vec::new(),
            }),
        );
    }
    if matches!(stage, Stage::RolloutStuck | Stage::BuildFailedProdSuspended) {
        qa = live(
            "v0.7.3",
            2,
            2,
            Rollout::Failed("deployment \"hecate\" exceeded its progress deadline".into()),
        );
        qa.updated = 1;
        qa.new_ready = Some(0);
        qa.stuck_reason = Some(if stage == Stage::RolloutStuck {
            "migration \"migrate\" failing: CrashLoopBackOff, 4 restarts".into()
        } else {
            "ImagePullBackOff: ghcr.io/katforge/hecate:v0.7.3 not found".into()
        });
        qa.pods = vec![
            pod("hecate-6f4d8-75jnb", "Running", true, 0, "v0.7.2"),
            pod("hecate-6f4d8-vdtsd", "Running", true, 0, "v0.7.2"),
            pod(
                "hecate-9a1c2-kq2mz",
                "Init:CrashLoopBackOff",
                false,
                4,
                "v0.7.3",
            ),
        ];
    }
    if stage == Stage::RollingOut {
        qa = live(
            "v0.7.3",
            1,
            2,
            Rollout::Progressing(
                "Waiting for deployment \"hecate\" rollout to finish: 1 out of 2 new replicas have been updated...".into(),
            ),
        );
        qa.updated = 1;
        qa.pods = vec![
            pod("hecate-6f4d8-75jnb", "Running", true, 0, "v0.7.2"),
            pod("hecate-9a1c2-kq2mz", "Running", true, 0, "v0.7.3"),
        ];
    }
    for msg in [
        workload("hecate", "prod", live("v0.7.1", 2, 2, Rollout::Complete)),
        workload("hecate", "qa", qa),
        Msg::Runs {
            service: "hecate".into(),
            runs: vec![
                CiRun {
                    updated_at: Some("2026-03-01T09:58:30Z".into()),
                    ..run(
                        301,
                        3,
                        "completed",
                        Some(if stage == Stage::BuildFailedProdSuspended {
                            "failure"
                        } else {
                            "success"
                        }),
                        "v0.7.3",
                    )
                },
                run(300, 2, "completed", Some("success"), "v0.7.2"),
            ],
        },
    ] {
        update(&mut state, msg);
    }
    state
}

#[test]
fn gitops_chain_applying_80x24() {
    let state = gitops_state(Stage::Applying, Mode::INTERACTIVE);
    let frame = text(&state, &theme("default"), 80, 24);
    assert_cell(&frame, "hecate", "QA", "v0.7.2");
    assert_cell(&frame, "hecate", "RELEASE", "gitops");
    assert!(
        column_cell(&frame, "hecate", "QA").is_some_and(|c| c.contains('⇡')),
        "qa deploys by Flux:\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn gitops_chain_applying_160x48() {
    let state = gitops_state(Stage::Applying, Mode::INTERACTIVE);
    let frame = text(&state, &theme("default"), 160, 48);
    for want in [
        "⇡ deploying v0.7.3 (Flux, manifest c48d209)",
        "✓ v0.7.3 built (run #3, 4 min ago)",
        "✓ manifest commit c48d209 pushed, 2 min ago: chore: deploy hecate v0.7.3 to qa",
        "● Flux is reconciling; it has not applied c48d209 yet",
        "matches apps/prod/hecate.yaml@5d463df (main)",
    ] {
        assert!(frame.contains(want), "{want}\n{frame}");
    }
    assert!(
        !frame.contains("rollout of v0.7.3"),
        "no rollout link before Flux applied:\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn gitops_chain_stalled_160x48() {
    let state = gitops_state(Stage::Stalled, Mode::INTERACTIVE);
    let frame = text(&state, &theme("default"), 160, 48);
    assert!(
        frame.contains("✗ stuck at Flux: Stalled: kustomize build failed"),
        "the stuck link is named:\n{frame}"
    );
    assert!(
        frame.contains("≠ running v0.7.2, apps/qa/hecate.yaml@c48d209 (main) says v0.7.3 → drift"),
        "a stalled Flux deploys nothing: drift, not deploying:\n{frame}"
    );
    let notes = column_cell(&frame, "hecate", "NOTES").unwrap_or_default();
    assert!(
        notes.starts_with("qa: Flux Stalled: kustomize build"),
        "{notes:?}\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn gitops_chain_rolling_out_160x48() {
    let state = gitops_state(Stage::RollingOut, Mode::INTERACTIVE);
    let frame = text(&state, &theme("default"), 160, 48);
    assert!(
        frame.contains("✓ Flux applied main@c48d209, 1 min ago"),
        "{frame}"
    );
    assert!(frame.contains("● rolling out v0.7.3 (below)"), "{frame}");
    assert_cell(&frame, "hecate", "QA", "v0.7.2 → v0.7.3");
    insta::assert_snapshot!(frame);
}

/// `hearth watch`: a stalled Flux marks qa's cell `⚑` and says Flux's
/// message on the service's line; a healthy prod says nothing more.
#[test]
fn watch_gitops_flux_stalled_120x36() {
    let state = gitops_state(Stage::Stalled, Mode::WATCH);
    let frame = text(&state, &theme("default"), 120, 36);
    let row = frame
        .lines()
        .find(|l| l.contains(" hecate ") && l.contains("PROD"))
        .unwrap_or_default();
    assert!(row.contains("QA v0.7.2 2/2 ✓ ⚑"), "{row}\n{frame}");
    assert!(!row.contains("PROD v0.7.1 2/2 ✓ ⚑"), "{row}");
    assert!(
        frame.contains("⚑ qa: Flux Stalled: kustomize build failed"),
        "{frame}"
    );
    insta::assert_snapshot!(frame);
}

#[test]
fn gitops_chain_done_160x48() {
    let state = gitops_state(Stage::Done, Mode::INTERACTIVE);
    let frame = text(&state, &theme("default"), 160, 48);
    for want in [
        "✓ rollout of v0.7.3 complete",
        "✓ smoke checks passed (ship, 30 s ago)",
        "(matches apps/qa/hecate.yaml@c48d209 (main))",
    ] {
        assert!(frame.contains(want), "{want}\n{frame}");
    }
    assert_cell(&frame, "hecate", "QA", "v0.7.3 2/2 ✓");
    insta::assert_snapshot!(frame);
}

#[test]
fn gitops_chain_rollout_stuck_160x48() {
    let state = gitops_state(Stage::RolloutStuck, Mode::INTERACTIVE);
    let frame = text(&state, &theme("default"), 160, 48);
    for want in [
        "✓ Flux applied main@c48d209",
        "✗ stuck at the rollout of v0.7.3 (below)",
        "≠ running v0.7.2, apps/qa/hecate.yaml@c48d209 (main) says v0.7.3 → drift",
    ] {
        assert!(frame.contains(want), "{want}\n{frame}");
    }
    assert!(!frame.contains("smoke checks passed"), "{frame}");
    insta::assert_snapshot!(frame);
}

#[test]
fn gitops_chain_build_failed_160x48() {
    let state = gitops_state(Stage::BuildFailedProdSuspended, Mode::INTERACTIVE);
    let frame = text(&state, &theme("default"), 160, 48);
    assert!(
        frame.contains(
            "⚑ Flux applied main@5d463df and is suspended: later commits wait until it is resumed"
        ),
        "{frame}"
    );
    assert!(
        frame.contains("✗ the build of v0.7.3 failed (run #3)"),
        "the first link names the failed build:\n{frame}"
    );
    insta::assert_snapshot!(frame);
}

/// `hearth watch` with prod's Kustomization suspended: prod's cell is
/// marked and the line says commits are not applied.
#[test]
fn watch_gitops_prod_suspended_120x36() {
    let state = gitops_state(Stage::BuildFailedProdSuspended, Mode::WATCH);
    let frame = text(&state, &theme("default"), 120, 36);
    let row = frame
        .lines()
        .find(|l| l.contains(" hecate ") && l.contains("PROD"))
        .unwrap_or_default();
    assert!(row.contains("PROD v0.7.1 2/2 ✓ ⚑"), "{row}\n{frame}");
    assert!(frame.contains("1 failing"), "{frame}");
    insta::assert_snapshot!(frame);
}

/// `hearth watch` with every link done: the service's line says Flux's
/// state per environment and the revision each applied.
#[test]
fn watch_gitops_flux_ready_120x36() {
    let state = gitops_state(Stage::Done, Mode::WATCH);
    let frame = text(&state, &theme("default"), 120, 36);
    assert!(
        frame.contains("Flux: prod Ready (applied main@5d463df) · qa Ready (applied main@c48d209)"),
        "{frame}"
    );
    assert!(frame.contains("all well"), "{frame}");
    insta::assert_snapshot!(frame);
}

/// A tick that says nothing visible changed (so the live loop draws no
/// frame) leaves the frame as it was: each state, ticked through the rest
/// of its ten seconds, draws the frame it drew before whenever `update`
/// says the tick changed nothing. A display that counts seconds without
/// `State::counts_seconds` knowing fails here; the shipping state, whose
/// running step counts seconds, shows that it would.
#[test]
fn tick_frames() {
    let kube_qa = SourceId::Kube {
        context: None,
        namespace: "qa".into(),
    };
    let down = hearth::model::Problem::new(
        hearth::model::ProblemKind::Unreachable,
        "connection refused",
        "start the cluster",
    );
    let cases: Vec<(&str, State, bool)> = vec![
        (
            "no data",
            state_from(Mode::INTERACTIVE, [Msg::Tick(NOW)]),
            false,
        ),
        ("healthy", state_from(Mode::INTERACTIVE, healthy()), false),
        (
            "detail",
            state_from(
                Mode::INTERACTIVE,
                healthy().into_iter().chain([code(KeyCode::Enter)]),
            ),
            false,
        ),
        ("watch", state_from(Mode::WATCH, healthy()), false),
        (
            "shipping",
            state_from(Mode::INTERACTIVE, healthy().into_iter().chain(shipping())),
            true,
        ),
        (
            "cluster down",
            state_from(
                Mode::WATCH,
                healthy().into_iter().chain([
                    Msg::Tick(NOW - 120),
                    Msg::Source(kube_qa, SourceStatus::Down(down)),
                    Msg::Tick(NOW),
                ]),
            ),
            true,
        ),
    ];
    let theme = theme("default");
    for (name, state, counts) in cases {
        assert_eq!(state.counts_seconds(), counts, "{name}");
        for (w, h) in [(200, 50), (160, 48), (80, 24)] {
            let before = text(&state, &theme, w, h);
            let mut later = state.clone();
            let mut moved = false;
            for k in 1..10 {
                let outcome = update(&mut later, Msg::Tick(NOW + k));
                let frame = text(&later, &theme, w, h);
                moved |= frame != before;
                if !outcome.changed {
                    assert_eq!(
                        frame, before,
                        "{name} at {w}x{h}, {k} s later: the frame changed, the tick said nothing did"
                    );
                }
                if k == 1 {
                    assert_eq!(outcome.changed, counts, "{name} at {w}x{h}, a second later");
                }
            }
            if name == "shipping" && (w, h) != (80, 24) {
                assert!(
                    moved,
                    "{name} at {w}x{h}: the running step's seconds should count"
                );
            }
        }
        // On the ten seconds (and the minute) every state is drawn again.
        let mut later = state.clone();
        assert!(update(&mut later, Msg::Tick(NOW + 10)).changed, "{name}");
    }
}

/// An age under a minute counts seconds, and the tick that turns `59 s`
/// into `1 min` draws a frame (it falls between the ten-second frames).
#[test]
fn tick_frames_an_age_turns_a_minute() {
    let mut state = behind_state();
    // The only age under a minute: qa's oldest commit, 55 s old
    // (katforge's, none behind, dated a day back).
    behind(&mut state, ("api", "qa", "v0.0.29-rc.1"), 1, 55);
    behind(&mut state, ("katforge", "prod", "v1.4.2"), 0, 86_400);
    let theme = theme("default");
    let mut before = text(&state, &theme, 160, 48);
    assert!(
        before.contains("the oldest 55 s old"),
        "the detail pane shows the age:\n{before}"
    );
    for k in 1..=15 {
        let outcome = update(&mut state, Msg::Tick(NOW + k));
        let frame = text(&state, &theme, 160, 48);
        if !outcome.changed {
            assert_eq!(
                frame, before,
                "{k} s later: the frame changed, the tick said nothing did"
            );
        }
        before = frame;
    }
    assert!(
        before.contains("the oldest 1 min old"),
        "a minute on, the age reads in minutes:\n{before}"
    );
}
