use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

use super::*;
use crate::error::TextLocation;
use crate::mesh::endpoint::Host;

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn endpoint(text: &str) -> Endpoint {
    Endpoint::parse(text, "test").unwrap()
}

/// A fixed set of keys, freshly generated per run.
struct Keys {
    private: PrivateKey,
    peer1: PublicKey,
    peer2: PublicKey,
    psk: PresharedKey,
}

impl Keys {
    fn new() -> Self {
        Keys {
            private: PrivateKey::generate(),
            peer1: PrivateKey::generate().public_key(),
            peer2: PrivateKey::generate().public_key(),
            psk: PresharedKey::generate(),
        }
    }
}

fn parse(text: &str) -> WgConfig {
    match parse_wg_quick(text, "wg0.conf") {
        Ok(config) => config,
        Err(err) => panic!("{err}\n--- text ---\n{text}"),
    }
}

fn parse_err(text: &str) -> ConfigError {
    parse_wg_quick(text, "wg0.conf").expect_err(text)
}

fn loc(line: usize, section: Option<&str>, key: Option<&str>) -> TextLocation {
    TextLocation {
        source_name: "wg0.conf".to_string(),
        line,
        section: section.map(str::to_string),
        key: key.map(str::to_string),
    }
}

#[test]
fn parses_a_realistic_file() {
    let k = Keys::new();
    let text = format!(
        "\u{feff}# wg0 on the hub, written by hand\r\n\
         [interface]\r\n\
         privatekey={private}   # the hub's key\r\n\
         LISTENPORT = 51820\r\n\
         Address = 10.88.0.1/24, fd00:88::1/64\r\n\
         address=10.99.0.1\r\n\
         \tDns = 10.88.0.53 , 1.1.1.1 corp.example\r\n\
         MTU = 1420\r\n\
         FwMark = 0x1f\r\n\
         Table = off\r\n\
         PostUp = iptables -A FORWARD -i %i -j ACCEPT # let peers through\r\n\
         PostUp = sysctl -w net.ipv4.ip_forward=1\r\n\
         PreDown = logger down\r\n\
         SaveConfig = False\r\n\
         \r\n\
         ## the office\r\n\
         # office-gw\r\n\
         [PEER]\r\n\
         PublicKey = {peer1}\r\n\
         PresharedKey = {psk}\r\n\
         AllowedIPs = 10.88.0.2/32, 192.168.10.0/24\r\n\
         allowedips = 2001:db8:10::/48,10.88.0.0/16\r\n\
         Endpoint = Office.Example.COM:51820\r\n\
         PersistentKeepalive = 25\r\n\
         \r\n\
         [ Peer ]   # no name: comment above is a blank line\r\n\
         PublicKey = {peer2}\r\n\
         AllowedIPs =\r\n\
         Endpoint = [2001:db8::7]:443\r\n\
         PersistentKeepalive = off\r\n",
        private = k.private.to_base64(),
        peer1 = k.peer1,
        peer2 = k.peer2,
        psk = k.psk.to_base64(),
    );
    let expected = WgConfig {
        interface: InterfaceSection {
            private_key: Some(k.private.clone()),
            listen_port: Some(51820),
            fwmark: Some(0x1f),
            addresses: vec![net("10.88.0.1/24"), net("fd00:88::1/64"), net("10.99.0.1/32")],
            dns: vec!["10.88.0.53".into(), "1.1.1.1".into(), "corp.example".into()],
            mtu: Some(1420),
            table: Some("off".into()),
            pre_up: vec![],
            post_up: vec!["iptables -A FORWARD -i %i -j ACCEPT".into(), "sysctl -w net.ipv4.ip_forward=1".into()],
            pre_down: vec!["logger down".into()],
            post_down: vec![],
            save_config: Some(false),
        },
        peers: vec![
            PeerSection {
                name: Some("office-gw".into()),
                public_key: k.peer1,
                preshared_key: Some(k.psk.clone()),
                allowed_ips: vec![
                    net("10.88.0.2/32"),
                    net("192.168.10.0/24"),
                    net("2001:db8:10::/48"),
                    net("10.88.0.0/16"),
                ],
                endpoint: Some(Endpoint { host: Host::Dns("office.example.com".into()), port: 51820 }),
                persistent_keepalive: Some(25),
            },
            PeerSection {
                name: None,
                public_key: k.peer2,
                preshared_key: None,
                allowed_ips: vec![],
                endpoint: Some(Endpoint { host: Host::Ip("2001:db8::7".parse().unwrap()), port: 443 }),
                persistent_keepalive: None,
            },
        ],
    };
    assert_eq!(parse(&text), expected);
    // And it renders back to something that parses to the same model.
    assert_eq!(parse(&render_wg_quick(&expected).unwrap()), expected);
}

