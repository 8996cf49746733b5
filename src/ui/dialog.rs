//! The dialogs over the control room: choosing a prerelease to promote, a
//! rollback (environment, fast or clean, revision), a restart, a log tail, and the
//! confirmation that says exactly what an operation will do (tag, release,
//! mechanism, namespace, and every request in order) before anything
//! changes. Pure.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::Theme;
use crate::app::activity::{Dialog, RollbackChoice};
use crate::app::State;
use crate::model::System;

fn footer<'a>(text: &str, theme: &Theme) -> Line<'a> {
    Line::from(Span::styled(format!(" {text}"), theme.muted))
}

fn choice<'a>(selected: bool, text: String, theme: &Theme) -> Line<'a> {
    if selected {
        Line::from(Span::styled(
            format!(" ▸ {text}"),
            theme.selected.add_modifier(Modifier::BOLD),
        ))
    } else {
        Line::from(Span::raw(format!("   {text}")))
    }
}

/// Draw the open dialog, centred on `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let Some(dialog) = &state.dialog else {
        return;
    };
    let (title, lines) = content(dialog, theme);
    let width = lines
        .iter()
        .map(|l| l.width())
        .max()
        .unwrap_or(20)
        .max(title.chars().count() + 4) as u16
        + 4;
    let width = width
        .min(area.width.saturating_sub(2))
        .max(20.min(area.width));
    // Wrapped lines may take more rows than there are lines: count them.
    let inner = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let height = (rows as u16 + 2).min(area.height);
    let popup = area.centered(Constraint::Length(width), Constraint::Length(height));
    let block = Block::bordered()
        .title(Span::styled(format!(" {title} "), theme.title))
        .border_style(theme.border_focused)
        .style(theme.popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        popup,
    );
}

