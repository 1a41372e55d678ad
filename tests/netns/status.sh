#!/usr/bin/env bash
# Status, health, metrics and probes (issue 6) on the seed deployment in network namespaces: a relay hub
# (10.88.0.1, endpoint 192.0.2.1:51820), node-1 (.11) and node-2 (.12) behind NAT peering with the hub,
# node-3 (.13) declared but never started. Brought up with stock wg-quick and E2E_WG_IMPL (wireguard-go by
# default, wiremeshd for the `status-wiremeshd:` scenarios of run-all.sh).
#
# usage: status.sh SCENARIO        (as root; see lib.sh for the environment variables)
#        status.sh --list
#
# Scenarios:
#   seed   `wiremesh status` (UAPI, `--wg`, `--dump -` of `wg show dump` and `wg show all dump`) reports node-1
#          and node-2 up and node-3 never handshaken, against the plan; `wiremesh serve` answers /status,
#          /health, /healthz (503 on the hub because of node-3, 200 on node-1), /metrics (checked by
#          promtool, the Prometheus project's own linter) and / inside the namespaces; probes answered
#   loss   20% loss injected on node-1's underlay egress (tc netem when the kernel has sch_netem, else an
#          nftables `numgen random` drop, which is the same Bernoulli loss): the hub's prober reports node-1's
#          loss within 10 points of 20% over 400 echoes, node-2's near 0, and an RTT close to ping's
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

SCENARIOS=(seed loss)
if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${SCENARIOS[@]}"
    exit 0
fi
if [[ $# -ne 1 || " ${SCENARIOS[*]} " != *" $1 "* ]]; then
    echo "usage: $0 SCENARIO   (one of: ${SCENARIOS[*]})" >&2
    exit 2
fi
SCENARIO=$1
case $SCENARIO in
    seed) E2E_TAG=ss ;;
    loss) E2E_TAG=sl ;;
esac

NODES=(hub node-1 node-2 node-3)
STARTED=(hub node-1 node-2)
declare -A SHORT=([hub]=hub [node-1]=n1 [node-2]=n2 [node-3]=n3)
declare -A HOST=([hub]=1 [node-1]=11 [node-2]=12 [node-3]=13)
v4() { printf '10.88.0.%s' "${HOST[$1]}"; }
u4() { printf '192.0.2.%s' "${HOST[$1]}"; }
PORT=51820
HTTP_PORT=9586
wm() { timeout 60 "$E2E_WIREMESH" "$@"; }

e2e_preflight
for tool in curl promtool python3; do
    command -v "$tool" >/dev/null 2>&1 || e2e_skip_or_fail "$tool is not installed (scripts/test.sh installs it as root)"
done
e2e_init "$SCENARIO"
MESH="$E2E_WORK/seed.toml"
OUT="$E2E_WORK/configs"
declare -A NS IFN
for node in "${NODES[@]}"; do
    NS[$node]=$(e2e_ns_name "${SHORT[$node]}")
    IFN[$node]=$(e2e_if_name "${SHORT[$node]}")
done
SERVER_PIDS=()

e2e_diagnostics() {
    local node
    echo "---- diagnostics for status:$SCENARIO (run $E2E_RUN, $E2E_WG_IMPL) ----"
    for node in "${STARTED[@]}"; do
        ip netns list 2>/dev/null | grep -q "^${NS[$node]}\b" || continue
        echo "# $node (${NS[$node]}, ${IFN[$node]})"
        ip netns exec "${NS[$node]}" timeout 5 wg show "${IFN[$node]}" 2>&1 | sed 's/^/  /'
        [[ -f $E2E_WORK/serve-$node.log ]] && sed 's/^/  serve: /' "$E2E_WORK/serve-$node.log"
    done
    echo "---- end of diagnostics ----"
}

# ---- the seed deployment --------------------------------------------------------------------------------
e2e_step "building and starting the seed deployment"
wm init "$MESH" --name seed --network 10.88.0.0/24 --topology hub-and-spoke >/dev/null || e2e_fail "wiremesh init failed"
for node in "${NODES[@]}"; do
    args=(add "$MESH" "$node" --address "$(v4 "$node")")
    [[ $node == hub ]] && args+=(--relay --endpoint "$(u4 hub):$PORT")
    wm "${args[@]}" >/dev/null || e2e_fail "wiremesh ${args[*]} failed"
