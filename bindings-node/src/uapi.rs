//! The cross-platform userspace API (UAPI): the `get=1` / `set=1` text protocol `wg` speaks over
//! `/var/run/wireguard/IFNAME.sock`. `parseUapiGetResponse`, `parseUapiSetRequest`,
//! `parseUapiSetResponse`, `renderUapiGetResponse`, `renderUapiSetRequest`, `renderUapiErrno`, the plain
//! objects `DeviceState` / `PeerState` (a `get` answer) and `DeviceUpdate` / `PeerUpdate` (a `set`
//! request), and `UapiClient`, whose socket calls run on the libuv thread pool and return Promises.
//!
//! The objects' keys are the protocol's, camelCased (`listenPort`, `persistentKeepaliveInterval`,
//! `lastHandshakeTimeSec`…). Secrets are `PrivateKey` / `PresharedKey` objects (which never print
//! themselves); public keys are base64 text (hex is accepted too); numbers are JavaScript numbers, so
//! `JSON.stringify` works on every object (byte counters are exact up to 2^53, 9 PB). A value the
//! protocol would refuse throws `uapi_invalid_value` with `line` 0 and `key` the protocol key, as the
//! parser reports the same value on the wire.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::IpNet;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use wiremesh::uapi;

use crate::error::{js_error, uapi_invalid, CoreResult, IntoJs};
use crate::keys::{PresharedKey, PrivateKey};

/// One peer of a device, as a `get=1` answer reports it.
#[napi(object)]
pub struct PeerState<'a> {
    /// The peer's public key: base64 (64 hex digits are accepted too).
    pub public_key: String,
    /// The preshared key (absent when none).
    pub preshared_key: Option<ClassInstance<'a, PresharedKey>>,
    /// The current endpoint, `IP:PORT` (IPv6 in brackets), if known.
    pub endpoint: Option<String>,
    /// The last completed handshake, seconds since the Unix epoch (0 with `lastHandshakeTimeNsec` 0:
    /// never). `new Date(sec * 1000 + nsec / 1e6)` is that time.
    pub last_handshake_time_sec: Option<f64>,
    /// The nanoseconds part of the last handshake (0 to 999999999).
    pub last_handshake_time_nsec: Option<f64>,
    /// Bytes sent to this peer.
    pub tx_bytes: Option<f64>,
    /// Bytes received from this peer.
    pub rx_bytes: Option<f64>,
    /// Persistent keepalive interval in seconds (0: off).
    pub persistent_keepalive_interval: Option<f64>,
    /// The peer's AllowedIPs, `ADDRESS/LENGTH`, in the device's order.
    pub allowed_ips: Option<Vec<String>>,
    /// The protocol version (1).
    pub protocol_version: Option<f64>,
}

/// A device's state, as a `get=1` answer reports it. Parsed objects have every field but `privateKey`
/// (absent when the device has none); to render one, fields left out take their zero value.
#[napi(object)]
pub struct DeviceState<'a> {
    /// The device's private key (absent when none is set, or when the device does not show it).
    pub private_key: Option<ClassInstance<'a, PrivateKey>>,
    /// The public key (base64) a device that hides its private key reports (boringtun's
    /// `own_public_key=`); absent otherwise.
    pub own_public_key: Option<String>,
    /// The UDP port (0: none reported).
    pub listen_port: Option<f64>,
    /// The firewall mark of outgoing packets (0: none).
    pub fwmark: Option<f64>,
    /// Every peer, in the device's order.
    pub peers: Option<Vec<PeerState<'a>>>,
}

