//! One node of a [`crate::Plan`] as a device configuration: [`node_update`] turns the node's key, port,
//! fwmark and peers into a [`DeviceUpdate`], resolving peers' DNS endpoints once, at start, as
//! `wg setconf` does (a name that does not resolve is a `plan_unresolved_endpoint` error naming the node, the peer and
//! the endpoint).

use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::{Error, MeshError, PlanError};
use crate::mesh::endpoint::{Endpoint, Host};
use crate::uapi::{AllowedIpChange, DeviceUpdate, PeerUpdate};

/// How long resolving one peer's DNS endpoint may take before [`node_update`] gives up on it.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(15);

/// The [`DeviceUpdate`] that configures one node of a plan (replacing all peers): its private key (which
/// must be in the plan, not only on the node), listen port, fwmark, and every peer with its preshared
/// key, endpoint, keepalive and AllowedIPs. A DNS endpoint is resolved here, each within
/// [`RESOLVE_TIMEOUT`], to the first address (in the system resolver's order) of a family this host can
/// send from: IPv4 always, IPv6 when an IPv6 UDP socket can be opened.
///
/// Errors: `mesh_unknown_node`, `mesh_missing_key` (the key is not inline), `plan_unresolved_endpoint`.
pub fn node_update(plan: &crate::Plan, node: &str) -> Result<DeviceUpdate, Error> {
    let n = plan.node(node).ok_or_else(|| MeshError::UnknownNode { field: "node".into(), name: node.into() })?;
    let key = match &n.private_key {
        crate::KeySource::Inline(k) => k.clone(),
        _ => {
            return Err(MeshError::MissingKey {
                node: node.into(),
                what: "an inline private key (the plan keeps it on the node)",
            }
            .into())
        }
    };
    let mut update = DeviceUpdate {
        private_key: Some(Some(key)),
        listen_port: n.listen_port,
        fwmark: n.fwmark,
        replace_peers: true,
        peers: Vec::new(),
    };
    let mut ipv6 = None; // probed once, on the first DNS endpoint
    for p in &n.peers {
        let mut peer = PeerUpdate::new(p.public_key);
        peer.preshared_key = p.preshared_key.clone().map(Some);
        peer.endpoint = match &p.endpoint {
            None => None,
            Some(endpoint) => match endpoint.host {
                Host::Ip(ip) => Some(SocketAddr::new(ip, endpoint.port)),
                Host::Dns(_) => {
                    let ipv6 = *ipv6.get_or_insert_with(ipv6_usable);
                    Some(resolve(node, p.name.as_str(), endpoint, ipv6, RESOLVE_TIMEOUT)?)
                }
            },
        };
        peer.persistent_keepalive_interval = p.persistent_keepalive;
        peer.replace_allowed_ips = true;
        peer.allowed_ips = p.allowed_ips.iter().map(|a| AllowedIpChange::add(*a)).collect();
        update.peers.push(peer);
    }
    Ok(update)
}

/// True when this host can open an IPv6 UDP socket (the device then binds one too).
fn ipv6_usable() -> bool {
    UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok()
}

/// The address to use among a resolver's answers: the first one of a usable family.
fn pick_address(addresses: &[SocketAddr], ipv6: bool) -> Option<SocketAddr> {
    addresses.iter().copied().find(|a| a.is_ipv4() || ipv6)
}

