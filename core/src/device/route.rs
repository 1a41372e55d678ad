//! The device-wide cryptokey routing table: longest-prefix match over every peer's AllowedIPs.
//!
//! One hash table per prefix length and family, plus a bit set of the lengths in use, so a lookup is
//! at most one hash probe per length present (typically a handful), with no allocation and no lock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use ipnet::IpNet;

/// A multiply-shift hasher for the fixed-size integer keys of the table (not exposed to untrusted
/// control of table contents beyond what the UAPI writer chooses).
#[derive(Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

#[derive(Clone)]
struct Family<K, V> {
    /// `by_len[l]` maps the masked network address of each /l prefix to its value.
    by_len: Vec<Map<K, V>>,
    /// Bit l set when `by_len[l]` is not empty.
    used: [u64; 3],
}

impl<K: std::hash::Hash + Eq + Copy, V: Copy> Family<K, V> {
    fn new(max_len: usize) -> Self {
        Family { by_len: (0..=max_len).map(|_| Map::default()).collect(), used: [0; 3] }
    }

    fn mark(&mut self, len: usize) {
        if self.by_len[len].is_empty() {
            self.used[len / 64] &= !(1 << (len % 64));
        } else {
            self.used[len / 64] |= 1 << (len % 64);
        }
    }

    fn insert(&mut self, len: usize, key: K, value: V) -> Option<V> {
        let old = self.by_len[len].insert(key, value);
        self.mark(len);
        old
    }

    fn remove(&mut self, len: usize, key: K) -> Option<V> {
        let old = self.by_len[len].remove(&key);
        self.mark(len);
        old
    }

    fn get(&self, len: usize, key: K) -> Option<V> {
        self.by_len[len].get(&key).copied()
    }

    /// Longest match: lengths from the longest present down, masking the address for each.
    fn lookup(&self, mask: impl Fn(usize) -> K) -> Option<V> {
        for word in (0..3).rev() {
            let mut bits = self.used[word];
            while bits != 0 {
                let top = 63 - bits.leading_zeros() as usize;
                bits &= !(1 << top);
                let len = word * 64 + top;
                if let Some(v) = self.by_len[len].get(&mask(len)) {
                    return Some(*v);
                }
            }
        }
        None
    }

    fn len(&self) -> usize {
        self.by_len.iter().map(|m| m.len()).sum()
    }
}

fn mask4(addr: u32, len: usize) -> u32 {
    if len == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - len))
    }
}

fn mask6(addr: u128, len: usize) -> u128 {
    if len == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - len))
    }
}

/// Prefix → value with longest-prefix lookup, for IPv4 and IPv6. Prefixes are stored masked (host bits
/// cleared), as the kernel stores AllowedIPs.
#[derive(Clone)]
pub struct RouteTable<V> {
    v4: Family<u32, V>,
    v6: Family<u128, V>,
}

impl<V: Copy> Default for RouteTable<V> {
    fn default() -> Self {
        RouteTable { v4: Family::new(32), v6: Family::new(128) }
    }
}

impl<V: Copy> RouteTable<V> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `prefix` (masked) to `value`; returns the value it replaced.
    pub fn insert(&mut self, prefix: IpNet, value: V) -> Option<V> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.insert(p.prefix_len() as usize, u32::from(p.network()), value),
            IpNet::V6(p) => self.v6.insert(p.prefix_len() as usize, u128::from(p.network()), value),
        }
    }

    /// Removes `prefix` (masked); returns its value.
    pub fn remove(&mut self, prefix: IpNet) -> Option<V> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.remove(p.prefix_len() as usize, u32::from(p.network())),
            IpNet::V6(p) => self.v6.remove(p.prefix_len() as usize, u128::from(p.network())),
        }
    }

    /// The value of exactly `prefix` (masked).
    pub fn get(&self, prefix: IpNet) -> Option<V> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.get(p.prefix_len() as usize, u32::from(p.network())),
            IpNet::V6(p) => self.v6.get(p.prefix_len() as usize, u128::from(p.network())),
        }
    }

    /// The value of the longest prefix containing `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<V> {
        match addr {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.lookup(|len| mask4(a, len))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.lookup(|len| mask6(a, len))
            }
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when no prefix is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: scan every prefix, keep the longest that contains the address.
    fn naive(entries: &[(IpNet, u32)], addr: IpAddr) -> Option<u32> {
        let mut best: Option<(u8, u32)> = None;
        let mut table: Vec<(IpNet, u32)> = Vec::new();
        for (p, v) in entries {
            let p = p.trunc();
            table.retain(|(q, _)| *q != p);
            table.push((p, *v));
        }
        for (p, v) in &table {
            if p.contains(&addr) && best.map_or(true, |(l, _)| p.prefix_len() > l) {
                best = Some((p.prefix_len(), *v));
            }
        }
        best.map(|(_, v)| v)
    }

    fn arb_v4() -> impl Strategy<Value = IpNet> {
        // A small address space so that prefixes overlap often.
        (0u32..64, 0u8..=32).prop_map(|(a, l)| {
            IpNet::new(IpAddr::from((0x0a00_0000u32 | (a << 2) | (a >> 3)).to_be_bytes()), l).unwrap()
        })
    }

    fn arb_v6() -> impl Strategy<Value = IpNet> {
        (0u128..64, 0u8..=128).prop_map(|(a, l)| {
            IpNet::new(IpAddr::from(((0xfd00u128 << 112) | (a << 1) | (a << 100)).to_be_bytes()), l).unwrap()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn matches_naive_longest_prefix(
            entries in proptest::collection::vec((prop_oneof![arb_v4(), arb_v6()], 0u32..5), 0..40),
            removals in proptest::collection::vec(prop_oneof![arb_v4(), arb_v6()], 0..10),
            probes in proptest::collection::vec(prop_oneof![arb_v4(), arb_v6()], 1..40),
        ) {
            let mut table = RouteTable::new();
            for (p, v) in &entries {
                table.insert(*p, *v);
            }
            let mut kept: Vec<(IpNet, u32)> = entries.clone();
            for r in &removals {
                table.remove(*r);
                kept.retain(|(p, _)| p.trunc() != r.trunc());
            }
            for probe in probes {
                for addr in [probe.addr(), probe.network(), probe.broadcast()] {
                    prop_assert_eq!(table.lookup(addr), naive(&kept, addr), "address {}", addr);
                }
            }
        }
    }

    #[test]
    fn default_routes_and_host_bits() {
        let mut t = RouteTable::new();
        t.insert("0.0.0.0/0".parse().unwrap(), 1);
        t.insert("10.0.0.7/24".parse().unwrap(), 2);
        t.insert("::/0".parse().unwrap(), 3);
        assert_eq!(t.get("10.0.0.0/24".parse().unwrap()), Some(2));
        assert_eq!(t.lookup("10.0.0.200".parse().unwrap()), Some(2));
        assert_eq!(t.lookup("10.0.1.1".parse().unwrap()), Some(1));
        assert_eq!(t.lookup("2001:db8::1".parse().unwrap()), Some(3));
        assert_eq!(t.len(), 3);
    }
}
