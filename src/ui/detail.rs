//! The detail pane for the selected service: per environment the tag, init
//! tag, replicas, rollout message, stuck reason and pods; the releases; and
//! the CI run's jobs and steps with the stream of transitions, like
//! `gh run watch`. Two columns when there is room.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::wrap::hang_wrap;
use ratatui::Frame;

use super::overview::{is_rate_limit, registry_accent, release_accent};
use super::{ci_icon, clock_of, rollout_icon, rollout_word, Theme};
use crate::app::{Drift, Focus, ServiceState, SourceId, State};
use crate::model::ci::{duration_between, format_duration, parse_time, CiTransition};
use crate::model::{EnvObservation, Rollout, SourceStatus, Workload};
use crate::registry::{ReleaseKind, Service};

/// Width from which the CI section gets its own column.
const TWO_COLUMNS: u16 = 100;
/// How many releases and stream lines the pane lists.
const RELEASES_SHOWN: usize = 6;
const STREAM_SHOWN: usize = 12;

/// Draw the detail pane into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let focused = state.focus == Focus::Detail && !state.help;
    let Some(i) = state.selected_service() else {
        let block = Block::bordered()
            .title(Span::styled(" detail ", theme.header))
            .border_style(theme.border);
        let text = Paragraph::new(Span::styled("no service selected", theme.muted)).block(block);
        frame.render_widget(text, area);
        return;
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
    let ci = ci_lines(state, service, svc, theme);
    let scroll = (state.detail_scroll, 0);
    if two_columns {
        let r = Rect {
            x: r.x + 1,
            width: r.width.saturating_sub(1),
            ..r
        };
        frame.render_widget(
            Paragraph::new(hang_wrap(left, l.width as usize)).scroll(scroll),
            l,
        );
        frame.render_widget(
            Paragraph::new(hang_wrap(ci, r.width as usize)).scroll(scroll),
            r,
        );
    } else {
        left.push(Line::default());
        left.extend(ci);
        frame.render_widget(
            Paragraph::new(hang_wrap(left, inner.width as usize)).scroll(scroll),
            inner,
        );
    }
}

