//! Status of a WireGuard device: every peer's name (from the plan), endpoint, AllowedIPs, last handshake
//! and its age, transfer counters and rates, and a state (up, stale, never), plus probe loss and RTT when
//! a [`crate::Prober`] runs; per interface the peer count and the peers up.
//!
//! The device state comes from UAPI (`get=1`, [`crate::uapi::UapiClient::get`]) or from the text of
//! `wg show IF dump` / `wg show all dump` ([`parse_wg_dump`], [`parse_wg_dump_all`]), which is how kernel
//! WireGuard is read. [`Status`] serialises to JSON (serde) and to Prometheus text
//! ([`render_prometheus`], with prometheus_wireguard_exporter's metric names where they exist).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use serde::Serialize;

use crate::error::{ConfigError, Error, MeshError, TextLocation};
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::plan::{NodePlan, Plan};
use crate::probe::ProbeStats;
use crate::uapi::{DeviceState, PeerState};

/// WireGuard's `REJECT_AFTER_TIME`: a session older than this is unusable, so a peer whose last
/// handshake is older is stale (a live session re-keys every two minutes).
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);

/// The largest dump text accepted (bytes).
pub const MAX_DUMP_BYTES: usize = 64 << 20;

/// The name used in the location of dump parse errors.
const DUMP_SOURCE: &str = "wg show dump";

/// A peer's state as far as handshakes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerStateKind {
    /// A handshake completed within [`REJECT_AFTER_TIME`] (or the configured stale time).
    Up,
    /// The last handshake is older than that.
    Stale,
    /// No handshake ever completed.
    Never,
}

impl PeerStateKind {
    /// `up`, `stale` or `never`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStateKind::Up => "up",
            PeerStateKind::Stale => "stale",
            PeerStateKind::Never => "never",
        }
    }
}

/// Probe results of one peer (see [`ProbeStats`]), with times in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerProbe {
    /// The probed overlay address.
    pub target: IpAddr,
    /// Echoes in the window whose fate is known.
    pub sent: u32,
    /// Echoes answered in time.
    pub received: u32,
    /// Lost fraction, 0.0..=1.0.
    pub loss: f64,
    /// Latest round-trip time (ms).
    pub rtt_last_ms: Option<f64>,
    /// Shortest round-trip time in the window (ms).
    pub rtt_min_ms: Option<f64>,
    /// Mean round-trip time in the window (ms).
    pub rtt_avg_ms: Option<f64>,
    /// Longest round-trip time in the window (ms).
    pub rtt_max_ms: Option<f64>,
    /// Echoes lost since the last reply.
    pub consecutive_lost: u32,
}

fn millis(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

impl PeerProbe {
    /// The JSON-friendly form of one target's statistics.
    pub fn new(target: IpAddr, stats: &ProbeStats) -> Self {
        PeerProbe {
            target,
            sent: stats.sent,
            received: stats.received,
            loss: stats.loss,
            rtt_last_ms: millis(stats.rtt_last),
            rtt_min_ms: millis(stats.rtt_min),
            rtt_avg_ms: millis(stats.rtt_avg),
            rtt_max_ms: millis(stats.rtt_max),
            consecutive_lost: stats.consecutive_lost,
        }
    }
}

/// One peer of a [`Status`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerStatus {
    /// The peer's node name, when a plan knows its key.
    pub name: Option<String>,
    /// The peer's public key (base64).
    pub public_key: String,
    /// The current endpoint.
    pub endpoint: Option<SocketAddr>,
    /// AllowedIPs, in the device's order.
    pub allowed_ips: Vec<IpNet>,
    /// Last completed handshake, seconds since the Unix epoch (None: never).
    pub latest_handshake: Option<u64>,
    /// Seconds since that handshake (None: never).
    pub handshake_age_seconds: Option<u64>,
    /// Bytes received from the peer.
    pub rx_bytes: u64,
    /// Bytes sent to the peer.
    pub tx_bytes: u64,
    /// Receive rate since the previous sample (bytes/s; None without one, or after a counter reset).
    pub rx_bytes_per_second: Option<f64>,
    /// Send rate since the previous sample (bytes/s).
    pub tx_bytes_per_second: Option<f64>,
    /// Persistent keepalive interval in seconds (None: off).
    pub persistent_keepalive: Option<u16>,
    /// Whether a preshared key is set (never the key itself).
    pub preshared_key: bool,
    /// Up, stale or never.
    pub state: PeerStateKind,
    /// The overlay address probes go to (the planned node's address, else a host route of AllowedIPs).
    pub probe_target: Option<IpAddr>,
    /// Probe results, when a prober covers [`PeerStatus::probe_target`].
    pub probe: Option<PeerProbe>,
}

