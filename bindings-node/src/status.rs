//! Status, health, probes and the status server: `parseWgDump` / `parseWgDumpAll`, `deviceStatus` (a
//! `Status` with `toJSON()`, `health()`, `prometheus()`), `renderPrometheus`, `Prober` and `StatusServer`.
//! Status and health objects are the JSON documents of the server's `/status` and `/health` (snake_case,
//! the same as the shared vectors). Thin: everything is computed by the core.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use crate::dump_reader::{self, DumpFunction};
use crate::error::{invalid_value, IntoJs};
use crate::plan::Plan;
use crate::uapi::{core_state, state_object, DeviceState};

fn type_error(message: String) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, message)
}

fn seconds(value: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| type_error(format!("{what} must be a non-negative number of seconds")))
}

fn millis(value: f64, what: &str) -> Result<Duration> {
    seconds(value / 1000.0, what)
}

fn ip(text: &str) -> Result<IpAddr> {
    text.parse().map_err(|_| type_error(format!("not an IP address: {text:?}")))
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("status documents always serialise")
}

/// Parses `wg show IFNAME dump` text into a DeviceState. Throws `config_syntax` / `config_invalid_value`
/// with the line; never echoes a secret.
#[napi]
pub fn parse_wg_dump<'env>(env: &'env Env, text: String) -> Result<DeviceState<'env>> {
    let state = wiremesh::parse_wg_dump(&text).js(env)?;
    state_object(env, &state)
}

/// One interface of `wg show all dump`.
#[napi(object)]
pub struct DumpInterface<'a> {
    /// The interface name.
    pub interface: String,
    /// Its state.
    pub state: DeviceState<'a>,
}

/// Parses `wg show all dump` text: every interface, in order of appearance.
#[napi]
pub fn parse_wg_dump_all<'env>(env: &'env Env, text: String) -> Result<Vec<DumpInterface<'env>>> {
    let all = wiremesh::parse_wg_dump_all(&text).js(env)?;
    all.into_iter()
        .map(|(interface, state)| Ok(DumpInterface { interface, state: state_object(env, &state)? }))
        .collect()
}

/// Options of `deviceStatus`.
#[napi(object)]
pub struct StatusOptions<'a> {
    /// When the state was read, Unix seconds (default: now).
    pub now: Option<f64>,
    /// The plan, to name peers.
    pub plan: Option<ClassInstance<'a, Plan>>,
    /// This device's node in the plan.
    pub node: Option<String>,
    /// The previous state, for rates (with `previousTime`).
    pub previous: Option<DeviceState<'a>>,
    /// When `previous` was read, Unix seconds.
    pub previous_time: Option<f64>,
    /// A prober whose statistics go into the status.
    pub prober: Option<ClassInstance<'a, Prober>>,
    /// A handshake older than this many seconds is stale (default 180).
    pub stale_after: Option<f64>,
}

/// The status of one interface (see `deviceStatus`).
#[napi]
pub struct Status {
    inner: wiremesh::Status,
}

#[napi]
impl Status {
    /// The interface name.
    #[napi(getter)]
    pub fn interface(&self) -> String {
        self.inner.interface.clone()
    }

    /// Number of peers.
    #[napi(getter)]
    pub fn peer_count(&self) -> u32 {
        self.inner.peer_count as u32
    }

    /// Number of peers in state "up".
    #[napi(getter)]
    pub fn peers_up(&self) -> u32 {
        self.inner.peers_up as u32
    }

    /// The status document (as the server's /status serves it).
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, any>")]
    pub fn to_json(&self) -> Value {
        json(&self.inner)
    }

