//! [`verify()`]: proves a [`Plan`] works before anyone deploys it.
//!
//! The proof does not trust the planner: it rebuilds every interface's cryptokey routing table from
//! the plan's AllowedIPs and, for every ordered pair of nodes that policy connects, follows a packet from
//! each source the sender owns (its addresses and subnets) to each destination the receiver owns, hop by
//! hop: longest-prefix match at the sender, the WireGuard ingress check at each receiver (the source
//! address must map back to the peer it came from), forwarding only at relays, no loops. The reply of
//! (a, b) is the forward path of (b, a), so checking every ordered pair checks every reply. It also
//! checks every link (both sides list each other with the same preshared key, one side can be dialled),
//! the static rules (unique names, keys and addresses, no overlapping networks or routes, relays with
//! endpoints, no prefix twice on one interface), and that pairs policy blocks really cannot talk.

use std::collections::{HashMap, HashSet};
use std::fmt;

use ipnet::IpNet;

use crate::error::VerifyError;
use crate::mesh::name::Name;
use crate::plan::prefix::{mask, Prefix};
use crate::plan::{Plan, Reach};

/// Every problem code [`verify()`] can report.
pub const PROBLEM_CODES: &[&str] = &[
    "duplicate_name",
    "duplicate_key",
    "duplicate_address",
    "overlapping_networks",
    "overlapping_routes",
    "relay_without_endpoint",
    "duplicate_allowed_ip",
    "unknown_peer",
    "peer_not_mutual",
    "preshared_key_mismatch",
    "no_endpoint",
    "no_route",
    "ingress_rejected",
    "not_forwarding",
    "routing_loop",
    "split_route",
    "policy_violation",
    "failover_unreachable",
];

/// One thing that keeps the plan from working, with a stable code and what it involves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable code, one of [`PROBLEM_CODES`].
    pub code: &'static str,
    /// The ordered pair (from, to) concerned, if any.
    pub pair: Option<(Name, Name)>,
    /// The node where the packet or check failed, if any.
    pub hop: Option<Name>,
    /// The prefix or address involved, if any.
    pub prefix: Option<IpNet>,
    /// A one-line explanation.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What a successful verification proved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proof {
    /// Ordered pairs proven to reach each other.
    pub pairs_proven: usize,
    /// Of those, pairs whose path goes through a relay.
    pub relayed_pairs: usize,
    /// Ordered pairs proven unable to reach each other, as policy asks.
    pub pairs_blocked: usize,
    /// Individual (source, destination) packet paths followed.
    pub paths_followed: usize,
}

/// Checks `plan` and returns every problem found (empty when the plan is proven).
pub fn check(plan: &Plan) -> (Proof, Vec<Problem>) {
    check_with(plan, true)
}

/// [`check`] following every packet hop by hop with the tables' own lookups, without the precomputed
/// answers: what the fast path must agree with.
#[cfg(test)]
pub(crate) fn check_hop_by_hop(plan: &Plan) -> (Proof, Vec<Problem>) {
    check_with(plan, false)
}

fn check_with(plan: &Plan, use_resolved: bool) -> (Proof, Vec<Problem>) {
    check_prepared(plan, interfaces(plan), use_resolved)
}

/// Proves `plan` from its nodes' [`Interface`]s, already built (e.g. by the threads that planned the
/// nodes, while each node's peers were still in cache).
pub(crate) fn verify_prepared(plan: &Plan, interfaces: Vec<Interface>) -> Result<Proof, VerifyError> {
    let (proof, problems) = check_prepared(plan, interfaces, true);
    if problems.is_empty() {
        Ok(proof)
    } else {
        Err(VerifyError { problems })
    }
}

fn check_prepared(plan: &Plan, mut interfaces: Vec<Interface>, use_resolved: bool) -> (Proof, Vec<Problem>) {
    debug_assert_eq!(interfaces.len(), plan.nodes.len());
    let mut problems = Vec::new();
    let repeated = interfaces.iter_mut().map(|interface| std::mem::take(&mut interface.repeated));
    static_checks(plan, repeated, &mut problems);
    let mut world = World::new(plan, interfaces, &mut problems);
    world.use_resolved = use_resolved;
    link_checks(plan, &world, &mut problems);
    let (proof, pair_problems) = world.follow_all_pairs();
    problems.extend(pair_problems);
    (proof, problems)
}

