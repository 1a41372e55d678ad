//! `Plan` (every node's interface and peers), its views `NodePlan` and `PeerPlan`, the proof types
//! `Proof` and `Problem`, and the functions over plans: plan, verify, check, write_configs,
//! write_proven_configs, write_mesh_configs, write_mesh_configs_lean, render_dot.
//!
//! A `Plan` shares one immutable core plan; `NodePlan`/`PeerPlan` are cheap views into it. Dict views
//! are the core's JSON reports, which never contain a secret.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use wiremesh::{KeySource, Mesh, MeshError, NodePlan, PeerPlan, Plan, Problem, Proof, Reach};

use crate::config::PyWgConfig;
use crate::convert::{self, to_py};
use crate::errors::{check, to_py_err};
use crate::keys::{PyPresharedKey, PyPublicKey};
use crate::mesh::PyMesh;

/// Plans `mesh` with the GIL released.
pub fn plan_mesh(py: Python<'_>, mesh: &Mesh) -> PyResult<PyPlan> {
    let plan = check(py.allow_threads(|| wiremesh::plan(mesh)))?;
    Ok(PyPlan { inner: Arc::new(plan) })
}

fn unknown_node(py: Python<'_>, name: &str) -> PyErr {
    to_py_err(py, MeshError::UnknownNode { field: "plan".into(), name: name.into() }.into())
}

/// Every node's configuration, computed from a mesh by `wiremesh.plan(mesh)`. Immutable.
#[pyclass(module = "wiremesh", name = "Plan", frozen)]
pub struct PyPlan {
    pub inner: Arc<Plan>,
}

impl PyPlan {
    fn index(&self, py: Python<'_>, name: &str) -> PyResult<usize> {
        self.inner.nodes.iter().position(|n| n.name == name).ok_or_else(|| unknown_node(py, name))
    }

    fn view(&self, index: usize) -> PyNodePlan {
        PyNodePlan { plan: self.inner.clone(), index }
    }
}

#[pymethods]
impl PyPlan {
    /// The mesh's name.
    #[getter]
    fn mesh_name(&self) -> &str {
        self.inner.mesh_name.as_str()
    }

    /// `"full-mesh"` or `"hub-and-spoke"`.
    #[getter]
    fn topology(&self) -> &'static str {
        self.inner.topology.as_str()
    }

    /// The mesh networks.
    #[getter]
    fn networks(&self) -> Vec<String> {
        convert::strings(&self.inner.networks)
    }

    /// Every node's plan, in declaration order.
    #[getter]
    fn nodes(&self) -> Vec<PyNodePlan> {
        (0..self.inner.nodes.len()).map(|i| self.view(i)).collect()
    }

    /// The plan of the node called `name` (MeshError mesh_unknown_node when there is none).
    fn node(&self, py: Python<'_>, name: &str) -> PyResult<PyNodePlan> {
        Ok(self.view(self.index(py, name)?))
    }

    /// Renders one node's configuration: `format` is `"wg-quick"` (default) or `"setconf"`.
    #[pyo3(signature = (node, format = "wg-quick"))]
    fn render(&self, py: Python<'_>, node: &str, format: &str) -> PyResult<String> {
        let format = convert::format(format)?;
        let node = &self.inner.nodes[self.index(py, node)?];
        check(py.allow_threads(|| wiremesh::render_node(node, format)))
    }

    /// Renders every node (GIL released, in parallel): `{node name: text}` in plan order. Texts become
    /// Python strings on this thread while the rest are still being rendered.
    #[pyo3(signature = (format = "wg-quick"))]
    fn render_all<'py>(&self, py: Python<'py>, format: &str) -> PyResult<Bound<'py, PyDict>> {
        let format = convert::format(format)?;
        let plan = &self.inner;
        let out: Py<PyDict> = PyDict::new(py).unbind();
        // Inserting can only fail for lack of memory; the first such error is kept and raised after.
        let mut insert_error: Option<PyErr> = None;
        let rendered = py.allow_threads(|| {
            wiremesh::render_each(plan, format, |index, text| {
                if insert_error.is_none() {
                    Python::with_gil(|py| {
                        if let Err(err) = out.bind(py).set_item(plan.nodes[index].name.as_str(), text) {
                            insert_error = Some(err);
                        }
                    });
                }
                Ok(())
            })
        });
        check(rendered)?;
        if let Some(err) = insert_error {
            return Err(err);
        }
        Ok(out.into_bound(py))
    }

    /// The typed configuration of one node (a WgConfig; its repr hides the keys).
    fn config(&self, py: Python<'_>, node: &str) -> PyResult<PyWgConfig> {
        let node = &self.inner.nodes[self.index(py, node)?];
        Ok(PyWgConfig { inner: check(wiremesh::node_config(node))? })
    }

    /// The plan as a dict: the core's JSON report (what `wiremesh plan --json` prints); no secrets.
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        let value = py.allow_threads(|| wiremesh::plan_json(&self.inner));
        to_py(py, &value)
    }

    /// `to_dict()` as pretty JSON text.
    fn to_json(&self, py: Python<'_>) -> String {
        py.allow_threads(|| {
            serde_json::to_string_pretty(&wiremesh::plan_json(&self.inner)).expect("JSON values serialise")
        })
    }

    fn __len__(&self) -> usize {
        self.inner.nodes.len()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>().is_ok_and(|n| self.inner.node(&n).is_some())
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<PyObject> {
        let list = pyo3::types::PyList::new(py, self.nodes())?;
        Ok(list.try_iter()?.into_any().unbind())
    }

    fn __getitem__(&self, py: Python<'_>, name: &str) -> PyResult<PyNodePlan> {
        self.node(py, name)
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        format!(
            "Plan(mesh_name='{}', topology='{}', nodes={})",
            self.inner.mesh_name,
            self.inner.topology.as_str(),
            self.inner.nodes.len()
        )
    }
}

