//! Moving existing deployments over: build a [`Mesh`] from wg-quick files (one per node) or from a
//! wg-meshconf `database.csv`.
//!
//! From wg-quick files: each file is a node named after the file; its `[Interface]` gives the node's
//! private key, addresses (whose networks become the mesh networks), port, MTU, DNS, table, fwmark and
//! hooks. What other files say about a node fills in the rest: the `Endpoint` they dial it at, the
//! prefixes they route to it that lie outside the mesh networks (its subnets), and whether they route a
//! third node's address to it (then it is a relay). Peers whose key matches no file become nodes with
//! only a public key and the addresses others route to them. When every non-relay only peers with
//! relays the topology is hub-and-spoke, otherwise full-mesh.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{parse_wg_quick, WgConfig};
use crate::error::{ConfigError, MeshError, TextLocation};
use crate::keys::{PrivateKey, PublicKey};
use crate::mesh::endpoint::Endpoint;
use crate::mesh::model::{Mesh, MeshSettings, Node, Topology};
use crate::mesh::name::Name;

/// Builds a mesh from wg-quick files: `(node name, file text, source name for errors)` per node.
pub fn import_wg_quick(mesh_name: Name, files: &[(Name, String, String)]) -> Result<Mesh, crate::Error> {
    let mut configs: Vec<(Name, WgConfig)> = Vec::with_capacity(files.len());
    for (name, text, source) in files {
        configs.push((name.clone(), parse_wg_quick(text, source)?));
    }
    let mut networks: Vec<IpNet> = Vec::new();
    for (_, config) in &configs {
        for address in &config.interface.addresses {
            let net = address.trunc();
            // A /32 (or /128) interface address says nothing about the network; skip it here.
            if net.prefix_len() < net.max_prefix_len() && !networks.iter().any(|n| n.contains(&net) || net.contains(n))
            {
                networks.push(net);
            }
        }
    }
    let mut nodes: Vec<Node> = Vec::new();
    let mut key_to_node: BTreeMap<PublicKey, usize> = BTreeMap::new();
    for (name, config) in &configs {
        let mut node = Node::new(name.clone());
        let interface = &config.interface;
        match &interface.private_key {
            Some(key) => {
                node.public_key = Some(key.public_key());
                node.private_key = Some(key.clone());
            }
            None => {
                return Err(ConfigError::MissingKey {
                    at: TextLocation {
                        source_name: name.to_string(),
                        line: 0,
                        section: Some("Interface".into()),
                        key: None,
                    },
                    key: "PrivateKey",
                }
                .into())
            }
        }
        node.addresses = interface.addresses.iter().map(IpNet::addr).collect();
        node.listen_port = interface.listen_port;
        node.mtu = interface.mtu;
        node.dns = interface.dns.clone();
        node.table = interface.table.clone();
        node.fwmark = interface.fwmark;
        node.pre_up = interface.pre_up.clone();
        node.post_up = interface.post_up.clone();
        node.pre_down = interface.pre_down.clone();
        node.post_down = interface.post_down.clone();
        let key = node.public_key.expect("set above");
        if key_to_node.insert(key, nodes.len()).is_some() {
            return Err(MeshError::DuplicateKey { first: "another file".into(), second: name.to_string() }.into());
        }
        nodes.push(node);
    }
    // Peers that match no file: nodes known only by their public key.
    for (_, config) in &configs {
        for peer in &config.peers {
            if key_to_node.contains_key(&peer.public_key) {
                continue;
            }
            let base =
                peer.name.as_deref().and_then(sanitize_name).unwrap_or_else(|| format!("peer-{}", nodes.len() + 1));
            let mut unique = base.clone();
            let mut counter = 2;
            while nodes.iter().any(|n| n.name == unique.as_str()) {
                unique = format!("{base}-{counter}");
                counter += 1;
            }
            let mut node = Node::new(Name::new(&unique, "peer name")?);
            node.public_key = Some(peer.public_key);
            key_to_node.insert(peer.public_key, nodes.len());
            nodes.push(node);
        }
    }
    // What the files say about their peers: endpoints, host addresses, subnets, relaying.
    let owner_of = |nodes: &[Node], addr: IpAddr| nodes.iter().position(|n| n.addresses.contains(&addr));
    let mut peer_sets: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, (_, config)) in configs.iter().enumerate() {
        for peer in &config.peers {
            let target = key_to_node[&peer.public_key];
            peer_sets[i].push(target);
            if nodes[target].endpoint.is_none() {
                nodes[target].endpoint = peer.endpoint.clone();
            }
            for prefix in &peer.allowed_ips {
                let prefix = prefix.trunc();
                let in_mesh = networks.iter().any(|n| n.contains(&prefix));
                let is_host = prefix.prefix_len() == prefix.max_prefix_len();
                if in_mesh && is_host {
                    let addr = prefix.addr();
                    match owner_of(&nodes, addr) {
                        Some(owner) if owner != target => nodes[target].relay = true,
                        Some(_) => {}
                        None => nodes[target].addresses.push(addr),
                    }
                } else if in_mesh {
                    // A covering prefix inside the mesh: the peer carries traffic for others.
                    if nodes
                        .iter()
                        .enumerate()
                        .any(|(o, n)| o != target && o != i && n.addresses.iter().any(|a| prefix.contains(a)))
                    {
                        nodes[target].relay = true;
                    }
                } else if prefix.prefix_len() > 0 && !nodes[target].subnets.contains(&prefix) {
                    nodes[target].subnets.push(prefix);
                }
            }
        }
    }
    let hooks = nodes
        .iter()
        .any(|n| !(n.pre_up.is_empty() && n.post_up.is_empty() && n.pre_down.is_empty() && n.post_down.is_empty()));
    let spokes_only_to_relays = configs
        .iter()
        .enumerate()
        .filter(|(i, _)| !nodes[*i].relay)
        .all(|(i, _)| peer_sets[i].iter().all(|&p| nodes[p].relay));
    let any_relay = nodes.iter().any(|n| n.relay);
    if networks.is_empty() {
        return Err(MeshError::InvalidValue {
            field: "Address".into(),
            reason: "no interface address with a network prefix (e.g. 10.88.0.1/24) in any file".into(),
        }
        .into());
    }
    let mut settings = MeshSettings::new(mesh_name, networks);
    settings.topology = if any_relay && spokes_only_to_relays { Topology::HubAndSpoke } else { Topology::FullMesh };
    settings.hooks = hooks;
    // Hooks are carried over as they were, so relays keep whatever forwarding setup they had.
    settings.relay_forwarding = !hooks;
    let mut mesh = Mesh::new(settings);
    mesh.nodes = nodes;
    mesh.validate()?;
    Ok(mesh)
}

