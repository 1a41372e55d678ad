//! The `wiremesh` command line, driven as a user would: build the seed deployment, verify, show,
//! render (modes, byte-identical reruns, nothing written on error), graph, import, keys.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::ok;

/// Runs a command that must fail (see `common::fails`); its error must also be one line.
fn fails(dir: &Path, args: &[&str], code: &str) -> String {
    let stderr = common::fails(dir, args, code);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn seed(dir: &Path, topology: &str) {
    ok(dir, &["init", "seed.toml", "--network", "10.88.0.0/24", "--topology", topology]);
    ok(dir, &["add", "seed.toml", "hub", "--relay", "--endpoint", "167.172.142.145:51820", "--address", "10.88.0.1"]);
    ok(dir, &["add", "seed.toml", "node-1", "--address", "10.88.0.11"]);
    ok(dir, &["add", "seed.toml", "node-2", "--address", "10.88.0.12"]);
    ok(dir, &["add", "seed.toml", "node-3"]);
}

#[test]
fn seed_deployment_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d, "full-mesh");
    assert_eq!(mode(&d.join("seed.keys")), 0o700);
    assert_eq!(mode(&d.join("seed.keys/hub.key")), 0o600);
    let mesh = std::fs::read_to_string(d.join("seed.toml")).unwrap();
    assert!(mesh.contains("10.88.0.2"), "node-3 got the lowest free address:\n{mesh}");
    assert!(!mesh.contains(&std::fs::read_to_string(d.join("seed.keys/hub.key")).unwrap().trim().to_string()));

    let verified = ok(d, &["verify", "seed.toml"]);
    assert!(verified.starts_with("ok: 4 node(s), 12 ordered pair(s) proven (6 through a relay)"), "{verified}");
    let shown = ok(d, &["show", "seed.toml", "node-1"]);
    assert!(shown.contains("-> node-2") && shown.contains("via hub"), "{shown}");
    let json: serde_json::Value = serde_json::from_str(&ok(d, &["show", "seed.toml", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);

    ok(d, &["render", "seed.toml", "--out", "configs"]);
    assert_eq!(mode(&d.join("configs")), 0o700);
    let first: Vec<(String, Vec<u8>)> = ["hub", "node-1", "node-2", "node-3"]
        .iter()
        .map(|n| {
            let path = d.join(format!("configs/{n}.conf"));
            assert_eq!(mode(&path), 0o600, "{n}.conf");
            (n.to_string(), std::fs::read(path).unwrap())
        })
        .collect();
    ok(d, &["render", "seed.toml", "--out", "configs"]);
    for (n, bytes) in &first {
        assert_eq!(&std::fs::read(d.join(format!("configs/{n}.conf"))).unwrap(), bytes, "{n} rendered twice differs");
    }
    assert_eq!(std::fs::read_dir(d.join("configs")).unwrap().count(), 4, "no temporary files left");
    let node1 = ok(d, &["render", "seed.toml", "node-1"]);
    assert_eq!(node1.as_bytes(), first[1].1.as_slice());
    assert!(node1.contains("AllowedIPs = 10.88.0.0/24") && node1.contains("PersistentKeepalive = 25"));
    let hub = ok(d, &["render", "seed.toml", "hub", "--format", "setconf"]);
    assert!(!hub.contains("Address") && !hub.contains("PostUp") && hub.contains("[Peer]"));

    let dot = ok(d, &["graph", "seed.toml"]);
    assert!(dot.starts_with("graph \"seed\" {"));
    assert!(dot.contains("\"hub\" -- \"node-1\";"));
    assert!(dot.contains("\"node-1\" -- \"node-2\" [style=dashed"));

    ok(d, &["remove", "seed.toml", "node-3"]);
    assert!(ok(d, &["verify", "seed.toml"]).starts_with("ok: 3 node(s)"));
}

#[test]
fn hub_and_spoke_and_json_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    seed(d, "hub-and-spoke");
    let report: serde_json::Value = serde_json::from_str(&ok(d, &["verify", "seed.toml", "--json"])).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["relayed_pairs"], 6);
}

