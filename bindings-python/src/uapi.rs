//! The cross-platform userspace API (`get=1` / `set=1`, what `wg` speaks over
//! `/var/run/wireguard/IFNAME.sock`): `DeviceState` / `PeerState` (a `get` answer), `DeviceUpdate` /
//! `PeerUpdate` (a `set` request), the parse and render functions, and `UapiClient`.
//!
//! All four value types are immutable, built with keyword arguments (or `from_dict`, whose keys are
//! those keyword arguments) and read through attributes or `to_dict()`. Keys are accepted as key objects,
//! wg's base64 text or the UAPI's 64 hex digits; private and preshared keys never appear in `repr()`.
//! Values the protocol would refuse (an endpoint that is not `IP:PORT`, a prefix that is not
//! `ADDRESS/LENGTH`, a protocol version other than 1) raise `UapiError` `uapi_invalid_value` with
//! `key` set and `line` None, as the parser would for the same value on the wire.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use ipnet::IpNet;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyMapping, PyString, PyType};
use pyo3::IntoPyObjectExt;
use wiremesh::uapi::{self, AllowedIpChange, DeviceState, DeviceUpdate, PeerState, PeerUpdate, UapiClient};
use wiremesh::{Error, PresharedKey, PrivateKey, PublicKey, UapiError};

use crate::convert::{self, text_of};
use crate::errors::{check, to_py_err};
use crate::keys::{PyPresharedKey, PyPrivateKey, PyPublicKey};

const NANOS: u128 = 1_000_000_000;

// Arguments --------------------------------------------------------------------------------------

/// `uapi_invalid_value` for a value given from Python (no line).
fn invalid(py: Python<'_>, key: &'static str, reason: String) -> PyErr {
    to_py_err(py, UapiError::InvalidValue { line: 0, key, reason }.into())
}

/// Key text: base64 (44 characters) or hex (64 digits).
fn key_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match value.downcast::<PyString>() {
        Ok(text) => Ok(text.to_cow()?.into_owned()),
        Err(_) => {
            Err(PyTypeError::new_err(format!("expected a {what} or its base64 or hex text, not {}", value.get_type())))
        }
    }
}

fn public_key_of(value: &Bound<'_, PyAny>) -> PyResult<PublicKey> {
    if let Ok(key) = value.downcast::<PyPublicKey>() {
        return Ok(key.get().inner);
    }
    let text = key_text(value, "PublicKey")?;
    check(if text.len() == 64 { PublicKey::from_hex(&text) } else { PublicKey::from_base64(&text) })
}

fn private_key_of(value: &Bound<'_, PyAny>) -> PyResult<PrivateKey> {
    if let Ok(key) = value.downcast::<PyPrivateKey>() {
        return Ok(key.get().inner.clone());
    }
    let text = key_text(value, "PrivateKey")?;
    check(if text.len() == 64 { PrivateKey::from_hex(&text) } else { PrivateKey::from_base64(&text) })
}

fn preshared_key_of(value: &Bound<'_, PyAny>) -> PyResult<PresharedKey> {
    if let Ok(key) = value.downcast::<PyPresharedKey>() {
        return Ok(key.get().inner.clone());
    }
    let text = key_text(value, "PresharedKey")?;
    check(if text.len() == 64 { PresharedKey::from_hex(&text) } else { PresharedKey::from_base64(&text) })
}

fn endpoint_of(py: Python<'_>, text: &str) -> PyResult<SocketAddr> {
    text.parse::<SocketAddr>()
        .map_err(|_| invalid(py, "endpoint", format!("expected IP:PORT or [IPv6]:PORT, got {text:?}")))
}

fn prefix_of(py: Python<'_>, text: &str) -> PyResult<IpNet> {
    text.parse::<IpNet>().map_err(|_| invalid(py, "allowed_ip", format!("expected ADDRESS/LENGTH, got {text:?}")))
}

/// The items of a list-like argument (a `str` is refused: it would be taken character by character).
fn items<'py>(value: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be a list, not a str")));
    }
    value.try_iter()?.collect()
}

/// A dict of keyword arguments from any mapping.
fn kwargs_of<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = data.py();
    if data.downcast::<PyMapping>().is_err() && !data.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(format!("expected a dict, not {}", data.get_type())));
    }
    let kwargs = PyDict::new(py);
    kwargs.call_method1("update", (data,))?;
    Ok(kwargs)
}

/// An object of class `T` from itself or from a dict of its keyword arguments.
fn object_or_dict<'py, T: pyo3::PyClass>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, T>> {
    if let Ok(object) = value.downcast::<T>() {
        return Ok(object.clone());
    }
    let kwargs = kwargs_of(value)?;
    Ok(value.py().get_type::<T>().call((), Some(&kwargs))?.downcast_into::<T>()?)
}

