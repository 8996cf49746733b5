//! The control room loop: loads what the session needs (registry, theme,
//! logging) before touching the terminal, sets the terminal up behind a guard
//! that always restores it (quit, error, panic, SIGINT/SIGTERM/SIGHUP), then
//! runs on a tokio runtime a `select!` over terminal events, source messages
//! and a frame timer, drawing at most once per frame and only when something
//! changed. Runs on the main thread; sources run as tasks on the same runtime.

use std::future::Future;
use std::io::{self, IsTerminal, Stdout};
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use crossterm::event::{Event, EventStream, KeyEventKind};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use futures::{Stream, StreamExt};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::{update, Command, Mode, Msg, State};
use crate::cli::GlobalOpts;
use crate::registry::Registry;
use crate::ui::{self, Theme, ViewState};

/// Shortest time between two frames (about 30 frames per second).
const FRAME: Duration = Duration::from_millis(33);
/// How many queued source messages are applied before the next draw, so a
/// burst cannot starve the keyboard.
const DRAIN_LIMIT: usize = 1024;
/// Capacity of the source channel; senders wait when the UI falls behind.
pub const CHANNEL_CAPACITY: usize = 1024;

/// What a source spawner gets: where to send messages, and what to watch.
#[derive(Clone, Debug)]
pub struct SourceContext {
    /// Feed of `Msg`s into `update`. Sources own a clone each.
    pub tx: mpsc::Sender<Msg>,
    pub registry: Arc<Registry>,
    /// `--context`, when given (environments without a context use it).
    pub context: Option<String>,
    pub mode: Mode,
}

/// `hearth` with no subcommand: the interactive control room, with no live
/// sources until they are plugged in with [`run_with`].
pub fn run(global: &GlobalOpts) -> anyhow::Result<ExitCode> {
    let registry = crate::registry::load(&global.services).map_err(|e| anyhow!(e))?;
    // Token discovery may run `gh auth token`: do it before the terminal is taken.
    let token = crate::sources::token::discover();
    run_with(global, Arc::new(registry), Mode::Interactive, |ctx| {
        crate::sources::spawn_all(&ctx.registry, ctx.context.as_deref(), token, ctx.tx);
    })
}

/// Run the control room for a loaded registry in a mode.
///
/// `spawn_sources` is called once, inside the tokio runtime (so it may
/// `tokio::spawn`), before the first frame; the tasks it starts send `Msg`s
/// through `ctx.tx` and are cancelled when the control room exits.
/// Everything that can fail (theme, logging, no terminal) fails here before
/// the terminal is touched.
pub fn run_with<F>(
    global: &GlobalOpts,
    registry: Arc<Registry>,
    mode: Mode,
    spawn_sources: F,
) -> anyhow::Result<ExitCode>
where
    F: FnOnce(SourceContext),
{
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme::load(global.theme.as_deref(), no_color)?;
    let _log = crate::logging::init(&global.log_level)?;
    if !io::stdout().is_terminal() {
        anyhow::bail!(
            "the control room needs a terminal; for scripts use `hearth status` (or `--json`)"
        );
    }
    let mut state = State::new(registry.clone(), mode);
    state.kube_context = global.context.clone().or_else(current_kube_context);
    tracing::info!(
        services = registry.services.len(),
        mode = mode.label(),
        "control room starting"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
    {
        let _enter = runtime.enter();
        spawn_sources(SourceContext {
            tx: tx.clone(),
            registry,
            context: global.context.clone(),
            mode,
        });
    }

    let result = {
        let mut guard = TerminalGuard::enter()?;
        runtime.block_on(async {
            let stop = shutdown_signal()?;
            let mut view = ViewState::default();
            event_loop(
                &mut *guard.terminal,
                &mut state,
                &mut view,
                &theme,
                &mut rx,
                EventStream::new(),
                stop,
            )
            .await
        })
        // The guard drops here, restoring the terminal before any error prints.
    };
    drop(tx);
    // Sources may be blocked in IO; do not let them hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(300));
    tracing::info!("control room stopped");
    result.map(|()| ExitCode::SUCCESS)
}

/// The kubeconfig's current context, for the status bar.
fn current_kube_context() -> Option<String> {
    kube::config::Kubeconfig::read()
        .ok()
        .and_then(|k| k.current_context)
}

/// Resolves on SIGINT, SIGTERM or SIGHUP. In raw mode Ctrl-C arrives as a
/// key, so SIGINT here means a signal sent by another process.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
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
pub async fn event_loop<B, S>(
    terminal: &mut Terminal<B>,
    state: &mut State,
    view: &mut ViewState,
    theme: &Theme,
    rx: &mut mpsc::Receiver<Msg>,
    events: S,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Stream<Item = io::Result<Event>>,
{
    let mut events = pin!(events);
    let mut stop = pin!(stop);
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut next_frame = Instant::now();
    if let Ok(size) = terminal.size() {
        update(state, Msg::Resize(size.width, size.height));
    }
    loop {
        let mut commands = Vec::new();
        tokio::select! {
            _ = &mut stop => return Ok(()),
            event = events.next() => match event {
                None => return Ok(()),
                Some(Err(e)) => return Err(e).context("reading terminal input"),
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    commands = update(state, Msg::Key(key));
                    dirty = true;
                }
                Some(Ok(Event::Resize(w, h))) => {
                    commands = update(state, Msg::Resize(w, h));
                    dirty = true;
                }
                Some(Ok(_)) => {}
            },
            Some(msg) = rx.recv() => {
                commands = update(state, msg);
                // Apply what else is queued before drawing: one frame per burst.
                for _ in 0..DRAIN_LIMIT {
                    match rx.try_recv() {
                        Ok(msg) => commands.extend(update(state, msg)),
                        Err(_) => break,
                    }
                }
                dirty = true;
            }
            _ = clock.tick() => {
                let now = unix_now();
                if state.now != Some(now) {
                    update(state, Msg::Tick(now));
                    dirty = true;
                }
            }
            _ = tokio::time::sleep_until(next_frame), if dirty => {
                terminal
                    .draw(|frame| ui::draw(frame, state, view, theme))
                    .map_err(|e| anyhow!(e))
                    .context("drawing the control room")?;
                dirty = false;
                next_frame = Instant::now() + FRAME;
            }
        }
        // Quit is the only command so far; later ones are spawned as tasks here.
        if commands.contains(&Command::Quit) {
            return Ok(());
        }
    }
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
    fn enter() -> anyhow::Result<TerminalGuard> {
        install_panic_hook();
        crossterm::terminal::enable_raw_mode().context("cannot switch the terminal to raw mode")?;
        let setup =
            crossterm::execute!(io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide);
        if let Err(e) = setup {
            restore_terminal();
            return Err(e).context("cannot enter the alternate screen");
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(TerminalGuard {
                terminal: ManuallyDrop::new(terminal),
            }),
            Err(e) => {
                restore_terminal();
                Err(e).context("cannot set up the terminal")
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

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            tracing::error!("panic: {info}");
            previous(info);
        }));
    });
}