#[test]
fn renders_the_canonical_form() {
    let k = Keys::new();
    let mut peer = PeerSection::new(k.peer1);
    peer.name = Some("laptop".into());
    peer.preshared_key = Some(k.psk.clone());
    peer.allowed_ips = vec![net("10.0.0.2/32"), net("fd00::2/128")];
    peer.endpoint = Some(endpoint("[2001:db8::1]:51820"));
    peer.persistent_keepalive = Some(25);
    let config = WgConfig {
        interface: InterfaceSection {
            private_key: Some(k.private.clone()),
            listen_port: Some(51820),
            fwmark: Some(51820),
            addresses: vec![net("10.0.0.1/24"), net("fd00::1/64")],
            dns: vec!["10.0.0.53".into(), "mesh.example".into()],
            mtu: Some(1380),
            table: Some("1234".into()),
            pre_up: vec!["echo pre-up".into()],
            post_up: vec!["echo up %i".into(), "echo again".into()],
            pre_down: vec!["echo pre-down".into()],
            post_down: vec!["echo down".into()],
            save_config: Some(true),
        },
        peers: vec![peer, PeerSection::new(k.peer2)],
    };
    let expected = format!(
        "[Interface]\n\
         PrivateKey = {private}\n\
         ListenPort = 51820\n\
         FwMark = 0xca6c\n\
         Address = 10.0.0.1/24, fd00::1/64\n\
         DNS = 10.0.0.53, mesh.example\n\
         MTU = 1380\n\
         Table = 1234\n\
         PreUp = echo pre-up\n\
         PostUp = echo up %i\n\
         PostUp = echo again\n\
         PreDown = echo pre-down\n\
         PostDown = echo down\n\
         SaveConfig = true\n\
         \n\
         # laptop\n\
         [Peer]\n\
         PublicKey = {peer1}\n\
         PresharedKey = {psk}\n\
         AllowedIPs = 10.0.0.2/32, fd00::2/128\n\
         Endpoint = [2001:db8::1]:51820\n\
         PersistentKeepalive = 25\n\
         \n\
         [Peer]\n\
         PublicKey = {peer2}\n",
        private = k.private.to_base64(),
        peer1 = k.peer1,
        peer2 = k.peer2,
        psk = k.psk.to_base64(),
    );
    assert_eq!(render_wg_quick(&config).unwrap(), expected);
    assert_eq!(parse(&expected), config);

    let setconf = render_setconf(&config).unwrap();
    let expected_setconf = format!(
        "[Interface]\n\
         PrivateKey = {private}\n\
         ListenPort = 51820\n\
         FwMark = 0xca6c\n\
         \n\
         # laptop\n\
         [Peer]\n\
         PublicKey = {peer1}\n\
         PresharedKey = {psk}\n\
         AllowedIPs = 10.0.0.2/32, fd00::2/128\n\
         Endpoint = [2001:db8::1]:51820\n\
         PersistentKeepalive = 25\n\
         \n\
         [Peer]\n\
         PublicKey = {peer2}\n",
        private = k.private.to_base64(),
        peer1 = k.peer1,
        peer2 = k.peer2,
        psk = k.psk.to_base64(),
    );
    assert_eq!(setconf, expected_setconf);
    assert_eq!(parse_setconf(&setconf, "wg0.conf").unwrap(), config.stripped());
}

#[test]
fn empty_config_renders_an_interface_header() {
    assert_eq!(render_wg_quick(&WgConfig::default()).unwrap(), "[Interface]\n");
    assert_eq!(parse(""), WgConfig::default());
    assert_eq!(parse("\n\n# nothing\n"), WgConfig::default());
}