fn content<'a>(dialog: &Dialog, theme: &Theme) -> (String, Vec<Line<'a>>) {
    match dialog {
        Dialog::Planning { title, pending, .. } => (
            title.clone(),
            vec![
                Line::from(format!(
                    " working out what {} will do ({} left)…",
                    if pending.len() > 1 { "they" } else { "it" },
                    pending.len()
                )),
                Line::from(Span::styled(
                    " reading git, GitHub and the cluster; nothing changes yet",
                    theme.muted,
                )),
                Line::default(),
                footer("Esc cancels", theme),
            ],
        ),
        Dialog::Confirm { plans, refused } => {
            let mut lines = Vec::new();
            for p in plans {
                let style = if p.changes_prod() {
                    theme.error
                } else {
                    theme.warn
                };
                lines.push(Line::from(Span::styled(
                    format!(" {}", p.title()),
                    style.add_modifier(Modifier::BOLD),
                )));
                lines.push(Line::from(Span::styled(
                    format!("   mechanism: {}", p.mechanism()),
                    theme.muted,
                )));
                for (i, (system, step)) in p.steps().iter().enumerate() {
                    let who = match system {
                        System::Git => "git",
                        System::GitHub => "github",
                        System::Kubernetes => "k8s",
                        System::Local => "local",
                    };
                    lines.push(Line::from(vec![
                        Span::styled(format!("   {:>2}. [{who}] ", i + 1), theme.muted),
                        Span::raw(step.clone()),
                    ]));
                }
                for note in p.notes() {
                    lines.push(Line::from(Span::raw(format!("       {note}"))));
                }
                lines.push(Line::default());
            }
            for (service, why) in refused {
                lines.push(Line::from(Span::styled(
                    format!(" ✗ {service}: {why}"),
                    theme.warn,
                )));
            }
            if !refused.is_empty() {
                lines.push(Line::default());
            }
            lines.push(footer(
                "Enter or y: go ahead · Esc or n: cancel (nothing has changed)",
                theme,
            ));
            let title = match plans.iter().find_map(|p| p.asks_because()) {
                Some(why) => format!("confirm: this {why}"),
                None => "confirm".to_string(),
            };
            (title, lines)
        }
        Dialog::Promote {
            service,
            tags,
            selected,
        } => {
            let mut lines = vec![Line::from(Span::styled(
                " which qa prerelease becomes the latest release (deploys to prod, no rebuild)?",
                theme.muted,
            ))];
            for (i, t) in tags.iter().enumerate() {
                let note = if i == 0 { "  (newest)" } else { "" };
                lines.push(choice(i == *selected, format!("{t}{note}"), theme));
            }
            lines.push(Line::default());
            lines.push(footer(
                "↑/↓ choose · Enter: plan it (asks before changing) · Esc cancels",
                theme,
            ));
            (format!("promote {service}"), lines)
        }
        Dialog::Rollback {
            service,
            envs,
            env,
            choice: kind,
            revisions,
            selected,
            helm,
            clean: clean_words,
            fast: fast_words,
        } => {
            let mut lines = Vec::new();
            let mut env_spans = vec![Span::raw(" environment: ")];
            for (i, e) in envs.iter().enumerate() {
                if i == *env {
                    env_spans.push(Span::styled(format!("[{e}]"), theme.selected));
                } else {
                    env_spans.push(Span::raw(format!(" {e} ")));
                }
                env_spans.push(Span::raw(" "));
            }
            env_spans.push(Span::styled("(←/→)", theme.muted));
            lines.push(Line::from(env_spans));
            let (fast, clean) = match kind {
                RollbackChoice::Fast => ("[fast]", " clean "),
                RollbackChoice::Clean => (" fast ", "[clean]"),
            };
            lines.push(Line::from(vec![
                Span::raw(" kind: "),
                Span::styled(
                    fast.to_string(),
                    if *kind == RollbackChoice::Fast {
                        theme.selected
                    } else {
                        theme.base
                    },
                ),
                Span::raw(" "),
                Span::styled(
                    clean.to_string(),
                    if *kind == RollbackChoice::Clean {
                        theme.selected
                    } else {
                        theme.base
                    },
                ),
                Span::styled("  (Tab)", theme.muted),
            ]));
            match kind {
                RollbackChoice::Fast => {
                    lines.push(Line::from(Span::styled(
                        format!(" {fast_words}"),
                        if fast_words.contains('⚠') {
                            theme.warn
                        } else {
                            theme.muted
                        },
                    )));
                    match revisions {
                        None => lines.push(Line::from(Span::styled(
                            " reading the revisions…",
                            theme.muted,
                        ))),
                        Some(Err(e)) => {
                            lines.push(Line::from(Span::styled(format!(" {e}"), theme.error)))
                        }
                        Some(Ok(revs)) => {
                            let newest = revs.last().map(|(n, _)| *n);
                            for (i, (n, tag)) in revs.iter().enumerate() {
                                let now = if Some(*n) == newest {
                                    "  (current)"
                                } else {
                                    ""
                                };
                                lines.push(choice(
                                    i == *selected,
                                    format!("revision {n}  {}{now}", tag.as_deref().unwrap_or("?")),
                                    theme,
                                ));
                            }
                        }
                    }
                }
                RollbackChoice::Clean => lines.push(Line::from(Span::styled(
                    format!(" {clean_words}"),
                    theme.muted,
                ))),
            }
            if let Some(Some((release, previous))) = helm.get(*env) {
                let revision = previous.map_or_else(|| "REVISION".to_string(), |r| r.to_string());
                lines.push(Line::from(Span::styled(
                    format!(" ⚠ Helm manages this Deployment (release {release}): a fast rollback lasts"),
                    theme.warn,
                )));
                lines.push(Line::from(Span::styled(
                    "   until the next helm upgrade puts the chart's image back; the model's own",
                    theme.warn,
                )));
                lines.push(Line::from(Span::styled(
                    format!(
                        "   rollback (Tab) keeps it, or by hand: helm rollback {release} {revision}"
                    ),
                    theme.warn,
                )));
            }
            lines.push(Line::default());
            lines.push(footer(
                "Enter: plan it (asks before changing prod) · Esc cancels",
                theme,
            ));
            (format!("rollback {service}"), lines)
        }
        Dialog::Restart {
            service,
            envs,
            selected,
        } => {
            let mut lines = vec![Line::from(Span::styled(
                " restart the pods of which environment?",
                theme.muted,
            ))];
            for (i, e) in envs.iter().enumerate() {
                lines.push(choice(i == *selected, e.clone(), theme));
            }
            lines.push(Line::from(Span::styled(
                " new pods of the same image replace the old ones; then the smoke checks",
                theme.muted,
            )));
            lines.push(Line::default());
            lines.push(footer(
                "Enter: plan (you confirm next) · Esc cancels",
                theme,
            ));
            (format!("restart {service}"), lines)
        }
        Dialog::Logs {
            service,
            envs,
            selected,
            migrate,
        } => {
            let mut lines = vec![Line::from(Span::styled(" whose pods' logs?", theme.muted))];
            for (i, e) in envs.iter().enumerate() {
                lines.push(choice(i == *selected, e.clone(), theme));
            }
            lines.push(Line::from(vec![
                Span::raw(" container: "),
                Span::styled(
                    if *migrate {
                        "migrate (the migration init container)"
                    } else {
                        "the app"
                    },
                    theme.selected,
                ),
                Span::styled("  (m)", theme.muted),
            ]));
            lines.push(Line::default());
            lines.push(footer("Enter: tail · Esc cancels", theme));
            (format!("logs {service}"), lines)
        }
        Dialog::Refused { title, problem } => {
            let mut lines = vec![Line::from(Span::styled(
                format!(" ✗ {}", problem.message),
                theme.error,
            ))];
            if !problem.hint.is_empty() {
                lines.push(Line::from(Span::styled(
                    format!("   {}", problem.hint),
                    theme.key,
                )));
            }
            lines.push(Line::default());
            lines.push(footer("nothing changed · Enter or Esc closes", theme));
            (title.clone(), lines)
        }
    }
}
