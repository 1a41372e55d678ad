//! Planning, verification, rendering and writing: `plan`, `Plan`, `verify`, `check`, `writeConfigs`,
//! `writeProvenConfigs`, `writeMeshConfigs`, `writeMeshConfigsLean`, `renderDot`.
//!
//! Plain objects of a plan come from the core's JSON report ([`wiremesh::plan_json`]), which holds no
//! secret (a peer only says whether it has a preshared key). `plan.toJson()` and `JSON.stringify(plan)`
//! give that report as is (snake_case, the wire format shared with the CLI's `--json` and the test
//! vectors); `plan.toObject()` gives the same data with camelCase keys.

use std::path::PathBuf;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{config_object, WgConfig};
use crate::error::{invalid_value, js_error, CoreResult, IntoJs};
use crate::mesh::Mesh;

/// Where a node's private key comes from when its config is rendered.
#[napi(object, use_nullable = true)]
#[derive(Deserialize)]
pub struct KeySourceInfo {
    /// `inline` (embedded in the config), `on_node` (loaded on the node by a PostUp command) or
    /// `unknown` (only the public key is known: rendering this node fails).
    #[napi(ts_type = "'inline' | 'on_node' | 'unknown'")]
    pub source: String,
    /// The key's path on the node, for `on_node`.
    #[serde(default)]
    pub path: Option<String>,
}

/// One `[Peer]` of a node's interface.
#[napi(object, use_nullable = true)]
#[derive(Deserialize)]
pub struct PeerPlan {
    /// The peer node's name.
    pub name: String,
    /// The peer's public key (base64).
    pub public_key: String,
    /// Whether the pair has a preshared key (the key itself is only in the rendered config).
    pub has_preshared_key: bool,
    /// Where to send the first handshake, when the peer has an endpoint.
    pub endpoint: Option<String>,
    /// The prefixes routed to (and accepted from) this peer.
    pub allowed_ips: Vec<String>,
    /// Keepalive interval, set on the side behind NAT only.
    pub persistent_keepalive: Option<u16>,
    /// Nodes reached through this peer (when it relays for us).
    pub relays_for: Vec<String>,
}

/// How a node reaches another.
#[napi(object, use_nullable = true)]
#[derive(Deserialize)]
pub struct RouteInfo {
    /// The other node.
    pub node: String,
    /// `direct` (peers), `relay` (through `via`) or `blocked` (policy keeps them apart).
    #[napi(ts_type = "'direct' | 'relay' | 'blocked'")]
    pub reach: String,
    /// The relay, for `relay`.
    pub via: Option<String>,
}

/// One node's interface, peers and routes.
#[napi(object, use_nullable = true)]
#[derive(Deserialize)]
pub struct NodePlan {
    /// The node's name.
    pub name: String,
    /// The node's public key (base64).
    pub public_key: String,
    /// Where its private key comes from.
    pub private_key: KeySourceInfo,
    /// Interface addresses with the mesh networks' prefix lengths.
    pub addresses: Vec<String>,
    /// Networks behind the node.
    pub subnets: Vec<String>,
    /// The node's own endpoint, if public.
    pub endpoint: Option<String>,
    /// `ListenPort`.
    pub listen_port: Option<u16>,
    /// Declared relay.
    pub relay: bool,
    /// The relay forwards for at least one pair and gets forwarding hooks.
    pub forwarding_hooks: bool,
    /// `MTU`.
    pub mtu: Option<u32>,
    /// `DNS`.
    pub dns: Vec<String>,
    /// `Table`.
    pub table: Option<String>,
    /// `FwMark`.
    pub fwmark: Option<u32>,
    /// The peers, in node declaration order.
    pub peers: Vec<PeerPlan>,
    /// How every other node is reached.
    pub routes: Vec<RouteInfo>,
    /// Per relayed destination: the relay that carries it and the backup relays (declaration order)
    /// that take it when the primary is down.
    pub failover: Vec<FailoverRouteInfo>,
}

/// One entry of a node's failover table.
#[napi(object)]
#[derive(Deserialize)]
pub struct FailoverRouteInfo {
    /// The node reached through a relay.
    pub node: String,
    /// Its addresses (host prefixes) and subnets.
    pub prefixes: Vec<String>,
    /// The relay that carries the pair while it is up.
    pub primary: String,
    /// Other relays both sides peer with, in declaration order; empty without redundancy.
    pub backups: Vec<String>,
}

