"""wg-quick and setconf texts: the shared config vectors (valid and invalid), dict round trips, and
keys kept out of repr/str."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import wiremesh


def pairs(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    confs = sorted(directory.glob("*.conf"))
    assert confs, directory
    return [(conf, json.loads(conf.with_suffix(".json").read_text())) for conf in confs]


def test_valid_vectors_parse_to_the_expected_model(vectors: Path) -> None:
    for path, expected in pairs(vectors / "configs"):
        text = path.read_bytes().decode("utf-8")  # keep CRLF and the BOM as they are
        config = wiremesh.parse_wg_quick(text, path.name)
        assert config.to_dict(reveal_secrets=True) == expected, path.name
        # The dict reads back as the same config, and the canonical rendering too.
        assert wiremesh.WgConfig.from_dict(expected) == config, path.name
        rendered = wiremesh.render_wg_quick(config)
        assert wiremesh.parse_wg_quick(rendered, path.name) == config, path.name
        assert config.to_wg_quick() == rendered
        assert wiremesh.render_wg_quick(expected) == rendered  # dicts are accepted too


def test_invalid_vectors_fail_with_code_and_location(vectors: Path) -> None:
    for path, expected in pairs(vectors / "configs" / "invalid"):
        text = path.read_bytes().decode("utf-8")
        with pytest.raises(wiremesh.ConfigError) as info:
            wiremesh.parse_wg_quick(text, path.name)
        err = info.value
        assert err.code == expected["code"], path.name
        assert err.line == expected["line"], path.name
        assert err.section == expected["section"], path.name
        assert err.key == expected["key"], path.name
        assert err.source_name == path.name
        shown = f"{err} {err!r} {err.args}"
        for secret in expected.get("must_not_contain", []):
            assert secret not in shown, path.name


def test_setconf_dialect(vectors: Path) -> None:
    text = (vectors / "configs" / "basic.conf").read_text()
    config = wiremesh.parse_wg_quick(text)
    setconf = wiremesh.render_setconf(config)
    assert "Address" not in setconf
    stripped = wiremesh.parse_setconf(setconf)
    assert stripped == config.stripped()
    assert stripped.to_setconf() == setconf
    with pytest.raises(wiremesh.ConfigError) as info:
        wiremesh.parse_setconf(text)
    assert info.value.code == "config_unknown_key"


def test_default_dict_hides_secrets_behind_key_objects(vectors: Path) -> None:
    text = (vectors / "configs" / "basic.conf").read_text()
    config = wiremesh.parse_wg_quick(text)
    revealed = config.to_dict(reveal_secrets=True)
    hidden = config.to_dict()
    private = revealed["interface"]["private_key"]
    assert isinstance(hidden["interface"]["private_key"], wiremesh.PrivateKey)
    assert hidden["interface"]["private_key"].to_base64() == private
    assert isinstance(hidden["peers"][0]["preshared_key"], wiremesh.PresharedKey)
    with pytest.raises(TypeError):
        json.dumps(hidden)  # secrets do not leak through an accidental dump
    assert wiremesh.WgConfig.from_dict(hidden) == config
    shown = f"{config!r} {config} {hidden} {config.peers}"
    assert private not in shown
    for peer in revealed["peers"]:
        if peer["preshared_key"]:
            assert peer["preshared_key"] not in shown
    assert config.private_key is not None and config.private_key.to_base64() == private
    assert config.public_key == config.private_key.public_key()
    assert config.addresses == ["10.88.0.1/24"]
    assert config.listen_port == 51820


def test_config_dicts_are_validated() -> None:
    with pytest.raises(wiremesh.ConfigError) as info:
        wiremesh.WgConfig.from_dict({"interface": {"addresses": ["10.0.0.300/24"]}})
    assert (info.value.code, info.value.key) == ("config_invalid_value", "Address")
    with pytest.raises(wiremesh.ConfigError) as unknown:
        wiremesh.WgConfig.from_dict({"interface": {"adresses": []}})
    assert unknown.value.code == "config_unknown_key"
    with pytest.raises(wiremesh.ConfigError) as missing:
        wiremesh.WgConfig.from_dict({"peers": [{"allowed_ips": ["10.0.0.2/32"]}]})
    assert missing.value.code == "config_missing_key"
    bad_key = "x" * 43 + "="
    with pytest.raises(wiremesh.ConfigError) as key:
        wiremesh.WgConfig.from_dict({"interface": {"private_key": bad_key}})
    assert key.value.code == "config_invalid_value" and bad_key not in str(key.value)


def test_rendering_refuses_injection() -> None:
    peer = {"name": "x\n[Peer]", "public_key": wiremesh.PrivateKey.generate().public_key()}
    with pytest.raises(wiremesh.ConfigError) as info:
        wiremesh.render_wg_quick({"peers": [peer]})
    assert info.value.code == "config_unsafe_value"
    assert wiremesh.is_safe_value("echo ok") and not wiremesh.is_safe_value("a\nb")