done
wm render "$MESH" --out "$OUT" >/dev/null || e2e_fail "wiremesh render failed"
e2e_underlay_init
for node in "${STARTED[@]}"; do
    e2e_ns_create "${NS[$node]}"
    e2e_underlay_attach "${NS[$node]}" "${SHORT[$node]}" "$(u4 "$node")"
done
for node in "${STARTED[@]}"; do
    e2e_wg_up "${NS[$node]}" "${IFN[$node]}" "$OUT/$node.conf"
done
for node in node-1 node-2; do
    e2e_wait_for 25 "$node -> hub ping" ping_once "${NS[$node]}" "$(v4 hub)"
done
e2e_wait_for 25 "node-1 -> node-2 ping through the hub" ping_once "${NS[node-1]}" "$(v4 node-2)"
e2e_log "seed deployment up ($E2E_WG_IMPL): hub, node-1, node-2; node-3 never started"

# check_status JSONFILE EXPECTED: EXPECTED is "name=state ..." in peer order; also peer_count / peers_up.
check_status() {
    local file=$1 expected=$2
    python3 - "$file" "$expected" <<'EOF' || e2e_fail "status $file does not match '$expected': $(head -c 3000 "$file")"
import json, sys
status = json.load(open(sys.argv[1]))
want = [tuple(item.split("=")) for item in sys.argv[2].split()]
got = [(p["name"], p["state"]) for p in status["peers"]]
assert sorted(got) == sorted(want), (got, want)
assert status["peer_count"] == len(want), status["peer_count"]
assert status["peers_up"] == sum(1 for _, s in want if s == "up"), status["peers_up"]
for p in status["peers"]:
    if p["state"] == "never":
        assert p["latest_handshake"] is None and p["handshake_age_seconds"] is None, p
    else:
        assert p["latest_handshake"] > 0 and 0 <= p["handshake_age_seconds"] <= 180, p
        assert p["rx_bytes"] > 0 and p["tx_bytes"] > 0, p
EOF
}

# serve NODE [ARGS...]: `wiremesh serve` in NODE's namespace on 127.0.0.1:HTTP_PORT, waits until it answers.
serve() {
    local node=$1
    shift
    ip netns exec "${NS[$node]}" "$E2E_WIREMESH" serve "${IFN[$node]}" --listen "127.0.0.1:$HTTP_PORT" \
        --mesh "$MESH" --node "$node" "$@" >"$E2E_WORK/serve-$node.log" 2>&1 &
    SERVER_PIDS+=($!)
    e2e_wait_for 10 "wiremesh serve on $node to answer /status" \
        ip netns exec "${NS[$node]}" curl -sf -m 2 -o /dev/null "http://127.0.0.1:$HTTP_PORT/status"
}

# http NODE PATH OUTFILE: prints the HTTP status code, body to OUTFILE.
http() { ip netns exec "${NS[$1]}" curl -s -m 10 -o "$3" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT$2"; }

stop_servers() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=()
}

