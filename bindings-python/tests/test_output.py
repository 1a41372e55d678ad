"""Rendering and writing: formats, file modes and atomicity of write_configs, write_proven_configs,
write_mesh_configs and write_mesh_configs_lean, the GIL released during heavy work, and secrets absent
from every repr/str."""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import wiremesh


def seed_mesh() -> wiremesh.Mesh:
    mesh = wiremesh.Mesh("seed", ["10.88.0.0/24"], preshared_keys=True)
    mesh.add_node("hub", endpoint="167.172.142.145:51820", relay=True)
    for i in (1, 2, 3):
        mesh.add_node(f"node-{i}")
    mesh.generate_missing()
    return mesh


def test_render_formats() -> None:
    mesh = seed_mesh()
    plan = wiremesh.plan(mesh)
    hub_key = mesh.node("hub").private_key
    assert hub_key is not None
    text = plan.render("hub")
    assert text.startswith("[Interface]\n") and f"PrivateKey = {hub_key.to_base64()}" in text
    assert "Address = 10.88.0.1/24" in text
    setconf = plan.render("hub", format="setconf")
    assert "Address" not in setconf and "PresharedKey" in setconf
    assert plan.node("hub").render("setconf") == setconf
    assert plan.render_all() == {n.name: plan.render(n.name) for n in plan.nodes}
    assert plan.config("hub") == wiremesh.parse_wg_quick(text)
    with pytest.raises(ValueError):
        plan.render("hub", format="yaml")  # type: ignore[arg-type]
    with pytest.raises(wiremesh.MeshError) as info:
        plan.render("ghost")
    assert info.value.code == "mesh_unknown_node"


def test_write_configs_modes(tmp_path: Path) -> None:
    plan = wiremesh.plan(seed_mesh())
    out = tmp_path / "configs"
    written = wiremesh.write_configs(plan, out)
    assert sorted(written) == sorted(str(out / f"{n}.conf") for n in ("hub", "node-1", "node-2", "node-3"))
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
    for path in written:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert Path(path).read_text() == plan.render(Path(path).stem)
    assert sorted(os.listdir(out)) == sorted(Path(p).name for p in written)  # no temporaries left
    again = wiremesh.write_configs(plan, str(out), format="setconf")
    assert Path(again[0]).read_text() == plan.render("hub", "setconf")


def test_write_configs_writes_nothing_on_error(tmp_path: Path) -> None:
    mesh = seed_mesh()
    # node-3's private key is unknown (only its public key is declared): its config cannot be rendered.
    mesh.update_node("node-3", public_key=wiremesh.PrivateKey.generate().public_key())
    plan = wiremesh.plan(mesh)
    out = tmp_path / "configs"
    out.mkdir()
    (out / "hub.conf").write_text("old\n")
    with pytest.raises(wiremesh.MeshError) as info:
        wiremesh.write_configs(plan, out)
    assert info.value.code == "mesh_missing_key"
    assert os.listdir(out) == ["hub.conf"] and (out / "hub.conf").read_text() == "old\n"


def test_write_configs_io_errors(tmp_path: Path) -> None:
    plan = wiremesh.plan(seed_mesh())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as info:
        wiremesh.write_configs(plan, blocker / "configs")
    assert isinstance(info.value, wiremesh.WiremeshError)
    assert info.value.code.startswith("io_")  # type: ignore[attr-defined]


def gil_released_during(*works: Callable[[], Any]) -> tuple[list[Any], list[int]]:
    """Runs each of `works` while another thread counts, and returns their results and how far the
    counter got during each. With a huge switch interval this thread keeps the GIL until it releases it
    itself, so the counter only advances while wiremesh works with the GIL released."""
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0)

    interval = sys.getswitchinterval()
    counter = threading.Thread(target=count)
    counter.start()
    sys.setswitchinterval(60.0)
    results: list[Any] = []
    progressed: list[int] = []
    try:
        for work in works:
            before = ticks
            results.append(work())
            progressed.append(ticks - before)
    finally:
        sys.setswitchinterval(interval)
        done.set()
        counter.join()
    return results, progressed


