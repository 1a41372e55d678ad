//! Rendering a 1000-node full mesh (999,000 peer sections) to files (target: under 1 s).
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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
        let dir = tempfile::tempdir().unwrap();
        group.bench_function(format!("render_to_files_full_{n}"), |b| {
            b.iter(|| wiremesh::write_configs(&plan, dir.path(), ConfigFormat::WgQuick).unwrap())
        });
        group.bench_function(format!("plan_render_to_files_full_{n}"), |b| {
            b.iter(|| {
                let plan = wiremesh::plan(&mesh).unwrap();
                wiremesh::write_configs(&plan, dir.path(), ConfigFormat::WgQuick).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
