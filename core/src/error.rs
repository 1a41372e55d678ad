//! Errors: one enum per family, folded into the crate-wide [`Error`].
//!
//! Every variant has a stable snake_case code ([`Error::code`]) that the Python and Node bindings
//! expose unchanged; [`ALL_CODES`] lists them and a test keeps the list honest. Messages name what
//! failed and where (file, line, section, key, node, pair) and never contain a secret value.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use crate::keys::KeyKind;

/// Everything that can go wrong in wiremesh.
///
/// Deliberately not `#[non_exhaustive]`: the bindings match on the families exhaustively (one exception
/// class each), so a new family is a compile error there instead of a silently generic exception. The
/// variants' own enums stay non-exhaustive; their codes come from [`Error::code`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key could not be parsed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Address allocation failed.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// The mesh description is invalid.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// A configuration text (wg-quick, setconf, wg-meshconf database) could not be parsed or rendered.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The planner could not build a plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The plan was built but could not be proven correct.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A file or directory operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A UAPI message could not be parsed, was too large, or the device answered with an errno.
    #[error(transparent)]
    Uapi(#[from] UapiError),
}

impl Error {
    /// The stable code of this error, e.g. `key_invalid_base64` or `plan_unroutable_pair`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Key(e) => e.code(),
            Error::Ipam(e) => e.code(),
            Error::Mesh(e) => e.code(),
            Error::Config(e) => e.code(),
            Error::Plan(e) => e.code(),
            Error::Verify(e) => e.code(),
            Error::Io(e) => e.code(),
            Error::Uapi(e) => e.code(),
        }
    }

    /// The family this error belongs to: `key`, `ipam`, `mesh`, `config`, `plan`, `verify`, `io` or `uapi`.
    /// The bindings raise one exception class per family.
    pub fn family(&self) -> &'static str {
        match self {
            Error::Key(_) => "key",
            Error::Ipam(_) => "ipam",
            Error::Mesh(_) => "mesh",
            Error::Config(_) => "config",
            Error::Plan(_) => "plan",
            Error::Verify(_) => "verify",
            Error::Io(_) => "io",
            Error::Uapi(_) => "uapi",
        }
    }
}

/// Every error code wiremesh can return, in one list (the bindings test against it).
pub const ALL_CODES: &[&str] = &[
    "key_invalid_base64",
    "key_invalid_hex",
    "key_non_canonical",
    "key_in_file",
    "ipam_exhausted",
    "ipam_outside_network",
    "ipam_reserved",
    "ipam_taken",
    "ipam_not_allocated",
    "ipam_invalid_network",
    "ipam_family_mismatch",
    "ipam_invalid_reservation",
    "ipam_invalid_address",
    "mesh_syntax",
    "mesh_invalid_name",
    "mesh_unsafe_value",
    "mesh_invalid_value",
    "mesh_invalid_endpoint",
    "mesh_duplicate_name",
    "mesh_duplicate_key",
    "mesh_duplicate_address",
    "mesh_overlapping_networks",
    "mesh_overlapping_routes",
    "mesh_unknown_node",
    "mesh_unknown_group",
    "mesh_key_mismatch",
    "mesh_missing_key",
    "mesh_missing_address",
    "config_syntax",
    "config_unknown_section",
    "config_unknown_key",
    "config_invalid_value",
    "config_missing_key",
    "config_unsafe_value",
    "plan_unroutable_pair",
    "plan_device_key_mismatch",
    "plan_unresolved_endpoint",
    "verify_failed",
    "io_not_found",
    "io_permission_denied",
    "io_already_exists",
    "io_other",
    "uapi_syntax",
    "uapi_unknown_key",
    "uapi_invalid_value",
    "uapi_too_large",
    "uapi_errno",
];