/// A secret key for a dict: the key object (repr redacted) or, revealed, its base64 text.
fn secret_value(py: Python<'_>, key: Option<(PyObject, String)>, reveal: bool) -> PyObject {
    match key {
        None => py.None(),
        Some((_, text)) if reveal => PyString::new(py, &text).into_any().unbind(),
        Some((object, _)) => object,
    }
}

fn private_key_value(py: Python<'_>, key: Option<&PrivateKey>, reveal: bool) -> PyResult<PyObject> {
    let key =
        key.map(|k| Ok::<_, PyErr>((PyPrivateKey { inner: k.clone() }.into_py_any(py)?, k.to_base64()))).transpose()?;
    Ok(secret_value(py, key, reveal))
}

fn preshared_key_value(py: Python<'_>, key: Option<&PresharedKey>, reveal: bool) -> PyResult<PyObject> {
    let key = key
        .map(|k| Ok::<_, PyErr>((PyPresharedKey { inner: k.clone() }.into_py_any(py)?, k.to_base64())))
        .transpose()?;
    Ok(secret_value(py, key, reveal))
}

fn repr_str(text: &str) -> String {
    format!("'{text}'")
}

// DeviceState / PeerState ------------------------------------------------------------------------

/// One peer of a device, as a `get=1` answer reports it: configuration and statistics. Immutable; its
/// repr never shows the preshared key.
#[pyclass(module = "wiremesh", name = "PeerState", frozen)]
pub struct PyPeerState {
    pub inner: PeerState,
}

