//! Live reconfiguration: the smallest UAPI `set` that turns a running device's state into a plan node.
//!
//! [`diff`] compares a node of a [`Plan`] with a device's [`DeviceState`] (from `get=1`) and returns a
//! [`DeviceUpdate`] that adds and removes peers and changes only what differs — endpoint, keepalive,
//! preshared key, AllowedIPs (`allowed_ip=` lines for additions; `replace_allowed_ips` with the whole
//! list when something must go, because `allowed_ip=-PREFIX` removal lines are recent: wireguard-go
//! releases before 2025 and older kernels answer EINVAL), and the private key, listen port and fwmark
//! when they differ. Peers equal on
//! both sides are not mentioned, so they keep their sessions and counters; changed peers are sent with
//! `update_only=true`, so a peer removed meanwhile is not brought back half-configured.
//!
//! What counts as a difference:
//! - a peer without an endpoint in the plan accepts whatever endpoint the device learnt (roaming);
//! - a DNS endpoint is resolved: the device's endpoint matches when it is one of the name's addresses;
//! - a plan without a listen port or fwmark leaves the device's alone (wg-quick sets a fwmark itself
//!   for default routes);
//! - a plan that keeps the private key on the node (or does not know it) only checks that the device
//!   holds the key of this node.
//!
//! [`describe`] lists the changes for people and JSON, never showing a secret. [`apply_node`] does the
//! whole round trip with a live device: `get`, diff, and (unless a dry run) `set`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

use ipnet::IpNet;
use serde::Serialize;

use crate::error::{Error, MeshError, PlanError};
use crate::keys::{PrivateKey, PublicKey};
use crate::mesh::endpoint::Host;
use crate::plan::{KeySource, NodePlan, PeerPlan, Plan};
use crate::uapi::{AllowedIpChange, DeviceState, DeviceUpdate, PeerState, PeerUpdate, UapiClient};

/// Resolves a DNS name and port to socket addresses (the system resolver: [`resolve_system`]).
pub type Resolve<'a> = dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + 'a;

