//! The one-line bars: the title bar (registry, service count, clock), the
//! filter bar, and the status bar (kube context, mode, each source's
//! connection state, the GitHub rate limit when known).

use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{clock_of_unix, Theme};
use crate::app::{SourceId, State};
use crate::model::{ProblemKind, SourceStatus};

/// `path` as given, or its last components behind `…/` when longer than
/// `max` characters (the file name is always whole).
pub fn path_label(path: &std::path::Path, max: usize) -> String {
    let full = path.to_string_lossy().into_owned();
    if full.chars().count() <= max {
        return full;
    }
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let mut label = parts.last().cloned().unwrap_or_default();
    for part in parts.iter().rev().skip(1) {
        let longer = format!("{part}/{label}");
        if longer.chars().count() + 2 > max {
            break;
        }
        label = longer;
    }
    format!("…/{label}")
}

/// The title bar.
pub fn draw_title(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    // Which registry: its path, so that a `HEARTH_SERVICES` exported by a
    // sandbox's env file never silently stands in for ./services.yaml.
    let file = path_label(
        &state.registry.path,
        (area.width as usize).saturating_sub(40).max(24),
    );
    let mut spans = vec![
        Span::styled(" hearth ", theme.title),
        Span::styled(
            format!(" {file} · {} services", state.services.len()),
            theme.muted,
        ),
    ];
    let clock = state
        .now
        .and_then(super::minute_of_unix)
        .map(|c| format!("{c} UTC "))
        .unwrap_or_default();
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let pad = (area.width as usize).saturating_sub(used + clock.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(clock, theme.muted));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The filter bar, with the cursor placed in it while editing.
pub fn draw_filter(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let matches = state.visible().len();
    let hint = if state.filter_editing {
        "  (Enter keeps, Esc clears)"
    } else {
        "  (/ edits, Esc clears)"
    };
    let prefix = " / ";
    let line = Line::from(vec![
        Span::styled(prefix, theme.key),
        Span::styled(state.filter.value().to_string(), theme.filter),
        Span::styled(format!("  {matches} match"), theme.muted),
        Span::styled(if matches == 1 { "" } else { "es" }, theme.muted),
        Span::styled(hint, theme.muted),
    ]);
    frame.render_widget(Paragraph::new(line), area);
    if state.filter_editing {
        let x = area.x + prefix.len() as u16 + state.filter.visual_cursor() as u16;
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
    }
}

/// How the status bar names a source.
pub fn source_label(id: &SourceId) -> String {
    match id {
        SourceId::Kube {
            context: None,
            namespace,
        } => format!("k8s {namespace}"),
        SourceId::Kube {
            context: Some(ctx),
            namespace,
        } => format!("k8s {ctx}/{namespace}"),
        SourceId::GitHub => "github".into(),
    }
}

fn status_word(status: &SourceStatus, theme: &Theme) -> (&'static str, String, Style) {
    let (word, message) = word_and_message(status);
    let style = match status {
        SourceStatus::Connecting => theme.running,
        SourceStatus::Live => theme.ok,
        SourceStatus::Degraded(_) => theme.warn,
        SourceStatus::Down(_) => theme.error,
        SourceStatus::Disabled(_) => theme.muted,
    };
    (word, message, style)
}

fn word_and_message(status: &SourceStatus) -> (&'static str, String) {
    match status {
        SourceStatus::Connecting => ("connecting", String::new()),
        SourceStatus::Live => ("live", String::new()),
        SourceStatus::Degraded(p) => ("degraded", p.to_string()),
        SourceStatus::Down(p) => ("down", p.to_string()),
        SourceStatus::Disabled(p) => ("off", p.to_string()),
    }
}

fn status_icon(status: &SourceStatus) -> &'static str {
    match status {
        SourceStatus::Connecting => "◌",
        SourceStatus::Live => "●",
        SourceStatus::Degraded(_) => "◐",
        SourceStatus::Down(_) => "✗",
        SourceStatus::Disabled(_) => "○",
    }
}

/// How much the status bar says about each source, most first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// State and message: `k8s qa down: forbidden ...`.
    Messages,
    /// State only: `k8s qa down`.
    Words,
    /// An icon per source: `qa✗`.
    Icons,
    /// Icons, and the rate limit only while it runs low: for a narrow
    /// terminal, where `? help` must still show.
    Bare,
}

/// A source problem the notice lines spell out: which sources, how bad, and
/// the source's own message (what happened and what to do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 0 = down, 1 = degraded (or no token), 2 = off: the order the lines
    /// are shown in and their colour.
    pub severity: u8,
    pub text: String,
    /// The part of `text` that says what to do (after ` — `): when the
    /// notice is short of room, the message before it is cut, not this.
    pub hint: Option<String>,
}

