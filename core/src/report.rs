//! JSON views of plans and problems for programs (the CLI's `--json`, the bindings' plain objects).
//! They never contain a private or preshared key: a peer only says whether it has a preshared key.

use serde_json::{json, Value};

use crate::plan::{FailoverRoute, KeySource, NodePlan, PeerPlan, Plan, Reach};
use crate::verify::Problem;

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// A peer as JSON.
pub fn peer_json(peer: &PeerPlan) -> Value {
    json!({
        "name": peer.name.as_str(),
        "public_key": peer.public_key.to_base64(),
        "has_preshared_key": peer.preshared_key.is_some(),
        "endpoint": peer.endpoint.as_ref().map(ToString::to_string),
        "allowed_ips": strings(&peer.allowed_ips),
        "persistent_keepalive": peer.persistent_keepalive,
        "relays_for": peer.relays_for.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
    })
}

/// A node's interface, peers and routes as JSON.
pub fn node_summary_json(node: &NodePlan) -> Value {
    let private_key = match &node.private_key {
        KeySource::Inline(_) => json!({"source": "inline"}),
        KeySource::OnNode(path) => json!({"source": "on_node", "path": path}),
        KeySource::Unknown => json!({"source": "unknown"}),
    };
    json!({
        "name": node.name.as_str(),
        "public_key": node.public_key.to_base64(),
        "private_key": private_key,
        "addresses": strings(&node.addresses),
        "subnets": strings(&node.subnets),
        "endpoint": node.endpoint.as_ref().map(ToString::to_string),
        "listen_port": node.listen_port,
        "relay": node.relay,
        "forwarding_hooks": node.forwarding_hooks,
        "mtu": node.mtu,
        "dns": node.dns,
        "table": node.table,
        "fwmark": node.fwmark,
        "peers": node.peers.iter().map(peer_json).collect::<Vec<_>>(),
        "routes": node.routes.iter().map(|r| {
            let (reach, via) = match &r.reach {
                Reach::Direct => ("direct", None),
                Reach::Via(relay) => ("relay", Some(relay.as_str())),
                Reach::Blocked => ("blocked", None),
            };
            json!({"node": r.node.as_str(), "reach": reach, "via": via})
        }).collect::<Vec<_>>(),
        "failover": node.failover.iter().map(failover_route_json).collect::<Vec<_>>(),
    })
}

/// What a failover check proved, as JSON.
pub fn failover_proof_json(proof: &crate::failover::FailoverProof) -> Value {
    json!({
        "relays_checked": proof.relays_checked.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        "pairs_proven": proof.pairs_proven,
        "pairs_failed_over": proof.pairs_failed_over,
        "pairs_without_backup": proof.pairs_without_backup,
    })
}

/// One entry of a node's failover table as JSON.
pub fn failover_route_json(route: &FailoverRoute) -> Value {
    json!({
        "node": route.node.as_str(),
        "prefixes": strings(&route.prefixes),
        "primary": route.primary.as_str(),
        "backups": route.backups.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
    })
}

/// A whole plan as JSON.
pub fn plan_json(plan: &Plan) -> Value {
    json!({
        "mesh": plan.mesh_name.as_str(),
        "topology": plan.topology.as_str(),
        "networks": strings(&plan.networks),
        "nodes": plan.nodes.iter().map(node_summary_json).collect::<Vec<_>>(),
    })
}

/// A verification problem as JSON.
pub fn problem_json(problem: &Problem) -> Value {
    json!({
        "code": problem.code,
        "pair": problem.pair.as_ref().map(|(a, b)| [a.as_str(), b.as_str()]),
        "hop": problem.hop.as_ref().map(|h| h.as_str()),
        "prefix": problem.prefix.map(|p| p.to_string()),
        "message": problem.message,
    })
}
