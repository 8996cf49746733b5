//! Sandbox start-up benchmark: `sandbox::start` with 300 services (git
//! repositories, registry, both APIs and the cluster seeded), as
//! `hearth sandbox --services 300` does it, with and without waiting for the
//! background git repositories. Target: under 2 s.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hearth_sandbox::{self as sandbox, SandboxOptions};

fn start_300(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("sandbox");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, wait_for_git) in [
        ("start --services 300 (serving, env written)", false),
        ("start --services 300 + all git repos ready", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let mut opts = SandboxOptions::new(dir.path().join("sb"));
                    opts.count = Some(300);
                    let t = Instant::now();
                    let handle = rt.block_on(async {
                        let h = sandbox::start(opts).await.expect("sandbox starts");
                        if wait_for_git {
                            h.git_ready().await.expect("git repos");
                        }
                        h
                    });
                    total += t.elapsed();
                    rt.block_on(async {
                        // Let background git work end before the folder goes.
                        let _ = handle.git_ready().await;
                        handle.shutdown().await
                    });
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, start_300);
criterion_main!(benches);
