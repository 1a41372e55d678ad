#!/usr/bin/env bash
# Live reconfiguration with `wiremesh apply`, end to end in network namespaces, against a userspace
# WireGuard brought up by STOCK wg-quick (wireguard-go, wiremeshd or boringtun-cli, which cannot change a
# peer in place: wiremesh apply removes and adds back the peers it changes there).
#
# usage: apply.sh IMPL        (IMPL: wireguard-go, wiremeshd or boringtun-cli; as root; see lib.sh)
#        apply.sh --list
#
# "me" (10.88.0.10, behind NAT: it initiates, keepalive 25) peers with p1, p2, p3 (public endpoints on
# 192.0.2.0/24). While iperf3 runs me -> p3, the mesh changes: p4 is added; p1 moves to a new underlay
# address (endpoint; the old one is removed), gains a subnet (AllowedIPs) and its keepalive on me had drifted (`wg set` 7 s).
# `wiremesh apply --dry-run` must list exactly those changes and leave the device as it was; then
# `wiremesh apply` must make them: p4 pings, `wg show` has p1's new endpoint, AllowedIPs and keepalive,
# and p3 - never mentioned in the update - keeps its latest handshake, its counters only grow, and
# iperf3 completes with no empty interval. p2 is untouched as well (same handshake).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

IMPLS=(wireguard-go wiremeshd boringtun-cli)
if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${IMPLS[@]}"
    exit 0
fi
if [[ $# -ne 1 || " ${IMPLS[*]} " != *" $1 "* ]]; then
    echo "usage: $0 IMPL   (one of: ${IMPLS[*]})" >&2
    exit 2
fi
E2E_WG_IMPL=$1
case $E2E_WG_IMPL in
    wireguard-go) E2E_TAG=ag ;;
    wiremeshd) E2E_TAG=ad ;;
    boringtun-cli) E2E_TAG=ab ;;
esac

e2e_preflight
if ! command -v "$E2E_WG_IMPL" >/dev/null 2>&1; then
    e2e_skip_or_fail "$E2E_WG_IMPL is not on PATH"
fi
e2e_init "apply:$E2E_WG_IMPL"

NODES=(me p1 p2 p3 p4)
declare -A HOST=([me]=10 [p1]=11 [p2]=12 [p3]=13 [p4]=14)
declare -A NS IFN PUB
for node in "${NODES[@]}"; do
    NS[$node]=$(e2e_ns_name "$node")
    IFN[$node]=$(e2e_if_name "$node")
done
v4() { printf '10.88.0.%s' "${HOST[$1]}"; }
u4() { printf '192.0.2.%s' "${HOST[$1]}"; }
P1_NEW_UNDERLAY=192.0.2.111
P1_SUBNET=10.99.11.0/24
MESH="$E2E_WORK/mesh.toml"
OUT="$E2E_WORK/configs"
IPERF_SECONDS=24

wm() { timeout 60 "$E2E_WIREMESH" "$@"; }
apply_me() { wm apply "$MESH" me --interface "${IFN[me]}" "$@"; }

e2e_diagnostics() {
    local node
    echo "---- diagnostics for apply:$E2E_WG_IMPL (run $E2E_RUN) ----"
    for node in "${NODES[@]}"; do
        ip netns list 2>/dev/null | grep -q "^${NS[$node]}\b" || continue
        echo "# $node (${NS[$node]}, ${IFN[$node]})"
        ip -n "${NS[$node]}" -br addr 2>&1 | sed 's/^/  /'
        ip netns exec "${NS[$node]}" timeout 5 wg show "${IFN[$node]}" 2>&1 | sed 's/^/  /'
    done
    [[ -f $E2E_WORK/iperf3-client.log ]] && sed 's/^/  iperf3: /' "$E2E_WORK/iperf3-client.log"
    echo "---- end of diagnostics ----"
}

# ---- the underlay and the mesh -----------------------------------------------------------------------
e2e_step "underlay"
e2e_underlay_init
for node in "${NODES[@]}"; do
    e2e_ns_create "${NS[$node]}"
    e2e_underlay_attach "${NS[$node]}" "$node" "$(u4 "$node")"
done

e2e_step "the mesh (me behind NAT; p1, p2, p3 public)"
wm init "$MESH" --name apply --network 10.88.0.0/24 >/dev/null
wm add "$MESH" me --address "$(v4 me)" >/dev/null
for node in p1 p2 p3; do
    wm add "$MESH" "$node" --address "$(v4 "$node")" --endpoint "$(u4 "$node"):51820" >/dev/null
done
wm verify "$MESH" >/dev/null || e2e_fail "wiremesh verify failed"
wm render "$MESH" --out "$OUT" >/dev/null

e2e_step "wg-quick up ($E2E_WG_IMPL) on me, p1, p2, p3"
for node in me p1 p2 p3; do
    e2e_wg_up "${NS[$node]}" "${IFN[$node]}" "$OUT/$node.conf"
    PUB[$node]=$(e2e_conf_pubkey "$OUT/$node.conf")
done
for node in p1 p2 p3; do
    e2e_wait_for 20 "me pings $node" ping_once "${NS[me]}" "$(v4 "$node")"
