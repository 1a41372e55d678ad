//! From a [`Plan`] to files: each node's [`WgConfig`], rendered as wg-quick or `wg setconf` text, and
//! written to a directory (0700) as `<node>.conf` files (0600, atomically).

use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use crate::config::{render_interface, render_peer, Dialect, InterfaceSection, PeerSection, PeerView, WgConfig};
use crate::error::MeshError;
use crate::fsutil;
use crate::plan::{KeySource, NodePlan, PeerPlan, Plan};

/// The text formats a node's configuration can be rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConfigFormat {
    /// A wg-quick file (`wg-quick up FILE`).
    #[default]
    WgQuick,
    /// The `wg setconf` / `wg syncconf` dialect (no Address, DNS, hooks…).
    Setconf,
}

impl ConfigFormat {
    /// Parses `wg-quick` or `setconf`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "wg-quick" | "wgquick" | "conf" => Some(ConfigFormat::WgQuick),
            "setconf" | "wg" => Some(ConfigFormat::Setconf),
            _ => None,
        }
    }
}

/// The command a relay's PostUp runs to forward IPv4 between peers of its interface.
pub const FORWARD_IPV4_HOOK: &str = "sysctl -q -w net.ipv4.conf.%i.forwarding=1";
/// The command a relay's PostUp runs to forward IPv6 (IPv6 forwarding is host-wide on Linux).
pub const FORWARD_IPV6_HOOK: &str = "sysctl -q -w net.ipv6.conf.all.forwarding=1";

/// The PostUp command that loads a private key kept on the node itself.
pub fn load_key_hook(path: &str) -> String {
    format!("wg set %i private-key {path}")
}

/// The `[Interface]` section of one node of a plan: its key (or the PostUp loading it on the node),
/// addresses, port, MTU, DNS, table, fwmark, and the hooks (forwarding for relays, then its own).
fn interface_section(node: &NodePlan) -> Result<InterfaceSection, crate::Error> {
    let mut post_up = Vec::new();
    let private_key = match &node.private_key {
        KeySource::Inline(key) => Some(key.clone()),
        KeySource::OnNode(path) => {
            post_up.push(load_key_hook(path));
            None
        }
        KeySource::Unknown => return Err(MeshError::MissingKey { node: node.name.to_string(), what: "private key" }.into()),
    };
    if node.forwarding_hooks {
        if node.addresses.iter().any(|a| a.addr().is_ipv4()) {
            post_up.push(FORWARD_IPV4_HOOK.to_string());
        }
        if node.addresses.iter().any(|a| a.addr().is_ipv6()) {
            post_up.push(FORWARD_IPV6_HOOK.to_string());
        }
    }
    post_up.extend(node.post_up.iter().cloned());
    Ok(InterfaceSection {
        private_key,
        listen_port: node.listen_port,
        fwmark: node.fwmark,
        addresses: node.addresses.clone(),
        dns: node.dns.clone(),
        mtu: node.mtu,
        table: node.table.clone(),
        pre_up: node.pre_up.clone(),
        post_up,
        pre_down: node.pre_down.clone(),
        post_down: node.post_down.clone(),
        save_config: None,
    })
}

fn peer_view(peer: &PeerPlan) -> PeerView<'_> {
    PeerView {
        name: Some(peer.name.as_str()),
        public_key: &peer.public_key,
        preshared_key: peer.preshared_key.as_ref(),
        allowed_ips: &peer.allowed_ips,
        endpoint: peer.endpoint.as_ref(),
        persistent_keepalive: peer.persistent_keepalive,
    }
}

/// The typed configuration of one node of a plan (what [`render_node`] writes).
pub fn node_config(node: &NodePlan) -> Result<WgConfig, crate::Error> {
    let peers = node
        .peers
        .iter()
        .map(|peer| PeerSection {
            name: Some(peer.name.to_string()),
            public_key: peer.public_key,
            preshared_key: peer.preshared_key.clone(),
            allowed_ips: peer.allowed_ips.clone(),
            endpoint: peer.endpoint.clone(),
            persistent_keepalive: peer.persistent_keepalive,
        })
        .collect();
    Ok(WgConfig { interface: interface_section(node)?, peers })
}

/// Renders one node's configuration text (straight from the plan, without copying its peers).
pub fn render_node(node: &NodePlan, format: ConfigFormat) -> Result<String, crate::Error> {
    render_node_with(node, format, None).map(|rendered| rendered.text)
}

/// `[Peer]` sections already rendered for one plan, shared by the threads rendering its nodes: in a mesh
/// most nodes see a given peer with the same key, AllowedIPs, endpoint and keepalive, so its section is
/// rendered once and copied into every other config that has it unchanged (a full mesh of N nodes
/// renders N sections instead of N×(N−1)). Sections with a preshared key are never kept.
struct PeerSections<'p> {
    /// Peer name → slot.
    slot_of: rustc_hash::FxHashMap<&'p str, usize>,
    /// The first section rendered for each node as a peer, with the plan entry it was rendered from.
    slots: Vec<OnceLock<(&'p PeerPlan, String)>>,
}

impl<'p> PeerSections<'p> {
    fn new(plan: &'p Plan) -> Self {
        PeerSections {
            slot_of: plan.nodes.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect(),
            slots: (0..plan.nodes.len()).map(|_| OnceLock::new()).collect(),
        }
    }

    fn slot(&self, peer: &PeerPlan) -> Option<&OnceLock<(&'p PeerPlan, String)>> {
        if peer.preshared_key.is_some() {
            return None;
        }
        self.slot_of.get(peer.name.as_str()).map(|&i| &self.slots[i])
    }
}