fn label<'a>(text: &str, theme: &Theme) -> Span<'a> {
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
        format!("  workflow {}", service.workflow),
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

fn env_lines<'a>(state: &State, i: usize, width: usize, theme: &Theme) -> Vec<Line<'a>> {
    let service = &state.registry.services[i];
    let svc = &state.services[i];
    let mut lines = Vec::new();
    for env in &service.environments {
        let Some(e) = state.envs.iter().position(|n| *n == env.name) else {
            continue;
        };
        let accent = theme.accent(&env.name, registry_accent(state, &env.name));
        let place = match &env.context {
            Some(ctx) => format!("{ctx}/{}", env.namespace),
            None => env.namespace.clone(),
        };
        let mut head = vec![
            Span::styled(env.name.to_uppercase(), accent),
            Span::styled(format!(" ({place})  "), theme.muted),
        ];
        let mut extra = Vec::new();
        match &svc.envs[e] {
            EnvObservation::Unknown => {
                let why = kube_source(state, env.context.as_deref(), &env.namespace)
                    .map(|status| format!("unknown: {}", source_problem(status)))
                    .unwrap_or_else(|| "unknown: no data yet".into());
                head.push(Span::styled(why, theme.muted));
            }
            EnvObservation::Missing { hint } => {
                head.push(Span::styled("no deployment", theme.warn));
                extra.extend(indented("  → ", hint, theme.muted, theme.muted, width));
            }
            EnvObservation::Error(p) => {
                head.push(Span::styled(p.kind.word(), theme.error));
                extra.extend(indented(
                    "  ✗ ",
                    &p.message,
                    theme.error,
                    theme.error,
                    width,
                ));
                extra.extend(indented("  → ", &p.hint, theme.muted, theme.muted, width));
            }
            EnvObservation::Live(w) => {
                let (icon, style) = rollout_icon(&w.rollout, theme);
                head.push(Span::styled(
                    format!("{icon} {}  ", rollout_word(&w.rollout)),
                    style,
                ));
                head.push(Span::styled(
                    w.image_tag.clone().unwrap_or_else(|| "?".into()),
                    accent,
                ));
                let drift = state.drift(i, e);
                match &drift {
                    // The Deployment's tag is shown; say so when what serves
                    // (the old pods of a stuck rollout) is another one.
                    Drift::Matches { tag } if w.image_tag.as_deref() != Some(tag.as_str()) => head
                        .push(Span::styled(
                            format!(" (serving {tag}, matches release)"),
                            theme.muted,
                        )),
                    Drift::Matches { .. } => {
                        head.push(Span::styled(" (matches release)", theme.muted))
                    }
                    Drift::NoRelease => head.push(Span::styled(" (no release)", theme.muted)),
                    _ => {}
                }
                head.push(Span::raw(format!("  {}/{} ready", w.ready, w.desired)));
                // Why it is stuck comes first: it is what the user must act on.
                if let Some(reason) = &w.stuck_reason {
                    extra.extend(indented(
                        "  ✗ stuck: ",
                        reason,
                        theme.error.add_modifier(Modifier::BOLD),
                        theme.error,
                        width,
                    ));
                }
                if let Some(line) = drift_line(&drift, theme) {
                    extra.push(line);
                }
                match &w.rollout {
                    Rollout::Complete => {}
                    Rollout::Progressing(m) | Rollout::Failed(m) => {
                        extra.extend(indented("  ", m, style, style, width));
                    }
                }
                let mut facts = progress_spans(w, theme);
                if let Some(rev) = w.revision {
                    facts.push(Span::styled(format!("  rev {rev}"), theme.muted));
                }
                match (&w.init_image_tag, &w.image_tag) {
                    (Some(init), Some(tag)) if init != tag => facts.push(Span::styled(
                        format!("  init {init} ≠ image {tag}"),
                        theme.warn,
                    )),
                    (Some(init), _) => {
                        facts.push(Span::styled(format!("  init {init}"), theme.muted))
                    }
                    _ => {}
                }
                extra.push(Line::from(facts));
                extra.extend(pod_lines(w, accent, theme));
            }
        }
        lines.push(Line::from(head));
        lines.extend(extra);
    }
    lines
}

/// `prefix` then `text` word-wrapped to `width`, continuation lines
/// indented by two more columns than the prefix's indent, so that a long
/// message reads as one block under its environment.
fn indented<'a>(
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

/// `  ≠ running v0.3.0, released v0.3.1 → drift`, or `  ⇡ deploying ...`
/// while CI deploys the released tag; nothing otherwise (a match is said
/// on the environment's first line).
fn drift_line<'a>(drift: &Drift, theme: &Theme) -> Option<Line<'a>> {
    let (text, style) = match drift {
        Drift::Deploying {
            expected,
            run_number,
        } => (
            format!("  ⇡ deploying {expected} (run #{run_number})"),
            theme.running,
        ),
        Drift::Drift { running, expected } => (
            format!("  ≠ running {running}, released {expected} → drift"),
            theme.warn,
        ),
        _ => return None,
    };
    Some(Line::from(Span::styled(text, style)))
}

/// How many cells the replica bar has at most; one per replica below that.
const BAR_CELLS: i32 = 12;

/// `  ██▒░ 1/2 updated · 1 ready · 1 available`: the bar has a cell per
/// desired replica (scaled down past [`BAR_CELLS`]): `█` updated and
/// available, `▒` updated but not yet available, `░` still to do.
fn progress_spans<'a>(w: &Workload, theme: &Theme) -> Vec<Span<'a>> {
    let desired = w.desired.max(0);
    let cells = desired.clamp(1, BAR_CELLS);
    let scale = |n: i32| {
        if desired == 0 {
            0
        } else {
            (n.clamp(0, desired) * cells + desired - 1) / desired
        }
    };
    let done = scale(w.available.min(w.updated));
    let updated = scale(w.updated).max(done);
    let bar = |n: i32, c: &str| c.repeat(n.max(0) as usize);
    let all_good = w.updated >= desired && w.available >= desired;
    vec![
        Span::raw("  "),
        Span::styled(
            bar(done, "█"),
            if all_good { theme.ok } else { theme.running },
        ),
        Span::styled(bar(updated - done, "▒"), theme.running),
        Span::styled(bar(cells - updated, "░"), theme.muted),
        Span::raw(format!(
            " {}/{desired} updated · {} ready · {} available",
            w.updated, w.ready, w.available
        )),
    ]
}

/// Whether each pod runs the Deployment's current template: by image tag
/// when the pods' tags differ (`Some(true)` = new); `None` when every pod
/// runs the same tag and new/old cannot be told apart (or need not be).
fn pod_ages(w: &Workload) -> Vec<Option<bool>> {
    let mut tags: Vec<Option<&str>> = w.pods.iter().map(|p| p.image_tag.as_deref()).collect();
    tags.sort();
    tags.dedup();
    if tags.len() < 2 || w.image_tag.is_none() {
        return vec![None; w.pods.len()];
    }
    // Pods sharing a template hash with a new pod are new too (a pod whose
    // tag is not known yet still belongs to its ReplicaSet).
    let new_hashes: Vec<&str> = w
        .pods
        .iter()
        .filter(|p| p.image_tag == w.image_tag)
        .filter_map(|p| p.template_hash.as_deref())
        .collect();
    w.pods
        .iter()
        .map(|p| {
            let by_hash = p
                .template_hash
                .as_deref()
                .is_some_and(|h| new_hashes.contains(&h));
            Some(p.image_tag == w.image_tag || by_hash)
        })
        .collect()
}

/// One line per pod: readiness, new/old, name, kubectl's status, tag, restarts.
fn pod_lines<'a>(w: &Workload, accent: Style, theme: &Theme) -> Vec<Line<'a>> {
    let name_width = w
        .pods
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0);
    let status_width = w
        .pods
        .iter()
        .map(|p| p.status.chars().count())
        .max()
        .unwrap_or(0);
    w.pods
        .iter()
        .zip(pod_ages(w))
        .map(|(pod, age)| {
            let style = if pod.ready {
                theme.ok
            } else if pod.status.contains("BackOff") || pod.status.contains("Err") {
                theme.error
            } else {
                theme.running
            };
            let mut spans = vec![Span::styled(if pod.ready { "  ● " } else { "  ○ " }, style)];
            match age {
                Some(true) => spans.push(Span::styled("new ", theme.running)),
                Some(false) => spans.push(Span::styled("old ", theme.muted)),
                None => {}
            }
            spans.extend([
                Span::raw(format!("{:<name_width$}  ", pod.name)),
                Span::styled(format!("{:<status_width$}", pod.status), style),
                Span::styled(
                    format!("  {}", pod.image_tag.as_deref().unwrap_or("?")),
                    accent,
                ),
            ]);
            if pod.restarts > 0 {
                spans.push(Span::styled(
                    format!("  restarts {}", pod.restarts),
                    theme.warn,
                ));
            }
            Line::from(spans)
        })
        .collect()
}