#[test]
fn scalar_keys_last_one_wins_and_off_values() {
    let k = Keys::new();
    let text = format!(
        "[Interface]\nListenPort = 1\nListenPort = 2\nFwMark = 7\nFwMark = off\nMTU = 1400\nMTU =\nTable = main\n\
         Table =\n[Peer]\nPublicKey = {p}\nPersistentKeepalive = 25\nPersistentKeepalive = 0\nEndpoint = a.example:1\n\
         Endpoint = 192.0.2.1:2\n",
        p = k.peer1
    );
    let config = parse(&text);
    assert_eq!(config.interface.listen_port, Some(2));
    assert_eq!(config.interface.fwmark, None);
    assert_eq!(config.interface.mtu, None);
    assert_eq!(config.interface.table, None);
    assert_eq!(config.peers[0].persistent_keepalive, None);
    assert_eq!(config.peers[0].endpoint, Some(endpoint("192.0.2.1:2")));
}

#[test]
fn fwmark_forms() {
    for (text, expected) in [
        ("0", None),
        ("off", None),
        ("OFF", None),
        ("0x0", None),
        ("42", Some(42)),
        ("0042", Some(42)),
        ("0x2A", Some(42)),
        ("0xffffffff", Some(u32::MAX)),
        ("4294967295", Some(u32::MAX)),
    ] {
        let config = parse(&format!("[Interface]\nFwMark = {text}\n"));
        assert_eq!(config.interface.fwmark, expected, "{text}");
    }
    for bad in ["", "-1", "0x", "0X2A", "0x0x1", "4294967296", "0x100000000", "x1", "1 2", "on"] {
        let err = parse_err(&format!("[Interface]\nFwMark = {bad}\n"));
        assert_eq!(err.code(), "config_invalid_value", "{bad:?}");
        assert_eq!(err.location(), &loc(2, Some("Interface"), Some("FwMark")), "{bad:?}");
    }
}

#[test]
fn addresses_and_allowed_ips() {
    let k = Keys::new();
    let text = format!(
        "[Interface]\nAddress = 10.0.0.1 fd00::1\nAddress=10.0.0.5/24,,\n[Peer]\nPublicKey = {p}\n\
         AllowedIPs = 0.0.0.0/0, ::/0\nAllowedIPs = 10.1.2.3/8 , 2001:db8::1, 192.0.2.1/0\n",
        p = k.peer1
    );
    let config = parse(&text);
    assert_eq!(config.interface.addresses, vec![net("10.0.0.1/32"), net("fd00::1/128"), net("10.0.0.5/24")]);
    // Host bits are kept as written.
    assert_eq!(
        config.peers[0].allowed_ips,
        vec![net("0.0.0.0/0"), net("::/0"), net("10.1.2.3/8"), net("2001:db8::1/128"), net("192.0.2.1/0")]
    );
    assert_eq!(config.peers[0].allowed_ips[2].to_string(), "10.1.2.3/8");

    for bad in
        ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0", "10.0.0.0/8,", "+10.0.0.0/8", "-::/0", "host"]
    {
        let err = parse_err(&format!("[Peer]\nPublicKey = {p}\nAllowedIPs = {bad}\n", p = k.peer1));
        assert_eq!(err.code(), "config_invalid_value", "{bad:?}");
        assert_eq!(err.location(), &loc(3, Some("Peer"), Some("AllowedIPs")), "{bad:?}");
    }
    let err = parse_err("[Interface]\nAddress = 10.0.0.1/40\n");
    assert_eq!(err.location(), &loc(2, Some("Interface"), Some("Address")));
    assert!(err.to_string().contains("10.0.0.1/40"), "{err}");
}

#[test]
fn peer_names_come_from_the_comment_directly_above() {
    let k = Keys::new();
    let p = k.peer1;
    let cases = [
        (format!("# laptop\n[Peer]\nPublicKey = {p}\n"), Some("laptop")),
        (format!("# first\n#   second one  \n[Peer]\nPublicKey = {p}\n"), Some("second one")),
        (format!("##name\n[Peer]\nPublicKey = {p}\n"), Some("name")),
        (format!("# laptop\n\n[Peer]\nPublicKey = {p}\n"), None),
        (format!("#\n[Peer]\nPublicKey = {p}\n"), None),
        (format!("# old\n#[Peer] disabled\n[Peer]\nPublicKey = {p}\n"), None),
        (format!("[Interface]\nListenPort = 1 # not a name\n[Peer]\nPublicKey = {p}\n"), None),
    ];
    for (text, name) in cases {
        assert_eq!(parse(&text).peers[0].name.as_deref(), name, "{text}");
    }
}

