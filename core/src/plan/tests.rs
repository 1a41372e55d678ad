//! Planner and verifier tests: hand-checked topologies, tampered plans caught by the verifier, and
//! properties over random meshes.

use std::collections::HashSet;

use proptest::prelude::*;

use crate::config::parse_wg_quick;
use crate::mesh::model::{LinkPolicy, Mesh, MeshSettings, Node, Rule, Topology};
use crate::output::{
    render_all, render_node, write_configs, write_mesh_configs, write_mesh_configs_lean, write_proven_configs,
    ConfigFormat,
};
use crate::verify::{check, verify};
use crate::{plan, Endpoint, Name, PrivateKey, Reach};

fn name(text: &str) -> Name {
    Name::new(text, "test").unwrap()
}

fn node(text: &str, endpoint: Option<&str>, relay: bool) -> Node {
    let mut node = Node::new(name(text));
    node.endpoint = endpoint.map(|e| Endpoint::parse(e, "e").unwrap());
    node.relay = relay;
    node
}

fn mesh(topology: Topology, nodes: Vec<Node>) -> Mesh {
    let mut settings = MeshSettings::new(name("t"), vec!["10.88.0.0/24".parse().unwrap()]);
    settings.topology = topology;
    let mut mesh = Mesh::new(settings);
    for n in nodes {
        mesh.add_node(n).unwrap();
    }
    mesh.generate_missing().unwrap();
    mesh
}

fn seed(topology: Topology, public_nodes: bool) -> Mesh {
    let ep = |i: u8| public_nodes.then(|| format!("192.0.2.{i}:51820"));
    mesh(
        topology,
        vec![
            node("hub", Some("192.0.2.1:51820"), true),
            node("node-1", ep(11).as_deref(), false),
            node("node-2", ep(12).as_deref(), false),
            node("node-3", ep(13).as_deref(), false),
        ],
    )
}

fn peer_names(plan: &crate::Plan, node: &str) -> Vec<String> {
    plan.node(node).unwrap().peers.iter().map(|p| p.name.to_string()).collect()
}

#[test]
fn full_mesh_with_public_nodes_is_n_minus_one_direct_peers() {
    let plan = plan(&seed(Topology::FullMesh, true)).unwrap();
    let proof = verify(&plan).unwrap();
    assert_eq!(proof.pairs_proven, 12);
    assert_eq!(proof.relayed_pairs, 0);
    for n in &plan.nodes {
        assert_eq!(n.peers.len(), 3, "{}", n.name);
        for p in &n.peers {
            assert_eq!(p.allowed_ips.len(), 1);
            assert_eq!(p.allowed_ips[0].prefix_len(), 32);
            assert_eq!(p.persistent_keepalive, None, "both sides public: no keepalive");
        }
    }
}

#[test]
fn full_mesh_behind_nat_goes_through_the_relay() {
    let plan = plan(&seed(Topology::FullMesh, false)).unwrap();
    let proof = verify(&plan).unwrap();
    assert_eq!(proof.relayed_pairs, 6);
    assert_eq!(peer_names(&plan, "node-1"), ["hub"]);
    let hub_peer = &plan.node("node-1").unwrap().peers[0];
    assert_eq!(hub_peer.allowed_ips[0].to_string(), "10.88.0.0/24");
    assert_eq!(hub_peer.persistent_keepalive, Some(25), "the NAT side keeps the hole open");
    assert!(plan.node("hub").unwrap().peers.iter().all(|p| p.persistent_keepalive.is_none()));
    assert!(plan.node("hub").unwrap().forwarding_hooks);
    assert_eq!(plan.node("node-1").unwrap().routes[1].reach, Reach::Via(name("hub")));
}

#[test]
fn hub_and_spoke_peers_spokes_only_with_relays() {
    let plan = plan(&seed(Topology::HubAndSpoke, true)).unwrap();
    verify(&plan).unwrap();
    assert_eq!(peer_names(&plan, "hub"), ["node-1", "node-2", "node-3"]);
    for spoke in ["node-1", "node-2", "node-3"] {
        assert_eq!(peer_names(&plan, spoke), ["hub"]);
    }
}