    /// Health: against `plan`'s `node` when both are given, else every peer must be up. With
    /// `{ resolveEndpoints: true }`, planned endpoints given as DNS names are resolved (system resolver,
    /// blocking) and checked too; without, only literal addresses are. Throws `mesh_unknown_node` for a
    /// node not in the plan.
    #[napi(ts_return_type = "Record<string, any>")]
    pub fn health(
        &self,
        env: Env,
        plan: Option<&Plan>,
        node: Option<String>,
        options: Option<HealthOptions>,
    ) -> Result<Value> {
        let resolve = options.and_then(|o| o.resolve_endpoints).unwrap_or(false);
        let health = match (plan, node) {
            (Some(plan), Some(node)) if resolve => {
                wiremesh::health_resolving(&self.inner, &plan.inner, &node, &wiremesh::reconcile::resolve_system)
                    .js(&env)?
            }
            (Some(plan), Some(node)) => wiremesh::health(&self.inner, &plan.inner, &node).js(&env)?,
            (None, None) => wiremesh::health_of(&self.inner),
            _ => return Err(type_error("plan and node go together".into())),
        };
        Ok(json(&health))
    }

    /// Prometheus text exposition of this status.
    #[napi]
    pub fn prometheus(&self) -> String {
        wiremesh::render_prometheus(std::slice::from_ref(&self.inner))
    }
}

fn time(value: f64) -> Result<SystemTime> {
    Ok(UNIX_EPOCH + seconds(value, "time")?)
}

/// Describes a DeviceState: per peer name (from the plan), endpoint, AllowedIPs, last handshake and
/// its age, transfer and rates, state up/stale/never, probe results.
#[napi]
pub fn device_status(
    env: Env,
    state: DeviceState<'_>,
    interface: String,
    options: Option<StatusOptions<'_>>,
) -> Result<Status> {
    let state = core_state(&state).js(&env)?;
    let options = options.unwrap_or(StatusOptions {
        now: None,
        plan: None,
        node: None,
        previous: None,
        previous_time: None,
        prober: None,
        stale_after: None,
    });
    let now = match options.now {
        Some(t) => time(t)?,
        None => SystemTime::now(),
    };
    let previous = match (&options.previous, options.previous_time) {
        (Some(p), Some(t)) => Some(wiremesh::Sample { state: core_state(p).js(&env)?, at: time(t)? }),
        (None, None) => None,
        _ => return Err(type_error("previous and previousTime go together".into())),
    };
    let probes = options.prober.as_ref().map(|p| p.inner.all_stats()).unwrap_or_default();
    let context = wiremesh::StatusContext {
        plan: options.plan.as_ref().map(|p| p.inner.as_ref()),
        node: options.node.as_deref(),
        previous: previous.as_ref(),
        probes: &probes,
        stale_after: seconds(options.stale_after.unwrap_or(180.0), "staleAfter")?,
    };
    Ok(Status { inner: wiremesh::status(&interface, &state, now, &context).js(&env)? })
}

/// Prometheus text for several statuses.
#[napi]
pub fn render_prometheus(statuses: Vec<&Status>) -> String {
    let all: Vec<wiremesh::Status> = statuses.iter().map(|s| s.inner.clone()).collect();
    wiremesh::render_prometheus(&all)
}

/// Every health problem code; exported as `HEALTH_CODES`.
#[napi]
pub fn health_codes() -> Vec<&'static str> {
    wiremesh::HEALTH_CODES.to_vec()
}

/// Options of a `Prober`.
#[napi(object)]
pub struct ProberOptions {
    /// Milliseconds between two echoes to one target (default 1000).
    pub interval_ms: Option<f64>,
    /// Milliseconds after which an echo is lost (default 1000).
    pub timeout_ms: Option<f64>,
    /// Echoes in the sliding window (default 30).
    pub window: Option<u32>,
    /// Bind the sockets to this interface (SO_BINDTODEVICE).
    pub interface: Option<String>,
}

