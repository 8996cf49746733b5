//! The detail pane's release list.

use super::*;

pub(super) fn release_lines<'a>(
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
        // A model without releases: none is what there should be.
        r if !service.delivery.makes_releases() && r.as_ref().is_none_or(Vec::is_empty) => lines
            .push(Line::from(Span::styled(
                format!(
                    "  none: delivered by {}, which makes no releases",
                    service.delivery.word()
                ),
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
