//! `Agent`: the core's agent (wiremesh::agent) on its own thread, events delivered to a JavaScript
//! callback.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;
use wiremesh::agent::{AgentEvent, AgentOptions as CoreOptions, DaemonCommand};

use crate::error::{invalid_value, IntoJs};
use crate::mesh::Mesh;

/// How the agent runs; every field but `interface` is optional.
#[napi(object)]
pub struct AgentOptions {
    /// The WireGuard interface (any UAPI device: wiremeshd, wireguard-go, boringtun-cli).
    pub interface: String,
    /// Another UAPI socket path instead of /var/run/wireguard/IFNAME.sock.
    pub socket_path: Option<String>,
    /// Seconds a down relay must keep answering before its pairs move back (default 30).
    pub hold_down: Option<f64>,
    /// Seconds between two probes of a relay; a later reply is lost too (default 1).
    pub probe_interval: Option<f64>,
    /// Probes lost in a row after which a relay is down (default 3).
    pub lost_threshold: Option<u32>,
    /// Seconds between two rounds (default 1).
    pub tick: Option<f64>,
    /// Seconds after which a handshake is stale and a DNS endpoint is resolved again (default 135).
    pub stale_after: Option<f64>,
    /// The program that starts the device when it has disappeared (`daemon IFNAME`, e.g. `wiremeshd`).
    pub daemon: Option<String>,
}

type EventCallback = ThreadsafeFunction<Value, (), Value, Status, false, true>;

fn seconds(value: Option<f64>, default: Duration, what: &str) -> Result<Duration> {
    match value {
        None => Ok(default),
        Some(v) => Duration::try_from_secs_f64(v)
            .map_err(|_| napi::Error::new(Status::InvalidArg, format!("{what}: not a number of seconds: {v}"))),
    }
}

/// Keeps a WireGuard device equal to node `node`'s plan and fails over between redundant relays, on a
/// background thread, until `stop()`. `onEvent(event)` receives every event as a plain object
/// (`{ event: 'relay_down', relay: 'hub-a', ... }`, snake_case like the CLI's JSON lines). The agent does
/// not keep Node's event loop alive by itself.
#[napi]
pub struct Agent {
    inner: Arc<wiremesh::agent::Agent>,
}

/// Background job: stop the agent and wait for its thread (off the JavaScript thread, which may be
/// serving the very device the agent is talking to).
pub struct StopAgent {
    agent: Arc<wiremesh::agent::Agent>,
}

impl Task for StopAgent {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        self.agent.stop();
        Ok(())
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }
}

#[napi]
impl Agent {
    /// Starts the agent. Throws `mesh_unknown_node` for an unknown node, `io_other` for a bad interface
    /// name or out-of-range options, or the planner's errors.
    #[napi(
        constructor,
        ts_args_type = "mesh: Mesh, node: string, options: AgentOptions, onEvent?: (event: Record<string, unknown>) => void"
    )]
    pub fn new(
        env: Env,
        mesh: &Mesh,
        node: String,
        options: AgentOptions,
        on_event: Option<EventCallback>,
    ) -> Result<Self> {
        let mut core = CoreOptions::new(&options.interface);
        core.socket_path = options.socket_path.map(PathBuf::from);
        core.hold_down = seconds(options.hold_down, core.hold_down, "holdDown")?;
        core.probe_interval = seconds(options.probe_interval, core.probe_interval, "probeInterval")?;
        core.probe_timeout = core.probe_interval;
        if let Some(n) = options.lost_threshold {
            core.lost_threshold = n;
        }
        core.tick = seconds(options.tick, core.tick, "tick")?;
        core.stale_after = seconds(options.stale_after, core.stale_after, "staleAfter")?;
        if let Some(program) = options.daemon {
            if program.is_empty() {
                return Err(invalid_value("daemon", "an empty program name".into())).js(&env);
            }
            core.daemon = Some(DaemonCommand { program: PathBuf::from(program), args: Vec::new() });
        }
        let sink = Box::new(move |event: &AgentEvent| {
            if let Some(callback) = &on_event {
                callback.call(event.to_json(), ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        let mesh = mesh.lock().clone();
        let inner = wiremesh::agent::Agent::start(mesh, &node, core, sink).js(&env)?;
        Ok(Agent { inner: Arc::new(inner) })
    }

    /// What the agent knows now: device presence, each relay's health, relays down, where relayed
    /// destinations go, counters, the latest error and the recent events (snake_case keys).
    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn status(&self) -> Value {
        self.inner.status().to_json()
    }

    /// Whether the loop still runs.
    #[napi(getter)]
    pub fn running(&self) -> bool {
        self.inner.is_running()
    }

    /// Stops the loop; resolves once its thread has ended (idempotent). The `stopped` event arrives
    /// through the event loop.
    #[napi]
    pub fn stop(&self) -> AsyncTask<StopAgent> {
        AsyncTask::new(StopAgent { agent: Arc::clone(&self.inner) })
    }
}
