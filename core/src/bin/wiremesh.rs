//! `wiremesh`: describe a WireGuard mesh once, get every node's config, proven reachable.
//!
//! Errors print one line, `wiremesh: error[CODE]: message`, and exit 1 (2 for usage errors).

#[path = "wiremesh/apply.rs"]
mod apply;

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod status_cmd;
use ipnet::IpNet;
use wiremesh::{
    import_meshconf_csv, import_wg_quick, plan, render_dot, render_node, verify, write_configs, AllocationStrategy,
    ConfigFormat, Endpoint, Error, IoError, Mesh, MeshError, MeshSettings, Name, Node, Plan, PresharedKey, PrivateKey,
    PublicKey, Reach, Topology,
};

#[derive(Parser)]
#[command(
    name = "wiremesh",
    version,
    about = "Describe a WireGuard mesh once; get every node's config, proven reachable."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum TopologyArg {
    FullMesh,
    HubAndSpoke,
}

#[derive(Clone, Copy, ValueEnum)]
enum AllocationArg {
    Sequential,
    KeyDerived,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    WgQuick,
    Setconf,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new mesh file.
    Init {
        /// The mesh file to create (TOML; `.json` for JSON).
        mesh: PathBuf,
        /// The mesh's name (default: the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// An overlay network (repeat for dual-stack), e.g. 10.88.0.0/24.
        #[arg(long = "network", required = true)]
        networks: Vec<IpNet>,
        #[arg(long, value_enum, default_value = "full-mesh")]
        topology: TopologyArg,
        /// Default ListenPort.
        #[arg(long)]
        listen_port: Option<u16>,
        /// PersistentKeepalive used by nodes behind NAT (0 disables).
        #[arg(long, default_value_t = 25)]
        keepalive: u16,
        #[arg(long)]
        mtu: Option<u32>,
        /// A DNS server or search domain for wg-quick (repeatable).
        #[arg(long = "dns")]
        dns: Vec<String>,
        /// Give every pair a preshared key.
        #[arg(long)]
        preshared_keys: bool,
        #[arg(long, value_enum, default_value = "sequential")]
        allocation: AllocationArg,
        /// An address, CIDR or range (a-b) never allocated (repeatable).
        #[arg(long = "reserve")]
        reserved: Vec<String>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Add a node; generates its key and allocates its addresses.
    Add {
        mesh: PathBuf,
        name: String,
        /// host:port where others reach it; omit for nodes behind NAT.
        #[arg(long)]
        endpoint: Option<String>,
        /// The node may forward traffic between other nodes.
        #[arg(long)]
        relay: bool,
        /// A static overlay address (one per network; the rest are allocated).
        #[arg(long = "address")]
        addresses: Vec<IpAddr>,
        #[arg(long = "group")]
        groups: Vec<String>,
        /// A network behind the node (repeatable).
        #[arg(long = "subnet")]
        subnets: Vec<IpNet>,
        #[arg(long)]
        listen_port: Option<u16>,
        #[arg(long)]
        keepalive: Option<u16>,
        /// The node's public key, for nodes that keep their own private key.
        #[arg(long)]
        public_key: Option<String>,
        /// Path of the private key on the node itself (needs --public-key): the config loads it from there.
        #[arg(long, requires = "public_key")]
        key_on_node: Option<String>,
    },
    /// Remove a node.
    Remove { mesh: PathBuf, name: String },
    /// Show every node's peers, and how each other node is reached.
    Show {
        mesh: PathBuf,
        /// Only this node.
        node: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Prove every pair the policy connects can reach each other; exit 0 only then.
    Verify {
        mesh: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Render configs: one node to stdout, or every node into --out DIR.
    Render {
        mesh: PathBuf,
        /// The node to print.
        node: Option<String>,
        /// Write <node>.conf for every node into this directory (0700, files 0600).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "wg-quick")]
        format: FormatArg,
        /// Render even when verification finds problems.
        #[arg(long)]
        no_verify: bool,
    },
    /// Create a mesh from existing wg-quick files or a wg-meshconf database.csv.
    Import {
        /// The mesh file to create.
        mesh: PathBuf,
        /// wg-quick files, one per node (the file stem is the node's name).
        files: Vec<PathBuf>,
        /// A wg-meshconf database.csv instead of wg-quick files.
        #[arg(long, conflicts_with = "files")]
        meshconf: Option<PathBuf>,
        /// The mesh's name (default: the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// Overwrite an existing mesh file.
        #[arg(long)]
        force: bool,
    },
    /// Print the topology as a Graphviz DOT graph.
    Graph { mesh: PathBuf },
    /// Bring a running interface to a node's plan over UAPI, changing only what differs.
    Apply(apply::ApplyArgs),
    /// Print a new private key (like `wg genkey`).
    Genkey,
    /// Read a private key on stdin, print its public key (like `wg pubkey`).
    Pubkey,
    /// Print a new preshared key (like `wg genpsk`).
    Genpsk,
    /// Show a WireGuard device's peers (state, handshake age, traffic) and its health against the plan.
    Status(status_cmd::StatusArgs),
    /// Serve a device's status over HTTP: /status, /health, /metrics, /healthz and an HTML page at /.
    Serve(status_cmd::ServeArgs),
    /// Keep a device equal to its plan and fail over between redundant relays; prints every event.
    Agent(wiremesh_agent::AgentArgs),
}

#[path = "wiremesh_agent.rs"]
mod wiremesh_agent;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wiremesh: error[{}]: {err}", err.code());
            ExitCode::FAILURE
        }
    }
}

