//! [`WgConfig`] as plain JSON values, for programs and the language bindings (the bindings' dicts).
//!
//! The shape is the one of the configuration vectors (`tests/vectors/configs/README.md`): every field
//! present, `null` or `[]` when absent, keys in wg's base64, addresses and prefixes as `addr/len`,
//! endpoints as `host:port`, `fwmark` as a decimal number:
//!
//! ```json
//! {"interface": {"private_key": "…" | null, "listen_port": 51820 | null, "fwmark": null,
//!                "addresses": ["10.0.0.1/24"], "dns": [], "mtu": null, "table": null,
//!                "pre_up": [], "post_up": [], "pre_down": [], "post_down": [], "save_config": null},
//!  "peers": [{"name": "node-1" | null, "public_key": "…", "preshared_key": "…" | null,
//!             "allowed_ips": ["10.0.0.2/32"], "endpoint": "host:port" | null,
//!             "persistent_keepalive": 25 | null}]}
//! ```
//!
//! Secrets are only written when asked for ([`WgConfig::to_json_value`] with `include_secrets`);
//! errors never contain a key's value.

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use super::parse::{excerpt, parse_prefix};
use super::{InterfaceSection, PeerSection, Section, Setting, WgConfig};
use crate::error::{ConfigError, TextLocation};
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::mesh::endpoint::Endpoint;

fn strings<T: ToString>(items: &[T]) -> Value {
    Value::from(items.iter().map(ToString::to_string).collect::<Vec<_>>())
}

impl WgConfig {
    /// The configuration as a JSON value in the vectors' shape (see the module docs). With
    /// `include_secrets` false, `private_key` and every `preshared_key` are `null`, so the value can be
    /// logged or shown; with it true they hold wg's base64 form, and the value is as secret as the
    /// configuration itself.
    pub fn to_json_value(&self, include_secrets: bool) -> Value {
        let iface = &self.interface;
        json!({
            "interface": {
                "private_key": iface.private_key.as_ref().filter(|_| include_secrets).map(PrivateKey::to_base64),
                "listen_port": iface.listen_port,
                "fwmark": iface.fwmark,
                "addresses": strings(&iface.addresses),
                "dns": iface.dns,
                "mtu": iface.mtu,
                "table": iface.table,
                "pre_up": iface.pre_up,
                "post_up": iface.post_up,
                "pre_down": iface.pre_down,
                "post_down": iface.post_down,
                "save_config": iface.save_config,
            },
            "peers": self.peers.iter().map(|peer| json!({
                "name": peer.name,
                "public_key": peer.public_key.to_base64(),
                "preshared_key": peer.preshared_key.as_ref().filter(|_| include_secrets).map(PresharedKey::to_base64),
                "allowed_ips": strings(&peer.allowed_ips),
                "endpoint": peer.endpoint.as_ref().map(ToString::to_string),
                "persistent_keepalive": peer.persistent_keepalive,
            })).collect::<Vec<_>>(),
        })
    }

    /// Builds a configuration from a JSON value in the vectors' shape. Every field may be left out
    /// (absent lists are empty, absent scalars `None`) except each peer's `public_key`; unknown fields are
    /// refused, so a misspelt field is not silently dropped. Values are checked as the wg-quick parser
    /// checks them (a bare address becomes `/32` or `/128`); free-text values are checked by the
    /// renderers, as for a model built by hand.
    ///
    /// Errors are [`ConfigError`]s located like render errors: source `interface` or `peers[i]`, the
    /// section, and the canonical key name (`AllowedIPs`…): [`ConfigError::Syntax`] for a value of the
    /// wrong JSON type, [`ConfigError::UnknownKey`] for an unknown field, [`ConfigError::MissingKey`] for
    /// a peer without `public_key` and [`ConfigError::InvalidValue`] for a value that does not parse.
    pub fn from_json_value(value: &Value) -> Result<WgConfig, ConfigError> {
        let top = Place { source: "config".into(), section: None };
        let object = top.object(value, None)?;
        top.only(object, &["interface", "peers"])?;
        let mut config = WgConfig::default();
        if let Some(iface) = object.get("interface").filter(|v| !v.is_null()) {
            config.interface = interface_from_json(iface)?;
        }
        if let Some(peers) = object.get("peers").filter(|v| !v.is_null()) {
            let Value::Array(peers) = peers else {
                return Err(top.syntax(None, "peers must be a list"));
            };
            for (index, peer) in peers.iter().enumerate() {
                config.peers.push(peer_from_json(peer, index)?);
            }
        }
        Ok(config)
    }
}

/// Where in a JSON configuration a value sits, for error locations.
struct Place {
    source: String,
    section: Option<Section>,
}

impl Place {
    fn at(&self, key: Option<&str>) -> TextLocation {
        TextLocation {
            source_name: self.source.clone(),
            line: 0,
            section: self.section.map(|s| s.name().to_string()),
            key: key.map(str::to_string),
        }
    }

    fn syntax(&self, key: Option<Setting>, reason: &str) -> ConfigError {
        ConfigError::Syntax { at: self.at(key.map(Setting::name)), reason: reason.to_string() }
    }

    fn invalid(&self, key: Setting, reason: String) -> ConfigError {
        ConfigError::InvalidValue { at: self.at(Some(key.name())), reason }
    }