/// A whole plan as a plain object.
#[napi(object, use_nullable = true)]
#[derive(Deserialize)]
pub struct PlanObject {
    /// The mesh's name.
    pub mesh: String,
    /// The mesh's topology.
    #[napi(ts_type = "'full-mesh' | 'hub-and-spoke'")]
    pub topology: String,
    /// The mesh networks.
    pub networks: Vec<String>,
    /// One entry per node, in declaration order.
    pub nodes: Vec<NodePlan>,
}

/// What a successful verification proved.
#[napi(object)]
pub struct Proof {
    /// Ordered pairs proven to reach each other.
    pub pairs_proven: u32,
    /// Of those, pairs whose path goes through a relay.
    pub relayed_pairs: u32,
    /// Ordered pairs proven unable to reach each other, as policy asks.
    pub pairs_blocked: u32,
    /// Individual (source, destination) packet paths followed.
    pub paths_followed: u32,
}

/// One thing that keeps a plan from working (also the items of a `verify_failed` error's `problems`).
#[napi(object, use_nullable = true)]
#[derive(Deserialize)]
pub struct Problem {
    /// Stable code, one of `PROBLEM_CODES` (e.g. `no_route`, `ingress_rejected`).
    pub code: String,
    /// The ordered pair `[from, to]` concerned, if any.
    pub pair: Option<Vec<String>>,
    /// The node where the packet or check failed, if any.
    pub hop: Option<String>,
    /// The prefix or address involved, if any.
    pub prefix: Option<String>,
    /// A one-line explanation.
    pub message: String,
}

/// What `check` found: the proof so far and every problem (empty when the plan is proven).
#[napi(object)]
pub struct CheckResult {
    /// What was proven.
    pub proof: Proof,
    /// Every problem found.
    pub problems: Vec<Problem>,
}

/// One node's rendered configuration.
#[napi(object, object_from_js = false)]
pub struct RenderedConfig {
    /// The node's name.
    pub name: String,
    /// The configuration text (contains the node's private key when it is known here).
    #[napi(ts_type = "string")]
    pub text: ConfigText,
}

/// Configuration text on its way to JavaScript. Rendered configs are ASCII but for free-text values
/// (hooks, DNS names, peer names), and a 1000-node mesh renders 130 MB of them, so ASCII text is handed
/// over without the UTF-8 decoder: as an external Latin-1 string (V8 reads the Rust buffer in place and
/// frees it when the string dies) where Node offers that, else through a plain Latin-1 copy.
pub struct ConfigText(pub String);

