//! The one place where a core [`wiremesh::Error`] becomes a JavaScript `Error`.
//!
//! Every error thrown (or rejected) by this package is an `Error` whose `code` is the core's stable code
//! ([`wiremesh::Error::code`], listed in `ERROR_CODES`) and whose `family` is the core's family
//! (`key`, `ipam`, `mesh`, `config`, `plan`, `verify`, `io`, `uapi`), plus the structured details of the
//! variant: `kind`/`path` (key), `network`/`address`/`text` (ipam), `field`/`node`/… (mesh), `location`
//! (config), `pairs` (plan), `problems` (verify), `op`/`path` (io), `line`/`key`/`errno` (uapi).
//! Messages are the core's, which never contain a secret.
//!
//! [`details`] matches the core's `Error` exhaustively, without a wildcard: a new family in the core is a
//! compile error here, never a silently bare `Error`. Inside a family the core's enums are
//! `#[non_exhaustive]`, so their matches need a wildcard arm; every variant that exists today has its own
//! arm, and one added later still gets its `code` and `family`.

use napi::bindgen_prelude::*;
use serde_json::{json, Map, Value};
use wiremesh::{
    ConfigError, Error as CoreError, IoError, IpamError, KeyError, MeshError, PlanError, TextLocation, UapiError,
    VerifyError,
};

/// Result of a binding function: a core error not yet turned into a JavaScript value.
pub type CoreResult<T> = std::result::Result<T, CoreError>;

fn location(at: &TextLocation) -> Value {
    json!({ "source": at.source_name, "line": at.line, "section": at.section, "key": at.key })
}

/// The structured details of `err`, by family and variant. Exhaustive over the families (no wildcard
/// on [`CoreError`]); the per-family wildcards only cover variants the core may add later.
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
            IpamError::InvalidNetwork { network, reason } => {
                json!({ "network": network.to_string(), "reason": reason })
            }
            IpamError::InvalidReservation { text, reason } => json!({ "text": text, "reason": reason }),
            IpamError::InvalidAddress { text, expected } => json!({ "text": text, "expected": expected }),
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
            MeshError::OverlappingNetworks { first, second } => {
                json!({ "networks": [first.to_string(), second.to_string()] })
            }
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
        CoreError::Plan(e) => match e {
            PlanError::UnroutablePair { pairs } => {
                json!({ "pairs": pairs.iter().map(|(a, b)| [a, b]).collect::<Vec<_>>() })
            }
            PlanError::DeviceKeyMismatch { node, .. } => json!({ "node": node }),
            PlanError::UnresolvedEndpoint { node, peer, endpoint, reason } => {
                json!({ "node": node, "peer": peer, "endpoint": endpoint, "reason": reason })
            }
            _ => json!({}),
        },
        CoreError::Verify(VerifyError { problems }) => {
            json!({ "problems": problems.iter().map(wiremesh::problem_json).collect::<Vec<_>>() })
        }
        CoreError::Io(IoError { op, path, .. }) => json!({ "op": op, "path": path.display().to_string() }),
        // `line` is 1-based (0: not tied to a line, e.g. a value given from JavaScript); `errno` is the
        // positive errno a device answers with (for `uapi_errno`, the one the device did answer).
        CoreError::Uapi(e) => {
            let mut map = match e {
                UapiError::Syntax { line, reason } => json!({ "line": line, "reason": reason }),
                UapiError::UnknownKey { line, key } => json!({ "line": line, "key": key }),
                UapiError::InvalidValue { line, key, reason } => json!({ "line": line, "key": key, "reason": reason }),
                UapiError::TooLarge { what, limit } => json!({ "line": e.line(), "what": what, "limit": limit }),
                UapiError::Errno { .. } => json!({ "line": e.line() }),
                _ => json!({ "line": e.line() }),
            };
            map["errno"] = json!(e.errno());
            map
        }
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

/// `uapi_invalid_value` for a value given from JavaScript (no line: `line` is 0), as the parser reports
/// the same value on the wire. `reason` says where (`peers[1].endpoint: …`).
pub fn uapi_invalid(key: &'static str, reason: String) -> CoreError {
    UapiError::InvalidValue { line: 0, key, reason }.into()
}