#[test]
fn dns_and_hooks() {
    let config = parse(
        "[Interface]\nDNS = 1.1.1.1,2606:4700:4700::1111\nDNS = \t search.example  other.example,\n\
         PreUp = \nPostDown =   ip rule del table 42   \n",
    );
    assert_eq!(config.interface.dns, ["1.1.1.1", "2606:4700:4700::1111", "search.example", "other.example"]);
    assert_eq!(config.interface.pre_up, [""]);
    assert_eq!(config.interface.post_down, ["ip rule del table 42"]);
    assert_eq!(parse(&render_wg_quick(&config).unwrap()), config);
}

#[test]
fn save_config_values() {
    for (text, value) in [("true", true), ("TRUE", true), ("false", false), ("False", false)] {
        assert_eq!(parse(&format!("[Interface]\nSaveConfig = {text}\n")).interface.save_config, Some(value));
    }
    for bad in ["", "yes", "1"] {
        let err = parse_err(&format!("[Interface]\nSaveConfig = {bad}\n"));
        assert_eq!(err.code(), "config_invalid_value");
        assert_eq!(err.location(), &loc(2, Some("Interface"), Some("SaveConfig")));
    }
}

#[test]
fn syntax_errors_with_locations() {
    // A key before any section.
    let err = parse_err("\nListenPort = 51820\n[Interface]\n");
    assert_eq!(err.code(), "config_syntax");
    assert_eq!(err.location(), &loc(2, None, Some("ListenPort")));
    assert!(err.to_string().starts_with("wg0.conf:2 ListenPort: "), "{err}");

    // A line that is not `Key = Value`.
    let err = parse_err("[Interface]\n\nListenPort 51820\n");
    assert_eq!(err.code(), "config_syntax");
    assert_eq!(err.location(), &loc(3, Some("Interface"), None));

    // A key that is no word.
    let err = parse_err("[Interface]\nListen Port = 51820\n");
    assert_eq!(err.code(), "config_syntax");
    assert_eq!(err.location(), &loc(2, Some("Interface"), None));

    // A malformed header.
    let err = parse_err("[Interface]\n[Peer\n");
    assert_eq!(err.code(), "config_syntax");
    assert_eq!(err.location(), &loc(2, None, None));
    let err = parse_err("[Interface] ListenPort = 1\n");
    assert_eq!(err.code(), "config_syntax");
    assert_eq!(err.location(), &loc(1, None, None));
}

#[test]
fn unknown_section_and_key() {
    let err = parse_err("[Interface]\nListenPort = 1\n\n[Peers]\n");
    assert_eq!(err.code(), "config_unknown_section");
    assert_eq!(err.location(), &loc(4, Some("Peers"), None));

    let err = parse_err("[Interface]\nListenPort = 1\nColour = blue\n");
    assert_eq!(err.code(), "config_unknown_key");
    assert_eq!(err.location(), &loc(3, Some("Interface"), Some("Colour")));

    // A known key in the wrong section is unknown there, reported in canonical spelling.
    let err = parse_err("[Interface]\npublickey = x\n");
    assert_eq!(err.code(), "config_unknown_key");
    assert_eq!(err.location(), &loc(2, Some("Interface"), Some("PublicKey")));
    let k = Keys::new();
    let err = parse_err(&format!("[Peer]\nPublicKey = {}\nAddress = 10.0.0.1/32\n", k.peer1));
    assert_eq!(err.code(), "config_unknown_key");
    assert_eq!(err.location(), &loc(3, Some("Peer"), Some("Address")));
}

