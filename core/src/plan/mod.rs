//! The planner: [`plan()`] compiles a [`Mesh`] into a [`Plan`] — for every node its interface and its
//! peers, with the fewest AllowedIPs that route exactly what it should, keepalives on the side behind
//! NAT, per-pair preshared keys and what relays need to forward.
//!
//! How a pair is connected:
//! - the first matching [`crate::Rule`] gives its [`LinkPolicy`]; without one, full-mesh means
//!   `direct` and hub-and-spoke means `direct` for pairs with a relay and `relay` otherwise;
//! - `direct` pairs peer directly when at least one side has an endpoint (the other initiates);
//! - otherwise the pair goes through the first relay (declaration order) both sides peer directly
//!   with; when there is none the plan fails with [`PlanError::UnroutablePair`] naming every such pair.
//!
//! Redundant relays: every relayed pair records, in its nodes' [`NodePlan::failover`] tables, the
//! relay that carries it (the primary) and the other relays both sides peer with (the backups, in
//! declaration order). [`plan_with_relays_down`] plans the mesh as if some relays were down: their
//! relayed pairs move to the first live backup, computed by the same minimiser (so AllowedIPs stay
//! minimal and no prefix is on two peers), while the down relays keep their own addresses as direct peers
//! (so they can still be probed and come back).

mod allowed_ips;
pub(crate) mod prefix;
mod trie;

use std::fmt;

use ipnet::IpNet;

use crate::error::{MeshError, PlanError};
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::mesh::endpoint::Endpoint;
use crate::mesh::model::{LinkPolicy, Mesh, Node, Topology};
use crate::mesh::name::Name;
use allowed_ips::{one_prefix_per_label, Minimizer, Scratch, DONT_CARE, UNROUTED};
use prefix::Prefix;
use trie::DestTrie;

/// Where a node's private key comes from when its config is rendered.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Known here: embedded in the rendered config.
    Inline(PrivateKey),
    /// Lives only on the node at this path: the config loads it with a PostUp command.
    OnNode(String),
    /// Not known (only the public key was given): rendering this node's config fails.
    Unknown,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Inline(_) => f.write_str("Inline(<redacted>)"),
            KeySource::OnNode(path) => write!(f, "OnNode({path:?})"),
            KeySource::Unknown => f.write_str("Unknown"),
        }
    }
}

/// How one node reaches another.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reach {
    /// They are peers.
    Direct,
    /// Through this relay.
    Via(Name),
    /// Not at all: policy keeps them apart.
    Blocked,
}

/// One entry of a node's reachability table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The other node.
    pub node: Name,
    /// How it is reached.
    pub reach: Reach,
}

/// One `[Peer]` of a node's interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPlan {
    /// The peer node's name.
    pub name: Name,
    /// The peer's public key.
    pub public_key: PublicKey,
    /// The pair's preshared key (the same on both sides), when the mesh uses them.
    pub preshared_key: Option<PresharedKey>,
    /// Where to send the first handshake, when the peer has an endpoint.
    pub endpoint: Option<Endpoint>,
    /// The prefixes routed to (and accepted from) this peer.
    pub allowed_ips: Vec<IpNet>,
    /// Keepalive interval, set on the side behind NAT only.
    pub persistent_keepalive: Option<u16>,
    /// Nodes reached through this peer (when it relays for us).
    pub relays_for: Vec<Name>,
}

/// One relayed destination of a node's failover table: which relay carries it and which could instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverRoute {
    /// The node reached through a relay.
    pub node: Name,
    /// Its addresses (as host prefixes) and subnets: the relayed prefixes.
    pub prefixes: Vec<IpNet>,
    /// The relay that carries the pair while it is up.
    pub primary: Name,
    /// Other relays both sides peer with directly, in declaration order: the first live one takes the
    /// pair when the primary is down. Empty when the pair has no redundancy.
    pub backups: Vec<Name>,
}

