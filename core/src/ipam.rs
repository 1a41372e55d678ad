//! Address pools: hand out overlay addresses from one IPv4 or IPv6 network.
//!
//! A [`Pool`] covers exactly one network; a dual-stack mesh keeps one pool per network and gives every
//! node one address in each. Addresses are kept as offsets from the network address and allocated ones
//! as runs of consecutive offsets, so memory and time grow with the number of runs, never with the size
//! of the network: a /64 costs no more than a /24. Two strategies hand out addresses: the lowest free
//! one ([`Pool::allocate_sequential`]), or one derived from the node's public key
//! ([`Pool::allocate_for_key`], [`Pool::allocate_batch_for_keys`]), which keeps a node's address
//! stable whatever order nodes are added in.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use blake2::digest::{KeyInit, Mac};
use ipnet::IpNet;

use crate::error::IpamError;
use crate::keys::PublicKey;

/// How many key-derived candidates are tried before falling back to the lowest free address.
const KEY_PROBES: u32 = 64;

/// Domain separation for the key-derived probe sequence. Changing it moves every derived address, so it
/// carries a version.
const KEY_DOMAIN: &[u8] = b"wiremesh ipam v1";

/// Parses an IP address written as text (`10.88.0.1`, `fd00::1`; surrounding whitespace ignored), for
/// callers that hold text, such as the language bindings. Fails with [`IpamError::InvalidAddress`].
pub fn parse_address(text: &str) -> Result<IpAddr, IpamError> {
    text.trim().parse().map_err(|_| IpamError::InvalidAddress { text: excerpt(text), expected: "IP address" })
}

/// Parses a network written as `ADDR/PREFIX` (`10.88.0.0/24`, `fd00::/64`; surrounding whitespace
/// ignored). Host bits are kept, as in [`IpNet`]'s own parser. Fails with [`IpamError::InvalidAddress`].
pub fn parse_network(text: &str) -> Result<IpNet, IpamError> {
    text.trim().parse().map_err(|_| IpamError::InvalidAddress { text: excerpt(text), expected: "CIDR block" })
}

/// At most 64 printable characters of `text`, for error messages.
fn excerpt(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Addresses that must never be handed out: a single address, a CIDR block, or an inclusive range.
///
/// Parsed from and displayed as `10.88.0.1`, `10.88.0.0/28` or `10.88.0.1-10.88.0.9` (IPv6 alike), so
/// a reservation can live in a mesh file as text and round-trip (addresses in their canonical spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reservation {
    /// One address.
    Address(IpAddr),
    /// Every address of a CIDR block. Host bits in the written form are kept for display but ignored
    /// for membership: `10.88.0.5/28` reserves `10.88.0.0` to `10.88.0.15`.
    Network(IpNet),
    /// Every address from `first` to `last`, both included.
    Range {
        /// The lowest reserved address.
        first: IpAddr,
        /// The highest reserved address.
        last: IpAddr,
    },
}

impl Reservation {
    /// Parses `ADDR`, `ADDR/PREFIX` or `FIRST-LAST` (surrounding whitespace is ignored).
    ///
    /// Fails with [`IpamError::InvalidReservation`] when a part is not an address or network, when
    /// the two ends of a range are of different families, or when a range ends before it starts.
    pub fn parse(text: &str) -> Result<Reservation, IpamError> {
        let invalid = |reason: &str| IpamError::InvalidReservation { text: text.to_owned(), reason: reason.to_owned() };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid("expected an address, a CIDR block or a range FIRST-LAST"));
        }
        if let Some((first, last)) = trimmed.split_once('-') {
            let first: IpAddr =
                first.trim().parse().map_err(|_| invalid("the start of the range is not an IP address"))?;
            let last: IpAddr = last.trim().parse().map_err(|_| invalid("the end of the range is not an IP address"))?;
            if first.is_ipv4() != last.is_ipv4() {
                return Err(invalid("the two ends of the range are of different IP families"));
            }
            if first > last {
                return Err(invalid("the range ends before it starts"));
            }
            return Ok(Reservation::Range { first, last });
        }
        if trimmed.contains('/') {
            let network: IpNet = trimmed.parse().map_err(|_| invalid("not a CIDR block such as 10.88.0.0/28"))?;
            return Ok(Reservation::Network(network));
        }
        let address: IpAddr = trimmed.parse().map_err(|_| invalid("not an IP address"))?;
        Ok(Reservation::Address(address))
    }

    /// The lowest reserved address.
    pub fn first(&self) -> IpAddr {
        match *self {
            Reservation::Address(address) => address,
            Reservation::Network(network) => network.network(),
            Reservation::Range { first, .. } => first,
        }
    }

    /// The highest reserved address (for a block, its last address, IPv6 included).
    pub fn last(&self) -> IpAddr {
        match *self {
            Reservation::Address(address) => address,
            Reservation::Network(network) => network.broadcast(),
            Reservation::Range { last, .. } => last,
        }
    }
}

impl fmt::Display for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reservation::Address(address) => write!(f, "{address}"),
            Reservation::Network(network) => write!(f, "{network}"),
            Reservation::Range { first, last } => write!(f, "{first}-{last}"),
        }
    }
}

impl FromStr for Reservation {
    type Err = IpamError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Reservation::parse(text)
    }
}

/// Disjoint, non-adjacent inclusive ranges of offsets, keyed by their first offset. Every operation is
/// O(log runs), whatever the length of the runs.
#[derive(Debug, Clone, Default)]
struct RangeSet {
    runs: BTreeMap<u128, u128>,
}

impl RangeSet {
    /// The range holding `offset`, as `(first, last)`.
    fn containing(&self, offset: u128) -> Option<(u128, u128)> {
        self.runs.range(..=offset).next_back().filter(|&(_, &last)| last >= offset).map(|(&first, &last)| (first, last))
    }

    fn contains(&self, offset: u128) -> bool {
        self.containing(offset).is_some()
    }