/// A key that could not be parsed. Never carries the input, which may be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not 44 characters of standard base64 ending in one `=`.
    #[error("invalid {kind}: expected 44 characters of base64 as printed by wg")]
    InvalidBase64 { kind: KeyKind },
    /// Not 64 hex digits.
    #[error("invalid {kind}: expected 64 hexadecimal digits")]
    InvalidHex { kind: KeyKind },
    /// The last base64 symbol has padding bits set, so the text is not wg's spelling of any key.
    #[error("invalid {kind}: non-canonical base64 (padding bits set)")]
    NonCanonical { kind: KeyKind },
    /// A key file held an invalid key.
    #[error("{path}: {source}")]
    InFile { path: PathBuf, source: Box<KeyError> },
}

impl KeyError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::InvalidBase64 { .. } => "key_invalid_base64",
            KeyError::InvalidHex { .. } => "key_invalid_hex",
            KeyError::NonCanonical { .. } => "key_non_canonical",
            KeyError::InFile { .. } => "key_in_file",
        }
    }

    /// Wraps this error with the key file it came from.
    pub fn in_file(self, path: &Path) -> KeyError {
        KeyError::InFile { path: path.to_path_buf(), source: Box::new(self) }
    }
}

/// Address allocation errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpamError {
    /// No free address is left in the network.
    #[error("address pool {network} is exhausted")]
    Exhausted { network: IpNet },
    /// The address is not inside the pool's network.
    #[error("{address} is outside the network {network}")]
    OutsideNetwork { address: IpAddr, network: IpNet },
    /// The address is the network or broadcast address, or a declared reserved address.
    #[error("{address} is reserved in {network}")]
    Reserved { address: IpAddr, network: IpNet },
    /// The address is already allocated.
    #[error("{address} is already allocated in {network}")]
    Taken { address: IpAddr, network: IpNet },
    /// Release of an address that is not allocated.
    #[error("{address} is not allocated in {network}")]
    NotAllocated { address: IpAddr, network: IpNet },
    /// The network cannot serve as a pool (too small).
    #[error("{network} cannot be used as an address pool: {reason}")]
    InvalidNetwork { network: IpNet, reason: String },
    /// An IPv4 address given to an IPv6 pool or the reverse.
    #[error("{address} is not of the same IP family as {network}")]
    FamilyMismatch { address: IpAddr, network: IpNet },
    /// A reserved address, CIDR or range that does not parse or whose range is backwards.
    #[error("invalid address reservation {text:?}: {reason}")]
    InvalidReservation { text: String, reason: String },
    /// Text given where an IP address or CIDR block was expected that is neither (see
    /// [`crate::parse_address`], [`crate::parse_network`]).
    #[error("invalid {expected} {text:?}")]
    InvalidAddress { text: String, expected: &'static str },
}

impl IpamError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            IpamError::Exhausted { .. } => "ipam_exhausted",
            IpamError::OutsideNetwork { .. } => "ipam_outside_network",
            IpamError::Reserved { .. } => "ipam_reserved",
            IpamError::Taken { .. } => "ipam_taken",
            IpamError::NotAllocated { .. } => "ipam_not_allocated",
            IpamError::InvalidNetwork { .. } => "ipam_invalid_network",
            IpamError::FamilyMismatch { .. } => "ipam_family_mismatch",
            IpamError::InvalidReservation { .. } => "ipam_invalid_reservation",
            IpamError::InvalidAddress { .. } => "ipam_invalid_address",
        }
    }
}

/// Where in a mesh description a problem sits: e.g. `nodes[2].endpoint` or `mesh.networks`.
pub type FieldPath = String;

