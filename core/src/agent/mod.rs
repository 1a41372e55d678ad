//! The agent: a background loop that keeps one WireGuard device (any UAPI device: wiremeshd,
//! wireguard-go, boringtun-cli) equal to its node's plan, and fails over between redundant relays.
//!
//! Every tick (default 1 s) it
//! - feeds the relays' probe results ([`crate::Prober`], ICMP echo through the tunnel to each relay's
//!   overlay address) to the failover machine ([`RelayTracker`]): a relay that misses
//!   `lost_threshold` probes in a row is down, and its pairs move to the first live backup
//!   ([`crate::plan_with_relays_down`]); a down relay carries its pairs again only once it has answered
//!   for the whole hold-down;
//! - reads the device's state (`get=1`) and applies the minimal update ([`crate::reconcile::diff_node_with`])
//!   that makes it equal to the plan for the current set of down relays: drift is repaired, failover
//!   and failback are applied, untouched peers keep their sessions;
//! - re-resolves a peer's DNS endpoint when its handshake is stale (older than `stale_after`, or never)
//!   or, for a relay, when it is considered down, and follows the name to its new address;
//! - when the device has disappeared and the agent was told how to start it ([`DaemonCommand`]), starts
//!   it again, with exponential back-off between attempts, and gives it its addresses back.
//!
//! Every action is an [`AgentEvent`] (serde JSON, `{"event": "relay_down", ...}`), delivered to the
//! callback and kept in the status's recent-event log. [`Agent::stop`] (or drop) ends the loop within one
//! tick plus at most one bounded device call.

mod engine;
mod failover;
mod launch;
mod liveness;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;
use crate::mesh::model::Mesh;
use crate::reconcile::Change;
use crate::uapi::{DeviceState, DeviceUpdate};

pub use failover::{Backoff, FailoverPolicy, Observation, RelayHealth, RelayTracker, Transition};
pub use launch::CommandLauncher;
pub use liveness::ProberLiveness;

/// How the agent runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOptions {
    /// The WireGuard interface (its UAPI socket is `/var/run/wireguard/IFNAME.sock`).
    pub interface: String,
    /// Another UAPI socket path instead of the interface's (tests, unusual layouts).
    pub socket_path: Option<PathBuf>,
    /// Time between two rounds (default 1 s).
    pub tick: Duration,
    /// Time between two probes of one relay (default 1 s).
    pub probe_interval: Duration,
    /// A probe reply later than this is lost (default 1 s).
    pub probe_timeout: Duration,
    /// Consecutive lost probes after which a relay is down (default 3).
    pub lost_threshold: u32,
    /// How long a down relay must keep answering before its pairs move back (default 30 s).
    pub hold_down: Duration,
    /// After the device is first seen, relays that never answered are not declared down for this long
    /// (default 15 s: the first handshakes take a few seconds).
    pub startup_grace: Duration,
    /// A handshake older than this makes a DNS endpoint be resolved again (default 135 s: before
    /// WireGuard's 180 s reject-after time).
    pub stale_after: Duration,
    /// The shortest time between two resolutions of one name (default 5 s).
    pub resolve_interval: Duration,
    /// How to start the device when it has disappeared (None: wait for someone else to start it).
    pub daemon: Option<DaemonCommand>,
    /// Back-off between restart attempts (default 1 s doubling to 60 s).
    pub restart_backoff: Backoff,
    /// A restarted device that stays up this long resets the back-off (default 60 s).
    pub restart_reset_after: Duration,
    /// Recent events kept in the status (default 100).
    pub event_log: usize,
}

impl AgentOptions {
    /// Defaults for `interface`.
    pub fn new(interface: &str) -> Self {
        AgentOptions {
            interface: interface.to_string(),
            socket_path: None,
            tick: Duration::from_secs(1),
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(1),
            lost_threshold: 3,
            hold_down: Duration::from_secs(30),
            startup_grace: Duration::from_secs(15),
            stale_after: Duration::from_secs(135),
            resolve_interval: Duration::from_secs(5),
            daemon: None,
            restart_backoff: Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60) },
            restart_reset_after: Duration::from_secs(60),
            event_log: 100,
        }
    }

    fn check(&self) -> Result<(), Error> {
        crate::uapi::socket_path(&self.interface)?;
        let bad = |what: &str| -> Result<(), Error> {
            Err(crate::error::IoError::invalid("start agent", std::path::Path::new(&self.interface), what).into())
        };
        if self.tick.is_zero() || self.tick > Duration::from_secs(3600) {
            return bad("the tick must be between 1 ns and 1 hour");
        }
        if self.probe_interval < Duration::from_millis(10) || self.probe_timeout.is_zero() {
            return bad("the probe interval must be at least 10 ms and the timeout positive");
        }
        if self.lost_threshold == 0 {
            return bad("the lost-probe threshold must be at least 1");
        }
        if self.restart_backoff.initial.is_zero() || self.restart_backoff.max < self.restart_backoff.initial {
            return bad("the restart back-off must start above 0 and its maximum be at least its start");
        }
        Ok(())
    }
}

