//! The mesh model: `Mesh` and the plain objects describing its settings, nodes and rules.
//!
//! Plain objects are converted to the core types through the mesh-file schema
//! ([`wiremesh::mesh_part_from_json`]), so they accept exactly what a mesh file accepts, with the same
//! defaults and the same error codes; only the spelling of the keys differs (camelCase here).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{js_error, CoreResult, IntoJs};
use crate::ipam::Pool;
use crate::keys::{PresharedKey, PrivateKey};

/// Mesh-wide settings (the `[mesh]` table of a mesh file). Only `name` and `networks` are required.
#[napi(object)]
#[derive(Serialize, Deserialize, Clone, Default)]
pub struct MeshSettings {
    /// The mesh's name (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// The overlay networks (CIDR): every node gets one address in each.
    pub networks: Vec<String>,
    /// How pairs connect when no rule says otherwise (default `full-mesh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[napi(ts_type = "'full-mesh' | 'hub-and-spoke'")]
    pub topology: Option<String>,
    /// Default `ListenPort` for nodes with neither their own nor an endpoint port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Keepalive interval (seconds) of nodes behind NAT toward the peers they dial (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_keepalive: Option<u16>,
    /// Default interface MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Default DNS servers / search domains (wg-quick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    /// Give every pair a preshared key derived from a mesh secret (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_keys: Option<bool>,
    /// File holding the mesh secret, relative to the mesh file (created by `save`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_key_seed_file: Option<String>,
    /// Emit the nodes' wg-quick hooks (default false: hooks run as root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<bool>,
    /// Give relays PostUp commands that enable IP forwarding (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_forwarding: Option<bool>,
    /// How missing addresses are allocated (default `sequential`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[napi(ts_type = "'sequential' | 'key-derived'")]
    pub allocation: Option<String>,
    /// Addresses, CIDRs or ranges (`a-b`) never allocated to nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<Vec<String>>,
}

/// One machine of the mesh (a `[[nodes]]` entry). Only `name` is required.
///
/// `privateKey` is the only secret: a `PrivateKey` object held in memory (it is never written into the
/// mesh file; `save` puts it in a 0600 key file and records `privateKeyFile`).
#[napi(object)]
#[derive(Serialize, Deserialize, Default)]
pub struct MeshNode<'a> {
    /// Unique name; the node's config is `<name>.conf`.
    pub name: String,
    /// Where others reach this node (`host:port`); absent for nodes behind NAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// May forward traffic between other nodes (a hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<bool>,
    /// Overlay addresses, one per mesh network; allocated by `generateMissing` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
    /// The node's public key (base64); derived from its private key when that is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// File holding the node's private key, relative to the mesh file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    /// Path of the private key on the node itself: the config loads it from there and never holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_on_node: Option<String>,
    /// UDP port to listen on (default: the endpoint's port, else the mesh default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_port: Option<u16>,
    /// Groups the node belongs to, for rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// Networks behind the node (CIDR) that others reach through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<String>>,
    /// Keepalive override for this node's initiated links (0 disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_keepalive: Option<u16>,
    /// MTU override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// DNS override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    /// wg-quick `Table` (`off`, `auto`, a number or a name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// wg `FwMark`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    /// wg-quick `PreUp` hooks, emitted only when the mesh sets `hooks: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_up: Option<Vec<String>>,
    /// wg-quick `PostUp` hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_up: Option<Vec<String>>,
    /// wg-quick `PreDown` hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_down: Option<Vec<String>>,
    /// wg-quick `PostDown` hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_down: Option<Vec<String>>,
    /// The private key in memory (generated, loaded or given); never serialised.
    #[serde(skip)]
    pub private_key: Option<ClassInstance<'a, PrivateKey>>,
}

/// A rule between two groups (`"*"` is every node, a node name is that node). The first rule matching a
/// pair, in either direction, decides how the pair is linked.
#[napi(object)]
#[derive(Serialize, Deserialize, Clone)]
pub struct Rule {
    /// The two sides: group names, node names or `"*"`.
    pub between: Vec<String>,
    /// `direct` (peer directly when one side has an endpoint), `relay` (always through a relay) or
    /// `none` (not connected).
    #[napi(ts_type = "'direct' | 'relay' | 'none'")]
    pub link: String,
}