impl TypeName for ConfigText {
    fn type_name() -> &'static str {
        "String"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

/// `node_api_create_external_string_latin1` (Node-API 10; exported, as experimental, since Node 20.4).
type CreateExternalLatin1 = unsafe extern "C" fn(
    env: napi::sys::napi_env,
    text: *const std::os::raw::c_char,
    length: isize,
    finalize: Option<unsafe extern "C" fn(napi::sys::napi_env, *mut std::ffi::c_void, *mut std::ffi::c_void)>,
    hint: *mut std::ffi::c_void,
    result: *mut napi::sys::napi_value,
    copied: *mut bool,
) -> napi::sys::napi_status;

/// Looks the function up in the running Node, once (it is absent from older Node versions, so it is
/// not linked directly).
#[cfg(target_os = "linux")]
fn create_external_latin1() -> Option<CreateExternalLatin1> {
    use std::sync::OnceLock;
    extern "C" {
        fn dlsym(handle: *mut std::ffi::c_void, symbol: *const std::os::raw::c_char) -> *mut std::ffi::c_void;
    }
    static FOUND: OnceLock<usize> = OnceLock::new();
    let address = *FOUND.get_or_init(|| {
        // RTLD_DEFAULT is the null handle on Linux: search the process's global symbols (Node's own).
        unsafe { dlsym(std::ptr::null_mut(), c"node_api_create_external_string_latin1".as_ptr()) as usize }
    });
    // SAFETY: the symbol, when present, has the Node-API signature declared above.
    (address != 0).then(|| unsafe { std::mem::transmute::<usize, CreateExternalLatin1>(address) })
}

#[cfg(not(target_os = "linux"))]
fn create_external_latin1() -> Option<CreateExternalLatin1> {
    None
}

/// Frees the text behind an external string (the hint is the boxed `String`).
unsafe extern "C" fn free_text(_env: napi::sys::napi_env, _data: *mut std::ffi::c_void, hint: *mut std::ffi::c_void) {
    drop(unsafe { Box::from_raw(hint.cast::<String>()) });
}

impl ToNapiValue for ConfigText {
    unsafe fn to_napi_value(env: napi::sys::napi_env, val: Self) -> Result<napi::sys::napi_value> {
        if !val.0.is_ascii() {
            return unsafe { String::to_napi_value(env, val.0) };
        }
        let mut out = std::ptr::null_mut();
        if let Some(create) = create_external_latin1() {
            let (data, length) = (val.0.as_ptr(), val.0.len() as isize);
            let hint = Box::into_raw(Box::new(val.0));
            let mut copied = false;
            // SAFETY: the buffer stays alive and unchanged until `free_text` runs, which Node calls
            // exactly once when it succeeds (at once when it chose to copy).
            let status =
                unsafe { create(env, data.cast(), length, Some(free_text), hint.cast(), &mut out, &mut copied) };
            if status == napi::sys::Status::napi_ok {
                return Ok(out);
            }
            // Not taken: the text is still ours.
            let text = unsafe { Box::from_raw(hint) };
            return unsafe { String::to_napi_value(env, *text) };
        }
        let status =
            unsafe { napi::sys::napi_create_string_latin1(env, val.0.as_ptr().cast(), val.0.len() as isize, &mut out) };
        if status != napi::sys::Status::napi_ok {
            return Err(napi::Error::new(Status::from(status), "could not create a string".to_string()));
        }
        Ok(out)
    }
}

fn proof_object(proof: &wiremesh::Proof) -> Proof {
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    Proof {
        pairs_proven: n(proof.pairs_proven),
        relayed_pairs: n(proof.relayed_pairs),
        pairs_blocked: n(proof.pairs_blocked),
        paths_followed: n(proof.paths_followed),
    }
}

/// The heap memory a plan holds, roughly: its nodes, peers, prefixes and routes.
fn approximate_size(plan: &wiremesh::Plan) -> usize {
    use std::mem::size_of;
    plan.nodes
        .iter()
        .map(|node| {
            let peers: usize = node
                .peers
                .iter()
                .map(|peer| {
                    size_of::<wiremesh::PeerPlan>()
                        + peer.allowed_ips.capacity() * size_of::<ipnet::IpNet>()
                        + peer.relays_for.capacity() * size_of::<wiremesh::Name>()
                })
                .sum();
            size_of::<wiremesh::NodePlan>() + peers + node.routes.capacity() * size_of::<wiremesh::Route>()
        })
        .sum()
}

pub(crate) fn from_report<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(napi::Error::from)
}

/// `wg-quick` (the default) or `setconf`.
pub(crate) fn format_arg(format: Option<&str>) -> CoreResult<wiremesh::ConfigFormat> {
    match format {
        None => Ok(wiremesh::ConfigFormat::WgQuick),
        Some(text) => wiremesh::ConfigFormat::parse(text).ok_or_else(|| {
            invalid_value("format", format!("unknown format {text:?}: expected 'wg-quick' or 'setconf'"))
        }),
    }
}

/// Every node's configuration, computed from a mesh by `plan(mesh)`. Holds no secret in its plain
/// object or JSON; the rendered texts do contain the private keys known here.
#[napi(custom_finalize)]
pub struct Plan {
    pub(crate) inner: Arc<wiremesh::Plan>,
    /// The native memory reported to V8 for this plan (see [`Plan::new`]).
    external_bytes: i64,
}

impl ObjectFinalize for Plan {
    fn finalize(self, env: Env) -> Result<()> {
        env.adjust_external_memory(-self.external_bytes)?;
        Ok(())
    }
}

