//! The watch screen (`hearth watch`): the same live data laid out to be read
//! from across a room. Each service is a tall row of solid state cells, one
//! per environment (the tag that serves, where it is moving, the replicas),
//! and its CI run's current step; failing services come first and stay
//! there until resolved, then services with a rollout or a run under way.
//! A banner says when a source is disconnected or its data is stale, and
//! the bottom line gives each source's age. Below the board, on a tall
//! screen, the detail pane of the service `--cycle` has come to. Pure.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::{status, truncate, Theme, ViewState};
use crate::app::{Drift, SourceId, State, QUIET_SECS, STALE_SECS};
use crate::model::ci::format_duration;
use crate::model::{EnvObservation, Rollout, SourceStatus};

/// Rows a service takes on the board (its cells, and the line under them).
const ROW: u16 = 3;

/// Draw the watch screen.
pub fn draw(frame: &mut Frame, state: &State, view: &mut ViewState, theme: &Theme) {
    let area = frame.area();
    frame.render_widget(Block::new().style(theme.base), area);
    let banners = banners(state);
    let notice = state.notice.as_ref().map(|(t, _)| t.clone());
    let banner_rows = (banners.len() as u16 + u16::from(notice.is_some())).min(3);
    let wanted = state.visible().len() as u16 * ROW + 2;
    let room = area.height.saturating_sub(2 + banner_rows);
    // The detail pane of the cycled service gets what the board leaves, or
    // half the screen on a tall one.
    let board_rows = if room >= 40 {
        wanted.min(room / 2)
    } else {
        wanted.min(room)
    };
    let show_detail = room.saturating_sub(board_rows) >= 8;
    // Without a detail pane the board takes the whole height.
    let board_constraint = if show_detail || state.logs.is_some() {
        Constraint::Length(board_rows.max(5))
    } else {
        Constraint::Fill(1)
    };
    let [title, banner, board, detail, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner_rows),
        board_constraint,
        if matches!(board_constraint, Constraint::Fill(_)) {
            Constraint::Length(0)
        } else {
            Constraint::Fill(1)
        },
        Constraint::Length(1),
    ])
    .areas(area);
    // Whether each service fails (the title counts them, the board orders
    // and marks them) and the board's order: once per change of the data.
    let (failing, order) = match &view.watch_rank {
        Some((generation, failing, order)) if *generation == state.generation => {
            (failing.clone(), order.clone())
        }
        _ => {
            let failing = state.failing_flags();
            let order = state.watch_order_with(&failing);
            view.watch_rank = Some((state.generation, failing.clone(), order.clone()));
            (failing, order)
        }
    };
    draw_title(frame, title, state, &failing, theme);
    // One line per banner, cut with `…`: a second problem is never pushed
    // off the screen by the first one's long message.
    let cut = |l: Line<'static>| super::truncate_line(l, area.width as usize);
    let mut lines: Vec<Line> = banners
        .into_iter()
        .map(|b| {
            cut(Line::from(Span::styled(
                format!(" ⚠ {b} "),
                theme
                    .error
                    .add_modifier(Modifier::REVERSED | Modifier::BOLD),
            )))
        })
        .collect();
    if let Some(n) = notice {
        lines.push(cut(Line::from(Span::styled(format!(" ◐ {n}"), theme.warn))));
    }
    frame.render_widget(Paragraph::new(lines), banner);
    draw_board(frame, board, state, &failing, order, view, theme);
    if show_detail && detail.height > 4 {
        let _ = super::detail::draw(frame, detail, state, theme);
    }
    draw_bar(frame, bar, state, theme);
    if state.logs.is_some() || state.dialog.is_some() {
        // A log panel (--logs) or the logs dialog takes the detail's place.
        if let Some(v) = &state.logs {
            super::logs::draw(frame, detail, state, v, theme);
        }
        super::dialog::draw(frame, area, state, theme);
    }
    if state.help {
        super::help::draw(frame, area, state, theme);
    }
}

