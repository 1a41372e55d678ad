//! Status, health, probes and the status server: `parse_wg_dump` / `parse_wg_dump_all`, `device_status`
//! (a `Status` with `to_dict()`, `health()`, `prometheus()`), `render_prometheus`, `Prober` and
//! `StatusServer`. Thin: everything is computed by the core.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use wiremesh::status_server::StateReader;
use wiremesh::{
    Error, ProbeOptions, ProbeStats, Prober, Sample, ServerOptions, Status, StatusContext, StatusServer, StatusSource,
    REJECT_AFTER_TIME,
};

use crate::convert::{text_of, to_py};
use crate::errors::{check, to_py_err};
use crate::plan::PyPlan;
use crate::uapi::PyDeviceState;

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a non-negative number of seconds")))
}

fn time_of(value: Option<f64>) -> PyResult<SystemTime> {
    match value {
        None => Ok(SystemTime::now()),
        Some(t) => Ok(UNIX_EPOCH + seconds(t, "time")?),
    }
}

fn ip_of(value: &Bound<'_, PyAny>) -> PyResult<IpAddr> {
    let text = text_of(value)?;
    text.parse().map_err(|_| PyValueError::new_err(format!("not an IP address: {text:?}")))
}

fn stats_dict<'py>(py: Python<'py>, stats: &ProbeStats) -> PyResult<Bound<'py, PyDict>> {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    let dict = PyDict::new(py);
    dict.set_item("sent", stats.sent)?;
    dict.set_item("received", stats.received)?;
    dict.set_item("loss", stats.loss)?;
    dict.set_item("rtt_last_ms", ms(stats.rtt_last))?;
    dict.set_item("rtt_min_ms", ms(stats.rtt_min))?;
    dict.set_item("rtt_avg_ms", ms(stats.rtt_avg))?;
    dict.set_item("rtt_max_ms", ms(stats.rtt_max))?;
    dict.set_item("consecutive_lost", stats.consecutive_lost)?;
    dict.set_item("last_reply_age", stats.last_reply_age.map(|d| d.as_secs_f64()))?;
    Ok(dict)
}

/// Parses `wg show IFNAME dump` text into a DeviceState (errors: ConfigError with the line; never a
/// secret).
#[pyfunction]
pub fn parse_wg_dump(py: Python<'_>, text: &str) -> PyResult<PyDeviceState> {
    Ok(PyDeviceState { inner: check(py.allow_threads(|| wiremesh::parse_wg_dump(text)))? })
}

/// Parses `wg show all dump` text into a list of (interface, DeviceState) in order of appearance.
#[pyfunction]
pub fn parse_wg_dump_all(py: Python<'_>, text: &str) -> PyResult<Vec<(String, PyDeviceState)>> {
    let all = check(py.allow_threads(|| wiremesh::parse_wg_dump_all(text)))?;
    Ok(all.into_iter().map(|(name, inner)| (name, PyDeviceState { inner })).collect())
}

/// The status of one interface (see `device_status`): read it with `to_dict()`.
#[pyclass(module = "wiremesh", name = "Status", frozen)]
pub struct PyStatus {
    inner: Status,
}

#[pymethods]
impl PyStatus {
    /// The interface name.
    #[getter]
    fn interface(&self) -> String {
        self.inner.interface.clone()
    }

    /// Number of peers.
    #[getter]
    fn peer_count(&self) -> usize {
        self.inner.peer_count
    }

    /// Number of peers in state "up".
    #[getter]
    fn peers_up(&self) -> usize {
        self.inner.peers_up
    }

    /// The status as plain Python objects (the JSON document of /status).
    fn to_dict(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py(py, &serde_json::to_value(&self.inner).map_err(|e| PyValueError::new_err(e.to_string()))?)
    }

