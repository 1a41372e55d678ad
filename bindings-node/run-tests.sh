#!/usr/bin/env bash
# The Node binding's tests, as CI runs them (scripts/test.sh calls this when it exists):
#   npm ci → build (napi build --platform --release) with the index.d.ts staleness check →
#   examples/node/seed.js and uapi.js (dry run) → npm pack, install the tarball into an empty project, run the README's
#   JavaScript snippet, a require and an ESM import, and type-check a TypeScript file (tsc --noEmit)
#   against the installed types → the node:test suite (last, so its summary closes the output).
# Set WIREMESH_BENCH=1 to also run the plan+render benchmark against Rust.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
work="$(mktemp -d "${TMPDIR:-/tmp}/wiremesh-node-tests.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "npm ci"
npm ci --no-audit --no-fund

step "build + index.d.ts staleness check"
node scripts/check-dts.js

step "examples/node/seed.js"
node ../examples/node/seed.js "$work/seed-configs"

step "examples/node/uapi.js (dry run: the set=1 request, key hidden)"
node ../examples/node/uapi.js node-1

step "npm pack → install into an empty project"
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
contents="$(tar -tzf "$tarball" | sort)"
echo "$contents"
grep -Eq '^package/wiremesh\..+\.node$' <<<"$contents" || { echo "the tarball has no native addon" >&2; exit 1; }
app="$work/app"
mkdir -p "$app"
(cd "$app" && npm init -y >/dev/null && npm install --no-audit --no-fund "$tarball")
# The README's first JavaScript snippet, run as a new user would.
awk '/^```js$/ { on = 1; next } on && /^```$/ { exit } on { print }' README.md > "$app/readme.js"
test -s "$app/readme.js"
cp tests/smoke/cjs.js tests/smoke/esm.mjs tests/smoke/check.ts tests/smoke/tsconfig.json "$app/"
(
  cd "$app"
  # Its temporary directory (configs with private keys) goes into our work directory, removed at exit.
  TMPDIR="$work" node readme.js
  node cjs.js
  node esm.mjs
  node "$here/node_modules/typescript/bin/tsc" -p tsconfig.json
  echo "tsc --noEmit: check.ts type-checks against the installed index.d.ts"
)

if [[ "${WIREMESH_BENCH:-}" == 1 ]]; then
  step "benchmark: plan + render a 1000-node full mesh, Node vs Rust"
  node bench-plan-render.js
fi

step "node:test suite"
node --test tests/*.test.js tests/*.test.mjs
