//! `PrivateKey`, `PublicKey`, `PresharedKey`: the core's three key types. Secret keys never show their
//! value in `repr()`/`str()` and cannot be pickled; they are read only through `to_base64()`,
//! `to_hex()` and `to_bytes()`.

use std::hash::{Hash, Hasher};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wiremesh::{PresharedKey, PrivateKey, PublicKey, KEY_LEN};

use crate::convert;
use crate::errors::check;

fn key_bytes(data: &[u8], what: &str) -> PyResult<[u8; KEY_LEN]> {
    data.try_into().map_err(|_| PyValueError::new_err(format!("a {what} is {KEY_LEN} bytes, not {}", data.len())))
}

fn hash_of(bytes: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// An X25519 private key (clamped, as `wg genkey` prints it). Its value is shown by nothing but the
/// explicit accessors `to_base64()`, `to_hex()` and `to_bytes()`.
#[pyclass(module = "wiremesh", name = "PrivateKey", frozen)]
pub struct PyPrivateKey {
    pub inner: PrivateKey,
}

#[pymethods]
impl PyPrivateKey {
    /// A fresh key from the operating system's random number generator (like `wg genkey`).
    #[staticmethod]
    fn generate() -> Self {
        PyPrivateKey { inner: PrivateKey::generate() }
    }

    /// Parses wg's base64 form (44 characters). Raises KeyFormatError.
    #[staticmethod]
    fn from_base64(text: &str) -> PyResult<Self> {
        Ok(PyPrivateKey { inner: check(PrivateKey::from_base64(text))? })
    }

    /// Parses the UAPI's hex form (64 hex digits). Raises KeyFormatError.
    #[staticmethod]
    fn from_hex(text: &str) -> PyResult<Self> {
        Ok(PyPrivateKey { inner: check(PrivateKey::from_hex(text))? })
    }

    /// Wraps 32 raw bytes, clamping them as X25519 requires. Raises ValueError for another length.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(PyPrivateKey { inner: PrivateKey::from_bytes(key_bytes(data, "private key")?) })
    }

    /// Reads a key file holding one base64 key (as `wg genkey > file` writes it).
    #[staticmethod]
    fn load(path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let path = convert::path(path)?;
        Ok(PyPrivateKey { inner: check(PrivateKey::load(&path))? })
    }

    /// Writes the key to `path` (mode 0600 from creation, atomically).
    fn save(&self, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = convert::path(path)?;
        check(self.inner.save(&path))
    }

    /// The matching public key (identical to `wg pubkey`).
    fn public_key(&self) -> PyPublicKey {
        PyPublicKey { inner: self.inner.public_key() }
    }

    /// SECRET: the key in wg's base64 form.
    fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    /// SECRET: the key in the UAPI's hex form.
    fn to_hex(&self) -> String {
        self.inner.to_hex()
    }

    /// SECRET: the 32 raw (clamped) bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.as_bytes())
    }

    fn __repr__(&self) -> String {
        format!("PrivateKey(<redacted>, public_key='{}')", self.inner.public_key())
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __hash__(&self) -> u64 {
        hash_of(self.inner.public_key().as_bytes())
    }
}

/// An X25519 public key; `str()` is wg's base64 form. `PublicKey(text)` parses base64.
#[pyclass(module = "wiremesh", name = "PublicKey", frozen)]
pub struct PyPublicKey {
    pub inner: PublicKey,
}

#[pymethods]
impl PyPublicKey {
    /// Parses wg's base64 form. Raises KeyFormatError.
    #[new]
    fn new(text: &str) -> PyResult<Self> {
        Self::from_base64(text)
    }

    /// Parses wg's base64 form. Raises KeyFormatError.
    #[staticmethod]
    fn from_base64(text: &str) -> PyResult<Self> {
        Ok(PyPublicKey { inner: check(PublicKey::from_base64(text))? })
    }

    /// Parses the UAPI's hex form. Raises KeyFormatError.
    #[staticmethod]
    fn from_hex(text: &str) -> PyResult<Self> {
        Ok(PyPublicKey { inner: check(PublicKey::from_hex(text))? })
    }

