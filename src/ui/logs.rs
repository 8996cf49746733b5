//! The log panel: the tail of every pod of a service, newest at the
//! bottom, each line prefixed by its pod in the pod's own colour, with
//! pause, scroll and search. Only the lines on screen are built, so a full
//! ring buffer costs what a screenful does. Pure.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::app::activity::LogView;
use crate::app::{Focus, State};

/// The colours pods cycle through.
const POD_COLORS: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Blue,
    Color::LightRed,
];

fn pod_style(view: &LogView, pod: &str, theme: &Theme) -> Style {
    if theme.no_color {
        return Style::default().add_modifier(Modifier::BOLD);
    }
    let i = view
        .pods
        .iter()
        .position(|p| p == pod)
        .unwrap_or_else(|| pod.bytes().map(usize::from).sum::<usize>());
    Style::default().fg(POD_COLORS[i % POD_COLORS.len()])
}

/// Draw the log panel into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, view: &LogView, theme: &Theme) {
    let focused = state.focus == Focus::Detail && !state.help;
    let mode = if view.paused {
        "paused"
    } else if view.scroll > 0 {
        "scrolled"
    } else {
        "following"
    };
    let container = view
        .container
        .as_deref()
        .map(|c| format!(" -c {c}"))
        .unwrap_or_default();
    let search = if view.searching || !view.search.is_empty() {
        format!(
            " · /{}{}",
            view.search,
            if view.searching { "▏" } else { "" }
        )
    } else {
        String::new()
    };
    let title = format!(
        " logs {} {}{container} · {} pods · {} lines · {mode}{search} ",
        view.service,
        view.env,
        view.pods.len(),
        view.lines.len()
    );
    let block = Block::bordered()
        .title(Span::styled(title, theme.header))
        .title_bottom(Span::styled(
            " Esc close · Space pause · ↑/↓ PgUp/PgDn scroll · G follow · / search · n next ",
            theme.muted,
        ))
        .border_style(if focused {
            theme.border_focused
        } else {
            theme.border
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = inner.height as usize;
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    if let Some(p) = &view.problem {
        lines.push(Line::from(Span::styled(format!("✗ {p}"), theme.error)));
    }
    let room = rows.saturating_sub(lines.len());
    let end = view
        .lines
        .len()
        .saturating_sub(view.scroll.min(view.lines.len()));
    let start = end.saturating_sub(room);
    let needle = view.search.to_lowercase();
    let width = inner.width as usize;
    for l in view.lines.range(start..end) {
        let hit = !needle.is_empty() && l.text.to_lowercase().contains(&needle);
        let text_style = if hit { theme.selected } else { theme.base };
        let prefix = format!("{} │ ", l.pod);
        let room = width.saturating_sub(prefix.chars().count());
        lines.push(Line::from(vec![
            Span::styled(prefix, pod_style(view, &l.pod, theme)),
            Span::styled(super::truncate(&l.text, room), text_style),
        ]));
    }
    if view.lines.is_empty() && view.problem.is_none() {
        lines.push(Line::from(Span::styled(
            "waiting for log lines…",
            theme.muted,
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
