//! What the operation keys do, purely: open the dialog that chooses an
//! operation, ask for its plan, show the plan for confirmation when it
//! changes prod, and only then ask for it to run; the keys of the dialogs
//! and of the log panel; log events into the panel's ring buffer. Every
//! command that leads to a change is built from the session's
//! [`WriteAccess`](crate::WriteAccess); without one (watch mode) none can be.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::activity::{Dialog, LogView, RollbackChoice};
use super::keymap::Op;
use super::{Command, Focus, State};
use crate::cluster::logs::LogEvent;
use crate::model::Problem;
use crate::ops::runner::Plan;
use crate::ops::{
    Bump, PromoteRequest, Request, RestartRequest, RollbackKind, RollbackRequest, ShipRequest,
    Target,
};

/// An operation key on the selected service.
pub(super) fn start(state: &mut State, op: Op) -> Vec<Command> {
    let Some(access) = state.write.clone() else {
        state.say("read-only: this session cannot change anything");
        return Vec::new();
    };
    let Some(i) = state.selected_service() else {
        return Vec::new();
    };
    let service = state.registry.services[i].clone();
    let ship = |target| {
        Request::Ship(ShipRequest {
            service: service.name.clone(),
            target,
            bump: Bump::Patch,
            skip_tests: false,
            no_version: false,
            watch: true,
        })
    };
    match op {
        Op::Ship | Op::ShipQa if !service.shippable => {
            state.say(format!(
                "{} is not shippable: {}",
                service.name,
                service
                    .shippable_reason
                    .as_deref()
                    .unwrap_or("shippable: false")
            ));
            Vec::new()
        }
        Op::Ship => plan_requests(state, "ship to prod", vec![ship(Target::Prod)], access),
        Op::ShipQa => plan_requests(state, "ship to qa", vec![ship(Target::Qa)], access),
        Op::ShipAll => {
            let reqs: Vec<Request> = state
                .registry
                .ship_all()
                .iter()
                .map(|s| {
                    Request::Ship(ShipRequest {
                        service: s.name.clone(),
                        target: Target::Prod,
                        bump: Bump::Patch,
                        skip_tests: false,
                        no_version: false,
                        watch: true,
                    })
                })
                .collect();
            if reqs.is_empty() {
                state.say("nothing to ship: no shippable service in ship_all");
                return Vec::new();
            }
            plan_requests(state, "ship all to prod", reqs, access)
        }
        // A model without releases promotes what its lower environment
        // runs: the plan says which tag and asks before it changes prod.
        Op::Promote if !service.delivery.makes_releases() => plan_requests(
            state,
            &format!("promote {}", service.name),
            vec![Request::Promote(PromoteRequest {
                service: service.name.clone(),
                tag: None,
                watch: true,
            })],
            access,
        ),
        Op::Promote => {
            let Some(releases) = &state.services[i].releases else {
                state.say(format!("{}'s releases are not known yet", service.name));
                return Vec::new();
            };
            let tags = prereleases(releases);
            if tags.is_empty() {
                state.say(format!(
                    "{} has no qa prerelease to promote; ship one with s",
                    service.name
                ));
                return Vec::new();
            }
            state.dialog = Some(Dialog::Promote {
                service: service.name.clone(),
                tags,
                selected: 0,
            });
            Vec::new()
        }
        Op::Approve => plan_requests(
            state,
            "approve",
            vec![Request::Approve(crate::ops::ApproveRequest {
                service: service.name.clone(),
                env: None,
                reject: false,
                comment: None,
            })],
            access,
        ),
        Op::Restart => {
            let envs: Vec<String> = service
                .environments
                .iter()
                .map(|e| e.name.clone())
                .collect();
            state.dialog = Some(Dialog::Restart {
                service: service.name.clone(),
                envs,
                selected: 0,
            });
            Vec::new()
        }
        Op::Rollback => {
            let envs: Vec<String> = service
                .environments
                .iter()
                .map(|e| e.name.clone())
                .collect();
            let Some(first) = envs.first().cloned() else {
                return Vec::new();
            };
            let helm: Vec<Option<(String, Option<u64>)>> = envs
                .iter()
                .map(|name| {
                    let e = state.envs.iter().position(|n| n == name)?;
                    let release = match &state.services[i].envs[e] {
                        crate::model::EnvObservation::Live(w) => w.helm_release.clone()?,
                        _ => return None,
                    };
                    let previous = match state.services[i].helm.get(e) {
                        Some(Some(Ok(Some(h)))) => h.previous(),
                        _ => None,
                    };
                    Some((release, previous))
                })
                .collect();
            // Where an automation owns the Deployment (Helm), a fast
            // rollback does not last: the model's own rollback comes first.
            // A host outside Kubernetes has no fast rollback at all.
            let on_host = envs.first().is_some_and(|name| {
                service
                    .environments
                    .iter()
                    .any(|e| &e.name == name && !e.on_cluster())
            });
            let choice = if helm.first().is_some_and(Option::is_some)
                || service.delivery.reverts_fast_rollback()
                || on_host
            {
                RollbackChoice::Clean
            } else {
                RollbackChoice::Fast
            };
            state.dialog = Some(Dialog::Rollback {
                service: service.name.clone(),
                envs,
                env: 0,
                choice,
                revisions: None,
                selected: 0,
                helm,
                clean: service.delivery.clean_rollback_words(),
                fast: service.delivery.fast_rollback_words(),
            });
            vec![Command::Revisions {
                service: service.name.clone(),
                env: first,
                access,
            }]
        }
    }
}