/// The status of one interface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The interface name.
    pub interface: String,
    /// The node this device is, when given.
    pub node: Option<String>,
    /// The interface's public key (None when the private key is not known).
    pub public_key: Option<String>,
    /// The UDP listen port (0: none).
    pub listen_port: u16,
    /// When the state was read, seconds since the Unix epoch.
    pub time: u64,
    /// Number of peers configured.
    pub peer_count: usize,
    /// Number of peers in state up.
    pub peers_up: usize,
    /// Every peer, in the device's order.
    pub peers: Vec<PeerStatus>,
}

/// A device state and when it was read: the previous sample rates are computed against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The state.
    pub state: DeviceState,
    /// When it was read.
    pub at: SystemTime,
}

/// What [`status`] may use besides the device state.
#[derive(Debug, Clone)]
pub struct StatusContext<'a> {
    /// The plan, to name peers.
    pub plan: Option<&'a Plan>,
    /// This device's node in the plan (names are looked up among its peers first).
    pub node: Option<&'a str>,
    /// The previous sample, for rates.
    pub previous: Option<&'a Sample>,
    /// Probe statistics by target (e.g. [`crate::Prober::all_stats`]).
    pub probes: &'a [(IpAddr, ProbeStats)],
    /// A handshake older than this makes a peer stale (default [`REJECT_AFTER_TIME`]).
    pub stale_after: Duration,
}

impl Default for StatusContext<'_> {
    fn default() -> Self {
        StatusContext { plan: None, node: None, previous: None, probes: &[], stale_after: REJECT_AFTER_TIME }
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The planned node of `node` in `plan`, or `mesh_unknown_node`.
pub(crate) fn plan_node<'p>(plan: &'p Plan, node: &str) -> Result<&'p NodePlan, Error> {
    plan.node(node)
        .ok_or_else(|| Error::Mesh(MeshError::UnknownNode { field: "node".to_string(), name: node.to_string() }))
}

/// Where probes to a peer go: the planned node's first address when the plan knows the key, else the
/// first host route (/32 or /128) among its AllowedIPs.
pub fn probe_target(peer: &PeerState, plan: Option<&Plan>) -> Option<IpAddr> {
    if let Some(node) = plan.and_then(|p| p.nodes.iter().find(|n| n.public_key == peer.public_key)) {
        if let Some(address) = node.addresses.first() {
            return Some(address.addr());
        }
    }
    peer.allowed_ips.iter().find(|net| net.prefix_len() == net.max_prefix_len()).map(|net| net.addr())
}

