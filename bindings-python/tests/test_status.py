"""Status, health, Prometheus, the prober and the status server, from the shared vectors
(tests/vectors/status/)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import wiremesh


def cases(vectors: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors / "status" / "cases.json").read_text())
    return data


def status_of(case: dict[str, Any]) -> tuple[wiremesh.Status, wiremesh.Plan | None]:
    state = wiremesh.parse_wg_dump(case["dump"])
    plan = wiremesh.plan(wiremesh.Mesh.from_toml(case["mesh"])) if case["mesh"] else None
    previous = case["previous"]
    status = wiremesh.device_status(
        state,
        case["interface"],
        now=case["now"],
        plan=plan,
        node=case["node"],
        previous=wiremesh.parse_wg_dump(previous["dump"]) if previous else None,
        previous_time=previous["time"] if previous else None,
    )
    return status, plan


def test_status_and_health_vectors(vectors: Path) -> None:
    for case in cases(vectors)["cases"]:
        status, plan = status_of(case)
        expected_status = json.loads((vectors / "status" / f"{case['name']}.status.json").read_text())
        expected_health = json.loads((vectors / "status" / f"{case['name']}.health.json").read_text())
        assert status.to_dict() == expected_status, case["name"]
        resolve = case.get("resolve_endpoints", False)
        health = status.health(plan, case["node"], resolve_endpoints=resolve) if plan else status.health()
        assert health == expected_health, case["name"]
        if resolve:
            # Without resolving, a planned DNS endpoint is never a problem.
            unresolved = status.health(plan, case["node"])
            assert all(p["code"] != "wrong_endpoint" for p in unresolved["problems"]), case["name"]
        assert status.peer_count == expected_status["peer_count"]
        assert status.peers_up == expected_status["peers_up"]
        assert all(p["code"] in wiremesh.HEALTH_CODES for p in health["problems"])


def test_health_codes_are_shared(vectors: Path) -> None:
    codes = json.loads((vectors / "status" / "health_codes.json").read_text())["codes"]
    assert list(wiremesh.HEALTH_CODES) == codes


def test_dump_errors(vectors: Path) -> None:
    data = cases(vectors)
    for error in data["errors"]:
        parse = wiremesh.parse_wg_dump_all if error["all"] else wiremesh.parse_wg_dump
        with pytest.raises(wiremesh.ConfigError) as info:
            parse(error["dump"])
        assert info.value.code == error["code"], error["name"]
        assert info.value.line == error["line"], error["name"]
        assert "SECRET" not in str(info.value) and "SECRET" not in repr(info.value)
    all_dump = wiremesh.parse_wg_dump_all(data["all_dump"]["text"])
    assert [name for name, _ in all_dump] == data["all_dump"]["interfaces"]
    assert [len(state.peers) for _, state in all_dump] == data["all_dump"]["peers"]


def test_prometheus(vectors: Path) -> None:
    case = cases(vectors)["cases"][0]
    status, _ = status_of(case)
    text = status.prometheus()
    assert text == wiremesh.render_prometheus([status])
    assert '\nwiremesh_peers_up{interface="wm-hub"} 2\n' in text
    assert 'wireguard_latest_handshake_seconds{interface="wm-hub",public_key="u3IeuuEwHT98TJStDY1ngfIA0Bd4kI8QarJmpAVQNHs=",allowed_ips="10.88.0.13/32",name="node-3"} 0\n' in text
    for line in text.splitlines():
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def test_unknown_node_and_argument_errors(vectors: Path) -> None:
    case = cases(vectors)["cases"][0]
    state = wiremesh.parse_wg_dump(case["dump"])
    plan = wiremesh.plan(wiremesh.Mesh.from_toml(case["mesh"]))
    with pytest.raises(wiremesh.MeshError) as info:
        wiremesh.device_status(state, "wm0", plan=plan, node="nobody")
    assert info.value.code == "mesh_unknown_node"
    with pytest.raises(TypeError):
        wiremesh.device_status(state, "wm0", previous=state)
    with pytest.raises(ValueError):
        wiremesh.device_status(state, "wm0", now=-1.0)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="ICMP sockets need root here (ping_group_range)")


@needs_root
def test_prober_on_loopback() -> None:
    with wiremesh.Prober(interval=0.02, timeout=0.2, window=5) as prober:
        prober.set_targets(["127.0.0.1", "::1"])
        assert prober.targets == ["127.0.0.1", "::1"]
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = prober.all_stats()
            if all(s["sent"] >= 5 for s in stats.values()):
                break
            time.sleep(0.02)
        for address, s in prober.all_stats().items():
            assert s["sent"] == 5 and s["received"] == 5 and s["loss"] == 0.0, (address, s)
            assert s["rtt_avg_ms"] is not None and s["consecutive_lost"] == 0
        assert prober.stats("127.0.0.2") is None
        assert prober.is_running
    assert not prober.is_running
    with pytest.raises(ValueError):
        prober.set_targets(["not an address"])
    with pytest.raises(wiremesh.WiremeshError) as info:
        wiremesh.Prober(window=0)
    assert info.value.code == "io_other"


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_status_server_from_a_dump_function(vectors: Path) -> None:
    case = cases(vectors)["cases"][0]
    plan = wiremesh.plan(wiremesh.Mesh.from_toml(case["mesh"]))
    calls = []

    def dump() -> str:
        calls.append(1)
        text: str = case["dump"]
        return text

    with wiremesh.StatusServer.start("127.0.0.1:0", "wm-hub", dump=dump, plan=plan, node="hub") as server:
        assert server.address.startswith("127.0.0.1:") and server.port > 0 and server.is_running
        code, body = fetch(f"http://{server.address}/status")
        assert code == 200
        status = json.loads(body)
        assert status["peer_count"] == 3 and [p["name"] for p in status["peers"]] == ["node-1", "node-2", "node-3"]
        code, body = fetch(f"http://{server.address}/healthz")
        assert code == 503 and "peer_never: node-3 has never completed a handshake" in body
        code, body = fetch(f"http://{server.address}/metrics")
        assert code == 200 and "wireguard_sent_bytes_total{" in body
        assert calls
    assert not server.is_running

    def broken() -> str:
        raise RuntimeError("no dump today")

    with wiremesh.StatusServer.start("127.0.0.1:0", "wm0", dump=broken) as server:
        code, body = fetch(f"http://{server.address}/status")
        assert code == 503 and "no dump today" in body
    with pytest.raises(wiremesh.WiremeshError) as info:
        wiremesh.StatusServer.start("127.0.0.1:0", "wm0", node="hub")
    assert info.value.code == "io_other"
    with pytest.raises(ValueError):
        wiremesh.StatusServer.start("nonsense", "wm0")


def test_status_server_resolves_dns_endpoints_on_request(vectors: Path) -> None:
    case = next(c for c in cases(vectors)["cases"] if c["name"] == "node-1-dns-endpoint")
    plan = wiremesh.plan(wiremesh.Mesh.from_toml(case["mesh"]))
    for resolve in (False, True):
        with wiremesh.StatusServer.start(
            "127.0.0.1:0", "wm-n1", dump=lambda: str(case["dump"]), plan=plan, node="node-1", resolve_endpoints=resolve
        ) as server:
            code, body = fetch(f"http://{server.address}/health")
            assert code == 503  # the vector's handshakes are from 2025: stale now
            codes = [p["code"] for p in json.loads(body)["problems"]]
            assert ("wrong_endpoint" in codes) == resolve, (resolve, codes)


def test_status_server_bind_error() -> None:
    with wiremesh.StatusServer.start("127.0.0.1:0", "wm0", dump=lambda: "") as first:
        with pytest.raises(wiremesh.WiremeshOSError) as info:
            wiremesh.StatusServer.start(first.address, "wm0")
        assert info.value.code.startswith("io_")