fn plan_requests(
    state: &mut State,
    title: &str,
    reqs: Vec<Request>,
    access: crate::WriteAccess,
) -> Vec<Command> {
    state.dialog = Some(Dialog::Planning {
        title: title.to_string(),
        pending: reqs.clone(),
        plans: Vec::new(),
        refused: Vec::new(),
    });
    reqs.into_iter()
        .map(|r| Command::Plan(r, access.clone()))
        .collect()
}

/// A plan arrived: collect it; once all are in, confirm (prod) or run.
pub(super) fn planned(
    state: &mut State,
    request: Request,
    result: Result<Box<Plan>, Problem>,
) -> Vec<Command> {
    let Some(Dialog::Planning {
        pending,
        plans,
        refused,
        title,
    }) = &mut state.dialog
    else {
        return Vec::new();
    };
    let Some(pos) = pending.iter().position(|r| *r == request) else {
        return Vec::new();
    };
    pending.remove(pos);
    match result {
        Ok(p) => plans.push(*p),
        Err(p) => refused.push((request.service().to_string(), p.to_string())),
    }
    if !pending.is_empty() {
        return Vec::new();
    }
    let (plans, refused, title) = (
        std::mem::take(plans),
        std::mem::take(refused),
        title.clone(),
    );
    if plans.is_empty() {
        let (service, why) = refused.into_iter().next().unwrap_or_default();
        state.dialog = Some(Dialog::Refused {
            title: format!("{title}: {service}"),
            problem: Problem::new(crate::model::ProblemKind::Invalid, why, ""),
        });
        return Vec::new();
    }
    if plans.iter().any(Plan::asks_first) || !refused.is_empty() {
        state.dialog = Some(Dialog::Confirm { plans, refused });
        return Vec::new();
    }
    state.dialog = None;
    execute(state, plans)
}

fn execute(state: &mut State, plans: Vec<Plan>) -> Vec<Command> {
    let Some(access) = state.write.clone() else {
        return Vec::new();
    };
    plans
        .into_iter()
        .map(|p| Command::Execute(Box::new(p), access.clone()))
        .collect()
}

fn up(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Up | KeyCode::Char('k'))
}

fn down(key: &KeyEvent) -> bool {
    matches!(key.code, KeyCode::Down | KeyCode::Char('j'))
}