impl Problem {
    /// The text in at most `chars` characters: whole when it fits, else the
    /// message cut (`…`) so that the hint stays whole, else both cut.
    pub fn fitted(&self, chars: usize) -> String {
        if self.text.chars().count() <= chars {
            return self.text.clone();
        }
        let Some(hint) = &self.hint else {
            return super::truncate(&self.text, chars);
        };
        let tail = format!(" — {hint}");
        let head = self.text.strip_suffix(tail.as_str()).unwrap_or(&self.text);
        let room = chars.saturating_sub(tail.chars().count());
        // Keep at least the source and its state ("✗ k8s qa down: …").
        if room >= 24.min(head.chars().count()) {
            format!("{}{tail}", super::truncate(head, room))
        } else {
            super::truncate(&self.text, chars)
        }
    }
}

/// The problems of the sources, worst first. Sources with the same status
/// share one line (`k8s default, qa down: ...`), so an unreachable cluster
/// with many namespaces says it once. An exhausted rate limit is a problem
/// even before the GitHub source reports it.
pub fn problems(state: &State) -> Vec<Problem> {
    let mut grouped: Vec<(&SourceStatus, Vec<String>)> = Vec::new();
    for (id, status) in &state.sources {
        if matches!(status, SourceStatus::Connecting | SourceStatus::Live) {
            continue;
        }
        match grouped.iter_mut().find(|(s, _)| *s == status) {
            Some((_, ids)) => ids.push(short_label(id)),
            None => grouped.push((status, vec![source_label(id)])),
        }
    }
    let mut out: Vec<Problem> = grouped
        .into_iter()
        .map(|(status, ids)| {
            let (word, message) = word_and_message(status);
            let hint = match status {
                SourceStatus::Degraded(p) | SourceStatus::Down(p) | SourceStatus::Disabled(p)
                    if !p.hint.is_empty() =>
                {
                    Some(p.hint.clone())
                }
                _ => None,
            };
            // A missing token is the user's to fix, unlike a source turned off on purpose.
            let severity = match status {
                SourceStatus::Down(_) => 0,
                SourceStatus::Degraded(_) => 1,
                SourceStatus::Disabled(p) if p.kind == ProblemKind::NoToken => 1,
                _ => 2,
            };
            Problem {
                severity,
                text: format!(
                    "{} {} {word}: {message}",
                    status_icon(status),
                    ids.join(", ")
                ),
                hint,
            }
        })
        .collect();
    let github_impaired = matches!(
        state.sources.get(&SourceId::GitHub),
        Some(SourceStatus::Degraded(_) | SourceStatus::Down(_))
    );
    if let (Some(rl), false) = (&state.rate_limit, github_impaired) {
        if rl.remaining == 0 {
            let reset = clock_of_unix(rl.reset)
                .map(|c| format!("; resets at {c} UTC"))
                .unwrap_or_default();
            out.push(Problem {
                severity: 1,
                text: format!("◐ github rate limit exhausted (0/{}){reset}", rl.limit),
                hint: None,
            });
        }
    }
    if let Some((text, _)) = state.notice.as_ref().or(state.announcement.as_ref()) {
        out.push(Problem {
            severity: 1,
            text: format!("◐ {text}"),
            hint: None,
        });
    }
    for e in &state.history.interrupted {
        let tag = e
            .to_tag
            .as_deref()
            .map(|t| format!(" {t}"))
            .unwrap_or_default();
        let env = e
            .env
            .as_deref()
            .map(|e| format!(" → {e}"))
            .unwrap_or_default();
        let recovery = e
            .recovery
            .as_deref()
            .map(|r| format!(" — to recover: {r}"))
            .unwrap_or_default();
        out.push(Problem {
            severity: 1,
            text: format!(
                "◐ interrupted {} {}{tag}{env} ({}){recovery}",
                e.op,
                e.service,
                e.time.replace('T', " ").trim_end_matches('Z')
            ),
            hint: e.recovery.as_deref().map(|r| format!("to recover: {r}")),
        });
    }
    out.sort_by_key(|p| p.severity);
    out
}

/// The namespace part of a further source in a shared problem line.
fn short_label(id: &SourceId) -> String {
    match id {
        SourceId::Kube { namespace, .. } => namespace.clone(),
        SourceId::GitHub => "github".into(),
    }
}

/// How many rows the notice needs for the source problems at this width,
/// at most `max` (0 when every source is fine).
pub fn notice_height(state: &State, width: u16, max: u16) -> u16 {
    let width = width.max(1) as usize;
    let rows: usize = problems(state)
        .iter()
        .map(|p| (p.text.chars().count() + 1).div_ceil(width))
        .sum();
    (rows as u16).min(max)
}

