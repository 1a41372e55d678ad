//! The fewest AllowedIPs prefixes that give one interface exactly its intended routing.
//!
//! Every destination of the mesh (a trie leaf, an "atom") gets a label for the interface being
//! planned: the index of the peer it must be routed to, or [`UNROUTED`] when it must reach no peer
//! (the node's own subnets, nodes policy keeps it from). Empty space inside the mesh networks (and the
//! node's own address) is [`DONT_CARE`] when the node has a default relay — any prefix may cover it, and
//! ties go to the relay, so a spoke's hub holds the covering /24 and later-added nodes are reachable
//! through it — and unrouted otherwise. Space outside the mesh networks and subnets is always unrouted.
//!
//! WireGuard matches AllowedIPs by longest prefix across all peers of an interface, so a wide prefix on
//! one peer can be overridden by narrower ones on others, but nothing can "un-route" a range once it is
//! covered. The minimum is computed by the ORTC dynamic programme (Draves et al., "Constructing optimal
//! IP routing tables", 1999) over the path-compressed trie, extended with unroutable regions: a subtree
//! containing an unrouted region can never be covered, so only its routed parts get prefixes. Ties
//! are broken toward narrower prefixes (a direct peer keeps its /32) and toward the fill relay.

use super::prefix::Prefix;
use super::trie::{DestTrie, NO_CHILD};

/// The label of a region that must not be routed to any peer.
pub const UNROUTED: u32 = u32::MAX;
/// The label of a region that may be routed anywhere or nowhere (unallocated mesh space, the node's own
/// address) — used when the node has a default relay, which such space then prefers.
pub const DONT_CARE: u32 = u32::MAX - 1;
/// Marks a label set as "every label" (the set of a don't-care region).
const ALL: u32 = u32::MAX;

/// The bottom-up state of a subtree. Label sets live in the minimiser's arena (`start..start + len`),
/// so an interface's whole pass allocates nothing once the buffers are warm.
#[derive(Debug, Clone, Copy)]
enum State {
    /// The subtree contains unrouted space: it can only inherit "unrouted"; the number is the cost of
    /// covering its routed parts.
    Tainted(u32),
    /// Fully routed: `m` prefixes suffice when the inherited label is in the set, `m + 1` otherwise.
    Labeled { m: u32, start: u32, len: u32 },
}

/// One half of a trie node: empty (a gap with one label), or a child reached after `gaps` skipped levels
/// whose sibling halves all carry `gap_label`.
enum Slot {
    Gap { half: Prefix, label: u32 },
    Child { idx: u32, half: Prefix, gaps: u8, gap_label: u32 },
}

/// Reusable working memory for [`Minimizer`]: keep one per thread and pass it to every interface.
#[derive(Debug, Default)]
pub struct Scratch {
    states: Vec<State>,
    arena: Vec<u32>,
}

/// Computes the placements for one interface: `(prefix, peer label)` pairs, at most one per prefix.
pub struct Minimizer<'a> {
    trie: &'a DestTrie,
    atom_labels: &'a [u32],
    fill: u32,
    scratch: &'a mut Scratch,
}

impl<'a> Minimizer<'a> {
    /// Runs the bottom-up pass for an interface with the given atom labels and fill label.
    pub fn new(trie: &'a DestTrie, atom_labels: &'a [u32], fill: u32, scratch: &'a mut Scratch) -> Self {
        scratch.states.clear();
        scratch.states.resize(trie.nodes.len(), State::Tainted(0));
        scratch.arena.clear();
        let mut minimizer = Minimizer { trie, atom_labels, fill, scratch };
        for &idx in &trie.post_order {
            let state = minimizer.node_state(idx);
            minimizer.scratch.states[idx as usize] = state;
        }
        minimizer
    }

    /// The minimal placements, in trie order.
    pub fn placements(&self, out: &mut Vec<(Prefix, u32)>) {
        for root in self.trie.roots {
            self.assign(root, UNROUTED, out);
        }
    }

    /// The total number of prefixes (for tests).
    #[cfg(test)]
    pub fn optimum(&self) -> u32 {
        self.trie.roots.iter().map(|&r| self.cost(self.scratch.states[r as usize], UNROUTED)).sum()
    }