/// Whether two plan entries render the same `[Peer]` section.
fn same_section(a: &PeerPlan, b: &PeerPlan) -> bool {
    a.name == b.name
        && a.public_key == b.public_key
        && a.preshared_key.is_none()
        && b.preshared_key.is_none()
        && a.persistent_keepalive == b.persistent_keepalive
        && a.allowed_ips == b.allowed_ips
        && a.endpoint == b.endpoint
}

/// Renders one node, knowing which prefix of the text holds its secrets (for wiping after a write),
/// reusing and filling `sections` when given.
fn render_node_with<'p>(
    node: &'p NodePlan,
    format: ConfigFormat,
    sections: Option<&PeerSections<'p>>,
) -> Result<fsutil::SecretText, crate::Error> {
    let interface = interface_section(node)?;
    let dialect = match format {
        ConfigFormat::WgQuick => Dialect::WgQuick,
        ConfigFormat::Setconf => Dialect::SetConf,
    };
    let mut text = String::with_capacity(512 + 200 * node.peers.len());
    render_interface(&mut text, &interface, dialect)?;
    let mut secret_len = text.len();
    for (index, peer) in node.peers.iter().enumerate() {
        text.push('\n');
        let slot = sections.and_then(|s| s.slot(peer));
        if let Some((_, section)) = slot.and_then(|slot| slot.get()).filter(|(seen, _)| same_section(seen, peer)) {
            text.push_str(section);
            continue;
        }
        let start = text.len();
        render_peer(&mut text, peer_view(peer), index)?;
        if peer.preshared_key.is_some() {
            secret_len = text.len();
        }
        if let Some(slot) = slot {
            if slot.get().is_none() {
                let _ = slot.set((peer, text[start..].to_string()));
            }
        }
    }
    Ok(fsutil::SecretText { text, secret_len })
}

/// Renders every node (in parallel over the available cores), in plan order.
pub fn render_all(plan: &Plan, format: ConfigFormat) -> Result<Vec<String>, crate::Error> {
    let mut out = vec![String::new(); plan.nodes.len()];
    render_each(plan, format, |index, text| {
        out[index] = text;
        Ok(())
    })?;
    Ok(out)
}

/// Renders every node on worker threads (one per available core, at most 8) and hands each text to
/// `consume` on the calling thread, in plan order, as soon as it and every text before it are ready.
/// Consuming therefore overlaps with rendering: a language binding converts texts into its own strings
/// while the rest are still being rendered. The first error — from rendering or from `consume` — stops
/// the workers and is returned; `consume` is not called again after it.
pub fn render_each<F>(plan: &Plan, format: ConfigFormat, mut consume: F) -> Result<(), crate::Error>
where
    F: FnMut(usize, String) -> Result<(), crate::Error>,
{
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;

    let n = plan.nodes.len();
    let workers = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).min(8);
    let sections = PeerSections::new(plan);
    if n < 16 || workers < 2 {
        for (index, node) in plan.nodes.iter().enumerate() {
            consume(index, render_node_with(node, format, Some(&sections))?.text)?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel::<(usize, Result<String, crate::Error>)>();
        for _ in 0..workers {
            let sender = sender.clone();
            let (next, stop, sections) = (&next, &stop, &sections);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= n || stop.load(Ordering::Relaxed) {
                    break;
                }
                let text = render_node_with(&plan.nodes[index], format, Some(sections)).map(|rendered| rendered.text);
                if sender.send((index, text)).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        // Texts arrive in any order; hand them out in plan order.
        let mut waiting: BTreeMap<usize, String> = BTreeMap::new();
        let mut emitted = 0;
        let result = (|| {
            for (index, text) in receiver.iter() {
                waiting.insert(index, text?);
                while let Some(text) = waiting.remove(&emitted) {
                    consume(emitted, text)?;
                    emitted += 1;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        result
    })
}

/// Renders every node and writes `<dir>/<node>.conf` for each: the directory is created (or tightened)
/// to 0700, each file written with mode 0600 to a synced temporary, and only when every node rendered
/// and every temporary was written are they renamed into place — so an error leaves the directory as it
/// was. Returns the paths written.
pub fn write_configs(plan: &Plan, dir: &Path, format: ConfigFormat) -> Result<Vec<PathBuf>, crate::Error> {
    write_configs_gated(plan, dir, format, || Ok(()))
}

/// [`write_configs`] for a plan not yet proven: [`crate::verify`] runs while the configs are rendered
/// and written to temporaries, and they are renamed into place only if the plan is proven — the same
/// result as `verify(plan)?` followed by `write_configs`, in about the time of the slower of the two.
/// A plan with problems returns verify's error and leaves the directory as it was.
pub fn write_proven_configs(plan: &Plan, dir: &Path, format: ConfigFormat) -> Result<Vec<PathBuf>, crate::Error> {
    write_configs_gated(plan, dir, format, || crate::verify(plan).map(drop).map_err(Into::into))
}

fn write_configs_gated<G>(plan: &Plan, dir: &Path, format: ConfigFormat, gate: G) -> Result<Vec<PathBuf>, crate::Error>
where
    G: FnOnce() -> Result<(), crate::Error> + Send,
{
    fsutil::create_private_dir(dir)?;
    let path_of = |node: &NodePlan| dir.join(format!("{}.conf", node.name));
    let sections = PeerSections::new(plan);
    fsutil::write_many_atomic_gated(
        plan.nodes.len(),
        |i| Ok((path_of(&plan.nodes[i]), render_node_with(&plan.nodes[i], format, Some(&sections))?)),
        fsutil::SECRET_FILE_MODE,
        gate,
    )?;
    Ok(plan.nodes.iter().map(path_of).collect())
}
