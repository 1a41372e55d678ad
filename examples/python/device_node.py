"""A WireGuard node embedded in this Python process (Linux, root): loads a mesh file, plans it, and
starts the userspace device for one node with ``wiremesh.Device.start_node`` (offloads off, to show
the option); then waits until every
peer has handshaken, turns on a persistent keepalive with ``Device.apply`` (visible in ``wg show``: the
device serves its UAPI socket), and stops when ``CONTROL_DIR/stop`` appears. The packet path runs in
native threads; Python only controls it.

The interface gets no address here: like wg-quick after the daemon starts, whoever runs this adds the
node's addresses with ``ip`` (tests/netns/device.sh ``inproc`` does).

Run: python examples/python/device_node.py MESH NODE IFNAME CONTROL_DIR   (inside a network namespace)
Every wait is bounded; it prints one line per step and exits non-zero on failure.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import wiremesh

KEEPALIVE = 19  # seconds: the test looks for it in `wg show`
WAIT = 60.0  # seconds, for each wait


def run(mesh_path: str, node: str, ifname: str, control: Path) -> None:
    plan = wiremesh.plan(wiremesh.Mesh.load(mesh_path))
    # offload=False: one packet per system call (no TUN super-packets, no UDP GSO/GRO) — this node
    # talks to the other two, which use offloads, so the scenario also checks that the two paths agree.
    with wiremesh.Device.start_node(
        plan, node, ifname, offload=False, socket_buffer_bytes=4 << 20, tun_queue_len=1000
    ) as device:
        offloads = device.offloads()
        if any(offloads.values()):
            raise SystemExit(f"offload=False, yet the device reports offloads {offloads}")
        print(f"started {device.ifname} for {node}: {device!r}, offloads {offloads}", flush=True)
        peers = len(device.state().peers)
        deadline = time.monotonic() + WAIT
        while True:
            done = sum(1 for p in device.state().peers if p.last_handshake_ns is not None)
            if done == peers:
                print(f"handshakes {done}/{peers}", flush=True)
                break
            if time.monotonic() >= deadline:
                raise SystemExit(f"only {done} of {peers} peers handshook within {WAIT:.0f} s")
            time.sleep(0.2)

        device.apply(
            wiremesh.DeviceUpdate(
                peers=[
                    wiremesh.PeerUpdate(p.public_key, update_only=True, persistent_keepalive_interval=KEEPALIVE)
                    for p in device.state().peers
                ]
            )
        )
        if any(p.persistent_keepalive_interval != KEEPALIVE for p in device.state().peers):
            raise SystemExit("the keepalive change is not in the device's state")
        print(f"applied keepalive {KEEPALIVE}", flush=True)

        stop_file = control / "stop"
        deadline = time.monotonic() + WAIT
        while not stop_file.exists():
            if device.is_stopped:
                raise SystemExit(f"the device stopped by itself: {device.stop_reason}")
            if time.monotonic() >= deadline:
                raise SystemExit(f"{stop_file} did not appear within {WAIT:.0f} s")
            time.sleep(0.1)
        counters = device.counters()
        port = device.state().listen_port
    # Leaving the `with` block stopped it.
    if not device.is_stopped or device.stop_reason != "requested":
        raise SystemExit(f"after stop: is_stopped {device.is_stopped}, reason {device.stop_reason}")
    # Nothing left behind while this process still runs: interface, UAPI socket, UDP port.
    if os.path.exists(f"/sys/class/net/{ifname}"):
        raise SystemExit(f"interface {ifname} still exists after stop")
    if os.path.exists(wiremesh.uapi_socket_path(ifname)):
        raise SystemExit(f"{wiremesh.uapi_socket_path(ifname)} still exists after stop")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", port))
    print(f"stopped {device!r} (ingress drops {counters['ingress_dropped']}, cookies sent {counters['cookies_sent']})", flush=True)


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit("usage: device_node.py MESH NODE IFNAME CONTROL_DIR")
    try:
        run(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    except wiremesh.WiremeshError as err:
        raise SystemExit(f"device_node.py: [{err.code}] {err}") from None


if __name__ == "__main__":
    main()
