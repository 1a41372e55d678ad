//! The renderer shared by both dialects (the output format is documented on [`WgConfig`]).

use zeroize::Zeroize;

use super::{trim_space, Dialect, InterfaceSection, PeerSection, Section, Setting, WgConfig};
use crate::error::{ConfigError, TextLocation};
use crate::mesh::endpoint::{Endpoint, Host};
use crate::mesh::name::is_safe_value;

/// Renders `config` in `dialect`.
pub(super) fn render(config: &WgConfig, dialect: Dialect) -> Result<String, ConfigError> {
    render_parts(&config.interface, config.peers.iter().map(PeerView::from), config.peers.len(), dialect)
}

/// A borrowed view of one `[Peer]`, so callers holding peers in another shape (a plan) render them
/// without copying each into a [`PeerSection`] first.
#[derive(Clone, Copy)]
pub(crate) struct PeerView<'a> {
    pub name: Option<&'a str>,
    pub public_key: &'a crate::keys::PublicKey,
    pub preshared_key: Option<&'a crate::keys::PresharedKey>,
    pub allowed_ips: &'a [ipnet::IpNet],
    pub endpoint: Option<&'a Endpoint>,
    pub persistent_keepalive: Option<u16>,
}

impl<'a> From<&'a PeerSection> for PeerView<'a> {
    fn from(peer: &'a PeerSection) -> Self {
        PeerView {
            name: peer.name.as_deref(),
            public_key: &peer.public_key,
            preshared_key: peer.preshared_key.as_ref(),
            allowed_ips: &peer.allowed_ips,
            endpoint: peer.endpoint.as_ref(),
            persistent_keepalive: peer.persistent_keepalive,
        }
    }
}

/// Renders an interface and its peers in `dialect`.
fn render_parts<'a>(
    interface: &InterfaceSection,
    peers: impl Iterator<Item = PeerView<'a>>,
    peer_count: usize,
    dialect: Dialect,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(512 + 200 * peer_count);
    render_interface(&mut out, interface, dialect)?;
    for (index, peer) in peers.enumerate() {
        out.push('\n');
        render_peer(&mut out, peer, index)?;
    }
    Ok(out)
}

/// Which part of the model a render error concerns; shown as the location's source name.
#[derive(Clone, Copy)]
enum Place {
    Interface,
    Peer(usize),
}

impl Place {
    fn at(self, key: &str) -> TextLocation {
        let (source_name, section) = match self {
            Place::Interface => ("interface".to_string(), Section::Interface),
            Place::Peer(index) => (format!("peers[{index}]"), Section::Peer),
        };
        TextLocation { source_name, line: 0, section: Some(section.name().to_string()), key: Some(key.to_string()) }
    }

    fn invalid(self, key: &str, reason: &str) -> ConfigError {
        ConfigError::InvalidValue { at: self.at(key), reason: reason.to_string() }
    }
}

/// Appends `Key = value` and a newline (`Key =` when the value is empty).
fn push_line(out: &mut String, key: Setting, value: &str) {
    out.push_str(key.name());
    if value.is_empty() {
        out.push_str(" =\n");
    } else {
        out.push_str(" = ");
        out.push_str(value);
        out.push('\n');
    }
}

