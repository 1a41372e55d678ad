"""The agent handle: events to a callback, status, stop — against a fake UAPI device served by a Python
thread (no root, no network: the node used has no relays to probe)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

import wiremesh

if TYPE_CHECKING:
    from conftest import FakeDevice


def two_hubs() -> wiremesh.Mesh:
    mesh = wiremesh.Mesh("t", ["10.77.0.0/24"], topology="hub-and-spoke")
    mesh.add_node("hub-a", endpoint="192.0.2.1:51820", relay=True, addresses=["10.77.0.1"])
    mesh.add_node("hub-b", endpoint="192.0.2.2:51820", relay=True, addresses=["10.77.0.2"])
    mesh.add_node("s1", addresses=["10.77.0.11"])
    mesh.add_node("s2", addresses=["10.77.0.12"])
    mesh.generate_missing()
    return mesh


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_agent_configures_the_device_and_reports_events(fake_device: Callable[..., FakeDevice]) -> None:
    device = fake_device("errno=0\n\n")  # answers get=1 with an empty device, keeps no state
    events: list[dict[str, Any]] = []
    try:
        with wiremesh.Agent(
            two_hubs(), "hub-a", "wm0", on_event=events.append, tick=0.1, socket_path=device.path
        ) as agent:
            assert agent.running
            # The device records a set before the agent counts it: wait for the agent's own events.
            wait_until(lambda: len(device.requests) >= 2 and sum(e["event"] == "applied" for e in events) >= 2)
            status = agent.status()
            assert status["node"] == "hub-a" and status["interface"] == "wm0"
            assert status["device_present"] is True and status["running"] is True
            assert status["relays"] == [] and status["relays_down"] == []
            assert status["updates_applied"] >= 2
            assert "Agent(node='hub-a', interface='wm0', running=True)" == repr(agent)
        assert not agent.running
        assert agent.status()["running"] is False
        agent.stop()  # idempotent
    finally:
        device.stop()
    assert events[0] == {"event": "started", "node": "hub-a", "interface": "wm0", "relays": []}
    applied = [e for e in events if e["event"] == "applied"]
    # The fake keeps no state: the first update is the initial one, the next ones repair "drift".
    assert applied[0]["reason"] == "initial" and applied[1]["reason"] == "drift"
    added = sorted(c["peer"] for c in applied[0]["changes"] if c["change"] == "add_peer")
    assert added == ["hub-b", "s1", "s2"]
    # The set request really carries the plan: the hub's three peers, keys never in events.
    update = wiremesh.parse_uapi_set_request(device.requests[0])
    assert len(update.peers) == 3
    # The private key change names only the public key.
    key_changes = [c for c in applied[0]["changes"] if c["change"] == "private_key"]
    assert len(key_changes) == 1 and set(key_changes[0]) == {"change", "public_key"}
    assert events[-1] == {"event": "stopped"}


def test_a_missing_device_is_an_event_not_an_exception(socket_dir: Path) -> None:
    events: list[dict[str, Any]] = []
    agent = wiremesh.Agent(two_hubs(), "s1", "wm1", on_event=events.append, tick=0.1, socket_path=socket_dir / "nothing.sock")
    try:
        wait_until(lambda: any(e["event"] == "device_missing" for e in events))
        status = agent.status()
        assert status["device_present"] is False
        # s1 watches both hubs (primary and backup), all up so far.
        assert [r["relay"] for r in status["relays"]] == ["hub-a", "hub-b"]
        assert [r["health"] for r in status["relays"]] == ["up", "up"]
        assert status["routes"] == [{"node": "s2", "via": "hub-a"}]
    finally:
        agent.stop()


def test_bad_arguments_raise_typed_errors(socket_dir: Path) -> None:
    with pytest.raises(wiremesh.MeshError) as err:
        wiremesh.Agent(two_hubs(), "nobody", "wm2", socket_path=socket_dir / "x.sock")
    assert err.value.code == "mesh_unknown_node"
    with pytest.raises(wiremesh.WiremeshOSError):
        wiremesh.Agent(two_hubs(), "s1", "bad/name")
    with pytest.raises(ValueError):
        wiremesh.Agent(two_hubs(), "s1", "wm3", hold_down=-1.0)
