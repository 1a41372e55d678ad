//! `UapiClient` against a device served by a program named like boringtun-cli: a Python stand-in run
//! through a symlink called `boringtun-fake` (so `/proc/PID/comm` says so), answering one request per
//! connection as boringtun does, with boringtun's `get=1` shape (`own_public_key`, a handshake's age
//! where the protocol has its time), and recording every `set=1` request it is sent.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

use wiremesh::uapi::{DeviceUpdate, PeerUpdate, UapiClient};
use wiremesh::PublicKey;

const PEER: &str = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
const OWN: &str = "c8f50b7464edbc74ba66c5fed4cc833ed7eefd4209736fe4375a56ae5af86d76";

const SERVER: &str = r#"
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
state = ("own_public_key=%s\nlisten_port=51820\npublic_key=%s\npersistent_keepalive_interval=25\n"
         "endpoint=192.0.2.1:51820\nallowed_ip=10.88.0.0/24\nallowed_ip=fd88::/64\n"
         "last_handshake_time_sec=30\nlast_handshake_time_nsec=0\nrx_bytes=0\ntx_bytes=0\n") % (sys.argv[3], sys.argv[4])
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(8)
while True:
    conn, _ = server.accept()
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    text = data.decode()
    if text.startswith("get=1\n"):
        conn.sendall((state + "errno=0\n\n").encode())
    else:
        with open(log, "a") as f:
            f.write(text)
        conn.sendall(b"errno=0\n\n")
    conn.close()
"#;

struct Fake {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python interpreter itself (not a wrapper such as a pyenv shim, which a symlink would rename).
fn python() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import os, sys; print(os.path.realpath(sys.executable))"])
        .output()
        .expect("python3 is needed for the stand-in device");
    let path = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(!path.is_empty(), "python3 did not name its interpreter");
    PathBuf::from(path)
}

fn fake_boringtun() -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("boringtun-fake");
    std::os::unix::fs::symlink(python(), &program).unwrap();
    let script = dir.path().join("server.py");
    std::fs::write(&script, SERVER).unwrap();
    let socket = dir.path().join("dev.sock");
    let log = dir.path().join("requests.log");
    let child = Command::new(&program).arg(&script).arg(&socket).arg(&log).arg(OWN).arg(PEER).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the stand-in device did not listen within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Fake { child, socket, log, _dir: dir }
}

fn requests(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

#[test]
fn a_boringtun_device_is_read_with_handshake_times_and_its_peers_replaced_whole() {
    let fake = fake_boringtun();
    let mut client = UapiClient::connect_path(&fake.socket).unwrap();
    assert_eq!(client.program(), Some("boringtun-fake"));
    assert!(!client.changes_peers_in_place());

    let state = client.get().unwrap();
    assert_eq!(state.private_key, None);
    assert_eq!(state.public_key(), Some(PublicKey::from_hex(OWN).unwrap()));
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let handshake = state.peers[0].last_handshake.expect("a handshake time");
    let age = now.saturating_sub(handshake);
    assert!(age >= Duration::from_secs(29) && age <= Duration::from_secs(40), "30 s of age read as {age:?} ago");

    // A keepalive change for the existing peer: removed, then added whole, one request each.
    let mut change = PeerUpdate { update_only: true, ..PeerUpdate::new(PublicKey::from_hex(PEER).unwrap()) };
    change.persistent_keepalive_interval = Some(7);
    client.set(&DeviceUpdate { peers: vec![change], ..DeviceUpdate::default() }).unwrap();
    let sent = requests(&fake.log);
    assert_eq!(
        sent,
        format!(
            "set=1\npublic_key={PEER}\nremove=true\n\nset=1\npublic_key={PEER}\nendpoint=192.0.2.1:51820\n\
             persistent_keepalive_interval=7\nallowed_ip=10.88.0.0/24\nallowed_ip=fd88::/64\n\n"
        )
    );
    assert!(!sent.contains("update_only"), "{sent}");
}

#[test]
fn a_device_of_another_program_is_changed_in_place_in_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("dev.sock");
    let log = dir.path().join("requests.log");
    let script = dir.path().join("server.py");
    std::fs::write(&script, SERVER).unwrap();
    let mut child = Command::new(python()).arg(&script).arg(&socket).arg(&log).arg(OWN).arg(PEER).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = UapiClient::connect_path(&socket).unwrap();
    assert!(client.program().is_some_and(|p| p.starts_with("python")), "{:?}", client.program());
    assert!(client.changes_peers_in_place());
    let mut change = PeerUpdate { update_only: true, ..PeerUpdate::new(PublicKey::from_hex(PEER).unwrap()) };
    change.persistent_keepalive_interval = Some(7);
    client.set(&DeviceUpdate { peers: vec![change], ..DeviceUpdate::default() }).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        requests(&log),
        format!("set=1\npublic_key={PEER}\nupdate_only=true\npersistent_keepalive_interval=7\n\n")
    );
}