/// Resolves `endpoint` (a DNS name) with the system resolver, on a helper thread so that a resolver that
/// hangs costs at most `timeout` (the thread finishes on its own later).
fn resolve(node: &str, peer: &str, endpoint: &Endpoint, ipv6: bool, timeout: Duration) -> Result<SocketAddr, Error> {
    let Host::Dns(host) = &endpoint.host else { unreachable!("resolve is only called for DNS endpoints") };
    let fail = |reason: String| -> Error {
        PlanError::UnresolvedEndpoint { node: node.into(), peer: peer.into(), endpoint: endpoint.to_string(), reason }
            .into()
    };
    let (tx, rx) = mpsc::channel();
    let query = (host.clone(), endpoint.port);
    std::thread::Builder::new()
        .name("wm-resolve".into())
        .spawn(move || {
            let answer = query.to_socket_addrs().map(|a| a.collect::<Vec<_>>());
            let _ = tx.send(answer);
        })
        .map_err(|e| fail(format!("cannot start the resolver thread: {e}")))?;
    let addresses = match rx.recv_timeout(timeout) {
        Ok(Ok(addresses)) => addresses,
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Err(_) => return Err(fail(format!("no answer within {} s", timeout.as_secs()))),
    };
    pick_address(&addresses, ipv6).ok_or_else(|| {
        fail(if addresses.is_empty() {
            "no address".into()
        } else {
            "only IPv6 addresses, and this host cannot use IPv6".into()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of three nodes: a (endpoint `a_endpoint`), b and c with inline keys; c has only a public key
    /// when `c_key_inline` is false.
    fn plan_with(a_endpoint: &str, c_key_inline: bool) -> crate::Plan {
        let c_key = if c_key_inline {
            String::new()
        } else {
            "public_key = \"dyRQOE5i8fz5vt/OqJL0kbtbxtcmupbxqPq4Z/p6fgg=\"\n".into()
        };
        let text = format!(
            "[mesh]\nname = \"t\"\nnetworks = [\"10.66.0.0/24\"]\n\
             [[nodes]]\nname = \"a\"\nendpoint = \"{a_endpoint}\"\naddresses = [\"10.66.0.1\"]\n\
             [[nodes]]\nname = \"b\"\nendpoint = \"192.0.2.2:51820\"\naddresses = [\"10.66.0.2\"]\n\
             [[nodes]]\nname = \"c\"\nendpoint = \"[2001:db8::3]:51820\"\naddresses = [\"10.66.0.3\"]\n{c_key}"
        );
        let mut mesh = crate::Mesh::from_toml_str(&text).unwrap();
        mesh.generate_missing().unwrap();
        crate::plan(&mesh).unwrap()
    }

    #[test]
    fn unknown_node_is_a_typed_error() {
        let err = node_update(&plan_with("192.0.2.1:51820", true), "nobody").unwrap_err();
        assert_eq!(err.code(), "mesh_unknown_node");
        assert!(err.to_string().contains("nobody"), "{err}");
    }

    #[test]
    fn a_key_that_is_not_inline_is_a_typed_error() {
        let err = node_update(&plan_with("192.0.2.1:51820", false), "c").unwrap_err();
        assert_eq!(err.code(), "mesh_missing_key");
    }

    #[test]
    fn literal_endpoints_pass_through_and_every_peer_is_configured() {
        let plan = plan_with("192.0.2.1:51820", true);
        let update = node_update(&plan, "a").unwrap();
        assert!(update.replace_peers);
        assert_eq!(update.peers.len(), 2);
        let endpoints: Vec<String> = update.peers.iter().map(|p| p.endpoint.unwrap().to_string()).collect();
        assert_eq!(endpoints, ["192.0.2.2:51820", "[2001:db8::3]:51820"]);
        let b = plan.node("b").unwrap();
        assert_eq!(update.peers[0].public_key, b.public_key);
        assert_eq!(update.peers[0].allowed_ips, [AllowedIpChange::add("10.66.0.2/32".parse().unwrap())]);
    }

    #[test]
    fn a_dns_endpoint_is_resolved() {
        // `localhost` resolves without a network (the hosts file), to 127.0.0.1 and/or ::1.
        let update = node_update(&plan_with("localhost:51820", true), "b").unwrap();
        let a = update
            .peers
            .iter()
            .find(|p| p.endpoint.is_some_and(|e| e.ip().is_loopback()))
            .expect("a's endpoint resolved");
        assert_eq!(a.endpoint.unwrap().port(), 51820);
    }

    #[test]
    fn an_unresolvable_dns_endpoint_names_node_peer_and_host() {
        // `.invalid` never resolves (RFC 6761).
        let err = node_update(&plan_with("nowhere.invalid:51820", true), "b").unwrap_err();
        assert_eq!(err.code(), "plan_unresolved_endpoint");
        let message = err.to_string();
        for part in ["\"b\"", "\"a\"", "nowhere.invalid"] {
            assert!(message.contains(part), "{message}");
        }
    }

    #[test]
    fn the_first_address_of_a_usable_family_is_picked() {
        let v6: SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let v4: SocketAddr = "192.0.2.1:1".parse().unwrap();
        assert_eq!(pick_address(&[v6, v4], true), Some(v6));
        assert_eq!(pick_address(&[v6, v4], false), Some(v4));
        assert_eq!(pick_address(&[v6], false), None);
        assert_eq!(pick_address(&[], true), None);
    }
}
