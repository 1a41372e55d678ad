//! `WgConfig` (one interface's configuration, as wg-quick and `wg setconf` texts describe it), the
//! parse and render functions, the importers, and the small validators of names, endpoints and
//! reservations.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use wiremesh::{Endpoint, Name, Reservation, WgConfig};

use crate::convert::{self, to_json, to_py, Secrets};
use crate::errors::check;
use crate::keys::{PyPresharedKey, PyPrivateKey, PyPublicKey};
use crate::mesh::PyMesh;

/// One WireGuard interface: the `[Interface]` settings and every `[Peer]`. Its repr never shows a
/// private or preshared key; `to_dict(reveal_secrets=True)` is the explicit way to read them.
#[pyclass(module = "wiremesh", name = "WgConfig", frozen)]
pub struct PyWgConfig {
    pub inner: WgConfig,
}

#[pymethods]
impl PyWgConfig {
    /// Builds a configuration from a dict in the shape `to_dict()` returns (every field optional
    /// except each peer's `public_key`; keys as base64 text or key objects). Raises ConfigError.
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let value = to_json(data, Secrets::Allow)?;
        Ok(PyWgConfig { inner: check(WgConfig::from_json_value(&value))? })
    }

    /// The configuration as a dict: `{"interface": {...}, "peers": [{...}]}` with every field present.
    /// By default the private key and preshared keys are PrivateKey/PresharedKey objects (whose repr
    /// hides them, and which `json.dumps` refuses); with `reveal_secrets=True` they are base64 text.
    #[pyo3(signature = (*, reveal_secrets = false))]
    fn to_dict<'py>(&self, py: Python<'py>, reveal_secrets: bool) -> PyResult<PyObject> {
        let value = self.inner.to_json_value(reveal_secrets);
        let dict = to_py(py, &value)?;
        if !reveal_secrets {
            let root = dict.bind(py).downcast::<PyDict>()?.clone();
            if let Some(key) = &self.inner.interface.private_key {
                let interface = root.get_item("interface")?.expect("interface is always present");
                interface.set_item("private_key", PyPrivateKey { inner: key.clone() })?;
            }
            let peers = root.get_item("peers")?.expect("peers are always present");
            let peers = peers.downcast::<PyList>()?;
            for (index, peer) in self.inner.peers.iter().enumerate() {
                if let Some(key) = &peer.preshared_key {
                    peers.get_item(index)?.set_item("preshared_key", PyPresharedKey { inner: key.clone() })?;
                }
            }
        }
        Ok(dict)
    }

    /// Renders the configuration as a wg-quick file. Raises ConfigError for unsafe values.
    fn to_wg_quick(&self) -> PyResult<String> {
        check(wiremesh::render_wg_quick(&self.inner))
    }

    /// Renders the configuration in the `wg setconf` dialect (wg-quick-only settings dropped).
    fn to_setconf(&self) -> PyResult<String> {
        check(wiremesh::render_setconf(&self.inner))
    }

    /// A copy without the wg-quick-only settings, as `wg-quick strip` prints it.
    fn stripped(&self) -> Self {
        PyWgConfig { inner: self.inner.stripped() }
    }

    /// SECRET (as an object whose repr hides it): the interface's private key, if present.
    #[getter]
    fn private_key(&self) -> Option<PyPrivateKey> {
        self.inner.interface.private_key.clone().map(|inner| PyPrivateKey { inner })
    }

    /// The interface's public key, derived from its private key.
    #[getter]
    fn public_key(&self) -> Option<PyPublicKey> {
        self.inner.interface.private_key.as_ref().map(|k| PyPublicKey { inner: k.public_key() })
    }

    /// `ListenPort`.
    #[getter]
    fn listen_port(&self) -> Option<u16> {
        self.inner.interface.listen_port
    }

    /// `Address` entries as `addr/len`.
    #[getter]
    fn addresses(&self) -> Vec<String> {
        convert::strings(&self.inner.interface.addresses)
    }

    /// The peers as dicts (secrets as key objects, as in `to_dict()`).
    #[getter]
    fn peers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dict = self.to_dict(py, false)?;
        dict.bind(py).get_item("peers")
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let iface = &self.inner.interface;
        let names: Vec<String> =
            self.inner.peers.iter().map(|p| p.name.clone().unwrap_or_else(|| p.public_key.to_base64())).collect();
        format!(
            "WgConfig(private_key={}, addresses={}, listen_port={}, peers={})",
            if iface.private_key.is_some() { "<redacted>" } else { "None" },
            convert::repr_list(&convert::strings(&iface.addresses)),
            iface.listen_port.map_or("None".to_string(), |p| p.to_string()),
            convert::repr_list(&names)
        )
    }
}

