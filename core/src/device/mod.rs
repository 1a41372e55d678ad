//! The userspace WireGuard data path (feature `device`): boringtun's Noise state machine
//! ([`boringtun::noise::Tunn`]) driven by our own device — a Linux TUN, UDP sockets for IPv4 and IPv6,
//! a device-wide cryptokey routing table, timers, and a UAPI server that stock `wg` manages.
//!
//! Beyond boringtun's own device: a decrypted packet is delivered only when the device-wide
//! longest-prefix match of its *source* address is the peer it came from (drops are counted); a peer
//! with our own public key is ignored and one with a low-order key never handshakes; handshakes are
//! rate-limited device-wide with cookie replies, the source address always passed in and the limiter
//! reset every second.
//!
//! Threads: one TUN reader, one UDP reader per family, one timer thread, one UAPI acceptor. The packet
//! path reads an immutable configuration snapshot (`Arc`, swapped whole by configuration changes) and
//! locks only the one peer it works on; each thread reuses its own buffers. While traffic is quiet, a
//! UDP reader that has just written a lone packet to the TUN reads the TUN once itself and sends what
//! the kernel answered within that write (an echo reply, a lone ACK), sparing the wake-up of the TUN
//! reader on the other core (about 20 µs of a round trip on a 2-vCPU VM).
//!
//! Batched I/O with offloads (probed at start, each falling back on its own; all off with
//! [`DeviceOptions::offload`] false or `WIREMESH_OFFLOAD=off`): the TUN hands over TCP/UDP
//! super-packets that the TUN reader splits in place (`offload::split_each`), encrypts into one batch buffer and
//! sends per endpoint as `UDP_SEGMENT` runs; a UDP reader takes `UDP_GRO` runs, decrypts them into one
//! batch buffer and writes in-order TCP segments of a flow to the TUN as one super-packet (UDP datagrams
//! of a flow too, as a USO super-packet, where the TUN took USO).

#[doc(hidden)]
pub mod bench;
mod node;
mod offload;
mod route;
mod sys;
mod timers;
mod uapi_server;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519;
use ipnet::IpNet;

use crate::error::{Error, IoError, UapiError};
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::uapi::{errno, DeviceState, DeviceUpdate, PeerState};

pub use node::{node_update, RESOLVE_TIMEOUT};
pub use route::RouteTable;

/// Handshake messages per second the device answers before it demands cookies (wireguard-go's and the
/// kernel's order of magnitude).
pub const HANDSHAKE_RATE_LIMIT: u64 = 100;

/// Buffer size for one packet: the largest IP packet plus WireGuard's overhead.
const BUF_LEN: usize = 65_535 + 64;
/// Timer granularity.
const TICK: Duration = Duration::from_millis(100);
/// Packets a reader handles per snapshot (batch-shaped: one snapshot load per batch).
const BATCH: usize = 64;
/// Bytes of encrypted datagrams (or decrypted packets) a reader gathers before it sends (writes) them.
const BATCH_BYTES: usize = 512 * 1024;
/// Room a batch keeps for one more super-packet's worth of output; less, and it is flushed first.
const BATCH_RESERVE: usize = 80 * 1024;
/// Most segments one TUN super-packet may split into (64 KiB at a 64-byte MSS).
const MAX_SEGMENTS: usize = 1024;
/// Default `SO_RCVBUF`/`SO_SNDBUF` of the UDP sockets.
pub const DEFAULT_SOCKET_BUFFER: usize = 7 << 20;
/// Environment variable that turns offloads off (`off`, `0`, `false`, `no`) for [`DeviceOptions::new`].
pub const OFFLOAD_ENV: &str = "WIREMESH_OFFLOAD";
/// Environment variable with the UDP socket buffer size in bytes for [`DeviceOptions::new`].
pub const SOCKET_BUFFER_ENV: &str = "WIREMESH_SOCKET_BUFFER";
/// Environment variable with the TUN's queue length in packets for [`DeviceOptions::new`].
pub const TUN_QUEUE_LEN_ENV: &str = "WIREMESH_TUN_QUEUE_LEN";
/// Environment variable that turns [`DeviceOptions::helper_threads`] off (`off`, `0`, `false`, `no`) for
/// [`DeviceOptions::new`].
pub const HELPER_THREADS_ENV: &str = "WIREMESH_HELPER_THREADS";

/// Counters of the device (monotonic since start).
#[derive(Debug, Default)]
pub struct Counters {
    /// Decrypted packets whose source address routes to another peer (or nowhere): dropped.
    pub ingress_dropped: AtomicU64,
    /// Packets from the TUN with no peer for their destination.
    pub no_route_dropped: AtomicU64,
    /// Packets for a peer with no endpoint yet.
    pub no_endpoint_dropped: AtomicU64,
    /// Datagrams that failed authentication, were malformed or named no peer.
    pub invalid_dropped: AtomicU64,
    /// Cookie replies sent because of handshake load.
    pub cookies_sent: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterValues {
    /// See [`Counters::ingress_dropped`].
    pub ingress_dropped: u64,
    /// See [`Counters::no_route_dropped`].
    pub no_route_dropped: u64,
    /// See [`Counters::no_endpoint_dropped`].
    pub no_endpoint_dropped: u64,
    /// See [`Counters::invalid_dropped`].
    pub invalid_dropped: u64,
    /// See [`Counters::cookies_sent`].
    pub cookies_sent: u64,
}

/// Why a device stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// [`Device::stop`] (or a signal in `wiremeshd`).
    Requested,
    /// The interface was deleted.
    InterfaceDeleted,
    /// The UAPI socket was removed or replaced.
    SocketRemoved,
    /// The TUN device failed.
    TunFailed,
}

/// How to start a device.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// The interface name (at most 15 characters).
    pub ifname: String,
    /// Serve the UAPI on `/var/run/wireguard/IFNAME.sock` (mode 0600).
    pub uapi: bool,
    /// Use segmentation offloads and batched UDP (TUN `IFF_VNET_HDR` with TSO/USO, `UDP_SEGMENT`,
    /// `UDP_GRO`) where the kernel has them; false forces one packet per system call.
    pub offload: bool,
    /// `SO_RCVBUF`/`SO_SNDBUF` of the UDP sockets in bytes.
    pub socket_buffer_bytes: usize,
    /// The TUN's transmit queue length in packets (super-packets, with offloads): how much the kernel
    /// holds for the TUN reader before it drops. None keeps the kernel's default (500).
    pub tun_queue_len: Option<u32>,
    /// Give each reader (the TUN's, each UDP socket's) a helper thread that makes its system calls
    /// (UDP sends, TUN writes) while the reader encrypts or decrypts the next batch. On (the default),
    /// crypto and system calls overlap, which is what several flows and UDP floods gain from; off,
    /// every reader makes its own system calls, sparing the hand-over's wake-ups and latency, which one
    /// congestion-controlled flow gains from on a machine with no core to spare. Measured on 2 CPUs in
    /// `benches/README.md`.
    pub helper_threads: bool,
}

/// Whether an on/off environment variable's value turns the setting off (`off`, `0`, `false`, `no`,
/// any case, surrounding white space ignored); anything else leaves it on.
fn switched_off(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "off" | "0" | "false" | "no")
}