/// The notice: one wrapped line per source problem, worst first, in the
/// problem's colour, so that a missing token or an unreachable cluster is
/// spelled out (with what to do) even on an 80-column screen.
pub fn draw_notice(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let width = area.width.max(1) as usize;
    let problems = problems(state);
    let mut rows_left = area.height as usize;
    let mut lines: Vec<Line> = Vec::new();
    for (i, p) in problems.iter().enumerate() {
        if rows_left == 0 {
            break;
        }
        // Each problem after this one keeps at least a row; this one gets
        // the rest, and its message gives way to its hint when short.
        let later = (problems.len() - i - 1).min(rows_left - 1);
        let rows = rows_left - later;
        let mut chars = rows * width;
        let wrapped = loop {
            let wrapped = word_wrap(&format!(" {}", p.fitted(chars.saturating_sub(1))), width);
            if wrapped.len() <= rows || chars <= width {
                break wrapped;
            }
            chars -= 2;
        };
        let style = match p.severity {
            0 => theme.error,
            1 => theme.warn,
            _ => theme.muted,
        };
        for row in wrapped.into_iter().take(rows) {
            rows_left -= 1;
            lines.push(Line::from(Span::styled(row, style)));
        }
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// `text` in rows of at most `width` characters, broken at spaces (a word
/// longer than a row is broken inside), as a reader expects prose wrapped.
fn word_wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows: Vec<String> = Vec::new();
    // The row being filled: its text, its length in characters, and
    // whether a word has been put in it (an empty first word is the
    // text's leading space).
    let (mut row, mut len, mut started) = (String::new(), 0, false);
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let gap = usize::from(started);
        if len + gap + word.len() <= width {
            if started {
                row.push(' ');
            }
            row.extend(word.iter());
            len += gap + word.len();
            started = true;
            continue;
        }
        if started {
            rows.push(std::mem::take(&mut row));
        }
        while word.len() > width {
            rows.push(word.drain(..width).collect());
        }
        len = word.len();
        row = word.into_iter().collect();
        started = true;
    }
    if started || rows.is_empty() {
        rows.push(row);
    }
    rows
}

/// The status bar; the most detailed wording that fits is used. Source
/// messages are left to the notice when it shows them.
pub fn draw_status(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut spans = Vec::new();
    let levels: &[Detail] = if problems(state).is_empty() {
        &[Detail::Messages, Detail::Words, Detail::Icons, Detail::Bare]
    } else {
        &[Detail::Words, Detail::Icons, Detail::Bare]
    };
    for &detail in levels {
        spans = status_spans(state, theme, detail);
        let width: usize = spans.iter().map(|s| s.width()).sum();
        if width <= area.width as usize {
            break;
        }
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.status_bar),
        area,
    );
}

