//! From a [`Plan`] to files: each node's [`WgConfig`], rendered as wg-quick or `wg setconf` text, and
//! written to a directory (0700) as `<node>.conf` files (0600, atomically).

use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use crate::config::{render_interface, render_peer, Dialect, InterfaceSection, PeerSection, PeerView, WgConfig};
use crate::error::MeshError;
use crate::fsutil;
use crate::mesh::model::Mesh;
use crate::plan::{KeySource, NodePlan, PeerPlan, Plan, Planner};
use crate::verify::{Interface, InterfaceScratch, Proof};

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
        KeySource::Unknown => {
            return Err(MeshError::MissingKey { node: node.name.to_string(), what: "private key" }.into())
        }
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
struct PeerSections<'n> {
    /// Peer name → slot.
    slot_of: rustc_hash::FxHashMap<&'n str, usize>,
    /// The first section rendered for each node as a peer, with what it was rendered from.
    slots: Vec<OnceLock<(SectionSource, String)>>,
}

/// What a kept `[Peer]` section was rendered from (the peer's name is its slot's): an owned copy, so
/// sections can be shared while the node plans they came from are still being made or handed on.
#[derive(PartialEq, Eq)]
struct SectionSource {
    public_key: crate::keys::PublicKey,
    persistent_keepalive: Option<u16>,
    allowed_ips: Vec<ipnet::IpNet>,
    endpoint: Option<crate::mesh::endpoint::Endpoint>,
}

impl SectionSource {
    fn of(peer: &PeerPlan) -> Self {
        SectionSource {
            public_key: peer.public_key,
            persistent_keepalive: peer.persistent_keepalive,
            allowed_ips: peer.allowed_ips.clone(),
            endpoint: peer.endpoint.clone(),
        }
    }

    /// Whether `peer` (in the same slot, so with the same name) renders the same section.
    fn matches(&self, peer: &PeerPlan) -> bool {
        peer.preshared_key.is_none()
            && self.public_key == peer.public_key
            && self.persistent_keepalive == peer.persistent_keepalive
            && self.allowed_ips == peer.allowed_ips
            && self.endpoint == peer.endpoint
    }
}

impl<'n> PeerSections<'n> {
    /// Empty sections for the nodes called `names`.
    fn new<I: ExactSizeIterator<Item = &'n str>>(names: I) -> Self {
        let count = names.len();
        PeerSections {
            slot_of: names.enumerate().map(|(i, name)| (name, i)).collect(),
            slots: (0..count).map(|_| OnceLock::new()).collect(),
        }
    }

    fn slot(&self, peer: &PeerPlan) -> Option<&OnceLock<(SectionSource, String)>> {
        if peer.preshared_key.is_some() {
            return None;
        }
        self.slot_of.get(peer.name.as_str()).map(|&i| &self.slots[i])
    }
}

