//! Rendering UAPI messages, byte for byte as wireguard-go writes them.

use std::fmt::Write;

use super::{DeviceState, DeviceUpdate};

const ZERO_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The body of a `get=1` response: device lines, then each peer's, then `errno=0` and the blank line.
/// Keys are written as hex; a peer without a preshared key gets all zeros, like wireguard-go.
pub fn render_get_response(state: &DeviceState) -> String {
    let mut out = String::with_capacity(128 + state.peers.len() * 256);
    if let Some(key) = &state.private_key {
        let _ = writeln!(out, "private_key={}", key.to_hex());
    } else if let Some(key) = &state.own_public_key {
        let _ = writeln!(out, "own_public_key={}", key.to_hex());
    }
    if state.listen_port != 0 {
        let _ = writeln!(out, "listen_port={}", state.listen_port);
    }
    if state.fwmark != 0 {
        let _ = writeln!(out, "fwmark={}", state.fwmark);
    }
    for peer in &state.peers {
        let _ = writeln!(out, "public_key={}", peer.public_key.to_hex());
        match &peer.preshared_key {
            Some(psk) => {
                let _ = writeln!(out, "preshared_key={}", psk.to_hex());
            }
            None => {
                let _ = writeln!(out, "preshared_key={ZERO_KEY}");
            }
        }
        let _ = writeln!(out, "protocol_version={}", peer.protocol_version);
        if let Some(endpoint) = peer.endpoint {
            let _ = writeln!(out, "endpoint={endpoint}");
        }
        let handshake = peer.last_handshake.unwrap_or_default();
        let _ = writeln!(out, "last_handshake_time_sec={}", handshake.as_secs());
        let _ = writeln!(out, "last_handshake_time_nsec={}", handshake.subsec_nanos());
        let _ = writeln!(out, "tx_bytes={}", peer.tx_bytes);
        let _ = writeln!(out, "rx_bytes={}", peer.rx_bytes);
        let _ = writeln!(out, "persistent_keepalive_interval={}", peer.persistent_keepalive_interval);
        for prefix in &peer.allowed_ips {
            let _ = writeln!(out, "allowed_ip={prefix}");
        }
    }
    out.push_str("errno=0\n\n");
    out
}

/// A `set=1` request, terminated by the blank line. Each peer's keys in the order `wg` sends them.
pub fn render_set_request(update: &DeviceUpdate) -> String {
    let mut out = String::with_capacity(64 + update.peers.len() * 256);
    out.push_str("set=1\n");
    match &update.private_key {
        Some(Some(key)) => {
            let _ = writeln!(out, "private_key={}", key.to_hex());
        }
        Some(None) => {
            let _ = writeln!(out, "private_key={ZERO_KEY}");
        }
        None => {}
    }
    if let Some(port) = update.listen_port {
        let _ = writeln!(out, "listen_port={port}");
    }
    if let Some(mark) = update.fwmark {
        let _ = writeln!(out, "fwmark={mark}");
    }
    if update.replace_peers {
        out.push_str("replace_peers=true\n");
    }
    for peer in &update.peers {
        let _ = writeln!(out, "public_key={}", peer.public_key.to_hex());
        if peer.remove {
            out.push_str("remove=true\n");
        }
        if peer.update_only {
            out.push_str("update_only=true\n");
        }
        match &peer.preshared_key {
            Some(Some(psk)) => {
                let _ = writeln!(out, "preshared_key={}", psk.to_hex());
            }
            Some(None) => {
                let _ = writeln!(out, "preshared_key={ZERO_KEY}");
            }
            None => {}
        }
        if let Some(endpoint) = peer.endpoint {
            let _ = writeln!(out, "endpoint={endpoint}");
        }
        if let Some(interval) = peer.persistent_keepalive_interval {
            let _ = writeln!(out, "persistent_keepalive_interval={interval}");
        }
        if peer.replace_allowed_ips {
            out.push_str("replace_allowed_ips=true\n");
        }
        for change in &peer.allowed_ips {
            let _ = writeln!(out, "allowed_ip={}{}", if change.remove { "-" } else { "" }, change.prefix);
        }
        if let Some(version) = peer.protocol_version {
            let _ = writeln!(out, "protocol_version={version}");
        }
    }
    out.push('\n');
    out
}

/// A device's reply status: `errno=0` on success, else `errno=-N` (wireguard-go's sign, which `wg`
/// turns back into N).
pub fn render_errno(errno: i32) -> String {
    if errno == 0 {
        "errno=0\n\n".to_string()
    } else {
        format!("errno={}\n\n", -errno.abs())
    }
}
