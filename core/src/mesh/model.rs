//! The declarative mesh: [`Mesh`] = [`MeshSettings`] + [`Node`]s + [`Rule`]s.
//!
//! Serialised as TOML for people (`[mesh]`, `[[nodes]]`, `[[rules]]`) and JSON for programs, with the
//! same field names. Everything is validated when a mesh is loaded or built ([`Mesh::validate`]); private
//! keys are never serialised — a node names the file holding its key, or says that the key lives only on
//! the node itself.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::endpoint::Endpoint;
use super::name::{check_safe_value, Name};
use crate::error::MeshError;
use crate::keys::{PresharedKey, PrivateKey, PublicKey};

/// How pairs of nodes are connected when no [`Rule`] says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Topology {
    /// Every pair peers directly when at least one side has an endpoint; pairs where neither has one
    /// go through a relay both reach.
    #[default]
    FullMesh,
    /// Non-relays peer only with relays; relays peer with everyone and forward between spokes.
    HubAndSpoke,
}

impl Topology {
    /// The spelling used in mesh files: `full-mesh` or `hub-and-spoke`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::FullMesh => "full-mesh",
            Topology::HubAndSpoke => "hub-and-spoke",
        }
    }
}

/// How addresses are chosen for nodes that have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AllocationStrategy {
    /// The lowest free address of each network.
    #[default]
    Sequential,
    /// An address derived from the node's public key: stable whatever the order nodes are added.
    KeyDerived,
}

/// What a [`Rule`] makes of the pairs it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkPolicy {
    /// Peer directly when at least one side has an endpoint, otherwise through a relay.
    Direct,
    /// Always through a relay (pairs involving a relay itself peer directly with it).
    Relay,
    /// Not connected at all: neither side routes to the other.
    None,
}

/// A rule between two groups (`"*"` matches every node; a node name matches that node). The first
/// rule matching a pair, in either direction, decides how the pair is linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The two sides: group names, node names or `"*"`.
    pub between: [String; 2],
    /// How matching pairs are linked.
    pub link: LinkPolicy,
}

/// Mesh-wide settings: the `[mesh]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshSettings {
    /// The mesh's name.
    pub name: Name,
    /// The overlay networks: every node gets one address in each (dual-stack with one v4 and one v6).
    pub networks: Vec<IpNet>,
    /// The default way pairs connect.
    #[serde(default)]
    pub topology: Topology,
    /// Default `ListenPort` for nodes with neither their own nor an endpoint port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Keepalive interval (seconds) used by nodes behind NAT toward the peers they initiate to.
    #[serde(default = "default_keepalive", skip_serializing_if = "is_default_keepalive")]
    pub persistent_keepalive: u16,
    /// Default interface MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Default DNS servers / search domains for wg-quick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// Give every pair a preshared key (derived from a mesh secret, so stable across runs).
    #[serde(default, skip_serializing_if = "is_false")]
    pub preshared_keys: bool,
    /// File holding the mesh secret from which pair preshared keys are derived (relative to the mesh
    /// file). Created on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_key_seed_file: Option<String>,
    /// Emit the nodes' wg-quick hooks (`pre_up`, `post_up`, …). Off by default: hooks run as root.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hooks: bool,
    /// Give relays PostUp/PostDown commands that enable IP forwarding on their interface.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub relay_forwarding: bool,
    /// How missing addresses are allocated.
    #[serde(default, skip_serializing_if = "is_default")]
    pub allocation: AllocationStrategy,
    /// Addresses, CIDRs or ranges (`a-b`) never allocated to nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved: Vec<String>,
}

