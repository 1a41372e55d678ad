//! # wiremesh for Node.js
//!
//! The npm package `wiremesh`: the same planner, validation and formats as the Rust crate, with a
//! JavaScript-shaped API (camelCase, plain objects, Promises for file and socket work). This crate holds no logic of
//! its own: it converts types and maps errors ([`error::js_error`], the one place a core error becomes a
//! JavaScript `Error` with the core's `code`).

#![deny(missing_docs)]

mod agent;
mod config;
#[cfg(target_os = "linux")]
mod device;
mod dump_reader;
mod error;
mod failover;
mod import;
mod ipam;
mod keys;
mod mesh;
mod plan;
mod reconcile;
mod status;
mod uapi;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use error::IntoJs;

/// The longest node or mesh name accepted.
#[napi]
pub const MAX_NAME_LEN: u32 = wiremesh::MAX_NAME_LEN as u32;

/// Every error code wiremesh can throw (the core's `ALL_CODES`); exported as `ERROR_CODES`.
#[napi]
pub fn error_codes() -> Vec<&'static str> {
    wiremesh::ALL_CODES.to_vec()
}

/// Every problem code `verify`/`check` can report; exported as `PROBLEM_CODES`.
#[napi]
pub fn problem_codes() -> Vec<&'static str> {
    wiremesh::PROBLEM_CODES.to_vec()
}

/// Checks a node, group or mesh name (letters, digits, `.`, `_`, `-`; at most `MAX_NAME_LEN`) and
/// returns it. Throws `mesh_invalid_name`.
#[napi]
pub fn validate_name(env: Env, name: String) -> Result<String> {
    wiremesh::Name::new(&name, "name").map(|n| n.to_string()).js(&env)
}

/// An endpoint as parsed.
#[napi(object)]
pub struct EndpointInfo {
    /// The host: an IP address (IPv6 without brackets) or a lower-case DNS name.
    pub host: String,
    /// The UDP port.
    pub port: u16,
    /// Canonical `host:port` text (IPv6 in brackets).
    pub text: String,
}

/// Parses an endpoint `host:port` (IPv6 in brackets, or a DNS name). Throws `mesh_invalid_endpoint`.
#[napi]
pub fn parse_endpoint(env: Env, text: String) -> Result<EndpointInfo> {
    let endpoint = wiremesh::Endpoint::parse(&text, "endpoint").js(&env)?;
    let host = match &endpoint.host {
        wiremesh::Host::Ip(ip) => ip.to_string(),
        wiremesh::Host::Dns(name) => name.clone(),
    };
    Ok(EndpointInfo { host, port: endpoint.port, text: endpoint.to_string() })
}

/// Whether `value` can go into a config file as is (no newline, `[`, `#` or control character).
#[napi]
pub fn is_safe_value(value: String) -> bool {
    wiremesh::is_safe_value(&value)
}

/// The directory next to a mesh file where `save` keeps generated secrets: `<stem>.keys`.
#[napi]
pub fn key_dir_name(mesh_path: String) -> String {
    wiremesh::key_dir_name(std::path::Path::new(&mesh_path))
}
