//! The overview table: one row per service; a column per environment with
//! image tag, ready/desired replicas and rollout state; the latest release;
//! the latest CI run; and a note (why a service is not shippable, a GitHub
//! problem, a stuck rollout). Only the rows on screen are built, so 500
//! services cost what 30 do.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table, TableState};
use ratatui::Frame;

use super::{
    ci_icon, observation_word, rollout_icon, truncate, truncate_line, truncate_start, Theme,
    ViewState,
};
use crate::app::{Drift, Focus, ServiceState, SourceId, State};
use crate::model::{EnvObservation, Problem, ProblemKind, SourceStatus, Workload};
use crate::registry::{ReleaseKind, Service};

/// Column widths chosen for the available width.
struct Widths {
    service: u16,
    /// One per environment column.
    env: Vec<u16>,
    release: u16,
    ci: u16,
    /// Whether there is room for the NOTES column; without it, the CI column
    /// takes the rest and carries the reason a service is not shippable.
    notes: bool,
    /// What is left for NOTES.
    notes_width: u16,
}

/// Widths from content: each column gets what its longest cell needs
/// (`env_natural` per environment), NOTES the rest. When that does not fit,
/// NOTES goes first (the CI column then carries why a service is not
/// shippable), then the environment columns shrink, widest first (tags are
/// cut with `…`), then RELEASE.
fn widths(
    inner: u16,
    longest_name: usize,
    env_natural: &[usize],
    release_natural: usize,
) -> Widths {
    let service = (longest_name as u16 + 1).clamp(8, 24);
    let n = env_natural.len() as u16;
    let env: Vec<u16> = env_natural
        .iter()
        .map(|&w| (w as u16).clamp(9, 48))
        .collect();
    let release = (release_natural as u16).clamp(8, 24);
    let ci = 16;
    // Column spacing is one cell between columns.
    let with_notes = service + env.iter().sum::<u16>() + release + ci + (n + 3);
    if inner >= with_notes + NOTES_MIN {
        return Widths {
            service,
            env,
            release,
            ci,
            notes: true,
            notes_width: inner - with_notes,
        };
    }
    let spacing = n + 2;
    let service = service.min(14);
    let release = release.min(10);
    let room = inner.saturating_sub(service + release + ci + spacing);
    let env = shrink(env, room, 9);
    let ci = inner
        .saturating_sub(service + release + env.iter().sum::<u16>() + spacing)
        .max(ci);
    Widths {
        service,
        env,
        release,
        ci,
        notes: false,
        notes_width: 0,
    }
}

/// Cut the widest columns first until they fit `room`, none below `min`.
fn shrink(mut cols: Vec<u16>, room: u16, min: u16) -> Vec<u16> {
    while cols.iter().sum::<u16>() > room {
        let Some(widest) = cols.iter_mut().filter(|c| **c > min).max_by_key(|c| **c) else {
            break;
        };
        *widest -= 1;
    }
    cols
}

/// The narrowest NOTES column worth showing.
const NOTES_MIN: u16 = 24;

/// The natural width of each environment column and of the release column,
/// over every service.
fn natural_widths(state: &State) -> (Vec<usize>, usize) {
    let mut env_width = vec![0; state.envs.len()];
    let mut release_width = 0;
    for i in 0..state.services.len() {
        for (e, width) in env_width.iter_mut().enumerate() {
            if state.service_has_env(i, e) {
                *width = (*width).max(
                    env_natural(
                        &state.services[i].envs[e],
                        &state.drift(i, e),
                        state.endpoint_mismatch(i, e).is_some(),
                    ) + behind_width(state.behind_mark(i, e)),
                );
            }
        }
        if let Some(r) = state.services[i].latest_release() {
            release_width = release_width.max(r.tag.chars().count());
        }
    }
    (env_width, release_width)
}

