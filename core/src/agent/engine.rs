//! One agent's state and its round ([`Engine::step`]); the thread in [`super::Agent`] only calls it.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::{
    AgentEvent, AgentOptions, AgentParts, AgentStatus, ApplyReason, EventSink, FailoverPolicy, RelayAddress,
    RelayStatus, RelayTracker, RouteVia, Transition,
};
use crate::error::{Error, MeshError};
use crate::mesh::endpoint::Host;
use crate::mesh::model::Mesh;
use crate::mesh::name::Name;
use crate::plan::{plan, plan_with_relays_down, NodePlan, Reach};
use crate::uapi::DeviceState;

/// A name and port with what they resolved to.
type Resolution = ((String, u16), Vec<SocketAddr>);

/// A cached resolution of one `host:port`.
struct Resolved {
    addresses: Vec<SocketAddr>,
    at: Instant,
}

pub(super) struct Engine {
    mesh: Mesh,
    node: Name,
    options: AgentOptions,
    parts: AgentParts,
    emit: EventSink,
    /// The node's plan for the current set of down relays.
    current: NodePlan,
    /// The relays watched (primaries and backups), in the tracker's order.
    relays: Vec<Name>,
    /// The destinations reached through a relay when every relay is up.
    relayed: Vec<Name>,
    tracker: RelayTracker,
    /// Latest consecutive-lost count per relay, for the status.
    last_lost: Vec<Option<u32>>,
    dns: HashMap<(String, u16), Resolved>,
    /// When the device was first seen (the startup grace runs from there).
    first_seen: Option<Instant>,
    /// The relays the current plan treats as down.
    relays_down: Vec<Name>,
    device_present: Option<bool>,
    present_since: Option<Instant>,
    restart_failures: u32,
    next_restart: Option<Instant>,
    pending_reason: Option<ApplyReason>,
    status: Arc<Mutex<AgentStatus>>,
    log: VecDeque<AgentEvent>,
    updates_applied: u64,
    restarts: u32,
    rounds: u64,
    last_error: Option<String>,
}

impl Engine {
    pub(super) fn new(
        mesh: Mesh,
        node: &str,
        options: AgentOptions,
        parts: AgentParts,
        emit: EventSink,
    ) -> Result<Self, Error> {
        let all_up = plan(&mesh)?;
        let current = all_up
            .node(node)
            .cloned()
            .ok_or_else(|| MeshError::UnknownNode { field: "node".into(), name: node.to_string() })?;
        let relays = current.failover_relays();
        let relayed = current.failover.iter().map(|f| f.node.clone()).collect();
        let addresses: Vec<IpAddr> = relays
            .iter()
            .map(|r| {
                let relay = all_up.node(r.as_str()).expect("failover relays are nodes of the plan");
                relay.addresses.first().map(|a| a.addr()).expect("planned nodes have an address")
            })
            .collect();
        let policy = FailoverPolicy { lost_threshold: options.lost_threshold, hold_down: options.hold_down };
        let tracker = RelayTracker::new(policy, &addresses);
        let status = Arc::new(Mutex::new(AgentStatus {
            node: node.to_string(),
            interface: options.interface.clone(),
            running: true,
            device_present: false,
            relays: Vec::new(),
            relays_down: Vec::new(),
            routes: Vec::new(),
            updates_applied: 0,
            restarts: 0,
            rounds: 0,
            last_error: None,
            recent_events: Vec::new(),
        }));
        let n = relays.len();
        let engine = Engine {
            mesh,
            node: current.name.clone(),
            options,
            parts,
            emit,
            current,
            relays,
            relayed,
            tracker,
            last_lost: vec![None; n],
            dns: HashMap::new(),
            first_seen: None,
            relays_down: Vec::new(),
            device_present: None,
            present_since: None,
            restart_failures: 0,
            next_restart: None,
            pending_reason: Some(ApplyReason::Initial),
            status,
            log: VecDeque::new(),
            updates_applied: 0,
            restarts: 0,
            rounds: 0,
            last_error: None,
        };
        engine.publish(true);
        Ok(engine)
    }

