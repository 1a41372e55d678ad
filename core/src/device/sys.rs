//! The operating-system edge of the device, through libc: a Linux TUN device (`/dev/net/tun`,
//! `TUNSETIFF`) and UDP sockets (IPv6 with `IPV6_V6ONLY` set before binding, `SO_MARK`), with poll-based
//! bounded waits so that every thread notices a stop within [`POLL_MS`].
//!
//! Offloads, probed at creation with a clean fallback: the TUN is opened with `IFF_VNET_HDR` and
//! `TUNSETOFFLOAD` (checksum, TSO4/6 and, where the kernel has it, USO4/6), so the kernel hands over and
//! accepts super-packets (see `offload`); the UDP sockets send with `UDP_SEGMENT` (GSO: one syscall for
//! a run of equal-sized datagrams) and receive with `UDP_GRO` (one syscall for a run from one sender).
//!
//! libc rather than a TUN or UDP crate (tun-rs, quinn-udp): the surface is a handful of ioctls, socket
//! options and control messages, the device's threads are plain blocking threads (quinn-udp's API is
//! shaped around its own transmit/receive-meta types and an async runtime's readiness, tun-rs would bring
//! its own buffer and offload layer in place of the device's pooled batch buffers), and owning it keeps
//! the fallback behaviour ours to test.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// How long a blocked thread waits before looking at the stop flag again.
pub const POLL_MS: i32 = 200;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Waits until `fd` is readable or `POLL_MS` passed. Ok(true) when readable.
pub fn poll_readable(fd: RawFd) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    if n > 0 && pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 && pfd.revents & libc::POLLIN == 0 {
        return Err(io::Error::new(io::ErrorKind::BrokenPipe, "descriptor closed or in error"));
    }
    Ok(n > 0)
}

/// A Linux TUN interface (layer 3, no packet information header; with a `virtio_net_hdr` before each
/// packet when [`Tun::vnet_hdr`]), closed — and so deleted — on drop.
pub struct Tun {
    fd: OwnedFd,
    index: u32,
    vnet_hdr: bool,
    offloads: u32,
}

const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;
const TUN_F_USO4: libc::c_uint = 0x20;
const TUN_F_USO6: libc::c_uint = 0x40;
/// TCP segmentation offload (TSO4 and TSO6) enabled on the TUN.
pub const OFFLOAD_TSO: u32 = TUN_F_TSO4 | TUN_F_TSO6;
/// UDP segmentation offload (USO4 and USO6) enabled on the TUN.
pub const OFFLOAD_USO: u32 = TUN_F_USO4 | TUN_F_USO6;
const IFF_VNET_HDR: libc::c_short = 0x4000;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const SOL_UDP: libc::c_int = 17;
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

