//! `wiremesh status` from `wg show dump` text (the device-reading paths are covered by tests/netns/status.sh).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/status")
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wiremesh"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run wiremesh");
    // A command refused before it reads stdin (a usage error) closes the pipe: that write may fail.
    let _ = child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes());
    child.wait_with_output().unwrap()
}

/// `text` with the digits of every line that gives an age ("... ago") masked.
fn without_ages(text: &str) -> String {
    let mask = |line: &str| {
        if line.contains(" ago") {
            line.replace(|c: char| c.is_ascii_digit(), "#")
        } else {
            line.to_string()
        }
    };
    text.lines().map(mask).collect::<Vec<_>>().join("\n")
}

fn case(name: &str) -> Value {
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(vectors().join("cases.json")).unwrap()).unwrap();
    cases["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone()
}

#[test]
fn status_from_a_dump_with_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let seed = case("seed-hub");
    let mesh = dir.path().join("seed.toml");
    std::fs::write(&mesh, seed["mesh"].as_str().unwrap()).unwrap();
    let dump = dir.path().join("hub.dump");
    std::fs::write(&dump, seed["dump"].as_str().unwrap()).unwrap();
    let (mesh, dump) = (mesh.to_str().unwrap(), dump.to_str().unwrap());
    let out = run(&["status", "wm-hub", "--json", "--dump", dump, "--mesh", mesh, "--node", "hub"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["peer_count"], 3);
    assert_eq!(status["node"], "hub");
    let names: Vec<&str> = status["peers"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["node-1", "node-2", "node-3"]);
    assert_eq!(status["peers"][0]["latest_handshake"], seed["now"].as_u64().unwrap() - 8);
    // The vector's handshakes are from 2025: older than 180 s now, so stale; node-3 never.
    let states: Vec<&str> = status["peers"].as_array().unwrap().iter().map(|p| p["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["stale", "stale", "never"]);

    // Text, from stdin.
    let out = run(&["status", "wm-hub", "--dump", "-", "--mesh", mesh, "--node", "hub"], seed["dump"].as_str());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("interface wm-hub (node hub): 3 peer(s), 0 up, unhealthy\n"), "{text}");
    assert!(text.contains("  node-3           never  handshake never"), "{text}");
    assert!(text.contains("problem peer_never: node-3 has never completed a handshake"), "{text}");
    assert!(!text.contains("oDuvp+rFXrag"), "the private key never shows");

    // --check: the same output, and exit status 3 while unhealthy ...
    let out =
        run(&["status", "wm-hub", "--check", "--dump", "-", "--mesh", mesh, "--node", "hub"], seed["dump"].as_str());
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // (handshake ages are counted from now: the two runs may straddle a second)
    assert_eq!(without_ages(&String::from_utf8(out.stdout).unwrap()), without_ages(&text));
    // ... and 0 once every peer has a fresh handshake (the same dump, handshakes 5 s ago).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let fresh: Vec<String> = seed["dump"]
        .as_str()
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut fields: Vec<String> = line.split('\t').map(str::to_string).collect();
            if i > 0 {
                fields[4] = (now - 5).to_string();
            }
            fields.join("\t")
        })
        .collect();
    let fresh = fresh.join("\n") + "\n";
    let out =
        run(&["status", "wm-hub", "--check", "--json", "--dump", "-", "--mesh", mesh, "--node", "hub"], Some(&fresh));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["peers_up"], 3);
}

#[test]
fn status_from_an_all_dump_and_errors() {
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(vectors().join("cases.json")).unwrap()).unwrap();
    let all = cases["all_dump"]["text"].as_str().unwrap();
    let out = run(&["status", "wm-n1", "--json", "--dump", "-"], Some(all));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((status["interface"].as_str(), status["peer_count"].as_u64()), (Some("wm-n1"), Some(1)));
    let out = run(&["status", "wm-other", "--dump", "-"], Some(all));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no interface wm-other"));
    for error in cases["errors"].as_array().unwrap().iter().filter(|e| e["all"] == false && e["dump"] != "") {
        let out = run(&["status", "wm0", "--dump", "-"], error["dump"].as_str());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "wiremesh: error[{}]: wg show dump:{}",
                error["code"].as_str().unwrap(),
                error["line"]
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("SECRET"), "{stderr}");
    }
    let out = run(&["status", "wm0", "--mesh", "x.toml"], None);
    assert_eq!(out.status.code(), Some(2), "--mesh needs --node");
}

#[test]
fn status_resolves_dns_endpoints_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let case = case("node-1-dns-endpoint");
    let mesh = dir.path().join("seed.toml");
    std::fs::write(&mesh, case["mesh"].as_str().unwrap()).unwrap();
    let mesh = mesh.to_str().unwrap();
    let args = ["status", "wm-n1", "--dump", "-", "--mesh", mesh, "--node", "node-1"];
    let out = run(&args, case["dump"].as_str());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("wrong_endpoint"),
        "a DNS endpoint is not checked by default"
    );
    let out = run(&[&args[..], &["--resolve-endpoints"]].concat(), case["dump"].as_str());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("problem wrong_endpoint: hub: endpoint is 192.0.2.1:51820, the plan says localhost:51820, which resolves to other addresses"),
        "{text}"
    );
    let out = run(&["status", "wm-n1", "--dump", "-", "--resolve-endpoints"], None);
    assert_eq!(out.status.code(), Some(2), "--resolve-endpoints needs --node");
}