    /// Health: against `plan`'s `node` when both are given, else every peer must be up. With
    /// `resolve_endpoints`, planned endpoints given as DNS names are resolved (system resolver) and
    /// checked too; without, only literal addresses are.
    #[pyo3(signature = (plan = None, node = None, *, resolve_endpoints = false))]
    fn health(
        &self,
        py: Python<'_>,
        plan: Option<PyRef<'_, PyPlan>>,
        node: Option<&str>,
        resolve_endpoints: bool,
    ) -> PyResult<PyObject> {
        let health = match (plan, node) {
            (Some(plan), Some(node)) if resolve_endpoints => {
                let (inner, plan) = (&self.inner, &plan.inner);
                check(py.allow_threads(|| {
                    wiremesh::health_resolving(inner, plan, node, &wiremesh::reconcile::resolve_system)
                }))?
            }
            (Some(plan), Some(node)) => check(wiremesh::health(&self.inner, &plan.inner, node))?,
            (None, None) => wiremesh::health_of(&self.inner),
            _ => return Err(PyTypeError::new_err("plan and node go together")),
        };
        to_py(py, &serde_json::to_value(&health).map_err(|e| PyValueError::new_err(e.to_string()))?)
    }

    /// Prometheus text exposition of this status.
    fn prometheus(&self) -> String {
        wiremesh::render_prometheus(std::slice::from_ref(&self.inner))
    }

    fn __repr__(&self) -> String {
        format!(
            "Status(interface={:?}, peer_count={}, peers_up={})",
            self.inner.interface, self.inner.peer_count, self.inner.peers_up
        )
    }
}

/// Describes a DeviceState: per peer name (from `plan`), endpoint, AllowedIPs, last handshake and
/// age, transfer and rates (against `previous` read at `previous_time`), state up/stale/never, probe
/// results (from `prober`). Times are Unix seconds (default: now).
#[pyfunction]
#[pyo3(signature = (state, interface, *, now = None, plan = None, node = None, previous = None, previous_time = None, prober = None, stale_after = 180.0))]
#[allow(clippy::too_many_arguments)]
pub fn device_status(
    py: Python<'_>,
    state: PyRef<'_, PyDeviceState>,
    interface: &str,
    now: Option<f64>,
    plan: Option<PyRef<'_, PyPlan>>,
    node: Option<&str>,
    previous: Option<PyRef<'_, PyDeviceState>>,
    previous_time: Option<f64>,
    prober: Option<PyRef<'_, PyProber>>,
    stale_after: f64,
) -> PyResult<PyStatus> {
    let now = time_of(now)?;
    let previous = match (previous, previous_time) {
        (Some(p), Some(t)) => Some(Sample { state: p.inner.clone(), at: time_of(Some(t))? }),
        (None, None) => None,
        _ => return Err(PyTypeError::new_err("previous and previous_time go together")),
    };
    let probes = prober.map(|p| p.inner.all_stats()).unwrap_or_default();
    let plan_ref = plan.as_ref().map(|p| p.inner.as_ref());
    let context = StatusContext {
        plan: plan_ref,
        node,
        previous: previous.as_ref(),
        probes: &probes,
        stale_after: seconds(stale_after, "stale_after")?,
    };
    let _ = py;
    Ok(PyStatus { inner: check(wiremesh::status(interface, &state.inner, now, &context))? })
}

/// Prometheus text for several statuses (one metric family each, all interfaces).
#[pyfunction]
pub fn render_prometheus(statuses: Vec<PyRef<'_, PyStatus>>) -> String {
    let all: Vec<Status> = statuses.iter().map(|s| s.inner.clone()).collect();
    wiremesh::render_prometheus(&all)
}

/// Background ICMP/ICMPv6 echo prober: loss and RTT per target over a sliding window. Stops on
/// `stop()`, on leaving a `with` block, or when collected.
#[pyclass(module = "wiremesh", name = "Prober", frozen)]
pub struct PyProber {
    pub inner: Arc<Prober>,
}

#[pymethods]
impl PyProber {
    /// Starts probing (no targets yet). `interval`/`timeout` in seconds; `interface` binds the sockets
    /// to it (SO_BINDTODEVICE).
    #[new]
    #[pyo3(signature = (*, interval = 1.0, timeout = 1.0, window = 30, interface = None))]
    fn new(py: Python<'_>, interval: f64, timeout: f64, window: usize, interface: Option<String>) -> PyResult<Self> {
        let options = ProbeOptions {
            interval: seconds(interval, "interval")?,
            timeout: seconds(timeout, "timeout")?,
            window,
            interface,
        };
        Ok(PyProber { inner: Arc::new(check(py.allow_threads(|| Prober::start(options)))?) })
    }