/// How to start a device: `program args… IFNAME`, a command that returns once the device is up (like
/// `wiremeshd IFNAME` or `wireguard-go IFNAME`, which detach).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonCommand {
    /// The program (looked up on PATH when it has no slash).
    pub program: PathBuf,
    /// Arguments before the interface name.
    pub args: Vec<String>,
}

/// Why the agent applied an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyReason {
    /// The first round after start.
    Initial,
    /// The device differed from the plan.
    Drift,
    /// The set of down relays changed.
    Failover,
    /// The device was (re)started.
    Restart,
    /// A DNS endpoint resolved to a new address.
    Resolved,
}

/// One thing the agent did or saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The loop started.
    Started {
        /// The node.
        node: String,
        /// The interface.
        interface: String,
        /// The relays it probes, with their probe addresses.
        relays: Vec<RelayAddress>,
    },
    /// An update was applied to the device.
    Applied {
        /// Why.
        reason: ApplyReason,
        /// What changed (never a secret).
        changes: Vec<Change>,
    },
    /// Applying an update, reading the device or planning failed (the loop goes on).
    Error {
        /// The error's stable code.
        code: String,
        /// What failed.
        message: String,
    },
    /// A relay stopped answering probes.
    RelayDown {
        /// The relay.
        relay: String,
        /// Probes lost in a row.
        consecutive_lost: u32,
    },
    /// A down relay answers again; the hold-down starts.
    RelayRecovering {
        /// The relay.
        relay: String,
        /// Seconds it must keep answering.
        hold_down_secs: f64,
    },
    /// A recovering relay lost a probe: it stays down and the hold-down starts over.
    RelayRecoveryInterrupted {
        /// The relay.
        relay: String,
        /// Probes lost in a row.
        consecutive_lost: u32,
    },
    /// A relay answered for the whole hold-down and carries its pairs again.
    RelayUp {
        /// The relay.
        relay: String,
        /// Seconds it had been answering.
        healthy_for_secs: f64,
    },
    /// The set of down relays changed: relayed destinations now go through these relays.
    FailoverChanged {
        /// Relays considered down.
        relays_down: Vec<String>,
        /// Each relayed destination and the relay now carrying it (None: no live relay).
        routes: Vec<RouteVia>,
    },
    /// A DNS endpoint was resolved again because its peer's handshake was stale.
    EndpointResolved {
        /// The peer.
        peer: String,
        /// The name.
        host: String,
        /// What it resolves to now.
        addresses: Vec<SocketAddr>,
        /// Whether that differs from the previous resolution.
        changed: bool,
    },
    /// A DNS endpoint could not be resolved.
    ResolveFailed {
        /// The peer.
        peer: String,
        /// The name.
        host: String,
        /// The resolver's message.
        message: String,
    },
    /// The device is gone (its UAPI socket does not answer).
    DeviceMissing {
        /// The connection error.
        message: String,
    },
    /// The device answers again (started by the agent or by someone else).
    DeviceFound,
    /// The agent starts the device.
    DeviceRestarting {
        /// Attempt number since the device was last stable (1-based).
        attempt: u32,
        /// The command line.
        command: String,
    },
    /// Starting the device failed; the next attempt waits `retry_in_secs`.
    RestartFailed {
        /// Attempt number.
        attempt: u32,
        /// What failed.
        message: String,
        /// Seconds until the next attempt.
        retry_in_secs: f64,
    },
    /// The loop stopped.
    Stopped,
}

/// A relay and the address it is probed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelayAddress {
    /// The relay's node name.
    pub relay: String,
    /// Its overlay address.
    pub address: IpAddr,
}

/// A relayed destination and the relay that carries it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteVia {
    /// The destination node.
    pub node: String,
    /// The relay carrying it (None: every relay that could is down).
    pub via: Option<String>,
}

impl AgentEvent {
    /// The event as one line of JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One relay in [`AgentStatus`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelayStatus {
    /// The relay's node name.
    pub relay: String,
    /// Its probe address.
    pub address: IpAddr,
    /// Its health.
    pub health: RelayHealth,
    /// Probes lost in a row (None: no result yet).
    pub consecutive_lost: Option<u32>,
}