#[pymethods]
impl PyPeerState {
    /// Builds a peer state (for a fake device, or to render a `get=1` answer). `last_handshake_ns` is
    /// the time of the last handshake in nanoseconds since the Unix epoch (None or 0: never).
    #[new]
    #[pyo3(signature = (public_key, *, preshared_key = None, endpoint = None, last_handshake_ns = None, rx_bytes = 0, tx_bytes = 0, persistent_keepalive_interval = 0, allowed_ips = None, protocol_version = 1))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        public_key: &Bound<'_, PyAny>,
        preshared_key: Option<&Bound<'_, PyAny>>,
        endpoint: Option<String>,
        last_handshake_ns: Option<u128>,
        rx_bytes: u64,
        tx_bytes: u64,
        persistent_keepalive_interval: u16,
        allowed_ips: Option<&Bound<'_, PyAny>>,
        protocol_version: u32,
    ) -> PyResult<Self> {
        let mut peer = PeerState::new(public_key_of(public_key)?);
        peer.preshared_key = preshared_key.map(preshared_key_of).transpose()?;
        peer.endpoint = endpoint.map(|e| endpoint_of(py, &e)).transpose()?;
        peer.last_handshake = match last_handshake_ns {
            None | Some(0) => None,
            Some(ns) => {
                let secs = u64::try_from(ns / NANOS)
                    .ok()
                    .filter(|s| *s <= i64::MAX as u64)
                    .ok_or_else(|| invalid(py, "last_handshake_time_sec", format!("{ns} ns is out of range")))?;
                Some(Duration::new(secs, (ns % NANOS) as u32))
            }
        };
        peer.rx_bytes = rx_bytes;
        peer.tx_bytes = tx_bytes;
        peer.persistent_keepalive_interval = persistent_keepalive_interval;
        if let Some(ips) = allowed_ips {
            for item in items(ips, "allowed_ips")? {
                peer.allowed_ips.push(prefix_of(py, &text_of(&item)?)?);
            }
        }
        peer.protocol_version = protocol_version;
        Ok(PyPeerState { inner: peer })
    }

    /// Builds a peer state from a dict whose keys are the constructor's keyword arguments (the shape
    /// `to_dict()` returns).
    #[classmethod]
    fn from_dict<'py>(_cls: &Bound<'py, PyType>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        object_or_dict::<Self>(data)
    }

    /// The peer's public key.
    #[getter]
    fn public_key(&self) -> PyPublicKey {
        PyPublicKey { inner: self.inner.public_key }
    }
    /// SECRET (as an object whose repr hides it): the preshared key, or None.
    #[getter]
    fn preshared_key(&self) -> Option<PyPresharedKey> {
        self.inner.preshared_key.clone().map(|inner| PyPresharedKey { inner })
    }
    /// The current endpoint (`IP:PORT`, IPv6 in brackets), if known.
    #[getter]
    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint.map(|e| e.to_string())
    }
    /// The last completed handshake in nanoseconds since the Unix epoch (None: never). Exact.
    #[getter]
    fn last_handshake_ns(&self) -> Option<u128> {
        self.inner.last_handshake.map(|d| d.as_nanos())
    }
    /// The last completed handshake as an aware UTC `datetime` (microsecond precision), or None.
    #[getter]
    fn last_handshake<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(at) = self.inner.last_handshake else { return Ok(None) };
        let datetime = py.import("datetime")?;
        let epoch = datetime.getattr("datetime")?.call1((
            1970,
            1,
            1,
            0,
            0,
            0,
            0,
            datetime.getattr("timezone")?.getattr("utc")?,
        ))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("seconds", at.as_secs())?;
        kwargs.set_item("microseconds", at.subsec_micros())?;
        let delta = datetime.getattr("timedelta")?.call((), Some(&kwargs))?;
        Ok(Some(epoch.call_method1("__add__", (delta,))?))
    }
    /// Bytes received from this peer.
    #[getter]
    fn rx_bytes(&self) -> u64 {
        self.inner.rx_bytes
    }
    /// Bytes sent to this peer.
    #[getter]
    fn tx_bytes(&self) -> u64 {
        self.inner.tx_bytes
    }
    /// Persistent keepalive interval in seconds (0: off).
    #[getter]
    fn persistent_keepalive_interval(&self) -> u16 {
        self.inner.persistent_keepalive_interval
    }
    /// The peer's AllowedIPs as `ADDRESS/LENGTH` text, in the device's order.
    #[getter]
    fn allowed_ips(&self) -> Vec<String> {
        convert::strings(&self.inner.allowed_ips)
    }
    /// The protocol version (1).
    #[getter]
    fn protocol_version(&self) -> u32 {
        self.inner.protocol_version
    }

    /// The state as a dict of the constructor's keyword arguments. The preshared key is a
    /// PresharedKey object (repr hidden) unless `reveal_secrets=True`, which gives its base64 text.
    #[pyo3(signature = (*, reveal_secrets = false))]
    fn to_dict<'py>(&self, py: Python<'py>, reveal_secrets: bool) -> PyResult<Bound<'py, PyDict>> {
        let p = &self.inner;
        let dict = PyDict::new(py);
        dict.set_item("public_key", p.public_key.to_base64())?;
        dict.set_item("preshared_key", preshared_key_value(py, p.preshared_key.as_ref(), reveal_secrets)?)?;
        dict.set_item("endpoint", self.endpoint())?;
        dict.set_item("last_handshake_ns", self.last_handshake_ns())?;
        dict.set_item("rx_bytes", p.rx_bytes)?;
        dict.set_item("tx_bytes", p.tx_bytes)?;
        dict.set_item("persistent_keepalive_interval", p.persistent_keepalive_interval)?;
        dict.set_item("allowed_ips", self.allowed_ips())?;
        dict.set_item("protocol_version", p.protocol_version)?;
        Ok(dict)
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "PeerState(public_key='{}', preshared_key={}, endpoint={}, allowed_ips={}, last_handshake_ns={}, rx_bytes={}, tx_bytes={})",
            p.public_key.to_base64(),
            if p.preshared_key.is_some() { "<redacted>" } else { "None" },
            p.endpoint.map_or("None".to_string(), |e| repr_str(&e.to_string())),
            convert::repr_list(&self.allowed_ips()),
            self.last_handshake_ns().map_or("None".to_string(), |n| n.to_string()),
            p.rx_bytes,
            p.tx_bytes,
        )
    }
}

/// A device's state, as a `get=1` answer reports it. Immutable; its repr never shows the private key
/// (read it through `private_key`, a PrivateKey whose value only `to_base64()`/`to_hex()` reveal).
#[pyclass(module = "wiremesh", name = "DeviceState", frozen)]
pub struct PyDeviceState {
    pub inner: DeviceState,
}

#[pymethods]
impl PyDeviceState {
    /// Builds a device state (for a fake device, or to render a `get=1` answer). `peers` holds
    /// PeerState objects or dicts of their keyword arguments; `own_public_key` is the public key a
    /// device that hides its private key reports (boringtun's `own_public_key=`).
    #[new]
    #[pyo3(signature = (*, private_key = None, own_public_key = None, listen_port = 0, fwmark = 0, peers = None))]
    fn new(
        private_key: Option<&Bound<'_, PyAny>>,
        own_public_key: Option<&Bound<'_, PyAny>>,
        listen_port: u16,
        fwmark: u32,
        peers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut state = DeviceState {
            private_key: private_key.map(private_key_of).transpose()?,
            own_public_key: own_public_key.map(public_key_of).transpose()?,
            listen_port,
            fwmark,
            peers: Vec::new(),
        };
        if let Some(peers) = peers {
            for item in items(peers, "peers")? {
                state.peers.push(object_or_dict::<PyPeerState>(&item)?.get().inner.clone());
            }
        }
        Ok(PyDeviceState { inner: state })
    }

