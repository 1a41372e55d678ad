//! `wiremesh status` and `wiremesh serve`: a device's peers, health against the plan, and the HTTP
//! status server.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use wiremesh::status_server::StateReader;
use wiremesh::{
    parse_wg_dump, parse_wg_dump_all, Error, IoError, Plan, ProbeOptions, Prober, ServerOptions, Snapshot,
    StatusReader, StatusServer, StatusSource,
};

/// Where the device state comes from, and the plan to compare it with.
#[derive(Args)]
pub struct DeviceArgs {
    /// The WireGuard interface (its UAPI socket /var/run/wireguard/IFNAME.sock by default).
    pub ifname: String,
    /// The mesh file, to name peers and check health against NODE's plan.
    #[arg(long, requires = "node")]
    pub mesh: Option<PathBuf>,
    /// This device's node in the mesh.
    #[arg(long, requires = "mesh")]
    pub node: Option<String>,
    /// Read the device with `wg show IFNAME dump` (kernel WireGuard) instead of its UAPI socket.
    #[arg(long)]
    pub wg: bool,
    /// Also check peers whose planned endpoint is a DNS name: the device's endpoint must be one of the
    /// name's addresses (resolved with the system resolver, each name at most once a minute).
    #[arg(long, requires = "node")]
    pub resolve_endpoints: bool,
}

/// `wiremesh status`.
#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print the status as JSON (the same document as the server's /status).
    #[arg(long)]
    pub json: bool,
    /// Read `wg show IFNAME dump` or `wg show all dump` text from FILE (`-`: stdin) instead of the device.
    #[arg(long, conflicts_with = "wg")]
    pub dump: Option<PathBuf>,
    /// Exit with status 3 when the device is unhealthy (after printing the status), for scripts and
    /// monitoring checks; 0 when it is healthy.
    #[arg(long)]
    pub check: bool,
}

/// `wiremesh status --check`'s exit status for an unhealthy device (Nagios' "unknown" is 3 too, but
/// systemctl and LSB use 3 for "not running", the nearest meaning here).
pub const UNHEALTHY_EXIT: u8 = 3;

/// `wiremesh serve`.
#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Address to listen on (9586 is prometheus_wireguard_exporter's port).
    #[arg(long, default_value = "127.0.0.1:9586")]
    pub listen: SocketAddr,
    /// Probe every peer's overlay address with ICMP echo through the interface (loss and RTT).
    #[arg(long)]
    pub probe: bool,
    /// Milliseconds between two echoes to one peer.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub probe_interval_ms: u64,
    /// Milliseconds after which an echo counts as lost.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub probe_timeout_ms: u64,
    /// Echoes in the sliding window.
    #[arg(long, default_value_t = 30)]
    pub probe_window: usize,
}

fn load_plan(mesh: &Option<PathBuf>) -> Result<Option<Plan>, Error> {
    match mesh {
        Some(path) => Ok(Some(crate::proven_plan(&crate::load_complete(path)?)?)),
        None => Ok(None),
    }
}

fn options(device: &DeviceArgs, prober: Option<Arc<Prober>>) -> Result<ServerOptions, Error> {
    Ok(ServerOptions {
        plan: load_plan(&device.mesh)?,
        node: device.node.clone(),
        prober,
        stale_after: None,
        resolve_endpoints: device.resolve_endpoints,
    })
}

fn source(device: &DeviceArgs) -> StatusSource {
    if device.wg {
        StatusSource::WgShow(device.ifname.clone())
    } else {
        StatusSource::Uapi(device.ifname.clone())
    }
}