impl Plan {
    /// Wraps a core plan and tells V8 roughly how much native memory it holds, so the garbage collector
    /// counts it when deciding to run: a 1000-node full mesh holds a million peers (hundreds of MB), and a
    /// JavaScript object that looks small would otherwise keep that alive until the heap itself fills.
    pub(crate) fn new(env: &Env, plan: wiremesh::Plan) -> Result<Self> {
        let external_bytes = i64::try_from(approximate_size(&plan)).unwrap_or(i64::MAX / 2);
        env.adjust_external_memory(external_bytes)?;
        Ok(Plan { inner: Arc::new(plan), external_bytes })
    }

    fn node_plan(&self, name: &str) -> CoreResult<&wiremesh::NodePlan> {
        self.inner
            .node(name)
            .ok_or_else(|| wiremesh::MeshError::UnknownNode { field: "node".into(), name: name.to_string() }.into())
    }
}

#[napi]
impl Plan {
    /// The mesh's name.
    #[napi(getter)]
    pub fn mesh_name(&self) -> String {
        self.inner.mesh_name.to_string()
    }

    /// The mesh's topology.
    #[napi(getter, ts_return_type = "'full-mesh' | 'hub-and-spoke'")]
    pub fn topology(&self) -> String {
        self.inner.topology.as_str().to_string()
    }

    /// The mesh networks.
    #[napi(getter)]
    pub fn networks(&self) -> Vec<String> {
        self.inner.networks.iter().map(ToString::to_string).collect()
    }

    /// The node names, in declaration order.
    #[napi(getter)]
    pub fn node_names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.to_string()).collect()
    }

    /// The plan of the node called `name`, or `null`.
    #[napi]
    pub fn node(&self, name: String) -> Result<Option<NodePlan>> {
        self.inner.node(&name).map(|n| from_report(wiremesh::node_summary_json(n))).transpose()
    }

    /// The whole plan as a camelCase plain object (no secrets).
    #[napi]
    pub fn to_object(&self) -> Result<PlanObject> {
        from_report(wiremesh::plan_json(&self.inner))
    }

    /// The plan report as pretty JSON text (snake_case, as the CLI's `--json` prints it; no secrets).
    #[napi]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&wiremesh::plan_json(&self.inner)).expect("reports always serialise")
    }

    /// The plan report's JSON value, for `JSON.stringify` (no secrets).
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, unknown>")]
    pub fn to_json_value(&self) -> Value {
        wiremesh::plan_json(&self.inner)
    }

    /// `Plan(seed: 4 nodes, full-mesh)`.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        format!("Plan({}: {} nodes, {})", self.inner.mesh_name, self.inner.nodes.len(), self.inner.topology.as_str())
    }

    /// Renders the configuration of node `name` as `wg-quick` (default) or `setconf` text. Throws
    /// `mesh_unknown_node`, `mesh_missing_key` (private key unknown) or a `config_*` code.
    #[napi(ts_args_type = "name: string, format?: 'wg-quick' | 'setconf'", ts_return_type = "string")]
    pub fn render(&self, env: Env, name: String, format: Option<String>) -> Result<ConfigText> {
        let render = || -> CoreResult<String> {
            let format = format_arg(format.as_deref())?;
            wiremesh::render_node(self.node_plan(&name)?, format)
        };
        render().map(ConfigText).js(&env)
    }

    /// Renders every node (spread over the cores), in plan order.
    #[napi(ts_args_type = "format?: 'wg-quick' | 'setconf'")]
    pub fn render_all(&self, env: Env, format: Option<String>) -> Result<Vec<RenderedConfig>> {
        let format = format_arg(format.as_deref()).js(&env)?;
        let texts = wiremesh::render_all(&self.inner, format).js(&env)?;
        Ok(self
            .inner
            .nodes
            .iter()
            .zip(texts)
            .map(|(node, text)| RenderedConfig { name: node.name.to_string(), text: ConfigText(text) })
            .collect())
    }

    /// The typed configuration of node `name` (what `render` writes), as the object `parseWgQuick`
    /// returns. Throws `mesh_unknown_node` or `mesh_missing_key`.
    #[napi]
    pub fn config<'env>(&self, env: &'env Env, name: String) -> Result<WgConfig<'env>> {
        let config = self.node_plan(&name).and_then(wiremesh::node_config).js(env)?;
        config_object(env, &config)
    }
}