/// Appends `net` as `addr/len`. IPv4 is formatted by hand: AllowedIPs lines are the bulk of a large
/// mesh's output and `Display` for addresses goes through the general formatting machinery.
fn push_net(out: &mut String, net: &ipnet::IpNet) {
    use std::fmt::Write as _;
    match net {
        ipnet::IpNet::V4(v4) => {
            for (i, octet) in v4.addr().octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_small(out, u32::from(*octet));
            }
            out.push('/');
            push_small(out, u32::from(v4.prefix_len()));
        }
        ipnet::IpNet::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// Appends `endpoint` as `Display` writes it (IPv4 hosts by hand, as in [`push_net`]).
fn push_endpoint(out: &mut String, endpoint: &Endpoint) {
    use std::fmt::Write as _;
    match &endpoint.host {
        Host::Ip(std::net::IpAddr::V4(ip)) => {
            for (i, octet) in ip.octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_small(out, u32::from(*octet));
            }
            out.push(':');
            let mut digits = [0u8; 5];
            let mut n = endpoint.port;
            let mut start = digits.len();
            loop {
                start -= 1;
                digits[start] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.push_str(std::str::from_utf8(&digits[start..]).expect("digits are ASCII"));
        }
        _ => {
            let _ = write!(out, "{endpoint}");
        }
    }
}

/// Appends a number below 1000 in decimal.
fn push_small(out: &mut String, n: u32) {
    if n >= 100 {
        out.push(char::from(b'0' + (n / 100) as u8));
    }
    if n >= 10 {
        out.push(char::from(b'0' + (n / 10 % 10) as u8));
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Appends a secret key line and wipes the temporary base64 text.
fn push_secret(out: &mut String, key: Setting, mut encoded: String) {
    push_line(out, key, &encoded);
    encoded.zeroize();
}

/// Appends a comma-separated list line, when the list is not empty (formatted straight into `out`:
/// this runs once per peer, a million times for a large mesh).
fn push_list<T: std::fmt::Display>(out: &mut String, key: Setting, items: &[T]) {
    use std::fmt::Write as _;
    if let Some((first, rest)) = items.split_first() {
        out.push_str(key.name());
        let _ = write!(out, " = {first}");
        for item in rest {
            let _ = write!(out, ", {item}");
        }
        out.push('\n');
    }
}

/// Checks a free-text value: safe ([`is_safe_value`]), and unchanged by the parser's trimming (and not
/// empty unless `allow_empty`), so it reads back exactly.
fn check_text(place: Place, key: &str, value: &str, allow_empty: bool) -> Result<(), ConfigError> {
    if !is_safe_value(value) {
        return Err(ConfigError::UnsafeValue { at: place.at(key) });
    }
    if value.is_empty() && !allow_empty {
        return Err(place.invalid(key, "must not be empty"));
    }
    if trim_space(value) != value {
        return Err(place.invalid(key, "must not start or end with spaces"));
    }
    Ok(())
}

pub(crate) fn render_interface(
    out: &mut String,
    iface: &InterfaceSection,
    dialect: Dialect,
) -> Result<(), ConfigError> {
    let place = Place::Interface;
    out.push_str("[Interface]\n");
    if let Some(key) = &iface.private_key {
        push_secret(out, Setting::PrivateKey, key.to_base64());
    }
    if let Some(port) = iface.listen_port {
        push_line(out, Setting::ListenPort, &port.to_string());
    }
    if let Some(mark) = iface.fwmark {
        if mark == 0 {
            return Err(place.invalid(Setting::FwMark.name(), "fwmark 0 means off: use None"));
        }
        push_line(out, Setting::FwMark, &format!("{mark:#x}"));
    }
    if dialect == Dialect::SetConf {
        return Ok(());
    }
    push_list(out, Setting::Address, &iface.addresses);
    for entry in &iface.dns {
        check_text(place, Setting::Dns.name(), entry, false)?;
        if entry.contains(|c: char| c == ',' || c.is_whitespace()) {
            return Err(
                place.invalid(Setting::Dns.name(), "a DNS entry is one address or domain, without commas or spaces")
            );
        }
    }
    push_list(out, Setting::Dns, &iface.dns);
    if let Some(mtu) = iface.mtu {
        push_line(out, Setting::Mtu, &mtu.to_string());
    }
    if let Some(table) = &iface.table {
        check_text(place, Setting::Table.name(), table, false)?;
        push_line(out, Setting::Table, table);
    }
    for (key, hooks) in [
        (Setting::PreUp, &iface.pre_up),
        (Setting::PostUp, &iface.post_up),
        (Setting::PreDown, &iface.pre_down),
        (Setting::PostDown, &iface.post_down),
    ] {
        for hook in hooks {
            check_text(place, key.name(), hook, true)?;
            push_line(out, key, hook);
        }
    }
    if let Some(save) = iface.save_config {
        push_line(out, Setting::SaveConfig, if save { "true" } else { "false" });
    }
    Ok(())
}

pub(crate) fn render_peer(out: &mut String, peer: PeerView<'_>, index: usize) -> Result<(), ConfigError> {
    let place = Place::Peer(index);
    if let Some(name) = peer.name {
        check_text(place, "name", name, false)?;
        out.push_str("# ");
        out.push_str(name);
        out.push('\n');
    }
    out.push_str("[Peer]\n");
    out.push_str(Setting::PublicKey.name());
    out.push_str(" = ");
    peer.public_key.push_base64(out);
    out.push('\n');
    if let Some(psk) = peer.preshared_key {
        push_secret(out, Setting::PresharedKey, psk.to_base64());
    }
    if let Some((first, rest)) = peer.allowed_ips.split_first() {
        out.push_str(Setting::AllowedIps.name());
        out.push_str(" = ");
        push_net(out, first);
        for net in rest {
            out.push_str(", ");
            push_net(out, net);
        }
        out.push('\n');
    }
    if let Some(endpoint) = peer.endpoint {
        // IPv6 endpoints are written in brackets, so the free-text check applies to DNS names only.
        if let Host::Dns(name) = &endpoint.host {
            if !is_safe_value(name) {
                return Err(ConfigError::UnsafeValue { at: place.at(Setting::Endpoint.name()) });
            }
        }
        // The fields are public, so a hand-built endpoint may not be one `Endpoint::parse` produces
        // (an upper-case or malformed DNS name, port 0): refuse what would not read back as itself.
        // An IP endpoint always reads back unless its port is 0; only DNS names need the full check.
        let reads_back = match endpoint.host {
            Host::Ip(_) => endpoint.port != 0,
            Host::Dns(_) => {
                Endpoint::parse(&endpoint.to_string(), Setting::Endpoint.name()).ok().as_ref() == Some(endpoint)
            }
        };
        if !reads_back {
            return Err(place.invalid(
                Setting::Endpoint.name(),
                "not an endpoint wg accepts back unchanged (lower-case DNS name or IP address, port 1-65535)",
            ));
        }
        out.push_str(Setting::Endpoint.name());
        out.push_str(" = ");
        push_endpoint(out, endpoint);
        out.push('\n');
    }
    if let Some(seconds) = peer.persistent_keepalive {
        if seconds == 0 {
            return Err(place.invalid(Setting::PersistentKeepalive.name(), "a keepalive of 0 means off: use None"));
        }
        push_line(out, Setting::PersistentKeepalive, &seconds.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The hand-written endpoint text is exactly `Display`'s.
        #[test]
        fn push_endpoint_matches_display(octets in proptest::array::uniform4(proptest::num::u8::ANY), port in 1u16..) {
            let endpoint = Endpoint { host: Host::Ip(std::net::Ipv4Addr::from(octets).into()), port };
            let mut pushed = String::new();
            push_endpoint(&mut pushed, &endpoint);
            proptest::prop_assert_eq!(pushed, endpoint.to_string());
        }
    }
}