/// Parses a wg-quick file. `source_name` labels error locations. Raises ConfigError (with `line`,
/// `section`, `key`).
#[pyfunction]
#[pyo3(signature = (text, source_name = "<string>"))]
pub fn parse_wg_quick(text: &str, source_name: &str) -> PyResult<PyWgConfig> {
    Ok(PyWgConfig { inner: check(wiremesh::parse_wg_quick(text, source_name))? })
}

/// Parses the `wg setconf` dialect (wg-quick-only keys are refused). Raises ConfigError.
#[pyfunction]
#[pyo3(signature = (text, source_name = "<string>"))]
pub fn parse_setconf(text: &str, source_name: &str) -> PyResult<PyWgConfig> {
    Ok(PyWgConfig { inner: check(wiremesh::parse_setconf(text, source_name))? })
}

/// A WgConfig from a WgConfig or a dict in its `to_dict()` shape.
fn config_arg(config: &Bound<'_, PyAny>) -> PyResult<WgConfig> {
    if let Ok(config) = config.downcast::<PyWgConfig>() {
        return Ok(config.get().inner.clone());
    }
    Ok(PyWgConfig::from_dict(config)?.inner)
}

/// Renders a WgConfig (or a dict in its shape) as a wg-quick file. Raises ConfigError.
#[pyfunction]
pub fn render_wg_quick(config: &Bound<'_, PyAny>) -> PyResult<String> {
    check(wiremesh::render_wg_quick(&config_arg(config)?))
}

/// Renders a WgConfig (or a dict in its shape) in the `wg setconf` dialect. Raises ConfigError.
#[pyfunction]
pub fn render_setconf(config: &Bound<'_, PyAny>) -> PyResult<String> {
    check(wiremesh::render_setconf(&config_arg(config)?))
}

/// Builds a mesh from existing wg-quick files, `{node name: file text}` (one file per node; the
/// private keys stay in memory). Raises ConfigError or MeshError.
#[pyfunction]
#[pyo3(signature = (files, *, name = "imported"))]
pub fn import_wg_quick(py: Python<'_>, files: &Bound<'_, PyAny>, name: &str) -> PyResult<PyMesh> {
    let mesh_name = check(Name::new(name, "name"))?;
    let mut inputs = Vec::new();
    for item in files.call_method0("items")?.try_iter()? {
        let (node, text): (String, String) = item?.extract()?;
        let node_name = check(Name::new(&node, "file name"))?;
        let source = format!("{node}.conf");
        inputs.push((node_name, text, source));
    }
    let mesh = check(py.allow_threads(|| wiremesh::import_wg_quick(mesh_name, &inputs)))?;
    Ok(PyMesh { inner: mesh })
}

/// Builds a mesh from a wg-meshconf `database.csv` text (a full mesh; private keys stay in memory).
#[pyfunction]
#[pyo3(signature = (csv_text, *, name = "imported", source_name = "database.csv"))]
pub fn import_meshconf(csv_text: &str, name: &str, source_name: &str) -> PyResult<PyMesh> {
    let mesh_name = check(Name::new(name, "name"))?;
    Ok(PyMesh { inner: check(wiremesh::import_meshconf_csv(csv_text, mesh_name, source_name))? })
}

/// Returns `text` when it is a valid node, group or mesh name (`[A-Za-z0-9][A-Za-z0-9_.-]*`, at most
/// 63 characters); raises MeshError mesh_invalid_name otherwise.
#[pyfunction]
pub fn check_name(text: &str) -> PyResult<String> {
    Ok(check(Name::new(text, "name"))?.to_string())
}

/// The canonical form of an endpoint (`host:port`, IPv6 in brackets, DNS names lower-cased); raises
/// MeshError mesh_invalid_endpoint.
#[pyfunction]
pub fn parse_endpoint(text: &str) -> PyResult<String> {
    Ok(check(Endpoint::parse(text, "endpoint"))?.to_string())
}

/// The canonical form of an address reservation (`ADDR`, `ADDR/LEN` or `FIRST-LAST`); raises
/// IpamError ipam_invalid_reservation.
#[pyfunction]
pub fn parse_reservation(text: &str) -> PyResult<String> {
    Ok(check(Reservation::parse(text))?.to_string())
}

/// Whether `text` is safe inside a config value: no line break, control character, `[` or `#`.
#[pyfunction]
pub fn is_safe_value(text: &str) -> bool {
    wiremesh::is_safe_value(text)
}