/// The system resolver (`getaddrinfo` through [`ToSocketAddrs`]).
pub fn resolve_system(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// The minimal update that turns `state` into node `node` of `plan` (see the module documentation).
/// Empty ([`DeviceUpdate::is_empty`]) when they already match. DNS endpoints use the system resolver.
pub fn diff(plan: &Plan, node: &str, state: &DeviceState) -> Result<DeviceUpdate, Error> {
    let node_plan =
        plan.node(node).ok_or_else(|| MeshError::UnknownNode { field: "node".into(), name: node.into() })?;
    diff_node(node_plan, state)
}

/// [`diff`] for one node's plan.
pub fn diff_node(node: &NodePlan, state: &DeviceState) -> Result<DeviceUpdate, Error> {
    diff_node_with(node, state, &resolve_system)
}

/// [`diff_node`] with a resolver for DNS endpoints (tests, caches).
pub fn diff_node_with(node: &NodePlan, state: &DeviceState, resolve: &Resolve<'_>) -> Result<DeviceUpdate, Error> {
    let mut update = DeviceUpdate::default();
    match &node.private_key {
        // A device that shows only its public key (boringtun) holds the right key when that matches.
        KeySource::Inline(key) => {
            let holds = match &state.private_key {
                Some(have) => have == key,
                None => state.own_public_key == Some(key.public_key()),
            };
            if !holds {
                update.private_key = Some(Some(key.clone()));
            }
        }
        KeySource::OnNode(_) | KeySource::Unknown => match state.public_key() {
            Some(key) if key == node.public_key => {}
            Some(key) => {
                return Err(PlanError::DeviceKeyMismatch {
                    node: node.name.to_string(),
                    device_public_key: key.to_base64(),
                }
                .into())
            }
            None => {
                return Err(MeshError::MissingKey {
                    node: node.name.to_string(),
                    what: "a private key: the device has none and the plan keeps it on the node",
                }
                .into())
            }
        },
    }
    if let Some(port) = node.listen_port {
        if port != state.listen_port {
            update.listen_port = Some(port);
        }
    }
    if let Some(mark) = node.fwmark {
        if mark != state.fwmark {
            update.fwmark = Some(mark);
        }
    }

    let own = node.public_key;
    let wanted: HashSet<PublicKey> = node.peers.iter().map(|p| p.public_key).filter(|k| *k != own).collect();
    for peer in &state.peers {
        if !wanted.contains(&peer.public_key) && peer.public_key != own {
            update.peers.push(PeerUpdate { remove: true, ..PeerUpdate::new(peer.public_key) });
        }
    }
    let mut added = Vec::new();
    for want in &node.peers {
        if want.public_key == own {
            continue;
        }
        match state.peers.iter().find(|p| p.public_key == want.public_key) {
            Some(have) => {
                if let Some(change) = peer_change(want, have, resolve).map_err(|e| in_node(e, &node.name))? {
                    update.peers.push(change);
                }
            }
            None => added.push(new_peer(want, resolve).map_err(|e| in_node(e, &node.name))?),
        }
    }
    update.peers.extend(added);
    Ok(update)
}

/// Names `node` in an [`PlanError::UnresolvedEndpoint`] raised for one of its peers.
fn in_node(err: Error, node: &crate::Name) -> Error {
    match err {
        Error::Plan(PlanError::UnresolvedEndpoint { node: _, peer, endpoint, reason }) => {
            PlanError::UnresolvedEndpoint { node: node.to_string(), peer, endpoint, reason }.into()
        }
        other => other,
    }
}

/// The endpoint the plan asks for: `None` when it names none (the device may keep what it learnt).
/// A DNS name resolves to the device's current endpoint when that is one of its addresses.
fn wanted_endpoint(
    peer: &PeerPlan,
    current: Option<SocketAddr>,
    resolve: &Resolve<'_>,
) -> Result<Option<SocketAddr>, Error> {
    let Some(endpoint) = &peer.endpoint else { return Ok(None) };
    match &endpoint.host {
        Host::Ip(ip) => Ok(Some(SocketAddr::new(*ip, endpoint.port))),
        Host::Dns(name) => {
            let unresolved = |reason: String| PlanError::UnresolvedEndpoint {
                node: String::new(), // filled in by diff_node_with (in_node)
                peer: peer.name.to_string(),
                endpoint: endpoint.to_string(),
                reason,
            };
            let addresses = resolve(name, endpoint.port).map_err(|e| unresolved(e.to_string()))?;
            let addresses: Vec<SocketAddr> = addresses.into_iter().map(canonical).collect();
            if let Some(current) = current.map(canonical) {
                if addresses.contains(&current) {
                    return Ok(Some(current));
                }
            }
            // Prefer IPv4 like wg does when a name has both families.
            let chosen = addresses.iter().find(|a| a.is_ipv4()).or_else(|| addresses.first()).copied();
            chosen.map(Some).ok_or_else(|| unresolved("the name has no addresses".into()).into())
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
}

/// The plan's AllowedIPs masked to their lengths, without duplicates, in plan order.
fn masked(prefixes: &[IpNet]) -> Vec<IpNet> {
    let mut seen = HashSet::with_capacity(prefixes.len());
    prefixes.iter().map(IpNet::trunc).filter(|p| seen.insert(*p)).collect()
}

fn new_peer(want: &PeerPlan, resolve: &Resolve<'_>) -> Result<PeerUpdate, Error> {
    let mut peer = PeerUpdate::new(want.public_key);
    peer.preshared_key = want.preshared_key.clone().map(Some);
    peer.endpoint = wanted_endpoint(want, None, resolve)?;
    peer.persistent_keepalive_interval = want.persistent_keepalive.filter(|k| *k != 0);
    peer.allowed_ips = masked(&want.allowed_ips).into_iter().map(AllowedIpChange::add).collect();
    Ok(peer)
}

/// The `update_only` section that turns `have` into `want`, or None when they already match.
fn peer_change(want: &PeerPlan, have: &PeerState, resolve: &Resolve<'_>) -> Result<Option<PeerUpdate>, Error> {
    let mut change = PeerUpdate { update_only: true, ..PeerUpdate::new(want.public_key) };
    let mut changed = false;
    if want.preshared_key != have.preshared_key {
        change.preshared_key = Some(want.preshared_key.clone());
        changed = true;
    }
    if let Some(endpoint) = wanted_endpoint(want, have.endpoint, resolve)? {
        if have.endpoint.map(canonical) != Some(endpoint) {
            change.endpoint = Some(endpoint);
            changed = true;
        }
    }
    let keepalive = want.persistent_keepalive.unwrap_or(0);
    if keepalive != have.persistent_keepalive_interval {
        change.persistent_keepalive_interval = Some(keepalive);
        changed = true;
    }
    let target = masked(&want.allowed_ips);
    let target_set: HashSet<IpNet> = target.iter().copied().collect();
    let current_set: HashSet<IpNet> = have.allowed_ips.iter().map(IpNet::trunc).collect();
    if target_set != current_set {
        let mut seen = HashSet::new();
        let removals: Vec<IpNet> =
            have.allowed_ips.iter().map(IpNet::trunc).filter(|p| !target_set.contains(p) && seen.insert(*p)).collect();
        let additions: Vec<IpNet> = target.iter().copied().filter(|p| !current_set.contains(p)).collect();
        // Only additions: incremental lines. Anything to remove: the whole list, replaced in one step
        // (every UAPI implementation knows replace_allowed_ips; not all know `allowed_ip=-`).
        if removals.is_empty() {
            change.allowed_ips = additions.into_iter().map(AllowedIpChange::add).collect();
        } else {
            change.replace_allowed_ips = true;
            change.allowed_ips = target.into_iter().map(AllowedIpChange::add).collect();
        }
        changed = true;
    }
    Ok(changed.then_some(change))
}

/// Whether a preshared key is set or removed (its value is never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretChange {
    /// A key is set (new or different).
    Set,
    /// The key is removed.
    Removed,
}

/// One change an update makes, for `--dry-run` output and JSON. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The device's private key is replaced (or removed when `public_key` is None).
    PrivateKey {
        /// The public key of the new private key.
        public_key: Option<String>,
    },
    /// The UDP listen port changes.
    ListenPort {
        /// The new port (0: a random one).
        listen_port: u16,
    },
    /// The firewall mark changes.
    Fwmark {
        /// The new mark (0: off).
        fwmark: u32,
    },
    /// A peer is added.
    AddPeer {
        /// The peer's node name in the plan.
        peer: Option<String>,
        /// The peer's public key (base64).
        public_key: String,
        /// Its endpoint, when the plan gives one.
        endpoint: Option<String>,
        /// Its keepalive interval in seconds, when on.
        persistent_keepalive: Option<u16>,
        /// Whether the pair uses a preshared key.
        preshared_key: bool,
        /// Its AllowedIPs.
        allowed_ips: Vec<String>,
    },
    /// Every peer is removed first (`replace_peers`; [`diff`] never asks for it).
    RemoveAllPeers,
    /// A peer is removed.
    RemovePeer {
        /// The peer's node name, when the plan still knows its key.
        peer: Option<String>,
        /// The peer's public key (base64).
        public_key: String,
    },
    /// An existing peer changes (fields that do not change are absent).
    UpdatePeer {
        /// The peer's node name in the plan.
        peer: Option<String>,
        /// The peer's public key (base64).
        public_key: String,
        /// The new endpoint.
        endpoint: Option<String>,
        /// The new keepalive interval in seconds (0: off).
        persistent_keepalive: Option<u16>,
        /// The preshared key is set or removed.
        preshared_key: Option<SecretChange>,
        /// True when the AllowedIPs are replaced by `allowed_ips_added`.
        allowed_ips_replaced: bool,
        /// AllowedIPs added (all of them when replaced).
        allowed_ips_added: Vec<String>,
        /// AllowedIPs removed.
        allowed_ips_removed: Vec<String>,
    },
}

/// The changes `update` makes, naming peers after `plan_node`'s peers. Secrets are never included.
/// A peer section with `update_only` is an update, one without (and not removing) an addition.
pub fn describe(update: &DeviceUpdate, plan_node: &NodePlan) -> Vec<Change> {
    let name_of = |key: &PublicKey| plan_node.peers.iter().find(|p| p.public_key == *key).map(|p| p.name.to_string());
    let mut changes = Vec::new();
    if let Some(key) = &update.private_key {
        changes.push(Change::PrivateKey { public_key: key.as_ref().map(|k| k.public_key().to_base64()) });
    }
    if let Some(listen_port) = update.listen_port {
        changes.push(Change::ListenPort { listen_port });
    }
    if let Some(fwmark) = update.fwmark {
        changes.push(Change::Fwmark { fwmark });
    }
    if update.replace_peers {
        changes.push(Change::RemoveAllPeers);
    }
    let texts = |lines: &[AllowedIpChange], remove: bool| -> Vec<String> {
        lines.iter().filter(|l| l.remove == remove).map(|l| l.prefix.to_string()).collect()
    };
    for peer in &update.peers {
        let name = name_of(&peer.public_key);
        let public_key = peer.public_key.to_base64();
        if peer.remove {
            changes.push(Change::RemovePeer { peer: name, public_key });
        } else if peer.update_only {
            changes.push(Change::UpdatePeer {
                peer: name,
                public_key,
                endpoint: peer.endpoint.map(|e| e.to_string()),
                persistent_keepalive: peer.persistent_keepalive_interval,
                preshared_key: peer.preshared_key.as_ref().map(|k| {
                    if k.is_some() {
                        SecretChange::Set
                    } else {
                        SecretChange::Removed
                    }
                }),
                allowed_ips_replaced: peer.replace_allowed_ips,
                allowed_ips_added: texts(&peer.allowed_ips, false),
                allowed_ips_removed: texts(&peer.allowed_ips, true),
            });
        } else {
            changes.push(Change::AddPeer {
                peer: name,
                public_key,
                endpoint: peer.endpoint.map(|e| e.to_string()),
                persistent_keepalive: peer.persistent_keepalive_interval.filter(|k| *k != 0),
                preshared_key: matches!(peer.preshared_key, Some(Some(_))),
                allowed_ips: texts(&peer.allowed_ips, false),
            });
        }
    }
    changes
}

impl Change {
    /// The change as a JSON object: its fields, `change` (the kind: `add_peer`, ...) and `text` (the
    /// human-readable line).
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("text".into(), self.to_string().into());
        }
        value
    }
}

