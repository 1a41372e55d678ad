//! `Device`: a userspace WireGuard interface running inside this process (Linux only; the core's
//! feature `device`). JavaScript only controls it: the packet path runs in the core's own threads, never
//! on the event loop. Starting (creating the interface, resolving DNS endpoints), applying a change and
//! stopping run on the libuv thread pool and return Promises; reading state and counters is immediate.
//!
//! `stop()` stops the core's device and drops it (closing the TUN file descriptor is what deletes the
//! interface), keeping its last state, counters and stop reason for later reads.

use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use wiremesh::device::{self, DeviceOptions, DeviceReadings, StopReason};

use crate::error::{js_error, CoreResult, IntoJs};
use crate::plan::Plan;
use crate::uapi::{core_update, state_object, DeviceState, DeviceUpdate};

/// How to start a device.
#[napi(object)]
pub struct DeviceOptionsObject {
    /// The interface name (1-15 characters, no `/`, `:` or whitespace).
    pub ifname: String,
    /// Serve the UAPI on `/var/run/wireguard/IFNAME.sock` (mode 0600), so `wg show` / `wg set` work on
    /// it. Default true.
    pub uapi: Option<bool>,
    /// Use segmentation offloads and batched UDP where the kernel has them; false forces one packet per
    /// system call. Default: on unless `WIREMESH_OFFLOAD` is `off`.
    pub offload: Option<bool>,
    /// The UDP sockets' buffer size in bytes. Default: `WIREMESH_SOCKET_BUFFER`, else 7 MiB.
    pub socket_buffer_bytes: Option<u32>,
    /// The interface's queue length in packets (what the kernel holds for the reader; 1 or more; 0 is an
    /// `io_other` error). Default: `WIREMESH_TUN_QUEUE_LEN`, else the kernel's 500.
    pub tun_queue_len: Option<u32>,
    /// Give each reader a helper thread for its system calls (UDP sends, TUN writes), overlapping them
    /// with crypto; false: each reader makes its own. Default: on unless `WIREMESH_HELPER_THREADS` is
    /// `off`.
    pub helper_threads: Option<bool>,
}

/// The offloads a device uses, as the kernel granted them at start.
#[napi(object)]
pub struct DeviceOffloads {
    /// The TUN carries virtio-net headers (super-packets possible).
    pub vnet_hdr: bool,
    /// The TUN hands over TCP super-packets.
    pub tso: bool,
    /// The TUN hands over UDP super-packets.
    pub uso: bool,
    /// The IPv4 UDP socket sends with `UDP_SEGMENT`.
    pub udp_gso: bool,
    /// The IPv4 UDP socket receives with `UDP_GRO`.
    pub udp_gro: bool,
}

/// The device's counters since start.
#[napi(object)]
pub struct DeviceCounters {
    /// Decrypted packets whose source address belongs to another peer (or none): dropped.
    pub ingress_dropped: f64,
    /// Packets from the interface with no peer for their destination.
    pub no_route_dropped: f64,
    /// Packets for a peer with no endpoint yet.
    pub no_endpoint_dropped: f64,
    /// Datagrams that failed authentication, were malformed or named no peer.
    pub invalid_dropped: f64,
    /// Cookie replies sent because of handshake load.
    pub cookies_sent: f64,
}

fn options_of(options: DeviceOptionsObject) -> DeviceOptions {
    let defaults = DeviceOptions::new(&options.ifname);
    DeviceOptions {
        uapi: options.uapi.unwrap_or(true),
        offload: options.offload.unwrap_or(defaults.offload),
        socket_buffer_bytes: options.socket_buffer_bytes.map_or(defaults.socket_buffer_bytes, |b| b as usize),
        tun_queue_len: options.tun_queue_len.or(defaults.tun_queue_len),
        helper_threads: options.helper_threads.unwrap_or(defaults.helper_threads),
        ..defaults
    }
}

