use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::keys::{PresharedKey, PrivateKey};
use crate::mesh::endpoint::Endpoint;
use crate::mesh::name::Name;
use crate::uapi::{apply_update, parse_set_request, render_set_request};

const PEER_KEYS: usize = 6;

fn own_key() -> PrivateKey {
    PrivateKey::from_bytes([200; 32])
}

fn peer_key(i: usize) -> PublicKey {
    PublicKey::from_bytes([i as u8 + 1; 32])
}

fn psk(i: u8) -> PresharedKey {
    PresharedKey::from_bytes([i + 100; 32])
}

/// A small pool so plans and states share prefixes; some with host bits set.
fn prefix_pool() -> Vec<IpNet> {
    let mut pool: Vec<IpNet> = (0..6).map(|i| format!("10.0.{i}.0/24").parse().unwrap()).collect();
    pool.extend((1..5).map(|i| format!("10.9.0.{i}/32").parse::<IpNet>().unwrap()));
    pool.push("2001:db8:1::/48".parse().unwrap());
    pool.push("2001:db8:2::7/64".parse().unwrap()); // host bits: the device holds 2001:db8:2::/64
    pool
}

fn endpoint_pool() -> Vec<Endpoint> {
    ["192.0.2.1:51820", "192.0.2.2:51820", "[2001:db8::9]:4242", "hub.example:51820", "198.51.100.7:1"]
        .iter()
        .map(|e| Endpoint::parse(e, "endpoint").unwrap())
        .collect()
}

/// The fake DNS: hub.example has two addresses; anything else fails.
fn fake_resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    match host {
        "hub.example" => {
            Ok(vec![SocketAddr::from(([203, 0, 113, 5], port)), SocketAddr::from(([203, 0, 113, 6], port))])
        }
        _ => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
    }
}

