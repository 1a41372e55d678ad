use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;

fn key(byte: u8) -> PublicKey {
    PublicKey::from_bytes([byte; 32])
}

fn arb_prefix() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, l)| IpNet::new(IpAddr::from(a.to_be_bytes()), l).unwrap()),
        (any::<u128>(), 0u8..=128).prop_map(|(a, l)| IpNet::new(IpAddr::from(a.to_be_bytes()), l).unwrap()),
    ]
}

fn arb_endpoint() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<u32>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a.to_be_bytes()), p)),
        (any::<u128>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::new(IpAddr::from(a.to_be_bytes()), p)),
    ]
}

fn arb_peer_state() -> impl Strategy<Value = PeerState> {
    (
        any::<[u8; 32]>(),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(arb_endpoint()),
        proptest::option::of((1u64..i64::MAX as u64, 0u32..1_000_000_000)),
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        proptest::collection::vec(arb_prefix(), 0..6),
    )
        .prop_map(|(pk, psk, endpoint, hs, rx, tx, ka, ips)| PeerState {
            public_key: PublicKey::from_bytes(pk),
            preshared_key: psk.filter(|b| b != &[0; 32]).map(PresharedKey::from_bytes),
            endpoint,
            last_handshake: hs.map(|(s, n)| Duration::new(s, n)),
            rx_bytes: rx,
            tx_bytes: tx,
            persistent_keepalive_interval: ka,
            allowed_ips: ips,
            protocol_version: 1,
        })
}

fn arb_state() -> impl Strategy<Value = DeviceState> {
    (
        proptest::option::of(any::<[u8; 32]>()),
        any::<u16>(),
        any::<u32>(),
        proptest::collection::vec(arb_peer_state(), 0..4),
    )
        .prop_map(|(sk, port, mark, peers)| DeviceState {
            private_key: sk.map(PrivateKey::from_bytes),
            own_public_key: None,
            listen_port: port,
            fwmark: mark,
            peers,
        })
}

