//! WireGuard keys: [`PrivateKey`], [`PublicKey`] and [`PresharedKey`] as three distinct types.
//!
//! Encodings follow the tools: strict base64 exactly as `wg` prints it (44 characters, one `=`,
//! canonical padding bits) and lower-case hex as the cross-platform UAPI speaks it. Secret types never
//! reveal their bytes through `Debug` or `Display` and are zeroized on drop; read them only through
//! [`PrivateKey::to_base64`] / [`PrivateKey::as_bytes`] (and the same on [`PresharedKey`]).

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::KeyError;
use crate::fsutil;

/// Length in bytes of every WireGuard key.
pub const KEY_LEN: usize = 32;

/// Which of the three key types a value was meant to be; carried by errors so they name what failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// An X25519 private key.
    Private,
    /// An X25519 public key.
    Public,
    /// A 32-byte symmetric preshared key.
    Preshared,
}

impl KeyKind {
    /// A lower-case name for messages: `private key`, `public key`, `preshared key`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Private => "private key",
            KeyKind::Public => "public key",
            KeyKind::Preshared => "preshared key",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn random_bytes() -> [u8; KEY_LEN] {
    let mut bytes = [0u8; KEY_LEN];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

/// Decodes wg's base64 form strictly: exactly 44 characters, standard alphabet, one trailing `=`, and
/// the two unused low bits of the last symbol zero (so every key has exactly one spelling).
fn decode_base64(text: &str, kind: KeyKind) -> Result<[u8; KEY_LEN], KeyError> {
    let text = text.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\n' || c == '\r');
    if text.len() != 44 || !text.ends_with('=') || text[..43].contains('=') {
        return Err(KeyError::InvalidBase64 { kind });
    }
    let mut decoded = STANDARD.decode(text).map_err(|err| match err {
        base64::DecodeError::InvalidLastSymbol(_, _) => KeyError::NonCanonical { kind },
        _ => KeyError::InvalidBase64 { kind },
    })?;
    if decoded.len() != KEY_LEN {
        // 44 characters with exactly one '=' always decode to 32 bytes; kept as a guard.
        decoded.zeroize();
        return Err(KeyError::InvalidBase64 { kind });
    }
    let mut bytes = [0u8; KEY_LEN];
    bytes.copy_from_slice(&decoded);
    decoded.zeroize();
    Ok(bytes)
}

fn encode_base64(bytes: &[u8; KEY_LEN]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64 of a 32-byte key (44 characters, one `=`), unrolled for the fixed length: renderers
/// write one per peer section, a million times for a large mesh, and the general-purpose engine costs
/// several times more per key. Checked against the `base64` crate in the tests.
fn encode_key_base64(key: &[u8; KEY_LEN]) -> [u8; 44] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = [b'='; 44];
    for group in 0..10 {
        let (i, o) = (group * 3, group * 4);
        let n = u32::from(key[i]) << 16 | u32::from(key[i + 1]) << 8 | u32::from(key[i + 2]);
        out[o] = ALPHABET[(n >> 18) as usize & 63];
        out[o + 1] = ALPHABET[(n >> 12) as usize & 63];
        out[o + 2] = ALPHABET[(n >> 6) as usize & 63];
        out[o + 3] = ALPHABET[n as usize & 63];
    }
    let n = u32::from(key[30]) << 16 | u32::from(key[31]) << 8;
    out[40] = ALPHABET[(n >> 18) as usize & 63];
    out[41] = ALPHABET[(n >> 12) as usize & 63];
    out[42] = ALPHABET[(n >> 6) as usize & 63];
    out
}

/// Decodes the UAPI's hex form: exactly 64 lower-case hex digits (upper case is accepted, as wg does).
fn decode_hex(text: &str, kind: KeyKind) -> Result<[u8; KEY_LEN], KeyError> {
    let text = text.as_bytes();
    if text.len() != 2 * KEY_LEN {
        return Err(KeyError::InvalidHex { kind });
    }
    let mut bytes = [0u8; KEY_LEN];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        let hi = hex_digit(pair[0]).ok_or(KeyError::InvalidHex { kind })?;
        let lo = hex_digit(pair[1]).ok_or(KeyError::InvalidHex { kind })?;
        bytes[i] = (hi << 4) | lo;
    }
    Ok(bytes)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn encode_hex(bytes: &[u8; KEY_LEN]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * KEY_LEN);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// An X25519 private key. Stored clamped (as `wg genkey` prints it), with its public key derived once
/// (planning and validation ask for it often; the scalar multiplication is the expensive part);
/// zeroized on drop; never shown by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey {
    secret: [u8; KEY_LEN],
    #[zeroize(skip)]
    public: PublicKey,
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.secret.ct_eq(&other.secret).into()
    }
}

impl Eq for PrivateKey {}

impl PrivateKey {
    /// A fresh key from the operating system's random number generator, clamped like `wg genkey`.
    pub fn generate() -> Self {
        Self::from_bytes(random_bytes())
    }

