//! Prints how long each stage of `wiremesh render MESH --out DIR` takes, for performance work.
//! usage: cargo run --release --example phase_timing -- MESH DIR
use std::time::Instant;

fn main() -> Result<(), wiremesh::Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: phase_timing MESH DIR");
        std::process::exit(2);
    }
    let (mesh_path, dir) = (std::path::Path::new(&args[1]), std::path::Path::new(&args[2]));
    let t = Instant::now();
    let mut mesh = wiremesh::Mesh::load(mesh_path)?;
    let t_load = t.elapsed();
    mesh.generate_missing()?;
    let t_gen = t.elapsed();
    let plan = wiremesh::plan(&mesh)?;
    let t_plan = t.elapsed();
    wiremesh::verify(&plan)?;
    let t_verify = t.elapsed();
    let texts = wiremesh::render_all(&plan, wiremesh::ConfigFormat::WgQuick)?;
    let t_render = t.elapsed();
    drop(texts);
    wiremesh::write_configs(&plan, dir, wiremesh::ConfigFormat::WgQuick)?;
    let t_write = t.elapsed();
    println!(
        "load {:?}  generate {:?}  plan {:?}  verify {:?}  render-in-memory {:?}  render+write {:?}",
        t_load,
        t_gen - t_load,
        t_plan - t_gen,
        t_verify - t_plan,
        t_render - t_verify,
        t_write - t_render
    );
    Ok(())
}
