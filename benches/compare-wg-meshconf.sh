#!/usr/bin/env bash
# Generates every node's config for the same N-node full mesh (a wg-meshconf database.csv) with
# wg-meshconf (from PyPI) and with wiremesh, in one run, and prints both times and the ratio.
# Like for like: `wg-meshconf genconfig` reads its database and writes every config; so does
# `wiremesh render --out` (which also plans and proves every pair reachable). The one-time migration
# `wiremesh import --meshconf` is timed and printed separately.
# Every timed run starts on a synced file system, and every run's time is printed as well as the best.
# On ext4 without a journal (this machine's root), files created within about 30 s of many deletions
# (such as the previous invocation's clean-up) take far longer to allocate: wait a minute between runs.
# usage: benches/compare-wg-meshconf.sh [nodes=300] [runs=5]
set -euo pipefail
nodes=${1:-300}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

venv="$root/target/wg-meshconf-venv"
if [[ ! -x "$venv/bin/wg-meshconf" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet wg-meshconf
fi
cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin wiremesh
wiremesh="${CARGO_TARGET_DIR:-$root/target}/release/wiremesh"

# The same database for both: every node public (documentation-range endpoints), one /16 network.
db="$work/database.csv"
echo '"Name","Address","Endpoint","AllowedIPs","ListenPort","PersistentKeepalive","FwMark","PrivateKey","DNS","MTU","Table","PreUp","PostUp","PreDown","PostDown","SaveConfig"' > "$db"
for ((i = 0; i < nodes; i++)); do
  key=$("$wiremesh" genkey)
  printf '"node-%04d","10.88.%d.%d/16","198.51.100.%d","","%d","","","%s","","","","","","","",""\n' \
    "$i" $((i / 250)) $((i % 250 + 1)) $((i % 250 + 1)) $((51820 + i / 250)) "$key" >> "$db"
done

best() { python3 -c 'import sys; print(min(float(x) for x in sys.argv[1:]))' "$@"; }

t0=$EPOCHREALTIME
(cd "$work" && "$wiremesh" import mesh.toml --meshconf "$db" > /dev/null)
t1=$EPOCHREALTIME
import_time=$(python3 -c "print($t1 - $t0)")

meshconf_times=() wiremesh_times=()
for ((r = 0; r < runs; r++)); do
  # A fresh output directory per run for both tools (deleting the last run's files first would make
  # the next run's file creation pay for the file system reclaiming them).
  # Each timed run starts on a synced file system, so neither tool pays for writing back the other's
  # (or its own last run's) unsynced files while it runs.
  cd "$work"
  sync
  t0=$EPOCHREALTIME
  "$venv/bin/wg-meshconf" -d "$db" genconfig -o "$work/out-meshconf-$r" > /dev/null
  t1=$EPOCHREALTIME
  sync
  t1=$EPOCHREALTIME
  "$wiremesh" render mesh.toml --out "$work/out-wiremesh-$r" > /dev/null
  t2=$EPOCHREALTIME
  cd - > /dev/null
  meshconf_times+=("$(python3 -c "print($t1 - $t0)")")
  wiremesh_times+=("$(python3 -c "print($t2 - $t1)")")
done
files_in() { find "$1" -mindepth 1 -maxdepth 1 | wc -l; }
[[ $(files_in "$work/out-meshconf-0") -eq $nodes ]] || { echo "wg-meshconf wrote $(files_in "$work/out-meshconf-0") files" >&2; exit 1; }
[[ $(files_in "$work/out-wiremesh-0") -eq $nodes ]] || { echo "wiremesh wrote $(files_in "$work/out-wiremesh-0") files" >&2; exit 1; }
m=$(best "${meshconf_times[@]}")
w=$(best "${wiremesh_times[@]}")
printf 'nodes %d (%d peer sections), best of %d runs\n' "$nodes" $((nodes * (nodes - 1))) "$runs"
printf '  wg-meshconf genconfig        %8.3f s\n' "$m"
printf '  wiremesh render --out        %8.3f s   (plans, proves every pair reachable, writes 0600 files)\n' "$w"
printf '  (wiremesh import --meshconf  %8.3f s, once)\n' "$import_time"
python3 -c "import sys; print('  every run, s: wg-meshconf', ' '.join('%.2f' % float(x) for x in sys.argv[1:$runs + 1]), '| wiremesh', ' '.join('%.3f' % float(x) for x in sys.argv[$runs + 1:]))" "${meshconf_times[@]}" "${wiremesh_times[@]}"
python3 -c "print('  wiremesh is %.0fx faster' % ($m / $w))"