/// Proves `plan`: `Ok` with what was proven, or every problem found.
pub fn verify(plan: &Plan) -> Result<Proof, VerifyError> {
    verify_prepared(plan, interfaces(plan))
}

/// `work(i)` for every node index `0..n`, in order, spread over the available cores for big meshes:
/// every interface's checks are independent of the others'.
fn per_node<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = crate::parallel::worker_threads();
    if n < 64 || workers < 2 {
        return (0..n).map(work).collect();
    }
    let chunk = n.div_ceil(workers);
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|first| scope.spawn(move || (first..(first + chunk).min(n)).map(work).collect::<Vec<T>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("verification worker panicked")).collect()
    })
}

fn problem(code: &'static str, message: String) -> Problem {
    Problem { code, pair: None, hop: None, prefix: None, message }
}

/// Checks of the nodes on their own, in node order; `repeated` holds each node's
/// `duplicate_allowed_ip` problems (found while building its [`Interface`]).
fn static_checks(plan: &Plan, repeated: impl Iterator<Item = Vec<Problem>>, problems: &mut Vec<Problem>) {
    let mut names = HashSet::new();
    let mut keys = HashMap::new();
    let mut addresses = HashMap::new();
    for (node, repeated) in plan.nodes.iter().zip(repeated) {
        if !names.insert(node.name.as_str()) {
            problems.push(Problem {
                hop: Some(node.name.clone()),
                ..problem("duplicate_name", format!("two nodes are called {}", node.name))
            });
        }
        if let Some(first) = keys.insert(node.public_key, &node.name) {
            problems.push(Problem {
                pair: Some((first.clone(), node.name.clone())),
                ..problem("duplicate_key", format!("{first} and {} have the same public key", node.name))
            });
        }
        for address in &node.addresses {
            if let Some(first) = addresses.insert(address.addr(), &node.name) {
                problems.push(Problem {
                    pair: Some((first.clone(), node.name.clone())),
                    prefix: Some(IpNet::from(address.addr())),
                    ..problem(
                        "duplicate_address",
                        format!("{first} and {} both have address {}", node.name, address.addr()),
                    )
                });
            }
        }
        if node.relay && node.endpoint.is_none() {
            problems.push(Problem {
                hop: Some(node.name.clone()),
                ..problem(
                    "relay_without_endpoint",
                    format!("relay {} has no endpoint, so nodes behind NAT cannot reach it", node.name),
                )
            });
        }
        problems.extend(repeated);
    }
    for (i, net) in plan.networks.iter().enumerate() {
        for other in &plan.networks[..i] {
            if net.contains(other) || other.contains(net) {
                problems.push(Problem {
                    prefix: Some(*net),
                    ..problem("overlapping_networks", format!("networks {other} and {net} overlap"))
                });
            }
        }
    }
    let mut routes: Vec<(IpNet, String)> = plan.networks.iter().map(|n| (*n, format!("mesh network {n}"))).collect();
    for node in &plan.nodes {
        for subnet in &node.subnets {
            if let Some((_, other)) = routes.iter().find(|(r, _)| r.contains(subnet) || subnet.contains(r)) {
                problems.push(Problem {
                    hop: Some(node.name.clone()),
                    prefix: Some(*subnet),
                    ..problem("overlapping_routes", format!("subnet {subnet} of {} overlaps {other}", node.name))
                });
            }
            routes.push((*subnet, format!("subnet of {}", node.name)));
        }
    }
}

/// One interface as the proof sees it, built from a node's peer entries with one sort per family.
pub(crate) struct Interface {
    table: Table,
    /// Per peer entry: the node index its key belongs to (`None` for a key of no node).
    targets: Vec<Option<u32>>,
    /// Per peer entry: what [`link_checks`] compares with the other side's entry.
    ends: Vec<LinkEnd>,
    /// Per peer entry, its preshared key, when the node's peer entries were dropped from the plan (see
    /// [`Interface::keep_preshared_keys`]) and some entry had one.
    kept_preshared_keys: Option<Vec<Option<crate::keys::PresharedKey>>>,
    /// `duplicate_allowed_ip` problems: a prefix on two of its peers.
    repeated: Vec<Problem>,
    /// `unknown_peer` problems: entries whose key belongs to no node (their prefixes route nowhere).
    unknown: Vec<Problem>,
}

