//! `Device`: a userspace WireGuard interface running inside this process (Linux only; the core's
//! feature `device`). Python only controls it: the packet path runs in the core's own threads and never
//! takes the GIL. Every call that can block (creating the interface, resolving DNS endpoints, applying a
//! change, stopping) releases the GIL.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use wiremesh::device::{CounterValues, Device, DeviceOptions, StopReason};

use crate::errors::check;
use crate::plan::PyPlan;
use crate::uapi::{update_arg, PyDeviceState};

/// The stable spelling of a stop reason.
fn reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Requested => "requested",
        StopReason::InterfaceDeleted => "interface_deleted",
        StopReason::SocketRemoved => "socket_removed",
        StopReason::TunFailed => "tun_failed",
    }
}

fn counters_dict<'py>(py: Python<'py>, c: CounterValues) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("ingress_dropped", c.ingress_dropped)?;
    dict.set_item("no_route_dropped", c.no_route_dropped)?;
    dict.set_item("no_endpoint_dropped", c.no_endpoint_dropped)?;
    dict.set_item("invalid_dropped", c.invalid_dropped)?;
    dict.set_item("cookies_sent", c.cookies_sent)?;
    Ok(dict)
}

/// A running userspace WireGuard interface in this process (needs root, or CAP_NET_ADMIN, and
/// `/dev/net/tun`). Start one with `Device.start(ifname)` (no key, no peers) or
/// `Device.start_node(plan, node, ifname)` (configured from one node of a plan); with `uapi=True` it
/// also serves `/var/run/wireguard/IFNAME.sock`, so `wg show` and `wg set` work on it. Addresses and
/// routes are not set: use `ip`. Use it as a context manager, or call `stop()`; it also stops when
/// garbage-collected. Its repr never shows a key.
#[pyclass(module = "wiremesh", name = "Device", frozen)]
pub struct PyDevice {
    device: Arc<Device>,
}

#[pymethods]
impl PyDevice {
    /// Creates the interface IFNAME (1-15 characters) with UDP sockets on a random port and, with
    /// `uapi=True`, its UAPI socket. Raises WiremeshOSError (io_other: a bad name or no TUN support;
    /// PermissionDeniedError without root).
    #[staticmethod]
    #[pyo3(signature = (ifname, uapi = true))]
    fn start(py: Python<'_>, ifname: &str, uapi: bool) -> PyResult<Self> {
        let options = DeviceOptions { uapi, ..DeviceOptions::new(ifname) };
        let device = check(py.allow_threads(|| Device::start(&options)))?;
        Ok(PyDevice { device: Arc::new(device) })
    }

    /// Starts a device for node NODE of PLAN: its private key (which must be in the plan), listen port,
    /// fwmark and every peer. Peers' DNS endpoints are resolved now. Raises MeshError
    /// (mesh_unknown_node, mesh_missing_key) or PlanError (plan_unresolved_endpoint) before creating anything, or
    /// what `start()` raises.
    #[staticmethod]
    #[pyo3(signature = (plan, node, ifname, uapi = true))]
    fn start_node(py: Python<'_>, plan: PyRef<'_, PyPlan>, node: &str, ifname: &str, uapi: bool) -> PyResult<Self> {
        let plan = plan.inner.clone();
        let options = DeviceOptions { uapi, ..DeviceOptions::new(ifname) };
        let device = check(py.allow_threads(|| Device::start_node(&plan, node, &options)))?;
        Ok(PyDevice { device: Arc::new(device) })
    }

    /// The interface name.
    #[getter]
    fn ifname(&self) -> &str {
        self.device.ifname()
    }

    /// The configuration and statistics (handshakes, bytes), as `wg show` reads them.
    fn state(&self, py: Python<'_>) -> PyDeviceState {
        let device = &self.device;
        PyDeviceState { inner: py.allow_threads(|| device.state()) }
    }

    /// The device's counters since start, as a dict of ints: `ingress_dropped` (decrypted packets whose
    /// source belongs to another peer), `no_route_dropped`, `no_endpoint_dropped`, `invalid_dropped`,
    /// `cookies_sent`.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counters_dict(py, self.device.counters())
    }

    /// Applies UPDATE (a DeviceUpdate or a dict of its keyword arguments) with the UAPI `set` semantics.
    /// Raises UapiError uapi_errno (e.g. the listen port in use); a failed change changes nothing.
    fn apply(&self, py: Python<'_>, update: &Bound<'_, PyAny>) -> PyResult<()> {
        let update = update_arg(update)?;
        let device = &self.device;
        check(py.allow_threads(|| device.apply(&update)))
    }

    /// Stops the device: its threads end, the interface and the UAPI socket are deleted. Idempotent;
    /// returns within a fraction of a second.
    fn stop(&self, py: Python<'_>) {
        let device = &self.device;
        py.allow_threads(|| device.stop());
    }

    /// True once the device is stopping or stopped (requested, or its interface or socket went away).
    #[getter]
    fn is_stopped(&self) -> bool {
        self.device.is_stopped()
    }

    /// Why it stopped: "requested", "interface_deleted", "socket_removed", "tun_failed"; None while it
    /// runs.
    #[getter]
    fn stop_reason(&self) -> Option<&'static str> {
        self.device.stop_reason().map(reason_name)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.stop(py);
    }

    fn __repr__(&self) -> String {
        let status = match self.device.stop_reason() {
            None if !self.device.is_stopped() => "running".to_string(),
            None => "stopping".to_string(),
            Some(reason) => format!("stopped: {}", reason_name(reason)),
        };
        format!("Device(ifname='{}', {status})", self.device.ifname())
    }
}