/// A whole mesh as a plain object: what `Mesh.fromObject` takes and `mesh.toObject()` gives.
#[napi(object)]
pub struct MeshObject<'a> {
    /// Mesh-wide settings.
    pub mesh: MeshSettings,
    /// The nodes, in declaration order (also the relays' preference order).
    pub nodes: Option<Vec<MeshNode<'a>>>,
    /// Rules refining the topology, first match wins.
    pub rules: Option<Vec<Rule>>,
}

/// An address `generateMissing` allocated.
#[napi(object)]
pub struct GeneratedAddress {
    /// The node.
    pub node: String,
    /// The address it got.
    pub address: String,
}

/// What `generateMissing` filled in.
#[napi(object)]
pub struct Generated {
    /// Nodes that got a new private key.
    pub keys: Vec<String>,
    /// Addresses allocated.
    pub addresses: Vec<GeneratedAddress>,
    /// Whether the preshared-key seed was created.
    pub preshared_key_seed: bool,
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("plain objects always serialise")
}

/// A core settings table from its plain object.
fn core_settings(settings: &MeshSettings) -> CoreResult<wiremesh::MeshSettings> {
    wiremesh::mesh_part_from_json(to_json(settings), "mesh")
}

/// A core node from its plain object (`field` labels errors, e.g. `nodes[3]`).
fn core_node(node: &MeshNode<'_>, field: &str) -> CoreResult<wiremesh::Node> {
    let mut core: wiremesh::Node = wiremesh::mesh_part_from_json(to_json(node), field)?;
    core.private_key = node.private_key.as_ref().map(|key| key.inner.clone());
    Ok(core)
}

fn core_rule(rule: &Rule, field: &str) -> CoreResult<wiremesh::Rule> {
    wiremesh::mesh_part_from_json(to_json(rule), field)
}

/// The plain object of a core node (with its in-memory private key as a `PrivateKey`).
pub(crate) fn node_object<'env>(env: &'env Env, node: &wiremesh::Node) -> Result<MeshNode<'env>> {
    let mut object: MeshNode<'env> = serde_json::from_value(to_json(node)).map_err(napi::Error::from)?;
    object.private_key = match &node.private_key {
        Some(key) => Some(PrivateKey { inner: key.clone() }.into_instance(env)?),
        None => None,
    };
    Ok(object)
}

fn settings_object(settings: &wiremesh::MeshSettings) -> Result<MeshSettings> {
    serde_json::from_value(to_json(settings)).map_err(napi::Error::from)
}

fn rule_object(rule: &wiremesh::Rule) -> Result<Rule> {
    serde_json::from_value(to_json(rule)).map_err(napi::Error::from)
}

/// A WireGuard network described once: settings, nodes and rules. Validated whenever it is built or
/// changed (a failed change leaves it as it was).
///
/// `toJson()`/`toToml()` give the mesh file (no secrets); `JSON.stringify(mesh)` gives the same JSON,
/// `toObject()` the camelCase plain object. Private keys live only in memory until `save()` writes them
/// to 0600 key files next to the mesh file.
#[napi]
pub struct Mesh {
    pub(crate) inner: Arc<Mutex<wiremesh::Mesh>>,
}

