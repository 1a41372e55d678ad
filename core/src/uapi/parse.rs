//! Parsing UAPI messages. Strict where `wg` and wireguard-go are strict; every error names its line.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::{AllowedIpChange, DeviceState, DeviceUpdate, PeerState, PeerUpdate, MAX_LINE_BYTES, MAX_MESSAGE_BYTES};
use crate::error::UapiError;
use crate::keys::{PresharedKey, PrivateKey, PublicKey};

/// Splits a message into its `key=value` lines up to the terminating blank line, with 1-based numbers.
/// The blank line must end the message.
struct Lines<'a> {
    rest: &'a str,
    line: usize,
    done: bool,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Result<Self, UapiError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(UapiError::TooLarge { what: "message", limit: MAX_MESSAGE_BYTES });
        }
        Ok(Lines { rest: text, line: 0, done: false })
    }

    /// The next line without its newline, or None at the blank line (which must be the last).
    fn next_line(&mut self) -> Result<Option<(usize, &'a str)>, UapiError> {
        if self.done {
            return Ok(None);
        }
        self.line += 1;
        let Some(end) = self.rest.find('\n') else {
            let reason =
                if self.rest.is_empty() { "missing the terminating blank line" } else { "line without a newline" };
            return Err(UapiError::Syntax { line: self.line, reason: reason.into() });
        };
        if end + 1 > MAX_LINE_BYTES {
            return Err(UapiError::TooLarge { what: "line", limit: MAX_LINE_BYTES });
        }
        let text = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        if text.is_empty() {
            self.done = true;
            if !self.rest.is_empty() {
                return Err(UapiError::Syntax {
                    line: self.line + 1,
                    reason: "data after the terminating blank line".into(),
                });
            }
            return Ok(None);
        }
        Ok(Some((self.line, text)))
    }

    /// The next line split at its first `=`.
    fn next_pair(&mut self) -> Result<Option<(usize, &'a str, &'a str)>, UapiError> {
        match self.next_line()? {
            None => Ok(None),
            Some((line, text)) => match text.split_once('=') {
                Some((key, value)) => Ok(Some((line, key, value))),
                None => Err(UapiError::Syntax { line, reason: "expected key=value".into() }),
            },
        }
    }
}

fn invalid(line: usize, key: &'static str, reason: impl Into<String>) -> UapiError {
    UapiError::InvalidValue { line, key, reason: reason.into() }
}

/// Digits only (no sign, no spaces), at most `max`.
fn number(line: usize, key: &'static str, value: &str, max: u64) -> Result<u64, UapiError> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(line, key, format!("expected a decimal number, got {value:?}")));
    }
    match value.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(invalid(line, key, format!("{value} is out of range (at most {max})"))),
    }
}

fn flag(line: usize, key: &'static str, value: &str) -> Result<(), UapiError> {
    if value == "true" {
        Ok(())
    } else {
        Err(invalid(line, key, format!("only \"true\" is accepted, got {value:?}")))
    }
}

fn is_zero_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b == b'0')
}

fn private_key(line: usize, value: &str) -> Result<Option<PrivateKey>, UapiError> {
    if is_zero_hex(value) {
        return Ok(None);
    }
    PrivateKey::from_hex(value).map(Some).map_err(|e| invalid(line, "private_key", e.to_string()))
}

fn preshared_key(line: usize, value: &str) -> Result<Option<PresharedKey>, UapiError> {
    if is_zero_hex(value) {
        return Ok(None);
    }
    PresharedKey::from_hex(value).map(Some).map_err(|e| invalid(line, "preshared_key", e.to_string()))
}

fn public_key(line: usize, value: &str) -> Result<PublicKey, UapiError> {
    PublicKey::from_hex(value).map_err(|e| invalid(line, "public_key", e.to_string()))
}

