//! `wiremesh apply` against a fake UAPI device (a Unix socket served by a thread that keeps a
//! DeviceState and applies `set` requests with the UAPI semantics): dry run, apply, idempotence, a
//! changed mesh, untouched peers, typed errors.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{fails, ok};
use wiremesh::uapi::{apply_update, parse_set_request, render_errno, render_get_response, DeviceState};

struct FakeDevice {
    state: Arc<Mutex<DeviceState>>,
    sets: Arc<Mutex<Vec<String>>>,
    path: PathBuf,
}

/// Serves `get=1` and `set=1` on `path`; with `refuse`, every set is answered errno=-22.
fn fake_device(path: &Path, refuse: bool) -> FakeDevice {
    let listener = UnixListener::bind(path).unwrap();
    let state = Arc::new(Mutex::new(DeviceState { listen_port: 40000, ..DeviceState::default() }));
    let sets = Arc::new(Mutex::new(Vec::new()));
    let (s, r) = (state.clone(), sets.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut reader = BufReader::new(stream);
            loop {
                let mut request = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    request.push_str(&line);
                    if line == "\n" {
                        break;
                    }
                }
                if request.is_empty() {
                    break;
                }
                let reply = if request == "get=1\n\n" {
                    render_get_response(&s.lock().unwrap())
                } else if refuse {
                    render_errno(22)
                } else {
                    let update = parse_set_request(&request).unwrap();
                    let mut state = s.lock().unwrap();
                    *state = apply_update(&state, &update);
                    r.lock().unwrap().push(request);
                    render_errno(0)
                };
                reader.get_mut().write_all(reply.as_bytes()).unwrap();
            }
        }
    });
    FakeDevice { state, sets, path: path.to_path_buf() }
}

fn apply_args<'a>(device: &'a FakeDevice, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["apply", "mesh.toml", "hub", "--interface", "wmfake0", "--socket", device.path.to_str().unwrap()];
    args.extend_from_slice(extra);
    args
}

#[test]
fn apply_dry_run_then_apply_then_nothing_left() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "mesh.toml", "--network", "10.77.0.0/24", "--preshared-keys"]);
    ok(d, &["add", "mesh.toml", "hub", "--relay", "--endpoint", "192.0.2.1:51820", "--address", "10.77.0.1"]);
    ok(d, &["add", "mesh.toml", "a", "--address", "10.77.0.2"]);
    ok(d, &["add", "mesh.toml", "b", "--address", "10.77.0.3", "--endpoint", "192.0.2.3:51820"]);
    let device = fake_device(&d.join("dev.sock"), false);

    // Dry run: the changes are listed, nothing is sent.
    let dry = ok(d, &apply_args(&device, &["--dry-run"]));
    assert!(dry.starts_with("hub on wmfake0: would make 4 change(s)\n"), "{dry}");
    assert!(dry.contains("  private key: replaced") && dry.contains("  listen port: 51820"), "{dry}");
    assert!(
        dry.contains("add peer a (") && dry.contains("add peer b (") && dry.contains("endpoint 192.0.2.3:51820"),
        "{dry}"
    );
    assert!(dry.ends_with("dry run: the device was not changed\n"), "{dry}");
    assert!(device.sets.lock().unwrap().is_empty());
    let secrets = std::fs::read_dir(d.join("mesh.keys"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>();
    for secret in &secrets {
        assert!(!dry.contains(secret.trim()), "a secret in the dry run output");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(d, &apply_args(&device, &["--dry-run", "--json"]))).unwrap();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["applied"], false);
    assert_eq!(json["changes"].as_array().unwrap().len(), 4);
    assert_eq!(json["changes"][2]["change"], "add_peer");
    assert_eq!(json["changes"][2]["preshared_key"], true);

    // Apply: one set; then the device matches and a second apply sends nothing.
    let applied = ok(d, &apply_args(&device, &[]));
    assert!(applied.starts_with("hub on wmfake0: made 4 change(s)\n"), "{applied}");
    assert_eq!(device.sets.lock().unwrap().len(), 1);
    assert_eq!(device.state.lock().unwrap().peers.len(), 2);
    assert_eq!(ok(d, &apply_args(&device, &[])), "hub on wmfake0: already up to date\n");
    assert_eq!(device.sets.lock().unwrap().len(), 1);

    // Traffic on b; then the mesh changes: c is added, b moves. Only b and c are in the set request.
    {
        let mut state = device.state.lock().unwrap();
        for peer in &mut state.peers {
            peer.rx_bytes = 1234;
            peer.last_handshake = Some(Duration::from_secs(1_800_000_000));
        }
    }
    let a_before = device.state.lock().unwrap().peers[0].clone();
    let toml = std::fs::read_to_string(d.join("mesh.toml")).unwrap().replace("192.0.2.3:51820", "192.0.2.33:51820");
    std::fs::write(d.join("mesh.toml"), toml).unwrap();
    ok(d, &["add", "mesh.toml", "c", "--address", "10.77.0.4"]);
    let json: serde_json::Value = serde_json::from_str(&ok(d, &apply_args(&device, &["--json"]))).unwrap();
    assert_eq!(json["applied"], true);
    let kinds: Vec<(&str, &str)> = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["change"].as_str().unwrap(), c["peer"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("update_peer", "b"), ("add_peer", "c")]);
    assert_eq!(json["changes"][0]["endpoint"], "192.0.2.33:51820");
    let sets = device.sets.lock().unwrap();
    assert_eq!(sets.len(), 2);
    assert!(!sets[1].contains(&a_before.public_key.to_hex()), "untouched peer a was sent:\n{}", sets[1]);
    assert!(!sets[1].contains("replace_peers") && !sets[1].contains("private_key"), "{}", sets[1]);
    drop(sets);
    let state = device.state.lock().unwrap();
    assert_eq!(state.peers.iter().find(|p| p.public_key == a_before.public_key), Some(&a_before));
    assert_eq!(state.peers.len(), 3);
}

#[test]
fn apply_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "mesh.toml", "--network", "10.77.0.0/24"]);
    ok(d, &["add", "mesh.toml", "hub", "--relay", "--endpoint", "192.0.2.1:51820"]);
    ok(d, &["add", "mesh.toml", "a"]);
    let refusing = fake_device(&d.join("refuse.sock"), true);
    let err = fails(d, &apply_args(&refusing, &[]), "uapi_errno");
    assert!(err.contains("refused"), "{err}");
    // A dry run does not write, so a refusing device does not matter.
    ok(d, &apply_args(&refusing, &["--dry-run"]));
    let missing = fails(
        d,
        &["apply", "mesh.toml", "hub", "--interface", "wmfake1", "--socket", d.join("none.sock").to_str().unwrap()],
        "io_not_found",
    );
    assert!(missing.contains("none.sock"), "{missing}");
    fails(
        d,
        &apply_args(&refusing, &[]).iter().map(|a| if *a == "hub" { "nobody" } else { a }).collect::<Vec<_>>(),
        "mesh_unknown_node",
    );
    fails(d, &["apply", "mesh.toml", "hub", "--interface", "bad/name"], "io_other");
}
