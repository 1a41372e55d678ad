"""The mesh model and the planner: mesh vectors plan exactly as their *.plan.json, building in code,
dict/TOML/JSON/file round trips, validation that leaves the mesh unchanged, pools."""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import stat
from pathlib import Path

import pytest

import wiremesh


def mesh_files(vectors: Path) -> list[Path]:
    files = sorted((vectors / "meshes").glob("*.toml"))
    assert len(files) >= 4
    return files


def test_mesh_vectors_plan_as_expected(vectors: Path) -> None:
    for path in mesh_files(vectors):
        mesh = wiremesh.Mesh.load(path)
        plan = wiremesh.plan(mesh)
        proof = wiremesh.verify(plan)
        assert proof.pairs_proven > 0
        expected = json.loads(path.with_suffix(".plan.json").read_text())
        assert plan.to_dict() == expected, path.name
        assert json.loads(plan.to_json()) == expected
        for node, node_expected in zip(plan.nodes, expected["nodes"]):
            assert node.to_dict() == node_expected
            assert [p.to_dict() for p in node.peers] == node_expected["peers"]
            assert node.routes == node_expected["routes"]


def test_round_trips(vectors: Path) -> None:
    for path in mesh_files(vectors):
        mesh = wiremesh.Mesh.load(path)
        assert wiremesh.Mesh.from_dict(mesh.to_dict()) == mesh
        assert wiremesh.Mesh.from_toml(mesh.to_toml()) == mesh
        assert wiremesh.Mesh.from_json(mesh.to_json()) == mesh
        assert json.loads(mesh.to_json()) == mesh.to_dict()


def build_seed() -> wiremesh.Mesh:
    mesh = wiremesh.Mesh("seed", ["10.88.0.0/24"], topology="full-mesh")
    mesh.add_node("hub", endpoint="167.172.142.145:51820", relay=True, addresses=["10.88.0.1"])
    for i in (1, 2, 3):
        mesh.add_node(f"node-{i}", addresses=[ipaddress.ip_address(f"10.88.0.{10 + i}")])
    return mesh


def test_build_in_code_matches_the_seed_vector(vectors: Path) -> None:
    built = build_seed()
    loaded = wiremesh.Mesh.load(vectors / "meshes" / "seed-full-mesh.toml")
    for node in loaded.nodes:
        assert node.public_key is not None
        built.update_node(node.name, public_key=node.public_key)
    assert built.to_dict() == loaded.to_dict()
    assert wiremesh.plan(built).to_dict() == json.loads((vectors / "meshes" / "seed-full-mesh.plan.json").read_text())


def test_model_accessors() -> None:
    mesh = wiremesh.Mesh("demo", ["10.88.0.0/24", "fd88::/64"], mtu=1380, dns=["10.88.0.53"], preshared_keys=True)
    assert mesh.name == "demo" and mesh.topology == "full-mesh"
    assert mesh.networks == ["10.88.0.0/24", "fd88::/64"]
    assert mesh.settings["mtu"] == 1380 and mesh.settings["preshared_keys"] is True
    hub = mesh.add_node("hub", endpoint="[2001:db8::1]:51820", relay=True, groups=["core"], subnets=["192.168.1.0/24"])
    assert hub.name == "hub" and hub.relay and hub.groups == ["core"] and hub.subnets == ["192.168.1.0/24"]
    assert hub.endpoint == "[2001:db8::1]:51820"
    mesh.add_node("laptop", groups=["users"], persistent_keepalive=15)
    mesh.add_node("phone", groups=["users"])
    mesh.add_rule("users", "users", "none")
    assert mesh.rules == [{"between": ["users", "users"], "link": "none"}]
    assert len(mesh) == 3 and "hub" in mesh and "nobody" not in mesh
    assert [n.name for n in mesh] == ["hub", "laptop", "phone"]
    generated = mesh.generate_missing()
    assert generated["keys"] == ["hub", "laptop", "phone"]
    assert len(generated["addresses"]) == 6 and generated["preshared_key_seed"] is True
    assert mesh.node("laptop").addresses == ["10.88.0.2", "fd88::2"]
    assert mesh.preshared_key_seed is not None
    plan = wiremesh.plan(mesh)
    proof = wiremesh.verify(plan)
    assert proof.pairs_blocked == 2
    laptop = plan.node("laptop")
    assert laptop.peer("phone") is None
    hub_peer = laptop.peer("hub")
    assert hub_peer is not None and hub_peer.has_preshared_key and hub_peer.persistent_keepalive == 15
    assert hub_peer.preshared_key == plan.node("hub").peer("laptop").preshared_key  # type: ignore[union-attr]
    assert "192.168.1.0/24" in hub_peer.allowed_ips
    assert laptop.key_source == "inline" and laptop.mtu == 1380 and laptop.dns == ["10.88.0.53"]
    assert plan["hub"].name == "hub" and "hub" in plan and len(plan) == 3
    dot = wiremesh.render_dot(plan)
    assert dot.startswith('graph "demo"') and '"hub" -- "laptop"' in dot
    removed = mesh.remove_node("phone")
    assert removed.name == "phone" and len(mesh) == 2
    twin = copy.deepcopy(mesh)
    assert twin == mesh and twin is not mesh


