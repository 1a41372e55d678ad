#!/usr/bin/env bash
# Ping RTT of wiremeshd against boringtun-cli, side by side: both tunnels up at once between the same two
# network namespaces (wiremeshd on overlay 10.9.0.0/24, boringtun-cli on 10.8.0.0/24, one veth), pinged
# in alternating rounds of 50 pings 20 ms apart, so both see the same host, the same moment and the same
# idle vCPUs. `dataplane.sh` measures each implementation alone and minutes apart; on a VM its RTT
# ratio moves by +-25% from run to run, which hides differences of a few per cent. This one is for
# those.
#
# Output: one line per round (wiremeshd and boringtun-cli median RTT in ms, their ratio), then a summary:
# the median over rounds of each, the median of the per-round ratios with its quartiles, and in how many
# rounds wiremeshd was faster. Rounds within one setup share daemon threads and their CPU placement, so
# prefer several setups (fresh namespaces and daemons) over many rounds in one.
#
# usage: sudo benches/rtt-pair.sh [setups=4] [rounds=10]
# Environment: WIREMESHD=PATH, BORINGTUN_CLI=PATH as for dataplane.sh (wiremeshd is built when unset;
# boringtun-cli must be on PATH or given).
#
# Rules (TESTING.md): only namespaces this run creates (random names, as are the veth and WireGuard
# interface names), underlay 192.0.2.0/24, every command that could hang under `timeout`, everything
# removed on exit, also on failure or Ctrl-C.
set -euo pipefail

setups=${1:-4}
rounds=${2:-10}
[[ $setups =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [setups=4] [rounds=10]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "rtt-pair.sh: $*" >&2; exit 1; }
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN devices): sudo $0 $*"
for tool in ip ping wg timeout python3 od; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool (apt-get install -y iproute2 iputils-ping wireguard-tools python3 coreutils)"
done
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing: userspace WireGuard needs TUN devices"

wiremeshd=$(bench_wiremeshd "$root")
boringtun=${BORINGTUN_CLI:-$(command -v boringtun-cli || true)}
[[ -n $boringtun && -x $boringtun ]] || die "boringtun-cli not found: put it on PATH or set BORINGTUN_CLI=PATH (cargo install boringtun-cli --locked)"

work=$(mktemp -d /tmp/wiremesh-rtt-pair.XXXXXX)
created=()   # namespaces of the current setup
sockets=()   # UAPI sockets of the current setup (/var/run/wireguard is not per namespace)

teardown() { # stop the daemons (by pid, bounded), delete the namespaces and sockets of the current setup
  local ns
  for ns in "${created[@]}"; do
    bench_kill_ns_procs "$ns"
    timeout 10 ip netns del "$ns" 2>/dev/null || true
  done
  rm -f "${sockets[@]}"
  created=() sockets=()
}
cleanup() {
  trap - EXIT INT TERM
  teardown
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "rtt-pair.sh: interrupted" >&2; exit 130' INT TERM

ka=$(wg genkey) kb=$(wg genkey)
pa=$(wg pubkey <<<"$ka") pb=$(wg pubkey <<<"$kb")
printf '%s\n' "$ka" >"$work/a.key"
printf '%s\n' "$kb" >"$work/b.key"

tunnel() { # impl ifA ifB port overlay-prefix (x.y.z): start both ends, configure, wait for a reply
  local impl=$1 ia=$2 ib=$3 port=$4 net=$5 ns ifn i
  for ns in "$A" "$B"; do
    if [[ $ns == "$A" ]]; then ifn=$ia; else ifn=$ib; fi
    sockets+=("/var/run/wireguard/$ifn.sock")
    case $impl in
      wiremeshd) timeout 30 ip netns exec "$ns" "$wiremeshd" "$ifn" >"$work/$ifn.out" 2>&1 ;;
      boringtun-cli) timeout 30 ip netns exec "$ns" "$boringtun" --disable-drop-privileges --log "$work/$ifn.log" "$ifn" \
        >"$work/$ifn.out" 2>&1 ;;
    esac || { cat "$work/$ifn.out" >&2; return 1; }
  done
  for ((i = 0; i < 100; i++)); do
    [[ -S /var/run/wireguard/$ia.sock && -S /var/run/wireguard/$ib.sock ]] && break
    sleep 0.1
  done
  timeout 10 ip netns exec "$A" wg set "$ia" private-key "$work/a.key" listen-port "$port" \
    peer "$pb" allowed-ips "$net.2/32" endpoint "192.0.2.2:$port"
  timeout 10 ip netns exec "$B" wg set "$ib" private-key "$work/b.key" listen-port "$port" \
    peer "$pa" allowed-ips "$net.1/32" endpoint "192.0.2.1:$port"
  ip -n "$A" addr add "$net.1/24" dev "$ia"
  ip -n "$B" addr add "$net.2/24" dev "$ib"
  ip -n "$A" link set "$ia" mtu 1420 up
  ip -n "$B" link set "$ib" mtu 1420 up
  for ((i = 0; i < 5; i++)); do
    timeout 5 ip netns exec "$A" ping -c1 -W2 "$net.2" >/dev/null 2>&1 && return 0
  done
  echo "rtt-pair.sh: $impl: no reply through the tunnel after 5 tries" >&2
  return 1
}