impl DeviceOptions {
    /// A device named `ifname` with its UAPI socket; offloads and helper threads on unless
    /// `WIREMESH_OFFLOAD` / `WIREMESH_HELPER_THREADS` is `off` (or `0`, `false`, `no`), socket buffers
    /// of `WIREMESH_SOCKET_BUFFER` bytes when that is a number (else [`DEFAULT_SOCKET_BUFFER`]), a TUN
    /// queue of `WIREMESH_TUN_QUEUE_LEN` packets when that is a number (else the kernel's default).
    pub fn new(ifname: &str) -> Self {
        let offload = !std::env::var(OFFLOAD_ENV).is_ok_and(|v| switched_off(&v));
        let socket_buffer_bytes =
            std::env::var(SOCKET_BUFFER_ENV).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_SOCKET_BUFFER);
        let tun_queue_len = std::env::var(TUN_QUEUE_LEN_ENV).ok().and_then(|v| v.trim().parse().ok());
        let helper_threads = !std::env::var(HELPER_THREADS_ENV).is_ok_and(|v| switched_off(&v));
        DeviceOptions {
            ifname: ifname.to_string(),
            uapi: true,
            offload,
            socket_buffer_bytes,
            tun_queue_len,
            helper_threads,
        }
    }
}

/// Which offloads a running device uses (what the kernel granted at start; GSO may be turned off later
/// by a send the kernel refuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadState {
    /// The TUN carries a `virtio_net_hdr` (super-packets possible).
    pub vnet_hdr: bool,
    /// The TUN hands over TCP super-packets (TSO4/TSO6).
    pub tso: bool,
    /// The TUN hands over UDP super-packets (USO4/USO6), and decrypted UDP datagrams of one flow are
    /// written to it as such.
    pub uso: bool,
    /// The IPv4 UDP socket sends with `UDP_SEGMENT`.
    pub udp_gso: bool,
    /// The IPv4 UDP socket receives with `UDP_GRO`.
    pub udp_gro: bool,
}

/// A device's [`Device::readings`]: its state, counters, offloads and stop reason at one moment.
#[derive(Debug, Clone)]
pub struct DeviceReadings {
    /// As [`Device::state`].
    pub state: DeviceState,
    /// As [`Device::counters`].
    pub counters: CounterValues,
    /// As [`Device::offloads`].
    pub offloads: OffloadState,
    /// As [`Device::stop_reason`].
    pub stop_reason: Option<StopReason>,
}

struct Identity {
    secret: x25519::StaticSecret,
    public: x25519::PublicKey,
    key: PrivateKey,
    /// The device-wide limiter: counts handshakes, answers with cookies under load.
    limiter: Arc<RateLimiter>,
    /// Given to every Tunn: checks mac1 again, never limits (the device already did).
    mac_only: Arc<RateLimiter>,
}

struct PeerInner {
    /// The session state (boxed: an idle peer keeps only the pointer).
    tunn: Option<Box<Tunn>>,
    /// Set by configuration changes: the identity to create `tunn` with on first use, so that a peer
    /// that never talks costs neither a Tunn's memory nor its Diffie-Hellman computations.
    pending: Option<Arc<Identity>>,
    endpoint: Option<SocketAddr>,
    preshared_key: Option<[u8; 32]>,
    keepalive: u16,
    last_handshake: Option<SystemTime>,
    /// Listed in the snapshot's [`timers::TimedPeers`] (the timer thread runs this peer's timers).
    timed: bool,
}

struct Peer {
    public: [u8; 32],
    /// The upper 24 bits of our session indices for this peer (boringtun's `index << 8`).
    index: u32,
    inner: Mutex<PeerInner>,
    rx_bytes: AtomicU64,
    tx_bytes: AtomicU64,
}

impl Peer {
    /// A peer known by `public` and our session index `index`: no session, endpoint or settings yet.
    fn new(public: [u8; 32], index: u32) -> Peer {
        let inner = PeerInner {
            tunn: None,
            pending: None,
            endpoint: None,
            preshared_key: None,
            keepalive: 0,
            last_handshake: None,
            timed: false,
        };
        Peer { public, index, inner: Mutex::new(inner), rx_bytes: AtomicU64::new(0), tx_bytes: AtomicU64::new(0) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PeerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session state, created now if a configuration change left it pending (None for our own key,
    /// a low-order key, or no private key). In use, its timers run: the peer is listed in `timed`
    /// (again, after its timers went quiet on an expired connection).
    fn session<'a>(self: &Arc<Self>, inner: &'a mut PeerInner, timed: &timers::TimedPeers) -> Option<&'a mut Tunn> {
        if let Some(identity) = inner.pending.take() {
            inner.tunn = new_tunn(&identity, self, inner.preshared_key, inner.keepalive).map(Box::new);
        }
        if inner.tunn.is_some() && !inner.timed {
            inner.timed = true;
            timed.add(self);
        }
        inner.tunn.as_deref_mut()
    }
}

impl PeerInner {
    /// Drops the session state; with an identity, a new one is made on first use.
    fn reset(&mut self, identity: Option<&Arc<Identity>>) {
        self.tunn = None;
        self.pending = identity.cloned();
    }
}

struct Sockets {
    port: u16,
    fwmark: u32,
    v4: Option<Arc<sys::Udp>>,
    v6: Option<Arc<sys::Udp>>,
    /// Incremented on every rebind; a reader whose socket is not current exits.
    generation: u64,
}

impl Sockets {
    fn send(&self, buf: &[u8], to: SocketAddr) -> bool {
        let socket = if to.is_ipv4() { &self.v4 } else { &self.v6 };
        match socket {
            Some(s) => s.send_to(buf, to).is_ok(),
            None => false,
        }
    }