done

# ---- traffic over p3 -------------------------------------------------------------------------------
e2e_step "iperf3 me -> p3 for ${IPERF_SECONDS}s"
ip netns exec "${NS[p3]}" timeout 15 iperf3 -s -1 -D -B "$(v4 p3)" --logfile "$E2E_WORK/iperf3-server.log" \
    || e2e_fail "cannot start iperf3 -s in p3"
e2e_wait_for 10 "iperf3 listening in p3" bash -c "ip netns exec '${NS[p3]}' ss -ltn | grep -q ':5201 '"
ip netns exec "${NS[me]}" timeout $((IPERF_SECONDS + 30)) iperf3 -c "$(v4 p3)" -t "$IPERF_SECONDS" -i 1 -f k \
    >"$E2E_WORK/iperf3-client.log" 2>&1 &
IPERF_PID=$!
transfer_above() { local t; t=$(e2e_transfer_total "${NS[me]}" "${IFN[me]}" "${PUB[p3]}"); ((t > $2)); }
e2e_wait_for 15 "iperf3 traffic over p3" transfer_above p3 1000000

# ---- the mesh changes ------------------------------------------------------------------------------
e2e_step "changing the mesh: p4 added, p1 moved with a subnet, p1's keepalive drifted on me"
wm add "$MESH" p4 --address "$(v4 p4)" --endpoint "$(u4 p4):51820" >/dev/null
sed -i -e "s/\"$(u4 p1):51820\"/\"$P1_NEW_UNDERLAY:51820\"/" -e "/^name = \"p1\"\$/a subnets = [\"$P1_SUBNET\"]" "$MESH"
wm verify "$MESH" >/dev/null || e2e_fail "wiremesh verify failed after the change"
{ grep -q "$P1_NEW_UNDERLAY" "$MESH" && grep -q "$P1_SUBNET" "$MESH"; } || e2e_fail "the mesh edit did not take"
# p1 moves: its old underlay address goes away (a reply from it would otherwise roam the endpoint back).
# (Deleted first: deleting a primary address also deletes the secondaries of its subnet.)
ip -n "${NS[p1]}" addr del "$(u4 p1)/24" dev eth0
ip -n "${NS[p1]}" addr add "$P1_NEW_UNDERLAY/24" dev eth0
rm -rf "$OUT"
wm render "$MESH" --out "$OUT" >/dev/null
e2e_wg_up "${NS[p4]}" "${IFN[p4]}" "$OUT/p4.conf"
PUB[p4]=$(e2e_conf_pubkey "$OUT/p4.conf")
if [[ $E2E_WG_IMPL == boringtun-cli ]]; then
    # boringtun-cli answers each peer from a UDP socket connected from the address it had then: moved, p1
    # comes back up at its new address (as a redeployed node would).
    e2e_wg_down "${NS[p1]}" "${IFN[p1]}"
    e2e_wg_up "${NS[p1]}" "${IFN[p1]}" "$OUT/p1.conf"
fi
if [[ $E2E_WG_IMPL == boringtun-cli ]]; then
    # boringtun-cli cannot change a peer in place (its UAPI panics and stops answering): the drift is made by
    # removing p1 and adding it back with keepalive 7 (wiremesh apply replaces changed peers the same way).
    e2e_wg "${NS[me]}" set "${IFN[me]}" peer "${PUB[p1]}" remove
    e2e_wg "${NS[me]}" set "${IFN[me]}" peer "${PUB[p1]}" allowed-ips "$(v4 p1)/32" endpoint "$(u4 p1):51820" \
        persistent-keepalive 7
else
    e2e_wg "${NS[me]}" set "${IFN[me]}" peer "${PUB[p1]}" persistent-keepalive 7
fi

# ---- dry run: lists the changes, touches nothing --------------------------------------------------
e2e_step "wiremesh apply --dry-run"
# Every peer's key, endpoint, AllowedIPs and keepalive, sorted (wireguard-go lists peers in map order);
# no secrets (the interface line and preshared keys are left out).
config_of_me() { e2e_wg "${NS[me]}" show "${IFN[me]}" dump | awk 'NR > 1 { print $1, $3, $4, $8 }' | sort; }
before_conf=$(config_of_me)
dry=$(apply_me --dry-run) || e2e_fail "wiremesh apply --dry-run failed"
e2e_log "dry run:"$'\n'"$dry"
grep -q "would make 2 change(s)" <<<"$dry" || e2e_fail "dry run: expected 2 changes, got: $dry"
grep -q "^  update peer p1 (.*endpoint $P1_NEW_UNDERLAY:51820; keepalive 25 s; allowed IP +$P1_SUBNET" <<<"$dry" \
    || e2e_fail "dry run does not show p1's changes: $dry"
