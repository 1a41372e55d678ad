//! The UAPI `set` semantics as a pure function: what a device's state becomes after an update.
//!
//! Mirrors wireguard-go (and wiremeshd, which follows it): a peer with the device's own public key is
//! ignored (and removed when the private key changes to match it); `remove=true` removes; `update_only`
//! skips absent peers; an `allowed_ip=` prefix is masked to its length and belongs to one peer only (adding
//! it to a peer takes it from any other); `allowed_ip=-P` removes P only from the peer that names it.
//! Statistics (handshake, transfer counters) of peers that stay are kept; new peers start at zero.

use super::{AllowedIpChange, DeviceState, DeviceUpdate, PeerState, PeerUpdate};

/// The state a device reaches from `state` when it accepts `update` (a `set=1` request).
///
/// Configuration only: a device may also re-handshake a peer whose preshared key or keepalive changed,
/// which this function does not model (it keeps the statistics as they were).
pub fn apply_update(state: &DeviceState, update: &DeviceUpdate) -> DeviceState {
    let mut next = state.clone();
    if let Some(key) = &update.private_key {
        next.private_key = key.clone();
        if let Some(key) = key {
            let own = key.public_key();
            next.peers.retain(|p| p.public_key != own);
        }
    }
    if let Some(port) = update.listen_port {
        next.listen_port = port;
    }
    if let Some(mark) = update.fwmark {
        next.fwmark = mark;
    }
    if update.replace_peers {
        next.peers.clear();
    }
    let own = next.private_key.as_ref().map(|k| k.public_key());
    for change in &update.peers {
        if Some(change.public_key) == own {
            continue;
        }
        let existing = next.peers.iter().position(|p| p.public_key == change.public_key);
        if change.remove {
            if let Some(index) = existing {
                next.peers.remove(index);
            }
            continue;
        }
        let index = match existing {
            Some(index) => index,
            None if change.update_only => continue,
            None => {
                next.peers.push(PeerState::new(change.public_key));
                next.peers.len() - 1
            }
        };
        {
            let peer = &mut next.peers[index];
            if let Some(psk) = &change.preshared_key {
                peer.preshared_key = psk.clone();
            }
            if let Some(endpoint) = change.endpoint {
                peer.endpoint = Some(endpoint);
            }
            if let Some(interval) = change.persistent_keepalive_interval {
                peer.persistent_keepalive_interval = interval;
            }
            if change.replace_allowed_ips {
                peer.allowed_ips.clear();
            }
        }
        for line in &change.allowed_ips {
            let prefix = line.prefix.trunc();
            if line.remove {
                next.peers[index].allowed_ips.retain(|p| p.trunc() != prefix);
                continue;
            }
            for (other, peer) in next.peers.iter_mut().enumerate() {
                if other != index {
                    peer.allowed_ips.retain(|p| p.trunc() != prefix);
                }
            }
            let list = &mut next.peers[index].allowed_ips;
            if !list.iter().any(|p| p.trunc() == prefix) {
                list.push(prefix);
            }
        }
    }
    next
}

/// `update` restated for a device that cannot change an existing peer (boringtun's UAPI), as `set=1`
/// requests to send in order: the device fields first, then one request per peer section, because
/// boringtun carries a section's settings (`remove`, endpoint, keepalive, preshared key) over into the
/// next section of the same request. For each peer, what [`apply_update`] says it becomes: a peer
/// that changes is removed and then added again whole, a new one added whole, a removed one removed, one
/// left as it was not mentioned. That includes peers the update does not name but that lose a prefix to
/// another peer. Never `update_only`. With `replace_peers`, every
/// resulting peer is added whole. The configuration reached is the one `update` gives on wireguard-go;
/// the sessions of the replaced peers restart. Empty when there is nothing to send.
pub fn whole_peer_requests(state: &DeviceState, update: &DeviceUpdate) -> Vec<DeviceUpdate> {
    let whole = whole_peer_replacements(state, update);
    let mut requests = Vec::with_capacity(whole.peers.len() + 1);
    let device = DeviceUpdate { peers: Vec::new(), ..whole.clone() };
    if !device.is_empty() {
        requests.push(device);
    }
    requests.extend(whole.peers.into_iter().map(|peer| DeviceUpdate { peers: vec![peer], ..DeviceUpdate::default() }));
    requests
}

/// [`whole_peer_requests`] as one update (for a device that takes several peer sections per request).
fn whole_peer_replacements(state: &DeviceState, update: &DeviceUpdate) -> DeviceUpdate {
    let next = apply_update(state, update);
    let mut out = DeviceUpdate {
        private_key: update.private_key.clone(),
        listen_port: update.listen_port,
        fwmark: update.fwmark,
        replace_peers: update.replace_peers,
        peers: Vec::new(),
    };
    let find = |s: &'_ DeviceState, key| s.peers.iter().position(|p: &PeerState| p.public_key == key);
    if update.replace_peers {
        out.peers = next.peers.iter().map(whole_peer).collect();
        return out;
    }
    // The peers the update names, then the others: adding a prefix to one peer takes it from another,
    // so a peer the update never names can change too (and must be sent as it ends up).
    let mut seen = std::collections::HashSet::new();
    let named = update.peers.iter().map(|p| p.public_key);
    for key in named.chain(state.peers.iter().map(|p| p.public_key)) {
        if !seen.insert(key) {
            continue;
        }
        let before = find(state, key).map(|i| &state.peers[i]);
        let after = find(&next, key).map(|i| &next.peers[i]);
        match (before, after) {
            (Some(_), None) => out.peers.push(PeerUpdate { remove: true, ..PeerUpdate::new(key) }),
            (None, Some(peer)) => out.peers.push(whole_peer(peer)),
            (Some(was), Some(peer)) if !same_configuration(was, peer) => {
                out.peers.push(PeerUpdate { remove: true, ..PeerUpdate::new(key) });
                out.peers.push(whole_peer(peer));
            }
            _ => {}
        }
    }
    out
}

/// A peer section that creates `peer` as it is configured (no statistics).
fn whole_peer(peer: &PeerState) -> PeerUpdate {
    let mut section = PeerUpdate::new(peer.public_key);
    section.preshared_key = peer.preshared_key.clone().map(Some);
    section.endpoint = peer.endpoint;
    section.persistent_keepalive_interval = Some(peer.persistent_keepalive_interval).filter(|k| *k != 0);
    section.allowed_ips = peer.allowed_ips.iter().map(|p| AllowedIpChange::add(*p)).collect();
    section
}

fn same_configuration(a: &PeerState, b: &PeerState) -> bool {
    let set = |p: &PeerState| p.allowed_ips.iter().map(|n| n.trunc()).collect::<std::collections::HashSet<_>>();
    a.preshared_key == b.preshared_key
        && a.endpoint == b.endpoint
        && a.persistent_keepalive_interval == b.persistent_keepalive_interval
        && set(a) == set(b)
}

impl DeviceUpdate {
    /// True when the update changes nothing (no device key, no peer section).
    pub fn is_empty(&self) -> bool {
        self.private_key.is_none()
            && self.listen_port.is_none()
            && self.fwmark.is_none()
            && !self.replace_peers
            && self.peers.is_empty()
    }
}
