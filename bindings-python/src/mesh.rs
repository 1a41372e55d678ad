//! `Mesh` (the declaration: settings, nodes, rules) and `Node` (a read-only snapshot of one node).
//!
//! Everything goes through the core's mesh-file schema: keyword arguments and dicts become the JSON
//! the core deserialises and validates, so names, endpoints, CIDRs and every other value are checked
//! exactly as in a mesh file, with the same error codes.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Map, Value};
use wiremesh::{Mesh, MeshError, Node};

use crate::convert::{self, to_json, to_py, Secrets};
use crate::errors::check;
use crate::keys::{private_key_arg, PyPresharedKey, PyPrivateKey, PyPublicKey};
use crate::plan::PyPlan;
use crate::pool::PyPool;

/// Keyword arguments as a JSON object (absent when none).
fn kwargs_object(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Map<String, Value>> {
    match kwargs {
        None => Ok(Map::new()),
        Some(kwargs) => match to_json(kwargs.as_any(), Secrets::Refuse)? {
            Value::Object(object) => Ok(object),
            _ => unreachable!("a dict converts to an object"),
        },
    }
}

/// Takes the `private_key` keyword argument out of `kwargs` (it is not part of the mesh schema).
fn take_private_key(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Option<Option<wiremesh::PrivateKey>>> {
    let Some(kwargs) = kwargs else { return Ok(None) };
    let Some(value) = kwargs.get_item("private_key")? else { return Ok(None) };
    kwargs.del_item("private_key")?;
    if value.is_none() {
        return Ok(Some(None));
    }
    Ok(Some(Some(private_key_arg(&value)?)))
}

/// One node of a mesh, as it was when read (changing a node goes through `Mesh.update_node`).
/// Attribute names are the mesh-file field names.
#[pyclass(module = "wiremesh", name = "Node", frozen)]
pub struct PyNode {
    pub inner: Node,
}

#[pymethods]
impl PyNode {
    /// The node's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.name.as_str()
    }
    /// `host:port` where others reach it, or None behind NAT.
    #[getter]
    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint.as_ref().map(ToString::to_string)
    }
    /// Whether it may forward between other nodes.
    #[getter]
    fn relay(&self) -> bool {
        self.inner.relay
    }
    /// Overlay addresses, one per mesh network.
    #[getter]
    fn addresses(&self) -> Vec<String> {
        convert::strings(&self.inner.addresses)
    }
    /// The public key: declared, or derived from the in-memory private key.
    #[getter]
    fn public_key(&self) -> Option<PyPublicKey> {
        self.inner.effective_public_key().map(|inner| PyPublicKey { inner })
    }
    /// SECRET (as an object whose repr hides it): the in-memory private key, if known.
    #[getter]
    fn private_key(&self) -> Option<PyPrivateKey> {
        self.inner.private_key.clone().map(|inner| PyPrivateKey { inner })
    }
    /// Whether the private key is known in memory.
    #[getter]
    fn has_private_key(&self) -> bool {
        self.inner.private_key.is_some()
    }
    /// The key file, relative to the mesh file.
    #[getter]
    fn private_key_file(&self) -> Option<String> {
        self.inner.private_key_file.clone()
    }
    /// Where the key lives on the node itself (its config loads it from there).
    #[getter]
    fn private_key_on_node(&self) -> Option<String> {
        self.inner.private_key_on_node.clone()
    }
    /// `ListenPort` override.
    #[getter]
    fn listen_port(&self) -> Option<u16> {
        self.inner.listen_port
    }
    /// Groups, for rules.
    #[getter]
    fn groups(&self) -> Vec<String> {
        convert::strings(&self.inner.groups)
    }
    /// Networks behind the node.
    #[getter]
    fn subnets(&self) -> Vec<String> {
        convert::strings(&self.inner.subnets)
    }
    /// Keepalive override.
    #[getter]
    fn persistent_keepalive(&self) -> Option<u16> {
        self.inner.persistent_keepalive
    }
    /// MTU override.
    #[getter]
    fn mtu(&self) -> Option<u32> {
        self.inner.mtu
    }
    /// DNS override.
    #[getter]
    fn dns(&self) -> Vec<String> {
        self.inner.dns.clone()
    }
    /// wg-quick `Table`.
    #[getter]
    fn table(&self) -> Option<String> {
        self.inner.table.clone()
    }
    /// `FwMark`.
    #[getter]
    fn fwmark(&self) -> Option<u32> {
        self.inner.fwmark
    }
    /// wg-quick `PreUp` hooks.
    #[getter]
    fn pre_up(&self) -> Vec<String> {
        self.inner.pre_up.clone()
    }
    /// wg-quick `PostUp` hooks.
    #[getter]
    fn post_up(&self) -> Vec<String> {
        self.inner.post_up.clone()
    }
    /// wg-quick `PreDown` hooks.
    #[getter]
    fn pre_down(&self) -> Vec<String> {
        self.inner.pre_down.clone()
    }
    /// wg-quick `PostDown` hooks.
    #[getter]
    fn post_down(&self) -> Vec<String> {
        self.inner.post_down.clone()
    }

    /// The node in the mesh-file schema (no private key).
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        let value = serde_json::to_value(&self.inner).expect("nodes serialise to JSON");
        to_py(py, &value)
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let node = &self.inner;
        let endpoint = node.endpoint.as_ref().map_or("None".to_string(), |e| format!("'{e}'"));
        let key = node.effective_public_key().map_or("None".to_string(), |k| format!("'{k}'"));
        format!(
            "Node(name='{}', endpoint={endpoint}, relay={}, addresses={}, public_key={key}{})",
            node.name,
            if node.relay { "True" } else { "False" },
            convert::repr_list(&convert::strings(&node.addresses)),
            if node.private_key.is_some() { ", private_key=<redacted>" } else { "" },
        )
    }
}