def test_heavy_work_releases_the_gil() -> None:
    mesh = wiremesh.Mesh("big", ["10.88.0.0/16"])
    for i in range(400):
        mesh.add_node(f"node-{i:03}", endpoint=f"192.0.2.{1 + i % 250}:{51820 + i // 250}")
    mesh.generate_missing()
    plan = wiremesh.plan(mesh)
    _, progressed = gil_released_during(lambda: wiremesh.plan(mesh), plan.render_all, lambda: wiremesh.verify(plan))
    assert all(p > 0 for p in progressed), f"another Python thread ran during plan/render_all/verify: {progressed}"


def test_no_secret_in_any_repr_or_str(tmp_path: Path) -> None:
    mesh = seed_mesh()
    plan = wiremesh.plan(mesh)
    secrets = [n.private_key.to_base64() for n in mesh.nodes if n.private_key is not None]
    assert mesh.preshared_key_seed is not None
    secrets.append(mesh.preshared_key_seed.to_base64())
    for node in plan.nodes:
        for peer in node.peers:
            assert peer.preshared_key is not None
            secrets.append(peer.preshared_key.to_base64())
    objects: list[object] = [mesh, *mesh.nodes, plan, *plan.nodes, mesh.preshared_key_seed, mesh.pool()]
    for node in plan.nodes:
        objects += [*node.peers, node.config(), node.to_dict(), node.config().to_dict(), node.config().peers]
        objects += [p.to_dict() for p in node.peers]
    objects += [plan.to_dict(), plan.to_json(), mesh.to_dict(), mesh.to_toml(), mesh.to_json(), mesh.settings]
    objects += [wiremesh.verify(plan), wiremesh.render_dot(plan)]
    shown = "\n".join(f"{o!r}\n{o}" for o in objects)
    for secret in secrets:
        assert secret not in shown
    assert "redacted" in shown


def test_write_proven_configs_writes_what_write_configs_writes(tmp_path: Path) -> None:
    plan = wiremesh.plan(seed_mesh())
    proven = wiremesh.write_proven_configs(plan, tmp_path / "proven")
    plain = wiremesh.write_configs(plan, tmp_path / "plain")
    assert [Path(p).name for p in proven] == [Path(p).name for p in plain]
    for a, b in zip(proven, plain):
        assert Path(a).read_text() == Path(b).read_text()
        assert stat.S_IMODE(os.stat(a).st_mode) == 0o600


def test_write_proven_configs_writes_nothing_on_error(tmp_path: Path) -> None:
    mesh = seed_mesh()
    mesh.update_node("node-3", public_key=wiremesh.PrivateKey.generate().public_key())
    plan = wiremesh.plan(mesh)
    out = tmp_path / "configs"
    out.mkdir()
    (out / "hub.conf").write_text("old\n")
    with pytest.raises(wiremesh.MeshError) as info:
        wiremesh.write_proven_configs(plan, out)
    assert info.value.code == "mesh_missing_key"
    assert os.listdir(out) == ["hub.conf"]
    assert (out / "hub.conf").read_text() == "old\n"


def with_private_keys(mesh: wiremesh.Mesh) -> wiremesh.Mesh:
    """The mesh with its declared public keys dropped and fresh key pairs generated, so that every node's
    config can be rendered (the vector meshes hold only public keys)."""
    data = mesh.to_dict()
    for node in data["nodes"]:
        node.pop("public_key", None)
    keyed = wiremesh.Mesh.from_dict(data)
    keyed.generate_missing()
    assert all(node.private_key is not None for node in keyed.nodes)
    return keyed


def mesh_vectors(vectors: Path) -> list[Path]:
    files = sorted((vectors / "meshes").glob("*.toml"))
    assert len(files) >= 4
    return files


def file_texts(directory: Path) -> dict[str, str]:
    return {name: (directory / name).read_text() for name in sorted(os.listdir(directory))}