/// One side of a link, as the link checks first compare it with the other side: whether it has a
/// preshared key for the other (when both do, the keys themselves are compared) and whether it can dial.
struct LinkEnd {
    has_preshared_key: bool,
    has_endpoint: bool,
}

/// Buffers [`Interface::new`] reuses from one node to the next.
#[derive(Default)]
pub(crate) struct InterfaceScratch {
    /// Per family: (length, bits, peer entry) of every AllowedIP, unknown peers' included (their
    /// repeats are still repeats).
    entries: [Vec<(u8, u128, u32)>; 2],
    /// One family's (length, bits, node routed to), in the table's order.
    routed: Vec<(u8, u128, u32)>,
}

/// Every node's [`Interface`], in node order, spread over the cores.
fn interfaces(plan: &Plan) -> Vec<Interface> {
    let by_key = KeyIndex::new(plan.nodes.iter().map(|n| &n.public_key));
    per_node(plan.nodes.len(), |i| Interface::new(&plan.nodes[i], &by_key, &mut InterfaceScratch::default()))
}

/// Node index by public key (the last node holding a key, when several do), for [`Interface::new`].
pub(crate) struct KeyIndex(rustc_hash::FxHashMap<crate::keys::PublicKey, u32>);

impl KeyIndex {
    /// Indexes the nodes' keys, given in node order.
    pub(crate) fn new<'k>(keys: impl Iterator<Item = &'k crate::keys::PublicKey>) -> Self {
        // One lookup per peer entry (a million for a large mesh): FxHash, not SipHash; the keys are
        // public keys from the plan, not attacker-chosen.
        KeyIndex(keys.enumerate().map(|(i, key)| (*key, i as u32)).collect())
    }

    fn get(&self, key: &crate::keys::PublicKey) -> Option<u32> {
        self.0.get(key).copied()
    }
}

impl Interface {
    /// `node`'s interface; `by_key` indexes the keys of the plan's nodes, `scratch` is reused from one
    /// node to the next.
    pub(crate) fn new(node: &crate::plan::NodePlan, by_key: &KeyIndex, scratch: &mut InterfaceScratch) -> Self {
        let mut targets = Vec::with_capacity(node.peers.len());
        let mut ends = Vec::with_capacity(node.peers.len());
        let mut unknown = Vec::new();
        let InterfaceScratch { entries, routed } = scratch;
        for list in entries.iter_mut() {
            list.clear();
        }
        for (entry, peer) in node.peers.iter().enumerate() {
            let target = by_key.get(&peer.public_key);
            if target.is_none() {
                unknown.push(Problem {
                    hop: Some(node.name.clone()),
                    ..problem(
                        "unknown_peer",
                        format!("{} has a peer {} whose key belongs to no node", node.name, peer.name),
                    )
                });
            }
            targets.push(target);
            ends.push(LinkEnd {
                has_preshared_key: peer.preshared_key.is_some(),
                has_endpoint: peer.endpoint.is_some(),
            });
            for net in &peer.allowed_ips {
                let prefix = Prefix::from_net(net);
                entries[usize::from(prefix.v6)].push((prefix.len, prefix.bits, entry as u32));
            }
        }
        // (prefix, first entry, second entry) of each repeat.
        let mut repeats: Vec<(Prefix, u32, u32)> = Vec::new();
        let mut table = Table::default();
        for (family, list) in entries.iter_mut().enumerate() {
            // Longest first, then by bits and entry: each length's run comes out sorted as lookups need,
            // and a prefix held by several entries as one run.
            list.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            routed.clear();
            let mut rest = &list[..];
            while let Some(&(len, bits, _)) = rest.first() {
                let run = rest.iter().take_while(|e| e.0 == len && e.1 == bits).count();
                let (same, tail) = rest.split_at(run);
                let start = routed.len();
                routed.extend(same.iter().filter_map(|e| targets[e.2 as usize].map(|node| (len, bits, node))));
                if run > 1 {
                    let prefix = Prefix { v6: family == 1, bits, len };
                    repeats.extend(same.windows(2).map(|pair| (prefix, pair[0].2, pair[1].2)));
                    routed[start..].sort_unstable_by_key(|e| e.2);
                }
                rest = tail;
            }
            table.by_len[family] = SameLength::runs(family, routed);
        }
        // Reported by family, address and length, like a sorted listing of the interface's AllowedIPs.
        repeats.sort_unstable_by_key(|(prefix, first, _)| (prefix.v6, prefix.bits, prefix.len, *first));
        let repeated = repeats
            .into_iter()
            .map(|(prefix, first, second)| {
                let (first, second) = (&node.peers[first as usize].name, &node.peers[second as usize].name);
                let prefix = prefix.to_net();
                Problem {
                    pair: Some((first.clone(), second.clone())),
                    hop: Some(node.name.clone()),
                    prefix: Some(prefix),
                    ..problem(
                        "duplicate_allowed_ip",
                        format!("{} routes {prefix} to both {first} and {second}", node.name),
                    )
                }
            })
            .collect();
        Interface { table, targets, ends, kept_preshared_keys: None, repeated, unknown }
    }

