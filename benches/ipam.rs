//! Address allocation: a whole /16 handed out in order, and key-derived addresses for 10,000 nodes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::IpNet;
use wiremesh::{Pool, PublicKey};

/// Usable addresses of a /16 (all but the network and broadcast addresses).
const SLASH_16_HOSTS: u64 = 65_534;
const NODES: usize = 10_000;

/// Deterministic, well-spread public keys (splitmix64), so every run measures the same work.
fn keys(count: usize) -> Vec<PublicKey> {
    let mut state = 0u64;
    (0..count)
        .map(|_| {
            let mut bytes = [0u8; 32];
            for chunk in bytes.chunks_mut(8) {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
            }
            PublicKey::from_bytes(bytes)
        })
        .collect()
}

fn network(text: &str) -> IpNet {
    text.parse().expect("a valid network")
}

fn sequential(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipam_sequential");
    group.sample_size(20);
    group.throughput(Throughput::Elements(SLASH_16_HOSTS));
    group.bench_function("whole_ipv4_slash16", |b| {
        b.iter(|| {
            let mut pool = Pool::new(network("10.20.0.0/16")).expect("a /16 is a valid pool");
            while let Ok(address) = pool.allocate_sequential() {
                black_box(address);
            }
            pool
        })
    });
    // The same number of addresses from an IPv6 /64: must cost the same, not scale with 2^64.
    group.bench_function("65534_in_ipv6_slash64", |b| {
        b.iter(|| {
            let mut pool = Pool::new(network("fd00:20::/64")).expect("a /64 is a valid pool");
            for _ in 0..SLASH_16_HOSTS {
                black_box(pool.allocate_sequential().expect("a /64 has room"));
            }
            pool
        })
    });
    group.finish();
}

fn key_derived(c: &mut Criterion) {
    let keys = keys(NODES);
    let mut group = c.benchmark_group("ipam_key_derived");
    group.sample_size(20);
    group.throughput(Throughput::Elements(NODES as u64));
    group.bench_function("10k_keys_in_ipv4_slash16", |b| {
        b.iter(|| {
            let mut pool = Pool::new(network("10.20.0.0/16")).expect("a /16 is a valid pool");
            for key in &keys {
                black_box(pool.allocate_for_key(key).expect("a /16 has room for 10,000 nodes"));
            }
            pool
        })
    });
    group.bench_function("10k_keys_batch_in_ipv4_slash16", |b| {
        b.iter(|| {
            let mut pool = Pool::new(network("10.20.0.0/16")).expect("a /16 is a valid pool");
            black_box(pool.allocate_batch_for_keys(&keys).expect("a /16 has room for 10,000 nodes"));
            pool
        })
    });
    group.finish();
}

criterion_group!(benches, sequential, key_derived);
criterion_main!(benches);
