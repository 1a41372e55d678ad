#!/usr/bin/env python3
"""Planning and rendering a 1000-node full mesh from Python against the same work in Rust, in one run.

Both sides build the same mesh (every node with a documentation-range endpoint, as in the Rust benches'
`full_mesh`), then time `plan` + rendering every node's wg-quick text into memory (Python:
`wiremesh.plan(mesh)` + `plan.render_all()`, which returns a dict of str; Rust: `plan()` +
`render_all()`). Rounds alternate between the two so both see the same machine load; the ratio is of the
best times (medians are printed too). Target: Python / Rust <= 1.25.

    python bindings-python/bench_plan_render.py [--nodes 1000] [--rounds 3] [--runs 3] [--rust-bin PATH]

Without --rust-bin the Rust example is built with `cargo build --release --example bench_plan_render`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import wiremesh

ROOT = Path(__file__).resolve().parents[1]


def endpoint(i: int) -> str:
    net = ("192.0.2", "198.51.100", "203.0.113")[i % 3]
    return f"{net}.{1 + (i // 3) % 250}:{51820 + i // 750}"


def full_mesh(n: int) -> wiremesh.Mesh:
    mesh = wiremesh.Mesh("bench", ["10.88.0.0/16"])
    for i in range(n):
        mesh.add_node(f"node-{i:04}", endpoint=endpoint(i))
    mesh.generate_missing()
    return mesh


def rust_binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--example", "bench_plan_render"], cwd=ROOT, check=True
    )
    return target / "release" / "examples" / "bench_plan_render"


def run_rust(binary: Path, nodes: int, runs: int) -> list[float]:
    out = subprocess.run([str(binary), str(nodes), str(runs)], check=True, capture_output=True, text=True).stdout
    values = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return [float(values["best_seconds"]), float(values["median_seconds"])]


def run_python(mesh: wiremesh.Mesh, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        plan = wiremesh.plan(mesh)
        texts = plan.render_all()
        times.append(time.perf_counter() - start)
        assert len(texts) == len(mesh)
        del texts, plan
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="alternations between Rust and Python")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side per round")
    parser.add_argument("--rust-bin", type=Path, help="a built bench_plan_render example")
    parser.add_argument("--max-ratio", type=float, default=None, help="exit 1 when the ratio is above this")
    args = parser.parse_args()

    binary = args.rust_bin or rust_binary()
    mesh = full_mesh(args.nodes)
    run_python(mesh, 1)  # warm-up, as the Rust side does

    rust_best: list[float] = []
    rust_medians: list[float] = []
    python_times: list[float] = []
    for _ in range(args.rounds):
        best, median = run_rust(binary, args.nodes, args.runs)
        rust_best.append(best)
        rust_medians.append(median)
        python_times += run_python(mesh, args.runs)

    rust = min(rust_best)
    python = min(python_times)
    ratio = python / rust
    print(f"plan + render of a {args.nodes}-node full mesh ({args.nodes * (args.nodes - 1)} peer sections)")
    print(f"  rust:   best {rust:.3f} s   median {statistics.median(rust_medians):.3f} s")
    print(f"  python: best {python:.3f} s   median {statistics.median(python_times):.3f} s")
    print(f"  ratio python/rust (best): {ratio:.3f}  (target <= 1.25)")
    if args.max_ratio is not None and ratio > args.max_ratio:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