impl Tun {
    /// Creates interface `name` (fails if it exists and is not a TUN we may attach to). With `offload`,
    /// asks for a `virtio_net_hdr` and segmentation offloads, and falls back step by step (TSO+USO, TSO,
    /// checksum only, no header) to what the kernel grants.
    pub fn create(name: &str, offload: bool) -> io::Result<Tun> {
        if offload {
            match Tun::open(name, true) {
                Ok(mut tun) => {
                    for flags in [
                        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
                        TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
                    ] {
                        // SAFETY: TUNSETOFFLOAD takes the flags by value.
                        if unsafe { libc::ioctl(tun.fd.as_raw_fd(), TUNSETOFFLOAD as _, flags as libc::c_ulong) } == 0 {
                            tun.offloads = flags;
                            break;
                        }
                    }
                    return Ok(tun);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Tun::open(name, false)
    }

    fn open(name: &str, vnet_hdr: bool) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('/') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid interface name"));
        }
        if interface_index(name) != 0 {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("interface {name} already exists")));
        }
        let path = CString::new("/dev/net/tun").expect("no NUL");
        // SAFETY: a valid C string; the returned descriptor is owned below.
        let raw = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        if vnet_hdr {
            flags |= IFF_VNET_HDR;
        }
        let mut req = IfReq { name: ifreq_name(name), flags, _pad: [0; 22] };
        // SAFETY: TUNSETIFF reads and writes one struct ifreq, which IfReq lays out (40 bytes).
        cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req) })?;
        let index = interface_index(name);
        Ok(Tun { fd, index, vnet_hdr, offloads: 0 })
    }

    /// True when every packet read or written carries a `virtio_net_hdr` first.
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// The segmentation offloads the kernel accepted ([`OFFLOAD_TSO`], [`OFFLOAD_USO`] bits).
    pub fn offloads(&self) -> u32 {
        self.offloads
    }

    /// Writes one packet given as header + parts (gathered by `writev`: a `virtio_net_hdr`, then a
    /// super-packet's head and the payloads that follow it).
    pub fn write_parts(&self, parts: &[&[u8]]) -> io::Result<()> {
        const MAX_IOV: usize = 128;
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX_IOV];
        if parts.len() > MAX_IOV {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many parts"));
        }
        for (v, p) in iov.iter_mut().zip(parts) {
            v.iov_base = p.as_ptr() as *mut libc::c_void;
            v.iov_len = p.len();
        }
        // SAFETY: the first parts.len() iovecs point at live slices of their lengths.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), parts.len() as libc::c_int) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The interface index at creation (0 if unknown).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Reads one packet; Ok(None) when none is waiting.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
        Ok(Some(n as usize))
    }

    /// Writes one packet to the interface (the kernel takes it as received).
    pub fn write(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: packet is valid for reads of packet.len() bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The raw descriptor, for poll.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The index of interface `name` in this network namespace, 0 when there is none.
/// An interface name as `struct ifreq` holds it (NUL-padded; the caller has checked its length).
fn ifreq_name(name: &str) -> [libc::c_char; libc::IFNAMSIZ] {
    let mut out = [0; libc::IFNAMSIZ];
    for (dst, src) in out.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    out
}

/// `struct ifreq` with its union read as `ifr_qlen` (40 bytes).
#[repr(C)]
struct IfReqQueueLen {
    name: [libc::c_char; libc::IFNAMSIZ],
    qlen: libc::c_int,
    _pad: [u8; 20],
}

/// `SIOCSIFTXQLEN` (linux/sockios.h).
const SIOCSIFTXQLEN: libc::c_ulong = 0x8943;

/// Sets the transmit queue length of interface `name` (what `ip link set NAME txqueuelen LEN` does): for
/// a TUN, how many packets the kernel holds for the reader before it drops.
pub fn set_tx_queue_len(name: &str, len: u32) -> io::Result<()> {
    let qlen = libc::c_int::try_from(len).ok().filter(|l| *l > 0).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the queue length must be 1 to {} packets, not {len}", libc::c_int::MAX),
        )
    })?;
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "invalid interface name"));
    }
    let mut req = IfReqQueueLen { name: ifreq_name(name), qlen, _pad: [0; 20] };
    // SAFETY: plain socket creation; the descriptor is owned below.
    let raw = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a fresh descriptor we own.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: SIOCSIFTXQLEN reads one struct ifreq, which IfReqQueueLen lays out.
    cvt(unsafe { libc::ioctl(socket.as_raw_fd(), SIOCSIFTXQLEN as _, &mut req) })?;
    Ok(())
}

pub fn interface_index(name: &str) -> u32 {
    match CString::new(name) {
        // SAFETY: a valid C string.
        Ok(c) => unsafe { libc::if_nametoindex(c.as_ptr()) },
        Err(_) => 0,
    }
}

/// A bound, non-blocking UDP socket of one family.
pub struct Udp {
    fd: OwnedFd,
    v6: bool,
    /// Sending with `UDP_SEGMENT` works (turned off for good at the first send the kernel refuses).
    gso: std::sync::atomic::AtomicBool,
    /// `UDP_GRO` is on: a receive may return several datagrams of one size.
    gro: bool,
}