    /// Sends datagrams of `segment` bytes laid end to end (the last may be shorter) to one endpoint.
    fn send_segments(&self, buf: &[u8], segment: usize, to: SocketAddr) -> bool {
        let socket = if to.is_ipv4() { &self.v4 } else { &self.v6 };
        match socket {
            Some(s) => s.send_segments(buf, segment, to),
            None => false,
        }
    }
}

/// The immutable configuration the packet path reads; replaced whole by every change.
#[derive(Clone)]
struct Snapshot {
    identity: Option<Arc<Identity>>,
    sockets: Arc<Sockets>,
    /// Peers in creation order.
    order: Vec<u32>,
    by_index: HashMap<u32, Arc<Peer>>,
    by_key: HashMap<[u8; 32], u32>,
    table: RouteTable<u32>,
    /// Each peer's AllowedIPs in insertion order (entries the table no longer maps to the peer are
    /// dropped at the end of the change that moved them).
    allowed: HashMap<u32, Vec<IpNet>>,
    /// The peers whose timers run (shared by every snapshot of the device).
    timed: Arc<timers::TimedPeers>,
}

struct Shared {
    ifname: String,
    tun: sys::Tun,
    /// How UDP sockets are made (also on a rebind); `fwmark` is the snapshot's.
    udp_options: sys::UdpOptions,
    /// Coalescing decrypted TCP segments into super-packets for the TUN (off for good after the kernel
    /// refuses one).
    coalesce: AtomicBool,
    /// Coalescing decrypted UDP datagrams into USO super-packets for the TUN: only where it took USO,
    /// and off for good after the kernel refuses one (TCP coalescing goes on).
    coalesce_udp: AtomicBool,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serialises configuration changes (never taken by the packet path).
    config_lock: Mutex<()>,
    stop: AtomicBool,
    stop_reason: Mutex<Option<StopReason>>,
    counters: Counters,
    socket: Mutex<Option<uapi_server::SocketFile>>,
    /// Keeps the TUN's packets in the order they were read when a UDP reader answers (see [`Answer`]):
    /// the TUN reader holds it from a wake-up's first read until that wake-up's batch is sent or
    /// handed to its helper; a UDP reader only tries it.
    tun_turn: Mutex<()>,
    /// The TUN reader's send helper's batch counts: a UDP reader answers only when every batch handed
    /// to it is sent, so its packet cannot overtake them.
    tun_sends: Arc<PipeCounts>,
    /// Readers hand their system calls to helper threads ([`DeviceOptions::helper_threads`]).
    helper_threads: bool,
}

impl Shared {
    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn request_stop(&self, reason: StopReason) {
        let mut r = self.stop_reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A running userspace WireGuard interface. Dropping it stops it.
pub struct Device {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn io_err(op: &'static str, what: &str, err: &io::Error) -> Error {
    IoError::new(op, std::path::Path::new(what), err).into()
}

/// Refuses what Linux would not take as an interface name (1-15 bytes, no '/', ':' or whitespace),
/// whether or not the device serves a UAPI socket.
fn check_ifname(ifname: &str) -> Result<(), Error> {
    crate::uapi::socket_path(ifname).map(|_| ()).map_err(|_| {
        IoError::invalid(
            "create interface",
            std::path::Path::new(ifname),
            "not an interface name (1-15 characters, no '/', ':' or spaces)",
        )
        .into()
    })
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).expect("the operating system's random number generator failed");
    u32::from_le_bytes(b)
}

fn bind_sockets(port: u16, fwmark: u32, generation: u64, options: &sys::UdpOptions) -> io::Result<Sockets> {
    let mut last_err = None;
    let options = sys::UdpOptions { fwmark, ..*options };
    for _ in 0..10 {
        let v4 = sys::Udp::bind(false, port, &options)?;
        let bound = v4.port()?;
        match sys::Udp::bind(true, bound, &options) {
            Ok(v6) => {
                return Ok(Sockets { port: bound, fwmark, v4: Some(Arc::new(v4)), v6: Some(Arc::new(v6)), generation })
            }
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                return Ok(Sockets { port: bound, fwmark, v4: Some(Arc::new(v4)), v6: None, generation })
            }
            Err(e) if port == 0 && e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// True when the Diffie-Hellman of our key with `public` is all zeros: a low-order point, with which
/// no handshake may happen.
fn is_low_order(secret: &x25519::StaticSecret, public: &[u8; 32]) -> bool {
    let shared = secret.diffie_hellman(&x25519::PublicKey::from(*public));
    shared.as_bytes().iter().all(|b| *b == 0)
}

fn new_tunn(identity: &Identity, peer: &Peer, psk: Option<[u8; 32]>, keepalive: u16) -> Option<Tunn> {
    if peer.public == *identity.public.as_bytes() || is_low_order(&identity.secret, &peer.public) {
        return None;
    }
    Some(Tunn::new(
        identity.secret.clone(),
        x25519::PublicKey::from(peer.public),
        psk,
        if keepalive == 0 { None } else { Some(keepalive) },
        peer.index,
        Some(identity.mac_only.clone()),
    ))
}

impl Device {
    /// Creates the TUN interface, binds UDP sockets on a random port, serves the UAPI socket (when
    /// `options.uapi`), and starts the threads. The device has no key and no peers until configured.
    /// An invalid interface name is an `io_other` error before anything is created.
    pub fn start(options: &DeviceOptions) -> Result<Device, Error> {
        check_ifname(&options.ifname)?;
        let path = if options.uapi { Some(crate::uapi::socket_path(&options.ifname)?) } else { None };
        let tun = sys::Tun::create(&options.ifname, options.offload)
            .map_err(|e| io_err("create interface", &options.ifname, &e))?;
        if let Some(len) = options.tun_queue_len {
            sys::set_tx_queue_len(&options.ifname, len).map_err(|e| io_err("set queue length", &options.ifname, &e))?;
        }
        let udp_options =
            sys::UdpOptions { fwmark: 0, offload: options.offload, buffer_bytes: options.socket_buffer_bytes };
        let sockets = bind_sockets(0, 0, 1, &udp_options).map_err(|e| io_err("bind", &options.ifname, &e))?;
        let snapshot = Snapshot {
            identity: None,
            sockets: Arc::new(sockets),
            order: Vec::new(),
            by_index: HashMap::new(),
            by_key: HashMap::new(),
            table: RouteTable::new(),
            allowed: HashMap::new(),
            timed: Arc::default(),
        };
        let shared = Arc::new(Shared {
            ifname: options.ifname.clone(),
            coalesce: AtomicBool::new(tun.vnet_hdr()),
            coalesce_udp: AtomicBool::new(tun.vnet_hdr() && tun.offloads() & sys::OFFLOAD_USO != 0),
            tun,
            udp_options,
            snapshot: RwLock::new(Arc::new(snapshot)),
            config_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
            stop_reason: Mutex::new(None),
            counters: Counters::default(),
            socket: Mutex::new(None),
            tun_turn: Mutex::new(()),
            tun_sends: Arc::default(),
            helper_threads: options.helper_threads,
        });
        let device = Device { shared: shared.clone(), threads: Mutex::new(Vec::new()) };
        let listener = match &path {
            Some(p) => Some(uapi_server::bind(p).map_err(|e| IoError::new("listen", p, &e))?),
            None => None,
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| -> Result<JoinHandle<()>, Error> {
            std::thread::Builder::new().name(name.to_string()).spawn(f).map_err(|e| io_err("spawn", name, &e))
        };
        let mut threads = Vec::new();
        {
            let s = shared.clone();
            threads.push(spawn("wm-tun", Box::new(move || tun_loop(&s)))?);
            let s = shared.clone();
            threads.push(spawn("wm-timers", Box::new(move || timer_loop(&s)))?);
        }
        let sockets = shared.snapshot().sockets.clone();
        threads.extend(spawn_udp_readers(&shared, &sockets)?);
        if let Some((listener, file)) = listener {
            *shared.socket.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
            let s = shared.clone();
            threads.push(spawn("wm-uapi", Box::new(move || uapi_server::serve(&s, listener)))?);
        }
        *device.threads.lock().unwrap_or_else(|e| e.into_inner()) = threads;
        Ok(device)
    }

    /// Starts a device for one node of a [`crate::Plan`]: its private key (which must be in the plan,
    /// not on the node), listen port, fwmark, and every peer with its preshared key, endpoint (DNS names
    /// resolved once, now: see [`node_update`]), keepalive and AllowedIPs. Addresses and routes of the
    /// interface are not set: that stays with `ip`/wg-quick. The plan is checked (and names resolved)
    /// before anything is created.
    pub fn start_node(plan: &crate::Plan, node: &str, options: &DeviceOptions) -> Result<Device, Error> {
        check_ifname(&options.ifname)?;
        let update = node_update(plan, node)?;
        let device = Device::start(options)?;
        device.apply(&update)?;
        Ok(device)
    }

    /// The interface name.
    pub fn ifname(&self) -> &str {
        &self.shared.ifname
    }

    /// The configuration and statistics, as `wg show` reads them.
    pub fn state(&self) -> DeviceState {
        state_of(&self.shared)
    }

    /// The drop and cookie counters.
    pub fn counters(&self) -> CounterValues {
        counters_of(&self.shared)
    }

    /// The offloads in use.
    pub fn offloads(&self) -> OffloadState {
        let tun = &self.shared.tun;
        let snap = self.shared.snapshot();
        let v4 = snap.sockets.v4.as_ref();
        OffloadState {
            vnet_hdr: tun.vnet_hdr(),
            tso: tun.offloads() & sys::OFFLOAD_TSO != 0,
            uso: tun.offloads() & sys::OFFLOAD_USO != 0,
            udp_gso: v4.is_some_and(|s| s.gso()),
            udp_gro: v4.is_some_and(|s| s.gro()),
        }
    }

    /// Everything a handle can read, taken at once: what language bindings keep to answer with after
    /// `stop()`, once they have dropped the device (which deletes the interface).
    pub fn readings(&self) -> DeviceReadings {
        DeviceReadings {
            state: self.state(),
            counters: self.counters(),
            offloads: self.offloads(),
            stop_reason: self.stop_reason(),
        }
    }

    /// Applies a change (the UAPI `set` semantics). A failure (the listen port in use) changes nothing.
    pub fn apply(&self, update: &DeviceUpdate) -> Result<(), Error> {
        apply(&self.shared, update).map_err(Error::from)
    }

    /// True once the device is stopping (requested, or the interface or socket went away).
    pub fn is_stopped(&self) -> bool {
        self.shared.stopping()
    }

    /// Why the device stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.shared.stop_reason.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the threads (waiting, at most 2 s, for those it does not own) and removes the UAPI socket.
    /// Idempotent; bounded (every thread wakes up within a poll interval). The interface itself goes
    /// when the `Device` is dropped (closing the TUN is what deletes it); `state()` and `counters()`
    /// still answer until then.
    pub fn stop(&self) {
        self.shared.request_stop(StopReason::Requested);
        let threads: Vec<JoinHandle<()>> = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        if let Some(file) = self.shared.socket.lock().unwrap_or_else(|e| e.into_inner()).take() {
            file.remove();
        }
        // Threads this handle does not join (readers of sockets a rebind replaced, UAPI connections) hold
        // the device too and end within a poll interval: wait for them (bounded), so that dropping the
        // handle right after closes the TUN, deleting the interface.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Arc::strong_count(&self.shared) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop();
    }
}

fn counters_of(shared: &Shared) -> CounterValues {
    let c = &shared.counters;
    CounterValues {
        ingress_dropped: c.ingress_dropped.load(Ordering::Relaxed),
        no_route_dropped: c.no_route_dropped.load(Ordering::Relaxed),
        no_endpoint_dropped: c.no_endpoint_dropped.load(Ordering::Relaxed),
        invalid_dropped: c.invalid_dropped.load(Ordering::Relaxed),
        cookies_sent: c.cookies_sent.load(Ordering::Relaxed),
    }
}

fn state_of(shared: &Shared) -> DeviceState {
    let snap = shared.snapshot();
    let mut state = DeviceState {
        private_key: snap.identity.as_ref().map(|i| i.key.clone()),
        own_public_key: None,
        listen_port: snap.sockets.port,
        fwmark: snap.sockets.fwmark,
        peers: Vec::with_capacity(snap.order.len()),
    };
    let now = SystemTime::now();
    for index in &snap.order {
        let Some(peer) = snap.by_index.get(index) else { continue };
        let mut inner = peer.lock();
        if let Some(since) = inner.tunn.as_ref().and_then(|t| t.time_since_last_handshake()) {
            inner.last_handshake = now.checked_sub(since);
        }
        let mut ps = PeerState::new(PublicKey::from_bytes(peer.public));
        ps.preshared_key = inner.preshared_key.map(PresharedKey::from_bytes);
        ps.endpoint = inner.endpoint;
        ps.last_handshake = inner.last_handshake.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
        ps.persistent_keepalive_interval = inner.keepalive;
        drop(inner);
        ps.rx_bytes = peer.rx_bytes.load(Ordering::Relaxed);
        ps.tx_bytes = peer.tx_bytes.load(Ordering::Relaxed);
        ps.allowed_ips = snap.allowed.get(index).cloned().unwrap_or_default();
        state.peers.push(ps);
    }
    state
}

/// Applies a UAPI `set`. Serialised by `config_lock`; builds a new snapshot and swaps it in.
fn apply(shared: &Arc<Shared>, update: &DeviceUpdate) -> Result<(), UapiError> {
    let _guard = shared.config_lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut next: Snapshot = (*shared.snapshot()).clone();
    let mut new_readers = None;

    // Sockets first: the only step that can fail, so a failure changes nothing.
    let want_port = update.listen_port.unwrap_or(next.sockets.port);
    let want_mark = update.fwmark.unwrap_or(next.sockets.fwmark);
    if update.listen_port.is_some_and(|p| p != next.sockets.port) {
        let generation = next.sockets.generation + 1;
        let sockets =
            bind_sockets(want_port, want_mark, generation, &shared.udp_options).map_err(|e| UapiError::Errno {
                errno: if e.kind() == io::ErrorKind::AddrInUse {
                    errno::EADDRINUSE
                } else {
                    e.raw_os_error().unwrap_or(errno::EIO)
                },
            })?;
        let sockets = Arc::new(sockets);
        new_readers = Some(sockets.clone());
        next.sockets = sockets;
    } else if want_mark != next.sockets.fwmark {
        for s in [&next.sockets.v4, &next.sockets.v6].into_iter().flatten() {
            s.set_mark(want_mark).map_err(|e| UapiError::Errno { errno: e.raw_os_error().unwrap_or(errno::EIO) })?;
        }
        let old = &next.sockets;
        next.sockets = Arc::new(Sockets {
            port: old.port,
            fwmark: want_mark,
            v4: old.v4.clone(),
            v6: old.v6.clone(),
            generation: old.generation,
        });
    }

    if let Some(key) = &update.private_key {
        match key {
            None => {
                next.identity = None;
                for peer in next.by_index.values() {
                    peer.lock().reset(None);
                }
            }
            Some(key) => {
                let secret = x25519::StaticSecret::from(*key.as_bytes());
                let public = x25519::PublicKey::from(&secret);
                let identity = Arc::new(Identity {
                    secret,
                    public,
                    key: key.clone(),
                    limiter: Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT)),
                    mac_only: Arc::new(RateLimiter::new(&public, u64::MAX)),
                });
                // A peer with our own public key is removed (wireguard-go and the kernel do the same).
                if let Some(index) = next.by_key.get(public.as_bytes()).copied() {
                    remove_peer(&mut next, index);
                }
                for peer in next.by_index.values() {
                    let mut inner = peer.lock();
                    inner.reset(Some(&identity));
                }
                next.identity = Some(identity);
            }
        }
    }

    if update.replace_peers {
        for index in next.order.clone() {
            remove_peer(&mut next, index);
        }
    }

    let mut dirty: HashSet<u32> = HashSet::new();
    let mut keepalive_on: Vec<Arc<Peer>> = Vec::new();
    for pu in &update.peers {
        let key = *pu.public_key.as_bytes();
        if next.identity.as_ref().is_some_and(|i| i.public.as_bytes() == &key) {
            continue; // our own key: ignored, like wireguard-go
        }
        let existing = next.by_key.get(&key).copied();
        if pu.remove {
            if let Some(index) = existing {
                remove_peer(&mut next, index);
            }
            continue;
        }
        let index = match existing {
            Some(i) => i,
            None if pu.update_only => continue,
            None => {
                let mut index = random_u32() >> 8;
                while next.by_index.contains_key(&index) {
                    index = random_u32() >> 8;
                }
                let peer = Arc::new(Peer::new(key, index));
                if let Some(identity) = &next.identity {
                    peer.lock().reset(Some(identity));
                }
                next.by_index.insert(index, peer);
                next.by_key.insert(key, index);
                next.order.push(index);
                next.allowed.insert(index, Vec::new());
                index
            }
        };
        let peer = next.by_index[&index].clone();
        {
            let mut inner = peer.lock();
            let mut rebuild = false;
            if let Some(psk) = &pu.preshared_key {
                let bytes = psk.as_ref().map(|p| *p.as_bytes());
                if bytes != inner.preshared_key {
                    inner.preshared_key = bytes;
                    rebuild = true;
                }
            }
            if let Some(ep) = pu.endpoint {
                inner.endpoint = Some(ep);
            }
            if let Some(ka) = pu.persistent_keepalive_interval {
                if ka != inner.keepalive {
                    if inner.keepalive == 0 && ka != 0 {
                        keepalive_on.push(peer.clone());
                    }
                    inner.keepalive = ka;
                    rebuild = true;
                }
            }
            if rebuild {
                if let Some(identity) = &next.identity {
                    // A new Tunn has no session: when the old one had one, handshake again at once (through
                    // send_keepalive) instead of leaving the tunnel cut until the peer's timers notice.
                    let had_session = inner.tunn.as_ref().is_some_and(|t| t.time_since_last_handshake().is_some());
                    inner.reset(Some(identity));
                    if had_session && inner.endpoint.is_some() && !keepalive_on.iter().any(|p| Arc::ptr_eq(p, &peer)) {
                        keepalive_on.push(peer.clone());
                    }
                }
            }
        }
        if pu.replace_allowed_ips {
            let old = next.allowed.insert(index, Vec::new()).unwrap_or_default();
            for prefix in old {
                if next.table.get(prefix) == Some(index) {
                    next.table.remove(prefix);
                }
            }
        }
        for change in &pu.allowed_ips {
            let prefix = change.prefix.trunc();
            if change.remove {
                if next.table.get(prefix) == Some(index) {
                    next.table.remove(prefix);
                    dirty.insert(index);
                }
                continue;
            }
            match next.table.insert(prefix, index) {
                Some(owner) if owner == index => {}
                Some(owner) => {
                    dirty.insert(owner);
                    next.allowed.entry(index).or_default().push(prefix);
                }
                None => next.allowed.entry(index).or_default().push(prefix),
            }
        }
    }
    // Drop list entries whose prefix moved away or was removed (and duplicates that re-adding made).
    for index in dirty {
        if let Some(list) = next.allowed.get_mut(&index) {
            let mut seen = HashSet::with_capacity(list.len());
            let table = &next.table;
            list.retain(|p| table.get(*p) == Some(index) && seen.insert(*p));
        }
    }

    let next = Arc::new(next);
    *shared.snapshot.write().unwrap_or_else(|e| e.into_inner()) = next.clone();
    if let Some(sockets) = new_readers {
        // Readers of the previous sockets notice the new generation and exit.
        if let Ok(handles) = spawn_udp_readers(shared, &sockets) {
            drop(handles); // detached: they exit on stop or on the next rebind
        }
    }
    // A keepalive turned on starts talking at once (a handshake first when there is no session).
    let mut buf = vec![0u8; 256];
    for peer in keepalive_on {
        send_keepalive(&next, &peer, &mut buf);
    }
    Ok(())
}

fn remove_peer(next: &mut Snapshot, index: u32) {
    if let Some(peer) = next.by_index.remove(&index) {
        next.by_key.remove(&peer.public);
        next.order.retain(|i| *i != index);
        for prefix in next.allowed.remove(&index).unwrap_or_default() {
            if next.table.get(prefix) == Some(index) {
                next.table.remove(prefix);
            }
        }
        peer.lock().reset(None);
    }
}

fn send_keepalive(snap: &Snapshot, peer: &Arc<Peer>, buf: &mut [u8]) {
    let mut inner = peer.lock();
    let endpoint = inner.endpoint;
    let Some(tunn) = peer.session(&mut inner, &snap.timed) else { return };
    if let TunnResult::WriteToNetwork(packet) = tunn.encapsulate(&[], buf) {
        if let Some(ep) = endpoint {
            if snap.sockets.send(packet, ep) {
                peer.tx_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

fn spawn_udp_readers(shared: &Arc<Shared>, sockets: &Arc<Sockets>) -> Result<Vec<JoinHandle<()>>, Error> {
    let mut handles = Vec::new();
    for socket in [&sockets.v4, &sockets.v6].into_iter().flatten() {
        let s = shared.clone();
        let socket = socket.clone();
        let generation = sockets.generation;
        let name = if socket.is_v6() { "wm-udp6" } else { "wm-udp4" };
        handles.push(
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || udp_loop(&s, &socket, generation))
                .map_err(|e| io_err("spawn", name, &e))?,
        );
    }
    Ok(handles)
}

/// Encrypted datagrams of one batch laid end to end in one buffer, sent when the batch ends in runs
/// that share an endpoint and a size (one `UDP_SEGMENT` send per run where GSO works).
struct TxBatch {
    buf: Vec<u8>,
    /// (offset, length, endpoint) of each datagram, in order.
    items: Vec<(usize, usize, SocketAddr)>,
    used: usize,
}

impl TxBatch {
    fn new() -> TxBatch {
        TxBatch { buf: vec![0; BATCH_BYTES], items: Vec::with_capacity(1024), used: 0 }
    }

    fn room(&self) -> usize {
        self.buf.len() - self.used
    }

    fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.used..]
    }

    /// Takes the `len` bytes written at the start of [`TxBatch::space`] as a datagram for `to`.
    fn push(&mut self, len: usize, to: SocketAddr) {
        self.items.push((self.used, len, to));
        self.used += len;
    }

    fn flush(&mut self, sockets: &Sockets) {
        let mut i = 0;
        while i < self.items.len() {
            let (start, size, to) = self.items[i];
            let mut end = start + size;
            let mut j = i + 1;
            while j < self.items.len() && j - i < sys::GSO_MAX_SEGMENTS {
                let (off, len, ep) = self.items[j];
                if ep != to || len > size || off != end || end + len - start > sys::GSO_MAX_BYTES {
                    break;
                }
                end += len;
                j += 1;
                if len < size {
                    break; // a shorter datagram ends a run
                }
            }
            sockets.send_segments(&self.buf[start..end], size, to);
            i = j;
        }
        self.items.clear();
        self.used = 0;
    }
}

/// Decrypted packets of one batch laid end to end, written to the TUN when the batch ends: in-order
/// TCP segments of one flow as one super-packet (with a `virtio_net_hdr`), everything else one by one.
struct RxBatch {
    buf: Vec<u8>,
    /// (offset, length) of each packet, in order.
    items: Vec<(usize, usize)>,
    used: usize,
}

/// Most packets coalesced into one TUN write (bounded by `writev`'s vector in `sys`).
const MAX_COALESCE: usize = 64;

impl RxBatch {
    fn new() -> RxBatch {
        RxBatch { buf: vec![0; BATCH_BYTES], items: Vec::with_capacity(1024), used: 0 }
    }

    fn room(&self) -> usize {
        self.buf.len() - self.used
    }

    fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.used..]
    }

    /// Takes the `len` bytes written at the start of [`RxBatch::space`] as a packet for the TUN.
    fn push(&mut self, len: usize) {
        self.items.push((self.used, len));
        self.used += len;
    }

    fn flush(&mut self, shared: &Shared) {
        let tun = &shared.tun;
        if !tun.vnet_hdr() {
            for &(off, len) in &self.items {
                let _ = tun.write(&self.buf[off..off + len]);
            }
            self.items.clear();
            self.used = 0;
            return;
        }
        let coalesce = shared.coalesce.load(Ordering::Relaxed);
        let coalesce_udp = coalesce && shared.coalesce_udp.load(Ordering::Relaxed);
        let classify = |packet: &[u8]| {
            if !coalesce {
                return None;
            }
            offload::tcp_segment(packet).or_else(|| if coalesce_udp { offload::udp_datagram(packet) } else { None })
        };
        let mut i = 0;
        while i < self.items.len() {
            let (off, len) = self.items[i];
            let head = classify(&self.buf[off..off + len]);
            let mut j = i + 1;
            let mut total = len;
            let mut last_psh = false;
            if let Some(head) = &head {
                let mut last = *head;
                while j < self.items.len() && j - i < MAX_COALESCE {
                    let (o, l) = self.items[j];
                    let next_packet = &self.buf[o..o + l];
                    let Some(next) = classify(next_packet) else { break };
                    if !offload::continues(head, &self.buf[off..off + len], &last, total, &next, next_packet) {
                        break;
                    }
                    total += usize::from(next.payload());
                    last = next;
                    j += 1;
                }
                last_psh = last.psh();
            }
            let mut vnet = [0u8; offload::VNET_HDR_LEN];
            match &head {
                Some(h) => {
                    offload::finish_coalesced(h, &mut self.buf[off..off + len], total, j - i, last_psh, &mut vnet)
                }
                None => {
                    offload::VnetHdr { flags: offload::F_DATA_VALID, ..offload::VnetHdr::default() }.write(&mut vnet)
                }
            }
            let mut parts: [&[u8]; MAX_COALESCE + 1] = [&[]; MAX_COALESCE + 1];
            parts[0] = &vnet;
            parts[1] = &self.buf[off..off + len];
            let hlen = head.as_ref().map_or(0, |h| h.header_len());
            for (k, &(o, l)) in self.items[i + 1..j].iter().enumerate() {
                parts[k + 2] = &self.buf[o + hlen..o + l];
            }
            if tun.write_parts(&parts[..j - i + 1]).is_err() && j - i > 1 {
                // The kernel refused a super-packet: write one packet at a time from now on (this run is
                // lost; TCP resends it). A refused UDP one turns off only UDP coalescing.
                match &head {
                    Some(h) if h.is_udp() => shared.coalesce_udp.store(false, Ordering::Relaxed),
                    _ => shared.coalesce.store(false, Ordering::Relaxed),
                }
            }
            i = j;
        }
        self.items.clear();
        self.used = 0;
    }
}

/// Batches handed from a reader to a helper thread that performs their system calls (UDP sends, TUN
/// writes) while the reader encrypts or decrypts the next one; batches circulate between the two
/// (`PIPE_DEPTH` of them: nothing is allocated after start), one helper keeps their order. Without a
/// helper ([`DeviceOptions::helper_threads`] off, or the bench), a flush runs inline.
struct Pipe<B, C> {
    batch: B,
    helper: Option<Helper<B, C>>,
    /// Batches handed to the helper and finished by it: when equal, the helper is idle and a small
    /// batch runs inline, sparing a latency-bound packet (a ping, a lone ACK) the thread hand-over
    /// without reordering anything.
    counts: Arc<PipeCounts>,
}

/// Batches a reader handed to its helper, and (counted by the helper) those it finished.
#[derive(Debug, Default)]
struct PipeCounts {
    handed: AtomicU64,
    finished: AtomicU64,
}

impl PipeCounts {
    /// True when the helper has finished every batch handed to it (all its system calls are made).
    fn idle(&self) -> bool {
        self.finished.load(Ordering::Acquire) == self.handed.load(Ordering::Acquire)
    }
}

/// Batches smaller than this run inline when the helper is idle.
const INLINE_BYTES: usize = 8 * 1024;

/// The reader's ends of a helper's channels: full batches (with what their flush needs) out, empty
/// ones back.
type Helper<B, C> = (mpsc::SyncSender<(B, C)>, mpsc::Receiver<B>);

/// Batches in flight between a reader and its helper, the one being filled included.
const PIPE_DEPTH: usize = 3;

impl<B: Send, C: Send> Pipe<B, C> {
    /// A pipe whose helper, a thread of `scope` named `name`, runs `run` on each batch, counting in
    /// `counts`; with `helper` false (or when the thread cannot start), one without a helper.
    fn spawn<'scope, 'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        helper: bool,
        name: &str,
        counts: Arc<PipeCounts>,
        make: impl Fn() -> B,
        run: impl Fn(&mut B, C) + Send + 'scope,
    ) -> Pipe<B, C>
    where
        B: 'scope,
        C: 'scope,
    {
        if !helper {
            return Pipe { batch: make(), helper: None, counts };
        }
        let (full_tx, full_rx) = mpsc::sync_channel::<(B, C)>(PIPE_DEPTH);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<B>(PIPE_DEPTH);
        for _ in 1..PIPE_DEPTH {
            let _ = empty_tx.send(make());
        }
        let done = counts.clone();
        let helper = std::thread::Builder::new().name(name.into()).spawn_scoped(scope, move || {
            while let Ok((mut batch, context)) = full_rx.recv() {
                run(&mut batch, context);
                done.finished.fetch_add(1, Ordering::Release);
                if empty_tx.send(batch).is_err() {
                    return;
                }
            }
        });
        Pipe { batch: make(), helper: helper.ok().map(|_| (full_tx, empty_rx)), counts }
    }

    /// A pipe without a helper: every flush runs inline.
    fn inline(batch: B) -> Pipe<B, C> {
        Pipe { batch, helper: None, counts: Arc::default() }
    }

    /// True when the helper has finished every batch handed to it.
    fn helper_idle(&self) -> bool {
        self.counts.idle()
    }

    /// Hands the current batch to the helper (waiting for an empty one to fill next), or runs `run`
    /// inline when there is no helper.
    fn hand_off(&mut self, bytes: usize, context: C, run: impl FnOnce(&mut B, C)) {
        if bytes < INLINE_BYTES && self.helper_idle() {
            run(&mut self.batch, context);
            return;
        }
        if let Some((full, empty)) = &self.helper {
            if let Ok(next) = empty.recv() {
                let batch = std::mem::replace(&mut self.batch, next);
                // Counted before the send, so the batch is never both in the helper's hands and uncounted.
                self.counts.handed.fetch_add(1, Ordering::Release);
                if full.send((batch, context)).is_ok() {
                    return;
                }
                self.counts.handed.fetch_sub(1, Ordering::Release);
            }
            self.helper = None;
            return;
        }
        run(&mut self.batch, context);
    }
}

type TxPipe = Pipe<TxBatch, Arc<Sockets>>;

impl TxPipe {
    fn flush(&mut self, sockets: &Arc<Sockets>) {
        if !self.batch.items.is_empty() {
            let bytes = self.batch.used;
            self.hand_off(bytes, sockets.clone(), |b, s| b.flush(&s));
        }
    }
}

/// Reads the TUN: split super-packets, route by destination, encrypt into a batch, send the batch.
fn tun_loop(shared: &Shared) {
    std::thread::scope(|scope| {
        let mut tx = TxPipe::spawn(
            scope,
            shared.helper_threads,
            "wm-tun-send",
            shared.tun_sends.clone(),
            TxBatch::new,
            |b: &mut TxBatch, s: Arc<Sockets>| b.flush(&s),
        );
        tun_reader(shared, &mut tx);
        // Dropping the pipe closes its channel: the helper sends what it holds and exits.
    });
}

/// When a reader sends what it has before reading on. A reader drains its descriptor into a batch and
/// sends the batch when the descriptor runs dry, which costs one more (empty) read before the first
/// packet goes out. While traffic is sparse (the last wake-up brought one packet: a ping, a keepalive, a
/// request) that read is pure latency, so the first packet of a wake-up is sent before reading on, as
/// boringtun and wireguard-go do; under load (several packets per wake-up) batches stay whole.
#[derive(Default)]
struct Pace {
    /// Packets (or super-packets) read in this wake-up.
    reads: usize,
    /// Whether the previous wake-up brought more than one.
    busy: bool,
}

impl Pace {
    /// A wake-up begins.
    fn start(&mut self) {
        self.reads = 0;
    }