/// Compiles a mesh into a `Plan`: every node's interface and peers with the fewest AllowedIPs, keepalives
/// on the side behind NAT, preshared keys, relays. The mesh must be complete (see
/// `mesh.generateMissing()`). Throws `mesh_missing_key`, `mesh_missing_address`, `plan_unroutable_pair`
/// (with `pairs`) or another `mesh_*` code.
#[napi]
pub fn plan(env: Env, mesh: &Mesh) -> Result<Plan> {
    let planned = wiremesh::plan(&mesh.lock()).js(&env)?;
    Plan::new(&env, planned)
}

/// Proves the plan: follows a packet between every ordered pair, hop by hop. Returns what was proven, or
/// throws an Error with code `verify_failed` whose `problems` lists every problem.
#[napi]
pub fn verify(env: Env, plan: &Plan) -> Result<Proof> {
    wiremesh::verify(&plan.inner).map(|proof| proof_object(&proof)).js(&env)
}

/// Like `verify` but never throws: the proof and every problem found.
#[napi]
pub fn check(plan: &Plan) -> Result<CheckResult> {
    let (proof, problems) = wiremesh::check(&plan.inner);
    Ok(CheckResult {
        proof: proof_object(&proof),
        problems: problems.iter().map(|p| from_report(wiremesh::problem_json(p))).collect::<Result<_>>()?,
    })
}

/// The plan's topology as a Graphviz DOT graph (solid edges: peers; dashed: relayed pairs).
#[napi]
pub fn render_dot(plan: &Plan) -> String {
    wiremesh::render_dot(&plan.inner)
}

/// Renders every node and writes `<dir>/<node>.conf` for each, as the CLI does: the directory is
/// created (or tightened) to 0700, each file written 0600 to a synced temporary, and only when every
/// node rendered and every temporary was written are they renamed into place, so an error leaves the
/// directory as it was. Resolves to the paths written.
#[napi(ts_args_type = "plan: Plan, dir: string, format?: 'wg-quick' | 'setconf'", ts_return_type = "Promise<string[]>")]
pub fn write_configs(plan: &Plan, dir: String, format: Option<String>) -> AsyncTask<WriteConfigs> {
    AsyncTask::new(WriteConfigs { plan: Arc::clone(&plan.inner), dir: PathBuf::from(dir), format, prove: false })
}

/// Like `writeConfigs`, for a plan not yet proven: `verify` runs while the configs are written to
/// temporaries, and they are moved into place only if the plan is proven. A plan with problems rejects
/// with verify's error (every problem) and leaves the directory as it was — the same result as
/// `verify(plan)` then `writeConfigs(...)`, in about the time of the slower of the two.
#[napi(ts_args_type = "plan: Plan, dir: string, format?: 'wg-quick' | 'setconf'", ts_return_type = "Promise<string[]>")]
pub fn write_proven_configs(plan: &Plan, dir: String, format: Option<String>) -> AsyncTask<WriteConfigs> {
    AsyncTask::new(WriteConfigs { plan: Arc::clone(&plan.inner), dir: PathBuf::from(dir), format, prove: true })
}

/// Plans `mesh`, proves the plan and writes `<dir>/<node>.conf` for every node in one pass: configs are
/// written to synced temporaries while the rest of the mesh is still being planned, and renamed into
/// place (directory 0700, files 0600) only if the plan is proven. The same files and errors as
/// `writeProvenConfigs(plan(mesh), dir, format)`, sooner; the mesh is read as it is at the call. Resolves
/// to `{ plan, paths }`; rejects with `plan`'s, `verify`'s (`verify_failed`, with `problems`),
/// `mesh_missing_key` or an `io_*` code, leaving the directory as it was.
#[napi(
    ts_args_type = "mesh: Mesh, dir: string, format?: 'wg-quick' | 'setconf'",
    ts_return_type = "Promise<MeshConfigsWritten>"
)]
pub fn write_mesh_configs(mesh: &Mesh, dir: String, format: Option<String>) -> AsyncTask<WriteMeshConfigs> {
    AsyncTask::new(WriteMeshConfigs { mesh: mesh.lock().clone(), dir: PathBuf::from(dir), format })
}

/// What `writeMeshConfigs` resolves to.
#[napi(object, object_from_js = false)]
pub struct MeshConfigsWritten {
    /// The proven plan the configs were rendered from (equal to `plan(mesh)`).
    pub plan: Plan,
    /// The paths written, in node declaration order.
    pub paths: Vec<String>,
}

