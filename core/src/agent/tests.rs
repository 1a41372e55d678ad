//! The agent against fakes (no root, no network): a device held in memory with UAPI set semantics, probe
//! results set by the test, a resolver and a launcher the test controls, and a clock the test advances.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::engine::Engine;
use super::*;
use crate::uapi::apply_update;

#[derive(Default)]
struct FakeDeviceState {
    state: DeviceState,
    present: bool,
    sets: Vec<DeviceUpdate>,
}

#[derive(Clone, Default)]
struct FakeDevice(Arc<Mutex<FakeDeviceState>>);

impl FakeDevice {
    fn with<T>(&self, f: impl FnOnce(&mut FakeDeviceState) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    fn allowed(&self, key: &crate::PublicKey) -> Vec<String> {
        self.with(|d| {
            d.state
                .peers
                .iter()
                .find(|p| p.public_key == *key)
                .map(|p| p.allowed_ips.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        })
    }
}

impl DeviceLink for FakeDevice {
    fn get(&mut self) -> Result<DeviceState, Error> {
        self.with(|d| {
            if d.present {
                Ok(d.state.clone())
            } else {
                Err(crate::error::IoError::new(
                    "connect",
                    Path::new("/fake.sock"),
                    &std::io::Error::from(std::io::ErrorKind::NotFound),
                )
                .into())
            }
        })
    }

    fn set(&mut self, update: &DeviceUpdate) -> Result<(), Error> {
        self.with(|d| {
            d.state = apply_update(&d.state, update);
            d.sets.push(update.clone());
        });
        Ok(())
    }
}

#[derive(Clone, Default)]
struct FakeLiveness(Arc<Mutex<HashMap<IpAddr, Observation>>>);

impl FakeLiveness {
    fn lost(&self, ip: &str, consecutive_lost: u32) {
        self.0.lock().unwrap().insert(ip.parse().unwrap(), Observation { consecutive_lost, ever_answered: true });
    }
}

impl Liveness for FakeLiveness {
    fn set_targets(&mut self, _targets: &[IpAddr]) {}
    fn observe(&mut self, target: IpAddr) -> Option<Observation> {
        self.0.lock().unwrap().get(&target).copied()
    }
}

/// Fails the first `failures` launches, then brings the fake device back.
struct FakeLauncher {
    device: FakeDevice,
    failures: u32,
    attempts: Arc<Mutex<Vec<InterfaceSetup>>>,
}

impl Launcher for FakeLauncher {
    fn launch(&mut self, _interface: &str, setup: &InterfaceSetup) -> Result<(), String> {
        self.attempts.lock().unwrap().push(setup.clone());
        if self.failures > 0 {
            self.failures -= 1;
            return Err("no luck".into());
        }
        self.device.with(|d| {
            d.present = true;
            d.state = DeviceState::default();
        });
        Ok(())
    }

    fn describe(&self) -> String {
        "fake-daemon".into()
    }
}

type Events = Arc<Mutex<Vec<AgentEvent>>>;

struct Rig {
    engine: Engine,
    device: FakeDevice,
    liveness: FakeLiveness,
    events: Events,
    plan: crate::Plan,
    t0: Instant,
}

impl Rig {
    fn new(
        mesh: Mesh,
        node: &str,
        options: AgentOptions,
        launcher: Option<Box<dyn Launcher>>,
        device: FakeDevice,
        resolver: Resolver,
    ) -> Rig {
        let liveness = FakeLiveness::default();
        let events: Events = Arc::default();
        let sink = events.clone();
        let parts =
            AgentParts { device: Box::new(device.clone()), liveness: Box::new(liveness.clone()), launcher, resolver };
        let plan = crate::plan(&mesh).unwrap();
        let mut engine =
            Engine::new(mesh, node, options, parts, Box::new(move |e| sink.lock().unwrap().push(e.clone()))).unwrap();
        engine.begin();
        Rig { engine, device, liveness, events, plan, t0: Instant::now() }
    }

    fn at(&mut self, secs: f64) {
        self.engine.step(self.t0 + Duration::from_secs_f64(secs));
    }

    fn take(&self) -> Vec<AgentEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    fn key(&self, node: &str) -> crate::PublicKey {
        self.plan.node(node).unwrap().public_key
    }
}

fn present() -> FakeDevice {
    let device = FakeDevice::default();
    device.with(|d| d.present = true);
    device
}

fn no_dns() -> Resolver {
    Box::new(|host, _| Err(std::io::Error::other(format!("no DNS in tests: {host}"))))
}

/// The redundant-hubs vector with private keys (generated here), so the device can be given its key.
fn redundant_text() -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/meshes/redundant-hubs.toml"))
            .unwrap();
    text.lines().filter(|l| !l.starts_with("public_key")).collect::<Vec<_>>().join("\n")
}

fn mesh_from(text: &str) -> Mesh {
    let mut mesh = Mesh::from_toml_str(text).unwrap();
    mesh.generate_missing().unwrap();
    mesh
}

fn redundant() -> Mesh {
    mesh_from(&redundant_text())
}

fn options() -> AgentOptions {
    AgentOptions { hold_down: Duration::from_secs(10), ..AgentOptions::new("wm-test0") }
}

fn names(events: &[AgentEvent]) -> Vec<String> {
    events.iter().map(|e| e.to_json()["event"].as_str().unwrap().to_string()).collect()
}

fn applied_reason(events: &[AgentEvent]) -> Option<ApplyReason> {
    events.iter().find_map(|e| match e {
        AgentEvent::Applied { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn configures_an_empty_device_then_repairs_drift_only() {
    let mut rig = Rig::new(redundant(), "spoke-1", options(), None, present(), no_dns());
    assert_eq!(names(&rig.take()), ["started"]);
    rig.at(0.0);
    let events = rig.take();
    assert_eq!(applied_reason(&events), Some(ApplyReason::Initial));
    assert_eq!(rig.device.allowed(&rig.key("hub-a")), ["10.77.0.0/24"]);
    assert_eq!(rig.device.allowed(&rig.key("hub-b")), ["10.77.0.2/32"]);
    // Equal to the plan: nothing to do.
    rig.at(1.0);
    assert!(rig.take().is_empty());
    assert_eq!(rig.device.with(|d| d.sets.len()), 1);
    // Someone removes a peer: it comes back, and only it.
    let hub_b = rig.key("hub-b");
    rig.device.with(|d| d.state.peers.retain(|p| p.public_key != hub_b));
    rig.at(2.0);
    let events = rig.take();
    assert_eq!(applied_reason(&events), Some(ApplyReason::Drift));
    let AgentEvent::Applied { changes, .. } = &events[0] else { panic!("{events:?}") };
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(rig.device.allowed(&hub_b), ["10.77.0.2/32"]);
    let status = rig.engine.status_handle().lock().unwrap().clone();
    assert_eq!(status.updates_applied, 2);
    assert!(status.device_present);
    assert_eq!(status.routes, vec![RouteVia { node: "spoke-2".into(), via: Some("hub-a".into()) }]);
}

#[test]
fn fails_over_at_the_threshold_and_back_after_the_hold_down() {
    let mut rig = Rig::new(redundant(), "spoke-1", options(), None, present(), no_dns());
    rig.liveness.lost("10.77.0.1", 0);
    rig.liveness.lost("10.77.0.2", 0);
    rig.at(0.0);
    rig.take();
    // Two lost probes: nothing yet.
    rig.liveness.lost("10.77.0.1", 2);
    rig.at(1.0);
    assert!(rig.take().is_empty());
    // Three: hub-a is down, hub-b takes the mesh prefix, hub-a keeps its own address.
    rig.liveness.lost("10.77.0.1", 3);
    rig.at(2.0);
    let events = rig.take();
    assert_eq!(names(&events), ["relay_down", "failover_changed", "applied"]);
    assert_eq!(
        events[1],
        AgentEvent::FailoverChanged {
            relays_down: vec!["hub-a".into()],
            routes: vec![RouteVia { node: "spoke-2".into(), via: Some("hub-b".into()) }]
        }
    );
    assert_eq!(applied_reason(&events), Some(ApplyReason::Failover));
    // Only replaced AllowedIPs (no `allowed_ip=-` removal lines: older devices refuse them).
    let last = rig.device.with(|d| d.sets.last().unwrap().clone());
    assert!(last.peers.iter().all(|p| p.allowed_ips.iter().all(|c| !c.remove)), "{last:?}");
    assert!(last.peers.iter().any(|p| p.replace_allowed_ips));
    assert_eq!(rig.device.allowed(&rig.key("hub-b")), ["10.77.0.0/24"]);
    assert_eq!(rig.device.allowed(&rig.key("hub-a")), ["10.77.0.1/32"]);
    // hub-a answers again at 5 s: recovering, but traffic stays on hub-b for the hold-down (10 s).
    rig.liveness.lost("10.77.0.1", 0);
    rig.at(5.0);
    assert_eq!(names(&rig.take()), ["relay_recovering"]);
    for t in 6..15 {
        rig.at(f64::from(t));
        assert!(rig.take().is_empty(), "at {t} s");
        assert_eq!(rig.device.allowed(&rig.key("hub-b")), ["10.77.0.0/24"]);
    }
    rig.at(15.0);
    let events = rig.take();
    assert_eq!(names(&events), ["relay_up", "failover_changed", "applied"]);
    assert_eq!(rig.device.allowed(&rig.key("hub-a")), ["10.77.0.0/24"]);
    assert_eq!(rig.device.allowed(&rig.key("hub-b")), ["10.77.0.2/32"]);
}

#[test]
fn no_flapping_while_the_primary_answers_intermittently() {
    let mut rig = Rig::new(redundant(), "spoke-1", options(), None, present(), no_dns());
    rig.at(0.0);
    rig.liveness.lost("10.77.0.1", 3);
    rig.at(1.0);
    rig.take();
    let sets_after_failover = rig.device.with(|d| d.sets.len());
    // For a minute hub-a answers 8 s, then loses a probe: never 10 s in a row.
    let mut t = 1.0;
    for _ in 0..6 {
        for _ in 0..8 {
            t += 1.0;
            rig.liveness.lost("10.77.0.1", 0);
            rig.at(t);
        }
        t += 1.0;
        rig.liveness.lost("10.77.0.1", 1);
        rig.at(t);
    }
    let events = rig.take();
    assert!(!names(&events).contains(&"failover_changed".to_string()), "{events:?}");
    assert_eq!(rig.device.with(|d| d.sets.len()), sets_after_failover, "no update while hub-a flaps");
    assert_eq!(rig.device.allowed(&rig.key("hub-b")), ["10.77.0.0/24"]);
}

fn setup_of(text: &str, node: &str) -> InterfaceSetup {
    let plan = crate::plan::plan(&mesh_from(text)).unwrap();
    InterfaceSetup::of_node(plan.node(node).unwrap())
}

#[test]
fn a_restarted_interface_gets_the_routes_wg_quick_would_add() {
    let hybrid = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/meshes/hybrid-dual-stack.toml"),
    )
    .unwrap();
    let hybrid: String = hybrid.lines().filter(|l| !l.starts_with("public_key")).collect::<Vec<_>>().join("\n");
    let net = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
    // The mesh's own /24 and /64 are the interface's connected subnets; the office LAN is not.
    let laptop = setup_of(&hybrid, "laptop-1");
    assert_eq!(laptop.addresses, [net("10.88.0.11/24"), net("fd88::11/64")]);
    assert_eq!(laptop.routes, [net("192.168.10.0/24")]);
    assert_eq!(laptop.table, None);
    // The office's own LAN is not routed into the tunnel; its peers' addresses are connected.
    assert!(setup_of(&hybrid, "office").routes.is_empty());
    // A table of its own takes every AllowedIP, longest first; `off` and `auto` behave as wg-quick's.
    let own = hybrid.replace("name = \"laptop-1\"", "name = \"laptop-1\"\ntable = \"1234\"");
    let laptop = setup_of(&own, "laptop-1");
    assert_eq!(laptop.table.as_deref(), Some("1234"));
    assert_eq!(laptop.routes.first().map(|r| r.prefix_len()), Some(128));
    assert!(laptop.routes.contains(&net("192.168.10.0/24")) && laptop.routes.contains(&net("10.88.0.2/32")));
    assert!(laptop.routes.windows(2).all(|w| w[0].prefix_len() >= w[1].prefix_len()));
    let off = hybrid.replace("name = \"laptop-1\"", "name = \"laptop-1\"\ntable = \"off\"");
    assert!(setup_of(&off, "laptop-1").routes.is_empty());
    let auto = hybrid.replace("name = \"laptop-1\"", "name = \"laptop-1\"\ntable = \"auto\"");
    assert_eq!(setup_of(&auto, "laptop-1"), setup_of(&hybrid, "laptop-1"));
}

#[test]
fn restarts_a_missing_device_with_exponential_backoff() {
    let device = FakeDevice::default();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let launcher = FakeLauncher { device: device.clone(), failures: 3, attempts: attempts.clone() };
    let mut opts = options();
    opts.restart_backoff = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(4) };
    let mut rig = Rig::new(redundant(), "hub-a", opts, Some(Box::new(launcher)), device, no_dns());
    rig.take();
    let mut restarting_at = Vec::new();
    for tenth in 0..200 {
        let t = f64::from(tenth) / 10.0;
        rig.at(t);
        for e in rig.take() {
            if let AgentEvent::DeviceRestarting { attempt, command } = e {
                assert_eq!(command, "fake-daemon wm-test0");
                restarting_at.push((attempt, t));
            }
        }
    }
    // Failures at 0, 1, 3 (delays 1, 2, 4 s), success at 7.
    assert_eq!(restarting_at, vec![(1, 0.0), (2, 1.0), (3, 3.0), (4, 7.0)]);
    let hub = rig.plan.node("hub-a").unwrap();
    assert!(attempts.lock().unwrap().iter().all(|a| a == &InterfaceSetup::of_node(hub)));
    // Configured in the same round it came back.
    assert_eq!(rig.device.with(|d| d.state.peers.len()), 3);
    let status = rig.engine.status_handle().lock().unwrap().clone();
    assert_eq!(status.restarts, 4);
    assert!(status.device_present);
}

#[test]
fn a_device_that_vanishes_is_reported_once_and_reconfigured_when_back() {
    let mut rig = Rig::new(redundant(), "spoke-2", options(), None, present(), no_dns());
    rig.at(0.0);
    rig.take();
    rig.device.with(|d| d.present = false);
    rig.at(1.0);
    rig.at(2.0);
    assert_eq!(names(&rig.take()), ["device_missing"]);
    // Someone else starts it again, empty.
    rig.device.with(|d| {
        d.present = true;
        d.state = DeviceState::default();
    });
    rig.at(3.0);
    let events = rig.take();
    assert_eq!(names(&events), ["device_found", "applied"]);
    assert_eq!(applied_reason(&events), Some(ApplyReason::Restart));
}

#[test]
fn follows_a_dns_endpoint_when_the_handshake_is_stale() {
    let mesh =
        mesh_from(&redundant_text().replace("endpoint = \"192.0.2.1:51820\"", "endpoint = \"hub-a.test:51820\""));
    let answer: Arc<Mutex<SocketAddr>> = Arc::new(Mutex::new("192.0.2.1:51820".parse().unwrap()));
    let lookups = Arc::new(Mutex::new(0));
    let (a, l) = (answer.clone(), lookups.clone());
    let resolver: Resolver = Box::new(move |host, port| {
        assert_eq!((host, port), ("hub-a.test", 51820));
        *l.lock().unwrap() += 1;
        Ok(vec![*a.lock().unwrap()])
    });
    let mut rig = Rig::new(mesh, "spoke-1", options(), None, present(), resolver);
    rig.at(0.0);
    rig.take();
    let hub_a = rig.key("hub-a");
    let endpoint =
        |rig: &Rig| rig.device.with(|d| d.state.peers.iter().find(|p| p.public_key == hub_a).unwrap().endpoint);
    assert_eq!(endpoint(&rig), Some("192.0.2.1:51820".parse().unwrap()));
    // A fresh handshake: the name moves, but nobody looks it up again.
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    rig.device.with(|d| d.state.peers.iter_mut().for_each(|p| p.last_handshake = Some(now)));
    *answer.lock().unwrap() = "198.51.100.1:51820".parse().unwrap();
    rig.at(10.0);
    assert!(rig.take().is_empty());
    assert_eq!(*lookups.lock().unwrap(), 1);
    // The handshake goes stale (older than 135 s): resolved again, endpoint follows.
    rig.device.with(|d| d.state.peers.iter_mut().for_each(|p| p.last_handshake = Some(now - Duration::from_secs(200))));
    rig.at(20.0);
    let events = rig.take();
    assert_eq!(names(&events), ["endpoint_resolved", "applied"], "{events:?}");
    assert_eq!(applied_reason(&events), Some(ApplyReason::Resolved));
    assert_eq!(endpoint(&rig), Some("198.51.100.1:51820".parse().unwrap()));
    // Not again before the resolve interval (5 s), and no event when the answer is the same.
    rig.at(21.0);
    assert_eq!(*lookups.lock().unwrap(), 2);
    rig.at(26.0);
    assert_eq!(*lookups.lock().unwrap(), 3);
    assert!(rig.take().is_empty());
}

#[test]
fn the_thread_delivers_events_and_stops_promptly() {
    let events: Events = Arc::default();
    let sink = events.clone();
    let device = present();
    let parts = AgentParts {
        device: Box::new(device.clone()),
        liveness: Box::new(FakeLiveness::default()),
        launcher: None,
        resolver: no_dns(),
    };
    let mut opts = options();
    opts.tick = Duration::from_secs(30);
    let agent =
        Agent::start_with(redundant(), "spoke-1", opts, parts, Box::new(move |e| sink.lock().unwrap().push(e.clone())))
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.status().rounds == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(agent.is_running());
    let status = agent.status();
    assert_eq!(status.updates_applied, 1);
    assert_eq!(status.relays.iter().map(|r| r.relay.as_str()).collect::<Vec<_>>(), ["hub-a", "hub-b"]);
    let stopping = Instant::now();
    agent.stop();
    assert!(stopping.elapsed() < Duration::from_secs(5), "stop does not wait for the 30 s tick");
    assert!(!agent.is_running());
    assert!(!agent.status().running);
    agent.stop();
    let got = names(&events.lock().unwrap());
    assert_eq!(got.first().map(String::as_str), Some("started"));
    assert_eq!(got.last().map(String::as_str), Some("stopped"));
    let json = events.lock().unwrap()[0].to_json();
    assert_eq!(json["relays"][0], serde_json::json!({"relay": "hub-a", "address": "10.77.0.1"}));
}

#[test]
fn bad_options_and_unknown_nodes_are_refused() {
    let parts = || AgentParts {
        device: Box::new(present()),
        liveness: Box::new(FakeLiveness::default()),
        launcher: None,
        resolver: no_dns(),
    };
    let sink = || -> EventSink { Box::new(|_| {}) };
    let err = Agent::start_with(redundant(), "nobody", options(), parts(), sink()).unwrap_err();
    assert_eq!(err.code(), "mesh_unknown_node");
    let err = Agent::start_with(redundant(), "spoke-1", AgentOptions::new("bad/name"), parts(), sink()).unwrap_err();
    assert_eq!(err.code(), "io_other");
    let err =
        Agent::start_with(redundant(), "spoke-1", AgentOptions { lost_threshold: 0, ..options() }, parts(), sink())
            .unwrap_err();
    assert_eq!(err.code(), "io_other");
}

#[test]
fn silence_before_the_first_reply_is_not_judged_during_the_startup_grace() {
    let mut rig = Rig::new(redundant(), "spoke-1", options(), None, present(), no_dns());
    let silent = |rig: &Rig, lost: u32| {
        for ip in ["10.77.0.1", "10.77.0.2"] {
            rig.liveness
                .0
                .lock()
                .unwrap()
                .insert(ip.parse().unwrap(), Observation { consecutive_lost: lost, ever_answered: false });
        }
    };
    silent(&rig, 10);
    rig.at(0.0);
    rig.take();
    rig.at(14.0);
    assert!(rig.take().is_empty(), "no relay judged before 15 s");
    // hub-b answers; hub-a stays silent past the grace: only hub-a is down.
    rig.liveness.lost("10.77.0.2", 0);
    rig.at(15.0);
    let events = rig.take();
    assert_eq!(names(&events), ["relay_down", "failover_changed", "applied"], "{events:?}");
}

#[test]
fn with_every_relay_down_the_plan_stays() {
    let mut rig = Rig::new(redundant(), "spoke-1", options(), None, present(), no_dns());
    rig.at(0.0);
    rig.liveness.lost("10.77.0.1", 3);
    rig.liveness.lost("10.77.0.2", 0);
    rig.at(1.0);
    assert_eq!(rig.device.allowed(&rig.key("hub-b")), ["10.77.0.0/24"]);
    rig.take();
    // hub-b goes too: nothing to fail over to; the all-up plan comes back rather than cutting s2 off.
    rig.liveness.lost("10.77.0.2", 3);
    rig.at(2.0);
    let events = rig.take();
    assert_eq!(names(&events), ["relay_down", "failover_changed", "applied"], "{events:?}");
    assert_eq!(rig.device.allowed(&rig.key("hub-a")), ["10.77.0.0/24"]);
    let status = rig.engine.status_handle().lock().unwrap().clone();
    assert!(status.relays_down.is_empty());
    assert!(status.relays.iter().all(|r| r.health == RelayHealth::Down));
}
