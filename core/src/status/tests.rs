use std::net::Ipv4Addr;

use super::*;
use crate::health::{health, health_of};

const HUB_PRIVATE: &str = "oDuvp+rFXrag+Q7VyzwGWda7MBaq7SjpCVsYDd6woGs=";
const NODE1_PUBLIC: &str = "dBMsNqf3Twg+324rlSf4nmMSJNTFye2nBh9THvok4FA=";
const NODE2_PUBLIC: &str = "RNCCoJIarJIJ9gXs/vy4BKpsLxEhGtsJ+Ftl6V+d+zY=";
const PSK: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn device() -> DeviceState {
    let mut a = PeerState::new(PublicKey::from_base64(NODE1_PUBLIC).unwrap());
    a.allowed_ips = vec!["10.88.0.11/32".parse().unwrap(), "10.99.1.0/24".parse().unwrap()];
    a.endpoint = Some("192.0.2.11:51820".parse().unwrap());
    a.last_handshake = Some(Duration::from_secs(1000));
    a.preshared_key = Some(PresharedKey::from_base64(PSK).unwrap());
    a.persistent_keepalive_interval = 25;
    a.rx_bytes = 1 << 40;
    a.tx_bytes = 7;
    let mut b = PeerState::new(PublicKey::from_base64(NODE2_PUBLIC).unwrap());
    b.allowed_ips = vec!["10.99.2.0/24".parse().unwrap()];
    DeviceState {
        private_key: Some(PrivateKey::from_base64(HUB_PRIVATE).unwrap()),
        own_public_key: None,
        listen_port: 51820,
        fwmark: 0x1234,
        peers: vec![a, b],
    }
}

#[test]
fn stale_after_the_reject_after_time_and_never_without_handshake() {
    let state = device();
    for (now, expected) in
        [(1000, PeerStateKind::Up), (1180, PeerStateKind::Up), (1181, PeerStateKind::Stale), (900, PeerStateKind::Up)]
    {
        let s = status("wm0", &state, at(now), &StatusContext::default()).unwrap();
        assert_eq!(s.peers[0].state, expected, "at {now}");
        assert_eq!(s.peers[1].state, PeerStateKind::Never);
        assert_eq!(s.peers_up, usize::from(expected == PeerStateKind::Up));
    }
    // A handshake "in the future" (clock skew) has age 0, not a wrap-around.
    assert_eq!(
        status("wm0", &state, at(900), &StatusContext::default()).unwrap().peers[0].handshake_age_seconds,
        Some(0)
    );
    let short = StatusContext { stale_after: Duration::from_secs(10), ..StatusContext::default() };
    assert_eq!(status("wm0", &state, at(1011), &short).unwrap().peers[0].state, PeerStateKind::Stale);
}

#[test]
fn probe_targets_and_probe_results() {
    let state = device();
    // Without a plan: a host route of AllowedIPs, none for a peer routing only a /24.
    assert_eq!(probe_targets(&state, None), vec![IpAddr::V4(Ipv4Addr::new(10, 88, 0, 11))]);
    let stats = ProbeStats {
        sent: 10,
        received: 8,
        loss: 0.2,
        rtt_last: Some(Duration::from_micros(1500)),
        rtt_min: Some(Duration::from_millis(1)),
        rtt_avg: Some(Duration::from_millis(2)),
        rtt_max: Some(Duration::from_millis(4)),
        consecutive_lost: 0,
        last_reply_age: Some(Duration::from_millis(300)),
    };
    let probes = [(IpAddr::V4(Ipv4Addr::new(10, 88, 0, 11)), stats)];
    let context = StatusContext { probes: &probes, ..StatusContext::default() };
    let s = status("wm0", &state, at(1010), &context).unwrap();
    let probe = s.peers[0].probe.as_ref().unwrap();
    assert_eq!((probe.sent, probe.received, probe.loss), (10, 8, 0.2));
    assert_eq!((probe.rtt_last_ms, probe.rtt_avg_ms), (Some(1.5), Some(2.0)));
    assert!(s.peers[1].probe.is_none());
    let metrics = render_prometheus(std::slice::from_ref(&s));
    assert!(metrics.contains(&format!("wiremesh_peer_probe_loss_ratio{{interface=\"wm0\",public_key=\"{NODE1_PUBLIC}\",allowed_ips=\"10.88.0.11/32,10.99.1.0/24\"}} 0.2\n")), "{metrics}");
    assert!(metrics.contains("wiremesh_peer_probe_rtt_seconds{") && metrics.contains("} 0.002\n"), "{metrics}");
    // Unanswered probes are a health problem, even with a fresh handshake.
    let dead = [(probes[0].0, ProbeStats { received: 0, loss: 1.0, rtt_avg: None, ..probes[0].1.clone() })];
    let s = status("wm0", &state, at(1010), &StatusContext { probes: &dead, ..StatusContext::default() }).unwrap();
    let h = health_of(&s);
    assert_eq!(h.problems.iter().map(|p| p.code).collect::<Vec<_>>(), vec!["probe_unanswered", "peer_never"]);
    assert!(!h.healthy);
    assert!(h.summary().starts_with("unhealthy: 2 problem(s)\nprobe_unanswered: "), "{}", h.summary());
}

