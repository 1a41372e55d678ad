//! A family-tagged prefix as a left-aligned 128-bit key, the common currency of the trie, the
//! AllowedIPs minimiser and the verifier's longest-prefix-match tables.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An IPv4 or IPv6 prefix with its bits left-aligned in a `u128` (IPv4 occupies the top 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    /// `false` for IPv4, `true` for IPv6.
    pub v6: bool,
    /// Left-aligned bits; bits past `len` are zero.
    pub bits: u128,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// The prefix of a network.
    pub fn from_net(net: &IpNet) -> Self {
        let net = net.trunc();
        match net {
            IpNet::V4(n) => Prefix { v6: false, bits: (u32::from(n.addr()) as u128) << 96, len: n.prefix_len() },
            IpNet::V6(n) => Prefix { v6: true, bits: u128::from(n.addr()), len: n.prefix_len() },
        }
    }

    /// The host prefix (/32 or /128) of an address.
    pub fn host(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(a) => Prefix { v6: false, bits: (u32::from(a) as u128) << 96, len: 32 },
            IpAddr::V6(a) => Prefix { v6: true, bits: u128::from(a), len: 128 },
        }
    }

    /// The whole address space of a family (`0.0.0.0/0` or `::/0`).
    pub fn root(v6: bool) -> Self {
        Prefix { v6, bits: 0, len: 0 }
    }

    /// The longest length of this family.
    pub fn max_len(&self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    /// Bit `i` (0 = most significant).
    pub fn bit(&self, i: u8) -> usize {
        ((self.bits >> (127 - i as u32)) & 1) as usize
    }

    /// The first `len` bits.
    pub fn truncate(&self, len: u8) -> Prefix {
        Prefix { v6: self.v6, bits: mask(self.bits, len), len }
    }

    /// The half of `self` selected by `bit`.
    pub fn child(&self, bit: usize) -> Prefix {
        let bits = if bit == 1 { self.bits | (1u128 << (127 - self.len as u32)) } else { self.bits };
        Prefix { v6: self.v6, bits, len: self.len + 1 }
    }

    /// Whether `other` lies within `self`.
    pub fn contains(&self, other: &Prefix) -> bool {
        self.v6 == other.v6 && self.len <= other.len && mask(other.bits, self.len) == self.bits
    }

    /// Length of the common leading bits of two same-family prefixes, capped at both lengths.
    pub fn common_len(&self, other: &Prefix) -> u8 {
        let diff = (self.bits ^ other.bits).leading_zeros() as u8;
        diff.min(self.len).min(other.len)
    }

    /// Back to an `IpNet`.
    pub fn to_net(self) -> IpNet {
        if self.v6 {
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(self.bits), self.len).expect("length checked"))
        } else {
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from((self.bits >> 96) as u32), self.len).expect("length checked"))
        }
    }
}

/// `bits` with everything past `len` cleared.
pub fn mask(bits: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - len as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for text in ["10.88.0.0/24", "0.0.0.0/0", "10.88.0.11/32", "2001:db8::/64", "::/0", "2001:db8::1/128"] {
            let net: IpNet = text.parse().unwrap();
            assert_eq!(Prefix::from_net(&net).to_net(), net);
        }
    }

    #[test]
    fn containment_and_children() {
        let net = Prefix::from_net(&"10.88.0.0/24".parse().unwrap());
        let host = Prefix::host("10.88.0.200".parse().unwrap());
        assert!(net.contains(&host));
        assert_eq!(net.child(host.bit(24)).to_net().to_string(), "10.88.0.128/25");
        assert_eq!(net.common_len(&host), 24);
        assert!(!Prefix::root(true).contains(&net));
    }
}
