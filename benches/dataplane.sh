#!/usr/bin/env bash
# Data-path baseline: raw veth, wiremeshd, wireguard-go and boringtun-cli measured in one run, on the
# same two network namespaces joined by one veth pair (both tunnel ends share this machine's cores, so
# compare implementations by ratio within a run, not across runs or machines).
#
# Per path: ping RTT on the idle tunnel (100 pings 20 ms apart: the median, which the ratios compare, and
# the average; ms), single-flow TCP throughput
# (iperf3 -J, end.sum_received, Gbit/s), 4-flow TCP throughput (iperf3 -P 4, the sum of the streams),
# UDP throughput (iperf3 -u -b 0 -l 1372, received: sent less lost, Gbit/s) and the daemons' CPU time per gigabit carried
# in the single-flow test (user + system seconds of both ends' daemon processes / Gbit). Then the ratios
# wiremeshd / boringtun-cli and wiremeshd / wireguard-go (throughput and RTT).
#
# usage: sudo benches/dataplane.sh [seconds=5] [impl ...]
#   impl: wiremeshd | wireguard-go | boringtun-cli   (default: all three; raw veth is always measured)
# Environment:
#   WIREMESHD=PATH       use this wiremeshd instead of building it
#                        (default: cargo build --release --features device --bin wiremeshd,
#                        honouring CARGO_TARGET_DIR)
#   BORINGTUN_CLI=PATH   use this boringtun-cli; default: on PATH, else target/boringtun-cli/bin/, else
#                        `cargo install boringtun-cli --locked --root target/boringtun-cli` (minutes)
#   DATAPLANE_CC=NAME    TCP congestion control of the iperf3 flows (cubic, bbr, ...; `iperf3 -C NAME`,
#                        per socket: a namespace may only default to the host's allowed algorithms).
#                        Default: the namespaces' default (the host's setting on recent kernels). The
#                        report names it: single-flow results depend on it (BBR paces, cubic fills queues).
#
# Rules (TESTING.md): only namespaces this run creates (names carry a random token, so do the veth and
# WireGuard interface names: the UAPI socket /var/run/wireguard/IFNAME.sock is not per namespace),
# underlay 192.0.2.0/24, overlay 10.9.0.0/24 only inside those namespaces, every command that could hang
# under `timeout`, and everything removed on exit, also on failure or Ctrl-C.
set -euo pipefail

