#!/usr/bin/env python3
"""`wg show` for one userspace WireGuard device (wiremeshd, wireguard-go, boringtun), read over its UAPI
socket with `wiremesh.UapiClient`: the interface, then each peer with its endpoint, AllowedIPs, latest
handshake and transfer. The private key is never printed.

    pip install ./bindings-python
    python examples/python/uapi_show.py wg0                      # /var/run/wireguard/wg0.sock
    python examples/python/uapi_show.py --socket /path/to/wg0.sock
"""

from __future__ import annotations

import argparse
import sys

import wiremesh


def size(count: int) -> str:
    """Bytes as `wg show` prints them: B, then KiB, MiB, GiB, TiB with two decimals."""
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"


def describe(name: str, state: wiremesh.DeviceState) -> str:
    lines = [f"interface: {name}"]
    if state.public_key is not None:
        lines.append(f"  public key: {state.public_key}")
        lines.append("  private key: (hidden)")
    if state.listen_port:
        lines.append(f"  listening port: {state.listen_port}")
    if state.fwmark:
        lines.append(f"  fwmark: {state.fwmark:#x}")
    for peer in state.peers:
        lines.append("")
        lines.append(f"peer: {peer.public_key}")
        if peer.preshared_key is not None:
            lines.append("  preshared key: (hidden)")
        if peer.endpoint is not None:
            lines.append(f"  endpoint: {peer.endpoint}")
        lines.append(f"  allowed ips: {', '.join(peer.allowed_ips) or '(none)'}")
        handshake = peer.last_handshake
        if handshake is not None:
            lines.append(f"  latest handshake: {handshake:%Y-%m-%d %H:%M:%S} UTC")
        if peer.rx_bytes or peer.tx_bytes:
            lines.append(f"  transfer: {size(peer.rx_bytes)} received, {size(peer.tx_bytes)} sent")
        if peer.persistent_keepalive_interval:
            lines.append(f"  persistent keepalive: every {peer.persistent_keepalive_interval} seconds")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("ifname", nargs="?", help="interface name (its socket is in /var/run/wireguard)")
    target.add_argument("--socket", help="path of the UAPI socket")
    args = parser.parse_args(argv)
    try:
        if args.socket is not None:
            client = wiremesh.UapiClient.connect_path(args.socket)
        else:
            client = wiremesh.UapiClient.connect(args.ifname)
        with client:
            state = client.get()
    except wiremesh.WiremeshError as err:
        print(f"uapi_show: {err} ({err.code})", file=sys.stderr)
        return 1
    print(describe(args.ifname or args.socket, state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
