//! `Device::start` / `Device::start_node` refuse bad input with typed errors before creating anything,
//! so these run without root (the device itself is exercised as root by tests/netns/device.sh).
#![cfg(all(feature = "device", target_os = "linux"))]

use wiremesh::device::{Device, DeviceOptions};
use wiremesh::{Mesh, Plan};

fn plan(a_endpoint: &str) -> Plan {
    let text = format!(
        "[mesh]\nname = \"t\"\nnetworks = [\"10.66.0.0/24\"]\n\
         [[nodes]]\nname = \"a\"\nendpoint = \"{a_endpoint}\"\naddresses = [\"10.66.0.1\"]\n\
         [[nodes]]\nname = \"b\"\nendpoint = \"192.0.2.2:51820\"\naddresses = [\"10.66.0.2\"]\n\
         [[nodes]]\nname = \"c\"\naddresses = [\"10.66.0.3\"]\npublic_key = \"dyRQOE5i8fz5vt/OqJL0kbtbxtcmupbxqPq4Z/p6fgg=\"\n"
    );
    let mut mesh = Mesh::from_toml_str(&text).unwrap();
    mesh.generate_missing().unwrap();
    wiremesh::plan(&mesh).unwrap()
}

fn start_node_code(plan: &Plan, node: &str, ifname: &str, uapi: bool) -> String {
    let options = DeviceOptions { uapi, ..DeviceOptions::new(ifname) };
    match Device::start_node(plan, node, &options) {
        Ok(_) => panic!("start_node({node}, {ifname:?}) succeeded"),
        Err(e) => e.code().to_string(),
    }
}

#[test]
fn bad_interface_names_are_refused_with_or_without_uapi() {
    for name in ["", "a/b", "has space", "sixteen-chars-xx", "a:b", ".."] {
        for uapi in [true, false] {
            let err = Device::start(&DeviceOptions { uapi, ..DeviceOptions::new(name) }).err().expect("refused");
            assert_eq!(err.code(), "io_other", "{name:?}");
            assert!(err.to_string().contains("not an interface name"), "{err}");
        }
        assert_eq!(start_node_code(&plan("192.0.2.1:51820"), "a", name, false), "io_other");
    }
}

#[test]
fn plan_errors_come_before_the_interface() {
    let p = plan("192.0.2.1:51820");
    assert_eq!(start_node_code(&p, "nobody", "wmtest0", true), "mesh_unknown_node");
    assert_eq!(start_node_code(&p, "c", "wmtest0", true), "mesh_missing_key");
    let p = plan("nowhere.invalid:51820");
    assert_eq!(start_node_code(&p, "b", "wmtest0", true), "plan_unresolved_endpoint");
    // The key is checked before any name is resolved.
    assert_eq!(start_node_code(&p, "c", "wmtest0", true), "mesh_missing_key");
}
