#!/usr/bin/env bash
# The agent (`wiremesh agent`) end to end in network namespaces: redundant hubs, failover and failback,
# a device restarted by its agent, a DNS endpoint that moves. Devices are started bare (no wg-quick):
# each node's agent configures its device from the mesh file.
#
# usage: failover.sh SCENARIO [IMPL]   (as root; wiremesh on PATH or WIREMESH=...; IMPL = wireguard-go
#                                       (default) or wiremeshd, on PATH or WIREMESHD=...)
#        failover.sh --list
#
# Scenarios:
#   hubs     two hubs A and B (A declared first), two spokes behind NAT (no endpoints) pinging each other
#            through A, an agent on every node (spokes: probe every 0.5 s, down after 4 lost, hold-down
#            HOLD_DOWN s, default 20). Hub A's device is deleted: the spokes' ping resumes through hub B
#            (measured from the deletion to the first reply; must be < 30 s). Hub A is started again (its
#            agent reconfigures the new device): traffic stays on B for the hold-down, then returns to A,
#            exactly once (no flapping). Which hub forwards is read from each hub's IP ForwDatagrams counter.
#   restart  one hub whose agent has --daemon IMPL: the hub's device is deleted, its agent starts a new
#            one (same key; addresses and routes back, among them the route to the LAN behind s2, which
#            only the agent adds) and configures it; the spokes reconnect through it without any manual
#            action.
#   dns      the spokes know the hub as hub.wme2e.test (in /etc/netns/NS/hosts, which `ip netns exec`
#            mounts over /etc/hosts). The hub moves to a new underlay address and the name with it: the
#            spokes' agents see the hub stop answering, resolve the name again and follow it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

SCENARIOS=(hubs restart dns)
if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${SCENARIOS[@]}"
    exit 0
fi
if [[ $# -lt 1 || $# -gt 2 || " ${SCENARIOS[*]} " != *" $1 "* ]]; then
    echo "usage: $0 SCENARIO [wireguard-go|wiremeshd]   (SCENARIO one of: ${SCENARIOS[*]})" >&2
    exit 2
fi
SCENARIO=$1
IMPL=${2:-wireguard-go}
case $IMPL in
    wireguard-go) IMPL_BIN=$(command -v wireguard-go || true); tag_impl=g ;;
    wiremeshd) IMPL_BIN=${WIREMESHD:-$(command -v wiremeshd || true)}; tag_impl=d ;;
    *) echo "unknown implementation $IMPL" >&2; exit 2 ;;
esac
case $SCENARIO in
    hubs) E2E_TAG=fh$tag_impl ;;
    restart) E2E_TAG=fr$tag_impl ;;
    dns) E2E_TAG=fd$tag_impl ;;
esac
HOLD_DOWN=${HOLD_DOWN:-20}

e2e_preflight
[[ -n $IMPL_BIN && -x $IMPL_BIN ]] || e2e_fail "$IMPL not found (put it on PATH)"
e2e_init "failover-$SCENARIO-$IMPL"
W=$E2E_WIREMESH
MESH="$E2E_WORK/mesh.toml"

declare -A NSN IFN ADDR AGENT_PID
ETC_NETNS=()   # /etc/netns/NS directories this run created

ETC_NETNS_CREATED=0   # whether this run created /etc/netns itself
cleanup_extra() {
    local dir
    for dir in "${ETC_NETNS[@]}"; do rm -rf "$dir"; done
    ((ETC_NETNS_CREATED)) && rmdir /etc/netns 2>/dev/null
    e2e_cleanup
}
trap cleanup_extra EXIT

# node SHORT NAME HOST: namespace and interface for mesh node NAME, underlay 192.0.2.HOST, overlay 10.77.0.HOST.
node() {
    local short=$1 host=$3
    NSN[$short]=$(e2e_ns_name "$short")
    IFN[$short]=$(e2e_if_name "$short")
    ADDR[$short]=10.77.0.$host
    E2E_IFNAMES+=("${IFN[$short]}")
    e2e_ns_create "${NSN[$short]}"
    e2e_underlay_attach "${NSN[$short]}" "$short" "192.0.2.$host"
}

