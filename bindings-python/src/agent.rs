//! `Agent`: the core's agent (wiremesh::agent) on its own thread, with a Python callback for events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use wiremesh::agent::{Agent, AgentEvent, AgentOptions, DaemonCommand};

use crate::convert::{self, to_py};
use crate::errors::check;
use crate::mesh::PyMesh;

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{what}: not a number of seconds: {value}")))
}

/// Keeps a WireGuard device (any UAPI device) equal to node `node`'s plan and fails over between
/// redundant relays, on a background thread, until `stop()` (or the end of a `with` block).
///
/// `on_event(event: dict)` is called on the agent's thread for every event (`{"event": "relay_down",
/// ...}`); exceptions it raises are printed and ignored. `daemon` is the program that starts the device
/// when it has disappeared (`daemon IFNAME`, e.g. "wiremeshd"). `socket_path` replaces
/// /var/run/wireguard/IFNAME.sock.
#[pyclass(module = "wiremesh", name = "Agent")]
pub struct PyAgent {
    agent: Option<Agent>,
    closed: Arc<AtomicBool>,
}

#[pymethods]
impl PyAgent {
    #[new]
    #[pyo3(signature = (mesh, node, interface, *, on_event = None, hold_down = 30.0, probe_interval = 1.0, lost_threshold = 3, tick = 1.0, stale_after = 135.0, daemon = None, socket_path = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        mesh: PyRef<'_, PyMesh>,
        node: &str,
        interface: &str,
        on_event: Option<PyObject>,
        hold_down: f64,
        probe_interval: f64,
        lost_threshold: u32,
        tick: f64,
        stale_after: f64,
        daemon: Option<&Bound<'_, PyAny>>,
        socket_path: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut options = AgentOptions::new(interface);
        options.hold_down = seconds(hold_down, "hold_down")?;
        options.probe_interval = seconds(probe_interval, "probe_interval")?;
        options.probe_timeout = options.probe_interval;
        options.lost_threshold = lost_threshold;
        options.tick = seconds(tick, "tick")?;
        options.stale_after = seconds(stale_after, "stale_after")?;
        options.daemon =
            daemon.map(convert::path).transpose()?.map(|program| DaemonCommand { program, args: Vec::new() });
        options.socket_path = socket_path.map(convert::path).transpose()?;
        let closed = Arc::new(AtomicBool::new(false));
        let gate = closed.clone();
        let sink = Box::new(move |event: &AgentEvent| {
            let Some(callback) = on_event.as_ref() else { return };
            if gate.load(Ordering::Acquire) {
                return;
            }
            Python::with_gil(|py| {
                let result = to_py(py, &event.to_json()).and_then(|dict| callback.call1(py, (dict,)));
                if let Err(err) = result {
                    err.print(py);
                }
            });
        });
        let mesh = mesh.inner.clone();
        let node = node.to_string();
        let agent = check(py.allow_threads(move || Agent::start(mesh, &node, options, sink)))?;
        Ok(PyAgent { agent: Some(agent), closed })
    }

    /// What the agent knows now: device presence, each relay's health, relays down, where relayed
    /// destinations go, counters, the latest error and the recent events.
    fn status(&self, py: Python<'_>) -> PyResult<PyObject> {
        match &self.agent {
            Some(agent) => to_py(py, &agent.status().to_json()),
            None => Err(PyValueError::new_err("the agent was stopped")),
        }
    }

    /// Whether the loop still runs.
    #[getter]
    fn running(&self) -> bool {
        self.agent.as_ref().is_some_and(Agent::is_running)
    }

    /// Stops the loop and waits for it (idempotent). The status stays readable.
    fn stop(&self, py: Python<'_>) {
        if let Some(agent) = &self.agent {
            // Without the GIL: the agent's thread may be waiting for it to deliver an event.
            py.allow_threads(|| agent.stop());
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.stop(py);
    }

    fn __repr__(&self) -> String {
        match &self.agent {
            Some(agent) => {
                let s = agent.status();
                format!(
                    "Agent(node='{}', interface='{}', running={})",
                    s.node,
                    s.interface,
                    if agent.is_running() { "True" } else { "False" }
                )
            }
            None => "Agent(stopped)".into(),
        }
    }
}

impl Drop for PyAgent {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        if let Some(agent) = self.agent.take() {
            Python::with_gil(|py| py.allow_threads(move || drop(agent)));
        }
    }
}