    /// Replaces the targets (IP address strings or ipaddress objects); kept targets keep their window.
    fn set_targets(&self, targets: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let ips = targets.iter().map(ip_of).collect::<PyResult<Vec<_>>>()?;
        self.inner.set_targets(&ips);
        Ok(())
    }

    /// The targets, as strings.
    #[getter]
    fn targets(&self) -> Vec<String> {
        self.inner.targets().iter().map(ToString::to_string).collect()
    }

    /// One target's statistics as a dict (None when not a target).
    fn stats<'py>(&self, py: Python<'py>, target: &Bound<'_, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner.stats(ip_of(target)?).map(|s| stats_dict(py, &s)).transpose()
    }

    /// Every target's statistics: {address: dict}.
    fn all_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (ip, stats) in self.inner.all_stats() {
            out.set_item(ip.to_string(), stats_dict(py, &stats)?)?;
        }
        Ok(out)
    }

    /// Whether the background thread runs.
    #[getter]
    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Stops the background thread (statistics stay readable).
    fn stop(&self, py: Python<'_>) {
        py.allow_threads(|| self.inner.stop());
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) {
        self.stop(py);
    }
}

/// The HTTP status server: /status, /health, /healthz, /metrics and /.
#[pyclass(module = "wiremesh", name = "StatusServer", frozen)]
pub struct PyStatusServer {
    inner: StatusServer,
}

#[pymethods]
impl PyStatusServer {
    /// Starts serving on `listen` ("127.0.0.1:9586"; port 0 picks one) the device `interface`, read over
    /// its UAPI socket, with `wg show IFNAME dump` when `wg`, or by calling `dump()` (a function returning
    /// `wg show IFNAME dump` text) when given. With `resolve_endpoints`, health also checks planned
    /// endpoints given as DNS names (each name resolved at most once a minute).
    #[staticmethod]
    #[pyo3(signature = (listen, interface, *, wg = false, dump = None, plan = None, node = None, prober = None, stale_after = None, resolve_endpoints = false))]
    #[allow(clippy::too_many_arguments)]
    fn start(
        py: Python<'_>,
        listen: &str,
        interface: String,
        wg: bool,
        dump: Option<PyObject>,
        plan: Option<PyRef<'_, PyPlan>>,
        node: Option<String>,
        prober: Option<PyRef<'_, PyProber>>,
        stale_after: Option<f64>,
        resolve_endpoints: bool,
    ) -> PyResult<Self> {
        let listen: SocketAddr =
            listen.parse().map_err(|_| PyValueError::new_err(format!("not an IP:PORT address: {listen:?}")))?;
        let source = match (dump, wg) {
            (Some(_), true) => return Err(PyTypeError::new_err("give dump or wg, not both")),
            (Some(function), false) => {
                let read: StateReader = Arc::new(move || {
                    Python::with_gil(|py| {
                        let text: String = function.call0(py).and_then(|v| v.extract(py)).map_err(|e| {
                            Error::Io(wiremesh::IoError::invalid(
                                "call dump()",
                                std::path::Path::new("dump"),
                                &e.to_string(),
                            ))
                        })?;
                        wiremesh::parse_wg_dump(&text)
                    })
                });
                StatusSource::Reader { interface, read }
            }
            (None, true) => StatusSource::WgShow(interface),
            (None, false) => StatusSource::Uapi(interface),
        };
        let options = ServerOptions {
            plan: plan.map(|p| p.inner.as_ref().clone()),
            node,
            prober: prober.map(|p| Arc::clone(&p.inner)),
            stale_after: stale_after.map(|s| seconds(s, "stale_after")).transpose()?.or(Some(REJECT_AFTER_TIME)),
            resolve_endpoints,
        };
        let server = py.allow_threads(|| StatusServer::start(listen, source, options));
        Ok(PyStatusServer { inner: server.map_err(|e| to_py_err(py, e))? })
    }

    /// The address served, "IP:PORT".
    #[getter]
    fn address(&self) -> String {
        self.inner.address().to_string()
    }

    /// The port served.
    #[getter]
    fn port(&self) -> u16 {
        self.inner.address().port()
    }

    /// Whether the server runs.
    #[getter]
    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Stops the server.
    fn stop(&self, py: Python<'_>) {
        py.allow_threads(|| self.inner.stop());
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) {
        self.stop(py);
    }
}