# device SHORT: starts IMPL for SHORT's interface, with its overlay address, up (what the agent's
# --daemon does too).
device() {
    local short=$1 ns=${NSN[$1]} ifn=${IFN[$1]}
    ip netns exec "$ns" timeout 20 "$IMPL_BIN" "$ifn" >"$E2E_WORK/up-$ifn.log" 2>&1 \
        || e2e_fail "$IMPL $ifn failed to start: $(cat "$E2E_WORK/up-$ifn.log")"
    ip -n "$ns" addr add "${ADDR[$short]}/24" dev "$ifn"
    ip -n "$ns" link set "$ifn" up
}

device_gone() { [[ ! -e $E2E_SOCKET_DIR/${IFN[$1]}.sock ]] && ! ip -n "${NSN[$1]}" link show dev "${IFN[$1]}" >/dev/null 2>&1; }

# stop_device SHORT: deletes SHORT's interface (the daemon exits and removes its socket).
stop_device() {
    ip -n "${NSN[$1]}" link del "${IFN[$1]}" 2>/dev/null || true
    e2e_wait_for 10 "the device of $1 to go away" device_gone "$1"
}

# agent SHORT NAME ARGS...: `wiremesh agent` for node NAME in SHORT's namespace, JSON events to agent-SHORT.log.
agent() {
    local short=$1 name=$2
    shift 2
    ip netns exec "${NSN[$short]}" "$W" agent "$MESH" "$name" --interface "${IFN[$short]}" --json "$@" \
        >"$E2E_WORK/agent-$short.log" 2>&1 &
    AGENT_PID[$short]=$!
}

# Events named EVENT in SHORT's agent log (JSON lines).
events() { grep -c "\"event\":\"$2\"" "$E2E_WORK/agent-$1.log" || true; }
has_event() { (($(events "$1" "$2") >= ${3:-1})); }
# The time field of the Nth (default last) EVENT line of SHORT's agent log.
event_time() {
    local line
    line=$(grep "\"event\":\"$2\"" "$E2E_WORK/agent-$1.log" | tail -n 1)
    [[ -n $line ]] || return 1
    sed -n 's/.*"time":\([0-9.]*\).*/\1/p' <<<"$line"
}

# shellcheck disable=SC2016  # an awk program: its $ fields are awk's
forwarded() { ip netns exec "${NSN[$1]}" awk '/^Ip:/ { n++; if (n == 1) { for (i = 1; i <= NF; i++) if ($i == "ForwDatagrams") c = i } else { print $c } }' /proc/net/snmp; }

