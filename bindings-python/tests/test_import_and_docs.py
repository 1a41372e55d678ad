"""Importing existing deployments, the README snippet as written, and the seed example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import wiremesh

REPO = Path(__file__).resolve().parents[2]


def test_import_wg_quick_round_trip() -> None:
    mesh = wiremesh.Mesh("seed", ["10.88.0.0/24"])
    mesh.add_node("hub", endpoint="167.172.142.145:51820", relay=True)
    for i in (1, 2, 3):
        mesh.add_node(f"node-{i}")
    mesh.generate_missing()
    plan = wiremesh.plan(mesh)
    files = plan.render_all()
    imported = wiremesh.import_wg_quick(files, name="seed")
    assert imported.name == "seed"
    assert [n.name for n in imported.nodes] == ["hub", "node-1", "node-2", "node-3"]
    hub = imported.node("hub")
    assert hub.relay and hub.endpoint == "167.172.142.145:51820"
    assert [n.public_key for n in imported.nodes] == [n.public_key for n in mesh.nodes]
    assert [n.private_key for n in imported.nodes] == [n.private_key for n in mesh.nodes]
    wiremesh.verify(wiremesh.plan(imported))
    with pytest.raises(wiremesh.ConfigError) as info:
        wiremesh.import_wg_quick({"a": "[Interface]\nColour = blue\n"})
    assert (info.value.code, info.value.source_name, info.value.line) == ("config_unknown_key", "a.conf", 2)


def test_import_meshconf() -> None:
    keys = [wiremesh.PrivateKey.generate() for _ in range(3)]
    csv_text = "Name,Address,Endpoint,AllowedIPs,ListenPort,PrivateKey\n" + "".join(
        f"n{i},10.9.0.{i + 1}/24,{'192.0.2.1' if i == 0 else ''},,{51820 if i == 0 else ''},{k.to_base64()}\n"
        for i, k in enumerate(keys)
    )
    mesh = wiremesh.import_meshconf(csv_text, name="legacy")
    assert mesh.name == "legacy" and mesh.networks == ["10.9.0.0/24"]
    assert mesh.node("n0").endpoint == "192.0.2.1:51820"
    assert [n.private_key for n in mesh.nodes] == keys
    with pytest.raises(wiremesh.ConfigError) as info:
        wiremesh.import_meshconf("Name,Address,PrivateKey\nn0,10.9.0.1/24,nope\n")
    assert (info.value.code, info.value.line, info.value.key) == ("config_invalid_value", 2, "PrivateKey")
    assert "nope" not in str(info.value)


def test_readme_snippet_runs_as_written(tmp_path: Path) -> None:
    readme = (REPO / "bindings-python" / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert snippets, "the README has a Python snippet"
    # The snippet's tempfile.mkdtemp() (configs with private keys) lands in tmp_path, not in /tmp.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-I", "-c", snippets[0]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "mesh_invalid_name" in result.stdout
    written = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(written) == 1
    assert sorted(f.name for f in written[0].iterdir()) == ["hub.conf", "node-1.conf", "node-2.conf"]


def test_seed_example(tmp_path: Path) -> None:
    out = tmp_path / "configs"
    result = subprocess.run(
        [sys.executable, "-I", str(REPO / "examples" / "python" / "seed_deploy.py"), str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "12 ordered pairs proven" in result.stdout
    assert sorted(os.listdir(out)) == ["hub.conf", "node-1.conf", "node-2.conf", "node-3.conf"]
    hub = wiremesh.parse_wg_quick((out / "hub.conf").read_text(), "hub.conf")
    assert [p["name"] for p in hub.peers] == ["node-1", "node-2", "node-3"]
    assert hub.addresses == ["10.88.0.1/24"]
    node1 = wiremesh.parse_wg_quick((out / "node-1.conf").read_text())
    assert node1.peers[0]["allowed_ips"] == ["10.88.0.0/24"]
    assert node1.peers[0]["endpoint"] == "167.172.142.145:51820"
