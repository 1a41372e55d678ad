//! An embeddable HTTP status server: `/status` (JSON [`Status`]), `/health` (JSON [`Health`]),
//! `/metrics` (Prometheus text), `/healthz` (200 when healthy, else 503, with a short text body) and
//! `/` (an HTML table of the links).
//!
//! A deliberately small HTTP/1.1 responder over `std::net` rather than a server crate: it answers `GET`
//! and `HEAD` of five fixed paths with `Connection: close`, nothing else, so it needs no parsing beyond the
//! request line. Requests are bounded ([`MAX_REQUEST_BYTES`], [`IO_TIMEOUT`]), at most
//! [`MAX_CONNECTIONS`] are served at once (more get a 503 at once), and no input can make it panic.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, IoError};
use crate::health::{health, health_of, health_resolving, Health};
use crate::plan::Plan;
use crate::probe::Prober;
use crate::status::{
    parse_wg_dump, probe_targets, render_prometheus, status, Sample, Status, StatusContext, REJECT_AFTER_TIME,
};
use crate::uapi::{socket_path, DeviceState, UapiClient};

/// The largest request head (request line and headers) read.
pub const MAX_REQUEST_BYTES: usize = 8192;

/// Read and write timeout of one connection.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

/// How long `wg show IFNAME dump` may take.
const WG_TIMEOUT: Duration = Duration::from_secs(10);

/// A function returning a device's state.
pub type StateReader = Arc<dyn Fn() -> Result<DeviceState, Error> + Send + Sync>;

/// Where the server reads the device state.
#[derive(Clone)]
pub enum StatusSource {
    /// The UAPI socket `/var/run/wireguard/IFNAME.sock` of a userspace device (wiremeshd, wireguard-go,
    /// boringtun-cli).
    Uapi(String),
    /// `wg show IFNAME dump` (kernel WireGuard, or anything `wg` reads); `wg` must be on PATH.
    WgShow(String),
    /// Any other reader, e.g. a function returning [`crate::parse_wg_dump`] of text from elsewhere.
    Reader {
        /// The interface name shown in the status.
        interface: String,
        /// Reads the state.
        read: StateReader,
    },
}

impl std::fmt::Debug for StatusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusSource::Uapi(i) => f.debug_tuple("Uapi").field(i).finish(),
            StatusSource::WgShow(i) => f.debug_tuple("WgShow").field(i).finish(),
            StatusSource::Reader { interface, .. } => {
                f.debug_struct("Reader").field("interface", interface).finish_non_exhaustive()
            }
        }
    }
}

impl StatusSource {
    /// The interface name.
    pub fn interface(&self) -> &str {
        match self {
            StatusSource::Uapi(i) | StatusSource::WgShow(i) => i,
            StatusSource::Reader { interface, .. } => interface,
        }
    }

    /// Reads the device state now.
    pub fn read(&self) -> Result<DeviceState, Error> {
        match self {
            StatusSource::Uapi(ifname) => UapiClient::connect(ifname)?.get(),
            StatusSource::WgShow(ifname) => parse_wg_dump(&wg_show_dump(ifname)?),
            StatusSource::Reader { read, .. } => read(),
        }
    }
}

/// Runs `wg show IFNAME dump` (bounded in time) and returns its output.
pub fn wg_show_dump(ifname: &str) -> Result<String, Error> {
    socket_path(ifname)?; // validates the name (no path-like names)
    if ifname.starts_with('-') {
        return Err(Error::Io(IoError::invalid("run wg show dump", Path::new(ifname), "not an interface name")));
    }
    let io = |e: &std::io::Error| Error::Io(IoError::new("run wg show dump", Path::new(ifname), e));
    let mut child = Command::new("wg")
        .args(["show", ifname, "dump"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io(&e))?;
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| io(&e))? {
            Some(_) => break,
            None if started.elapsed() > WG_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io(&std::io::Error::new(std::io::ErrorKind::TimedOut, "wg did not finish in time")));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let output = child.wait_with_output().map_err(|e| io(&e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr.lines().next().unwrap_or("wg failed").to_string();
        return Err(Error::Io(IoError::invalid("run wg show dump", Path::new(ifname), &message)));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| Error::Io(IoError::invalid("run wg show dump", Path::new(ifname), "output is not UTF-8")))
}

/// What the server knows besides the device.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// The plan, to name peers and check health against.
    pub plan: Option<Plan>,
    /// This device's node in the plan (health is checked against it).
    pub node: Option<String>,
    /// A prober whose statistics are reported; its targets are set to the peers' overlay addresses
    /// ([`probe_targets`]) at start and on every read.
    pub prober: Option<Arc<Prober>>,
    /// A handshake older than this is stale (None: [`REJECT_AFTER_TIME`]).
    pub stale_after: Option<Duration>,
    /// Check peers whose planned endpoint is a DNS name too ([`crate::health_resolving`]): names are
    /// resolved with the system resolver and the answers kept for [`DNS_CACHE_TTL`], so a request
    /// waits for DNS at most once a minute per name.
    pub resolve_endpoints: bool,
}