    /// Takes the node's peer entries, which the plan will no longer hold: their preshared keys are moved
    /// here for the link checks, the rest is dropped.
    pub(crate) fn keep_preshared_keys(&mut self, peers: Vec<crate::plan::PeerPlan>) {
        if peers.iter().any(|peer| peer.preshared_key.is_some()) {
            self.kept_preshared_keys = Some(peers.into_iter().map(|peer| peer.preshared_key).collect());
        }
    }
}

/// The prefixes of one length in a [`Table`], sorted, with the node index of the peer each routes to.
/// IPv4 keys are kept as `u32` (a quarter of the memory of the `u128` prefix bits): a proof looks up
/// every table once per source node, and compact tables stay in cache.
struct SameLength {
    len: u8,
    keys: Keys,
    peers: Vec<u32>,
}

/// Sorted prefix bits of one length: IPv4 as the address's 32 bits, IPv6 as all 128.
enum Keys {
    V4(Vec<u32>),
    V6(Vec<u128>),
}

impl Keys {
    fn key_v4(bits: u128) -> u32 {
        (bits >> 96) as u32
    }

    /// The index of an entry equal to `bits`, if any.
    fn find(&self, bits: u128) -> Option<usize> {
        match self {
            Keys::V4(keys) => keys.binary_search(&Self::key_v4(bits)).ok(),
            Keys::V6(keys) => keys.binary_search(&bits).ok(),
        }
    }

    /// The index of the first entry not below `bits`.
    fn first_not_below(&self, bits: u128) -> usize {
        match self {
            Keys::V4(keys) => keys.partition_point(|k| *k < Self::key_v4(bits)),
            Keys::V6(keys) => keys.partition_point(|k| *k < bits),
        }
    }

    /// Entry `i` as prefix bits.
    fn bits(&self, i: usize) -> u128 {
        match self {
            Keys::V4(keys) => u128::from(keys[i]) << 96,
            Keys::V6(keys) => keys[i],
        }
    }

    fn len(&self) -> usize {
        match self {
            Keys::V4(keys) => keys.len(),
            Keys::V6(keys) => keys.len(),
        }
    }
}

/// One interface's cryptokey routing table: for each prefix length present, the sorted prefixes of
/// that length with the node index of the peer they route to.
#[derive(Default)]
struct Table {
    /// Per family (v4, v6): lengths in descending order with their entries.
    by_len: [Vec<SameLength>; 2],
}

impl SameLength {
    /// One bucket per length of `sorted` (`(length, bits, node)` of one family, longest first, then by
    /// bits).
    fn runs(family: usize, sorted: &[(u8, u128, u32)]) -> Vec<SameLength> {
        let mut buckets = Vec::new();
        let mut rest = sorted;
        while let Some(&(len, _, _)) = rest.first() {
            let run = rest.iter().take_while(|e| e.0 == len).count();
            let (same, tail) = rest.split_at(run);
            let keys = if family == 0 {
                Keys::V4(same.iter().map(|e| Keys::key_v4(e.1)).collect())
            } else {
                Keys::V6(same.iter().map(|e| e.1).collect())
            };
            buckets.push(SameLength { len, keys, peers: same.iter().map(|e| e.2).collect() });
            rest = tail;
        }
        buckets
    }
}

impl Table {
    /// Longest-prefix match of the whole prefix `target`: the longest entry containing it.
    fn lookup(&self, target: &Prefix) -> Option<u32> {
        for bucket in &self.by_len[usize::from(target.v6)] {
            if bucket.len > target.len {
                continue;
            }
            if let Some(i) = bucket.keys.find(mask(target.bits, bucket.len)) {
                return Some(bucket.peers[i]);
            }
        }
        None
    }

