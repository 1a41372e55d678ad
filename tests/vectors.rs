//! The shared vectors under `tests/vectors/` (keys, error cases, meshes with their expected plans),
//! checked from Rust; the Python and Node test suites read the same files.
//!
//! `WIREMESH_UPDATE_VECTORS=1 cargo test --test vectors` rewrites the expected `*.plan.json` files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wiremesh::*;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn key_vectors() {
    let keys = read_json(&vectors().join("keys.json"));
    for pair in keys["pairs"].as_array().unwrap() {
        let private = PrivateKey::from_base64(pair["private"].as_str().unwrap()).unwrap();
        assert_eq!(private.public_key().to_base64(), pair["public"].as_str().unwrap());
        assert_eq!(private.to_hex(), pair["private_hex"].as_str().unwrap());
        let public = PublicKey::from_hex(pair["public_hex"].as_str().unwrap()).unwrap();
        assert_eq!(public.to_base64(), pair["public"].as_str().unwrap());
    }
    let unclamped = &keys["unclamped"];
    let key = PrivateKey::from_base64(unclamped["private"].as_str().unwrap()).unwrap();
    assert_eq!(key.to_base64(), unclamped["clamped"].as_str().unwrap());
    assert_eq!(key.public_key().to_base64(), unclamped["public"].as_str().unwrap());
    let psk = PresharedKey::from_base64(keys["preshared"]["base64"].as_str().unwrap()).unwrap();
    assert_eq!(psk.to_hex(), keys["preshared"]["hex"].as_str().unwrap());
}

/// Runs one error case; returns the error code it produced (or None when it unexpectedly succeeded).
fn run_case(operation: &str, input: &Value) -> Option<String> {
    let text = || input.as_str().unwrap();
    let code = |e: Error| Some(e.code().to_string());
    match operation {
        "private_key" => PrivateKey::from_base64(text()).err().map(|e| e.code().into()),
        "public_key" => PublicKey::from_base64(text()).err().map(|e| e.code().into()),
        "preshared_key" => PresharedKey::from_base64(text()).err().map(|e| e.code().into()),
        "public_key_hex" => PublicKey::from_hex(text()).err().map(|e| e.code().into()),
        "name" => Name::new(text(), "name").err().map(|e| e.code().into()),
        "endpoint" => Endpoint::parse(text(), "endpoint").err().map(|e| e.code().into()),
        "reservation" => Reservation::parse(text()).err().map(|e| e.code().into()),
        "mesh_toml" => Mesh::from_toml_str(text()).err().map(|e| e.code().into()),
        "mesh_json" => Mesh::from_json_str(text()).err().map(|e| e.code().into()),
        "remove_node" => Mesh::from_toml_str(text()).unwrap().remove_node("nobody").err().map(|e| e.code().into()),
        "plan_toml" => plan(&Mesh::from_toml_str(text()).unwrap()).err().and_then(code),
        "verify_toml" => {
            let plan = plan(&Mesh::from_toml_str(text()).unwrap()).unwrap();
            verify(&plan).err().map(|e| e.code().into())
        }
        "parse_wg_quick" => parse_wg_quick(text(), "vector").err().map(|e| e.code().into()),
        "parse_setconf" => parse_setconf(text(), "vector").err().map(|e| e.code().into()),
        "render_wg_quick" => {
            let interface = &input["interface"];
            let strings = |v: &Value| -> Vec<String> {
                v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()).unwrap_or_default()
            };
            let config = WgConfig {
                interface: InterfaceSection {
                    addresses: strings(&interface["addresses"]).iter().map(|a| a.parse().unwrap()).collect(),
                    post_up: strings(&interface["post_up"]),
                    ..Default::default()
                },
                peers: input["peers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| PeerSection {
                        name: p["name"].as_str().map(str::to_string),
                        allowed_ips: strings(&p["allowed_ips"]).iter().map(|a| a.parse().unwrap()).collect(),
                        ..PeerSection::new(PublicKey::from_base64(p["public_key"].as_str().unwrap()).unwrap())
                    })
                    .collect(),
            };
            render_wg_quick(&config).err().map(|e| e.code().into())
        }
        "pool" => {
            let run = || -> Result<(), Error> {
                let mut pool = Pool::new(parse_network(input["network"].as_str().unwrap())?)?;
                for r in input["reserve"].as_array().into_iter().flatten() {
                    pool.reserve(Reservation::parse(r.as_str().unwrap())?)?;
                }
                for a in input["assign"].as_array().into_iter().flatten() {
                    pool.assign(parse_address(a.as_str().unwrap())?)?;
                }
                for a in input["release"].as_array().into_iter().flatten() {
                    pool.release(parse_address(a.as_str().unwrap())?)?;
                }
                for _ in 0..input["allocate"].as_u64().unwrap_or(0) {
                    pool.allocate_sequential()?;
                }
                Ok(())
            };
            run().err().and_then(code)
        }
        "load_mesh_file" => Mesh::load(&vectors().join(text())).err().and_then(code),
        "uapi_set_request" => uapi::parse_set_request(text()).err().map(|e| e.code().into()),
        "uapi_set_response" => uapi::parse_set_response(text()).err().map(|e| e.code().into()),
        "uapi_get_response" => uapi::parse_get_response(text()).err().map(|e| e.code().into()),
        other => panic!("unknown operation {other}"),
    }
}

