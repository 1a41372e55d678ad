"""Redundant relays: failover tables, plans with relays down, the failover proof — against the shared
*.failover.json vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import wiremesh


def test_failover_vectors(vectors: Path) -> None:
    files = sorted((vectors / "meshes").glob("*.failover.json"))
    assert files, "at least one mesh with redundant relays"
    for path in files:
        expected = json.loads(path.read_text())
        mesh = wiremesh.Mesh.load(path.with_name(path.name.replace(".failover.json", ".toml")))
        assert wiremesh.verify_failover(mesh) == expected["proof"]
        proof, problems = wiremesh.check_failover(mesh)
        assert proof == expected["proof"] and problems == []
        for relay, plan_expected in expected["relays_down"].items():
            assert wiremesh.plan_with_relays_down(mesh, [relay]).to_dict() == plan_expected, (path.name, relay)


def test_failover_table_and_relays_down(vectors: Path) -> None:
    mesh = wiremesh.Mesh.load(vectors / "meshes" / "redundant-hubs.toml")
    spoke = wiremesh.plan(mesh).node("spoke-1")
    assert spoke.failover == [
        {"node": "spoke-2", "prefixes": ["10.77.0.12/32"], "primary": "hub-a", "backups": ["hub-b"]}
    ]
    assert spoke.failover_relays == ["hub-a", "hub-b"]
    down = wiremesh.plan_with_relays_down(mesh, ["hub-a"]).node("spoke-1")
    hub_a, hub_b = down.peer("hub-a"), down.peer("hub-b")
    assert hub_a is not None and hub_b is not None
    assert hub_b.allowed_ips == ["10.77.0.0/24"]
    assert hub_a.allowed_ips == ["10.77.0.1/32"]
    assert {"node": "spoke-2", "reach": "relay", "via": "hub-b"} in down.routes
    # Both hubs down: the spokes are cut from each other, not misrouted.
    both = wiremesh.plan_with_relays_down(mesh, ["hub-a", "hub-b"]).node("spoke-1")
    assert {"node": "spoke-2", "reach": "blocked", "via": None} in both.routes


def test_unknown_relay_is_a_mesh_error(vectors: Path) -> None:
    mesh = wiremesh.Mesh.load(vectors / "meshes" / "redundant-hubs.toml")
    with pytest.raises(wiremesh.MeshError) as err:
        wiremesh.plan_with_relays_down(mesh, ["spoke-1"])
    assert err.value.code == "mesh_unknown_node"


def test_single_hub_has_no_backup(vectors: Path) -> None:
    mesh = wiremesh.Mesh.load(vectors / "meshes" / "seed-hub-and-spoke.toml")
    proof = wiremesh.verify_failover(mesh)
    assert proof["pairs_failed_over"] == 0 and proof["pairs_without_backup"] > 0