    /// A peer other than `expected` holding a prefix strictly inside `target` (which would split it).
    fn split_by(&self, target: &Prefix, expected: Option<u32>) -> Option<u32> {
        if target.len == target.max_len() {
            return None;
        }
        for bucket in &self.by_len[usize::from(target.v6)] {
            if bucket.len <= target.len {
                continue;
            }
            for i in bucket.keys.first_not_below(target.bits)..bucket.keys.len() {
                if mask(bucket.keys.bits(i), target.len) != target.bits {
                    break;
                }
                if Some(bucket.peers[i]) != expected {
                    return Some(bucket.peers[i]);
                }
            }
        }
        None
    }
}

/// The plan as the simulation sees it.
struct World<'a> {
    plan: &'a Plan,
    tables: Vec<Table>,
    /// Node index by name, for policy lookups.
    by_name: HashMap<&'a str, u32>,
    /// Per node, per peer entry: the node index it points to (`None` for unknown keys).
    peer_nodes: Vec<Vec<Option<u32>>>,
    /// Per node, per peer entry: what the link checks compare.
    link_ends: Vec<Vec<LinkEnd>>,
    /// Per node: the preshared keys of its peer entries when the plan no longer holds them.
    kept_preshared_keys: Vec<Option<Vec<Option<crate::keys::PresharedKey>>>>,
    /// Every node's owned prefixes (addresses as host routes, subnets), numbered.
    atoms: Vec<Prefix>,
    /// Per node: the numbers of the prefixes it owns in [`World::atoms`].
    owned_ids: Vec<Vec<u32>>,
    /// Every table's answers for every owned prefix, worked out once (see [`Resolved`]).
    resolved: Resolved,
    /// Whether packets are first followed through [`World::resolved`] (off only to test that path).
    use_resolved: bool,
}

/// What each interface's table says about each owned prefix, computed with one sorted merge per table
/// and prefix length instead of a binary search per hop of every followed packet: `route` is
/// [`Table::lookup`] and `split` is whether [`Table::split_by`] finds a more specific entry going
/// elsewhere. Row `t` (table of node `t`) holds one entry per atom.
struct Resolved {
    atoms: usize,
    route: Vec<u32>,
    split: Vec<bool>,
}

/// No entry covers the prefix.
const NO_ROUTE: u32 = u32::MAX;
/// Two entries of one length hold the prefix (a duplicate AllowedIP): the answer depends on which one a
/// lookup finds, so packets through it are followed the slow way.
const AMBIGUOUS: u32 = u32::MAX - 1;

impl Resolved {
    fn new(tables: &[Table], atoms: &[Prefix]) -> Self {
        // Atom numbers per family, sorted by bits: masking keeps that order, so one pass per length
        // meets them in the order of each length's sorted keys.
        let mut sorted: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for (id, atom) in atoms.iter().enumerate() {
            sorted[usize::from(atom.v6)].push(id as u32);
        }
        for family in &mut sorted {
            family.sort_unstable_by_key(|&id| atoms[id as usize].bits);
        }
        let rows = per_node(tables.len(), |t| {
            let table = &tables[t];
            let mut route = vec![NO_ROUTE; atoms.len()];
            for (family, order) in sorted.iter().enumerate() {
                for bucket in &table.by_len[family] {
                    let mut j = 0;
                    for &id in order {
                        let atom = &atoms[id as usize];
                        if route[id as usize] != NO_ROUTE || atom.len < bucket.len {
                            continue;
                        }
                        let key = mask(atom.bits, bucket.len);
                        while j < bucket.keys.len() && bucket.keys.bits(j) < key {
                            j += 1;
                        }
                        if j < bucket.keys.len() && bucket.keys.bits(j) == key {
                            let duplicate = j + 1 < bucket.keys.len() && bucket.keys.bits(j + 1) == key;
                            route[id as usize] = if duplicate { AMBIGUOUS } else { bucket.peers[j] };
                        }
                    }
                }
            }
            // Host prefixes cannot be split; the rest (subnets) are few.
            let split: Vec<bool> = atoms
                .iter()
                .zip(&route)
                .map(|(atom, &next)| {
                    atom.len != atom.max_len() && table.split_by(atom, (next != NO_ROUTE).then_some(next)).is_some()
                })
                .collect();
            (route, split)
        });
        let mut route = Vec::with_capacity(tables.len() * atoms.len());
        let mut split = Vec::with_capacity(tables.len() * atoms.len());
        for (r, s) in rows {
            route.extend(r);
            split.extend(s);
        }
        Resolved { atoms: atoms.len(), route, split }
    }

