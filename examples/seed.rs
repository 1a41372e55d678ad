//! The seed deployment rebuilt with wiremesh: a public hub and three nodes behind NAT, planned as a
//! full mesh (nodes behind NAT reach each other through the hub) and as hub-and-spoke, each proven
//! reachable, shown, and written as wg-quick files.
//!
//! Run: `cargo run --example seed` (files go to `target/seed-example/`, or the directory given as the
//! first argument).

use std::path::PathBuf;

use wiremesh::{
    plan, verify, write_configs, ConfigFormat, Endpoint, Mesh, MeshSettings, Name, Node, PrivateKey, Reach, Topology,
};

fn seed_mesh(topology: Topology) -> Result<Mesh, wiremesh::Error> {
    let mut settings =
        MeshSettings::new(Name::new("seed", "mesh.name")?, vec!["10.88.0.0/24".parse().expect("valid CIDR")]);
    settings.topology = topology;
    let mut mesh = Mesh::new(settings);

    let mut hub = Node::new(Name::new("hub", "name")?);
    hub.endpoint = Some(Endpoint::parse("167.172.142.145:51820", "endpoint")?);
    hub.relay = true;
    hub.addresses = vec!["10.88.0.1".parse().expect("valid address")];
    mesh.add_node(hub)?;
    for (name, address) in [("node-1", "10.88.0.11"), ("node-2", "10.88.0.12")] {
        let mut node = Node::new(Name::new(name, "name")?);
        node.addresses = vec![address.parse().expect("valid address")];
        mesh.add_node(node)?;
    }
    // node-3 is self-contained: it generates its key on the machine and only publishes the public key;
    // its config loads the private key from there. (Here we make one up to stand for that.)
    let mut node3 = Node::new(Name::new("node-3", "name")?);
    node3.public_key = Some(PrivateKey::generate().public_key());
    node3.private_key_on_node = Some("/etc/wireguard/wiremesh.key".into());
    mesh.add_node(node3)?; // its address is allocated: the lowest free one
    mesh.generate_missing()?; // keys for the others
    Ok(mesh)
}

fn main() -> Result<(), wiremesh::Error> {
    let out = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/seed-example"));
    for topology in [Topology::FullMesh, Topology::HubAndSpoke] {
        let mesh = seed_mesh(topology)?;
        let plan = plan(&mesh)?;
        let proof = verify(&plan)?;
        println!(
            "== {}: {} ordered pairs proven ({} through the hub)",
            topology.as_str(),
            proof.pairs_proven,
            proof.relayed_pairs
        );
        for node in &plan.nodes {
            let routes: Vec<String> = node
                .routes
                .iter()
                .map(|r| match &r.reach {
                    Reach::Direct => format!("{} direct", r.node),
                    Reach::Via(relay) => format!("{} via {relay}", r.node),
                    Reach::Blocked => format!("{} blocked", r.node),
                })
                .collect();
            println!("  {:<7} {} peer(s): {}", node.name.as_str(), node.peers.len(), routes.join(", "));
            for peer in &node.peers {
                let ips: Vec<String> = peer.allowed_ips.iter().map(ToString::to_string).collect();
                println!("           [Peer] {:<7} AllowedIPs = {}", peer.name.as_str(), ips.join(", "));
            }
        }
        let dir = out.join(topology.as_str());
        let written = write_configs(&plan, &dir, ConfigFormat::WgQuick)?;
        println!("  wrote {} files to {}", written.len(), dir.display());
    }
    Ok(())
}
