//! The shared live-reconfiguration vectors (tests/vectors/reconcile/cases.json), also read by the Python
//! and Node tests: diff a plan node against a device state, compare the set request and the described
//! changes, check that applying it leaves nothing to do; and the error cases.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wiremesh::reconcile::{describe, diff};
use wiremesh::uapi::{apply_update, parse_get_response, render_set_request};
use wiremesh::{plan, Mesh, Plan};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/reconcile")
}

fn plan_of(file: &str) -> Plan {
    let mesh = Mesh::load(&dir().join(file)).unwrap();
    plan(&mesh).unwrap()
}

#[test]
fn reconcile_vectors() {
    let path = dir().join("cases.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let update_vectors = std::env::var_os("WIREMESH_UPDATE_VECTORS").is_some();
    let plan = plan_of(doc["mesh"].as_str().unwrap());
    let cases = doc["cases"].as_array_mut().unwrap();
    assert!(cases.len() >= 5);
    for case in cases.iter_mut() {
        let name = case["name"].as_str().unwrap().to_string();
        let node = case["node"].as_str().unwrap().to_string();
        let state = parse_get_response(case["state"].as_str().unwrap()).unwrap();
        let update = diff(&plan, &node, &state).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = render_set_request(&update);
        let changes: Vec<String> = describe(&update, plan.node(&node).unwrap()).iter().map(|c| c.to_string()).collect();
        if update_vectors {
            case["update"] = text.clone().into();
            case["changes"] = changes.clone().into();
        }
        assert_eq!(text, case["update"].as_str().unwrap(), "{name}: set request");
        let expected: Vec<&str> = case["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(changes, expected, "{name}: changes");
        let after = apply_update(&state, &update);
        assert!(diff(&plan, &node, &after).unwrap().is_empty(), "{name}: something left after applying");
    }
    for case in doc["errors"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let plan = case["mesh"].as_str().map(plan_of).unwrap_or_else(|| plan.clone());
        let state = parse_get_response(case["state"].as_str().unwrap()).unwrap();
        let err = diff(&plan, case["node"].as_str().unwrap(), &state).expect_err(name);
        assert_eq!(err.code(), case["code"].as_str().unwrap(), "{name}: {err}");
    }
    if update_vectors {
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
}