/// Keys while a dialog is open.
pub(super) fn dialog_key(state: &mut State, key: KeyEvent) -> Vec<Command> {
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return vec![Command::Quit];
    }
    if key.code == KeyCode::Esc {
        // Nothing has changed yet: closing the dialog cancels.
        state.dialog = None;
        return Vec::new();
    }
    let confirm = matches!(key.code, KeyCode::Enter | KeyCode::Char('y'));
    let Some(dialog) = state.dialog.clone() else {
        return Vec::new();
    };
    match dialog {
        Dialog::Planning { .. } => Vec::new(),
        Dialog::Refused { .. } => {
            if confirm {
                state.dialog = None;
            }
            Vec::new()
        }
        Dialog::Confirm { plans, .. } => {
            if confirm {
                state.dialog = None;
                return execute(state, plans);
            }
            if key.code == KeyCode::Char('n') {
                state.dialog = None;
            }
            Vec::new()
        }
        Dialog::Promote {
            service,
            tags,
            mut selected,
        } => {
            if up(&key) {
                selected = selected.saturating_sub(1);
            } else if down(&key) {
                selected = (selected + 1).min(tags.len().saturating_sub(1));
            } else if confirm {
                let Some(access) = state.write.clone() else {
                    return Vec::new();
                };
                let req = Request::Promote(PromoteRequest {
                    service: service.clone(),
                    tag: tags.get(selected).cloned(),
                    watch: true,
                });
                return plan_requests(state, &format!("promote {service}"), vec![req], access);
            }
            state.dialog = Some(Dialog::Promote {
                service,
                tags,
                selected,
            });
            Vec::new()
        }
        Dialog::Rollback {
            service,
            envs,
            mut env,
            mut choice,
            mut revisions,
            mut selected,
            helm,
            clean,
            fast,
        } => {
            let Some(access) = state.write.clone() else {
                return Vec::new();
            };
            let mut commands = Vec::new();
            match key.code {
                KeyCode::Left | KeyCode::Right | KeyCode::Char('e') => {
                    env = (env + 1) % envs.len().max(1);
                    revisions = None;
                    commands.push(Command::Revisions {
                        service: service.clone(),
                        env: envs[env].clone(),
                        access: access.clone(),
                    });
                }
                KeyCode::Tab | KeyCode::Char('c') | KeyCode::Char('f') => {
                    choice = match choice {
                        RollbackChoice::Fast => RollbackChoice::Clean,
                        RollbackChoice::Clean => RollbackChoice::Fast,
                    };
                }
                _ if up(&key) => selected = selected.saturating_sub(1),
                _ if down(&key) => {
                    let n = match &revisions {
                        Some(Ok(r)) => r.len(),
                        _ => 0,
                    };
                    selected = (selected + 1).min(n.saturating_sub(1));
                }
                _ if confirm => {
                    let to_revision = match (&choice, &revisions) {
                        (RollbackChoice::Fast, Some(Ok(r))) => r.get(selected).map(|(n, _)| *n),
                        _ => None,
                    };
                    let req = Request::Rollback(RollbackRequest {
                        service: service.clone(),
                        env: envs.get(env).cloned().unwrap_or_else(|| "prod".into()),
                        kind: match choice {
                            RollbackChoice::Fast => RollbackKind::Fast,
                            RollbackChoice::Clean => RollbackKind::Clean,
                        },
                        to_revision,
                        watch: true,
                    });
                    return plan_requests(state, &format!("rollback {service}"), vec![req], access);
                }
                _ => {}
            }
            state.dialog = Some(Dialog::Rollback {
                service,
                envs,
                env,
                choice,
                revisions,
                selected,
                helm,
                clean,
                fast,
            });
            commands
        }
        Dialog::Restart {
            service,
            envs,
            mut selected,
        } => {
            if up(&key) {
                selected = selected.saturating_sub(1);
            } else if down(&key) {
                selected = (selected + 1).min(envs.len().saturating_sub(1));
            } else if confirm {
                let (Some(access), Some(env)) = (state.write.clone(), envs.get(selected)) else {
                    return Vec::new();
                };
                let req = Request::Restart(RestartRequest {
                    service: service.clone(),
                    env: env.clone(),
                    watch: true,
                });
                return plan_requests(state, &format!("restart {service}"), vec![req], access);
            }
            state.dialog = Some(Dialog::Restart {
                service,
                envs,
                selected,
            });
            Vec::new()
        }
        Dialog::Logs {
            service,
            envs,
            mut selected,
            mut migrate,
        } => {
            if up(&key) {
                selected = selected.saturating_sub(1);
            } else if down(&key) {
                selected = (selected + 1).min(envs.len().saturating_sub(1));
            } else if matches!(key.code, KeyCode::Char('m') | KeyCode::Tab) {
                migrate = !migrate;
            } else if confirm {
                state.dialog = None;
                let env = envs.get(selected).cloned().unwrap_or_default();
                return tail(
                    state,
                    &service,
                    &env,
                    migrate.then(|| "migrate".to_string()),
                );
            }
            state.dialog = Some(Dialog::Logs {
                service,
                envs,
                selected,
                migrate,
            });
            Vec::new()
        }
    }
}