/// An invalid mesh description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// The mesh file is not valid TOML/JSON or does not fit the schema.
    #[error("{source_name}: {message}")]
    Syntax { source_name: String, message: String },
    /// A name outside the safe charset (see [`crate::Name`]).
    #[error("{field}: invalid name {value:?}: {reason}")]
    InvalidName { field: FieldPath, value: String, reason: &'static str },
    /// A newline, `[`, or control character in a value that ends up in a config file.
    #[error("{field}: value contains a newline, '[' or a control character")]
    UnsafeValue { field: FieldPath },
    /// A value out of range or malformed (port, MTU, CIDR, address…).
    #[error("{field}: {reason}")]
    InvalidValue { field: FieldPath, reason: String },
    /// An endpoint that is not `host:port`.
    #[error("{field}: invalid endpoint {value:?}: {reason}")]
    InvalidEndpoint { field: FieldPath, value: String, reason: &'static str },
    /// Two nodes with the same name.
    #[error("duplicate node name {name:?}")]
    DuplicateName { name: String },
    /// Two nodes with the same public key.
    #[error("nodes {first:?} and {second:?} have the same public key")]
    DuplicateKey { first: String, second: String },
    /// Two nodes with the same address.
    #[error("nodes {first:?} and {second:?} both have address {address}")]
    DuplicateAddress { first: String, second: String, address: IpAddr },
    /// Two mesh networks overlap.
    #[error("networks {first} and {second} overlap")]
    OverlappingNetworks { first: IpNet, second: IpNet },
    /// A subnet behind a node overlaps a mesh network or another node's subnet.
    #[error("{field}: route {prefix} overlaps {other}")]
    OverlappingRoutes { field: FieldPath, prefix: IpNet, other: String },
    /// A reference to a node that does not exist.
    #[error("{field}: no node named {name:?}")]
    UnknownNode { field: FieldPath, name: String },
    /// A rule naming a group no node belongs to.
    #[error("{field}: no node is in group {group:?}")]
    UnknownGroup { field: FieldPath, group: String },
    /// A node's private key does not match its declared public key.
    #[error("node {node:?}: the private key does not match the declared public key")]
    KeyMismatch { node: String },
    /// A node has no key where one is needed (run `generate_missing` / the CLI first).
    #[error("node {node:?}: {what} is missing")]
    MissingKey { node: String, what: &'static str },
    /// A node lacks an address in one of the mesh networks.
    #[error("node {node:?} has no address in {network}")]
    MissingAddress { node: String, network: IpNet },
}

impl MeshError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            MeshError::Syntax { .. } => "mesh_syntax",
            MeshError::InvalidName { .. } => "mesh_invalid_name",
            MeshError::UnsafeValue { .. } => "mesh_unsafe_value",
            MeshError::InvalidValue { .. } => "mesh_invalid_value",
            MeshError::InvalidEndpoint { .. } => "mesh_invalid_endpoint",
            MeshError::DuplicateName { .. } => "mesh_duplicate_name",
            MeshError::DuplicateKey { .. } => "mesh_duplicate_key",
            MeshError::DuplicateAddress { .. } => "mesh_duplicate_address",
            MeshError::OverlappingNetworks { .. } => "mesh_overlapping_networks",
            MeshError::OverlappingRoutes { .. } => "mesh_overlapping_routes",
            MeshError::UnknownNode { .. } => "mesh_unknown_node",
            MeshError::UnknownGroup { .. } => "mesh_unknown_group",
            MeshError::KeyMismatch { .. } => "mesh_key_mismatch",
            MeshError::MissingKey { .. } => "mesh_missing_key",
            MeshError::MissingAddress { .. } => "mesh_missing_address",
        }
    }
}

/// Where in a configuration text an error sits. Displayed as `file:line [Section] Key`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextLocation {
    /// The file name or a label such as `<string>`.
    pub source_name: String,
    /// 1-based line number (0 when the error is not tied to a line).
    pub line: usize,
    /// The section (`Interface`, `Peer`), when inside one.
    pub section: Option<String>,
    /// The key, when the error concerns one.
    pub key: Option<String>,
}