/// A change to one peer in a `set=1` request (the peer is created unless `updateOnly`).
#[napi(object)]
pub struct PeerUpdate<'a> {
    /// `public_key=`: which peer. Base64 (64 hex digits are accepted too).
    pub public_key: String,
    /// `remove=true`: remove the peer (the rest of its section is moot).
    pub remove: Option<bool>,
    /// `update_only=true`: change the peer only if it exists.
    pub update_only: Option<bool>,
    /// `preshared_key=`: `null` removes the preshared key (sent as all zeros); absent: unchanged.
    pub preshared_key: Option<Either<ClassInstance<'a, PresharedKey>, Null>>,
    /// `endpoint=`: `IP:PORT` (IPv6 in brackets).
    pub endpoint: Option<String>,
    /// `persistent_keepalive_interval=` in seconds (0: off).
    pub persistent_keepalive_interval: Option<f64>,
    /// `replace_allowed_ips=true`: drop the peer's AllowedIPs before adding `allowedIps`.
    pub replace_allowed_ips: Option<bool>,
    /// `allowed_ip=` lines in order: `ADDRESS/LENGTH` adds, `-ADDRESS/LENGTH` removes.
    pub allowed_ips: Option<Vec<String>>,
    /// `protocol_version=` (only 1 exists).
    pub protocol_version: Option<f64>,
}

/// A change to a device: a `set=1` request. Fields left out are not sent. Parsed objects have every
/// boolean (false when not set) and `peers`.
#[napi(object)]
pub struct DeviceUpdate<'a> {
    /// `private_key=`: `null` removes the key (sent as all zeros); absent: unchanged.
    pub private_key: Option<Either<ClassInstance<'a, PrivateKey>, Null>>,
    /// `listen_port=` (0: a random port).
    pub listen_port: Option<f64>,
    /// `fwmark=` (0: off).
    pub fwmark: Option<f64>,
    /// `replace_peers=true`: remove every peer before applying `peers`.
    pub replace_peers: Option<bool>,
    /// Per-peer changes, applied in order.
    pub peers: Option<Vec<PeerUpdate<'a>>>,
}

// JavaScript values → core values ------------------------------------------------------------------

/// A whole number from 0 to `max` (`uapi_invalid_value` naming `key` and where otherwise).
fn whole(value: Option<f64>, key: &'static str, at: &str, max: u64) -> CoreResult<Option<u64>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= max as f64 && (v as u64) <= max => {
            Ok(Some(v as u64))
        }
        Some(v) => Err(uapi_invalid(key, format!("{at}: {v} is not a whole number from 0 to {max}"))),
    }
}

fn public_key(text: &str) -> CoreResult<wiremesh::PublicKey> {
    let text = text.trim();
    Ok(if text.len() == 64 { wiremesh::PublicKey::from_hex(text)? } else { wiremesh::PublicKey::from_base64(text)? })
}

fn endpoint(text: &str, at: &str) -> CoreResult<SocketAddr> {
    text.trim()
        .parse()
        .map_err(|_| uapi_invalid("endpoint", format!("{at}: expected IP:PORT or [IPv6]:PORT, got {text:?}")))
}

fn prefix(text: &str, at: &str) -> CoreResult<IpNet> {
    text.trim().parse().map_err(|_| uapi_invalid("allowed_ip", format!("{at}: expected ADDRESS/LENGTH, got {text:?}")))
}

