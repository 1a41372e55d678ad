//! [`Endpoint`]: where a node can be reached, `host:port` with the host an IPv4 address, a bracketed
//! IPv6 address or a DNS name — the forms `wg` accepts for `Endpoint =`.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::error::MeshError;

/// The host part of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS name, resolved by wg when the config is loaded.
    Dns(String),
}

/// A `host:port` endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The host.
    pub host: Host,
    /// The UDP port (1–65535).
    pub port: u16,
}

/// Why an endpoint was rejected (the reason of [`MeshError::InvalidEndpoint`]).
fn parse_endpoint(text: &str) -> Result<Endpoint, &'static str> {
    if text.is_empty() {
        return Err("empty endpoint");
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("endpoints contain no spaces or control characters");
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("missing ']' after IPv6 address")?;
        let port = after.strip_prefix(':').ok_or("expected ':port' after ']'")?;
        let ip: Ipv6Addr = inside.parse().map_err(|_| "invalid IPv6 address in brackets")?;
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = text.rsplit_once(':').ok_or("expected host:port")?;
        if host.contains(':') {
            return Err("IPv6 addresses must be in brackets: [2001:db8::1]:51820");
        }
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => {
                if !is_dns_name(host) {
                    return Err("host is neither an IP address nor a valid DNS name");
                }
                Host::Dns(host.to_ascii_lowercase())
            }
        };
        (host, port)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5 {
        return Err("port must be a number from 1 to 65535");
    }
    let port: u32 = port.parse().map_err(|_| "port must be a number from 1 to 65535")?;
    if port == 0 || port > 65535 {
        return Err("port must be a number from 1 to 65535");
    }
    Ok(Endpoint { host, port: port as u16 })
}

fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        // A dotted name made only of digits would be a mistyped IPv4 address, not a host name.
        && !host.split('.').all(|label| label.bytes().all(|b| b.is_ascii_digit()))
}

impl Endpoint {
    /// Parses `text`; `field` names where it came from in errors.
    pub fn parse(text: &str, field: &str) -> Result<Self, MeshError> {
        parse_endpoint(text).map_err(|reason| MeshError::InvalidEndpoint {
            field: field.to_string(),
            value: text.chars().filter(|c| !c.is_control()).take(100).collect(),
            reason,
        })
    }

    /// The address when the host is a literal IP.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.host {
            Host::Ip(ip) => Some(ip),
            Host::Dns(_) => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Host::Dns(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

impl FromStr for Endpoint {
    type Err = MeshError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s, "endpoint")
    }
}

impl serde::Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Endpoint::parse(&text, "endpoint").map_err(crate::mesh::field_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_wg_accepts() {
        for (text, shown) in [
            ("167.172.142.145:51820", "167.172.142.145:51820"),
            ("[2001:db8::1]:51820", "[2001:db8::1]:51820"),
            ("Hub.Example.com:443", "hub.example.com:443"),
            ("[2001:DB8::1]:1", "[2001:db8::1]:1"),
        ] {
            assert_eq!(Endpoint::parse(text, "e").unwrap().to_string(), shown);
        }
    }

    #[test]
    fn rejects_bad_endpoints() {
        for bad in [
            "",
            "host",
            "host:",
            "host:0",
            "host:65536",
            "2001:db8::1:51820",
            "[2001:db8::1]51820",
            "a b:1",
            "x\n[Peer]:1",
            "-bad.com:1",
            "1.2.3:51820",
            "host:+1",
        ] {
            assert_eq!(Endpoint::parse(bad, "e").unwrap_err().code(), "mesh_invalid_endpoint", "{bad:?}");
        }
    }
}
