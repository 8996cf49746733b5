//! Snapshot tests of the screens that came with the operations and watch
//! mode: the watch board at 80x24, 160x48 and 240x67 in the default and
//! high-contrast themes (healthy, failing, disconnected and stale); the
//! dialogs (promote, rollback, logs, confirmation, refusal); the progress
//! panel with its command log; the log panel. States come from recorded
//! messages through the real `update` with an injected clock.

mod support;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hearth::app::activity::Dialog;
use hearth::app::{update, Mode, Msg, SourceId, State, WatchSettings};
use hearth::cluster::logs::{LogEvent, LogLine};
use hearth::model::{
    CiJob, CiRun, CiStep, EnvObservation, PodSummary, Problem, ProblemKind, RateLimit, Release,
    Rollout, SourceStatus, Workload,
};
use hearth::ops::{Event, Mutation, OpKind, Outcome, Progress, StepState, System};
use hearth::registry::{Registry, Service, Settings};
use hearth::ui::{draw, Theme, ViewState};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// 2026-03-01 10:02:30 UTC.
const NOW: i64 = 1_772_359_350;

fn registry() -> Arc<Registry> {
    let svc = |name: &str| Service {
        repo: Some(format!("katforge/{name}")),
        image: Some(format!("ghcr.io/katforge/{name}")),
        ..Service::example(name)
    };
    Arc::new(Registry {
        path: "/work/hearth/services.yaml".into(),
        settings: Settings::default(),
        services: vec![
            svc("api"),
            svc("katforge"),
            svc("stumper"),
            Service {
                shippable: false,
                shippable_reason: Some("No Dockerfile in geargoblins.com/ui yet.".into()),
                repo: None,
                ..Service::example("geargoblins")
            },
        ],
    })
}

fn kube(ns: &str) -> SourceId {
    SourceId::Kube {
        context: None,
        namespace: ns.into(),
    }
}

fn pod(name: &str, status: &str, ready: bool, tag: &str) -> PodSummary {
    PodSummary {
        name: name.into(),
        status: status.into(),
        ready,
        restarts: if ready { 0 } else { 4 },
        image_tag: Some(tag.into()),
        template_hash: None,
        digest: None,
    }
}

fn live(tag: &str, ready: i32, rollout: Rollout, pods: Vec<PodSummary>) -> Workload {
    Workload {
        image_tag: Some(tag.into()),
        init_image_tag: Some(tag.into()),
        desired: 2,
        updated: 2,
        ready,
        available: ready,
        revision: Some(3),
        rollout,
        stuck_reason: None,
        new_ready: None,
        helm_release: None,
        pods,
    }
}

fn workload(service: &str, env: &str, w: Workload) -> Msg {
    Msg::Workload {
        service: service.into(),
        env: env.into(),
        observation: EnvObservation::Live(w),
    }
}

fn release(id: u64, tag: &str, prerelease: bool, latest: bool) -> Release {
    Release {
        id,
        tag: tag.into(),
        prerelease,
        latest,
        published_at: Some("2026-03-01T09:00:00Z".into()),
        ..Release::default()
    }
}

fn run(id: u64, number: u64, status: &str, conclusion: Option<&str>, branch: &str) -> CiRun {
    CiRun {
        id,
        run_number: number,
        event: "release".into(),
        head_branch: Some(branch.into()),
        display_title: Some(branch.into()),
        status: status.into(),
        conclusion: conclusion.map(Into::into),
        created_at: Some("2026-03-01T10:01:50Z".into()),
        ..CiRun::default()
    }
}

/// Every service healthy and every source live.
fn healthy() -> Vec<Msg> {
    let mut msgs = vec![
        Msg::Tick(NOW),
        Msg::Source(kube("default"), SourceStatus::Live),
        Msg::Source(kube("qa"), SourceStatus::Live),
        Msg::Source(SourceId::GitHub, SourceStatus::Live),
        Msg::Answered(SourceId::GitHub),
        Msg::RateLimit(RateLimit {
            limit: 5000,
            remaining: 4990,
            used: 10,
            reset: NOW + 3000,
        }),
    ];
    for (svc, prod, qa) in [
        ("api", "v0.0.28", "v0.0.29-rc.1"),
        ("katforge", "v1.4.2", "v1.5.0-rc.1"),
        ("stumper", "v0.3.0", "v0.3.1-rc.2"),
    ] {
        let p = |t: &str, n: u8| pod(&format!("{svc}-abc-{n}"), "Running", true, t);
        msgs.push(workload(
            svc,
            "prod",
            live(prod, 2, Rollout::Complete, vec![p(prod, 1), p(prod, 2)]),
        ));
        msgs.push(workload(
            svc,
            "qa",
            live(qa, 2, Rollout::Complete, vec![p(qa, 3), p(qa, 4)]),
        ));
        msgs.push(Msg::Releases {
            service: svc.into(),
            releases: vec![release(2, qa, true, false), release(1, prod, false, true)],
        });
        msgs.push(Msg::Runs {
            service: svc.into(),
            runs: vec![run(40, 41, "completed", Some("success"), qa)],
        });
    }
    msgs
}