/// The core state of a `DeviceState` object.
pub(crate) fn core_state(state: &DeviceState<'_>) -> CoreResult<uapi::DeviceState> {
    let mut peers = Vec::new();
    for (index, p) in state.peers.iter().flatten().enumerate() {
        let at = |field: &str| format!("peers[{index}].{field}");
        let mut peer = uapi::PeerState::new(public_key(&p.public_key)?);
        peer.preshared_key = p.preshared_key.as_ref().map(|k| k.inner.clone());
        peer.endpoint = p.endpoint.as_deref().map(|e| endpoint(e, &at("endpoint"))).transpose()?;
        let sec =
            whole(p.last_handshake_time_sec, "last_handshake_time_sec", &at("lastHandshakeTimeSec"), i64::MAX as u64)?;
        let nsec =
            whole(p.last_handshake_time_nsec, "last_handshake_time_nsec", &at("lastHandshakeTimeNsec"), 999_999_999)?;
        let (sec, nsec) = (sec.unwrap_or(0), nsec.unwrap_or(0));
        peer.last_handshake = (sec != 0 || nsec != 0).then(|| Duration::new(sec, nsec as u32));
        peer.tx_bytes = whole(p.tx_bytes, "tx_bytes", &at("txBytes"), u64::MAX)?.unwrap_or(0);
        peer.rx_bytes = whole(p.rx_bytes, "rx_bytes", &at("rxBytes"), u64::MAX)?.unwrap_or(0);
        peer.persistent_keepalive_interval = whole(
            p.persistent_keepalive_interval,
            "persistent_keepalive_interval",
            &at("persistentKeepaliveInterval"),
            u16::MAX.into(),
        )?
        .unwrap_or(0) as u16;
        for (i, text) in p.allowed_ips.iter().flatten().enumerate() {
            peer.allowed_ips.push(prefix(text, &at(&format!("allowedIps[{i}]")))?);
        }
        peer.protocol_version =
            whole(p.protocol_version, "protocol_version", &at("protocolVersion"), u32::MAX.into())?.unwrap_or(1) as u32;
        peers.push(peer);
    }
    Ok(uapi::DeviceState {
        private_key: state.private_key.as_ref().map(|k| k.inner.clone()),
        own_public_key: state.own_public_key.as_deref().map(public_key).transpose()?,
        listen_port: whole(state.listen_port, "listen_port", "listenPort", u16::MAX.into())?.unwrap_or(0) as u16,
        fwmark: whole(state.fwmark, "fwmark", "fwmark", u32::MAX.into())?.unwrap_or(0) as u32,
        peers,
    })
}

/// The core update of a `DeviceUpdate` object.
pub(crate) fn core_update(update: &DeviceUpdate<'_>) -> CoreResult<uapi::DeviceUpdate> {
    let mut peers = Vec::new();
    for (index, p) in update.peers.iter().flatten().enumerate() {
        let at = |field: &str| format!("peers[{index}].{field}");
        let mut peer = uapi::PeerUpdate::new(public_key(&p.public_key)?);
        peer.remove = p.remove.unwrap_or(false);
        peer.update_only = p.update_only.unwrap_or(false);
        peer.preshared_key = p.preshared_key.as_ref().map(|k| match k {
            Either::A(key) => Some(key.inner.clone()),
            Either::B(Null) => None,
        });
        peer.endpoint = p.endpoint.as_deref().map(|e| endpoint(e, &at("endpoint"))).transpose()?;
        peer.persistent_keepalive_interval = whole(
            p.persistent_keepalive_interval,
            "persistent_keepalive_interval",
            &at("persistentKeepaliveInterval"),
            u16::MAX.into(),
        )?
        .map(|n| n as u16);
        peer.replace_allowed_ips = p.replace_allowed_ips.unwrap_or(false);
        for (i, text) in p.allowed_ips.iter().flatten().enumerate() {
            let (remove, rest) = match text.trim().strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.as_str()),
            };
            peer.allowed_ips
                .push(uapi::AllowedIpChange { prefix: prefix(rest, &at(&format!("allowedIps[{i}]")))?, remove });
        }
        peer.protocol_version = match p.protocol_version {
            None => None,
            Some(v) => {
                if v != 1.0 {
                    let reason = format!("{}: only version 1 exists, got {v}", at("protocolVersion"));
                    return Err(uapi_invalid("protocol_version", reason));
                }
                Some(1)
            }
        };
        peers.push(peer);
    }
    Ok(uapi::DeviceUpdate {
        private_key: update.private_key.as_ref().map(|k| match k {
            Either::A(key) => Some(key.inner.clone()),
            Either::B(Null) => None,
        }),
        listen_port: whole(update.listen_port, "listen_port", "listenPort", u16::MAX.into())?.map(|n| n as u16),
        fwmark: whole(update.fwmark, "fwmark", "fwmark", u32::MAX.into())?.map(|n| n as u32),
        replace_peers: update.replace_peers.unwrap_or(false),
        peers,
    })
}

// Core values → JavaScript values ------------------------------------------------------------------

