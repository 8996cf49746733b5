//! Benchmarks of the control room's hot paths: drawing the overview of 500
//! services × 3 environments at 200x60 (target < 2 ms per frame) and applying
//! 10,000 source messages to the state (target < 10 ms). Run with
//! `cargo bench --bench render`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hearth::app::{update, Mode, Msg, State};
use hearth::model::{CiJob, CiRun, CiStep, EnvObservation, PodSummary, Release, Rollout, Workload};
use hearth::registry::{Environment, Registry, ReleaseKind, Service, Settings};
use hearth::ui::{draw, Theme, ViewState};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const SERVICES: usize = 500;
const ENVS: [&str; 3] = ["prod", "qa", "staging"];

fn registry() -> Arc<Registry> {
    let mut environments = Environment::defaults();
    environments.push(Environment {
        name: "staging".into(),
        namespace: "staging".into(),
        host: None,
        context: None,
        release: ReleaseKind::Prerelease,
        accent: Some("blue".into()),
        workflow: None,
        input: None,
        version: None,
        helm_history: None,
        trigger: None,
        manifest: None,
        kustomization: None,
    });
    let settings = Settings {
        environments: environments.clone(),
        ..Settings::default()
    };
    let services = (0..SERVICES)
        .map(|i| {
            let name = format!("service-{i:03}");
            Service {
                shippable: i % 10 != 0,
                shippable_reason: (i % 10 == 0).then(|| "no Dockerfile yet".into()),
                repo: Some(format!("acme/{name}")),
                environments: environments.clone(),
                ..Service::example(&name)
            }
        })
        .collect();
    Arc::new(Registry {
        path: "services.yaml".into(),
        settings,
        services,
    })
}

fn workload(i: usize, n: usize) -> Workload {
    let tag = format!("v0.{}.{}", i % 7, n % 40);
    Workload {
        image_tag: Some(tag.clone()),
        init_image_tag: Some(tag.clone()),
        desired: 3,
        updated: 3,
        ready: (n % 4) as i32,
        available: 2,
        revision: Some(n as i64),
        rollout: match n % 3 {
            0 => Rollout::Complete,
            1 => Rollout::Progressing("Waiting for deployment rollout to finish".into()),
            _ => Rollout::Failed("exceeded its progress deadline".into()),
        },
        stuck_reason: None,
        new_ready: None,
        helm_release: None,
        pods: (0..3)
            .map(|p| PodSummary {
                name: format!("service-{i:03}-abc-{p}"),
                status: "Running".into(),
                ready: true,
                restarts: 0,
                image_tag: Some(tag.clone()),
                template_hash: None,
                digest: None,
            })
            .collect(),
    }
}

fn jobs(run_id: u64, done: u64) -> Vec<CiJob> {
    vec![CiJob {
        id: run_id * 10,
        run_id,
        name: "ship".into(),
        status: "in_progress".into(),
        conclusion: None,
        started_at: Some("2026-03-01T10:00:00Z".into()),
        completed_at: None,
        steps: (1..=5)
            .map(|s| CiStep {
                number: s,
                name: format!("step {s}"),
                status: if s <= done {
                    "completed"
                } else if s == done + 1 {
                    "in_progress"
                } else {
                    "queued"
                }
                .into(),
                conclusion: (s <= done).then(|| "success".into()),
                started_at: (s <= done + 1).then(|| "2026-03-01T10:00:00Z".into()),
                completed_at: (s <= done).then(|| "2026-03-01T10:00:09Z".into()),
            })
            .collect(),
    }]
}

/// A realistic mix: mostly workload changes, some GitHub data, CI job snapshots.
fn messages(count: usize) -> Vec<Msg> {
    (0..count)
        .map(|n| {
            let i = (n * 7919) % SERVICES;
            let service = format!("service-{i:03}");
            match n % 10 {
                0..=5 => Msg::Workload {
                    service,
                    env: ENVS[n % 3].into(),
                    observation: EnvObservation::Live(workload(i, n)),
                },
                6 => Msg::Releases {
                    service,
                    releases: vec![Release {
                        id: n as u64,
                        tag: format!("v0.0.{n}"),
                        latest: true,
                        ..Release::default()
                    }],
                },
                7 => Msg::Runs {
                    service,
                    runs: vec![CiRun {
                        id: i as u64,
                        run_number: n as u64,
                        status: "in_progress".into(),
                        ..CiRun::default()
                    }],
                },
                8 => Msg::Jobs {
                    service,
                    run_id: i as u64,
                    jobs: jobs(i as u64, (n / 10 % 5) as u64),
                },
                _ => Msg::Tick(1_772_359_350 + n as i64),
            }
        })
        .collect()
}

fn loaded_state() -> State {
    let mut state = State::new(registry(), Mode::INTERACTIVE);
    for msg in messages(20_000) {
        update(&mut state, msg);
    }
    state
}

fn bench_render(c: &mut Criterion) {
    let state = loaded_state();
    let theme = Theme::default();
    let mut view = ViewState::default();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    c.bench_function("render overview 500x3 at 200x60", |b| {
        b.iter(|| {
            // Clear so every iteration draws and diffs a full frame.
            terminal.clear().unwrap();
            terminal
                .draw(|frame| draw(frame, black_box(&state), &mut view, &theme))
                .unwrap();
        })
    });
}

fn bench_update(c: &mut Criterion) {
    let msgs = messages(10_000);
    let base = loaded_state();
    c.bench_function("apply 10000 update events", |b| {
        b.iter_batched(
            || (base.clone(), msgs.clone()),
            |(mut state, msgs)| {
                for msg in msgs {
                    black_box(update(&mut state, msg));
                }
                state
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench_render, bench_update);
criterion_main!(benches);
