//! Proof that redundant relays really are redundant: [`check_failover`] plans the mesh once per relay
//! that carries traffic, with that relay down ([`crate::plan_with_relays_down`]), removes it, and runs the
//! hop-by-hop proof of [`crate::verify()`] on what is left. Every pair that has a backup relay must still
//! reach the other; pairs whose only relay is down are expected to be cut (they are counted, not
//! reported).

use std::collections::BTreeSet;

use crate::error::VerifyError;
use crate::mesh::model::Mesh;
use crate::mesh::name::Name;
use crate::plan::{plan, plan_with_relays_down, Plan};
use crate::verify::{check, Problem};

/// What a failover check proved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailoverProof {
    /// Relays that were taken down one at a time (every relay that carries at least one pair).
    pub relays_checked: Vec<Name>,
    /// Ordered pairs proven reachable, summed over the scenarios.
    pub pairs_proven: usize,
    /// Ordered pairs that moved to a backup relay, summed over the scenarios.
    pub pairs_failed_over: usize,
    /// Ordered pairs cut because their only relay was down, summed over the scenarios.
    pub pairs_without_backup: usize,
}

/// Plans `mesh` with each relay down in turn and returns what was proven and every problem found, each
/// with code `failover_unreachable` (the message names the relay and the underlying problem).
pub fn check_failover(mesh: &Mesh) -> Result<(FailoverProof, Vec<Problem>), crate::Error> {
    let all_up = plan(mesh)?;
    let primaries: BTreeSet<&str> =
        all_up.nodes.iter().flat_map(|n| n.failover.iter().map(|r| r.primary.as_str())).collect();
    let mut proof = FailoverProof::default();
    let mut problems = Vec::new();
    // Declaration order, for stable output.
    for relay in all_up.nodes.iter().filter(|n| primaries.contains(n.name.as_str())) {
        let down = relay.name.clone();
        let degraded = without_node(plan_with_relays_down(mesh, &[down.as_str()])?, &down);
        let (pair_proof, found) = check_scenario(&degraded, &down);
        proof.relays_checked.push(down.clone());
        proof.pairs_proven += pair_proof.pairs_proven;
        for node in &all_up.nodes {
            for route in node.failover.iter().filter(|r| r.primary == down) {
                if route.backups.is_empty() {
                    proof.pairs_without_backup += 1;
                } else {
                    proof.pairs_failed_over += 1;
                }
            }
        }
        problems.extend(found);
    }
    Ok((proof, problems))
}

/// Proves one degraded plan (the down relay already removed); problems are re-coded
/// `failover_unreachable`.
fn check_scenario(degraded: &Plan, down: &Name) -> (crate::verify::Proof, Vec<Problem>) {
    let (proof, found) = check(degraded);
    let problems = found
        .into_iter()
        .map(|p| Problem {
            code: "failover_unreachable",
            message: format!("with relay {down} down: {}: {}", p.code, p.message),
            ..p
        })
        .collect();
    (proof, problems)
}

/// Proves that every pair with a backup relay still works with any single relay down.
pub fn verify_failover(mesh: &Mesh) -> Result<FailoverProof, crate::Error> {
    let (proof, problems) = check_failover(mesh)?;
    if problems.is_empty() {
        Ok(proof)
    } else {
        Err(VerifyError { problems }.into())
    }
}