/// `l`: tail the selected service's logs (choose the environment first
/// when it has several). Off in watch mode unless `--logs` was given.
pub(super) fn open_logs(state: &mut State) -> Vec<Command> {
    if !state.logs_enabled {
        state.say("log panels are off in watch mode; start hearth watch --logs to allow them");
        return Vec::new();
    }
    let Some(i) = state.selected_service() else {
        return Vec::new();
    };
    let service = state.registry.services[i].clone();
    let envs: Vec<String> = service
        .environments
        .iter()
        .map(|e| e.name.clone())
        .collect();
    // A stuck rollout's environment (a failing migration) first, with the
    // migration container chosen: that is what anyone needs to see first.
    let stuck = state.services[i]
        .envs
        .iter()
        .enumerate()
        .find_map(|(e, obs)| match obs {
            crate::model::EnvObservation::Live(w)
                if w.stuck_reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("migration")) =>
            {
                envs.iter().position(|n| *n == state.envs[e])
            }
            _ => None,
        });
    state.dialog = Some(Dialog::Logs {
        service: service.name.clone(),
        selected: stuck.unwrap_or(0),
        migrate: stuck.is_some(),
        envs,
    });
    Vec::new()
}

fn tail(state: &mut State, service: &str, env: &str, container: Option<String>) -> Vec<Command> {
    let mut commands = Vec::new();
    if let Some(old) = state.logs.take() {
        commands.push(Command::StopLogs(old.id));
    }
    let id = state.next_log;
    state.next_log += 1;
    state.logs = Some(LogView::new(
        id,
        service,
        env,
        container.clone(),
        state.log_limit,
    ));
    state.focus = Focus::Detail;
    commands.push(Command::Logs {
        id,
        service: service.to_string(),
        env: env.to_string(),
        container,
    });
    commands
}

/// Keys while the log panel has focus; `None` for keys it leaves to the
/// control room (quit, help).
pub(super) fn log_key(state: &mut State, key: KeyEvent) -> Option<Vec<Command>> {
    let view = state.logs.as_mut()?;
    if view.searching {
        match key.code {
            KeyCode::Esc => {
                view.search.clear();
                view.searching = false;
            }
            KeyCode::Enter => {
                view.searching = false;
                view.next_match();
            }
            KeyCode::Backspace => {
                view.search.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                view.search.push(c)
            }
            _ => {}
        }
        return Some(Vec::new());
    }
    let page = (state.size.1 / 2).max(1) as usize;
    let last = view.lines.len().saturating_sub(1);
    match key.code {
        KeyCode::Esc => {
            let id = view.id;
            state.logs = None;
            state.focus = Focus::Overview;
            return Some(vec![Command::StopLogs(id)]);
        }
        KeyCode::Char(' ') | KeyCode::Char('p') => view.paused = !view.paused,
        KeyCode::Char('/') => view.searching = true,
        KeyCode::Char('n') => view.next_match(),
        KeyCode::Up | KeyCode::Char('k') => view.scroll = (view.scroll + 1).min(last),
        KeyCode::Down | KeyCode::Char('j') => view.scroll = view.scroll.saturating_sub(1),
        KeyCode::PageUp => view.scroll = (view.scroll + page).min(last),
        KeyCode::PageDown => view.scroll = view.scroll.saturating_sub(page),
        KeyCode::Home | KeyCode::Char('g') => view.scroll = last,
        KeyCode::End | KeyCode::Char('G') => {
            view.scroll = 0;
            view.paused = false;
        }
        KeyCode::Tab => state.focus = Focus::Overview,
        _ => return None,
    }
    Some(Vec::new())
}

/// A log event of tail `id` (events of a closed tail are dropped).
pub(super) fn log_event(state: &mut State, id: u64, event: LogEvent) -> bool {
    let Some(view) = state.logs.as_mut().filter(|v| v.id == id) else {
        return false;
    };
    match event {
        LogEvent::Line(l) => view.push(l),
        LogEvent::Joined(p) => {
            if !view.pods.contains(&p) {
                view.pods.push(p);
            }
        }
        LogEvent::Left(p) => view.pods.retain(|x| *x != p),
        LogEvent::Problem(p) => view.problem = Some(p),
    }
    true
}

/// The releases a promote dialog offers: published prereleases, newest first.
fn prereleases(releases: &[crate::model::Release]) -> Vec<String> {
    releases
        .iter()
        .filter(|r| r.prerelease && !r.draft)
        .map(|r| r.tag.clone())
        .collect()
}
