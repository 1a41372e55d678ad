//! Support for the criterion bench of the packet path (`benches/datapath.rs`), not an API: two device
//! ends in one process, with real configuration snapshots, routing tables and (loopback) UDP sockets
//! but no TUN, so that one packet can be taken through the same functions the TUN and UDP readers run
//! (`encrypt` into a send batch, `handle_datagram` into a receive batch), without the system calls.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519;

use super::{
    bind_sockets, encrypt, handle_datagram, sys, Counters, Identity, Peer, RouteTable, RxBatch, Snapshot, TxBatch,
    TxPipe, HANDSHAKE_RATE_LIMIT,
};
use crate::keys::PrivateKey;

/// Two ends `a` (10.0.0.1) and `b` (10.0.0.2) with a session between them.
pub struct PathBench {
    a: Snapshot,
    b: Snapshot,
    counters: Counters,
    tx: TxPipe,
    rx: RxBatch,
    a_addr: SocketAddr,
}

fn end(key: &PrivateKey, peer_key: [u8; 32], peer_net: &str, index: u32) -> Snapshot {
    let secret = x25519::StaticSecret::from(*key.as_bytes());
    let public = x25519::PublicKey::from(&secret);
    let identity = Arc::new(Identity {
        secret,
        public,
        key: key.clone(),
        limiter: Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT)),
        mac_only: Arc::new(RateLimiter::new(&public, u64::MAX)),
    });
    let options = sys::UdpOptions { fwmark: 0, offload: false, buffer_bytes: 1 << 20 };
    let sockets = bind_sockets(0, 0, 1, &options).expect("binding loopback UDP sockets for the bench");
    let peer = Arc::new(Peer::new(peer_key, index));
    peer.lock().reset(Some(&identity));
    let mut table = RouteTable::new();
    table.insert(peer_net.parse().expect("a valid prefix"), index);
    Snapshot {
        identity: Some(identity),
        sockets: Arc::new(sockets),
        order: vec![index],
        by_index: [(index, peer)].into_iter().collect(),
        by_key: [(peer_key, index)].into_iter().collect(),
        table,
        allowed: Default::default(),
        timed: Default::default(),
    }
}

impl PathBench {
    /// Two ends with fresh keys; the handshake runs through the same path (its reply over loopback).
    pub fn new() -> PathBench {
        let (ka, kb) = (PrivateKey::generate(), PrivateKey::generate());
        let (pa, pb) = (*ka.public_key().as_bytes(), *kb.public_key().as_bytes());
        let a = end(&ka, pb, "10.0.0.2/32", 1);
        let b = end(&kb, pa, "10.0.0.1/32", 2);
        let port = |s: &Snapshot| s.sockets.port;
        let a_addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port(&a)));
        let b_addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port(&b)));
        a.by_index[&1].lock().endpoint = Some(b_addr);
        let mut bench = PathBench {
            a,
            b,
            counters: Counters::default(),
            tx: TxPipe::inline(TxBatch::new()),
            rx: RxBatch::new(),
            a_addr,
        };
        // The first packet starts the handshake: the initiation goes a -> b through the batch, b's
        // response over loopback UDP to a's socket, which we read and hand to a.
        let packet = Self::packet(64);
        encrypt(&bench.counters, &bench.a, &packet, &mut bench.tx);
        let (off, len, _) = bench.tx.batch.items[0];
        let init = bench.tx.batch.buf[off..off + len].to_vec();
        bench.tx.batch.items.clear();
        bench.tx.batch.used = 0;
        handle_datagram(&bench.counters, &bench.b, &init, bench.a_addr, &mut bench.rx);
        let socket = bench.a.sockets.v4.clone().expect("an IPv4 socket");
        let mut buf = vec![0u8; 2048];
        let mut response = None;
        for _ in 0..200 {
            if let Ok(Some((n, from))) = socket.recv_from(&mut buf) {
                response = Some((n, from));
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let (n, from) = response.expect("b's handshake response over loopback");
        handle_datagram(&bench.counters, &bench.a, &buf[..n], from, &mut bench.rx);
        bench.rx.items.clear();
        bench.rx.used = 0;
        bench.tx.batch.items.clear();
        bench.tx.batch.used = 0;
        // Drain what a queued and sent during the handshake.
        while let Ok(Some(_)) = socket.recv_from(&mut buf) {}
        bench
    }

    /// An IPv4 packet 10.0.0.1 -> 10.0.0.2 of `len` bytes (UDP, zero payload).
    pub fn packet(len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len.max(28)];
        p[0] = 0x45;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let udp_len = (p.len() - 20) as u16;
        p[24..26].copy_from_slice(&udp_len.to_be_bytes());
        p
    }

    /// Takes `packet` from a's TUN side to b's: routed and encrypted into a's send batch, then verified,
    /// decrypted, ingress-checked and queued in b's receive batch. Returns the bytes b would write to
    /// its TUN (0 when the packet was dropped).
    pub fn round_trip(&mut self, packet: &[u8]) -> usize {
        encrypt(&self.counters, &self.a, packet, &mut self.tx);
        let mut delivered = 0;
        for i in 0..self.tx.batch.items.len() {
            let (off, len, _) = self.tx.batch.items[i];
            handle_datagram(&self.counters, &self.b, &self.tx.batch.buf[off..off + len], self.a_addr, &mut self.rx);
        }
        for &(_, len) in &self.rx.items {
            delivered += len;
        }
        self.tx.batch.items.clear();
        self.tx.batch.used = 0;
        self.rx.items.clear();
        self.rx.used = 0;
        delivered
    }
}

impl Default for PathBench {
    fn default() -> Self {
        PathBench::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_goes_through_and_a_spoofed_one_does_not() {
        let mut bench = PathBench::new();
        let packet = PathBench::packet(1420);
        assert_eq!(bench.round_trip(&packet), 1420);
        let mut spoofed = packet.clone();
        spoofed[12..16].copy_from_slice(&[10, 0, 0, 9]);
        assert_eq!(bench.round_trip(&spoofed), 0, "a source b does not route to a is dropped");
        assert_eq!(bench.counters.ingress_dropped.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
