//! WireGuard configuration texts: `parseWgQuick`, `parseSetconf`, `renderWgQuick`, `renderSetconf`
//! and the `WgConfig` plain object they read and write.
//!
//! In a `WgConfig`, secrets are `PrivateKey`/`PresharedKey` objects (which never print themselves) and
//! everything else is plain data: public keys as base64, addresses and prefixes as `addr/len`,
//! endpoints as `host:port`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::{CoreResult, IntoJs};
use crate::keys::{PresharedKey, PrivateKey};

/// The `[Interface]` section.
#[napi(object)]
#[derive(Default)]
pub struct WgInterface<'a> {
    /// `PrivateKey`.
    pub private_key: Option<ClassInstance<'a, PrivateKey>>,
    /// `ListenPort`.
    pub listen_port: Option<u16>,
    /// `FwMark` (a number; `off`/0 in a file is absent here).
    pub fwmark: Option<u32>,
    /// `Address` (wg-quick): `addr/len`.
    pub addresses: Option<Vec<String>>,
    /// `DNS` (wg-quick): servers and search domains.
    pub dns: Option<Vec<String>>,
    /// `MTU` (wg-quick).
    pub mtu: Option<u32>,
    /// `Table` (wg-quick).
    pub table: Option<String>,
    /// `PreUp` (wg-quick).
    pub pre_up: Option<Vec<String>>,
    /// `PostUp` (wg-quick).
    pub post_up: Option<Vec<String>>,
    /// `PreDown` (wg-quick).
    pub pre_down: Option<Vec<String>>,
    /// `PostDown` (wg-quick).
    pub post_down: Option<Vec<String>>,
    /// `SaveConfig` (wg-quick).
    pub save_config: Option<bool>,
}

/// One `[Peer]` section.
#[napi(object)]
pub struct WgPeer<'a> {
    /// A name, written as a `# name` comment above `[Peer]` and read back from there.
    pub name: Option<String>,
    /// `PublicKey` (base64; required).
    pub public_key: String,
    /// `PresharedKey`.
    pub preshared_key: Option<ClassInstance<'a, PresharedKey>>,
    /// `AllowedIPs`: `addr/len`.
    pub allowed_ips: Option<Vec<String>>,
    /// `Endpoint`: `host:port`.
    pub endpoint: Option<String>,
    /// `PersistentKeepalive` (seconds; `off`/0 in a file is absent here).
    pub persistent_keepalive: Option<u16>,
}

/// One interface's configuration: the `[Interface]` section and every `[Peer]`, in file order.
#[napi(object)]
pub struct WgConfig<'a> {
    /// The `[Interface]` section.
    pub interface: Option<WgInterface<'a>>,
    /// The `[Peer]` sections.
    pub peers: Option<Vec<WgPeer<'a>>>,
}