    /// One more packet read.
    fn read(&mut self) {
        self.reads += 1;
    }

    /// Whether to send the batch before the next read: right after the first packet of a quiet wake-up.
    fn send_now(&self) -> bool {
        self.reads == 1 && !self.busy
    }

    /// The wake-up is over.
    fn finish(&mut self) {
        self.busy = self.reads > 1;
    }
}

/// A TUN reader's buffer: one packet as read (with its `virtio_net_hdr`); a super-packet is split in
/// it, in place.
struct TunBuffers {
    packet: Vec<u8>,
}

impl TunBuffers {
    fn new() -> TunBuffers {
        TunBuffers { packet: vec![0u8; BUF_LEN + offload::VNET_HDR_LEN] }
    }

    /// Reads one packet from the TUN and encrypts it (its segments, for a super-packet) into `tx`.
    /// Ok(false) when none was waiting.
    fn read_and_encrypt(&mut self, shared: &Shared, snap: &Snapshot, tx: &mut TxPipe) -> io::Result<bool> {
        let Some(n) = shared.tun.read(&mut self.packet)? else { return Ok(false) };
        let (hdr, pkt) = if shared.tun.vnet_hdr() {
            let Some(hdr) = offload::VnetHdr::parse(&self.packet[..n]) else { return Ok(true) };
            (hdr, &mut self.packet[offload::VNET_HDR_LEN..n])
        } else {
            (offload::VnetHdr::default(), &mut self.packet[..n])
        };
        if hdr.gso_type != offload::GSO_NONE {
            if encrypt_segments(&shared.counters, snap, &hdr, pkt, tx).is_err() {
                shared.counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(true);
        }
        if hdr.flags & offload::F_NEEDS_CSUM != 0 && offload::finish_checksum(&hdr, pkt).is_err() {
            shared.counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(true);
        }
        encrypt(&shared.counters, snap, pkt, tx);
        Ok(true)
    }
}

fn tun_reader(shared: &Shared, tx: &mut TxPipe) {
    let mut buffers = TunBuffers::new();
    let mut pace = Pace::default();
    while !shared.stopping() {
        match sys::poll_readable(shared.tun.raw_fd()) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(_) => {
                shared.request_stop(StopReason::TunFailed);
                return;
            }
        }
        let snap = shared.snapshot();
        let turn = shared.tun_turn.lock().unwrap_or_else(|e| e.into_inner());
        pace.start();
        for _ in 0..BATCH {
            if tx.batch.room() < BATCH_RESERVE || pace.send_now() {
                tx.flush(&snap.sockets);
            }
            match buffers.read_and_encrypt(shared, &snap, tx) {
                Ok(true) => pace.read(),
                Ok(false) => break,
                Err(e) => {
                    let reason = if e.raw_os_error() == Some(libc::EBADFD) {
                        StopReason::InterfaceDeleted
                    } else {
                        StopReason::TunFailed
                    };
                    shared.request_stop(reason);
                    return;
                }
            }
        }
        tx.flush(&snap.sockets);
        drop(turn);
        pace.finish();
    }
}

/// A UDP reader's way to answer at once: right after it wrote a lone packet to the TUN, what the
/// kernel sent back through the TUN in that same write (an echo reply, a TCP ACK for a lone segment)
/// is already queued there, so the reader reads that one packet and sends it itself, sparing the
/// round trip the hand-over to the TUN reader (a wake-up on another core) costs. Only while the UDP
/// reader's traffic is quiet (see [`Pace`]) and the TUN reader is idle with everything it read sent
/// (see [`Answer::run`]), so packets keep the order they were read in. Buffers are made on first use.
#[derive(Default)]
struct Answer {
    state: Option<(TunBuffers, TxPipe)>,
}

impl Answer {
    /// Reads one packet from the TUN, if one is waiting, and sends it encrypted; only while the TUN
    /// reader is between wake-ups and everything it read is sent, so nothing is overtaken (reordered
    /// TCP segments look like loss to the sender, which retransmits and backs off).
    fn run(&mut self, shared: &Shared, snap: &Snapshot) {
        let Ok(_turn) = shared.tun_turn.try_lock() else { return };
        if !shared.tun_sends.idle() {
            return;
        }
        let (buffers, tx) = self.state.get_or_insert_with(|| (TunBuffers::new(), TxPipe::inline(TxBatch::new())));
        // A TUN failure is the TUN reader's to report.
        if let Ok(true) = buffers.read_and_encrypt(shared, snap, tx) {
            tx.flush(&snap.sockets);
        }
    }
}

/// The peer whose AllowedIPs hold `packet`'s destination; a packet with none is counted as dropped (one
/// without a readable destination is dropped silently, as boringtun does).
fn route<'s>(counters: &Counters, snap: &'s Snapshot, packet: &[u8]) -> Option<&'s Arc<Peer>> {
    let dst = Tunn::dst_address(packet)?;
    let peer = snap.table.lookup(dst).and_then(|i| snap.by_index.get(&i));
    if peer.is_none() {
        counters.no_route_dropped.fetch_add(1, Ordering::Relaxed);
    }
    peer
}