/// stumper's qa rollout stuck on a failing migration; katforge deploying to qa.
fn trouble() -> Vec<Msg> {
    let mut w = live(
        "v0.3.2-rc.1",
        2,
        Rollout::Progressing("Waiting for deployment \"stumper\" rollout to finish: 1 out of 2 new replicas have been updated...".into()),
        vec![
            pod("stumper-new-1", "Init:CrashLoopBackOff", false, "v0.3.2-rc.1"),
            pod("stumper-old-1", "Running", true, "v0.3.1-rc.2"),
            pod("stumper-old-2", "Running", true, "v0.3.1-rc.2"),
        ],
    );
    w.updated = 1;
    w.new_ready = Some(0);
    w.stuck_reason = Some("migration \"migrate\" failing: CrashLoopBackOff, 4 restarts, last exit code 1; old pods still serving".into());
    let mut rolling = live(
        "v1.5.0-rc.2",
        2,
        Rollout::Progressing("Waiting for deployment \"katforge\" rollout to finish: 1 of 2 updated replicas are available...".into()),
        vec![
            pod("katforge-new-1", "Running", true, "v1.5.0-rc.2"),
            pod("katforge-new-2", "Init:0/1", false, "v1.5.0-rc.2"),
            pod("katforge-old-1", "Running", true, "v1.5.0-rc.1"),
        ],
    );
    rolling.updated = 2;
    rolling.new_ready = Some(1);
    vec![
        workload("stumper", "qa", w),
        Msg::Runs {
            service: "stumper".into(),
            runs: vec![run(50, 52, "completed", Some("failure"), "v0.3.2-rc.1")],
        },
        workload("katforge", "qa", rolling),
        Msg::Runs {
            service: "katforge".into(),
            runs: vec![run(60, 61, "in_progress", None, "v1.5.0-rc.2")],
        },
        Msg::Jobs {
            service: "katforge".into(),
            run_id: 60,
            jobs: vec![CiJob {
                id: 1,
                run_id: 60,
                name: "ship".into(),
                status: "in_progress".into(),
                steps: vec![
                    CiStep {
                        number: 1,
                        name: "Build and push image".into(),
                        status: "completed".into(),
                        conclusion: Some("success".into()),
                        ..CiStep::default()
                    },
                    CiStep {
                        number: 2,
                        name: "Deploy to k3s".into(),
                        status: "in_progress".into(),
                        ..CiStep::default()
                    },
                ],
                ..CiJob::default()
            }],
        },
    ]
}

fn watch_state(msgs: impl IntoIterator<Item = Msg>) -> State {
    let mut state = State::new(registry(), Mode::WATCH);
    state.kube_context = Some("k3s-katforge".into());
    state.watch = Some(WatchSettings {
        cycle: Some(10),
        bell: true,
        last_cycle: None,
    });
    for m in msgs {
        update(&mut state, m);
    }
    state
}

fn text(state: &State, theme: &str, w: u16, h: u16) -> String {
    let theme = Theme::load(Some(theme), false).unwrap();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, state, &mut ViewState::default(), &theme))
        .unwrap();
    term.backend().to_string()
}

/// The board's line for `service` (the row that starts with its mark and name).
fn board_row<'a>(screen: &'a str, service: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            let t = l.trim_start_matches(['"', '│', ' ']);
            t.len() > 2
                && t[t.char_indices().nth(2).map_or(0, |(i, _)| i)..]
                    .starts_with(&format!("{service} "))
        })
        .unwrap_or_else(|| panic!("no row for {service}:\n{screen}"))
}

#[test]
fn watch_healthy_80x24_and_160x48_and_240x67() {
    let state = watch_state(healthy());
    let small = text(&state, "high-contrast", 80, 24);
    assert!(small.contains("all well"), "{small}");
    insta::assert_snapshot!("watch_healthy_80x24_high_contrast", small);
    insta::assert_snapshot!(
        "watch_healthy_160x48_default",
        text(&state, "default", 160, 48)
    );
    insta::assert_snapshot!(
        "watch_healthy_240x67_high_contrast",
        text(&state, "high-contrast", 240, 67)
    );
}

#[test]
fn watch_puts_failing_then_active_first_and_says_what_serves() {
    let state = watch_state(healthy().into_iter().chain(trouble()));
    let screen = text(&state, "high-contrast", 160, 48);
    let pos = |s: &str| screen.find(board_row(&screen, s)).unwrap();
    assert!(
        pos("stumper") < pos("katforge") && pos("katforge") < pos("api"),
        "order:\n{screen}"
    );
    // The stuck cell shows what serves and what it is moving to.
    assert!(
        board_row(&screen, "stumper").contains("QA v0.3.1-rc.2 → v0.3.2-rc.1 0/2 ✗"),
        "{screen}"
    );
    assert!(screen.contains("1 failing"), "{screen}");
    assert!(
        screen.contains("● run #61 v1.5.0-rc.2: Deploy to k3s"),
        "{screen}"
    );
    insta::assert_snapshot!("watch_failing_and_active_160x48_high_contrast", screen);
    insta::assert_snapshot!(
        "watch_failing_and_active_80x24_default",
        text(&state, "default", 80, 24)
    );
    insta::assert_snapshot!(
        "watch_failing_and_active_240x67_default",
        text(&state, "default", 240, 67)
    );
}

#[test]
fn watch_banners_a_disconnected_cluster_and_stale_github() {
    let mut msgs = healthy();
    let unreachable = Problem::new(
        ProblemKind::Unreachable,
        "cannot reach the API server of the current context (https://10.0.0.1:6443): Connection refused (os error 111)",
        "check KUBECONFIG / --context / VPN",
    );
    msgs.push(Msg::Source(
        kube("qa"),
        SourceStatus::Down(unreachable.clone()),
    ));
    // As the watch does: what it showed is replaced by the problem.
    for svc in ["api", "katforge", "stumper", "geargoblins"] {
        msgs.push(Msg::Workload {
            service: svc.into(),
            env: "qa".into(),
            observation: EnvObservation::Error(unreachable.clone()),
        });
    }
    // Two minutes later: GitHub has not answered since.
    msgs.push(Msg::Tick(NOW + 120));
    let state = watch_state(msgs);
    let screen = text(&state, "high-contrast", 160, 48);
    assert!(
        screen.contains("K8S QA DISCONNECTED since 10:02:30 UTC (2m00s)"),
        "{screen}"
    );
    assert!(
        screen.contains("GITHUB STALE: last answer 2m00s ago"),
        "{screen}"
    );
    assert!(screen.contains("github stale (2m00s ago)"), "{screen}");
    assert!(
        screen.contains("2 source problems"),
        "the title does not say all is well:\n{screen}"
    );
    assert!(
        board_row(&screen, "api").contains("QA unreachable"),
        "{screen}"
    );
    insta::assert_snapshot!("watch_disconnected_stale_160x48_high_contrast", screen);
    insta::assert_snapshot!(
        "watch_disconnected_stale_80x24_default",
        text(&state, "default", 80, 24)
    );
}