    /// Builds a device state from a dict whose keys are the constructor's keyword arguments (the shape
    /// `to_dict()` returns).
    #[classmethod]
    fn from_dict<'py>(_cls: &Bound<'py, PyType>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        object_or_dict::<Self>(data)
    }

    /// SECRET (as an object whose repr hides it): the device's private key, or None.
    #[getter]
    fn private_key(&self) -> Option<PyPrivateKey> {
        self.inner.private_key.clone().map(|inner| PyPrivateKey { inner })
    }
    /// The device's public key: derived from its private key, or as the device reports it
    /// (`own_public_key`); None without either.
    #[getter]
    fn public_key(&self) -> Option<PyPublicKey> {
        self.inner.public_key().map(|inner| PyPublicKey { inner })
    }
    /// The public key a device that hides its private key reports (boringtun's `own_public_key=`), or None.
    #[getter]
    fn own_public_key(&self) -> Option<PyPublicKey> {
        self.inner.own_public_key.map(|inner| PyPublicKey { inner })
    }
    /// The UDP port (0: none reported).
    #[getter]
    fn listen_port(&self) -> u16 {
        self.inner.listen_port
    }
    /// The firewall mark of outgoing packets (0: none).
    #[getter]
    fn fwmark(&self) -> u32 {
        self.inner.fwmark
    }
    /// Every peer, in the device's order.
    #[getter]
    fn peers(&self) -> Vec<PyPeerState> {
        self.inner.peers.iter().map(|p| PyPeerState { inner: p.clone() }).collect()
    }
    /// The peer with this public key (a PublicKey, base64 or hex), or None.
    fn peer(&self, public_key: &Bound<'_, PyAny>) -> PyResult<Option<PyPeerState>> {
        let key = public_key_of(public_key)?;
        Ok(self.inner.peers.iter().find(|p| p.public_key == key).map(|p| PyPeerState { inner: p.clone() }))
    }

    /// The state as a dict of the constructor's keyword arguments, peers as dicts. Secret keys are key
    /// objects (repr hidden) unless `reveal_secrets=True`, which gives their base64 text.
    #[pyo3(signature = (*, reveal_secrets = false))]
    fn to_dict<'py>(&self, py: Python<'py>, reveal_secrets: bool) -> PyResult<Bound<'py, PyDict>> {
        let s = &self.inner;
        let dict = PyDict::new(py);
        dict.set_item("private_key", private_key_value(py, s.private_key.as_ref(), reveal_secrets)?)?;
        dict.set_item("own_public_key", s.own_public_key.map(|k| k.to_base64()))?;
        dict.set_item("listen_port", s.listen_port)?;
        dict.set_item("fwmark", s.fwmark)?;
        let peers = PyList::empty(py);
        for peer in self.peers() {
            peers.append(peer.to_dict(py, reveal_secrets)?)?;
        }
        dict.set_item("peers", peers)?;
        Ok(dict)
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "DeviceState(private_key={}, public_key={}, listen_port={}, fwmark={}, peers={})",
            if s.private_key.is_some() { "<redacted>" } else { "None" },
            s.public_key().map_or("None".to_string(), |k| repr_str(&k.to_base64())),
            s.listen_port,
            s.fwmark,
            s.peers.len()
        )
    }
}

// DeviceUpdate / PeerUpdate ----------------------------------------------------------------------

/// A change to one peer, as a `set=1` request carries it: created unless `update_only`, removed with
/// `remove=True`. `allowed_ips` are added in order; a prefix written `-ADDRESS/LENGTH` is removed
/// instead. Immutable; its repr never shows the preshared key.
#[pyclass(module = "wiremesh", name = "PeerUpdate", frozen)]
pub struct PyPeerUpdate {
    pub inner: PeerUpdate,
}