/// How long a [`StatusReader`] keeps the addresses a planned endpoint's name resolved to (or that it
/// did not resolve) before asking again.
pub const DNS_CACHE_TTL: Duration = Duration::from_secs(60);

/// Resolved endpoint names: (name, port) -> when asked, and the addresses (empty: did not resolve).
type DnsCache = std::collections::HashMap<(String, u16), (Instant, Vec<SocketAddr>)>;

/// A snapshot the server serves: the status and its health.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The status.
    pub status: Status,
    /// Its health (against the plan when a node is given).
    pub health: Health,
}

/// Reads, describes and checks a device: shared by the server and `wiremesh status`.
#[derive(Debug)]
pub struct StatusReader {
    source: StatusSource,
    options: ServerOptions,
    previous: Mutex<Option<Sample>>,
    dns: Mutex<DnsCache>,
}

impl StatusReader {
    /// A reader of `source`; fails when `options.node` is given but not in `options.plan`
    /// (`mesh_unknown_node`) or given without a plan (`io_other`).
    pub fn new(source: StatusSource, options: ServerOptions) -> Result<Self, Error> {
        match (&options.plan, &options.node) {
            (Some(plan), Some(node)) => {
                crate::status::plan_node(plan, node)?;
            }
            (None, Some(_)) => {
                return Err(Error::Io(IoError::invalid(
                    "start status",
                    Path::new(source.interface()),
                    "a node needs a plan",
                )))
            }
            _ => {}
        }
        let reader = StatusReader { source, options, previous: Mutex::new(None), dns: Mutex::new(DnsCache::new()) };
        if let Some(prober) = &reader.options.prober {
            if let Ok(state) = reader.source.read() {
                prober.set_targets(&probe_targets(&state, reader.options.plan.as_ref()));
            }
        }
        Ok(reader)
    }

    /// The addresses `name` resolves to, from the cache while younger than [`DNS_CACHE_TTL`] (a name
    /// that does not resolve is cached as none).
    fn resolve_cached(&self, name: &str, port: u16) -> Vec<SocketAddr> {
        let key = (name.to_string(), port);
        if let Some((at, addresses)) = self.dns.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            if at.elapsed() < DNS_CACHE_TTL {
                return addresses.clone();
            }
        }
        // Resolved without the lock held: another request may resolve the same name meanwhile.
        let addresses = crate::reconcile::resolve_system(name, port).unwrap_or_default();
        self.dns.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (Instant::now(), addresses.clone()));
        addresses
    }

    /// Reads the device now and describes it (rates against the previous read at least 1 s old).
    pub fn snapshot(&self) -> Result<Snapshot, Error> {
        let state = self.source.read()?;
        let now = SystemTime::now();
        self.describe(state, now)
    }

    /// Describes a state read at `now`.
    pub fn describe(&self, state: DeviceState, now: SystemTime) -> Result<Snapshot, Error> {
        let plan = self.options.plan.as_ref();
        let probes = match &self.options.prober {
            Some(prober) => {
                prober.set_targets(&probe_targets(&state, plan));
                prober.all_stats()
            }
            None => Vec::new(),
        };
        let mut previous = self.previous.lock().unwrap_or_else(|p| p.into_inner());
        let context = StatusContext {
            plan,
            node: self.options.node.as_deref(),
            previous: previous.as_ref(),
            probes: &probes,
            stale_after: self.options.stale_after.unwrap_or(REJECT_AFTER_TIME),
        };
        let status = status(self.source.interface(), &state, now, &context)?;
        let keep_previous =
            previous.as_ref().is_some_and(|p| now.duration_since(p.at).map_or(true, |d| d < Duration::from_secs(1)));
        if !keep_previous {
            *previous = Some(Sample { state, at: now });
        }
        drop(previous);
        let health = match (plan, self.options.node.as_deref()) {
            (Some(plan), Some(node)) if self.options.resolve_endpoints => {
                health_resolving(&status, plan, node, &|name, port| Ok(self.resolve_cached(name, port)))?
            }
            (Some(plan), Some(node)) => health(&status, plan, node)?,
            _ => health_of(&status),
        };
        Ok(Snapshot { status, health })
    }
}

