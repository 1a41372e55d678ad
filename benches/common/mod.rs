//! Synthetic meshes shared by the benches (and the wg-meshconf comparison).
#![allow(dead_code)]

use wiremesh::{Endpoint, Mesh, MeshSettings, Name, Node, Topology};

fn endpoint(i: usize) -> Endpoint {
    // Documentation-range addresses only; the port spreads nodes past 250 per address.
    let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3];
    let text = format!("{net}.{}:{}", 1 + (i / 3) % 250, 51820 + i / 750);
    Endpoint::parse(&text, "endpoint").expect("valid endpoint")
}

/// `n` nodes, all with endpoints: every pair is direct (n − 1 peers per node).
pub fn full_mesh(n: usize) -> Mesh {
    let settings = MeshSettings::new(Name::new("bench", "name").unwrap(), vec!["10.88.0.0/16".parse().unwrap()]);
    let mut mesh = Mesh::new(settings);
    for i in 0..n {
        let mut node = Node::new(Name::new(&format!("node-{i:04}"), "name").unwrap());
        node.endpoint = Some(endpoint(i));
        mesh.nodes.push(node);
    }
    mesh.generate_missing().unwrap();
    mesh
}

/// `n` nodes: two relays, half the rest public, half behind NAT (NAT pairs go through a relay).
pub fn hybrid_mesh(n: usize) -> Mesh {
    let mut settings = MeshSettings::new(Name::new("bench", "name").unwrap(), vec!["10.88.0.0/16".parse().unwrap()]);
    settings.topology = Topology::FullMesh;
    let mut mesh = Mesh::new(settings);
    for i in 0..n {
        let mut node = Node::new(Name::new(&format!("node-{i:04}"), "name").unwrap());
        if i < 2 {
            node.relay = true;
        }
        if i < 2 || i % 2 == 0 {
            node.endpoint = Some(endpoint(i));
        }
        mesh.nodes.push(node);
    }
    mesh.generate_missing().unwrap();
    mesh
}