/// One node's interface and peers (a view into a Plan).
#[pyclass(module = "wiremesh", name = "NodePlan", frozen)]
pub struct PyNodePlan {
    plan: Arc<Plan>,
    index: usize,
}

impl PyNodePlan {
    fn get(&self) -> &NodePlan {
        &self.plan.nodes[self.index]
    }
}

#[pymethods]
impl PyNodePlan {
    /// The node's name.
    #[getter]
    fn name(&self) -> &str {
        self.get().name.as_str()
    }
    /// The node's public key.
    #[getter]
    fn public_key(&self) -> PyPublicKey {
        PyPublicKey { inner: self.get().public_key }
    }
    /// Where the private key comes from: `"inline"` (embedded in the config), `"on_node"` (loaded on
    /// the node from `private_key_path`) or `"unknown"` (rendering fails).
    #[getter]
    fn key_source(&self) -> &'static str {
        match self.get().private_key {
            KeySource::Inline(_) => "inline",
            KeySource::OnNode(_) => "on_node",
            KeySource::Unknown => "unknown",
        }
    }
    /// The key's path on the node when `key_source` is `"on_node"`.
    #[getter]
    fn private_key_path(&self) -> Option<String> {
        match &self.get().private_key {
            KeySource::OnNode(path) => Some(path.clone()),
            _ => None,
        }
    }
    /// Interface addresses with the networks' prefix lengths.
    #[getter]
    fn addresses(&self) -> Vec<String> {
        convert::strings(&self.get().addresses)
    }
    /// Networks behind the node.
    #[getter]
    fn subnets(&self) -> Vec<String> {
        convert::strings(&self.get().subnets)
    }
    /// The node's own endpoint, if public.
    #[getter]
    fn endpoint(&self) -> Option<String> {
        self.get().endpoint.as_ref().map(ToString::to_string)
    }
    /// `ListenPort`.
    #[getter]
    fn listen_port(&self) -> Option<u16> {
        self.get().listen_port
    }
    /// Declared relay.
    #[getter]
    fn relay(&self) -> bool {
        self.get().relay
    }
    /// Whether the config enables IP forwarding (a relay that forwards for someone).
    #[getter]
    fn forwarding_hooks(&self) -> bool {
        self.get().forwarding_hooks
    }
    /// `MTU`.
    #[getter]
    fn mtu(&self) -> Option<u32> {
        self.get().mtu
    }
    /// `DNS`.
    #[getter]
    fn dns(&self) -> Vec<String> {
        self.get().dns.clone()
    }
    /// `Table`.
    #[getter]
    fn table(&self) -> Option<String> {
        self.get().table.clone()
    }
    /// `FwMark`.
    #[getter]
    fn fwmark(&self) -> Option<u32> {
        self.get().fwmark
    }
    /// The node's own hooks (when the mesh enables hooks).
    #[getter]
    fn pre_up(&self) -> Vec<String> {
        self.get().pre_up.clone()
    }
    /// See `pre_up`.
    #[getter]
    fn post_up(&self) -> Vec<String> {
        self.get().post_up.clone()
    }
    /// See `pre_up`.
    #[getter]
    fn pre_down(&self) -> Vec<String> {
        self.get().pre_down.clone()
    }
    /// See `pre_up`.
    #[getter]
    fn post_down(&self) -> Vec<String> {
        self.get().post_down.clone()
    }
    /// The peers, in node declaration order.
    #[getter]
    fn peers(&self) -> Vec<PyPeerPlan> {
        (0..self.get().peers.len()).map(|peer| PyPeerPlan { plan: self.plan.clone(), node: self.index, peer }).collect()
    }
    /// How every other node is reached: `{"node": name, "reach": "direct"|"relay"|"blocked", "via": relay|None}`.
    #[getter]
    fn routes<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.get()
            .routes
            .iter()
            .map(|route| {
                let (reach, via) = match &route.reach {
                    Reach::Direct => ("direct", None),
                    Reach::Via(relay) => ("relay", Some(relay.as_str())),
                    Reach::Blocked => ("blocked", None),
                };
                let dict = PyDict::new(py);
                dict.set_item("node", route.node.as_str())?;
                dict.set_item("reach", reach)?;
                dict.set_item("via", via)?;
                Ok(dict)
            })
            .collect()
    }
    /// Per relayed destination: `{"node", "prefixes", "primary", "backups"}` — the relay that carries
    /// it and the backup relays (declaration order) that take it when the primary is down.
    #[getter]
    fn failover(&self, py: Python<'_>) -> PyResult<Vec<PyObject>> {
        self.get().failover.iter().map(|route| to_py(py, &wiremesh::failover_route_json(route))).collect()
    }
    /// The relays this node sends relayed traffic through or could (primaries and backups).
    #[getter]
    fn failover_relays(&self) -> Vec<String> {
        convert::strings(&self.get().failover_relays())
    }
    /// The peer called `name`, or None.
    fn peer(&self, name: &str) -> Option<PyPeerPlan> {
        self.get().peers.iter().position(|p| p.name == name).map(|peer| PyPeerPlan {
            plan: self.plan.clone(),
            node: self.index,
            peer,
        })
    }
    /// Renders this node's configuration (`"wg-quick"` or `"setconf"`).
    #[pyo3(signature = (format = "wg-quick"))]
    fn render(&self, py: Python<'_>, format: &str) -> PyResult<String> {
        let format = convert::format(format)?;
        let node = self.get();
        check(py.allow_threads(|| wiremesh::render_node(node, format)))
    }
    /// The typed configuration (a WgConfig).
    fn config(&self) -> PyResult<PyWgConfig> {
        Ok(PyWgConfig { inner: check(wiremesh::node_config(self.get()))? })
    }
    /// The node as a dict (the core's JSON report; no secrets).
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py(py, &wiremesh::node_summary_json(self.get()))
    }
    fn __repr__(&self) -> String {
        let node = self.get();
        format!(
            "NodePlan(name='{}', addresses={}, peers={})",
            node.name,
            convert::repr_list(&convert::strings(&node.addresses)),
            node.peers.len()
        )
    }
}

