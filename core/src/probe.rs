//! Active probes through the tunnel: ICMP / ICMPv6 echo to each peer's overlay address, with RTT and
//! loss over a sliding window, so that "intermittent connectivity" becomes a number.
//!
//! A [`Prober`] owns one background thread and two sockets (IPv4 and IPv6). It uses the unprivileged
//! ICMP "ping" datagram sockets when `net.ipv4.ping_group_range` allows the process's group, and raw
//! sockets otherwise (which need root or `CAP_NET_RAW`). With [`ProbeOptions::interface`] set, the
//! sockets are bound to that interface (`SO_BINDTODEVICE`), so echoes leave through the tunnel and
//! nowhere else.
//!
//! Every target receives one echo per [`ProbeOptions::interval`]; an echo whose reply has not arrived
//! within [`ProbeOptions::timeout`] (or that could not be sent at all) is lost. The last
//! [`ProbeOptions::window`] echoes whose fate is known make up a target's [`ProbeStats`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::error::{Error, IoError};

/// The largest window accepted: bounds each target's memory.
pub const MAX_WINDOW: usize = 100_000;

/// The shortest interval accepted between two echoes to one target.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How often the background thread looks at the stop flag when nothing else is due.
const STOP_POLL: Duration = Duration::from_millis(50);

/// ICMP types used.
const ICMP4_ECHO_REQUEST: u8 = 8;
const ICMP4_ECHO_REPLY: u8 = 0;
const ICMP6_ECHO_REQUEST: u8 = 128;
const ICMP6_ECHO_REPLY: u8 = 129;

/// Length of the echo payload: an 8-byte token unique to one prober, then the 8-byte target-local
/// echo number (so replies are never mistaken across probers in one network namespace).
const PAYLOAD_LEN: usize = 16;

/// How a [`Prober`] probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Time between two echoes to one target (default 1 s; at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// A reply later than this counts as lost (default 1 s).
    pub timeout: Duration,
    /// Number of echoes in the sliding window (default 30; 1..=[`MAX_WINDOW`]).
    pub window: usize,
    /// Bind the sockets to this interface (`SO_BINDTODEVICE`) when set.
    pub interface: Option<String>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions { interval: Duration::from_secs(1), timeout: Duration::from_secs(1), window: 30, interface: None }
    }
}

/// Loss and round-trip times of one target over the sliding window.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStats {
    /// Echoes in the window whose fate is known (replied or timed out).
    pub sent: u32,
    /// Of those, the ones that were answered in time.
    pub received: u32,
    /// Lost fraction over the window, 0.0..=1.0 (0 when `sent` is 0).
    pub loss: f64,
    /// The round-trip time of the latest reply.
    pub rtt_last: Option<Duration>,
    /// The shortest round-trip time in the window.
    pub rtt_min: Option<Duration>,
    /// The mean round-trip time in the window.
    pub rtt_avg: Option<Duration>,
    /// The longest round-trip time in the window.
    pub rtt_max: Option<Duration>,
    /// Echoes lost since the last reply (not limited by the window): the target "stopped answering".
    pub consecutive_lost: u32,
    /// Time since the latest reply (None: never answered).
    pub last_reply_age: Option<Duration>,
}

/// What became of one echo.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Replied(Duration),
    Lost,
}

/// One target's window and outstanding echoes.
#[derive(Debug)]
struct TargetState {
    /// Outcomes, oldest first, at most `window` long.
    window: VecDeque<Outcome>,
    /// Echoes sent and not yet answered: echo number → send time.
    outstanding: BTreeMap<u64, Instant>,
    /// The next echo number.
    next_echo: u64,
    /// When the next echo is due.
    next_send: Instant,
    consecutive_lost: u32,
    rtt_last: Option<Duration>,
    last_reply: Option<Instant>,
}

impl TargetState {
    fn new(now: Instant) -> Self {
        TargetState {
            window: VecDeque::new(),
            outstanding: BTreeMap::new(),
            next_echo: 0,
            next_send: now,
            consecutive_lost: 0,
            rtt_last: None,
            last_reply: None,
        }
    }