fn endpoint(line: usize, value: &str) -> Result<SocketAddr, UapiError> {
    value
        .parse::<SocketAddr>()
        .map_err(|_| invalid(line, "endpoint", format!("expected IP:PORT or [IPv6]:PORT, got {value:?}")))
}

fn prefix(line: usize, value: &str) -> Result<IpNet, UapiError> {
    value.parse::<IpNet>().map_err(|_| invalid(line, "allowed_ip", format!("expected ADDRESS/LENGTH, got {value:?}")))
}

/// Parses a whole `set=1` request (the operation line, `key=value` lines, the blank line).
///
/// Line order is folded into the typed form the way a device applies it: `replace_allowed_ips=true`
/// after `allowed_ip=` lines discards them, `remove=true` makes the rest of the peer's section moot,
/// a repeated key keeps its last value. Device keys after the first `public_key=` are errors.
pub fn parse_set_request(text: &str) -> Result<DeviceUpdate, UapiError> {
    let mut lines = Lines::new(text)?;
    if !matches!(lines.next_line()?, Some((_, "set=1"))) {
        return Err(UapiError::Syntax { line: 1, reason: "expected the operation line set=1".into() });
    }
    let mut update = DeviceUpdate::default();
    let mut peer: Option<PeerUpdate> = None;
    while let Some((line, key, value)) = lines.next_pair()? {
        if key == "public_key" {
            if let Some(done) = peer.take() {
                update.peers.push(done);
            }
            peer = Some(PeerUpdate::new(public_key(line, value)?));
            continue;
        }
        let Some(current) = peer.as_mut() else {
            match key {
                "private_key" => update.private_key = Some(private_key(line, value)?),
                "listen_port" => update.listen_port = Some(number(line, "listen_port", value, 65535)? as u16),
                "fwmark" => update.fwmark = Some(number(line, "fwmark", value, u32::MAX as u64)? as u32),
                "replace_peers" => {
                    flag(line, "replace_peers", value)?;
                    update.replace_peers = true;
                }
                _ => return Err(UapiError::UnknownKey { line, key: key.to_string() }),
            }
            continue;
        };
        // Every value is validated, even in a section that remove=true already made moot.
        match key {
            "remove" => {
                flag(line, "remove", value)?;
                let key = current.public_key;
                *current = PeerUpdate { remove: true, ..PeerUpdate::new(key) };
            }
            "update_only" => {
                flag(line, "update_only", value)?;
                if !current.remove {
                    current.update_only = true;
                }
            }
            "preshared_key" => {
                let psk = preshared_key(line, value)?;
                if !current.remove {
                    current.preshared_key = Some(psk);
                }
            }
            "endpoint" => {
                let ep = endpoint(line, value)?;
                if !current.remove {
                    current.endpoint = Some(ep);
                }
            }
            "persistent_keepalive_interval" => {
                let n = number(line, "persistent_keepalive_interval", value, 65535)? as u16;
                if !current.remove {
                    current.persistent_keepalive_interval = Some(n);
                }
            }
            "replace_allowed_ips" => {
                flag(line, "replace_allowed_ips", value)?;
                if !current.remove {
                    current.replace_allowed_ips = true;
                    current.allowed_ips.clear();
                }
            }
            "allowed_ip" => {
                let (remove, text) = match value.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, value),
                };
                let change = AllowedIpChange { prefix: prefix(line, text)?, remove };
                if !current.remove {
                    current.allowed_ips.push(change);
                }
            }
            "protocol_version" => {
                if value != "1" {
                    return Err(invalid(line, "protocol_version", format!("only version 1 exists, got {value:?}")));
                }
                if !current.remove {
                    current.protocol_version = Some(1);
                }
            }
            _ => return Err(UapiError::UnknownKey { line, key: key.to_string() }),
        }
    }
    if let Some(done) = peer.take() {
        update.peers.push(done);
    }
    Ok(update)
}

