//! [`DestTrie`]: a path-compressed binary trie over every destination of a mesh (node addresses,
//! subnets behind nodes) and its networks (anchors). Built once per plan and shared by every node's
//! AllowedIPs computation, which only changes the labels on the leaves.

use super::prefix::Prefix;

/// Marks an absent child.
pub const NO_CHILD: u32 = u32::MAX;

/// One trie node.
#[derive(Debug, Clone)]
pub struct TrieNode {
    /// The node's prefix.
    pub prefix: Prefix,
    /// Children by the bit after the prefix (index into [`DestTrie::nodes`], or [`NO_CHILD`]).
    pub children: [u32; 2],
    /// The destination ("atom") this node stands for, if any: an index into the caller's atom list.
    pub atom: Option<u32>,
    /// Whether this node is a mesh network.
    pub anchor: bool,
    /// Whether this node is a mesh network or lies inside one (so its empty space is mesh space).
    pub inside_anchor: bool,
}

/// The trie (two roots: IPv4 and IPv6) plus a post-order listing for bottom-up passes.
#[derive(Debug, Clone)]
pub struct DestTrie {
    /// All nodes; `roots` index into it.
    pub nodes: Vec<TrieNode>,
    /// Root of the IPv4 tree (`0.0.0.0/0`) and of the IPv6 tree (`::/0`).
    pub roots: [u32; 2],
    /// Every node, children before parents.
    pub post_order: Vec<u32>,
}

impl DestTrie {
    /// Builds the trie from the mesh networks (`anchors`) and the destinations (`atoms`). Atoms must be
    /// disjoint from each other and either inside an anchor or disjoint from all anchors (the model's
    /// validation guarantees it).
    pub fn build(anchors: &[Prefix], atoms: &[Prefix]) -> DestTrie {
        let mut trie = DestTrie {
            nodes: vec![new_node(Prefix::root(false)), new_node(Prefix::root(true))],
            roots: [0, 1],
            post_order: Vec::new(),
        };
        for anchor in anchors {
            let idx = trie.insert(*anchor);
            trie.nodes[idx as usize].anchor = true;
        }
        for (i, atom) in atoms.iter().enumerate() {
            let idx = trie.insert(*atom);
            trie.nodes[idx as usize].atom = Some(i as u32);
        }
        trie.finish();
        trie
    }

    /// Inserts `prefix`, splitting compressed edges as needed; returns its node.
    fn insert(&mut self, prefix: Prefix) -> u32 {
        let mut cur = self.roots[usize::from(prefix.v6)];
        loop {
            let node_prefix = self.nodes[cur as usize].prefix;
            if node_prefix == prefix {
                return cur;
            }
            let bit = prefix.bit(node_prefix.len);
            let child = self.nodes[cur as usize].children[bit];
            if child == NO_CHILD {
                let leaf = self.push(prefix);
                self.nodes[cur as usize].children[bit] = leaf;
                return leaf;
            }
            let child_prefix = self.nodes[child as usize].prefix;
            if child_prefix.contains(&prefix) {
                cur = child;
                continue;
            }
            let common = child_prefix.common_len(&prefix);
            if common == prefix.len {
                // The new prefix sits between `cur` and `child`.
                let mid = self.push(prefix);
                self.nodes[mid as usize].children[child_prefix.bit(prefix.len)] = child;
                self.nodes[cur as usize].children[bit] = mid;
                return mid;
            }
            let branch = self.push(prefix.truncate(common));
            let leaf = self.push(prefix);
            self.nodes[branch as usize].children[child_prefix.bit(common)] = child;
            self.nodes[branch as usize].children[prefix.bit(common)] = leaf;
            self.nodes[cur as usize].children[bit] = branch;
            return leaf;
        }
    }

    fn push(&mut self, prefix: Prefix) -> u32 {
        self.nodes.push(new_node(prefix));
        (self.nodes.len() - 1) as u32
    }

    /// Propagates `inside_anchor` down and records the post order.
    fn finish(&mut self) {
        let mut order = Vec::with_capacity(self.nodes.len());
        for root in self.roots {
            // (node, children pushed?)
            let mut stack = vec![(root, false)];
            while let Some((idx, expanded)) = stack.pop() {
                if expanded {
                    order.push(idx);
                    continue;
                }
                stack.push((idx, true));
                let node = &self.nodes[idx as usize];
                let inside = node.anchor || node.inside_anchor;
                let children = node.children;
                self.nodes[idx as usize].inside_anchor = inside;
                for child in children.into_iter().rev() {
                    if child != NO_CHILD {
                        self.nodes[child as usize].inside_anchor = inside;
                        stack.push((child, false));
                    }
                }
            }
        }
        self.post_order = order;
    }
}

fn new_node(prefix: Prefix) -> TrieNode {
    TrieNode { prefix, children: [NO_CHILD; 2], atom: None, anchor: false, inside_anchor: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Prefix {
        Prefix::from_net(&text.parse().unwrap())
    }

    #[test]
    fn builds_a_compressed_trie() {
        let trie = DestTrie::build(
            &[p("10.88.0.0/24")],
            &[p("10.88.0.1/32"), p("10.88.0.12/32"), p("10.88.0.13/32"), p("192.168.1.0/24")],
        );
        // Every atom reachable, post order covers every node once, children before parents.
        assert_eq!(trie.post_order.len(), trie.nodes.len());
        let mut seen = vec![false; trie.nodes.len()];
        for &idx in &trie.post_order {
            for child in trie.nodes[idx as usize].children {
                if child != NO_CHILD {
                    assert!(seen[child as usize]);
                    assert!(trie.nodes[idx as usize].prefix.contains(&trie.nodes[child as usize].prefix));
                }
            }
            seen[idx as usize] = true;
        }
        let atoms: Vec<_> = trie.nodes.iter().filter(|n| n.atom.is_some()).collect();
        assert_eq!(atoms.len(), 4);
        assert!(atoms.iter().filter(|n| n.inside_anchor).count() == 3);
    }
}