def test_write_mesh_configs_writes_what_write_proven_configs_writes(tmp_path: Path, vectors: Path) -> None:
    meshes = [("seed-psk", seed_mesh())]
    meshes += [(path.stem, with_private_keys(wiremesh.Mesh.load(path))) for path in mesh_vectors(vectors)]
    for name, mesh in meshes:
        expected_plan = wiremesh.plan(mesh)
        for format in ("wg-quick", "setconf"):
            out = tmp_path / f"{name}-{format}"
            plan, written = wiremesh.write_mesh_configs(mesh, out, format)
            expected = wiremesh.write_proven_configs(expected_plan, tmp_path / f"{name}-{format}-expected", format)
            assert isinstance(plan, wiremesh.Plan)
            assert plan == expected_plan, name
            assert plan.to_dict() == expected_plan.to_dict()
            assert [Path(p).name for p in written] == [Path(p).name for p in expected], name
            assert written == [str(out / f"{node.name}.conf") for node in mesh.nodes]
            assert file_texts(out) == file_texts(Path(expected[0]).parent), (name, format)
            assert file_texts(out) == {f"{n}.conf": text for n, text in plan.render_all(format).items()}
            assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
            for path in written:
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_write_mesh_configs_returns_a_plan_that_works_like_plan(tmp_path: Path) -> None:
    mesh = seed_mesh()
    plan, written = wiremesh.write_mesh_configs(mesh, str(tmp_path / "out"))
    assert plan == wiremesh.plan(mesh)
    assert wiremesh.verify(plan).pairs_proven == 12
    assert [n.name for n in plan.nodes] == ["hub", "node-1", "node-2", "node-3"]
    assert Path(written[0]).read_text() == plan.render("hub")
    assert_rewrites_a_loose_directory(tmp_path, wiremesh.write_mesh_configs, mesh, plan)


def assert_rewrites_a_loose_directory(
    tmp_path: Path, write: Callable[..., object], mesh: wiremesh.Mesh, plan: wiremesh.Plan
) -> None:
    """Rewriting an existing 0755 directory replaces its configs, tightens it to 0700 and keeps other files."""
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    (loose / "hub.conf").write_text("old\n")
    (loose / "notes.txt").write_text("kept\n")
    os.chmod(loose, 0o755)
    write(mesh, loose, format="setconf")
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o700
    assert (loose / "hub.conf").read_text() == plan.render("hub", "setconf")
    assert (loose / "notes.txt").read_text() == "kept\n"
    assert sorted(os.listdir(loose)) == ["hub.conf", "node-1.conf", "node-2.conf", "node-3.conf", "notes.txt"]


def test_write_mesh_configs_writes_nothing_on_error(tmp_path: Path, vectors: Path) -> None:
    mesh = seed_mesh()
    # node-3's private key is unknown (only its public key is declared): its config cannot be rendered.
    mesh.update_node("node-3", public_key=wiremesh.PrivateKey.generate().public_key())
    # The vector meshes hold only public keys: no node's config can be rendered.
    meshes = [mesh] + [wiremesh.Mesh.load(path) for path in mesh_vectors(vectors)]
    for index, unrenderable in enumerate(meshes):
        out = tmp_path / f"configs-{index}"
        out.mkdir()
        (out / "hub.conf").write_text("old\n")
        with pytest.raises(wiremesh.MeshError) as info:
            wiremesh.write_mesh_configs(unrenderable, out)
        assert info.value.code == "mesh_missing_key"
        with pytest.raises(wiremesh.MeshError) as lean:
            wiremesh.write_mesh_configs_lean(unrenderable, out)
        assert lean.value.code == "mesh_missing_key"
        with pytest.raises(wiremesh.MeshError) as proven:
            wiremesh.write_proven_configs(wiremesh.plan(unrenderable), out)
        assert proven.value.code == "mesh_missing_key"
        assert os.listdir(out) == ["hub.conf"], "no file added, no temporary left"
        assert (out / "hub.conf").read_text() == "old\n"