fn peer_label(f: &mut fmt::Formatter<'_>, peer: &Option<String>, public_key: &str) -> fmt::Result {
    match peer {
        Some(name) => write!(f, "{name} ({public_key})"),
        None => f.write_str(public_key),
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::PrivateKey { public_key: Some(key) } => write!(f, "private key: replaced (new public key {key})"),
            Change::PrivateKey { public_key: None } => f.write_str("private key: removed"),
            Change::ListenPort { listen_port } => write!(f, "listen port: {listen_port}"),
            Change::Fwmark { fwmark: 0 } => f.write_str("fwmark: off"),
            Change::Fwmark { fwmark } => write!(f, "fwmark: {fwmark:#x}"),
            Change::AddPeer { peer, public_key, endpoint, persistent_keepalive, preshared_key, allowed_ips } => {
                f.write_str("add peer ")?;
                peer_label(f, peer, public_key)?;
                let mut parts = Vec::new();
                if let Some(e) = endpoint {
                    parts.push(format!("endpoint {e}"));
                }
                if let Some(k) = persistent_keepalive {
                    parts.push(format!("keepalive {k} s"));
                }
                if *preshared_key {
                    parts.push("preshared key".into());
                }
                parts.push(if allowed_ips.is_empty() {
                    "no allowed IPs".into()
                } else {
                    format!("allowed IPs {}", allowed_ips.join(", "))
                });
                write!(f, ": {}", parts.join("; "))
            }
            Change::RemoveAllPeers => f.write_str("remove every peer"),
            Change::RemovePeer { peer, public_key } => {
                f.write_str("remove peer ")?;
                peer_label(f, peer, public_key)
            }
            Change::UpdatePeer {
                peer,
                public_key,
                endpoint,
                persistent_keepalive,
                preshared_key,
                allowed_ips_replaced,
                allowed_ips_added,
                allowed_ips_removed,
            } => {
                f.write_str("update peer ")?;
                peer_label(f, peer, public_key)?;
                let mut parts = Vec::new();
                if let Some(e) = endpoint {
                    parts.push(format!("endpoint {e}"));
                }
                match persistent_keepalive {
                    Some(0) => parts.push("keepalive off".into()),
                    Some(k) => parts.push(format!("keepalive {k} s")),
                    None => {}
                }
                match preshared_key {
                    Some(SecretChange::Set) => parts.push("preshared key set".into()),
                    Some(SecretChange::Removed) => parts.push("preshared key removed".into()),
                    None => {}
                }
                if *allowed_ips_replaced {
                    parts.push(format!(
                        "allowed IPs replaced by {}",
                        if allowed_ips_added.is_empty() { "none".into() } else { allowed_ips_added.join(", ") }
                    ));
                } else {
                    for p in allowed_ips_added {
                        parts.push(format!("allowed IP +{p}"));
                    }
                    for p in allowed_ips_removed {
                        parts.push(format!("allowed IP -{p}"));
                    }
                }
                write!(f, ": {}", parts.join("; "))
            }
        }
    }
}