    /// Adds `first..=last`, merging it with every range it overlaps or touches.
    fn insert(&mut self, first: u128, mut last: u128) {
        // Absorb the ranges starting inside first..=last+1: they overlap or touch the new one.
        while let Some((&start, &end)) = self.runs.range(first..=last.saturating_add(1)).next() {
            self.runs.remove(&start);
            last = last.max(end);
        }
        // Extend the range before, in place, if it reaches first. Ranges are non-adjacent, so when its end
        // passes `last` nothing after it needs merging, and otherwise everything up to last+1 is absorbed.
        if let Some((_, end)) = self.runs.range_mut(..first).next_back() {
            if end.saturating_add(1) >= first {
                *end = (*end).max(last);
                return;
            }
        }
        self.runs.insert(first, last);
    }

    /// Removes one offset, splitting its range; false if it was not in the set.
    fn remove(&mut self, offset: u128) -> bool {
        let Some((first, last)) = self.containing(offset) else {
            return false;
        };
        if first < offset {
            self.runs.insert(first, offset - 1);
        } else {
            self.runs.remove(&first);
        }
        if offset < last {
            self.runs.insert(offset + 1, last);
        }
        true
    }

    /// Every offset, ascending.
    fn iter(&self) -> impl Iterator<Item = u128> + '_ {
        self.runs.iter().flat_map(|(&first, &last)| first..=last)
    }
}

/// The addresses of one IPv4 or IPv6 network: which are allocated, which are reserved, and which to
/// hand out next.
///
/// Never hands out the network address, the IPv4 broadcast address, the IPv6 subnet-router anycast
/// address (host part all zero) or a declared [`Reservation`]. Allocated addresses are stored as runs,
/// so a whole /16 allocated in order is one run, and a sparse IPv6 /64 costs only what is allocated.
///
/// ```
/// use wiremesh::{Pool, Reservation};
/// let mut pool = Pool::new("10.88.0.0/24".parse().unwrap()).unwrap();
/// pool.reserve(Reservation::parse("10.88.0.1-10.88.0.9").unwrap()).unwrap();
/// assert_eq!(pool.allocate_sequential().unwrap().to_string(), "10.88.0.10");
/// pool.assign("10.88.0.11".parse().unwrap()).unwrap();
/// assert_eq!(pool.allocate_sequential().unwrap().to_string(), "10.88.0.12");
/// ```
#[derive(Debug, Clone)]
pub struct Pool {
    /// The network, truncated to its network address.
    network: IpNet,
    /// The network address as an integer; every other address is stored as an offset from it.
    base: u128,
    /// The offset of the last address of the network (broadcast in IPv4).
    last: u128,
    /// Allocated offsets.
    allocated: RangeSet,
    /// How many addresses are allocated.
    len_allocated: usize,
    /// Declared reserved offsets (network, broadcast and anycast are implicit, not stored here).
    reserved: RangeSet,
    /// The reservations as declared, in order.
    reservations: Vec<Reservation>,
    /// No free address has an offset below this one, so sequential allocation searches from here.
    hint: u128,
}

impl Pool {
    /// A pool over `network`, with nothing allocated or reserved. Host bits in `network` are dropped
    /// (`10.88.0.1/24` gives the pool `10.88.0.0/24`).
    ///
    /// Fails with [`IpamError::InvalidNetwork`] when fewer than two addresses could be handed out: IPv4
    /// /31 and /32, IPv6 /127 and /128. A mesh needs room for at least two nodes.
    pub fn new(network: IpNet) -> Result<Pool, IpamError> {
        let network = network.trunc();
        let host_bits = u32::from(network.max_prefix_len() - network.prefix_len());
        if host_bits < 2 {
            return Err(IpamError::InvalidNetwork {
                network,
                reason: format!(
                    "a /{} leaves fewer than 2 addresses to hand out; a pool needs at least 2",
                    network.prefix_len()
                ),
            });
        }
        let last = u128::MAX >> (128 - host_bits);
        Ok(Pool {
            network,
            base: to_integer(network.network()),
            last,
            allocated: RangeSet::default(),
            len_allocated: 0,
            reserved: RangeSet::default(),
            reservations: Vec::new(),
            hint: 1,
        })
    }

    /// The pool's network (with host bits cleared).
    pub fn network(&self) -> IpNet {
        self.network
    }

    /// How many addresses the network can hand out: every address except the network address and the
    /// IPv4 broadcast address (the IPv6 anycast address is the network address). Declared reservations
    /// are not subtracted. A `u128` because an IPv6 network can hold more than `usize` addresses.
    pub fn capacity(&self) -> u128 {
        // Usable offsets are 1..=last_usable, so there are exactly last_usable of them.
        self.last_usable()
    }