    pub(super) fn status_handle(&self) -> Arc<Mutex<AgentStatus>> {
        self.status.clone()
    }

    /// Announces the start and sets the probe targets.
    pub(super) fn begin(&mut self) {
        let targets: Vec<IpAddr> = (0..self.tracker.len()).map(|i| self.tracker.address(i)).collect();
        self.parts.liveness.set_targets(&targets);
        let relays = self
            .relays
            .iter()
            .zip(&targets)
            .map(|(relay, &address)| RelayAddress { relay: relay.to_string(), address })
            .collect();
        self.event(AgentEvent::Started {
            node: self.node.to_string(),
            interface: self.options.interface.clone(),
            relays,
        });
        self.publish(true);
    }

    pub(super) fn finish(&mut self) {
        self.event(AgentEvent::Stopped);
        self.publish(false);
    }

    /// One round at time `now`.
    pub(super) fn step(&mut self, now: Instant) {
        self.rounds += 1;
        // Relays are only probed while the device is there (the probes go through it).
        match self.parts.device.get() {
            Ok(state) => {
                self.failover(now);
                self.device_answered(now, state)
            }
            Err(Error::Io(e)) => self.device_missing(now, &e.to_string()),
            Err(e) => self.error(&e),
        }
        self.publish(true);
    }

    fn failover(&mut self, now: Instant) {
        let liveness = &mut self.parts.liveness;
        let mut seen = Vec::with_capacity(self.tracker.len());
        for i in 0..self.tracker.len() {
            seen.push(liveness.observe(self.tracker.address(i)));
        }
        for (last, s) in self.last_lost.iter_mut().zip(&seen) {
            *last = s.map(|o| o.consecutive_lost);
        }
        // A relay that never answered is not judged before the startup grace is over: the first
        // handshakes take a while, and probes lost meanwhile say nothing about the relay.
        let started = *self.first_seen.get_or_insert(now);
        let judging_silence = now.saturating_duration_since(started) >= self.options.startup_grace;
        let seen: Vec<_> = seen.into_iter().map(|o| o.filter(|o| o.ever_answered || judging_silence)).collect();
        let by_address: HashMap<IpAddr, _> =
            (0..self.tracker.len()).map(|i| (self.tracker.address(i), seen[i])).collect();
        let transitions = self.tracker.update(now, |ip| by_address.get(&ip).copied().flatten());
        if transitions.is_empty() {
            return;
        }
        for t in transitions {
            let event = match t {
                Transition::WentDown { relay, consecutive_lost } => {
                    AgentEvent::RelayDown { relay: self.relays[relay].to_string(), consecutive_lost }
                }
                Transition::Recovering { relay } => AgentEvent::RelayRecovering {
                    relay: self.relays[relay].to_string(),
                    hold_down_secs: self.options.hold_down.as_secs_f64(),
                },
                Transition::RecoveryInterrupted { relay, consecutive_lost } => {
                    AgentEvent::RelayRecoveryInterrupted { relay: self.relays[relay].to_string(), consecutive_lost }
                }
                Transition::CameBack { relay, healthy_for } => AgentEvent::RelayUp {
                    relay: self.relays[relay].to_string(),
                    healthy_for_secs: healthy_for.as_secs_f64(),
                },
            };
            self.event(event);
        }
        // Every relay down: there is nothing to fail over to, so the plan stays as it is.
        let down = self.down_relays();
        let down = if down.len() == self.relays.len() { Vec::new() } else { down };
        if down == self.relays_down {
            return;
        }
        match plan_with_relays_down(&self.mesh, &down).map(|p| p.node(self.node.as_str()).cloned()) {
            Ok(Some(node)) => {
                self.current = node;
                self.pending_reason = Some(ApplyReason::Failover);
                let routes = self.routes();
                self.event(AgentEvent::FailoverChanged {
                    relays_down: down.iter().map(ToString::to_string).collect(),
                    routes,
                });
                self.relays_down = down;
            }
            Ok(None) => unreachable!("the node was planned before"),
            Err(e) => self.error(&e),
        }
    }

