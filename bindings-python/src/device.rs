//! `Device`: a userspace WireGuard interface running inside this process (Linux only; the core's
//! feature `device`). Python only controls it: the packet path runs in the core's own threads and never
//! takes the GIL. Every call that can block (creating the interface, resolving DNS endpoints, applying a
//! change, stopping) releases the GIL.
//!
//! `stop()` stops the core's device and drops it (closing the TUN file descriptor is what deletes the
//! interface), keeping its last state, counters and stop reason for later reads.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use wiremesh::device::{CounterValues, Device, DeviceOptions, DeviceReadings, OffloadState, StopReason};

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

fn offloads_dict<'py>(py: Python<'py>, o: OffloadState) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("vnet_hdr", o.vnet_hdr)?;
    dict.set_item("tso", o.tso)?;
    dict.set_item("uso", o.uso)?;
    dict.set_item("udp_gso", o.udp_gso)?;
    dict.set_item("udp_gro", o.udp_gro)?;
    Ok(dict)
}

/// DeviceOptions for IFNAME: the environment's defaults (`WIREMESH_OFFLOAD`, `WIREMESH_SOCKET_BUFFER`,
/// `WIREMESH_TUN_QUEUE_LEN`, `WIREMESH_HELPER_THREADS`) unless `offload` / `socket_buffer_bytes` /
/// `tun_queue_len` / `helper_threads` are given.
fn device_options(
    ifname: &str,
    uapi: bool,
    offload: Option<bool>,
    socket_buffer_bytes: Option<usize>,
    tun_queue_len: Option<u32>,
    helper_threads: Option<bool>,
) -> DeviceOptions {
    let defaults = DeviceOptions::new(ifname);
    DeviceOptions {
        uapi,
        offload: offload.unwrap_or(defaults.offload),
        socket_buffer_bytes: socket_buffer_bytes.unwrap_or(defaults.socket_buffer_bytes),
        tun_queue_len: tun_queue_len.or(defaults.tun_queue_len),
        helper_threads: helper_threads.unwrap_or(defaults.helper_threads),
        ..defaults
    }
}

/// The core device while it runs; what it last reported once stopped (and dropped).
enum Inner {
    Running(Device),
    Stopped(DeviceReadings),
}

/// A running userspace WireGuard interface in this process (needs root, or CAP_NET_ADMIN, and
/// `/dev/net/tun`). Start one with `Device.start(ifname)` (no key, no peers) or
/// `Device.start_node(plan, node, ifname)` (configured from one node of a plan); with `uapi=True` it
/// also serves `/var/run/wireguard/IFNAME.sock`, so `wg show` and `wg set` work on it. Addresses and
/// routes are not set: use `ip`. Use it as a context manager, or call `stop()`; it also stops when
/// garbage-collected. After `stop()`, `state()` and `counters()` return their last values. Its repr
/// never shows a key.
#[pyclass(module = "wiremesh", name = "Device", frozen)]
pub struct PyDevice {
    ifname: String,
    inner: Mutex<Inner>,
}

impl PyDevice {
    fn new(device: Device) -> Self {
        PyDevice { ifname: device.ifname().to_string(), inner: Mutex::new(Inner::Running(device)) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[pymethods]
impl PyDevice {
    /// Creates the interface IFNAME (1-15 characters) with UDP sockets on a random port and, with
    /// `uapi=True`, its UAPI socket. `offload=False` forces one packet per system call (no TUN
    /// segmentation offloads, no UDP GSO/GRO); `socket_buffer_bytes` sizes the UDP sockets' buffers;
    /// `tun_queue_len` the interface's queue (packets the kernel holds for the reader; 1 or more);
    /// `helper_threads=False` makes each reader do its own system calls (no helper threads); left out,
    /// they follow `WIREMESH_OFFLOAD` / `WIREMESH_SOCKET_BUFFER` / `WIREMESH_TUN_QUEUE_LEN` (else the
    /// kernel's 500) / `WIREMESH_HELPER_THREADS`. Raises WiremeshOSError (io_other: a bad name, a queue
    /// length of 0 or no TUN support; PermissionDeniedError without root).
    #[staticmethod]
    #[pyo3(signature = (
        ifname, uapi = true, *, offload = None, socket_buffer_bytes = None, tun_queue_len = None, helper_threads = None
    ))]
    fn start(
        py: Python<'_>,
        ifname: &str,
        uapi: bool,
        offload: Option<bool>,
        socket_buffer_bytes: Option<usize>,
        tun_queue_len: Option<u32>,
        helper_threads: Option<bool>,
    ) -> PyResult<Self> {
        let options = device_options(ifname, uapi, offload, socket_buffer_bytes, tun_queue_len, helper_threads);
        Ok(PyDevice::new(check(py.allow_threads(|| Device::start(&options)))?))
    }

