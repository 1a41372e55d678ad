//! `wiremesh agent MESH NODE --interface IFNAME`: runs the agent (see `wiremesh::agent`) in the
//! foreground, printing every event, until interrupted.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use wiremesh::agent::{Agent, AgentEvent, AgentOptions, DaemonCommand};
use wiremesh::Error;

/// Keep a WireGuard device equal to its plan and fail over between redundant relays.
#[derive(Args)]
pub struct AgentArgs {
    /// The mesh file.
    mesh: PathBuf,
    /// This node's name.
    node: String,
    /// The WireGuard interface (any UAPI device: wiremeshd, wireguard-go, boringtun-cli).
    #[arg(long)]
    interface: String,
    /// Seconds a down relay must keep answering probes before its pairs move back.
    #[arg(long, default_value_t = 30.0)]
    hold_down: f64,
    /// Seconds between two probes of a relay (a reply later than this is lost too).
    #[arg(long, default_value_t = 1.0)]
    probe_interval: f64,
    /// Probes lost in a row after which a relay is down.
    #[arg(long, default_value_t = 3)]
    lost_threshold: u32,
    /// Seconds between two rounds (read the device, apply what differs).
    #[arg(long, default_value_t = 1.0)]
    tick: f64,
    /// Seconds after which a handshake is stale and a DNS endpoint is resolved again.
    #[arg(long, default_value_t = 135.0)]
    stale_after: f64,
    /// Start the device with `PROGRAM IFNAME` when it has disappeared (e.g. wiremeshd, wireguard-go),
    /// with exponential back-off, and give it its addresses back.
    #[arg(long, value_name = "PROGRAM")]
    daemon: Option<PathBuf>,
    /// Print events as JSON lines (with a `time` field, Unix seconds).
    #[arg(long)]
    json: bool,
}

fn seconds(value: f64, what: &str) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| wiremesh::IoError::invalid("agent", std::path::Path::new(what), "not a number of seconds").into())
}

fn print(event: &AgentEvent, json: bool) {
    let time = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
    let mut value = event.to_json();
    let line = if json {
        value["time"] = serde_json::json!((time * 1000.0).round() / 1000.0);
        value.to_string()
    } else {
        let name = value["event"].as_str().unwrap_or("event").to_string();
        if let Some(object) = value.as_object_mut() {
            object.remove("event");
        }
        let details = if value.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { format!(" {value}") };
        format!("{time:.3} {name}{details}")
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs the agent until the process is interrupted.
pub fn run(args: AgentArgs) -> Result<(), Error> {
    let mesh = super::load_complete(&args.mesh)?;
    let mut options = AgentOptions::new(&args.interface);
    options.hold_down = seconds(args.hold_down, "--hold-down")?;
    options.probe_interval = seconds(args.probe_interval, "--probe-interval")?;
    options.probe_timeout = options.probe_interval;
    options.lost_threshold = args.lost_threshold;
    options.tick = seconds(args.tick, "--tick")?;
    options.stale_after = seconds(args.stale_after, "--stale-after")?;
    options.daemon = args.daemon.map(|program| DaemonCommand { program, args: Vec::new() });
    let json = args.json;
    let agent = Agent::start(mesh, &args.node, options, Box::new(move |event| print(event, json)))?;
    while agent.is_running() {
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}