#[test]
fn invalid_values_with_locations() {
    let k = Keys::new();
    let p = k.peer1;
    for (text, line, section, key) in [
        ("[Interface]\nListenPort = 65536\n".to_string(), 2, "Interface", "ListenPort"),
        ("[Interface]\nListenPort = wireguard\n".to_string(), 2, "Interface", "ListenPort"),
        ("[Interface]\nListenPort =\n".to_string(), 2, "Interface", "ListenPort"),
        ("[Interface]\nMTU = -1\n".to_string(), 2, "Interface", "MTU"),
        ("[Interface]\nPrivateKey = abc\n".to_string(), 2, "Interface", "PrivateKey"),
        (format!("[Peer]\nPublicKey = {p}\nPresharedKey =\n"), 3, "Peer", "PresharedKey"),
        ("[Peer]\nPublicKey = nope\n".to_string(), 2, "Peer", "PublicKey"),
        (format!("[Peer]\nPublicKey = {p}\nEndpoint = 2001:db8::1:51820\n"), 3, "Peer", "Endpoint"),
        (format!("[Peer]\nPublicKey = {p}\nEndpoint =\n"), 3, "Peer", "Endpoint"),
        (format!("[Peer]\nPublicKey = {p}\nEndpoint = host:0\n"), 3, "Peer", "Endpoint"),
        (format!("[Peer]\nPublicKey = {p}\nPersistentKeepalive = 65536\n"), 3, "Peer", "PersistentKeepalive"),
        (format!("[Peer]\nPublicKey = {p}\nPersistentKeepalive = on\n"), 3, "Peer", "PersistentKeepalive"),
    ] {
        let err = parse_err(&text);
        assert_eq!(err.code(), "config_invalid_value", "{text}");
        assert_eq!(err.location(), &loc(line, Some(section), Some(key)), "{text}");
    }
    let err = parse_err(&format!("[Peer]\nPublicKey = {p}\nEndpoint = bad_host..x:1\n"));
    assert!(err.to_string().contains("bad_host..x:1"), "non-secret values are quoted: {err}");
}

#[test]
fn missing_public_key() {
    let k = Keys::new();
    let err =
        parse_err(&format!("[Interface]\n\n[Peer]\nAllowedIPs = 10.0.0.2/32\n\n[Peer]\nPublicKey = {}\n", k.peer1));
    assert_eq!(err.code(), "config_missing_key");
    assert_eq!(err.location(), &loc(3, Some("Peer"), None));
    assert!(err.to_string().ends_with("missing PublicKey"), "{err}");

    // The last peer is checked at the end of the text.
    let err = parse_err(&format!("[Peer]\nPublicKey = {}\n[Peer]\nEndpoint = 192.0.2.1:1\n", k.peer1));
    assert_eq!(err.code(), "config_missing_key");
    assert_eq!(err.location(), &loc(3, Some("Peer"), None));
}

#[test]
fn errors_never_show_secret_values() {
    let k = Keys::new();
    let private = k.private.to_base64();
    let psk = k.psk.to_base64();
    // Valid-looking but broken: truncated, a character off, non-canonical padding, glued to the key.
    let mut non_canonical = private.clone().into_bytes();
    non_canonical[42] = if non_canonical[42] == b'B' { b'C' } else { b'B' };
    let non_canonical = String::from_utf8(non_canonical).unwrap();
    let broken = [
        private[..43].to_string(),
        format!("{}!=", &private[..42]),
        format!("{private}A"),
        non_canonical.clone(),
        format!("{private} {private}"),
    ];
    let mut texts = Vec::new();
    for bad in &broken {
        texts.push(format!("[Interface]\nPrivateKey = {bad}\n"));
        texts.push(format!("[Peer]\nPublicKey = {}\nPresharedKey = {bad}\n", k.peer1));
    }
    texts.push(format!("[Interface]\nPrivateKey{private}\n"));
    texts.push(format!("[Interface]\nPrivateKey: {private}\n"));
    texts.push(format!("[Interface]\nPrivateKey{}=\n", &private[..43]));
    texts.push(format!("[Interface]\nPresharedKey{}=\n", &psk[..43]));
    texts.push(format!("PrivateKey = {private}\n"));
    texts.push(format!("[Interface]\n{private}\n"));
    texts.push(format!("[{private}]\n"));
    for text in texts {
        let err = parse_err(&text);
        let shown = format!("{err} {err:?}");
        for secret in [&private, &psk, &private[..20], &psk[..20], &non_canonical[..20]] {
            assert!(!shown.contains(secret), "secret leaked by {text:?}: {shown}");
        }
    }
}

