//! [`Name`]: the safe charset for node, group and mesh names.
//!
//! Names end up in file names (`<node>.conf`), config comments, DOT graphs and shell hooks, so they are
//! restricted to `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 63 characters: no spaces, slashes, quotes,
//! newlines or anything else a file system, shell or config parser would treat specially.

use std::fmt;
use std::sync::Arc;

use crate::error::MeshError;

/// The longest name accepted.
pub const MAX_NAME_LEN: usize = 63;

/// A validated name: 1 to 63 characters from `[A-Za-z0-9_.-]`, starting with a letter or digit.
/// Cheap to clone (shared), since plans repeat every node's name in every other node's tables.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<str>);

impl Name {
    /// Validates `value`; `field` names where it came from in errors (e.g. `nodes[1].name`).
    pub fn new(value: &str, field: &str) -> Result<Self, MeshError> {
        let invalid = |reason| MeshError::InvalidName { field: field.to_string(), value: value.to_string(), reason };
        if value.is_empty() {
            return Err(invalid("names must not be empty"));
        }
        if value.len() > MAX_NAME_LEN {
            return Err(invalid("names are at most 63 characters"));
        }
        if !value.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(invalid("names start with a letter or digit"));
        }
        if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
            return Err(invalid("names use only letters, digits, '_', '.' and '-'"));
        }
        Ok(Name(Arc::from(value)))
    }

    /// A copy that shares nothing with `self` (clones of it count references separately, which
    /// matters when several threads clone the same name many times).
    pub fn deep_clone(&self) -> Name {
        Name(Arc::from(&*self.0))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Name::new(&text, "name").map_err(crate::mesh::field_error)
    }
}

/// Rejects values that could inject structure into a rendered config: line breaks, any other control
/// character, `[` (section headers) and `#` (wg and wg-quick cut comments at `#`, silently changing the
/// value). Used on every free-text field where it enters the model, and again by the renderers.
pub fn is_safe_value(value: &str) -> bool {
    !value.chars().any(|c| c.is_control() || c == '[' || c == '#')
}

/// [`is_safe_value`] as a validation step naming the field.
pub fn check_safe_value(value: &str, field: &str) -> Result<(), MeshError> {
    if is_safe_value(value) {
        Ok(())
    } else {
        Err(MeshError::UnsafeValue { field: field.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_names() {
        for ok in ["hub", "node-1", "eu.web_01", "A", &"x".repeat(63)] {
            assert!(Name::new(ok, "t").is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_unsafe_names() {
        for bad in ["", "-x", ".hidden", "a b", "a/b", "a\nb", "[Peer]", "é", &"x".repeat(64), "a#b"] {
            assert_eq!(Name::new(bad, "t").unwrap_err().code(), "mesh_invalid_name", "{bad:?}");
        }
    }

    #[test]
    fn unsafe_values() {
        assert!(is_safe_value("ip link set %i up; echo ok"));
        for bad in ["a\nb", "a\rb", "[Peer]", "x # y", "a\u{0}b", "a\tb", "\u{7f}"] {
            assert!(!is_safe_value(bad), "{bad:?}");
        }
    }
}
