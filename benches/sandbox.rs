//! Sandbox start-up benchmark: `sandbox::start` with 300 services (git
//! repositories, registry, both APIs and the cluster seeded), as
//! `hearth sandbox --services 300` does it. Target: under 2 s.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hearth::sandbox::{self, SandboxOptions};

fn start_300(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("sandbox");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("start --services 300", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("tempdir");
                let mut opts = SandboxOptions::new(dir.path().join("sb"));
                opts.services = Some(300);
                let t = Instant::now();
                let handle = rt.block_on(sandbox::start(opts)).expect("sandbox starts");
                total += t.elapsed();
                rt.block_on(handle.shutdown());
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, start_300);
criterion_main!(benches);