#[pymethods]
impl PyPeerUpdate {
    /// Builds a peer change. Options left at their defaults are not sent. `remove=True` takes no other
    /// change; `preshared_key` and `remove_preshared_key=True` exclude each other (ValueError).
    #[new]
    #[pyo3(signature = (public_key, *, remove = false, update_only = false, preshared_key = None, remove_preshared_key = false, endpoint = None, persistent_keepalive_interval = None, replace_allowed_ips = false, allowed_ips = None, protocol_version = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        public_key: &Bound<'_, PyAny>,
        remove: bool,
        update_only: bool,
        preshared_key: Option<&Bound<'_, PyAny>>,
        remove_preshared_key: bool,
        endpoint: Option<String>,
        persistent_keepalive_interval: Option<u16>,
        replace_allowed_ips: bool,
        allowed_ips: Option<&Bound<'_, PyAny>>,
        protocol_version: Option<u32>,
    ) -> PyResult<Self> {
        let mut peer = PeerUpdate::new(public_key_of(public_key)?);
        peer.remove = remove;
        peer.update_only = update_only;
        peer.preshared_key = match (preshared_key, remove_preshared_key) {
            (Some(_), true) => {
                return Err(PyValueError::new_err("give preshared_key or remove_preshared_key=True, not both"))
            }
            (Some(key), false) => Some(Some(preshared_key_of(key)?)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        peer.endpoint = endpoint.map(|e| endpoint_of(py, &e)).transpose()?;
        peer.persistent_keepalive_interval = persistent_keepalive_interval;
        peer.replace_allowed_ips = replace_allowed_ips;
        if let Some(ips) = allowed_ips {
            for item in items(ips, "allowed_ips")? {
                let text = text_of(&item)?;
                let change = match text.strip_prefix('-') {
                    Some(rest) => AllowedIpChange { prefix: prefix_of(py, rest)?, remove: true },
                    None => AllowedIpChange { prefix: prefix_of(py, &text)?, remove: false },
                };
                peer.allowed_ips.push(change);
            }
        }
        if let Some(version) = protocol_version {
            if version != 1 {
                return Err(invalid(py, "protocol_version", format!("only version 1 exists, got {version}")));
            }
        }
        peer.protocol_version = protocol_version;
        if peer.remove && peer != (PeerUpdate { remove: true, ..PeerUpdate::new(peer.public_key) }) {
            return Err(PyValueError::new_err("remove=True removes the peer: it takes no other change"));
        }
        Ok(PyPeerUpdate { inner: peer })
    }

    /// Builds a peer change from a dict whose keys are the constructor's keyword arguments (the shape
    /// `to_dict()` returns).
    #[classmethod]
    fn from_dict<'py>(_cls: &Bound<'py, PyType>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        object_or_dict::<Self>(data)
    }

    /// Which peer.
    #[getter]
    fn public_key(&self) -> PyPublicKey {
        PyPublicKey { inner: self.inner.public_key }
    }
    /// `remove=true`: the peer is removed.
    #[getter]
    fn remove(&self) -> bool {
        self.inner.remove
    }
    /// `update_only=true`: the peer is changed only if it exists.
    #[getter]
    fn update_only(&self) -> bool {
        self.inner.update_only
    }
    /// SECRET (as an object whose repr hides it): the preshared key to set, or None.
    #[getter]
    fn preshared_key(&self) -> Option<PyPresharedKey> {
        self.inner.preshared_key.clone().flatten().map(|inner| PyPresharedKey { inner })
    }
    /// Whether the preshared key is removed (sent as all zeros).
    #[getter]
    fn remove_preshared_key(&self) -> bool {
        matches!(self.inner.preshared_key, Some(None))
    }
    /// The endpoint to set, or None.
    #[getter]
    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint.map(|e| e.to_string())
    }
    /// The keepalive interval to set (0: off), or None.
    #[getter]
    fn persistent_keepalive_interval(&self) -> Option<u16> {
        self.inner.persistent_keepalive_interval
    }
    /// `replace_allowed_ips=true`: the peer's AllowedIPs are dropped before `allowed_ips` apply.
    #[getter]
    fn replace_allowed_ips(&self) -> bool {
        self.inner.replace_allowed_ips
    }
    /// The AllowedIPs changes in order: `ADDRESS/LENGTH` adds, `-ADDRESS/LENGTH` removes.
    #[getter]
    fn allowed_ips(&self) -> Vec<String> {
        self.inner.allowed_ips.iter().map(|c| format!("{}{}", if c.remove { "-" } else { "" }, c.prefix)).collect()
    }
    /// The protocol version to send (1), or None.
    #[getter]
    fn protocol_version(&self) -> Option<u32> {
        self.inner.protocol_version
    }

    /// The change as a dict of the constructor's keyword arguments (every one present). The preshared
    /// key is a PresharedKey object (repr hidden) unless `reveal_secrets=True` (base64 text).
    #[pyo3(signature = (*, reveal_secrets = false))]
    fn to_dict<'py>(&self, py: Python<'py>, reveal_secrets: bool) -> PyResult<Bound<'py, PyDict>> {
        let p = &self.inner;
        let dict = PyDict::new(py);
        dict.set_item("public_key", p.public_key.to_base64())?;
        dict.set_item("remove", p.remove)?;
        dict.set_item("update_only", p.update_only)?;
        dict.set_item(
            "preshared_key",
            preshared_key_value(py, p.preshared_key.as_ref().and_then(Option::as_ref), reveal_secrets)?,
        )?;
        dict.set_item("remove_preshared_key", self.remove_preshared_key())?;
        dict.set_item("endpoint", self.endpoint())?;
        dict.set_item("persistent_keepalive_interval", p.persistent_keepalive_interval)?;
        dict.set_item("replace_allowed_ips", p.replace_allowed_ips)?;
        dict.set_item("allowed_ips", self.allowed_ips())?;
        dict.set_item("protocol_version", p.protocol_version)?;
        Ok(dict)
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        let mut parts = vec![format!("public_key='{}'", p.public_key.to_base64())];
        if p.remove {
            parts.push("remove=True".into());
        }
        if p.update_only {
            parts.push("update_only=True".into());
        }
        match p.preshared_key {
            Some(Some(_)) => parts.push("preshared_key=<redacted>".into()),
            Some(None) => parts.push("remove_preshared_key=True".into()),
            None => {}
        }
        if let Some(endpoint) = p.endpoint {
            parts.push(format!("endpoint='{endpoint}'"));
        }
        if let Some(interval) = p.persistent_keepalive_interval {
            parts.push(format!("persistent_keepalive_interval={interval}"));
        }
        if p.replace_allowed_ips {
            parts.push("replace_allowed_ips=True".into());
        }
        if !p.allowed_ips.is_empty() {
            parts.push(format!("allowed_ips={}", convert::repr_list(&self.allowed_ips())));
        }
        if let Some(version) = p.protocol_version {
            parts.push(format!("protocol_version={version}"));
        }
        format!("PeerUpdate({})", parts.join(", "))
    }
}