/// The stable spelling of a stop reason.
fn reason_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Requested => "requested",
        StopReason::InterfaceDeleted => "interface_deleted",
        StopReason::SocketRemoved => "socket_removed",
        StopReason::TunFailed => "tun_failed",
    }
}

/// The core device while it runs; what it last reported once stopped (and dropped).
enum Inner {
    Running(device::Device),
    Stopped(DeviceReadings),
}

/// The device shared by its handle and the jobs in flight.
struct Shared {
    ifname: String,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn reason(&self) -> Option<StopReason> {
        match &*self.lock() {
            Inner::Running(device) => device.stop_reason(),
            Inner::Stopped(last) => last.stop_reason,
        }
    }

    fn is_stopped(&self) -> bool {
        match &*self.lock() {
            Inner::Running(device) => device.is_stopped(),
            Inner::Stopped(_) => true,
        }
    }
}

/// A running userspace WireGuard interface in this process (needs root, or CAP_NET_ADMIN, and
/// `/dev/net/tun`). Start one with `Device.start({ ifname })` (no key, no peers) or
/// `Device.startNode(plan, node, { ifname })` (configured from one node of a plan); with `uapi` (the
/// default) it also serves `/var/run/wireguard/IFNAME.sock`, so `wg show` and `wg set` work on it.
/// Addresses and routes are not set: use `ip`. Call `stop()` when done (it also stops when garbage
/// collected); after it, `state()` and `counters()` return their last values. It never prints a key.
#[napi]
pub struct Device {
    shared: Arc<Shared>,
}

/// Background job: start a device.
pub struct StartDevice {
    plan: Option<(Arc<wiremesh::Plan>, String)>,
    options: DeviceOptions,
}

impl Task for StartDevice {
    type Output = CoreResult<device::Device>;
    type JsValue = Device;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(match &self.plan {
            None => device::Device::start(&self.options),
            Some((plan, node)) => device::Device::start_node(plan, node, &self.options),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Device> {
        let device = output.map_err(|e| js_error(&env, e))?;
        let ifname = device.ifname().to_string();
        Ok(Device { shared: Arc::new(Shared { ifname, inner: Mutex::new(Inner::Running(device)) }) })
    }
}

/// Background job: apply a change.
pub struct ApplyDevice {
    shared: Arc<Shared>,
    update: wiremesh::uapi::DeviceUpdate,
}

impl Task for ApplyDevice {
    type Output = CoreResult<()>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        match &*self.shared.lock() {
            Inner::Running(device) => Ok(device.apply(&self.update)),
            Inner::Stopped(_) => Ok(Err(wiremesh::IoError::invalid(
                "apply",
                std::path::Path::new(&self.shared.ifname),
                "the device is stopped",
            )
            .into())),
        }
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<()> {
        output.map_err(|e| js_error(&env, e))
    }
}

/// Background job: stop.
pub struct StopDevice {
    shared: Arc<Shared>,
}

impl Task for StopDevice {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        let mut inner = self.shared.lock();
        if let Inner::Running(device) = &*inner {
            device.stop();
            let stopped = Inner::Stopped(device.readings());
            // Dropping the device closes the TUN: that deletes the interface.
            *inner = stopped;
        }
        Ok(())
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }
}

#[napi]
impl Device {
    /// Creates the interface `options.ifname` with UDP sockets on a random port and (unless
    /// `uapi: false`) its UAPI socket. Rejects with `io_other` (a bad name, no TUN support) or
    /// `io_permission_denied` (not root).
    #[napi(ts_return_type = "Promise<Device>")]
    pub fn start(options: DeviceOptionsObject) -> AsyncTask<StartDevice> {
        AsyncTask::new(StartDevice { plan: None, options: options_of(options) })
    }