fn default_keepalive() -> u16 {
    25
}
fn is_default_keepalive(v: &u16) -> bool {
    *v == 25
}
fn default_true() -> bool {
    true
}
fn is_true(v: &bool) -> bool {
    *v
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl MeshSettings {
    /// Settings with the given name and networks and every default.
    pub fn new(name: Name, networks: Vec<IpNet>) -> Self {
        MeshSettings {
            name,
            networks,
            topology: Topology::default(),
            listen_port: None,
            persistent_keepalive: default_keepalive(),
            mtu: None,
            dns: Vec::new(),
            preshared_keys: false,
            preshared_key_seed_file: None,
            hooks: false,
            relay_forwarding: true,
            allocation: AllocationStrategy::default(),
            reserved: Vec::new(),
        }
    }
}

/// One machine of the mesh: a `[[nodes]]` entry.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique name; the node's config is `<name>.conf`.
    pub name: Name,
    /// Where others reach this node; absent for nodes behind NAT, which only initiate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// May forward traffic between other nodes (a hub).
    #[serde(default, skip_serializing_if = "is_false")]
    pub relay: bool,
    /// Overlay addresses, one per mesh network; allocated when absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
    /// The node's public key; derived from its private key when that is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKey>,
    /// File holding the node's private key on the machine running wiremesh (relative to the mesh file);
    /// the key is embedded in the node's rendered config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    /// Path of the private key on the node itself, for self-contained nodes that generate their own key:
    /// the rendered config loads it from there (PostUp) and never contains it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_on_node: Option<String>,
    /// UDP port to listen on (default: the endpoint's port, else the mesh default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Groups the node belongs to, for [`Rule`]s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Name>,
    /// Networks behind the node (site routes) that others reach through it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<IpNet>,
    /// Keepalive override for this node's initiated links (0 disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_keepalive: Option<u16>,
    /// MTU override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// DNS override (replaces the mesh default when non-empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// wg-quick `Table` (off, auto, a number or name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// wg `FwMark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// wg-quick hooks, emitted only when the mesh sets `hooks = true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_up: Vec<String>,
    /// See [`Node::pre_up`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_up: Vec<String>,
    /// See [`Node::pre_up`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_down: Vec<String>,
    /// See [`Node::pre_up`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_down: Vec<String>,
    /// The private key in memory (loaded from `private_key_file` or generated); never serialised.
    #[serde(skip)]
    pub private_key: Option<PrivateKey>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("relay", &self.relay)
            .field("addresses", &self.addresses)
            .field("public_key", &self.public_key)
            .field("private_key", &self.private_key.as_ref().map(|_| "<redacted>"))
            .field("private_key_file", &self.private_key_file)
            .field("private_key_on_node", &self.private_key_on_node)
            .field("groups", &self.groups)
            .field("subnets", &self.subnets)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// A node with only a name; everything else defaulted.
    pub fn new(name: Name) -> Self {
        Node {
            name,
            endpoint: None,
            relay: false,
            addresses: Vec::new(),
            public_key: None,
            private_key_file: None,
            private_key_on_node: None,
            listen_port: None,
            groups: Vec::new(),
            subnets: Vec::new(),
            persistent_keepalive: None,
            mtu: None,
            dns: Vec::new(),
            table: None,
            fwmark: None,
            pre_up: Vec::new(),
            post_up: Vec::new(),
            pre_down: Vec::new(),
            post_down: Vec::new(),
            private_key: None,
        }
    }

    /// Builds a node from a JSON value in the `[[nodes]]` schema (what the bindings' keyword arguments
    /// convert to). A bad name, endpoint or key keeps its own error code with `field` (e.g. `nodes[3]`)
    /// as its place; anything else that does not fit the schema is a [`MeshError::Syntax`]. Only the
    /// node's own values are checked here: [`Mesh::add_node`] validates it against the mesh.
    pub fn from_json_value(value: serde_json::Value, field: &str) -> Result<Node, crate::Error> {
        super::take_field_error();
        serde_json::from_value(value).map_err(|err| typed_or_syntax(field.to_string(), err.to_string()))
    }

    /// The node's public key: declared, or derived from the in-memory private key.
    pub fn effective_public_key(&self) -> Option<PublicKey> {
        self.public_key.or_else(|| self.private_key.as_ref().map(PrivateKey::public_key))
    }

    /// Whether `self` is in `group` (`"*"` matches every node; a node's own name matches it too).
    pub fn in_group(&self, group: &str) -> bool {
        group == "*" || self.name == group || self.groups.iter().any(|g| g == group)
    }
}

/// A whole mesh: settings, nodes and rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    /// Mesh-wide settings.
    pub mesh: MeshSettings,
    /// The nodes, in declaration order (which is also relay preference order).
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Rules refining the topology, first match wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// The secret pair preshared keys are derived from (when `preshared_keys` is on); never serialised.
    #[serde(skip)]
    pub preshared_key_seed: Option<PresharedKey>,
}