/// A snapshot of what the agent knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentStatus {
    /// The node.
    pub node: String,
    /// The interface.
    pub interface: String,
    /// Whether the loop runs.
    pub running: bool,
    /// Whether the device answered in the latest round.
    pub device_present: bool,
    /// The relays watched.
    pub relays: Vec<RelayStatus>,
    /// Relays the current plan treats as down (empty when every relay is down: then there is nothing
    /// to fail over to and the plan stays as it is).
    pub relays_down: Vec<String>,
    /// Each relayed destination and the relay carrying it now.
    pub routes: Vec<RouteVia>,
    /// Updates applied so far.
    pub updates_applied: u64,
    /// Device starts attempted so far.
    pub restarts: u32,
    /// Rounds run so far.
    pub rounds: u64,
    /// The latest error, if any.
    pub last_error: Option<String>,
    /// The most recent events, oldest first.
    pub recent_events: Vec<AgentEvent>,
}

impl AgentStatus {
    /// The status as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Access to one device's configuration (UAPI `get`/`set`).
pub trait DeviceLink: Send {
    /// Reads the device's state; an `io_*` error means the device is not there.
    fn get(&mut self) -> Result<DeviceState, Error>;
    /// Applies an update.
    fn set(&mut self, update: &DeviceUpdate) -> Result<(), Error>;
}

/// The UAPI socket of a device, connected afresh for every call (so a restarted device is found).
#[derive(Debug, Clone)]
pub struct UapiDevice {
    path: PathBuf,
}

impl UapiDevice {
    /// The device behind `/var/run/wireguard/IFNAME.sock`.
    pub fn new(interface: &str) -> Result<Self, Error> {
        Ok(UapiDevice { path: crate::uapi::socket_path(interface)? })
    }

    /// The device behind the socket at `path`.
    pub fn at(path: PathBuf) -> Self {
        UapiDevice { path }
    }
}

impl DeviceLink for UapiDevice {
    fn get(&mut self) -> Result<DeviceState, Error> {
        crate::uapi::UapiClient::connect_path(&self.path)?.get()
    }

    fn set(&mut self, update: &DeviceUpdate) -> Result<(), Error> {
        crate::uapi::UapiClient::connect_path(&self.path)?.set(update)
    }
}

/// Probe results for the relays.
pub trait Liveness: Send {
    /// Probe exactly these addresses from now on.
    fn set_targets(&mut self, targets: &[IpAddr]);
    /// What is known about one target (None: nothing yet).
    fn observe(&mut self, target: IpAddr) -> Option<Observation>;
    /// The device was restarted: start probing afresh (sockets bound to the old interface are useless).
    fn reset(&mut self) {}
}

/// What `wg-quick up` gave an interface besides its WireGuard settings, given back to a device the agent
/// restarts (a new TUN interface starts bare: the kernel dropped the old one's addresses and routes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceSetup {
    /// Interface addresses with prefix lengths (`Address`).
    pub addresses: Vec<ipnet::IpNet>,
    /// `MTU`, when the plan sets one.
    pub mtu: Option<u32>,
    /// Routes through the interface, as wg-quick adds them, longest prefixes first: in the main table,
    /// every peer's AllowedIPs that the interface's own subnets do not already cover, except default
    /// routes (`0.0.0.0/0`, `::/0`: those need wg-quick's policy routing, fwmark rules only wg-quick
    /// sets up); in a table of its own (`Table = 1234`), every AllowedIP; with `Table = off`, none.
    pub routes: Vec<ipnet::IpNet>,
    /// The routing table of `routes` (`Table`: a number or a name from `rt_tables`); None for the main
    /// table (`auto` or unset) and with `Table = off` (no routes).
    pub table: Option<String>,
}

impl InterfaceSetup {
    /// The setup of one node of a plan: its addresses, MTU and the routes to its peers' AllowedIPs.
    pub fn of_node(node: &crate::plan::NodePlan) -> InterfaceSetup {
        let table = node.table.as_deref().map(str::trim).filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("auto"));
        if table.is_some_and(|t| t.eq_ignore_ascii_case("off")) {
            return InterfaceSetup {
                addresses: node.addresses.clone(),
                mtu: node.mtu,
                routes: Vec::new(),
                table: None,
            };
        }
        let covered = |prefix: &ipnet::IpNet| {
            table.is_none() && (prefix.prefix_len() == 0 || node.addresses.iter().any(|a| a.trunc().contains(prefix)))
        };
        let mut routes: Vec<ipnet::IpNet> =
            node.peers.iter().flat_map(|p| p.allowed_ips.iter()).map(|p| p.trunc()).filter(|p| !covered(p)).collect();
        routes.sort_by(|a, b| b.prefix_len().cmp(&a.prefix_len()).then(a.cmp(b)));
        routes.dedup();
        InterfaceSetup { addresses: node.addresses.clone(), mtu: node.mtu, routes, table: table.map(str::to_string) }
    }
}