/// One `[Peer]` of a node (a view into a Plan).
#[pyclass(module = "wiremesh", name = "PeerPlan", frozen)]
pub struct PyPeerPlan {
    plan: Arc<Plan>,
    node: usize,
    peer: usize,
}

impl PyPeerPlan {
    fn get(&self) -> &PeerPlan {
        &self.plan.nodes[self.node].peers[self.peer]
    }
}

#[pymethods]
impl PyPeerPlan {
    /// The peer node's name.
    #[getter]
    fn name(&self) -> &str {
        self.get().name.as_str()
    }
    /// The peer's public key.
    #[getter]
    fn public_key(&self) -> PyPublicKey {
        PyPublicKey { inner: self.get().public_key }
    }
    /// Whether the pair has a preshared key.
    #[getter]
    fn has_preshared_key(&self) -> bool {
        self.get().preshared_key.is_some()
    }
    /// SECRET (as an object whose repr hides it): the pair's preshared key, if any.
    #[getter]
    fn preshared_key(&self) -> Option<PyPresharedKey> {
        self.get().preshared_key.clone().map(|inner| PyPresharedKey { inner })
    }
    /// Where to send the first handshake.
    #[getter]
    fn endpoint(&self) -> Option<String> {
        self.get().endpoint.as_ref().map(ToString::to_string)
    }
    /// The prefixes routed to this peer.
    #[getter]
    fn allowed_ips(&self) -> Vec<String> {
        convert::strings(&self.get().allowed_ips)
    }
    /// Keepalive interval (set on the side behind NAT).
    #[getter]
    fn persistent_keepalive(&self) -> Option<u16> {
        self.get().persistent_keepalive
    }
    /// Nodes reached through this peer.
    #[getter]
    fn relays_for(&self) -> Vec<String> {
        convert::strings(&self.get().relays_for)
    }
    /// The peer as a dict (the core's JSON report; no secrets).
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py(py, &wiremesh::peer_json(self.get()))
    }
    fn __repr__(&self) -> String {
        let peer = self.get();
        format!(
            "PeerPlan(name='{}', allowed_ips={}, endpoint={})",
            peer.name,
            convert::repr_list(&convert::strings(&peer.allowed_ips)),
            peer.endpoint.as_ref().map_or("None".to_string(), |e| format!("'{e}'"))
        )
    }
}