/// A running status server; stops on drop.
#[derive(Debug)]
pub struct StatusServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl StatusServer {
    /// Binds `listen` and serves `source` from a background thread. Bind failures are `io_*` errors
    /// (`io_already_exists` is not used: an address in use is `io_other` with the OS message).
    pub fn start(listen: SocketAddr, source: StatusSource, options: ServerOptions) -> Result<StatusServer, Error> {
        let reader = Arc::new(StatusReader::new(source, options)?);
        let label = listen.to_string();
        let listener = TcpListener::bind(listen).map_err(|e| Error::Io(IoError::new("bind", Path::new(&label), &e)))?;
        let address = listener.local_addr().map_err(|e| Error::Io(IoError::new("bind", Path::new(&label), &e)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("wiremesh-status".into())
            .spawn(move || accept_loop(listener, reader, thread_stop))
            .map_err(|e| Error::Io(IoError::new("spawn status server", Path::new(&label), &e)))?;
        Ok(StatusServer { address, stop, thread: Mutex::new(Some(thread)) })
    }

    /// The address the server listens on (with the real port when 0 was asked).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether the server still runs.
    pub fn is_running(&self) -> bool {
        self.thread.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops accepting, waits for the accept thread. Idempotent.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            // Wake the blocking accept with a connection of our own.
            let mut wake = self.address;
            if wake.ip().is_unspecified() {
                wake.set_ip(match wake.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            let _ = handle.join();
        }
    }

    /// Blocks until the server stops (for a foreground `wiremesh serve`).
    pub fn wait(&self) {
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, reader: Arc<StatusReader>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(mut stream) = stream else {
            // EMFILE and friends: back off briefly instead of spinning.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = respond(&mut stream, 503, "text/plain; charset=utf-8", b"busy\n", false);
            continue;
        }
        let reader = Arc::clone(&reader);
        let guard = Arc::clone(&active);
        let spawned = std::thread::Builder::new().name("wiremesh-status-conn".into()).spawn(move || {
            serve_connection(stream, &reader);
            guard.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads a request head; Err(status) for requests that get an error response, Ok(None) when the
/// client went away.
fn read_head(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, u16> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            return Ok(Some(head));
        }
        if let Some(end) = head.windows(2).position(|w| w == b"\n\n") {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST_BYTES {
            return Err(431);
        }
        match stream.read(&mut buf) {
            Ok(0) => return if head.is_empty() { Ok(None) } else { Err(400) },
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(408)
            }
            Err(_) => return Ok(None),
        }
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn respond(stream: &mut TcpStream, code: u16, content_type: &str, body: &[u8], head_only: bool) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        reason(code),
        body.len()
    );
    if code == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    stream.write_all(&bytes)?;
    stream.flush()
}

fn serve_connection(mut stream: TcpStream, reader: &StatusReader) {
    let head = match read_head(&mut stream) {
        Ok(Some(head)) => head,
        Ok(None) => return,
        Err(code) => {
            let _ = respond(
                &mut stream,
                code,
                "text/plain; charset=utf-8",
                format!("{}\n", reason(code)).as_bytes(),
                false,
            );
            return;
        }
    };
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (method, target, version) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") || parts.next().is_some() || !target.starts_with('/') {
        let _ = respond(&mut stream, 400, "text/plain; charset=utf-8", b"Bad Request\n", false);
        return;
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let _ = respond(&mut stream, 405, "text/plain; charset=utf-8", b"Method Not Allowed\n", false);
        return;
    }
    let path = target.split('?').next().unwrap_or("/");
    let (code, content_type, body) = route(path, reader);
    let _ = respond(&mut stream, code, content_type, &body, head_only);
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

fn route(path: &str, reader: &StatusReader) -> (u16, &'static str, Vec<u8>) {
    if !["/", "/status", "/health", "/healthz", "/metrics"].contains(&path) {
        return (404, TEXT, b"Not Found\n".to_vec());
    }
    let snapshot = match reader.snapshot() {
        Ok(s) => s,
        Err(err) => {
            let message = format!("device unreadable: error[{}]: {err}", err.code());
            return match path {
                "/status" | "/health" => {
                    let body = serde_json::json!({ "error": err.code(), "message": message });
                    (503, JSON, (body.to_string() + "\n").into_bytes())
                }
                _ => (503, TEXT, format!("unhealthy: {message}\n").into_bytes()),
            };
        }
    };
    match path {
        "/status" => (200, JSON, json_body(&snapshot.status)),
        "/health" => (if snapshot.health.healthy { 200 } else { 503 }, JSON, json_body(&snapshot.health)),
        "/healthz" => (if snapshot.health.healthy { 200 } else { 503 }, TEXT, snapshot.health.summary().into_bytes()),
        "/metrics" => {
            (200, "text/plain; version=0.0.4; charset=utf-8", render_prometheus(&[snapshot.status]).into_bytes())
        }
        _ => (200, "text/html; charset=utf-8", render_html(&snapshot).into_bytes()),
    }
}

fn json_body<T: serde::Serialize>(value: &T) -> Vec<u8> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => (text + "\n").into_bytes(),
        Err(_) => b"{}\n".to_vec(),
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A small HTML page: one row per link, with its state, handshake age, traffic and probe results.
pub fn render_html(snapshot: &Snapshot) -> String {
    let s = &snapshot.status;
    let title = match &s.node {
        Some(node) => format!("{} ({})", escape_html(node), escape_html(&s.interface)),
        None => escape_html(&s.interface),
    };
    let mut rows = String::new();
    for p in &s.peers {
        let age = p.handshake_age_seconds.map_or("never".to_string(), |a| format!("{a} s ago"));
        let probe = p.probe.as_ref().map_or(String::new(), |pr| {
            format!(
                "{:.0}% loss, {}",
                pr.loss * 100.0,
                pr.rtt_avg_ms.map_or("no RTT".into(), |ms| format!("{ms:.1} ms"))
            )
        });
        let allowed: Vec<String> = p.allowed_ips.iter().map(|n| n.to_string()).collect();
        rows.push_str(&format!(
            "<tr class=\"{state}\"><td>{name}</td><td>{state}</td><td>{age}</td><td>{endpoint}</td><td>{allowed}</td><td>{rx}</td><td>{tx}</td><td>{probe}</td><td><code>{key}</code></td></tr>\n",
            state = p.state.as_str(),
            name = escape_html(p.name.as_deref().unwrap_or("?")),
            endpoint = p.endpoint.map_or("-".to_string(), |e| e.to_string()),
            allowed = escape_html(&allowed.join(", ")),
            rx = p.rx_bytes,
            tx = p.tx_bytes,
            key = escape_html(&p.public_key),
        ));
    }
    let problems: String =
        snapshot.health.problems.iter().map(|p| format!("<li>{}</li>\n", escape_html(&p.to_string()))).collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wiremesh {title}</title>\n<style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:left}}tr.up td:nth-child(2){{color:green}}tr.stale td:nth-child(2),tr.never td:nth-child(2){{color:#b00}}</style></head>\n<body><h1>wiremesh {title}</h1>\n<p>{up} of {count} peer(s) up; {health}</p>\n<table><tr><th>peer</th><th>state</th><th>handshake</th><th>endpoint</th><th>allowed IPs</th><th>rx bytes</th><th>tx bytes</th><th>probe</th><th>public key</th></tr>\n{rows}</table>\n<ul>{problems}</ul>\n<p><a href=\"/status\">/status</a> <a href=\"/health\">/health</a> <a href=\"/metrics\">/metrics</a> <a href=\"/healthz\">/healthz</a></p></body></html>\n",
        up = s.peers_up,
        count = s.peer_count,
        health = if snapshot.health.healthy { "healthy" } else { "unhealthy" },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{PrivateKey, PublicKey};
    use crate::uapi::PeerState;

    fn fake_source(handshake_age: Option<u64>) -> StatusSource {
        let read: StateReader = Arc::new(move || {
            let mut peer =
                PeerState::new(PublicKey::from_base64("dBMsNqf3Twg+324rlSf4nmMSJNTFye2nBh9THvok4FA=").unwrap());
            peer.allowed_ips = vec!["10.88.0.11/32".parse().unwrap()];
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
            peer.last_handshake = handshake_age.map(|a| now - Duration::from_secs(a));
            Ok(DeviceState {
                private_key: Some(PrivateKey::from_base64("oDuvp+rFXrag+Q7VyzwGWda7MBaq7SjpCVsYDd6woGs=").unwrap()),
                own_public_key: None,
                listen_port: 51820,
                fwmark: 0,
                peers: vec![peer],
            })
        });
        StatusSource::Reader { interface: "wm<x>".into(), read }
    }

    fn request(address: SocketAddr, raw: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(raw).unwrap();
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, text)
    }

    fn get(address: SocketAddr, path: &str) -> (u16, String) {
        request(address, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
    }

    #[test]
    fn serves_status_metrics_healthz_and_html() {
        let server =
            StatusServer::start("127.0.0.1:0".parse().unwrap(), fake_source(Some(5)), ServerOptions::default())
                .unwrap();
        let address = server.address();
        assert_ne!(address.port(), 0);
        let (code, body) = get(address, "/status");
        assert_eq!(code, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(json["peer_count"], 1);
        assert_eq!(json["peers"][0]["state"], "up");
        assert!(json["peers"][0]["latest_handshake"].as_u64().unwrap() > 0);
        let (code, body) = get(address, "/metrics");
        assert_eq!(code, 200);
        assert!(body.contains("Content-Type: text/plain; version=0.0.4"), "{body}");
        assert!(body.contains("wiremesh_peer_up{interface=\"wm<x>\""), "{body}");
        let (code, body) = get(address, "/healthz");
        assert_eq!(code, 200);
        assert!(body.ends_with("\r\n\r\nhealthy\n"), "{body}");
        let (code, body) = get(address, "/");
        assert_eq!(code, 200);
        assert!(body.contains("<td>up</td>") && body.contains("wm&lt;x&gt;") && !body.contains("wm<x>"), "{body}");
        let (code, body) = request(address, b"HEAD /status HTTP/1.0\r\n\r\n");
        assert_eq!(code, 200);
        assert!(body.ends_with("\r\n\r\n"), "HEAD has no body: {body}");
        server.stop();
        assert!(!server.is_running());
        assert!(TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_err() || get(address, "/").0 == 0);
    }

    #[test]
    fn unhealthy_and_unreadable_devices_are_503() {
        let server =
            StatusServer::start("127.0.0.1:0".parse().unwrap(), fake_source(None), ServerOptions::default()).unwrap();
        let (code, body) = get(server.address(), "/healthz");
        assert_eq!(code, 503);
        assert!(body.contains("unhealthy: 1 problem(s)\npeer_never: "), "{body}");
        let failing: StateReader = Arc::new(|| UapiClient::connect("wmnosuch0").and_then(|mut c| c.get()));
        let source = StatusSource::Reader { interface: "wmnosuch0".into(), read: failing };
        let server = StatusServer::start("127.0.0.1:0".parse().unwrap(), source, ServerOptions::default()).unwrap();
        for path in ["/status", "/healthz", "/metrics", "/"] {
            let (code, body) = get(server.address(), path);
            assert_eq!(code, 503, "{path}: {body}");
            assert!(body.contains("io_not_found"), "{body}");
        }
    }

    #[test]
    fn garbage_requests_get_errors_not_panics() {
        let server =
            StatusServer::start("127.0.0.1:0".parse().unwrap(), fake_source(Some(1)), ServerOptions::default())
                .unwrap();
        let a = server.address();
        assert_eq!(request(a, b"POST /status HTTP/1.1\r\n\r\n").0, 405);
        assert_eq!(request(a, b"GET /nope HTTP/1.1\r\n\r\n").0, 404);
        assert_eq!(request(a, b"GET status HTTP/1.1\r\n\r\n").0, 400);
        assert_eq!(request(a, b"\x00\xff\xfe garbage\r\n\r\n").0, 400);
        assert_eq!(request(a, b"GET / HTTP/1.1\r\nX: y").0, 400, "closed before the end of the head");
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_REQUEST_BYTES * 2));
        assert_eq!(request(a, big.as_bytes()).0, 431);
        assert_eq!(request(a, b"").0, 0, "an empty connection gets nothing");
        // A client that sends half a request and waits is cut off after IO_TIMEOUT.
        let mut slow = TcpStream::connect(a).unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        slow.set_read_timeout(Some(IO_TIMEOUT * 3)).unwrap();
        let mut out = String::new();
        let _ = slow.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408 "), "{out}");
        assert_eq!(get(a, "/status?x=1").0, 200, "the server still answers");
    }

    #[test]
    fn bind_errors_are_typed_and_a_node_needs_its_plan() {
        let first = StatusServer::start("127.0.0.1:0".parse().unwrap(), fake_source(Some(1)), ServerOptions::default())
            .unwrap();
        let err = StatusServer::start(first.address(), fake_source(Some(1)), ServerOptions::default()).unwrap_err();
        assert_eq!(err.family(), "io");
        assert!(err.to_string().contains(&first.address().to_string()), "{err}");
        let options = ServerOptions { node: Some("hub".into()), ..ServerOptions::default() };
        assert_eq!(
            StatusServer::start("127.0.0.1:0".parse().unwrap(), fake_source(Some(1)), options).unwrap_err().code(),
            "io_other"
        );
        assert_eq!(wg_show_dump("-h").unwrap_err().code(), "io_other", "an option-looking name never reaches wg");
    }
}