/// One target's probe statistics.
#[napi(object)]
pub struct ProbeStats {
    /// Echoes in the window whose fate is known.
    pub sent: u32,
    /// Of those, answered in time.
    pub received: u32,
    /// Lost fraction, 0..1.
    pub loss: f64,
    /// Latest round-trip time (ms).
    pub rtt_last_ms: Option<f64>,
    /// Shortest round-trip time in the window (ms).
    pub rtt_min_ms: Option<f64>,
    /// Mean round-trip time in the window (ms).
    pub rtt_avg_ms: Option<f64>,
    /// Longest round-trip time in the window (ms).
    pub rtt_max_ms: Option<f64>,
    /// Echoes lost since the last reply.
    pub consecutive_lost: u32,
    /// Seconds since the last reply (absent: never answered).
    pub last_reply_age: Option<f64>,
}

fn stats_object(stats: &wiremesh::ProbeStats) -> ProbeStats {
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    ProbeStats {
        sent: stats.sent,
        received: stats.received,
        loss: stats.loss,
        rtt_last_ms: ms(stats.rtt_last),
        rtt_min_ms: ms(stats.rtt_min),
        rtt_avg_ms: ms(stats.rtt_avg),
        rtt_max_ms: ms(stats.rtt_max),
        consecutive_lost: stats.consecutive_lost,
        last_reply_age: stats.last_reply_age.map(|d| d.as_secs_f64()),
    }
}

/// A background ICMP/ICMPv6 echo prober (one native thread): loss and RTT per target over a sliding
/// window. Call `stop()` when done (it also stops when garbage-collected).
#[napi]
pub struct Prober {
    pub(crate) inner: Arc<wiremesh::Prober>,
}

#[napi]
impl Prober {
    /// Starts probing (no targets yet). Throws `io_permission_denied` without ICMP socket permission,
    /// `io_other` for options out of range or an unknown interface.
    #[napi(constructor)]
    pub fn new(env: Env, options: Option<ProberOptions>) -> Result<Self> {
        let o = options.unwrap_or(ProberOptions { interval_ms: None, timeout_ms: None, window: None, interface: None });
        let options = wiremesh::ProbeOptions {
            interval: millis(o.interval_ms.unwrap_or(1000.0), "intervalMs")?,
            timeout: millis(o.timeout_ms.unwrap_or(1000.0), "timeoutMs")?,
            window: o.window.unwrap_or(30) as usize,
            interface: o.interface,
        };
        Ok(Prober { inner: Arc::new(wiremesh::Prober::start(options).js(&env)?) })
    }

    /// Replaces the targets (IP address strings); kept targets keep their window.
    #[napi]
    pub fn set_targets(&self, targets: Vec<String>) -> Result<()> {
        let ips = targets.iter().map(|t| ip(t)).collect::<Result<Vec<_>>>()?;
        self.inner.set_targets(&ips);
        Ok(())
    }

    /// The targets.
    #[napi(getter)]
    pub fn targets(&self) -> Vec<String> {
        self.inner.targets().iter().map(ToString::to_string).collect()
    }

    /// One target's statistics (null when not a target).
    #[napi]
    pub fn stats(&self, target: String) -> Result<Option<ProbeStats>> {
        Ok(self.inner.stats(ip(&target)?).map(|s| stats_object(&s)))
    }

    /// Every target's statistics, keyed by address.
    #[napi(ts_return_type = "Record<string, ProbeStats>")]
    pub fn all_stats(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (ip, s) in self.inner.all_stats() {
            let o = stats_object(&s);
            map.insert(
                ip.to_string(),
                serde_json::json!({
                    "sent": o.sent, "received": o.received, "loss": o.loss, "rttLastMs": o.rtt_last_ms,
                    "rttMinMs": o.rtt_min_ms, "rttAvgMs": o.rtt_avg_ms, "rttMaxMs": o.rtt_max_ms,
                    "consecutiveLost": o.consecutive_lost, "lastReplyAge": o.last_reply_age,
                }),
            );
        }
        Value::Object(map)
    }

    /// Whether the background thread runs.
    #[napi(getter)]
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Stops the background thread (statistics stay readable).
    #[napi]
    pub fn stop(&self) {
        self.inner.stop();
    }
}