fn name_arg(value: &str, field: &str) -> Result<Name, Error> {
    Ok(Name::new(value, field)?)
}

fn stem_name(path: &Path) -> Result<Name, Error> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    name_arg(&stem, "--name (from the file name)")
}

fn refuse_overwrite(path: &Path, force: bool) -> Result<(), Error> {
    if path.exists() && !force {
        return Err(IoError {
            op: "create",
            path: path.to_path_buf(),
            kind: std::io::ErrorKind::AlreadyExists,
            message: "already exists (use --force to overwrite)".into(),
        }
        .into());
    }
    Ok(())
}

/// Loads a mesh, fills in missing keys and addresses, and saves it back when anything was generated.
fn load_complete(path: &Path) -> Result<Mesh, Error> {
    let mut mesh = Mesh::load(path)?;
    if !mesh.generate_missing()?.is_empty() {
        mesh.save(path)?;
    }
    Ok(mesh)
}

/// Wipes a large plan's secrets (private and preshared keys, zeroized on drop) and leaves the rest of
/// its memory to the operating system: the process is about to exit, and freeing a big mesh's hundred
/// thousand small allocations one by one would take longer than writing its configs did.
/// `has_preshared_keys` is the mesh's setting: without it no peer entry holds one, and the walk over
/// every peer entry (the whole plan's memory, again) is skipped.
fn release_at_exit(mut plan: Plan, has_preshared_keys: bool) {
    for node in &mut plan.nodes {
        node.private_key = wiremesh::KeySource::Unknown;
        if has_preshared_keys {
            for peer in &mut node.peers {
                peer.preshared_key = None;
            }
        }
    }
    std::mem::forget(plan);
}

fn proven_plan(mesh: &Mesh) -> Result<Plan, Error> {
    let plan = plan(mesh)?;
    verify(&plan)?;
    Ok(plan)
}

fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Apply(args) => apply::run(args),
        Command::Agent(args) => wiremesh_agent::run(args),
        Command::Init {
            mesh: path,
            name,
            networks,
            topology,
            listen_port,
            keepalive,
            mtu,
            dns,
            preshared_keys,
            allocation,
            reserved,
            force,
        } => {
            refuse_overwrite(&path, force)?;
            let name = match name {
                Some(name) => name_arg(&name, "--name")?,
                None => stem_name(&path)?,
            };
            let mut settings = MeshSettings::new(name, networks);
            settings.topology = match topology {
                TopologyArg::FullMesh => Topology::FullMesh,
                TopologyArg::HubAndSpoke => Topology::HubAndSpoke,
            };
            settings.listen_port = listen_port;
            settings.persistent_keepalive = keepalive;
            settings.mtu = mtu;
            settings.dns = dns;
            settings.preshared_keys = preshared_keys;
            settings.allocation = match allocation {
                AllocationArg::Sequential => AllocationStrategy::Sequential,
                AllocationArg::KeyDerived => AllocationStrategy::KeyDerived,
            };
            settings.reserved = reserved;
            let mut mesh = Mesh::new(settings);
            mesh.generate_missing()?;
            mesh.save(&path)?;
            println!("created {}", path.display());
            Ok(())
        }
        Command::Add {
            mesh: path,
            name,
            endpoint,
            relay,
            addresses,
            groups,
            subnets,
            listen_port,
            keepalive,
            public_key,
            key_on_node,
        } => {
            let mut mesh = Mesh::load(&path)?;
            let mut node = Node::new(name_arg(&name, "name")?);
            node.endpoint = endpoint.map(|e| Endpoint::parse(&e, "--endpoint")).transpose()?;
            node.relay = relay;
            node.addresses = addresses;
            node.groups = groups.iter().map(|g| name_arg(g, "--group")).collect::<Result<_, _>>()?;
            node.subnets = subnets;
            node.listen_port = listen_port;
            node.persistent_keepalive = keepalive;
            node.public_key = public_key.map(|k| PublicKey::from_base64(&k)).transpose()?;
            node.private_key_on_node = key_on_node;
            mesh.add_node(node)?;
            let generated = mesh.generate_missing()?;
            mesh.save(&path)?;
            let node = mesh.node(&name).expect("just added");
            let addresses: Vec<String> = node.addresses.iter().map(ToString::to_string).collect();
            println!(
                "added {} ({}) public key {}{}",
                node.name,
                addresses.join(", "),
                node.effective_public_key().map(|k| k.to_string()).unwrap_or_default(),
                if generated.keys.is_empty() { "" } else { ", private key generated" }
            );
            Ok(())
        }
        Command::Remove { mesh: path, name } => {
            let mut mesh = Mesh::load(&path)?;
            mesh.remove_node(&name)?;
            mesh.save(&path)?;
            println!("removed {name}");
            Ok(())
        }
        Command::Show { mesh: path, node, json } => {
            let mesh = load_complete(&path)?;
            let plan = plan(&mesh)?;
            let nodes: Vec<_> = match &node {
                Some(name) => vec![plan
                    .node(name)
                    .ok_or_else(|| MeshError::UnknownNode { field: "NODE".into(), name: name.clone() })?],
                None => plan.nodes.iter().collect(),
            };
            let mut out = String::new();
            if json {
                let value: Vec<serde_json::Value> = nodes.iter().map(|n| wiremesh::node_summary_json(n)).collect();
                out = serde_json::to_string_pretty(&value).expect("json") + "\n";
            } else {
                for node in nodes {
                    let addresses: Vec<String> = node.addresses.iter().map(ToString::to_string).collect();
                    let role = if node.relay { " relay" } else { "" };
                    let endpoint =
                        node.endpoint.as_ref().map(|e| format!(" @ {e}")).unwrap_or_else(|| " (behind NAT)".into());
                    out += &format!(
                        "{}{role} {}{endpoint}: {} peer(s)\n",
                        node.name,
                        addresses.join(", "),
                        node.peers.len()
                    );
                    for peer in &node.peers {
                        let ips: Vec<String> = peer.allowed_ips.iter().map(ToString::to_string).collect();
                        let relays = if peer.relays_for.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " (relays for {})",
                                peer.relays_for.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
                            )
                        };
                        let keepalive =
                            peer.persistent_keepalive.map(|k| format!(" keepalive {k}s")).unwrap_or_default();
                        out += &format!(
                            "  peer {:<16} allowed {}{keepalive}{relays}\n",
                            peer.name.as_str(),
                            ips.join(", ")
                        );
                    }
                    for route in &node.routes {
                        let how = match &route.reach {
                            Reach::Direct => "direct".to_string(),
                            Reach::Via(relay) => {
                                let backups = node
                                    .failover
                                    .iter()
                                    .find(|f| f.node == route.node)
                                    .map(|f| f.backups.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "))
                                    .unwrap_or_default();
                                if backups.is_empty() {
                                    format!("via {relay}")
                                } else {
                                    format!("via {relay} (backup {backups})")
                                }
                            }
                            Reach::Blocked => "blocked by policy".to_string(),
                        };
                        out += &format!("  -> {:<16} {how}\n", route.node.as_str());
                    }
                }
            }
            write_stdout(&out)
        }
        Command::Verify { mesh: path, json } => {
            let mesh = load_complete(&path)?;
            let plan = plan(&mesh)?;
            let (proof, mut problems) = wiremesh::check(&plan);
            // Redundant relays: also prove every plan with one relay down.
            let failover = if problems.is_empty() && plan.nodes.iter().any(|n| n.has_redundant_relays()) {
                let (failover, failover_problems) = wiremesh::check_failover(&mesh)?;
                problems.extend(failover_problems);
                Some(failover)
            } else {
                None
            };
            if json {
                let value = serde_json::json!({
                    "ok": problems.is_empty(),
                    "pairs_proven": proof.pairs_proven,
                    "relayed_pairs": proof.relayed_pairs,
                    "pairs_blocked": proof.pairs_blocked,
                    "paths_followed": proof.paths_followed,
                    "failover": failover.as_ref().map(wiremesh::failover_proof_json),
                    "problems": problems.iter().map(wiremesh::problem_json).collect::<Vec<_>>(),
                });
                write_stdout(&(serde_json::to_string_pretty(&value).expect("json") + "\n"))?;
            } else if problems.is_empty() {
                write_stdout(&format!(
                    "ok: {} node(s), {} ordered pair(s) proven ({} through a relay), {} blocked by policy, {} packet path(s) followed\n",
                    plan.nodes.len(),
                    proof.pairs_proven,
                    proof.relayed_pairs,
                    proof.pairs_blocked,
                    proof.paths_followed
                ))?;
                if let Some(f) = &failover {
                    write_stdout(&format!(
                        "failover ok: with each of {} down in turn, {} pair(s) move to a backup relay, {} ordered pair(s) proven, {} pair(s) have no backup\n",
                        f.relays_checked.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", "),
                        f.pairs_failed_over,
                        f.pairs_proven,
                        f.pairs_without_backup
                    ))?;
                }
            } else {
                let mut out = String::new();
                for problem in &problems {
                    out += &format!("{problem}\n");
                }
                write_stdout(&out)?;
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(wiremesh::VerifyError { problems }.into())
            }
        }
        Command::Render { mesh: path, node, out, format, no_verify } => {
            let format = match format {
                FormatArg::WgQuick => ConfigFormat::WgQuick,
                FormatArg::Setconf => ConfigFormat::Setconf,
            };
            let mesh = load_complete(&path)?;
            // Every config into a directory: planned, proven and written in one pass, the files landing
            // only if the plan is proven, and no plan kept (write_mesh_configs_lean); otherwise prove it
            // first.
            if let (false, None, Some(dir)) = (no_verify, &node, &out) {
                let (_, written) = wiremesh::write_mesh_configs_lean(&mesh, dir, format)?;
                println!("wrote {} config(s) to {}", written.len(), dir.display());
                return Ok(());
            }
            let plan = if no_verify { plan(&mesh)? } else { proven_plan(&mesh)? };
            match (node, out) {
                (Some(name), None) => {
                    let node = plan
                        .node(&name)
                        .ok_or_else(|| MeshError::UnknownNode { field: "NODE".into(), name: name.clone() })?;
                    write_stdout(&render_node(node, format)?)
                }
                (None, Some(dir)) => {
                    let written = write_configs(&plan, &dir, format)?;
                    println!("wrote {} config(s) to {}", written.len(), dir.display());
                    release_at_exit(plan, mesh.mesh.preshared_keys);
                    Ok(())
                }
                (Some(name), Some(dir)) => {
                    let node = plan
                        .node(&name)
                        .ok_or_else(|| MeshError::UnknownNode { field: "NODE".into(), name: name.clone() })?;
                    let text = render_node(node, format)?;
                    wiremesh::create_private_dir(&dir)?;
                    let file = dir.join(format!("{name}.conf"));
                    wiremesh::write_atomic(&file, text.as_bytes(), wiremesh::SECRET_FILE_MODE)?;
                    println!("wrote {}", file.display());
                    Ok(())
                }
                (None, None) => Err(MeshError::InvalidValue {
                    field: "render".into(),
                    reason: "name a NODE to print, or give --out DIR for every node".into(),
                }
                .into()),
            }
        }
        Command::Import { mesh: path, files, meshconf, name, force } => {
            refuse_overwrite(&path, force)?;
            let name = match name {
                Some(name) => name_arg(&name, "--name")?,
                None => stem_name(&path)?,
            };
            let mut mesh = match meshconf {
                Some(csv) => import_meshconf_csv(
                    &std::fs::read_to_string(&csv).map_err(|e| IoError::new("read", &csv, &e))?,
                    name,
                    &csv.display().to_string(),
                )?,
                None => {
                    let mut inputs = Vec::new();
                    for file in &files {
                        let text = std::fs::read_to_string(file).map_err(|e| IoError::new("read", file, &e))?;
                        inputs.push((stem_name(file)?, text, file.display().to_string()));
                    }
                    import_wg_quick(name, &inputs)?
                }
            };
            mesh.generate_missing()?;
            mesh.save(&path)?;
            println!("imported {} node(s) into {}", mesh.nodes.len(), path.display());
            Ok(())
        }
        Command::Graph { mesh: path } => {
            let mesh = load_complete(&path)?;
            write_stdout(&render_dot(&plan(&mesh)?))
        }
        Command::Status(args) => {
            if !status_cmd::status(args)? {
                // --check on an unhealthy device: the status is printed (and flushed); say so by the exit status.
                std::process::exit(i32::from(status_cmd::UNHEALTHY_EXIT));
            }
            Ok(())
        }
        Command::Serve(args) => status_cmd::serve(args),
        Command::Genkey => write_secret_line(PrivateKey::generate().to_base64()),
        Command::Genpsk => write_secret_line(PresharedKey::generate().to_base64()),
        Command::Pubkey => {
            let mut input = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut input)
                .map_err(|e| IoError::new("read", Path::new("<stdin>"), &e))?;
            let key = PrivateKey::from_base64(&input);
            zeroize::Zeroize::zeroize(&mut input);
            write_stdout(&format!("{}\n", key?.public_key()))
        }
    }
}

fn write_secret_line(mut text: String) -> Result<(), Error> {
    text.push('\n');
    let result = write_stdout(&text);
    zeroize::Zeroize::zeroize(&mut text);
    result
}

fn write_stdout(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`wiremesh show | head`) is not an error worth reporting.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(IoError::new("write", Path::new("<stdout>"), &err).into()),
    }
}