impl fmt::Display for TextLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", if self.source_name.is_empty() { "<string>" } else { &self.source_name })?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(section) = &self.section {
            write!(f, " [{section}]")?;
        }
        if let Some(key) = &self.key {
            write!(f, " {key}")?;
        }
        Ok(())
    }
}

/// A configuration text that could not be parsed or rendered. Never carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A line that is neither a section header, `Key = Value`, a comment nor blank.
    #[error("{at}: {reason}")]
    Syntax { at: TextLocation, reason: String },
    /// A section other than `[Interface]` or `[Peer]`.
    #[error("{at}: unknown section")]
    UnknownSection { at: TextLocation },
    /// A key wg-quick does not accept in this section.
    #[error("{at}: unknown key")]
    UnknownKey { at: TextLocation },
    /// A value that does not parse (the value itself is only shown when it is not secret).
    #[error("{at}: {reason}")]
    InvalidValue { at: TextLocation, reason: String },
    /// A required key is absent (e.g. a `[Peer]` without `PublicKey`).
    #[error("{at}: missing {key}")]
    MissingKey { at: TextLocation, key: &'static str },
    /// A value that would inject structure into the rendered text (newline, `[`, control character).
    #[error("{at}: value contains a newline, '[' or a control character")]
    UnsafeValue { at: TextLocation },
}

impl ConfigError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Syntax { .. } => "config_syntax",
            ConfigError::UnknownSection { .. } => "config_unknown_section",
            ConfigError::UnknownKey { .. } => "config_unknown_key",
            ConfigError::InvalidValue { .. } => "config_invalid_value",
            ConfigError::MissingKey { .. } => "config_missing_key",
            ConfigError::UnsafeValue { .. } => "config_unsafe_value",
        }
    }

    /// Where the error sits.
    pub fn location(&self) -> &TextLocation {
        match self {
            ConfigError::Syntax { at, .. }
            | ConfigError::UnknownSection { at }
            | ConfigError::UnknownKey { at }
            | ConfigError::InvalidValue { at, .. }
            | ConfigError::MissingKey { at, .. }
            | ConfigError::UnsafeValue { at } => at,
        }
    }
}

/// The planner could not build a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Policy says these pairs should talk, neither side has an endpoint, and no relay reachable by
    /// both exists.
    #[error("no way to connect {}: neither side has an endpoint and no relay is reachable by both", format_pairs(.pairs))]
    UnroutablePair { pairs: Vec<(String, String)> },
    /// A running device holds another node's private key, and the plan does not carry this node's key
    /// to replace it (live reconfiguration, [`crate::reconcile`]).
    #[error("the device's private key belongs to public key {device_public_key}, not to node {node:?}, and the plan does not carry {node:?}'s private key")]
    DeviceKeyMismatch { node: String, device_public_key: String },
    /// A peer's DNS endpoint could not be resolved (to an address this host can use) for `node`: while
    /// comparing a plan with a device ([`crate::reconcile`]) or starting a device for the node
    /// (`device::node_update`, as `wg setconf` refuses a name that does not resolve).
    #[error("node {node:?}: peer {peer:?}: cannot resolve endpoint {endpoint}: {reason}")]
    UnresolvedEndpoint { node: String, peer: String, endpoint: String, reason: String },
}

fn format_pairs(pairs: &[(String, String)]) -> String {
    let shown: Vec<String> = pairs.iter().take(5).map(|(a, b)| format!("{a} <-> {b}")).collect();
    let more = if pairs.len() > 5 { format!(" and {} more", pairs.len() - 5) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

impl PlanError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            PlanError::UnroutablePair { .. } => "plan_unroutable_pair",
            PlanError::DeviceKeyMismatch { .. } => "plan_device_key_mismatch",
            PlanError::UnresolvedEndpoint { .. } => "plan_unresolved_endpoint",
        }
    }
}

/// Verification found problems; each carries its own code (see [`crate::Problem`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the plan could not be proven: {} problem(s), first: {}", .problems.len(), .problems.first().map(|p| p.to_string()).unwrap_or_default())]
pub struct VerifyError {
    /// Every problem found.
    pub problems: Vec<crate::verify::Problem>,
}

