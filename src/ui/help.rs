//! The `?` help overlay, generated from the current mode's keymap so that it
//! lists exactly the bindings that work.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::app::keymap;
use crate::app::State;

/// Draw the overlay centred on `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let label = |keys: &[keymap::Key]| keys.iter().map(|k| k.label()).collect::<Vec<_>>().join(" ");
    let bindings: Vec<(String, &str)> = keymap::navigation(state.logs_enabled)
        .map(|b| (label(b.keys), b.description))
        .chain(
            keymap::operations(state.mode.access)
                .iter()
                .map(|b| (label(b.keys), b.description)),
        )
        .collect();
    let keys: Vec<&String> = bindings.iter().map(|(k, _)| k).collect();
    let key_width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0) + 2;
    let mut lines: Vec<Line> = bindings
        .iter()
        .map(|(k, description)| {
            Line::from(vec![
                Span::styled(format!(" {k:<key_width$}"), theme.key),
                Span::raw(*description),
            ])
        })
        .collect();
    // The legend of the state symbols the overview and the detail use.
    let mut legend = vec![Span::raw(" ")];
    for (symbol, style, meaning) in [
        ("✓", theme.ok, "complete"),
        ("⟳", theme.running, "rolling"),
        ("✗", theme.error, "failed/stuck"),
        ("≠", theme.warn, "drift"),
        ("⇡", theme.running, "deploying"),
        ("⊘", theme.muted, "not shippable"),
    ] {
        if legend.len() > 1 {
            legend.push(Span::raw("  "));
        }
        legend.push(Span::styled(symbol, style));
        legend.push(Span::raw(format!(" {meaning}")));
    }
    lines.push(Line::from(legend));
    if let Some(text) = state.schedule.as_ref().map(schedule_line) {
        lines.push(Line::from(Span::styled(text, theme.muted)));
    }
    lines.push(Line::from(Span::styled(
        " Esc or ? closes this help",
        theme.muted,
    )));
    let width = lines.iter().map(|l| l.width()).max().unwrap_or(20) as u16 + 4;
    let height = lines.len() as u16 + 2;
    let popup = area.centered(
        Constraint::Length(width.min(area.width)),
        Constraint::Length(height.min(area.height)),
    );
    let block = Block::bordered()
        .title(Span::styled(
            format!(" help: {} mode ", state.mode.label()),
            theme.title,
        ))
        .border_style(theme.border_focused)
        .style(theme.popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

/// What the GitHub scheduler spends and how old the data on screen is.
fn schedule_line(v: &crate::github::ScheduleView) -> String {
    let mut text = format!(
        " GitHub: {} requests in the last minute (budget {}/min)",
        v.per_minute, v.budget_per_minute
    );
    if let Some(age) = v.oldest_shown_secs {
        text.push_str(&format!(", oldest data on screen {age} s"));
    }
    if v.waiting_first > 0 {
        text.push_str(&format!(", {} services not read yet", v.waiting_first));
    }
    if v.saving {
        text.push_str(", rate limit nearly spent: reading only what is on screen");
    }
    text
}