    /// Whether `address` lies inside the pool's network (of either status). False for the other family.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.network.contains(&address)
    }

    /// Whether `address` is allocated in this pool.
    pub fn is_allocated(&self, address: IpAddr) -> bool {
        self.offset_of(address).is_ok_and(|offset| self.allocated.contains(offset))
    }

    /// Whether `address` may never be handed out: the network, IPv4 broadcast or IPv6 anycast address,
    /// or a declared reservation. False for addresses outside the network.
    pub fn is_reserved(&self, address: IpAddr) -> bool {
        self.offset_of(address).is_ok_and(|offset| self.is_reserved_offset(offset))
    }

    /// Every allocated address, ascending.
    pub fn allocated(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.allocated.iter().map(|offset| self.address_at(offset))
    }

    /// How many addresses are allocated.
    pub fn len_allocated(&self) -> usize {
        self.len_allocated
    }

    /// The reservations declared with [`Pool::reserve`], in the order they were declared.
    pub fn reservations(&self) -> &[Reservation] {
        &self.reservations
    }

    /// Declares addresses that must never be handed out, e.g. a gateway or a block kept for later.
    ///
    /// Addresses already allocated inside the reservation stay allocated (releasing them later does not
    /// make them available again). Fails with [`IpamError::FamilyMismatch`] or
    /// [`IpamError::OutsideNetwork`] when any part of the reservation lies outside the network, and with
    /// [`IpamError::InvalidReservation`] for a range that ends before it starts.
    pub fn reserve(&mut self, reservation: Reservation) -> Result<(), IpamError> {
        let first = self.offset_of(reservation.first())?;
        let last = self.offset_of(reservation.last())?;
        if first > last {
            return Err(IpamError::InvalidReservation {
                text: reservation.to_string(),
                reason: "the range ends before it starts".to_owned(),
            });
        }
        self.reserved.insert(first, last);
        self.reservations.push(reservation);
        Ok(())
    }

    /// Allocates a statically chosen address, e.g. one pinned in the mesh file.
    ///
    /// Checks, in this order: [`IpamError::FamilyMismatch`], [`IpamError::OutsideNetwork`],
    /// [`IpamError::Reserved`] (network, broadcast, anycast or declared), [`IpamError::Taken`].
    pub fn assign(&mut self, address: IpAddr) -> Result<(), IpamError> {
        let offset = self.offset_of(address)?;
        if self.is_reserved_offset(offset) {
            return Err(IpamError::Reserved { address, network: self.network });
        }
        if self.allocated.contains(offset) {
            return Err(IpamError::Taken { address, network: self.network });
        }
        self.take(offset);
        Ok(())
    }

    /// Allocates the lowest free address. Fails with [`IpamError::Exhausted`] when none is left.
    ///
    /// Amortised O(log n): the search starts at a cursor below which nothing is free, and skips whole
    /// runs of allocated or reserved addresses at a time.
    pub fn allocate_sequential(&mut self) -> Result<IpAddr, IpamError> {
        let offset = self.allocate_lowest()?;
        Ok(self.address_at(offset))
    }

    /// Allocates an address derived from `key`, so a node keeps the same address however many times the
    /// mesh is planned and whatever order its nodes are added in.
    ///
    /// The candidates are a probe sequence: keyed BLAKE2s (keyed with the public key) over a versioned
    /// tag, the network and a counter, reduced modulo the capacity. The first candidate that is free
    /// wins; for one key in a given network the sequence never changes, so the address only differs when
    /// an earlier candidate is taken by someone else. After 64 taken candidates the lowest free address
    /// is used instead, so this fails ([`IpamError::Exhausted`]) only when no address is free at all.
    /// Addresses never collide: every candidate is checked against the allocated and reserved sets.
    ///
    /// The pool does not remember which key holds which address; calling this twice with the same key
    /// allocates two addresses. When several keys are allocated together, prefer
    /// [`Pool::allocate_batch_for_keys`], whose result does not depend on the order of the keys even when
    /// their candidates collide.
    pub fn allocate_for_key(&mut self, key: &PublicKey) -> Result<IpAddr, IpamError> {
        let offset = self.allocate_offset_for_key(key)?;
        Ok(self.address_at(offset))
    }

    /// Allocates one key-derived address per key (see [`Pool::allocate_for_key`]) and returns them in
    /// the order of `keys`.
    ///
    /// The keys are allocated in sorted order, so each key's address depends only on the set of keys and
    /// on what was allocated or reserved before, never on the order of `keys`. All or nothing: when the
    /// pool runs out, the addresses allocated by this call are released and [`IpamError::Exhausted`] is
    /// returned.
    pub fn allocate_batch_for_keys(&mut self, keys: &[PublicKey]) -> Result<Vec<IpAddr>, IpamError> {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        // Stable sort: equal keys (which get interchangeable addresses) keep their input order.
        order.sort_by_key(|&index| keys[index]);
        let mut offsets: Vec<Option<u128>> = vec![None; keys.len()];
        for index in order {
            match self.allocate_offset_for_key(&keys[index]) {
                Ok(offset) => offsets[index] = Some(offset),
                Err(err) => {
                    for &offset in offsets.iter().flatten() {
                        self.untake(offset);
                    }
                    return Err(err);
                }
            }
        }
        // `order` is a permutation of 0..keys.len(), so every slot is Some and nothing is dropped here.
        Ok(offsets.into_iter().flatten().map(|offset| self.address_at(offset)).collect())
    }

    /// Returns an allocated address to the pool; sequential allocation hands out the lowest free address
    /// again, so a released address is reused first if it is the lowest.
    ///
    /// Fails with [`IpamError::NotAllocated`] when the address is not allocated, and with
    /// [`IpamError::FamilyMismatch`] or [`IpamError::OutsideNetwork`] when it cannot be in this pool.
    pub fn release(&mut self, address: IpAddr) -> Result<(), IpamError> {
        let offset = self.offset_of(address)?;
        if self.untake(offset) {
            Ok(())
        } else {
            Err(IpamError::NotAllocated { address, network: self.network })
        }
    }

    /// The highest offset that may be handed out (the lowest is always 1).
    fn last_usable(&self) -> u128 {
        match self.network {
            IpNet::V4(_) => self.last - 1,
            IpNet::V6(_) => self.last,
        }
    }

    /// Network, broadcast, anycast or declared reserved.
    fn is_reserved_offset(&self, offset: u128) -> bool {
        offset == 0 || offset > self.last_usable() || self.reserved.contains(offset)
    }

    fn is_free(&self, offset: u128) -> bool {
        !self.is_reserved_offset(offset) && !self.allocated.contains(offset)
    }

    /// The offset of `address`, or why it cannot be in this pool.
    fn offset_of(&self, address: IpAddr) -> Result<u128, IpamError> {
        if address.is_ipv4() != matches!(self.network, IpNet::V4(_)) {
            return Err(IpamError::FamilyMismatch { address, network: self.network });
        }
        to_integer(address)
            .checked_sub(self.base)
            .filter(|&offset| offset <= self.last)
            .ok_or(IpamError::OutsideNetwork { address, network: self.network })
    }

    fn address_at(&self, offset: u128) -> IpAddr {
        // offset <= last, and base + last is the network's last address: no overflow.
        let value = self.base + offset;
        match self.network {
            // An address inside an IPv4 network is below 2^32, so the cast cannot truncate.
            IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
            IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }

    /// Marks a free offset allocated, moving the cursor past it if it sat there.
    fn take(&mut self, offset: u128) {
        self.allocated.insert(offset, offset);
        self.len_allocated += 1;
        if offset == self.hint {
            // Nothing below the cursor is free and the cursor itself no longer is. At u128::MAX the
            // cursor stays put; the next search finds it allocated and reports exhaustion.
            self.hint = offset.saturating_add(1);
        }
    }

    /// Frees an allocated offset; false if it was not allocated.
    fn untake(&mut self, offset: u128) -> bool {
        if !self.allocated.remove(offset) {
            return false;
        }
        self.len_allocated -= 1;
        self.hint = self.hint.min(offset);
        true
    }

    fn exhausted(&self) -> IpamError {
        IpamError::Exhausted { network: self.network }
    }

    /// The lowest free offset: from the cursor, jump over whole reserved and allocated runs.
    fn lowest_free(&self) -> Option<u128> {
        let last_usable = self.last_usable();
        let mut candidate = self.hint.max(1);
        while candidate <= last_usable {
            if let Some((_, end)) = self.reserved.containing(candidate) {
                candidate = end.checked_add(1)?;
            } else if let Some((_, end)) = self.allocated.containing(candidate) {
                candidate = end.checked_add(1)?;
            } else {
                return Some(candidate);
            }
        }
        None
    }

    fn allocate_lowest(&mut self) -> Result<u128, IpamError> {
        let offset = self.lowest_free().ok_or_else(|| self.exhausted())?;
        // Nothing below the lowest free offset is free; `take` then moves the cursor past it.
        self.hint = offset;
        self.take(offset);
        Ok(offset)
    }

    fn allocate_offset_for_key(&mut self, key: &PublicKey) -> Result<u128, IpamError> {
        match self.probe_for_key(key) {
            Some(offset) => {
                self.take(offset);
                Ok(offset)
            }
            None => self.allocate_lowest(),
        }
    }

    /// The first free candidate of `key`'s probe sequence, if one of the first [`KEY_PROBES`] is free.
    fn probe_for_key(&self, key: &PublicKey) -> Option<u128> {
        let mut mac = <blake2::Blake2sMac256 as KeyInit>::new(&(*key.as_bytes()).into());
        mac.update(KEY_DOMAIN);
        match self.network {
            IpNet::V4(network) => {
                mac.update(&[4]);
                mac.update(&network.network().octets());
            }
            IpNet::V6(network) => {
                mac.update(&[6]);
                mac.update(&network.network().octets());
            }
        }
        mac.update(&[self.network.prefix_len()]);
        let capacity = self.capacity();
        (0..KEY_PROBES)
            .map(|counter| {
                let mut probe = mac.clone();
                probe.update(&counter.to_le_bytes());
                let digest = probe.finalize().into_bytes();
                let mut head = [0u8; 16];
                head.copy_from_slice(&digest[..16]);
                // Usable offsets are 1..=capacity.
                1 + u128::from_le_bytes(head) % capacity
            })
            .find(|&offset| self.is_free(offset))
    }
}