/// One node's interface and peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// The node's name.
    pub name: Name,
    /// The node's public key.
    pub public_key: PublicKey,
    /// Where the private key comes from.
    pub private_key: KeySource,
    /// Interface addresses with the mesh networks' prefix lengths.
    pub addresses: Vec<IpNet>,
    /// Networks behind the node.
    pub subnets: Vec<IpNet>,
    /// The node's own endpoint, if public.
    pub endpoint: Option<Endpoint>,
    /// `ListenPort`.
    pub listen_port: Option<u16>,
    /// Declared relay.
    pub relay: bool,
    /// The relay forwards for at least one pair and the mesh asks for forwarding hooks.
    pub forwarding_hooks: bool,
    /// `MTU`.
    pub mtu: Option<u32>,
    /// `DNS`.
    pub dns: Vec<String>,
    /// `Table`.
    pub table: Option<String>,
    /// `FwMark`.
    pub fwmark: Option<u32>,
    /// The node's own hooks (only when the mesh enables hooks).
    pub pre_up: Vec<String>,
    /// See [`NodePlan::pre_up`].
    pub post_up: Vec<String>,
    /// See [`NodePlan::pre_up`].
    pub pre_down: Vec<String>,
    /// See [`NodePlan::pre_up`].
    pub post_down: Vec<String>,
    /// The peers, in node declaration order.
    pub peers: Vec<PeerPlan>,
    /// How every other node is reached.
    pub routes: Vec<Route>,
    /// Per relayed destination, its primary relay and the backups (in node declaration order).
    pub failover: Vec<FailoverRoute>,
}

impl NodePlan {
    /// The peer called `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerPlan> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The relays this node sends relayed traffic through (primaries) or could (backups), in declaration
    /// order of first mention, without duplicates: the relays a failover agent watches.
    pub fn failover_relays(&self) -> Vec<Name> {
        let mut relays: Vec<Name> = Vec::new();
        for route in &self.failover {
            for relay in std::iter::once(&route.primary).chain(&route.backups) {
                if !relays.contains(relay) {
                    relays.push(relay.clone());
                }
            }
        }
        relays
    }

    /// Whether some relayed destination has at least one backup relay.
    pub fn has_redundant_relays(&self) -> bool {
        self.failover.iter().any(|r| !r.backups.is_empty())
    }
}

/// Every node's configuration, computed from a mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The mesh's name.
    pub mesh_name: Name,
    /// The mesh's topology.
    pub topology: Topology,
    /// The mesh networks.
    pub networks: Vec<IpNet>,
    /// One entry per node, in declaration order.
    pub nodes: Vec<NodePlan>,
}