/// The outcome of [`apply_node`].
#[derive(Debug, Clone)]
pub struct Applied {
    /// The update sent (or, on a dry run, the one that would be); empty when the device already matched.
    pub update: DeviceUpdate,
    /// What the update changes ([`describe`]).
    pub changes: Vec<Change>,
    /// True when the update was sent and the device accepted it (false on a dry run or with nothing to do).
    pub applied: bool,
}

/// Brings a live device to `node`'s plan: reads its state over `client` (`get=1`), computes
/// [`diff_node`] and, unless `dry_run` or there is nothing to change, sends the update (`set=1`).
/// A dry run never writes to the device.
///
/// When the plan keeps the private key on the node ([`KeySource::OnNode`]) and the device has none,
/// the key is loaded from that path (this runs on the node) and must match the node's public key.
/// Errors: the client's (`io_*` when the socket is gone, `uapi_errno` when the device refuses), and
/// those of [`diff_node`].
pub fn apply_node(node: &NodePlan, client: &mut UapiClient, dry_run: bool) -> Result<Applied, Error> {
    let state = client.get()?;
    let node = with_key_from_node(node, &state)?;
    let update = diff_node(&node, &state)?;
    let changes = describe(&update, &node);
    let applied = !dry_run && !update.is_empty();
    if applied {
        client.set(&update)?;
    }
    Ok(Applied { update, changes, applied })
}

/// [`apply_node`] for node `node` of `plan` on interface `ifname` (`/var/run/wireguard/IFNAME.sock`).
pub fn apply(plan: &Plan, node: &str, ifname: &str, dry_run: bool) -> Result<Applied, Error> {
    let node_plan =
        plan.node(node).ok_or_else(|| MeshError::UnknownNode { field: "node".into(), name: node.into() })?;
    apply_node(node_plan, &mut UapiClient::connect(ifname)?, dry_run)
}

fn with_key_from_node<'a>(node: &'a NodePlan, state: &DeviceState) -> Result<Cow<'a, NodePlan>, Error> {
    let KeySource::OnNode(path) = &node.private_key else { return Ok(Cow::Borrowed(node)) };
    if state.public_key().is_some() {
        return Ok(Cow::Borrowed(node));
    }
    let key = PrivateKey::load(Path::new(path))?;
    if key.public_key() != node.public_key {
        return Err(MeshError::KeyMismatch { node: node.name.to_string() }.into());
    }
    let mut owned = node.clone();
    owned.private_key = KeySource::Inline(key);
    Ok(Cow::Owned(owned))
}

#[cfg(test)]
mod tests;
