//! Rendering: pure functions from `State` (and the `Theme`) to a frame, one
//! module per view. Runs on the main task inside `Terminal::draw`; it never
//! awaits, locks, reads the clock or does IO. UI-only state (the overview's
//! scroll offset) lives in [`ViewState`].

pub mod detail;
pub mod dialog;
pub mod help;
pub mod logs;
pub mod overview;
pub mod status;
pub mod theme;
pub mod watch;
pub mod wrap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;
use ratatui::Frame;

pub use theme::{Theme, ThemeError};

use crate::app::{Focus, State};
use crate::model::{EnvObservation, Rollout};

/// UI-only state that survives between frames.
#[derive(Clone, Debug, Default)]
pub struct ViewState {
    /// First visible row of the overview table.
    pub overview_offset: usize,
    /// How far the detail pane could scroll in the last frame.
    pub detail_max: u16,
    /// The services the last frame drew a row for (indices), so that the
    /// GitHub scheduler reads them first.
    pub shown: Vec<usize>,
    /// The overview's natural column widths over every service (each
    /// environment's, the release's) and the [`State::generation`] they
    /// were measured at: a frame that only the clock changed reuses them.
    ///
    /// [`State::generation`]: crate::app::State::generation
    pub natural: Option<(u64, Vec<usize>, usize)>,
    /// Watch mode's failing flag of every service and its watch order,
    /// with the [`State::generation`] they were derived at: every service's
    /// drift is derived once per change of the data, not on each second's
    /// frame.
    ///
    /// [`State::generation`]: crate::app::State::generation
    pub watch_rank: Option<(u64, Vec<bool>, Vec<usize>)>,
}

/// Width from which the detail pane sits beside the overview instead of below it.
const SIDE_BY_SIDE: u16 = 180;

/// Draw the whole screen.
pub fn draw(frame: &mut Frame, state: &State, view: &mut ViewState, theme: &Theme) {
    if state.watch.is_some() {
        return watch::draw(frame, state, view, theme);
    }
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.base), area);
    let show_filter = state.filter_editing || !state.filter.value().is_empty();
    // Source problems get up to two rows (three on tall screens), never
    // more than the body can spare.
    let notice_max = if area.height >= 40 { 3 } else { 2 }.min(area.height.saturating_sub(8));
    let notice_rows = status::notice_height(state, area.width, notice_max);
    let [title, body, notice, filter, status_bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(notice_rows),
        Constraint::Length(u16::from(show_filter)),
        Constraint::Length(1),
    ])
    .areas(area);

    status::draw_title(frame, title, state, theme);
    let (overview, detail) = split_body(body, state);
    overview::draw(frame, overview, state, view, theme);
    match &state.logs {
        Some(log_view) => logs::draw(frame, detail, state, log_view, theme),
        None => view.detail_max = detail::draw(frame, detail, state, theme),
    }
    if notice_rows > 0 {
        status::draw_notice(frame, notice, state, theme);
    }
    if show_filter {
        status::draw_filter(frame, filter, state, theme);
    }
    status::draw_status(frame, status_bar, state, theme);
    if state.dialog.is_some() {
        dialog::draw(frame, area, state, theme);
    }
    if state.help {
        help::draw(frame, area, state, theme);
    }
}

/// Overview and detail areas: side by side on very wide screens, stacked
/// otherwise, with the overview no taller than its rows need.
fn split_body(body: Rect, state: &State) -> (Rect, Rect) {
    if body.width >= SIDE_BY_SIDE {
        let [o, d] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Fill(1)]).areas(body);
        return (o, d);
    }
    let rows = state.visible().len().max(1) as u16 + 3;
    let share = if state.focus == Focus::Detail { 35 } else { 50 };
    let cap = (body.height * share / 100).max(6);
    let [o, d] =
        Layout::vertical([Constraint::Length(rows.min(cap)), Constraint::Fill(1)]).areas(body);
    (o, d)
}

/// Icon and style for a rollout state.
pub fn rollout_icon<'a>(rollout: &Rollout, theme: &Theme) -> (&'a str, Style) {
    match rollout {
        Rollout::Complete => ("✓", theme.ok),
        Rollout::Progressing(_) => ("⟳", theme.running),
        Rollout::Failed(_) => ("✗", theme.error),
    }
}

/// Short word for a rollout state.
pub fn rollout_word(rollout: &Rollout) -> &'static str {
    match rollout {
        Rollout::Complete => "complete",
        Rollout::Progressing(_) => "rolling out",
        Rollout::Failed(_) => "failed",
    }
}

/// The one-word state of an observation that has no workload.
pub fn observation_word<'a>(obs: &EnvObservation, theme: &Theme) -> Option<Span<'a>> {
    match obs {
        EnvObservation::Unknown => Some(Span::styled("unknown", theme.muted)),
        EnvObservation::Missing { .. } => Some(Span::styled("missing", theme.warn)),
        EnvObservation::Error(p) => Some(Span::styled(p.kind.word(), theme.error)),
        EnvObservation::Live(_) | EnvObservation::Reported { .. } => None,
    }
}

/// Icon and style for a GitHub status/conclusion pair.
pub fn ci_icon(status: &str, conclusion: Option<&str>, theme: &Theme) -> (&'static str, Style) {
    match (status, conclusion) {
        ("completed", Some(c)) if crate::model::ci::is_good(c) => {
            if c == "success" {
                ("✓", theme.ok)
            } else {
                ("-", theme.muted)
            }
        }
        ("completed", _) => ("✗", theme.error),
        ("in_progress", _) => ("●", theme.running),
        // Waiting on an environment's reviewers (or its wait timer).
        ("waiting", _) => ("◷", theme.warn),
        _ => ("○", theme.muted),
    }
}

/// `HH:MM:SS` (UTC) of an RFC 3339 timestamp.
pub fn clock_of(ts: Option<&str>) -> Option<String> {
    let secs = crate::model::ci::parse_time(ts)?;
    clock_of_unix(secs)
}

/// `HH:MM:SS` (UTC) of unix seconds.
pub fn clock_of_unix(secs: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%H:%M:%S").to_string())
}

/// `HH:MM` (UTC) of unix seconds: the title's clock, which a frame every
/// ten seconds keeps (see [`crate::app::State::counts_seconds`]).
pub fn minute_of_unix(secs: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%H:%M").to_string())
}

/// A line cut to `width` columns, its last visible character `…` when cut.
pub fn truncate_line(line: Line<'_>, width: usize) -> Line<'_> {
    if line.width() <= width {
        return line;
    }
    let mut left = width;
    let mut spans = Vec::new();
    for span in line.spans {
        if left == 0 {
            break;
        }
        let n = span.content.chars().count();
        if n < left {
            left -= n;
            spans.push(span);
        } else {
            let cut = truncate(&span.content, left);
            spans.push(Span::styled(cut, span.style));
            left = 0;
        }
    }
    // Exactly full: the last character must still say the text goes on.
    if let Some(last) = spans.last_mut() {
        if !last.content.ends_with('…') {
            let mut t: String = last.content.chars().collect();
            t.pop();
            t.push('…');
            last.content = t.into();
        }
    }
    Line::from(spans).style(line.style)
}

// Cutting text to a width lives with the other text rules, so that the
// operations layer can use it without importing the UI.
pub use crate::model::text::{truncate, truncate_start};
