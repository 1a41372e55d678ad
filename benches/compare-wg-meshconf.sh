#!/usr/bin/env bash
# Generates every node's config for the same N-node full mesh (a wg-meshconf database.csv) with
# wg-meshconf (from PyPI) and with wiremesh (import + render), in one run, and prints both times and the
# ratio. usage: benches/compare-wg-meshconf.sh [nodes=300] [runs=3]
set -euo pipefail
nodes=${1:-300}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

venv="$root/target/wg-meshconf-venv"
if [[ ! -x "$venv/bin/wg-meshconf" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet wg-meshconf
fi
cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin wiremesh
wiremesh="$root/target/release/wiremesh"

# The same database for both: every node public (documentation-range endpoints), one /16 network.
db="$work/database.csv"
echo '"Name","Address","Endpoint","AllowedIPs","ListenPort","PersistentKeepalive","FwMark","PrivateKey","DNS","MTU","Table","PreUp","PostUp","PreDown","PostDown","SaveConfig"' > "$db"
for ((i = 0; i < nodes; i++)); do
  key=$("$wiremesh" genkey)
  printf '"node-%04d","10.88.%d.%d/16","198.51.100.%d","","%d","","","%s","","","","","","","",""\n' \
    "$i" $((i / 250)) $((i % 250 + 1)) $((i % 250 + 1)) $((51820 + i / 250)) "$key" >> "$db"
done

now() { python3 -c 'import time; print(time.perf_counter())'; }
best() { python3 -c 'import sys; print(min(float(x) for x in sys.argv[1:]))' "$@"; }

meshconf_times=() wiremesh_times=()
for ((r = 0; r < runs; r++)); do
  rm -rf "$work/out-meshconf" "$work/out-wiremesh" "$work/mesh.toml" "$work/mesh.keys"
  t0=$(now)
  (cd "$work" && "$venv/bin/wg-meshconf" -d "$db" genconfig -o "$work/out-meshconf" > /dev/null)
  t1=$(now)
  (cd "$work" && "$wiremesh" import mesh.toml --meshconf "$db" > /dev/null && "$wiremesh" render mesh.toml --out "$work/out-wiremesh" > /dev/null)
  t2=$(now)
  meshconf_times+=("$(python3 -c "print($t1 - $t0)")")
  wiremesh_times+=("$(python3 -c "print($t2 - $t1)")")
done
[[ $(ls "$work/out-meshconf" | wc -l) -eq $nodes ]] || { echo "wg-meshconf wrote $(ls "$work/out-meshconf" | wc -l) files" >&2; exit 1; }
[[ $(ls "$work/out-wiremesh" | wc -l) -eq $nodes ]] || { echo "wiremesh wrote $(ls "$work/out-wiremesh" | wc -l) files" >&2; exit 1; }
m=$(best "${meshconf_times[@]}")
w=$(best "${wiremesh_times[@]}")
printf 'nodes %d (%d peer sections), best of %d runs\n' "$nodes" $((nodes * (nodes - 1))) "$runs"
printf '  wg-meshconf genconfig        %8.3f s\n' "$m"
printf '  wiremesh import + render     %8.3f s   (includes proving every pair reachable)\n' "$w"
python3 -c "print('  wiremesh is %.0fx faster' % ($m / $w))"