/// Background job: plan a mesh and write every node's config.
pub struct WriteMeshConfigs {
    /// A copy of the mesh taken at the call, so later changes to it do not race the job.
    mesh: wiremesh::Mesh,
    dir: PathBuf,
    format: Option<String>,
}

impl Task for WriteMeshConfigs {
    type Output = CoreResult<(wiremesh::Plan, Vec<String>)>;
    type JsValue = MeshConfigsWritten;

    fn compute(&mut self) -> Result<Self::Output> {
        let run = || -> CoreResult<(wiremesh::Plan, Vec<String>)> {
            let format = format_arg(self.format.as_deref())?;
            let (plan, paths) = wiremesh::write_mesh_configs(&self.mesh, &self.dir, format)?;
            Ok((plan, paths.iter().map(|p| p.display().to_string()).collect()))
        };
        Ok(run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<MeshConfigsWritten> {
        let (plan, paths) = output.map_err(|e| js_error(&env, e))?;
        Ok(MeshConfigsWritten { plan: Plan::new(&env, plan)?, paths })
    }
}

/// `writeMeshConfigs` keeping no plan: each node's peer entries are dropped as soon as its config is
/// rendered, so memory stays small even for very large meshes (what `wiremesh render --out` uses). The
/// same files and errors as `writeMeshConfigs`; the mesh is read as it is at the call. Resolves to
/// `{ proof, paths }`, the proof equal to `verify(plan(mesh))`.
#[napi(
    ts_args_type = "mesh: Mesh, dir: string, format?: 'wg-quick' | 'setconf'",
    ts_return_type = "Promise<MeshConfigsWrittenLean>"
)]
pub fn write_mesh_configs_lean(mesh: &Mesh, dir: String, format: Option<String>) -> AsyncTask<WriteMeshConfigsLean> {
    AsyncTask::new(WriteMeshConfigsLean { mesh: mesh.lock().clone(), dir: PathBuf::from(dir), format })
}

/// What `writeMeshConfigsLean` resolves to.
#[napi(object, object_from_js = false)]
pub struct MeshConfigsWrittenLean {
    /// What was proven about the plan the configs were rendered from (equal to `verify(plan(mesh))`).
    pub proof: Proof,
    /// The paths written, in node declaration order.
    pub paths: Vec<String>,
}

/// Background job: plan a mesh and write every node's config, keeping no plan.
pub struct WriteMeshConfigsLean {
    /// A copy of the mesh taken at the call, so later changes to it do not race the job.
    mesh: wiremesh::Mesh,
    dir: PathBuf,
    format: Option<String>,
}

impl Task for WriteMeshConfigsLean {
    type Output = CoreResult<(wiremesh::Proof, Vec<String>)>;
    type JsValue = MeshConfigsWrittenLean;

    fn compute(&mut self) -> Result<Self::Output> {
        let run = || -> CoreResult<(wiremesh::Proof, Vec<String>)> {
            let format = format_arg(self.format.as_deref())?;
            let (proof, paths) = wiremesh::write_mesh_configs_lean(&self.mesh, &self.dir, format)?;
            Ok((proof, paths.iter().map(|p| p.display().to_string()).collect()))
        };
        Ok(run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<MeshConfigsWrittenLean> {
        let (proof, paths) = output.map_err(|e| js_error(&env, e))?;
        Ok(MeshConfigsWrittenLean { proof: proof_object(&proof), paths })
    }
}

/// Background job: write every node's config.
pub struct WriteConfigs {
    plan: Arc<wiremesh::Plan>,
    dir: PathBuf,
    format: Option<String>,
    /// Prove the plan while writing (`writeProvenConfigs`).
    prove: bool,
}

impl Task for WriteConfigs {
    type Output = CoreResult<Vec<String>>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> Result<Self::Output> {
        let run = || -> CoreResult<Vec<String>> {
            let format = format_arg(self.format.as_deref())?;
            let paths = if self.prove {
                wiremesh::write_proven_configs(&self.plan, &self.dir, format)?
            } else {
                wiremesh::write_configs(&self.plan, &self.dir, format)?
            };
            Ok(paths.iter().map(|p| p.display().to_string()).collect())
        };
        Ok(run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Vec<String>> {
        output.map_err(|e| js_error(&env, e))
    }
}