/// The plan as seen by everyone else while `down` is off: it and every peer entry for it removed.
fn without_node(mut plan: Plan, down: &Name) -> Plan {
    plan.nodes.retain(|n| &n.name != down);
    for node in &mut plan.nodes {
        node.peers.retain(|p| &p.name != down);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::model::{MeshSettings, Node, Topology};
    use crate::{verify, Endpoint, Reach};

    fn name(text: &str) -> Name {
        Name::new(text, "test").unwrap()
    }

    fn node(text: &str, endpoint: Option<&str>, relay: bool) -> Node {
        let mut node = Node::new(name(text));
        node.endpoint = endpoint.map(|e| Endpoint::parse(e, "e").unwrap());
        node.relay = relay;
        node
    }

    fn mesh(nodes: Vec<Node>) -> Mesh {
        let mut settings = MeshSettings::new(name("t"), vec!["10.88.0.0/24".parse().unwrap()]);
        settings.topology = Topology::HubAndSpoke;
        let mut mesh = Mesh::new(settings);
        for n in nodes {
            mesh.add_node(n).unwrap();
        }
        mesh.generate_missing().unwrap();
        mesh
    }

    fn two_hubs() -> Mesh {
        mesh(vec![
            node("hub-a", Some("192.0.2.1:51820"), true),
            node("hub-b", Some("192.0.2.2:51820"), true),
            node("s1", None, false),
            node("s2", None, false),
        ])
    }

    fn allowed(plan: &Plan, node: &str, peer: &str) -> Vec<String> {
        plan.node(node).unwrap().peer(peer).unwrap().allowed_ips.iter().map(ToString::to_string).collect()
    }

    fn address(mesh: &Mesh, node: &str) -> String {
        mesh.nodes.iter().find(|n| n.name == node).unwrap().addresses[0].to_string()
    }

    #[test]
    fn failover_table_names_primary_and_backups() {
        let m = two_hubs();
        let p = plan(&m).unwrap();
        let s1 = p.node("s1").unwrap();
        assert_eq!(s1.failover.len(), 1);
        let route = &s1.failover[0];
        assert_eq!(route.node, "s2");
        assert_eq!(route.primary, "hub-a");
        assert_eq!(route.backups, vec![name("hub-b")]);
        assert_eq!(route.prefixes[0].to_string(), format!("{}/32", address(&m, "s2")));
        assert_eq!(s1.failover_relays(), vec![name("hub-a"), name("hub-b")]);
        assert!(s1.has_redundant_relays());
        // Hubs peer with everyone directly: nothing to fail over.
        assert!(p.node("hub-a").unwrap().failover.is_empty());
    }

    #[test]
    fn relay_down_moves_prefixes_to_the_backup_and_keeps_its_own_address() {
        let m = two_hubs();
        let up = plan(&m).unwrap();
        assert_eq!(allowed(&up, "s1", "hub-a"), ["10.88.0.0/24"]);
        assert_eq!(allowed(&up, "s1", "hub-b"), [format!("{}/32", address(&m, "hub-b"))]);
        let down = plan_with_relays_down(&m, &["hub-a"]).unwrap();
        // Minimal and never duplicated: hub-b takes the covering /24, hub-a keeps only its own /32.
        assert_eq!(allowed(&down, "s1", "hub-b"), ["10.88.0.0/24"]);
        assert_eq!(allowed(&down, "s1", "hub-a"), [format!("{}/32", address(&m, "hub-a"))]);
        assert_eq!(
            down.node("s1").unwrap().routes.iter().find(|r| r.node == "s2").unwrap().reach,
            Reach::Via(name("hub-b"))
        );
        // The hubs' own plans do not change.
        assert_eq!(down.node("hub-b"), up.node("hub-b"));
        // Nothing down is the plain plan.
        assert_eq!(plan_with_relays_down::<&str>(&m, &[]).unwrap(), up);
    }

    #[test]
    fn the_first_live_backup_takes_over() {
        let m = mesh(vec![
            node("hub-a", Some("192.0.2.1:51820"), true),
            node("hub-b", Some("192.0.2.2:51820"), true),
            node("hub-c", Some("192.0.2.3:51820"), true),
            node("s1", None, false),
            node("s2", None, false),
        ]);
        let via = |down: &[&str]| {
            let p = plan_with_relays_down(&m, down).unwrap();
            verify(&without_node_all(p.clone(), down)).unwrap();
            p.node("s1").unwrap().routes.iter().find(|r| r.node == "s2").unwrap().reach.clone()
        };
        assert_eq!(via(&[]), Reach::Via(name("hub-a")));
        assert_eq!(via(&["hub-a"]), Reach::Via(name("hub-b")));
        assert_eq!(via(&["hub-b"]), Reach::Via(name("hub-a")));
        assert_eq!(via(&["hub-a", "hub-b"]), Reach::Via(name("hub-c")));
        // Every relay down: the spokes are cut from each other.
        assert_eq!(via(&["hub-a", "hub-b", "hub-c"]), Reach::Blocked);
    }

    fn without_node_all(mut plan: Plan, down: &[&str]) -> Plan {
        for d in down {
            plan = without_node(plan, &name(d));
        }
        plan
    }

    #[test]
    fn unknown_or_non_relay_names_are_rejected() {
        let m = two_hubs();
        assert_eq!(plan_with_relays_down(&m, &["nobody"]).unwrap_err().code(), "mesh_unknown_node");
        assert_eq!(plan_with_relays_down(&m, &["s1"]).unwrap_err().code(), "mesh_unknown_node");
    }

    #[test]
    fn redundant_hubs_are_proven_with_either_down() {
        let proof = verify_failover(&two_hubs()).unwrap();
        assert_eq!(proof.relays_checked, vec![name("hub-a")]);
        assert_eq!(proof.pairs_failed_over, 2); // s1 -> s2 and s2 -> s1
        assert_eq!(proof.pairs_without_backup, 0);
        // hub-b, s1, s2 all reach each other with hub-a down.
        assert_eq!(proof.pairs_proven, 6);
    }

    #[test]
    fn a_single_hub_has_no_backup_but_no_problem() {
        let m =
            mesh(vec![node("hub", Some("192.0.2.1:51820"), true), node("s1", None, false), node("s2", None, false)]);
        let proof = verify_failover(&m).unwrap();
        assert_eq!(proof.pairs_without_backup, 2);
        assert_eq!(proof.pairs_failed_over, 0);
        assert!(plan(&m).unwrap().node("s1").unwrap().failover[0].backups.is_empty());
    }

    #[test]
    fn a_broken_failover_plan_is_reported() {
        let m = two_hubs();
        let hub_a = name("hub-a");
        let mut degraded = without_node(plan_with_relays_down(&m, &["hub-a"]).unwrap(), &hub_a);
        // s2 forgets to move s1's prefix to hub-b: s1 -> s2 now fails at s2's ingress check.
        let s2 = degraded.nodes.iter_mut().find(|n| n.name == "s2").unwrap();
        s2.peers.iter_mut().find(|p| p.name == "hub-b").unwrap().allowed_ips.retain(|net| net.prefix_len() == 32);
        let (_, problems) = check_scenario(&degraded, &hub_a);
        assert!(!problems.is_empty());
        assert!(problems.iter().all(|p| p.code == "failover_unreachable"), "{problems:?}");
        assert!(problems[0].message.starts_with("with relay hub-a down: "), "{}", problems[0].message);
    }
}
