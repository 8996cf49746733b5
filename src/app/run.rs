//! The control room loop: given a session whose registry and theme are
//! already loaded (by the command layer), sets the terminal up behind a guard
//! that always restores it (quit, error, panic, SIGINT/SIGTERM/SIGHUP), then
//! runs on a tokio runtime a `select!` over terminal events, source messages
//! and a frame timer, drawing at most once per frame and only when something
//! changed. Runs on the main thread; sources run as tasks on the same runtime.

use std::future::Future;
use std::io::{self, IsTerminal, Stdout};
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::{Event, EventStream, KeyEventKind};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use futures::{Stream, StreamExt};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::sources::Sources;
use super::{update, Command, Mode, Msg, State};
use crate::config::Config;
use crate::github::Attention;
use crate::registry::Registry;
use crate::ui::{self, Theme, ViewState};
use crate::WriteAccess;

/// Shortest time between two frames (about 30 frames per second).
const FRAME: Duration = Duration::from_millis(33);
/// How many queued source messages are applied before the next draw, so a
/// burst cannot starve the keyboard.
const DRAIN_LIMIT: usize = 1024;
/// Capacity of the source channel; senders wait when the UI falls behind.
pub const CHANNEL_CAPACITY: usize = 1024;

/// Why the control room could not run or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the control room needs a terminal; for scripts use `hearth status` (or `-o json`)")]
    NotATerminal,
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("drawing the control room: {0}")]
    Draw(String),
    #[error("a panic (its message is above) ended the control room; the terminal was restored")]
    Panicked,
}

fn io_error(what: &'static str) -> impl FnOnce(io::Error) -> RunError {
    move |source| RunError::Io { what, source }
}

/// What a control room session is: the registry, where to reach the
/// cluster and GitHub, the mode, the write capability of a read-write
/// session, and the theme (already loaded, so that a bad theme fails
/// before the terminal is touched).
pub struct Session {
    pub registry: Arc<Registry>,
    pub config: Config,
    pub mode: Mode,
    pub write: Option<WriteAccess>,
    pub theme: Theme,
    /// The operations context (read-write sessions only; built from the
    /// same `WriteAccess`).
    pub ops: Option<Arc<crate::ops::Context>>,
    /// The audit journal the detail pane shows.
    pub journal: Option<crate::ops::audit::Journal>,
    /// Whether log panels may open (watch mode: only with `--logs`).
    pub logs: bool,
    /// A line the first frames show (what the demo's autopilot will do).
    pub announce: Option<String>,
    /// Watch mode's settings (`hearth watch` only).
    pub watch: Option<super::WatchSettings>,
}

/// What a source spawner gets: where to send messages, and what to watch.
#[derive(Clone, Debug)]
pub struct SourceContext {
    /// Feed of `Msg`s into `update`. Sources own a clone each.
    pub tx: mpsc::Sender<Msg>,
    pub registry: Arc<Registry>,
    pub config: Config,
}

pub use super::executor::Executor;