fn strings(items: &[IpNet]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// The plain object of a core device state.
pub(crate) fn state_object<'env>(env: &'env Env, state: &uapi::DeviceState) -> Result<DeviceState<'env>> {
    let peers = state
        .peers
        .iter()
        .map(|p| {
            let handshake = p.last_handshake.unwrap_or_default();
            Ok(PeerState {
                public_key: p.public_key.to_base64(),
                preshared_key: p
                    .preshared_key
                    .as_ref()
                    .map(|k| PresharedKey { inner: k.clone() }.into_instance(env))
                    .transpose()?,
                endpoint: p.endpoint.map(|e| e.to_string()),
                last_handshake_time_sec: Some(handshake.as_secs() as f64),
                last_handshake_time_nsec: Some(handshake.subsec_nanos().into()),
                tx_bytes: Some(p.tx_bytes as f64),
                rx_bytes: Some(p.rx_bytes as f64),
                persistent_keepalive_interval: Some(p.persistent_keepalive_interval.into()),
                allowed_ips: Some(strings(&p.allowed_ips)),
                protocol_version: Some(p.protocol_version.into()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DeviceState {
        private_key: state
            .private_key
            .as_ref()
            .map(|k| PrivateKey { inner: k.clone() }.into_instance(env))
            .transpose()?,
        own_public_key: state.own_public_key.map(|k| k.to_base64()),
        listen_port: Some(state.listen_port.into()),
        fwmark: Some(state.fwmark.into()),
        peers: Some(peers),
    })
}

/// The plain object of a core update.
pub(crate) fn update_object<'env>(env: &'env Env, update: &uapi::DeviceUpdate) -> Result<DeviceUpdate<'env>> {
    let peers = update
        .peers
        .iter()
        .map(|p| {
            Ok(PeerUpdate {
                public_key: p.public_key.to_base64(),
                remove: Some(p.remove),
                update_only: Some(p.update_only),
                preshared_key: match &p.preshared_key {
                    None => None,
                    Some(None) => Some(Either::B(Null)),
                    Some(Some(k)) => Some(Either::A(PresharedKey { inner: k.clone() }.into_instance(env)?)),
                },
                endpoint: p.endpoint.map(|e| e.to_string()),
                persistent_keepalive_interval: p.persistent_keepalive_interval.map(f64::from),
                replace_allowed_ips: Some(p.replace_allowed_ips),
                allowed_ips: Some(
                    p.allowed_ips.iter().map(|c| format!("{}{}", if c.remove { "-" } else { "" }, c.prefix)).collect(),
                ),
                protocol_version: p.protocol_version.map(f64::from),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(DeviceUpdate {
        private_key: match &update.private_key {
            None => None,
            Some(None) => Some(Either::B(Null)),
            Some(Some(k)) => Some(Either::A(PrivateKey { inner: k.clone() }.into_instance(env)?)),
        },
        listen_port: update.listen_port.map(f64::from),
        fwmark: update.fwmark.map(f64::from),
        replace_peers: Some(update.replace_peers),
        peers: Some(peers),
    })
}

// Parse and render ---------------------------------------------------------------------------------

/// Parses a device's answer to `get=1` (device lines, peers with statistics, `errno=0`, the blank
/// line). Keys this version does not know are skipped, as `wg` skips them. Throws `uapi_syntax`,
/// `uapi_invalid_value`, `uapi_too_large`, or `uapi_errno` when the device answered an error.
#[napi]
pub fn parse_uapi_get_response<'env>(env: &'env Env, text: String) -> Result<DeviceState<'env>> {
    let state = uapi::parse_get_response(&text).js(env)?;
    state_object(env, &state)
}

/// Parses a whole `set=1` request (operation line, `key=value` lines, blank line), folded the way a
/// device applies it. Throws `uapi_syntax`, `uapi_unknown_key`, `uapi_invalid_value` or
/// `uapi_too_large`, with the 1-based `line`.
#[napi]
pub fn parse_uapi_set_request<'env>(env: &'env Env, text: String) -> Result<DeviceUpdate<'env>> {
    let update = uapi::parse_set_request(&text).js(env)?;
    update_object(env, &update)
}

/// Parses a device's answer to `set=1`: returns for `errno=0`, throws `uapi_errno` (with `errno`) for
/// any other errno, `uapi_syntax` for an answer that is not the protocol.
#[napi]
pub fn parse_uapi_set_response(env: Env, text: String) -> Result<()> {
    uapi::parse_set_response(&text).js(&env)
}

/// Renders the answer to `get=1`, byte for byte as wireguard-go writes it (keys as hex, `errno=0`, the
/// blank line). Throws `uapi_invalid_value` for a value the protocol cannot carry, a `key_*` code for a
/// public key that is not base64 or hex.
#[napi]
pub fn render_uapi_get_response(env: Env, state: DeviceState<'_>) -> Result<String> {
    core_state(&state).map(|s| uapi::render_get_response(&s)).js(&env)
}

/// Renders a `set=1` request, each peer's keys in the order `wg` sends them, ending with the blank line.
/// Throws like `renderUapiGetResponse`.
#[napi]
pub fn render_uapi_set_request(env: Env, update: DeviceUpdate<'_>) -> Result<String> {
    core_update(&update).map(|u| uapi::render_set_request(&u)).js(&env)
}

/// A device's status reply: `errno=0\n\n` for 0, else `errno=-N\n\n` (wireguard-go's sign).
#[napi]
pub fn render_uapi_errno(errno: i32) -> String {
    uapi::render_errno(errno)
}

// The client ---------------------------------------------------------------------------------------

/// The connection shared by a client and its in-flight calls.
pub(crate) struct Connection {
    path: PathBuf,
    /// The name of the program serving the socket, when visible (see `UapiClient::program`).
    program: Option<String>,
    client: Mutex<Option<uapi::UapiClient>>,
    closed: AtomicBool,
}

impl Connection {
    /// Runs `op` on the connection (one call at a time). A failure that leaves the stream in an unknown
    /// state (I/O, an oversized or truncated answer) closes the connection; so does `close()` called
    /// meanwhile.
    pub(crate) fn run<T>(&self, op: impl FnOnce(&mut uapi::UapiClient) -> CoreResult<T>) -> CoreResult<T> {
        let mut guard = self.client.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let closed = || -> wiremesh::Error {
            wiremesh::IoError::invalid("write", &self.path, "the UAPI client is closed").into()
        };
        if self.closed.load(Ordering::SeqCst) {
            guard.take();
            return Err(closed());
        }
        let Some(client) = guard.as_mut() else { return Err(closed()) };
        let result = op(client);
        let broken = match &result {
            Err(wiremesh::Error::Io(_)) => true,
            Err(wiremesh::Error::Uapi(e)) => e.code() == "uapi_too_large" || e.line() == 0 && e.code() == "uapi_syntax",
            _ => false,
        };
        if broken || self.closed.load(Ordering::SeqCst) {
            guard.take();
            self.closed.store(true, Ordering::SeqCst);
        }
        result
    }
}

/// A connection to a device's UAPI socket (wiremeshd, wireguard-go, boringtun). Every call returns a
/// Promise and runs on the libuv thread pool; calls on one client go one at a time, in order. Reads and
/// writes time out after 30 s. A failed exchange that leaves the stream unusable (`io_*`,
/// `uapi_too_large`, a truncated answer) closes the client; later calls reject with `io_other`.
#[napi]
pub struct UapiClient {
    pub(crate) connection: Arc<Connection>,
}

/// Where to connect.
pub enum Target {
    /// `/var/run/wireguard/IFNAME.sock`.
    Interface(String),
    /// Any socket path.
    Path(PathBuf),
}

/// Background job: connect.
pub struct Connect {
    target: Target,
}

impl Task for Connect {
    type Output = CoreResult<(PathBuf, uapi::UapiClient)>;
    type JsValue = UapiClient;

    fn compute(&mut self) -> Result<Self::Output> {
        let path = match &self.target {
            Target::Interface(name) => uapi::socket_path(name),
            Target::Path(path) => Ok(path.clone()),
        };
        Ok(path.and_then(|path| uapi::UapiClient::connect_path(&path).map(|client| (path, client))))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<UapiClient> {
        let (path, client) = output.map_err(|e| js_error(&env, e))?;
        let program = client.program().map(String::from);
        Ok(UapiClient {
            connection: Arc::new(Connection {
                path,
                program,
                client: Mutex::new(Some(client)),
                closed: AtomicBool::new(false),
            }),
        })
    }
}

/// Background job: `get=1`.
pub struct UapiGet {
    connection: Arc<Connection>,
}

impl<'task> napi::ScopedTask<'task> for UapiGet {
    type Output = CoreResult<uapi::DeviceState>;
    type JsValue = DeviceState<'task>;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.connection.run(|client| client.get()))
    }

    fn resolve(&mut self, env: &'task Env, output: Self::Output) -> Result<DeviceState<'task>> {
        let state = output.map_err(|e| js_error(env, e))?;
        state_object(env, &state)
    }
}

/// Background job: `set=1`.
pub struct UapiSet {
    connection: Arc<Connection>,
    update: uapi::DeviceUpdate,
}

impl Task for UapiSet {
    type Output = CoreResult<()>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        let update = &self.update;
        Ok(self.connection.run(|client| client.set(update)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<()> {
        output.map_err(|e| js_error(&env, e))
    }
}

#[napi]
impl UapiClient {
    /// Connects to `/var/run/wireguard/IFNAME.sock`. Rejects with `io_other` for a name that is not an
    /// interface name, `io_not_found` when no device listens there, `io_permission_denied`.
    #[napi(ts_return_type = "Promise<UapiClient>")]
    pub fn connect(ifname: String) -> AsyncTask<Connect> {
        AsyncTask::new(Connect { target: Target::Interface(ifname) })
    }

    /// Connects to a UAPI socket at any path. Rejects with an `io_*` code.
    #[napi(ts_return_type = "Promise<UapiClient>")]
    pub fn connect_path(path: String) -> AsyncTask<Connect> {
        AsyncTask::new(Connect { target: Target::Path(PathBuf::from(path)) })
    }

    /// `get=1`: the device's configuration and statistics. Rejects with a `uapi_*` code for a bad
    /// answer (`uapi_errno` when the device refused), an `io_*` code when the socket fails.
    #[napi(ts_return_type = "Promise<DeviceState>")]
    pub fn get(&self) -> AsyncTask<UapiGet> {
        AsyncTask::new(UapiGet { connection: self.connection.clone() })
    }

    /// `set=1`: applies `update`. Rejects with `uapi_errno` (and `errno`) when the device refuses, an
    /// `io_*` code when the socket fails; throws at once (`uapi_invalid_value`, `key_*`) for an update
    /// that cannot be sent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn set(&self, env: Env, update: DeviceUpdate<'_>) -> Result<AsyncTask<UapiSet>> {
        let update = core_update(&update).js(&env)?;
        Ok(AsyncTask::new(UapiSet { connection: self.connection.clone(), update }))
    }

    /// Closes the connection (after the call in flight, if any). Later calls reject with `io_other`.
    #[napi]
    pub fn close(&self) {
        self.connection.closed.store(true, Ordering::SeqCst);
        if let Ok(mut guard) = self.connection.client.try_lock() {
            guard.take();
        }
    }

    /// Whether the client is closed (by `close()` or after a failed exchange).
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.connection.closed.load(Ordering::SeqCst)
    }

    /// The socket's path.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.connection.path.display().to_string()
    }

    /// The name of the program serving the socket (`/proc/PID/comm` of the peer process: `wiremeshd`,
    /// `wireguard-go`, `boringtun-cli`), or null when not visible. A program whose name starts with
    /// `boringtun` cannot change a peer in place: `set()` then removes and re-adds each changed peer,
    /// one request per peer, and `get()` turns its handshake ages into times.
    #[napi(getter)]
    pub fn program(&self) -> Option<String> {
        self.connection.program.clone()
    }

    /// `UapiClient(/var/run/wireguard/wg0.sock)`.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!("UapiClient({})", self.connection.path.display())
    }
}