    fn route(&self, table: u32, atom: u32) -> u32 {
        self.route[table as usize * self.atoms + atom as usize]
    }

    fn split(&self, table: u32, atom: u32) -> bool {
        self.split[table as usize * self.atoms + atom as usize]
    }
}

impl<'a> World<'a> {
    fn new(plan: &'a Plan, interfaces: Vec<Interface>, problems: &mut Vec<Problem>) -> Self {
        let by_name = plan.nodes.iter().enumerate().map(|(i, n)| (n.name.as_str(), i as u32)).collect();
        let mut tables = Vec::with_capacity(plan.nodes.len());
        let mut peer_nodes = Vec::with_capacity(plan.nodes.len());
        let mut link_ends = Vec::with_capacity(plan.nodes.len());
        let mut kept_preshared_keys = Vec::with_capacity(plan.nodes.len());
        for interface in interfaces {
            kept_preshared_keys.push(interface.kept_preshared_keys);
            tables.push(interface.table);
            peer_nodes.push(interface.targets);
            link_ends.push(interface.ends);
            problems.extend(interface.unknown);
        }
        let mut atoms = Vec::new();
        let owned_ids = plan
            .nodes
            .iter()
            .map(|n| {
                let owned =
                    n.addresses.iter().map(|a| Prefix::host(a.addr())).chain(n.subnets.iter().map(Prefix::from_net));
                owned
                    .map(|p| {
                        atoms.push(p);
                        (atoms.len() - 1) as u32
                    })
                    .collect()
            })
            .collect();
        let resolved = Resolved::new(&tables, &atoms);
        World {
            plan,
            tables,
            by_name,
            peer_nodes,
            link_ends,
            kept_preshared_keys,
            atoms,
            owned_ids,
            resolved,
            use_resolved: true,
        }
    }

    /// Whether node `node` owns a prefix containing `dst` (the packet has arrived).
    fn owns(&self, node: u32, dst: &Prefix) -> bool {
        self.owned_ids[node as usize].iter().any(|&id| self.atoms[id as usize].contains(dst))
    }

    /// [`World::follow`] from the tables' precomputed answers: the relay hops when the packet and its
    /// reply get through exactly as `follow` would find, `None` when anything is off (then `follow`
    /// says what).
    fn follow_resolved(&self, from: u32, src: u32, dst: u32) -> Option<usize> {
        let dst_prefix = &self.atoms[dst as usize];
        let mut current = from;
        let mut relays = 0;
        let limit = self.plan.nodes.len();
        loop {
            if current != from && self.owns(current, dst_prefix) {
                return Some(relays);
            }
            if current != from && !self.plan.nodes[current as usize].relay {
                return None;
            }
            let next = self.resolved.route(current, dst);
            if next == NO_ROUTE || next == AMBIGUOUS || self.resolved.split(current, dst) {
                return None;
            }
            if self.resolved.route(next, src) != current || self.resolved.split(next, src) {
                return None;
            }
            if current != from {
                relays += 1;
            }
            current = next;
            if relays > limit || current == from {
                return None;
            }
        }
    }

    /// The preshared key of peer entry `entry` of node `node`, from the plan or, when the plan no longer
    /// holds the node's peer entries, from what its interface kept.
    fn preshared_key(&self, node: usize, entry: usize) -> Option<&crate::keys::PresharedKey> {
        match &self.kept_preshared_keys[node] {
            Some(keys) => keys[entry].as_ref(),
            None => self.plan.nodes[node].peers.get(entry).and_then(|peer| peer.preshared_key.as_ref()),
        }
    }

    fn name(&self, idx: u32) -> Name {
        self.plan.nodes[idx as usize].name.clone()
    }