/// A mesh description: settings, nodes and rules. Build it in code, load it from a TOML/JSON mesh file
/// or a dict; every change is validated (MeshError on failure, and the mesh is left unchanged).
#[pyclass(module = "wiremesh", name = "Mesh")]
pub struct PyMesh {
    pub inner: Mesh,
}

#[pymethods]
impl PyMesh {
    /// A mesh with no nodes. `settings` are the other `[mesh]` fields: `listen_port`,
    /// `persistent_keepalive`, `mtu`, `dns`, `preshared_keys`, `preshared_key_seed_file`, `hooks`,
    /// `relay_forwarding`, `allocation` (`"sequential"` or `"key-derived"`), `reserved`.
    #[new]
    #[pyo3(signature = (name, networks, topology = "full-mesh", **settings))]
    fn new(
        name: &str,
        networks: &Bound<'_, PyAny>,
        topology: &str,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let mut table = kwargs_object(settings)?;
        table.insert("name".into(), Value::from(name));
        table.insert("networks".into(), to_json(networks, Secrets::Refuse)?);
        table.insert("topology".into(), Value::from(topology));
        let value = serde_json::json!({ "mesh": table });
        Ok(PyMesh { inner: check(Mesh::from_json_value(value, "Mesh()"))? })
    }

    /// Loads a mesh file (`.json` is JSON, anything else TOML) and the key files it references.
    #[staticmethod]
    fn load(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let path = convert::path(path)?;
        Ok(PyMesh { inner: check(py.allow_threads(|| Mesh::load(&path)))? })
    }

    /// Parses a mesh from TOML text.
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<Self> {
        Ok(PyMesh { inner: check(py.allow_threads(|| Mesh::from_toml_str(text)))? })
    }