/// Run the control room for a session.
///
/// `spawn_sources` is called once, inside the tokio runtime (so it may
/// `tokio::spawn`), before the first frame; the sources it returns send
/// `Msg`s through `ctx.tx`, are owned by the executor and are cancelled when
/// the control room exits.
pub fn run_with<F>(session: Session, spawn_sources: F) -> Result<(), RunError>
where
    F: FnOnce(SourceContext) -> Sources,
{
    if !io::stdout().is_terminal() {
        return Err(RunError::NotATerminal);
    }
    let Session {
        registry,
        config,
        mode,
        write,
        theme,
        ops,
        journal,
        logs,
        announce,
        watch,
    } = session;
    let mut state = State::new(registry.clone(), mode);
    state.write = write;
    state.logs_enabled = logs;
    if let Some(text) = announce {
        state.announce(text, 20);
    }
    state.watch = watch;
    state.kube_context = config.kube.display_context();
    tracing::info!(
        services = registry.services.len(),
        mode = mode.label(),
        "control room starting"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io_error("cannot start the async runtime"))?;
    let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
    let mut executor = {
        let _enter = runtime.enter();
        let sources = spawn_sources(SourceContext {
            tx: tx.clone(),
            registry: registry.clone(),
            config: config.clone(),
        });
        let executor = Executor::new(sources, tx.clone(), registry, config, ops, journal);
        executor.load_journal();
        executor
    };

    let result = {
        let mut guard = TerminalGuard::enter()?;
        runtime.block_on(async {
            let stop = shutdown_signal().map_err(io_error("cannot watch for signals"))?;
            let mut view = ViewState::default();
            event_loop(
                &mut *guard.terminal,
                &mut state,
                &mut view,
                &theme,
                &mut rx,
                EventStream::new(),
                stop,
                &mut executor,
            )
            .await
        })
        // The guard drops here, restoring the terminal before any error prints.
    };
    drop(tx);
    {
        let _enter = runtime.enter();
        drop(executor);
    }
    // Sources may be blocked in IO; do not let them hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(300));
    tracing::info!("control room stopped");
    result
}

/// Resolves on SIGINT, SIGTERM or SIGHUP. In raw mode Ctrl-C arrives as a
/// key, so SIGINT here means a signal sent by another process.
fn shutdown_signal() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
            _ = hup.recv() => tracing::info!("SIGHUP"),
        }
    })
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The loop itself, generic over the backend and the event stream so that
/// tests drive it with a `TestBackend` and scripted keys. Returns when
/// `update` asks to quit, the event stream ends, or `stop` resolves.
#[allow(clippy::too_many_arguments)]
pub async fn event_loop<B, S>(
    terminal: &mut Terminal<B>,
    state: &mut State,
    view: &mut ViewState,
    theme: &Theme,
    rx: &mut mpsc::Receiver<Msg>,
    events: S,
    stop: impl Future<Output = ()>,
    executor: &mut Executor,
) -> Result<(), RunError>
where
    B: Backend,
    B::Error: std::fmt::Display,
    S: Stream<Item = io::Result<Event>>,
{
    let mut events = pin!(events);
    let mut stop = pin!(stop);
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut next_frame = Instant::now();
    // When a key was last pressed: after an hour without one, nobody is
    // looking (a shared screen in watch mode is always looked at).
    let mut last_key = Instant::now();
    if let Ok(size) = terminal.size() {
        update(state, Msg::Resize(size.width, size.height));
    }
    loop {
        let mut commands = Vec::new();
        tokio::select! {
            _ = &mut stop => return Ok(()),
            event = events.next() => match event {
                None => return Ok(()),
                Some(Err(e)) => return Err(io_error("reading terminal input")(e)),
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    last_key = Instant::now();
                    dirty |= apply(state, Msg::Key(key), &mut commands);
                }
                Some(Ok(Event::Resize(w, h))) => {
                    // A resize always redraws: the terminal itself was cleared.
                    apply(state, Msg::Resize(w, h), &mut commands);
                    dirty = true;
                }
                Some(Ok(_)) => {}
            },
            Some(msg) = rx.recv() => {
                dirty |= apply(state, msg, &mut commands);
                // Apply what else is queued before drawing: one frame per burst.
                for _ in 0..DRAIN_LIMIT {
                    match rx.try_recv() {
                        Ok(msg) => dirty |= apply(state, msg, &mut commands),
                        Err(_) => break,
                    }
                }
            }
            _ = clock.tick() => {
                let now = unix_now();
                if state.now != Some(now) {
                    dirty |= apply(state, Msg::Tick(now), &mut commands);
                }
                executor.attend(attention(state, view, last_key));
            }
            _ = tokio::time::sleep_until(next_frame), if dirty => {
                {
                    // Never draw over a terminal a panic hook has restored.
                    let _drawing = DRAWING.lock().unwrap_or_else(|e| e.into_inner());
                    if RESTORED.load(Ordering::SeqCst) {
                        return Err(RunError::Panicked);
                    }
                    terminal
                        .draw(|frame| ui::draw(frame, state, view, theme))
                        .map_err(|e| RunError::Draw(e.to_string()))?;
                }
                dirty = false;
                executor.attend(attention(state, view, last_key));
                // Tell the state where the detail pane ends, so that
                // scrolling stops there.
                if view.detail_max != state.detail_max {
                    dirty |= apply(state, Msg::Viewport { detail_max: view.detail_max }, &mut commands);
                }
                next_frame = Instant::now() + FRAME;
            }
        }
        for command in commands {
            if command == Command::Quit {
                return Ok(());
            }
            executor.run(command);
        }
    }
}