impl Plan {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

const BLOCKED: u32 = u32::MAX;
const DIRECT: u32 = u32::MAX - 1;

/// Pairwise connection decisions for a mesh: `DIRECT`, `BLOCKED` or the index of the relay.
struct Connections {
    n: usize,
    cells: Vec<u32>,
    /// Whether the pair may peer directly (policy allows it and one side can be dialled).
    direct: Vec<bool>,
}

impl Connections {
    fn get(&self, a: usize, b: usize) -> u32 {
        self.cells[a * self.n + b]
    }
}

/// Compiles `mesh` into a [`Plan`]. The mesh must be complete: every node with a public key and an
/// address in every network (see [`Mesh::generate_missing`]), and the preshared-key seed present when
/// preshared keys are on.
pub fn plan(mesh: &Mesh) -> Result<Plan, crate::Error> {
    plan_inner(mesh, &[])
}

/// Plans `mesh` as if the relays named in `down` were down: pairs they relay move to the first backup
/// relay (declaration order) both sides peer with that is not down; pairs left without any live relay
/// become [`Reach::Blocked`]. Down relays stay direct peers of their neighbours with their own addresses,
/// so they can be probed. With `down` empty this is [`plan()`]. Names that are not relays of the mesh
/// are rejected with `mesh_unknown_node`.
pub fn plan_with_relays_down<S: AsRef<str>>(mesh: &Mesh, down: &[S]) -> Result<Plan, crate::Error> {
    let mut down_flags = vec![false; mesh.nodes.len()];
    for name in down {
        let name = name.as_ref();
        match mesh.nodes.iter().position(|n| n.name == name && n.relay) {
            Some(i) => down_flags[i] = true,
            None => return Err(MeshError::UnknownNode { field: "relays_down".into(), name: name.to_string() }.into()),
        }
    }
    plan_inner(mesh, &down_flags)
}

fn plan_inner(mesh: &Mesh, down: &[bool]) -> Result<Plan, crate::Error> {
    let planner = Planner::new(mesh, down)?;
    // Every interface is independent: spread them over the cores, each worker with its own buffers.
    let n = mesh.nodes.len();
    let workers = crate::parallel::worker_threads();
    let plans: Vec<NodePlan> = if n < 64 || workers < 2 {
        let mut worker = planner.worker();
        (0..n).map(|me| worker.node(&planner, me)).collect()
    } else {
        let chunk = n.div_ceil(workers);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .step_by(chunk)
                .map(|first| {
                    let planner = &planner;
                    scope.spawn(move || {
                        let mut worker = planner.worker();
                        (first..(first + chunk).min(n)).map(|me| worker.node(planner, me)).collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("planning worker panicked")).collect()
        })
    };
    Ok(planner.finish(plans))
}

/// The mesh-wide part of planning, computed once: validated inputs, the pairwise connection decisions
/// and the destination trie. Each node's interface is then planned independently by a [`PlanWorker`],
/// so callers can plan nodes on several threads and in any order — and, like
/// [`crate::write_mesh_configs`], render and write a node's config while others are still being planned.
pub(crate) struct Planner<'m> {
    mesh: &'m Mesh,
    keys: Vec<PublicKey>,
    seed: Option<&'m PresharedKey>,
    connections: Connections,
    trie: DestTrie,
    atom_owner: Vec<usize>,
    atom_is_subnet: Vec<bool>,
    relay_order: Vec<usize>,
    live_relays: Vec<usize>,
    used_as_relay: Vec<bool>,
}

impl<'m> Planner<'m> {
    /// Validates `mesh` and computes what every interface's plan shares, with the relays flagged in
    /// `down` (empty: none) treated as down.
    pub(crate) fn new(mesh: &'m Mesh, down: &[bool]) -> Result<Self, crate::Error> {
        mesh.validate()?;
        let nodes = &mesh.nodes;
        let keys = public_keys(mesh)?;
        check_addresses(mesh)?;
        let seed = match (mesh.mesh.preshared_keys, &mesh.preshared_key_seed) {
            (true, None) => {
                return Err(
                    MeshError::MissingKey { node: mesh.mesh.name.to_string(), what: "preshared key seed" }.into()
                )
            }
            (true, Some(seed)) => Some(seed),
            (false, _) => None,
        };
        let down: Vec<bool> = if down.is_empty() { vec![false; mesh.nodes.len()] } else { down.to_vec() };
        let connections = connect(mesh, &down)?;

        // Destinations: every node's addresses and subnets.
        let mut atoms = Vec::new();
        let mut atom_owner = Vec::new();
        let mut atom_is_subnet = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            for address in &node.addresses {
                atoms.push(Prefix::host(*address));
                atom_owner.push(i);
                atom_is_subnet.push(false);
            }
            for subnet in &node.subnets {
                atoms.push(Prefix::from_net(subnet));
                atom_owner.push(i);
                atom_is_subnet.push(true);
            }
        }
        let anchors: Vec<Prefix> = mesh.mesh.networks.iter().map(Prefix::from_net).collect();
        let trie = DestTrie::build(&anchors, &atoms);
        let relay_order: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].relay).collect();
        let live_relays: Vec<usize> = relay_order.iter().copied().filter(|&i| !down[i]).collect();
        let used_as_relay: Vec<bool> = {
            // Primaries, and the backups that forward once a primary is down: they need forwarding too.
            let mut used = vec![false; nodes.len()];
            let n = connections.n;
            let mut unmarked: Vec<usize> = relay_order.clone();
            for (i, &cell) in connections.cells.iter().enumerate() {
                if cell == DIRECT || cell == BLOCKED {
                    continue;
                }
                used[cell as usize] = true;
                let (a, b) = (i / n, i % n);
                unmarked.retain(|&r| {
                    let backup = r != a && r != b && connections.direct[a * n + r] && connections.direct[b * n + r];
                    used[r] |= backup;
                    !used[r]
                });
            }
            used
        };
        Ok(Planner {
            mesh,
            keys,
            seed,
            connections,
            trie,
            atom_owner,
            atom_is_subnet,
            relay_order,
            live_relays,
            used_as_relay,
        })
    }

    /// A worker with its own buffers: one per thread.
    /// The nodes' public keys, in node order: those of the [`NodePlan`]s it plans.
    pub(crate) fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    pub(crate) fn worker(&self) -> PlanWorker {
        PlanWorker::new(self.mesh, self.atom_owner.len())
    }

    /// The plan made of every node's interface, in declaration order.
    pub(crate) fn finish(&self, nodes: Vec<NodePlan>) -> Plan {
        debug_assert_eq!(nodes.len(), self.mesh.nodes.len());
        let mesh = self.mesh;
        Plan {
            mesh_name: mesh.mesh.name.clone(),
            topology: mesh.mesh.topology,
            networks: mesh.mesh.networks.clone(),
            nodes,
        }
    }
}

