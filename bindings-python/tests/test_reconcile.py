"""Live reconfiguration: the shared vectors (tests/vectors/reconcile), describe() without secrets,
apply_update(), and apply() through a UapiClient against a fake device that keeps its state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

import wiremesh

if TYPE_CHECKING:
    from conftest import FakeDevice


def load(vectors: Path) -> dict[str, Any]:
    return json.loads((vectors / "reconcile" / "cases.json").read_text())  # type: ignore[no-any-return]


def plan_of(vectors: Path, name: str) -> wiremesh.Plan:
    return wiremesh.plan(wiremesh.Mesh.load(vectors / "reconcile" / name))


def test_vectors(vectors: Path) -> None:
    doc = load(vectors)
    plan = plan_of(vectors, doc["mesh"])
    assert len(doc["cases"]) >= 5
    for case in doc["cases"]:
        state = wiremesh.parse_uapi_get_response(case["state"])
        update = wiremesh.diff(plan, case["node"], state)
        assert wiremesh.render_uapi_set_request(update) == case["update"], case["name"]
        changes = wiremesh.describe(update, plan, case["node"])
        assert [c["text"] for c in changes] == case["changes"], case["name"]
        after = wiremesh.apply_update(state, update)
        assert wiremesh.diff(plan, case["node"], after) == wiremesh.DeviceUpdate(), case["name"]
    for case in doc["errors"]:
        case_plan = plan_of(vectors, case["mesh"]) if "mesh" in case else plan
        state = wiremesh.parse_uapi_get_response(case["state"])
        with pytest.raises(wiremesh.WiremeshError) as info:
            wiremesh.diff(case_plan, case["node"], state)
        assert info.value.code == case["code"], case["name"]


def test_error_families(vectors: Path) -> None:
    doc = load(vectors)
    plan = plan_of(vectors, doc["mesh"])
    by_code = {case["code"]: case for case in doc["errors"]}
    with pytest.raises(wiremesh.PlanError):
        case = by_code["plan_device_key_mismatch"]
        wiremesh.diff(plan, case["node"], wiremesh.parse_uapi_get_response(case["state"]))
    with pytest.raises(wiremesh.MeshError):
        wiremesh.diff(plan, "nobody", wiremesh.DeviceState())


def test_describe_dicts_and_no_secrets(vectors: Path) -> None:
    doc = load(vectors)
    plan = plan_of(vectors, doc["mesh"])
    drift = next(c for c in doc["cases"] if c["name"].startswith("drift"))
    state = wiremesh.parse_uapi_get_response(drift["state"])
    changes = wiremesh.describe(wiremesh.diff(plan, "n2", state), plan, "n2")
    assert [c["change"] for c in changes] == ["remove_peer", "update_peer", "update_peer"]
    # Something must go from the hub's AllowedIPs: the whole list is replaced (no allowed_ip=- lines).
    assert changes[1]["peer"] == "hub" and changes[1]["allowed_ips_replaced"] is True
    assert changes[1]["allowed_ips_added"] == ["10.88.0.0/24"] and changes[1]["allowed_ips_removed"] == []
    assert changes[2]["endpoint"] == "192.0.2.11:51820" and changes[2]["persistent_keepalive"] == 25
    # A private key and a preshared key being set are described, never shown.
    key = wiremesh.PrivateKey.generate()
    psk = wiremesh.PresharedKey.generate()
    peer = plan.node("n2").peers[0].public_key
    update = wiremesh.DeviceUpdate(private_key=key, peers=[wiremesh.PeerUpdate(peer, update_only=True, preshared_key=psk)])
    described = wiremesh.describe(update, plan, "n2")
    text = json.dumps(described)
    for secret in (key.to_base64(), key.to_hex(), psk.to_base64(), psk.to_hex()):
        assert secret not in text
    assert described[0] == {
        "change": "private_key",
        "public_key": key.public_key().to_base64(),
        "text": f"private key: replaced (new public key {key.public_key().to_base64()})",
    }
    assert described[1]["preshared_key"] == "set"


def test_apply_through_a_client(vectors: Path, fake_device: Callable[..., FakeDevice]) -> None:
    doc = load(vectors)
    plan = plan_of(vectors, doc["mesh"])
    drift = next(c for c in doc["cases"] if c["name"].startswith("drift"))
    state = wiremesh.parse_uapi_get_response(drift["state"])
    device = fake_device(state)  # keeps its state: sets are applied to it
    try:
        with wiremesh.UapiClient.connect_path(device.path) as client:
            dry = wiremesh.apply(plan, "n2", client, dry_run=True)
            assert dry["applied"] is False
            assert [c["text"] for c in dry["changes"]] == drift["changes"]
            assert wiremesh.render_uapi_set_request(dry["update"]) == drift["update"]
            assert device.requests == []
            done = wiremesh.apply(plan, "n2", client)
            assert done["applied"] is True
            assert device.requests == [drift["update"]]
            again = wiremesh.apply(plan, "n2", client)
            assert again == {"applied": False, "changes": [], "update": wiremesh.DeviceUpdate()}
        # The untouched peer (n3) kept its handshake and counters.
        n3 = plan.node("n2").peer("n3").public_key
        assert device.state.peer(n3) == state.peer(n3)
    finally:
        device.stop()


def test_apply_refused_and_unknown_node(vectors: Path, fake_device: Callable[..., FakeDevice]) -> None:
    doc = load(vectors)
    plan = plan_of(vectors, doc["mesh"])
    fresh = next(c for c in doc["cases"] if c["name"].startswith("fresh"))
    device = fake_device(wiremesh.parse_uapi_get_response(fresh["state"]), set_reply="errno=-22\n\n")
    try:
        with wiremesh.UapiClient.connect_path(device.path) as client:
            with pytest.raises(wiremesh.UapiError) as info:
                wiremesh.apply(plan, "n2", client)
            assert info.value.code == "uapi_errno"
            assert wiremesh.apply(plan, "n2", client, dry_run=True)["applied"] is False
            with pytest.raises(wiremesh.MeshError) as unknown:
                wiremesh.apply(plan, "nobody", client)
            assert unknown.value.code == "mesh_unknown_node"
    finally:
        device.stop()


def test_reconcile_names_are_exported_and_documented() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in ("diff", "describe", "apply_update", "apply"):
        assert name in wiremesh.__all__, name
        assert getattr(wiremesh, name).__doc__, name
        assert f"wiremesh.{name}(" in readme, name