e2e_diagnostics() {
    local short
    echo "---- diagnostics for failover-$SCENARIO-$IMPL (run $E2E_RUN) ----"
    for short in "${!NSN[@]}"; do
        ip netns list 2>/dev/null | grep -q "^${NSN[$short]}\b" || continue
        echo "# $short (${NSN[$short]}, ${IFN[$short]}) forwarded=$(forwarded "$short" 2>/dev/null)"
        ip netns exec "${NSN[$short]}" timeout 5 wg show "${IFN[$short]}" 2>&1 | cut -c1-160 | sed 's/^/  /'
    done
    for f in "$E2E_WORK"/*.log; do
        [[ -f $f ]] || continue
        echo "# $(basename "$f")"
        tail -n 12 "$f" | cut -c1-300 | sed 's/^/  /'
    done
    echo "---- end of diagnostics ----"
}

# mesh HUB_ENDPOINT_A [HUB_B]: the mesh file: hub-a (and hub-b), spokes s1 and s2 behind NAT.
make_mesh() {
    "$W" init "$MESH" --network 10.77.0.0/24 --topology hub-and-spoke --keepalive 5 >/dev/null
    "$W" add "$MESH" hub-a --relay --endpoint "$1" --address 10.77.0.1 >/dev/null
    if [[ ${2:-} == two ]]; then
        "$W" add "$MESH" hub-b --relay --endpoint 192.0.2.2:51820 --address 10.77.0.2 >/dev/null
    fi
    "$W" add "$MESH" s1 --address 10.77.0.11 >/dev/null
    "$W" add "$MESH" s2 --address 10.77.0.12 ${3:+--subnet "$3"} >/dev/null
    "$W" verify "$MESH" >"$E2E_WORK/verify.txt" || e2e_fail "the mesh does not verify: $(cat "$E2E_WORK/verify.txt")"
}

# Starts a background ping s1 -> s2 with timestamps (-D) into ping.log, bounded by SECS.
start_ping() {
    ip netns exec "${NSN[s1]}" timeout "$1" ping -n -D -i 0.2 -W 1 "${ADDR[s2]}" >"$E2E_WORK/ping.log" 2>&1 &
    PING_PID=$!
}
# The timestamp of the first ping reply after time T (Unix seconds, fractional), or nothing.
first_reply_after() { awk -v t="$1" -F'[][]' '/bytes from/ && $2 > t { print $2; exit }' "$E2E_WORK/ping.log"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

spokes_up() { ping_once "${NSN[s1]}" "${ADDR[s2]}" && ping_once "${NSN[s2]}" "${ADDR[s1]}"; }

scenario_hubs() {
    e2e_step "mesh, namespaces, devices"
    make_mesh 192.0.2.1:51820 two
    e2e_underlay_init
    node ha hub-a 1
    node hb hub-b 2
    node s1 s1 11
    node s2 s2 12
    local short
    for short in ha hb; do ip netns exec "${NSN[$short]}" sysctl -qw net.ipv4.ip_forward=1; done
    for short in ha hb s1 s2; do device "$short"; done
    e2e_step "agents"
    agent ha hub-a
    agent hb hub-b
    local spoke_args=(--probe-interval 0.5 --lost-threshold 4 --hold-down "$HOLD_DOWN")
    agent s1 s1 "${spoke_args[@]}"
    agent s2 s2 "${spoke_args[@]}"
    e2e_wait_for 30 "s1 and s2 to reach each other through the hubs" spokes_up
    # Through hub A, not B.
    local a0 b0 a1 b1
    a0=$(forwarded ha) b0=$(forwarded hb)
    ping_ok "${NSN[s1]}" "${ADDR[s2]}" 10
    a1=$(forwarded ha) b1=$(forwarded hb)
    (( a1 - a0 >= 20 )) || e2e_fail "hub A forwarded $((a1 - a0)) packets for 10 pings (expected >= 20)"
    (( b1 - b0 == 0 )) || e2e_fail "hub B forwarded $((b1 - b0)) packets while A is up"
    e2e_log "before: hub A forwards (+$((a1 - a0))), hub B does not (+$((b1 - b0)))"

    e2e_step "stop hub A"
    start_ping 200
    sleep 2
    local stopped resumed failover
    stopped=$(now)
    stop_device ha
    e2e_wait_for 40 "ping s1 -> s2 to resume through hub B" bash -c "[[ -n \$(awk -v t=$stopped -F'[][]' '/bytes from/ && \$2 > t { print; exit }' '$E2E_WORK/ping.log') ]]"
    resumed=$(first_reply_after "$stopped")
    failover=$(secs "$stopped" "$resumed")
    e2e_log "FAILOVER: traffic s1 -> s2 resumed through hub B ${failover} s after hub A stopped"
    awk -v f="$failover" 'BEGIN { exit !(f < 30) }' || e2e_fail "failover took ${failover} s (limit 30 s)"
    { has_event s1 relay_down && has_event s2 relay_down; } || e2e_fail "the spokes' agents did not report hub A down"
    b0=$(forwarded hb)
    sleep 3
    b1=$(forwarded hb)
    (( b1 - b0 >= 10 )) || e2e_fail "hub B forwarded only $((b1 - b0)) packets in 3 s after failover"

    e2e_step "restart hub A"
    local restarted
    restarted=$(now)
    device ha
    e2e_wait_for 20 "hub A's agent to reconfigure its new device" has_event ha applied 2
    # Sample which hub forwards, once a second, until A has carried traffic for 5 s (bounded).
    local samples="" fa fb pa pb i switched_at="" deadline=$((HOLD_DOWN + 40))
    pa=$(forwarded ha) pb=$(forwarded hb)
    for ((i = 1; i <= deadline; i++)); do
        sleep 1
        fa=$(forwarded ha) fb=$(forwarded hb)
        if (( fa - pa > 0 && fb - pb == 0 )); then samples+=A
        elif (( fb - pb > 0 && fa - pa == 0 )); then samples+=B
        elif (( fa - pa > 0 )); then samples+=X
        else samples+=-
        fi
        pa=$fa pb=$fb
        [[ -z $switched_at && $samples == *A ]] && switched_at=$(now)
        [[ $samples =~ AAAAA$ ]] && break
    done
    e2e_log "forwarding hub per second after hub A restarted: $samples"
    [[ -n $switched_at ]] || e2e_fail "traffic never returned to hub A (samples: $samples)"
    local failback
    failback=$(secs "$restarted" "$switched_at")
    e2e_log "FAILBACK: traffic returned to hub A ${failback} s after it restarted (hold-down ${HOLD_DOWN} s)"
    awk -v f="$failback" -v h="$HOLD_DOWN" 'BEGIN { exit !(f >= h - 1) }' || e2e_fail "traffic returned to hub A before the hold-down (${failback} s < ${HOLD_DOWN} s)"
    # No flapping: B, then the transition, then A only, and one way back per spoke. Each spoke's agent
    # fails back on its own probes, so for a second or two one direction already goes through A while
    # the other still goes through B (both hubs forward: X); B never comes back after that.
    [[ $samples =~ ^[B-]*[X-]*A+$ ]] || e2e_fail "forwarding flapped between the hubs: $samples"
    local s
    for s in s1 s2; do
        (($(events "$s" relay_up) == 1)) || e2e_fail "$s: expected exactly one relay_up, got $(events "$s" relay_up)"
        (($(events "$s" relay_down) == 1)) || e2e_fail "$s: expected exactly one relay_down, got $(events "$s" relay_down)"
        (($(events "$s" failover_changed) == 2)) || e2e_fail "$s: expected two failover changes, got $(events "$s" failover_changed)"
    done
    kill "$PING_PID" 2>/dev/null || true
    ping_ok "${NSN[s1]}" "${ADDR[s2]}" 5 || e2e_fail "s1 cannot reach s2 after failback"
}

scenario_restart() {
    e2e_step "mesh, namespaces, devices"
    # s2 has a LAN behind it, outside the hub's own /24: the hub needs a route for it, which the test
    # does not add (devices start bare) and the hub's agent must add to the device it restarts.
    make_mesh 192.0.2.1:51820 one 10.78.0.0/24
    e2e_underlay_init
    node ha hub-a 1
    node s1 s1 11
    node s2 s2 12
    ip netns exec "${NSN[ha]}" sysctl -qw net.ipv4.ip_forward=1
    local short
    for short in ha s1 s2; do device "$short"; done
    agent ha hub-a --daemon "$IMPL_BIN"
    agent s1 s1 --probe-interval 0.5
    agent s2 s2 --probe-interval 0.5
    e2e_wait_for 30 "s1 and s2 to reach each other through the hub" spokes_up
    local key_before
    key_before=$(e2e_wg "${NSN[ha]}" show "${IFN[ha]}" public-key)
    e2e_step "delete the hub's device"
    start_ping 120
    sleep 1
    local stopped resumed
    stopped=$(now)
    ip -n "${NSN[ha]}" link del "${IFN[ha]}"
    e2e_wait_for 30 "the hub's agent to start a new device" has_event ha device_restarting
    e2e_wait_for 30 "ping s1 -> s2 to resume through the restarted hub" bash -c "[[ -n \$(awk -v t=$stopped -F'[][]' '/bytes from/ && \$2 > t { print; exit }' '$E2E_WORK/ping.log') ]]"
    resumed=$(first_reply_after "$stopped")
    e2e_log "RESTART: the hub's agent restarted its device; s1 -> s2 resumed $(secs "$stopped" "$resumed") s after the device was deleted"
    e2e_assert_eq "$key_before" "$(e2e_wg "${NSN[ha]}" show "${IFN[ha]}" public-key)" "the restarted hub's public key"
    grep -q '"reason":"restart"' "$E2E_WORK/agent-ha.log" || e2e_fail "the hub's agent did not configure the new device"
    ip -n "${NSN[ha]}" -br addr show dev "${IFN[ha]}" | grep -q "${ADDR[ha]}/24" || e2e_fail "the restarted device has no address"
    [[ -n $(ip -n "${NSN[ha]}" route show 10.78.0.0/24 dev "${IFN[ha]}") ]] \
        || e2e_fail "the restarted device has no route to s2's LAN 10.78.0.0/24: $(ip -n "${NSN[ha]}" route show dev "${IFN[ha]}")"
    kill "$PING_PID" 2>/dev/null || true
}

scenario_dns() {
    e2e_step "mesh, namespaces, hosts files"
    make_mesh hub.wme2e.test:51820
    e2e_underlay_init
    node ha hub-a 1
    node s1 s1 11
    node s2 s2 12
    local s dir
    [[ -d /etc/netns ]] || ETC_NETNS_CREATED=1
    for s in s1 s2; do
        dir=/etc/netns/${NSN[$s]}
        [[ ! -e $dir ]] || e2e_fail "$dir exists already"
        mkdir -p "$dir"
        ETC_NETNS+=("$dir")
        printf '127.0.0.1 localhost\n192.0.2.1 hub.wme2e.test\n' >"$dir/hosts"
    done
    ip netns exec "${NSN[ha]}" sysctl -qw net.ipv4.ip_forward=1
    for s in ha s1 s2; do device "$s"; done
    agent ha hub-a
    agent s1 s1 --probe-interval 0.5 --lost-threshold 4
    agent s2 s2 --probe-interval 0.5 --lost-threshold 4
    e2e_wait_for 30 "s1 and s2 to reach each other through the hub" spokes_up
    [[ $(e2e_wg "${NSN[s1]}" show "${IFN[s1]}" endpoints) == *192.0.2.1:51820* ]] || e2e_fail "s1 did not resolve the hub's name"
    e2e_step "move the hub and its name"
    start_ping 120
    local moved resumed
    moved=$(now)
    # (Deleted first: removing a primary address also removes the secondaries of its subnet.)
    ip -n "${NSN[ha]}" addr del 192.0.2.1/24 dev eth0
    ip -n "${NSN[ha]}" addr add 192.0.2.51/24 dev eth0
    for s in s1 s2; do
        # In place (same inode): the file is bind-mounted into processes already running.
        printf '127.0.0.1 localhost\n192.0.2.51 hub.wme2e.test\n' >"/etc/netns/${NSN[$s]}/hosts"
    done
    e2e_wait_for 60 "s1's agent to follow the name to 192.0.2.51" bash -c "grep -q '192.0.2.51:51820' '$E2E_WORK/agent-s1.log'"
    local resolved
    resolved=$(event_time s1 endpoint_resolved) || e2e_fail "s1's agent reported no endpoint_resolved"
    e2e_wait_for 30 "ping s1 -> s2 to answer after the name was resolved again" bash -c "[[ -n \$(awk -v t=$resolved -F'[][]' '/bytes from/ && \$2 > t { print; exit }' '$E2E_WORK/ping.log') ]]"
    resumed=$(first_reply_after "$resolved")
    e2e_log "DNS: s1's agent resolved hub.wme2e.test again $(secs "$moved" "$resolved") s after the move; s1 -> s2 answered again $(secs "$moved" "$resumed") s after the move"
    for s in s1 s2; do
        [[ $(e2e_wg "${NSN[$s]}" show "${IFN[$s]}" endpoints) == *192.0.2.51:51820* ]] || e2e_fail "$s's endpoint for the hub did not follow the name"
        has_event "$s" endpoint_resolved || e2e_fail "$s's agent reported no endpoint_resolved"
    done
    kill "$PING_PID" 2>/dev/null || true
}

"scenario_$SCENARIO"
for short in "${!AGENT_PID[@]}"; do
    kill -0 "${AGENT_PID[$short]}" 2>/dev/null || e2e_fail "the agent of $short died: $(tail -n 3 "$E2E_WORK/agent-$short.log")"
done
if grep -h '"event":"error"' "$E2E_WORK"/agent-*.log >"$E2E_WORK/errors.txt"; then
    e2e_log "agent errors (not fatal): $(head -n 3 "$E2E_WORK/errors.txt")"
fi
e2e_log "PASS"
