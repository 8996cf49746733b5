//! The promote and rollback dialogs, opened by their keys as a person opens
//! them. `p` and `r` work only in a session that holds a [`WriteAccess`],
//! which only the command layer can grant, so the test lives here.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::access::WriteAccess;
use crate::app::activity::Dialog;
use crate::app::{update, Command, Mode, Msg, State};
use crate::model::Release;
use crate::ui::{draw, Theme, ViewState};

fn render(state: &State, w: u16, h: u16) -> String {
    let theme = Theme::load(None, true).unwrap();
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, state, &mut ViewState::default(), &theme))
        .unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// A control-room session on the registry `yaml`, holding a WriteAccess,
/// in a 100x30 terminal.
fn session(yaml: &str) -> State {
    let registry = crate::registry::load_str(
        yaml,
        std::path::Path::new("services.yaml"),
        std::path::Path::new("/reg"),
    )
    .unwrap();
    let mut state = State::new(Arc::new(registry), Mode::INTERACTIVE);
    state.write = Some(WriteAccess::grant());
    update(&mut state, Msg::Resize(100, 30));
    state
}

fn key(state: &mut State, code: KeyCode) -> Vec<Command> {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))).commands
}

fn release(id: u64, tag: &str, prerelease: bool) -> Release {
    Release {
        id,
        tag: tag.into(),
        prerelease,
        latest: !prerelease,
        published_at: Some("2026-03-01T09:00:00Z".into()),
        ..Release::default()
    }
}

#[test]
fn promote_and_rollback_dialogs_open_by_their_keys() {
    let mut state = session("api:\n  directory: .\n  image: ghcr.io/acme/api\n  repo: acme/api\nweb:\n  directory: .\n  image: ghcr.io/acme/web\n  repo: acme/web\n");
    // web's releases, as GitHub lists them: two qa prereleases, one latest.
    update(
        &mut state,
        Msg::Releases {
            service: "web".into(),
            releases: vec![
                release(3, "v1.5.0-rc.2", true),
                release(2, "v1.5.0-rc.1", true),
                release(1, "v1.4.2", false),
            ],
        },
    );
    // Select web and press p: the dialog offers web's prereleases, newest
    // first; j moves the choice.
    key(&mut state, KeyCode::Char('j'));
    key(&mut state, KeyCode::Char('p'));
    match &state.dialog {
        Some(Dialog::Promote { service, tags, .. }) => {
            assert_eq!(service, "web");
            assert_eq!(tags, &["v1.5.0-rc.2", "v1.5.0-rc.1"]);
        }
        other => panic!("p opened {other:?}"),
    }
    key(&mut state, KeyCode::Char('j'));
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("  v1.5.0-rc.2") && screen.contains("▸ v1.5.0-rc.1"),
        "{screen}"
    );
    assert!(
        screen.contains("web"),
        "the dialog names its service:\n{screen}"
    );
    insta::assert_snapshot!("dialog_promote_by_key_80x24", screen);
    key(&mut state, KeyCode::Esc);
    assert!(state.dialog.is_none(), "Esc closes the promote dialog");

    // r: the rollback dialog for web asks the cluster for its revisions.
    let commands = key(&mut state, KeyCode::Char('r'));
    assert!(
        commands.iter().any(|c| matches!(c, Command::Revisions { service, env, .. } if service == "web" && env == "prod")),
        "r asks for prod's revisions"
    );
    update(
        &mut state,
        Msg::Revisions {
            service: "web".into(),
            env: "prod".into(),
            result: Ok(vec![(2, Some("v1.4.1".into())), (3, Some("v1.4.2".into()))]),
        },
    );
    let screen = render(&state, 100, 30);
    assert!(
        screen.contains("▸ revision 2  v1.4.1") && screen.contains("revision 3  v1.4.2  (current)"),
        "{screen}"
    );
    insta::assert_snapshot!("dialog_rollback_by_key_100x30", screen);
    key(&mut state, KeyCode::Esc);

    // s on api: the ship is planned by the executor; its refusal (as the
    // planner answers for a dirty checkout) is what the dialog shows, over
    // api's own detail pane.
    key(&mut state, KeyCode::Char('k'));
    let commands = key(&mut state, KeyCode::Char('s'));
    let request = commands
        .into_iter()
        .find_map(|c| match c {
            Command::Plan(r, _) => Some(r),
            _ => None,
        })
        .expect("s plans a ship");
    assert_eq!(request.service(), "api");
    update(
        &mut state,
        Msg::Planned {
            request,
            result: Err(crate::model::Problem::new(
                crate::model::ProblemKind::Invalid,
                "/work/src/api has uncommitted changes (M src/lib.rs)",
                "commit or stash them: git -C /work/src/api stash",
            )),
        },
    );
    assert!(
        matches!(state.dialog, Some(Dialog::Refused { .. })),
        "{:?}",
        state.dialog
    );
    let screen = render(&state, 80, 24);
    assert!(screen.contains("┌ api ─"), "{screen}");
    assert!(
        screen.contains("uncommitted changes") && screen.contains("git -C /work/src/api stash"),
        "the refusal and what to do:\n{screen}"
    );
    insta::assert_snapshot!("dialog_refused_by_key_80x24", screen);
}

