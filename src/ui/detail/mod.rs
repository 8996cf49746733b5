//! The detail pane for the selected service: per environment the tag, init
//! tag, replicas, rollout message, stuck reason and pods; the releases; and
//! the CI run's jobs and steps with the stream of transitions, like
//! `gh run watch`. Two columns when there is room.
//!
//! `env` draws the environments, `ci` the run and its step stream,
//! `releases` the release list; this module lays them out.

mod ci;
mod env;
mod op;
mod releases;

use ci::ci_lines;
use env::env_lines;
use op::{history_lines, op_lines, shown_op};
use releases::release_lines;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::overview::{is_rate_limit, registry_accent, release_accent};
use super::wrap::hang_wrap;
use super::{ci_icon, clock_of, rollout_icon, rollout_word, Theme};
use crate::app::{Drift, Focus, ServiceState, SourceId, State};
use crate::model::ci::{duration_between, format_duration, parse_time, CiTransition};
use crate::model::{EnvObservation, Rollout, SourceStatus, Workload};
use crate::registry::{ReleaseKind, Service};

/// Width from which the CI section gets its own column.
const TWO_COLUMNS: u16 = 100;
/// How many releases and stream lines the pane lists.
pub(super) const RELEASES_SHOWN: usize = 6;
pub(super) const STREAM_SHOWN: usize = 12;