/// Starts a device that has disappeared.
pub trait Launcher: Send {
    /// Starts the device `interface` and gives it `setup` (addresses, MTU, routes); returns once it
    /// answers on UAPI, or what failed.
    fn launch(&mut self, interface: &str, setup: &InterfaceSetup) -> Result<(), String>;
    /// The command line, for events.
    fn describe(&self) -> String;
}

/// Resolves a DNS name and port.
pub type Resolver = Box<dyn Fn(&str, u16) -> std::io::Result<Vec<SocketAddr>> + Send>;

/// The callback events go to (called on the agent's thread).
pub type EventSink = Box<dyn Fn(&AgentEvent) + Send>;

/// The parts an agent runs with; [`Agent::start`] builds the real ones, tests pass fakes.
pub struct AgentParts {
    /// The device.
    pub device: Box<dyn DeviceLink>,
    /// Relay probes.
    pub liveness: Box<dyn Liveness>,
    /// How to restart the device, if at all.
    pub launcher: Option<Box<dyn Launcher>>,
    /// DNS resolution.
    pub resolver: Resolver,
}

struct Control {
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A running agent (see the module documentation). Stops on drop.
pub struct Agent {
    control: Arc<Control>,
    status: Arc<Mutex<AgentStatus>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("status", &self.status()).finish()
    }
}

impl Agent {
    /// Starts the agent for node `node` of `mesh` (which must plan) on its own thread, with the real
    /// device (UAPI), ICMP prober, system resolver and, when `options.daemon` is set, the command that
    /// starts the device.
    pub fn start(mesh: Mesh, node: &str, options: AgentOptions, on_event: EventSink) -> Result<Agent, Error> {
        options.check()?;
        let device: Box<dyn DeviceLink> = match &options.socket_path {
            Some(path) => Box::new(UapiDevice::at(path.clone())),
            None => Box::new(UapiDevice::new(&options.interface)?),
        };
        let probe = crate::probe::ProbeOptions {
            interval: options.probe_interval,
            timeout: options.probe_timeout,
            window: 30,
            interface: options.socket_path.is_none().then(|| options.interface.clone()),
        };
        let launcher = options.daemon.clone().map(|d| Box::new(CommandLauncher::new(d)) as Box<dyn Launcher>);
        let parts = AgentParts {
            device,
            liveness: Box::new(ProberLiveness::new(probe)),
            launcher,
            resolver: Box::new(crate::reconcile::resolve_system),
        };
        Self::start_with(mesh, node, options, parts, on_event)
    }

    /// [`Agent::start`] with the given parts.
    pub fn start_with(
        mesh: Mesh,
        node: &str,
        options: AgentOptions,
        parts: AgentParts,
        on_event: EventSink,
    ) -> Result<Agent, Error> {
        options.check()?;
        let tick = options.tick;
        let mut engine = engine::Engine::new(mesh, node, options, parts, on_event)?;
        let status = engine.status_handle();
        let control = Arc::new(Control { stop: Mutex::new(false), wake: Condvar::new() });
        let thread_control = control.clone();
        let thread = std::thread::Builder::new()
            .name(format!("wiremesh-agent-{node}"))
            .spawn(move || {
                engine.begin();
                loop {
                    let started = Instant::now();
                    engine.step(started);
                    let mut stop = thread_control.stop.lock().unwrap_or_else(|p| p.into_inner());
                    let deadline = started + tick;
                    while !*stop {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        stop =
                            thread_control.wake.wait_timeout(stop, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
                    }
                    if *stop {
                        break;
                    }
                }
                engine.finish();
            })
            .map_err(|e| crate::error::IoError::new("spawn agent thread", std::path::Path::new(""), &e))?;
        Ok(Agent { control, status, thread: Mutex::new(Some(thread)) })
    }

    /// What the agent knows now.
    pub fn status(&self) -> AgentStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the loop still runs.
    pub fn is_running(&self) -> bool {
        self.thread.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the loop and waits for it (idempotent).
    pub fn stop(&self) {
        *self.control.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.control.wake.notify_all();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests;