    fn down_relays(&self) -> Vec<Name> {
        (0..self.tracker.len()).filter(|&i| self.tracker.is_down(i)).map(|i| self.relays[i].clone()).collect()
    }

    /// Each relayed destination (from the all-up failover table) and who carries it now.
    fn routes(&self) -> Vec<RouteVia> {
        self.relayed
            .iter()
            .map(|node| {
                let via = self.current.routes.iter().find(|r| &r.node == node).and_then(|r| match &r.reach {
                    Reach::Via(relay) => Some(relay.to_string()),
                    _ => None,
                });
                RouteVia { node: node.to_string(), via }
            })
            .collect()
    }

    fn device_answered(&mut self, now: Instant, state: DeviceState) {
        if self.device_present != Some(true) {
            if self.device_present == Some(false) {
                self.event(AgentEvent::DeviceFound);
                self.pending_reason.get_or_insert(ApplyReason::Restart);
            }
            self.device_present = Some(true);
            self.present_since = Some(now);
        }
        if self.restart_failures > 0
            && self.present_since.is_some_and(|s| now.duration_since(s) >= self.options.restart_reset_after)
        {
            self.restart_failures = 0;
            self.next_restart = None;
        }
        let resolved_anew = self.refresh_dns(now, &state);
        let dns = &self.dns;
        let resolver = &self.parts.resolver;
        // Cached names answer from the cache; others are resolved (and cached) on the spot.
        let fresh: Mutex<Vec<Resolution>> = Mutex::new(Vec::new());
        let resolve = |host: &str, port: u16| -> std::io::Result<Vec<SocketAddr>> {
            if let Some(r) = dns.get(&(host.to_string(), port)) {
                return Ok(r.addresses.clone());
            }
            let addresses = resolver(host, port)?;
            fresh.lock().unwrap_or_else(|p| p.into_inner()).push(((host.to_string(), port), addresses.clone()));
            Ok(addresses)
        };
        let update = crate::reconcile::diff_node_with(&self.current, &state, &resolve);
        for (key, addresses) in fresh.into_inner().unwrap_or_else(|p| p.into_inner()) {
            self.dns.insert(key, Resolved { addresses, at: now });
        }
        let update = match update {
            Ok(update) => update,
            Err(e) => return self.error(&e),
        };
        if update.is_empty() {
            self.pending_reason = None;
            return;
        }
        let reason = self.pending_reason.take().unwrap_or(if resolved_anew {
            ApplyReason::Resolved
        } else {
            ApplyReason::Drift
        });
        let changes = crate::reconcile::describe(&update, &self.current);
        match self.parts.device.set(&update) {
            Ok(()) => {
                self.updates_applied += 1;
                self.event(AgentEvent::Applied { reason, changes });
            }
            Err(e) => {
                self.pending_reason = Some(reason);
                self.error(&e);
            }
        }
    }