    /// Wraps 32 bytes, clamping them as X25519 requires (so the stored form equals what wg prints).
    pub fn from_bytes(mut bytes: [u8; KEY_LEN]) -> Self {
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        let key = PrivateKey { secret: bytes, public };
        bytes.zeroize();
        key
    }

    /// Parses wg's base64 form. Any 32 bytes are accepted and clamped, as `wg pubkey` does.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let mut bytes = decode_base64(text, KeyKind::Private)?;
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// Parses the UAPI's hex form.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = decode_hex(text, KeyKind::Private)?;
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// The secret in wg's base64 form. The only way (with [`Self::to_hex`] and [`Self::as_bytes`]) to
    /// read it: call it where the key is meant to leave the process.
    pub fn to_base64(&self) -> String {
        encode_base64(&self.secret)
    }

    /// The secret in the UAPI's hex form.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.secret)
    }

    /// The raw (clamped) secret bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }

    /// The matching public key (X25519 base-point multiplication, done once at construction), identical
    /// to `wg pubkey`.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Reads a key file holding one base64 key (as written by `wg genkey > file`).
    pub fn load(path: &Path) -> Result<Self, crate::Error> {
        load_key_file(path, Self::from_base64)
    }

    /// Writes the key to `path` as base64 plus newline: mode 0600 from creation, written to a temporary
    /// file, fsynced and renamed into place, so a reader never sees a partial or world-readable key.
    pub fn save(&self, path: &Path) -> Result<(), crate::Error> {
        save_key_file(path, self.to_base64())
    }

    /// Loads the key at `path`, or generates and saves a new one when the file does not exist.
    /// Returns the key and whether it was generated.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), crate::Error> {
        load_or_generate_key_file(path, Self::load, Self::generate, Self::save)
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(<redacted>, public {})", self.public_key())
    }
}

/// An X25519 public key; Display and Debug show wg's base64 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PublicKey(bytes)
    }

    /// Parses wg's base64 form strictly.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_base64(text, KeyKind::Public).map(PublicKey)
    }

    /// Parses the UAPI's hex form.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        decode_hex(text, KeyKind::Public).map(PublicKey)
    }

    /// wg's base64 form.
    pub fn to_base64(&self) -> String {
        encode_base64(&self.0)
    }

    /// The UAPI's hex form.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// Appends wg's base64 form to `out` without allocating (for renderers writing many keys).
    pub fn push_base64(&self, out: &mut String) {
        let encoded = encode_key_base64(&self.0);
        // SAFETY: every byte is from the base64 alphabet or `=`: ASCII, hence valid UTF-8. (Validating
        // it cost more than encoding it, once per peer section.)
        out.push_str(unsafe { std::str::from_utf8_unchecked(&encoded) });
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64(s)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_base64(&text).map_err(crate::mesh::field_error)
    }
}

/// A 32-byte preshared key (the optional symmetric layer of WireGuard's handshake). Zeroized on drop;
/// never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PresharedKey([u8; KEY_LEN]);

impl PresharedKey {
    /// A fresh key from the operating system's random number generator, like `wg genpsk`.
    pub fn generate() -> Self {
        PresharedKey(random_bytes())
    }

    /// Wraps 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PresharedKey(bytes)
    }

    /// Parses wg's base64 form strictly.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_base64(text, KeyKind::Preshared).map(PresharedKey)
    }

    /// Parses the UAPI's hex form.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        decode_hex(text, KeyKind::Preshared).map(PresharedKey)
    }

    /// The secret in wg's base64 form: call it only where the key is meant to leave the process.
    pub fn to_base64(&self) -> String {
        encode_base64(&self.0)
    }

    /// The secret in the UAPI's hex form.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// The raw secret bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Derives the key a pair of peers shares from a mesh-wide secret seed: keyed BLAKE2s over both
    /// public keys in sorted order, so both sides compute the same key and every run gives the same one.
    pub fn derive_for_pair(seed: &PresharedKey, a: &PublicKey, b: &PublicKey) -> PresharedKey {
        use blake2::digest::{KeyInit, Mac};
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let mut mac =
            <blake2::Blake2sMac256 as KeyInit>::new_from_slice(&seed.0).expect("a 32-byte key is valid for BLAKE2s");
        mac.update(b"wiremesh preshared key v1");
        mac.update(&first.0);
        mac.update(&second.0);
        let out = mac.finalize().into_bytes();
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&out);
        PresharedKey(bytes)
    }

    /// Reads a file holding one base64 preshared key.
    pub fn load(path: &Path) -> Result<Self, crate::Error> {
        load_key_file(path, Self::from_base64)
    }

    /// Writes the key like [`PrivateKey::save`]: 0600 from creation, atomically.
    pub fn save(&self, path: &Path) -> Result<(), crate::Error> {
        save_key_file(path, self.to_base64())
    }

    /// Loads the key at `path`, or generates and saves one when the file does not exist.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), crate::Error> {
        load_or_generate_key_file(path, Self::load, Self::generate, Self::save)
    }
}