/// `R` on a service: choose the environment, Enter plans the restart, and
/// the plan is always confirmed first (it replaces every pod) with what it
/// will send; Enter there runs it.
#[test]
fn restart_by_key_asks_which_environment_then_confirms() {
    let mut state = session("web:\n  directory: .\n  image: ghcr.io/acme/web\n  repo: acme/web\n  smoke:\n    - url: https://web.example/{env}/ready\n      status: 200\n");
    let service = state.registry.services[0].clone();
    key(&mut state, KeyCode::Char('R'));
    let Some(Dialog::Restart { envs, .. }) = &state.dialog else {
        panic!("R opened {:?}", state.dialog);
    };
    let second = envs[1].clone();
    key(&mut state, KeyCode::Char('j'));
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains(&format!("▸ {second}")) && screen.contains("restart web"),
        "{screen}"
    );
    insta::assert_snapshot!("dialog_restart_by_key_80x24", screen);
    let commands = key(&mut state, KeyCode::Enter);
    let request = commands
        .into_iter()
        .find_map(|c| match c {
            Command::Plan(r, _) => Some(r),
            _ => None,
        })
        .expect("Enter plans the restart");
    assert_eq!(
        request,
        crate::ops::Request::Restart(crate::ops::RestartRequest {
            service: "web".into(),
            env: second.clone(),
            watch: true,
        })
    );
    let env = service.environment(&second).unwrap().clone();
    let plan = crate::ops::runner::Plan::new(crate::ops::restart::RestartPlan {
        service,
        env,
        tag: "v1.4.2".into(),
        revision: Some(7),
        ready: (2, 2),
        watch: true,
    });
    update(
        &mut state,
        Msg::Planned {
            request,
            result: Ok(Box::new(plan)),
        },
    );
    assert!(
        matches!(state.dialog, Some(Dialog::Confirm { .. })),
        "a restart is confirmed first: {:?}",
        state.dialog
    );
    let screen = render(&state, 100, 30);
    assert!(
        screen.contains(&format!("restart web in {second}"))
            && screen.contains("v1.4.2 again, revision 7")
            && screen.contains("kubectl.kubernetes.io/restartedAt=now")
            && screen.contains("smoke: GET https://web.example/")
            && screen.contains("confirm: this replaces every pod"),
        "{screen}"
    );
    insta::assert_snapshot!("dialog_restart_confirm_100x30", screen);
    let commands = key(&mut state, KeyCode::Enter);
    assert!(
        commands.iter().any(
            |c| matches!(c, Command::Execute(p, _) if p.kind() == crate::ops::OpKind::Restart)
        ),
        "Enter runs it"
    );
}

/// `r` on a Deployment a chart manages: the rollback dialog says a fast
/// rollback lasts only until the next `helm upgrade`, and names the rollback
/// that keeps (the model's own) and `helm rollback`.
#[test]
fn the_rollback_dialog_says_a_fast_rollback_of_a_chart_is_not_final() {
    let mut state =
        session("billing:\n  directory: .\n  image: ghcr.io/acme/billing\n  repo: acme/billing\n");
    update(
        &mut state,
        Msg::Workload {
            service: "billing".into(),
            env: "prod".into(),
            observation: crate::model::EnvObservation::Live(crate::model::Workload {
                image_tag: Some("v2.1.0".into()),
                desired: 2,
                updated: 2,
                ready: 2,
                available: 2,
                helm_release: Some("billing".into()),
                ..crate::model::Workload::default()
            }),
        },
    );
    key(&mut state, KeyCode::Char('r'));
    let screen = render(&state, 100, 30);
    assert!(
        screen.contains("⚠ Helm manages this Deployment (release billing): a fast rollback lasts")
            && screen.contains("helm rollback billing REVISION"),
        "{screen}"
    );
    // qa is not managed by Helm here: no warning once it is chosen.
    key(&mut state, KeyCode::Right);
    let screen = render(&state, 100, 30);
    assert!(!screen.contains("Helm manages"), "{screen}");
}