/// Buffers for [`Udp::recv_many`]: `slots` messages of up to `slot_len` bytes each (with their
/// addresses and GRO control data), reused from call to call.
pub struct RecvBatch {
    buf: Vec<u8>,
    slot_len: usize,
    storage: Vec<libc::sockaddr_storage>,
    control: Vec<[u64; 8]>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// (slot, length, sender, GRO segment size) of each message the last call received.
    received: Vec<(usize, usize, SocketAddr, usize)>,
}

// SAFETY: the raw pointers in `iovecs` and `headers` point into this batch's own buffers and are only
// used during a `recv_many` call on the thread that owns the batch.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// Room for `slots` messages of up to `slot_len` bytes.
    pub fn new(slots: usize, slot_len: usize) -> RecvBatch {
        // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid values.
        let (storage, iovec, header) = unsafe { (std::mem::zeroed(), std::mem::zeroed(), std::mem::zeroed()) };
        RecvBatch {
            buf: vec![0; slots * slot_len],
            slot_len,
            storage: vec![storage; slots],
            control: vec![[0; 8]; slots],
            iovecs: vec![iovec; slots],
            headers: vec![header; slots],
            received: Vec::with_capacity(slots),
        }
    }

    /// The messages the last [`Udp::recv_many`] received: bytes (datagrams of `segment` bytes laid end
    /// to end), sender and segment size.
    pub fn received(&self) -> impl Iterator<Item = (&[u8], SocketAddr, usize)> + '_ {
        self.received.iter().map(|&(slot, len, from, segment)| {
            let start = slot * self.slot_len;
            (&self.buf[start..start + len], from, segment)
        })
    }
}

/// Largest run of datagrams one `UDP_SEGMENT` send carries (the kernel's UDP_MAX_SEGMENTS is 64 on
/// older kernels).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Largest total payload of one `UDP_SEGMENT` send (IPv6's 65,535-byte payload less the UDP header).
pub const GSO_MAX_BYTES: usize = 65_535 - 8;

/// How the device's UDP sockets are set up.
#[derive(Debug, Clone, Copy)]
pub struct UdpOptions {
    /// `SO_MARK` (0: none).
    pub fwmark: u32,
    /// Try `UDP_SEGMENT` and `UDP_GRO`.
    pub offload: bool,
    /// `SO_RCVBUF`/`SO_SNDBUF` in bytes (forced past `rmem_max`/`wmem_max` when privileged).
    pub buffer_bytes: usize,
}

