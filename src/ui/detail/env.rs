//! The detail pane's environment sections: tag, init tag, replicas with a
//! progress bar, rollout message, stuck reason, drift and pods.

use super::*;

pub(super) fn env_lines<'a>(state: &State, i: usize, width: usize, theme: &Theme) -> Vec<Line<'a>> {
    let service = &state.registry.services[i];
    let svc = &state.services[i];
    let mut lines = Vec::new();
    for env in &service.environments {
        let Some(e) = state.envs.iter().position(|n| *n == env.name) else {
            continue;
        };
        let accent = theme.accent(&env.name, registry_accent(state, &env.name));
        let place = match (&env.host, &env.context) {
            (Some(host), _) => format!("host {host}"),
            (None, Some(ctx)) => format!("{ctx}/{}", env.namespace),
            (None, None) => env.namespace.clone(),
        };
        let mut head = vec![
            Span::styled(env.name.to_uppercase(), accent),
            Span::styled(format!(" ({place})  "), theme.muted),
        ];
        let mut extra = Vec::new();
        match &svc.envs[e] {
            // A host is read through its endpoint, not a cluster: no
            // cluster source says why it is unknown.
            EnvObservation::Unknown if env.host.is_some() => {
                head.push(Span::styled(
                    "unknown: its version endpoint has not been read yet",
                    theme.muted,
                ));
            }
            EnvObservation::Unknown => {
                let why = kube_source(state, env.context.as_deref(), &env.namespace)
                    .map(|status| format!("unknown: {}", source_problem(status)))
                    .unwrap_or_else(|| "unknown: no data yet".into());
                head.push(Span::styled(why, theme.muted));
            }
            EnvObservation::Missing { .. } if !state.registry.services[i].shippable => {
                head.push(Span::styled(
                    "not deployed (hearth does not ship this service)",
                    theme.muted,
                ));
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
            EnvObservation::Reported { tag, url } => {
                // A host outside Kubernetes: its endpoint is all hearth reads.
                head.push(Span::styled(tag.clone(), accent));
                let drift = state.drift(i, e);
                let source = state.expected_source(i, e);
                if let (Drift::Matches { .. }, Some(s)) = (&drift, &source) {
                    head.push(Span::styled(format!(" (matches {s})"), theme.muted));
                }
                if let Some(text) = state.unserved(i, e) {
                    extra.extend(indented(
                        "  ✗ ",
                        &text,
                        theme.error.add_modifier(Modifier::BOLD),
                        theme.error,
                        width,
                    ));
                }
                if let Some(line) = drift_line(&drift, service.delivery, source.as_deref(), theme) {
                    extra.push(line);
                }
                extra.extend(indented(
                    "  ",
                    &format!("reported by its version endpoint ({url}); a host outside Kubernetes: no pods, rollout or logs to read"),
                    theme.muted,
                    theme.muted,
                    width,
                ));
            }
            EnvObservation::Live(w) => {
                let (icon, style) = rollout_icon(&w.rollout, theme);
                head.push(Span::styled(
                    format!("{icon} {}  ", rollout_word(&w.rollout)),
                    style,
                ));
                match w.moving_to() {
                    Some(target) => {
                        head.push(Span::styled(
                            w.serving_tag().unwrap_or("?").to_string(),
                            accent,
                        ));
                        head.push(Span::styled(" → ", theme.muted));
                        head.push(Span::styled(target.to_string(), theme.running));
                        let new = w
                            .new_ready
                            .map(|n| format!("{n}/{} new ready · ", w.desired));
                        head.push(Span::raw(format!(
                            "  {}{} old serving",
                            new.unwrap_or_default(),
                            w.pods
                                .iter()
                                .filter(|p| p.ready && p.image_tag.as_deref() != Some(target))
                                .count()
                        )));
                    }
                    None => head.push(Span::styled(
                        w.image_tag.clone().unwrap_or_else(|| "?".into()),
                        accent,
                    )),
                }
                let drift = state.drift(i, e);
                let source = state.expected_source(i, e);
                let matches = format!("matches {}", source.as_deref().unwrap_or("release"));
                match &drift {
                    // The Deployment's tag is shown; say so when what serves
                    // (the old pods of a stuck rollout) is another one.
                    // "Matches" is said of a finished rollout only: half-way,
                    // the cell shows old → new with the new pods' readiness.
                    Drift::Matches { .. } if w.rollout != Rollout::Complete => {}
                    Drift::Matches { tag } if w.image_tag.as_deref() != Some(tag.as_str()) => head
                        .push(Span::styled(
                            format!(" (serving {tag}, {matches})"),
                            theme.muted,
                        )),
                    Drift::Matches { .. } => {
                        head.push(Span::styled(format!(" ({matches})"), theme.muted))
                    }
                    Drift::NoRelease => head.push(Span::styled(" (no release)", theme.muted)),
                    _ => {}
                }
                if w.moving_to().is_none() {
                    head.push(Span::raw(format!("  {}/{} ready", w.ready, w.desired)));
                }
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
                if let Some(text) = state.unserved(i, e) {
                    extra.extend(indented(
                        "  ✗ ",
                        &text,
                        theme.error.add_modifier(Modifier::BOLD),
                        theme.error,
                        width,
                    ));
                }
                let delivery = service.delivery;
                if let Some(line) = drift_line(&drift, delivery, source.as_deref(), theme) {
                    extra.push(line);
                }
                extra.extend(gitops_chain(state, i, e, w, width, theme));
                // Commits of the branch not running (the local checkout).
                if let (Some((_, stale)), Some(words)) =
                    (state.behind_mark(i, e), state.behind_words(i, e))
                {
                    extra.push(Line::from(if stale {
                        Span::styled(format!("  ↓ stale: {words}"), theme.warn)
                    } else {
                        Span::styled(format!("  ↓ {words}"), theme.muted)
                    }));
                }
                // What the public endpoint says it serves.
                if let Some(reading) = state.services[i].endpoints.get(e).and_then(Option::as_ref) {
                    let (lead, text, style) =
                        match (&reading.reported, state.endpoint_mismatch(i, e)) {
                            (_, Some(m)) => ("  ⚠ ", format!("{m} ({})", reading.url), theme.warn),
                            (Ok(v), None) => (
                                "  ",
                                format!("endpoint reports {v} ({})", reading.url),
                                theme.muted,
                            ),
                            (Err(why), None) => (
                                "  ⚠ ",
                                format!("endpoint {}: {why}", reading.url),
                                theme.warn,
                            ),
                        };
                    extra.extend(indented(lead, &text, style, style, width));
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
                extra.extend(digest_lines(w, env, width, theme));
                extra.extend(pod_lines(w, accent, theme));
                if let Some(release) = &w.helm_release {
                    let asked = service.reads_helm_history(env);
                    let reading = svc.helm.get(e).and_then(Option::as_ref);
                    extra.extend(helm_lines(release, asked, reading, width, theme));
                }
            }
        }
        lines.push(Line::from(head));
        lines.extend(extra);
    }
    lines
}

/// `  ≠ running v0.3.0, released v0.3.1 → drift`, or `  ⇡ deploying ...`
/// while CI deploys the released tag; nothing otherwise (a match is said
/// on the environment's first line).
/// `source` names where a push environment's expected tag comes from
/// (`  ≠ running sha-1a2b3c4, main@3f2a1c9 (run #88) deployed sha-3f2a1c9`).
pub(super) fn drift_line<'a>(
    drift: &Drift,
    delivery: crate::registry::Delivery,
    source: Option<&str>,
    theme: &Theme,
) -> Option<Line<'a>> {
    let (text, style) = match drift {
        Drift::Deploying { expected, by } => {
            (format!("  ⇡ deploying {expected} ({by})"), theme.running)
        }
        Drift::Drift { running, expected } => (
            format!(
                "  ≠ running {running}, {} → drift",
                crate::model::drift::expected_words(delivery, source, expected)
            ),
            theme.warn,
        ),
        _ => return None,
    };
    Some(Line::from(Span::styled(text, style)))
}