/// What the banner says: disconnected sources and stale data.
pub fn banners(state: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (id, st) in &state.sources {
        let name = status::source_label(id).to_uppercase();
        let since = state
            .since
            .get(id)
            .and_then(|t| Some((*t, state.now? - t)))
            .map(|(t, age)| {
                let at = super::clock_of_unix(t).unwrap_or_default();
                format!(" since {at} UTC ({})", format_duration(age))
            })
            .unwrap_or_default();
        match st {
            SourceStatus::Down(p) => out.push(format!("{name} DISCONNECTED{since}: {}", p.message)),
            SourceStatus::Degraded(p) => out.push(format!("{name} DEGRADED{since}: {}", p.message)),
            SourceStatus::Connecting
                if state
                    .since
                    .get(id)
                    .is_some_and(|t| state.now.is_some_and(|n| n - t > 10)) =>
            {
                out.push(format!("{name} NOT CONNECTED{since}"))
            }
            SourceStatus::Live => {
                if let Some(age) = state
                    .silent_for(id)
                    .filter(|a| *a > STALE_SECS && *id == SourceId::GitHub)
                {
                    out.push(format!(
                        "{name} STALE: last answer {} ago; what is shown may be old",
                        format_duration(age)
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

fn draw_title(frame: &mut Frame, area: Rect, state: &State, failing: &[bool], theme: &Theme) {
    let failing = failing.iter().filter(|f| **f).count();
    let clock = state
        .now
        .and_then(super::minute_of_unix)
        .map(|c| format!("{c} UTC "))
        .unwrap_or_default();
    let troubled = banners(state).len();
    // Runs that wait for a reviewer: not failing, but not "all well" either.
    let waiting = state
        .services
        .iter()
        .filter(|s| {
            s.runs
                .iter()
                .flatten()
                .next()
                .is_some_and(|r| r.status == "waiting")
        })
        .count();
    // Public endpoints that serve another version than their cluster.
    let elsewhere = (0..state.services.len())
        .filter(|&i| (0..state.envs.len()).any(|e| state.endpoint_mismatch(i, e).is_some()))
        .count();
    let solid = |s: Style| s.add_modifier(Modifier::REVERSED | Modifier::BOLD);
    let summary = match (failing, troubled) {
        (0, 0) if waiting > 0 => Span::styled(
            format!(" {waiting} waiting for approval "),
            solid(theme.warn),
        ),
        (0, 0) if elsewhere > 0 => Span::styled(
            format!(
                " {elsewhere} endpoint{} on another version ",
                if elsewhere == 1 { "" } else { "s" }
            ),
            solid(theme.warn),
        ),
        (0, 0) => Span::styled(" all well ", solid(theme.ok)),
        (0, n) => Span::styled(
            format!(" {n} source problem{} ", if n == 1 { "" } else { "s" }),
            solid(theme.warn),
        ),
        (f, 0) => Span::styled(format!(" {f} failing "), solid(theme.error)),
        (f, n) => Span::styled(
            format!(
                " {f} failing · {n} source problem{} ",
                if n == 1 { "" } else { "s" }
            ),
            solid(theme.error),
        ),
    };
    let left = vec![
        Span::styled(" hearth watch ", theme.title),
        Span::raw(" "),
        summary,
        Span::styled(
            format!("  {} services · read-only", state.services.len()),
            theme.muted,
        ),
    ];
    let used: usize = left.iter().map(|s| s.width()).sum();
    let pad = (area.width as usize).saturating_sub(used + clock.chars().count());
    let mut spans = left;
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(clock, theme.header));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A solid cell for one environment of a service.
fn env_cell(state: &State, i: usize, e: usize, theme: &Theme) -> (String, Style) {
    let env = &state.envs[e];
    let label = env.to_uppercase();
    if !state.service_has_env(i, e) {
        return (format!(" {label} —"), theme.muted);
    }
    let solid = |s: Style| s.add_modifier(Modifier::REVERSED | Modifier::BOLD);
    match &state.services[i].envs[e] {
        EnvObservation::Unknown => (format!(" {label} unknown "), theme.muted),
        EnvObservation::Missing { .. } if !state.registry.services[i].shippable => {
            (format!(" {label} not deployed "), theme.muted)
        }
        EnvObservation::Missing { .. } => (format!(" {label} missing "), solid(theme.warn)),
        EnvObservation::Error(p) => (format!(" {label} {} ", p.kind.word()), solid(theme.error)),
        // A host outside Kubernetes: what its endpoint reports, marked as such.
        EnvObservation::Reported { tag, .. } => match state.drift(i, e) {
            Drift::Drift { .. } => (format!(" {label} {tag} ⌂ ≠ "), solid(theme.warn)),
            _ => (format!(" {label} {tag} ⌂ "), solid(theme.ok)),
        },
        EnvObservation::Live(w) => {
            let serving = w.serving_tag().unwrap_or("?");
            let target = w.moving_to();
            let mut text = format!(" {label} {serving}");
            let ready = match (target, w.new_ready) {
                (Some(t), Some(n)) => {
                    text.push_str(&format!(" → {t}"));
                    n
                }
                (Some(t), None) => {
                    text.push_str(&format!(" → {t}"));
                    w.ready
                }
                _ => w.ready,
            };
            let (icon, style) = super::overview::cell_icon(w, theme);
            text.push_str(&format!(" {ready}/{} {icon} ", w.desired));
            if state.endpoint_mismatch(i, e).is_some() {
                // The endpoint names another version (the line below says which).
                text.push_str("⚠ ");
                return (text, solid(theme.warn));
            }
            if let Some((_, trouble)) = state.gitops_note(i, e) {
                // Flux is stalled, failing or suspended, or has not applied
                // the manifest's commit yet (the line below says which).
                text.push_str(if trouble { "⚑ " } else { "⇡ " });
                if trouble {
                    return (text, solid(theme.warn));
                }
            }
            (text, solid(style))
        }
    }
}

/// What is happening to a service, in one line: the failure first.
fn activity_line(state: &State, i: usize) -> Option<String> {
    let svc = &state.services[i];
    for (e, obs) in svc.envs.iter().enumerate() {
        if let EnvObservation::Live(w) = obs {
            if let Some(r) = &w.stuck_reason {
                return Some(format!("{}: {r}", state.envs[e]));
            }
            if let Rollout::Failed(m) = &w.rollout {
                return Some(format!("{}: {m}", state.envs[e]));
            }
        }
    }
    // Flux that cannot or will not apply, or a commit it has not applied yet.
    for e in 0..state.envs.len() {
        if let Some((words, trouble)) = state.gitops_note(i, e) {
            let mark = if trouble { "⚑" } else { "⇡" };
            return Some(format!("{mark} {}: {words}", state.envs[e]));
        }
    }
    // A public endpoint that serves another version than the cluster.
    for e in 0..state.envs.len() {
        if let Some(m) = state.endpoint_mismatch(i, e) {
            return Some(format!("⚠ {}: {m}", state.envs[e]));
        }
    }
    // A run that waits on an environment's reviewers: someone must act.
    if let Some(run) = svc
        .runs
        .iter()
        .flatten()
        .next()
        .filter(|r| r.status == "waiting")
    {
        let tag = run.head_branch.clone().unwrap_or_default();
        return Some(format!(
            "◷ run #{} {tag}: waits for an approval",
            run.run_number
        ));
    }
    if let Some((run_id, jobs)) = svc.watched_run() {
        let run = svc.runs.iter().flatten().find(|r| r.id == run_id);
        if let Some(run) = run.filter(|r| r.is_active()) {
            let step = jobs
                .iter()
                .flat_map(|j| j.steps.iter())
                .find(|s| s.status == "in_progress")
                .map(|s| s.name.clone())
                .unwrap_or_else(|| run.status.clone());
            let tag = run.head_branch.clone().unwrap_or_default();
            return Some(format!("● run #{} {tag}: {step}", run.run_number));
        }
        if let Some(run) = run.filter(|r| {
            r.conclusion
                .as_deref()
                .is_some_and(|c| !crate::model::ci::is_good(c))
        }) {
            let step = jobs
                .iter()
                .flat_map(|j| j.steps.iter())
                .find(|s| {
                    s.conclusion
                        .as_deref()
                        .is_some_and(|c| !crate::model::ci::is_good(c))
                })
                .map(|s| format!(" at {:?}", s.name))
                .unwrap_or_default();
            return Some(format!(
                "✗ run #{} {} {}{step}",
                run.run_number,
                run.head_branch.as_deref().unwrap_or(""),
                run.conclusion.as_deref().unwrap_or("failed")
            ));
        }
    }
    for e in 0..state.envs.len() {
        if let Some(text) = state.unserved(i, e) {
            return Some(format!("✗ {text}"));
        }
    }
    for e in 0..state.envs.len() {
        if let Drift::Drift { running, expected } = state.drift(i, e) {
            let wanted = crate::model::drift::expected_words(
                state.registry.services[i].delivery,
                state.expected_source(i, e).as_deref(),
                &expected,
            );
            return Some(format!(
                "{}: running {running}, {wanted} → drift",
                state.envs[e]
            ));
        }
    }
    // A GitOps service with nothing off: Flux's state per environment.
    let flux: Vec<String> = (0..state.envs.len())
        .filter_map(|e| {
            let reading = svc.gitops.get(e)?.as_ref()?;
            let f = reading.flux.as_ref().ok()?;
            Some(format!("{} {}", state.envs[e], f.words()))
        })
        .collect();
    (!flux.is_empty()).then(|| format!("Flux: {}", flux.join(" · ")))
}

fn draw_board(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    failing_flags: &[bool],
    mut order: Vec<usize>,
    view: &mut ViewState,
    theme: &Theme,
) {
    let block = Block::bordered()
        .title(Span::styled(
            " services (failing and active first) ",
            theme.header,
        ))
        .border_style(theme.border);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Two lines per service, three when all of them fit: build only the
    // ones that show.
    let spacious = inner.height as usize >= order.len() * ROW as usize;
    if !spacious {
        order.truncate(inner.height as usize / 2);
    }
    view.shown.clear();
    view.shown.extend(order.iter().copied());
    let name_w = state
        .registry
        .services
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(8)
        .clamp(6, 18)
        + 3;
    // Each environment's cells as wide as its widest, so that columns line up.
    let widths: Vec<usize> = (0..state.envs.len())
        .map(|e| {
            order
                .iter()
                .map(|&i| env_cell(state, i, e, theme).0.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut lines: Vec<Line> = Vec::new();
    for &i in &order {
        let service = &state.registry.services[i];
        let failing = failing_flags.get(i).copied().unwrap_or(false);
        let unreadable = state.services[i]
            .envs
            .iter()
            .any(|o| matches!(o, EnvObservation::Error(_) | EnvObservation::Missing { .. }));
        let (mark, mark_style) = if failing {
            ("✗", theme.error)
        } else if unreadable && !service.github_optional() {
            ("?", theme.warn)
        } else if state.is_active(i) {
            ("⟳", theme.running)
        } else if service.github_optional() {
            ("·", theme.muted)
        } else {
            ("✓", theme.ok)
        };
        let selected = state.selected == i;
        let name_style = if selected {
            theme.selected.add_modifier(Modifier::BOLD)
        } else {
            theme.header
        };
        let mut spans = vec![
            Span::styled(format!(" {mark} "), mark_style.add_modifier(Modifier::BOLD)),
            Span::styled(
                format!("{:<w$}", truncate(&service.name, name_w - 1), w = name_w),
                name_style,
            ),
        ];
        if service.github_optional() {
            spans.push(Span::styled(
                format!(
                    "not deployed by hearth: {}",
                    service
                        .shippable_reason
                        .as_deref()
                        .unwrap_or("shippable: false")
                ),
                theme.muted,
            ));
        } else {
            for (e, w) in widths.iter().enumerate() {
                let (text, style) = env_cell(state, i, e, theme);
                let pad = w.saturating_sub(text.chars().count());
                spans.push(Span::styled(text, style));
                spans.push(Span::raw(" ".repeat(pad + 2)));
            }
        }
        lines.push(super::truncate_line(
            Line::from(spans),
            inner.width as usize,
        ));
        let what = activity_line(state, i).unwrap_or_default();
        let style = if failing { theme.error } else { theme.muted };
        lines.push(Line::from(Span::styled(
            format!(
                "{:w$}{}",
                "",
                truncate(&what, (inner.width as usize).saturating_sub(name_w + 3)),
                w = name_w + 3
            ),
            style,
        )));
        if spacious {
            lines.push(Line::default());
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_bar(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let sep = || Span::styled(" │ ", theme.muted);
    let mut spans = vec![Span::styled(" read-only ", theme.key)];
    spans.push(sep());
    for (n, (id, st)) in state.sources.iter().enumerate() {
        if n > 0 {
            spans.push(Span::raw("  "));
        }
        // A watch streams: live is as fresh as it gets. A poller answers
        // now and then: its age says how fresh its data is.
        let age = match id {
            SourceId::GitHub => state.silent_for(id).map(|a| {
                if a < QUIET_SECS {
                    "now".to_string()
                } else {
                    format!("{} ago", format_duration(a))
                }
            }),
            SourceId::Kube { .. } => None,
        };
        let (word, style) = match st {
            SourceStatus::Live => (age.unwrap_or_else(|| "live".into()), theme.ok),
            SourceStatus::Connecting => ("connecting".into(), theme.running),
            SourceStatus::Degraded(_) => ("degraded".into(), theme.warn),
            SourceStatus::Down(_) => ("down".into(), theme.error),
            SourceStatus::Disabled(_) => ("off".into(), theme.muted),
        };
        let stale = matches!(st, SourceStatus::Live)
            && state.silent_for(id).is_some_and(|a| a > STALE_SECS)
            && *id == SourceId::GitHub;
        spans.push(Span::raw(format!("{} ", status::source_label(id))));
        spans.push(Span::styled(
            if stale {
                format!("stale ({word})")
            } else {
                word
            },
            if stale { theme.error } else { style },
        ));
    }
    // The sources always show; the rest only while the line has room.
    let help = [sep(), Span::styled("? help", theme.key)];
    let width = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>();
    let mut optional = Vec::new();
    if let Some(rl) = &state.rate_limit {
        optional.push(format!("rate {}/{}", rl.remaining, rl.limit));
    }
    if let Some(c) = state.watch.as_ref().and_then(|w| w.cycle) {
        optional.push(format!("cycle {c}s"));
    }
    for text in optional {
        if width(&spans) + 3 + text.chars().count() + width(&help) <= area.width as usize {
            spans.push(sep());
            spans.push(Span::raw(text));
        }
    }
    if width(&spans) + width(&help) <= area.width as usize {
        spans.extend(help);
    }
    frame.render_widget(
        Paragraph::new(super::truncate_line(Line::from(spans), area.width as usize))
            .style(theme.status_bar),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{update, Mode, Msg};
    use crate::model::CiRun;
    use crate::registry::{Registry, Service, Settings};

    fn board_rows(state: &State, view: &mut ViewState) -> Vec<String> {
        let theme = Theme::load(None, true).unwrap();
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 36)).unwrap();
        term.draw(|f| draw(f, state, view, &theme)).unwrap();
        let buf = term.backend().buffer().clone();
        (0..36)
            .map(|y| (0..120).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .collect()
    }

    /// The order of the board (and every service's failing flag) is derived
    /// once per change of the data: a frame drawn for the clock reuses it,
    /// a run that fails re-ranks at the next frame.
    #[test]
    fn the_board_is_ranked_once_per_change_of_the_data() {
        let registry = std::sync::Arc::new(Registry {
            path: "services.yaml".into(),
            settings: Settings::default(),
            services: vec![Service::example("alpha"), Service::example("beta")],
        });
        let mut state = State::new(registry, Mode::WATCH);
        update(&mut state, Msg::Resize(120, 36));
        let mut view = ViewState::default();
        let first_row = |rows: &[String], name: &str| rows.iter().position(|r| r.contains(name));
        let rows = board_rows(&state, &mut view);
        assert!(first_row(&rows, "alpha") < first_row(&rows, "beta"));
        let generation = state.generation;
        assert_eq!(
            view.watch_rank,
            Some((generation, vec![false, false], vec![0, 1]))
        );
        // A tick is no change of the data: the frame uses what was ranked
        // (planted here in another order, so that a re-rank would show).
        update(&mut state, Msg::Tick(1_700_000_000));
        assert_eq!(state.generation, generation);
        view.watch_rank = Some((generation, vec![false, false], vec![1, 0]));
        let rows = board_rows(&state, &mut view);
        assert!(
            first_row(&rows, "beta") < first_row(&rows, "alpha"),
            "{rows:#?}"
        );
        // beta's run fails: ranked again, failing first, counted in the title.
        update(
            &mut state,
            Msg::Runs {
                service: "beta".into(),
                runs: vec![CiRun {
                    id: 9,
                    status: "completed".into(),
                    conclusion: Some("failure".into()),
                    ..CiRun::default()
                }],
            },
        );
        update(&mut state, Msg::Tick(1_700_000_001));
        let rows = board_rows(&state, &mut view);
        assert_eq!(
            view.watch_rank,
            Some((state.generation, vec![false, true], vec![1, 0]))
        );
        assert!(rows[0].contains("1 failing"), "{}", rows[0]);
        let beta = first_row(&rows, "beta").unwrap();
        assert!(rows[beta].contains('✗'), "{}", rows[beta]);
        assert!(beta < first_row(&rows, "alpha").unwrap());
    }
}
