//! Health: a [`Status`] compared with what the plan expects of the node — which links are up, missing,
//! stale, never handshaken or going to the wrong endpoint, unexpected peers and AllowedIPs drift — each
//! problem with a stable code (one of [`HEALTH_CODES`]) and a one-line reason.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::Serialize;

use crate::error::Error;
use crate::mesh::endpoint::Host;
use crate::plan::Plan;
use crate::reconcile::Resolve;
use crate::status::{plan_node, PeerStateKind, PeerStatus, Status};

/// Every health problem code, in one list (documented in README, shared with the bindings through
/// tests/vectors/status/health_codes.json).
pub const HEALTH_CODES: &[&str] = &[
    "peer_missing",
    "peer_never",
    "peer_stale",
    "wrong_endpoint",
    "unexpected_peer",
    "allowed_ips_drift",
    "probe_unanswered",
    "interface_key_mismatch",
];

/// One thing wrong with a device, against its plan or on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthProblem {
    /// Stable code, one of [`HEALTH_CODES`].
    pub code: &'static str,
    /// The peer's node name, when known.
    pub peer: Option<String>,
    /// The peer's public key, when the problem concerns a peer.
    pub public_key: Option<String>,
    /// A one-line explanation.
    pub reason: String,
}

impl fmt::Display for HealthProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

/// The health of one link (a planned peer, or a peer the device has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkHealth {
    /// The peer's node name, when known.
    pub peer: Option<String>,
    /// The peer's public key.
    pub public_key: String,
    /// `up`, `stale`, `never`, or `missing` (planned, not on the device).
    pub state: &'static str,
    /// Whether the plan expects this link.
    pub expected: bool,
    /// This link's problems (empty: healthy).
    pub problems: Vec<HealthProblem>,
}

/// The health of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// True when there is no problem at all.
    pub healthy: bool,
    /// The interface.
    pub interface: String,
    /// The node checked against, when a plan was given.
    pub node: Option<String>,
    /// One entry per planned peer (plan order), then per unexpected device peer; without a plan, per
    /// device peer.
    pub links: Vec<LinkHealth>,
    /// Every problem, links' and the interface's, in that order.
    pub problems: Vec<HealthProblem>,
}

impl Health {
    /// A short text: `healthy` or `unhealthy: N problem(s)` then one line per problem.
    pub fn summary(&self) -> String {
        if self.healthy {
            return "healthy\n".to_string();
        }
        let mut out = format!("unhealthy: {} problem(s)\n", self.problems.len());
        for p in &self.problems {
            out.push_str(&p.to_string());
            out.push('\n');
        }
        out
    }
}

fn who(peer: &Option<String>, key: &str) -> String {
    match peer {
        Some(name) => name.clone(),
        None => format!("peer {key}"),
    }
}

fn handshake_problems(peer: &PeerStatus, name: &Option<String>) -> Vec<HealthProblem> {
    let mut out = Vec::new();
    let problem = |code, reason: String| HealthProblem {
        code,
        peer: name.clone(),
        public_key: Some(peer.public_key.clone()),
        reason,
    };
    match peer.state {
        PeerStateKind::Up => {}
        PeerStateKind::Never => {
            out.push(problem("peer_never", format!("{} has never completed a handshake", who(name, &peer.public_key))))
        }
        PeerStateKind::Stale => out.push(problem(
            "peer_stale",
            format!(
                "{}: last handshake {} s ago, older than the reject-after time",
                who(name, &peer.public_key),
                peer.handshake_age_seconds.unwrap_or(0)
            ),
        )),
    }
    if let Some(probe) = &peer.probe {
        if probe.sent > 0 && probe.received == 0 {
            out.push(problem(
                "probe_unanswered",
                format!(
                    "{}: none of the last {} echoes to {} was answered",
                    who(name, &peer.public_key),
                    probe.sent,
                    probe.target
                ),
            ));
        }
    }
    out
}

fn normalize(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, |v4| SocketAddr::new(IpAddr::V4(v4), addr.port())),
        _ => addr,
    }
}

fn set(nets: &[IpNet]) -> BTreeSet<IpNet> {
    nets.iter().map(|n| n.trunc()).collect()
}

fn list(nets: &BTreeSet<IpNet>) -> String {
    if nets.is_empty() {
        return "none".to_string();
    }
    nets.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
}

/// The health of `status` on its own (no plan): every peer must be up, and answer probes when probed.
pub fn health_of(status: &Status) -> Health {
    let links: Vec<LinkHealth> = status
        .peers
        .iter()
        .map(|p| LinkHealth {
            peer: p.name.clone(),
            public_key: p.public_key.clone(),
            state: p.state.as_str(),
            expected: true,
            problems: handshake_problems(p, &p.name),
        })
        .collect();
    finish(status, None, links, Vec::new())
}

fn finish(status: &Status, node: Option<String>, links: Vec<LinkHealth>, interface: Vec<HealthProblem>) -> Health {
    let problems: Vec<HealthProblem> = links.iter().flat_map(|l| l.problems.iter().cloned()).chain(interface).collect();
    Health { healthy: problems.is_empty(), interface: status.interface.clone(), node, links, problems }
}