/// The probe targets of every peer of `state`, in peer order, without duplicates.
pub fn probe_targets(state: &DeviceState, plan: Option<&Plan>) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for peer in &state.peers {
        if let Some(ip) = probe_target(peer, plan) {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

fn rate(now: u64, then: u64, seconds: f64) -> Option<f64> {
    (now >= then && seconds > 0.0).then(|| (now - then) as f64 / seconds)
}

/// Describes `state` (read at `now`) as a [`Status`]. Fails only when `context.node` is not a node of
/// `context.plan` (`mesh_unknown_node`).
pub fn status(
    interface: &str,
    state: &DeviceState,
    now: SystemTime,
    context: &StatusContext<'_>,
) -> Result<Status, Error> {
    let node = match (context.plan, context.node) {
        (Some(plan), Some(name)) => Some(plan_node(plan, name)?),
        _ => None,
    };
    let mut names: HashMap<PublicKey, String> = HashMap::new();
    if let Some(plan) = context.plan {
        for n in &plan.nodes {
            names.insert(n.public_key, n.name.to_string());
        }
    }
    if let Some(node) = node {
        for p in &node.peers {
            names.insert(p.public_key, p.name.to_string());
        }
    }
    let previous: HashMap<PublicKey, &PeerState> =
        context.previous.map(|s| s.state.peers.iter().map(|p| (p.public_key, p)).collect()).unwrap_or_default();
    let elapsed = context.previous.and_then(|s| now.duration_since(s.at).ok()).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let probes: HashMap<IpAddr, &ProbeStats> = context.probes.iter().map(|(ip, s)| (*ip, s)).collect();
    let now_secs = unix_seconds(now);
    let peers: Vec<PeerStatus> = state
        .peers
        .iter()
        .map(|peer| {
            let latest = peer.last_handshake.map(|d| d.as_secs());
            let age = peer.last_handshake.map(|d| now.duration_since(UNIX_EPOCH + d).unwrap_or(Duration::ZERO));
            let kind = match age {
                None => PeerStateKind::Never,
                Some(age) if age <= context.stale_after => PeerStateKind::Up,
                Some(_) => PeerStateKind::Stale,
            };
            let before = previous.get(&peer.public_key);
            let target = probe_target(peer, context.plan);
            PeerStatus {
                name: names.get(&peer.public_key).cloned(),
                public_key: peer.public_key.to_base64(),
                endpoint: peer.endpoint,
                allowed_ips: peer.allowed_ips.clone(),
                latest_handshake: latest,
                handshake_age_seconds: age.map(|a| a.as_secs()),
                rx_bytes: peer.rx_bytes,
                tx_bytes: peer.tx_bytes,
                rx_bytes_per_second: before.and_then(|b| rate(peer.rx_bytes, b.rx_bytes, elapsed)),
                tx_bytes_per_second: before.and_then(|b| rate(peer.tx_bytes, b.tx_bytes, elapsed)),
                persistent_keepalive: (peer.persistent_keepalive_interval > 0)
                    .then_some(peer.persistent_keepalive_interval),
                preshared_key: peer.preshared_key.is_some(),
                state: kind,
                probe_target: target,
                probe: target.and_then(|ip| probes.get(&ip).map(|s| PeerProbe::new(ip, s))),
            }
        })
        .collect();
    Ok(Status {
        interface: interface.to_string(),
        node: context.node.map(str::to_string),
        public_key: state.public_key().map(|k| k.to_base64()),
        listen_port: state.listen_port,
        time: now_secs,
        peer_count: peers.len(),
        peers_up: peers.iter().filter(|p| p.state == PeerStateKind::Up).count(),
        peers,
    })
}

// ---- `wg show dump` -------------------------------------------------------------------------------

fn at(line: usize, section: &str, key: Option<&str>) -> TextLocation {
    TextLocation {
        source_name: DUMP_SOURCE.to_string(),
        line,
        section: Some(section.to_string()),
        key: key.map(str::to_string),
    }
}

fn invalid(line: usize, section: &str, key: &str, reason: impl Into<String>) -> Error {
    Error::Config(ConfigError::InvalidValue { at: at(line, section, Some(key)), reason: reason.into() })
}

fn syntax(line: usize, section: &str, reason: impl Into<String>) -> Error {
    Error::Config(ConfigError::Syntax { at: at(line, section, None), reason: reason.into() })
}

fn parse_u64(text: &str, line: usize, section: &str, key: &str) -> Result<u64, Error> {
    text.parse::<u64>().map_err(|_| invalid(line, section, key, format!("{text:?} is not a non-negative integer")))
}

/// An interface line's fields: private key (secret: never echoed), public key, listen port, fwmark.
fn parse_interface_fields(fields: &[&str], line: usize) -> Result<DeviceState, Error> {
    const S: &str = "Interface";
    let private_key = match fields[0] {
        "(none)" | "(hidden)" => None,
        text => Some(
            PrivateKey::from_base64(text).map_err(|_| invalid(line, S, "private-key", "not a base64 private key"))?,
        ),
    };
    let public_key = match fields[1] {
        "(none)" => None,
        text => Some(
            PublicKey::from_base64(text)
                .map_err(|_| invalid(line, S, "public-key", format!("{text:?} is not a base64 public key")))?,
        ),
    };
    if let (Some(private), Some(public)) = (&private_key, &public_key) {
        if private.public_key() != *public {
            return Err(invalid(line, S, "public-key", "does not belong to the private key"));
        }
    }
    let listen_port = parse_u64(fields[2], line, S, "listen-port")?;
    let listen_port = u16::try_from(listen_port)
        .map_err(|_| invalid(line, S, "listen-port", format!("{listen_port} is over 65535")))?;
    let fwmark = match fields[3] {
        "off" | "0" => 0,
        text => {
            let digits = text
                .strip_prefix("0x")
                .ok_or_else(|| invalid(line, S, "fwmark", format!("{text:?} is neither off nor 0x…")))?;
            u32::from_str_radix(digits, 16)
                .map_err(|_| invalid(line, S, "fwmark", format!("{text:?} is not a 32-bit hex number")))?
        }
    };
    // A dump from a device that shows only its public key (boringtun) keeps that key.
    let own_public_key = if private_key.is_none() { public_key } else { None };
    Ok(DeviceState { private_key, own_public_key, listen_port, fwmark, peers: Vec::new() })
}

/// A peer line's fields: public key, preshared key (secret), endpoint, allowed ips, latest handshake,
/// rx, tx, persistent keepalive.
fn parse_peer_fields(fields: &[&str], line: usize) -> Result<PeerState, Error> {
    const S: &str = "Peer";
    let public_key = PublicKey::from_base64(fields[0])
        .map_err(|_| invalid(line, S, "public-key", format!("{:?} is not a base64 public key", fields[0])))?;
    let mut peer = PeerState::new(public_key);
    peer.preshared_key = match fields[1] {
        "(none)" | "(hidden)" => None,
        text => {
            let key = PresharedKey::from_base64(text)
                .map_err(|_| invalid(line, S, "preshared-key", "not a base64 preshared key"))?;
            // All zeros is how UAPI spells "no preshared key".
            (key.to_base64() != PresharedKey::from_bytes([0; 32]).to_base64()).then_some(key)
        }
    };
    peer.endpoint = match fields[2] {
        "(none)" => None,
        text => Some(
            text.parse::<SocketAddr>().map_err(|_| invalid(line, S, "endpoint", format!("{text:?} is not ip:port")))?,
        ),
    };
    if fields[3] != "(none)" && !fields[3].is_empty() {
        for item in fields[3].split(',') {
            let net = item
                .trim()
                .parse::<IpNet>()
                .map_err(|_| invalid(line, S, "allowed-ips", format!("{item:?} is not a prefix")))?;
            peer.allowed_ips.push(net);
        }
    }
    let handshake = parse_u64(fields[4], line, S, "latest-handshake")?;
    peer.last_handshake = (handshake > 0).then(|| Duration::from_secs(handshake));
    peer.rx_bytes = parse_u64(fields[5], line, S, "transfer-rx")?;
    peer.tx_bytes = parse_u64(fields[6], line, S, "transfer-tx")?;
    peer.persistent_keepalive_interval = match fields[7] {
        "off" => 0,
        text => {
            let n = parse_u64(text, line, S, "persistent-keepalive")?;
            u16::try_from(n).map_err(|_| invalid(line, S, "persistent-keepalive", format!("{n} is over 65535")))?
        }
    };
    Ok(peer)
}

fn dump_lines(text: &str) -> Result<impl Iterator<Item = (usize, &str)>, Error> {
    if text.len() > MAX_DUMP_BYTES {
        return Err(syntax(0, "Interface", format!("dump larger than {MAX_DUMP_BYTES} bytes")));
    }
    Ok(text.lines().enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l))).filter(|(_, l)| !l.is_empty()))
}

