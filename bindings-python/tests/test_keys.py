"""Keys: the shared key vectors, generation, encodings, files, and secrets kept out of repr/str."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import wiremesh


def test_key_vectors(vectors: Path) -> None:
    keys = json.loads((vectors / "keys.json").read_text())
    for pair in keys["pairs"]:
        private = wiremesh.PrivateKey.from_base64(pair["private"])
        assert private.public_key().to_base64() == pair["public"]
        assert private.to_hex() == pair["private_hex"]
        assert private.to_base64() == pair["private"]
        assert wiremesh.PrivateKey.from_hex(pair["private_hex"]) == private
        public = wiremesh.PublicKey.from_hex(pair["public_hex"])
        assert public.to_base64() == pair["public"]
        assert public == wiremesh.PublicKey(pair["public"]) == private.public_key()
        assert str(public) == pair["public"]
        assert public.to_hex() == pair["public_hex"]
    unclamped = keys["unclamped"]
    key = wiremesh.PrivateKey.from_base64(unclamped["private"])
    assert key.to_base64() == unclamped["clamped"]
    assert key.public_key().to_base64() == unclamped["public"]
    psk = wiremesh.PresharedKey.from_base64(keys["preshared"]["base64"])
    assert psk.to_hex() == keys["preshared"]["hex"]
    assert wiremesh.PresharedKey.from_hex(keys["preshared"]["hex"]) == psk


def test_generate_and_bytes() -> None:
    a, b = wiremesh.PrivateKey.generate(), wiremesh.PrivateKey.generate()
    assert a != b and a.public_key() != b.public_key()
    raw = a.to_bytes()
    assert isinstance(raw, bytes) and len(raw) == wiremesh.KEY_LEN
    assert wiremesh.PrivateKey.from_bytes(raw) == a
    assert wiremesh.PublicKey.from_bytes(a.public_key().to_bytes()) == a.public_key()
    assert len({a.public_key(), a.public_key(), b.public_key()}) == 2
    with pytest.raises(ValueError):
        wiremesh.PrivateKey.from_bytes(b"short")


def test_preshared_derivation_is_symmetric() -> None:
    seed = wiremesh.PresharedKey.generate()
    a, b = wiremesh.PrivateKey.generate().public_key(), wiremesh.PrivateKey.generate().public_key()
    assert wiremesh.PresharedKey.derive_for_pair(seed, a, b) == wiremesh.PresharedKey.derive_for_pair(seed, b, a)
    assert wiremesh.PresharedKey.derive_for_pair(seed, a, b) != seed


@pytest.mark.parametrize(
    ("parse", "text", "code"),
    [
        (wiremesh.PrivateKey.from_base64, "AAAA", "key_invalid_base64"),
        (wiremesh.PublicKey.from_base64, "dyRQOE5i8fz5vt/OqJL0kbtbxtcmupbxqPq4Z/p6fgh=", "key_non_canonical"),
        (wiremesh.PublicKey, "not a key", "key_invalid_base64"),
        (wiremesh.PresharedKey.from_hex, "abcd", "key_invalid_hex"),
    ],
)
def test_malformed_keys_raise_key_errors(parse, text: str, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(wiremesh.KeyFormatError) as info:
        parse(text)
    assert info.value.code == code
    assert isinstance(info.value, wiremesh.WiremeshError)
    assert text not in str(info.value)


def test_key_files(tmp_path: Path) -> None:
    key = wiremesh.PrivateKey.generate()
    path = tmp_path / "node.key"
    key.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text() == key.to_base64() + "\n"
    assert wiremesh.PrivateKey.load(str(path)) == key
    psk = wiremesh.PresharedKey.generate()
    psk.save(tmp_path / "psk")
    assert wiremesh.PresharedKey.load(tmp_path / "psk") == psk
    (tmp_path / "garbage.key").write_text("garbage\n")
    with pytest.raises(wiremesh.KeyFormatError) as info:
        wiremesh.PrivateKey.load(tmp_path / "garbage.key")
    assert info.value.code == "key_in_file"
    with pytest.raises(FileNotFoundError) as missing:
        wiremesh.PrivateKey.load(tmp_path / "missing.key")
    assert missing.value.code == "io_not_found"  # type: ignore[attr-defined]


def test_secret_keys_never_show_in_repr_or_str() -> None:
    key = wiremesh.PrivateKey.generate()
    psk = wiremesh.PresharedKey.generate()
    for secret_holder, secret in ((key, key.to_base64()), (psk, psk.to_base64())):
        for shown in (repr(secret_holder), str(secret_holder), f"{secret_holder}", f"{secret_holder!r}"):
            assert secret not in shown
            assert secret_holder.to_hex() not in shown
            assert "redacted" in shown
    assert key.public_key().to_base64() in repr(key)  # the public half is fine to show


def test_secret_keys_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(wiremesh.PrivateKey.generate())