def test_write_mesh_configs_raises_what_plan_and_verify_raise(tmp_path: Path, vectors: Path) -> None:
    cases = json.loads((vectors / "errors.json").read_text())["cases"]
    cases = [c for c in cases if c["operation"] in ("plan_toml", "verify_toml")]
    assert {c["operation"] for c in cases} == {"plan_toml", "verify_toml"}
    for index, case in enumerate(cases):
        mesh = wiremesh.Mesh.from_toml(case["input"])
        out = tmp_path / f"configs-{index}"
        out.mkdir()
        (out / "keep.conf").write_text("old\n")
        with pytest.raises(wiremesh.WiremeshError) as info:
            wiremesh.write_mesh_configs(mesh, out)
        assert info.value.code == case["code"], case["name"]
        with pytest.raises(wiremesh.WiremeshError) as separately:
            wiremesh.write_proven_configs(wiremesh.plan(mesh), out)
        assert type(info.value) is type(separately.value), case["name"]
        assert info.value.code == separately.value.code
        if isinstance(info.value, wiremesh.VerifyError):
            assert isinstance(separately.value, wiremesh.VerifyError)
            assert info.value.problems
            assert [p.to_dict() for p in info.value.problems] == [p.to_dict() for p in separately.value.problems]
        if isinstance(info.value, wiremesh.PlanError):
            assert isinstance(separately.value, wiremesh.PlanError)
            assert info.value.pairs and info.value.pairs == separately.value.pairs
        assert os.listdir(out) == ["keep.conf"], case["name"]


def test_write_mesh_configs_refuses_a_bad_format_as_write_configs_does(tmp_path: Path) -> None:
    mesh = seed_mesh()
    with pytest.raises(ValueError) as expected:
        wiremesh.write_configs(wiremesh.plan(mesh), tmp_path / "plain", "yaml")  # type: ignore[arg-type]
    with pytest.raises(ValueError) as info:
        wiremesh.write_mesh_configs(mesh, tmp_path / "configs", "yaml")  # type: ignore[arg-type]
    assert type(info.value) is type(expected.value) and str(info.value) == str(expected.value)
    assert not (tmp_path / "configs").exists() and not (tmp_path / "plain").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as io:
        wiremesh.write_mesh_configs(mesh, blocker / "configs")
    assert isinstance(io.value, wiremesh.WiremeshError)
    assert io.value.code.startswith("io_")  # type: ignore[attr-defined]


def test_write_mesh_configs_releases_the_gil(tmp_path: Path) -> None:
    mesh = wiremesh.Mesh("big", ["10.88.0.0/16"])
    for i in range(120):
        mesh.add_node(f"node-{i:03}", endpoint=f"192.0.2.{1 + i}:51820")
    mesh.generate_missing()
    (result,), (progressed,) = gil_released_during(lambda: wiremesh.write_mesh_configs(mesh, tmp_path / "out"))
    plan, written = result
    assert len(written) == 120 and len(plan) == 120
    assert progressed > 0, "no other Python thread ran during write_mesh_configs"


def test_write_mesh_configs_lean_writes_what_write_mesh_configs_writes(tmp_path: Path, vectors: Path) -> None:
    meshes = [("seed-psk", seed_mesh())]
    meshes += [(path.stem, with_private_keys(wiremesh.Mesh.load(path))) for path in mesh_vectors(vectors)]
    blocked = relayed = 0
    for name, mesh in meshes:
        expected_proof = wiremesh.verify(wiremesh.plan(mesh)).to_dict()
        blocked += expected_proof["pairs_blocked"]
        relayed += expected_proof["relayed_pairs"]
        for format in ("wg-quick", "setconf"):
            out = tmp_path / f"{name}-{format}"
            proof, written = wiremesh.write_mesh_configs_lean(mesh, out, format)
            assert isinstance(proof, wiremesh.Proof)
            assert proof.to_dict() == expected_proof, (name, format)
            assert proof.pairs_proven == expected_proof["pairs_proven"] > 0
            assert written == [str(out / f"{node.name}.conf") for node in mesh.nodes]
            _, full = wiremesh.write_mesh_configs(mesh, tmp_path / f"{name}-{format}-full", format)
            proven = wiremesh.write_proven_configs(wiremesh.plan(mesh), tmp_path / f"{name}-{format}-proven", format)
            assert file_texts(out) == file_texts(Path(full[0]).parent), (name, format)
            assert file_texts(out) == file_texts(Path(proven[0]).parent), (name, format)
            assert stat.S_IMODE(os.stat(out).st_mode) == 0o700
            for path in written:
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert blocked > 0 and relayed > 0, "the vectors should cover blocked and relayed pairs"