def test_invalid_input_raises_and_leaves_the_mesh_unchanged() -> None:
    mesh = build_seed()
    before = mesh.to_dict()
    cases = [
        (dict(name="bad\nname"), "mesh_invalid_name"),
        (dict(name="x", endpoint="no-port"), "mesh_invalid_endpoint"),
        (dict(name="x", subnets=["10.0.0.0/33"]), "mesh_syntax"),
        (dict(name="x", addresses=["10.99.0.1"]), "mesh_invalid_value"),
        (dict(name="hub"), "mesh_duplicate_name"),
        (dict(name="x", addresses=["10.88.0.1"]), "mesh_duplicate_address"),
        (dict(name="x", post_up=["echo\n[Peer]"]), "mesh_unsafe_value"),
        (dict(name="x", listen_port=0), "mesh_invalid_value"),
        (dict(name="x", colour="blue"), "mesh_syntax"),
    ]
    for fields, code in cases:
        name = fields.pop("name")
        with pytest.raises(wiremesh.MeshError) as info:
            mesh.add_node(name, **fields)
        assert info.value.code == code, (name, fields, info.value)
        assert mesh.to_dict() == before
    with pytest.raises(wiremesh.MeshError) as update:
        mesh.update_node("node-1", addresses=["10.88.0.1"])
    assert update.value.code == "mesh_duplicate_address" and mesh.to_dict() == before
    with pytest.raises(wiremesh.MeshError) as unknown:
        mesh.node("ghost")
    assert unknown.value.code == "mesh_unknown_node"
    with pytest.raises(wiremesh.MeshError) as rule:
        mesh.add_rule("ghosts", "*", "none")
    assert rule.value.code == "mesh_unknown_group" and mesh.to_dict() == before
    with pytest.raises(wiremesh.MeshError) as bad_network:
        wiremesh.Mesh("t", ["10.88.0.0/33"])
    assert bad_network.value.code == "mesh_syntax"
    with pytest.raises(wiremesh.MeshError) as overlap:
        wiremesh.Mesh("t", ["10.88.0.0/16", "10.88.1.0/24"])
    assert overlap.value.code == "mesh_overlapping_networks"
    with pytest.raises(TypeError):
        mesh.add_node("x", public_key=wiremesh.PrivateKey.generate())  # never taken for a public key