median_ms() { # dst -> median RTT in ms of 50 pings 20 ms apart, or "nan"
  timeout 20 ip netns exec "$A" ping -n -c 50 -i 0.02 -w 15 "$1" 2>/dev/null | python3 -c '
import statistics, sys
times = [float(l.split("time=")[1].split()[0]) for l in sys.stdin if "time=" in l]
print("%.4f" % statistics.median(times) if len(times) >= 25 else "nan")' || echo nan
}

echo "rtt-pair.sh: $setups setups x $rounds rounds, $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
echo "# setup round wiremeshd_ms boringtun_ms ratio"
: >"$work/rounds"
for ((s = 1; s <= setups; s++)); do
  tok=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  A=rp-$tok-a B=rp-$tok-b
  for ns in "$A" "$B"; do
    ip netns add "$ns"
    created+=("$ns")
    ip -n "$ns" link set lo up
  done
  ip link add "rp${tok}va" netns "$A" type veth peer name "rp${tok}vb" netns "$B"
  ip -n "$A" addr add 192.0.2.1/24 dev "rp${tok}va"
  ip -n "$B" addr add 192.0.2.2/24 dev "rp${tok}vb"
  ip -n "$A" link set "rp${tok}va" up
  ip -n "$B" link set "rp${tok}vb" up
  tunnel wiremeshd "rp${tok}wa" "rp${tok}wb" 51820 10.9.0 || die "setup $s: wiremeshd tunnel failed"
  tunnel boringtun-cli "rp${tok}ba" "rp${tok}bb" 51821 10.8.0 || die "setup $s: boringtun-cli tunnel failed"
  for ((r = 1; r <= rounds; r++)); do
    # alternate which goes first, so neither always follows the other's idle gap
    if ((r % 2)); then w=$(median_ms 10.9.0.2); b=$(median_ms 10.8.0.2); else b=$(median_ms 10.8.0.2); w=$(median_ms 10.9.0.2); fi
    echo "$w $b" >>"$work/rounds"
    python3 -c 'import sys; w,b=sys.argv[3:5]; print(sys.argv[1], sys.argv[2], w, b, "%.3f" % (float(w)/float(b)) if "nan" not in (w,b) else "nan")' \
      "$s" "$r" "$w" "$b"
  done
  teardown
done

python3 - "$work/rounds" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if "nan" not in l]
if not rows:
    sys.exit("rtt-pair.sh: no round measured both tunnels")
w = [r[0] for r in rows]
b = [r[1] for r in rows]
q = sorted(x / y for x, y in rows)
n = len(q)
print(f"summary: {n} rounds; median RTT wiremeshd {statistics.median(w):.4f} ms, boringtun-cli {statistics.median(b):.4f} ms; "
      f"per-round ratio wiremeshd/boringtun-cli median {statistics.median(q):.3f} (quartiles {q[n // 4]:.3f}-{q[(3 * n) // 4]:.3f}); "
      f"wiremeshd faster in {sum(x < 1 for x in q)} of {n}")
PY