/// One planning thread's reusable buffers.
pub(crate) struct PlanWorker {
    /// This thread's own copies of the node names: a plan clones each name once per pair, and clones
    /// of shared names from two threads would fight over the same reference counts.
    names: Vec<Name>,
    peer_index: Vec<u32>,
    labels: Vec<u32>,
    placements: Vec<(Prefix, u32)>,
    scratch: Scratch,
    /// Scratch for the one-prefix-per-label shortcut.
    seen: Vec<bool>,
    /// Prefixes per peer, to size each peer's AllowedIPs exactly.
    counts: Vec<u32>,
}

impl PlanWorker {
    fn new(mesh: &Mesh, atoms: usize) -> Self {
        PlanWorker {
            names: mesh.nodes.iter().map(|n| n.name.deep_clone()).collect(),
            peer_index: vec![UNROUTED; mesh.nodes.len()],
            labels: vec![UNROUTED; atoms],
            placements: Vec::new(),
            scratch: Scratch::default(),
            seen: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Plans the interface of node `me`.
    pub(crate) fn node(&mut self, shared: &Planner<'_>, me: usize) -> NodePlan {
        let nodes = &shared.mesh.nodes;
        let node = &nodes[me];
        let connections = &shared.connections;
        let peers_of_me: Vec<usize> =
            (0..nodes.len()).filter(|&o| o != me && connections.get(me, o) == DIRECT).collect();
        for (idx, &o) in peers_of_me.iter().enumerate() {
            self.peer_index[o] = idx as u32;
        }
        // The relay that takes everything in the mesh networks this node has no better route for.
        let fill = shared
            .live_relays
            .iter()
            .find(|&&r| (0..nodes.len()).any(|o| o != me && connections.get(me, o) == r as u32))
            .map(|&r| self.peer_index[r])
            .unwrap_or(UNROUTED);
        for (atom, label) in self.labels.iter_mut().enumerate() {
            let owner = shared.atom_owner[atom];
            *label = if owner == me {
                // Its own subnets must not go into the tunnel; its own address may be covered by the
                // relay's prefix (local routes win) when it has a relay, else it is left alone.
                if shared.atom_is_subnet[atom] || fill == UNROUTED {
                    UNROUTED
                } else {
                    DONT_CARE
                }
            } else {
                match connections.get(me, owner) {
                    DIRECT => self.peer_index[owner],
                    BLOCKED => UNROUTED,
                    relay => self.peer_index[relay as usize],
                }
            };
        }
        self.placements.clear();
        if !one_prefix_per_label(&shared.trie, &self.labels, fill, &mut self.seen, &mut self.placements) {
            Minimizer::new(&shared.trie, &self.labels, fill, &mut self.scratch).placements(&mut self.placements);
        }
        // Exactly sized: a big mesh holds one such list per pair.
        self.counts.clear();
        self.counts.resize(peers_of_me.len(), 0);
        for (_, label) in &self.placements {
            self.counts[*label as usize] += 1;
        }
        let mut allowed: Vec<Vec<IpNet>> =
            self.counts.iter().map(|&count| Vec::with_capacity(count as usize)).collect();
        for (prefix, label) in &self.placements {
            allowed[*label as usize].push(prefix.to_net());
        }
        let mut relays_for: Vec<Vec<Name>> = vec![Vec::new(); peers_of_me.len()];
        let mut routes = Vec::with_capacity(nodes.len().saturating_sub(1));
        for o in 0..nodes.len() {
            if o == me {
                continue;
            }
            let reach = match connections.get(me, o) {
                DIRECT => Reach::Direct,
                BLOCKED => Reach::Blocked,
                relay => {
                    relays_for[self.peer_index[relay as usize] as usize].push(self.names[o].clone());
                    Reach::Via(self.names[relay as usize].clone())
                }
            };
            routes.push(Route { node: self.names[o].clone(), reach });
        }
        let failover = self.failover(shared, me);
        let keepalive = node.persistent_keepalive.unwrap_or(shared.mesh.mesh.persistent_keepalive);
        let keys = &shared.keys;
        let peers = peers_of_me
            .iter()
            .zip(allowed)
            .zip(relays_for)
            .map(|((&o, mut allowed_ips), relays_for)| {
                let other = &nodes[o];
                allowed_ips.sort_by_key(|net| (net.addr().is_ipv6(), net.network(), net.prefix_len()));
                PeerPlan {
                    name: self.names[o].clone(),
                    public_key: keys[o],
                    preshared_key: shared.seed.map(|s| PresharedKey::derive_for_pair(s, &keys[me], &keys[o])),
                    endpoint: other.endpoint.clone(),
                    allowed_ips,
                    persistent_keepalive: (node.endpoint.is_none() && other.endpoint.is_some() && keepalive > 0)
                        .then_some(keepalive),
                    relays_for,
                }
            })
            .collect();
        node_plan(shared.mesh, node, keys[me], shared.used_as_relay[me], peers, routes, failover)
    }

    /// Node `me`'s failover table: every relayed destination with its primary and backup relays.
    fn failover(&self, shared: &Planner<'_>, me: usize) -> Vec<FailoverRoute> {
        let nodes = &shared.mesh.nodes;
        let connections = &shared.connections;
        let n = connections.n;
        let mut table = Vec::new();
        for (o, other) in nodes.iter().enumerate() {
            let cell = connections.get(me, o);
            if o == me || cell == DIRECT || cell == BLOCKED {
                continue;
            }
            let primary = cell as usize;
            let backups = shared
                .relay_order
                .iter()
                .filter(|&&r| {
                    r != primary && r != me && r != o && connections.direct[me * n + r] && connections.direct[o * n + r]
                })
                .map(|&r| self.names[r].clone())
                .collect();
            let prefixes =
                other.addresses.iter().map(|a| IpNet::from(*a)).chain(other.subnets.iter().copied()).collect();
            table.push(FailoverRoute {
                node: self.names[o].clone(),
                prefixes,
                primary: self.names[primary].clone(),
                backups,
            });
        }
        table
    }
}

fn node_plan(
    mesh: &Mesh,
    node: &Node,
    public_key: PublicKey,
    used_as_relay: bool,
    peers: Vec<PeerPlan>,
    routes: Vec<Route>,
    failover: Vec<FailoverRoute>,
) -> NodePlan {
    let settings = &mesh.mesh;
    let addresses = node
        .addresses
        .iter()
        .map(|addr| {
            let network = settings.networks.iter().find(|n| n.contains(addr)).expect("validated: inside a network");
            IpNet::new(*addr, network.prefix_len()).expect("prefix length of a valid network")
        })
        .collect();
    let private_key = match (&node.private_key, &node.private_key_on_node) {
        (Some(key), _) => KeySource::Inline(key.clone()),
        (None, Some(path)) => KeySource::OnNode(path.clone()),
        (None, None) => KeySource::Unknown,
    };
    let hooks = |list: &Vec<String>| if settings.hooks { list.clone() } else { Vec::new() };
    NodePlan {
        name: node.name.clone(),
        public_key,
        private_key,
        addresses,
        subnets: node.subnets.clone(),
        endpoint: node.endpoint.clone(),
        listen_port: node.listen_port.or(node.endpoint.as_ref().map(|e| e.port)).or(settings.listen_port),
        relay: node.relay,
        forwarding_hooks: node.relay && used_as_relay && settings.relay_forwarding,
        mtu: node.mtu.or(settings.mtu),
        dns: if node.dns.is_empty() { settings.dns.clone() } else { node.dns.clone() },
        table: node.table.clone(),
        fwmark: node.fwmark,
        pre_up: hooks(&node.pre_up),
        post_up: hooks(&node.post_up),
        pre_down: hooks(&node.pre_down),
        post_down: hooks(&node.post_down),
        peers,
        routes,
        failover,
    }
}

fn public_keys(mesh: &Mesh) -> Result<Vec<PublicKey>, MeshError> {
    mesh.nodes
        .iter()
        .map(|node| {
            node.effective_public_key()
                .ok_or_else(|| MeshError::MissingKey { node: node.name.to_string(), what: "public key" })
        })
        .collect()
}

fn check_addresses(mesh: &Mesh) -> Result<(), MeshError> {
    for node in &mesh.nodes {
        for network in &mesh.mesh.networks {
            if !node.addresses.iter().any(|a| network.contains(a)) {
                return Err(MeshError::MissingAddress { node: node.name.to_string(), network: *network });
            }
        }
    }
    Ok(())
}

/// The link policy of every pair, from the rules and the topology.
fn policies(mesh: &Mesh) -> impl Fn(usize, usize) -> LinkPolicy + '_ {
    let nodes = &mesh.nodes;
    let sides: Vec<[Vec<bool>; 2]> = mesh
        .rules
        .iter()
        .map(|rule| rule.between.clone().map(|side| nodes.iter().map(|n| n.in_group(&side)).collect()))
        .collect();
    move |a, b| {
        for (rule, [left, right]) in mesh.rules.iter().zip(&sides) {
            if (left[a] && right[b]) || (left[b] && right[a]) {
                return rule.link;
            }
        }
        match mesh.mesh.topology {
            Topology::FullMesh => LinkPolicy::Direct,
            Topology::HubAndSpoke if nodes[a].relay || nodes[b].relay => LinkPolicy::Direct,
            Topology::HubAndSpoke => LinkPolicy::Relay,
        }
    }
}

/// Decides every pair. Relays flagged in `down` relay nothing: their pairs go through the next relay
/// both sides peer with, or are blocked when there is none (a pair with no relay even when all are up is
/// still an unroutable-pair error).
fn connect(mesh: &Mesh, down: &[bool]) -> Result<Connections, PlanError> {
    let nodes = &mesh.nodes;
    let n = nodes.len();
    let policy = policies(mesh);
    let relays: Vec<usize> = (0..n).filter(|&i| nodes[i].relay).collect();
    // Whether a and b can be peers: policy allows it and one side can be dialled.
    let mut direct = vec![false; n * n];
    let mut blocked = vec![false; n * n];
    for a in 0..n {
        for b in (a + 1)..n {
            let p = policy(a, b);
            let dialable = nodes[a].endpoint.is_some() || nodes[b].endpoint.is_some();
            let ok = match p {
                LinkPolicy::None => false,
                LinkPolicy::Direct => dialable,
                LinkPolicy::Relay => dialable && (nodes[a].relay || nodes[b].relay),
            };
            direct[a * n + b] = ok;
            direct[b * n + a] = ok;
            blocked[a * n + b] = p == LinkPolicy::None;
            blocked[b * n + a] = p == LinkPolicy::None;
        }
    }
    let mut cells = vec![BLOCKED; n * n];
    let mut unroutable = Vec::new();
    for a in 0..n {
        for b in (a + 1)..n {
            let cell = if blocked[a * n + b] {
                BLOCKED
            } else if direct[a * n + b] {
                DIRECT
            } else if let Some(&r) =
                relays.iter().find(|&&r| !down[r] && r != a && r != b && direct[a * n + r] && direct[b * n + r])
            {
                r as u32
            } else if relays.iter().any(|&r| r != a && r != b && direct[a * n + r] && direct[b * n + r]) {
                // Every relay that could carry the pair is down.
                BLOCKED
            } else {
                unroutable.push((nodes[a].name.to_string(), nodes[b].name.to_string()));
                BLOCKED
            };
            cells[a * n + b] = cell;
            cells[b * n + a] = cell;
        }
    }
    if !unroutable.is_empty() {
        return Err(PlanError::UnroutablePair { pairs: unroutable });
    }
    Ok(Connections { n, cells, direct })
}

#[cfg(test)]
mod tests;
