//! The detail pane's operation sections: the progress panel of the selected
//! service's operation (each step's state and elapsed time, the command log
//! of every mutating request with its result, the latest output lines, the
//! outcome with what was left and how to recover), and the history of the
//! service's operations from the audit journal.

use super::*;
use crate::app::activity::{OpView, KEEP_FINISHED_SECS};
use crate::model::{StepState, System};

/// Output lines the panel shows.
const LINES_SHOWN: usize = 8;

/// The operation the panel shows for a service: a running one, or one that
/// finished in the last few minutes.
pub(super) fn shown_op<'s>(state: &'s State, service: &str) -> Option<&'s OpView> {
    let op = state.ops.latest_for(service)?;
    let recent = match (op.steps.iter().filter_map(|s| s.ended).max(), state.now) {
        (Some(end), Some(now)) => now - end < KEEP_FINISHED_SECS,
        _ => true,
    };
    (op.running() || recent).then_some(op)
}

fn step_icon<'a>(state: StepState, theme: &Theme) -> Span<'a> {
    match state {
        StepState::Running => Span::styled("● ", theme.running),
        StepState::Done => Span::styled("✓ ", theme.ok),
        StepState::Failed => Span::styled("✗ ", theme.error),
        StepState::Skipped => Span::styled("- ", theme.muted),
    }
}

fn secs(start: Option<i64>, end: Option<i64>, now: Option<i64>, running: bool) -> String {
    match (start, end.or(now)) {
        (Some(s), Some(e)) => {
            let d = format_duration(e - s);
            if running {
                format!("  {d}…")
            } else {
                format!("  {d}")
            }
        }
        _ => String::new(),
    }
}

/// The progress panel of `op`.
pub(super) fn op_lines<'a>(state: &State, op: &OpView, theme: &Theme) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(vec![
        label(&format!("Operation  {}", op.title()), theme),
        Span::styled(if op.running() { "  running" } else { "" }, theme.running),
    ])];
    // The outcome comes first: on a small screen the result and how to
    // recover are what must show; the steps and the command log follow.
    if let Some(o) = &op.outcome {
        let (icon, style) = if o.ok {
            ("✓", theme.ok)
        } else {
            ("✗", theme.error)
        };
        lines.push(Line::from(Span::styled(
            format!("  {icon} {}", o.summary),
            style,
        )));
        if let Some(l) = o.left.as_ref().filter(|_| !o.ok) {
            lines.push(Line::from(Span::styled(
                format!("    left: {l}"),
                theme.warn,
            )));
        }
        if let Some(r) = &o.recovery {
            lines.push(Line::from(Span::styled(
                format!("    to recover: {r}"),
                theme.key,
            )));
        }
    }
    for s in &op.steps {
        let mut spans = vec![Span::raw("  "), step_icon(s.state, theme)];
        spans.push(Span::raw(s.name.clone()));
        // A one-word detail of a finished step is its duration as CI
        // measured it (a CI step's): more exact than the time hearth saw. A
        // detail that already ends with the step's time ("failure after
        // 30s") is not followed by it again.
        let time = secs(s.started, s.ended, state.now, s.state == StepState::Running);
        let timed = (s.state == StepState::Done
            && s.detail.as_deref().is_some_and(|d| !d.contains(' ')))
            || (!time.is_empty()
                && s.detail
                    .as_deref()
                    .is_some_and(|d| d.ends_with(time.trim_start())));
        if let Some(d) = &s.detail {
            let style = if s.state == StepState::Failed {
                theme.error
            } else {
                theme.muted
            };
            spans.push(Span::styled(format!("  {d}"), style));
        }
        if !timed {
            spans.push(Span::styled(time, theme.muted));
        }
        lines.push(Line::from(spans));
    }
    if !op.mutations.is_empty() {
        lines.push(Line::from(label("  Command log", theme)));
        for m in &op.mutations {
            let who = match m.system {
                System::Git => "git",
                System::GitHub => "github",
                System::Kubernetes => "k8s",
                System::Local => "local",
            };
            let (icon, style) = if m.ok {
                ("✓", theme.ok)
            } else {
                ("✗", theme.error)
            };
            lines.push(Line::from(vec![
                Span::styled(format!("    {icon} "), style),
                Span::styled(format!("[{who}] "), theme.muted),
                Span::raw(m.request.clone()),
                Span::styled(
                    m.result
                        .as_deref()
                        .map(|r| format!("  → {r}"))
                        .unwrap_or_default(),
                    if m.ok { theme.muted } else { theme.error },
                ),
            ]));
        }
    }
    let from = op.lines.len().saturating_sub(LINES_SHOWN);
    if from < op.lines.len() {
        lines.push(Line::from(label("  Output", theme)));
        for l in op.lines.iter().skip(from) {
            lines.push(Line::from(Span::styled(format!("    {l}"), theme.muted)));
        }
    }
    lines
}

/// The service's newest journal entries (failed and interrupted ones with
/// their recovery command).
pub(super) fn history_lines<'a>(state: &State, service: &Service, theme: &Theme) -> Vec<Line<'a>> {
    let entries = state.history.of(&service.name, 4);
    if entries.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![Line::default(), Line::from(label("History", theme))];
    for e in entries {
        let when = e.time.get(5..16).unwrap_or(&e.time).replace('T', " ");
        let change = match (&e.from_tag, &e.to_tag) {
            (Some(f), Some(t)) => format!("{f} → {t}"),
            (None, Some(t)) => format!("→ {t}"),
            _ => String::new(),
        };
        let style = match e.result.as_str() {
            "ok" => theme.ok,
            "interrupted" => theme.warn,
            _ => theme.error,
        };
        let mut spans = vec![
            Span::styled(format!("  {when}  "), theme.muted),
            Span::raw(format!(
                "{} {}  {change}  ",
                e.op,
                e.env.as_deref().unwrap_or("")
            )),
            Span::styled(e.result.clone(), style),
        ];
        if let Some(by) = &e.by {
            spans.push(Span::styled(format!("  by {by}"), theme.muted));
        }
        lines.push(Line::from(spans));
        if e.result != "ok" {
            if let Some(r) = &e.recovery {
                lines.push(Line::from(Span::styled(
                    format!("    to recover: {r}"),
                    theme.key,
                )));
            }
        }
    }
    lines
}