    fn set(&self, start: u32, len: u32) -> &[u32] {
        &self.scratch.arena[start as usize..(start + len) as usize]
    }

    fn contains(&self, state: State, label: u32) -> bool {
        match state {
            State::Tainted(_) => false,
            State::Labeled { len: ALL, .. } => true,
            State::Labeled { start, len, .. } => self.set(start, len).binary_search(&label).is_ok(),
        }
    }

    fn cost(&self, state: State, inherited: u32) -> u32 {
        match state {
            State::Tainted(cost) => cost,
            State::Labeled { m, .. } => m + u32::from(!self.contains(state, inherited)),
        }
    }

    fn first_choice(&self, state: State) -> u32 {
        match state {
            State::Labeled { len: ALL, .. } => self.fill,
            State::Labeled { start, len, .. } => {
                if self.contains(state, self.fill) {
                    self.fill
                } else {
                    self.set(start, len)[0]
                }
            }
            State::Tainted(_) => UNROUTED,
        }
    }

    fn singleton(&mut self, label: u32, m: u32) -> State {
        let start = self.scratch.arena.len() as u32;
        self.scratch.arena.push(label);
        State::Labeled { m, start, len: 1 }
    }

    fn leaf(&mut self, label: u32) -> State {
        match label {
            UNROUTED => State::Tainted(0),
            DONT_CARE => State::Labeled { m: 0, start: 0, len: ALL },
            label => self.singleton(label, 0),
        }
    }

    fn gap_label(&self, idx: u32) -> u32 {
        if self.trie.nodes[idx as usize].inside_anchor && self.fill != UNROUTED {
            DONT_CARE
        } else {
            UNROUTED
        }
    }

    fn slots(&self, idx: u32) -> [Slot; 2] {
        let node = &self.trie.nodes[idx as usize];
        let gap_label = self.gap_label(idx);
        [0, 1].map(|bit| {
            let half = node.prefix.child(bit);
            match node.children[bit] {
                NO_CHILD => Slot::Gap { half, label: gap_label },
                child => {
                    let gaps = self.trie.nodes[child as usize].prefix.len - node.prefix.len - 1;
                    Slot::Child { idx: child, half, gaps, gap_label }
                }
            }
        })
    }

    fn is_leaf(&self, idx: u32) -> bool {
        let node = &self.trie.nodes[idx as usize];
        node.children == [NO_CHILD; 2] && (node.atom.is_some() || node.prefix.len == node.prefix.max_len())
    }

    fn node_state(&mut self, idx: u32) -> State {
        let node = &self.trie.nodes[idx as usize];
        if node.children == [NO_CHILD; 2] {
            if let Some(atom) = node.atom {
                return self.leaf(self.atom_labels[atom as usize]);
            }
            if node.prefix.len == node.prefix.max_len() {
                return self.leaf(self.gap_label(idx));
            }
        }
        let [left, right] = self.slots(idx);
        let left = self.slot_state(&left);
        let right = self.slot_state(&right);
        self.merge(left, right)
    }

    fn slot_state(&mut self, slot: &Slot) -> State {
        match *slot {
            Slot::Gap { label, .. } => self.leaf(label),
            Slot::Child { idx, gaps: 0, .. } => self.scratch.states[idx as usize],
            Slot::Child { idx, gaps, gap_label, .. } => {
                let child = self.scratch.states[idx as usize];
                if gap_label == UNROUTED {
                    return State::Tainted(self.cost(child, UNROUTED));
                }
                if gap_label == DONT_CARE {
                    return child;
                }
                match child {
                    // Each gap sibling needs its own prefix: nothing wider may cover the child.
                    State::Tainted(cost) => State::Tainted(cost + u32::from(gaps)),
                    State::Labeled { m, start, len } => {
                        if self.contains(child, gap_label) {
                            self.singleton(gap_label, m)
                        } else if gaps == 1 {
                            let single = self.singleton(gap_label, 0);
                            let State::Labeled { start: s2, .. } = single else { unreachable!() };
                            let (start, len) = self.union(start, len, s2, 1);
                            State::Labeled { m: m + 1, start, len }
                        } else {
                            self.singleton(gap_label, m + 1)
                        }
                    }
                }
            }
        }
    }