/// `delivery: gitops`: the chain a deploy walks, each link with its time:
/// the tag built (its run), the manifest commit pushed, Flux applied it,
/// the rollout. The first link that is not done says why (the step that
/// is stuck); nothing for other models or before the first reading.
fn gitops_chain<'a>(
    state: &State,
    i: usize,
    e: usize,
    w: &crate::model::Workload,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let Some(reading) = state.services[i].gitops.get(e).and_then(Option::as_ref) else {
        return Vec::new();
    };
    let Ok(m) = &reading.manifest else {
        return Vec::new();
    };
    let ago = |t: i64| match state.now {
        Some(now) => format!(", {} ago", crate::model::text::age(now - t)),
        None => String::new(),
    };
    let mut out = Vec::new();
    let mut link = |mark: &str, text: String, style| {
        out.extend(indented(&format!("  {mark} "), &text, style, style, width));
    };
    let short = &m.commit[..m.commit.len().min(7)];
    // 1. The image of the tag built (the run its tag push started).
    let run = state.services[i]
        .runs
        .iter()
        .flatten()
        .find(|r| r.head_branch.as_deref() == Some(m.tag.as_str()));
    match run {
        Some(r) if r.is_active() => link(
            "●",
            format!("building {} (run #{})", m.tag, r.run_number),
            theme.running,
        ),
        Some(r)
            if r.conclusion
                .as_deref()
                .is_some_and(crate::model::ci::is_good) =>
        {
            let when = r
                .updated_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| ago(t.timestamp()))
                .unwrap_or_default();
            link(
                "✓",
                format!("{} built (run #{}{when})", m.tag, r.run_number),
                theme.ok,
            )
        }
        Some(r) => link(
            "✗",
            format!(
                "the build of {} {} (run #{})",
                m.tag,
                match r.conclusion.as_deref() {
                    Some("cancelled") => "was cancelled",
                    Some("timed_out") => "timed out",
                    Some("action_required") => "waits for an action",
                    _ => "failed",
                },
                r.run_number
            ),
            theme.error,
        ),
        None => link(
            "·",
            format!("{}: no build run among the newest runs", m.tag),
            theme.muted,
        ),
    }
    // 2. The manifest commit.
    link(
        "✓",
        format!("manifest commit {short} pushed{}: {}", ago(m.at), m.subject),
        theme.ok,
    );
    // 3. Flux.
    match &reading.flux {
        Err(why) => link("?", format!("Flux: {why}"), theme.warn),
        // Suspended after it applied this commit: nothing is stuck yet,
        // but the next commit will be.
        Ok(f) if f.suspended && !reading.unapplied && !f.stalled => link(
            "⚑",
            format!(
                "Flux applied {} and is suspended: later commits wait until it is resumed",
                f.last_applied
                    .as_deref()
                    .map(crate::model::flux::short_revision)
                    .unwrap_or_default()
            ),
            theme.warn,
        ),
        Ok(f) if f.troubled() => link("✗", format!("stuck at Flux: {}", f.words()), theme.error),
        Ok(f) if reading.unapplied && f.reconciling => link(
            "●",
            format!("Flux is reconciling; it has not applied {short} yet"),
            theme.running,
        ),
        Ok(f) if reading.unapplied => link(
            "◷",
            format!(
                "waiting for Flux to apply {short} (it last applied {})",
                f.last_applied
                    .as_deref()
                    .map(crate::model::flux::short_revision)
                    .unwrap_or_else(|| "nothing".into())
            ),
            theme.running,
        ),
        Ok(f) => link(
            "✓",
            format!(
                "Flux applied {}{}",
                f.last_applied
                    .as_deref()
                    .map(crate::model::flux::short_revision)
                    .unwrap_or_default(),
                f.ready_since.map(&ago).unwrap_or_default()
            ),
            theme.ok,
        ),
    }
    // 4. The rollout of the manifest's tag, then 5. the smoke checks that
    // hearth's own operation ran for it (the journal), when it ran them.
    if w.image_tag.as_deref() == Some(m.tag.as_str()) {
        match &w.rollout {
            Rollout::Complete => {
                link("✓", format!("rollout of {} complete", m.tag), theme.ok);
                let env_name = &state.envs[e];
                let entry = state
                    .history
                    .of(&state.registry.services[i].name, 20)
                    .into_iter()
                    .find(|x| {
                        x.env.as_deref() == Some(env_name.as_str())
                            && x.to_tag.as_deref() == Some(m.tag.as_str())
                    });
                let smoke: Vec<_> = entry
                    .iter()
                    .flat_map(|x| x.steps.iter())
                    .filter(|st| st.name.starts_with("smoke"))
                    .collect();
                let when = entry
                    .and_then(|x| chrono::DateTime::parse_from_rfc3339(&x.time).ok())
                    .map(|t| ago(t.timestamp()))
                    .unwrap_or_default();
                let op = entry.map_or("", |x| x.op.as_str());
                if let Some(bad) = smoke
                    .iter()
                    .find(|st| st.state == crate::model::StepState::Failed)
                {
                    link(
                        "✗",
                        format!(
                            "stuck at the smoke check ({op}{when}): {}",
                            bad.detail.as_deref().unwrap_or(&bad.name)
                        ),
                        theme.error,
                    );
                } else if !smoke.is_empty() {
                    link("✓", format!("smoke checks passed ({op}{when})"), theme.ok);
                }
            }
            Rollout::Progressing(_) => {
                link("●", format!("rolling out {} (below)", m.tag), theme.running)
            }
            Rollout::Failed(_) => link(
                "✗",
                format!("stuck at the rollout of {} (below)", m.tag),
                theme.error,
            ),
        }
    }
    out
}