fn release_lines<'a>(
    state: &State,
    service: &Service,
    svc: &ServiceState,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = vec![Line::default(), Line::from(label("Releases", theme))];
    match &svc.releases {
        None if !service.shippable => lines.push(Line::from(Span::styled(
            "  none (not shippable)",
            theme.muted,
        ))),
        None => lines.push(Line::from(Span::styled(
            format!("  unknown: {}", github_problem(state)),
            theme.muted,
        ))),
        Some(r) if r.is_empty() => lines.push(Line::from(Span::styled("  none", theme.muted))),
        Some(releases) => {
            for r in releases.iter().take(RELEASES_SHOWN) {
                let (kind, style) = if r.draft {
                    ("draft", theme.muted)
                } else if r.prerelease {
                    (
                        "prerelease",
                        release_accent(state, service, ReleaseKind::Prerelease, theme),
                    )
                } else if r.latest {
                    (
                        "latest",
                        release_accent(state, service, ReleaseKind::Latest, theme),
                    )
                } else {
                    ("", Style::default())
                };
                let when = r
                    .published_at
                    .as_deref()
                    .or(r.created_at.as_deref())
                    .map(|t| t.replace('T', " ").trim_end_matches('Z').to_string())
                    .unwrap_or_default();
                lines.push(Line::from(vec![
                    Span::raw("  "),
                    Span::styled(format!("{:<14}", r.tag), style),
                    Span::styled(format!("{kind:<11}"), style),
                    Span::styled(when, theme.muted),
                ]));
            }
        }
    }
    lines
}