/// A change to a device, as a `set=1` request carries it. Options left at their defaults are not sent.
/// Immutable; its repr never shows the private key.
#[pyclass(module = "wiremesh", name = "DeviceUpdate", frozen)]
pub struct PyDeviceUpdate {
    pub inner: DeviceUpdate,
}

#[pymethods]
impl PyDeviceUpdate {
    /// Builds a device change. `peers` holds PeerUpdate objects or dicts of their keyword arguments,
    /// applied in order; `replace_peers=True` removes every peer first. `private_key` and
    /// `remove_private_key=True` exclude each other (ValueError).
    #[new]
    #[pyo3(signature = (*, private_key = None, remove_private_key = false, listen_port = None, fwmark = None, replace_peers = false, peers = None))]
    fn new(
        private_key: Option<&Bound<'_, PyAny>>,
        remove_private_key: bool,
        listen_port: Option<u16>,
        fwmark: Option<u32>,
        replace_peers: bool,
        peers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let private_key = match (private_key, remove_private_key) {
            (Some(_), true) => {
                return Err(PyValueError::new_err("give private_key or remove_private_key=True, not both"))
            }
            (Some(key), false) => Some(Some(private_key_of(key)?)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        let mut update = DeviceUpdate { private_key, listen_port, fwmark, replace_peers, peers: Vec::new() };
        if let Some(peers) = peers {
            for item in items(peers, "peers")? {
                update.peers.push(object_or_dict::<PyPeerUpdate>(&item)?.get().inner.clone());
            }
        }
        Ok(PyDeviceUpdate { inner: update })
    }

    /// Builds a device change from a dict whose keys are the constructor's keyword arguments (the shape
    /// `to_dict()` returns).
    #[classmethod]
    fn from_dict<'py>(_cls: &Bound<'py, PyType>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        object_or_dict::<Self>(data)
    }

    /// SECRET (as an object whose repr hides it): the private key to set, or None.
    #[getter]
    fn private_key(&self) -> Option<PyPrivateKey> {
        self.inner.private_key.clone().flatten().map(|inner| PyPrivateKey { inner })
    }
    /// Whether the private key is removed (sent as all zeros).
    #[getter]
    fn remove_private_key(&self) -> bool {
        matches!(self.inner.private_key, Some(None))
    }
    /// The UDP port to set (0: a random one), or None.
    #[getter]
    fn listen_port(&self) -> Option<u16> {
        self.inner.listen_port
    }
    /// The firewall mark to set (0: off), or None.
    #[getter]
    fn fwmark(&self) -> Option<u32> {
        self.inner.fwmark
    }
    /// `replace_peers=true`: every peer is removed before `peers` apply.
    #[getter]
    fn replace_peers(&self) -> bool {
        self.inner.replace_peers
    }
    /// The per-peer changes, in order.
    #[getter]
    fn peers(&self) -> Vec<PyPeerUpdate> {
        self.inner.peers.iter().map(|p| PyPeerUpdate { inner: p.clone() }).collect()
    }

    /// The change as a dict of the constructor's keyword arguments (every one present), peers as dicts.
    /// Secret keys are key objects (repr hidden) unless `reveal_secrets=True` (base64 text).
    #[pyo3(signature = (*, reveal_secrets = false))]
    fn to_dict<'py>(&self, py: Python<'py>, reveal_secrets: bool) -> PyResult<Bound<'py, PyDict>> {
        let u = &self.inner;
        let dict = PyDict::new(py);
        dict.set_item(
            "private_key",
            private_key_value(py, u.private_key.as_ref().and_then(Option::as_ref), reveal_secrets)?,
        )?;
        dict.set_item("remove_private_key", self.remove_private_key())?;
        dict.set_item("listen_port", u.listen_port)?;
        dict.set_item("fwmark", u.fwmark)?;
        dict.set_item("replace_peers", u.replace_peers)?;
        let peers = PyList::empty(py);
        for peer in self.peers() {
            peers.append(peer.to_dict(py, reveal_secrets)?)?;
        }
        dict.set_item("peers", peers)?;
        Ok(dict)
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let u = &self.inner;
        let mut parts = Vec::new();
        match u.private_key {
            Some(Some(_)) => parts.push("private_key=<redacted>".to_string()),
            Some(None) => parts.push("remove_private_key=True".to_string()),
            None => {}
        }
        if let Some(port) = u.listen_port {
            parts.push(format!("listen_port={port}"));
        }
        if let Some(mark) = u.fwmark {
            parts.push(format!("fwmark={mark}"));
        }
        if u.replace_peers {
            parts.push("replace_peers=True".into());
        }
        parts.push(format!("peers={}", u.peers.len()));
        format!("DeviceUpdate({})", parts.join(", "))
    }
}