#[test]
fn redundant_hubs_verify_failover_and_show_backups() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "r.toml", "--network", "10.77.0.0/24", "--topology", "hub-and-spoke"]);
    ok(d, &["add", "r.toml", "hub-a", "--relay", "--endpoint", "192.0.2.1:51820"]);
    ok(d, &["add", "r.toml", "hub-b", "--relay", "--endpoint", "192.0.2.2:51820"]);
    ok(d, &["add", "r.toml", "s1"]);
    ok(d, &["add", "r.toml", "s2"]);
    let text = ok(d, &["verify", "r.toml"]);
    assert!(text.contains("failover ok: with each of hub-a down in turn, 2 pair(s) move to a backup relay"), "{text}");
    let report: serde_json::Value = serde_json::from_str(&ok(d, &["verify", "r.toml", "--json"])).unwrap();
    assert_eq!(report["failover"]["relays_checked"], serde_json::json!(["hub-a"]));
    assert_eq!(report["failover"]["pairs_without_backup"], 0);
    assert!(ok(d, &["show", "r.toml", "s1"]).contains("via hub-a (backup hub-b)"));
    // One hub: no failover section.
    seed(d, "hub-and-spoke");
    let report: serde_json::Value = serde_json::from_str(&ok(d, &["verify", "seed.toml", "--json"])).unwrap();
    assert!(report["failover"].is_null());
}

#[test]
fn errors_are_one_line_with_a_code_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["init", "m.toml", "--network", "10.88.0.0/24"]);
    let before = std::fs::read(d.join("m.toml")).unwrap();
    fails(d, &["init", "m.toml", "--network", "10.99.0.0/24"], "io_already_exists");
    fails(d, &["add", "m.toml", "bad name"], "mesh_invalid_name");
    fails(d, &["add", "m.toml", "x", "--endpoint", "nope"], "mesh_invalid_endpoint");
    fails(d, &["add", "m.toml", "x", "--address", "10.99.0.1"], "mesh_invalid_value");
    assert_eq!(std::fs::read(d.join("m.toml")).unwrap(), before, "failed commands leave the mesh as it was");
    ok(d, &["add", "m.toml", "a"]);
    ok(d, &["add", "m.toml", "b"]);
    let unroutable = fails(d, &["verify", "m.toml"], "plan_unroutable_pair");
    assert!(unroutable.contains("a <-> b"));
    fails(d, &["render", "m.toml", "--out", "out"], "plan_unroutable_pair");
    assert!(!d.join("out").exists());
    fails(d, &["render", "m.toml", "nobody"], "plan_unroutable_pair");
    fails(d, &["show", "missing.toml"], "io_not_found");

    // A node whose private key is nowhere to be found: rendering refuses, and no file appears.
    ok(d, &["init", "k.toml", "--network", "10.88.0.0/24"]);
    ok(d, &["add", "k.toml", "hub", "--relay", "--endpoint", "192.0.2.1:51820"]);
    let key = ok(d, &["genkey"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wiremesh"))
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(key.as_bytes()).unwrap();
    let public = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let toml = std::fs::read_to_string(d.join("k.toml")).unwrap()
        + &format!("\n[[nodes]]\nname = \"orphan\"\npublic_key = \"{}\"\n", public.trim());
    std::fs::write(d.join("k.toml"), toml).unwrap();
    fails(d, &["render", "k.toml", "--out", "kout"], "mesh_missing_key");
    let leftovers = std::fs::read_dir(d.join("kout")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "nothing written when one node cannot be rendered");
}

#[test]
fn keys_like_wg() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let private = ok(d, &["genkey"]);
    assert_eq!(private.len(), 45);
    assert!(private.ends_with("=\n"));
    let psk = ok(d, &["genpsk"]);
    assert_eq!(psk.len(), 45);
    let mut child = Command::new(env!("CARGO_BIN_EXE_wiremesh"))
        .arg("pubkey")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"not a key\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("wiremesh: error[key_invalid_base64]"));
    assert!(!stderr.contains("not a key"), "the input (maybe a secret) is never echoed");
}