grep -q "^  add peer p4 (" <<<"$dry" || e2e_fail "dry run does not add p4: $dry"
! grep -Eq "peer p2|peer p3" <<<"$dry" || e2e_fail "dry run mentions an unchanged peer: $dry"
dry_json=$(apply_me --dry-run --json) || e2e_fail "wiremesh apply --dry-run --json failed"
grep -q '"applied": false' <<<"$dry_json" || e2e_fail "dry run JSON: $dry_json"
e2e_assert_eq "$before_conf" "$(config_of_me)" "the device's configuration after a dry run"
e2e_has_peer "${NS[me]}" "${IFN[me]}" "${PUB[p4]}" && e2e_fail "the dry run added p4"

# ---- apply ----------------------------------------------------------------------------------------
e2e_step "wiremesh apply during iperf3"
kill -0 "$IPERF_PID" 2>/dev/null || e2e_fail "iperf3 ended before the apply"
# boringtun-cli reports a handshake's age where the UAPI has its time (seconds since the epoch): made a time
# here, equal within a second of rounding.
handshake_time() {
    local v
    v=$(e2e_handshake "${NS[me]}" "${IFN[me]}" "$1")
    if [[ $E2E_WG_IMPL == boringtun-cli && $v != 0 ]]; then v=$(($(date +%s) - v)); fi
    printf '%s' "$v"
}
same_handshake() { # WHAT BEFORE AFTER
    if [[ $E2E_WG_IMPL == boringtun-cli ]] && (($2 != 0 && $3 - $2 <= 1 && $2 - $3 <= 1)); then return 0; fi
    e2e_assert_eq "$2" "$3" "$1"
}
hs3_before=$(handshake_time "${PUB[p3]}")
hs2_before=$(handshake_time "${PUB[p2]}")
t3_before=$(e2e_transfer_total "${NS[me]}" "${IFN[me]}" "${PUB[p3]}")
applied=$(apply_me) || e2e_fail "wiremesh apply failed"
e2e_log "apply:"$'\n'"$applied"
grep -q "made 2 change(s)" <<<"$applied" || e2e_fail "apply: expected 2 changes, got: $applied"
e2e_assert_eq "$P1_NEW_UNDERLAY:51820" "$(e2e_wg_peer_field "${NS[me]}" "${IFN[me]}" endpoints "${PUB[p1]}")" "p1's endpoint on me"
e2e_assert_eq 25 "$(e2e_wg_peer_field "${NS[me]}" "${IFN[me]}" persistent-keepalive "${PUB[p1]}")" "p1's keepalive on me"
p1_ips=$(e2e_wg "${NS[me]}" show "${IFN[me]}" allowed-ips | awk -v k="${PUB[p1]}" '$1 == k { $1 = ""; print }')
[[ $p1_ips == *"$P1_SUBNET"* && $p1_ips == *"$(v4 p1)/32"* ]] || e2e_fail "p1's AllowedIPs on me: $p1_ips"
e2e_has_peer "${NS[me]}" "${IFN[me]}" "${PUB[p4]}" || e2e_fail "p4 was not added"
e2e_assert_eq 4 "$(e2e_peer_count "${NS[me]}" "${IFN[me]}")" "peers on me"

e2e_step "the new peer and the moved one answer"
e2e_wait_for 20 "me pings the new peer p4" ping_once "${NS[me]}" "$(v4 p4)"
e2e_wait_for 20 "me pings p1 at its new address" ping_once "${NS[me]}" "$(v4 p1)"

e2e_step "p3 kept its session while iperf3 ran"
wait "$IPERF_PID" || e2e_fail "iperf3 me -> p3 failed: $(tail -n 5 "$E2E_WORK/iperf3-client.log")"
hs3_after=$(handshake_time "${PUB[p3]}")
hs2_after=$(handshake_time "${PUB[p2]}")
t3_after=$(e2e_transfer_total "${NS[me]}" "${IFN[me]}" "${PUB[p3]}")
same_handshake "p3's latest handshake (untouched peer)" "$hs3_before" "$hs3_after"
same_handshake "p2's latest handshake (untouched peer)" "$hs2_before" "$hs2_after"
((t3_after > t3_before)) || e2e_fail "p3's transfer counters did not grow: $t3_before -> $t3_after"
# Every 1-second interval of the sender carried data (no stall across the apply).
intervals=$(awk '/sec/ && /Kbits\/sec/ && !/sender|receiver/' "$E2E_WORK/iperf3-client.log")
count=$(grep -c . <<<"$intervals" || true)
((count >= IPERF_SECONDS - 1)) || e2e_fail "iperf3 reported $count intervals: $(cat "$E2E_WORK/iperf3-client.log")"
empty=$(awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "Kbits/sec" && $i + 0 == 0) print }' <<<"$intervals")
[[ -z $empty ]] || e2e_fail "iperf3 had empty intervals:"$'\n'"$empty"
grep -q receiver "$E2E_WORK/iperf3-client.log" || e2e_fail "iperf3 did not complete"
e2e_log "p3: handshake $hs3_before unchanged, transfer $t3_before -> $t3_after B, $count intervals all non-empty"

e2e_step "nothing left to apply"
again=$(apply_me) || e2e_fail "second wiremesh apply failed"
grep -q "already up to date" <<<"$again" || e2e_fail "second apply was not empty: $again"

e2e_log "PASS: apply on $E2E_WG_IMPL ($((SECONDS))s)"