/// The width of a cell's `↓N` suffix (commits of the branch not running).
fn behind_width(mark: Option<(u32, bool)>) -> usize {
    mark.map_or(0, |(n, _)| 2 + n.to_string().len())
}

/// What an environment cell needs to show without a cut.
fn env_natural(obs: &EnvObservation, drift: &Drift, endpoint_differs: bool) -> usize {
    match obs {
        EnvObservation::Live(w) => {
            let serving = w.serving_tag().unwrap_or("?").chars().count();
            let moving = w.moving_to().map_or(0, |t| t.chars().count() + 3);
            let counts = format!("{}/{}", w.ready, w.desired).len();
            let marker = if endpoint_differs
                || (w.moving_to().is_none()
                    && matches!(drift, Drift::Drift { .. } | Drift::Deploying { .. }))
            {
                2
            } else {
                0
            };
            serving + moving + 1 + counts + 2 + marker
        }
        EnvObservation::Error(p) => p.kind.word().chars().count(),
        // `sha-1a2b3c4 ⌂ ≠`
        EnvObservation::Reported { tag, .. } => {
            tag.chars().count() + 2 + if drift.is_drift() { 2 } else { 0 }
        }
        // "unknown", "missing", "— not deployed".
        _ => 14,
    }
}

/// Draw the overview into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, view: &mut ViewState, theme: &Theme) {
    let visible = state.visible();
    let focused = state.focus == Focus::Overview && !state.help;
    let title = if visible.len() == state.services.len() {
        format!(" services ({}) ", state.services.len())
    } else {
        format!(" services ({}/{}) ", visible.len(), state.services.len())
    };
    let block = Block::bordered()
        .title(Span::styled(title, theme.header))
        .border_style(if focused {
            theme.border_focused
        } else {
            theme.border
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }

    let longest = state
        .registry
        .services
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(7);
    // Over every service (a scroll must not change the columns), so
    // measured once per change of the data, not per frame.
    let (env_width, release_width) = match &view.natural {
        Some((generation, env, release)) if *generation == state.generation => {
            (env.clone(), *release)
        }
        _ => {
            let natural = natural_widths(state);
            view.natural = Some((state.generation, natural.0.clone(), natural.1));
            natural
        }
    };
    let w = widths(inner.width, longest, &env_width, release_width);
    let accents = env_accents(state, theme);

    let mut header = vec![Cell::from("SERVICE")];
    for (name, accent) in state.envs.iter().zip(&accents) {
        header.push(Cell::from(Span::styled(name.to_uppercase(), *accent)));
    }
    header.extend(["RELEASE", "CI"].map(Cell::from));
    let mut constraints = vec![Constraint::Length(w.service)];
    constraints.extend(w.env.iter().map(|&c| Constraint::Length(c)));
    constraints.push(Constraint::Length(w.release));
    if w.notes {
        header.push(Cell::from("NOTES"));
        constraints.extend([Constraint::Length(w.ci), Constraint::Fill(1)]);
    } else {
        constraints.push(Constraint::Fill(1));
    }

    // Keep the selection on screen; build only the rows that show.
    let rows_on_screen = inner.height.saturating_sub(1) as usize;
    let selected_pos = visible.iter().position(|&i| i == state.selected);
    let offset = scroll_offset(
        view.overview_offset,
        selected_pos,
        rows_on_screen,
        visible.len(),
    );
    view.overview_offset = offset;
    view.shown.clear();
    view.shown
        .extend(visible.iter().skip(offset).take(rows_on_screen).copied());
    let rows: Vec<Row> = visible
        .iter()
        .skip(offset)
        .take(rows_on_screen)
        .map(|&i| service_row(state, i, &w, &accents, theme))
        .collect();

    if rows.is_empty() {
        let text = if state.services.is_empty() {
            "the registry has no services".to_string()
        } else {
            format!("no service matches '{}'", state.filter.value())
        };
        let table = Table::new(
            [Row::new([Cell::from(Span::styled(text, theme.muted))])],
            [Constraint::Fill(1)],
        )
        .header(Row::new(header).style(theme.header));
        frame.render_widget(table, inner);
        return;
    }

    let table = Table::new(rows, constraints)
        .header(Row::new(header).style(theme.header))
        .column_spacing(1)
        .row_highlight_style(theme.selected);
    let mut table_state = TableState::default()
        .with_selected(selected_pos.filter(|p| *p >= offset).map(|p| p - offset));
    frame.render_stateful_widget(table, inner, &mut table_state);
}