    /// Follows one packet from `from` (source `src`) to the owner of `dst`; returns the number of relay
    /// hops, or the problem.
    fn follow(&self, from: u32, to: u32, src: &Prefix, dst: &Prefix) -> Result<usize, Problem> {
        let fail = |code: &'static str, hop: u32, prefix: &Prefix, message: String| Problem {
            code,
            pair: Some((self.name(from), self.name(to))),
            hop: Some(self.name(hop)),
            prefix: Some(prefix.to_net()),
            message,
        };
        let mut current = from;
        let mut relays = 0;
        let limit = self.plan.nodes.len();
        loop {
            if current != from && self.owns(current, dst) {
                return Ok(relays);
            }
            if current != from && !self.plan.nodes[current as usize].relay {
                return Err(fail(
                    "not_forwarding",
                    current,
                    dst,
                    format!(
                        "{} -> {}: the packet for {} reaches {}, which is not a relay",
                        self.name(from),
                        self.name(to),
                        dst.to_net(),
                        self.name(current)
                    ),
                ));
            }
            let table = &self.tables[current as usize];
            let Some(next) = table.lookup(dst) else {
                return Err(fail(
                    "no_route",
                    current,
                    dst,
                    format!(
                        "{} -> {}: {} has no peer whose AllowedIPs cover {}",
                        self.name(from),
                        self.name(to),
                        self.name(current),
                        dst.to_net()
                    ),
                ));
            };
            if let Some(other) = table.split_by(dst, Some(next)) {
                return Err(fail(
                    "split_route",
                    current,
                    dst,
                    format!(
                        "{}: part of {} goes to {} instead of {}",
                        self.name(current),
                        dst.to_net(),
                        self.name(other),
                        self.name(next)
                    ),
                ));
            }
            // The receiver's ingress check: the source must map back to the sender.
            let back = self.tables[next as usize].lookup(src);
            let split = self.tables[next as usize].split_by(src, Some(current));
            if back != Some(current) || split.is_some() {
                return Err(fail(
                    "ingress_rejected",
                    next,
                    src,
                    format!(
                        "{} -> {}: {} drops the packet from {} because source {} maps to {}",
                        self.name(from),
                        self.name(to),
                        self.name(next),
                        self.name(current),
                        src.to_net(),
                        back.or(split).map(|i| self.name(i).to_string()).unwrap_or_else(|| "no peer".into())
                    ),
                ));
            }
            if current != from {
                relays += 1;
            }
            current = next;
            if relays > limit || current == from {
                return Err(fail(
                    "routing_loop",
                    current,
                    dst,
                    format!("{} -> {}: the packet for {} loops", self.name(from), self.name(to), dst.to_net()),
                ));
            }
        }
    }

    fn follow_pairs_from(&self, from_range: std::ops::Range<usize>) -> (Proof, Vec<Problem>) {
        let mut proof = Proof::default();
        let mut problems = Vec::new();
        let nodes = &self.plan.nodes;
        // Per source: which destinations policy blocks (a flag per node, reset for each source).
        let mut blocked = vec![false; nodes.len()];
        for a in from_range {
            blocked.fill(false);
            for route in nodes[a].routes.iter().filter(|r| r.reach == Reach::Blocked) {
                if let Some(&b) = self.by_name.get(route.node.as_str()) {
                    blocked[b as usize] = true;
                }
            }
            for b in 0..nodes.len() {
                if a == b {
                    continue;
                }
                let expect_reach = !blocked[b];
                let mut pair_ok = true;
                let mut pair_relayed = false;
                for &src_id in &self.owned_ids[a] {
                    for &dst_id in &self.owned_ids[b] {
                        let (src, dst) = (&self.atoms[src_id as usize], &self.atoms[dst_id as usize]);
                        if src.v6 != dst.v6 {
                            continue;
                        }
                        proof.paths_followed += 1;
                        let resolved =
                            if self.use_resolved { self.follow_resolved(a as u32, src_id, dst_id) } else { None };
                        let followed = match resolved {
                            Some(relays) => Ok(relays),
                            None => self.follow(a as u32, b as u32, src, dst),
                        };
                        match (followed, expect_reach) {
                            (Ok(relays), true) => pair_relayed |= relays > 0,
                            (Err(p), true) => {
                                pair_ok = false;
                                problems.push(p);
                            }
                            (Ok(_), false) => {
                                pair_ok = false;
                                problems.push(Problem {
                                    code: "policy_violation",
                                    pair: Some((nodes[a].name.clone(), nodes[b].name.clone())),
                                    hop: None,
                                    prefix: Some(dst.to_net()),
                                    message: format!(
                                        "{} can reach {} at {} although policy blocks the pair",
                                        nodes[a].name,
                                        nodes[b].name,
                                        dst.to_net()
                                    ),
                                });
                            }
                            (Err(_), false) => {}
                        }
                    }
                }
                if pair_ok {
                    if expect_reach {
                        proof.pairs_proven += 1;
                        proof.relayed_pairs += usize::from(pair_relayed);
                    } else {
                        proof.pairs_blocked += 1;
                    }
                }
            }
        }
        (proof, problems)
    }

    /// Every ordered pair, split over the available cores.
    fn follow_all_pairs(&self) -> (Proof, Vec<Problem>) {
        let n = self.plan.nodes.len();
        let workers = crate::parallel::worker_threads();
        if n < 64 || workers < 2 {
            return self.follow_pairs_from(0..n);
        }
        let chunk = n.div_ceil(workers);
        let results: Vec<(Proof, Vec<Problem>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let range = (w * chunk).min(n)..((w + 1) * chunk).min(n);
                    scope.spawn(move || self.follow_pairs_from(range))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("verification worker panicked")).collect()
        });
        let mut proof = Proof::default();
        let mut problems = Vec::new();
        for (p, mut probs) in results {
            proof.pairs_proven += p.pairs_proven;
            proof.relayed_pairs += p.relayed_pairs;
            proof.pairs_blocked += p.pairs_blocked;
            proof.paths_followed += p.paths_followed;
            problems.append(&mut probs);
        }
        (proof, problems)
    }
}