#[test]
fn prometheus_text_is_well_formed() {
    let mut state = device();
    state.peers[1].public_key = PublicKey::from_base64(NODE2_PUBLIC).unwrap();
    let s = status("wm\"0\\", &state, at(1010), &StatusContext::default()).unwrap();
    let text = render_prometheus(&[s]);
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge"].contains(&kind));
            assert!(!families.contains(&name.to_string()), "family {name} twice");
            families.push(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        // name{labels} value
        let (series, value) = line.rsplit_once(' ').unwrap();
        value.parse::<f64>().unwrap_or_else(|_| panic!("value of {line}"));
        let name = series.split('{').next().unwrap();
        assert_eq!(families.last().map(String::as_str), Some(name), "{line} outside its family");
        assert!(series.ends_with('}'));
    }
    // Label values are escaped.
    assert!(text.contains("interface=\"wm\\\"0\\\\\""), "{text}");
    assert!(text.contains("wireguard_latest_handshake_seconds{") && text.contains("} 1000\n"));
    assert!(text.contains(&format!("wireguard_received_bytes_total{{interface=\"wm\\\"0\\\\\",public_key=\"{NODE1_PUBLIC}\",allowed_ips=\"10.88.0.11/32,10.99.1.0/24\"}} {}\n", 1u64 << 40)));
    assert!(text.contains("wiremesh_peers_up{interface=\"wm\\\"0\\\\\"} 1\n"));
    // Never handshaken: latest handshake 0, no age series.
    assert_eq!(text.matches("wiremesh_peer_handshake_age_seconds{").count(), 1);
    assert!(!text.contains(HUB_PRIVATE) && !text.contains(PSK));
}

#[test]
fn dump_round_trip_hides_secrets_unless_asked() {
    let state = device();
    let hidden = render_wg_dump(&state, false);
    assert!(!hidden.contains(HUB_PRIVATE) && !hidden.contains(PSK), "{hidden}");
    assert!(hidden.starts_with("(hidden)\tdyRQOE5i8fz5vt/OqJL0kbtbxtcmupbxqPq4Z/p6fgg=\t51820\t0x1234\n"), "{hidden}");
    let parsed = parse_wg_dump(&hidden).unwrap();
    assert_eq!(parsed.private_key, None);
    assert_eq!(parsed.peers.len(), 2);
    let full = render_wg_dump(&state, true);
    assert_eq!(parse_wg_dump(&full).unwrap(), state);
    // `wg show all dump` is the same lines prefixed with the interface.
    let all: String =
        full.lines().map(|l| format!("wg0\t{l}\n")).chain(hidden.lines().map(|l| format!("wg1\t{l}\r\n"))).collect();
    let parsed = parse_wg_dump_all(&all).unwrap();
    assert_eq!(parsed[0], ("wg0".to_string(), state));
    assert_eq!(parsed[1].1.peers.len(), 2);
    assert_eq!(parse_wg_dump_all("").unwrap(), vec![]);
}

#[test]
fn dump_errors_never_show_secret_values() {
    let secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U=";
    for text in [
        format!("{secret}x\t(none)\t1\toff\n"),
        format!("(none)\t(none)\t1\toff\n{NODE1_PUBLIC}\t{secret}x\t(none)\t(none)\t0\t0\t0\toff\n"),
    ] {
        let err = parse_wg_dump(&text).unwrap_err();
        assert_eq!(err.code(), "config_invalid_value");
        assert!(!err.to_string().contains(secret) && !format!("{err:?}").contains(secret), "{err}");
    }
    let huge = "x".repeat(MAX_DUMP_BYTES + 1);
    assert_eq!(parse_wg_dump(&huge).unwrap_err().code(), "config_syntax");
    // Garbage never panics.
    for garbage in ["\t\t\t", "\u{0}\n\t", "a\tb\tc\td\ne", "(none)\t(none)\t-1\toff", "(none)\t(none)\t0\t0xzz"] {
        assert!(parse_wg_dump(garbage).is_err(), "{garbage:?}");
        let _ = parse_wg_dump_all(garbage);
    }
}