pub(crate) fn state_arg(state: &Bound<'_, PyAny>) -> PyResult<DeviceState> {
    Ok(object_or_dict::<PyDeviceState>(state)?.get().inner.clone())
}

pub fn update_arg(update: &Bound<'_, PyAny>) -> PyResult<DeviceUpdate> {
    Ok(object_or_dict::<PyDeviceUpdate>(update)?.get().inner.clone())
}

// Parse and render -------------------------------------------------------------------------------

/// Parses a device's answer to `get=1` (keys it does not know are skipped, as `wg` skips them).
/// Raises UapiError (a non-zero `errno=` line: uapi_errno with `.errno`).
#[pyfunction]
pub fn parse_uapi_get_response(py: Python<'_>, text: &str) -> PyResult<PyDeviceState> {
    Ok(PyDeviceState { inner: check(py.allow_threads(|| uapi::parse_get_response(text)))? })
}

/// Parses a whole `set=1` request (operation line, `key=value` lines, blank line), folding line order
/// as a device applies it. Raises UapiError with `.line` and `.key`.
#[pyfunction]
pub fn parse_uapi_set_request(py: Python<'_>, text: &str) -> PyResult<PyDeviceUpdate> {
    Ok(PyDeviceUpdate { inner: check(py.allow_threads(|| uapi::parse_set_request(text)))? })
}

/// Parses a device's answer to `set=1`: returns None for `errno=0`, raises UapiError uapi_errno (with
/// `.errno`) for any other errno, and UapiError for anything that is not an answer.
#[pyfunction]
pub fn parse_uapi_set_response(text: &str) -> PyResult<()> {
    check(uapi::parse_set_response(text))
}

/// The text of a `get=1` answer for `state` (a DeviceState or a dict of its keyword arguments), byte
/// for byte as wireguard-go writes it, ending with `errno=0` and the blank line.
#[pyfunction]
pub fn render_uapi_get_response(py: Python<'_>, state: &Bound<'_, PyAny>) -> PyResult<String> {
    let state = state_arg(state)?;
    Ok(py.allow_threads(|| uapi::render_get_response(&state)))
}

/// The text of a `set=1` request for `update` (a DeviceUpdate or a dict of its keyword arguments),
/// ending with the blank line, each peer's keys in the order `wg` sends them.
#[pyfunction]
pub fn render_uapi_set_request(py: Python<'_>, update: &Bound<'_, PyAny>) -> PyResult<String> {
    let update = update_arg(update)?;
    Ok(py.allow_threads(|| uapi::render_set_request(&update)))
}

