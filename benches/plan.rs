//! Planning and verifying large meshes (target: plan + verify of a 1000-node hybrid mesh under 1 s).
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "common/mod.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan");
    group.sample_size(10);
    for n in [100usize, 1000] {
        let hybrid = common::hybrid_mesh(n);
        group.bench_function(format!("plan_hybrid_{n}"), |b| b.iter(|| wiremesh::plan(&hybrid).unwrap()));
        let plan = wiremesh::plan(&hybrid).unwrap();
        group.bench_function(format!("verify_hybrid_{n}"), |b| b.iter(|| wiremesh::verify(&plan).unwrap()));
        group.bench_function(format!("plan_and_verify_hybrid_{n}"), |b| {
            b.iter(|| wiremesh::verify(&wiremesh::plan(&hybrid).unwrap()).unwrap())
        });
        let full = common::full_mesh(n);
        group.bench_function(format!("plan_and_verify_full_{n}"), |b| {
            b.iter(|| wiremesh::verify(&wiremesh::plan(&full).unwrap()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
