//! Segmentation offload between the TUN and the tunnel: the `virtio_net_hdr` that a TUN opened with
//! `IFF_VNET_HDR` puts before every packet, splitting the TCP/UDP super-packets the kernel hands over
//! (TSO/USO) into MTU-sized packets with fixed IP/TCP/UDP headers and checksums, finishing partial
//! checksums, and coalescing in-order TCP segments of one flow into one super-packet for the kernel
//! (the receive side's GRO).
//!
//! The same job as wireguard-go's `tun/offload_linux.go`, written for this device's buffers: the
//! packet path hands in whole batches and gets segments written into caller-owned memory, so nothing
//! here allocates per packet.

/// Bytes of the `virtio_net_hdr` before every packet on a TUN opened with `IFF_VNET_HDR`.
pub const VNET_HDR_LEN: usize = 10;

/// `virtio_net_hdr.flags`: the checksum at `csum_start + csum_offset` is partial and must be finished.
pub const F_NEEDS_CSUM: u8 = 1;
/// `virtio_net_hdr.flags`: the checksums are known good (the kernel skips verifying them).
pub const F_DATA_VALID: u8 = 2;
/// `virtio_net_hdr.gso_type`: a plain packet.
pub const GSO_NONE: u8 = 0;
/// `virtio_net_hdr.gso_type`: an IPv4 TCP super-packet.
pub const GSO_TCPV4: u8 = 1;
/// `virtio_net_hdr.gso_type`: an IPv6 TCP super-packet.
pub const GSO_TCPV6: u8 = 4;
/// `virtio_net_hdr.gso_type`: a UDP super-packet (segments keep their own UDP headers).
pub const GSO_UDP_L4: u8 = 5;

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// The `virtio_net_hdr` fields (little-endian on the wire, as every TUN on a little-endian host and
/// every modern virtio device uses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM` / `F_DATA_VALID`.
    pub flags: u8,
    /// `GSO_*`.
    pub gso_type: u8,
    /// Length of the headers (IP + transport) of a super-packet.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed region starts (the transport header).
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Parses the first [`VNET_HDR_LEN`] bytes (None when shorter).
    pub fn parse(b: &[u8]) -> Option<VnetHdr> {
        if b.len() < VNET_HDR_LEN {
            return None;
        }
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// Writes the header into the first [`VNET_HDR_LEN`] bytes of `b`.
    pub fn write(&self, b: &mut [u8]) {
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }
}