#[test]
fn watch_rings_the_bell_and_keeps_the_title_when_something_fails() {
    let mut state = watch_state(healthy());
    let out = update(&mut state, trouble().remove(0));
    assert!(
        out.commands.contains(&hearth::app::Command::Bell),
        "{:?}",
        out.commands
    );
    assert!(out.commands.contains(&hearth::app::Command::Title(
        "hearth watch: 1 failing".into()
    )));
    // The same failure again: no second bell.
    let out = update(&mut state, trouble().remove(0));
    assert!(!out.commands.contains(&hearth::app::Command::Bell));
}

#[test]
fn watch_cycles_through_failing_and_active_first() {
    let mut state = watch_state(healthy().into_iter().chain(trouble()));
    update(&mut state, Msg::Tick(NOW + 1));
    let name = |s: &State| s.registry.services[s.selected].name.clone();
    assert_eq!(name(&state), "stumper");
    update(&mut state, Msg::Tick(NOW + 11));
    assert_eq!(name(&state), "katforge");
    update(&mut state, Msg::Tick(NOW + 15));
    assert_eq!(
        name(&state),
        "katforge",
        "not before the cycle's seconds are up"
    );
    update(&mut state, Msg::Tick(NOW + 21));
    assert_eq!(name(&state), "api");
}