#[test]
fn error_vectors() {
    let doc = read_json(&vectors().join("errors.json"));
    let listed: Vec<&str> = doc["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(listed, ALL_CODES, "errors.json `codes` must list exactly wiremesh::ALL_CODES");
    let mut triggered = BTreeSet::new();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let got = run_case(case["operation"].as_str().unwrap(), &case["input"]);
        assert_eq!(got.as_deref(), case["code"].as_str(), "case {name:?}");
        triggered.insert(case["code"].as_str().unwrap().to_string());
    }
    let not_triggered: BTreeSet<String> = doc["not_triggered"].as_object().unwrap().keys().cloned().collect();
    let all: BTreeSet<String> = ALL_CODES.iter().map(|c| c.to_string()).collect();
    let covered: BTreeSet<String> = triggered.union(&not_triggered).cloned().collect();
    assert_eq!(covered, all, "every code is either triggered by a case or explained in not_triggered");
}

#[test]
fn mesh_vectors_plan_as_expected() {
    let dir = vectors().join("meshes");
    let update = std::env::var_os("WIREMESH_UPDATE_VECTORS").is_some();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        count += 1;
        let mesh = Mesh::load(&path).unwrap();
        let plan = plan(&mesh).unwrap();
        verify(&plan).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let got = plan_json(&plan);
        let expected_path = path.with_extension("plan.json");
        if update {
            std::fs::write(&expected_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let expected = read_json(&expected_path);
        assert_eq!(got, expected, "{} plans differently from {}", path.display(), expected_path.display());
        check_failover_vector(&mesh, &plan, &path, update);
    }
    assert!(count >= 4);
}

/// Meshes with redundant relays also have `NAME.failover.json`: the failover proof and, per relay that
/// carries traffic, the plan with that relay down.
fn check_failover_vector(mesh: &Mesh, plan: &Plan, path: &Path, update: bool) {
    let failover_path = path.with_extension("failover.json");
    let proof = verify_failover(mesh).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if !plan.nodes.iter().any(|n| n.has_redundant_relays()) {
        assert!(!failover_path.exists(), "{} has no redundant relays", path.display());
        return;
    }
    let mut relays_down = serde_json::Map::new();
    for relay in &proof.relays_checked {
        relays_down.insert(relay.to_string(), plan_json(&plan_with_relays_down(mesh, &[relay.as_str()]).unwrap()));
    }
    let got = serde_json::json!({
        "proof": failover_proof_json(&proof),
        "relays_down": relays_down,
    });
    if update {
        std::fs::write(&failover_path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    assert_eq!(
        got,
        read_json(&failover_path),
        "{} fails over differently from {}",
        path.display(),
        failover_path.display()
    );
}

fn opt_str(v: &Value) -> Option<&str> {
    v.as_str()
}

#[test]
fn uapi_transcripts() {
    use wiremesh::uapi::*;
    let doc = read_json(&vectors().join("uapi/transcripts.json"));
    for case in doc["set_requests"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let parsed = parse_set_request(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = &case["parsed"];
        assert_eq!(
            parsed.private_key.as_ref().map(|k| k.as_ref().map(|k| k.to_hex())),
            p.get("private_key").map(|v| opt_str(v).map(String::from)),
            "{name}"
        );
        assert_eq!(parsed.listen_port.map(u64::from), p["listen_port"].as_u64(), "{name}");
        assert_eq!(parsed.fwmark.map(u64::from), p["fwmark"].as_u64(), "{name}");
        assert_eq!(parsed.replace_peers, p["replace_peers"].as_bool().unwrap_or(false), "{name}");
        let peers = p["peers"].as_array().unwrap();
        assert_eq!(parsed.peers.len(), peers.len(), "{name}");
        for (got, want) in parsed.peers.iter().zip(peers) {
            assert_eq!(got.public_key.to_hex(), want["public_key"].as_str().unwrap());
            assert_eq!(got.remove, want["remove"].as_bool().unwrap_or(false));
            assert_eq!(got.update_only, want["update_only"].as_bool().unwrap_or(false));
            assert_eq!(
                got.preshared_key.as_ref().map(|k| k.as_ref().map(|k| k.to_hex())),
                want.get("preshared_key").map(|v| opt_str(v).map(String::from))
            );
            assert_eq!(got.endpoint.map(|e| e.to_string()).as_deref(), want["endpoint"].as_str());
            assert_eq!(
                got.persistent_keepalive_interval.map(u64::from),
                want["persistent_keepalive_interval"].as_u64()
            );
            assert_eq!(got.replace_allowed_ips, want["replace_allowed_ips"].as_bool().unwrap_or(false));
            let ips: Vec<String> =
                got.allowed_ips.iter().map(|c| format!("{}{}", if c.remove { "-" } else { "" }, c.prefix)).collect();
            let want_ips: Vec<String> = want["allowed_ips"]
                .as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            assert_eq!(ips, want_ips);
            assert_eq!(got.protocol_version.map(u64::from), want["protocol_version"].as_u64());
        }
        let canonical = case["canonical"].as_str().unwrap_or(text);
        assert_eq!(render_set_request(&parsed), canonical, "{name}: rendering back");
    }
    for case in doc["get_responses"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let state = parse_get_response(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let p = &case["parsed"];
        assert_eq!(state.private_key.as_ref().map(|k| k.to_hex()).as_deref(), p["private_key"].as_str(), "{name}");
        assert_eq!(state.own_public_key.map(|k| k.to_hex()).as_deref(), p["own_public_key"].as_str(), "{name}");
        assert!(state.public_key().is_some(), "{name}: the device's public key, one way or the other");
        assert_eq!(u64::from(state.listen_port), p["listen_port"].as_u64().unwrap());
        let want = &p["peers"][0];
        let peer = &state.peers[0];
        assert_eq!(peer.public_key.to_hex(), want["public_key"].as_str().unwrap());
        assert_eq!(peer.endpoint.map(|e| e.to_string()).as_deref(), want["endpoint"].as_str());
        assert_eq!(
            peer.last_handshake.map(|hs| [hs.as_secs(), u64::from(hs.subsec_nanos())]),
            want["last_handshake"].as_array().map(|a| [a[0].as_u64().unwrap(), a[1].as_u64().unwrap()]),
            "{name}"
        );
        assert_eq!(
            u64::from(peer.persistent_keepalive_interval),
            want["persistent_keepalive_interval"].as_u64().unwrap()
        );
        assert_eq!(
            (peer.tx_bytes, peer.rx_bytes),
            (want["tx_bytes"].as_u64().unwrap(), want["rx_bytes"].as_u64().unwrap())
        );
        let ips: Vec<String> = peer.allowed_ips.iter().map(|p| p.to_string()).collect();
        assert_eq!(ips, ["10.88.0.0/24", "fd88::/64"]);
        assert_eq!(render_get_response(&state), case["canonical"].as_str().unwrap_or(text), "{name}: rendering back");
    }
}
