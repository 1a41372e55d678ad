//! The packet path's cost per packet against bare boringtun: encapsulate + decapsulate of one
//! 1420-byte packet through wiremesh's device path (routing, peer lock, send batch, device-wide
//! verification, session decryption, ingress check, receive batch; `wiremesh::device::bench`) and through
//! two bare `boringtun::noise::Tunn`s. The target: ours within 1.3x of bare.

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use wiremesh::device::bench::PathBench;

fn bare_pair() -> (Tunn, Tunn) {
    let secret = || {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("random bytes");
        x25519::StaticSecret::from(bytes)
    };
    let (sa, sb) = (secret(), secret());
    let (pa, pb) = (x25519::PublicKey::from(&sa), x25519::PublicKey::from(&sb));
    let mut a = Tunn::new(sa, pb, None, None, 1, None);
    let mut b = Tunn::new(sb, pa, None, None, 2, None);
    let mut buf = vec![0u8; 2048];
    let mut buf2 = vec![0u8; 2048];
    let init = match a.format_handshake_initiation(&mut buf, false) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("no initiation"),
    };
    let response = match b.decapsulate(None, &init, &mut buf2) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("no response"),
    };
    match a.decapsulate(None, &response, &mut buf) {
        TunnResult::WriteToNetwork(_) | TunnResult::Done => {}
        _ => panic!("handshake failed"),
    }
    // b confirms the session on a's first data packet.
    let keepalive = match a.encapsulate(&[], &mut buf) {
        TunnResult::WriteToNetwork(p) => p.to_vec(),
        _ => panic!("no keepalive"),
    };
    let _ = b.decapsulate(None, &keepalive, &mut buf2);
    (a, b)
}

fn datapath(c: &mut Criterion) {
    let packet = PathBench::packet(1420);
    let mut group = c.benchmark_group("encap+decap 1420 B");
    group.throughput(Throughput::Bytes(packet.len() as u64));

    let (mut a, mut b) = bare_pair();
    let mut enc = vec![0u8; 2048];
    let mut dec = vec![0u8; 2048];
    group.bench_function("bare boringtun Tunn", |bench| {
        bench.iter(|| {
            let n = match a.encapsulate(black_box(&packet), &mut enc) {
                TunnResult::WriteToNetwork(p) => p.len(),
                _ => panic!("encapsulate"),
            };
            match b.decapsulate(None, &enc[..n], &mut dec) {
                TunnResult::WriteToTunnelV4(p, _) => black_box(p.len()),
                _ => panic!("decapsulate"),
            }
        })
    });

    let mut path = PathBench::new();
    assert_eq!(path.round_trip(&packet), packet.len(), "the bench's packet must get through");
    group.bench_function("wiremesh device path", |bench| bench.iter(|| black_box(path.round_trip(black_box(&packet)))));
    group.finish();
}

criterion_group!(benches, datapath);
criterion_main!(benches);