/// Renders one node, knowing which prefix of the text holds its secrets (for wiping after a write),
/// reusing and filling `sections` when given.
fn render_node_with(
    node: &NodePlan,
    format: ConfigFormat,
    sections: Option<&PeerSections<'_>>,
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
        if let Some((_, section)) = slot.and_then(|slot| slot.get()).filter(|(seen, _)| seen.matches(peer)) {
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
                let _ = slot.set((SectionSource::of(peer), text[start..].to_string()));
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
    let workers = crate::parallel::worker_threads();
    let sections = PeerSections::new(plan.nodes.iter().map(|node| node.name.as_str()));
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

/// Plans `mesh`, proves the plan and writes every node's `<dir>/<node>.conf`, in one pass: planning
/// threads (one per core) plan and render the nodes in order, writer threads flush each config to a
/// synced temporary as soon as it is rendered, the plan is proven as soon as every interface is planned
/// (while the last files are still being flushed), and the files are renamed into place only if it is
/// proven. The same files and errors as `write_proven_configs(&plan(mesh)?, dir, format)`, sooner:
/// writing, which is mostly waiting for the disk, starts before planning ends. Returns the plan and the
/// paths written.
pub fn write_mesh_configs(mesh: &Mesh, dir: &Path, format: ConfigFormat) -> Result<(Plan, Vec<PathBuf>), crate::Error> {
    let (plan, _, paths) = plan_prove_write(mesh, dir, format, KeepPeers::Yes)?;
    Ok((plan, paths))
}

/// [`write_mesh_configs`] keeping no plan: each node's peer entries are dropped as soon as its config is
/// rendered and what the proof needs from them is taken, so memory stays near the proof's compact tables
/// instead of growing with every pair (a 1000-node full mesh has 999,000 peer entries). The same files
/// and errors; returns what was proven and the paths written. What `wiremesh render --out` uses.
pub fn write_mesh_configs_lean(
    mesh: &Mesh,
    dir: &Path,
    format: ConfigFormat,
) -> Result<(Proof, Vec<PathBuf>), crate::Error> {
    let (_, proof, paths) = plan_prove_write(mesh, dir, format, KeepPeers::No)?;
    Ok((proof, paths))
}

/// Whether [`plan_prove_write`] keeps each node's peer entries in the plan it returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeepPeers {
    Yes,
    No,
}

/// The one pass behind [`write_mesh_configs`] and [`write_mesh_configs_lean`]; with [`KeepPeers::No`]
/// the plan returned has no peer entries, and of its routes only the blocked ones.
fn plan_prove_write(
    mesh: &Mesh,
    dir: &Path,
    format: ConfigFormat,
    keep: KeepPeers,
) -> Result<(Plan, Proof, Vec<PathBuf>), crate::Error> {
    let planner = Planner::new(mesh, &[])?;
    let created = fsutil::create_private_dir_undoable(dir)?;
    let n = mesh.nodes.len();
    let paths: Vec<PathBuf> = mesh.nodes.iter().map(|node| config_path(dir, node.name.as_str())).collect();
    let sections = PeerSections::new(mesh.nodes.iter().map(|node| node.name.as_str()));
    let rendered = Rendered::new(n);
    let proven: Mutex<Option<(Plan, Proof)>> = Mutex::new(None);
    let by_key = crate::verify::KeyIndex::new(planner.keys().iter());
    let (planner, sections, targets, rendered_ref, proven_slot, by_key) =
        (&planner, &sections, &paths, &rendered, &proven, &by_key);
    fsutil::write_many_atomic_gated(
        n,
        |i| Ok((targets[i].clone(), rendered_ref.take(i)?)),
        fsutil::SECRET_FILE_MODE,
        move || {
            let next = AtomicUsize::new(0);
            let workers = crate::parallel::worker_threads();
            let mut planned: Vec<(usize, NodePlan, Interface)> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        let next = &next;
                        scope.spawn(move || {
                            // Should this thread unwind, the writers waiting for its nodes are told.
                            let _abandon = rendered_ref.abandon_on_unwind();
                            let mut worker = planner.worker();
                            let mut scratch = InterfaceScratch::default();
                            let mut mine = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                if i >= n {
                                    break mine;
                                }
                                rendered_ref.wait_for_room(i);
                                let node = worker.node(planner, i);
                                rendered_ref.put(i, render_node_with(&node, format, Some(sections)));
                                // What the proof needs from the node, taken while its peers are in cache.
                                let mut interface = Interface::new(&node, by_key, &mut scratch);
                                let mut node = node;
                                if keep == KeepPeers::No {
                                    interface.keep_preshared_keys(std::mem::take(&mut node.peers));
                                    // Of the per-destination routes, the proof reads only the blocked ones.
                                    node.routes.retain(|route| route.reach == crate::plan::Reach::Blocked);
                                }
                                mine.push((i, node, interface));
                            }
                        })
                    })
                    .collect();
                handles.into_iter().flat_map(|h| h.join().expect("planning thread panicked")).collect()
            });
            planned.sort_unstable_by_key(|(i, _, _)| *i);
            let (nodes, interfaces): (Vec<NodePlan>, Vec<Interface>) =
                planned.into_iter().map(|(_, node, interface)| (node, interface)).unzip();
            let plan = planner.finish(nodes);
            // The interfaces were built against the planner's keys, which are the plan's.
            debug_assert!(plan.nodes.iter().map(|node| &node.public_key).eq(planner.keys()));
            let proof = crate::verify::verify_prepared(&plan, interfaces)?;
            *proven_slot.lock().expect("proven plan") = Some((plan, proof));
            Ok(())
        },
    )
    // Nothing landed: a directory made for these files goes too.
    .inspect_err(|_| created.undo())?;
    let (plan, proof) =
        proven.into_inner().expect("proven plan").expect("the gate proved the plan before the files landed");
    Ok((plan, proof, paths))
}