#[test]
fn import_rendered_configs_and_a_meshconf_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two public nodes and two behind NAT: a hybrid whose relay the importer must recognise.
    ok(d, &["init", "orig.toml", "--network", "10.88.0.0/24"]);
    ok(d, &["add", "orig.toml", "hub", "--relay", "--endpoint", "192.0.2.1:51820"]);
    ok(d, &["add", "orig.toml", "node-1", "--endpoint", "192.0.2.11:51820", "--subnet", "192.168.50.0/24"]);
    ok(d, &["add", "orig.toml", "node-2"]);
    ok(d, &["add", "orig.toml", "node-3"]);
    ok(d, &["render", "orig.toml", "--out", "conf"]);
    ok(d, &["import", "imported.toml", "conf/hub.conf", "conf/node-1.conf", "conf/node-2.conf", "conf/node-3.conf"]);
    let imported = std::fs::read_to_string(d.join("imported.toml")).unwrap();
    assert!(imported.contains("192.168.50.0/24"), "subnets come from the peers' AllowedIPs:\n{imported}");
    assert!(imported.contains("relay = true"), "node-2 and node-3 reach each other through the hub:\n{imported}");
    ok(d, &["render", "imported.toml", "--out", "conf2"]);
    for n in ["hub", "node-1", "node-2", "node-3"] {
        let a = std::fs::read_to_string(d.join(format!("conf/{n}.conf"))).unwrap();
        let b = std::fs::read_to_string(d.join(format!("conf2/{n}.conf"))).unwrap();
        assert_eq!(a, b, "{n}: the imported mesh renders the same config");
    }

    let csv = "\"Name\",\"Address\",\"Endpoint\",\"AllowedIPs\",\"ListenPort\",\"PersistentKeepalive\",\"FwMark\",\"PrivateKey\",\"DNS\",\"MTU\",\"Table\",\"PreUp\",\"PostUp\",\"PreDown\",\"PostDown\",\"SaveConfig\"\n";
    let mut csv = csv.to_string();
    for (i, endpoint) in ["192.0.2.1", "192.0.2.2", ""].iter().enumerate() {
        let key = ok(d, &["genkey"]);
        csv += &format!(
            "\"n{i}\",\"10.7.0.{}/24\",\"{endpoint}\",\"\",\"51820\",\"\",\"\",\"{}\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\"\n",
            i + 1,
            key.trim()
        );
    }
    std::fs::write(d.join("database.csv"), csv).unwrap();
    ok(d, &["import", "mc.toml", "--meshconf", "database.csv"]);
    let verified = ok(d, &["verify", "mc.toml"]);
    assert!(verified.starts_with("ok: 3 node(s), 6 ordered pair(s) proven (0 through a relay)"), "{verified}");
    let n2 = ok(d, &["render", "mc.toml", "n2"]);
    assert!(n2.contains("Endpoint = 192.0.2.1:51820") && n2.contains("PersistentKeepalive = 25"), "{n2}");
    assert_eq!(mode(&d.join("mc.keys/n0.key")), 0o600);
}

/// Files get exactly their modes whatever the umask: a umask that would narrow them (0277 creates 0400
/// files, 0500 directories) is undone, and one that would not (the usual 022) costs no extra chmod.
#[test]
fn modes_are_exact_under_a_narrowing_umask() {
    use std::os::unix::process::CommandExt;
    for umask in [0o277, 0o022] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_wiremesh"));
            command.current_dir(d).args(args);
            // SAFETY: umask only changes the child's file creation mask, before exec.
            unsafe {
                command.pre_exec(move || {
                    libc::umask(umask);
                    Ok(())
                });
            }
            let out = command.output().unwrap();
            assert!(out.status.success(), "{args:?} under umask {umask:o}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["init", "m.toml", "--network", "10.88.0.0/24"]);
        run(&["add", "m.toml", "a", "--endpoint", "192.0.2.1:51820"]);
        run(&["add", "m.toml", "b"]);
        run(&["render", "m.toml", "--out", "out"]);
        assert_eq!(mode(&d.join("m.toml")), 0o644, "umask {umask:o}");
        assert_eq!(mode(&d.join("out")), 0o700, "umask {umask:o}");
        for node in ["a", "b"] {
            assert_eq!(mode(&d.join("out").join(format!("{node}.conf"))), 0o600, "umask {umask:o}");
        }
        let keys: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir() && p.file_name().unwrap() != "out")
            .collect();
        for key_dir in keys {
            for key in std::fs::read_dir(&key_dir).unwrap() {
                assert_eq!(mode(&key.unwrap().path()), 0o600, "umask {umask:o}");
            }
        }
    }
}