    fn object<'v>(&self, value: &'v Value, key: Option<Setting>) -> Result<&'v Map<String, Value>, ConfigError> {
        value.as_object().ok_or_else(|| self.syntax(key, "expected an object"))
    }

    /// Refuses fields outside `known`.
    fn only(&self, object: &Map<String, Value>, known: &[&str]) -> Result<(), ConfigError> {
        match object.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => {
                let shown = excerpt(unknown);
                Err(ConfigError::UnknownKey { at: self.at(Some(&shown)) })
            }
            None => Ok(()),
        }
    }

    /// The field `field` (absent and `null` are `None`).
    fn get<'v>(&self, object: &'v Map<String, Value>, field: &str) -> Option<&'v Value> {
        object.get(field).filter(|v| !v.is_null())
    }

    fn string(&self, object: &Map<String, Value>, field: &str, key: Setting) -> Result<Option<String>, ConfigError> {
        match self.get(object, field) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(self.syntax(Some(key), &format!("{field} must be a string"))),
        }
    }

    fn strings(&self, object: &Map<String, Value>, field: &str, key: Setting) -> Result<Vec<String>, ConfigError> {
        match self.get(object, field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.syntax(Some(key), &format!("{field} must be a list of strings")))
                })
                .collect(),
            Some(_) => Err(self.syntax(Some(key), &format!("{field} must be a list of strings"))),
        }
    }

    fn number<T: TryFrom<u64>>(
        &self,
        object: &Map<String, Value>,
        field: &str,
        key: Setting,
    ) -> Result<Option<T>, ConfigError> {
        match self.get(object, field) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                let value =
                    n.as_u64().ok_or_else(|| self.invalid(key, format!("{n} is not a non-negative integer")))?;
                T::try_from(value).map(Some).map_err(|_| self.invalid(key, format!("{value} is out of range")))
            }
            Some(_) => Err(self.syntax(Some(key), &format!("{field} must be a number"))),
        }
    }

    fn prefixes(&self, object: &Map<String, Value>, field: &str, key: Setting) -> Result<Vec<IpNet>, ConfigError> {
        self.strings(object, field, key)?
            .iter()
            .map(|entry| parse_prefix(entry).map_err(|reason| self.invalid(key, reason)))
            .collect()
    }
}

fn interface_from_json(value: &Value) -> Result<InterfaceSection, ConfigError> {
    let place = Place { source: "interface".into(), section: Some(Section::Interface) };
    let object = place.object(value, None)?;
    place.only(
        object,
        &[
            "private_key",
            "listen_port",
            "fwmark",
            "addresses",
            "dns",
            "mtu",
            "table",
            "pre_up",
            "post_up",
            "pre_down",
            "post_down",
            "save_config",
        ],
    )?;
    let private_key = place
        .string(object, "private_key", Setting::PrivateKey)?
        .map(|text| PrivateKey::from_base64(&text).map_err(|err| place.invalid(Setting::PrivateKey, err.to_string())))
        .transpose()?;
    let save_config = match place.get(object, "save_config") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(place.syntax(Some(Setting::SaveConfig), "save_config must be true, false or null")),
    };
    Ok(InterfaceSection {
        private_key,
        listen_port: place.number(object, "listen_port", Setting::ListenPort)?,
        fwmark: place.number(object, "fwmark", Setting::FwMark)?,
        addresses: place.prefixes(object, "addresses", Setting::Address)?,
        dns: place.strings(object, "dns", Setting::Dns)?,
        mtu: place.number(object, "mtu", Setting::Mtu)?,
        table: place.string(object, "table", Setting::Table)?,
        pre_up: place.strings(object, "pre_up", Setting::PreUp)?,
        post_up: place.strings(object, "post_up", Setting::PostUp)?,
        pre_down: place.strings(object, "pre_down", Setting::PreDown)?,
        post_down: place.strings(object, "post_down", Setting::PostDown)?,
        save_config,
    })
}

fn peer_from_json(value: &Value, index: usize) -> Result<PeerSection, ConfigError> {
    let place = Place { source: format!("peers[{index}]"), section: Some(Section::Peer) };
    let object = place.object(value, None)?;
    place.only(object, &["name", "public_key", "preshared_key", "allowed_ips", "endpoint", "persistent_keepalive"])?;
    let public_key = place
        .string(object, "public_key", Setting::PublicKey)?
        .ok_or(ConfigError::MissingKey { at: place.at(None), key: "PublicKey" })?;
    let public_key =
        PublicKey::from_base64(&public_key).map_err(|err| place.invalid(Setting::PublicKey, err.to_string()))?;
    let preshared_key = place
        .string(object, "preshared_key", Setting::PresharedKey)?
        .map(|text| {
            PresharedKey::from_base64(&text).map_err(|err| place.invalid(Setting::PresharedKey, err.to_string()))
        })
        .transpose()?;
    let endpoint = place
        .string(object, "endpoint", Setting::Endpoint)?
        .map(|text| {
            Endpoint::parse(&text, "endpoint")
                .map_err(|_| place.invalid(Setting::Endpoint, format!("invalid endpoint {:?}", excerpt(&text))))
        })
        .transpose()?;
    let name = match place.get(object, "name") {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err(place.syntax(None, "name must be a string or null")),
    };
    Ok(PeerSection {
        name,
        public_key,
        preshared_key,
        allowed_ips: place.prefixes(object, "allowed_ips", Setting::AllowedIps)?,
        endpoint,
        persistent_keepalive: place.number(object, "persistent_keepalive", Setting::PersistentKeepalive)?,
    })
}
