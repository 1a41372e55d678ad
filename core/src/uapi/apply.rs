//! The UAPI `set` semantics as a pure function: what a device's state becomes after an update.
//!
//! Mirrors wireguard-go (and wiremeshd, which follows it): a peer with the device's own public key is
//! ignored (and removed when the private key changes to match it); `remove=true` removes; `update_only`
//! skips absent peers; an `allowed_ip=` prefix is masked to its length and belongs to one peer only (adding
//! it to a peer takes it from any other); `allowed_ip=-P` removes P only from the peer that names it.
//! Statistics (handshake, transfer counters) of peers that stay are kept; new peers start at zero.

use super::{DeviceState, DeviceUpdate, PeerState};

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
