#!/usr/bin/env bash
# Builds, installs and tests the Python package as a user would get it:
#   1. a virtualenv under target/ with maturin, pytest and mypy;
#   2. `pip install ./bindings-python` (the from-source install path: needs only cargo);
#   3. `mypy.stubtest` of the stubs against the compiled module;
#   4. the pytest suite, run from a temporary directory against the INSTALLED package;
#   5. examples/python/seed_deploy.py;
#   6. `maturin build --release`, and that wheel installed with --no-index into a second, clean
#      virtualenv, imported and used with no compiler on PATH.
# Exits non-zero on the first failure. CARGO_TARGET_DIR is honoured (default: <repo>/target).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/target/py-venv"
CLEAN_VENV="$ROOT/target/py-venv-wheel"
WHEELS="$ROOT/target/py-wheels"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wiremesh-py-tests.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n==> %s\n' "$*"; }
pip_quiet() { "$@" --quiet --disable-pip-version-check; }

step "virtualenv $VENV"
mkdir -p "$ROOT/target"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip_quiet "$VENV/bin/pip" install --upgrade "maturin>=1.5,<2" pytest mypy

step "pip install ./bindings-python"
(cd "$ROOT" && pip_quiet "$VENV/bin/pip" install --force-reinstall --no-deps ./bindings-python)

step "stubtest: the .pyi stubs against the compiled module"
(cd "$WORK" && "$VENV/bin/python" -m mypy.stubtest wiremesh)
(cd "$WORK" && "$VENV/bin/python" -m mypy --strict --no-incremental "$ROOT/examples/python/seed_deploy.py" "$ROOT/examples/python/uapi_show.py" "$ROOT/examples/python/device_node.py" "$HERE/bench_plan_render.py")

step "pytest (against the installed package)"
(cd "$WORK" && "$VENV/bin/python" -I -m pytest -p no:cacheprovider --import-mode=importlib -ra "$HERE/tests")

step "example: examples/python/seed_deploy.py"
(cd "$WORK" && "$VENV/bin/python" -I "$ROOT/examples/python/seed_deploy.py" "$WORK/seed-configs")

step "wheel: maturin build --release, installed into a clean virtualenv without a compiler"
rm -rf "$WHEELS" "$CLEAN_VENV"
(cd "$HERE" && "$VENV/bin/maturin" build --release --quiet --interpreter "$VENV/bin/python" --out "$WHEELS")
"$PYTHON" -m venv "$CLEAN_VENV"
pip_quiet "$CLEAN_VENV/bin/pip" install --no-index --no-deps "$WHEELS"/wiremesh-*.whl
(cd "$WORK" && env -i PATH=/nonexistent HOME="$WORK" "$CLEAN_VENV/bin/python" -I -c '
import wiremesh
mesh = wiremesh.Mesh("wheel", ["10.88.0.0/24"])
mesh.add_node("hub", endpoint="192.0.2.1:51820", relay=True)
mesh.add_node("node-1")
mesh.generate_missing()
proof = wiremesh.verify(wiremesh.plan(mesh))
assert proof.pairs_proven == 2, proof
print("wheel", wiremesh.__version__, "imports and plans in a clean virtualenv:", proof)
')
echo
echo "python bindings: all checks passed"