impl Mesh {
    /// An empty mesh.
    pub fn new(settings: MeshSettings) -> Self {
        Mesh { mesh: settings, nodes: Vec::new(), rules: Vec::new(), preshared_key_seed: None }
    }

    /// Parses and validates a mesh from TOML text. A bad name, endpoint or key keeps its own error
    /// code, with the line it is on as the field.
    pub fn from_toml_str(text: &str) -> Result<Self, crate::Error> {
        super::take_field_error();
        let mesh: Mesh = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let at = line.map(|l| format!("line {l}")).unwrap_or_else(|| "<toml>".into());
            typed_or_syntax(at, one_line(&err.to_string()))
        })?;
        mesh.validate()?;
        Ok(mesh)
    }

    /// Parses and validates a mesh from JSON text (same schema as TOML).
    pub fn from_json_str(text: &str) -> Result<Self, crate::Error> {
        super::take_field_error();
        let mesh: Mesh = serde_json::from_str(text)
            .map_err(|err| typed_or_syntax(format!("line {}", err.line()), err.to_string()))?;
        mesh.validate()?;
        Ok(mesh)
    }

    /// The mesh as TOML (no secrets).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("the mesh model always serialises to TOML")
    }

    /// The mesh as pretty JSON (no secrets).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string_pretty(self).expect("the mesh model always serialises to JSON")
    }

    /// Builds and validates a mesh from a JSON value in the mesh-file schema (what the bindings' dicts
    /// convert to). Errors are those of [`Mesh::from_json_str`]; `source_name` labels syntax errors
    /// (e.g. `<dict>`), since a value has no lines.
    pub fn from_json_value(value: serde_json::Value, source_name: &str) -> Result<Self, crate::Error> {
        super::take_field_error();
        let mesh: Mesh =
            serde_json::from_value(value).map_err(|err| typed_or_syntax(source_name.to_string(), err.to_string()))?;
        mesh.validate()?;
        Ok(mesh)
    }

    /// The mesh as a JSON value in the mesh-file schema (no secrets), as [`Mesh::to_json_string`].
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("the mesh model always serialises to JSON")
    }

    /// Changes fields of the node called `name`: `patch` is a JSON object in the `[[nodes]]` schema
    /// whose fields replace the node's (`null` resets a field to its default). The node's in-memory
    /// private key is kept unless the patch sets `public_key` or `private_key_on_node`, which describe a
    /// different key. The mesh is validated; on error it is unchanged.
    pub fn update_node(&mut self, name: &str, patch: &serde_json::Value) -> Result<(), crate::Error> {
        let index = self
            .nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| MeshError::UnknownNode { field: "nodes".into(), name: name.into() })?;
        let field = format!("nodes[{index}]");
        let serde_json::Value::Object(changes) = patch else {
            return Err(
                MeshError::Syntax { source_name: field, message: "a node update must be an object".into() }.into()
            );
        };
        let serde_json::Value::Object(mut merged) =
            serde_json::to_value(&self.nodes[index]).expect("nodes serialise to JSON")
        else {
            unreachable!("a node serialises to a JSON object")
        };
        for (key, value) in changes {
            if value.is_null() {
                merged.remove(key);
            } else {
                merged.insert(key.clone(), value.clone());
            }
        }
        let mut node = Node::from_json_value(serde_json::Value::Object(merged), &field)?;
        let new_key = changes.contains_key("public_key") || changes.contains_key("private_key_on_node");
        if !new_key {
            node.private_key = self.nodes[index].private_key.clone();
        }
        let old = std::mem::replace(&mut self.nodes[index], node);
        if let Err(err) = self.validate() {
            self.nodes[index] = old;
            return Err(err.into());
        }
        Ok(())
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node called `name`, mutably.
    pub fn node_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// Adds a node after validating the result; on error the mesh is unchanged.
    pub fn add_node(&mut self, node: Node) -> Result<(), MeshError> {
        self.nodes.push(node);
        if let Err(err) = self.validate() {
            self.nodes.pop();
            return Err(err);
        }
        Ok(())
    }

    /// Appends a rule after validating the result (its sides must name existing nodes or groups); on
    /// error the mesh is unchanged.
    pub fn add_rule(&mut self, rule: Rule) -> Result<(), MeshError> {
        self.rules.push(rule);
        if let Err(err) = self.validate() {
            self.rules.pop();
            return Err(err);
        }
        Ok(())
    }

    /// Removes the node called `name` (and returns it).
    pub fn remove_node(&mut self, name: &str) -> Result<Node, MeshError> {
        let index = self
            .nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| MeshError::UnknownNode { field: "nodes".into(), name: name.into() })?;
        Ok(self.nodes.remove(index))
    }

    /// Checks everything that can be checked without planning: values in range and free of injected
    /// structure, names unique, keys unique and matching, addresses inside the networks and unique,
    /// networks and subnets not overlapping, rules naming existing groups.
    pub fn validate(&self) -> Result<(), MeshError> {
        let settings = &self.mesh;
        if settings.networks.is_empty() {
            return Err(MeshError::InvalidValue {
                field: "mesh.networks".into(),
                reason: "at least one network is required".into(),
            });
        }
        for (i, net) in settings.networks.iter().enumerate() {
            if net.addr() != net.network() {
                return Err(MeshError::InvalidValue {
                    field: format!("mesh.networks[{i}]"),
                    reason: format!("{net} has host bits set; did you mean {}?", net.trunc()),
                });
            }
            let host_bits = net.max_prefix_len() - net.prefix_len();
            if host_bits < 2 {
                return Err(MeshError::InvalidValue {
                    field: format!("mesh.networks[{i}]"),
                    reason: format!("{net} is too small for a mesh"),
                });
            }
            for other in &settings.networks[..i] {
                if other.contains(net) || net.contains(other) {
                    return Err(MeshError::OverlappingNetworks { first: *other, second: *net });
                }
            }
        }
        check_mtu(settings.mtu, "mesh.mtu")?;
        check_port(settings.listen_port, "mesh.listen_port")?;
        for (i, dns) in settings.dns.iter().enumerate() {
            check_dns(dns, &format!("mesh.dns[{i}]"))?;
        }
        if let Some(file) = &settings.preshared_key_seed_file {
            check_path(file, "mesh.preshared_key_seed_file")?;
        }
        for (i, reserved) in settings.reserved.iter().enumerate() {
            let field = format!("mesh.reserved[{i}]");
            check_safe_value(reserved, &field)?;
            crate::ipam::Reservation::parse(reserved)
                .map_err(|err| MeshError::InvalidValue { field, reason: err.to_string() })?;
        }

        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut keys: HashMap<PublicKey, &str> = HashMap::new();
        let mut addresses: HashMap<IpAddr, &str> = HashMap::new();
        // Every routed prefix with its owner, to find overlaps.
        let mut routes: Vec<(IpNet, String)> =
            settings.networks.iter().map(|n| (*n, format!("mesh network {n}"))).collect();
        for (i, node) in self.nodes.iter().enumerate() {
            let at = |field: &str| format!("nodes[{i}].{field}");
            if names.insert(node.name.as_str(), i).is_some() {
                return Err(MeshError::DuplicateName { name: node.name.to_string() });
            }
            if let (Some(private), Some(public)) = (&node.private_key, &node.public_key) {
                if private.public_key() != *public {
                    return Err(MeshError::KeyMismatch { node: node.name.to_string() });
                }
            }
            if let Some(key) = node.effective_public_key() {
                if let Some(first) = keys.insert(key, node.name.as_str()) {
                    return Err(MeshError::DuplicateKey { first: first.into(), second: node.name.to_string() });
                }
            }
            if node.private_key_on_node.is_some() && (node.private_key_file.is_some() || node.private_key.is_some()) {
                return Err(MeshError::InvalidValue {
                    field: at("private_key_on_node"),
                    reason: "a node's private key lives either on the node or in a key file, not both".into(),
                });
            }
            if let Some(path) = &node.private_key_file {
                check_path(path, &at("private_key_file"))?;
            }
            if let Some(path) = &node.private_key_on_node {
                check_path(path, &at("private_key_on_node"))?;
                if !path.starts_with('/') {
                    return Err(MeshError::InvalidValue {
                        field: at("private_key_on_node"),
                        reason: "must be an absolute path on the node".into(),
                    });
                }
                if node.public_key.is_none() {
                    return Err(MeshError::MissingKey {
                        node: node.name.to_string(),
                        what: "public_key (required with private_key_on_node)",
                    });
                }
            }
            check_port(node.listen_port, &at("listen_port"))?;
            check_mtu(node.mtu, &at("mtu"))?;
            if node.fwmark == Some(0) {
                return Err(MeshError::InvalidValue {
                    field: at("fwmark"),
                    reason: "0 means off: leave fwmark out".into(),
                });
            }
            for (j, dns) in node.dns.iter().enumerate() {
                check_dns(dns, &at(&format!("dns[{j}]")))?;
            }
            if let Some(table) = &node.table {
                check_safe_value(table, &at("table"))?;
                if table.is_empty() || table.contains(char::is_whitespace) {
                    return Err(MeshError::InvalidValue {
                        field: at("table"),
                        reason: "expected off, auto, a number or a table name".into(),
                    });
                }
            }
            for (hook_name, hooks) in [
                ("pre_up", &node.pre_up),
                ("post_up", &node.post_up),
                ("pre_down", &node.pre_down),
                ("post_down", &node.post_down),
            ] {
                for (j, hook) in hooks.iter().enumerate() {
                    let field = at(&format!("{hook_name}[{j}]"));
                    check_safe_value(hook, &field)?;
                    // wg-quick trims a value's surrounding spaces, so such a hook would not read back.
                    if hook.trim_matches(' ') != hook {
                        return Err(MeshError::InvalidValue {
                            field,
                            reason: "a hook must not start or end with spaces".into(),
                        });
                    }
                }
            }
            let mut families = [false; 2];
            for (j, address) in node.addresses.iter().enumerate() {
                let field = at(&format!("addresses[{j}]"));
                let Some(network) = settings.networks.iter().find(|n| n.contains(address)) else {
                    return Err(MeshError::InvalidValue {
                        field,
                        reason: format!("{address} is not in any mesh network"),
                    });
                };
                if *address == network.network() || (address.is_ipv4() && *address == network.broadcast()) {
                    return Err(MeshError::InvalidValue {
                        field,
                        reason: format!("{address} is the network or broadcast address of {network}"),
                    });
                }
                if let Some(first) = addresses.insert(*address, node.name.as_str()) {
                    return Err(MeshError::DuplicateAddress {
                        first: first.into(),
                        second: node.name.to_string(),
                        address: *address,
                    });
                }
                if node.addresses[..j].iter().any(|other| network.contains(other)) {
                    return Err(MeshError::InvalidValue {
                        field,
                        reason: format!("the node already has an address in {network}"),
                    });
                }
                families[usize::from(address.is_ipv6())] = true;
            }
            for (j, subnet) in node.subnets.iter().enumerate() {
                let field = at(&format!("subnets[{j}]"));
                if subnet.addr() != subnet.network() {
                    return Err(MeshError::InvalidValue {
                        field,
                        reason: format!("{subnet} has host bits set; did you mean {}?", subnet.trunc()),
                    });
                }
                if subnet.prefix_len() == 0 {
                    return Err(MeshError::InvalidValue {
                        field,
                        reason: "a default route cannot be a node's subnet".into(),
                    });
                }
                if let Some((_, other)) = routes.iter().find(|(r, _)| r.contains(subnet) || subnet.contains(r)) {
                    return Err(MeshError::OverlappingRoutes { field, prefix: *subnet, other: other.clone() });
                }
                routes.push((*subnet, format!("subnet of {}", node.name)));
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            for (j, side) in rule.between.iter().enumerate() {
                let field = format!("rules[{i}].between[{j}]");
                if side != "*" {
                    Name::new(side, &field)?;
                    if !self.nodes.iter().any(|n| n.in_group(side)) {
                        return Err(MeshError::UnknownGroup { field, group: side.clone() });
                    }
                }
            }
        }
        Ok(())
    }

    /// Nodes by name, for lookups.
    pub fn index(&self) -> BTreeMap<&str, usize> {
        self.nodes.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect()
    }
}