/// A device's status answer: `errno=0` for 0, else `errno=-N` (wireguard-go's sign), with the blank line.
#[pyfunction]
pub fn render_uapi_errno(errno: i32) -> String {
    uapi::render_errno(errno)
}

/// `/var/run/wireguard/IFNAME.sock`; raises WiremeshOSError (io_other) when IFNAME is not an interface
/// name (1-15 characters, no '/', ':' or whitespace).
#[pyfunction]
pub fn uapi_socket_path(ifname: &str) -> PyResult<String> {
    Ok(check(uapi::socket_path(ifname))?.display().to_string())
}

// Client -----------------------------------------------------------------------------------------

/// Why a client call did not reach the core.
enum CallError {
    Closed,
    Core(Error),
}

/// A connection to a device's UAPI socket (wiremeshd, wireguard-go, boringtun). Socket I/O releases the
/// GIL; calls from several threads take turns. Reads and writes time out after 30 s. Use it as a
/// context manager, or call `close()`.
#[pyclass(module = "wiremesh", name = "UapiClient", frozen)]
pub struct PyUapiClient {
    path: PathBuf,
    program: Option<String>,
    connection: Mutex<Option<UapiClient>>,
}

impl PyUapiClient {
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let client = check(py.allow_threads(|| UapiClient::connect_path(&path)))?;
        let program = client.program().map(String::from);
        Ok(PyUapiClient { path, program, connection: Mutex::new(Some(client)) })
    }

    fn lock(&self) -> MutexGuard<'_, Option<UapiClient>> {
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `call` on the connection with the GIL released (waiting for other threads' calls first).
    pub(crate) fn call<T: Send>(
        &self,
        py: Python<'_>,
        call: impl FnOnce(&mut UapiClient) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let result = py.allow_threads(|| match self.lock().as_mut() {
            None => Err(CallError::Closed),
            Some(client) => call(client).map_err(CallError::Core),
        });
        result.map_err(|err| match err {
            CallError::Closed => PyValueError::new_err("I/O operation on a closed UapiClient"),
            CallError::Core(err) => to_py_err(py, err),
        })
    }
}

#[pymethods]
impl PyUapiClient {
    /// Connects to `/var/run/wireguard/IFNAME.sock`. Raises the WiremeshOSError family (e.g.
    /// NotFoundError when no device serves that interface).
    #[staticmethod]
    fn connect(py: Python<'_>, ifname: &str) -> PyResult<Self> {
        Self::open(py, check(uapi::socket_path(ifname))?)
    }

    /// Connects to a UAPI socket at any path (`str` or `os.PathLike`).
    #[staticmethod]
    fn connect_path(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<Self> {
        Self::open(py, convert::path(path)?)
    }

    /// The socket's path.
    #[getter]
    fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// The name of the program serving the socket (`/proc/PID/comm` of the peer process: `wiremeshd`,
    /// `wireguard-go`, `boringtun-cli`), or None when not visible. A program whose name starts with
    /// `boringtun` cannot change a peer in place: `set()` then removes and re-adds each changed peer, one
    /// request per peer, and `get()` turns its handshake ages into times.
    #[getter]
    fn program(&self) -> Option<String> {
        self.program.clone()
    }

    /// Whether `close()` was called (a connection busy in another thread's call is open).
    #[getter]
    fn closed(&self) -> bool {
        match self.connection.try_lock() {
            Ok(connection) => connection.is_none(),
            Err(TryLockError::WouldBlock) => false,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner().is_none(),
        }
    }

    /// `get=1`: the device's configuration and statistics. Raises UapiError (a malformed answer, or
    /// uapi_errno when the device refuses) or the WiremeshOSError family (socket errors).
    fn get(&self, py: Python<'_>) -> PyResult<PyDeviceState> {
        Ok(PyDeviceState { inner: self.call(py, |client| client.get())? })
    }

    /// `set=1`: applies `update` (a DeviceUpdate or a dict of its keyword arguments). Raises UapiError
    /// uapi_errno with `.errno` when the device refuses it.
    fn set(&self, py: Python<'_>, update: &Bound<'_, PyAny>) -> PyResult<()> {
        let update = update_arg(update)?;
        self.call(py, move |client| client.set(&update))
    }

    /// Closes the connection (further calls raise ValueError). Closing twice is allowed.
    fn close(&self, py: Python<'_>) {
        let client = py.allow_threads(|| self.lock().take());
        drop(client);
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!("UapiClient(path='{}'{})", self.path.display(), if self.closed() { ", closed" } else { "" })
    }
}
