//! Checks the shared configuration vectors in `tests/vectors/configs/` (also used by the Python and
//! Node bindings' tests).
//!
//! * `configs/*.conf`: valid wg-quick files; the sibling `*.json` is the expected parse result:
//!   `{"interface": {...}, "peers": [...]}` with every field of [`InterfaceSection`] / [`PeerSection`]
//!   present (`null` or `[]` when absent), keys as wg's base64, addresses and prefixes as `addr/len`,
//!   endpoints as `host:port` (IPv6 in brackets, DNS names lower-case).
//! * `configs/invalid/*.conf`: files `parse_wg_quick` must refuse; the sibling `*.json` is
//!   `{"code": ..., "line": N, "section": ... | null, "key": ... | null}` and optionally
//!   `"must_not_contain": [...]`, strings the error's message must not include (secret values).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use wiremesh::{parse_wg_quick, render_wg_quick, WgConfig};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/configs")
}

/// The `.conf` files in `dir`, sorted, each checked to have a sibling `.json` (and the reverse).
fn conf_files(dir: &Path) -> Vec<PathBuf> {
    let mut confs = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("conf") => {
                assert!(path.with_extension("json").is_file(), "{} has no .json sibling", path.display());
                confs.push(path);
            }
            Some("json") => {
                assert!(path.with_extension("conf").is_file(), "{} has no .conf sibling", path.display());
            }
            _ => {}
        }
    }
    confs.sort();
    confs
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn valid_vectors_parse_to_the_expected_model() {
    let confs = conf_files(&vectors_dir());
    assert!(confs.len() >= 4, "expected the valid vectors in {}", vectors_dir().display());
    for path in confs {
        let name = file_name(&path);
        let text = fs::read_to_string(&path).unwrap();
        let config = parse_wg_quick(&text, &name).unwrap_or_else(|err| panic!("{name}: {err}"));
        let expected = read_json(&path.with_extension("json"));
        // The core's JSON view (the bindings use it too) equals the hand-written expectation, and reads back.
        assert_eq!(config.to_json_value(true), expected, "{name}: WgConfig::to_json_value");
        assert_eq!(WgConfig::from_json_value(&expected).unwrap(), config, "{name}: WgConfig::from_json_value");
        let public = config.to_json_value(false);
        assert!(public["interface"]["private_key"].is_null(), "{name}: secrets left out");
        assert!(public["peers"].as_array().unwrap().iter().all(|p| p["preshared_key"].is_null()), "{name}");

        // The canonical rendering reads back as the same model.
        let rendered = render_wg_quick(&config).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(parse_wg_quick(&rendered, &name).unwrap(), config, "{name}: render/parse round trip");
    }
}

#[test]
fn invalid_vectors_fail_with_the_expected_location() {
    let confs = conf_files(&vectors_dir().join("invalid"));
    assert!(!confs.is_empty(), "expected invalid vectors");
    for path in confs {
        let name = file_name(&path);
        let text = fs::read_to_string(&path).unwrap();
        let expected = read_json(&path.with_extension("json"));
        let err = match parse_wg_quick(&text, &name) {
            Ok(config) => panic!("{name}: parsed, expected an error: {config:?}"),
            Err(err) => err,
        };
        let at = err.location();
        let actual = json!({
            "code": err.code(),
            "line": at.line,
            "section": at.section,
            "key": at.key,
        });
        let wanted = json!({
            "code": expected["code"],
            "line": expected["line"],
            "section": expected["section"],
            "key": expected["key"],
        });
        assert_eq!(actual, wanted, "{name}: {err}");
        assert_eq!(at.source_name, name);

        let shown = format!("{err} {err:?}");
        if let Some(secrets) = expected.get("must_not_contain") {
            for secret in secrets.as_array().unwrap() {
                let secret = secret.as_str().unwrap();
                assert!(!shown.contains(secret), "{name}: the error shows {secret:?}: {shown}");
            }
        }
    }
}