/// Reads a file holding one base64 secret key, wiping the text after parsing.
fn load_key_file<K>(path: &Path, parse: impl Fn(&str) -> Result<K, KeyError>) -> Result<K, crate::Error> {
    let mut text = fsutil::read_to_string(path)?;
    let key = parse(&text).map_err(|err| err.in_file(path));
    text.zeroize();
    Ok(key?)
}

/// Writes `base64` plus a newline as a secret file (0600 from creation, atomically), wiping the text.
fn save_key_file(path: &Path, mut base64: String) -> Result<(), crate::Error> {
    base64.push('\n');
    let result = fsutil::write_atomic(path, base64.as_bytes(), fsutil::SECRET_FILE_MODE);
    base64.zeroize();
    result
}

/// Loads the key at `path`; when there is no such file, generates one and saves it.
fn load_or_generate_key_file<K>(
    path: &Path,
    load: impl Fn(&Path) -> Result<K, crate::Error>,
    generate: impl Fn() -> K,
    save: impl Fn(&K, &Path) -> Result<(), crate::Error>,
) -> Result<(K, bool), crate::Error> {
    match load(path) {
        Ok(key) => Ok((key, false)),
        Err(crate::Error::Io(err)) if err.kind == std::io::ErrorKind::NotFound => {
            let key = generate();
            save(&key, path)?;
            Ok((key, true))
        }
        Err(err) => Err(err),
    }
}

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresharedKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7748 section 6.1 test vector (Alice).
    const ALICE_PRIVATE_HEX: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const ALICE_PUBLIC_HEX: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

    #[test]
    fn rfc7748_public_key() {
        let private = PrivateKey::from_hex(ALICE_PRIVATE_HEX).unwrap();
        assert_eq!(private.public_key().to_hex(), ALICE_PUBLIC_HEX);
    }

    proptest::proptest! {
        #[test]
        fn fast_key_base64_matches_the_base64_crate(bytes in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let mut pushed = String::new();
            PublicKey::from_bytes(bytes).push_base64(&mut pushed);
            proptest::prop_assert_eq!(pushed, STANDARD.encode(bytes));
        }
    }

    #[test]
    fn base64_round_trip_and_clamping() {
        let key = PrivateKey::generate();
        let parsed = PrivateKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(key.as_bytes()[0] & 7, 0);
        assert_eq!(key.as_bytes()[31] & 0xc0, 0x40);
    }

    #[test]
    fn strict_base64() {
        let good = PublicKey::from_bytes([7; 32]).to_base64();
        assert!(PublicKey::from_base64(&good).is_ok());
        assert!(matches!(PublicKey::from_base64(&good[..43]), Err(KeyError::InvalidBase64 { .. })));
        assert!(matches!(PublicKey::from_base64("AAAA"), Err(KeyError::InvalidBase64 { .. })));
        // Same length, non-canonical final symbol (low bits set).
        let mut bad = good.clone().into_bytes();
        bad[42] = b'B';
        let bad = String::from_utf8(bad).unwrap();
        if bad != good {
            assert!(matches!(PublicKey::from_base64(&bad), Err(KeyError::NonCanonical { .. })));
        }
        assert!(matches!(PublicKey::from_base64(&"A".repeat(44)), Err(KeyError::InvalidBase64 { .. })));
    }

    #[test]
    fn hex_round_trip() {
        let key = PresharedKey::generate();
        assert_eq!(PresharedKey::from_hex(&key.to_hex()).unwrap(), key);
        assert!(PresharedKey::from_hex("zz").is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let key = PrivateKey::generate();
        let psk = PresharedKey::generate();
        let shown = format!("{key:?} {psk:?}");
        assert!(!shown.contains(&key.to_base64()));
        assert!(!shown.contains(&psk.to_base64()));
        assert!(!shown.contains(&key.to_hex()));
    }

    #[test]
    fn pair_psk_is_symmetric_and_stable() {
        let seed = PresharedKey::from_bytes([1; 32]);
        let a = PrivateKey::generate().public_key();
        let b = PrivateKey::generate().public_key();
        assert_eq!(PresharedKey::derive_for_pair(&seed, &a, &b), PresharedKey::derive_for_pair(&seed, &b, &a));
        let c = PrivateKey::generate().public_key();
        assert_ne!(PresharedKey::derive_for_pair(&seed, &a, &b), PresharedKey::derive_for_pair(&seed, &a, &c));
    }

    #[test]
    fn key_files_round_trip_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let (generated, was_new) = PrivateKey::load_or_generate(&path).unwrap();
        assert!(was_new);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, was_new) = PrivateKey::load_or_generate(&path).unwrap();
        assert!(!was_new);
        assert_eq!(again, generated);
        let psk_path = dir.path().join("pair.psk");
        let (psk, _) = PresharedKey::load_or_generate(&psk_path).unwrap();
        assert_eq!(PresharedKey::load(&psk_path).unwrap(), psk);
        std::fs::write(&path, "not a key").unwrap();
        let err = PrivateKey::load(&path).unwrap_err();
        assert_eq!(err.code(), "key_in_file");
        assert!(!err.to_string().contains("not a key"));
    }
}
