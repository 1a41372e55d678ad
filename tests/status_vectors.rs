//! The status vectors (tests/vectors/status/): `wg show dump` texts with their expected status and
//! health JSON, and dump parse errors; the Python and Node suites read the same files.
//!
//! `WIREMESH_UPDATE_VECTORS=1 cargo test --test status_vectors` rewrites the expected `*.json` outputs
//! (review the diff: they are the contract).

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use wiremesh::*;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/status")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn check(path: &Path, actual: &Value) {
    if std::env::var_os("WIREMESH_UPDATE_VECTORS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(actual).unwrap() + "\n").unwrap();
        return;
    }
    assert_eq!(&read_json(path), actual, "{}", path.display());
}

#[test]
fn status_and_health_vectors() {
    let cases = read_json(&dir().join("cases.json"));
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let state = parse_wg_dump(case["dump"].as_str().unwrap()).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(case["now"].as_u64().unwrap());
        let plan = case["mesh"].as_str().map(|toml| plan(&Mesh::from_toml_str(toml).unwrap()).unwrap());
        let node = case["node"].as_str();
        let previous = case["previous"].as_object().map(|p| Sample {
            state: parse_wg_dump(p["dump"].as_str().unwrap()).unwrap(),
            at: UNIX_EPOCH + Duration::from_secs(p["time"].as_u64().unwrap()),
        });
        let context =
            StatusContext { plan: plan.as_ref(), node, previous: previous.as_ref(), ..StatusContext::default() };
        let status = status(case["interface"].as_str().unwrap(), &state, now, &context).unwrap();
        let health = match (&plan, node) {
            (Some(plan), Some(node)) if case["resolve_endpoints"] == true => {
                // Without resolving, a planned DNS endpoint is never a problem.
                let unresolved = health(&status, plan, node).unwrap();
                assert!(unresolved.problems.iter().all(|p| p.code != "wrong_endpoint"), "{name}: {unresolved:?}");
                health_resolving(&status, plan, node, &reconcile::resolve_system).unwrap()
            }
            (Some(plan), Some(node)) => health(&status, plan, node).unwrap(),
            _ => health_of(&status),
        };
        for problem in &health.problems {
            assert!(HEALTH_CODES.contains(&problem.code), "{name}: {problem}");
        }
        check(&dir().join(format!("{name}.status.json")), &serde_json::to_value(&status).unwrap());
        check(&dir().join(format!("{name}.health.json")), &serde_json::to_value(&health).unwrap());
    }
    let all = &cases["all_dump"];
    let parsed = parse_wg_dump_all(all["text"].as_str().unwrap()).unwrap();
    let names: Vec<&str> = parsed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(Value::from(names), all["interfaces"]);
    let peers: Vec<usize> = parsed.iter().map(|(_, s)| s.peers.len()).collect();
    assert_eq!(Value::from(peers), all["peers"]);
}

#[test]
fn dump_error_vectors() {
    let cases = read_json(&dir().join("cases.json"));
    let keys = read_json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/keys.json"));
    let secrets: Vec<&str> = keys["pairs"].as_array().unwrap().iter().map(|p| p["private"].as_str().unwrap()).collect();
    for case in cases["errors"].as_array().unwrap() {
        let text = case["dump"].as_str().unwrap();
        let err =
            if case["all"].as_bool().unwrap() { parse_wg_dump_all(text).err() } else { parse_wg_dump(text).err() };
        let err = err.unwrap_or_else(|| panic!("{}: parsed", case["name"]));
        assert_eq!(err.code(), case["code"].as_str().unwrap(), "{}: {err}", case["name"]);
        let message = err.to_string();
        assert!(message.contains(&format!(":{}", case["line"])), "{}: no line in {message}", case["name"]);
        assert!(!message.contains("SECRET"), "{message}");
        for secret in &secrets {
            assert!(!message.contains(secret), "{message}");
        }
    }
}

#[test]
fn health_codes_are_shared() {
    let codes = read_json(&dir().join("health_codes.json"));
    assert_eq!(codes["codes"], Value::from(HEALTH_CODES.to_vec()));
}