    fn record(&mut self, outcome: Outcome, window: usize, now: Instant) {
        match outcome {
            Outcome::Replied(rtt) => {
                self.consecutive_lost = 0;
                self.rtt_last = Some(rtt);
                self.last_reply = Some(now);
            }
            Outcome::Lost => self.consecutive_lost = self.consecutive_lost.saturating_add(1),
        }
        self.window.push_back(outcome);
        while self.window.len() > window {
            self.window.pop_front();
        }
    }

    fn stats(&self, now: Instant) -> ProbeStats {
        let sent = self.window.len() as u32;
        let rtts: Vec<Duration> = self
            .window
            .iter()
            .filter_map(|o| match o {
                Outcome::Replied(rtt) => Some(*rtt),
                Outcome::Lost => None,
            })
            .collect();
        let received = rtts.len() as u32;
        let loss = if sent == 0 { 0.0 } else { f64::from(sent - received) / f64::from(sent) };
        let rtt_avg = if rtts.is_empty() { None } else { Some(rtts.iter().sum::<Duration>() / received) };
        ProbeStats {
            sent,
            received,
            loss,
            rtt_last: self.rtt_last,
            rtt_min: rtts.iter().min().copied(),
            rtt_avg,
            rtt_max: rtts.iter().max().copied(),
            consecutive_lost: self.consecutive_lost,
            last_reply_age: self.last_reply.map(|t| now.saturating_duration_since(t)),
        }
    }
}

/// State shared by the handle and the thread.
#[derive(Debug)]
struct Shared {
    targets: Mutex<HashMap<IpAddr, TargetState>>,
    /// Targets in the order they were given (stable output).
    order: Mutex<Vec<IpAddr>>,
    stop: AtomicBool,
}