fn socket_pool() -> Vec<SocketAddr> {
    ["192.0.2.1:51820", "192.0.2.2:51820", "[2001:db8::9]:4242", "203.0.113.6:51820", "198.51.100.9:9"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

fn node_plan(key: KeySource, listen_port: Option<u16>, fwmark: Option<u32>, peers: Vec<PeerPlan>) -> NodePlan {
    NodePlan {
        name: Name::new("me", "name").unwrap(),
        public_key: own_key().public_key(),
        private_key: key,
        addresses: vec!["10.88.0.1/24".parse().unwrap()],
        subnets: Vec::new(),
        endpoint: None,
        listen_port,
        relay: false,
        forwarding_hooks: false,
        mtu: None,
        dns: Vec::new(),
        table: None,
        fwmark,
        pre_up: Vec::new(),
        post_up: Vec::new(),
        pre_down: Vec::new(),
        post_down: Vec::new(),
        peers,
        routes: Vec::new(),
        failover: Vec::new(),
    }
}

fn peer_plan(
    i: usize,
    psk: Option<PresharedKey>,
    endpoint: Option<Endpoint>,
    keepalive: Option<u16>,
    ips: Vec<IpNet>,
) -> PeerPlan {
    PeerPlan {
        name: Name::new(&format!("peer-{i}"), "name").unwrap(),
        public_key: peer_key(i),
        preshared_key: psk,
        endpoint,
        allowed_ips: ips,
        persistent_keepalive: keepalive,
        relays_for: Vec::new(),
    }
}

/// Which peer (index into the key pool) holds each pool prefix, if any: disjoint by construction.
fn arb_owners() -> impl Strategy<Value = Vec<Option<usize>>> {
    proptest::collection::vec(proptest::option::of(0..PEER_KEYS), prefix_pool().len())
}

fn ips_of(owners: &[Option<usize>], peer: usize) -> Vec<IpNet> {
    prefix_pool().into_iter().zip(owners).filter(|(_, o)| **o == Some(peer)).map(|(p, _)| p).collect()
}

fn arb_plan() -> impl Strategy<Value = NodePlan> {
    (
        proptest::collection::vec(any::<bool>(), PEER_KEYS),
        arb_owners(),
        proptest::collection::vec(
            (
                proptest::option::of(0u8..2),
                proptest::option::of(0..5usize),
                proptest::option::of(prop_oneof![Just(0u16), Just(10), Just(25)]),
            ),
            PEER_KEYS,
        ),
        prop_oneof![Just(0u8), Just(1), Just(2)],
        proptest::option::of(prop_oneof![Just(51820u16), Just(51821)]),
        proptest::option::of(prop_oneof![Just(0u32), Just(0xca6c)]),
    )
        .prop_map(|(present, owners, settings, key, port, mark)| {
            let endpoints = endpoint_pool();
            let peers = (0..PEER_KEYS)
                .filter(|i| present[*i])
                .map(|i| {
                    let (s, e, k) = settings[i];
                    peer_plan(i, s.map(psk), e.map(|e| endpoints[e].clone()), k, ips_of(&owners, i))
                })
                .collect();
            let source = match key {
                0 => KeySource::Inline(own_key()),
                1 => KeySource::OnNode("/etc/wireguard/me.key".into()),
                _ => KeySource::Unknown,
            };
            node_plan(source, port, mark, peers)
        })
}

fn arb_state() -> impl Strategy<Value = DeviceState> {
    (
        proptest::collection::vec(any::<bool>(), PEER_KEYS),
        arb_owners(),
        proptest::collection::vec(
            (
                proptest::option::of(0u8..2),
                proptest::option::of(0..5usize),
                prop_oneof![Just(0u16), Just(10), Just(25)],
                any::<u64>(),
                any::<u64>(),
                proptest::option::of(1u64..2_000_000_000),
            ),
            PEER_KEYS,
        ),
        any::<bool>(),
        prop_oneof![Just(0u16), Just(51820), Just(40000)],
        prop_oneof![Just(0u32), Just(0xca6c)],
    )
        .prop_map(|(present, owners, settings, keyed, port, mark)| {
            let sockets = socket_pool();
            let peers = (0..PEER_KEYS)
                .filter(|i| present[*i])
                .map(|i| {
                    let (s, e, k, rx, tx, hs) = settings[i];
                    PeerState {
                        public_key: peer_key(i),
                        preshared_key: s.map(psk),
                        endpoint: e.map(|e| sockets[e]),
                        last_handshake: hs.map(Duration::from_secs),
                        rx_bytes: rx,
                        tx_bytes: tx,
                        persistent_keepalive_interval: k,
                        // As a device reports them: masked.
                        allowed_ips: ips_of(&owners, i).iter().map(IpNet::trunc).collect(),
                        protocol_version: 1,
                    }
                })
                .collect();
            DeviceState {
                private_key: keyed.then(own_key),
                own_public_key: None,
                listen_port: port,
                fwmark: mark,
                peers,
            }
        })
}

/// The device holds what the plan asks for (checked field by field, independently of `diff`).
fn check_matches(node: &NodePlan, state: &DeviceState) -> Result<(), TestCaseError> {
    match &node.private_key {
        KeySource::Inline(key) => prop_assert_eq!(state.private_key.as_ref(), Some(key)),
        _ => prop_assert_eq!(state.private_key.as_ref().map(|k| k.public_key()), Some(node.public_key)),
    }
    if let Some(port) = node.listen_port {
        prop_assert_eq!(state.listen_port, port);
    }
    if let Some(mark) = node.fwmark {
        prop_assert_eq!(state.fwmark, mark);
    }
    let want: HashSet<PublicKey> = node.peers.iter().map(|p| p.public_key).collect();
    let have: HashSet<PublicKey> = state.peers.iter().map(|p| p.public_key).collect();
    prop_assert_eq!(have.len(), state.peers.len(), "no duplicate peers");
    prop_assert_eq!(want, have);
    for plan_peer in &node.peers {
        let peer = state.peers.iter().find(|p| p.public_key == plan_peer.public_key).unwrap();
        prop_assert_eq!(&peer.preshared_key, &plan_peer.preshared_key);
        prop_assert_eq!(peer.persistent_keepalive_interval, plan_peer.persistent_keepalive.unwrap_or(0));
        let want: HashSet<IpNet> = plan_peer.allowed_ips.iter().map(IpNet::trunc).collect();
        let have: HashSet<IpNet> = peer.allowed_ips.iter().map(IpNet::trunc).collect();
        prop_assert_eq!(have, want, "allowed IPs of {}", plan_peer.name);
        if let Some(endpoint) = &plan_peer.endpoint {
            let addresses = match &endpoint.host {
                Host::Ip(ip) => vec![SocketAddr::new(*ip, endpoint.port)],
                Host::Dns(name) => fake_resolve(name, endpoint.port).unwrap(),
            };
            prop_assert!(peer.endpoint.is_some_and(|e| addresses.contains(&e)), "endpoint of {}", plan_peer.name);
        }
    }
    Ok(())
}

/// Whether a device peer already equals its plan peer (an independent statement of "unchanged").
fn peer_equal(plan_peer: &PeerPlan, peer: &PeerState) -> bool {
    let endpoint_ok = match &plan_peer.endpoint {
        None => true,
        Some(e) => match &e.host {
            Host::Ip(ip) => peer.endpoint == Some(SocketAddr::new(*ip, e.port)),
            Host::Dns(name) => peer.endpoint.is_some_and(|p| fake_resolve(name, e.port).unwrap().contains(&p)),
        },
    };
    endpoint_ok
        && plan_peer.preshared_key == peer.preshared_key
        && plan_peer.persistent_keepalive.unwrap_or(0) == peer.persistent_keepalive_interval
        && plan_peer.allowed_ips.iter().map(IpNet::trunc).collect::<HashSet<_>>()
            == peer.allowed_ips.iter().map(IpNet::trunc).collect::<HashSet<_>>()
}

/// The device's key is usable for the plan (diff fails otherwise, which a separate test covers).
fn key_compatible(node: &NodePlan, state: &DeviceState) -> bool {
    matches!(node.private_key, KeySource::Inline(_)) || state.private_key.is_some()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn applying_the_diff_reaches_the_plan(node in arb_plan(), state in arb_state()) {
        prop_assume!(key_compatible(&node, &state));
        let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
        let after = apply_update(&state, &update);
        check_matches(&node, &after)?;
        // Nothing is left to do, and a matching state gives an empty update.
        let again = diff_node_with(&node, &after, &fake_resolve).unwrap();
        prop_assert!(again.is_empty(), "second diff not empty: {:?}", again);
        // The update survives the wire.
        prop_assert_eq!(parse_set_request(&render_set_request(&update)).unwrap(), update.clone());
    }

    #[test]
    fn unchanged_peers_are_never_mentioned(node in arb_plan(), state in arb_state()) {
        prop_assume!(key_compatible(&node, &state));
        let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
        let mentioned: HashSet<PublicKey> = update.peers.iter().map(|p| p.public_key).collect();
        prop_assert_eq!(mentioned.len(), update.peers.len(), "each peer at most once");
        prop_assert!(!update.replace_peers);
        let after = apply_update(&state, &update);
        for peer in &state.peers {
            let planned = node.peers.iter().find(|p| p.public_key == peer.public_key);
            match planned {
                Some(plan_peer) if peer_equal(plan_peer, peer) => {
                    prop_assert!(!mentioned.contains(&peer.public_key), "{} is equal but in the update", plan_peer.name);
                    // Untouched: configuration, endpoint and statistics as they were.
                    prop_assert_eq!(after.peers.iter().find(|p| p.public_key == peer.public_key), Some(peer));
                }
                Some(plan_peer) => {
                    let section = update.peers.iter().find(|p| p.public_key == peer.public_key);
                    prop_assert!(section.is_some_and(|s| s.update_only && !s.remove), "{} differs but is not updated", plan_peer.name);
                    let kept = after.peers.iter().find(|p| p.public_key == peer.public_key).unwrap();
                    prop_assert_eq!((kept.rx_bytes, kept.tx_bytes, kept.last_handshake), (peer.rx_bytes, peer.tx_bytes, peer.last_handshake));
                }
                None => {
                    prop_assert!(update.peers.iter().any(|p| p.public_key == peer.public_key && p.remove));
                }
            }
        }
        // Device settings only when they differ.
        prop_assert_eq!(update.listen_port.is_some(), node.listen_port.is_some_and(|p| p != state.listen_port));
        prop_assert_eq!(update.fwmark.is_some(), node.fwmark.is_some_and(|m| m != state.fwmark));
    }

    /// AllowedIPs lines per changed peer: only the additions when nothing must go, otherwise the whole
    /// planned list replaced (never an `allowed_ip=-` removal line, which older devices refuse).
    #[test]
    fn allowed_ip_lines_are_minimal(node in arb_plan(), state in arb_state()) {
        prop_assume!(key_compatible(&node, &state));
        let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
        for section in update.peers.iter().filter(|s| s.update_only) {
            prop_assert!(section.allowed_ips.iter().all(|c| !c.remove), "a removal line");
            let plan_peer = node.peers.iter().find(|p| p.public_key == section.public_key).unwrap();
            let peer = state.peers.iter().find(|p| p.public_key == section.public_key).unwrap();
            let want: HashSet<IpNet> = plan_peer.allowed_ips.iter().map(IpNet::trunc).collect();
            let have: HashSet<IpNet> = peer.allowed_ips.iter().map(IpNet::trunc).collect();
            if have.is_subset(&want) {
                prop_assert!(!section.replace_allowed_ips);
                prop_assert_eq!(section.allowed_ips.len(), want.difference(&have).count());
            } else {
                prop_assert!(section.replace_allowed_ips);
                prop_assert_eq!(section.allowed_ips.len(), want.len());
            }
        }
    }

    #[test]
    fn describe_never_shows_secrets(node in arb_plan(), state in arb_state()) {
        prop_assume!(key_compatible(&node, &state));
        let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
        let changes = describe(&update, &node);
        let text: String = changes.iter().map(|c| format!("{c}\n{}\n{c:?}\n", c.to_json())).collect();
        for secret in [own_key().to_base64(), own_key().to_hex(), psk(0).to_base64(), psk(0).to_hex(), psk(1).to_base64(), psk(1).to_hex()] {
            prop_assert!(!text.contains(&secret));
        }
        let sections = update.peers.len() + usize::from(update.private_key.is_some()) + usize::from(update.listen_port.is_some()) + usize::from(update.fwmark.is_some());
        prop_assert_eq!(changes.len(), sections);
    }
}

fn simple_state(peers: Vec<PeerState>) -> DeviceState {
    DeviceState { private_key: Some(own_key()), own_public_key: None, listen_port: 51820, fwmark: 0, peers }
}

fn state_peer(i: usize, endpoint: Option<&str>, keepalive: u16, ips: &[&str]) -> PeerState {
    PeerState {
        endpoint: endpoint.map(|e| e.parse().unwrap()),
        persistent_keepalive_interval: keepalive,
        allowed_ips: ips.iter().map(|p| p.parse().unwrap()).collect(),
        rx_bytes: 1000,
        tx_bytes: 2000,
        last_handshake: Some(Duration::from_secs(1_700_000_000)),
        ..PeerState::new(peer_key(i))
    }
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

#[test]
fn equal_state_gives_an_empty_update() {
    let node = node_plan(
        KeySource::Inline(own_key()),
        Some(51820),
        None,
        vec![peer_plan(
            0,
            None,
            Some(Endpoint::parse("192.0.2.1:51820", "e").unwrap()),
            Some(25),
            nets(&["10.0.0.0/24"]),
        )],
    );
    let state = simple_state(vec![state_peer(0, Some("192.0.2.1:51820"), 25, &["10.0.0.0/24"])]);
    let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
    assert!(update.is_empty(), "{update:?}");
    assert_eq!(render_set_request(&update), "set=1\n\n");
    assert!(describe(&update, &node).is_empty());
}

#[test]
fn roamed_endpoint_is_not_drift_without_a_planned_endpoint() {
    let node = node_plan(
        KeySource::Inline(own_key()),
        None,
        None,
        vec![peer_plan(0, None, None, None, nets(&["10.0.0.2/32"]))],
    );
    let state = simple_state(vec![state_peer(0, Some("198.51.100.77:40123"), 0, &["10.0.0.2/32"])]);
    assert!(diff_node_with(&node, &state, &fake_resolve).unwrap().is_empty());
}

#[test]
fn dns_endpoint_matches_any_of_its_addresses_and_moves_to_the_first_otherwise() {
    let node = node_plan(
        KeySource::Inline(own_key()),
        None,
        None,
        vec![peer_plan(
            0,
            None,
            Some(Endpoint::parse("hub.example:51820", "e").unwrap()),
            None,
            nets(&["10.0.0.1/32"]),
        )],
    );
    let on_second = simple_state(vec![state_peer(0, Some("203.0.113.6:51820"), 0, &["10.0.0.1/32"])]);
    assert!(diff_node_with(&node, &on_second, &fake_resolve).unwrap().is_empty());
    let elsewhere = simple_state(vec![state_peer(0, Some("192.0.2.99:51820"), 0, &["10.0.0.1/32"])]);
    let update = diff_node_with(&node, &elsewhere, &fake_resolve).unwrap();
    assert_eq!(
        render_set_request(&update),
        format!("set=1\npublic_key={}\nupdate_only=true\nendpoint=203.0.113.5:51820\n\n", peer_key(0).to_hex())
    );
    let failing = |_: &str, _: u16| -> io::Result<Vec<SocketAddr>> { Err(io::Error::other("SERVFAIL")) };
    let err = diff_node_with(&node, &elsewhere, &failing).unwrap_err();
    assert_eq!(err.code(), "plan_unresolved_endpoint");
    assert!(err.to_string().contains("hub.example:51820") && err.to_string().contains("peer-0"), "{err}");
    let empty = |_: &str, _: u16| -> io::Result<Vec<SocketAddr>> { Ok(Vec::new()) };
    assert_eq!(diff_node_with(&node, &elsewhere, &empty).unwrap_err().code(), "plan_unresolved_endpoint");
}

#[test]
fn the_wire_form_of_a_typical_change() {
    let endpoint = |e: &str| Some(Endpoint::parse(e, "e").unwrap());
    let node = node_plan(
        KeySource::Inline(own_key()),
        Some(51820),
        None,
        vec![
            peer_plan(0, None, endpoint("192.0.2.1:51820"), Some(25), nets(&["10.0.0.0/24", "10.0.1.0/24"])),
            peer_plan(1, None, endpoint("192.0.2.2:51821"), Some(10), nets(&["10.1.0.0/24"])),
            peer_plan(
                3,
                Some(psk(0)),
                endpoint("[2001:db8::3]:51820"),
                None,
                nets(&["10.3.0.0/24", "2001:db8:3::/64"]),
            ),
        ],
    );
    let state = simple_state(vec![
        state_peer(0, Some("192.0.2.1:51820"), 25, &["10.0.0.0/24", "10.0.1.0/24"]),
        state_peer(1, Some("192.0.2.2:51820"), 0, &["10.1.0.0/24", "10.1.9.0/24"]),
        state_peer(2, Some("192.0.2.9:51820"), 0, &["10.2.0.0/24"]),
    ]);
    let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
    let text = render_set_request(&update);
    let expected = format!(
        "set=1\npublic_key={}\nremove=true\npublic_key={}\nupdate_only=true\nendpoint=192.0.2.2:51821\npersistent_keepalive_interval=10\nreplace_allowed_ips=true\nallowed_ip=10.1.0.0/24\npublic_key={}\npreshared_key={}\nendpoint=[2001:db8::3]:51820\nallowed_ip=10.3.0.0/24\nallowed_ip=2001:db8:3::/64\n\n",
        peer_key(2).to_hex(),
        peer_key(1).to_hex(),
        peer_key(3).to_hex(),
        psk(0).to_hex()
    );
    assert_eq!(text, expected);
    let lines: Vec<String> = describe(&update, &node).iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        [
            format!("remove peer {}", peer_key(2)),
            format!("update peer peer-1 ({}): endpoint 192.0.2.2:51821; keepalive 10 s; allowed IPs replaced by 10.1.0.0/24", peer_key(1)),
            format!("add peer peer-3 ({}): endpoint [2001:db8::3]:51820; preshared key; allowed IPs 10.3.0.0/24, 2001:db8:3::/64", peer_key(3)),
        ]
    );
    let json = describe(&update, &node)[1].to_json();
    assert_eq!(json["change"], "update_peer");
    assert_eq!(json["peer"], "peer-1");
    assert_eq!(json["allowed_ips_replaced"], true);
    assert_eq!(json["allowed_ips_added"][0], "10.1.0.0/24");
    assert!(!text.contains("allowed_ip=-"), "older devices refuse removal lines");
}

#[test]
fn replacing_allowed_ips_when_shorter() {
    let node = node_plan(
        KeySource::Inline(own_key()),
        None,
        None,
        vec![peer_plan(0, None, None, None, nets(&["10.8.0.0/16"]))],
    );
    let state = simple_state(vec![state_peer(0, None, 0, &["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"])]);
    let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
    assert!(update.peers[0].replace_allowed_ips);
    assert_eq!(update.peers[0].allowed_ips, vec![AllowedIpChange::add("10.8.0.0/16".parse().unwrap())]);
    assert_eq!(
        describe(&update, &node)[0].to_string(),
        format!("update peer peer-0 ({}): allowed IPs replaced by 10.8.0.0/16", peer_key(0))
    );
}

#[test]
fn device_key_checks_when_the_plan_does_not_carry_it() {
    let node = node_plan(KeySource::OnNode("/etc/wireguard/me.key".into()), None, None, Vec::new());
    let mut state = simple_state(Vec::new());
    assert!(diff_node_with(&node, &state, &fake_resolve).unwrap().is_empty());
    let other = PrivateKey::from_bytes([7; 32]);
    state.private_key = Some(other.clone());
    let err = diff_node_with(&node, &state, &fake_resolve).unwrap_err();
    assert_eq!(err.code(), "plan_device_key_mismatch");
    assert!(!err.to_string().contains(&other.to_base64()));
    state.private_key = None;
    assert_eq!(diff_node_with(&node, &state, &fake_resolve).unwrap_err().code(), "mesh_missing_key");
    // An inline key replaces whatever the device holds, and is described without its value.
    let node = node_plan(KeySource::Inline(own_key()), None, None, Vec::new());
    let update = diff_node_with(&node, &state, &fake_resolve).unwrap();
    assert_eq!(update.private_key, Some(Some(own_key())));
    let shown = describe(&update, &node)[0].to_string();
    assert_eq!(shown, format!("private key: replaced (new public key {})", own_key().public_key()));
}

#[test]
fn a_device_that_shows_only_its_public_key_is_checked_by_that_key() {
    // boringtun-cli answers `own_public_key=` and never its private key.
    let mut state = simple_state(Vec::new());
    state.private_key = None;
    state.own_public_key = Some(own_key().public_key());
    let inline = node_plan(KeySource::Inline(own_key()), None, None, Vec::new());
    let on_node = node_plan(KeySource::OnNode("/etc/wireguard/me.key".into()), None, None, Vec::new());
    assert!(diff_node_with(&inline, &state, &fake_resolve).unwrap().is_empty(), "the right key is not set again");
    assert!(diff_node_with(&on_node, &state, &fake_resolve).unwrap().is_empty());
    state.own_public_key = Some(peer_key(9));
    let update = diff_node_with(&inline, &state, &fake_resolve).unwrap();
    assert_eq!(update.private_key, Some(Some(own_key())), "another key is replaced");
    assert_eq!(diff_node_with(&on_node, &state, &fake_resolve).unwrap_err().code(), "plan_device_key_mismatch");
}

#[test]
fn unknown_node_is_a_typed_error() {
    let mut mesh = crate::Mesh::from_toml_str("[mesh]\nname = \"m\"\nnetworks = [\"10.88.0.0/24\"]\n[[nodes]]\nname = \"a\"\nendpoint = \"192.0.2.1:51820\"\n[[nodes]]\nname = \"b\"\n").unwrap();
    mesh.generate_missing().unwrap();
    let plan = crate::plan(&mesh).unwrap();
    assert_eq!(diff(&plan, "nobody", &DeviceState::default()).unwrap_err().code(), "mesh_unknown_node");
    // A fresh device for node a gets its key, port and its one peer.
    let update = diff(&plan, "a", &DeviceState::default()).unwrap();
    assert!(update.private_key.is_some());
    assert_eq!(update.listen_port, Some(51820));
    assert_eq!(update.peers.len(), 1);
    assert!(!update.peers[0].update_only);
}

#[test]
fn apply_update_follows_the_set_semantics() {
    let state = simple_state(vec![state_peer(0, None, 0, &["10.0.0.0/24"]), state_peer(1, None, 0, &["10.1.0.0/24"])]);
    // A prefix added to one peer leaves the other; update_only skips an absent peer; our own key is ignored.
    let mut steal = PeerUpdate::new(peer_key(1));
    steal.allowed_ips.push(AllowedIpChange::add("10.0.0.9/24".parse().unwrap()));
    let skipped = PeerUpdate { update_only: true, ..PeerUpdate::new(peer_key(4)) };
    let own = PeerUpdate::new(own_key().public_key());
    let update = DeviceUpdate { peers: vec![steal, skipped, own], ..DeviceUpdate::default() };
    let after = apply_update(&state, &update);
    assert_eq!(after.peers.len(), 2);
    assert!(after.peers[0].allowed_ips.is_empty());
    assert_eq!(after.peers[1].allowed_ips, nets(&["10.1.0.0/24", "10.0.0.0/24"]));
    assert_eq!((after.peers[1].rx_bytes, after.peers[1].tx_bytes), (1000, 2000));
    // Removing a prefix another peer holds does nothing; removing a peer drops it.
    let mut not_yours = PeerUpdate::new(peer_key(0));
    not_yours.allowed_ips.push(AllowedIpChange { prefix: "10.1.0.0/24".parse().unwrap(), remove: true });
    let remove = PeerUpdate { remove: true, ..PeerUpdate::new(peer_key(1)) };
    let after2 = apply_update(&after, &DeviceUpdate { peers: vec![not_yours.clone()], ..DeviceUpdate::default() });
    assert_eq!(after2, after);
    let after3 = apply_update(&after, &DeviceUpdate { peers: vec![remove], ..DeviceUpdate::default() });
    assert_eq!(after3.peers.len(), 1);
    // A private key equal to a peer's removes that peer; replace_peers drops all.
    let mut with_self = simple_state(vec![PeerState::new(PrivateKey::from_bytes([9; 32]).public_key())]);
    with_self.private_key = None;
    let rekey = DeviceUpdate { private_key: Some(Some(PrivateKey::from_bytes([9; 32]))), ..DeviceUpdate::default() };
    assert!(apply_update(&with_self, &rekey).peers.is_empty());
    let replace = DeviceUpdate { replace_peers: true, ..DeviceUpdate::default() };
    assert!(apply_update(&state, &replace).peers.is_empty());
    assert!(!replace.is_empty());
}
