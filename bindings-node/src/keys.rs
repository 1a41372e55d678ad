//! WireGuard keys: `PrivateKey`, `PublicKey` and `PresharedKey`.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;

use crate::error::{js_error, CoreResult, IntoJs};

/// An X25519 private key, stored clamped as `wg genkey` prints it.
///
/// The key never shows itself: `toString()` and `util.inspect` print `PrivateKey(<redacted>)` and
/// `JSON.stringify` leaves it out (`toJSON()` returns `undefined`). Read it only through the explicit
/// accessors `toBase64()` and `toHex()`.
#[napi]
#[derive(Clone)]
pub struct PrivateKey {
    pub(crate) inner: wiremesh::PrivateKey,
}

#[napi]
impl PrivateKey {
    /// A fresh random key from the operating system's generator.
    #[napi(factory)]
    pub fn generate() -> Self {
        PrivateKey { inner: wiremesh::PrivateKey::generate() }
    }

    /// Parses wg's base64 form (44 characters, as `wg genkey` prints it); unclamped bytes are clamped.
    /// Throws `key_invalid_base64` or `key_non_canonical`.
    #[napi(factory)]
    pub fn from_base64(env: Env, text: String) -> Result<Self> {
        wiremesh::PrivateKey::from_base64(&text).map(|inner| PrivateKey { inner }).js(&env)
    }

    /// Parses the UAPI's hex form (64 hexadecimal digits). Throws `key_invalid_hex`.
    #[napi(factory)]
    pub fn from_hex(env: Env, text: String) -> Result<Self> {
        wiremesh::PrivateKey::from_hex(&text).map(|inner| PrivateKey { inner }).js(&env)
    }

    /// Reads a key file (one base64 key, as `wg genkey > file` writes it). Rejects with an `io_*` code
    /// or `key_in_file`.
    #[napi(ts_return_type = "Promise<PrivateKey>")]
    pub fn load(path: String) -> AsyncTask<LoadPrivateKey> {
        AsyncTask::new(LoadPrivateKey { path: PathBuf::from(path) })
    }

    /// Writes the key to `path` (mode 0600, atomically). Rejects with an `io_*` code.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<SaveKey> {
        AsyncTask::new(SaveKey { key: SecretBytes::Private(self.inner.clone()), path: PathBuf::from(path) })
    }

    /// The secret as wg's base64 text. This is the key itself: handle with care.
    #[napi]
    pub fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    /// The secret as 64 lower-case hex digits. This is the key itself: handle with care.
    #[napi]
    pub fn to_hex(&self) -> String {
        self.inner.to_hex()
    }

    /// The matching public key.
    #[napi]
    pub fn public_key(&self) -> PublicKey {
        PublicKey { inner: self.inner.public_key() }
    }

    /// Whether `other` is the same key (compares the secret without revealing it).
    #[napi]
    pub fn equals(&self, other: &PrivateKey) -> bool {
        self.inner == other.inner
    }

    /// `PrivateKey(<redacted>)`: never the key.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        "PrivateKey(<redacted>)".into()
    }

    /// `undefined`, so `JSON.stringify` leaves private keys out, as mesh files do.
    #[napi(js_name = "toJSON", ts_return_type = "undefined")]
    pub fn to_json(&self) -> Undefined {}
}

/// An X25519 public key. Public: `toString()` and `JSON.stringify` give its base64 form.
#[napi]
#[derive(Clone)]
pub struct PublicKey {
    pub(crate) inner: wiremesh::PublicKey,
}

#[napi]
impl PublicKey {
    /// Parses wg's base64 form. Throws `key_invalid_base64` or `key_non_canonical`.
    #[napi(factory)]
    pub fn from_base64(env: Env, text: String) -> Result<Self> {
        wiremesh::PublicKey::from_base64(&text).map(|inner| PublicKey { inner }).js(&env)
    }

    /// Parses the UAPI's hex form. Throws `key_invalid_hex`.
    #[napi(factory)]
    pub fn from_hex(env: Env, text: String) -> Result<Self> {
        wiremesh::PublicKey::from_hex(&text).map(|inner| PublicKey { inner }).js(&env)
    }

    /// The key as wg's base64 text.
    #[napi]
    pub fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    /// The key as 64 lower-case hex digits.
    #[napi]
    pub fn to_hex(&self) -> String {
        self.inner.to_hex()
    }

    /// Whether `other` is the same key.
    #[napi]
    pub fn equals(&self, other: &PublicKey) -> bool {
        self.inner == other.inner
    }

    /// The base64 form.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        self.inner.to_base64()
    }

    /// The base64 form, for `JSON.stringify`.
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> String {
        self.inner.to_base64()
    }
}

/// A 32-byte symmetric preshared key.
///
/// Like [`PrivateKey`] it never shows itself (`toString()`/`util.inspect` print
/// `PresharedKey(<redacted>)`, `JSON.stringify` leaves it out); read it with `toBase64()`/`toHex()`.
#[napi]
#[derive(Clone)]
pub struct PresharedKey {
    pub(crate) inner: wiremesh::PresharedKey,
}