/// First row to show so that the selected row is visible.
fn scroll_offset(previous: usize, selected: Option<usize>, height: usize, len: usize) -> usize {
    let mut offset = previous.min(len.saturating_sub(height));
    if let Some(sel) = selected {
        if sel < offset {
            offset = sel;
        } else if height > 0 && sel >= offset + height {
            offset = sel + 1 - height;
        }
    }
    offset
}

/// The accent style of every environment column.
pub fn env_accents(state: &State, theme: &Theme) -> Vec<Style> {
    state
        .envs
        .iter()
        .map(|name| theme.accent(name, registry_accent(state, name)))
        .collect()
}

/// The `accent` colour the registry gives an environment.
pub fn registry_accent<'a>(state: &'a State, env: &str) -> Option<&'a str> {
    let reg = &state.registry;
    reg.settings
        .environments
        .iter()
        .chain(reg.services.iter().flat_map(|s| s.environments.iter()))
        .find(|e| e.name == env)
        .and_then(|e| e.accent.as_deref())
}

/// The accent of the environment a release of this kind deploys to.
pub fn release_accent(state: &State, service: &Service, kind: ReleaseKind, theme: &Theme) -> Style {
    service
        .environments
        .iter()
        .find(|e| e.release == kind)
        .map(|e| theme.accent(&e.name, registry_accent(state, &e.name)))
        .unwrap_or_default()
}

fn service_row<'a>(
    state: &'a State,
    i: usize,
    w: &Widths,
    accents: &[Style],
    theme: &Theme,
) -> Row<'a> {
    let service = &state.registry.services[i];
    let svc = &state.services[i];
    let name_style = if service.shippable {
        Style::default()
    } else {
        theme.muted
    };
    let mut cells = vec![Cell::from(Span::styled(
        truncate(&service.name, w.service as usize),
        name_style,
    ))];
    for (e, accent) in accents.iter().enumerate() {
        let not_deployed =
            !service.shippable && matches!(svc.envs.get(e), Some(EnvObservation::Missing { .. }));
        let line = if not_deployed {
            // hearth does not ship it, so no Deployment is no surprise.
            Line::from(Span::styled("— not deployed", theme.muted))
        } else if state.service_has_env(i, e) {
            env_cell(
                &svc.envs[e],
                &state.drift(i, e),
                state.endpoint_mismatch(i, e).is_some(),
                state.behind_mark(i, e),
                w.env[e] as usize,
                *accent,
                theme,
            )
        } else {
            Line::from(Span::styled("—", theme.muted))
        };
        cells.push(Cell::from(line));
    }
    cells.push(Cell::from(release_cell(
        state, service, svc, w.release, theme,
    )));
    if w.notes {
        cells.push(Cell::from(ci_cell(state, service, svc, w.ci, false, theme)));
        cells.push(Cell::from(truncate_line(
            note(state, i, service, svc, theme),
            w.notes_width as usize,
        )));
    } else {
        cells.push(Cell::from(ci_cell(state, service, svc, w.ci, true, theme)));
    }
    Row::new(cells)
}