def test_write_mesh_configs_lean_tightens_an_existing_directory_and_keeps_other_files(tmp_path: Path) -> None:
    mesh = seed_mesh()
    plan = wiremesh.plan(mesh)
    proof, written = wiremesh.write_mesh_configs_lean(mesh, str(tmp_path / "out"))
    assert proof.pairs_proven == 12 and proof.to_dict() == wiremesh.verify(plan).to_dict()
    assert [Path(p).name for p in written] == ["hub.conf", "node-1.conf", "node-2.conf", "node-3.conf"]
    assert Path(written[0]).read_text() == plan.render("hub")
    assert_rewrites_a_loose_directory(tmp_path, wiremesh.write_mesh_configs_lean, mesh, plan)


def test_write_mesh_configs_lean_raises_what_write_mesh_configs_raises(tmp_path: Path, vectors: Path) -> None:
    cases = json.loads((vectors / "errors.json").read_text())["cases"]
    cases = [c for c in cases if c["operation"] in ("plan_toml", "verify_toml")]
    assert {c["operation"] for c in cases} == {"plan_toml", "verify_toml"}
    for index, case in enumerate(cases):
        mesh = wiremesh.Mesh.from_toml(case["input"])
        out = tmp_path / f"configs-{index}"
        out.mkdir()
        (out / "keep.conf").write_text("old\n")
        with pytest.raises(wiremesh.WiremeshError) as info:
            wiremesh.write_mesh_configs_lean(mesh, out)
        assert info.value.code == case["code"], case["name"]
        with pytest.raises(wiremesh.WiremeshError) as full:
            wiremesh.write_mesh_configs(mesh, out)
        assert type(info.value) is type(full.value), case["name"]
        assert info.value.code == full.value.code
        if isinstance(info.value, wiremesh.VerifyError):
            assert isinstance(full.value, wiremesh.VerifyError)
            assert info.value.problems
            assert [p.to_dict() for p in info.value.problems] == [p.to_dict() for p in full.value.problems]
        if isinstance(info.value, wiremesh.PlanError):
            assert isinstance(full.value, wiremesh.PlanError)
            assert info.value.pairs and info.value.pairs == full.value.pairs
        assert os.listdir(out) == ["keep.conf"], case["name"]
        assert (out / "keep.conf").read_text() == "old\n"


def test_write_mesh_configs_lean_refuses_a_bad_format_and_reports_io_errors(tmp_path: Path) -> None:
    mesh = seed_mesh()
    with pytest.raises(ValueError) as expected:
        wiremesh.write_mesh_configs(mesh, tmp_path / "full", "yaml")  # type: ignore[arg-type]
    with pytest.raises(ValueError) as info:
        wiremesh.write_mesh_configs_lean(mesh, tmp_path / "configs", "yaml")  # type: ignore[arg-type]
    assert type(info.value) is type(expected.value) and str(info.value) == str(expected.value)
    assert not (tmp_path / "configs").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as io:
        wiremesh.write_mesh_configs_lean(mesh, blocker / "configs")
    assert isinstance(io.value, wiremesh.WiremeshError)
    assert io.value.code.startswith("io_")  # type: ignore[attr-defined]


def test_write_mesh_configs_lean_releases_the_gil(tmp_path: Path) -> None:
    mesh = wiremesh.Mesh("big", ["10.88.0.0/16"])
    for i in range(120):
        mesh.add_node(f"node-{i:03}", endpoint=f"192.0.2.{1 + i}:51820")
    mesh.generate_missing()
    (result,), (progressed,) = gil_released_during(lambda: wiremesh.write_mesh_configs_lean(mesh, tmp_path / "out"))
    proof, written = result
    assert len(written) == 120 and proof.pairs_proven == 120 * 119
    assert progressed > 0, "no other Python thread ran during write_mesh_configs_lean"