#[test]
fn an_operation_key_in_watch_mode_says_read_only_and_asks_for_nothing() {
    let mut state = watch_state(healthy());
    for c in ['s', 'S', 'p', 'r', 'A', 'l'] {
        let out = update(
            &mut state,
            Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
        assert!(out.commands.is_empty(), "{c} asked for {:?}", out.commands);
        assert!(state.dialog.is_none());
    }
    assert!(state
        .notice
        .as_ref()
        .is_some_and(|(t, _)| t.contains("log panels are off")));
    update(
        &mut state,
        Msg::Key(KeyEvent::new(KeyCode::Char('S'), KeyModifiers::NONE)),
    );
    let screen = text(&state, "high-contrast", 120, 35);
    assert!(
        screen.contains("read-only: ship to prod is not available in watch (read-only) mode"),
        "{screen}"
    );
}

// ---------------------------------------------------------------------------
// Dialogs, the progress panel and the log panel of the interactive control room.

fn interactive(msgs: impl IntoIterator<Item = Msg>) -> State {
    let mut state = State::new(registry(), Mode::INTERACTIVE);
    state.kube_context = Some("k3s-katforge".into());
    for m in msgs {
        update(&mut state, m);
    }
    state
}

fn press(state: &mut State, c: char) {
    update(
        state,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
    );
}

/// The dialog's service, as the dialog itself names it.
fn dialog_service(state: &State) -> Option<&str> {
    match state.dialog.as_ref()? {
        Dialog::Promote { service, .. }
        | Dialog::Rollback { service, .. }
        | Dialog::Logs { service, .. } => Some(service),
        _ => None,
    }
}

#[test]
fn logs_dialog() {
    // api has two qa prereleases; the dialogs are opened by their keys on
    // the selected service, as a person opens them.
    let mut msgs = healthy();
    msgs.push(Msg::Releases {
        service: "api".into(),
        releases: vec![
            release(3, "v0.0.29-rc.2", true, false),
            release(2, "v0.0.29-rc.1", true, false),
            release(1, "v0.0.28", false, true),
        ],
    });
    let mut state = interactive(msgs);
    // `p`, `r` and the refusal of a planned ship need a WriteAccess, which
    // only the command layer grants: they are opened by their keys in
    // `src/cmd/dialog_keys.rs`.

    // stumper's qa rollout is stuck on its migration: the logs dialog opens
    // on qa with the migration container chosen, for stumper, whose detail
    // pane is the one beside it.
    for m in trouble() {
        update(&mut state, m);
    }
    press(&mut state, 'j');
    press(&mut state, 'j');
    press(&mut state, 'l');
    assert_eq!(dialog_service(&state), Some("stumper"));
    let screen = text(&state, "default", 80, 24);
    assert!(
        screen.contains("┌ stumper"),
        "the detail pane shows another service:\n{screen}"
    );
    insta::assert_snapshot!("dialog_logs_80x24", screen);
    update(
        &mut state,
        Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
    );
}

fn progress(op: u64, event: Event) -> Msg {
    Msg::Op(Progress {
        op,
        kind: OpKind::Ship,
        service: "api".into(),
        env: Some("qa".into()),
        event,
    })
}

fn step(name: &str, state: StepState, detail: Option<&str>) -> Event {
    Event::Step {
        name: name.into(),
        state,
        detail: detail.map(Into::into),
        took: None,
    }
}

/// A step's end with the duration GitHub reported for it.
fn took(event: Event, secs: i64) -> Event {
    match event {
        Event::Step {
            name,
            state,
            detail,
            ..
        } => Event::Step {
            name,
            state,
            detail,
            took: Some(secs),
        },
        other => other,
    }
}

fn mutation(system: System, request: &str, result: &str, ok: bool) -> Event {
    Event::Mutation(Mutation {
        system,
        request: request.into(),
        result: Some(result.into()),
        ok,
    })
}

#[test]
fn the_progress_panel_shows_steps_the_command_log_and_the_recovery() {
    let mut msgs = healthy();
    let at = |t: i64| Msg::Tick(NOW + t);
    // What the sources report while and after the ship runs, in the order a
    // real failing ship produces them (the sandbox's migration_fail fault):
    // the new prerelease, its run failing at the deploy step, and qa's new
    // ReplicaSet stuck on its migration while rc.1 still serves.
    let mut stuck = live(
        "v0.0.29-rc.2",
        2,
        Rollout::Progressing(
            "Waiting for deployment \"api\" rollout to finish: 1 out of 2 new replicas have been updated..."
                .into(),
        ),
        vec![
            pod("api-new-1", "Init:CrashLoopBackOff", false, "v0.0.29-rc.2"),
            pod("api-abc-3", "Running", true, "v0.0.29-rc.1"),
            pod("api-abc-4", "Running", true, "v0.0.29-rc.1"),
        ],
    );
    stuck.updated = 1;
    stuck.new_ready = Some(0);
    stuck.revision = Some(4);
    stuck.stuck_reason = Some(
        "migration \"migrate\" failing: CrashLoopBackOff, 4 restarts, last exit code 1; old pods still serving"
            .into(),
    );
    msgs.extend([
        progress(1, step("pre-ship tests", StepState::Running, None)),
        progress(1, Event::Line("ok: 48 tests passed".into())),
        at(3),
        progress(1, step("pre-ship tests", StepState::Done, None)),
        progress(1, step("tag and push", StepState::Running, None)),
        progress(1, mutation(System::Git, "git tag v0.0.29-rc.2 8240684", "ok", true)),
        progress(1, mutation(System::Git, "git push --atomic origin HEAD:refs/heads/main refs/tags/v0.0.29-rc.2", "ok", true)),
        progress(1, step("tag and push", StepState::Done, Some("v0.0.29-rc.2 8240684 pushed"))),
        progress(1, step("publish release", StepState::Running, None)),
        progress(1, mutation(System::GitHub, "POST /repos/katforge/api/releases {\"prerelease\":true,\"tag_name\":\"v0.0.29-rc.2\"}", "ok (id 77)", true)),
        progress(1, step("publish release", StepState::Done, Some("api v0.0.29-rc.2 → release published as prerelease (qa)"))),
        Msg::Releases {
            service: "api".into(),
            releases: vec![
                release(3, "v0.0.29-rc.2", true, false),
                release(2, "v0.0.29-rc.1", true, false),
                release(1, "v0.0.28", false, true),
            ],
        },
        progress(1, step("find CI run", StepState::Running, None)),
        progress(1, step("find CI run", StepState::Done, Some("found run #42 of release.yml"))),
        Msg::Runs {
            service: "api".into(),
            runs: vec![
                run(42, 42, "in_progress", None, "v0.0.29-rc.2"),
                run(40, 41, "completed", Some("success"), "v0.0.29-rc.1"),
            ],
        },
        at(6),
        progress(1, step("Build and push image", StepState::Running, None)),
        at(47),
        progress(1, took(step("Build and push image", StepState::Done, Some("41s")), 41)),
        progress(1, step("Deploy to k3s", StepState::Running, None)),
        workload("api", "qa", stuck),
        at(77),
        Msg::Runs {
            service: "api".into(),
            runs: vec![
                run(42, 42, "completed", Some("failure"), "v0.0.29-rc.2"),
                run(40, 41, "completed", Some("success"), "v0.0.29-rc.1"),
            ],
        },
        progress(1, took(step("Deploy to k3s", StepState::Failed, Some("failure after 30s")), 30)),
        progress(1, Event::Line("  │ error: deployment \"api\" exceeded its progress deadline".into())),
        progress(1, Event::Line("  qa: migration \"migrate\" failing: CrashLoopBackOff, 4 restarts, last exit code 1; old pods still serving".into())),
        progress(
            1,
            Event::Finished(Outcome {
                ok: false,
                summary: "CI run #42 failure at \"Deploy to k3s\": migration \"migrate\" failing".into(),
                left: Some("the new ReplicaSet of v0.0.29-rc.2 is stuck in qa; v0.0.29-rc.1 still serves".into()),
                recovery: Some("hearth rollback api --env qa (and look at the migration: hearth logs api --env qa -c migrate)".into()),
                tag: Some("v0.0.29-rc.2".into()),
                code: 1,
            }),
        ),
    ]);
    let state = interactive(msgs);
    let screen = text(&state, "default", 160, 48);
    assert!(
        screen.contains("✓ [git] git tag v0.0.29-rc.2 8240684  → ok"),
        "{screen}"
    );
    assert!(
        screen.contains("to recover: hearth rollback api --env qa"),
        "{screen}"
    );
    assert!(
        screen.contains("✗ Deploy to k3s  failure after 30s"),
        "{screen}"
    );
    // The overview agrees with the panel: qa still serves rc.1 and is stuck
    // moving to rc.2; the CI cell shows the failed run #42, not the old one.
    let plain: String = screen
        .lines()
        .map(|l| format!("{}\n", l.trim_matches('"')))
        .collect();
    let qa = support::cell(&plain, "api", "QA").unwrap_or_default();
    assert!(
        qa.starts_with("v0.0.29-rc.1 → v0.0.29-rc.2 0/2 ✗"),
        "qa cell {qa:?}:\n{screen}"
    );
    let ci = support::cell(&plain, "api", "CI").unwrap_or_default();
    assert!(ci.starts_with("✗ #42 failure"), "CI cell {ci:?}:\n{screen}");
    insta::assert_snapshot!("progress_panel_failed_ship_160x48", screen);
    insta::assert_snapshot!(
        "progress_panel_failed_ship_80x24",
        text(&state, "default", 80, 24)
    );
}

#[test]
fn the_log_panel_follows_pauses_and_searches() {
    let mut state = interactive(healthy());
    update(
        &mut state,
        Msg::Key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::NONE)),
    );
    let out = update(
        &mut state,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    let id = out
        .commands
        .iter()
        .find_map(|c| match c {
            hearth::app::Command::Logs { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a tail was asked for");
    for p in ["api-abc-1", "api-abc-2"] {
        update(
            &mut state,
            Msg::Log {
                id,
                event: LogEvent::Joined(p.into()),
            },
        );
    }
    for i in 0..60 {
        let pod = if i % 2 == 0 { "api-abc-1" } else { "api-abc-2" };
        let text = if i == 41 {
            "ERROR api v0.0.28 GET /api/items 500 108ms".to_string()
        } else {
            format!("INFO  api v0.0.28 GET /api/orders 200 {i}ms")
        };
        update(
            &mut state,
            Msg::Log {
                id,
                event: LogEvent::Line(LogLine {
                    pod: pod.into(),
                    time: None,
                    text,
                }),
            },
        );
    }
    let screen = text(&state, "default", 120, 35);
    assert!(
        screen.contains("logs api prod · 2 pods · 60 lines · following"),
        "{screen}"
    );
    assert!(
        screen.contains("api-abc-2 │ INFO  api v0.0.28 GET /api/orders 200 59ms"),
        "{screen}"
    );
    insta::assert_snapshot!("log_panel_following_120x35", screen);
    // Search for the error: the view scrolls to it and highlights it.
    let key = |c| Msg::Key(KeyEvent::new(c, KeyModifiers::NONE));
    update(&mut state, key(KeyCode::Char('/')));
    for c in "ERROR".chars() {
        update(&mut state, key(KeyCode::Char(c)));
    }
    update(&mut state, key(KeyCode::Enter));
    update(&mut state, key(KeyCode::Char(' ')));
    let screen = text(&state, "default", 120, 35);
    assert!(screen.contains("paused · /ERROR"), "{screen}");
    let last = screen
        .lines()
        .rfind(|l| l.trim_start_matches('"').starts_with("│api-abc-"))
        .unwrap();
    assert!(
        last.contains("GET /api/items 500"),
        "the match is the bottom line: {last}\n{screen}"
    );
    insta::assert_snapshot!("log_panel_paused_search_120x35", screen);
}

/// A run that waits on a reviewer-gated environment: the overview's CI cell
/// says so (not "running", not "queued"), in the control room at both
/// sizes and on the watch board.
#[test]
fn a_run_waiting_for_approval_is_shown_as_waiting() {
    let mut msgs = healthy();
    msgs.push(Msg::Runs {
        service: "api".into(),
        runs: vec![
            run(43, 42, "waiting", None, "v0.0.29-rc.1"),
            run(40, 41, "completed", Some("success"), "v0.0.29-rc.1"),
        ],
    });
    // What GitHub's pending_deployments said of run 43.
    msgs.push(Msg::Pending {
        service: "api".into(),
        run_id: 43,
        pending: vec![hearth::model::PendingDeployment {
            environment: "production".into(),
            environment_id: 7,
            reviewers: vec!["octo-reviewer".into(), "acme/ops".into()],
            can_approve: true,
            wait_timer: 5,
        }],
    });
    let state = interactive(msgs.clone());
    for (w, h) in [(160, 48), (80, 24)] {
        let screen = text(&state, "default", w, h);
        let plain: String = screen
            .lines()
            .map(|l| format!("{}\n", l.trim_matches('"')))
            .collect();
        let ci = support::cell(&plain, "api", "CI").unwrap_or_default();
        assert!(
            ci == "◷ #42 to approve",
            "api's CI cell at {w}x{h}: {ci:?}\n{screen}"
        );
        if w == 160 {
            // The detail pane names the environment, who may approve, the
            // wait timer and how (wrapped in its CI column).
            for words in [
                "waiting for octo-reviewer or acme/ops to approve production",
                "a 5 min wait timer (you can: a approves)",
            ] {
                assert!(
                    plain.contains(words),
                    "the detail pane does not say {words:?}:\n{screen}"
                );
            }
        }
        insta::assert_snapshot!(format!("waiting_for_approval_{w}x{h}"), screen);
    }
    let board = watch_state(msgs);
    let screen = text(&board, "high-contrast", 160, 48);
    assert!(
        screen.contains("◷ run #42 v0.0.29-rc.1: waits for an approval"),
        "the watch board does not say the run waits:\n{screen}"
    );
    assert!(
        screen
            .lines()
            .next()
            .unwrap()
            .contains(" 1 waiting for approval "),
        "the board's title says all is well while a run waits:\n{screen}"
    );
    // A shared screen cannot approve: it never offers the key.
    assert!(
        screen.contains("(you can: hearth approve, not from watch")
            && !screen.contains("a approves"),
        "watch mode offers a key it does not have:\n{screen}"
    );
    insta::assert_snapshot!("waiting_for_approval_watch_160x48", screen);
}

/// A public endpoint that reports another version than the pods serve: the
/// overview cell carries `⚠`, NOTES and the detail pane say both versions,
/// and the watch board says it on the service's line; at both sizes.
#[test]
fn an_endpoint_on_another_version_is_flagged() {
    let mut msgs = healthy();
    msgs.push(Msg::Endpoint {
        service: "api".into(),
        env: "prod".into(),
        reading: hearth::model::EndpointReading {
            url: "https://api.katforge.test/health".into(),
            reported: Ok("0.0.27".into()),
        },
    });
    // qa's endpoint agrees: no flag there.
    msgs.push(Msg::Endpoint {
        service: "api".into(),
        env: "qa".into(),
        reading: hearth::model::EndpointReading {
            url: "https://qa.api.katforge.test/health".into(),
            reported: Ok("0.0.29-rc.1".into()),
        },
    });
    let state = interactive(msgs.clone());
    let said = "the endpoint reports 0.0.27; the cluster serves v0.0.28";
    for (w, h) in [(160, 48), (80, 24)] {
        let screen = text(&state, "default", w, h);
        let plain: String = screen
            .lines()
            .map(|l| format!("{}\n", l.trim_matches('"')))
            .collect();
        let prod = support::cell(&plain, "api", "PROD").unwrap_or_default();
        assert!(
            prod.ends_with('⚠'),
            "api's prod cell at {w}x{h}: {prod:?}\n{screen}"
        );
        let qa = support::cell(&plain, "api", "QA").unwrap_or_default();
        assert!(
            !qa.contains('⚠'),
            "api's qa cell at {w}x{h}: {qa:?}\n{screen}"
        );
        if w == 160 {
            let notes = support::cell(&plain, "api", "NOTES").unwrap_or_default();
            assert!(
                notes.starts_with("prod: the endpoint reports 0.0.27"),
                "NOTES: {notes:?}\n{screen}"
            );
            assert!(
                plain.contains(&format!("⚠ {said}")),
                "detail pane:\n{screen}"
            );
            assert!(
                plain.contains("endpoint reports 0.0.29-rc.1"),
                "qa's agreeing endpoint:\n{screen}"
            );
        }
        insta::assert_snapshot!(format!("endpoint_mismatch_{w}x{h}"), screen);
    }
    let board = watch_state(msgs);
    let screen = text(&board, "default", 160, 48);
    assert!(
        screen.contains(&format!("⚠ prod: {said}")),
        "the watch board does not say it:\n{screen}"
    );
    assert!(
        screen
            .lines()
            .next()
            .unwrap()
            .contains(" 1 endpoint on another version "),
        "the board's title says all is well:\n{screen}"
    );
    insta::assert_snapshot!("endpoint_mismatch_watch_160x48", screen);
}

/// Help shows what the GitHub scheduler spends and how old the data on
/// screen is, as its last report said.
#[test]
fn help_shows_the_schedulers_view() {
    let mut msgs = healthy();
    msgs.push(Msg::Schedule(hearth::github::ScheduleView {
        per_minute: 84,
        budget_per_minute: 600,
        oldest_shown_secs: Some(4),
        waiting_first: 0,
        saving: false,
    }));
    let mut state = interactive(msgs);
    press(&mut state, '?');
    let screen = text(&state, "default", 160, 48);
    assert!(
        screen.contains(
            "GitHub: 84 requests in the last minute (budget 600/min), oldest data on screen 4 s"
        ),
        "help does not show the scheduler's view:\n{screen}"
    );
    // Nearly out of rate limit: it says it reads only what is on screen.
    update(
        &mut state,
        Msg::Schedule(hearth::github::ScheduleView {
            per_minute: 12,
            budget_per_minute: 600,
            oldest_shown_secs: Some(9),
            waiting_first: 3,
            saving: true,
        }),
    );
    let screen = text(&state, "default", 200, 48);
    assert!(
        screen.contains(
            "3 services not read yet, rate limit nearly spent: reading only what is on screen"
        ),
        "{screen}"
    );
}

/// Prod runs `latest`, and its two pods pulled it at different times: the
/// detail pane shows each pod's digest and says the tag was pushed again;
/// NOTES says it on the row. A `latest` in prod with one digest is still a
/// warning (the tag does not say what runs); in qa it is not.
#[test]
fn a_moved_tag_and_a_mutable_tag_in_prod_are_flagged() {
    let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let with_digest = |name: &str, d: &str| PodSummary {
        digest: Some(d.to_string()),
        ..pod(name, "Running", true, "latest")
    };
    let mut msgs = healthy();
    msgs.push(workload(
        "api",
        "prod",
        live(
            "latest",
            2,
            Rollout::Complete,
            vec![
                with_digest("api-7d9f-a1b2c", &digest('a')),
                with_digest("api-7d9f-d3e4f", &digest('b')),
            ],
        ),
    ));
    let state = interactive(msgs.clone());
    for (w, h) in [(160, 48), (80, 24)] {
        let screen = text(&state, "default", w, h);
        let plain: String = screen
            .lines()
            .map(|l| format!("{}\n", l.trim_matches('"')))
            .collect();
        assert!(
            plain.contains("⚠ 2 digests under latest: the tag was pushed again"),
            "detail pane at {w}x{h}:\n{screen}"
        );
        if w == 160 {
            assert!(
                plain.contains("latest @sha256:aaaaaaaaaaaa")
                    && plain.contains("latest @sha256:bbbbbbbbbbbb"),
                "each pod's digest:\n{screen}"
            );
            let notes = support::cell(&plain, "api", "NOTES").unwrap_or_default();
            assert!(
                notes.starts_with("prod: 2 digests under latest"),
                "NOTES: {notes:?}\n{screen}"
            );
        }
        insta::assert_snapshot!(format!("moved_tag_{w}x{h}"), screen);
    }
    // One digest: latest in prod is still a warning, naming what runs.
    msgs.push(workload(
        "api",
        "prod",
        live(
            "latest",
            2,
            Rollout::Complete,
            vec![
                with_digest("api-7d9f-a1b2c", &digest('c')),
                with_digest("api-7d9f-d3e4f", &digest('c')),
            ],
        ),
    ));
    msgs.push(workload(
        "api",
        "qa",
        live(
            "latest",
            2,
            Rollout::Complete,
            vec![with_digest("api-5c4b-x1y2z", &digest('d'))],
        ),
    ));
    let state = interactive(msgs);
    let plain: String = text(&state, "default", 160, 48)
        .lines()
        .map(|l| format!("{}\n", l.trim_matches('"')))
        .collect();
    // The warning (it may wrap once) names the digest that runs.
    let lines: Vec<&str> = plain.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.contains("⚠ latest can move: the tag does not say what runs in prod; what runs is")
        })
        .unwrap_or_else(|| panic!("no warning for latest in prod:\n{plain}"));
    assert!(
        lines[at..=at + 1]
            .iter()
            .any(|l| l.contains("sha256:cccccccccccc") && !l.contains("● ")),
        "{plain}"
    );
    assert!(
        !plain.contains("what runs in qa"),
        "latest in qa is no warning:\n{plain}"
    );
}

/// A Deployment a chart manages: where the registry asks for it
/// (`helm_history: true`, here on prod), the detail pane lists the release's
/// revisions as `helm history` does; where it does not (qa), it says how to
/// ask, and reads no Secret.
#[test]
fn helm_history_in_the_detail_pane() {
    use hearth::model::helm::{HelmHistory, HelmRevision};
    let mut reg = (*registry()).clone();
    if let Some(prod) = reg.services[0]
        .environments
        .iter_mut()
        .find(|e| e.name == "prod")
    {
        prod.helm_history = Some(true);
    }
    let mut state = State::new(Arc::new(reg), Mode::INTERACTIVE);
    state.kube_context = Some("k3s-katforge".into());
    let mut msgs = healthy();
    for (env, tag) in [("prod", "v0.0.28"), ("qa", "v0.0.29-rc.1")] {
        msgs.push(workload(
            "api",
            env,
            Workload {
                helm_release: Some("api".into()),
                ..live(
                    tag,
                    2,
                    Rollout::Complete,
                    vec![pod("api-abc-1", "Running", true, tag)],
                )
            },
        ));
    }
    let rev = |n: u64, status: &str, app: &str, what: &str| HelmRevision {
        revision: n,
        status: status.into(),
        chart: "api-1.2.0".into(),
        app_version: app.into(),
        updated: "2026-03-01T09:00:00Z".into(),
        description: what.into(),
    };
    msgs.push(Msg::Helm {
        service: "api".into(),
        env: "prod".into(),
        history: Ok(Some(HelmHistory {
            release: "api".into(),
            revisions: vec![
                rev(7, "deployed", "v0.0.28", "Upgrade complete"),
                rev(6, "failed", "v0.0.28", "Upgrade \"api\" failed: timed out"),
                rev(5, "superseded", "v0.0.27", "Upgrade complete"),
            ],
        })),
    });
    for m in msgs {
        update(&mut state, m);
    }
    for (w, h) in [(160, 48), (80, 24)] {
        let plain: String = text(&state, "default", w, h)
            .lines()
            .map(|l| format!("{}\n", l.trim_matches('"')))
            .collect();
        assert!(
            plain.contains("helm api  3 revision(s), newest first"),
            "{w}x{h}:\n{plain}"
        );
        assert!(
            plain.contains("rev 7   deployed    api-1.2.0  app v0.0.28"),
            "{w}x{h}:\n{plain}"
        );
        if w == 160 {
            assert!(
                plain.contains("rev 6   failed      api-1.2.0  app v0.0.28  2026-03-01 09:00  Upgrade \"api\" failed:"),
                "{plain}"
            );
            assert!(
                plain.contains("helm api  history not read: set helm_history: true"),
                "qa is not asked for:\n{plain}"
            );
        }
        insta::assert_snapshot!(
            format!("helm_history_{w}x{h}"),
            text(&state, "default", w, h)
        );
    }
}

/// `delivery: dispatch`: what prod should run is what its deploy workflow's
/// newest good run was given. A run whose title does not name its tag says
/// nothing until hearth's journal knows the run; then a fast rollback shows
/// as drift, in the overview cell and the detail pane, with the run named.
#[test]
fn a_dispatch_environment_drifts_from_what_its_deploy_run_was_given() {
    use hearth::app::activity::History;
    use hearth::ops::audit::{Entry, StartedRun};
    use hearth::registry::{Delivery, Environment};
    let envs = Environment::defaults()
        .into_iter()
        .map(|e| Environment {
            workflow: Some(format!("deploy-{}.yml", e.name)),
            input: Some("image_tag".into()),
            ..e
        })
        .collect();
    let ledger = Service {
        repo: Some("katforge/ledger".into()),
        image: Some("ghcr.io/katforge/ledger".into()),
        delivery: Delivery::Dispatch,
        build_workflow: Some("build.yml".into()),
        environments: envs,
        ..Service::example("ledger")
    };
    let registry = Arc::new(Registry {
        path: "/work/hearth/services.yaml".into(),
        settings: Settings::default(),
        services: vec![ledger],
    });
    let mut state = State::new(registry, Mode::INTERACTIVE);
    state.kube_context = Some("k3s-katforge".into());
    let msgs = vec![
        Msg::Tick(NOW),
        workload(
            "ledger",
            "prod",
            live(
                "sha-0a0a0a0",
                2,
                Rollout::Complete,
                vec![pod("ledger-a-1", "Running", true, "sha-0a0a0a0")],
            ),
        ),
        workload(
            "ledger",
            "qa",
            live(
                "sha-3f2a1c9",
                2,
                Rollout::Complete,
                vec![pod("ledger-b-1", "Running", true, "sha-3f2a1c9")],
            ),
        ),
        Msg::Runs {
            service: "ledger".into(),
            runs: vec![
                // prod's workflow has no run-name: GitHub titles it by name.
                CiRun {
                    event: "workflow_dispatch".into(),
                    display_title: Some("deploy-prod".into()),
                    path: Some(".github/workflows/deploy-prod.yml".into()),
                    updated_at: Some("2026-03-01T09:50:00Z".into()),
                    ..run(60, 12, "completed", Some("success"), "main")
                },
                CiRun {
                    event: "workflow_dispatch".into(),
                    display_title: Some("deploy sha-3f2a1c9".into()),
                    path: Some(".github/workflows/deploy-qa.yml".into()),
                    updated_at: Some("2026-03-01T09:40:00Z".into()),
                    ..run(59, 11, "completed", Some("success"), "main")
                },
            ],
        },
    ];
    for m in msgs {
        update(&mut state, m);
    }
    let prod_cell = |state: &State| {
        let screen = text(state, "default", 160, 48);
        let plain: String = screen
            .lines()
            .map(|l| format!("{}\n", l.trim_matches('"')))
            .collect();
        (
            support::cell(&plain, "ledger", "PROD").unwrap_or_default(),
            plain,
            screen,
        )
    };
    // qa's run names its tag in its title: in step. prod's does not, and
    // no journal knows it: no claim either way.
    let (cell, plain, screen) = prod_cell(&state);
    assert_eq!(cell, "sha-0a0a0a0 2/2 ✓", "{screen}");
    assert!(
        plain.contains("matches run #11 of deploy-qa.yml"),
        "qa's match is not named:\n{screen}"
    );
    assert!(!plain.contains("→ drift"), "{screen}");
    // The journal says hearth dispatched run 60 with sha-3f2a1c9: prod
    // runs something else (a fast rollback), and says so.
    let mut entry = Entry::new(OpKind::Promote, "ledger", Some("prod"), "maintainer");
    entry.result = "ok".into();
    entry.time = "2026-03-01T09:49:00Z".into();
    entry.runs = vec![StartedRun {
        repo: "katforge/ledger".into(),
        workflow: "deploy-prod.yml".into(),
        id: 60,
        tag: "sha-3f2a1c9".into(),
    }];
    update(
        &mut state,
        Msg::Journal(History {
            entries: vec![entry],
            interrupted: Vec::new(),
        }),
    );
    let (cell, plain, screen) = prod_cell(&state);
    assert_eq!(cell, "sha-0a0a0a0 2/2 ✓ ≠", "{screen}");
    assert!(
        plain.contains("prod: run #12 succeeded but sha-3f2a1c9 is not serving (sha-0a0a0a0 is)"),
        "the unserved note names another environment's run:\n{screen}"
    );
    assert!(
        plain.contains(
            "≠ running sha-0a0a0a0, run #12 of deploy-prod.yml deployed sha-3f2a1c9 → drift"
        ),
        "the detail pane does not name the run:\n{screen}"
    );
    insta::assert_snapshot!("dispatch_drift_160x48", screen);
}

/// Seed 001's compose hosts: prod runs on a host outside Kubernetes, and
/// what it runs is what its version endpoint reports. The cell shows that
/// tag with `⌂` (no replica counts, no rollout); the detail pane names the
/// endpoint; drift against prod's own deploy run shows as for a Deployment;
/// an endpoint that does not answer is "unreachable", never a stale tag.
#[test]
fn a_host_environment_shows_what_its_endpoint_reports() {
    use hearth::registry::{Delivery, Environment, VersionEndpoint};
    let envs = Environment::defaults()
        .into_iter()
        .map(|e| Environment {
            workflow: Some(format!("deploy-{}.yml", e.name)),
            input: Some("image_tag".into()),
            ..e
        })
        .map(|e| match e.name.as_str() {
            "prod" => Environment {
                namespace: String::new(),
                host: Some("edge-1".into()),
                version: Some(VersionEndpoint {
                    url: "https://edge-1.katforge.test/api/version".into(),
                    field: "version".into(),
                }),
                ..e
            },
            _ => e,
        })
        .collect();
    let ledger = Service {
        repo: Some("katforge/ledger".into()),
        image: Some("ghcr.io/katforge/ledger".into()),
        delivery: Delivery::Dispatch,
        build_workflow: Some("build.yml".into()),
        environments: envs,
        ..Service::example("ledger")
    };
    let registry = Arc::new(Registry {
        path: "/work/hearth/services.yaml".into(),
        settings: Settings::default(),
        services: vec![ledger],
    });
    let reading = |reported: Result<&str, &str>| Msg::Endpoint {
        service: "ledger".into(),
        env: "prod".into(),
        reading: hearth::model::EndpointReading {
            url: "https://edge-1.katforge.test/api/version".into(),
            reported: reported.map(str::to_string).map_err(str::to_string),
        },
    };
    let msgs = vec![
        Msg::Tick(NOW),
        workload(
            "ledger",
            "qa",
            live(
                "sha-3f2a1c9",
                2,
                Rollout::Complete,
                vec![pod("ledger-b-1", "Running", true, "sha-3f2a1c9")],
            ),
        ),
        Msg::Runs {
            service: "ledger".into(),
            runs: vec![CiRun {
                event: "workflow_dispatch".into(),
                display_title: Some("deploy sha-3f2a1c9".into()),
                path: Some(".github/workflows/deploy-prod.yml".into()),
                updated_at: Some("2026-03-01T09:50:00Z".into()),
                ..run(60, 12, "completed", Some("success"), "main")
            }],
        },
        reading(Ok("sha-0a0a0a0")),
    ];
    let mut state = State::new(registry.clone(), Mode::INTERACTIVE);
    state.kube_context = Some("k3s-katforge".into());
    for m in msgs.clone() {
        update(&mut state, m);
    }
    let plain = |screen: &str| -> String {
        screen
            .lines()
            .map(|l| format!("{}\n", l.trim_matches('"')))
            .collect()
    };
    // Before the endpoint is first read: unknown, and why (not a cluster
    // source's words: no cluster serves a host).
    let mut before = State::new(registry.clone(), Mode::INTERACTIVE);
    before.kube_context = Some("k3s-katforge".into());
    for m in msgs[..msgs.len() - 1].iter().cloned() {
        update(&mut before, m);
    }
    let unread = plain(&text(&before, "default", 160, 48));
    assert!(
        unread.lines().any(|l| l.contains("PROD (host edge-1)")
            && l.contains("unknown: its version endpoint has not been read yet")),
        "{unread}"
    );
    let screen = text(&state, "default", 160, 48);
    let p = plain(&screen);
    assert_eq!(
        support::cell(&p, "ledger", "PROD").unwrap_or_default(),
        "sha-0a0a0a0 ⌂ ≠",
        "{screen}"
    );
    assert!(p.contains("PROD (host edge-1)"), "{screen}");
    assert!(
        p.contains("reported by its version endpoint (https://edge-1.katforge.test/api/version)"),
        "{screen}"
    );
    assert!(
        p.contains(
            "≠ running sha-0a0a0a0, run #12 of deploy-prod.yml deployed sha-3f2a1c9 → drift"
        ),
        "{screen}"
    );
    insta::assert_snapshot!("host_environment_drift_160x48", screen);
    let narrow = text(&state, "default", 80, 24);
    assert_eq!(
        support::cell(&plain(&narrow), "ledger", "PROD").unwrap_or_default(),
        "sha-0a0a0a0 ⌂ ≠",
        "{narrow}"
    );
    insta::assert_snapshot!("host_environment_drift_80x24", narrow);

    // The host runs what its run was given: in step.
    update(&mut state, reading(Ok("sha-3f2a1c9")));
    let p = plain(&text(&state, "default", 160, 48));
    assert_eq!(
        support::cell(&p, "ledger", "PROD").unwrap_or_default(),
        "sha-3f2a1c9 ⌂"
    );
    assert!(p.contains("(matches run #12 of deploy-prod.yml)"), "{p}");

    // The endpoint stops answering: what the host runs is unknown.
    update(&mut state, reading(Err("answered 503")));
    let p = plain(&text(&state, "default", 160, 48));
    assert_eq!(
        support::cell(&p, "ledger", "PROD").unwrap_or_default(),
        "unreachable",
        "{p}"
    );
    assert!(!p.contains("sha-3f2a1c9 ⌂"), "{p}");
    assert!(
        p.contains("host edge-1: its version endpoint https://edge-1.katforge.test/api/version answered 503"),
        "{p}"
    );

    // Watch mode: the same tag, marked as a host's.
    let mut watch = State::new(registry, Mode::WATCH);
    watch.kube_context = Some("k3s-katforge".into());
    watch.watch = Some(WatchSettings {
        cycle: Some(10),
        bell: true,
        last_cycle: None,
    });
    for m in msgs {
        update(&mut watch, m);
    }
    let screen = text(&watch, "default", 120, 36);
    assert!(screen.contains(" PROD sha-0a0a0a0 ⌂ ≠ "), "{screen}");
    insta::assert_snapshot!("watch_host_environment_120x36", screen);
}