/// The health of `status` against `plan`'s node `node`: every planned peer present, up, with the
/// planned AllowedIPs and (when the plan gives a literal address) the planned endpoint; no peer the
/// plan does not have; the interface's key the node's. Fails only when `node` is not in the plan
/// (`mesh_unknown_node`). Endpoints given as DNS names are not checked: see [`health_resolving`].
pub fn health(status: &Status, plan: &Plan, node: &str) -> Result<Health, Error> {
    check_against_plan(status, plan, node, None)
}

/// As [`health`], and a planned endpoint given as a DNS name is checked too: the device's endpoint
/// must be one of the addresses `resolve` gives for it ([`crate::reconcile::resolve_system`], or a cache
/// or fake of it; `wrong_endpoint` otherwise). A name that does
/// not resolve, or resolves to nothing, is not checked (no problem is made up from a DNS failure).
pub fn health_resolving(status: &Status, plan: &Plan, node: &str, resolve: &Resolve<'_>) -> Result<Health, Error> {
    check_against_plan(status, plan, node, Some(resolve))
}

/// Where the device's endpoint for a peer should be: the planned endpoint's address, or its name's
/// addresses; None when it cannot be known (a name without a resolver, or one that does not resolve).
fn expected_endpoints(
    endpoint: &crate::mesh::endpoint::Endpoint,
    resolve: Option<&Resolve<'_>>,
) -> Option<Vec<SocketAddr>> {
    match &endpoint.host {
        Host::Ip(ip) => Some(vec![normalize(SocketAddr::new(*ip, endpoint.port))]),
        Host::Dns(name) => {
            let addresses = resolve?(name, endpoint.port).ok()?;
            (!addresses.is_empty()).then(|| addresses.into_iter().map(normalize).collect())
        }
    }
}

fn check_against_plan(
    status: &Status,
    plan: &Plan,
    node: &str,
    resolve: Option<&Resolve<'_>>,
) -> Result<Health, Error> {
    let planned = plan_node(plan, node)?;
    let mut links = Vec::new();
    for want in &planned.peers {
        let key = want.public_key.to_base64();
        let name = Some(want.name.to_string());
        let Some(have) = status.peers.iter().find(|p| p.public_key == key) else {
            links.push(LinkHealth {
                peer: name.clone(),
                public_key: key.clone(),
                state: "missing",
                expected: true,
                problems: vec![HealthProblem {
                    code: "peer_missing",
                    peer: name.clone(),
                    public_key: Some(key.clone()),
                    reason: format!("{} is in the plan but not on the device", want.name),
                }],
            });
            continue;
        };
        let mut problems = handshake_problems(have, &name);
        if let Some(endpoint) = &want.endpoint {
            if let Some(expected) = expected_endpoints(endpoint, resolve) {
                let actual = have.endpoint.map(normalize);
                if !actual.is_some_and(|a| expected.contains(&a)) {
                    let planned = match &endpoint.host {
                        Host::Ip(_) => expected[0].to_string(),
                        Host::Dns(_) => format!("{endpoint}, which resolves to other addresses"),
                    };
                    problems.push(HealthProblem {
                        code: "wrong_endpoint",
                        peer: name.clone(),
                        public_key: Some(key.clone()),
                        reason: format!(
                            "{}: endpoint is {}, the plan says {planned}",
                            want.name,
                            actual.map_or("none".to_string(), |a| a.to_string())
                        ),
                    });
                }
            }
        }
        let (want_ips, have_ips) = (set(&want.allowed_ips), set(&have.allowed_ips));
        if want_ips != have_ips {
            let missing: BTreeSet<IpNet> = want_ips.difference(&have_ips).copied().collect();
            let extra: BTreeSet<IpNet> = have_ips.difference(&want_ips).copied().collect();
            problems.push(HealthProblem {
                code: "allowed_ips_drift",
                peer: name.clone(),
                public_key: Some(key.clone()),
                reason: format!("{}: AllowedIPs missing {}, not planned {}", want.name, list(&missing), list(&extra)),
            });
        }
        links.push(LinkHealth { peer: name, public_key: key, state: have.state.as_str(), expected: true, problems });
    }
    for have in &status.peers {
        if planned.peers.iter().any(|p| p.public_key.to_base64() == have.public_key) {
            continue;
        }
        links.push(LinkHealth {
            peer: have.name.clone(),
            public_key: have.public_key.clone(),
            state: have.state.as_str(),
            expected: false,
            problems: vec![HealthProblem {
                code: "unexpected_peer",
                peer: have.name.clone(),
                public_key: Some(have.public_key.clone()),
                reason: format!("{} is on the device but not in the plan of {node}", who(&have.name, &have.public_key)),
            }],
        });
    }
    let mut interface = Vec::new();
    if let Some(key) = &status.public_key {
        if *key != planned.public_key.to_base64() {
            interface.push(HealthProblem {
                code: "interface_key_mismatch",
                peer: None,
                public_key: Some(key.clone()),
                reason: format!("the interface's public key is {key}, the plan's {node} has {}", planned.public_key),
            });
        }
    }
    Ok(finish(status, Some(node.to_string()), links, interface))
}