/// What a successful verification proved.
#[pyclass(module = "wiremesh", name = "Proof", frozen)]
pub struct PyProof {
    inner: Proof,
}

#[pymethods]
impl PyProof {
    /// Ordered pairs proven to reach each other.
    #[getter]
    fn pairs_proven(&self) -> usize {
        self.inner.pairs_proven
    }
    /// Of those, pairs whose path goes through a relay.
    #[getter]
    fn relayed_pairs(&self) -> usize {
        self.inner.relayed_pairs
    }
    /// Ordered pairs proven unable to reach each other, as policy asks.
    #[getter]
    fn pairs_blocked(&self) -> usize {
        self.inner.pairs_blocked
    }
    /// Packet paths followed.
    #[getter]
    fn paths_followed(&self) -> usize {
        self.inner.paths_followed
    }
    /// The counts as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("pairs_proven", self.inner.pairs_proven)?;
        dict.set_item("relayed_pairs", self.inner.relayed_pairs)?;
        dict.set_item("pairs_blocked", self.inner.pairs_blocked)?;
        dict.set_item("paths_followed", self.inner.paths_followed)?;
        Ok(dict)
    }
    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "Proof(pairs_proven={}, relayed_pairs={}, pairs_blocked={}, paths_followed={})",
            p.pairs_proven, p.relayed_pairs, p.pairs_blocked, p.paths_followed
        )
    }
}

/// One thing that keeps a plan from working: a stable `code` (one of PROBLEM_CODES) and what it involves.
#[pyclass(module = "wiremesh", name = "Problem", frozen)]
pub struct PyProblem {
    inner: Problem,
}

impl From<Problem> for PyProblem {
    fn from(inner: Problem) -> Self {
        PyProblem { inner }
    }
}

#[pymethods]
impl PyProblem {
    /// Stable code, e.g. `"no_route"`.
    #[getter]
    fn code(&self) -> &'static str {
        self.inner.code
    }
    /// The ordered pair (from, to) concerned, if any.
    #[getter]
    fn pair(&self) -> Option<(String, String)> {
        self.inner.pair.as_ref().map(|(a, b)| (a.to_string(), b.to_string()))
    }
    /// The node where the packet or check failed, if any.
    #[getter]
    fn hop(&self) -> Option<String> {
        self.inner.hop.as_ref().map(ToString::to_string)
    }
    /// The prefix or address involved, if any.
    #[getter]
    fn prefix(&self) -> Option<String> {
        self.inner.prefix.map(|p| p.to_string())
    }
    /// A one-line explanation.
    #[getter]
    fn message(&self) -> &str {
        &self.inner.message
    }
    /// The problem as a dict (the core's JSON report).
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py(py, &wiremesh::problem_json(&self.inner))
    }
    fn __str__(&self) -> String {
        self.inner.to_string()
    }
    fn __repr__(&self) -> String {
        format!("Problem(code='{}', message={:?})", self.inner.code, self.inner.message)
    }
}

/// Compiles a mesh into a Plan (GIL released). The mesh must be complete (see
/// `Mesh.generate_missing`). Raises MeshError or PlanError.
#[pyfunction]
pub fn plan(py: Python<'_>, mesh: PyRef<'_, PyMesh>) -> PyResult<PyPlan> {
    plan_mesh(py, &mesh.inner)
}

/// Proves a plan (GIL released): returns a Proof, or raises VerifyError whose `problems` list every
/// Problem found.
#[pyfunction]
pub fn verify(py: Python<'_>, plan: PyRef<'_, PyPlan>) -> PyResult<PyProof> {
    let inner = &plan.inner;
    let proof = check(py.allow_threads(|| wiremesh::verify(inner)))?;
    Ok(PyProof { inner: proof })
}

/// Checks a plan without raising: `(proof, problems)`; the plan is proven when `problems` is empty.
#[pyfunction(name = "check")]
pub fn check_plan(py: Python<'_>, plan: PyRef<'_, PyPlan>) -> (PyProof, Vec<PyProblem>) {
    let inner = &plan.inner;
    let (proof, problems) = py.allow_threads(|| wiremesh::check(inner));
    (PyProof { inner: proof }, problems.into_iter().map(PyProblem::from).collect())
}