/// `v0.0.28 2/2 ✓`, with the tag cut first when the column is narrow, and a
/// drift marker after the rollout icon: `≠` when the running tag is not the
/// released one (the tag turns the warning colour), `⇡` while CI deploys it;
/// `↓3` last when 3 commits of the branch are not running (warning colour
/// once the registry's `stale:` threshold is crossed).
fn env_cell<'a>(
    obs: &EnvObservation,
    drift: &Drift,
    endpoint_differs: bool,
    behind: Option<(u32, bool)>,
    width: usize,
    accent: Style,
    theme: &Theme,
) -> Line<'a> {
    if let Some(word) = observation_word(obs, theme) {
        return Line::from(word);
    }
    if let EnvObservation::Reported { tag, .. } = obs {
        // A host outside Kubernetes: what its endpoint reports, `⌂` to say
        // so (no replica counts, no rollout).
        let marker = drift_marker(drift, theme);
        let room = width
            .saturating_sub(2 + if marker.is_some() { 2 } else { 0 })
            .max(3);
        let tag_style = if drift.is_drift() { theme.warn } else { accent };
        let mut spans = vec![
            Span::styled(truncate(tag, room), tag_style),
            Span::raw(" "),
            Span::styled("⌂", theme.muted),
        ];
        if let Some(marker) = marker {
            spans.push(Span::raw(" "));
            spans.push(marker);
        }
        return Line::from(spans);
    }
    let EnvObservation::Live(w) = obs else {
        unreachable!("observation_word covers every other case")
    };
    let (icon, icon_style) = cell_icon(w, theme);
    let moving = w.moving_to();
    // While a rollout moves (or is stuck) the counts are the new pods'
    // readiness: `2/2` of the old pods would look healthy.
    let counts = match (moving, w.new_ready) {
        (Some(_), Some(n)) => format!("{n}/{}", w.desired),
        _ => format!("{}/{}", w.ready, w.desired),
    };
    let serving = w.serving_tag().unwrap_or("?");
    // While a rollout moves, the arrow says serving and target differ.
    // The version endpoint names another version: `⚠` (NOTES and the
    // detail pane say which), before a drift marker.
    let marker = if endpoint_differs {
        Some(Span::styled("⚠", theme.warn))
    } else {
        drift_marker(drift, theme).filter(|_| moving.is_none())
    };
    let marker_width = if marker.is_some() { 2 } else { 0 };
    // The tag comes first: a narrow column drops the `↓N` before it cuts
    // the tag (the detail pane and NOTES still say it).
    let tag_width = serving.chars().count() + moving.map_or(0, |t| t.chars().count() + 3);
    let behind = behind
        .filter(|_| width >= tag_width + counts.len() + 3 + marker_width + behind_width(behind));
    let room = width
        .saturating_sub(counts.len() + 3 + marker_width + behind_width(behind))
        .max(3);
    let tag_style = if drift.is_drift() { theme.warn } else { accent };
    let mut spans = match moving {
        Some(target) => {
            // Where it is going matters most: the target is shown whole when
            // it fits; what serves gets the rest, cut from the left (a tag's
            // end tells it apart), or gives way to the arrow alone.
            let second = target.chars().count().min(room.saturating_sub(2)).max(2);
            let first = room.saturating_sub(second + 3);
            let mut spans = Vec::new();
            if first >= 3 {
                spans.push(Span::styled(truncate_start(serving, first), tag_style));
                spans.push(Span::styled(" → ", theme.muted));
            } else {
                spans.push(Span::styled("→ ", theme.muted));
            }
            spans.push(Span::styled(truncate(target, second), theme.running));
            spans
        }
        None => vec![Span::styled(truncate(serving, room), tag_style)],
    };
    spans.extend([
        Span::raw(" "),
        Span::raw(counts),
        Span::raw(" "),
        Span::styled(icon, icon_style),
    ]);
    if let Some(marker) = marker {
        spans.push(Span::raw(" "));
        spans.push(marker);
    }
    if let Some((n, stale)) = behind {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            format!("↓{n}"),
            if stale { theme.warn } else { theme.muted },
        ));
    }
    Line::from(spans)
}