fn to_integer(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(address) => u128::from(u32::from(address)),
        IpAddr::V6(address) => u128::from(address),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    use proptest::prelude::*;

    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("test network")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    fn pool(text: &str) -> Pool {
        Pool::new(net(text)).expect("test pool")
    }

    /// A deterministic, well-spread test key.
    fn key(seed: u64) -> PublicKey {
        let mut bytes = [0u8; 32];
        let mut state = seed;
        for chunk in bytes.chunks_mut(8) {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        PublicKey::from_bytes(bytes)
    }

    #[test]
    fn parses_addresses_and_networks_from_text() {
        assert_eq!(parse_address(" 10.88.0.1 ").unwrap(), ip("10.88.0.1"));
        assert_eq!(parse_network("fd00::/64").unwrap(), net("fd00::/64"));
        for bad in ["", "10.88.0", "10.88.0.256", "fd00::/64"] {
            assert_eq!(parse_address(bad).unwrap_err().code(), "ipam_invalid_address", "{bad:?}");
        }
        for bad in ["10.88.0.0", "10.88.0.0/33", "x/24", "10.88.0.0/"] {
            assert_eq!(parse_network(bad).unwrap_err().code(), "ipam_invalid_address", "{bad:?}");
        }
        let err = parse_address("a\nb").unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn every_ipam_code_is_listed_and_produced() {
        let mut p = pool("10.88.0.0/30");
        let mut produced = BTreeSet::new();
        let mut record = |err: IpamError| {
            produced.insert(err.code());
        };
        record(Pool::new(net("10.88.0.0/31")).unwrap_err());
        record(p.assign(ip("10.88.1.1")).unwrap_err());
        record(p.assign(ip("fd00::1")).unwrap_err());
        record(p.assign(ip("10.88.0.0")).unwrap_err());
        record(p.release(ip("10.88.0.1")).unwrap_err());
        p.assign(ip("10.88.0.1")).unwrap();
        record(p.assign(ip("10.88.0.1")).unwrap_err());
        p.assign(ip("10.88.0.2")).unwrap();
        record(p.allocate_sequential().unwrap_err());
        record(Reservation::parse("10.88.0.9-10.88.0.1").unwrap_err());
        record(parse_address("10.88.0").unwrap_err());
        record(parse_network("10.88.0.0/33").unwrap_err());
        let listed: BTreeSet<&str> =
            crate::error::ALL_CODES.iter().copied().filter(|code| code.starts_with("ipam_")).collect();
        assert_eq!(produced, listed);
        for code in &produced {
            assert!(crate::error::ALL_CODES.contains(code));
        }
    }

    #[test]
    fn too_small_networks_are_rejected() {
        for text in ["10.0.0.0/31", "10.0.0.1/32", "fd00::/127", "fd00::1/128"] {
            let err = Pool::new(net(text)).unwrap_err();
            assert_eq!(err.code(), "ipam_invalid_network", "{text}");
        }
        assert_eq!(pool("10.0.0.0/30").capacity(), 2);
        assert_eq!(pool("fd00::/126").capacity(), 3);
    }

    #[test]
    fn host_bits_are_truncated() {
        let p = pool("10.88.0.77/24");
        assert_eq!(p.network(), net("10.88.0.0/24"));
        assert_eq!(p.capacity(), 254);
    }

    #[test]
    fn ipv4_never_hands_out_network_or_broadcast() {
        let mut p = pool("10.88.0.0/29");
        let all: Vec<IpAddr> = std::iter::from_fn(|| p.allocate_sequential().ok()).collect();
        let expected: Vec<IpAddr> = (1..=6).map(|i| ip(&format!("10.88.0.{i}"))).collect();
        assert_eq!(all, expected);
        assert_eq!(p.allocate_sequential().unwrap_err(), IpamError::Exhausted { network: net("10.88.0.0/29") });
        assert!(p.is_reserved(ip("10.88.0.0")));
        assert!(p.is_reserved(ip("10.88.0.7")));
        assert_eq!(p.assign(ip("10.88.0.0")).unwrap_err().code(), "ipam_reserved");
        assert_eq!(p.assign(ip("10.88.0.7")).unwrap_err().code(), "ipam_reserved");
    }

    #[test]
    fn ipv6_skips_anycast_but_uses_last_address() {
        let mut p = pool("fd00::/126");
        assert!(p.is_reserved(ip("fd00::")));
        assert!(!p.is_reserved(ip("fd00::3")));
        let all: Vec<IpAddr> = std::iter::from_fn(|| p.allocate_sequential().ok()).collect();
        assert_eq!(all, vec![ip("fd00::1"), ip("fd00::2"), ip("fd00::3")]);
        assert_eq!(p.assign(ip("fd00::")).unwrap_err().code(), "ipam_reserved");
    }

    #[test]
    fn huge_ipv6_networks_are_cheap() {
        let mut p = pool("fd00:88::/64");
        assert_eq!(p.capacity(), (1u128 << 64) - 1);
        assert_eq!(p.allocate_sequential().unwrap(), ip("fd00:88::1"));
        for _ in 0..1000 {
            p.allocate_sequential().unwrap();
        }
        assert_eq!(p.allocate_sequential().unwrap(), ip("fd00:88::3ea"));
        let derived = p.allocate_for_key(&key(1)).unwrap();
        assert!(p.contains(derived) && derived != ip("fd00:88::"));

        let mut everything = pool("::/0");
        assert_eq!(everything.capacity(), u128::MAX);
        everything.assign(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).unwrap();
        assert_eq!(everything.allocate_sequential().unwrap(), ip("::1"));
        assert!(everything.allocate_for_key(&key(2)).is_ok());
        assert_eq!(pool("0.0.0.0/0").capacity(), (1u128 << 32) - 2);
    }

    #[test]
    fn the_very_last_ipv6_offset_is_handled() {
        let mut p = pool("::/0");
        p.reserve(Reservation::parse("::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe").unwrap()).unwrap();
        assert_eq!(p.allocate_sequential().unwrap(), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert_eq!(p.allocate_sequential().unwrap_err().code(), "ipam_exhausted");
        assert_eq!(p.allocate_for_key(&key(3)).unwrap_err().code(), "ipam_exhausted");
        p.release(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).unwrap();
        assert_eq!(p.allocate_for_key(&key(3)).unwrap(), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    }

    #[test]
    fn declared_reservations_are_never_handed_out() {
        let mut p = pool("10.88.0.0/28");
        p.reserve(Reservation::parse("10.88.0.1").unwrap()).unwrap();
        p.reserve(Reservation::parse("10.88.0.4-10.88.0.6").unwrap()).unwrap();
        p.reserve(Reservation::parse("10.88.0.8/30").unwrap()).unwrap();
        let all: Vec<IpAddr> = std::iter::from_fn(|| p.allocate_sequential().ok()).collect();
        assert_eq!(
            all,
            vec![
                ip("10.88.0.2"),
                ip("10.88.0.3"),
                ip("10.88.0.7"),
                ip("10.88.0.12"),
                ip("10.88.0.13"),
                ip("10.88.0.14")
            ]
        );
        for reserved in ["10.88.0.1", "10.88.0.5", "10.88.0.8", "10.88.0.11"] {
            assert!(p.is_reserved(ip(reserved)));
            assert_eq!(p.assign(ip(reserved)).unwrap_err().code(), "ipam_reserved");
        }
        assert_eq!(p.reservations().len(), 3);
        assert_eq!(p.reservations()[1].to_string(), "10.88.0.4-10.88.0.6");

        let mut keyed = pool("10.88.0.0/28");
        keyed.reserve(Reservation::parse("10.88.0.1-10.88.0.13").unwrap()).unwrap();
        assert_eq!(keyed.allocate_for_key(&key(8)).unwrap(), ip("10.88.0.14"));
        assert_eq!(keyed.allocate_for_key(&key(9)).unwrap_err().code(), "ipam_exhausted");
    }

    #[test]
    fn reservations_outside_or_of_the_other_family_are_rejected() {
        let mut p = pool("10.88.0.0/24");
        let cases = [
            ("10.88.1.1", "ipam_outside_network"),
            ("10.88.0.250-10.88.1.3", "ipam_outside_network"),
            ("10.87.255.255-10.88.0.3", "ipam_outside_network"),
            ("10.0.0.0/8", "ipam_outside_network"),
            ("fd00::1", "ipam_family_mismatch"),
            ("fd00::/64", "ipam_family_mismatch"),
        ];
        for (text, code) in cases {
            assert_eq!(p.reserve(Reservation::parse(text).unwrap()).unwrap_err().code(), code, "{text}");
        }
        let backwards = Reservation::Range { first: ip("10.88.0.9"), last: ip("10.88.0.1") };
        assert_eq!(p.reserve(backwards).unwrap_err().code(), "ipam_invalid_reservation");
        let mixed = Reservation::Range { first: ip("10.88.0.9"), last: ip("fd00::1") };
        assert_eq!(p.reserve(mixed).unwrap_err().code(), "ipam_family_mismatch");
        assert!(p.reservations().is_empty());
    }

    #[test]
    fn reserving_allocated_addresses_keeps_them_allocated() {
        let mut p = pool("10.88.0.0/24");
        for _ in 0..5 {
            p.allocate_sequential().unwrap();
        }
        p.reserve(Reservation::parse("10.88.0.2-10.88.0.3").unwrap()).unwrap();
        assert!(p.is_allocated(ip("10.88.0.2")) && p.is_reserved(ip("10.88.0.2")));
        assert_eq!(p.len_allocated(), 5);
        p.release(ip("10.88.0.2")).unwrap();
        assert_eq!(p.allocate_sequential().unwrap(), ip("10.88.0.6"));
        assert_eq!(p.assign(ip("10.88.0.3")).unwrap_err().code(), "ipam_reserved");
    }

    #[test]
    fn reservation_parse_and_display_round_trip() {
        for text in [
            "10.88.0.1",
            "10.88.0.0/28",
            "10.88.0.1-10.88.0.9",
            "fd00::1",
            "fd00::/120",
            "fd00::1-fd00::ff",
            "10.88.0.5/28",
        ] {
            let parsed = Reservation::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
            assert_eq!(text.parse::<Reservation>().unwrap(), parsed);
        }
        assert_eq!(Reservation::parse(" 10.88.0.1 - 10.88.0.9 ").unwrap().to_string(), "10.88.0.1-10.88.0.9");
        assert_eq!(Reservation::parse("10.88.0.4").unwrap(), Reservation::Address(ip("10.88.0.4")));
        let block = Reservation::parse("10.88.0.5/28").unwrap();
        assert_eq!((block.first(), block.last()), (ip("10.88.0.0"), ip("10.88.0.15")));
        let v6 = Reservation::parse("fd00::/120").unwrap();
        assert_eq!((v6.first(), v6.last()), (ip("fd00::"), ip("fd00::ff")));
        for bad in [
            "",
            "  ",
            "10.88.0",
            "10.88.0.0/33",
            "10.88.0.9-10.88.0.1",
            "10.88.0.1-fd00::1",
            "a-b",
            "10.88.0.1-",
            "x/24",
        ] {
            let err = Reservation::parse(bad).unwrap_err();
            assert_eq!(err.code(), "ipam_invalid_reservation", "{bad:?}");
        }
    }

    #[test]
    fn assign_validates() {
        let mut p = pool("10.88.0.0/24");
        assert_eq!(p.assign(ip("fd00::1")).unwrap_err().code(), "ipam_family_mismatch");
        assert_eq!(p.assign(ip("10.88.1.1")).unwrap_err().code(), "ipam_outside_network");
        assert_eq!(p.assign(ip("10.88.0.255")).unwrap_err().code(), "ipam_reserved");
        p.assign(ip("10.88.0.11")).unwrap();
        assert_eq!(
            p.assign(ip("10.88.0.11")).unwrap_err(),
            IpamError::Taken { address: ip("10.88.0.11"), network: net("10.88.0.0/24") }
        );
        assert_eq!(p.allocate_sequential().unwrap(), ip("10.88.0.1"));
        assert!(p.is_allocated(ip("10.88.0.11")));
        assert!(!p.is_allocated(ip("10.88.0.12")));
        assert!(p.contains(ip("10.88.0.12")) && !p.contains(ip("10.88.1.12")) && !p.contains(ip("fd00::1")));
        assert_eq!(p.allocated().collect::<Vec<_>>(), vec![ip("10.88.0.1"), ip("10.88.0.11")]);
        assert_eq!(p.len_allocated(), 2);
    }

    #[test]
    fn release_then_reallocate_lowest() {
        let mut p = pool("10.88.0.0/24");
        for _ in 0..5 {
            p.allocate_sequential().unwrap();
        }
        p.release(ip("10.88.0.4")).unwrap();
        p.release(ip("10.88.0.2")).unwrap();
        assert_eq!(
            p.release(ip("10.88.0.2")).unwrap_err(),
            IpamError::NotAllocated { address: ip("10.88.0.2"), network: net("10.88.0.0/24") }
        );
        assert_eq!(p.release(ip("10.88.0.0")).unwrap_err().code(), "ipam_not_allocated");
        assert_eq!(p.release(ip("10.88.9.9")).unwrap_err().code(), "ipam_outside_network");
        assert_eq!(p.release(ip("fd00::1")).unwrap_err().code(), "ipam_family_mismatch");
        assert_eq!(p.len_allocated(), 3);
        assert_eq!(p.allocate_sequential().unwrap(), ip("10.88.0.2"));
        assert_eq!(p.allocate_sequential().unwrap(), ip("10.88.0.4"));
        assert_eq!(p.allocate_sequential().unwrap(), ip("10.88.0.6"));
    }

    #[test]
    fn whole_slash_16_then_exhausted() {
        let mut p = pool("10.20.0.0/16");
        let mut seen = HashSet::new();
        for _ in 0..65534 {
            let address = p.allocate_sequential().unwrap();
            assert!(seen.insert(address), "{address} handed out twice");
        }
        assert!(!seen.contains(&ip("10.20.0.0")) && !seen.contains(&ip("10.20.255.255")));
        assert_eq!(p.len_allocated(), 65534);
        assert_eq!(p.allocate_sequential().unwrap_err().code(), "ipam_exhausted");
        assert_eq!(p.allocate_for_key(&key(7)).unwrap_err().code(), "ipam_exhausted");
        assert_eq!(p.allocated().count(), 65534);
        p.release(ip("10.20.128.1")).unwrap();
        assert_eq!(p.allocate_sequential().unwrap(), ip("10.20.128.1"));
    }

    #[test]
    fn key_derived_address_is_stable_and_pinned() {
        let network = net("10.88.0.0/16");
        let first = Pool::new(network).unwrap().allocate_for_key(&key(42)).unwrap();
        for _ in 0..5 {
            assert_eq!(Pool::new(network).unwrap().allocate_for_key(&key(42)).unwrap(), first);
        }
        // Golden values, computed independently (Python's hashlib.blake2s with the key): a change here
        // moves every key-derived address of every existing mesh.
        let zero = PublicKey::from_bytes([0; 32]);
        assert_eq!(pool("10.88.0.0/16").allocate_for_key(&zero).unwrap(), ip(GOLDEN_V4));
        assert_eq!(pool("fd00:88::/64").allocate_for_key(&zero).unwrap(), ip(GOLDEN_V6));
    }

    const GOLDEN_V4: &str = "10.88.176.3";
    const GOLDEN_V6: &str = "fd00:88::30af:13c2:a967:b501";

    #[test]
    fn key_derived_depends_on_network() {
        let a = pool("10.88.0.0/16").allocate_for_key(&key(1)).unwrap();
        let b = pool("10.89.0.0/16").allocate_for_key(&key(1)).unwrap();
        assert_ne!(to_integer(a) & 0xffff, to_integer(b) & 0xffff);
    }

    #[test]
    fn key_derived_batch_is_order_independent_and_distinct() {
        let keys: Vec<PublicKey> = (0..50).map(key).collect();
        let mut reversed = keys.clone();
        reversed.reverse();
        // A /26 has 62 usable addresses: 50 keys collide often, which is what makes order matter.
        let mut forward_pool = pool("10.88.0.64/26");
        let mut backward_pool = forward_pool.clone();
        let forward = forward_pool.allocate_batch_for_keys(&keys).unwrap();
        let backward = backward_pool.allocate_batch_for_keys(&reversed).unwrap();
        let by_key = |keys: &[PublicKey], addresses: &[IpAddr]| -> BTreeMap<PublicKey, IpAddr> {
            keys.iter().copied().zip(addresses.iter().copied()).collect()
        };
        assert_eq!(by_key(&keys, &forward), by_key(&reversed, &backward));
        let distinct: HashSet<IpAddr> = forward.iter().copied().collect();
        assert_eq!(distinct.len(), keys.len());
        assert_eq!(forward_pool.len_allocated(), 50);
    }

    #[test]
    fn key_derived_batch_is_all_or_nothing() {
        let mut p = pool("10.88.0.0/28");
        p.assign(ip("10.88.0.3")).unwrap();
        let keys: Vec<PublicKey> = (0..14).map(key).collect();
        assert_eq!(p.allocate_batch_for_keys(&keys).unwrap_err().code(), "ipam_exhausted");
        assert_eq!(p.allocated().collect::<Vec<_>>(), vec![ip("10.88.0.3")]);
        assert_eq!(p.allocate_sequential().unwrap(), ip("10.88.0.1"));
        let all = p.allocate_batch_for_keys(&keys[..12]).unwrap();
        assert_eq!(all.len(), 12);
        assert_eq!(p.len_allocated(), 14);
        assert!(p.allocate_batch_for_keys(&[]).unwrap().is_empty());
    }

    #[test]
    fn key_derived_falls_back_to_lowest_free() {
        // Only one address is free: the probes almost surely miss it, the fallback must find it.
        let mut p = pool("10.88.0.0/16");
        p.reserve(Reservation::parse("10.88.0.1-10.88.200.199").unwrap()).unwrap();
        p.reserve(Reservation::parse("10.88.200.201-10.88.255.254").unwrap()).unwrap();
        assert_eq!(p.allocate_for_key(&key(5)).unwrap(), ip("10.88.200.200"));
    }

    /// One step of the differential test. Addresses are `BASE + byte`: the pool covers bytes 64..=127,
    /// so bytes outside that range exercise the outside-network checks.
    #[derive(Debug, Clone)]
    enum Op {
        Sequential,
        ForKey(u8),
        Assign(u8),
        AssignOtherFamily,
        Release(u8),
        ReserveAddress(u8),
        ReserveBlock(u8, u8),
        ReserveRange(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Addresses mostly inside the network, sometimes around it.
        let byte = prop_oneof![4 => 64u8..128, 1 => any::<u8>()];
        prop_oneof![
            6 => Just(Op::Sequential),
            4 => any::<u8>().prop_map(Op::ForKey),
            3 => byte.clone().prop_map(Op::Assign),
            1 => Just(Op::AssignOtherFamily),
            5 => byte.clone().prop_map(Op::Release),
            1 => byte.clone().prop_map(Op::ReserveAddress),
            1 => (byte.clone(), 0u8..=3).prop_map(|(b, bits)| Op::ReserveBlock(b, bits)),
            1 => (byte.clone(), 0u8..=6).prop_map(|(b, len)| Op::ReserveRange(b, b.saturating_add(len))),
        ]
    }

    /// The naive reference: plain sets of the last address byte.
    struct Model {
        v4: bool,
        reserved: BTreeSet<u8>,
        allocated: BTreeSet<u8>,
    }

    impl Model {
        const LO: u8 = 64;
        const HI: u8 = 127;

        fn inside(&self, byte: u8) -> bool {
            (Self::LO..=Self::HI).contains(&byte)
        }

        fn is_reserved(&self, byte: u8) -> bool {
            self.inside(byte) && (byte == Self::LO || (self.v4 && byte == Self::HI) || self.reserved.contains(&byte))
        }

        fn is_free(&self, byte: u8) -> bool {
            self.inside(byte) && !self.is_reserved(byte) && !self.allocated.contains(&byte)
        }

        fn lowest_free(&self) -> Option<u8> {
            (Self::LO..=Self::HI).find(|&byte| self.is_free(byte))
        }
    }

    fn run_differential(network: &str, address: fn(u8) -> IpAddr, other_family: IpAddr, ops: &[Op]) {
        let mut p = pool(network);
        let mut model =
            Model { v4: p.network().addr().is_ipv4(), reserved: BTreeSet::new(), allocated: BTreeSet::new() };
        let byte_of = |a: IpAddr| -> u8 { (to_integer(a) & 0xff) as u8 };
        for op in ops {
            match *op {
                Op::Sequential => match (p.allocate_sequential(), model.lowest_free()) {
                    (Ok(a), Some(expected)) => {
                        assert_eq!(a, address(expected));
                        model.allocated.insert(expected);
                    }
                    (Err(err), None) => assert_eq!(err.code(), "ipam_exhausted"),
                    (got, expected) => panic!("sequential: got {got:?}, expected {expected:?}"),
                },
                Op::ForKey(seed) => match p.allocate_for_key(&key(u64::from(seed))) {
                    Ok(a) => {
                        assert!(p.contains(a));
                        assert!(model.is_free(byte_of(a)), "{a} was not free");
                        model.allocated.insert(byte_of(a));
                    }
                    Err(err) => {
                        assert_eq!(err.code(), "ipam_exhausted");
                        assert_eq!(model.lowest_free(), None);
                    }
                },
                Op::Assign(byte) => {
                    let expected = if !model.inside(byte) {
                        Err("ipam_outside_network")
                    } else if model.is_reserved(byte) {
                        Err("ipam_reserved")
                    } else if model.allocated.contains(&byte) {
                        Err("ipam_taken")
                    } else {
                        model.allocated.insert(byte);
                        Ok(())
                    };
                    assert_eq!(p.assign(address(byte)).map_err(|e| e.code()), expected);
                }
                Op::AssignOtherFamily => {
                    assert_eq!(p.assign(other_family).unwrap_err().code(), "ipam_family_mismatch");
                }
                Op::Release(byte) => {
                    let expected = if !model.inside(byte) {
                        Err("ipam_outside_network")
                    } else if model.allocated.remove(&byte) {
                        Ok(())
                    } else {
                        Err("ipam_not_allocated")
                    };
                    assert_eq!(p.release(address(byte)).map_err(|e| e.code()), expected);
                }
                Op::ReserveAddress(byte) => {
                    reserve(&mut p, &mut model, Reservation::Address(address(byte)), byte, byte)
                }
                Op::ReserveBlock(byte, bits) => {
                    let max = if model.v4 { 32 } else { 128 };
                    let block = IpNet::new(address(byte), max - bits).expect("valid prefix");
                    let first = byte & !((1u8 << bits) - 1);
                    reserve(&mut p, &mut model, Reservation::Network(block), first, first + ((1u8 << bits) - 1));
                }
                Op::ReserveRange(first, last) => {
                    let range = Reservation::Range { first: address(first), last: address(last) };
                    reserve(&mut p, &mut model, range, first, last);
                }
            }
            // The whole observable state agrees with the reference after every step.
            let expected: Vec<IpAddr> = model.allocated.iter().map(|&b| address(b)).collect();
            assert_eq!(p.allocated().collect::<Vec<_>>(), expected);
            assert_eq!(p.len_allocated(), model.allocated.len());
            for byte in 0..=255u8 {
                assert_eq!(p.is_allocated(address(byte)), model.allocated.contains(&byte), "{byte}");
                assert_eq!(p.is_reserved(address(byte)), model.is_reserved(byte), "{byte}");
            }
        }
    }

    fn reserve(p: &mut Pool, model: &mut Model, reservation: Reservation, first: u8, last: u8) {
        assert_eq!(Reservation::parse(&reservation.to_string()).unwrap(), reservation);
        let result = p.reserve(reservation).map_err(|e| e.code());
        if model.inside(first) && model.inside(last) {
            assert_eq!(result, Ok(()));
            model.reserved.extend(first..=last);
        } else {
            assert_eq!(result, Err("ipam_outside_network"));
        }
    }

    fn v4_address(byte: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 88, 0, byte))
    }

    fn v6_address(byte: u8) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(byte)))
    }

    proptest! {
        #[test]
        fn range_set_matches_a_plain_set_and_stays_merged(
            ops in prop::collection::vec((any::<bool>(), 0u128..100, 0u128..8), 0..100),
        ) {
            let mut set = RangeSet::default();
            let mut model = BTreeSet::new();
            for (insert, at, len) in ops {
                if insert {
                    set.insert(at, at + len);
                    model.extend(at..=at + len);
                } else {
                    prop_assert_eq!(set.remove(at), model.remove(&at));
                }
                prop_assert_eq!(set.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
                // Runs are well-formed, disjoint and never adjacent (so each run is as long as it can be).
                let runs: Vec<(u128, u128)> = set.runs.iter().map(|(&a, &b)| (a, b)).collect();
                for &(first, last) in &runs {
                    prop_assert!(first <= last);
                }
                for pair in runs.windows(2) {
                    prop_assert!(pair[0].1 + 1 < pair[1].0, "{:?}", pair);
                }
            }
        }

        #[test]
        fn differential_ipv4_slash_26(ops in prop::collection::vec(op(), 0..200)) {
            run_differential("10.88.0.64/26", v4_address, ip("fd00::1"), &ops);
        }

        #[test]
        fn differential_ipv6_slash_122(ops in prop::collection::vec(op(), 0..200)) {
            run_differential("fd00::40/122", v6_address, ip("10.88.0.1"), &ops);
        }

        #[test]
        fn batch_order_does_not_matter(
            seeds in prop::collection::btree_set(any::<u64>(), 1..50),
            pinned in prop::collection::btree_set(65u8..127, 0..10),
            shuffle_seed in any::<u64>(),
        ) {
            let mut base = pool("10.88.0.64/26");
            for byte in &pinned {
                base.assign(v4_address(*byte)).unwrap();
            }
            let keys: Vec<PublicKey> = seeds.iter().map(|&s| key(s)).collect();
            // Fisher–Yates with the splitmix keys as a source of randomness.
            let mut shuffled = keys.clone();
            for i in (1..shuffled.len()).rev() {
                let r = u64::from_le_bytes(key(shuffle_seed ^ i as u64).as_bytes()[..8].try_into().unwrap());
                shuffled.swap(i, (r % (i as u64 + 1)) as usize);
            }
            let mut a = base.clone();
            let mut b = base.clone();
            let ra = a.allocate_batch_for_keys(&keys);
            let rb = b.allocate_batch_for_keys(&shuffled);
            if keys.len() + pinned.len() > 62 {
                prop_assert_eq!(ra.unwrap_err().code(), "ipam_exhausted");
                prop_assert_eq!(rb.unwrap_err().code(), "ipam_exhausted");
                prop_assert_eq!(a.len_allocated(), pinned.len());
            } else {
                let ra: BTreeMap<PublicKey, IpAddr> = keys.iter().copied().zip(ra.unwrap()).collect();
                let rb: BTreeMap<PublicKey, IpAddr> = shuffled.iter().copied().zip(rb.unwrap()).collect();
                prop_assert_eq!(&ra, &rb);
                let distinct: BTreeSet<IpAddr> = ra.values().copied().collect();
                prop_assert_eq!(distinct.len(), keys.len());
                for address in ra.values() {
                    prop_assert!(!pinned.contains(&((to_integer(*address) & 0xff) as u8)));
                    prop_assert!(base.contains(*address) && !base.is_reserved(*address));
                }
            }
        }
    }
}
