//! Rendering a 1000-node full mesh (999,000 peer sections) to files (target: under 1 s).
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use wiremesh::ConfigFormat;

#[path = "common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    group.sample_size(10);
    for n in [300usize, 1000] {
        let mesh = common::full_mesh(n);
        let plan = wiremesh::plan(&mesh).unwrap();
        group.throughput(Throughput::Elements((n * (n - 1)) as u64));
        group.bench_function(format!("render_text_full_{n}"), |b| {
            b.iter(|| wiremesh::render_all(&plan, ConfigFormat::WgQuick).unwrap())
        });
        let base = tempfile::tempdir().unwrap();
        // Every iteration writes into a new, empty directory (created and later removed outside the
        // timing), as a first render does.
        let fresh = || tempfile::tempdir_in(base.path()).unwrap();
        group.bench_function(format!("render_to_files_full_{n}"), |b| {
            b.iter_batched(
                fresh,
                |dir| {
                    wiremesh::write_configs(&plan, dir.path(), ConfigFormat::WgQuick).unwrap();
                    dir
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("plan_render_to_files_full_{n}"), |b| {
            b.iter_batched(
                fresh,
                |dir| {
                    let plan = wiremesh::plan(&mesh).unwrap();
                    wiremesh::write_configs(&plan, dir.path(), ConfigFormat::WgQuick).unwrap();
                    dir
                },
                BatchSize::PerIteration,
            )
        });
        // Rendering again over identical files: nothing is rewritten.
        let same = fresh();
        wiremesh::write_configs(&plan, same.path(), ConfigFormat::WgQuick).unwrap();
        group.bench_function(format!("rerender_unchanged_full_{n}"), |b| {
            b.iter(|| wiremesh::write_configs(&plan, same.path(), ConfigFormat::WgQuick).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