secs=${1:-5}
shift || true
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [seconds=5] [wiremeshd|wireguard-go|boringtun-cli ...]" >&2; exit 2; }
impls=("$@")
((${#impls[@]})) || impls=(wiremeshd wireguard-go boringtun-cli)
for impl in "${impls[@]}"; do
  case $impl in
    wiremeshd | wireguard-go | boringtun-cli) ;;
    *) echo "dataplane.sh: unknown implementation '$impl' (wiremeshd, wireguard-go, boringtun-cli)" >&2; exit 2 ;;
  esac
done
has() { local x; for x in "${impls[@]}"; do [[ $x == "$1" ]] && return 0; done; return 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "dataplane.sh: $*" >&2; exit 1; }
# shellcheck source=benches/lib.sh
source "$root/benches/lib.sh"

# --- preflight: root and tools --------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN devices): sudo $0 $*"
missing=()
for tool in ip iperf3 ping wg timeout python3 ss; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if has wireguard-go && ! command -v wireguard-go >/dev/null 2>&1; then missing+=(wireguard-go); fi
((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (apt-get install -y iproute2 iperf3 iputils-ping wireguard-tools wireguard-go python3 coreutils)"
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing: userspace WireGuard needs TUN devices"

# --- the daemons under test -----------------------------------------------------------------------
wiremeshd=""
if has wiremeshd; then wiremeshd=$(bench_wiremeshd "$root"); fi

boringtun=${BORINGTUN_CLI:-}
if has boringtun-cli && [[ -z $boringtun ]]; then
  if command -v boringtun-cli >/dev/null 2>&1; then
    boringtun=$(command -v boringtun-cli)
  else
    boringtun=$root/target/boringtun-cli/bin/boringtun-cli
    if [[ ! -x $boringtun ]]; then
      command -v cargo >/dev/null 2>&1 || die "boringtun-cli not found and no cargo to install it (or set BORINGTUN_CLI=PATH)"
      echo "installing boringtun-cli (cargo install boringtun-cli --locked --root target/boringtun-cli; takes minutes) ..." >&2
      timeout 3600 cargo install --quiet boringtun-cli --locked --root "$root/target/boringtun-cli" \
        || die "cargo install boringtun-cli failed"
    fi
  fi
fi
if has boringtun-cli; then [[ -x $boringtun ]] || die "boringtun-cli not executable: $boringtun"; fi

# --- namespaces, names and cleanup ----------------------------------------------------------------
tok=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')   # 6 hex digits
A=dp-$tok-a B=dp-$tok-b
VA=dp${tok}va VB=dp${tok}vb                         # veth ends (created directly inside A and B)
work=$(mktemp -d /tmp/wiremesh-dataplane.XXXXXX)
ifnames=()                                          # WireGuard interfaces of this run (socket cleanup)
created=()                                          # namespaces we created
server_pid=""

cleanup() {
  local ns ifn
  trap - EXIT INT TERM
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  for ns in "${created[@]}"; do bench_kill_ns_procs "$ns"; done
  for ns in "${created[@]}"; do timeout 10 ip netns del "$ns" 2>/dev/null || true; done
  for ifn in "${ifnames[@]}"; do rm -f "/var/run/wireguard/$ifn.sock"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "dataplane.sh: interrupted" >&2; exit 130' INT TERM

for ns in "$A" "$B"; do
  ip netns add "$ns"
  created+=("$ns")
  ip -n "$ns" link set lo up
done
cc_args=()
if [[ -n ${DATAPLANE_CC:-} ]]; then
  grep -qw -- "$DATAPLANE_CC" /proc/sys/net/ipv4/tcp_available_congestion_control \
    || die "TCP congestion control '$DATAPLANE_CC' is not available (available: $(cat /proc/sys/net/ipv4/tcp_available_congestion_control))"
  cc=$DATAPLANE_CC
  cc_args=(-C "$cc")
else
  cc=$(ip netns exec "$A" cat /proc/sys/net/ipv4/tcp_congestion_control)
fi
ip link add "$VA" netns "$A" type veth peer name "$VB" netns "$B"
ip -n "$A" addr add 192.0.2.1/24 dev "$VA"
ip -n "$B" addr add 192.0.2.2/24 dev "$VB"
ip -n "$A" link set "$VA" up
ip -n "$B" link set "$VB" up

# --- measurement ----------------------------------------------------------------------------------
declare -A t1 t4 udp rtt rtt_avg load cpu
names=()
daemon_pids=""   # the tunnel daemons of the path being measured (empty for raw veth)

cpu_ticks() { # sum of utime+stime (clock ticks) of $daemon_pids
  local pid total=0 f
  for pid in $daemon_pids; do
    [[ -r /proc/$pid/stat ]] || continue
    f=$(sed 's/.*) //' "/proc/$pid/stat")   # fields from 3 on (the name may hold spaces)
    # shellcheck disable=SC2086
    set -- $f
    total=$((total + ${12} + ${13}))         # fields 14 and 15: utime, stime
  done
  echo "$total"
}

iperf_gbps() { # dst parallel -> Gbit/s received (sum over streams), or empty
  local dst=$1 par=$2 out i
  # a one-shot server in B, bounded; wait (bounded) until it listens
  timeout $((secs + 30)) ip netns exec "$B" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  server_pid=$!
  for ((i = 0; i < 50; i++)); do
    ip netns exec "$B" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q . && break
    sleep 0.1
  done
  out=$(timeout $((secs + 20)) ip netns exec "$A" iperf3 -c "$dst" -p 5201 -t "$secs" -P "$par" "${cc_args[@]}" -J 2>/dev/null || true)
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f"%(d["end"]["sum_received"]["bits_per_second"]/1e9))' \
    <<<"$out" 2>/dev/null || true
}

udp_gbps() { # dst -> Gbit/s received (sent less lost) with unlimited send rate, or empty
  local dst=$1 out i
  timeout $((secs + 30)) ip netns exec "$B" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  server_pid=$!
  for ((i = 0; i < 50; i++)); do
    ip netns exec "$B" ss -Hltn 'sport = :5201' 2>/dev/null | grep -q . && break
    sleep 0.1
  done
  out=$(timeout $((secs + 20)) ip netns exec "$A" iperf3 -c "$dst" -p 5201 -u -b 0 -l 1372 -t "$secs" -J 2>/dev/null || true)
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  python3 -c 'import json,sys; s=json.load(sys.stdin)["end"]["sum"]; print("%.2f"%(s["bits_per_second"]*(1-s["lost_percent"]/100)/1e9))' \
    <<<"$out" 2>/dev/null || true
}

ping_ms() { # dst -> "MEDIAN AVERAGE" RTT in ms of 100 pings 20 ms apart, or empty
  timeout 20 ip netns exec "$A" ping -n -c 100 -i 0.02 -w 15 "$1" 2>/dev/null | python3 -c '
import statistics, sys
times = [float(l.split("time=")[1].split()[0]) for l in sys.stdin if "time=" in l]
if len(times) >= 50:
    print("%.3f %.3f" % (statistics.median(times), statistics.fmean(times)))' || true
}

measure() { # name dst
  local name=$1 dst=$2
  local c0 c1
  names+=("$name")
  # RTT first, on the idle tunnel (after the UDP flood, queues still draining would inflate it)
  read -r "rtt[$name]" "rtt_avg[$name]" < <(ping_ms "$dst"; echo) || true
  c0=$(cpu_ticks)
  t1[$name]=$(iperf_gbps "$dst" 1)
  c1=$(cpu_ticks)
  if [[ -n $daemon_pids && -n ${t1[$name]} ]]; then
    cpu[$name]=$(python3 -c 'import sys; c,g,s,hz=map(float,sys.argv[1:]); print("%.2f"%(c/hz/(g*s)) if g>0 else "")' \
      "$((c1 - c0))" "${t1[$name]}" "$secs" "$(getconf CLK_TCK)")
  else
    cpu[$name]="-"
  fi
  t4[$name]=$(iperf_gbps "$dst" 4)
  udp[$name]=$(udp_gbps "$dst")
  load[$name]=$(cut -d' ' -f1 /proc/loadavg)
  printf '  %-14s 1 flow %6s   4 flows %6s   UDP %6s Gbit/s   rtt %6s ms (avg %s)   CPU %5s s/Gbit   (load %s)\n' \
    "$name" "${t1[$name]:-FAIL}" "${t4[$name]:-FAIL}" "${udp[$name]:-FAIL}" "${rtt[$name]:-FAIL}" "${rtt_avg[$name]:--}" \
    "${cpu[$name]:-FAIL}" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
}

start_daemon() { # impl ns ifname
  local impl=$1 ns=$2 ifn=$3
  case $impl in
    wiremeshd) timeout 30 ip netns exec "$ns" "$wiremeshd" "$ifn" ;;
    wireguard-go) timeout 30 ip netns exec "$ns" wireguard-go "$ifn" ;;
    boringtun-cli)
      # defaults otherwise (4 threads, log level error); its log goes to our work directory
      timeout 30 ip netns exec "$ns" "$boringtun" --disable-drop-privileges --log "$work/$ifn.log" "$ifn" ;;
  esac
}

wait_for_socket() { # ifname
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -S /var/run/wireguard/$1.sock ]] && return 0
    sleep 0.1
  done
  return 1
}