    fn merge(&mut self, left: State, right: State) -> State {
        match (left, right) {
            (State::Labeled { m: ml, start: sl, len: ll }, State::Labeled { m: mr, start: sr, len: lr }) => {
                let (start, len) = self.intersection(sl, ll, sr, lr);
                if len > 0 {
                    State::Labeled { m: ml + mr, start, len }
                } else {
                    let (start, len) = self.union(sl, ll, sr, lr);
                    State::Labeled { m: ml + mr + 1, start, len }
                }
            }
            (left, right) => State::Tainted(self.cost(left, UNROUTED) + self.cost(right, UNROUTED)),
        }
    }

    fn intersection(&mut self, sa: u32, la: u32, sb: u32, lb: u32) -> (u32, u32) {
        if la == ALL {
            return (sb, lb);
        }
        if lb == ALL {
            return (sa, la);
        }
        let start = self.scratch.arena.len();
        let (mut i, mut j) = (sa as usize, sb as usize);
        let (ea, eb) = ((sa + la) as usize, (sb + lb) as usize);
        while i < ea && j < eb {
            let (a, b) = (self.scratch.arena[i], self.scratch.arena[j]);
            match a.cmp(&b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    self.scratch.arena.push(a);
                    i += 1;
                    j += 1;
                }
            }
        }
        (start as u32, (self.scratch.arena.len() - start) as u32)
    }

    fn union(&mut self, sa: u32, la: u32, sb: u32, lb: u32) -> (u32, u32) {
        if la == ALL || lb == ALL {
            return (0, ALL);
        }
        let start = self.scratch.arena.len();
        let (mut i, mut j) = (sa as usize, sb as usize);
        let (ea, eb) = ((sa + la) as usize, (sb + lb) as usize);
        while i < ea || j < eb {
            let next = if j == eb || (i < ea && self.scratch.arena[i] < self.scratch.arena[j]) {
                i += 1;
                self.scratch.arena[i - 1]
            } else if i == ea || self.scratch.arena[j] < self.scratch.arena[i] {
                j += 1;
                self.scratch.arena[j - 1]
            } else {
                i += 1;
                j += 1;
                self.scratch.arena[i - 1]
            };
            self.scratch.arena.push(next);
        }
        (start as u32, (self.scratch.arena.len() - start) as u32)
    }

    fn slot_cost(&self, slot: &Slot, inherited: u32) -> u32 {
        match *slot {
            Slot::Gap { label, .. } => u32::from(label != UNROUTED && label != DONT_CARE && label != inherited),
            Slot::Child { idx, gaps: 0, .. } => self.cost(self.scratch.states[idx as usize], inherited),
            Slot::Child { idx, gaps, gap_label, .. } => {
                let child = self.scratch.states[idx as usize];
                if gap_label == UNROUTED || gap_label == DONT_CARE || inherited == gap_label {
                    return self.cost(child, inherited);
                }
                let one_wide = match child {
                    State::Tainted(_) => u32::MAX,
                    State::Labeled { .. } => 1 + self.cost(child, gap_label),
                };
                one_wide.min(u32::from(gaps) + self.cost(child, inherited))
            }
        }
    }

    fn assign(&self, idx: u32, inherited: u32, out: &mut Vec<(Prefix, u32)>) {
        let node = &self.trie.nodes[idx as usize];
        let state = self.scratch.states[idx as usize];
        let leaf = self.is_leaf(idx);
        let mut label = inherited;
        match state {
            State::Tainted(_) => debug_assert_eq!(inherited, UNROUTED),
            State::Labeled { m, .. } => {
                if !self.contains(state, inherited) {
                    // On a tie, a direct peer's prefix is pushed down (it keeps its /32) while the
                    // default relay's is placed as high as possible (it holds the covering network).
                    let place = leaf || {
                        let pushed: u32 = self.slots(idx).iter().map(|s| self.slot_cost(s, inherited)).sum();
                        pushed > m + 1
                            || (pushed == m + 1 && self.fill != UNROUTED && self.first_choice(state) == self.fill)
                    };
                    if place {
                        label = self.first_choice(state);
                        out.push((node.prefix, label));
                    }
                }
            }
        }
        if leaf {
            return;
        }
        for slot in self.slots(idx) {
            self.assign_slot(&slot, label, out);
        }
    }

    fn assign_slot(&self, slot: &Slot, inherited: u32, out: &mut Vec<(Prefix, u32)>) {
        match *slot {
            Slot::Gap { half, label } => {
                if label != UNROUTED && label != DONT_CARE && label != inherited {
                    out.push((half, label));
                }
            }
            Slot::Child { idx, gaps: 0, .. } => self.assign(idx, inherited, out),
            Slot::Child { idx, half, gaps, gap_label } => {
                if gap_label == UNROUTED || gap_label == DONT_CARE || inherited == gap_label {
                    return self.assign(idx, inherited, out);
                }
                let child = self.scratch.states[idx as usize];
                let one_wide = match child {
                    State::Tainted(_) => u32::MAX,
                    State::Labeled { .. } => 1 + self.cost(child, gap_label),
                };
                let per_gap = u32::from(gaps) + self.cost(child, inherited);
                if one_wide <= per_gap {
                    out.push((half, gap_label));
                    self.assign(idx, gap_label, out);
                } else {
                    let target = self.trie.nodes[idx as usize].prefix;
                    for len in half.len..target.len {
                        let sibling = target.truncate(len).child(1 - target.bit(len));
                        out.push((sibling, gap_label));
                    }
                    self.assign(idx, inherited, out);
                }
            }
        }
    }
}