#[test]
fn parse_is_case_insensitive_and_tolerant() {
    let k = Keys::new();
    let text = format!(
        "  [INTERFACE]  \n  LiStEnPoRt\t=\t51820\t\n\n\n[peer]\n\tpublickey={p}\n  allowedIPS   =  10.0.0.0/8  \n",
        p = k.peer1
    );
    let config = parse(&text);
    assert_eq!(config.interface.listen_port, Some(51820));
    assert_eq!(config.peers[0].allowed_ips, vec![net("10.0.0.0/8")]);
    // A text without a final newline, peers without an [Interface], a repeated [Interface].
    let config = parse(&format!("[Peer]\nPublicKey = {p}\n[Interface]\nMTU=1\n[interface]\nListenPort=2", p = k.peer1));
    assert_eq!(config.peers.len(), 1);
    assert_eq!((config.interface.mtu, config.interface.listen_port), (Some(1), Some(2)));
}

#[test]
fn setconf_drops_and_refuses_wg_quick_keys() {
    let k = Keys::new();
    let mut config = WgConfig::default();
    config.interface.private_key = Some(k.private.clone());
    config.interface.addresses = vec![net("10.0.0.1/24")];
    config.interface.dns = vec!["10.0.0.53".into()];
    config.interface.mtu = Some(1420);
    config.interface.table = Some("off".into());
    config.interface.post_up = vec!["echo up".into()];
    config.interface.save_config = Some(true);
    config.peers.push(PeerSection::new(k.peer1));
    let text = render_setconf(&config).unwrap();
    for dropped in ["Address", "DNS", "MTU", "Table", "PostUp", "SaveConfig"] {
        assert!(!text.contains(dropped), "{dropped} in {text}");
    }
    assert_eq!(parse_setconf(&text, "wg0.conf").unwrap(), config.stripped());

    for (line, key) in [
        ("Address = 10.0.0.1/24", "Address"),
        ("dns = 1.1.1.1", "DNS"),
        ("MTU = 1420", "MTU"),
        ("Table = off", "Table"),
        ("PreUp = true", "PreUp"),
        ("PostUp = true", "PostUp"),
        ("PreDown = true", "PreDown"),
        ("PostDown = true", "PostDown"),
        ("SaveConfig = true", "SaveConfig"),
    ] {
        let text = format!("[Interface]\nListenPort = 1\n{line}\n");
        let err = parse_setconf(&text, "wg0.conf").unwrap_err();
        assert_eq!(err.code(), "config_unknown_key", "{line}");
        assert_eq!(err.location(), &loc(3, Some("Interface"), Some(key)), "{line}");
        assert!(parse_wg_quick(&text, "wg0.conf").is_ok());
    }
}

#[test]
fn renderer_refuses_injection() {
    let k = Keys::new();
    let payloads = ["x\n[Peer]\nPublicKey = AAAA", "x\r[Peer]", "x # y", "x\u{0}y", "[Peer]", "a\tb", "\u{7f}"];
    for payload in payloads {
        let mut cases: Vec<(WgConfig, &str, &str)> = Vec::new();
        let mut peer = PeerSection::new(k.peer1);
        peer.name = Some(payload.to_string());
        cases.push((WgConfig { interface: InterfaceSection::default(), peers: vec![peer] }, "Peer", "name"));
        let mut config = WgConfig::default();
        config.interface.dns = vec!["1.1.1.1".into(), payload.to_string()];
        cases.push((config, "Interface", "DNS"));
        let mut config = WgConfig::default();
        config.interface.table = Some(payload.to_string());
        cases.push((config, "Interface", "Table"));
        for key in ["PreUp", "PostUp", "PreDown", "PostDown"] {
            let mut config = WgConfig::default();
            let hooks = match key {
                "PreUp" => &mut config.interface.pre_up,
                "PostUp" => &mut config.interface.post_up,
                "PreDown" => &mut config.interface.pre_down,
                _ => &mut config.interface.post_down,
            };
            hooks.push(payload.to_string());
            cases.push((config, "Interface", key));
        }
        let mut peer = PeerSection::new(k.peer1);
        peer.endpoint = Some(Endpoint { host: Host::Dns(payload.to_string()), port: 1 });
        cases.push((WgConfig { interface: InterfaceSection::default(), peers: vec![peer] }, "Peer", "Endpoint"));
        for (config, section, key) in cases {
            let err = render_wg_quick(&config).unwrap_err();
            assert_eq!(err.code(), "config_unsafe_value", "{payload:?} in {key}");
            let at = err.location();
            assert_eq!((at.section.as_deref(), at.key.as_deref()), (Some(section), Some(key)), "{payload:?}");
        }
    }
    // The peer index is part of the location.
    let mut second = PeerSection::new(k.peer2);
    second.name = Some("a\nb".into());
    let config = WgConfig { interface: InterfaceSection::default(), peers: vec![PeerSection::new(k.peer1), second] };
    assert_eq!(render_wg_quick(&config).unwrap_err().location().source_name, "peers[1]");
}