ka=$(wg genkey) kb=$(wg genkey)
pa=$(wg pubkey <<<"$ka") pb=$(wg pubkey <<<"$kb")
printf '%s\n' "$ka" >"$work/a.key"
printf '%s\n' "$kb" >"$work/b.key"

started="$(date -u '+%Y-%m-%d %H:%M UTC'), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dataplane.sh: ${secs}s per measurement, $(nproc) CPUs, TCP congestion control $cc, $started" >&2
measure raw-veth 192.0.2.2

n=0
for impl in "${impls[@]}"; do
  n=$((n + 1))
  ia=dp${tok}w${n}a ib=dp${tok}w${n}b
  ifnames+=("$ia" "$ib")
  ok=1
  start_daemon "$impl" "$A" "$ia" >"$work/$ia.out" 2>&1 && wait_for_socket "$ia" || ok=0
  start_daemon "$impl" "$B" "$ib" >"$work/$ib.out" 2>&1 && wait_for_socket "$ib" || ok=0
  if ((ok)); then
    timeout 10 ip netns exec "$A" wg set "$ia" private-key "$work/a.key" listen-port 51820 \
      peer "$pb" allowed-ips 10.9.0.2/32 endpoint 192.0.2.2:51820 || ok=0
    timeout 10 ip netns exec "$B" wg set "$ib" private-key "$work/b.key" listen-port 51820 \
      peer "$pa" allowed-ips 10.9.0.1/32 endpoint 192.0.2.1:51820 || ok=0
    ip -n "$A" addr add 10.9.0.1/24 dev "$ia" && ip -n "$B" addr add 10.9.0.2/24 dev "$ib" || ok=0
    ip -n "$A" link set "$ia" mtu 1420 up && ip -n "$B" link set "$ib" mtu 1420 up || ok=0
  fi
  if ((ok)); then
    # handshake (bounded): up to 5 pings 2 s apart
    hs=0
    for ((i = 0; i < 5; i++)); do
      timeout 5 ip netns exec "$A" ping -c1 -W2 10.9.0.2 >/dev/null 2>&1 && { hs=1; break; }
    done
    ((hs)) || echo "  $impl: no reply through the tunnel after 5 tries" >&2
    daemon_pids="$(ip netns pids "$A" 2>/dev/null) $(ip netns pids "$B" 2>/dev/null)"
    measure "$impl" 10.9.0.2
    daemon_pids=""
  else
    echo "  $impl: could not start or configure (output in its log below)" >&2
    cat "$work/$ia.out" "$work/$ib.out" >&2 2>/dev/null || true
    names+=("$impl")
  fi
  ip -n "$A" link del "$ia" 2>/dev/null || true
  ip -n "$B" link del "$ib" 2>/dev/null || true
  bench_kill_ns_procs "$A"
  bench_kill_ns_procs "$B"
  rm -f "/var/run/wireguard/$ia.sock" "/var/run/wireguard/$ib.sock"