impl VerifyError {
    /// The stable code (the problems carry finer ones).
    pub fn code(&self) -> &'static str {
        "verify_failed"
    }
}

/// A failed file-system operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {}: {message}", .path.display())]
pub struct IoError {
    /// What was being done: `read`, `write`, `create`, `rename`, `mkdir`…
    pub op: &'static str,
    /// The path involved.
    pub path: PathBuf,
    /// The operating system's error kind.
    pub kind: std::io::ErrorKind,
    /// The operating system's message.
    pub message: String,
}

impl IoError {
    /// Wraps an `std::io::Error` with the operation and path.
    pub fn new(op: &'static str, path: &Path, err: &std::io::Error) -> Self {
        IoError { op, path: path.to_path_buf(), kind: err.kind(), message: err.to_string() }
    }

    /// An error that did not come from the operating system.
    pub fn invalid(op: &'static str, path: &Path, message: &str) -> Self {
        IoError { op, path: path.to_path_buf(), kind: std::io::ErrorKind::InvalidInput, message: message.into() }
    }

    /// The stable code: `io_not_found`, `io_permission_denied`, `io_already_exists` or `io_other`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            std::io::ErrorKind::NotFound => "io_not_found",
            std::io::ErrorKind::PermissionDenied => "io_permission_denied",
            std::io::ErrorKind::AlreadyExists => "io_already_exists",
            _ => "io_other",
        }
    }
}

/// A UAPI (`get=1` / `set=1`) message that could not be parsed, or a device's error reply. Never carries
/// a key's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UapiError {
    /// Not the protocol: no operation line, a line without `=`, a missing terminating blank line, bytes
    /// that are not UTF-8.
    #[error("UAPI line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    /// A key the protocol does not have at this place (device keys after the first `public_key=`).
    #[error("UAPI line {line}: unknown key {key:?}")]
    UnknownKey { line: usize, key: String },
    /// A known key whose value does not parse (the value is shown only when it is not secret).
    #[error("UAPI line {line}: invalid {key}: {reason}")]
    InvalidValue { line: usize, key: &'static str, reason: String },
    /// A message or line over the limits ([`crate::uapi::MAX_MESSAGE_BYTES`], [`crate::uapi::MAX_LINE_BYTES`]).
    #[error("UAPI message too large: {what} exceeds {limit} bytes")]
    TooLarge { what: &'static str, limit: usize },
    /// The device answered `errno=N` with N non-zero.
    #[error("the device refused the request: errno {errno} ({})", std::io::Error::from_raw_os_error(*.errno))]
    Errno { errno: i32 },
}

impl UapiError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            UapiError::Syntax { .. } => "uapi_syntax",
            UapiError::UnknownKey { .. } => "uapi_unknown_key",
            UapiError::InvalidValue { .. } => "uapi_invalid_value",
            UapiError::TooLarge { .. } => "uapi_too_large",
            UapiError::Errno { .. } => "uapi_errno",
        }
    }

    /// The errno a device answers this error with (positive; the wire carries it negated).
    pub fn errno(&self) -> i32 {
        use crate::uapi::errno;
        match self {
            UapiError::Syntax { .. } => errno::EPROTO,
            UapiError::UnknownKey { .. } | UapiError::InvalidValue { .. } => errno::EINVAL,
            UapiError::TooLarge { .. } => errno::EMSGSIZE,
            UapiError::Errno { errno } => *errno,
        }
    }

    /// The 1-based line the error is on (0 when not tied to a line).
    pub fn line(&self) -> usize {
        match self {
            UapiError::Syntax { line, .. }
            | UapiError::UnknownKey { line, .. }
            | UapiError::InvalidValue { line, .. } => *line,
            _ => 0,
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