#[test]
fn two_relays_serve_the_same_spokes() {
    let m = mesh(
        Topology::HubAndSpoke,
        vec![
            node("hub-a", Some("192.0.2.1:51820"), true),
            node("hub-b", Some("192.0.2.2:51820"), true),
            node("s1", None, false),
            node("s2", None, false),
        ],
    );
    let plan = plan(&m).unwrap();
    verify(&plan).unwrap();
    // Spokes peer with both hubs; the first declared relay carries spoke-to-spoke traffic.
    assert_eq!(peer_names(&plan, "s1"), ["hub-a", "hub-b"]);
    let s1 = plan.node("s1").unwrap();
    assert_eq!(s1.peer("hub-a").unwrap().relays_for, vec![name("s2")]);
    assert!(s1.peer("hub-b").unwrap().relays_for.is_empty());
    // The hubs reach each other directly.
    assert_eq!(peer_names(&plan, "hub-a"), ["hub-b", "s1", "s2"]);
}

#[test]
fn unroutable_pairs_are_named() {
    let m = mesh(Topology::FullMesh, vec![node("a", None, false), node("b", None, false), node("c", None, false)]);
    match plan(&m) {
        Err(crate::Error::Plan(crate::PlanError::UnroutablePair { pairs })) => {
            assert_eq!(pairs.len(), 3);
            assert!(pairs.contains(&("a".into(), "b".into())));
        }
        other => panic!("expected an unroutable pair, got {other:?}"),
    }
}

#[test]
fn rules_block_and_force_relaying() {
    let mut m = seed(Topology::FullMesh, true);
    m.nodes[1].groups = vec![name("web")];
    m.nodes[2].groups = vec![name("db")];
    m.rules = vec![
        Rule { between: ["web".into(), "db".into()], link: LinkPolicy::Relay },
        Rule { between: ["node-3".into(), "*".into()], link: LinkPolicy::None },
    ];
    m.validate().unwrap();
    let plan = plan(&m).unwrap();
    let proof = verify(&plan).unwrap();
    assert_eq!(proof.pairs_blocked, 6);
    // Written keeping no plan, the proof still sees the blocked pairs (from the routes it keeps).
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(write_mesh_configs_lean(&m, dir.path(), ConfigFormat::WgQuick).unwrap().0, proof);
    let n1 = plan.node("node-1").unwrap();
    assert_eq!(peer_names(&plan, "node-1"), ["hub"], "node-2 via the hub, node-3 blocked");
    assert_eq!(n1.routes[2].reach, Reach::Blocked);
    // node-1's hub peer must not cover node-3's address.
    let hub = n1.peer("hub").unwrap();
    assert!(!hub.allowed_ips.iter().any(|net| net.contains(&"10.88.0.4".parse::<std::net::IpAddr>().unwrap())));
}

#[test]
fn subnets_dual_stack_and_preshared_keys() {
    let mut settings =
        MeshSettings::new(name("t"), vec!["10.88.0.0/24".parse().unwrap(), "fd88::/64".parse().unwrap()]);
    settings.preshared_keys = true;
    let mut m = Mesh::new(settings);
    let mut office = node("office", Some("[2001:db8::7]:51820"), false);
    office.subnets = vec!["192.168.10.0/24".parse().unwrap(), "192.168.11.0/24".parse().unwrap()];
    m.add_node(node("hub", Some("192.0.2.1:51820"), true)).unwrap();
    m.add_node(office).unwrap();
    m.add_node(node("laptop", None, false)).unwrap();
    m.generate_missing().unwrap();
    let plan = plan(&m).unwrap();
    verify(&plan).unwrap();
    let laptop = plan.node("laptop").unwrap();
    assert_eq!(laptop.addresses.len(), 2);
    let office_peer = laptop.peer("office").unwrap();
    let shown: Vec<String> = office_peer.allowed_ips.iter().map(ToString::to_string).collect();
    // Two adjacent subnets of one owner merge into their exact union.
    assert_eq!(shown, ["10.88.0.2/32", "192.168.10.0/23", "fd88::2/128"]);
    let back = plan.node("office").unwrap().peer("laptop").unwrap();
    assert!(office_peer.preshared_key.is_some());
    assert_eq!(office_peer.preshared_key, back.preshared_key, "both sides derive the same key");
    assert_ne!(office_peer.preshared_key, laptop.peer("hub").unwrap().preshared_key, "one key per pair");
}