/// Parses the text of `wg show IFNAME dump`: an interface line (private key, public key, listen port,
/// fwmark) then one line per peer, tab-separated. Errors (`config_syntax`, `config_invalid_value`)
/// carry the 1-based line and never a key's secret value.
pub fn parse_wg_dump(text: &str) -> Result<DeviceState, Error> {
    let mut state: Option<DeviceState> = None;
    for (line, content) in dump_lines(text)? {
        let fields: Vec<&str> = content.split('\t').collect();
        match &mut state {
            None => {
                if fields.len() != 4 {
                    return Err(syntax(
                        line,
                        "Interface",
                        format!("expected 4 tab-separated fields, found {}", fields.len()),
                    ));
                }
                state = Some(parse_interface_fields(&fields, line)?);
            }
            Some(state) => {
                if fields.len() != 8 {
                    return Err(syntax(
                        line,
                        "Peer",
                        format!("expected 8 tab-separated fields, found {}", fields.len()),
                    ));
                }
                state.peers.push(parse_peer_fields(&fields, line)?);
            }
        }
    }
    state.ok_or_else(|| syntax(1, "Interface", "empty dump: no interface line"))
}

/// Parses the text of `wg show all dump`: the lines of [`parse_wg_dump`], each prefixed with the
/// interface name; interfaces in order of first appearance. An interface's first line must be its
/// interface line.
pub fn parse_wg_dump_all(text: &str) -> Result<Vec<(String, DeviceState)>, Error> {
    let mut out: Vec<(String, DeviceState)> = Vec::new();
    for (line, content) in dump_lines(text)? {
        let fields: Vec<&str> = content.split('\t').collect();
        let interface = fields[0];
        if interface.is_empty() || interface.len() > 15 || interface.contains(['/', ' ']) {
            return Err(invalid(line, "Interface", "interface", format!("{interface:?} is not an interface name")));
        }
        let known = out.iter().position(|(name, _)| name == interface);
        match (known, fields.len()) {
            (None, 5) => out.push((interface.to_string(), parse_interface_fields(&fields[1..], line)?)),
            (None, _) => {
                return Err(syntax(
                    line,
                    "Interface",
                    format!("expected the interface line of {interface} (5 fields), found {} fields", fields.len()),
                ))
            }
            (Some(i), 9) => {
                let peer = parse_peer_fields(&fields[1..], line)?;
                out[i].1.peers.push(peer);
            }
            (Some(_), n) => return Err(syntax(line, "Peer", format!("expected 9 tab-separated fields, found {n}"))),
        }
    }
    Ok(out)
}