if [[ $SCENARIO == seed ]]; then
    # ---- wiremesh status, every way of reading the device -------------------------------------------
    e2e_step "wiremesh status on the hub"
    hub_expected="node-1=up node-2=up node-3=never"
    ip netns exec "${NS[hub]}" timeout 20 "$E2E_WIREMESH" status "${IFN[hub]}" --json --mesh "$MESH" --node hub \
        >"$E2E_WORK/hub-uapi.json" || e2e_fail "wiremesh status (UAPI) failed on the hub"
    check_status "$E2E_WORK/hub-uapi.json" "$hub_expected"
    ip netns exec "${NS[hub]}" timeout 20 "$E2E_WIREMESH" status "${IFN[hub]}" --wg --json --mesh "$MESH" --node hub \
        >"$E2E_WORK/hub-wg.json" || e2e_fail "wiremesh status --wg failed on the hub"
    check_status "$E2E_WORK/hub-wg.json" "$hub_expected"
    e2e_wg "${NS[hub]}" show "${IFN[hub]}" dump | timeout 20 "$E2E_WIREMESH" status "${IFN[hub]}" --dump - --json \
        --mesh "$MESH" --node hub >"$E2E_WORK/hub-dump.json" || e2e_fail "wiremesh status --dump - failed"
    check_status "$E2E_WORK/hub-dump.json" "$hub_expected"
    e2e_wg "${NS[hub]}" show all dump >"$E2E_WORK/all.dump"
    timeout 20 "$E2E_WIREMESH" status "${IFN[hub]}" --dump "$E2E_WORK/all.dump" --json --mesh "$MESH" --node hub \
        >"$E2E_WORK/hub-all.json" || e2e_fail "wiremesh status --dump (wg show all dump) failed"
    check_status "$E2E_WORK/hub-all.json" "$hub_expected"
    text=$(ip netns exec "${NS[hub]}" timeout 20 "$E2E_WIREMESH" status "${IFN[hub]}" --mesh "$MESH" --node hub) \
        || e2e_fail "wiremesh status (text) failed"
    [[ $text == "interface ${IFN[hub]} (node hub): 3 peer(s), 2 up, unhealthy"* ]] || e2e_fail "status text: $text"
    grep -q "problem peer_never: node-3 has never completed a handshake" <<<"$text" || e2e_fail "status text lacks node-3: $text"
    for node in node-1 node-2; do
        ip netns exec "${NS[$node]}" timeout 20 "$E2E_WIREMESH" status "${IFN[$node]}" --json --mesh "$MESH" --node "$node" \
            >"$E2E_WORK/$node.json" || e2e_fail "wiremesh status failed on $node"
        check_status "$E2E_WORK/$node.json" "hub=up"
    done
    e2e_log "wiremesh status: hub sees node-1 and node-2 up, node-3 never (UAPI, --wg, dump, all dump); nodes see the hub up"

    # ---- the HTTP server ----------------------------------------------------------------------------
    e2e_step "wiremesh serve on the hub and node-1"
    serve hub --probe --probe-interval-ms 100 --probe-window 20
    serve node-1
    e2e_assert_eq 200 "$(http hub /status "$E2E_WORK/http-status.json")" "GET /status on the hub"
    check_status "$E2E_WORK/http-status.json" "$hub_expected"
    e2e_assert_eq 503 "$(http hub /healthz "$E2E_WORK/healthz-hub.txt")" "GET /healthz on the hub (node-3 never handshook)"
    grep -q '^peer_never: node-3 has never completed a handshake$' "$E2E_WORK/healthz-hub.txt" \
        || e2e_fail "/healthz on the hub: $(cat "$E2E_WORK/healthz-hub.txt")"
    e2e_assert_eq 503 "$(http hub /health "$E2E_WORK/health-hub.json")" "GET /health on the hub"
    python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); assert [p["code"] for p in h["problems"]] == ["peer_never"], h' \
        "$E2E_WORK/health-hub.json" || e2e_fail "/health on the hub: $(cat "$E2E_WORK/health-hub.json")"
    e2e_assert_eq 200 "$(http node-1 /healthz "$E2E_WORK/healthz-n1.txt")" "GET /healthz on node-1"
    e2e_assert_eq healthy "$(cat "$E2E_WORK/healthz-n1.txt")" "/healthz body on node-1"
    e2e_assert_eq 200 "$(http hub / "$E2E_WORK/index.html")" "GET / on the hub"
    grep -q '<td>node-3</td><td>never</td>' "$E2E_WORK/index.html" || e2e_fail "the HTML page does not show node-3 never"
    e2e_assert_eq 404 "$(http hub /nope "$E2E_WORK/nope.txt")" "GET /nope"
    # The probes of the hub's server reach node-1 and node-2 through the tunnel; node-3's are unanswered.
    probed() {
        http hub /status "$E2E_WORK/probe.json" >/dev/null
        python3 - "$E2E_WORK/probe.json" <<'EOF'
import json, sys
peers = {p["name"]: p["probe"] for p in json.load(open(sys.argv[1]))["peers"]}
assert peers["node-1"]["received"] >= 10 and peers["node-2"]["received"] >= 10, peers
assert peers["node-3"]["sent"] >= 5 and peers["node-3"]["received"] == 0, peers
EOF
    }
    e2e_wait_for 30 "probes answered by node-1 and node-2, not node-3" probed
    e2e_assert_eq 200 "$(http hub /metrics "$E2E_WORK/metrics.txt")" "GET /metrics on the hub"
    promtool check metrics <"$E2E_WORK/metrics.txt" >"$E2E_WORK/promtool.log" 2>&1 \
        || e2e_fail "promtool check metrics: $(cat "$E2E_WORK/promtool.log")"
    pub3=$(python3 -c 'import json,sys; print([p["public_key"] for p in json.load(open(sys.argv[1]))["peers"] if p["name"]=="node-3"][0])' "$E2E_WORK/http-status.json")
    grep -qF "wireguard_latest_handshake_seconds{interface=\"${IFN[hub]}\",public_key=\"$pub3\",allowed_ips=\"10.88.0.13/32\",name=\"node-3\"} 0" \
        "$E2E_WORK/metrics.txt" || e2e_fail "/metrics: no zero handshake for node-3"
    grep -qF "wiremesh_peers_up{interface=\"${IFN[hub]}\"} 2" "$E2E_WORK/metrics.txt" || e2e_fail "/metrics: wiremesh_peers_up is not 2"
    grep -q "^wiremesh_peer_probe_loss_ratio{.*name=\"node-3\"} 1$" "$E2E_WORK/metrics.txt" || e2e_fail "/metrics: node-3's probe loss is not 1"
    for metric in wireguard_sent_bytes_total wireguard_received_bytes_total wiremesh_peer_up wiremesh_peer_handshake_age_seconds wiremesh_peer_probe_rtt_seconds; do
        grep -q "^$metric{.*name=\"node-1\"} " "$E2E_WORK/metrics.txt" || e2e_fail "/metrics: no $metric for node-1"
    done
    stop_servers
    e2e_log "HTTP: /status, /health, /healthz (hub 503: node-3 never; node-1 200), /metrics (promtool: clean), / answered; probes reach node-1 and node-2"
