#!/usr/bin/env python3
"""Deploy-script style: rebuild the seed deployment in code and write every node's wg-quick config.

The seed deployment is a public hub (which relays) and three nodes behind NAT, as a full mesh: the
nodes reach the hub directly and each other through it. This script declares it, generates the keys and
addresses, proves every pair can reach every other, prints a summary and writes `<node>.conf` files
(mode 0600, directory 0700) to the directory given as the first argument (default: a new temporary
directory).

    pip install ./bindings-python
    python examples/python/seed_deploy.py /tmp/seed-configs
"""

from __future__ import annotations

import sys
import tempfile

import wiremesh


def build_seed_mesh() -> wiremesh.Mesh:
    """The seed deployment: hub with a public endpoint and relaying, node-1..3 behind NAT."""
    mesh = wiremesh.Mesh("seed", ["10.88.0.0/24"], topology="full-mesh")
    mesh.add_node("hub", endpoint="167.172.142.145:51820", relay=True, addresses=["10.88.0.1"])
    for number in (1, 2, 3):
        mesh.add_node(f"node-{number}", addresses=[f"10.88.0.{10 + number}"])
    mesh.generate_missing()  # a private key for every node, in memory
    return mesh


def main(argv: list[str]) -> int:
    out_dir = argv[1] if len(argv) > 1 else tempfile.mkdtemp(prefix="wiremesh-seed-")
    try:
        mesh = build_seed_mesh()
        plan = wiremesh.plan(mesh)
        proof = wiremesh.verify(plan)
    except wiremesh.VerifyError as err:
        for problem in err.problems:
            print(f"problem {problem.code}: {problem.message}", file=sys.stderr)
        return 1
    except wiremesh.WiremeshError as err:
        print(f"error {err.code}: {err}", file=sys.stderr)
        return 1

    print(f"mesh {plan.mesh_name} ({plan.topology}): {proof.pairs_proven} ordered pairs proven, "
          f"{proof.relayed_pairs} through the hub")
    for node in plan.nodes:
        routes = ", ".join(
            f"{r['node']} via {r['via']}" if r["reach"] == "relay" else f"{r['node']} {r['reach']}"
            for r in node.routes
        )
        print(f"  {node.name:<7} {', '.join(node.addresses):<14} {len(node.peers)} peer(s): {routes}")
        for peer in node.peers:
            print(f"          [Peer] {peer.name:<7} AllowedIPs = {', '.join(peer.allowed_ips)}")

    try:
        written = wiremesh.write_configs(plan, out_dir, format="wg-quick")
    except OSError as err:  # wiremesh's I/O errors are OSErrors too
        print(f"cannot write configs: {err}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} configs to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