#[test]
fn health_against_an_unknown_node_is_a_typed_error() {
    let mesh = crate::Mesh::from_toml_str(
        "[mesh]\nname = \"m\"\nnetworks = [\"10.88.0.0/24\"]\n[[nodes]]\nname = \"a\"\nendpoint = \"192.0.2.1:51820\"\n[[nodes]]\nname = \"b\"\n",
    )
    .unwrap();
    let mut mesh = mesh;
    mesh.generate_missing().unwrap();
    let plan = crate::plan(&mesh).unwrap();
    let s = status("wm0", &device(), at(1010), &StatusContext::default()).unwrap();
    assert_eq!(health(&s, &plan, "nobody").unwrap_err().code(), "mesh_unknown_node");
    let context = StatusContext { plan: Some(&plan), node: Some("nobody"), ..StatusContext::default() };
    assert_eq!(status("wm0", &device(), at(1010), &context).unwrap_err().code(), "mesh_unknown_node");
    // The hub key is not node a's: the interface's key is reported.
    let h = health(&s, &plan, "a").unwrap();
    assert!(h.problems.iter().any(|p| p.code == "interface_key_mismatch"), "{h:?}");
}

#[test]
fn a_dns_endpoint_is_checked_only_when_resolving() {
    // Node b's device has node a at 192.0.2.1:51820; the plan names a as a.example:51820.
    let mut mesh = crate::Mesh::from_toml_str(
        "[mesh]\nname = \"m\"\nnetworks = [\"10.88.0.0/24\"]\n[[nodes]]\nname = \"a\"\nendpoint = \"a.example:51820\"\n[[nodes]]\nname = \"b\"\n",
    )
    .unwrap();
    mesh.generate_missing().unwrap();
    let plan = crate::plan(&mesh).unwrap();
    let b = plan.node("b").unwrap();
    let a = plan.node("a").unwrap();
    let mut peer = PeerState::new(a.public_key);
    peer.allowed_ips = b.peers[0].allowed_ips.clone();
    peer.endpoint = Some("192.0.2.1:51820".parse().unwrap());
    peer.last_handshake = Some(Duration::from_secs(1000));
    let state = DeviceState { peers: vec![peer], ..DeviceState::default() };
    let s = status("wm0", &state, at(1010), &StatusContext::default()).unwrap();
    let wrong = |h: &crate::Health| h.problems.iter().filter(|p| p.code == "wrong_endpoint").count();
    // Without a resolver the name is not checked.
    assert_eq!(wrong(&health(&s, &plan, "b").unwrap()), 0);
    let answering = |answer: &[&str]| {
        let answer: Vec<std::net::SocketAddr> = answer.iter().map(|a| a.parse().unwrap()).collect();
        move |_: &str, _: u16| Ok(answer.clone())
    };
    // The name resolves to the device's endpoint (among others, v4-mapped v6 included): healthy.
    let asked = std::cell::RefCell::new(Vec::new());
    let both = answering(&["[2001:db8::1]:51820", "[::ffff:192.0.2.1]:51820"]);
    let recording = |name: &str, port: u16| {
        asked.borrow_mut().push((name.to_string(), port));
        both(name, port)
    };
    let h = crate::health_resolving(&s, &plan, "b", &recording).unwrap();
    assert_eq!(wrong(&h), 0, "{h:?}");
    assert_eq!(asked.borrow().as_slice(), [("a.example".to_string(), 51820)]);
    // It resolves elsewhere: wrong_endpoint, naming the planned name.
    let h = crate::health_resolving(&s, &plan, "b", &answering(&["192.0.2.7:51820"])).unwrap();
    let problem = h.problems.iter().find(|p| p.code == "wrong_endpoint").expect("wrong_endpoint");
    assert_eq!(
        problem.reason,
        "a: endpoint is 192.0.2.1:51820, the plan says a.example:51820, which resolves to other addresses"
    );
    // It does not resolve, or to nothing: not checked.
    let failing = |_: &str, _: u16| Err(std::io::Error::other("no such name"));
    assert_eq!(wrong(&crate::health_resolving(&s, &plan, "b", &failing).unwrap()), 0);
    assert_eq!(wrong(&crate::health_resolving(&s, &plan, "b", &answering(&[])).unwrap()), 0);
}
