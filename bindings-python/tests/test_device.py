"""wiremesh.Device (Linux): the checks that come before any interface is created, so they need no root.
The running device itself is tested as root in namespaces by tests/netns/device.sh `inproc`."""

from __future__ import annotations

import inspect
import sys

import pytest

import wiremesh

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the userspace device runs on Linux only")


def small_plan(a_endpoint: str = "192.0.2.1:51820") -> wiremesh.Plan:
    mesh = wiremesh.Mesh("t", ["10.66.0.0/24"])
    mesh.add_node("a", endpoint=a_endpoint)
    mesh.add_node("b", endpoint="192.0.2.2:51820")
    # c only publishes its public key: its private key is not in the plan.
    mesh.add_node("c", public_key=wiremesh.PrivateKey.generate().public_key())
    mesh.generate_missing()
    return wiremesh.plan(mesh)


def test_device_is_exported_with_its_api() -> None:
    assert "Device" in wiremesh.__all__
    assert wiremesh.Device.__module__ == "wiremesh"
    for name in ("start", "start_node", "state", "counters", "offloads", "apply", "stop", "ifname", "is_stopped", "stop_reason"):
        assert hasattr(wiremesh.Device, name), name
        assert inspect.getdoc(getattr(wiremesh.Device, name)), name
    with pytest.raises(TypeError):
        wiremesh.Device()  # type: ignore[call-arg]


@pytest.mark.parametrize("ifname", ["", "a/b", "has space", "sixteen-chars-xx", "a:b", ".."])
@pytest.mark.parametrize("uapi", [True, False])
def test_bad_interface_names(ifname: str, uapi: bool) -> None:
    with pytest.raises(wiremesh.WiremeshOSError) as info:
        wiremesh.Device.start(ifname, uapi=uapi)
    assert info.value.code == "io_other"
    assert "not an interface name" in str(info.value)
    with pytest.raises(wiremesh.WiremeshOSError) as info:
        wiremesh.Device.start_node(small_plan(), "a", ifname, uapi)
    assert info.value.code == "io_other"


def test_unknown_node() -> None:
    with pytest.raises(wiremesh.MeshError) as info:
        wiremesh.Device.start_node(small_plan(), "nobody", "wmpytest0")
    assert info.value.code == "mesh_unknown_node"
    assert "nobody" in str(info.value)


def test_a_node_whose_key_is_not_in_the_plan() -> None:
    with pytest.raises(wiremesh.MeshError) as info:
        wiremesh.Device.start_node(small_plan(), "c", "wmpytest0")
    assert info.value.code == "mesh_missing_key"


def test_an_unresolvable_dns_endpoint_names_node_peer_and_host() -> None:
    plan = small_plan("nowhere.invalid:51820")  # .invalid never resolves (RFC 6761)
    with pytest.raises(wiremesh.PlanError) as info:
        wiremesh.Device.start_node(plan, "b", "wmpytest0", uapi=False)
    assert info.value.code == "plan_unresolved_endpoint"
    message = str(info.value)
    assert '"b"' in message and '"a"' in message and "nowhere.invalid" in message
    # The key is checked before anything is resolved.
    with pytest.raises(wiremesh.MeshError) as info:
        wiremesh.Device.start_node(plan, "c", "wmpytest0")
    assert info.value.code == "mesh_missing_key"


def test_arguments_are_typed() -> None:
    with pytest.raises(TypeError):
        wiremesh.Device.start_node("not a plan", "a", "wm0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wiremesh.Device.start(123)  # type: ignore[arg-type]


def test_offload_options_are_keyword_only_and_typed() -> None:
    # Accepted as keywords: the bad name is what fails, before anything is created.
    with pytest.raises(wiremesh.WiremeshOSError) as err:
        wiremesh.Device.start("bad/name", offload=False, socket_buffer_bytes=1 << 20)
    assert err.value.code == "io_other"
    with pytest.raises(wiremesh.WiremeshOSError):
        wiremesh.Device.start_node(small_plan(), "a", "bad/name", offload=True, socket_buffer_bytes=1 << 20)
    with pytest.raises(TypeError):
        wiremesh.Device.start("wm0", True, False)  # type: ignore[misc]
    with pytest.raises(TypeError):
        wiremesh.Device.start("wm0", socket_buffer_bytes="big")  # type: ignore[arg-type]
    with pytest.raises(wiremesh.WiremeshOSError) as err:
        wiremesh.Device.start("bad/name", tun_queue_len=1000)
    assert err.value.code == "io_other"
    with pytest.raises((TypeError, OverflowError)):
        wiremesh.Device.start("wm0", tun_queue_len=-1)
    with pytest.raises(TypeError):
        wiremesh.Device.start("wm0", tun_queue_len="long")  # type: ignore[arg-type]
    for helpers in (True, False):
        with pytest.raises(wiremesh.WiremeshOSError) as err:
            wiremesh.Device.start("bad/name", helper_threads=helpers)
        assert err.value.code == "io_other"
        with pytest.raises(wiremesh.WiremeshOSError) as err:
            wiremesh.Device.start_node(small_plan(), "a", "bad/name", helper_threads=helpers)
        assert err.value.code == "io_other"
    with pytest.raises(TypeError):
        wiremesh.Device.start("wm0", helper_threads="yes")  # type: ignore[arg-type]
    assert callable(wiremesh.Device.offloads)