/// Renders `state` as `wg show IFNAME dump` prints it; the private key is shown as `(hidden)` unless
/// `with_private_key` (and preshared keys as `(hidden)` likewise).
pub fn render_wg_dump(state: &DeviceState, with_private_key: bool) -> String {
    let mut out = String::new();
    let secret = |present: bool, value: &dyn Fn() -> String| {
        if !present {
            "(none)".to_string()
        } else if with_private_key {
            value()
        } else {
            "(hidden)".to_string()
        }
    };
    let private =
        secret(state.private_key.is_some(), &|| state.private_key.as_ref().map(|k| k.to_base64()).unwrap_or_default());
    let public = state.public_key().map_or("(none)".to_string(), |k| k.to_base64());
    let fwmark = if state.fwmark == 0 { "off".to_string() } else { format!("0x{:x}", state.fwmark) };
    let _ = writeln!(out, "{private}\t{public}\t{}\t{fwmark}", state.listen_port);
    for p in &state.peers {
        let psk =
            secret(p.preshared_key.is_some(), &|| p.preshared_key.as_ref().map(|k| k.to_base64()).unwrap_or_default());
        let endpoint = p.endpoint.map_or("(none)".to_string(), |e| e.to_string());
        let allowed = if p.allowed_ips.is_empty() {
            "(none)".to_string()
        } else {
            p.allowed_ips.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")
        };
        let keepalive = if p.persistent_keepalive_interval == 0 {
            "off".to_string()
        } else {
            p.persistent_keepalive_interval.to_string()
        };
        let _ = writeln!(
            out,
            "{}\t{psk}\t{endpoint}\t{allowed}\t{}\t{}\t{}\t{keepalive}",
            p.public_key.to_base64(),
            p.last_handshake.map_or(0, |d| d.as_secs()),
            p.rx_bytes,
            p.tx_bytes
        );
    }
    out
}