impl Shared {
    fn lock_targets(&self) -> MutexGuard<'_, HashMap<IpAddr, TargetState>> {
        self.targets.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One ICMP socket of one family.
#[derive(Debug)]
struct EchoSocket {
    socket: Socket,
    /// Raw sockets see IPv4 headers and every echo of the namespace; datagram sockets neither.
    raw: bool,
    v6: bool,
}

/// A background prober: one thread sending ICMP/ICMPv6 echoes to every target; bounded memory; stops on
/// drop (or [`Prober::stop`]).
#[derive(Debug)]
pub struct Prober {
    shared: Arc<Shared>,
    options: ProbeOptions,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn socket_error(what: &'static str, err: &io::Error) -> Error {
    Error::Io(IoError::new(what, Path::new("icmp"), err))
}

fn open_socket(v6: bool, interface: Option<&str>) -> io::Result<EchoSocket> {
    let (domain, protocol) = if v6 { (Domain::IPV6, Protocol::ICMPV6) } else { (Domain::IPV4, Protocol::ICMPV4) };
    let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(s) => (s, false),
        Err(dgram_err) => match Socket::new(domain, Type::RAW, Some(protocol)) {
            Ok(s) => (s, true),
            // Report the datagram socket's error when raw is not allowed either: it is the one the
            // administrator can fix (ping_group_range).
            Err(_) => return Err(dgram_err),
        },
    };
    if let Some(name) = interface {
        socket.bind_device(Some(name.as_bytes()))?;
    }
    socket.set_nonblocking(true)?;
    Ok(EchoSocket { socket, raw, v6 })
}

impl Prober {
    /// Opens the ICMP sockets and starts the background thread (with no targets yet).
    ///
    /// Fails with an `io_*` error when neither family's socket can be opened (no permission: the
    /// process is not in `net.ipv4.ping_group_range` and lacks `CAP_NET_RAW`), when the interface does
    /// not exist, or when the options are out of range (`io_other`). A family whose socket cannot be
    /// opened (IPv6 disabled) counts every echo to its targets as lost.
    pub fn start(options: ProbeOptions) -> Result<Prober, Error> {
        if options.window == 0 || options.window > MAX_WINDOW {
            return Err(Error::Io(IoError::invalid(
                "start prober",
                Path::new("icmp"),
                &format!("window must be 1..={MAX_WINDOW}"),
            )));
        }
        if options.interval < MIN_INTERVAL {
            return Err(Error::Io(IoError::invalid(
                "start prober",
                Path::new("icmp"),
                "interval must be at least 1 ms",
            )));
        }
        if options.timeout.is_zero() {
            return Err(Error::Io(IoError::invalid("start prober", Path::new("icmp"), "timeout must be positive")));
        }
        let interface = options.interface.as_deref();
        if let Some(name) = interface {
            if name.is_empty() || name.len() > 15 || name.contains(['/', '\0']) {
                return Err(Error::Io(IoError::invalid("bind to device", Path::new(name), "not an interface name")));
            }
        }
        let v4 = open_socket(false, interface);
        let v6 = open_socket(true, interface);
        let (v4, v6) = match (v4, v6) {
            (Err(e), Err(_)) => return Err(socket_error("open ICMP socket", &e)),
            (v4, v6) => (v4.ok(), v6.ok()),
        };
        let mut token = [0u8; 8];
        getrandom::fill(&mut token).map_err(|e| socket_error("random token", &io::Error::other(e.to_string())))?;
        let shared = Arc::new(Shared {
            targets: Mutex::new(HashMap::new()),
            order: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let worker = Worker {
            shared: Arc::clone(&shared),
            options: options.clone(),
            v4,
            v6,
            token,
            identifier: u16::from_be_bytes([token[0], token[1]]),
        };
        let thread = std::thread::Builder::new()
            .name("wiremesh-probe".into())
            .spawn(move || worker.run())
            .map_err(|e| socket_error("spawn prober thread", &e))?;
        Ok(Prober { shared, options, thread: Mutex::new(Some(thread)) })
    }

    /// The options this prober runs with.
    pub fn options(&self) -> &ProbeOptions {
        &self.options
    }

    /// Replaces the set of targets; targets that stay keep their windows, new ones are probed at once.
    pub fn set_targets(&self, targets: &[IpAddr]) {
        let now = Instant::now();
        let mut map = self.shared.lock_targets();
        let mut order = Vec::with_capacity(targets.len());
        for ip in targets {
            if !order.contains(ip) {
                order.push(*ip);
            }
        }
        map.retain(|ip, _| order.contains(ip));
        for ip in &order {
            map.entry(*ip).or_insert_with(|| TargetState::new(now));
        }
        *self.shared.order.lock().unwrap_or_else(|p| p.into_inner()) = order;
    }

    /// The current targets, in the order given to [`Prober::set_targets`].
    pub fn targets(&self) -> Vec<IpAddr> {
        self.shared.order.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One target's statistics (None when it is not a target).
    pub fn stats(&self, target: IpAddr) -> Option<ProbeStats> {
        let now = Instant::now();
        self.shared.lock_targets().get(&target).map(|t| t.stats(now))
    }

    /// Every target's statistics, in target order.
    pub fn all_stats(&self) -> Vec<(IpAddr, ProbeStats)> {
        let order = self.targets();
        let now = Instant::now();
        let map = self.shared.lock_targets();
        order.into_iter().filter_map(|ip| map.get(&ip).map(|t| (ip, t.stats(now)))).collect()
    }

    /// Whether the background thread still runs.
    pub fn is_running(&self) -> bool {
        self.thread.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the background thread and waits for it (statistics stay readable). Idempotent.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let handle = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = handle {
            // The thread never panics on input; a panic would already have been reported by std.
            let _ = handle.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The background thread's side.
struct Worker {
    shared: Arc<Shared>,
    options: ProbeOptions,
    v4: Option<EchoSocket>,
    v6: Option<EchoSocket>,
    token: [u8; 8],
    identifier: u16,
}

impl Worker {
    fn run(self) {
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 2048];
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let next_due = self.send_and_expire(now);
            let wait = next_due.map_or(STOP_POLL, |due| due.saturating_duration_since(Instant::now())).min(STOP_POLL);
            self.wait_readable(wait);
            self.receive_all(&mut buf);
        }
    }

    /// Sends every echo that is due, counts the expired ones as lost; returns when something is next due.
    fn send_and_expire(&self, now: Instant) -> Option<Instant> {
        let window = self.options.window;
        let mut map = self.shared.lock_targets();
        let mut next: Option<Instant> = None;
        for (ip, target) in map.iter_mut() {
            // Expire echoes that had their time.
            let expired: Vec<u64> = target
                .outstanding
                .iter()
                .filter(|(_, sent)| now.saturating_duration_since(**sent) >= self.options.timeout)
                .map(|(n, _)| *n)
                .collect();
            for n in expired {
                target.outstanding.remove(&n);
                target.record(Outcome::Lost, window, now);
            }
            if target.next_send <= now {
                let echo = target.next_echo;
                target.next_echo += 1;
                match self.send_echo(*ip, echo) {
                    Ok(()) => {
                        target.outstanding.insert(echo, now);
                    }
                    // Unroutable, no socket of this family, buffer full: the echo is lost.
                    Err(_) => target.record(Outcome::Lost, window, now),
                }
                // Keep the cadence, but never try to catch up a backlog.
                target.next_send += self.options.interval;
                if target.next_send <= now {
                    target.next_send = now + self.options.interval;
                }
            }
            let mut due = target.next_send;
            if let Some(oldest) = target.outstanding.values().min() {
                due = due.min(*oldest + self.options.timeout);
            }
            next = Some(next.map_or(due, |n: Instant| n.min(due)));
        }
        next
    }

    fn send_echo(&self, ip: IpAddr, echo: u64) -> io::Result<()> {
        let socket = match ip {
            IpAddr::V4(_) => self.v4.as_ref(),
            IpAddr::V6(_) => self.v6.as_ref(),
        }
        .ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))?;
        let mut packet = [0u8; 8 + PAYLOAD_LEN];
        packet[0] = if socket.v6 { ICMP6_ECHO_REQUEST } else { ICMP4_ECHO_REQUEST };
        packet[4..6].copy_from_slice(&self.identifier.to_be_bytes());
        packet[6..8].copy_from_slice(&(echo as u16).to_be_bytes());
        packet[8..16].copy_from_slice(&self.token);
        packet[16..24].copy_from_slice(&echo.to_be_bytes());
        if !socket.v6 {
            // The kernel computes ICMPv6 checksums (it needs the pseudo-header); ICMPv4 is ours.
            let sum = internet_checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        let addr = SockAddr::from(SocketAddr::new(ip, 0));
        socket.socket.send_to(&packet, &addr).map(|_| ())
    }

    fn wait_readable(&self, wait: Duration) {
        let mut fds: Vec<libc::pollfd> = [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .map(|s| libc::pollfd { fd: s.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        let millis = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
        if fds.is_empty() {
            std::thread::sleep(wait);
            return;
        }
        // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfd structures.
        unsafe {
            libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis);
        }
    }

    fn receive_all(&self, buf: &mut [MaybeUninit<u8>]) {
        for socket in [&self.v4, &self.v6].into_iter().flatten() {
            // Bounded: at most this many datagrams per wake-up, so a flood cannot starve the sender.
            for _ in 0..1024 {
                let (len, from) = match socket.socket.recv_from(buf) {
                    Ok(r) => r,
                    Err(_) => break,
                };
                let now = Instant::now();
                // SAFETY: recv_from initialised the first `len` bytes of `buf`.
                let data = unsafe { std::slice::from_raw_parts(buf.as_ptr() as *const u8, len.min(buf.len())) };
                if let (Some(echo), Some(from)) = (self.parse_reply(socket, data), from.as_socket()) {
                    self.record_reply(from.ip(), echo, now);
                }
            }
        }
    }

    /// The echo number of one of our replies, or None for anything else.
    fn parse_reply(&self, socket: &EchoSocket, data: &[u8]) -> Option<u64> {
        let icmp = if socket.raw && !socket.v6 {
            let ihl = usize::from(*data.first()? & 0x0f) * 4;
            data.get(ihl..)?
        } else {
            data
        };
        if icmp.len() < 8 + PAYLOAD_LEN {
            return None;
        }
        let reply_type = if socket.v6 { ICMP6_ECHO_REPLY } else { ICMP4_ECHO_REPLY };
        if icmp[0] != reply_type || icmp[1] != 0 {
            return None;
        }
        // Datagram sockets get their identifier from the kernel (and only see their own replies).
        if socket.raw && icmp[4..6] != self.identifier.to_be_bytes() {
            return None;
        }
        if icmp[8..16] != self.token {
            return None;
        }
        let echo = u64::from_be_bytes(icmp[16..24].try_into().ok()?);
        if icmp[6..8] != (echo as u16).to_be_bytes() {
            return None;
        }
        Some(echo)
    }

    fn record_reply(&self, from: IpAddr, echo: u64, now: Instant) {
        let from = match from {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(from, IpAddr::V4),
            v4 => v4,
        };
        let mut map = self.shared.lock_targets();
        if let Some(target) = map.get_mut(&from) {
            if let Some(sent) = target.outstanding.remove(&echo) {
                let rtt = now.saturating_duration_since(sent);
                let outcome = if rtt < self.options.timeout { Outcome::Replied(rtt) } else { Outcome::Lost };
                target.record(outcome, self.options.window, now);
            }
        }
    }
}

/// The Internet checksum (RFC 1071) of `data`.
fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Starts a prober, or explains why this machine cannot probe (no ICMP socket permission) and
    /// returns None: the end-to-end suite, run as root, covers the prober there.
    fn start_or_skip(options: ProbeOptions) -> Option<Prober> {
        match Prober::start(options) {
            Ok(p) => Some(p),
            Err(e) if e.code() == "io_permission_denied" => {
                eprintln!("SKIP: no ICMP socket permission here ({e}); tests/netns/status.sh covers probing");
                None
            }
            Err(e) => panic!("prober did not start: {e}"),
        }
    }

    fn wait_until(prober: &Prober, deadline: Duration, done: impl Fn(&Prober) -> bool) {
        let start = Instant::now();
        while !done(prober) {
            assert!(start.elapsed() < deadline, "condition not reached within {deadline:?}: {:?}", prober.all_stats());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn fast(window: usize, interface: Option<&str>) -> ProbeOptions {
        ProbeOptions {
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(200),
            window,
            interface: interface.map(str::to_string),
        }
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071's example words 0001 f203 f4f5 f6f7 sum to ddf2 (before the complement).
        assert_eq!(internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
        // A packet with its own checksum in place sums to zero.
        let mut p = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, 9, 9, 9];
        let c = internet_checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(internet_checksum(&p), 0);
    }

    #[test]
    fn options_out_of_range_are_refused() {
        for options in [
            ProbeOptions { window: 0, ..ProbeOptions::default() },
            ProbeOptions { window: MAX_WINDOW + 1, ..ProbeOptions::default() },
            ProbeOptions { interval: Duration::ZERO, ..ProbeOptions::default() },
            ProbeOptions { timeout: Duration::ZERO, ..ProbeOptions::default() },
            ProbeOptions { interface: Some("a/b".into()), ..ProbeOptions::default() },
        ] {
            let err = Prober::start(options.clone()).expect_err(&format!("{options:?} accepted"));
            assert_eq!(err.code(), "io_other");
        }
    }

    #[test]
    fn a_missing_interface_is_an_error() {
        let options = ProbeOptions { interface: Some("wmnosuchif0".into()), ..ProbeOptions::default() };
        match Prober::start(options) {
            Ok(_) => panic!("bound to an interface that does not exist"),
            Err(e) => assert!(["io_not_found", "io_other", "io_permission_denied"].contains(&e.code()), "{e}"),
        }
    }

    #[test]
    fn loopback_answers_every_echo() {
        let Some(prober) = start_or_skip(fast(10, None)) else { return };
        let targets = [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)];
        prober.set_targets(&targets);
        wait_until(&prober, Duration::from_secs(10), |p| p.all_stats().iter().all(|(_, s)| s.sent >= 10));
        for (ip, stats) in prober.all_stats() {
            assert_eq!(stats.sent, 10, "{ip}: the window holds 10 echoes");
            assert_eq!(stats.received, 10, "{ip}: {stats:?}");
            assert_eq!(stats.loss, 0.0);
            assert_eq!(stats.consecutive_lost, 0);
            let (min, avg, max) = (stats.rtt_min.unwrap(), stats.rtt_avg.unwrap(), stats.rtt_max.unwrap());
            assert!(min <= avg && avg <= max && max < Duration::from_millis(200), "{ip}: {stats:?}");
            assert!(stats.rtt_last.is_some());
            assert!(stats.last_reply_age.unwrap() < Duration::from_secs(2));
        }
        assert_eq!(prober.all_stats().iter().map(|(ip, _)| *ip).collect::<Vec<_>>(), targets);
    }

    #[test]
    fn an_unreachable_documentation_address_counts_as_lost() {
        // Bound to the loopback interface, echoes to documentation addresses never leave the machine:
        // nothing answers them, while 127.0.0.1 and ::1 still do.
        let Some(prober) = start_or_skip(fast(5, Some("lo"))) else { return };
        let dead4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let dead6: IpAddr = "2001:db8::1".parse().unwrap();
        let alive = IpAddr::V4(Ipv4Addr::LOCALHOST);
        prober.set_targets(&[dead4, dead6, alive]);
        wait_until(&prober, Duration::from_secs(10), |p| {
            p.stats(dead4).unwrap().consecutive_lost >= 8 && p.stats(dead6).unwrap().consecutive_lost >= 8
        });
        for dead in [dead4, dead6] {
            let stats = prober.stats(dead).unwrap();
            assert_eq!(stats.sent, 5, "the window is 5 echoes long: {stats:?}");
            assert_eq!(stats.received, 0);
            assert_eq!(stats.loss, 1.0);
            assert_eq!((stats.rtt_min, stats.rtt_avg, stats.rtt_last, stats.last_reply_age), (None, None, None, None));
        }
        let alive_stats = prober.stats(alive).unwrap();
        assert!(alive_stats.received > 0 && alive_stats.consecutive_lost == 0, "{alive_stats:?}");
    }

    #[test]
    fn targets_that_stay_keep_their_window_and_stop_freezes_stats() {
        let Some(prober) = start_or_skip(fast(30, None)) else { return };
        let a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let b = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        prober.set_targets(&[a]);
        wait_until(&prober, Duration::from_secs(10), |p| p.stats(a).unwrap().sent >= 5);
        prober.set_targets(&[b, a, b]);
        assert_eq!(prober.targets(), vec![b, a], "duplicates are dropped, order kept");
        assert!(prober.stats(a).unwrap().sent >= 5, "a kept its window");
        prober.set_targets(&[b]);
        assert_eq!(prober.stats(a), None, "a is no longer a target");
        wait_until(&prober, Duration::from_secs(10), |p| p.stats(b).unwrap().received >= 3);
        assert!(prober.is_running());
        prober.stop();
        assert!(!prober.is_running());
        let frozen = prober.stats(b).unwrap().sent;
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(prober.stats(b).unwrap().sent, frozen);
        prober.stop();
    }

    #[test]
    fn window_arithmetic() {
        let now = Instant::now();
        let mut t = TargetState::new(now);
        assert_eq!(
            t.stats(now),
            ProbeStats {
                sent: 0,
                received: 0,
                loss: 0.0,
                rtt_last: None,
                rtt_min: None,
                rtt_avg: None,
                rtt_max: None,
                consecutive_lost: 0,
                last_reply_age: None
            }
        );
        for ms in [10, 30] {
            t.record(Outcome::Replied(Duration::from_millis(ms)), 4, now);
        }
        for _ in 0..3 {
            t.record(Outcome::Lost, 4, now);
        }
        let s = t.stats(now);
        assert_eq!((s.sent, s.received, s.consecutive_lost), (4, 1, 3));
        assert_eq!(s.loss, 0.75);
        assert_eq!(s.rtt_avg, Some(Duration::from_millis(30)));
        assert_eq!(s.rtt_last, Some(Duration::from_millis(30)));
    }
}
