//! A WireGuard node embedded in this process (feature `device`, Linux, root): loads a mesh file, plans
//! it, and starts the userspace device for one node with [`Device::start_node`]; then waits until every
//! peer has handshaken, turns on a persistent keepalive through [`Device::apply`] (visible in `wg show`,
//! since the device serves the UAPI socket), and stops when `CONTROL_DIR/stop` appears.
//!
//! The interface gets no address here: like wg-quick after the daemon starts, whoever runs this adds
//! the node's addresses with `ip` (tests/netns/device.sh `inproc` does).
//!
//! Run: `cargo run --features device --example device_node -- MESH NODE IFNAME CONTROL_DIR` inside a
//! network namespace. Every wait is bounded; it prints one line per step and exits non-zero on failure.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    match linux::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("device_node: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("device_node: the userspace device runs on Linux only");
    std::process::exit(1);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use wiremesh::device::{Device, DeviceOptions, StopReason};
    use wiremesh::uapi::{DeviceUpdate, PeerUpdate};
    use wiremesh::Mesh;

    /// The keepalive this program turns on (seconds): the test looks for it in `wg show`.
    pub const KEEPALIVE: u16 = 17;
    /// How long each wait may last.
    const WAIT: Duration = Duration::from_secs(60);

    pub fn run() -> Result<(), String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let [mesh_path, node, ifname, control] = args.as_slice() else {
            return Err("usage: device_node MESH NODE IFNAME CONTROL_DIR".into());
        };
        let mesh = Mesh::load(mesh_path.as_ref()).map_err(|e| format!("[{}] {e}", e.code()))?;
        let plan = wiremesh::plan(&mesh).map_err(|e| format!("[{}] {e}", e.code()))?;
        let device =
            Device::start_node(&plan, node, &DeviceOptions::new(ifname)).map_err(|e| format!("[{}] {e}", e.code()))?;
        println!("started {} for {node}", device.ifname());

        let peers = device.state().peers.len();
        let deadline = Instant::now() + WAIT;
        loop {
            let state = device.state();
            let done = state.peers.iter().filter(|p| p.last_handshake.is_some()).count();
            if done == peers {
                println!("handshakes {done}/{peers}");
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!("only {done} of {peers} peers handshook within {} s", WAIT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }

        let mut update = DeviceUpdate::default();
        for peer in device.state().peers {
            let mut change = PeerUpdate::new(peer.public_key);
            change.update_only = true;
            change.persistent_keepalive_interval = Some(KEEPALIVE);
            update.peers.push(change);
        }
        device.apply(&update).map_err(|e| format!("[{}] {e}", e.code()))?;
        let applied = device.state().peers.iter().all(|p| p.persistent_keepalive_interval == KEEPALIVE);
        if !applied {
            return Err("the keepalive change is not in the device's state".into());
        }
        println!("applied keepalive {KEEPALIVE}");

        let stop_file = PathBuf::from(control).join("stop");
        let deadline = Instant::now() + WAIT;
        while !stop_file.exists() {
            if device.is_stopped() {
                return Err(format!("the device stopped by itself: {:?}", device.stop_reason()));
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not appear within {} s", stop_file.display(), WAIT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let counters = device.counters();
        let port = device.state().listen_port;
        device.stop();
        if !device.is_stopped() || device.stop_reason() != Some(StopReason::Requested) {
            return Err(format!("after stop(): is_stopped {}, reason {:?}", device.is_stopped(), device.stop_reason()));
        }
        // Dropping the handle closes the TUN, which deletes the interface. Then nothing may be left
        // behind while this process still runs: interface, UAPI socket, UDP port.
        drop(device);
        if PathBuf::from("/sys/class/net").join(ifname).exists() {
            return Err(format!("interface {ifname} still exists after stop()"));
        }
        let socket = wiremesh::device::uapi_socket_path(ifname).map_err(|e| e.to_string())?;
        if socket.exists() {
            return Err(format!("{} still exists after stop()", socket.display()));
        }
        std::net::UdpSocket::bind(("0.0.0.0", port))
            .map_err(|e| format!("UDP port {port} still taken after stop(): {e}"))?;
        println!("stopped (ingress drops {}, cookies sent {})", counters.ingress_dropped, counters.cookies_sent);
        Ok(())
    }
}