impl Mesh {
    pub(crate) fn wrap(mesh: wiremesh::Mesh) -> Self {
        Mesh { inner: Arc::new(Mutex::new(mesh)) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, wiremesh::Mesh> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[napi]
impl Mesh {
    /// An empty mesh with these settings. Throws a `mesh_*` code when they are invalid.
    #[napi(constructor)]
    pub fn new(env: Env, settings: MeshSettings) -> Result<Self> {
        let settings = core_settings(&settings).js(&env)?;
        let mesh = wiremesh::Mesh::new(settings);
        mesh.validate().js(&env)?;
        Ok(Mesh::wrap(mesh))
    }

    /// Parses and validates a mesh file's TOML text. Throws `mesh_syntax` or the code of what is wrong.
    #[napi(factory)]
    pub fn from_toml(env: Env, text: String) -> Result<Self> {
        wiremesh::Mesh::from_toml_str(&text).map(Mesh::wrap).js(&env)
    }

    /// Parses and validates a mesh file's JSON text (the same schema as TOML, snake_case keys).
    #[napi(factory)]
    pub fn from_json(env: Env, text: String) -> Result<Self> {
        wiremesh::Mesh::from_json_str(&text).map(Mesh::wrap).js(&env)
    }

    /// Builds and validates a mesh from its plain object (as `toObject()` gives it).
    #[napi(factory)]
    pub fn from_object(env: Env, object: MeshObject<'_>) -> Result<Self> {
        let build = || -> CoreResult<wiremesh::Mesh> {
            let mut mesh = wiremesh::Mesh::new(core_settings(&object.mesh)?);
            for (i, node) in object.nodes.iter().flatten().enumerate() {
                mesh.nodes.push(core_node(node, &format!("nodes[{i}]"))?);
            }
            for (i, rule) in object.rules.iter().flatten().enumerate() {
                mesh.rules.push(core_rule(rule, &format!("rules[{i}]"))?);
            }
            mesh.validate()?;
            Ok(mesh)
        };
        build().map(Mesh::wrap).js(&env)
    }

    /// Loads a mesh file (`.json` is JSON, anything else TOML) and the key files it references.
    /// Rejects with an `io_*`, `key_in_file` or `mesh_*` code.
    #[napi(ts_return_type = "Promise<Mesh>")]
    pub fn load(path: String) -> AsyncTask<LoadMesh> {
        AsyncTask::new(LoadMesh { path: PathBuf::from(path) })
    }

    /// Saves the mesh file atomically, first writing in-memory secrets that have no file yet into
    /// `<stem>.keys/` (directory 0700, files 0600) and recording where they went.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<SaveMesh> {
        AsyncTask::new(SaveMesh { mesh: Arc::clone(&self.inner), path: PathBuf::from(path) })
    }

    /// The mesh file as TOML (no secrets).
    #[napi]
    pub fn to_toml(&self) -> String {
        self.lock().to_toml_string()
    }

    /// The mesh file as pretty JSON (no secrets; snake_case keys, as in mesh files).
    #[napi]
    pub fn to_json(&self) -> String {
        self.lock().to_json_string()
    }

    /// The mesh file's JSON value, for `JSON.stringify` (no secrets).
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, unknown>")]
    pub fn to_json_value(&self) -> Value {
        to_json(&*self.lock())
    }

    /// The mesh as a camelCase plain object; in-memory private keys appear as `PrivateKey` objects.
    #[napi]
    pub fn to_object<'env>(&self, env: &'env Env) -> Result<MeshObject<'env>> {
        let mesh = self.lock();
        Ok(MeshObject {
            mesh: settings_object(&mesh.mesh)?,
            nodes: Some(mesh.nodes.iter().map(|n| node_object(env, n)).collect::<Result<_>>()?),
            rules: Some(mesh.rules.iter().map(rule_object).collect::<Result<_>>()?),
        })
    }