/// No key for this long: nobody is looking.
const AWAY_AFTER: Duration = Duration::from_secs(3600);

/// What the screen shows, for the GitHub scheduler.
fn attention(state: &State, view: &ViewState, last_key: Instant) -> Attention {
    let name = |i: usize| state.registry.services.get(i).map(|s| s.name.clone());
    Attention {
        shown: view.shown.iter().filter_map(|&i| name(i)).collect(),
        selected: state.selected_service().and_then(name),
        attended: state.watch.is_some() || last_key.elapsed() < AWAY_AFTER,
    }
}

/// Apply `msg`, collect its commands; whether the state changed.
fn apply(state: &mut State, msg: Msg, commands: &mut Vec<Command>) -> bool {
    let outcome = update(state, msg);
    commands.extend(outcome.commands);
    outcome.changed
}

/// Owns the terminal while the control room runs; dropping it restores the
/// terminal (raw mode off, main screen, cursor shown). A panic hook does the
/// same before the panic message prints, so a crash never leaves the shell unusable.
struct TerminalGuard {
    /// Never dropped: ratatui's `Drop` re-shows the cursor with `eprintln!` on
    /// failure, which panics when the terminal is already gone (SIGHUP).
    /// `restore_terminal` does that work instead.
    terminal: ManuallyDrop<Terminal<CrosstermBackend<Stdout>>>,
}

impl TerminalGuard {
    fn enter() -> Result<TerminalGuard, RunError> {
        install_panic_hook();
        crossterm::terminal::enable_raw_mode()
            .map_err(io_error("cannot switch the terminal to raw mode"))?;
        let setup =
            crossterm::execute!(io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide);
        if let Err(e) = setup {
            restore_terminal();
            return Err(io_error("cannot enter the alternate screen")(e));
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(TerminalGuard {
                terminal: ManuallyDrop::new(terminal),
            }),
            Err(e) => {
                restore_terminal();
                Err(io_error("cannot set up the terminal")(e))
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Put the terminal back the way the shell expects it. Safe to call twice.
fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Held while a frame is written, so that a panic on another thread (a
/// source or an operation task) restores the terminal between frames, never
/// in the middle of one.
static DRAWING: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// Set by the panic hook once it has restored the terminal: no frame is
/// drawn after that, and the loop ends.
static RESTORED: AtomicBool = AtomicBool::new(false);

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // A panic inside a frame (on the loop's own thread) holds the
            // lock: wait a little, then restore regardless.
            let deadline = std::time::Instant::now() + Duration::from_millis(250);
            let guard = loop {
                match DRAWING.try_lock() {
                    Ok(g) => break Some(g),
                    Err(std::sync::TryLockError::Poisoned(e)) => break Some(e.into_inner()),
                    Err(std::sync::TryLockError::WouldBlock)
                        if std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(std::sync::TryLockError::WouldBlock) => break None,
                }
            };
            RESTORED.store(true, Ordering::SeqCst);
            restore_terminal();
            drop(guard);
            tracing::error!("panic: {info}");
            previous(info);
        }));
    });
}