#[napi]
impl PresharedKey {
    /// A fresh random key.
    #[napi(factory)]
    pub fn generate() -> Self {
        PresharedKey { inner: wiremesh::PresharedKey::generate() }
    }

    /// Parses wg's base64 form. Throws `key_invalid_base64` or `key_non_canonical`.
    #[napi(factory)]
    pub fn from_base64(env: Env, text: String) -> Result<Self> {
        wiremesh::PresharedKey::from_base64(&text).map(|inner| PresharedKey { inner }).js(&env)
    }

    /// Parses the UAPI's hex form. Throws `key_invalid_hex`.
    #[napi(factory)]
    pub fn from_hex(env: Env, text: String) -> Result<Self> {
        wiremesh::PresharedKey::from_hex(&text).map(|inner| PresharedKey { inner }).js(&env)
    }

    /// The key of the pair (`a`, `b`) derived from a mesh secret `seed`: the same whichever side asks,
    /// and stable across runs. This is how plans give pairs their preshared keys.
    #[napi(factory)]
    pub fn derive_for_pair(seed: &PresharedKey, a: &PublicKey, b: &PublicKey) -> Self {
        PresharedKey { inner: wiremesh::PresharedKey::derive_for_pair(&seed.inner, &a.inner, &b.inner) }
    }

    /// Reads a key file. Rejects with an `io_*` code or `key_in_file`.
    #[napi(ts_return_type = "Promise<PresharedKey>")]
    pub fn load(path: String) -> AsyncTask<LoadPresharedKey> {
        AsyncTask::new(LoadPresharedKey { path: PathBuf::from(path) })
    }

    /// Writes the key to `path` (mode 0600, atomically). Rejects with an `io_*` code.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<SaveKey> {
        AsyncTask::new(SaveKey { key: SecretBytes::Preshared(self.inner.clone()), path: PathBuf::from(path) })
    }

    /// The secret as base64 text. This is the key itself: handle with care.
    #[napi]
    pub fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    /// The secret as 64 lower-case hex digits. This is the key itself: handle with care.
    #[napi]
    pub fn to_hex(&self) -> String {
        self.inner.to_hex()
    }

    /// Whether `other` is the same key.
    #[napi]
    pub fn equals(&self, other: &PresharedKey) -> bool {
        self.inner == other.inner
    }

    /// `PresharedKey(<redacted>)`: never the key.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        "PresharedKey(<redacted>)".into()
    }

    /// `undefined`, so `JSON.stringify` leaves preshared keys out.
    #[napi(js_name = "toJSON", ts_return_type = "undefined")]
    pub fn to_json(&self) -> Undefined {}
}

/// A public key argument: a [`PublicKey`] or its base64 text.
pub type PublicKeyArg<'a> = Either<&'a PublicKey, String>;

/// Reads a [`PublicKeyArg`] (`key_invalid_base64`/`key_non_canonical` for bad text).
pub fn public_key_arg(arg: &PublicKeyArg<'_>) -> CoreResult<wiremesh::PublicKey> {
    match arg {
        Either::A(key) => Ok(key.inner),
        Either::B(text) => Ok(wiremesh::PublicKey::from_base64(text)?),
    }
}

/// A secret to write to a file.
pub enum SecretBytes {
    /// A private key.
    Private(wiremesh::PrivateKey),
    /// A preshared key.
    Preshared(wiremesh::PresharedKey),
}

/// Background job: write a key file.
pub struct SaveKey {
    key: SecretBytes,
    path: PathBuf,
}

impl Task for SaveKey {
    type Output = CoreResult<()>;
    type JsValue = ();

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(match &self.key {
            SecretBytes::Private(key) => key.save(&self.path),
            SecretBytes::Preshared(key) => key.save(&self.path),
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<()> {
        output.map_err(|e| js_error(&env, e))
    }
}

/// Background job: read a private key file.
pub struct LoadPrivateKey {
    path: PathBuf,
}

impl Task for LoadPrivateKey {
    type Output = CoreResult<wiremesh::PrivateKey>;
    type JsValue = PrivateKey;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(wiremesh::PrivateKey::load(&self.path))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<PrivateKey> {
        output.map(|inner| PrivateKey { inner }).map_err(|e| js_error(&env, e))
    }
}

/// Background job: read a preshared key file.
pub struct LoadPresharedKey {
    path: PathBuf,
}

impl Task for LoadPresharedKey {
    type Output = CoreResult<wiremesh::PresharedKey>;
    type JsValue = PresharedKey;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(wiremesh::PresharedKey::load(&self.path))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<PresharedKey> {
        output.map(|inner| PresharedKey { inner }).map_err(|e| js_error(&env, e))
    }
}