fn status_spans<'a>(state: &'a State, theme: &Theme, detail: Detail) -> Vec<Span<'a>> {
    let sep = || Span::styled(" │ ", theme.muted);
    let ctx = state.kube_context.as_deref().unwrap_or("no kube context");
    let mut spans = vec![
        Span::raw(" ctx "),
        Span::styled(ctx, theme.header),
        sep(),
        Span::raw(state.mode.label()),
    ];
    if state.autopilot {
        spans.push(Span::styled(" · autopilot on", theme.running));
    }
    spans.push(sep());
    if state.sources.is_empty() {
        spans.push(Span::styled("sources: not configured", theme.muted));
    }
    for (i, (id, status)) in state.sources.iter().enumerate() {
        let (word, message, style) = status_word(status, theme);
        if matches!(detail, Detail::Icons | Detail::Bare) {
            let short = match id {
                SourceId::Kube { namespace, .. } => namespace.as_str(),
                SourceId::GitHub => "gh",
            };
            if i > 0 {
                spans.push(Span::raw(" "));
            }
            spans.push(Span::raw(short));
            spans.push(Span::styled(status_icon(status), style));
            continue;
        }
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::raw(format!("{} ", source_label(id))));
        if detail == Detail::Messages && !message.is_empty() {
            spans.push(Span::styled(format!("{word}: {message}"), style));
        } else {
            spans.push(Span::styled(word, style));
        }
    }
    let running = state.ops.running();
    if running > 0 {
        spans.push(sep());
        spans.push(Span::styled(format!("{running} op running"), theme.running));
    }
    let plenty = |rl: &&crate::model::RateLimit| rl.remaining * 10 >= rl.limit;
    if let Some(rl) = state
        .rate_limit
        .as_ref()
        .filter(|rl| detail != Detail::Bare || !plenty(rl))
    {
        spans.push(sep());
        let style = if rl.remaining == 0 {
            theme.error
        } else if rl.remaining * 10 < rl.limit {
            theme.warn
        } else {
            Style::default()
        };
        spans.push(Span::styled(
            format!("rate {}/{}", rl.remaining, rl.limit),
            style,
        ));
        if let (Some(now), false) = (state.now, matches!(detail, Detail::Icons | Detail::Bare)) {
            let mins = ((rl.reset - now).max(0) + 59) / 60;
            spans.push(Span::styled(format!(" resets {mins}m"), theme.muted));
        }
    }
    spans.push(sep());
    spans.push(Span::styled("? help", theme.key));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_notice_cuts_the_message_and_keeps_the_hint() {
        let p = super::Problem {
            severity: 0,
            text: "✗ k8s qa down: forbidden: deployments.apps is forbidden: User \"dev\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"qa\" — ask for get/list/watch on deployments in \"qa\"".into(),
            hint: Some("ask for get/list/watch on deployments in \"qa\"".into()),
        };
        let fitted = p.fitted(100);
        assert_eq!(fitted.chars().count(), 100, "{fitted}");
        assert!(fitted.starts_with("✗ k8s qa down: forbidden"), "{fitted}");
        assert!(
            fitted.ends_with("… — ask for get/list/watch on deployments in \"qa\""),
            "{fitted}"
        );
        // Whole when it fits; cut at the end when even the hint cannot fit.
        assert_eq!(p.fitted(500), p.text);
        assert!(p.fitted(30).starts_with("✗ k8s qa down: forbidden"));
        assert_eq!(p.fitted(30).chars().count(), 30);
    }

    #[test]
    fn notice_rows_wrap_at_words_and_keep_the_leading_space() {
        assert_eq!(
            word_wrap(" one two three four", 9),
            vec![" one two", "three", "four"]
        );
        assert_eq!(word_wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        for row in word_wrap(" a long line of prose that must wrap somewhere", 12) {
            assert!(row.chars().count() <= 12, "{row:?}");
        }
    }
    use crate::model::{Problem, RateLimit};
    use crate::registry::{Registry, Settings};
    use std::sync::Arc;

    #[test]
    fn the_registry_path_is_shown_shortened_from_the_left() {
        use std::path::Path;
        assert_eq!(path_label(Path::new("services.yaml"), 24), "services.yaml");
        assert_eq!(
            path_label(Path::new("/tmp/hearth-sb.Ab12/services.yaml"), 40),
            "/tmp/hearth-sb.Ab12/services.yaml"
        );
        assert_eq!(
            path_label(Path::new("/home/dev/src/platform/deploy/services.yaml"), 32),
            "…/platform/deploy/services.yaml"
        );
        assert_eq!(
            path_label(Path::new("/a/very-long-directory-name/services.yaml"), 16),
            "…/services.yaml"
        );
    }

    fn state() -> State {
        let registry = Registry {
            path: "services.yaml".into(),
            settings: Settings::default(),
            services: Vec::new(),
        };
        State::new(Arc::new(registry), crate::app::Mode::INTERACTIVE)
    }

    fn kube(ns: &str) -> SourceId {
        SourceId::Kube {
            context: None,
            namespace: ns.into(),
        }
    }

    #[test]
    fn problems_group_equal_statuses_worst_first() {
        let mut s = state();
        assert!(problems(&s).is_empty());
        s.sources.insert(
            SourceId::GitHub,
            SourceStatus::Disabled(Problem::new(
                ProblemKind::NoToken,
                "no token: set GH_TOKEN",
                "",
            )),
        );
        s.sources.insert(
            kube("default"),
            SourceStatus::Down(Problem::new(ProblemKind::Unreachable, "unreachable", "")),
        );
        s.sources.insert(
            kube("qa"),
            SourceStatus::Down(Problem::new(ProblemKind::Unreachable, "unreachable", "")),
        );
        s.sources.insert(kube("web"), SourceStatus::Live);
        let texts: Vec<String> = problems(&s).into_iter().map(|p| p.text).collect();
        assert_eq!(
            texts,
            vec![
                "✗ k8s default, qa down: unreachable",
                "○ github off: no token: set GH_TOKEN",
            ]
        );
        assert_eq!(notice_height(&s, 80, 2), 2);
        assert_eq!(notice_height(&s, 80, 1), 1);
        assert_eq!(notice_height(&s, 20, 9), 4);
    }

    #[test]
    fn exhausted_budget_is_a_problem_until_the_source_says_so() {
        let mut s = state();
        s.rate_limit = Some(RateLimit {
            limit: 5000,
            remaining: 0,
            used: 5000,
            reset: 1_772_361_150,
        });
        let p = problems(&s);
        assert_eq!(p.len(), 1);
        assert_eq!(
            p[0].text,
            "◐ github rate limit exhausted (0/5000); resets at 10:32:30 UTC"
        );
        s.sources.insert(
            SourceId::GitHub,
            SourceStatus::Degraded(Problem::new(
                ProblemKind::RateLimited,
                "GitHub rate limit exhausted",
                "",
            )),
        );
        assert_eq!(problems(&s).len(), 1, "said once, by the source");
    }
}
