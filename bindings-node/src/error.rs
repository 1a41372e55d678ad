//! The one place where a core [`wiremesh::Error`] becomes a JavaScript `Error`.
//!
//! Every error thrown (or rejected) by this package is an `Error` whose `code` is the core's stable code
//! ([`wiremesh::Error::code`], listed in `ERROR_CODES`) and whose `family` is the core's family
//! (`key`, `ipam`, `mesh`, `config`, `plan`, `verify`, `io`), plus the structured details of the variant:
//! `kind`/`path` (key), `network`/`address` (ipam), `field`/`node`/… (mesh), `location` (config),
//! `pairs` (plan), `problems` (verify), `op`/`path` (io). Messages are the core's, which never contain a
//! secret.

use napi::bindgen_prelude::*;
use serde_json::{json, Map, Value};
use wiremesh::{ConfigError, Error as CoreError, IoError, IpamError, KeyError, MeshError, PlanError, TextLocation};

/// Result of a binding function: a core error not yet turned into a JavaScript value.
pub type CoreResult<T> = std::result::Result<T, CoreError>;

fn location(at: &TextLocation) -> Value {
    json!({ "source": at.source_name, "line": at.line, "section": at.section, "key": at.key })
}

/// The structured details of `err`, by family and variant (exhaustive over the families; the core's
/// enums are `#[non_exhaustive]`, so a variant added later still gets its code and family).
fn details(err: &CoreError) -> Map<String, Value> {
    let value = match err {
        CoreError::Key(e) => match e {
            KeyError::InvalidBase64 { kind } | KeyError::InvalidHex { kind } | KeyError::NonCanonical { kind } => {
                json!({ "kind": kind.as_str() })
            }
            KeyError::InFile { path, source } => json!({ "path": path.display().to_string(), "cause": source.code() }),
            _ => json!({}),
        },
        CoreError::Ipam(e) => match e {
            IpamError::Exhausted { network } => json!({ "network": network.to_string() }),
            IpamError::OutsideNetwork { address, network }
            | IpamError::Reserved { address, network }
            | IpamError::Taken { address, network }
            | IpamError::NotAllocated { address, network }
            | IpamError::FamilyMismatch { address, network } => {
                json!({ "address": address.to_string(), "network": network.to_string() })
            }
            IpamError::InvalidNetwork { network, reason } => json!({ "network": network.to_string(), "reason": reason }),
            IpamError::InvalidReservation { text, reason } => json!({ "text": text, "reason": reason }),
            _ => json!({}),
        },
        CoreError::Mesh(e) => match e {
            MeshError::Syntax { source_name, .. } => json!({ "field": source_name }),
            MeshError::InvalidName { field, value, .. } => json!({ "field": field, "value": value }),
            MeshError::UnsafeValue { field } => json!({ "field": field }),
            MeshError::InvalidValue { field, reason } => json!({ "field": field, "reason": reason }),
            MeshError::InvalidEndpoint { field, value, .. } => json!({ "field": field, "value": value }),
            MeshError::DuplicateName { name } => json!({ "node": name }),
            MeshError::DuplicateKey { first, second } => json!({ "nodes": [first, second] }),
            MeshError::DuplicateAddress { first, second, address } => {
                json!({ "nodes": [first, second], "address": address.to_string() })
            }
            MeshError::OverlappingNetworks { first, second } => json!({ "networks": [first.to_string(), second.to_string()] }),
            MeshError::OverlappingRoutes { field, prefix, other } => {
                json!({ "field": field, "prefix": prefix.to_string(), "other": other })
            }
            MeshError::UnknownNode { field, name } => json!({ "field": field, "node": name }),
            MeshError::UnknownGroup { field, group } => json!({ "field": field, "group": group }),
            MeshError::KeyMismatch { node } => json!({ "node": node }),
            MeshError::MissingKey { node, what } => json!({ "node": node, "what": what }),
            MeshError::MissingAddress { node, network } => json!({ "node": node, "network": network.to_string() }),
            _ => json!({}),
        },
        CoreError::Config(e) => match e {
            ConfigError::MissingKey { at, key } => json!({ "location": location(at), "missing": key }),
            other => json!({ "location": location(other.location()) }),
        },
        CoreError::Plan(PlanError::UnroutablePair { pairs }) => {
            json!({ "pairs": pairs.iter().map(|(a, b)| [a, b]).collect::<Vec<_>>() })
        }
        CoreError::Verify(e) => json!({ "problems": e.problems.iter().map(wiremesh::problem_json).collect::<Vec<_>>() }),
        CoreError::Io(IoError { op, path, .. }) => json!({ "op": op, "path": path.display().to_string() }),
        _ => json!({}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Turns a core error into the JavaScript `Error` to throw: `message`, `code`, `family` and the
/// variant's details as own properties.
pub fn js_error(env: &Env, err: CoreError) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut object = env.create_error(napi::Error::new(Status::GenericFailure, err.to_string()))?;
        object.set_named_property("code", err.code())?;
        object.set_named_property("family", err.family())?;
        for (key, value) in details(&err) {
            object.set_named_property(&key, value)?;
        }
        Ok(napi::Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|fail| fail)
}

/// Extension to turn `Result<T, wiremesh::Error>` (or any family error) into a napi result.
pub trait IntoJs<T> {
    /// Maps the error with [`js_error`].
    fn js(self, env: &Env) -> napi::Result<T>;
}

impl<T, E: Into<CoreError>> IntoJs<T> for std::result::Result<T, E> {
    fn js(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| js_error(env, e.into()))
    }
}

/// A malformed value handed in from JavaScript where the mesh model expects one (`mesh_invalid_value`).
pub fn invalid_value(field: &str, reason: String) -> CoreError {
    MeshError::InvalidValue { field: field.to_string(), reason }.into()
}

/// Parses an IP address given as text (`mesh_invalid_value` when it is not one).
pub fn parse_ip(text: &str, field: &str) -> CoreResult<std::net::IpAddr> {
    text.trim().parse().map_err(|_| invalid_value(field, format!("{text:?} is not an IP address")))
}

/// Parses a CIDR given as text (`mesh_invalid_value` when it is not one).
pub fn parse_net(text: &str, field: &str) -> CoreResult<ipnet::IpNet> {
    text.trim().parse().map_err(|_| invalid_value(field, format!("{text:?} is not a CIDR block (address/length)")))
}