fn sockaddr_of(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (storage, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (storage, std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

fn addr_of(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin: &libc::sockaddr_in = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6: &libc::sockaddr_in6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

impl Udp {
    /// Binds the wildcard address of one family on `port` (0: any), IPv6 only for the v6 socket.
    pub fn bind(v6: bool, port: u16, options: &UdpOptions) -> io::Result<Udp> {
        let fwmark = options.fwmark;
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket creation; the descriptor is owned below.
        let raw = cvt(unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) })?;
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut udp = Udp { fd, v6, gso: std::sync::atomic::AtomicBool::new(false), gro: false };
        if v6 {
            udp.setsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        if fwmark != 0 {
            udp.set_mark(fwmark)?;
        }
        let size = options.buffer_bytes.min(i32::MAX as usize / 2) as libc::c_int;
        for (forced, opt) in [(libc::SO_RCVBUFFORCE, libc::SO_RCVBUF), (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF)] {
            if udp.setsockopt(libc::SOL_SOCKET, forced, size).is_err() {
                let _ = udp.setsockopt(libc::SOL_SOCKET, opt, size);
            }
        }
        if options.offload {
            // Probes: setting UDP_SEGMENT to 0 checks that the kernel knows it without segmenting anything.
            let gso = udp.setsockopt(SOL_UDP, UDP_SEGMENT, 0).is_ok();
            udp.gso.store(gso, std::sync::atomic::Ordering::Relaxed);
            udp.gro = udp.setsockopt(SOL_UDP, UDP_GRO, 1).is_ok();
        }
        let addr = if v6 {
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0))
        } else {
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
        };
        let (storage, len) = sockaddr_of(&addr);
        // SAFETY: storage holds a valid sockaddr of length len.
        cvt(unsafe { libc::bind(udp.fd.as_raw_fd(), (&storage as *const libc::sockaddr_storage).cast(), len) })?;
        Ok(udp)
    }

    fn setsockopt(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
        // SAFETY: value is a valid c_int for the option's size.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Sets SO_MARK (0 clears it).
    pub fn set_mark(&self, mark: u32) -> io::Result<()> {
        self.setsockopt(libc::SOL_SOCKET, libc::SO_MARK, mark as libc::c_int)
    }

    /// The bound port.
    pub fn port(&self) -> io::Result<u16> {
        // SAFETY: an all-zero sockaddr_storage is valid.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: storage and len describe a writable buffer.
        cvt(unsafe {
            libc::getsockname(self.fd.as_raw_fd(), (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len)
        })?;
        addr_of(&storage).map(|a| a.port()).ok_or_else(|| io::Error::other("unknown address family"))
    }

    /// True for the IPv6 socket.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// True while sends with `UDP_SEGMENT` are used.
    pub fn gso(&self) -> bool {
        self.gso.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True when `UDP_GRO` is on.
    pub fn gro(&self) -> bool {
        self.gro
    }

    /// Receives up to [`RecvBatch`]'s number of slots of messages in one `recvmmsg` call, each a datagram or (with GRO) a
    /// run of one sender's datagrams of one size: afterwards `batch.received()` lists them. Ok(0) when
    /// none is waiting.
    pub fn recv_many(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.received.clear();
        let slots = batch.storage.len();
        for i in 0..slots {
            batch.iovecs[i] =
                libc::iovec { iov_base: batch.buf[i * batch.slot_len..].as_mut_ptr().cast(), iov_len: batch.slot_len };
            // SAFETY: an all-zero msghdr is valid; the pointers set below stay valid for the call.
            let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
            hdr.msg_name = (&mut batch.storage[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut batch.iovecs[i];
            hdr.msg_iovlen = 1;
            if self.gro {
                hdr.msg_control = batch.control[i].as_mut_ptr().cast();
                hdr.msg_controllen = std::mem::size_of_val(&batch.control[i]) as _;
            }
            batch.headers[i] = libc::mmsghdr { msg_hdr: hdr, msg_len: 0 };
        }
        // SAFETY: every header points at live buffers of the lengths it gives (set just above).
        let n = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                batch.headers.as_mut_ptr(),
                slots as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        for i in 0..n as usize {
            let hdr = &batch.headers[i].msg_hdr;
            let len = batch.headers[i].msg_len as usize;
            let mut segment = len;
            if self.gro {
                // SAFETY: walking the control messages the kernel wrote into this header's buffer.
                unsafe {
                    let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
                    while !cmsg.is_null() {
                        if (*cmsg).cmsg_level == SOL_UDP && (*cmsg).cmsg_type == UDP_GRO {
                            let size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>());
                            if size > 0 {
                                segment = usize::from(size);
                            }
                        }
                        cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
                    }
                }
            }
            // A datagram cut short (MSG_TRUNC) cannot authenticate: leave it out.
            if hdr.msg_flags & libc::MSG_TRUNC != 0 {
                continue;
            }
            if let Some(from) = addr_of(&batch.storage[i]) {
                batch.received.push((i, len, from, segment));
            }
        }
        Ok(n as usize)
    }

    /// Sends `buf` as datagrams of `segment` bytes each (the last may be shorter) to `to` in one
    /// `UDP_SEGMENT` send when GSO works, else one datagram at a time. Ok(true) when all were sent.
    pub fn send_segments(&self, buf: &[u8], segment: usize, to: SocketAddr) -> bool {
        if buf.len() <= segment {
            return self.send_to(buf, to).is_ok();
        }
        if self.gso() {
            match self.send_gso(buf, segment, to) {
                Ok(()) => return true,
                // EIO: the device cannot checksum-offload (the kernel says so at send time); EINVAL or
                // ENOPROTOOPT: no GSO for this path. Fall back for good, as wireguard-go does.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
                    ) =>
                {
                    self.gso.store(false, std::sync::atomic::Ordering::Relaxed);
                }
                Err(_) => return false,
            }
        }
        self.send_many(buf, segment, to)
    }

    /// Sends `buf` as datagrams of `segment` bytes each to `to` with `sendmmsg`, up to
    /// [`GSO_MAX_SEGMENTS`] per call (the path without `UDP_SEGMENT`). True when all were sent.
    fn send_many(&self, buf: &[u8], segment: usize, to: SocketAddr) -> bool {
        let (storage, name_len) = sockaddr_of(&to);
        // SAFETY: all-zero iovec and mmsghdr are valid; filled below before use.
        let mut iovecs: [libc::iovec; GSO_MAX_SEGMENTS] = unsafe { std::mem::zeroed() };
        let mut headers: [libc::mmsghdr; GSO_MAX_SEGMENTS] = unsafe { std::mem::zeroed() };
        let mut chunks = buf.chunks(segment.max(1)).peekable();
        while chunks.peek().is_some() {
            let mut count = 0;
            for chunk in chunks.by_ref().take(GSO_MAX_SEGMENTS) {
                iovecs[count] = libc::iovec { iov_base: chunk.as_ptr() as *mut libc::c_void, iov_len: chunk.len() };
                // SAFETY: an all-zero msghdr is valid.
                let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                hdr.msg_name = (&storage as *const libc::sockaddr_storage as *mut libc::sockaddr_storage).cast();
                hdr.msg_namelen = name_len;
                hdr.msg_iov = &mut iovecs[count];
                hdr.msg_iovlen = 1;
                headers[count] = libc::mmsghdr { msg_hdr: hdr, msg_len: 0 };
                count += 1;
            }
            let mut sent = 0;
            while sent < count {
                // SAFETY: headers[sent..count] point at live buffers (buf, storage, iovecs) for the call.
                let n = unsafe {
                    libc::sendmmsg(self.fd.as_raw_fd(), headers[sent..].as_mut_ptr(), (count - sent) as libc::c_uint, 0)
                };
                if n < 0 {
                    if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    // Like a failed send: the rest of the run is dropped (WireGuard tolerates loss).
                    return false;
                }
                if n == 0 {
                    return false;
                }
                sent += n as usize;
            }
        }
        true
    }

    fn send_gso(&self, buf: &[u8], segment: usize, to: SocketAddr) -> io::Result<()> {
        let (storage, len) = sockaddr_of(&to);
        let mut control = [0u64; 4];
        let mut iov = libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() };
        // SAFETY: an all-zero msghdr is valid; filled below with live buffers.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&storage as *const libc::sockaddr_storage as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is a pure computation.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as _;
        // SAFETY: the control buffer holds one cmsg with a u16 payload (CMSG_SPACE(2) <= 32 bytes).
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = SOL_UDP;
            (*cmsg).cmsg_type = UDP_SEGMENT;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment as u16);
        }
        // SAFETY: msg points at live buffers of the lengths it gives.
        let n = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one datagram; Ok(None) when none is waiting.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<Option<(usize, SocketAddr)>> {
        // SAFETY: an all-zero sockaddr_storage is valid.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buf, storage and len describe writable buffers of their sizes.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut storage as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
        Ok(addr_of(&storage).map(|a| (n as usize, a)))
    }

    /// Sends one datagram.
    pub fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<()> {
        let (storage, len) = sockaddr_of(&to);
        // SAFETY: buf is readable; storage holds a valid sockaddr of length len.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&storage as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The raw descriptor, for poll.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