done

# --- report ---------------------------------------------------------------------------------------
echo
printf '| path | 1 flow Gbit/s | 4 flows Gbit/s | UDP Gbit/s | ping RTT ms, median (avg) | CPU s/Gbit (1 flow) | load (1 min) after |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for name in "${names[@]}"; do
  printf '| %s | %s | %s | %s | %s (%s) | %s | %s |\n' "$name" "${t1[$name]:-FAIL}" "${t4[$name]:-FAIL}" "${udp[$name]:-FAIL}" \
    "${rtt[$name]:-FAIL}" "${rtt_avg[$name]:--}" "${cpu[$name]:-FAIL}" "${load[$name]:--}"
done
ratio() { # num den -> num/den with 2 decimals, or n/a
  python3 -c 'import sys
try: print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("n/a")' "${1:-}" "${2:-}"
}
echo
if has wiremeshd && has boringtun-cli; then
  echo "wiremeshd / boringtun-cli throughput: 1 flow $(ratio "${t1[wiremeshd]:-}" "${t1[boringtun-cli]:-}")x, 4 flows $(ratio "${t4[wiremeshd]:-}" "${t4[boringtun-cli]:-}")x, UDP $(ratio "${udp[wiremeshd]:-}" "${udp[boringtun-cli]:-}")x"
  echo "wiremeshd / boringtun-cli RTT: median $(ratio "${rtt[wiremeshd]:-}" "${rtt[boringtun-cli]:-}")x (avg $(ratio "${rtt_avg[wiremeshd]:-}" "${rtt_avg[boringtun-cli]:-}")x), CPU per Gbit: $(ratio "${cpu[wiremeshd]:-}" "${cpu[boringtun-cli]:-}")x (lower is better)"
fi
if has wiremeshd && has wireguard-go; then
  echo "wiremeshd / wireguard-go throughput: 1 flow $(ratio "${t1[wiremeshd]:-}" "${t1[wireguard-go]:-}")x, 4 flows $(ratio "${t4[wiremeshd]:-}" "${t4[wireguard-go]:-}")x, UDP $(ratio "${udp[wiremeshd]:-}" "${udp[wireguard-go]:-}")x"
  echo "wiremeshd / wireguard-go RTT: median $(ratio "${rtt[wiremeshd]:-}" "${rtt[wireguard-go]:-}")x (avg $(ratio "${rtt_avg[wiremeshd]:-}" "${rtt_avg[wireguard-go]:-}")x), CPU per Gbit: $(ratio "${cpu[wiremeshd]:-}" "${cpu[wireguard-go]:-}")x (lower is better)"
fi
echo "$(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)), ${secs}s per measurement, TCP congestion control $cc; $started, at end $(cut -d' ' -f1-3 /proc/loadavg)"

# non-zero if any path failed to measure
for name in "${names[@]}"; do
  [[ -n ${t1[$name]:-} && -n ${t4[$name]:-} && -n ${udp[$name]:-} && -n ${rtt[$name]:-} && -n ${cpu[$name]:-} ]] || exit 1
done
