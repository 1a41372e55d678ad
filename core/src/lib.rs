//! # wiremesh
//!
//! Describe a WireGuard network once — nodes, relays, groups, subnets behind nodes — and get every
//! node's configuration: peers, minimal AllowedIPs, keepalives and preshared keys, proven reachable
//! before anything is deployed, rendered as wg-quick or `wg setconf` text.
//!
//! The pipeline: [`Mesh`] (what you declare) → [`plan()`] → [`Plan`] (every node's interface and
//! peers) → [`verify()`] (hop-by-hop proof) → [`render_wg_quick`] / [`render_setconf`].
//!
//! ```
//! use wiremesh::{Mesh, plan, verify};
//! let mut mesh = Mesh::from_toml_str(r#"
//!     [mesh]
//!     name = "demo"
//!     networks = ["10.88.0.0/24"]
//!     topology = "full-mesh"
//!     [[nodes]]
//!     name = "hub"
//!     endpoint = "192.0.2.1:51820"
//!     relay = true
//!     [[nodes]]
//!     name = "node-1"
//!     [[nodes]]
//!     name = "node-2"
//! "#).unwrap();
//! mesh.generate_missing().unwrap();          // keys and addresses, in memory
//! let plan = plan(&mesh).unwrap();
//! verify(&plan).unwrap();                    // every pair proven to reach every other
//! let node1 = plan.node("node-1").unwrap();
//! assert_eq!(node1.peers.len(), 1);          // only the hub: node-2 is also behind NAT…
//! assert_eq!(node1.peers[0].allowed_ips[0].to_string(), "10.88.0.0/24"); // …so the hub relays
//! assert_eq!(plan.node("hub").unwrap().peers.len(), 2);
//! ```

pub mod agent;
mod config;
#[cfg(feature = "device")]
pub mod device;
mod error;
mod failover;
mod fsutil;
mod graph;
mod health;
mod import;
mod ipam;
mod keys;
mod mesh;
mod output;
mod parallel;
mod plan;
pub mod probe;
pub mod reconcile;
mod report;
mod status;
pub mod status_server;
pub mod uapi;
mod verify;

pub use config::{
    parse_setconf, parse_wg_quick, render_setconf, render_wg_quick, InterfaceSection, PeerSection, WgConfig,
};
pub use error::{
    ConfigError, Error, FieldPath, IoError, IpamError, KeyError, MeshError, PlanError, Result, TextLocation, UapiError,
    VerifyError, ALL_CODES,
};
pub use failover::{check_failover, verify_failover, FailoverProof};
pub use fsutil::{
    create_private_dir, write_atomic, write_many_atomic, write_many_atomic_with, PUBLIC_FILE_MODE, SECRET_DIR_MODE,
    SECRET_FILE_MODE,
};
pub use graph::render_dot;
pub use health::{health, health_of, health_resolving, Health, HealthProblem, LinkHealth, HEALTH_CODES};
pub use import::{import_meshconf_csv, import_wg_quick};
pub use ipam::{parse_address, parse_network, Pool, Reservation};
pub use keys::{KeyKind, PresharedKey, PrivateKey, PublicKey, KEY_LEN};
pub use mesh::complete::Generated;
pub use mesh::endpoint::{Endpoint, Host};
pub use mesh::model::{mesh_part_from_json, AllocationStrategy, LinkPolicy, Mesh, MeshSettings, Node, Rule, Topology};
pub use mesh::name::{check_safe_value, is_safe_value, Name, MAX_NAME_LEN};
pub use mesh::store::key_dir_name;
pub use output::{
    load_key_hook, node_config, render_all, render_each, render_node, write_configs, write_mesh_configs,
    write_mesh_configs_lean, write_proven_configs, ConfigFormat, FORWARD_IPV4_HOOK, FORWARD_IPV6_HOOK,
};
pub use plan::{plan, plan_with_relays_down, FailoverRoute, KeySource, NodePlan, PeerPlan, Plan, Reach, Route};
pub use probe::{ProbeOptions, ProbeStats, Prober};
pub use report::{failover_proof_json, failover_route_json, node_summary_json, peer_json, plan_json, problem_json};
pub use status::{
    parse_wg_dump, parse_wg_dump_all, probe_target, probe_targets, render_prometheus, render_wg_dump, status,
    PeerProbe, PeerStateKind, PeerStatus, Sample, Status, StatusContext, REJECT_AFTER_TIME,
};
pub use status_server::{ServerOptions, Snapshot, StatusReader, StatusServer, StatusSource, DNS_CACHE_TTL};
pub use verify::{check, verify, Problem, Proof, PROBLEM_CODES};