#[test]
fn key_on_node_loads_from_a_file() {
    let mut m = seed(Topology::FullMesh, false);
    let remote = PrivateKey::generate().public_key();
    let mut n = node("self-contained", None, false);
    n.public_key = Some(remote);
    n.private_key_on_node = Some("/etc/wireguard/private.key".into());
    m.add_node(n).unwrap();
    m.generate_missing().unwrap();
    let plan = plan(&m).unwrap();
    let text = render_node(plan.node("self-contained").unwrap(), ConfigFormat::WgQuick).unwrap();
    assert!(!text.contains("PrivateKey"));
    assert!(text.contains("PostUp = wg set %i private-key /etc/wireguard/private.key"));
}

#[test]
fn verify_catches_tampering() {
    let good = plan(&seed(Topology::FullMesh, false)).unwrap();
    let codes = |p: &crate::Plan| -> HashSet<&'static str> { check(p).1.iter().map(|p| p.code).collect() };
    assert!(codes(&good).is_empty());

    let mut missing_route = good.clone();
    missing_route.nodes[1].peers[0].allowed_ips = vec!["10.88.0.1/32".parse().unwrap()];
    assert!(codes(&missing_route).contains("no_route"));

    let mut spoofable = good.clone();
    // The hub forgets node-1's address: replies from node-1 through the hub are dropped on ingress.
    spoofable.nodes[0].peers[0].allowed_ips = vec!["10.88.0.99/32".parse().unwrap()];
    assert!(codes(&spoofable).contains("ingress_rejected"));

    let mut not_relay = good.clone();
    not_relay.nodes[0].relay = false;
    assert!(codes(&not_relay).contains("not_forwarding"));

    let mut duplicate = good.clone();
    let prefix = duplicate.nodes[0].peers[0].allowed_ips[0];
    duplicate.nodes[0].peers[1].allowed_ips.push(prefix);
    assert!(codes(&duplicate).contains("duplicate_allowed_ip"));

    let mut one_sided = good.clone();
    one_sided.nodes[0].peers.remove(2);
    assert!(codes(&one_sided).contains("peer_not_mutual"));

    let mut psk = good.clone();
    psk.nodes[1].peers[0].preshared_key = Some(crate::PresharedKey::generate());
    assert!(codes(&psk).contains("preshared_key_mismatch"));

    // With preshared keys on: both sides hold one, but not the same.
    let mut with_keys = seed(Topology::FullMesh, false);
    with_keys.mesh.preshared_keys = true;
    with_keys.generate_missing().unwrap();
    let keyed = plan(&with_keys).unwrap();
    assert!(codes(&keyed).is_empty());
    let mut different = keyed.clone();
    different.nodes[1].peers[0].preshared_key = Some(crate::PresharedKey::generate());
    assert_eq!(check(&different).1.iter().filter(|p| p.code == "preshared_key_mismatch").count(), 1);

    let mut no_endpoint = good.clone();
    no_endpoint.nodes[1].peers[0].endpoint = None;
    no_endpoint.nodes[0].endpoint = None;
    assert!(codes(&no_endpoint).contains("no_endpoint"));
    assert!(codes(&no_endpoint).contains("relay_without_endpoint"));

    // The hub sends node-2's traffic back to node-1, whose hub prefix accepts its own source address:
    // the packet comes home instead of arriving.
    let mut loop_plan = good.clone();
    let n2 = loop_plan.node("node-2").unwrap().addresses[0].addr();
    let hub = &mut loop_plan.nodes[0];
    hub.peers.iter_mut().find(|p| p.name == "node-2").unwrap().allowed_ips.clear();
    hub.peers.iter_mut().find(|p| p.name == "node-1").unwrap().allowed_ips.push(ipnet::IpNet::from(n2));
    let loop_codes = codes(&loop_plan);
    assert!(loop_codes.contains("routing_loop"), "{loop_codes:?}");
}

#[test]
fn policy_violations_are_reported() {
    let mut m = seed(Topology::FullMesh, true);
    m.rules = vec![Rule { between: ["node-1".into(), "node-2".into()], link: LinkPolicy::None }];
    let mut p = plan(&m).unwrap();
    verify(&p).unwrap();
    // Route node-2 through the hub anyway: policy says the pair must not connect.
    let addr = p.node("node-2").unwrap().addresses[0].addr();
    p.nodes[1].peers.iter_mut().find(|x| x.name == "hub").unwrap().allowed_ips.push(addr.into());
    let addr1 = p.node("node-1").unwrap().addresses[0].addr();
    p.nodes[2].peers.iter_mut().find(|x| x.name == "hub").unwrap().allowed_ips.push(addr1.into());
    let codes: HashSet<_> = check(&p).1.iter().map(|x| x.code).collect();
    assert!(codes.contains("policy_violation"), "{codes:?}");
}