/// Encrypts one packet for its peer into the batch.
fn encrypt(counters: &Counters, snap: &Snapshot, packet: &[u8], tx: &mut TxPipe) {
    if let Some(peer) = route(counters, snap, packet) {
        let bytes = seal(counters, snap, peer, packet, tx).unwrap_or(0);
        peer.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Splits a super-packet in place and encrypts its segments, which share a destination, for the peer
/// the first one routes to. The peer's lock is taken for one segment at a time, so its UDP reader
/// decrypts (the ACKs of this very flow, say) between them instead of waiting for all, and no send
/// happens under it. A segment that finds no route or no session drops the rest (counted once).
fn encrypt_segments(
    counters: &Counters,
    snap: &Snapshot,
    hdr: &offload::VnetHdr,
    packet: &mut [u8],
    tx: &mut TxPipe,
) -> Result<(), offload::OffloadError> {
    let mut peer: Option<&Arc<Peer>> = None;
    let mut dropped = false;
    let mut bytes = 0u64;
    let split = offload::split_each(hdr, packet, MAX_SEGMENTS, |segment| {
        if dropped {
            return;
        }
        let to = match peer {
            Some(p) => p,
            None => match route(counters, snap, segment) {
                Some(p) => *peer.insert(p),
                None => {
                    dropped = true;
                    return;
                }
            },
        };
        match seal(counters, snap, to, segment, tx) {
            Some(n) => bytes += n,
            None => dropped = true,
        }
    });
    if let Some(p) = peer {
        p.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    split.map(|_| ())
}

/// Encrypts `packet` for `peer` into the batch (sending the batch first when it is nearly full) and
/// returns the bytes queued for the wire: 0 when boringtun queued the packet behind a handshake (and
/// gave nothing to send) or the peer has no endpoint (counted). None when the peer has no session
/// state to encrypt with (counted as no route).
fn seal(counters: &Counters, snap: &Snapshot, peer: &Arc<Peer>, packet: &[u8], tx: &mut TxPipe) -> Option<u64> {
    if tx.batch.room() < packet.len() + 64 {
        tx.flush(&snap.sockets);
    }
    let (len, endpoint) = {
        let mut inner = peer.lock();
        let endpoint = inner.endpoint;
        let Some(tunn) = peer.session(&mut inner, &snap.timed) else {
            counters.no_route_dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        match tunn.encapsulate(packet, tx.batch.space()) {
            TunnResult::WriteToNetwork(datagram) => (datagram.len(), endpoint),
            _ => return Some(0),
        }
    };
    match endpoint {
        Some(ep) => {
            tx.batch.push(len, ep);
            Some(len as u64)
        }
        None => {
            counters.no_endpoint_dropped.fetch_add(1, Ordering::Relaxed);
            Some(0)
        }
    }
}

/// Reads one UDP socket until stopped or replaced by a rebind.
fn udp_loop(shared: &Shared, socket: &sys::Udp, generation: u64) {
    std::thread::scope(|scope| {
        let name = if socket.is_v6() { "wm-udp6-tun" } else { "wm-udp4-tun" };
        let mut rx =
            RxPipe::spawn(scope, shared.helper_threads, name, Arc::default(), RxBatch::new, |b, ()| b.flush(shared));
        udp_reader(shared, socket, generation, &mut rx);
    });
}

type RxPipe = Pipe<RxBatch, ()>;

impl RxPipe {
    fn flush(&mut self, shared: &Shared) {
        if !self.batch.items.is_empty() {
            let bytes = self.batch.used;
            self.hand_off(bytes, (), |b, ()| b.flush(shared));
        }
    }
}

/// Messages one `recvmmsg` call may return (each up to 64 KiB: a datagram, or a GRO run).
const RECV_SLOTS: usize = 16;

fn udp_reader(shared: &Shared, socket: &sys::Udp, generation: u64, rx: &mut RxPipe) {
    let mut received = sys::RecvBatch::new(RECV_SLOTS, BUF_LEN);
    let mut pace = Pace::default();
    let mut answer = Answer::default();
    while !shared.stopping() {
        let snap = shared.snapshot();
        if snap.sockets.generation != generation {
            return;
        }
        match sys::poll_readable(socket.raw_fd()) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        pace.start();
        for _ in 0..BATCH {
            if pace.send_now() {
                rx.flush(shared);
                if rx.helper_idle() {
                    answer.run(shared, &snap);
                }
            }
            match socket.recv_many(&mut received) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    for (bytes, from, segment) in received.received() {
                        pace.read();
                        for datagram in bytes.chunks(segment.max(1)) {
                            if rx.batch.room() < datagram.len().max(BATCH_RESERVE) {
                                rx.flush(shared);
                            }
                            handle_datagram(&shared.counters, &snap, datagram, from, &mut rx.batch);
                        }
                    }
                }
            }
        }
        rx.flush(shared);
        pace.finish();
    }
}

fn handle_datagram(counters: &Counters, snap: &Snapshot, datagram: &[u8], from: SocketAddr, rx: &mut RxBatch) {
    let Some(identity) = &snap.identity else {
        counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let out = rx.space();
    // Device-wide: mac1, the handshake rate limit and cookie replies, always with the source address.
    let packet = match identity.limiter.verify_packet(Some(from.ip()), datagram, out) {
        Ok(packet) => packet,
        Err(TunnResult::WriteToNetwork(cookie)) => {
            counters.cookies_sent.fetch_add(1, Ordering::Relaxed);
            snap.sockets.send(cookie, from);
            return;
        }
        Err(_) => {
            counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let (index, is_handshake, authenticates) = match &packet {
        Packet::HandshakeInit(init) => match parse_handshake_anon(&identity.secret, &identity.public, init) {
            Ok(half) => match snap.by_key.get(&half.peer_static_public) {
                Some(i) => (*i, true, true),
                None => {
                    counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            Err(_) => {
                counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        },
        Packet::HandshakeResponse(p) => (p.receiver_idx >> 8, true, true),
        Packet::PacketCookieReply(p) => (p.receiver_idx >> 8, false, false),
        Packet::PacketData(p) => (p.receiver_idx >> 8, false, true),
    };
    let Some(peer) = snap.by_index.get(&index) else {
        counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut inner = peer.lock();
    let Some(tunn) = peer.session(&mut inner, &snap.timed) else {
        counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut accepted = true;
    let mut reply: Option<usize> = None;
    let mut decrypted: Option<(usize, IpAddr)> = None;
    match tunn.decapsulate(Some(from.ip()), datagram, out) {
        TunnResult::Done => {}
        TunnResult::Err(_) => accepted = false,
        TunnResult::WriteToNetwork(packet) => reply = Some(packet.len()),
        TunnResult::WriteToTunnelV4(packet, src) => decrypted = Some((packet.len(), IpAddr::V4(src))),
        TunnResult::WriteToTunnelV6(packet, src) => decrypted = Some((packet.len(), IpAddr::V6(src))),
    }
    if !accepted {
        counters.invalid_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if let Some((len, src)) = decrypted {
        // The ingress check: deliver only when the device-wide longest-prefix match of the source is
        // the peer the packet came from.
        if snap.table.lookup(src) == Some(index) {
            rx.push(len);
        } else {
            counters.ingress_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    if authenticates {
        // Roaming: only an authenticated packet moves the endpoint.
        inner.endpoint = Some(from);
        peer.rx_bytes.fetch_add(datagram.len() as u64, Ordering::Relaxed);
    }
    if is_handshake {
        if let Some(since) = inner.tunn.as_ref().and_then(|t| t.time_since_last_handshake()) {
            inner.last_handshake = SystemTime::now().checked_sub(since);
        }
    }
    if let Some(len) = reply {
        let out = rx.space();
        if snap.sockets.send(&out[..len], from) {
            peer.tx_bytes.fetch_add(len as u64, Ordering::Relaxed);
        }
        // Packets queued while the handshake was under way.
        let endpoint = inner.endpoint;
        while let Some(tunn) = inner.tunn.as_deref_mut() {
            match tunn.decapsulate(None, &[], out) {
                TunnResult::WriteToNetwork(packet) => {
                    if let Some(ep) = endpoint {
                        if snap.sockets.send(packet, ep) {
                            peer.tx_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
                        }
                    }
                }
                _ => break,
            }
        }
    }
}

/// Every TICK: the timers (rekey, keepalive, expiry) of the peers that have them (see [`timers`]).
/// Every second: the limiter reset and the liveness checks (interface and socket still ours).
fn timer_loop(shared: &Shared) {
    let mut out = vec![0u8; BUF_LEN];
    let mut last_second = Instant::now();
    while !shared.stopping() {
        std::thread::sleep(TICK);
        let snap = shared.snapshot();
        timers::tick(&snap, &mut out);
        if last_second.elapsed() >= Duration::from_secs(1) {
            last_second = Instant::now();
            if let Some(identity) = &snap.identity {
                identity.limiter.reset_count();
            }
            let index = sys::interface_index(&shared.ifname);
            if index == 0 || index != shared.tun.index() {
                shared.request_stop(StopReason::InterfaceDeleted);
            }
            let gone =
                shared.socket.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|f| !f.still_ours());
            if gone {
                shared.request_stop(StopReason::SocketRemoved);
            }
        }
    }
}

/// The socket path a device of this name serves (for callers that wait for it).
pub fn uapi_socket_path(ifname: &str) -> Result<PathBuf, Error> {
    crate::uapi::socket_path(ifname)
}

#[cfg(test)]
mod tests {
    use super::switched_off;

    #[test]
    fn on_off_variables_turn_off_only_on_an_off_word() {
        for off in ["off", "0", "false", "no", " OFF\n", "No"] {
            assert!(switched_off(off), "{off:?}");
        }
        for on in ["on", "1", "true", "yes", "", "auto", "offload", "nope"] {
            assert!(!switched_off(on), "{on:?}");
        }
    }
}