/// Checks each link once: both sides list each other, agree on the preshared key, one can dial the other.
fn link_checks(plan: &Plan, world: &World<'_>, problems: &mut Vec<Problem>) {
    let n = plan.nodes.len();
    // back[b * n + a] = index of a's entry in b's peers, so the reverse entry is one array read.
    const NONE: u32 = u32::MAX;
    let mut back = vec![NONE; n * n];
    for (b, targets) in world.peer_nodes.iter().enumerate() {
        for (entry, target) in targets.iter().enumerate() {
            if let Some(a) = target {
                back[b * n + *a as usize] = entry as u32;
            }
        }
    }
    // Each node's entries are checked on their own (spread over the cores); problems come out in node
    // order. The entries are read from the compact link ends; names only when there is a problem.
    let per_node_problems = per_node(n, |a| {
        let mut problems = Vec::new();
        for (entry, (end, target)) in world.link_ends[a].iter().zip(&world.peer_nodes[a]).enumerate() {
            let Some(b) = target.map(|t| t as usize) else { continue };
            let (node, other) = (&plan.nodes[a], &plan.nodes[b]);
            let pair = || Some((node.name.clone(), other.name.clone()));
            let back_entry = back[b * n + a];
            if back_entry == NONE {
                problems.push(Problem {
                    pair: pair(),
                    hop: Some(other.name.clone()),
                    prefix: None,
                    code: "peer_not_mutual",
                    message: format!(
                        "{} lists {} as a peer but {} does not list {}",
                        node.name, other.name, other.name, node.name
                    ),
                });
                continue;
            }
            // Report each link once, from the side that comes first.
            if a > b {
                continue;
            }
            let reverse = &world.link_ends[b][back_entry as usize];
            let keys_differ = match (end.has_preshared_key, reverse.has_preshared_key) {
                (false, false) => false,
                (true, true) => world.preshared_key(a, entry) != world.preshared_key(b, back_entry as usize),
                _ => true,
            };
            if keys_differ {
                problems.push(Problem {
                    pair: pair(),
                    hop: None,
                    prefix: None,
                    code: "preshared_key_mismatch",
                    message: format!("{} and {} use different preshared keys for each other", node.name, other.name),
                });
            }
            if !end.has_endpoint && !reverse.has_endpoint {
                problems.push(Problem {
                    pair: pair(),
                    hop: None,
                    prefix: None,
                    code: "no_endpoint",
                    message: format!(
                        "{} and {} are peers but neither knows an endpoint for the other, so no handshake can start",
                        node.name, other.name
                    ),
                });
            }
        }
        problems
    });
    problems.extend(per_node_problems.into_iter().flatten());
}