// ---- Prometheus -----------------------------------------------------------------------------------

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn peer_labels(status: &Status, peer: &PeerStatus) -> String {
    let allowed = peer.allowed_ips.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    let mut labels = format!(
        "interface=\"{}\",public_key=\"{}\",allowed_ips=\"{}\"",
        escape_label(&status.interface),
        escape_label(&peer.public_key),
        escape_label(&allowed)
    );
    if let Some(name) = &peer.name {
        let _ = write!(labels, ",name=\"{}\"", escape_label(name));
    }
    labels
}

fn float(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "NaN".to_string()
    }
}

/// Renders statuses as Prometheus text exposition format 0.0.4. Per peer (labels `interface`,
/// `public_key`, `allowed_ips`, and `name` when known): `wireguard_sent_bytes_total`,
/// `wireguard_received_bytes_total`, `wireguard_latest_handshake_seconds` (0: never) — the names of
/// prometheus_wireguard_exporter — and `wiremesh_peer_up`, `wiremesh_peer_handshake_age_seconds`
/// (only after a handshake), `wiremesh_peer_probe_loss_ratio`, `wiremesh_peer_probe_rtt_seconds` (mean,
/// only with replies), `wiremesh_peer_probe_sent`; per interface `wiremesh_peers` and `wiremesh_peers_up`.
pub fn render_prometheus(statuses: &[Status]) -> String {
    struct Family {
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        value: fn(&PeerStatus) -> Option<String>,
    }
    let families = [
        Family {
            name: "wireguard_sent_bytes_total",
            kind: "counter",
            help: "Bytes sent to the peer",
            value: |p| Some(p.tx_bytes.to_string()),
        },
        Family {
            name: "wireguard_received_bytes_total",
            kind: "counter",
            help: "Bytes received from the peer",
            value: |p| Some(p.rx_bytes.to_string()),
        },
        Family {
            name: "wireguard_latest_handshake_seconds",
            kind: "gauge",
            help: "Seconds from the Unix epoch of the last handshake with the peer (0: never)",
            value: |p| Some(p.latest_handshake.unwrap_or(0).to_string()),
        },
        Family {
            name: "wiremesh_peer_up",
            kind: "gauge",
            help: "1 when the peer completed a handshake within the reject-after time (180 s), else 0",
            value: |p| Some(u8::from(p.state == PeerStateKind::Up).to_string()),
        },
        Family {
            name: "wiremesh_peer_handshake_age_seconds",
            kind: "gauge",
            help: "Seconds since the last handshake with the peer",
            value: |p| p.handshake_age_seconds.map(|a| a.to_string()),
        },
        Family {
            name: "wiremesh_peer_probe_loss_ratio",
            kind: "gauge",
            help: "Fraction of ICMP echoes to the peer's overlay address lost over the probe window",
            value: |p| p.probe.as_ref().filter(|pr| pr.sent > 0).map(|pr| float(pr.loss)),
        },
        Family {
            name: "wiremesh_peer_probe_rtt_seconds",
            kind: "gauge",
            help: "Mean round-trip time of ICMP echoes to the peer over the probe window",
            value: |p| p.probe.as_ref().and_then(|pr| pr.rtt_avg_ms).map(|ms| float(ms / 1000.0)),
        },
        Family {
            name: "wiremesh_peer_probe_sent",
            kind: "gauge",
            help: "ICMP echoes to the peer whose fate is known in the probe window",
            value: |p| p.probe.as_ref().map(|pr| pr.sent.to_string()),
        },
    ];
    let mut out = String::new();
    for family in &families {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for status in statuses {
            for peer in &status.peers {
                if let Some(value) = (family.value)(peer) {
                    let _ = writeln!(out, "{}{{{}}} {value}", family.name, peer_labels(status, peer));
                }
            }
        }
    }
    for (name, help, value) in [
        ("wiremesh_peers", "Peers configured on the interface", (|s: &Status| s.peer_count) as fn(&Status) -> usize),
        ("wiremesh_peers_up", "Peers of the interface in state up", |s: &Status| s.peers_up),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for status in statuses {
            let _ = writeln!(out, "{name}{{interface=\"{}\"}} {}", escape_label(&status.interface), value(status));
        }
    }
    out
}

#[cfg(test)]
mod tests;