/// A random valid mesh: up to 12 nodes, some public, at least one relay, random groups and rules,
/// optional dual-stack and subnets.
fn arb_mesh() -> impl Strategy<Value = Mesh> {
    (
        2usize..12,
        proptest::collection::vec((any::<bool>(), any::<bool>(), 0u8..3, any::<bool>()), 12),
        any::<bool>(),
        prop_oneof![Just(Topology::FullMesh), Just(Topology::HubAndSpoke)],
        proptest::collection::vec((0u8..3, 0u8..3, 0u8..2), 0..3),
    )
        .prop_map(|(n, traits, dual, topology, rules)| {
            let mut networks = vec!["10.88.0.0/24".parse().unwrap()];
            if dual {
                networks.push("fd88::/64".parse().unwrap());
            }
            let mut settings = MeshSettings::new(name("p"), networks);
            settings.topology = topology;
            let mut m = Mesh::new(settings);
            for (i, (public, relay, group, subnet)) in traits.into_iter().take(n).enumerate() {
                // Node 0 is always a public relay so NAT pairs have somewhere to go.
                let relay = i == 0 || (relay && public);
                let endpoint = (i == 0 || public).then(|| format!("198.51.100.{}:51820", i + 1));
                let mut nd = node(&format!("n{i}"), endpoint.as_deref(), relay);
                nd.groups = vec![name(&format!("g{group}"))];
                if subnet {
                    nd.subnets = vec![format!("172.16.{i}.0/24").parse().unwrap()];
                }
                m.nodes.push(nd);
            }
            let present: HashSet<String> =
                m.nodes.iter().flat_map(|n| n.groups.iter().map(|g| g.to_string())).collect();
            for (a, b, policy) in rules {
                let (a, b) = (format!("g{a}"), format!("g{b}"));
                // Never block a group from the relays' group: keeps every mesh routable.
                if present.contains(&a) && present.contains(&b) {
                    let link = if policy == 0 { LinkPolicy::Relay } else { LinkPolicy::Direct };
                    m.rules.push(Rule { between: [a, b], link });
                }
            }
            m.generate_missing().unwrap();
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random valid meshes always plan and verify, never repeat a prefix on an interface, and their
    /// rendered configs parse back to exactly the plan's peers.
    #[test]
    fn random_meshes_plan_verify_and_round_trip(m in arb_mesh()) {
        let p = plan(&m).unwrap();
        let proof = verify(&p).map_err(|e| TestCaseError::fail(format!("{e}\n{:#?}", e.problems)))?;
        prop_assert_eq!(proof.pairs_proven + proof.pairs_blocked, m.nodes.len() * (m.nodes.len() - 1));
        let rendered_all = render_all(&p, ConfigFormat::WgQuick).unwrap();
        for node in &p.nodes {
            let mut seen = HashSet::new();
            for peer in &node.peers {
                for prefix in &peer.allowed_ips {
                    prop_assert!(seen.insert(prefix.trunc()), "{} repeats {}", node.name, prefix);
                }
            }
            let text = render_node(node, ConfigFormat::WgQuick).unwrap();
            // render_all shares rendered [Peer] sections between nodes: the same text as alone.
            prop_assert_eq!(&rendered_all[p.nodes.iter().position(|n| n.name == node.name).unwrap()], &text);
            let parsed = parse_wg_quick(&text, "rendered").unwrap();
            prop_assert_eq!(parsed.peers.len(), node.peers.len());
            for (parsed, planned) in parsed.peers.iter().zip(&node.peers) {
                prop_assert_eq!(&parsed.public_key, &planned.public_key);
                prop_assert_eq!(&parsed.allowed_ips, &planned.allowed_ips);
                prop_assert_eq!(&parsed.endpoint, &planned.endpoint);
                prop_assert_eq!(parsed.persistent_keepalive, planned.persistent_keepalive);
                prop_assert_eq!(parsed.name.as_deref(), Some(planned.name.as_str()));
            }
        }
        // Written keeping no plan (peer entries dropped as they are rendered, policy read from the
        // blocked routes kept): the same proof and the same files.
        let dir = tempfile::tempdir().unwrap();
        let (lean_proof, paths) = write_mesh_configs_lean(&m, dir.path(), ConfigFormat::WgQuick).unwrap();
        prop_assert_eq!(lean_proof, proof);
        for (path, text) in paths.iter().zip(&rendered_all) {
            prop_assert_eq!(&std::fs::read_to_string(path).unwrap(), text);
        }
    }

    /// Verification's precomputed table answers agree with following every packet hop by hop, on
    /// sound plans and on plans broken at random: an AllowedIP moved to another peer, repeated on a
    /// second peer, dropped, shadowed by a covering prefix or split by a narrower one (same proof, same
    /// problems).
    #[test]
    fn resolved_lookups_agree_with_hop_by_hop(m in arb_mesh(), edits in proptest::collection::vec((0usize..64, 0usize..64, 0usize..64, 0u8..5), 0..4)) {
        let mut p = plan(&m).unwrap();
        for (node, peer, other, kind) in edits {
            let node = &mut p.nodes[node % m.nodes.len()];
            if node.peers.len() < 2 {
                continue;
            }
            let (peer, other) = (peer % node.peers.len(), other % node.peers.len());
            let count = node.peers[peer].allowed_ips.len();
            if count == 0 {
                continue;
            }
            // The last prefix: a subnet when the peer has one (hosts sort first).
            let at = count - 1;
            let prefix = node.peers[peer].allowed_ips[at];
            match kind {
                0 => {
                    node.peers[peer].allowed_ips.remove(at);
                    node.peers[other].allowed_ips.push(prefix);
                }
                1 => node.peers[other].allowed_ips.push(prefix),
                2 => {
                    node.peers[peer].allowed_ips.remove(at);
                }
                3 => node.peers[other].allowed_ips.push(ipnet::IpNet::new(prefix.addr(), prefix.prefix_len().saturating_sub(8)).unwrap().trunc()),
                _ => node.peers[other].allowed_ips.push(ipnet::IpNet::new(prefix.addr(), (prefix.prefix_len() + 4).min(prefix.max_prefix_len())).unwrap()),
            }
        }
        let (fast, fast_problems) = check(&p);
        let (slow, slow_problems) = crate::verify::check_hop_by_hop(&p);
        prop_assert_eq!(fast, slow);
        prop_assert_eq!(&fast_problems, &slow_problems);
        // Repeated AllowedIPs, against the plain definition: per node, in order of family, address and
        // length, every prefix held by several entries gives one problem per neighbouring pair of them.
        let mut expected = Vec::new();
        for node in &p.nodes {
            let mut holders: std::collections::BTreeMap<(bool, u128, u8), Vec<usize>> = Default::default();
            for (entry, peer) in node.peers.iter().enumerate() {
                for net in &peer.allowed_ips {
                    let prefix = crate::plan::prefix::Prefix::from_net(net);
                    holders.entry((prefix.v6, prefix.bits, prefix.len)).or_default().push(entry);
                }
            }
            for ((v6, bits, len), entries) in holders {
                let net = crate::plan::prefix::Prefix { v6, bits, len }.to_net();
                for pair in entries.windows(2) {
                    expected.push((node.name.to_string(), net, node.peers[pair[0]].name.to_string(), node.peers[pair[1]].name.to_string()));
                }
            }
        }
        let found: Vec<_> = fast_problems
            .iter()
            .filter(|p| p.code == "duplicate_allowed_ip")
            .map(|p| {
                let (first, second) = p.pair.clone().unwrap();
                (p.hop.as_ref().unwrap().to_string(), p.prefix.unwrap(), first.to_string(), second.to_string())
            })
            .collect();
        prop_assert_eq!(found, expected);
    }

    /// Whatever text goes into a free-text field, it either enters the model safe or is refused with a
    /// typed code — and what renders never gains a line, section or comment.
    #[test]
    fn injection_attempts_are_rejected(hook in "[ -~\n\r\t\u{0}\u{7f}\\[#]{0,40}", dns in "[ -~\n\\[#]{0,20}") {
        let mut m = seed(Topology::FullMesh, true);
        m.mesh.hooks = true;
        m.nodes[0].post_up = vec![hook.clone()];
        let hook_ok = m.validate().is_ok();
        prop_assert_eq!(hook_ok, crate::is_safe_value(&hook) && hook.trim_matches(' ') == hook);
        if !hook_ok {
            let expected = if crate::is_safe_value(&hook) { "mesh_invalid_value" } else { "mesh_unsafe_value" };
            prop_assert_eq!(m.validate().unwrap_err().code(), expected);
            m.nodes[0].post_up.clear();
        } else {
            // What the model accepts, the renderer writes (a hook of one space once slipped through).
            prop_assert!(render_node(&plan(&m).unwrap().nodes[0], ConfigFormat::WgQuick).is_ok());
        }
        m.nodes[0].dns = vec![dns.clone()];
        if m.validate().is_ok() {
            let p = plan(&m).unwrap();
            let text = render_node(&p.nodes[0], ConfigFormat::WgQuick).unwrap();
            let sections = text.lines().filter(|l| l.starts_with('[')).count();
            prop_assert_eq!(sections, 1 + p.nodes[0].peers.len());
            let parsed = parse_wg_quick(&text, "r").unwrap();
            prop_assert_eq!(parsed.interface.dns, vec![dns]);
        } else {
            let code = m.validate().unwrap_err().code();
            prop_assert!(code == "mesh_unsafe_value" || code == "mesh_invalid_value", "{}", code);
        }
    }
}

/// A hybrid of 40 nodes (enough for the parallel renderers), half behind NAT, some with subnets, with
/// and without preshared keys: every way of writing all configs gives each node exactly the text
/// `render_node` gives it alone, although sections are shared between nodes.
#[test]
fn shared_peer_sections_render_like_each_node_alone() {
    for psk in [false, true] {
        let mut settings =
            MeshSettings::new(name("big"), vec!["10.88.0.0/24".parse().unwrap(), "fd88::/64".parse().unwrap()]);
        settings.preshared_keys = psk;
        let mut m = Mesh::new(settings);
        for i in 0..40 {
            let endpoint = (i % 2 == 0).then(|| format!("198.51.100.{}:51820", i + 1));
            let mut nd = node(&format!("n{i}"), endpoint.as_deref(), i < 3 && i % 2 == 0);
            if i % 7 == 0 {
                nd.subnets = vec![format!("172.16.{i}.0/24").parse().unwrap()];
            }
            if i % 5 == 0 {
                nd.persistent_keepalive = Some(15);
            }
            m.nodes.push(nd);
        }
        m.generate_missing().unwrap();
        let p = plan(&m).unwrap();
        verify(&p).unwrap();
        let alone: Vec<String> = p.nodes.iter().map(|n| render_node(n, ConfigFormat::WgQuick).unwrap()).collect();
        assert_eq!(render_all(&p, ConfigFormat::WgQuick).unwrap(), alone);
        for write in [write_configs, write_proven_configs] {
            let dir = tempfile::tempdir().unwrap();
            let paths = write(&p, dir.path(), ConfigFormat::WgQuick).unwrap();
            for (path, text) in paths.iter().zip(&alone) {
                assert_eq!(&std::fs::read_to_string(path).unwrap(), text);
            }
        }
        // Planned, proven and written in one pass: the same plan and the same files.
        let dir = tempfile::tempdir().unwrap();
        let (planned, paths) = write_mesh_configs(&m, dir.path(), ConfigFormat::WgQuick).unwrap();
        assert_eq!(planned, p);
        assert_eq!(paths.len(), alone.len());
        for (path, text) in paths.iter().zip(&alone) {
            assert_eq!(&std::fs::read_to_string(path).unwrap(), text);
        }
        let setconf = write_mesh_configs(&m, dir.path(), ConfigFormat::Setconf).unwrap().1;
        for (path, node) in setconf.iter().zip(&p.nodes) {
            assert_eq!(std::fs::read_to_string(path).unwrap(), render_node(node, ConfigFormat::Setconf).unwrap());
        }
        // Keeping no plan: the same files, and the proof verify gives (preshared keys compared from
        // what the dropped peer entries left behind).
        let dir = tempfile::tempdir().unwrap();
        let (proof, paths) = write_mesh_configs_lean(&m, dir.path(), ConfigFormat::WgQuick).unwrap();
        assert_eq!(proof, verify(&p).unwrap());
        for (path, text) in paths.iter().zip(&alone) {
            assert_eq!(&std::fs::read_to_string(path).unwrap(), text);
        }
    }
}

/// `write_mesh_configs` lands nothing when any node fails: a node whose config cannot be rendered (its
/// private key unknown) fails the whole write with that node's error, every writer stops waiting, and the
/// directory keeps what it had. A mesh that does not plan fails before the directory is touched.
#[test]
fn one_pass_writes_land_all_or_nothing() {
    let mut m = Mesh::new(MeshSettings::new(name("big"), vec!["10.88.0.0/24".parse().unwrap()]));
    for i in 0..40 {
        m.nodes.push(node(&format!("n{i}"), Some(&format!("198.51.100.{}:51820", i + 1)), false));
    }
    m.generate_missing().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, first) = write_mesh_configs(&m, dir.path(), ConfigFormat::WgQuick).unwrap();
    let before: Vec<String> = first.iter().map(|path| std::fs::read_to_string(path).unwrap()).collect();
    let n = m.node_mut("n27").unwrap();
    n.private_key = None;
    n.public_key = Some(PrivateKey::generate().public_key());
    for lean in [false, true] {
        let err = if lean {
            write_mesh_configs_lean(&m, dir.path(), ConfigFormat::WgQuick).unwrap_err()
        } else {
            write_mesh_configs(&m, dir.path(), ConfigFormat::WgQuick).unwrap_err()
        };
        assert_eq!(err.code(), "mesh_missing_key");
        let after: Vec<String> = first.iter().map(|path| std::fs::read_to_string(path).unwrap()).collect();
        assert_eq!(after, before, "no config changed");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 40, "no temporary left");
    }

    // Several nodes failing: the error is always the first node's, whichever writer met it first.
    for failing in ["n3", "n38"] {
        let n = m.node_mut(failing).unwrap();
        n.private_key = None;
        n.public_key = Some(PrivateKey::generate().public_key());
    }
    for _ in 0..5 {
        let err = write_mesh_configs(&m, dir.path(), ConfigFormat::WgQuick).unwrap_err();
        assert!(err.to_string().contains("n3"), "{err}");
        let err = write_mesh_configs_lean(&m, dir.path(), ConfigFormat::WgQuick).unwrap_err();
        assert!(err.to_string().contains("n3"), "{err}");
        let err = write_configs(&plan(&m).unwrap(), dir.path(), ConfigFormat::WgQuick).unwrap_err();
        assert!(err.to_string().contains("n3"), "{err}");
    }

    // A failure after the output directory was made takes the directories it made away again (a
    // directory that existed stays, with what it held).
    let planned = plan(&m).unwrap();
    type Write<'a> = &'a dyn Fn(&std::path::Path) -> Result<(), crate::Error>;
    let writes: [Write<'_>; 4] = [
        &|d| write_mesh_configs(&m, d, ConfigFormat::WgQuick).map(drop),
        &|d| write_mesh_configs_lean(&m, d, ConfigFormat::WgQuick).map(drop),
        &|d| write_configs(&planned, d, ConfigFormat::WgQuick).map(drop),
        &|d| write_proven_configs(&planned, d, ConfigFormat::WgQuick).map(drop),
    ];
    for write in writes {
        let new = dir.path().join("new");
        assert_eq!(write(&new.join("deeper")).unwrap_err().code(), "mesh_missing_key");
        assert!(!new.exists(), "the directories made for the write are gone");
        assert!(write(dir.path()).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 40, "the existing directory keeps its files");
    }

    m.nodes[1].addresses = m.nodes[0].addresses.clone();
    let fresh = dir.path().join("never");
    assert!(write_mesh_configs(&m, &fresh, ConfigFormat::WgQuick).is_err());
    assert!(!fresh.exists());
}

/// `write_proven_configs` proves the plan while writing: a plan with problems gets verify's error and
/// the directory keeps what it had (no config, no temporary file).
#[test]
fn unproven_plans_write_nothing() {
    let mut broken = plan(&seed(Topology::FullMesh, false)).unwrap();
    broken.nodes[1].peers[0].allowed_ips = vec!["10.88.0.1/32".parse().unwrap()];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "x").unwrap();
    let err = write_proven_configs(&broken, dir.path(), ConfigFormat::WgQuick).unwrap_err();
    assert_eq!(err.code(), verify(&broken).unwrap_err().code());
    let left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(left, vec!["keep.txt".to_string()]);
}

#[test]
fn hooks_with_surrounding_spaces_are_refused_where_they_enter() {
    for hook in [" ", " ip link", "ip link "] {
        let mut m = seed(Topology::FullMesh, true);
        m.mesh.hooks = true;
        m.nodes[0].post_up = vec![hook.to_string()];
        assert_eq!(m.validate().unwrap_err().code(), "mesh_invalid_value", "{hook:?}");
    }
}