fn ci_lines<'a>(
    state: &State,
    service: &Service,
    svc: &ServiceState,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(label(
        &format!("CI  {}", service.workflow),
        theme,
    ))];
    if let Some(err) = &svc.github_error {
        let style = if is_rate_limit(err) {
            theme.warn
        } else {
            theme.error
        };
        let text = err.to_string();
        let text = text.strip_prefix("GitHub ").unwrap_or(&text);
        lines.push(Line::from(Span::styled(format!("  GitHub: {text}"), style)));
    }
    let Some(runs) = &svc.runs else {
        let text = if !service.shippable {
            "  none (not shippable)".to_string()
        } else {
            format!("  unknown: {}", github_problem(state))
        };
        lines.push(Line::from(Span::styled(text, theme.muted)));
        return lines;
    };
    let Some(run) = runs.first() else {
        lines.push(Line::from(Span::styled("  no runs yet", theme.muted)));
        return lines;
    };
    let (icon, style) = ci_icon(&run.status, run.conclusion.as_deref(), theme);
    let outcome = run.conclusion.as_deref().unwrap_or(&run.status).to_string();
    let title = run
        .display_title
        .as_deref()
        .or(run.name.as_deref())
        .unwrap_or("");
    lines.push(Line::from(vec![
        Span::styled(format!("  {icon} run #{} {outcome}", run.run_number), style),
        Span::styled(format!("  {title}"), theme.muted),
    ]));

    if let Some((run_id, jobs)) = svc.watched_run() {
        if run_id != run.id {
            // The newest run has no jobs yet: say whose steps these are.
            let number = runs
                .iter()
                .find(|r| r.id == run_id)
                .map(|r| format!("#{}", r.run_number))
                .unwrap_or_else(|| format!("id {run_id}"));
            lines.push(Line::from(Span::styled(
                format!("  steps of the previous run {number}:"),
                theme.muted,
            )));
        }
        for job in jobs {
            let (icon, style) = ci_icon(&job.status, job.conclusion.as_deref(), theme);
            lines.push(Line::from(vec![
                Span::styled(format!("  {icon} "), style),
                Span::styled(job.name.clone(), theme.header),
                Span::styled(
                    elapsed(
                        state,
                        job.started_at.as_deref(),
                        job.completed_at.as_deref(),
                    ),
                    theme.muted,
                ),
            ]));
            for step in &job.steps {
                let (icon, style) = ci_icon(&step.status, step.conclusion.as_deref(), theme);
                let name_style = if step.status == "queued" || step.status == "pending" {
                    theme.muted
                } else {
                    Style::default()
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("    {icon} "), style),
                    Span::styled(step.name.clone(), name_style),
                    Span::styled(
                        elapsed(
                            state,
                            step.started_at.as_deref(),
                            step.completed_at.as_deref(),
                        ),
                        theme.muted,
                    ),
                ]));
            }
        }
    }

    if !svc.ci_stream.is_empty() {
        lines.push(Line::default());
        lines.push(Line::from(label("Transitions", theme)));
        let skip = svc.ci_stream.len().saturating_sub(STREAM_SHOWN);
        for event in svc.ci_stream.iter().skip(skip) {
            let (icon, style) = match &event.transition {
                CiTransition::Started => ("▶", theme.running),
                CiTransition::Completed(c) => ci_icon("completed", Some(c), theme),
            };
            let at = clock_of(event.at.as_deref()).unwrap_or_else(|| "--:--:--".into());
            lines.push(Line::from(vec![
                Span::styled(format!("  {at} "), theme.muted),
                Span::styled(format!("{icon} "), style),
                Span::raw(event.to_string()),
            ]));
        }
    }
    lines
}

/// The status of the kube source watching a namespace (a source without a
/// context matches any, since `--context` may have filled it in).
fn kube_source<'a>(
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
fn github_problem(state: &State) -> String {
    match state.sources.get(&SourceId::GitHub) {
        Some(status) => source_problem(status),
        None => "no GitHub data yet".into(),
    }
}