    /// Parses a mesh from JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        Ok(PyMesh { inner: check(py.allow_threads(|| Mesh::from_json_str(text)))? })
    }

    /// Builds a mesh from a dict in the mesh-file schema (`{"mesh": {...}, "nodes": [...], "rules": [...]}`).
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let value = to_json(data, Secrets::Refuse)?;
        Ok(PyMesh { inner: check(Mesh::from_json_value(value, "<dict>"))? })
    }

    /// Saves the mesh to `path` atomically; in-memory private keys and the preshared-key seed are first
    /// written to `<stem>.keys/` (0700 directory, 0600 files) and referenced from the file.
    fn save(&mut self, py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = convert::path(path)?;
        let mesh = &mut self.inner;
        check(py.allow_threads(|| mesh.save(&path)))
    }

    /// The mesh as TOML (no secrets).
    fn to_toml(&self) -> String {
        self.inner.to_toml_string()
    }

    /// The mesh as JSON (no secrets).
    fn to_json(&self) -> String {
        self.inner.to_json_string()
    }

    /// The mesh as a dict in the mesh-file schema (no secrets); `Mesh.from_dict` reads it back.
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py(py, &self.inner.to_json_value())
    }

    /// The mesh's name.
    #[getter]
    fn name(&self) -> &str {
        self.inner.mesh.name.as_str()
    }

    /// The overlay networks.
    #[getter]
    fn networks(&self) -> Vec<String> {
        convert::strings(&self.inner.mesh.networks)
    }

    /// `"full-mesh"` or `"hub-and-spoke"`.
    #[getter]
    fn topology(&self) -> &'static str {
        self.inner.mesh.topology.as_str()
    }

    /// Every `[mesh]` setting as a dict (fields at their default are left out).
    #[getter]
    fn settings(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py(py, &self.inner.to_json_value()["mesh"])
    }

    /// The nodes, in declaration order (snapshots).
    #[getter]
    fn nodes(&self) -> Vec<PyNode> {
        self.inner.nodes.iter().map(|n| PyNode { inner: n.clone() }).collect()
    }

    /// The rules, as dicts `{"between": [a, b], "link": ...}`.
    #[getter]
    fn rules(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py(py, &serde_json::to_value(&self.inner.rules).expect("rules serialise to JSON"))
    }

    /// SECRET (as an object whose repr hides it): the seed pair preshared keys are derived from.
    #[getter]
    fn preshared_key_seed(&self) -> Option<PyPresharedKey> {
        self.inner.preshared_key_seed.clone().map(|inner| PyPresharedKey { inner })
    }

    #[setter]
    fn set_preshared_key_seed(&mut self, seed: Option<PyRef<'_, PyPresharedKey>>) {
        self.inner.preshared_key_seed = seed.map(|s| s.inner.clone());
    }

    /// The node called `name` (MeshError mesh_unknown_node when there is none).
    fn node(&self, name: &str) -> PyResult<PyNode> {
        match self.inner.node(name) {
            Some(node) => Ok(PyNode { inner: node.clone() }),
            None => Err(unknown_node(name)),
        }
    }

    /// Adds a node. Keyword arguments are the `[[nodes]]` fields (`endpoint`, `relay`, `addresses`,
    /// `groups`, `subnets`, `public_key`, `private_key_file`, `private_key_on_node`, `listen_port`,
    /// `persistent_keepalive`, `mtu`, `dns`, `table`, `fwmark`, `pre_up`, `post_up`, `pre_down`,
    /// `post_down`) plus `private_key`, an in-memory PrivateKey (or its base64 text). `None` values are
    /// the same as leaving the argument out.
    #[pyo3(signature = (name, **fields))]
    fn add_node(&mut self, name: &str, fields: Option<&Bound<'_, PyDict>>) -> PyResult<PyNode> {
        let private_key = take_private_key(fields)?.flatten();
        let mut object = kwargs_object(fields)?;
        // `None` means "not given" here (as in the signature's defaults).
        object.retain(|_, value| !value.is_null());
        object.insert("name".into(), Value::from(name));
        let field = format!("nodes[{}]", self.inner.nodes.len());
        let mut node = check(Node::from_json_value(Value::Object(object), &field))?;
        node.private_key = private_key;
        check(self.inner.add_node(node.clone()))?;
        Ok(PyNode { inner: self.inner.nodes.last().cloned().unwrap_or(node) })
    }

    /// Changes fields of the node called `node` (same keywords as `add_node`, `name=` renames it;
    /// `None` resets a field to its default). On error the mesh is unchanged.
    #[pyo3(signature = (node, /, **fields))]
    fn update_node(&mut self, node: &str, fields: Option<&Bound<'_, PyDict>>) -> PyResult<PyNode> {
        let name = node;
        let private_key = take_private_key(fields)?;
        let patch = Value::Object(kwargs_object(fields)?);
        let mut next = self.inner.clone();
        check(next.update_node(name, &patch))?;
        let new_name = patch.get("name").and_then(Value::as_str).unwrap_or(name).to_string();
        if let Some(key) = private_key {
            let node = next.node_mut(&new_name).ok_or_else(|| unknown_node(&new_name))?;
            node.private_key = key;
            check(next.validate())?;
        }
        self.inner = next;
        self.node(&new_name)
    }

    /// Removes the node called `name` and returns it.
    fn remove_node(&mut self, name: &str) -> PyResult<PyNode> {
        Ok(PyNode { inner: check(self.inner.remove_node(name))? })
    }

    /// Adds a rule between two groups (`"*"` is every node, a node name that node); `link` is
    /// `"direct"`, `"relay"` or `"none"`. The first matching rule decides a pair.
    #[pyo3(signature = (a, b, link = "direct"))]
    fn add_rule(&mut self, a: &str, b: &str, link: &str) -> PyResult<()> {
        let mut value = self.inner.to_json_value();
        let rules = value
            .as_object_mut()
            .expect("a mesh is an object")
            .entry("rules")
            .or_insert_with(|| Value::Array(Vec::new()));
        rules.as_array_mut().expect("rules are a list").push(serde_json::json!({"between": [a, b], "link": link}));
        let mut next = check(Mesh::from_json_value(value, "add_rule()"))?;
        // The value has no secrets: carry them over.
        for (node, old) in next.nodes.iter_mut().zip(&self.inner.nodes) {
            node.private_key = old.private_key.clone();
        }
        next.preshared_key_seed = self.inner.preshared_key_seed.clone();
        self.inner = next;
        Ok(())
    }

    /// Checks the whole mesh (it is always checked on change; useful after `from_dict` edits elsewhere).
    fn validate(&self) -> PyResult<()> {
        check(self.inner.validate())
    }

    /// Generates what is missing, in memory: private keys, addresses (as `allocation` says) and the
    /// preshared-key seed. Existing values never change. Returns what was generated:
    /// `{"keys": [node names], "addresses": [(node, address)], "preshared_key_seed": bool}`.
    fn generate_missing<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mesh = &mut self.inner;
        let generated = check(py.allow_threads(|| mesh.generate_missing()))?;
        let out = PyDict::new(py);
        out.set_item("keys", convert::strings(&generated.keys))?;
        let addresses: Vec<(String, String)> =
            generated.addresses.iter().map(|(n, a)| (n.to_string(), a.to_string())).collect();
        out.set_item("addresses", PyList::new(py, addresses)?)?;
        out.set_item("preshared_key_seed", generated.preshared_key_seed)?;
        Ok(out)
    }

    /// The address pool of mesh network number `network` with reservations and taken addresses marked.
    #[pyo3(signature = (network = 0))]
    fn pool(&self, network: usize) -> PyResult<PyPool> {
        Ok(PyPool { inner: check(self.inner.pool(network))? })
    }

    /// Plans the mesh (same as `wiremesh.plan(mesh)`).
    fn plan(&self, py: Python<'_>) -> PyResult<PyPlan> {
        crate::plan::plan_mesh(py, &self.inner)
    }

    fn __len__(&self) -> usize {
        self.inner.nodes.len()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>().is_ok_and(|n| self.inner.node(&n).is_some())
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<PyObject> {
        let list = PyList::new(py, self.nodes())?;
        Ok(list.try_iter()?.into_any().unbind())
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __copy__(&self) -> Self {
        PyMesh { inner: self.inner.clone() }
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        PyMesh { inner: self.inner.clone() }
    }

    fn __repr__(&self) -> String {
        format!(
            "Mesh(name='{}', networks={}, topology='{}', nodes={})",
            self.inner.mesh.name,
            convert::repr_list(&convert::strings(&self.inner.mesh.networks)),
            self.inner.mesh.topology.as_str(),
            self.inner.nodes.len()
        )
    }
}

fn unknown_node(name: &str) -> PyErr {
    Python::with_gil(|py| {
        crate::errors::to_py_err(py, MeshError::UnknownNode { field: "nodes".into(), name: name.into() }.into())
    })
}