    /// Starts a device for node NODE of PLAN: its private key (which must be in the plan), listen port,
    /// fwmark and every peer. Peers' DNS endpoints are resolved now. Raises MeshError
    /// (mesh_unknown_node, mesh_missing_key) or PlanError (plan_unresolved_endpoint) before creating anything, or
    /// what `start()` raises. `offload`, `socket_buffer_bytes`, `tun_queue_len` and `helper_threads` as
    /// for `start()`.
    #[staticmethod]
    #[pyo3(signature = (
        plan, node, ifname, uapi = true, *,
        offload = None, socket_buffer_bytes = None, tun_queue_len = None, helper_threads = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn start_node(
        py: Python<'_>,
        plan: PyRef<'_, PyPlan>,
        node: &str,
        ifname: &str,
        uapi: bool,
        offload: Option<bool>,
        socket_buffer_bytes: Option<usize>,
        tun_queue_len: Option<u32>,
        helper_threads: Option<bool>,
    ) -> PyResult<Self> {
        let plan = plan.inner.clone();
        let options = device_options(ifname, uapi, offload, socket_buffer_bytes, tun_queue_len, helper_threads);
        Ok(PyDevice::new(check(py.allow_threads(|| Device::start_node(&plan, node, &options)))?))
    }

    /// The interface name.
    #[getter]
    fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The configuration and statistics (handshakes, bytes), as `wg show` reads them (after `stop()`:
    /// the last ones).
    fn state(&self, py: Python<'_>) -> PyDeviceState {
        let state = py.allow_threads(|| match &*self.lock() {
            Inner::Running(device) => device.state(),
            Inner::Stopped(last) => last.state.clone(),
        });
        PyDeviceState { inner: state }
    }

    /// The device's counters since start, as a dict of ints: `ingress_dropped` (decrypted packets whose
    /// source belongs to another peer), `no_route_dropped`, `no_endpoint_dropped`, `invalid_dropped`,
    /// `cookies_sent` (after `stop()`: the last values).
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counters = py.allow_threads(|| match &*self.lock() {
            Inner::Running(device) => device.counters(),
            Inner::Stopped(last) => last.counters,
        });
        counters_dict(py, counters)
    }

    /// The offloads in use, as the kernel granted them at start, as a dict of bools: `vnet_hdr` (the TUN
    /// carries virtio-net headers), `tso` / `uso` (it hands over TCP / UDP super-packets), `udp_gso` /
    /// `udp_gro` (the IPv4 socket sends with UDP_SEGMENT / receives with UDP_GRO). All false with
    /// `offload=False` (after `stop()`: the last values).
    fn offloads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let offloads = py.allow_threads(|| match &*self.lock() {
            Inner::Running(device) => device.offloads(),
            Inner::Stopped(last) => last.offloads,
        });
        offloads_dict(py, offloads)
    }

    /// Applies UPDATE (a DeviceUpdate or a dict of its keyword arguments) with the UAPI `set` semantics.
    /// Raises UapiError uapi_errno (e.g. the listen port in use), in which case nothing changed, and
    /// ValueError once stopped.
    fn apply(&self, py: Python<'_>, update: &Bound<'_, PyAny>) -> PyResult<()> {
        let update = update_arg(update)?;
        let result = py.allow_threads(|| match &*self.lock() {
            Inner::Running(device) => Some(device.apply(&update)),
            Inner::Stopped(_) => None,
        });
        match result {
            Some(result) => check(result),
            None => Err(PyValueError::new_err(format!("the device {} is stopped", self.ifname))),
        }
    }

    /// Stops the device: its threads end, the UAPI socket and the interface are deleted. Idempotent;
    /// returns within a fraction of a second.
    fn stop(&self, py: Python<'_>) {
        py.allow_threads(|| {
            let mut inner = self.lock();
            if let Inner::Running(device) = &*inner {
                device.stop();
                let stopped = Inner::Stopped(device.readings());
                // Dropping the device closes the TUN: that deletes the interface.
                *inner = stopped;
            }
        });
    }

    /// True once the device is stopping or stopped (requested, or its interface or socket went away).
    #[getter]
    fn is_stopped(&self) -> bool {
        match &*self.lock() {
            Inner::Running(device) => device.is_stopped(),
            Inner::Stopped(_) => true,
        }
    }

    /// Why it stopped: "requested", "interface_deleted", "socket_removed", "tun_failed"; None while it
    /// runs.
    #[getter]
    fn stop_reason(&self) -> Option<&'static str> {
        self.reason().map(reason_name)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.stop(py);
    }

    fn __repr__(&self) -> String {
        let status = match (self.reason(), self.is_stopped()) {
            (None, false) => "running".to_string(),
            (None, true) => "stopping".to_string(),
            (Some(reason), _) => format!("stopped: {}", reason_name(reason)),
        };
        format!("Device(ifname='{}', {status})", self.ifname)
    }
}

impl PyDevice {
    fn reason(&self) -> Option<StopReason> {
        match &*self.lock() {
            Inner::Running(device) => device.stop_reason(),
            Inner::Stopped(last) => last.stop_reason,
        }
    }
}