/// The placements when every routed atom carries a label no other atom carries and nothing may be
/// covered beyond the atoms (no fill relay): then each peer needs at least one prefix, one per atom
/// reaches that minimum, and it is the narrowest — exactly what the full pass returns, without running
/// it. This is the common full mesh (one address per node, every pair direct), where the pass would
/// otherwise walk the whole trie for every interface. Returns `false`, leaving `out` untouched, when
/// the shortcut does not apply (labels shared by several atoms, a fill relay, don't-care atoms, nested
/// atoms); `seen` is scratch space.
pub fn one_prefix_per_label(
    trie: &DestTrie,
    atom_labels: &[u32],
    fill: u32,
    seen: &mut Vec<bool>,
    out: &mut Vec<(Prefix, u32)>,
) -> bool {
    if fill != UNROUTED {
        return false;
    }
    seen.clear();
    let start = out.len();
    for node in &trie.nodes {
        let Some(atom) = node.atom else { continue };
        let label = atom_labels[atom as usize];
        if label == UNROUTED {
            continue;
        }
        let index = label as usize;
        if label == DONT_CARE || node.children != [NO_CHILD; 2] || seen.get(index).copied().unwrap_or(false) {
            out.truncate(start);
            return false;
        }
        if index >= seen.len() {
            seen.resize(index + 1, false);
        }
        seen[index] = true;
        out.push((node.prefix, label));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> Prefix {
        Prefix::from_net(&text.parse().unwrap())
    }

    fn placements(min: &Minimizer<'_>) -> Vec<(Prefix, u32)> {
        let mut out = Vec::new();
        min.placements(&mut out);
        out
    }

    fn shown(placements: &[(Prefix, u32)]) -> Vec<String> {
        let mut v: Vec<String> = placements.iter().map(|(p, l)| format!("{}>{l}", p.to_net())).collect();
        v.sort();
        v
    }

    /// Longest-prefix match of `addr` over placements.
    fn lookup(placements: &[(Prefix, u32)], addr: &Prefix) -> u32 {
        placements
            .iter()
            .filter(|(p, _)| p.contains(addr))
            .max_by_key(|(p, _)| p.len)
            .map(|(_, l)| *l)
            .unwrap_or(UNROUTED)
    }

    #[test]
    fn spoke_gives_the_hub_the_covering_network() {
        // Node .11 reaches the hub (.1, peer 0) directly and .12/.13 through it; fill = hub.
        let atoms = [p("10.88.0.1/32"), p("10.88.0.11/32"), p("10.88.0.12/32"), p("10.88.0.13/32")];
        let trie = DestTrie::build(&[p("10.88.0.0/24")], &atoms);
        let labels = [0, 0, 0, 0]; // own address gets the fill label
        let mut scratch = Scratch::default();
        let min = Minimizer::new(&trie, &labels, 0, &mut scratch);
        assert_eq!(shown(&placements(&min)), ["10.88.0.0/24>0"]);
    }

    #[test]
    fn shortcut_declines_what_it_cannot_prove() {
        let atoms = [p("10.88.0.1/32"), p("10.88.0.11/32"), p("10.88.0.12/32")];
        let trie = DestTrie::build(&[p("10.88.0.0/24")], &atoms);
        let mut out = vec![(p("10.9.9.9/32"), 7)];
        // A fill relay, a shared label, a don't-care atom: all left to the full pass, `out` untouched.
        assert!(!one_prefix_per_label(&trie, &[0, 1, 2], 0, &mut Vec::new(), &mut out));
        assert!(!one_prefix_per_label(&trie, &[0, 1, 1], UNROUTED, &mut Vec::new(), &mut out));
        assert!(!one_prefix_per_label(&trie, &[0, DONT_CARE, 1], UNROUTED, &mut Vec::new(), &mut out));
        assert_eq!(out.len(), 1);
        assert!(one_prefix_per_label(&trie, &[0, UNROUTED, 1], UNROUTED, &mut Vec::new(), &mut out));
        assert_eq!(shown(&out[1..]), ["10.88.0.1/32>0", "10.88.0.12/32>1"]);
    }

    #[test]
    fn full_mesh_keeps_host_routes() {
        let atoms = [p("10.88.0.1/32"), p("10.88.0.11/32"), p("10.88.0.12/32"), p("10.88.0.13/32")];
        let trie = DestTrie::build(&[p("10.88.0.0/24")], &atoms);
        let labels = [0, UNROUTED, 1, 2];
        let mut scratch = Scratch::default();
        let min = Minimizer::new(&trie, &labels, UNROUTED, &mut scratch);
        assert_eq!(shown(&placements(&min)), ["10.88.0.1/32>0", "10.88.0.12/32>1", "10.88.0.13/32>2"]);
    }

    #[test]
    fn hybrid_relay_holds_the_network_direct_peers_hold_hosts() {
        // Node .11 (behind NAT): hub .1 is peer 0 and relays .13; .12 has an endpoint: peer 1.
        let atoms =
            [p("10.88.0.1/32"), p("10.88.0.11/32"), p("10.88.0.12/32"), p("10.88.0.13/32"), p("192.168.5.0/24")];
        let trie = DestTrie::build(&[p("10.88.0.0/24")], &atoms);
        let labels = [0, 0, 1, 0, 1];
        let mut scratch = Scratch::default();
        let min = Minimizer::new(&trie, &labels, 0, &mut scratch);
        assert_eq!(shown(&placements(&min)), ["10.88.0.0/24>0", "10.88.0.12/32>1", "192.168.5.0/24>1"]);
    }

    proptest! {
        /// Whatever the labels, the placements route every atom and every gap exactly as labelled,
        /// never route unrouted space, use the computed optimum, and never repeat a prefix.
        #[test]
        fn placements_route_exactly_and_optimally(
            hosts in proptest::collection::btree_set(0u8..64, 1..24),
            labels in proptest::collection::vec(prop_oneof![3 => 0u32..4, 1 => Just(UNROUTED), 1 => Just(DONT_CARE)], 24),
            fill in prop_oneof![0u32..4, Just(UNROUTED)],
        ) {
            let atoms: Vec<Prefix> = hosts.iter().map(|h| p(&format!("10.0.0.{h}/32"))).collect();
            let trie = DestTrie::build(&[p("10.0.0.0/26")], &atoms);
            let atom_labels = &labels[..atoms.len()];
            let mut scratch = Scratch::default();
            let min = Minimizer::new(&trie, atom_labels, fill, &mut scratch);
            let placements = placements(&min);
            prop_assert_eq!(placements.len() as u32, min.optimum());
            let mut seen = std::collections::HashSet::new();
            for (prefix, _) in &placements {
                prop_assert!(seen.insert(*prefix), "prefix {} placed twice", prefix.to_net());
            }
            let gap = if fill == UNROUTED { UNROUTED } else { DONT_CARE };
            for h in 0u8..64 {
                let addr = p(&format!("10.0.0.{h}/32"));
                let want = atoms.iter().position(|a| *a == addr).map(|i| atom_labels[i]).unwrap_or(gap);
                if want != DONT_CARE {
                    prop_assert_eq!(lookup(&placements, &addr), want, "address 10.0.0.{}", h);
                }
            }
            prop_assert_eq!(lookup(&placements, &p("10.0.0.64/32")), UNROUTED);
            prop_assert_eq!(lookup(&placements, &p("9.255.255.255/32")), UNROUTED);
        }

        /// Where the one-prefix-per-label shortcut applies, it gives exactly the full pass's placements.
        #[test]
        fn shortcut_matches_the_full_pass(
            hosts in proptest::collection::btree_set(0u8..64, 1..24),
            subnets in proptest::collection::btree_set(0u8..8, 0..4),
            order in proptest::collection::vec(0u32..40, 40),
            unrouted in proptest::collection::vec(prop::bool::weighted(0.2), 40),
        ) {
            // Hosts in 10.0.0.0/26 (adjacent ones tile wider prefixes), /29 subnets in 10.1.0.0/26.
            let mut atoms: Vec<Prefix> = hosts.iter().map(|h| p(&format!("10.0.0.{h}/32"))).collect();
            atoms.extend(subnets.iter().map(|s| p(&format!("10.1.0.{}/29", s * 8))));
            // Distinct labels (a permutation-like choice), some atoms unrouted.
            let mut used = std::collections::HashSet::new();
            let labels: Vec<u32> = atoms.iter().enumerate().map(|(i, _)| {
                let mut l = order[i];
                while !used.insert(l) { l += 40; }
                if unrouted[i] { UNROUTED } else { l }
            }).collect();
            let trie = DestTrie::build(&[p("10.0.0.0/26")], &atoms);
            let mut scratch = Scratch::default();
            let min = Minimizer::new(&trie, &labels, UNROUTED, &mut scratch);
            let mut fast = Vec::new();
            prop_assert!(one_prefix_per_label(&trie, &labels, UNROUTED, &mut Vec::new(), &mut fast));
            prop_assert_eq!(shown(&fast), shown(&placements(&min)));
        }

        /// On small instances the DP matches brute force over all sets of labelled prefixes.
        #[test]
        fn matches_brute_force(labels in proptest::collection::vec(prop_oneof![0u32..2, Just(UNROUTED), Just(DONT_CARE)], 4), fill in prop_oneof![0u32..2, Just(UNROUTED)], mask in 1u8..16) {
            let hosts: Vec<u8> = (0..4).filter(|h| mask & (1 << h) != 0).collect();
            let atoms: Vec<Prefix> = hosts.iter().map(|h| p(&format!("10.0.0.{h}/32"))).collect();
            let trie = DestTrie::build(&[p("10.0.0.0/30")], &atoms);
            let atom_labels = &labels[..atoms.len()];
            let mut scratch = Scratch::default();
            let min = Minimizer::new(&trie, atom_labels, fill, &mut scratch);
            let gap = if fill == UNROUTED { UNROUTED } else { DONT_CARE };
            let want: Vec<u32> = (0u8..4).map(|h| hosts.iter().position(|x| *x == h).map(|i| atom_labels[i]).unwrap_or(gap)).collect();
            // Candidate prefixes inside the /30: 7 of them, each unused or labelled 0 or 1.
            let candidates: Vec<Prefix> = (0..=2u8).flat_map(|extra| {
                let len = 30 + extra;
                (0..(1u32 << extra)).map(move |i| p(&format!("10.0.0.{}/{len}", i << (2 - extra))))
            }).collect();
            let mut best = u32::MAX;
            let mut assignment = vec![0u8; candidates.len()];
            loop {
                let placed: Vec<(Prefix, u32)> = candidates.iter().zip(&assignment).filter(|(_, a)| **a > 0).map(|(c, a)| (*c, u32::from(*a - 1))).collect();
                if (placed.len() as u32) < best && (0u8..4).all(|h| want[h as usize] == DONT_CARE || lookup(&placed, &p(&format!("10.0.0.{h}/32"))) == want[h as usize]) {
                    best = placed.len() as u32;
                }
                let mut i = 0;
                while i < assignment.len() && assignment[i] == 2 { assignment[i] = 0; i += 1; }
                if i == assignment.len() { break; }
                assignment[i] += 1;
            }
            prop_assert_eq!(placements(&min).len() as u32, best);
        }
    }
}