/// Options of `Status.health`.
#[napi(object)]
pub struct HealthOptions {
    /// Also check planned endpoints given as DNS names (resolved with the system resolver).
    pub resolve_endpoints: Option<bool>,
}

/// Options of `StatusServer.start`.
#[napi(object, object_to_js = false)]
pub struct StatusServerOptions<'a> {
    /// Read the device with `wg show IFNAME dump` (kernel WireGuard) instead of its UAPI socket.
    pub wg: Option<bool>,
    /// Read the device by calling this function instead: it returns `wg show IFNAME dump` text, or a
    /// Promise of it, within 5 s. It runs on the JavaScript thread; a request whose dump throws, rejects,
    /// is not a string or comes late is a 503 with the reason (`io_other`). Not together with `wg`.
    #[napi(ts_type = "() => string | Promise<string>")]
    pub dump: Option<DumpFunction>,
    /// The plan, to name peers and check health.
    pub plan: Option<ClassInstance<'a, Plan>>,
    /// This device's node in the plan.
    pub node: Option<String>,
    /// A prober; the server sets its targets to the peers' overlay addresses.
    pub prober: Option<ClassInstance<'a, Prober>>,
    /// A handshake older than this many seconds is stale (default 180).
    pub stale_after: Option<f64>,
    /// Health also checks planned endpoints given as DNS names (each name resolved at most once a
    /// minute, with the system resolver).
    pub resolve_endpoints: Option<bool>,
}

/// The HTTP status server: /status, /health, /healthz, /metrics and / (a native thread).
#[napi]
pub struct StatusServer {
    inner: wiremesh::StatusServer,
}

#[napi]
impl StatusServer {
    /// Starts serving `interface` on `listen` ("127.0.0.1:9586"; port 0 picks one), read over its UAPI
    /// socket, with `wg show IFNAME dump` when `wg`, or by calling `dump()` when given. Throws an `io_*`
    /// error when the address cannot be bound, `mesh_unknown_node` for a node not in the plan.
    #[napi(factory)]
    pub fn start(
        env: Env,
        listen: String,
        interface: String,
        options: Option<StatusServerOptions<'_>>,
    ) -> Result<Self> {
        let address: SocketAddr = listen
            .parse()
            .map_err(|_| js(&env, invalid_value("listen", format!("not an IP:PORT address: {listen:?}"))))?;
        let o = options.unwrap_or(StatusServerOptions {
            wg: None,
            dump: None,
            plan: None,
            node: None,
            prober: None,
            stale_after: None,
            resolve_endpoints: None,
        });
        let source = match (o.dump, o.wg.unwrap_or(false)) {
            (Some(_), true) => return Err(type_error("give dump or wg, not both".into())),
            (Some(dump), false) => wiremesh::StatusSource::Reader { interface, read: dump_reader::reader(dump) },
            (None, true) => wiremesh::StatusSource::WgShow(interface),
            (None, false) => wiremesh::StatusSource::Uapi(interface),
        };
        let options = wiremesh::ServerOptions {
            plan: o.plan.as_ref().map(|p| p.inner.as_ref().clone()),
            node: o.node,
            prober: o.prober.as_ref().map(|p| Arc::clone(&p.inner)),
            stale_after: o.stale_after.map(|s| seconds(s, "staleAfter")).transpose()?,
            resolve_endpoints: o.resolve_endpoints.unwrap_or(false),
        };
        Ok(StatusServer { inner: wiremesh::StatusServer::start(address, source, options).js(&env)? })
    }

    /// The address served, "IP:PORT".
    #[napi(getter)]
    pub fn address(&self) -> String {
        self.inner.address().to_string()
    }

    /// The port served.
    #[napi(getter)]
    pub fn port(&self) -> u32 {
        self.inner.address().port().into()
    }

    /// Whether the server runs.
    #[napi(getter)]
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Stops the server.
    #[napi]
    pub fn stop(&self) {
        self.inner.stop();
    }
}

fn js(env: &Env, err: wiremesh::Error) -> napi::Error {
    crate::error::js_error(env, err)
}
