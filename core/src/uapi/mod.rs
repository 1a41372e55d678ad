//! The cross-platform userspace API (UAPI): the `get=1` / `set=1` text protocol that `wg` speaks to
//! userspace WireGuard implementations over `/var/run/wireguard/IFNAME.sock`.
//!
//! Pure render and parse functions over typed values — [`DeviceState`] (a `get` response, with
//! per-peer statistics) and [`DeviceUpdate`] (a `set` request, every key of the protocol) — plus a small
//! blocking [`UapiClient`]. Errors carry the 1-based line and a stable code; requests and responses are
//! bounded ([`MAX_MESSAGE_BYTES`], [`MAX_LINE_BYTES`]) so hostile input costs bounded memory.

mod apply;
mod client;
mod parse;
mod render;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::keys::{PresharedKey, PrivateKey, PublicKey};

pub use apply::{apply_update, whole_peer_requests};
pub use client::{socket_path, UapiClient, SOCKET_DIR};
pub use parse::{parse_get_response, parse_set_request, parse_set_response};
pub use render::{render_errno, render_get_response, render_set_request};

/// The largest request or response (bytes, terminating blank line included) accepted: room for several
/// million AllowedIPs lines, far from unbounded.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// The longest line accepted (newline included). The longest legitimate line (an IPv6 endpoint or
/// allowed_ip) is under 80 bytes.
pub const MAX_LINE_BYTES: usize = 512;

/// errno values the protocol uses (Linux numbering, as wireguard-go sends them, negated on the wire).
pub mod errno {
    /// An I/O failure.
    pub const EIO: i32 = 5;
    /// A value or key the device does not accept.
    pub const EINVAL: i32 = 22;
    /// A request that is not the protocol (no `=`, unknown operation, no terminating blank line).
    pub const EPROTO: i32 = 71;
    /// The listen port is taken.
    pub const EADDRINUSE: i32 = 98;
    /// A request over the size limits.
    pub const EMSGSIZE: i32 = 90;
}

/// A device's state, as a `get=1` response reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceState {
    /// The private key (absent when none is set, or when the device does not show it).
    pub private_key: Option<PrivateKey>,
    /// The public key a device reports instead of its private key (boringtun's `own_public_key=`).
    pub own_public_key: Option<PublicKey>,
    /// The UDP port (0: none reported).
    pub listen_port: u16,
    /// The firewall mark of outgoing packets (0: none).
    pub fwmark: u32,
    /// Every peer, in the device's order.
    pub peers: Vec<PeerState>,
}

/// One peer of a [`DeviceState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    /// The peer's public key.
    pub public_key: PublicKey,
    /// The preshared key (absent when none, sent as all zeros).
    pub preshared_key: Option<PresharedKey>,
    /// The current endpoint, if known.
    pub endpoint: Option<SocketAddr>,
    /// Time of the last completed handshake since the Unix epoch (None: never).
    pub last_handshake: Option<Duration>,
    /// Bytes received from this peer.
    pub rx_bytes: u64,
    /// Bytes sent to this peer.
    pub tx_bytes: u64,
    /// Persistent keepalive interval in seconds (0: off).
    pub persistent_keepalive_interval: u16,
    /// The peer's AllowedIPs, in the device's order.
    pub allowed_ips: Vec<IpNet>,
    /// The protocol version (1).
    pub protocol_version: u32,
}

impl DeviceState {
    /// The device's public key: from its private key, or as the device reports it.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.private_key.as_ref().map(PrivateKey::public_key).or(self.own_public_key)
    }
}

impl PeerState {
    /// A peer with no state but its key.
    pub fn new(public_key: PublicKey) -> Self {
        PeerState {
            public_key,
            preshared_key: None,
            endpoint: None,
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
            persistent_keepalive_interval: 0,
            allowed_ips: Vec::new(),
            protocol_version: 1,
        }
    }
}

/// A change to a device, as a `set=1` request carries it. Fields left `None`/empty/false are not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceUpdate {
    /// `private_key=`: `Some(None)` removes the key (sent as all zeros).
    pub private_key: Option<Option<PrivateKey>>,
    /// `listen_port=` (0: a random port).
    pub listen_port: Option<u16>,
    /// `fwmark=` (0: off).
    pub fwmark: Option<u32>,
    /// `replace_peers=true`: remove every peer before applying `peers`.
    pub replace_peers: bool,
    /// Per-peer changes, applied in order.
    pub peers: Vec<PeerUpdate>,
}

/// A change to one peer (created unless `update_only`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUpdate {
    /// `public_key=`: which peer.
    pub public_key: PublicKey,
    /// `remove=true`: remove the peer (nothing else of the section applies).
    pub remove: bool,
    /// `update_only=true`: change the peer only if it exists.
    pub update_only: bool,
    /// `preshared_key=`: `Some(None)` removes it (sent as all zeros).
    pub preshared_key: Option<Option<PresharedKey>>,
    /// `endpoint=`.
    pub endpoint: Option<SocketAddr>,
    /// `persistent_keepalive_interval=` (0: off).
    pub persistent_keepalive_interval: Option<u16>,
    /// `replace_allowed_ips=true`: drop the peer's AllowedIPs before adding `allowed_ips`.
    pub replace_allowed_ips: bool,
    /// `allowed_ip=` lines, in order (`allowed_ip=-PREFIX` removes).
    pub allowed_ips: Vec<AllowedIpChange>,
    /// `protocol_version=` (only 1 exists).
    pub protocol_version: Option<u32>,
}

impl PeerUpdate {
    /// An update that only names the peer (creating it if absent).
    pub fn new(public_key: PublicKey) -> Self {
        PeerUpdate {
            public_key,
            remove: false,
            update_only: false,
            preshared_key: None,
            endpoint: None,
            persistent_keepalive_interval: None,
            replace_allowed_ips: false,
            allowed_ips: Vec::new(),
            protocol_version: None,
        }
    }
}

/// One `allowed_ip=` line: add a prefix to the peer, or (`-` prefix) remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllowedIpChange {
    /// The prefix as sent (host bits are kept; devices mask them).
    pub prefix: IpNet,
    /// Remove instead of add.
    pub remove: bool,
}

impl AllowedIpChange {
    /// Adds `prefix`.
    pub fn add(prefix: IpNet) -> Self {
        AllowedIpChange { prefix, remove: false }
    }
}