/// `✗` for a failed or stuck rollout, `⟳` while it moves, `✓` once complete.
pub fn cell_icon(w: &Workload, theme: &Theme) -> (&'static str, Style) {
    if w.stuck_reason.is_some() {
        return ("✗", theme.error);
    }
    rollout_icon(&w.rollout, theme)
}

/// The one-character drift marker of an overview cell, if any.
pub fn drift_marker<'a>(drift: &Drift, theme: &Theme) -> Option<Span<'a>> {
    match drift {
        Drift::Drift { .. } => Some(Span::styled("≠", theme.warn)),
        Drift::Deploying { .. } => Some(Span::styled("⇡", theme.running)),
        _ => None,
    }
}

fn release_cell<'a>(
    state: &State,
    service: &Service,
    svc: &ServiceState,
    width: u16,
    theme: &Theme,
) -> Line<'a> {
    // A model that makes no releases: what should run differs per
    // environment (its own deploy run, manifest or push run; the detail
    // pane says which), so the column names the model.
    if !service.delivery.makes_releases() {
        return Line::from(Span::styled(
            truncate(service.delivery.word(), width as usize),
            theme.muted,
        ));
    }
    match (&svc.releases, svc.latest_release()) {
        (None, _) if !service.shippable => Line::from(Span::styled("—", theme.muted)),
        (None, _) => Line::from(github_unknown(state, theme)),
        (Some(_), None) => Line::from(Span::styled("none", theme.muted)),
        (Some(_), Some(r)) => Line::from(Span::styled(
            truncate(&r.tag, width as usize),
            release_accent(state, service, ReleaseKind::Latest, theme),
        )),
    }
}

/// The latest run; `with_reason` puts why a service is not shippable in the
/// cell itself when there is no NOTES column.
fn ci_cell<'a>(
    state: &State,
    service: &Service,
    svc: &ServiceState,
    width: u16,
    with_reason: bool,
    theme: &Theme,
) -> Line<'a> {
    if !service.shippable && svc.runs.is_none() {
        let text = match (&service.shippable_reason, with_reason) {
            (Some(why), true) => format!("⊘ {why}"),
            _ => "⊘ not shippable".to_string(),
        };
        return Line::from(Span::styled(truncate(&text, width as usize), theme.warn));
    }
    if let Some(err) = &svc.github_error {
        return Line::from(if is_rate_limit(err) {
            Span::styled("rate limited", theme.warn)
        } else {
            Span::styled("error", theme.error)
        });
    }
    let Some(runs) = &svc.runs else {
        return Line::from(github_unknown(state, theme));
    };
    let Some(run) = runs.first() else {
        return Line::from(Span::styled("no runs", theme.muted));
    };
    let (icon, style) = ci_icon(&run.status, run.conclusion.as_deref(), theme);
    let word = match (run.status.as_str(), run.conclusion.as_deref()) {
        ("completed", Some(c)) => c.to_string(),
        ("in_progress", _) => "running".to_string(),
        ("waiting", _) => "to approve".to_string(),
        (s, _) => s.to_string(),
    };
    let text = format!("#{} {word}", run.run_number);
    Line::from(vec![
        Span::styled(icon, style),
        Span::raw(" "),
        Span::styled(truncate(&text, width.saturating_sub(2) as usize), style),
    ])
}

/// Whether a GitHub problem is a rate limit (primary or secondary): the
/// data is only paused, so it is a warning, not an error.
pub fn is_rate_limit(problem: &Problem) -> bool {
    problem.kind == ProblemKind::RateLimited
}

/// What a GitHub cell says before any GitHub data: `no token` when the
/// source is off for want of one, `off` when turned off otherwise.
fn github_unknown<'a>(state: &State, theme: &Theme) -> Span<'a> {
    match state.sources.get(&SourceId::GitHub) {
        Some(SourceStatus::Disabled(p)) if p.kind == ProblemKind::NoToken => {
            Span::styled("no token", theme.warn)
        }
        Some(SourceStatus::Disabled(_)) => Span::styled("off", theme.muted),
        Some(SourceStatus::Down(_)) => Span::styled("down", theme.error),
        _ => Span::styled("unknown", theme.muted),
    }
}