/// Deserialises one part of the mesh schema — a [`MeshSettings`], [`Node`], [`Rule`] or a whole [`Mesh`]
/// (not yet validated) — from a JSON value with the mesh file's field names, as the mesh loaders do: a
/// bad name, endpoint or key keeps its own error code (with `field` as its location), anything else
/// that does not fit the schema is [`MeshError::Syntax`] labelled `field`. For programs that hold a
/// description as data rather than text, such as the language bindings' plain objects.
pub fn mesh_part_from_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    field: &str,
) -> Result<T, crate::Error> {
    super::take_field_error();
    serde_json::from_value(value).map_err(|err| typed_or_syntax(field.to_string(), err.to_string()))
}

/// The typed error recorded while deserialising (its field replaced by `at`), else a syntax error.
fn typed_or_syntax(at: String, message: String) -> crate::Error {
    match super::take_field_error() {
        Some(crate::Error::Mesh(MeshError::InvalidName { value, reason, .. })) => {
            MeshError::InvalidName { field: at, value, reason }.into()
        }
        Some(crate::Error::Mesh(MeshError::InvalidEndpoint { value, reason, .. })) => {
            MeshError::InvalidEndpoint { field: at, value, reason }.into()
        }
        Some(other) => other,
        None => MeshError::Syntax { source_name: at, message }.into(),
    }
}