fn sanitize_name(text: &str) -> Option<String> {
    let text = text.trim().trim_start_matches("Name:").trim_start_matches("Name =").trim();
    let cleaned: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' }).collect();
    let cleaned = cleaned.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    (!cleaned.is_empty() && cleaned.len() <= crate::mesh::name::MAX_NAME_LEN).then_some(cleaned)
}

/// Builds a mesh from a wg-meshconf `database.csv` (columns `Name, Address, Endpoint, AllowedIPs,
/// ListenPort, PersistentKeepalive, FwMark, PrivateKey, DNS, MTU, Table, PreUp, PostUp, PreDown,
/// PostDown, SaveConfig`). wg-meshconf builds a full mesh; its extra AllowedIPs become subnets.
pub fn import_meshconf_csv(text: &str, mesh_name: Name, source_name: &str) -> Result<Mesh, crate::Error> {
    let at = |line: usize, key: Option<&str>| TextLocation {
        source_name: source_name.to_string(),
        line,
        section: None,
        key: key.map(str::to_string),
    };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| ConfigError::Syntax { at: at(1, None), reason: e.to_string() })?.clone();
    let column = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let name_col = column("Name").ok_or_else(|| ConfigError::MissingKey { at: at(1, None), key: "Name" })?;
    let key_col = column("PrivateKey").ok_or_else(|| ConfigError::MissingKey { at: at(1, None), key: "PrivateKey" })?;
    let address_col = column("Address").ok_or_else(|| ConfigError::MissingKey { at: at(1, None), key: "Address" })?;
    let mut networks: Vec<IpNet> = Vec::new();
    let mut nodes = Vec::new();
    let mut any_hooks = false;
    for (row_index, record) in reader.records().enumerate() {
        let line = row_index + 2;
        let record = record.map_err(|e| ConfigError::Syntax { at: at(line, None), reason: e.to_string() })?;
        let field = |col: Option<usize>| col.and_then(|c| record.get(c)).map(str::trim).filter(|v| !v.is_empty());
        let invalid = |key: &str, reason: String| ConfigError::InvalidValue { at: at(line, Some(key)), reason };
        let name = Name::new(field(Some(name_col)).unwrap_or(""), &format!("{source_name}:{line} Name"))?;
        let mut node = Node::new(name);
        let key_text = field(Some(key_col))
            .ok_or_else(|| ConfigError::MissingKey { at: at(line, Some("PrivateKey")), key: "PrivateKey" })?;
        let key = PrivateKey::from_base64(key_text).map_err(|e| invalid("PrivateKey", e.to_string()))?;
        node.public_key = Some(key.public_key());
        node.private_key = Some(key);
        for part in field(Some(address_col)).unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net: IpNet = part
                .parse()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| invalid("Address", format!("{part:?} is not an address")))?;
            let network = net.trunc();
            if network.prefix_len() < network.max_prefix_len()
                && !networks.iter().any(|n| n.contains(&network) || network.contains(n))
            {
                networks.push(network);
            }
            node.addresses.push(net.addr());
        }
        let port = field(column("ListenPort"))
            .map(|p| p.parse::<u16>().map_err(|_| invalid("ListenPort", format!("{p:?} is not a port"))))
            .transpose()?;
        node.listen_port = port;
        if let Some(endpoint) = field(column("Endpoint")) {
            let with_port = if endpoint.contains(':') && !endpoint.starts_with('[') && endpoint.matches(':').count() > 1
            {
                format!("[{endpoint}]:{}", port.unwrap_or(51820))
            } else if endpoint.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                && !endpoint.ends_with(']')
            {
                endpoint.to_string()
            } else {
                format!("{endpoint}:{}", port.unwrap_or(51820))
            };
            node.endpoint = Some(Endpoint::parse(&with_port, &format!("{source_name}:{line} Endpoint"))?);
        }
        for part in field(column("AllowedIPs")).unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net: IpNet = part.parse().map_err(|_| invalid("AllowedIPs", format!("{part:?} is not a CIDR")))?;
            node.subnets.push(net.trunc());
        }
        node.persistent_keepalive = field(column("PersistentKeepalive"))
            .map(|p| p.parse::<u16>().map_err(|_| invalid("PersistentKeepalive", format!("{p:?} is not a number"))))
            .transpose()?;
        node.mtu = field(column("MTU"))
            .map(|p| p.parse::<u32>().map_err(|_| invalid("MTU", format!("{p:?} is not a number"))))
            .transpose()?;
        node.dns = field(column("DNS"))
            .map(|d| d.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        node.table = field(column("Table")).map(str::to_string);
        if let Some(mark) = field(column("FwMark")) {
            let parsed = match mark.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => mark.parse(),
            };
            node.fwmark =
                Some(parsed.map_err(|_| invalid("FwMark", format!("{mark:?} is not a number")))?).filter(|m| *m != 0);
        }
        for (key, hooks) in [
            ("PreUp", &mut node.pre_up),
            ("PostUp", &mut node.post_up),
            ("PreDown", &mut node.pre_down),
            ("PostDown", &mut node.post_down),
        ] {
            if let Some(hook) = field(column(key)) {
                hooks.push(hook.to_string());
                any_hooks = true;
            }
        }
        nodes.push(node);
    }
    // wg-meshconf writes each node's own address with a network prefix; nodes given a bare /32 need
    // a network from the others.
    if networks.is_empty() {
        return Err(MeshError::InvalidValue {
            field: format!("{source_name} Address"),
            reason: "no address with a network prefix (e.g. 10.88.0.1/24)".into(),
        }
        .into());
    }
    let mut settings = MeshSettings::new(mesh_name, networks);
    settings.topology = Topology::FullMesh;
    settings.hooks = any_hooks;
    let mut mesh = Mesh::new(settings);
    mesh.nodes = nodes;
    mesh.validate()?;
    Ok(mesh)
}