/// Configs rendered by the planning threads of [`write_mesh_configs`], waiting for a writer. One lock
/// and condition variable per config: a rendered config wakes only the writer waiting for it.
struct Rendered {
    slots: Vec<(Mutex<Option<RenderedText>>, Condvar)>,
    /// A planning thread unwound: the configs it was to render never come.
    abandoned: AtomicBool,
    /// How many configs writers have taken, and the planners waiting for them to take more: planning
    /// stays at most [`Rendered::lead`] configs ahead, so rendered texts (135 KB each in a 1000-node
    /// mesh) never pile up in memory while the disk catches up.
    taken: (Mutex<usize>, Condvar),
    lead: usize,
}

type RenderedText = Result<fsutil::SecretText, crate::Error>;

/// Marks [`Rendered`] abandoned when dropped while its thread unwinds, and wakes every writer.
struct AbandonOnUnwind<'r>(&'r Rendered);

impl Drop for AbandonOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abandoned.store(true, Ordering::SeqCst);
            for (slot, ready) in &self.0.slots {
                // Taking the lock orders the flag before a writer's next check.
                drop(slot.lock().unwrap_or_else(|e| e.into_inner()));
                ready.notify_all();
            }
        }
    }
}

impl Rendered {
    fn new(count: usize) -> Self {
        Rendered {
            slots: (0..count).map(|_| (Mutex::new(None), Condvar::new())).collect(),
            abandoned: AtomicBool::new(false),
            taken: (Mutex::new(0), Condvar::new()),
            lead: 2 * fsutil::writer_threads(count).max(1),
        }
    }

    /// Waits until config `index` is within [`Rendered::lead`] of the configs already taken.
    fn wait_for_room(&self, index: usize) {
        let (taken, room) = &self.taken;
        let mut taken = taken.lock().unwrap_or_else(|e| e.into_inner());
        while index >= *taken + self.lead {
            taken = room.wait(taken).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn abandon_on_unwind(&self) -> AbandonOnUnwind<'_> {
        AbandonOnUnwind(self)
    }

    fn put(&self, index: usize, text: RenderedText) {
        let (slot, ready) = &self.slots[index];
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
        ready.notify_one();
    }

    /// Waits for config `index` to be rendered and takes it.
    fn take(&self, index: usize) -> RenderedText {
        let (slot, ready) = &self.slots[index];
        let mut text = slot.lock().unwrap_or_else(|e| e.into_inner());
        let result = loop {
            if let Some(text) = text.take() {
                break text;
            }
            if self.abandoned.load(Ordering::SeqCst) {
                break Err(
                    MeshError::InvalidValue { field: "plan".into(), reason: "a planning thread failed".into() }.into()
                );
            }
            text = ready.wait(text).unwrap_or_else(|e| e.into_inner());
        };
        drop(text);
        // Done with this config either way: make room for the planners.
        let (taken, room) = &self.taken;
        *taken.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        room.notify_all();
        result
    }
}

impl Drop for Rendered {
    /// Texts never written (after an error) still hold secrets: wipe them.
    fn drop(&mut self) {
        for (slot, _) in self.slots.drain(..) {
            if let Some(Ok(text)) = slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
                text.wipe();
            }
        }
    }
}

/// Where a node's config goes in an output directory: `<dir>/<node>.conf`.
fn config_path(dir: &Path, node: &str) -> PathBuf {
    dir.join(format!("{node}.conf"))
}

fn write_configs_gated<G>(plan: &Plan, dir: &Path, format: ConfigFormat, gate: G) -> Result<Vec<PathBuf>, crate::Error>
where
    G: FnOnce() -> Result<(), crate::Error> + Send,
{
    let created = fsutil::create_private_dir_undoable(dir)?;
    let path_of = |node: &NodePlan| config_path(dir, node.name.as_str());
    let sections = PeerSections::new(plan.nodes.iter().map(|node| node.name.as_str()));
    fsutil::write_many_atomic_gated(
        plan.nodes.len(),
        |i| Ok((path_of(&plan.nodes[i]), render_node_with(&plan.nodes[i], format, Some(&sections))?)),
        fsutil::SECRET_FILE_MODE,
        gate,
    )
    // Nothing landed: a directory made for these files goes too.
    .inspect_err(|_| created.undo())?;
    Ok(plan.nodes.iter().map(path_of).collect())
}
