//! The JSON-value entry points of the mesh model that the bindings build on: whole meshes, single
//! nodes and node updates, with the same validation and error codes as mesh files.

use serde_json::json;
use wiremesh::{Mesh, Node, PrivateKey};

fn mesh() -> Mesh {
    Mesh::from_json_value(
        json!({"mesh": {"name": "t", "networks": ["10.88.0.0/24"]},
               "nodes": [{"name": "hub", "endpoint": "192.0.2.1:51820", "relay": true}]}),
        "<dict>",
    )
    .unwrap()
}

#[test]
fn mesh_values_round_trip() {
    let mesh = mesh();
    assert_eq!(Mesh::from_json_value(mesh.to_json_value(), "<dict>").unwrap(), mesh);
    assert_eq!(mesh.to_json_value()["nodes"][0]["endpoint"], "192.0.2.1:51820");
}

#[test]
fn mesh_values_keep_typed_errors() {
    let bad_name = json!({"mesh": {"name": "t", "networks": ["10.88.0.0/24"]}, "nodes": [{"name": "a b"}]});
    assert_eq!(Mesh::from_json_value(bad_name, "<dict>").unwrap_err().code(), "mesh_invalid_name");
    let wrong_type = json!({"mesh": {"name": "t", "networks": "10.88.0.0/24"}});
    assert_eq!(Mesh::from_json_value(wrong_type, "<dict>").unwrap_err().code(), "mesh_syntax");
    let endpoint = json!({"name": "x", "endpoint": "nowhere"});
    assert_eq!(Node::from_json_value(endpoint, "nodes[1]").unwrap_err().code(), "mesh_invalid_endpoint");
}

#[test]
fn update_node_merges_validates_and_keeps_the_key() {
    let mut mesh = mesh();
    let key = PrivateKey::generate();
    mesh.node_mut("hub").unwrap().private_key = Some(key.clone());
    mesh.update_node("hub", &json!({"groups": ["core"], "relay": null})).unwrap();
    let hub = mesh.node("hub").unwrap();
    assert_eq!(hub.groups.len(), 1);
    assert!(!hub.relay);
    assert_eq!(hub.private_key.as_ref(), Some(&key));
    let before = mesh.clone();
    let err = mesh.update_node("hub", &json!({"addresses": ["10.99.0.1"]})).unwrap_err();
    assert_eq!(err.code(), "mesh_invalid_value");
    assert_eq!(mesh, before, "unchanged on error");
    assert_eq!(mesh.update_node("ghost", &json!({})).unwrap_err().code(), "mesh_unknown_node");
}