/// The ones'-complement sum of `data` added to `initial`, not yet folded (big-endian 16-bit words; an
/// odd last byte is padded with zero).
pub fn sum(data: &[u8], initial: u64) -> u64 {
    // Ones'-complement sums do not depend on byte order (RFC 1071, 2(B)): add the 32-bit words in the
    // machine's order into a wide accumulator — a plain widening sum the compiler vectorises, with no
    // byte swap per word — fold, and swap the 16-bit result once. Equal to the big-endian sum modulo
    // 0xffff, and zero only when it is, so folding either gives the same checksum.
    let mut words = data.chunks_exact(4);
    let mut native = 0u64;
    for w in &mut words {
        native += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    let folded = fold(native);
    let mut acc = initial + u64::from(if cfg!(target_endian = "little") { folded.swap_bytes() } else { folded });
    // The 0 to 3 bytes left start at an even offset: big-endian words, an odd last byte padded.
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for w in &mut pairs {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Folds a sum from [`sum`] to 16 bits (not complemented).
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The pseudo-header sum of an IPv4 or IPv6 packet's transport segment (`len` bytes of `proto`).
fn pseudo_sum(packet: &[u8], proto: u8, len: usize) -> u64 {
    let base = u64::from(proto) + len as u64;
    if packet[0] >> 4 == 4 {
        sum(&packet[12..20], base)
    } else {
        sum(&packet[8..40], base)
    }
}

/// Recomputes the IPv4 header checksum of `packet` (header length from IHL).
fn fix_ipv4_checksum(packet: &mut [u8]) {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    packet[10] = 0;
    packet[11] = 0;
    let c = !fold(sum(&packet[..ihl], 0));
    packet[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Writes the full transport checksum of `packet` (transport header at `l4`, checksum field at
/// `l4 + field`), computing the pseudo-header from the packet itself.
fn fill_l4_checksum(packet: &mut [u8], l4: usize, proto: u8, field: usize) {
    packet[l4 + field] = 0;
    packet[l4 + field + 1] = 0;
    let len = packet.len() - l4;
    let mut c = !fold(sum(&packet[l4..], pseudo_sum(packet, proto, len)));
    if proto == PROTO_UDP && c == 0 {
        c = 0xffff;
    }
    packet[l4 + field..l4 + field + 2].copy_from_slice(&c.to_be_bytes());
}

/// Why a packet from the TUN could not be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// The header or packet is shorter or inconsistent with what it claims.
    Malformed,
    /// A GSO type we did not ask the kernel for.
    Unsupported,
}

/// Finishes a partial checksum in place (a plain packet whose header has `F_NEEDS_CSUM`): the field
/// already holds the pseudo-header sum, so the sum over the region from `csum_start` is the checksum.
pub fn finish_checksum(hdr: &VnetHdr, packet: &mut [u8]) -> Result<(), OffloadError> {
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > packet.len() {
        return Err(OffloadError::Malformed);
    }
    let mut c = !fold(sum(&packet[start..], 0));
    let proto = if packet[0] >> 4 == 4 { packet.get(9) } else { packet.get(6) };
    if c == 0 && proto == Some(&PROTO_UDP) {
        c = 0xffff;
    }
    packet[at..at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Longest IP + transport header a super-packet may carry to be split (IPv6 with extension headers and
/// TCP options fit; the kernel's own TSO headers are 40 to 100 bytes).
pub const MAX_SPLIT_HEADER: usize = 128;

/// Splits a super-packet (`hdr.gso_type` not `GSO_NONE`) in place into segments of at most
/// `hdr.gso_size` payload bytes, each a complete IP packet with its own lengths, IPv4 ID, TCP sequence
/// number and flags (FIN/PSH only on the last), and checksums, and hands each to `each` in order.
/// Nothing is copied but headers: segment `i`'s headers are written right in front of its payload,
/// over the end of segment `i - 1`'s, which `each` is done with by then (so `packet` is garbage
/// afterwards). Returns the number of segments; a packet that would need more than `max_segments`,
/// or whose headers are longer than [`MAX_SPLIT_HEADER`], is `Malformed` (checked before anything is
/// written or handed over).
pub fn split_each(
    hdr: &VnetHdr,
    packet: &mut [u8],
    max_segments: usize,
    mut each: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    if packet.len() < 20 {
        return Err(OffloadError::Malformed);
    }
    let v4 = packet[0] >> 4 == 4;
    let proto = match hdr.gso_type {
        GSO_TCPV4 if v4 => PROTO_TCP,
        GSO_TCPV6 if !v4 => PROTO_TCP,
        GSO_UDP_L4 => PROTO_UDP,
        GSO_TCPV4 | GSO_TCPV6 => return Err(OffloadError::Malformed),
        _ => return Err(OffloadError::Unsupported),
    };
    let l4 = usize::from(hdr.csum_start);
    let ip_min = if v4 { 20 } else { 40 };
    if l4 < ip_min || l4 + 8 > packet.len() {
        return Err(OffloadError::Malformed);
    }
    let l4_len = if proto == PROTO_TCP { usize::from(packet[l4 + 12] >> 4) * 4 } else { 8 };
    let hlen = l4 + l4_len;
    let seg = usize::from(hdr.gso_size);
    if l4_len < 8 || hlen > packet.len() || hlen > MAX_SPLIT_HEADER || seg == 0 {
        return Err(OffloadError::Malformed);
    }
    let payload_len = packet.len() - hlen;
    let count = payload_len.div_ceil(seg).max(1);
    if count > max_segments {
        return Err(OffloadError::Malformed);
    }
    let mut template = [0u8; MAX_SPLIT_HEADER];
    template[..hlen].copy_from_slice(&packet[..hlen]);
    let template = &template[..hlen];
    let ip_id = u16::from_be_bytes([template[4], template[5]]);
    let seq = if proto == PROTO_TCP {
        u32::from_be_bytes([template[l4 + 4], template[l4 + 5], template[l4 + 6], template[l4 + 7]])
    } else {
        0
    };
    for i in 0..count {
        // Segment i's payload is packet[hlen + i * seg..], so its headers go at packet[i * seg..].
        let start = i * seg;
        let total = hlen + seg.min(payload_len.saturating_sub(start));
        let dst = &mut packet[start..start + total];
        dst[..hlen].copy_from_slice(template);
        if v4 {
            dst[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            dst[4..6].copy_from_slice(&ip_id.wrapping_add(i as u16).to_be_bytes());
            fix_ipv4_checksum(dst);
        } else {
            dst[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        }
        if proto == PROTO_TCP {
            dst[l4 + 4..l4 + 8].copy_from_slice(&seq.wrapping_add((i * seg) as u32).to_be_bytes());
            if i + 1 != count {
                dst[l4 + 13] &= !(0x01 | 0x08); // FIN and PSH only on the last segment
            }
            fill_l4_checksum(dst, l4, PROTO_TCP, 16);
        } else {
            dst[l4 + 4..l4 + 6].copy_from_slice(&((total - l4) as u16).to_be_bytes());
            fill_l4_checksum(dst, l4, PROTO_UDP, 6);
        }
        each(dst);
    }
    Ok(count)
}

/// The identity of a TCP segment or UDP datagram for coalescing: protocol, addresses, ports, header
/// shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FlowKey {
    v4: bool,
    proto: u8,
    addrs: [u8; 32],
    ports: [u8; 4],
    l4: u16,
    hlen: u16,
}

/// A TCP segment or UDP datagram that may join a coalesced super-packet: its flow, (TCP) sequence
/// number, payload length and (TCP) PSH flag.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    key: FlowKey,
    seq: u32,
    payload: u16,
    psh: bool,
}

impl Segment {
    /// Payload bytes.
    pub fn payload(&self) -> u16 {
        self.payload
    }

    /// True when PSH is set.
    pub fn psh(&self) -> bool {
        self.psh
    }

    /// True for a UDP datagram (coalesced with USO), false for a TCP segment.
    pub fn is_udp(&self) -> bool {
        self.key.proto == PROTO_UDP
    }

    /// Bytes of IP and TCP (UDP) headers.
    pub fn header_len(&self) -> usize {
        usize::from(self.key.hlen)
    }
}

/// The IP layer of a packet that may be coalesced: `proto` right after a plain header (no IPv4 options
/// or IPv6 extension headers), not a fragment, its length field matching the packet, and at least
/// `min_l4` bytes from the transport header on. Returns (IPv4?, the transport header's offset).
fn plain_ip(packet: &[u8], proto: u8, min_l4: usize) -> Option<(bool, usize)> {
    let v4 = packet.first()? >> 4 == 4;
    if v4 {
        if packet.len() < 20 + min_l4 || packet[0] & 0x0f != 5 || packet[9] != proto {
            return None;
        }
        // MF set or a fragment offset: not coalescable.
        if u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0 {
            return None;
        }
        if usize::from(u16::from_be_bytes([packet[2], packet[3]])) != packet.len() {
            return None;
        }
        Some((true, 20))
    } else {
        if packet.len() < 40 + min_l4 || packet[6] != proto {
            return None;
        }
        if usize::from(u16::from_be_bytes([packet[4], packet[5]])) + 40 != packet.len() {
            return None;
        }
        Some((false, 40))
    }
}

impl FlowKey {
    /// The flow of `packet` (checked by [`plain_ip`]): its addresses and ports, with the header shape.
    fn of(packet: &[u8], v4: bool, proto: u8, l4: usize, hlen: usize) -> FlowKey {
        let mut addrs = [0u8; 32];
        let from = if v4 { &packet[12..20] } else { &packet[8..40] };
        addrs[..from.len()].copy_from_slice(from);
        let mut ports = [0u8; 4];
        ports.copy_from_slice(&packet[l4..l4 + 4]);
        FlowKey { v4, proto, addrs, ports, l4: l4 as u16, hlen: hlen as u16 }
    }
}

/// Classifies a decrypted packet for coalescing: Some for a TCP segment with payload whose only flags
/// are ACK (and PSH), with no IPv4 options, fragments or IPv6 extension headers; None otherwise (such a
/// packet is written on its own).
pub fn tcp_segment(packet: &[u8]) -> Option<Segment> {
    let (v4, l4) = plain_ip(packet, PROTO_TCP, 20)?;
    let doff = usize::from(packet[l4 + 12] >> 4) * 4;
    let hlen = l4 + doff;
    if doff < 20 || hlen >= packet.len() {
        return None;
    }
    let flags = packet[l4 + 13];
    if flags & !0x08 != 0x10 {
        return None; // anything but ACK (+PSH): SYN, FIN, RST, URG, ECE, CWR
    }
    Some(Segment {
        key: FlowKey::of(packet, v4, PROTO_TCP, l4, hlen),
        seq: u32::from_be_bytes([packet[l4 + 4], packet[l4 + 5], packet[l4 + 6], packet[l4 + 7]]),
        payload: (packet.len() - hlen) as u16,
        psh: flags & 0x08 != 0,
    })
}

/// Classifies a decrypted packet for UDP coalescing (a USO super-packet, for a TUN that accepts them):
/// Some for a UDP datagram with payload and a checksum, with no IPv4 options, fragments or IPv6
/// extension headers; None otherwise (such a packet is written on its own). An IPv4 datagram sent
/// without a checksum (0) stays alone: the kernel would add one when it splits the super-packet.
pub fn udp_datagram(packet: &[u8]) -> Option<Segment> {
    let (v4, l4) = plain_ip(packet, PROTO_UDP, 9)?;
    if usize::from(u16::from_be_bytes([packet[l4 + 4], packet[l4 + 5]])) != packet.len() - l4 {
        return None;
    }
    if packet[l4 + 6..l4 + 8] == [0, 0] {
        return None;
    }
    Some(Segment {
        key: FlowKey::of(packet, v4, PROTO_UDP, l4, l4 + 8),
        seq: 0,
        payload: (packet.len() - l4 - 8) as u16,
        psh: false,
    })
}

/// Largest super-packet the coalescer builds (IP total length is 16 bits).
pub const MAX_COALESCED: usize = 65_535;

/// True when `next` (of `next_packet`) continues the super-packet `head` (whose headers are at the
/// start of `head_packet`, currently `total` bytes, `last` its latest segment): same flow and header
/// bytes apart from what changes per segment, the same segment size (a shorter one may only end it)
/// and room in 64 KiB; for TCP also the next sequence number and no PSH before the end.
pub fn continues(
    head: &Segment,
    head_packet: &[u8],
    last: &Segment,
    total: usize,
    next: &Segment,
    next_packet: &[u8],
) -> bool {
    if next.key != head.key || last.psh || last.payload != head.payload || next.payload > head.payload {
        return false;
    }
    if total + usize::from(next.payload) > MAX_COALESCED {
        return false;
    }
    let l4 = usize::from(head.key.l4);
    let hlen = usize::from(head.key.hlen);
    if head.key.proto == PROTO_TCP {
        if next.seq != last.seq.wrapping_add(u32::from(last.payload)) {
            return false;
        }
        // Same ack, window and options (timestamps included: a changed TSval ends the run, as GRO does).
        if head_packet[l4 + 8..l4 + 12] != next_packet[l4 + 8..l4 + 12]
            || head_packet[l4 + 14..l4 + 16] != next_packet[l4 + 14..l4 + 16]
        {
            return false;
        }
        if head_packet[l4 + 20..hlen] != next_packet[l4 + 20..hlen] {
            return false;
        }
    }
    // Same TOS/traffic class, TTL/hop limit and (v4) DF.
    if head.key.v4 {
        head_packet[1] == next_packet[1]
            && head_packet[8] == next_packet[8]
            && head_packet[6] & 0x40 == next_packet[6] & 0x40
    } else {
        head_packet[..4] == next_packet[..4] && head_packet[7] == next_packet[7]
    }
}

/// Turns the first segment `packet` into the head of a super-packet of `total` bytes (its headers
/// followed by every segment's payload, `segments` segments of `head.payload` bytes, the last possibly
/// shorter, which the caller writes after it): fixes the IP length (and IPv4 checksum), for TCP sets
/// PSH when the last segment had it, for UDP sets the UDP length, stores the pseudo-header sum in the
/// checksum field and writes into `vnet` the `virtio_net_hdr` that asks the kernel to segment (TSO or
/// USO) and checksum it. A single segment is left as it is, marked checksum-valid.
pub fn finish_coalesced(
    head: &Segment,
    packet: &mut [u8],
    total: usize,
    segments: usize,
    last_psh: bool,
    vnet: &mut [u8],
) {
    let l4 = usize::from(head.key.l4);
    if segments <= 1 {
        VnetHdr { flags: F_DATA_VALID, ..VnetHdr::default() }.write(vnet);
        return;
    }
    if head.key.v4 {
        packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        fix_ipv4_checksum(packet);
    } else {
        packet[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
    }
    let (gso_type, csum_offset) = if head.key.proto == PROTO_UDP {
        packet[l4 + 4..l4 + 6].copy_from_slice(&((total - l4) as u16).to_be_bytes());
        (GSO_UDP_L4, 6)
    } else {
        if last_psh {
            packet[l4 + 13] |= 0x08;
        }
        (if head.key.v4 { GSO_TCPV4 } else { GSO_TCPV6 }, 16)
    };
    let psum = fold(pseudo_sum(packet, head.key.proto, total - l4));
    packet[l4 + csum_offset..l4 + csum_offset + 2].copy_from_slice(&psum.to_be_bytes());
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type,
        hdr_len: head.key.hlen,
        gso_size: head.payload,
        csum_start: l4 as u16,
        csum_offset: csum_offset as u16,
    };
    hdr.write(vnet);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP packet 10.0.0.1:1000 -> 10.0.0.2:2000 with `payload` bytes, correct checksums.
    fn tcp4(seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40 + payload.len()];
        p[0] = 0x45;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[4..6].copy_from_slice(&7u16.to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = PROTO_TCP;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[20..22].copy_from_slice(&1000u16.to_be_bytes());
        p[22..24].copy_from_slice(&2000u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[28..32].copy_from_slice(&99u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p[34..36].copy_from_slice(&512u16.to_be_bytes());
        p[40..].copy_from_slice(payload);
        fix_ipv4_checksum(&mut p);
        fill_l4_checksum(&mut p, 20, PROTO_TCP, 16);
        p
    }

    fn tcp6(seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
        let mut p = vec![0u8; 60 + payload.len()];
        p[0] = 0x60;
        let plen = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p[6] = PROTO_TCP;
        p[7] = 64;
        p[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p[24..40].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p[40..42].copy_from_slice(&1000u16.to_be_bytes());
        p[42..44].copy_from_slice(&2000u16.to_be_bytes());
        p[44..48].copy_from_slice(&seq.to_be_bytes());
        p[52] = 5 << 4;
        p[53] = flags;
        p[60..].copy_from_slice(payload);
        fill_l4_checksum(&mut p, 40, PROTO_TCP, 16);
        p
    }

    fn l4_valid(p: &[u8], l4: usize, proto: u8) -> bool {
        fold(sum(&p[l4..], pseudo_sum(p, proto, p.len() - l4))) == 0xffff
    }

    fn ipv4_valid(p: &[u8]) -> bool {
        fold(sum(&p[..20], 0)) == 0xffff
    }

    /// A super-packet as the kernel hands it over: checksum field holding the pseudo-header sum.
    fn as_super(mut p: Vec<u8>, l4: usize, gso_type: u8, gso_size: u16) -> (VnetHdr, Vec<u8>) {
        let psum = fold(pseudo_sum(&p, PROTO_TCP, p.len() - l4));
        p[l4 + 16..l4 + 18].copy_from_slice(&psum.to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type,
            hdr_len: (l4 + 20) as u16,
            gso_size,
            csum_start: l4 as u16,
            csum_offset: 16,
        };
        (hdr, p)
    }

    #[test]
    fn header_round_trips() {
        let h = VnetHdr { flags: 1, gso_type: 4, hdr_len: 60, gso_size: 1380, csum_start: 40, csum_offset: 16 };
        let mut b = [0u8; VNET_HDR_LEN];
        h.write(&mut b);
        assert_eq!(VnetHdr::parse(&b), Some(h));
        assert_eq!(VnetHdr::parse(&b[..9]), None);
    }

    /// The RFC 1071 definition, word by word: what [`sum`] must equal after folding.
    fn reference_sum(data: &[u8], initial: u64) -> u64 {
        let mut acc = initial;
        for w in data.chunks(2) {
            acc += u64::from(w[0]) << 8 | u64::from(w.get(1).copied().unwrap_or(0));
        }
        acc
    }

    proptest::proptest! {
        #[test]
        fn sum_folds_like_the_definition(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000), initial in 0u64..0x1_0000_0000, zeros in 0usize..64) {
            proptest::prop_assert_eq!(fold(sum(&data, initial)), fold(reference_sum(&data, initial)));
            // Runs of zeros and all-ones words (sums that are multiples of 0xffff) fold the same too.
            let mut edge = vec![0u8; zeros];
            edge.extend(std::iter::repeat(0xff).take(zeros * 2));
            proptest::prop_assert_eq!(fold(sum(&edge, initial % 2)), fold(reference_sum(&edge, initial % 2)));
        }
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0)), 0xddf2);
        assert_eq!(
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6], 0)),
            fold(sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0], 0))
        );
    }

    /// Every segment [`split_each`] hands over, copied out.
    fn split_all(hdr: &VnetHdr, packet: &[u8], max: usize) -> Result<Vec<Vec<u8>>, OffloadError> {
        let mut packet = packet.to_vec();
        let mut segments = Vec::new();
        let n = split_each(hdr, &mut packet, max, |s| segments.push(s.to_vec()))?;
        assert_eq!(n, segments.len());
        Ok(segments)
    }

    proptest::proptest! {
        /// Whatever the payload and segment size, the segments carry the payload in order, each with
        /// valid checksums, its own sequence number and IPv4 ID, and PSH only on the last.
        #[test]
        fn split_each_segments_carry_the_payload(len in 0usize..9000, seg in 1u16..2000, v6 in proptest::prelude::any::<bool>()) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
            let (hdr, sup, l4) = if v6 {
                let (h, p) = as_super(tcp6(4_000_000_000, &payload, 0x18), 40, GSO_TCPV6, seg);
                (h, p, 40)
            } else {
                let (h, p) = as_super(tcp4(4_000_000_000, &payload, 0x18), 20, GSO_TCPV4, seg);
                (h, p, 20)
            };
            let segments = split_all(&hdr, &sup, usize::MAX).unwrap();
            proptest::prop_assert_eq!(segments.len(), len.div_ceil(usize::from(seg)).max(1));
            let mut rebuilt = Vec::new();
            for (i, s) in segments.iter().enumerate() {
                proptest::prop_assert!(l4_valid(s, l4, PROTO_TCP), "segment {} TCP checksum", i);
                if !v6 {
                    proptest::prop_assert!(ipv4_valid(s));
                    proptest::prop_assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
                    proptest::prop_assert_eq!(u16::from_be_bytes([s[4], s[5]]), 7u16.wrapping_add(i as u16));
                } else {
                    proptest::prop_assert_eq!(usize::from(u16::from_be_bytes([s[4], s[5]])) + 40, s.len());
                }
                let seq = u32::from_be_bytes([s[l4 + 4], s[l4 + 5], s[l4 + 6], s[l4 + 7]]);
                proptest::prop_assert_eq!(seq, 4_000_000_000u32.wrapping_add(rebuilt.len() as u32));
                proptest::prop_assert_eq!(s[l4 + 13] & 0x08 != 0, i + 1 == segments.len());
                proptest::prop_assert!(s.len() - l4 - 20 <= usize::from(seg));
                rebuilt.extend_from_slice(&s[l4 + 20..]);
            }
            proptest::prop_assert_eq!(rebuilt, payload);
        }
    }

    #[test]
    fn splits_tcp4_into_valid_segments_and_coalesces_back() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let original = tcp4(1_000_000, &payload, 0x18);
        let (hdr, sup) = as_super(original.clone(), 20, GSO_TCPV4, 1380);
        let out = split_all(&hdr, &sup, 8).unwrap();
        let n = out.len();
        assert_eq!(n, 4);
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1420, 1420, 1420, 40 + 5000 - 3 * 1380]);
        let mut rebuilt = Vec::new();
        for (i, s) in out.iter().enumerate() {
            assert!(ipv4_valid(s), "segment {i} IPv4 checksum");
            assert!(l4_valid(s, 20, PROTO_TCP), "segment {i} TCP checksum");
            assert_eq!(u16::from_be_bytes([s[4], s[5]]), 7 + i as u16);
            assert_eq!(u32::from_be_bytes([s[24], s[25], s[26], s[27]]), 1_000_000 + 1380 * i as u32);
            assert_eq!(s[33] & 0x08 != 0, i == n - 1, "PSH only on the last");
            rebuilt.extend_from_slice(&s[40..]);
        }
        assert_eq!(rebuilt, payload);

        // And back: the coalescer accepts the segments in order and rebuilds the super-packet.
        let segs: Vec<&[u8]> = out.iter().map(Vec::as_slice).collect();
        let head = tcp_segment(segs[0]).unwrap();
        let mut packet = segs[0].to_vec();
        let mut last = head;
        for s in &segs[1..] {
            let t = tcp_segment(s).unwrap();
            assert!(continues(&head, &packet, &last, packet.len(), &t, s));
            packet.extend_from_slice(&s[40..]);
            last = t;
        }
        let mut vnet = [0u8; VNET_HDR_LEN];
        let total = packet.len();
        finish_coalesced(&head, &mut packet, total, n, last.psh, &mut vnet);
        let h = VnetHdr::parse(&vnet).unwrap();
        assert_eq!((h.gso_type, h.gso_size, h.hdr_len, h.csum_start, h.flags), (GSO_TCPV4, 1380, 40, 20, F_NEEDS_CSUM));
        assert!(ipv4_valid(&packet));
        assert_eq!(&packet[40..], &payload[..]);
        // Finishing the partial checksum gives the original's.
        finish_checksum(&h, &mut packet).unwrap();
        let mut want = original.clone();
        want[4..6].copy_from_slice(&packet[4..6]);
        fix_ipv4_checksum(&mut want);
        assert_eq!(packet, want);
    }

    #[test]
    fn splits_tcp6_and_refuses_out_of_order() {
        let payload = vec![0x5au8; 3000];
        let (hdr, sup) = as_super(tcp6(7, &payload, 0x10), 40, GSO_TCPV6, 1000);
        let out = split_all(&hdr, &sup, 4).unwrap();
        assert_eq!(out.len(), 3);
        for s in &out {
            assert!(l4_valid(s, 40, PROTO_TCP));
            assert_eq!(usize::from(u16::from_be_bytes([s[4], s[5]])) + 40, s.len());
        }
        let (a, c) = (&out[0][..], &out[2][..]);
        let (ha, hc) = (tcp_segment(a).unwrap(), tcp_segment(c).unwrap());
        assert!(!continues(&ha, a, &ha, a.len(), &hc, c), "a gap in sequence numbers ends the run");
    }

    #[test]
    fn refuses_what_it_cannot_split_or_coalesce() {
        let p = tcp4(1, &[1, 2, 3], 0x18);
        let bad = VnetHdr { gso_type: GSO_TCPV4, gso_size: 1, csum_start: 20, ..VnetHdr::default() };
        let mut untouched = p.clone();
        let mut called = false;
        assert_eq!(
            split_each(&bad, &mut untouched, 2, |_| called = true),
            Err(OffloadError::Malformed),
            "more segments than allowed"
        );
        assert!(!called && untouched == p, "refused before anything is handed over or written");
        let v6 = VnetHdr { gso_type: GSO_TCPV6, gso_size: 100, csum_start: 20, ..VnetHdr::default() };
        assert_eq!(split_all(&v6, &p, 64), Err(OffloadError::Malformed), "TCPv6 GSO on an IPv4 packet");
        let odd = VnetHdr { gso_type: 3, gso_size: 100, csum_start: 20, ..VnetHdr::default() };
        assert_eq!(split_all(&odd, &p, 64), Err(OffloadError::Unsupported));
        // Headers longer than MAX_SPLIT_HEADER: IPv4 claiming a transport header at 120 (options) and
        // 60 bytes of TCP header.
        let mut long = vec![0u8; 400];
        long[0] = 0x45;
        long[120 + 12] = 0xf0;
        let deep = VnetHdr { gso_type: GSO_TCPV4, gso_size: 100, csum_start: 120, ..VnetHdr::default() };
        assert_eq!(split_all(&deep, &long, 64), Err(OffloadError::Malformed), "180 bytes of headers");
        assert!(tcp_segment(&tcp4(1, &[1], 0x02)).is_none(), "SYN");
        assert!(tcp_segment(&tcp4(1, &[1], 0x11)).is_none(), "FIN");
        assert!(tcp_segment(&tcp4(1, &[], 0x10)).is_none(), "pure ACK");
        assert!(tcp_segment(&p[..30]).is_none(), "truncated");
    }

    #[test]
    fn splits_udp_super_packets_into_datagrams() {
        // IPv4 UDP 192.0.2.1:1000 -> 192.0.2.2:2000, 2,500 payload bytes handed over as USO with 1,000 per
        // datagram, the checksum field holding the pseudo-header sum as the kernel leaves it.
        let payload: Vec<u8> = (0..2500u32).map(|i| (i * 3) as u8).collect();
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[4..6].copy_from_slice(&7u16.to_be_bytes());
        p[8] = 64;
        p[9] = PROTO_UDP;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 2]);
        p[20..22].copy_from_slice(&1000u16.to_be_bytes());
        p[22..24].copy_from_slice(&2000u16.to_be_bytes());
        p.extend_from_slice(&payload);
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[24..26].copy_from_slice(&(total - 20).to_be_bytes());
        let psum = fold(pseudo_sum(&p, PROTO_UDP, p.len() - 20));
        p[26..28].copy_from_slice(&psum.to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_UDP_L4,
            hdr_len: 28,
            gso_size: 1000,
            csum_start: 20,
            csum_offset: 6,
        };
        let out = split_all(&hdr, &p, 8).unwrap();
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1028, 1028, 528]);
        let mut rebuilt = Vec::new();
        for (i, s) in out.iter().enumerate() {
            assert!(ipv4_valid(s), "datagram {i} IPv4 checksum");
            assert!(l4_valid(s, 20, PROTO_UDP), "datagram {i} UDP checksum");
            assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
            assert_eq!(usize::from(u16::from_be_bytes([s[24], s[25]])), s.len() - 20, "UDP length");
            assert_eq!(&s[20..24], &p[20..24], "ports");
            rebuilt.extend_from_slice(&s[28..]);
        }
        assert_eq!(rebuilt, payload);

        // And back: the datagrams coalesce into the USO super-packet they came from.
        let head = udp_datagram(&out[0]).unwrap();
        assert!(head.is_udp() && tcp_segment(&out[0]).is_none());
        let mut packet = out[0].clone();
        let mut last = head;
        for s in &out[1..] {
            let d = udp_datagram(s).unwrap();
            assert!(continues(&head, &packet, &last, packet.len(), &d, s));
            packet.extend_from_slice(&s[28..]);
            last = d;
        }
        let mut vnet = [0u8; VNET_HDR_LEN];
        let total = packet.len();
        finish_coalesced(&head, &mut packet, total, out.len(), false, &mut vnet);
        let h = VnetHdr::parse(&vnet).unwrap();
        assert_eq!(
            (h.flags, h.gso_type, h.gso_size, h.hdr_len, h.csum_start, h.csum_offset),
            (F_NEEDS_CSUM, GSO_UDP_L4, 1000, 28, 20, 6)
        );
        let mut want = p.clone();
        fix_ipv4_checksum(&mut want);
        assert_eq!(packet, want, "the super-packet as the kernel handed it over");

        // What stays alone or ends a run.
        let (a, b, c) = (&out[0], &out[1], &out[2]);
        let (da, db, dc) = (udp_datagram(a).unwrap(), udp_datagram(b).unwrap(), udp_datagram(c).unwrap());
        assert!(!continues(&dc, c, &dc, c.len(), &da, a), "a longer datagram after a shorter head");
        assert!(!continues(&da, a, &dc, a.len() + 500, &db, b), "nothing after a shorter datagram");
        let mut other_port = b.clone();
        other_port[23] ^= 1;
        let dp = udp_datagram(&other_port).unwrap();
        assert!(!continues(&da, a, &da, a.len(), &dp, &other_port), "another flow");
        let mut other_ttl = b.clone();
        other_ttl[8] -= 1;
        let dt = udp_datagram(&other_ttl).unwrap();
        assert!(!continues(&da, a, &da, a.len(), &dt, &other_ttl), "another TTL");
        let mut no_checksum = b.clone();
        no_checksum[26..28].copy_from_slice(&[0, 0]);
        assert!(udp_datagram(&no_checksum).is_none(), "an IPv4 datagram without a checksum stays alone");
        let mut bad_len = b.clone();
        bad_len[25] ^= 1;
        assert!(udp_datagram(&bad_len).is_none(), "UDP length not matching the packet");
        assert!(udp_datagram(&tcp4(1, &[1, 2, 3], 0x18)).is_none(), "TCP");
        assert!(udp_datagram(&b[..28]).is_none(), "truncated");
    }

    #[test]
    fn finishes_partial_udp_checksum() {
        let mut p = vec![0u8; 28 + 11];
        p[0] = 0x45;
        let total = p.len() as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p[9] = PROTO_UDP;
        p[12..16].copy_from_slice(&[192, 0, 2, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 2]);
        p[24..26].copy_from_slice(&19u16.to_be_bytes());
        p[28..].copy_from_slice(b"hello world");
        let psum = fold(pseudo_sum(&p, PROTO_UDP, 19));
        p[26..28].copy_from_slice(&psum.to_be_bytes());
        let h = VnetHdr { flags: F_NEEDS_CSUM, csum_start: 20, csum_offset: 6, ..VnetHdr::default() };
        finish_checksum(&h, &mut p).unwrap();
        assert!(l4_valid(&p, 20, PROTO_UDP));
    }
}