/// The plain object of a core configuration.
pub(crate) fn config_object<'env>(env: &'env Env, config: &wiremesh::WgConfig) -> Result<WgConfig<'env>> {
    let strings = |items: &[ipnet::IpNet]| Some(items.iter().map(ToString::to_string).collect::<Vec<_>>());
    let i = &config.interface;
    let interface = WgInterface {
        private_key: i.private_key.as_ref().map(|k| PrivateKey { inner: k.clone() }.into_instance(env)).transpose()?,
        listen_port: i.listen_port,
        fwmark: i.fwmark,
        addresses: strings(&i.addresses),
        dns: Some(i.dns.clone()),
        mtu: i.mtu,
        table: i.table.clone(),
        pre_up: Some(i.pre_up.clone()),
        post_up: Some(i.post_up.clone()),
        pre_down: Some(i.pre_down.clone()),
        post_down: Some(i.post_down.clone()),
        save_config: i.save_config,
    };
    let peers = config
        .peers
        .iter()
        .map(|p| {
            Ok(WgPeer {
                name: p.name.clone(),
                public_key: p.public_key.to_base64(),
                preshared_key: p
                    .preshared_key
                    .as_ref()
                    .map(|k| PresharedKey { inner: k.clone() }.into_instance(env))
                    .transpose()?,
                allowed_ips: strings(&p.allowed_ips),
                endpoint: p.endpoint.as_ref().map(ToString::to_string),
                persistent_keepalive: p.persistent_keepalive,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(WgConfig { interface: Some(interface), peers: Some(peers) })
}

/// `config_invalid_value` at `source` / `[section]` / `key` of an object given from JavaScript.
fn invalid(source: &str, section: &str, key: &str, reason: String) -> wiremesh::Error {
    wiremesh::ConfigError::InvalidValue {
        at: wiremesh::TextLocation {
            source_name: source.to_string(),
            line: 0,
            section: Some(section.to_string()),
            key: Some(key.to_string()),
        },
        reason,
    }
    .into()
}

fn nets(items: &Option<Vec<String>>, source: &str, section: &str, key: &str) -> CoreResult<Vec<ipnet::IpNet>> {
    items
        .iter()
        .flatten()
        .map(|text| {
            let text = text.trim();
            text.parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| invalid(source, section, key, format!("{text:?} is not an address or prefix")))
        })
        .collect()
}

/// The core configuration of a plain object (bad values: `config_invalid_value` naming where).
fn core_config(config: &WgConfig<'_>) -> CoreResult<wiremesh::WgConfig> {
    let empty = WgInterface::default();
    let i = config.interface.as_ref().unwrap_or(&empty);
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let interface = wiremesh::InterfaceSection {
        private_key: i.private_key.as_ref().map(|k| k.inner.clone()),
        listen_port: i.listen_port,
        fwmark: i.fwmark,
        addresses: nets(&i.addresses, "interface", "Interface", "Address")?,
        dns: list(&i.dns),
        mtu: i.mtu,
        table: i.table.clone(),
        pre_up: list(&i.pre_up),
        post_up: list(&i.post_up),
        pre_down: list(&i.pre_down),
        post_down: list(&i.post_down),
        save_config: i.save_config,
    };
    let mut peers = Vec::new();
    for (index, p) in config.peers.iter().flatten().enumerate() {
        let source = format!("peers[{index}]");
        let public_key = wiremesh::PublicKey::from_base64(&p.public_key)
            .map_err(|e| invalid(&source, "Peer", "PublicKey", e.to_string()))?;
        let endpoint = p
            .endpoint
            .as_deref()
            .map(|text| wiremesh::Endpoint::parse(text, "Endpoint"))
            .transpose()
            .map_err(|e| invalid(&source, "Peer", "Endpoint", e.to_string()))?;
        peers.push(wiremesh::PeerSection {
            name: p.name.clone(),
            public_key,
            preshared_key: p.preshared_key.as_ref().map(|k| k.inner.clone()),
            allowed_ips: nets(&p.allowed_ips, &source, "Peer", "AllowedIPs")?,
            endpoint,
            persistent_keepalive: p.persistent_keepalive,
        });
    }
    Ok(wiremesh::WgConfig { interface, peers })
}

/// Parses a wg-quick file (what `wg-quick up` accepts). `sourceName` labels error locations (default
/// `<string>`). Throws `config_syntax`, `config_unknown_section`, `config_unknown_key`,
/// `config_invalid_value` or `config_missing_key`, with `location: {source, line, section, key}`.
#[napi]
pub fn parse_wg_quick<'env>(env: &'env Env, text: String, source_name: Option<String>) -> Result<WgConfig<'env>> {
    let config = wiremesh::parse_wg_quick(&text, source_name.as_deref().unwrap_or("<string>")).js(env)?;
    config_object(env, &config)
}

/// Parses the `wg setconf` / `wg syncconf` dialect: like `parseWgQuick`, but wg-quick-only keys
/// (`Address`, `DNS`, `MTU`, `Table`, hooks, `SaveConfig`) throw `config_unknown_key`.
#[napi]
pub fn parse_setconf<'env>(env: &'env Env, text: String, source_name: Option<String>) -> Result<WgConfig<'env>> {
    let config = wiremesh::parse_setconf(&text, source_name.as_deref().unwrap_or("<string>")).js(env)?;
    config_object(env, &config)
}

/// Renders a configuration as a canonical wg-quick file. Throws `config_unsafe_value` for a value that
/// would inject a line or section, `config_invalid_value` for one that would not read back the same.
#[napi]
pub fn render_wg_quick(env: Env, config: WgConfig<'_>) -> Result<String> {
    core_config(&config).and_then(|c| Ok(wiremesh::render_wg_quick(&c)?)).js(&env)
}

/// Renders a configuration in the `wg setconf` dialect (the wg-quick-only settings are dropped).
#[napi]
pub fn render_setconf(env: Env, config: WgConfig<'_>) -> Result<String> {
    core_config(&config).and_then(|c| Ok(wiremesh::render_setconf(&c)?)).js(&env)
}
