//! The timer thread's work: boringtun's per-peer timers (rekey, handshake retries, keepalives, session
//! expiry), run each tick only for the peers that have them.
//!
//! A peer joins the [`TimedPeers`] list when the packet path first uses its session state (a packet to
//! or from it, a handshake, a keepalive: see `Peer::session`) and leaves it when that state goes: by a
//! configuration change (a new key, preshared key or keepalive rebuilds it; removal drops it), or when
//! boringtun reports the connection expired (no new keys for 540 s, or 90 s of unanswered handshake
//! attempts) and the timer thread drops it, to be made afresh on the next use. So a tick costs in
//! proportion to the peers that talked in the last minutes, not to every configured peer: a device with
//! 10,000 peers of which ten are busy visits ten.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::TunnResult;

use super::{Peer, Snapshot};

/// The peers whose session state has timers to run (each at most once: `PeerInner::timed` says whether
/// a peer is listed, and changes only under the peer's lock).
#[derive(Default)]
pub(super) struct TimedPeers {
    peers: Mutex<Vec<Arc<Peer>>>,
}

impl TimedPeers {
    /// Lists `peer`; the caller holds its lock and has just set its `timed` flag.
    pub(super) fn add(&self, peer: &Arc<Peer>) {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).push(peer.clone());
    }

    /// How many peers are listed.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Runs one tick of timers for the listed peers, sends what they ask for (handshake initiations,
/// keepalives) and drops from the list the peers whose session state is gone or expired. Returns how
/// many peers it visited. `out` is scratch space for one handshake or keepalive message.
pub(super) fn tick(snap: &Snapshot, out: &mut [u8]) -> usize {
    // Taken out for the tick, so the packet path can list peers meanwhile without waiting for it; a
    // peer taken out is still flagged, so the packet path does not list it twice.
    let listed = std::mem::take(&mut *snap.timed.peers.lock().unwrap_or_else(|e| e.into_inner()));
    let visited = listed.len();
    let mut kept = Vec::with_capacity(listed.len());
    for peer in listed {
        let mut inner = peer.lock();
        let endpoint = inner.endpoint;
        let Some(tunn) = inner.tunn.as_deref_mut() else {
            inner.timed = false;
            continue;
        };
        match tunn.update_timers(out) {
            TunnResult::WriteToNetwork(packet) => {
                if let Some(ep) = endpoint {
                    if snap.sockets.send(packet, ep) {
                        peer.tx_bytes.fetch_add(packet.len() as u64, Ordering::Relaxed);
                    }
                }
            }
            TunnResult::Err(WireGuardError::ConnectionExpired) => {
                // Dropped, not kept: boringtun dates what happens to a session by the time of its last
                // `update_timers`, so a state that stopped ticking would, once revived by a peer's
                // handshake, take its new session for hours old and expire it at the next tick. The next
                // use makes a fresh one (one X25519 computation), as for a peer that never talked.
                inner.reset(snap.identity.as_ref());
                inner.timed = false;
                continue;
            }
            _ => {}
        }
        drop(inner);
        kept.push(peer);
    }
    snap.timed.peers.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
    visited
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use boringtun::noise::rate_limiter::RateLimiter;
    use boringtun::x25519;

    use super::*;
    use crate::device::{
        bind_sockets, encrypt, sys, Counters, Identity, RouteTable, TxBatch, TxPipe, HANDSHAKE_RATE_LIMIT,
    };
    use crate::keys::PrivateKey;

    /// A device's snapshot with a key and `n` peers (peer `i` has index `i + 1` and routes
    /// 10.(i / 256).(i % 256).1/32), none of which has talked.
    fn snapshot(n: u32) -> Snapshot {
        let key = PrivateKey::generate();
        let secret = x25519::StaticSecret::from(*key.as_bytes());
        let public = x25519::PublicKey::from(&secret);
        let identity = Arc::new(Identity {
            secret,
            public,
            key,
            limiter: Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT)),
            mac_only: Arc::new(RateLimiter::new(&public, u64::MAX)),
        });
        let options = sys::UdpOptions { fwmark: 0, offload: false, buffer_bytes: 1 << 16 };
        let mut snap = Snapshot {
            identity: Some(identity.clone()),
            sockets: Arc::new(bind_sockets(0, 0, 1, &options).expect("loopback UDP sockets")),
            order: Vec::new(),
            by_index: Default::default(),
            by_key: Default::default(),
            table: RouteTable::new(),
            allowed: Default::default(),
            timed: Default::default(),
        };
        for i in 0..n {
            let index = i + 1;
            let public = *PrivateKey::generate().public_key().as_bytes();
            let peer = Arc::new(Peer::new(public, index));
            peer.lock().reset(Some(&identity));
            snap.table.insert(overlay(i).parse().expect("a prefix"), index);
            snap.by_index.insert(index, peer);
            snap.by_key.insert(public, index);
            snap.order.push(index);
        }
        snap
    }

    fn overlay(i: u32) -> String {
        format!("10.{}.{}.1/32", i / 256, i % 256)
    }

    /// Sends one packet from the TUN side to peer `i` (no endpoint: it starts a handshake and waits).
    fn send_to(snap: &Snapshot, i: u32) {
        let mut packet = [0u8; 28];
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&28u16.to_be_bytes());
        packet[9] = 17;
        packet[12..16].copy_from_slice(&[10, 255, 255, 2]);
        let dst: Ipv4Addr = overlay(i).trim_end_matches("/32").parse().expect("an address");
        packet[16..20].copy_from_slice(&dst.octets());
        let mut tx = TxPipe::inline(TxBatch::new());
        encrypt(&Counters::default(), snap, &packet, &mut tx);
    }

    #[test]
    fn a_tick_visits_only_the_peers_in_use() {
        let snap = snapshot(2_000);
        let mut out = vec![0u8; 2048];
        assert_eq!(tick(&snap, &mut out), 0, "peers that never talked have no timers");
        for i in [3, 700, 1999] {
            send_to(&snap, i);
        }
        send_to(&snap, 700); // a second packet does not list the peer twice
        assert_eq!(snap.timed.len(), 3);
        assert_eq!(tick(&snap, &mut out), 3);
        assert_eq!(tick(&snap, &mut out), 3, "a handshake under way keeps its timers");
    }

    #[test]
    fn a_peer_whose_state_a_change_dropped_leaves_and_comes_back_on_use() {
        let snap = snapshot(10);
        let mut out = vec![0u8; 2048];
        send_to(&snap, 4);
        send_to(&snap, 5);
        let identity = snap.identity.clone();
        snap.by_index[&6].lock().reset(identity.as_ref()); // peer 5, as a new preshared key does
        assert_eq!(tick(&snap, &mut out), 2, "still listed until the next tick");
        assert_eq!(tick(&snap, &mut out), 1, "the dropped state left the list");
        assert!(!snap.by_index[&6].lock().timed);
        send_to(&snap, 5);
        assert_eq!(tick(&snap, &mut out), 2, "used again, listed again");
    }
}