fn one_line(text: &str) -> String {
    text.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

fn check_port(port: Option<u16>, field: &str) -> Result<(), MeshError> {
    if port == Some(0) {
        return Err(MeshError::InvalidValue { field: field.into(), reason: "port must be 1-65535".into() });
    }
    Ok(())
}

fn check_mtu(mtu: Option<u32>, field: &str) -> Result<(), MeshError> {
    match mtu {
        Some(m) if !(576..=65535).contains(&m) => {
            Err(MeshError::InvalidValue { field: field.into(), reason: format!("MTU {m} is outside 576-65535") })
        }
        _ => Ok(()),
    }
}

fn check_dns(value: &str, field: &str) -> Result<(), MeshError> {
    check_safe_value(value, field)?;
    if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(MeshError::InvalidValue {
            field: field.into(),
            reason: "a DNS entry is one address or search domain".into(),
        });
    }
    Ok(())
}

fn check_path(value: &str, field: &str) -> Result<(), MeshError> {
    check_safe_value(value, field)?;
    if value.is_empty() {
        return Err(MeshError::InvalidValue { field: field.into(), reason: "empty path".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_from_json_keep_typed_errors() {
        let node: Node = mesh_part_from_json(serde_json::json!({"name": "hub", "relay": true}), "nodes[0]").unwrap();
        assert!(node.relay && node.name == "hub");
        let settings: MeshSettings =
            mesh_part_from_json(serde_json::json!({"name": "m", "networks": ["10.0.0.0/24"]}), "mesh").unwrap();
        assert_eq!(settings.persistent_keepalive, 25, "defaults as in mesh files");
        let err = mesh_part_from_json::<Node>(serde_json::json!({"name": "bad name"}), "nodes[3]").unwrap_err();
        assert_eq!(err.code(), "mesh_invalid_name");
        assert!(err.to_string().starts_with("nodes[3]:"), "{err}");
        let err =
            mesh_part_from_json::<Node>(serde_json::json!({"name": "a", "endpoint": "nope"}), "nodes[1]").unwrap_err();
        assert_eq!(err.code(), "mesh_invalid_endpoint");
        let err = mesh_part_from_json::<Node>(serde_json::json!({"name": "a", "colour": 1}), "nodes[1]").unwrap_err();
        assert_eq!(err.code(), "mesh_syntax");
    }

    #[test]
    fn add_rule_validates_and_leaves_the_mesh_unchanged_on_error() {
        let mut mesh =
            Mesh::new(MeshSettings::new(Name::new("m", "name").unwrap(), vec!["10.0.0.0/24".parse().unwrap()]));
        mesh.add_node(Node::new(Name::new("a", "name").unwrap())).unwrap();
        let err = mesh.add_rule(Rule { between: ["a".into(), "nobody".into()], link: LinkPolicy::None }).unwrap_err();
        assert_eq!(err.code(), "mesh_unknown_group");
        assert!(mesh.rules.is_empty());
        mesh.add_rule(Rule { between: ["a".into(), "*".into()], link: LinkPolicy::Relay }).unwrap();
        assert_eq!(mesh.rules.len(), 1);
    }
}