fn read_dump(path: &Path, ifname: &str) -> Result<wiremesh::uapi::DeviceState, Error> {
    let mut text = String::new();
    let result = if path == Path::new("-") {
        std::io::stdin().take(wiremesh::uapi::MAX_MESSAGE_BYTES as u64 + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(wiremesh::uapi::MAX_MESSAGE_BYTES as u64 + 1).read_to_string(&mut text))
    };
    result.map_err(|e| IoError::new("read", path, &e))?;
    // `wg show all dump` lines start with the interface name: 5 fields on the first line.
    let all = text.lines().next().is_some_and(|l| l.split('\t').count() == 5);
    let state = if all {
        parse_wg_dump_all(&text)?
            .into_iter()
            .find(|(name, _)| name == ifname)
            .map(|(_, s)| s)
            .ok_or_else(|| Error::Io(IoError::invalid("read", path, &format!("no interface {ifname} in the dump"))))
    } else {
        parse_wg_dump(&text)
    };
    zeroize::Zeroize::zeroize(&mut text);
    state
}

/// `wiremesh status`: `Ok(true)` when the device is healthy (always, without `--check`).
pub fn status(args: StatusArgs) -> Result<bool, Error> {
    let source = match &args.dump {
        Some(path) => {
            let state = read_dump(path, &args.device.ifname)?;
            let read: StateReader = Arc::new(move || Ok(state.clone()));
            StatusSource::Reader { interface: args.device.ifname.clone(), read }
        }
        None => source(&args.device),
    };
    let reader = StatusReader::new(source, options(&args.device, None)?)?;
    let snapshot = reader.snapshot()?;
    if args.json {
        crate::write_stdout(&(serde_json::to_string_pretty(&snapshot.status).expect("json") + "\n"))?;
    } else {
        crate::write_stdout(&render_text(&snapshot))?;
    }
    Ok(!args.check || snapshot.health.healthy)
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn age(seconds: Option<u64>) -> String {
    match seconds {
        None => "never".into(),
        Some(s) if s < 60 => format!("{s}s ago"),
        Some(s) if s < 3600 => format!("{}m {}s ago", s / 60, s % 60),
        Some(s) => format!("{}h {}m ago", s / 3600, (s % 3600) / 60),
    }
}

/// The human-readable status: one line per peer, then the health problems.
fn render_text(snapshot: &Snapshot) -> String {
    let s = &snapshot.status;
    let node = s.node.as_ref().map(|n| format!(" (node {n})")).unwrap_or_default();
    let mut out = format!(
        "interface {}{node}: {} peer(s), {} up, {}\n",
        s.interface,
        s.peer_count,
        s.peers_up,
        if snapshot.health.healthy { "healthy" } else { "unhealthy" }
    );
    for p in &s.peers {
        let name = p.name.clone().unwrap_or_else(|| p.public_key.clone());
        let endpoint = p.endpoint.map_or("(none)".to_string(), |e| e.to_string());
        let allowed: Vec<String> = p.allowed_ips.iter().map(ToString::to_string).collect();
        out += &format!(
            "  {name:<16} {:<6} handshake {:<14} endpoint {endpoint:<22} rx {} tx {}  allowed {}\n",
            p.state.as_str(),
            age(p.handshake_age_seconds),
            bytes(p.rx_bytes),
            bytes(p.tx_bytes),
            allowed.join(", ")
        );
    }
    for problem in &snapshot.health.problems {
        out += &format!("  problem {problem}\n");
    }
    out
}

/// `wiremesh serve`: runs until killed.
pub fn serve(args: ServeArgs) -> Result<(), Error> {
    let prober = if args.probe {
        Some(Arc::new(Prober::start(ProbeOptions {
            interval: Duration::from_millis(args.probe_interval_ms),
            timeout: Duration::from_millis(args.probe_timeout_ms),
            window: args.probe_window,
            interface: Some(args.device.ifname.clone()),
        })?))
    } else {
        None
    };
    let server = StatusServer::start(args.listen, source(&args.device), options(&args.device, prober)?)?;
    eprintln!("wiremesh: serving the status of {} on http://{}/", args.device.ifname, server.address());
    server.wait();
    Ok(())
}
