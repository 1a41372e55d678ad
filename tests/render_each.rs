//! `render_each`: parallel rendering handed to the caller's thread in plan order, stopping at the
//! first error (what the bindings use to build their strings while rendering goes on).

use wiremesh::{
    plan, render_all, render_each, render_node, ConfigFormat, Endpoint, Mesh, MeshSettings, Name, Node, PrivateKey,
};

fn mesh(n: usize) -> Mesh {
    let mut mesh = Mesh::new(MeshSettings::new(Name::new("t", "name").unwrap(), vec!["10.88.0.0/16".parse().unwrap()]));
    for i in 0..n {
        let mut node = Node::new(Name::new(&format!("node-{i:03}"), "name").unwrap());
        node.endpoint = Some(Endpoint::parse(&format!("192.0.2.{}:51820", 1 + i % 250), "endpoint").unwrap());
        mesh.nodes.push(node);
    }
    mesh.generate_missing().unwrap();
    mesh
}

#[test]
fn hands_out_every_text_in_plan_order() {
    let plan = plan(&mesh(70)).unwrap();
    let mut seen = Vec::new();
    render_each(&plan, ConfigFormat::WgQuick, |index, text| {
        assert_eq!(text, render_node(&plan.nodes[index], ConfigFormat::WgQuick).unwrap());
        seen.push(index);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (0..70).collect::<Vec<_>>());
    assert_eq!(render_all(&plan, ConfigFormat::Setconf).unwrap().len(), 70);
}

#[test]
fn stops_at_the_first_error() {
    let mut mesh = mesh(40);
    // Only the public key of node-020 is known: its config cannot be rendered.
    let node = mesh.node_mut("node-020").unwrap();
    node.private_key = None;
    node.public_key = Some(PrivateKey::generate().public_key());
    let plan = plan(&mesh).unwrap();
    let mut calls = 0;
    let err = render_each(&plan, ConfigFormat::WgQuick, |_, _| {
        calls += 1;
        Ok(())
    })
    .unwrap_err();
    assert_eq!(err.code(), "mesh_missing_key");
    assert!(calls <= 20, "nothing after the failing node is handed out in order");
    assert_eq!(render_all(&plan, ConfigFormat::WgQuick).unwrap_err().code(), "mesh_missing_key");

    let plan = plan_of(40);
    let mut calls = 0;
    let err = render_each(&plan, ConfigFormat::WgQuick, |index, _| {
        calls += 1;
        if index == 5 {
            Err(wiremesh::MeshError::UnknownNode { field: "test".into(), name: "x".into() }.into())
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(err.code(), "mesh_unknown_node");
    assert_eq!(calls, 6, "consume is not called again after its error");
}

fn plan_of(n: usize) -> wiremesh::Plan {
    plan(&mesh(n)).unwrap()
}