def test_private_keys_in_memory_and_update() -> None:
    mesh = wiremesh.Mesh("t", ["10.88.0.0/24"])
    key = wiremesh.PrivateKey.generate()
    node = mesh.add_node("a", endpoint="192.0.2.1:51820", private_key=key)
    assert node.public_key == key.public_key() and node.has_private_key and node.private_key == key
    updated = mesh.update_node("a", listen_port=51000)
    assert updated.private_key == key and updated.listen_port == 51000
    other = wiremesh.PrivateKey.generate()
    assert mesh.update_node("a", private_key=other).public_key == other.public_key()
    with pytest.raises(wiremesh.MeshError) as mismatch:
        mesh.update_node("a", public_key=key.public_key(), private_key=other)
    assert mismatch.value.code == "mesh_key_mismatch"
    assert mesh.node("a").private_key == other
    renamed = mesh.update_node("a", name="b")
    assert renamed.name == "b" and renamed.private_key == other


def test_save_and_load_keep_secrets_in_key_files(tmp_path: Path) -> None:
    mesh = build_seed()
    mesh.generate_missing()
    path = tmp_path / "seed.toml"
    mesh.save(path)
    text = path.read_text()
    for node in mesh.nodes:
        assert node.private_key is not None
        assert node.private_key.to_base64() not in text
        key_file = tmp_path / "seed.keys" / f"{node.name}.key"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "seed.keys").st_mode) == 0o700
    loaded = wiremesh.Mesh.load(path)
    assert [n.private_key for n in loaded.nodes] == [n.private_key for n in mesh.nodes]
    plan_a, plan_b = wiremesh.plan(mesh), wiremesh.plan(loaded)
    assert plan_a.render_all() == plan_b.render_all()
    json_path = tmp_path / "seed.json"
    loaded.save(str(json_path))
    assert wiremesh.Mesh.load(json_path).to_dict() == loaded.to_dict()


def test_pools() -> None:
    pool = wiremesh.Pool("10.0.0.0/29")
    assert pool.network == "10.0.0.0/29" and pool.capacity == 6
    pool.reserve("10.0.0.1")
    assert pool.reservations == ["10.0.0.1"]
    assert pool.allocate() == "10.0.0.2"
    pool.assign(ipaddress.ip_address("10.0.0.4"))
    assert pool.allocated() == ["10.0.0.2", "10.0.0.4"] and len(pool) == 2
    assert pool.is_allocated("10.0.0.4") and pool.is_reserved("10.0.0.1") and "10.0.0.7" in pool
    pool.release("10.0.0.4")
    key = wiremesh.PrivateKey.generate().public_key()
    derived = pool.allocate_for_key(key)
    assert derived in pool.allocated()
    keys = [wiremesh.PrivateKey.generate().public_key() for _ in range(2)]
    assert len(pool.allocate_for_keys([k.to_base64() for k in keys])) == 2
    pool.allocate()
    with pytest.raises(wiremesh.IpamError) as exhausted:
        pool.allocate()
    assert exhausted.value.code == "ipam_exhausted"
    with pytest.raises(wiremesh.IpamError) as bad:
        wiremesh.Pool("10.0.0.0/33")
    assert bad.value.code == "ipam_invalid_address"
    with pytest.raises(wiremesh.IpamError) as bad_address:
        pool.assign("10.0.0")
    assert bad_address.value.code == "ipam_invalid_address"
    mesh = build_seed()
    mesh_pool = mesh.pool()
    assert mesh_pool.is_allocated("10.88.0.11") and mesh_pool.allocate() == "10.88.0.2"


def test_key_derived_allocation_is_stable() -> None:
    def build(order: list[str], keys: dict[str, wiremesh.PrivateKey]) -> dict[str, list[str]]:
        mesh = wiremesh.Mesh("t", ["10.88.0.0/16"], allocation="key-derived")
        for name in order:
            mesh.add_node(name, endpoint="192.0.2.1:51820" if name == "a" else None, private_key=keys[name])
        mesh.generate_missing()
        return {n.name: n.addresses for n in mesh.nodes}

    keys = {name: wiremesh.PrivateKey.generate() for name in "abc"}
    assert build(["a", "b", "c"], keys) == build(["c", "a", "b"], keys)