#[test]
fn renderer_refuses_values_that_would_not_read_back() {
    let k = Keys::new();
    let invalid = |config: WgConfig, key: &str| {
        let err = render_wg_quick(&config).unwrap_err();
        assert_eq!(err.code(), "config_invalid_value", "{key}: {err}");
        assert_eq!(err.location().key.as_deref(), Some(key));
    };
    let mut config = WgConfig::default();
    config.interface.fwmark = Some(0);
    invalid(config.clone(), "FwMark");
    assert_eq!(render_setconf(&config).unwrap_err().code(), "config_invalid_value");
    let mut peer = PeerSection::new(k.peer1);
    peer.persistent_keepalive = Some(0);
    invalid(WgConfig { interface: InterfaceSection::default(), peers: vec![peer] }, "PersistentKeepalive");
    for name in ["", " padded", "padded "] {
        let mut peer = PeerSection::new(k.peer1);
        peer.name = Some(name.into());
        invalid(WgConfig { interface: InterfaceSection::default(), peers: vec![peer] }, "name");
    }
    for entry in ["", "1.1.1.1, 8.8.8.8", "a b", " x"] {
        let mut config = WgConfig::default();
        config.interface.dns = vec![entry.into()];
        invalid(config, "DNS");
    }
    for table in ["", " main"] {
        let mut config = WgConfig::default();
        config.interface.table = Some(table.into());
        invalid(config, "Table");
    }
    let mut config = WgConfig::default();
    config.interface.post_up = vec!["echo hi ".into()];
    invalid(config, "PostUp");
    for host in [Host::Dns("Upper.Example".into()), Host::Dns("a..b".into()), Host::Dns(String::new())] {
        let mut peer = PeerSection::new(k.peer1);
        peer.endpoint = Some(Endpoint { host, port: 51820 });
        invalid(WgConfig { interface: InterfaceSection::default(), peers: vec![peer] }, "Endpoint");
    }
    let mut peer = PeerSection::new(k.peer1);
    peer.endpoint = Some(Endpoint { host: Host::Ip(Ipv4Addr::LOCALHOST.into()), port: 0 });
    invalid(WgConfig { interface: InterfaceSection::default(), peers: vec![peer] }, "Endpoint");
}

#[test]
fn debug_redacts_secrets() {
    let k = Keys::new();
    let mut peer = PeerSection::new(k.peer1);
    peer.preshared_key = Some(k.psk.clone());
    let config = WgConfig {
        interface: InterfaceSection { private_key: Some(k.private.clone()), ..InterfaceSection::default() },
        peers: vec![peer],
    };
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains(&k.private.to_base64()));
    assert!(!shown.contains(&k.psk.to_base64()));
    assert!(shown.contains(&k.peer1.to_base64()));
}

// ---- property tests ----

fn arb_ipnet() -> impl Strategy<Value = IpNet> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(ip, len)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(ip), len).unwrap())),
        (any::<u128>(), 0u8..=128).prop_map(|(ip, len)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(ip), len).unwrap())),
        Just(net("0.0.0.0/0")),
        Just(net("::/0")),
    ]
}

fn arb_endpoint() -> impl Strategy<Value = Endpoint> {
    let host = prop_oneof![
        any::<u32>().prop_map(|ip| Host::Ip(IpAddr::V4(Ipv4Addr::from(ip)))),
        any::<u128>().prop_map(|ip| Host::Ip(IpAddr::V6(Ipv6Addr::from(ip)))),
        "[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,5})?(\\.[a-z0-9_]{1,8}){0,3}".prop_map(Host::Dns),
    ];
    (host, 1u16..=65535).prop_map(|(host, port)| Endpoint { host, port })
}

/// Safe free text: no control characters, `[` or `#`, no leading or trailing spaces, not empty.
fn arb_text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_./%;:=$\"'|&<>(){}!?@*+,~é-]([A-Za-z0-9 _./%;:=$\"'|&<>(){}!?@*+,~é\\]-]{0,30}[A-Za-z0-9_./%;:=$\"'|&<>(){}!?@*+,~é\\]-])?"
}