/// The most important thing to know about a service that its cells do not say.
fn note<'a>(
    state: &State,
    index: usize,
    service: &Service,
    svc: &ServiceState,
    theme: &Theme,
) -> Line<'a> {
    if let Some(err) = &svc.github_error {
        let style = if is_rate_limit(err) {
            theme.warn
        } else {
            theme.error
        };
        let text = err.to_string();
        let text = text.strip_prefix("GitHub ").unwrap_or(&text);
        return Line::from(Span::styled(format!("GitHub: {text}"), style));
    }
    if !service.shippable {
        let why = service
            .shippable_reason
            .as_deref()
            .unwrap_or("shippable: false");
        return Line::from(Span::styled(why.to_string(), theme.warn));
    }
    for (e, obs) in svc.envs.iter().enumerate() {
        match obs {
            EnvObservation::Live(w) => {
                if let Some(reason) = &w.stuck_reason {
                    return Line::from(Span::styled(
                        format!("{}: {reason}", state.envs[e]),
                        theme.error,
                    ));
                }
            }
            EnvObservation::Error(p) => {
                return Line::from(Span::styled(
                    format!("{}: {}", state.envs[e], p.message),
                    theme.error,
                ));
            }
            EnvObservation::Missing { .. } => {
                return Line::from(Span::styled(
                    format!("{}: no deployment", state.envs[e]),
                    theme.warn,
                ));
            }
            _ => {}
        }
    }
    for e in 0..state.envs.len() {
        if let Some(text) = state.unserved(index, e) {
            return Line::from(Span::styled(text, theme.error));
        }
    }
    for e in 0..state.envs.len() {
        if let Some(text) = state.endpoint_mismatch(index, e) {
            return Line::from(Span::styled(
                format!("{}: {text}", state.envs[e]),
                theme.warn,
            ));
        }
    }
    for e in 0..state.envs.len() {
        if let Some(text) = state.digest_warning(index, e) {
            return Line::from(Span::styled(
                format!("{}: {text}", state.envs[e]),
                theme.warn,
            ));
        }
    }
    for e in 0..state.envs.len() {
        if let Some((words, trouble)) = state.gitops_note(index, e) {
            return Line::from(Span::styled(
                format!("{}: {words}", state.envs[e]),
                if trouble { theme.warn } else { theme.running },
            ));
        }
    }
    for e in 0..state.envs.len() {
        match state.drift(index, e) {
            Drift::Drift { running, expected } => {
                let wanted = crate::model::drift::expected_words(
                    state.registry.services[index].delivery,
                    state.expected_source(index, e).as_deref(),
                    &expected,
                );
                return Line::from(Span::styled(
                    format!("{}: running {running}, {wanted} → drift", state.envs[e]),
                    theme.warn,
                ));
            }
            Drift::Deploying { expected, by } => {
                return Line::from(Span::styled(
                    format!("{}: deploying {expected} ({by})", state.envs[e]),
                    theme.running,
                ));
            }
            _ => {}
        }
    }
    for e in 0..state.envs.len() {
        if let (Some((_, true)), Some(words)) =
            (state.behind_mark(index, e), state.behind_words(index, e))
        {
            return Line::from(Span::styled(
                format!("{}: stale, {words}", state.envs[e]),
                theme.warn,
            ));
        }
    }
    Line::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_follows_selection() {
        assert_eq!(scroll_offset(0, Some(3), 10, 50), 0);
        assert_eq!(scroll_offset(0, Some(12), 10, 50), 3);
        assert_eq!(scroll_offset(5, Some(2), 10, 50), 2);
        assert_eq!(scroll_offset(45, Some(49), 10, 50), 40);
        assert_eq!(scroll_offset(8, None, 10, 12), 2);
    }

    #[test]
    fn narrow_widths_fit_80_columns() {
        let w = widths(78, 11, &[18, 18], 7);
        let total = w.service + w.env.iter().sum::<u16>() + w.release + w.ci + 4;
        assert!(total <= 78, "{total}");
        assert!(!w.notes);
        assert!(w.ci >= 15);
    }

    #[test]
    fn wide_screens_give_columns_what_their_content_needs() {
        // `v0.3.1-rc.10 2/2 ✓` is 18 wide: no cut at 120 columns.
        let w = widths(118, 11, &[13, 18], 12);
        assert!(w.notes);
        assert_eq!((w.env.clone(), w.release), (vec![13, 18], 12));
        // NOTES takes all that is left, to the last column.
        let used = w.service + w.env.iter().sum::<u16>() + w.release + w.ci + 5;
        assert_eq!(used + w.notes_width, 118);
        // A moving cell (`v0.10.0-rc.1 → v0.9.2-rc.1 0/2 ✗`, 33) gets its width at 200,
        // and only its own column widens.
        assert_eq!(widths(198, 11, &[13, 33], 12).env, vec![13, 33]);
    }

    #[test]
    fn the_widest_column_gives_way_first() {
        assert_eq!(shrink(vec![13, 33], 40, 9), vec![13, 27]);
        assert_eq!(shrink(vec![20, 20], 30, 9), vec![15, 15]);
        assert_eq!(
            shrink(vec![10, 10], 5, 9),
            vec![9, 9],
            "never below the minimum"
        );
    }

    /// The column widths measured over every service are reused while only
    /// the clock changes, and measured again when the data changes: a
    /// longer tag arriving widens its column in the next frame drawn with
    /// the same view state.
    #[test]
    fn natural_widths_follow_the_data_not_the_clock() {
        use crate::app::{update, Mode, Msg};
        use crate::model::{EnvObservation, Workload};
        let registry = crate::registry::load_str(
            "api:\n  directory: .\n  image: ghcr.io/acme/api\n",
            std::path::Path::new("services.yaml"),
            std::path::Path::new("/reg"),
        )
        .unwrap();
        let mut state = State::new(std::sync::Arc::new(registry), Mode::INTERACTIVE);
        update(&mut state, Msg::Resize(160, 40));
        let theme = Theme::load(None, true).unwrap();
        let mut view = crate::ui::ViewState::default();
        let frame_text = |state: &State, view: &mut crate::ui::ViewState| {
            let mut term =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 40)).unwrap();
            term.draw(|f| crate::ui::draw(f, state, view, &theme))
                .unwrap();
            let buf = term.backend().buffer().clone();
            (0..40)
                .map(|y| (0..160).map(|x| buf[(x, y)].symbol()).collect::<String>())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let live = |tag: &str| Msg::Workload {
            service: "api".into(),
            env: "prod".into(),
            observation: EnvObservation::Live(Workload {
                image_tag: Some(tag.into()),
                desired: 1,
                updated: 1,
                ready: 1,
                available: 1,
                ..Workload::default()
            }),
        };
        update(&mut state, live("v1"));
        frame_text(&state, &mut view);
        let measured = view.natural.clone();
        let generation = state.generation;
        update(&mut state, Msg::Tick(1_700_000_000));
        assert_eq!(
            state.generation, generation,
            "a tick is not a change of the data"
        );
        frame_text(&state, &mut view);
        assert_eq!(view.natural, measured);
        let long = "v1.2.3-a-very-long-release-candidate.42";
        update(&mut state, live(long));
        assert_ne!(state.generation, generation);
        let screen = frame_text(&state, &mut view);
        let row = screen
            .lines()
            .find(|l| l.starts_with("│api "))
            .unwrap_or_default();
        assert!(
            row.contains(&format!("{long} 1/1")),
            "api's PROD cell cuts the longer tag:\n{screen}"
        );
    }
}