fn arb_peer_update() -> impl Strategy<Value = PeerUpdate> {
    (
        any::<[u8; 32]>(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(proptest::option::of(any::<[u8; 32]>().prop_filter("non-zero", |b| b != &[0; 32]))),
        proptest::option::of(arb_endpoint()),
        proptest::option::of(any::<u16>()),
        any::<bool>(),
        proptest::collection::vec((arb_prefix(), any::<bool>()), 0..6),
        proptest::option::of(Just(1u32)),
    )
        .prop_map(|(pk, remove, update_only, psk, endpoint, ka, replace, ips, version)| {
            let public_key = PublicKey::from_bytes(pk);
            if remove {
                return PeerUpdate { remove: true, ..PeerUpdate::new(public_key) };
            }
            PeerUpdate {
                public_key,
                remove,
                update_only,
                preshared_key: psk.map(|p| p.map(PresharedKey::from_bytes)),
                endpoint,
                persistent_keepalive_interval: ka,
                replace_allowed_ips: replace,
                allowed_ips: ips.into_iter().map(|(prefix, remove)| AllowedIpChange { prefix, remove }).collect(),
                protocol_version: version,
            }
        })
}

fn arb_update() -> impl Strategy<Value = DeviceUpdate> {
    (
        proptest::option::of(proptest::option::of(any::<[u8; 32]>())),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        proptest::collection::vec(arb_peer_update(), 0..4),
    )
        .prop_map(|(sk, port, mark, replace, peers)| DeviceUpdate {
            private_key: sk.map(|k| k.map(PrivateKey::from_bytes)),
            listen_port: port,
            fwmark: mark,
            replace_peers: replace,
            peers,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn get_response_round_trips(state in arb_state()) {
        let text = render_get_response(&state);
        let mut expected = state.clone();
        expected.private_key = state.private_key.clone();
        prop_assert_eq!(parse_get_response(&text).unwrap(), expected);
    }

    #[test]
    fn set_request_round_trips(update in arb_update()) {
        let text = render_set_request(&update);
        prop_assert_eq!(parse_set_request(&text).unwrap(), update);
    }

    /// Arbitrary bytes never panic any parser; errors carry a line within the input.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let text = String::from_utf8_lossy(&bytes);
        for err in [parse_set_request(&text).err(), parse_get_response(&text).err(), parse_set_response(&text).err()].into_iter().flatten() {
            prop_assert!(err.line() <= text.lines().count() + 1);
            prop_assert!(err.errno() > 0);
        }
    }

    /// Mutations of valid requests (a line dropped, duplicated or cut) never panic either.
    #[test]
    fn mutated_requests_never_panic(update in arb_update(), pick in any::<usize>(), cut in any::<usize>()) {
        let text = render_set_request(&update);
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let i = pick % lines.len();
        let mut dropped = lines.clone();
        dropped.remove(i);
        let _ = parse_set_request(&dropped.concat());
        let mut doubled = lines.clone();
        doubled.insert(i, lines[i]);
        let _ = parse_set_request(&doubled.concat());
        let at = cut % (text.len() + 1);
        if text.is_char_boundary(at) {
            let _ = parse_set_request(&text[..at]);
        }
    }
}

#[test]
fn set_request_folds_line_order() {
    let a = key(1).to_hex();
    let text = format!("set=1\npublic_key={a}\nallowed_ip=10.0.0.0/8\nreplace_allowed_ips=true\nallowed_ip=10.1.0.0/16\npersistent_keepalive_interval=5\npersistent_keepalive_interval=7\n\n");
    let update = parse_set_request(&text).unwrap();
    assert!(update.peers[0].replace_allowed_ips);
    assert_eq!(update.peers[0].allowed_ips, vec![AllowedIpChange::add("10.1.0.0/16".parse().unwrap())]);
    assert_eq!(update.peers[0].persistent_keepalive_interval, Some(7));
    let removed = parse_set_request(&format!(
        "set=1\npublic_key={a}\nendpoint=192.0.2.1:1\nremove=true\nallowed_ip=10.0.0.0/8\n\n"
    ))
    .unwrap();
    assert_eq!(removed.peers[0], PeerUpdate { remove: true, ..PeerUpdate::new(key(1)) });
}

#[test]
fn errors_name_their_line_and_code() {
    let a = key(1).to_hex();
    let cases = [
        ("get=1\n\n".to_string(), "uapi_syntax", 1),
        (format!("set=1\npublic_key={a}\nlisten_port=1\n\n"), "uapi_unknown_key", 3),
        ("set=1\nlisten_port=65536\n\n".to_string(), "uapi_invalid_value", 2),
        ("set=1\nlisten_port=+1\n\n".to_string(), "uapi_invalid_value", 2),
        ("set=1\nreplace_peers=yes\n\n".to_string(), "uapi_invalid_value", 2),
        ("set=1\nnonsense\n\n".to_string(), "uapi_syntax", 2),
        ("set=1\nfwmark=1\n".to_string(), "uapi_syntax", 3),
        ("set=1\n\nextra".to_string(), "uapi_syntax", 3),
        (format!("set=1\npublic_key={a}\nallowed_ip=10.0.0.0/33\n\n"), "uapi_invalid_value", 3),
        (format!("set=1\npublic_key={a}\nprotocol_version=2\n\n"), "uapi_invalid_value", 3),
        (format!("set=1\nlisten_port={}\n\n", "1".repeat(600)), "uapi_too_large", 0),
    ];
    for (text, code, line) in cases {
        let err = parse_set_request(&text).unwrap_err();
        assert_eq!((err.code(), err.line()), (code, line), "{text:?}: {err}");
    }
    assert_eq!(parse_set_response("errno=-22\n\n").unwrap_err(), crate::UapiError::Errno { errno: 22 });
    assert_eq!(parse_get_response("errno=71\n\n").unwrap_err().code(), "uapi_errno");
}

#[test]
fn secrets_never_in_errors() {
    let secret = "zz".repeat(32);
    let err = parse_set_request(&format!("set=1\nprivate_key={secret}\n\n")).unwrap_err();
    assert!(!err.to_string().contains(&secret));
}

#[test]
fn socket_paths() {
    assert_eq!(socket_path("wg0").unwrap(), std::path::PathBuf::from("/var/run/wireguard/wg0.sock"));
    for bad in ["", "../x", "a/b", "sixteen-chars-xx", "a b"] {
        assert!(socket_path(bad).is_err(), "{bad:?}");
    }
}

/// A device's configuration without statistics, peers in key order, AllowedIPs as a set.
#[allow(clippy::type_complexity)]
fn configuration(
    state: &DeviceState,
) -> (Option<PrivateKey>, u16, u32, Vec<([u8; 32], Option<PresharedKey>, Option<SocketAddr>, u16, Vec<IpNet>)>) {
    let mut peers: Vec<_> = state
        .peers
        .iter()
        .map(|p| {
            let mut ips: Vec<IpNet> = p.allowed_ips.iter().map(IpNet::trunc).collect();
            ips.sort();
            ips.dedup();
            (*p.public_key.as_bytes(), p.preshared_key.clone(), p.endpoint, p.persistent_keepalive_interval, ips)
        })
        .collect();
    peers.sort_by_key(|p| p.0);
    (state.private_key.clone(), state.listen_port, state.fwmark, peers)
}

proptest! {
    #[test]
    fn whole_peer_replacements_reach_the_configuration_the_update_reaches(
        mut state in arb_state(),
        mut update in arb_update(),
        picks in proptest::collection::vec(any::<u8>(), 8),
    ) {
        // A device has a public key once and holds a prefix on one peer at most (adding it to one moves
        // it from another); arb_state can repeat either, and such a state is no device's.
        let mut keys = std::collections::HashSet::new();
        state.peers.retain(|p| keys.insert(p.public_key));
        let mut held = std::collections::HashSet::new();
        for peer in &mut state.peers {
            peer.allowed_ips.retain(|p| held.insert(p.trunc()));
        }
        // Most sections name a peer the device has: the case replacements are for.
        for (section, pick) in update.peers.iter_mut().zip(&picks) {
            if !state.peers.is_empty() && pick % 4 != 0 {
                section.public_key = state.peers[usize::from(*pick) % state.peers.len()].public_key;
            }
        }
        let requests = whole_peer_requests(&state, &update);
        let mut reached = state.clone();
        for request in &requests {
            prop_assert!(request.peers.len() <= 1, "one peer section per request");
            prop_assert!(request.peers.iter().all(|p| !p.update_only), "never update_only");
            reached = apply_update(&reached, request);
        }
        prop_assert_eq!(configuration(&reached), configuration(&apply_update(&state, &update)));
    }
}

#[test]
fn a_changed_peer_is_removed_and_added_whole_and_an_unchanged_one_is_left_alone() {
    let mut a = PeerState::new(key(1));
    a.endpoint = Some("192.0.2.1:51820".parse().unwrap());
    a.allowed_ips = vec!["10.0.0.1/32".parse().unwrap(), "10.1.0.0/24".parse().unwrap()];
    a.preshared_key = Some(PresharedKey::from_bytes([7; 32]));
    a.rx_bytes = 99;
    let mut b = PeerState::new(key(2));
    b.persistent_keepalive_interval = 25;
    let state = DeviceState { peers: vec![a, b], ..DeviceState::default() };
    let mut keepalive = PeerUpdate { update_only: true, ..PeerUpdate::new(key(1)) };
    keepalive.persistent_keepalive_interval = Some(7);
    let mut same = PeerUpdate { update_only: true, ..PeerUpdate::new(key(2)) };
    same.persistent_keepalive_interval = Some(25);
    let absent = PeerUpdate { update_only: true, ..PeerUpdate::new(key(3)) };
    let update = DeviceUpdate { peers: vec![keepalive, same, absent], ..DeviceUpdate::default() };

    let requests = whole_peer_requests(&state, &update);
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].peers[0].remove && requests[0].peers[0].public_key == key(1));
    let whole = &requests[1].peers[0];
    assert!(!whole.remove && !whole.update_only && whole.public_key == key(1));
    assert_eq!(whole.endpoint, Some("192.0.2.1:51820".parse().unwrap()));
    assert_eq!(whole.persistent_keepalive_interval, Some(7));
    assert_eq!(whole.preshared_key, Some(Some(PresharedKey::from_bytes([7; 32]))));
    let ips: Vec<IpNet> = whole.allowed_ips.iter().map(|c| c.prefix).collect();
    assert_eq!(ips, vec!["10.0.0.1/32".parse::<IpNet>().unwrap(), "10.1.0.0/24".parse().unwrap()]);
    assert!(whole_peer_requests(&state, &DeviceUpdate::default()).is_empty());
    let port = DeviceUpdate { listen_port: Some(1), peers: vec![PeerUpdate::new(key(4))], ..DeviceUpdate::default() };
    let requests = whole_peer_requests(&state, &port);
    assert_eq!(requests.len(), 2, "the device fields, then the new peer: {requests:?}");
    assert!(requests[0].peers.is_empty() && requests[0].listen_port == Some(1));
}