/// Parses a device's answer to `set=1`: `errno=0` is success, anything else an [`UapiError::Errno`].
pub fn parse_set_response(text: &str) -> Result<(), UapiError> {
    let mut lines = Lines::new(text)?;
    let mut status = None;
    while let Some((line, key, value)) = lines.next_pair()? {
        if key == "errno" {
            status = Some(errno_value(line, value)?);
        }
    }
    match status {
        Some(0) => Ok(()),
        Some(errno) => Err(UapiError::Errno { errno }),
        None => Err(UapiError::Syntax { line: lines.line, reason: "no errno line in the response".into() }),
    }
}

fn errno_value(line: usize, value: &str) -> Result<i32, UapiError> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    Ok(number(line, "errno", digits, i32::MAX as u64)? as i32)
}

/// Parses the answer to `get=1`: device lines, peers with their statistics, `errno=0`, the blank line.
/// Keys this version does not know are skipped, as `wg` skips them (forward compatibility); known keys
/// with bad values are errors.
pub fn parse_get_response(text: &str) -> Result<DeviceState, UapiError> {
    let mut lines = Lines::new(text)?;
    let mut state = DeviceState::default();
    let mut peer: Option<PeerState> = None;
    let mut status = None;
    let mut handshake_sec = 0u64;
    let mut handshake_nsec = 0u64;
    let finish = |peer: &mut Option<PeerState>, state: &mut DeviceState, sec: &mut u64, nsec: &mut u64| {
        if let Some(mut done) = peer.take() {
            if *sec != 0 || *nsec != 0 {
                done.last_handshake = Some(Duration::new(*sec, (*nsec % 1_000_000_000) as u32));
            }
            state.peers.push(done);
        }
        *sec = 0;
        *nsec = 0;
    };
    while let Some((line, key, value)) = lines.next_pair()? {
        if key == "errno" {
            status = Some(errno_value(line, value)?);
            continue;
        }
        if key == "public_key" {
            finish(&mut peer, &mut state, &mut handshake_sec, &mut handshake_nsec);
            peer = Some(PeerState::new(public_key(line, value)?));
            continue;
        }
        let Some(current) = peer.as_mut() else {
            match key {
                "private_key" => state.private_key = private_key(line, value)?,
                "own_public_key" => {
                    state.own_public_key =
                        Some(PublicKey::from_hex(value).map_err(|e| invalid(line, "own_public_key", e.to_string()))?)
                }
                "listen_port" => state.listen_port = number(line, "listen_port", value, 65535)? as u16,
                "fwmark" => state.fwmark = number(line, "fwmark", value, u32::MAX as u64)? as u32,
                _ => {}
            }
            continue;
        };
        match key {
            "preshared_key" => current.preshared_key = preshared_key(line, value)?,
            "protocol_version" => {
                current.protocol_version = number(line, "protocol_version", value, u32::MAX as u64)? as u32
            }
            "endpoint" => current.endpoint = Some(endpoint(line, value)?),
            "last_handshake_time_sec" => {
                handshake_sec = number(line, "last_handshake_time_sec", value, i64::MAX as u64)?
            }
            "last_handshake_time_nsec" => {
                handshake_nsec = number(line, "last_handshake_time_nsec", value, 999_999_999)?
            }
            "tx_bytes" => current.tx_bytes = number(line, "tx_bytes", value, u64::MAX)?,
            "rx_bytes" => current.rx_bytes = number(line, "rx_bytes", value, u64::MAX)?,
            "persistent_keepalive_interval" => {
                current.persistent_keepalive_interval =
                    number(line, "persistent_keepalive_interval", value, 65535)? as u16
            }
            "allowed_ip" => current.allowed_ips.push(prefix(line, value)?),
            _ => {}
        }
    }
    finish(&mut peer, &mut state, &mut handshake_sec, &mut handshake_nsec);
    match status {
        Some(0) => Ok(state),
        Some(errno) => Err(UapiError::Errno { errno }),
        None => Err(UapiError::Syntax { line: lines.line, reason: "no errno line in the response".into() }),
    }
}