/// Writes `<directory>/<node>.conf` for every node (GIL released): the directory is created or
/// tightened to 0700, files are written 0600 and atomically, and only when every node rendered and every
/// file was written are they moved into place, so an error leaves no partial files. Returns the paths.
#[pyfunction]
#[pyo3(signature = (plan, directory, format = "wg-quick"))]
pub fn write_configs(
    py: Python<'_>,
    plan: PyRef<'_, PyPlan>,
    directory: &Bound<'_, PyAny>,
    format: &str,
) -> PyResult<Vec<String>> {
    write_each(py, &plan, directory, format, wiremesh::write_configs)
}

/// Like `write_configs`, for a plan not yet proven: `verify` runs while the configs are written to
/// temporaries, and they are moved into place only if the plan is proven (GIL released). A plan with
/// problems raises verify's error (a `VerifyError` with every problem) and leaves the directory as it
/// was. The same result as `verify(plan)` then `write_configs(...)`, in about the time of the slower.
#[pyfunction]
#[pyo3(signature = (plan, directory, format = "wg-quick"))]
pub fn write_proven_configs(
    py: Python<'_>,
    plan: PyRef<'_, PyPlan>,
    directory: &Bound<'_, PyAny>,
    format: &str,
) -> PyResult<Vec<String>> {
    write_each(py, &plan, directory, format, wiremesh::write_proven_configs)
}

/// Plans `mesh`, proves the plan and writes `<directory>/<node>.conf` for every node in one pass (GIL
/// released): configs are written to temporaries while the rest of the mesh is still being planned, and
/// they are moved into place (directory 0700, files 0600) only if the plan is proven. The same files and
/// errors as `write_proven_configs(plan(mesh), directory, format)`, sooner. Returns `(plan, paths)`; an
/// error (MeshError, PlanError, VerifyError, an OSError) leaves no partial files.
#[pyfunction]
#[pyo3(signature = (mesh, directory, format = "wg-quick"))]
pub fn write_mesh_configs(
    py: Python<'_>,
    mesh: PyRef<'_, PyMesh>,
    directory: &Bound<'_, PyAny>,
    format: &str,
) -> PyResult<(PyPlan, Vec<String>)> {
    let format = convert::format(format)?;
    let directory = convert::path(directory)?;
    let inner = &mesh.inner;
    let (plan, written) = check(py.allow_threads(|| wiremesh::write_mesh_configs(inner, &directory, format)))?;
    Ok((PyPlan { inner: Arc::new(plan) }, path_strings(&written)))
}

/// `write_mesh_configs` keeping no plan (GIL released): each node's peer entries are dropped as soon as
/// its config is rendered, so memory stays small even for very large meshes. The same files and errors
/// as `write_mesh_configs`; returns `(proof, paths)`, the proof equal to `verify(plan(mesh))`. What
/// `wiremesh render --out` uses.
#[pyfunction]
#[pyo3(signature = (mesh, directory, format = "wg-quick"))]
pub fn write_mesh_configs_lean(
    py: Python<'_>,
    mesh: PyRef<'_, PyMesh>,
    directory: &Bound<'_, PyAny>,
    format: &str,
) -> PyResult<(PyProof, Vec<String>)> {
    let format = convert::format(format)?;
    let directory = convert::path(directory)?;
    let inner = &mesh.inner;
    let (proof, written) = check(py.allow_threads(|| wiremesh::write_mesh_configs_lean(inner, &directory, format)))?;
    Ok((PyProof { inner: proof }, path_strings(&written)))
}

/// Converts the arguments, runs `write` with the GIL released and returns the paths as strings.
fn write_each(
    py: Python<'_>,
    plan: &PyPlan,
    directory: &Bound<'_, PyAny>,
    format: &str,
    write: fn(
        &wiremesh::Plan,
        &std::path::Path,
        wiremesh::ConfigFormat,
    ) -> Result<Vec<std::path::PathBuf>, wiremesh::Error>,
) -> PyResult<Vec<String>> {
    let format = convert::format(format)?;
    let directory = convert::path(directory)?;
    let inner = &plan.inner;
    let written = check(py.allow_threads(|| write(inner, &directory, format)))?;
    Ok(path_strings(&written))
}

/// Written paths as the strings Python gets back.
fn path_strings(paths: &[std::path::PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}

/// The plan's topology as a Graphviz DOT graph.
#[pyfunction]
pub fn render_dot(plan: PyRef<'_, PyPlan>) -> String {
    wiremesh::render_dot(&plan.inner)
}
