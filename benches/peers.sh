#!/usr/bin/env bash
# Peer scale of wiremeshd: N peers (default 10,000, each with one /32 AllowedIP and an endpoint)
# configured through the UAPI in one `wg setconf`, timed; the daemon's resident memory before and after
# (VmRSS, /proc) divided by N gives the memory per idle peer; then its CPU time over an idle interval
# (timers only, no traffic) and the time `wg show dump` takes to read them all back.
#
# usage: sudo benches/peers.sh [peers=10000] [idle-seconds=5]
# Environment: WIREMESHD=PATH (default: cargo build --release --features device --bin wiremeshd,
# honouring CARGO_TARGET_DIR).
#
# Rules (TESTING.md): one namespace this run creates (random token in its and the interface's name),
# every command that could hang under `timeout`, everything removed on exit, also on failure.
set -euo pipefail

peers=${1:-10000}
idle=${2:-5}
[[ $peers =~ ^[1-9][0-9]*$ && $peers -le 60000 && $idle =~ ^[1-9][0-9]*$ ]] \
  || { echo "usage: $0 [peers=10000 (<= 60000)] [idle-seconds=5]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "peers.sh: $*" >&2; exit 1; }
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"
[[ $(id -u) -eq 0 ]] || die "needs root (network namespace, TUN device)"
for tool in ip wg timeout python3 getconf; do command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"; done

wiremeshd=$(bench_wiremeshd "$root")

tok=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
ns=pb-$tok
ifn=pb${tok}w
work=$(mktemp -d /tmp/wiremesh-peers.XXXXXX)
cleanup() {
  trap - EXIT INT TERM
  local pids
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [[ -z $pids ]] || kill $pids 2>/dev/null || true
  sleep 0.3
  timeout 10 ip netns del "$ns" 2>/dev/null || true
  rm -f "/var/run/wireguard/$ifn.sock"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
timeout 30 ip netns exec "$ns" "$wiremeshd" "$ifn" >"$work/up.log" 2>&1 || die "wiremeshd did not start: $(cat "$work/up.log")"
pid=$(ip netns pids "$ns" | head -n 1)
[[ -n $pid ]] || die "no wiremeshd process in $ns"

# The configuration: random 32-byte public keys (valid X25519 points for WireGuard's purposes),
# 10.x.y.z/32 each, endpoints in 198.51.100.0/24 (documentation range; nothing is sent: no handshake
# starts without traffic or keepalive).
python3 - "$peers" "$work/conf" <<'EOF'
import base64, os, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("[Interface]\nPrivateKey = %s\nListenPort = 0\n" % base64.b64encode(os.urandom(32)).decode())
    for i in range(n):
        key = base64.b64encode(os.urandom(32)).decode()
        f.write("\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.%d.%d.%d/32\nEndpoint = 198.51.100.%d:%d\n"
                % (key, (i >> 16) & 255, (i >> 8) & 255, i & 255, 1 + i % 250, 1024 + i % 60000))
EOF

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status"; }
# shellcheck disable=SC2086  # $f: the stat fields, one per word
cpu_ticks() { local f; f=$(sed 's/.*) //' "/proc/$pid/stat"); set -- $f; echo $((${12} + ${13})); }
now() { date +%s.%N; }

rss0=$(rss_kib)
t0=$(now)
timeout 60 ip netns exec "$ns" wg setconf "$ifn" "$work/conf" || die "wg setconf failed"
t1=$(now)
rss1=$(rss_kib)
count=$(timeout 60 ip netns exec "$ns" wg show "$ifn" peers | wc -l)
t2=$(now)
timeout 60 ip netns exec "$ns" wg show "$ifn" dump >/dev/null
t3=$(now)
c0=$(cpu_ticks)
sleep "$idle"
c1=$(cpu_ticks)
hz=$(getconf CLK_TCK)

python3 - "$peers" "$count" "$t0" "$t1" "$t2" "$t3" "$rss0" "$rss1" "$c0" "$c1" "$hz" "$idle" <<'EOF'
import sys
peers, count = int(sys.argv[1]), int(sys.argv[2])
t0, t1, t2, t3 = map(float, sys.argv[3:7])
rss0, rss1, c0, c1, hz, idle = map(float, sys.argv[7:13])
print("peers configured: %d (wg show lists %d)" % (peers, count))
print("wg setconf with %d peers: %.2f s" % (peers, t1 - t0))
print("wg show dump of all peers: %.2f s" % (t3 - t2))
print("resident memory: %.1f MiB before, %.1f MiB after: %.2f KiB per peer" % (rss0 / 1024, rss1 / 1024, (rss1 - rss0) / peers))
print("idle CPU with %d peers: %.1f%% of one core (%.2f s over %d s)" % (peers, 100 * (c1 - c0) / hz / idle, (c1 - c0) / hz, idle))
EOF
((count == peers)) || die "wg show listed $count peers, expected $peers"