fi

if [[ $SCENARIO == loss ]]; then
    e2e_step "20% loss on node-1's underlay"
    if ip netns exec "${NS[node-1]}" tc qdisc add dev eth0 root netem loss 20% 2>"$E2E_WORK/netem.log"; then
        how="tc netem loss 20%"
    else
        # No sch_netem in this kernel: the same independent 20% drop of node-1's outgoing underlay packets.
        ip netns exec "${NS[node-1]}" nft -f - <<EOF || e2e_fail "cannot install the nftables loss rule"
table inet wmloss {
    chain out {
        type filter hook output priority 0;
        oifname "eth0" numgen random mod 100 < 20 drop
    }
}
EOF
        how="nft numgen random drop 20% (tc netem unavailable: $(tr '\n' ' ' <"$E2E_WORK/netem.log"))"
    fi
    serve hub --probe --probe-interval-ms 25 --probe-timeout-ms 1000 --probe-window 400
    # ping's view of the same path, meanwhile (its own loss and RTT).
    ip netns exec "${NS[hub]}" timeout 60 ping -n -q -c 400 -i 0.025 -W 1 "$(v4 node-1)" >"$E2E_WORK/ping.txt" 2>&1 || true
    window_full() {
        http hub /status "$E2E_WORK/loss.json" >/dev/null
        python3 -c 'import json,sys; p={x["name"]: x["probe"] for x in json.load(open(sys.argv[1]))["peers"]}; assert p["node-1"]["sent"] >= 400 and p["node-2"]["sent"] >= 400' "$E2E_WORK/loss.json"
    }
    e2e_wait_for 60 "400 echoes to node-1 and node-2 in the window" window_full
    read -r loss1 rtt1 loss2 rtt2 < <(python3 -c '
import json, sys
p = {x["name"]: x["probe"] for x in json.load(open(sys.argv[1]))["peers"]}
print(p["node-1"]["loss"], p["node-1"]["rtt_avg_ms"], p["node-2"]["loss"], p["node-2"]["rtt_avg_ms"])' "$E2E_WORK/loss.json")
    ping_loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$E2E_WORK/ping.txt")
    ping_avg=$(sed -n 's|^rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*|\1|p' "$E2E_WORK/ping.txt")
    [[ -n $ping_loss && -n $ping_avg ]] || e2e_fail "cannot read ping's summary: $(cat "$E2E_WORK/ping.txt")"
    e2e_log "loss injected: $how"
    e2e_log "node-1: probe loss $loss1, RTT avg ${rtt1} ms; ping: loss ${ping_loss}%, RTT avg ${ping_avg} ms; node-2 (no loss): probe loss $loss2, RTT avg ${rtt2} ms"
    python3 - "$loss1" "$rtt1" "$loss2" "$ping_avg" <<'EOF' || e2e_fail "probe numbers out of bounds (see the log line above)"
import sys
loss1, rtt1, loss2, ping_avg = (float(x) for x in sys.argv[1:])
assert abs(loss1 - 0.20) <= 0.10, f"node-1 loss {loss1} not within 10 points of 20%"
assert loss2 <= 0.05, f"node-2 loss {loss2} (no loss injected)"
# Same path, same moment: the probe's mean RTT within 2 ms + 100% of ping's (a shared 2-core machine).
assert abs(rtt1 - ping_avg) <= 2.0 + ping_avg, f"probe RTT {rtt1} ms vs ping {ping_avg} ms"
EOF
    stop_servers
fi

e2e_log "PASS"