    /// Wraps 32 raw bytes. Raises ValueError for another length.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(PyPublicKey { inner: PublicKey::from_bytes(key_bytes(data, "public key")?) })
    }

    /// wg's base64 form.
    fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    /// The UAPI's hex form.
    fn to_hex(&self) -> String {
        self.inner.to_hex()
    }

    /// The 32 raw bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.as_bytes())
    }

    fn __repr__(&self) -> String {
        format!("PublicKey('{}')", self.inner)
    }

    fn __str__(&self) -> String {
        self.inner.to_base64()
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __hash__(&self) -> u64 {
        hash_of(self.inner.as_bytes())
    }
}

/// A 32-byte preshared key. Its value is shown by nothing but `to_base64()`, `to_hex()`, `to_bytes()`.
#[pyclass(module = "wiremesh", name = "PresharedKey", frozen)]
pub struct PyPresharedKey {
    pub inner: PresharedKey,
}

#[pymethods]
impl PyPresharedKey {
    /// A fresh key from the operating system's random number generator (like `wg genpsk`).
    #[staticmethod]
    fn generate() -> Self {
        PyPresharedKey { inner: PresharedKey::generate() }
    }

    /// Parses wg's base64 form. Raises KeyFormatError.
    #[staticmethod]
    fn from_base64(text: &str) -> PyResult<Self> {
        Ok(PyPresharedKey { inner: check(PresharedKey::from_base64(text))? })
    }

    /// Parses the hex form. Raises KeyFormatError.
    #[staticmethod]
    fn from_hex(text: &str) -> PyResult<Self> {
        Ok(PyPresharedKey { inner: check(PresharedKey::from_hex(text))? })
    }

    /// Wraps 32 raw bytes. Raises ValueError for another length.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(PyPresharedKey { inner: PresharedKey::from_bytes(key_bytes(data, "preshared key")?) })
    }

    /// The key of the pair (a, b) derived from a mesh seed: the same whichever side asks.
    #[staticmethod]
    fn derive_for_pair(seed: PyRef<'_, Self>, a: PyRef<'_, PyPublicKey>, b: PyRef<'_, PyPublicKey>) -> Self {
        PyPresharedKey { inner: PresharedKey::derive_for_pair(&seed.inner, &a.inner, &b.inner) }
    }

    /// Reads a file holding one base64 key.
    #[staticmethod]
    fn load(path: &Bound<'_, PyAny>) -> PyResult<Self> {
        let path = convert::path(path)?;
        Ok(PyPresharedKey { inner: check(PresharedKey::load(&path))? })
    }

    /// Writes the key to `path` (mode 0600 from creation, atomically).
    fn save(&self, path: &Bound<'_, PyAny>) -> PyResult<()> {
        let path = convert::path(path)?;
        check(self.inner.save(&path))
    }

    /// SECRET: the key in wg's base64 form.
    fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    /// SECRET: the key in hex.
    fn to_hex(&self) -> String {
        self.inner.to_hex()
    }

    /// SECRET: the 32 raw bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.as_bytes())
    }

    fn __repr__(&self) -> &'static str {
        "PresharedKey(<redacted>)"
    }

    fn __str__(&self) -> &'static str {
        "PresharedKey(<redacted>)"
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __hash__(&self) -> u64 {
        // Not the key itself: a hash of a hash, so the value reveals nothing usable.
        hash_of(&hash_of(self.inner.as_bytes()).to_le_bytes())
    }
}

/// A public key from a `PublicKey` or its base64 text.
pub fn public_key_arg(value: &Bound<'_, PyAny>) -> PyResult<PublicKey> {
    if let Ok(key) = value.downcast::<PyPublicKey>() {
        return Ok(key.get().inner);
    }
    let text: String = value.extract()?;
    check(PublicKey::from_base64(&text))
}

/// A private key from a `PrivateKey` or its base64 text.
pub fn private_key_arg(value: &Bound<'_, PyAny>) -> PyResult<PrivateKey> {
    if let Ok(key) = value.downcast::<PyPrivateKey>() {
        return Ok(key.get().inner.clone());
    }
    let text: String = value.extract()?;
    check(PrivateKey::from_base64(&text))
}
