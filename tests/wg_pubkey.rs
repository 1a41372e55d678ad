//! Our X25519 against wireguard-tools: for 1000 keys from `PrivateKey::generate()`, the public key we
//! compute must be exactly what `wg pubkey` prints; the CLI's `genkey` / `pubkey` / `genpsk` must agree
//! with `wg` too. Keys go to child processes through stdin, never through argv.
//!
//! Needs `wg` (wireguard-tools). Without it the tests print a visible skip and pass, unless
//! `WIREMESH_E2E_REQUIRED=1` (CI) turns the skip into a failure.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use wiremesh::{PresharedKey, PrivateKey, PublicKey};

fn required() -> bool {
    std::env::var("WIREMESH_E2E_REQUIRED").is_ok_and(|v| v == "1")
}

/// Writes past libtest's output capture, so a skip is visible in a plain `cargo test` run.
fn visible(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// True when `wg` can be run; otherwise skips visibly (false), or panics when the tests are required.
fn wg_available(test: &str) -> bool {
    match Command::new("wg").arg("--version").stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => true,
        result => {
            let why = match result {
                Ok(out) => format!("`wg --version` exited with {}", out.status),
                Err(err) => format!("cannot run `wg`: {err}"),
            };
            assert!(
                !required(),
                "{test}: {why}; WIREMESH_E2E_REQUIRED=1 forbids skipping (apt-get install -y wireguard-tools)"
            );
            visible(&format!("SKIPPED: {test}: {why} (install wireguard-tools to run it)"));
            false
        }
    }
}

/// Runs PROGRAM ARGS with INPUT on stdin; panics unless it exits 0. Returns stdout.
fn run_with_stdin(program: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(input.as_bytes()).expect("write to child's stdin");
    } // closes stdin
    let out = child.wait_with_output().expect("wait for child");
    check(program, args, &out);
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    check(program, args, &out);
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn check(program: &str, args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "{program} {} exited with {}: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `wg pubkey` for a base64 private key, without its trailing newline.
fn wg_pubkey(private_base64: &str) -> String {
    let out = run_with_stdin("wg", &["pubkey"], &format!("{private_base64}\n"));
    out.strip_suffix('\n').unwrap_or_else(|| panic!("wg pubkey output without a newline: {out:?}")).to_string()
}

/// A key line as `wg` prints one: 44 characters of base64, one `=`, one newline, decoding to 32 bytes.
fn assert_key_line(what: &str, line: &str) -> String {
    let key = line.strip_suffix('\n').unwrap_or_else(|| panic!("{what}: no trailing newline in {line:?}"));
    assert_eq!(key.len(), 44, "{what}: not 44 characters: {key:?}");
    assert!(key.ends_with('=') && !key[..43].contains('='), "{what}: not wg's padding: {key:?}");
    assert!(
        key[..43].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/'),
        "{what}: not standard base64: {key:?}"
    );
    key.to_string()
}

#[test]
fn public_keys_match_wg_pubkey_for_1000_generated_keys() {
    if !wg_available("public_keys_match_wg_pubkey_for_1000_generated_keys") {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    for i in 0..1000 {
        let key = PrivateKey::generate();
        let ours = key.public_key().to_base64();
        let theirs = wg_pubkey(&key.to_base64());
        assert_eq!(ours, theirs, "key #{i}: our public key differs from `wg pubkey`");
        assert_eq!(PublicKey::from_base64(&theirs).expect("wg's public key parses"), key.public_key());
        assert!(seen.insert(ours), "key #{i}: generate() repeated a key");
    }
}

#[test]
fn unclamped_private_keys_are_clamped_like_wg() {
    // `wg pubkey` accepts any 32 bytes and clamps them; so must PrivateKey::from_base64.
    if !wg_available("unclamped_private_keys_are_clamped_like_wg") {
        return;
    }
    use base64::Engine as _;
    for i in 0..100u32 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("random bytes");
        bytes[0] |= 7; // the bits clamping clears...
        bytes[31] |= 128;
        if i % 2 == 0 {
            bytes[31] &= !64; // ...and the one it sets
        }
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        let ours = PrivateKey::from_base64(&text).expect("any 32 bytes are a private key").public_key().to_base64();
        assert_eq!(ours, wg_pubkey(&text), "unclamped key #{i}: our public key differs from `wg pubkey`");
    }
}

#[cfg(feature = "cli")]
mod cli {
    use super::*;

    const WIREMESH: &str = env!("CARGO_BIN_EXE_wiremesh");

    #[test]
    fn cli_genkey_and_pubkey_agree_with_wg() {
        if !wg_available("cli_genkey_and_pubkey_agree_with_wg") {
            return;
        }
        for i in 0..8 {
            // wiremesh genkey -> wiremesh pubkey and wg pubkey
            let private = assert_key_line("wiremesh genkey", &run(WIREMESH, &["genkey"]));
            let ours =
                assert_key_line("wiremesh pubkey", &run_with_stdin(WIREMESH, &["pubkey"], &format!("{private}\n")));
            assert_eq!(
                ours,
                wg_pubkey(&private),
                "#{i}: wiremesh pubkey differs from wg pubkey for a wiremesh genkey key"
            );
            assert_eq!(ours, PrivateKey::from_base64(&private).expect("parses").public_key().to_base64());

            // wg genkey -> wiremesh pubkey and wg pubkey
            let private = assert_key_line("wg genkey", &run("wg", &["genkey"]));
            let ours =
                assert_key_line("wiremesh pubkey", &run_with_stdin(WIREMESH, &["pubkey"], &format!("{private}\n")));
            assert_eq!(ours, wg_pubkey(&private), "#{i}: wiremesh pubkey differs from wg pubkey for a wg genkey key");
        }
    }

    #[test]
    fn cli_genkey_prints_clamped_keys() {
        // `wg genkey` prints clamped keys; so should we (the stored form is what wg would print).
        for _ in 0..8 {
            let private = assert_key_line("wiremesh genkey", &run(WIREMESH, &["genkey"]));
            let key = PrivateKey::from_base64(&private).expect("wiremesh genkey output parses");
            assert_eq!(key.to_base64(), private, "wiremesh genkey printed an unclamped key");
        }
    }

    #[test]
    fn cli_genpsk_prints_a_valid_key() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..8 {
            let psk = assert_key_line("wiremesh genpsk", &run(WIREMESH, &["genpsk"]));
            let parsed = PresharedKey::from_base64(&psk).expect("wiremesh genpsk output is a preshared key");
            assert_eq!(parsed.to_base64(), psk);
            assert!(seen.insert(psk), "wiremesh genpsk repeated a key");
        }
    }
}
