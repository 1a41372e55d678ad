//! `wiremesh apply MESH NODE --interface IFNAME [--dry-run] [--json]`: bring a running interface to a node's
//! plan over the UAPI socket, changing only what differs (untouched peers keep their sessions).

use std::path::PathBuf;

use clap::Args;
use wiremesh::reconcile::{apply_node, Applied};
use wiremesh::uapi::{socket_path, UapiClient};
use wiremesh::{Error, MeshError};

/// Arguments of `wiremesh apply`.
#[derive(Args)]
pub struct ApplyArgs {
    /// The mesh file.
    mesh: PathBuf,
    /// The node this interface is.
    node: String,
    /// The WireGuard interface (a userspace device: wiremeshd, wireguard-go, boringtun).
    #[arg(long = "interface", short = 'i')]
    interface: String,
    /// The UAPI socket (default: /var/run/wireguard/IFNAME.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Print the changes without touching the device.
    #[arg(long)]
    dry_run: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Runs `wiremesh apply`.
pub fn run(args: ApplyArgs) -> Result<(), Error> {
    let mesh = super::load_complete(&args.mesh)?;
    let plan = super::proven_plan(&mesh)?;
    let node = plan
        .node(&args.node)
        .ok_or_else(|| MeshError::UnknownNode { field: "NODE".into(), name: args.node.clone() })?;
    let path = match &args.socket {
        Some(path) => path.clone(),
        None => socket_path(&args.interface)?,
    };
    let mut client = UapiClient::connect_path(&path)?;
    let outcome = apply_node(node, &mut client, args.dry_run)?;
    let text = if args.json { json(&args, &outcome) } else { human(&args, &outcome) };
    super::write_stdout(&text)
}

fn json(args: &ApplyArgs, outcome: &Applied) -> String {
    let value = serde_json::json!({
        "node": args.node,
        "interface": args.interface,
        "dry_run": args.dry_run,
        "applied": outcome.applied,
        "changes": outcome.changes.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).expect("json") + "\n"
}

fn human(args: &ApplyArgs, outcome: &Applied) -> String {
    let target = format!("{} on {}", args.node, args.interface);
    if outcome.changes.is_empty() {
        return format!("{target}: already up to date\n");
    }
    let verb = if args.dry_run { "would make" } else { "made" };
    let mut out = format!("{target}: {verb} {} change(s)\n", outcome.changes.len());
    for change in &outcome.changes {
        out += &format!("  {change}\n");
    }
    if args.dry_run {
        out += "dry run: the device was not changed\n";
    }
    out
}
