"""The shared error vectors: every operation of tests/vectors/errors.json raises exactly the listed
code, the binding knows exactly the codes the vectors list, and each family has its own class."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any, Callable

import pytest

import wiremesh

FAMILY_CLASSES = {
    "key": wiremesh.KeyFormatError,
    "ipam": wiremesh.IpamError,
    "mesh": wiremesh.MeshError,
    "config": wiremesh.ConfigError,
    "plan": wiremesh.PlanError,
    "verify": wiremesh.VerifyError,
    "io": wiremesh.WiremeshOSError,
    "uapi": wiremesh.UapiError,
}


def _pool(spec: dict[str, Any]) -> None:
    pool = wiremesh.Pool(spec["network"])
    for reservation in spec.get("reserve", []):
        pool.reserve(reservation)
    for address in spec.get("assign", []):
        pool.assign(address)
    for address in spec.get("release", []):
        pool.release(address)
    for _ in range(spec.get("allocate", 0)):
        pool.allocate()


def operations(errors_dir: Path) -> dict[str, Callable[[Any], object]]:
    """Every operation errors.json's `about` lists, through the Python API."""
    return {
        "private_key": wiremesh.PrivateKey.from_base64,
        "public_key": wiremesh.PublicKey.from_base64,
        "preshared_key": wiremesh.PresharedKey.from_base64,
        "public_key_hex": wiremesh.PublicKey.from_hex,
        "name": wiremesh.check_name,
        "endpoint": wiremesh.parse_endpoint,
        "reservation": wiremesh.parse_reservation,
        "mesh_toml": wiremesh.Mesh.from_toml,
        "mesh_json": wiremesh.Mesh.from_json,
        "remove_node": lambda text: wiremesh.Mesh.from_toml(text).remove_node("nobody"),
        "plan_toml": lambda text: wiremesh.plan(wiremesh.Mesh.from_toml(text)),
        "verify_toml": lambda text: wiremesh.verify(wiremesh.plan(wiremesh.Mesh.from_toml(text))),
        "parse_wg_quick": lambda text: wiremesh.parse_wg_quick(text, "vector"),
        "parse_setconf": lambda text: wiremesh.parse_setconf(text, "vector"),
        "render_wg_quick": wiremesh.render_wg_quick,
        "pool": _pool,
        "load_mesh_file": lambda path: wiremesh.Mesh.load(errors_dir / path),
        "uapi_set_request": wiremesh.parse_uapi_set_request,
        "uapi_set_response": wiremesh.parse_uapi_set_response,
        "uapi_get_response": wiremesh.parse_uapi_get_response,
    }


def load(vectors: Path) -> dict[str, Any]:
    return json.loads((vectors / "errors.json").read_text())  # type: ignore[no-any-return]


def test_error_codes_are_exactly_the_vectors(vectors: Path) -> None:
    doc = load(vectors)
    assert list(wiremesh.ERROR_CODES) == doc["codes"]
    assert set(wiremesh.ERROR_CODES) == set(doc["codes"])


def test_every_case_raises_its_code(vectors: Path) -> None:
    doc = load(vectors)
    ops = operations(vectors)
    triggered = set()
    for case in doc["cases"]:
        run = ops[case["operation"]]
        with pytest.raises(wiremesh.WiremeshError) as info:
            run(case["input"])
        err = info.value
        assert err.code == case["code"], f"{case['name']}: {err.code} ({err})"
        family = case["code"].split("_", 1)[0]
        assert isinstance(err, FAMILY_CLASSES[family]), f"{case['name']}: {type(err).__name__}"
        triggered.add(err.code)
    explained = set(doc["not_triggered"])
    assert triggered | explained == set(wiremesh.ERROR_CODES)


def test_every_operation_in_about_is_implemented(vectors: Path) -> None:
    doc = load(vectors)
    used = {case["operation"] for case in doc["cases"]}
    assert used <= set(operations(vectors))
    for name in operations(vectors):
        assert name in doc["about"], name


def test_hierarchy() -> None:
    for cls in FAMILY_CLASSES.values():
        assert issubclass(cls, wiremesh.WiremeshError)
        assert cls.__module__ == "wiremesh"
    assert issubclass(wiremesh.WiremeshError, Exception)
    assert issubclass(wiremesh.WiremeshOSError, OSError)
    assert issubclass(wiremesh.NotFoundError, FileNotFoundError)
    assert issubclass(wiremesh.PermissionDeniedError, PermissionError)
    assert issubclass(wiremesh.AlreadyExistsError, FileExistsError)
    for cls in (wiremesh.NotFoundError, wiremesh.PermissionDeniedError, wiremesh.AlreadyExistsError):
        assert issubclass(cls, wiremesh.WiremeshOSError)


def test_io_errors_are_python_os_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(FileNotFoundError) as info:
        wiremesh.Mesh.load(missing)
    err = info.value
    assert isinstance(err, wiremesh.NotFoundError)
    assert err.code == "io_not_found"  # type: ignore[attr-defined]
    assert err.errno == errno.ENOENT
    assert err.filename == str(missing)
    assert err.op == "read"  # type: ignore[attr-defined]

    with pytest.raises(wiremesh.WiremeshOSError) as other:
        wiremesh.Mesh.load(tmp_path)  # a directory
    assert other.value.code == "io_other"
    assert isinstance(other.value, OSError)


def test_permission_denied_maps_to_permission_error(tmp_path: Path) -> None:
    import os

    target = tmp_path / "locked" / "mesh.toml"
    target.parent.mkdir()
    target.write_text("[mesh]\nname = 't'\nnetworks = ['10.88.0.0/24']\n")
    os.chmod(target, 0)
    try:
        if os.access(target, os.R_OK):
            pytest.skip("running with privileges that ignore file modes (root)")
        with pytest.raises(PermissionError) as info:
            wiremesh.Mesh.load(target)
        assert info.value.code == "io_permission_denied"  # type: ignore[attr-defined]
        assert isinstance(info.value, wiremesh.PermissionDeniedError)
    finally:
        os.chmod(target, 0o600)


def test_config_errors_carry_their_location() -> None:
    with pytest.raises(wiremesh.ConfigError) as info:
        wiremesh.parse_wg_quick("[Interface]\nListenPort = 99999\n", "wg0.conf")
    err = info.value
    assert (err.code, err.source_name, err.line, err.section, err.key) == (
        "config_invalid_value",
        "wg0.conf",
        2,
        "Interface",
        "ListenPort",
    )


def test_uapi_errors_carry_line_key_and_errno() -> None:
    with pytest.raises(wiremesh.UapiError) as info:
        wiremesh.parse_uapi_set_request("set=1\nlisten_port=65536\n\n")
    err = info.value
    assert (err.code, err.line, err.key, err.errno) == ("uapi_invalid_value", 2, "listen_port", errno.EINVAL)
    assert str(err).startswith("UAPI line 2: invalid listen_port")
    with pytest.raises(wiremesh.UapiError) as refused:
        wiremesh.parse_uapi_set_response("errno=-98\n\n")
    assert (refused.value.code, refused.value.line, refused.value.key) == ("uapi_errno", None, None)
    assert refused.value.errno == errno.EADDRINUSE
    assert not isinstance(refused.value, OSError)


def test_plan_errors_list_the_pairs() -> None:
    mesh = wiremesh.Mesh("t", ["10.88.0.0/24"])
    mesh.add_node("a")
    mesh.add_node("b")
    mesh.generate_missing()
    with pytest.raises(wiremesh.PlanError) as info:
        wiremesh.plan(mesh)
    assert info.value.code == "plan_unroutable_pair"
    assert info.value.pairs == [("a", "b")]
