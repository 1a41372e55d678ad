//! The Rust side of `bindings-python/bench_plan_render.py`: plans and renders (wg-quick text, in
//! memory) an N-node full mesh — every node with a documentation-range endpoint, as in the benches'
//! `full_mesh` — and prints the best and median of R timed runs in seconds.
//!
//! Run: `cargo run --release --example bench_plan_render -- [N=1000] [R=5]`

use std::time::Instant;

use wiremesh::{plan, render_all, ConfigFormat, Endpoint, Mesh, MeshSettings, Name, Node};

/// The same endpoints as `benches/common/mod.rs` (and the Python script).
fn endpoint(i: usize) -> Endpoint {
    let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3];
    let text = format!("{net}.{}:{}", 1 + (i / 3) % 250, 51820 + i / 750);
    Endpoint::parse(&text, "endpoint").expect("valid endpoint")
}

fn full_mesh(n: usize) -> Result<Mesh, wiremesh::Error> {
    let settings = MeshSettings::new(Name::new("bench", "name")?, vec!["10.88.0.0/16".parse().expect("valid CIDR")]);
    let mut mesh = Mesh::new(settings);
    for i in 0..n {
        let mut node = Node::new(Name::new(&format!("node-{i:04}"), "name")?);
        node.endpoint = Some(endpoint(i));
        mesh.nodes.push(node);
    }
    mesh.validate()?;
    mesh.generate_missing()?;
    Ok(mesh)
}

fn main() -> Result<(), wiremesh::Error> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let mesh = full_mesh(n)?;
    // One untimed run warms the allocator and the page cache, as the Python side does.
    let warm = render_all(&plan(&mesh)?, ConfigFormat::WgQuick)?;
    let bytes: usize = warm.iter().map(String::len).sum();
    drop(warm);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let planned = plan(&mesh)?;
        let texts = render_all(&planned, ConfigFormat::WgQuick)?;
        times.push(start.elapsed().as_secs_f64());
        assert_eq!(texts.len(), n);
        drop(texts);
    }
    times.sort_by(f64::total_cmp);
    println!("nodes={n} runs={runs} bytes={bytes}");
    println!("best_seconds={:.6}", times[0]);
    println!("median_seconds={:.6}", times[times.len() / 2]);
    Ok(())
}