    /// Starts a device for node `node` of `plan`: its private key (which must be in the plan), listen
    /// port, fwmark and every peer. Peers' DNS endpoints are resolved now. Rejects with
    /// `mesh_unknown_node`, `mesh_missing_key` or `plan_unresolved_endpoint` before creating anything,
    /// or with what `start` rejects with.
    #[napi(ts_return_type = "Promise<Device>")]
    pub fn start_node(plan: &Plan, node: String, options: DeviceOptionsObject) -> AsyncTask<StartDevice> {
        AsyncTask::new(StartDevice { plan: Some((Arc::clone(&plan.inner), node)), options: options_of(options) })
    }

    /// The interface name.
    #[napi(getter)]
    pub fn ifname(&self) -> String {
        self.shared.ifname.clone()
    }

    /// The configuration and statistics (handshakes, bytes), as `wg show` reads them (after `stop()`:
    /// the last ones).
    #[napi]
    pub fn state<'env>(&self, env: &'env Env) -> Result<DeviceState<'env>> {
        let state = match &*self.shared.lock() {
            Inner::Running(device) => device.state(),
            Inner::Stopped(last) => last.state.clone(),
        };
        state_object(env, &state)
    }

    /// The offloads in use, as the kernel granted them at start; all false with `offload: false`
    /// (after `stop()`: the last values).
    #[napi]
    pub fn offloads(&self) -> DeviceOffloads {
        let o = match &*self.shared.lock() {
            Inner::Running(device) => device.offloads(),
            Inner::Stopped(last) => last.offloads,
        };
        DeviceOffloads { vnet_hdr: o.vnet_hdr, tso: o.tso, uso: o.uso, udp_gso: o.udp_gso, udp_gro: o.udp_gro }
    }

    /// The drop and cookie counters since start (after `stop()`: the last values).
    #[napi]
    pub fn counters(&self) -> DeviceCounters {
        let c = match &*self.shared.lock() {
            Inner::Running(device) => device.counters(),
            Inner::Stopped(last) => last.counters,
        };
        DeviceCounters {
            ingress_dropped: c.ingress_dropped as f64,
            no_route_dropped: c.no_route_dropped as f64,
            no_endpoint_dropped: c.no_endpoint_dropped as f64,
            invalid_dropped: c.invalid_dropped as f64,
            cookies_sent: c.cookies_sent as f64,
        }
    }

    /// Applies `update` with the UAPI `set` semantics. Throws at once for an update that cannot be
    /// expressed (`uapi_invalid_value`, `key_*`); rejects with `uapi_errno` (e.g. the listen port in
    /// use), in which case nothing changed; rejects with `io_other` once stopped.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn apply(&self, env: Env, update: DeviceUpdate<'_>) -> Result<AsyncTask<ApplyDevice>> {
        let update = core_update(&update).js(&env)?;
        Ok(AsyncTask::new(ApplyDevice { shared: Arc::clone(&self.shared), update }))
    }

    /// Stops the device: its threads end, the UAPI socket and the interface are deleted. Idempotent;
    /// resolves within a fraction of a second.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&self) -> AsyncTask<StopDevice> {
        AsyncTask::new(StopDevice { shared: Arc::clone(&self.shared) })
    }

    /// True once the device is stopping or stopped (requested, or its interface or socket went away).
    #[napi(getter)]
    pub fn is_stopped(&self) -> bool {
        self.shared.is_stopped()
    }

    /// Why it stopped; null while it runs.
    #[napi(getter, ts_return_type = "'requested' | 'interface_deleted' | 'socket_removed' | 'tun_failed' | null")]
    pub fn stop_reason(&self) -> Option<&'static str> {
        self.shared.reason().map(reason_name)
    }

    /// `Device(wm0, running)` / `Device(wm0, stopped: requested)`.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        let status = match (self.shared.reason(), self.shared.is_stopped()) {
            (None, false) => "running".to_string(),
            (None, true) => "stopping".to_string(),
            (Some(reason), _) => format!("stopped: {}", reason_name(reason)),
        };
        format!("Device({}, {status})", self.shared.ifname)
    }
}