/// Why a source has no data yet, in words.
fn source_problem(status: &SourceStatus) -> String {
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
fn elapsed(state: &State, start: Option<&str>, end: Option<&str>) -> String {
    if let Some(d) = duration_between(start, end) {
        return format!("  {}", format_duration(d));
    }
    match (parse_time(start), state.now) {
        (Some(s), Some(now)) if end.is_none() => format!("  {}…", format_duration(now - s)),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PodSummary;

    fn pod(name: &str, tag: &str, hash: &str) -> PodSummary {
        PodSummary {
            name: name.into(),
            status: "Running".into(),
            ready: true,
            image_tag: (!tag.is_empty()).then(|| tag.into()),
            template_hash: Some(hash.into()),
            ..PodSummary::default()
        }
    }

    fn text(spans: &[Span]) -> String {
        spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn pods_are_new_or_old_by_tag_and_hash() {
        let w = Workload {
            image_tag: Some("v2".into()),
            pods: vec![
                pod("api-new-1", "v2", "new"),
                // Tag not known yet, but same ReplicaSet as a new pod.
                pod("api-new-2", "", "new"),
                pod("api-old-1", "v1", "old"),
            ],
            ..Workload::default()
        };
        assert_eq!(pod_ages(&w), vec![Some(true), Some(true), Some(false)]);
        // One tag only: nothing to tell apart, no labels.
        let same = Workload {
            image_tag: Some("v2".into()),
            pods: vec![pod("a", "v2", "x"), pod("b", "v2", "y")],
            ..Workload::default()
        };
        assert_eq!(pod_ages(&same), vec![None, None]);
    }

    #[test]
    fn replica_bar_has_a_cell_per_replica_and_scales() {
        let theme = Theme::default();
        let w = Workload {
            desired: 4,
            updated: 2,
            available: 1,
            ready: 3,
            ..Workload::default()
        };
        assert_eq!(
            text(&progress_spans(&w, &theme)),
            "  █▒░░ 2/4 updated · 3 ready · 1 available"
        );
        let big = Workload {
            desired: 100,
            updated: 50,
            available: 50,
            ready: 50,
            ..Workload::default()
        };
        let bar = text(&progress_spans(&big, &theme));
        assert!(bar.starts_with("  ██████░░░░░░ 50/100"), "{bar}");
        // Scaled to zero replicas: an empty one-cell bar, no division by zero.
        let zero = Workload::default();
        assert!(text(&progress_spans(&zero, &theme)).starts_with("  ░ 0/0"));
    }

    #[test]
    fn long_messages_wrap_under_their_prefix() {
        let theme = Theme::default();
        let lines = indented(
            "  ✗ ",
            "cannot reach the API server: Connection refused (os error 111)",
            theme.error,
            theme.error,
            30,
        );
        let text: Vec<String> = lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.to_string()).collect())
            .collect();
        assert_eq!(
            text,
            vec![
                "  ✗ cannot reach the API",
                "    server: Connection refused",
                "    (os error 111)",
            ]
        );
        let cut = indented(
            "  ",
            "abcdefghijklmnopqrstuvwxyz",
            theme.muted,
            theme.muted,
            12,
        );
        assert_eq!(cut.len(), 3, "a long word is cut, never lost");
    }

    #[test]
    fn drift_line_words() {
        let theme = Theme::default();
        let line = |d: Drift| {
            drift_line(&d, &theme).map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.to_string())
                    .collect::<String>()
            })
        };
        assert_eq!(
            line(Drift::Drift {
                running: "v0.3.0".into(),
                expected: "v0.3.1".into()
            })
            .as_deref(),
            Some("  ≠ running v0.3.0, released v0.3.1 → drift")
        );
        assert_eq!(
            line(Drift::Deploying {
                expected: "v0.3.1".into(),
                run_number: 7
            })
            .as_deref(),
            Some("  ⇡ deploying v0.3.1 (run #7)")
        );
        assert_eq!(line(Drift::Matches { tag: "v1".into() }), None);
    }
}