    /// `Mesh(seed: 4 nodes)`.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        let mesh = self.lock();
        format!("Mesh({}: {} nodes)", mesh.mesh.name, mesh.nodes.len())
    }

    /// The mesh's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.lock().mesh.name.to_string()
    }

    /// The mesh-wide settings.
    #[napi(getter)]
    pub fn settings(&self) -> Result<MeshSettings> {
        settings_object(&self.lock().mesh)
    }

    /// The nodes, in declaration order (copies: change them with `addNode`/`removeNode`).
    #[napi(getter)]
    pub fn nodes<'env>(&self, env: &'env Env) -> Result<Vec<MeshNode<'env>>> {
        self.lock().nodes.iter().map(|n| node_object(env, n)).collect()
    }

    /// The rules, first match wins.
    #[napi(getter)]
    pub fn rules(&self) -> Result<Vec<Rule>> {
        self.lock().rules.iter().map(rule_object).collect()
    }

    /// The node called `name`, or `null`.
    #[napi]
    pub fn node<'env>(&self, env: &'env Env, name: String) -> Result<Option<MeshNode<'env>>> {
        self.lock().node(&name).map(|n| node_object(env, n)).transpose()
    }

    /// Adds a node; throws (leaving the mesh unchanged) when the result is invalid: `mesh_invalid_name`,
    /// `mesh_invalid_endpoint`, `mesh_duplicate_name`, `mesh_duplicate_address`, `mesh_key_mismatch`…
    #[napi]
    pub fn add_node(&self, env: Env, node: MeshNode<'_>) -> Result<()> {
        let mut mesh = self.lock();
        let field = format!("nodes[{}]", mesh.nodes.len());
        let node = core_node(&node, &field).js(&env)?;
        mesh.add_node(node).js(&env)
    }

    /// Removes the node called `name` and returns it. Throws `mesh_unknown_node`.
    #[napi]
    pub fn remove_node<'env>(&self, env: &'env Env, name: String) -> Result<MeshNode<'env>> {
        let node = self.lock().remove_node(&name).js(env)?;
        node_object(env, &node)
    }

    /// Appends a rule; throws (leaving the mesh unchanged) when a side names no node or group
    /// (`mesh_unknown_group`) or the rule is malformed.
    #[napi]
    pub fn add_rule(&self, env: Env, rule: Rule) -> Result<()> {
        let mut mesh = self.lock();
        let field = format!("rules[{}]", mesh.rules.len());
        let rule = core_rule(&rule, &field).js(&env)?;
        mesh.add_rule(rule).js(&env)
    }

    /// Checks everything that can be checked without planning; throws the first problem's code.
    #[napi]
    pub fn validate(&self, env: Env) -> Result<()> {
        self.lock().validate().js(&env)
    }

    /// Fills in what is missing, in memory: a private key for every node with no key, an address in
    /// every network for every node lacking one, the preshared-key seed when preshared keys are on.
    /// Existing values never change; on error nothing changes.
    #[napi]
    pub fn generate_missing(&self, env: Env) -> Result<Generated> {
        let generated = self.lock().generate_missing().js(&env)?;
        Ok(Generated {
            keys: generated.keys.iter().map(|n| n.to_string()).collect(),
            addresses: generated
                .addresses
                .iter()
                .map(|(node, address)| GeneratedAddress { node: node.to_string(), address: address.to_string() })
                .collect(),
            preshared_key_seed: generated.preshared_key_seed,
        })
    }

    /// The address pool of mesh network number `networkIndex` (default 0), with the reservations and
    /// every node's address in it already taken.
    #[napi]
    pub fn pool(&self, env: Env, network_index: Option<u32>) -> Result<Pool> {
        self.lock().pool(network_index.unwrap_or(0) as usize).map(|inner| Pool { inner }).js(&env)
    }

    /// Whether the mesh holds the secret that pair preshared keys are derived from.
    #[napi(getter)]
    pub fn has_preshared_key_seed(&self) -> bool {
        self.lock().preshared_key_seed.is_some()
    }

    /// Sets the secret pair preshared keys are derived from (kept in memory; `save` writes it 0600).
    #[napi]
    pub fn set_preshared_key_seed(&self, seed: &PresharedKey) {
        self.lock().preshared_key_seed = Some(seed.inner.clone());
    }
}

/// Background job: load a mesh file.
pub struct LoadMesh {
    path: PathBuf,
}

impl Task for LoadMesh {
    type Output = CoreResult<wiremesh::Mesh>;
    type JsValue = Mesh;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(wiremesh::Mesh::load(&self.path))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Mesh> {
        output.map(Mesh::wrap).map_err(|e| js_error(&env, e))
    }
}

/// Background job: save a mesh file and its secrets.
pub struct SaveMesh {
    mesh: Arc<Mutex<wiremesh::Mesh>>,
    path: PathBuf,
}

impl Task for SaveMesh {
    type Output = CoreResult<()>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        let mut mesh = self.mesh.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(mesh.save(&self.path))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<()> {
        output.map_err(|e| js_error(&env, e))
    }
}