/// How many cells the replica bar has at most; one per replica below that.
pub(super) const BAR_CELLS: i32 = 12;

/// `  ██▒░ 1/2 updated · 1 ready · 1 available`: the bar has a cell per
/// desired replica (scaled down past [`BAR_CELLS`]): `█` updated and
/// available, `▒` updated but not yet available, `░` still to do.
pub(super) fn progress_spans<'a>(w: &Workload, theme: &Theme) -> Vec<Span<'a>> {
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
pub(super) fn pod_ages(w: &Workload) -> Vec<Option<bool>> {
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

/// What the serving tag hides ([`Workload::digest_warning`]).
pub(super) fn digest_lines<'a>(
    w: &Workload,
    env: &crate::registry::Environment,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let prod = env.release == crate::registry::ReleaseKind::Latest;
    w.digest_warning(&env.name, prod)
        .map(|text| indented("  ⚠ ", &text, theme.warn, theme.warn, width))
        .unwrap_or_default()
}

/// How many Helm revisions the detail pane lists.
const HELM_SHOWN: usize = 4;

/// The Helm release that manages the Deployment and its last revisions (as
/// `helm history` lists them), or why they are not shown.
pub(super) fn helm_lines<'a>(
    release: &str,
    asked: bool,
    reading: Option<&crate::app::HelmReading>,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let head = |rest: String, style| {
        Line::from(vec![
            Span::styled(format!("  helm {release}"), theme.key),
            Span::styled(rest, style),
        ])
    };
    match reading {
        _ if !asked => vec![head(
            "  history not read: set helm_history: true (it reads Helm's Secrets)".into(),
            theme.muted,
        )],
        None => vec![head("  reading its history…".into(), theme.muted)],
        Some(Err(p)) => {
            let mut out = vec![head("  history unreadable".into(), theme.error)];
            out.extend(indented(
                "    ✗ ",
                &p.message,
                theme.error,
                theme.error,
                width,
            ));
            out.extend(indented("    → ", &p.hint, theme.muted, theme.muted, width));
            out
        }
        Some(Ok(None)) => vec![head("  no release history".into(), theme.muted)],
        Some(Ok(Some(h))) => {
            let mut out = vec![head(
                format!("  {} revision(s), newest first", h.revisions.len()),
                theme.muted,
            )];
            for r in h.revisions.iter().take(HELM_SHOWN) {
                let style = match r.status.as_str() {
                    "deployed" => theme.ok,
                    "failed" => theme.error,
                    s if s.starts_with("pending") => theme.running,
                    _ => theme.muted,
                };
                let updated = r.updated.get(..16).unwrap_or(&r.updated).replace('T', " ");
                out.push(Line::from(vec![
                    Span::raw(format!("    rev {:<3} ", r.revision)),
                    Span::styled(format!("{:<11}", r.status), style),
                    Span::raw(format!(" {}  app {}  ", r.chart, r.app_version)),
                    Span::styled(format!("{updated}  {}", r.description), theme.muted),
                ]));
            }
            out
        }
    }
}

/// One line per pod: readiness, new/old, name, kubectl's status, tag, restarts.
pub(super) fn pod_lines<'a>(w: &Workload, accent: Style, theme: &Theme) -> Vec<Line<'a>> {
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
            if let Some(d) = &pod.digest {
                spans.push(Span::styled(
                    format!(" @{}", crate::model::short_digest(d)),
                    theme.muted,
                ));
            }
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
            drift_line(&d, crate::registry::Delivery::Release, None, &theme).map(|l| {
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
                by: "run #7".into()
            })
            .as_deref(),
            Some("  ⇡ deploying v0.3.1 (run #7)")
        );
        assert_eq!(line(Drift::Matches { tag: "v1".into() }), None);
    }
}