fn arb_dns() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|ip| Ipv4Addr::from(ip).to_string()),
        any::<u128>().prop_map(|ip| Ipv6Addr::from(ip).to_string()),
        "[a-z][a-z0-9.-]{0,20}",
    ]
}

fn arb_interface() -> impl Strategy<Value = InterfaceSection> {
    (
        (
            proptest::option::of(any::<[u8; 32]>().prop_map(PrivateKey::from_bytes)),
            proptest::option::of(any::<u16>()),
            proptest::option::of(1u32..),
            proptest::collection::vec(arb_ipnet(), 0..4),
            proptest::collection::vec(arb_dns(), 0..4),
            proptest::option::of(any::<u32>()),
        ),
        (
            proptest::option::of(prop_oneof![Just("off".to_string()), Just("auto".to_string()), "[a-z0-9_]{1,10}"]),
            proptest::collection::vec(prop_oneof![arb_text(), Just(String::new())], 0..3),
            proptest::collection::vec(arb_text(), 0..3),
            proptest::collection::vec(arb_text(), 0..3),
            proptest::collection::vec(arb_text(), 0..3),
            proptest::option::of(any::<bool>()),
        ),
    )
        .prop_map(
            |(
                (private_key, listen_port, fwmark, addresses, dns, mtu),
                (table, pre_up, post_up, pre_down, post_down, save_config),
            )| {
                InterfaceSection {
                    private_key,
                    listen_port,
                    fwmark,
                    addresses,
                    dns,
                    mtu,
                    table,
                    pre_up,
                    post_up,
                    pre_down,
                    post_down,
                    save_config,
                }
            },
        )
}

fn arb_peer() -> impl Strategy<Value = PeerSection> {
    (
        proptest::option::of(arb_text()),
        any::<[u8; 32]>().prop_map(PublicKey::from_bytes),
        proptest::option::of(any::<[u8; 32]>().prop_map(PresharedKey::from_bytes)),
        proptest::collection::vec(arb_ipnet(), 0..5),
        proptest::option::of(arb_endpoint()),
        proptest::option::of(1u16..),
    )
        .prop_map(|(name, public_key, preshared_key, allowed_ips, endpoint, persistent_keepalive)| PeerSection {
            name,
            public_key,
            preshared_key,
            allowed_ips,
            endpoint,
            persistent_keepalive,
        })
}

fn arb_config() -> impl Strategy<Value = WgConfig> {
    (arb_interface(), proptest::collection::vec(arb_peer(), 0..4))
        .prop_map(|(interface, peers)| WgConfig { interface, peers })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wg_quick_round_trip(config in arb_config()) {
        let text = render_wg_quick(&config).unwrap();
        prop_assert!(text.ends_with('\n') && !text.contains('\r'));
        prop_assert_eq!(parse_wg_quick(&text, "prop").unwrap(), config.clone());
        // Rendering is canonical: the text of the parsed model is the same text.
        prop_assert_eq!(render_wg_quick(&parse_wg_quick(&text, "prop").unwrap()).unwrap(), text.clone());
        // And CRLF line endings read the same.
        prop_assert_eq!(parse_wg_quick(&text.replace('\n', "\r\n"), "prop").unwrap(), config);
    }

    #[test]
    fn setconf_round_trip(config in arb_config()) {
        let text = render_setconf(&config).unwrap();
        let stripped = config.stripped();
        prop_assert_eq!(parse_setconf(&text, "prop").unwrap(), stripped.clone());
        prop_assert_eq!(render_setconf(&stripped).unwrap(), text.clone());
        prop_assert_eq!(parse_wg_quick(&text, "prop").unwrap(), stripped);
    }

    #[test]
    fn parser_never_panics(text in "(\\[?[A-Za-z ]{0,12}\\]?|[A-Za-z]{1,12} ?= ?[ -~]{0,40}|#[ -~]{0,10}|\r|\u{feff})(\n(\\[?[A-Za-z ]{0,12}\\]?|[A-Za-z]{1,12} ?= ?[ -~]{0,40}|#[ -~]{0,10}|\r)){0,12}") {
        let _ = parse_wg_quick(&text, "prop");
        let _ = parse_setconf(&text, "prop");
    }
}