    /// Resolves again the DNS endpoints of peers whose handshake is stale (or, for relays, that are
    /// considered down). Returns whether some name now resolves differently.
    fn refresh_dns(&mut self, now: Instant, state: &DeviceState) -> bool {
        let wall = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let mut changed_any = false;
        let peers: Vec<(Name, String, u16, bool)> = self
            .current
            .peers
            .iter()
            .filter_map(|peer| {
                let endpoint = peer.endpoint.as_ref()?;
                let Host::Dns(host) = &endpoint.host else { return None };
                let device_peer = state.peers.iter().find(|p| p.public_key == peer.public_key);
                let handshake_stale = match device_peer.and_then(|p| p.last_handshake) {
                    Some(at) => wall.saturating_sub(at) > self.options.stale_after,
                    None => device_peer.is_some(),
                };
                let relay_down =
                    self.relays.iter().position(|r| *r == peer.name).is_some_and(|i| self.tracker.is_down(i));
                Some((peer.name.clone(), host.to_string(), endpoint.port, handshake_stale || relay_down))
            })
            .collect();
        for (peer, host, port, stale) in peers {
            let key = (host.clone(), port);
            let due = self.dns.get(&key).map_or(true, |r| now.duration_since(r.at) >= self.options.resolve_interval);
            if !stale || !due || !self.dns.contains_key(&key) {
                continue;
            }
            match (self.parts.resolver)(&host, port) {
                Ok(addresses) => {
                    let previous = self.dns.insert(key, Resolved { addresses: addresses.clone(), at: now });
                    let changed = previous.map_or(true, |p| p.addresses != addresses);
                    changed_any |= changed;
                    if changed {
                        self.event(AgentEvent::EndpointResolved { peer: peer.to_string(), host, addresses, changed });
                    }
                }
                Err(e) => {
                    // Keep the old addresses but wait before trying again.
                    if let Some(r) = self.dns.get_mut(&key) {
                        r.at = now;
                    }
                    self.event(AgentEvent::ResolveFailed { peer: peer.to_string(), host, message: e.to_string() });
                }
            }
        }
        changed_any
    }

    fn device_missing(&mut self, now: Instant, message: &str) {
        if self.device_present != Some(false) {
            self.device_present = Some(false);
            self.present_since = None;
            self.event(AgentEvent::DeviceMissing { message: message.to_string() });
        }
        let Some(launcher) = self.parts.launcher.as_mut() else { return };
        if self.next_restart.is_some_and(|at| now < at) {
            return;
        }
        let attempt = self.restart_failures + 1;
        let command = format!("{} {}", launcher.describe(), self.options.interface);
        self.restarts += 1;
        self.event(AgentEvent::DeviceRestarting { attempt, command });
        let launcher = self.parts.launcher.as_mut().expect("checked above");
        let result = launcher.launch(&self.options.interface, &super::InterfaceSetup::of_node(&self.current));
        self.restart_failures = attempt;
        let retry_in = self.options.restart_backoff.delay(self.restart_failures);
        self.next_restart = Some(now + retry_in);
        match result {
            Ok(()) => {
                self.parts.liveness.reset();
                let targets: Vec<IpAddr> = (0..self.tracker.len()).map(|i| self.tracker.address(i)).collect();
                self.parts.liveness.set_targets(&targets);
                self.pending_reason = Some(ApplyReason::Restart);
                // Configure it in this same round.
                match self.parts.device.get() {
                    Ok(state) => self.device_answered(now, state),
                    Err(e) => self.error(&e),
                }
            }
            Err(message) => {
                self.event(AgentEvent::RestartFailed { attempt, message, retry_in_secs: retry_in.as_secs_f64() });
            }
        }
    }

    fn error(&mut self, e: &Error) {
        let message = e.to_string();
        self.last_error = Some(message.clone());
        self.event(AgentEvent::Error { code: e.code().to_string(), message });
    }

    fn event(&mut self, event: AgentEvent) {
        (self.emit)(&event);
        if self.options.event_log > 0 {
            if self.log.len() >= self.options.event_log {
                self.log.pop_front();
            }
            self.log.push_back(event);
        }
    }

    fn publish(&self, running: bool) {
        let relays = self
            .relays
            .iter()
            .enumerate()
            .map(|(i, relay)| RelayStatus {
                relay: relay.to_string(),
                address: self.tracker.address(i),
                health: self.tracker.health(i),
                consecutive_lost: self.last_lost[i],
            })
            .collect();
        let status = AgentStatus {
            node: self.node.to_string(),
            interface: self.options.interface.clone(),
            running,
            device_present: self.device_present == Some(true),
            relays,
            relays_down: self.relays_down.iter().map(ToString::to_string).collect(),
            routes: self.routes(),
            updates_applied: self.updates_applied,
            restarts: self.restarts,
            rounds: self.rounds,
            last_error: self.last_error.clone(),
            recent_events: self.log.iter().cloned().collect(),
        };
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
}