/// Draw the detail pane into `area`.
/// Returns how far the pane can scroll before its last line is at the bottom.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) -> u16 {
    let focused = state.focus == Focus::Detail && !state.help;
    let Some(i) = state.selected_service() else {
        let block = Block::bordered()
            .title(Span::styled(" detail ", theme.header))
            .border_style(theme.border);
        let text = Paragraph::new(Span::styled("no service selected", theme.muted)).block(block);
        frame.render_widget(text, area);
        return 0;
    };
    let service = &state.registry.services[i];
    let svc = &state.services[i];
    let block = Block::bordered()
        .title(Span::styled(format!(" {} ", service.name), theme.header))
        .border_style(if focused {
            theme.border_focused
        } else {
            theme.border
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let two_columns = inner.width >= TWO_COLUMNS;
    // The left column's width, so that long messages wrap with an indent.
    let [l, r] = Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(inner);
    let left_width = if two_columns { l.width } else { inner.width };
    let mut left = header_lines(service, theme);
    left.extend(env_lines(state, i, left_width as usize, theme));
    left.extend(release_lines(state, service, svc, theme));
    left.extend(history_lines(state, service, theme));
    // A running (or just finished) operation takes the CI section's place:
    // its steps include the CI run's.
    let op = shown_op(state, &service.name);
    let ci = match op {
        Some(op) => op_lines(state, op, theme),
        None => ci_lines(state, service, svc, theme),
    };
    let height = inner.height as usize;
    let max = |n: usize| n.saturating_sub(height).min(u16::MAX as usize) as u16;
    if two_columns {
        let r = Rect {
            x: r.x + 1,
            width: r.width.saturating_sub(1),
            ..r
        };
        let left = hang_wrap(left, l.width as usize);
        let right = hang_wrap(ci, r.width as usize);
        let most = max(left.len().max(right.len()));
        let scroll = (state.detail_scroll.min(most), 0);
        frame.render_widget(Paragraph::new(left).scroll(scroll), l);
        frame.render_widget(Paragraph::new(right).scroll(scroll), r);
        most
    } else {
        // One column: an operation is what the user watches, so it comes
        // first; the CI section otherwise follows the environments.
        let left = if op.is_some() {
            let mut lines = ci;
            lines.push(Line::default());
            lines.extend(left);
            lines
        } else {
            left.push(Line::default());
            left.extend(ci);
            left
        };
        let lines = hang_wrap(left, inner.width as usize);
        let most = max(lines.len());
        let scroll = (state.detail_scroll.min(most), 0);
        frame.render_widget(Paragraph::new(lines).scroll(scroll), inner);
        most
    }
}

pub(super) fn label<'a>(text: &str, theme: &Theme) -> Span<'a> {
    Span::styled(text.to_string(), theme.header)
}

fn header_lines<'a>(service: &Service, theme: &Theme) -> Vec<Line<'a>> {
    let mut first = vec![Span::styled(
        service.image.clone().unwrap_or_else(|| "no image".into()),
        theme.muted,
    )];
    if let Some(repo) = &service.repo {
        first.push(Span::styled(format!("  repo {repo}"), theme.muted));
    }
    first.push(Span::styled(
        match service.runs_workflow() {
            Some(w) => format!("  workflow {w}"),
            // The environments' own workflows: the model says which.
            None => format!("  delivery {}", service.delivery.word()),
        },
        theme.muted,
    ));
    let mut lines = vec![Line::from(first)];
    if !service.shippable {
        let why = service
            .shippable_reason
            .as_deref()
            .unwrap_or("marked shippable: false");
        lines.push(Line::from(vec![
            Span::styled("not shippable: ", theme.warn),
            Span::raw(why.to_string()),
        ]));
    }
    lines
}

/// `prefix` then `text` word-wrapped to `width`, continuation lines
/// indented by two more columns than the prefix's indent, so that a long
/// message reads as one block under its environment.
pub(super) fn indented<'a>(
    prefix: &str,
    text: &str,
    prefix_style: Style,
    style: Style,
    width: usize,
) -> Vec<Line<'a>> {
    let prefix_width = prefix.chars().count();
    let hang = prefix.chars().take_while(|c| *c == ' ').count() + 2;
    let mut lines: Vec<Line> = Vec::new();
    let mut current = String::new();
    let mut room = width.saturating_sub(prefix_width).max(10);
    let flush = |current: &mut String, lines: &mut Vec<Line<'a>>| {
        let body = Span::styled(std::mem::take(current), style);
        if lines.is_empty() {
            lines.push(Line::from(vec![
                Span::styled(prefix.to_string(), prefix_style),
                body,
            ]));
        } else {
            lines.push(Line::from(vec![Span::raw(" ".repeat(hang)), body]));
        }
    };
    for word in text.split_whitespace() {
        let mut word: String = word.to_string();
        loop {
            let used = current.chars().count();
            let need = word.chars().count() + usize::from(used > 0);
            if used + need <= room {
                if used > 0 {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if used > 0 {
                flush(&mut current, &mut lines);
                room = width.saturating_sub(hang).max(10);
                continue;
            }
            // A word longer than a whole line: cut it.
            let head: String = word.chars().take(room).collect();
            word = word.chars().skip(room).collect();
            current = head;
            flush(&mut current, &mut lines);
            room = width.saturating_sub(hang).max(10);
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        flush(&mut current, &mut lines);
    }
    lines
}

/// The status of the kube source watching a namespace (a source without a
/// context matches any, since `--context` may have filled it in).
pub(super) fn kube_source<'a>(
    state: &'a State,
    context: Option<&str>,
    namespace: &str,
) -> Option<&'a SourceStatus> {
    state.sources.iter().find_map(|(id, status)| match id {
        SourceId::Kube {
            context: c,
            namespace: n,
        } if n == namespace && (c.as_deref() == context || c.is_none() || context.is_none()) => {
            Some(status)
        }
        _ => None,
    })
}

/// Why there is no GitHub data, in words.
pub(super) fn github_problem(state: &State) -> String {
    match state.sources.get(&SourceId::GitHub) {
        Some(status) => source_problem(status),
        None => "no GitHub data yet".into(),
    }
}

/// Why a source has no data yet, in words.
pub(super) fn source_problem(status: &SourceStatus) -> String {
    match status {
        SourceStatus::Connecting => "connecting…".into(),
        SourceStatus::Live => "no data yet".into(),
        SourceStatus::Degraded(m) => format!("source degraded: {m}"),
        SourceStatus::Down(m) => format!("source down: {m}"),
        SourceStatus::Disabled(m) => format!("source off: {m}"),
    }
}

/// `  12s` for a finished step, `  12s…` for a running one (from the
/// injected clock), nothing when it has not started.
pub(super) fn elapsed(state: &State, start: Option<&str>, end: Option<&str>) -> String {
    if let Some(d) = duration_between(start, end) {
        return format!("  {}", format_duration(d));
    }
    match (parse_time(start), state.now) {
        (Some(s), Some(now)) if end.is_none() => format!("  {}…", format_duration(now - s)),
        _ => String::new(),
    }
}
