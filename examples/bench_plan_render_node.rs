//! The Rust side of the Node binding's benchmark (`bindings-node/bench-plan-render.js` runs it and
//! compares): plan a 1000-node full mesh and render every node's wg-quick text (`render`, the default),
//! or plan and write every node's file (`write`, into a temporary directory), or only plan (`plan`) —
//! the same work the Node script does through the binding. Prints one JSON line with the
//! per-iteration times in milliseconds.
//!
//! Run: `cargo run --release --example bench_plan_render_node -- [NODES] [ITERATIONS] [render|write|plan]`

use std::time::Instant;

use wiremesh::ConfigFormat;

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let nodes: usize = args.next().map(|a| a.parse().expect("NODES is a number")).unwrap_or(1000);
    let iterations: usize = args.next().map(|a| a.parse().expect("ITERATIONS is a number")).unwrap_or(10);
    let mode = args.next().unwrap_or_else(|| "render".into());
    let dir = std::env::temp_dir().join(format!("wiremesh-bench-{}", std::process::id()));
    let mesh = common::full_mesh(nodes);
    let mut plan_ms = Vec::with_capacity(iterations);
    let mut total_ms = Vec::with_capacity(iterations);
    let mut bytes = 0usize;
    for _ in 0..iterations {
        let start = Instant::now();
        let plan = wiremesh::plan(&mesh).expect("the bench mesh plans");
        let planned = start.elapsed();
        // The texts, like the plan, are dropped after the clock stops (Node frees them later too).
        let mut texts = Vec::new();
        match mode.as_str() {
            "render" => {
                texts = wiremesh::render_all(&plan, ConfigFormat::WgQuick).expect("the bench mesh renders");
            }
            "write" => {
                wiremesh::write_configs(&plan, &dir, ConfigFormat::WgQuick).expect("the bench mesh is written");
            }
            "plan" => {}
            other => panic!("unknown mode {other:?}: expected render, write or plan"),
        }
        let total = start.elapsed();
        if !texts.is_empty() {
            bytes = texts.iter().map(String::len).sum();
        }
        drop(texts);
        drop(plan);
        plan_ms.push(planned.as_secs_f64() * 1e3);
        total_ms.push(total.as_secs_f64() * 1e3);
    }
    if mode == "write" {
        bytes = std::fs::read_dir(&dir)
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len() as usize).sum())
            .unwrap_or(0);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(",");
    println!(
        "{{\"nodes\":{nodes},\"mode\":\"{mode}\",\"bytes\":{bytes},\"plan_ms\":[{}],\"total_ms\":[{}]}}",
        list(&plan_ms),
        list(&total_ms)
    );
}
