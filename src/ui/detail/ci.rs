//! The detail pane's CI section: the run, its jobs and steps with elapsed
//! times, the failed job's log tail, and the stream of transitions.

use super::*;

pub(super) fn ci_lines<'a>(
    state: &State,
    service: &Service,
    svc: &ServiceState,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(label(
        &format!("CI  {}", service.runs_workflow().unwrap_or("all workflows")),
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
    // What a waiting run waits for, once GitHub said.
    let pending = svc
        .pending
        .as_ref()
        .filter(|(id, _)| *id == run.id && run.status == "waiting")
        .map(|(_, p)| p);
    // How to approve from here: watch mode never can (it says where).
    let how = match state.mode.access {
        crate::app::Access::ReadWrite => "a approves",
        crate::app::Access::ReadOnly => "hearth approve, not from watch mode",
    };
    let outcome = match (run.status.as_str(), run.conclusion.as_deref()) {
        ("waiting", _) if pending.is_some() => "waits for an approval".to_string(),
        // On an environment's reviewers (or its wait timer): who acts, how.
        ("waiting", _) => format!("waits for an approval ({how})"),
        (s, c) => c.unwrap_or(s).to_string(),
    };
    let title = run
        .display_title
        .as_deref()
        .or(run.name.as_deref())
        .unwrap_or("");
    lines.push(Line::from(vec![
        Span::styled(format!("  {icon} run #{} {outcome}", run.run_number), style),
        Span::styled(format!("  {title}"), theme.muted),
    ]));
    if let Some(pending) = pending {
        let words = crate::model::ci::approval_words(pending, how);
        lines.push(Line::from(Span::styled(format!("    {words}"), theme.warn)));
    }

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
