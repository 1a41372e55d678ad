#!/usr/bin/env bash
# The seed deployment (../shared/seeds) rebuilt with the wiremesh CLI and run for real: a relay hub with a
# public endpoint (10.88.0.1), node-1 (.11), node-2 (.12), and node-3 (.13) declared but never deployed.
# Configs come from `wiremesh render --out` and go up with STOCK `wg-quick up` using wireguard-go, each
# node in its own network namespace, on a bridged underlay in 192.0.2.0/24 (and 2001:db8::/64).
#
# usage: seed.sh SCENARIO        (as root; see lib.sh for the environment variables)
#        seed.sh --list
#
# Scenarios:
#   full-mesh              node-1 and node-2 have endpoints too: they talk directly, never through the hub
#   hub-and-spoke          nodes behind NAT peer only with the hub, which forwards node-to-node traffic
#   hybrid                 full-mesh topology, node-1 and node-2 behind NAT: their traffic goes via the relay
#   full-mesh-mixed        full mesh, only node-1 has an endpoint: node-2 (behind NAT) reaches it directly
#                          thanks to its keepalive, while node-2 <-> node-3 (both behind NAT) use the hub
#   full-mesh-subnets      full-mesh with a --subnet behind every node (10.99.N.0/24): subnet-to-subnet pings
#   hybrid-subnets         hybrid with subnets: the hub routes node subnets between nodes behind NAT
#   full-mesh-dual-stack   full-mesh over an IPv6 underlay, overlay 10.88.0.0/24 + fd88::/64, v4 and v6 pings
#   hybrid-dual-stack      hybrid over an IPv6 underlay, node-to-node v4 and v6 forwarded by the hub
#   hub-and-spoke-psk      hub-and-spoke with `wiremesh init --preshared-keys`
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

SCENARIOS=(full-mesh hub-and-spoke hybrid full-mesh-mixed full-mesh-subnets hybrid-subnets full-mesh-dual-stack
    hybrid-dual-stack hub-and-spoke-psk)

if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${SCENARIOS[@]}"
    exit 0
fi
if [[ $# -ne 1 || " ${SCENARIOS[*]} " != *" $1 "* ]]; then
    echo "usage: $0 SCENARIO   (one of: ${SCENARIOS[*]})" >&2
    exit 2
fi
SCENARIO=$1

# ---- what the scenario declares ---------------------------------------------------------------------
NODES=(hub node-1 node-2 node-3)  # declared in the mesh
STARTED=(hub node-1 node-2)       # node-3 is never deployed
TOPOLOGY=full-mesh                # --topology
declare -A EP=([hub]=1 [node-1]=0 [node-2]=0 [node-3]=0)  # 1: has a public --endpoint (else behind NAT)
DUAL=0                            # 1: overlay 10.88.0.0/24 + fd88::/64, endpoints on the IPv6 underlay
PSK=0                             # 1: wiremesh init --preshared-keys
SUBNETS=0                         # 1: every node has --subnet 10.99.N.0/24, its .1 on the node's loopback
case $SCENARIO in
    full-mesh) E2E_TAG=fm EP[node-1]=1 EP[node-2]=1 ;;
    hub-and-spoke) E2E_TAG=hs TOPOLOGY=hub-and-spoke ;;
    hybrid) E2E_TAG=hy ;;
    full-mesh-mixed) E2E_TAG=fx EP[node-1]=1 ;;
    full-mesh-subnets) E2E_TAG=fs EP[node-1]=1 EP[node-2]=1 SUBNETS=1 ;;
    hybrid-subnets) E2E_TAG=ys SUBNETS=1 ;;
    full-mesh-dual-stack) E2E_TAG=f6 EP[node-1]=1 EP[node-2]=1 DUAL=1 ;;
    hybrid-dual-stack) E2E_TAG=y6 DUAL=1 ;;
    hub-and-spoke-psk) E2E_TAG=hp TOPOLOGY=hub-and-spoke PSK=1 ;;
esac
declare -A SHORT=([hub]=hub [node-1]=n1 [node-2]=n2 [node-3]=n3)
declare -A HOST=([hub]=1 [node-1]=11 [node-2]=12 [node-3]=13)  # last octet / group everywhere
PORT=51820

v4() { printf '10.88.0.%s' "${HOST[$1]}"; }        # overlay
v6() { printf 'fd88::%s' "${HOST[$1]}"; }
u4() { printf '192.0.2.%s' "${HOST[$1]}"; }        # underlay
u6() { printf '2001:db8::%s' "${HOST[$1]}"; }
subnet() { printf '10.99.%s.0/24' "${HOST[$1]}"; }  # behind the node (SUBNETS=1)
in_subnet() { printf '10.99.%s.1' "${HOST[$1]}"; }
endpoint_of() { if ((DUAL)); then printf '[%s]:%s' "$(u6 "$1")" "$PORT"; else printf '%s:%s' "$(u4 "$1")" "$PORT"; fi; }

# The contract under test: in a full mesh a pair peers directly when at least one side has an endpoint,
# else both go through the relay (the hub); in hub-and-spoke everyone peers with the relay only.
direct() { # A B
    if [[ $TOPOLOGY == hub-and-spoke ]]; then [[ $1 == hub || $2 == hub ]]; else ((EP[$1] || EP[$2])); fi
}
peers_of() { # NODE: the nodes it must have a [Peer] for (the hub relays every pair that is not direct)
    local me=$1 other
    for other in "${NODES[@]}"; do
        [[ $other != "$me" ]] || continue
        if direct "$me" "$other" || [[ $other == hub ]]; then echo "$other"; fi
    done
}
expected_peers() { peers_of "$1" | wc -l; }
DIRECT=0  # node-1 <-> node-2 directly
if direct node-1 node-2; then DIRECT=1; fi

wm() { timeout 60 "$E2E_WIREMESH" "$@"; }

# ---- setup ------------------------------------------------------------------------------------------
e2e_preflight
e2e_init "$SCENARIO"
START=$SECONDS
MESH="$E2E_WORK/seed.toml"
OUT="$E2E_WORK/configs"
declare -A NS IFN PUB
for node in "${NODES[@]}"; do
    NS[$node]=$(e2e_ns_name "${SHORT[$node]}")
    IFN[$node]=$(e2e_if_name "${SHORT[$node]}")
done

e2e_diagnostics() {
    local node
    echo "---- diagnostics for $SCENARIO (run $E2E_RUN) ----"
    if [[ -f $MESH ]]; then
        echo "# wiremesh show"
        wm show "$MESH" 2>&1 | sed 's/^/  /' || true
    fi
    for node in "${STARTED[@]}"; do
        ip netns list 2>/dev/null | grep -q "^${NS[$node]}\b" || continue
        echo "# $node (${NS[$node]}, ${IFN[$node]})"
        ip -n "${NS[$node]}" -br addr 2>&1 | sed 's/^/  /'
        ip -n "${NS[$node]}" route 2>&1 | sed 's/^/  /'
        ((DUAL)) && ip -n "${NS[$node]}" -6 route 2>&1 | sed 's/^/  /'
        ip netns exec "${NS[$node]}" timeout 5 wg show "${IFN[$node]}" 2>&1 | sed 's/^/  /'
        echo "  $E2E_WG_IMPL pids: $(e2e_ns_pids "${NS[$node]}" "$(e2e_impl_comm)" | tr '\n' ' ')"
    done
    if [[ -d $OUT ]]; then
        for node in "${NODES[@]}"; do
            [[ -f $OUT/$node.conf ]] || continue
            echo "# $node.conf (keys redacted)"
            sed -E 's/^(PrivateKey|PresharedKey)( *= *).*/\1\2<redacted>/' "$OUT/$node.conf" | sed 's/^/  /'
        done
    fi
    echo "---- end of diagnostics ----"
}

e2e_log "scenario $SCENARIO: topology $TOPOLOGY, endpoints: hub node-1=${EP[node-1]} node-2=${EP[node-2]}, dual-stack $DUAL, psk $PSK, subnets $SUBNETS (run $E2E_RUN)"

# ---- 1. the mesh, built with the CLI ------------------------------------------------------------------
e2e_step "building the mesh with the CLI"
init_args=(init "$MESH" --name seed --network 10.88.0.0/24 --topology "$TOPOLOGY")
((DUAL)) && init_args+=(--network fd88::/64)
((PSK)) && init_args+=(--preshared-keys)
wm "${init_args[@]}" >/dev/null || e2e_fail "wiremesh ${init_args[*]} failed"
for node in "${NODES[@]}"; do
    args=(add "$MESH" "$node" --address "$(v4 "$node")")
    ((DUAL)) && args+=(--address "$(v6 "$node")")
    ((SUBNETS)) && args+=(--subnet "$(subnet "$node")")
    if [[ $node == hub ]]; then
        args+=(--relay --endpoint "$(endpoint_of hub)")
    elif ((EP[$node])); then
        args+=(--endpoint "$(endpoint_of "$node")")
    fi
    wm "${args[@]}" >/dev/null || e2e_fail "wiremesh ${args[*]} failed"
done
verify_out=$(wm verify "$MESH" 2>&1) || e2e_fail "wiremesh verify exited non-zero: $verify_out"
e2e_log "wiremesh verify: $verify_out"
wm graph "$MESH" >"$E2E_WORK/seed.dot" || e2e_fail "wiremesh graph failed"
[[ -s $E2E_WORK/seed.dot ]] || e2e_fail "wiremesh graph printed nothing"

# ---- 2. rendering: files, modes, determinism ----------------------------------------------------------
e2e_step "rendering"
wm render "$MESH" --out "$OUT" >/dev/null || e2e_fail "wiremesh render --out failed"
e2e_assert_eq 700 "$(e2e_mode "$OUT")" "mode of the render --out directory"
for node in "${NODES[@]}"; do
    [[ -f $OUT/$node.conf ]] || e2e_fail "render --out did not write $node.conf"
    e2e_assert_eq 600 "$(e2e_mode "$OUT/$node.conf")" "mode of $node.conf"
done
e2e_assert_eq "${#NODES[@]}" "$(find "$OUT" -mindepth 1 | wc -l)" "number of entries in the render --out directory"
cp -a "$OUT" "$E2E_WORK/configs.first"
wm render "$MESH" --out "$OUT" >/dev/null || e2e_fail "second wiremesh render --out failed"
wm render "$MESH" --out "$E2E_WORK/configs.again" >/dev/null || e2e_fail "wiremesh render --out (new dir) failed"
for node in "${NODES[@]}"; do
    cmp -s "$E2E_WORK/configs.first/$node.conf" "$OUT/$node.conf" \
        || e2e_fail "rendering twice into the same directory changed $node.conf"
    cmp -s "$E2E_WORK/configs.first/$node.conf" "$E2E_WORK/configs.again/$node.conf" \
        || e2e_fail "rendering twice into two directories gave different $node.conf"
    wm render "$MESH" "$node" | cmp -s - "$OUT/$node.conf" \
        || e2e_fail "wiremesh render MESH $node (stdout) differs from $node.conf"
done

# Stock wg-quick parses every config, node-3's (never brought up) included.
for node in "${NODES[@]}"; do
    install -m 0600 "$OUT/$node.conf" "$E2E_WORK/strip-${SHORT[$node]}.conf"
    timeout 10 wg-quick strip "$E2E_WORK/strip-${SHORT[$node]}.conf" >"$E2E_WORK/strip-${SHORT[$node]}.out" 2>&1 \
        || e2e_fail "wg-quick strip rejects $node.conf: $(tr '\n' ' ' <"$E2E_WORK/strip-${SHORT[$node]}.out")"
done

# Removing node-3 (on a copy of the mesh) leaves a verified mesh whose configs no longer mention it.
mkdir -p "$E2E_WORK/removed"
cp -a "$E2E_WORK/seed.toml" "$E2E_WORK/seed.keys" "$E2E_WORK/removed/"
wm remove "$E2E_WORK/removed/seed.toml" node-3 >/dev/null || e2e_fail "wiremesh remove node-3 failed"
wm verify "$E2E_WORK/removed/seed.toml" >/dev/null || e2e_fail "wiremesh verify failed after removing node-3"
wm render "$E2E_WORK/removed/seed.toml" --out "$E2E_WORK/removed/configs" >/dev/null \
    || e2e_fail "wiremesh render failed after removing node-3"
[[ ! -e $E2E_WORK/removed/configs/node-3.conf ]] || e2e_fail "node-3.conf rendered after wiremesh remove node-3"
e2e_assert_eq 2 "$(grep -c '^\[Peer\]' "$E2E_WORK/removed/configs/hub.conf" || true)" "the hub's [Peer]s after removing node-3"

# Static expectations on the text (runtime checks follow): exactly the expected peers, each with an
# Endpoint iff it has one, a PersistentKeepalive iff we are behind NAT and it is not, a PresharedKey iff
# --preshared-keys; forwarding hooks on the hub iff it relays some pair.
conf_peers() { # CONF: one line per [Peer]: PUBLICKEY ENDPOINT|- KEEPALIVE|- PSK(yes|-)
    awk '
        function flush() { if (inpeer) print (pk == "" ? "?" : pk), (ep == "" ? "-" : ep), (ka == "" ? "-" : ka), (psk == "" ? "-" : "yes") }
        /^\[/ { flush(); inpeer = ($0 == "[Peer]"); pk = ep = ka = psk = ""; next }
        inpeer && (i = index($0, " = ")) {
            k = substr($0, 1, i - 1); v = substr($0, i + 3)
            if (k == "PublicKey") pk = v; else if (k == "Endpoint") ep = v
            else if (k == "PersistentKeepalive") ka = v; else if (k == "PresharedKey") psk = v
        }
        END { flush() }' "$1"
}
for node in "${NODES[@]}"; do
    PUB[$node]=$(e2e_conf_pubkey "$OUT/$node.conf")
done
RELAYING=0  # the hub forwards for at least one pair
for a in node-1 node-2 node-3; do
    for b in node-1 node-2 node-3; do
        if [[ $a < $b ]] && ! direct "$a" "$b"; then RELAYING=1; fi
    done
done
for node in "${NODES[@]}"; do
    conf=$OUT/$node.conf
    e2e_assert_eq "$(expected_peers "$node")" "$(grep -c '^\[Peer\]' "$conf" || true)" "[Peer] sections in $node.conf"
    table=$(conf_peers "$conf")
    for other in $(peers_of "$node"); do
        line=$(awk -v k="${PUB[$other]}" '$1 == k' <<<"$table")
        [[ -n $line ]] || e2e_fail "$node.conf has no [Peer] for $other"
        read -r _ ep ka psk <<<"$line"
        if ((EP[$other])); then
            e2e_assert_eq "$(endpoint_of "$other")" "$ep" "$node.conf: Endpoint of $other"
        else
            e2e_assert_eq - "$ep" "$node.conf: Endpoint of $other (behind NAT)"
        fi
        if ((!EP[$node] && EP[$other])); then
            [[ $ka =~ ^[1-9][0-9]*$ ]] || e2e_fail "$node.conf (behind NAT): no PersistentKeepalive toward $other (got '$ka')"
        else
            e2e_assert_eq - "$ka" "$node.conf: PersistentKeepalive toward $other"
        fi
        e2e_assert_eq "$( ((PSK)) && echo yes || echo -)" "$psk" "$node.conf: PresharedKey for $other present"
    done
done
hook4='PostUp = sysctl -q -w net.ipv4.conf.%i.forwarding=1'
hook6='PostUp = sysctl -q -w net.ipv6.conf.all.forwarding=1'
if ((RELAYING)); then
    grep -qxF "$hook4" "$OUT/hub.conf" || e2e_fail "hub.conf (a relay in use) lacks '$hook4'"
    if ((DUAL)); then grep -qxF "$hook6" "$OUT/hub.conf" || e2e_fail "hub.conf (a dual-stack relay in use) lacks '$hook6'"; fi
else
    ! grep -q '^PostUp.*forwarding' "$OUT/hub.conf" || e2e_fail "hub.conf enables forwarding although it relays nothing"
fi
for node in node-1 node-2 node-3; do
    ! grep -q '^PostUp.*forwarding' "$OUT/$node.conf" || e2e_fail "$node.conf (not a relay) enables forwarding"
done
e2e_log "rendered 4 configs: modes 0700/0600, byte-identical when rendered again"

# ---- 3. namespaces, underlay, wg-quick up ---------------------------------------------------------------
e2e_step "namespaces, underlay, wg-quick up"
e2e_underlay_init
for node in "${STARTED[@]}"; do
    e2e_ns_create "${NS[$node]}"
    if ((DUAL)); then
        e2e_underlay_attach "${NS[$node]}" "${SHORT[$node]}" "$(u4 "$node")" "$(u6 "$node")"
    else
        e2e_underlay_attach "${NS[$node]}" "${SHORT[$node]}" "$(u4 "$node")"
    fi
    if ((SUBNETS)); then  # the network behind the node, represented by one address on its loopback
        ip -n "${NS[$node]}" addr add "$(in_subnet "$node")/32" dev lo
    fi
done
for node in node-1 node-2; do
    e2e_wait_for 10 "underlay: $node reaches the hub at $(u4 hub)" ping_once "${NS[$node]}" "$(u4 hub)"
    if ((DUAL)); then
        e2e_wait_for 10 "underlay: $node reaches the hub at $(u6 hub)" ping_once "${NS[$node]}" "$(u6 hub)"
    fi
done

for node in "${STARTED[@]}"; do  # the hub first, as in the seed deployment
    e2e_wg_up "${NS[$node]}" "${IFN[$node]}" "$OUT/$node.conf"
done
e2e_log "wg-quick up: hub, node-1, node-2 ($E2E_WG_IMPL); node-3 never started"
if [[ $E2E_WG_IMPL == wiremeshd ]]; then
    # wg-quick passes our environment on to wiremeshd: WIREMESH_OFFLOAD=off must reach it (no vnet_hdr).
    for node in "${STARTED[@]}"; do
        e2e_assert_eq "$(e2e_switch "${WIREMESH_OFFLOAD:-}")" "$(e2e_vnet_hdr "${NS[$node]}" "${IFN[$node]}")" \
            "vnet_hdr of $node's TUN (WIREMESH_OFFLOAD=${WIREMESH_OFFLOAD:-})"
    done
fi

for node in "${STARTED[@]}"; do
    e2e_assert_eq "$(expected_peers "$node")" "$(e2e_peer_count "${NS[$node]}" "${IFN[$node]}")" \
        "number of peers of $node (wg show ${IFN[$node]} peers)"
    for other in $(peers_of "$node"); do
        e2e_has_peer "${NS[$node]}" "${IFN[$node]}" "${PUB[$other]}" || e2e_fail "$node's interface has no peer $other"
    done
    e2e_assert_eq "${PUB[$node]}" "$(e2e_wg "${NS[$node]}" show "${IFN[$node]}" public-key)" "public key of $node's interface"
done
e2e_has_peer "${NS[hub]}" "${IFN[hub]}" "${PUB[node-3]}" || e2e_fail "the hub has no peer entry for node-3"
if ((PSK)); then
    for node in "${STARTED[@]}"; do
        e2e_wg "${NS[$node]}" show "${IFN[$node]}" preshared-keys | awk '{print $2}' | grep -qvx '(none)' \
            || e2e_fail "$node's interface has no preshared keys"
        if e2e_wg "${NS[$node]}" show "${IFN[$node]}" preshared-keys | awk '{print $2}' | grep -qx '(none)'; then
            e2e_fail "$node's interface has a peer without a preshared key"
        fi
    done
fi
if ((DIRECT)); then
    e2e_has_peer "${NS[node-1]}" "${IFN[node-1]}" "${PUB[node-2]}" || e2e_fail "full mesh: node-1 has no peer entry for node-2"
    e2e_has_peer "${NS[node-2]}" "${IFN[node-2]}" "${PUB[node-1]}" || e2e_fail "full mesh: node-2 has no peer entry for node-1"
    if ((EP[node-2])); then
        e2e_assert_eq "$(endpoint_of node-2)" "$(e2e_wg_peer_field "${NS[node-1]}" "${IFN[node-1]}" endpoints "${PUB[node-2]}")" \
            "node-1's endpoint for node-2"
    fi
else
    ! e2e_has_peer "${NS[node-1]}" "${IFN[node-1]}" "${PUB[node-2]}" || e2e_fail "node-1 has a peer entry for node-2 (should go via the hub)"
    ! e2e_has_peer "${NS[node-2]}" "${IFN[node-2]}" "${PUB[node-1]}" || e2e_fail "node-2 has a peer entry for node-1 (should go via the hub)"
    e2e_has_peer "${NS[node-1]}" "${IFN[node-1]}" "${PUB[hub]}" || e2e_fail "node-1 has no peer entry for the hub"
fi
if ((RELAYING)); then
    e2e_assert_eq 1 "$(ip netns exec "${NS[hub]}" sysctl -n "net.ipv4.conf.${IFN[hub]}.forwarding")" \
        "net.ipv4.conf.${IFN[hub]}.forwarding on the hub (set by PostUp)"
    if ((DUAL)); then
        e2e_assert_eq 1 "$(ip netns exec "${NS[hub]}" sysctl -n net.ipv6.conf.all.forwarding)" \
            "net.ipv6.conf.all.forwarding on the hub (set by PostUp)"
    fi
fi

# ---- 4. node-1 <-> node-2 -------------------------------------------------------------------------------
e2e_step "node-1 <-> node-2 traffic"
OVERLAY_FAMILIES=(v4)
((DUAL)) && OVERLAY_FAMILIES+=(v6)
hub_n1_before=$(e2e_transfer_total "${NS[hub]}" "${IFN[hub]}" "${PUB[node-1]}")
hub_n2_before=$(e2e_transfer_total "${NS[hub]}" "${IFN[hub]}" "${PUB[node-2]}")
for fam in "${OVERLAY_FAMILIES[@]}"; do
    dst=$("$fam" node-2)
    # The first packets may wait for handshakes (and, through the hub, for node-2's keepalive to reach it).
    e2e_wait_for 25 "node-1 -> node-2 ping ($dst)" ping_once "${NS[node-1]}" "$dst"
    ping_ok "${NS[node-1]}" "$dst" || e2e_fail "node-1 -> node-2 ping ($dst) failed after the link was up"
    ping_ok "${NS[node-2]}" "$("$fam" node-1)" || e2e_fail "node-2 -> node-1 ping ($("$fam" node-1)) failed"
done
# A measured batch: 10 x 1000-byte pings each way.
ip netns exec "${NS[node-1]}" timeout 20 ping -n -q -c 10 -i 0.05 -W 2 -s 1000 "$(v4 node-2)" >/dev/null \
    || e2e_fail "node-1 -> node-2: 10 pings of 1000 bytes did not all get through"
hub_n1_delta=$(($(e2e_transfer_total "${NS[hub]}" "${IFN[hub]}" "${PUB[node-1]}") - hub_n1_before))
hub_n2_delta=$(($(e2e_transfer_total "${NS[hub]}" "${IFN[hub]}" "${PUB[node-2]}") - hub_n2_before))
e2e_log "hub transfer while node-1 and node-2 talked: node-1 ${hub_n1_delta} B, node-2 ${hub_n2_delta} B"
if ((DIRECT)); then
    e2e_handshake_nonzero "${NS[node-1]}" "${IFN[node-1]}" "${PUB[node-2]}" \
        || e2e_fail "full mesh: node-1 has no handshake with node-2 (latest-handshakes)"
    e2e_handshake_nonzero "${NS[node-2]}" "${IFN[node-2]}" "${PUB[node-1]}" \
        || e2e_fail "full mesh: node-2 has no handshake with node-1 (latest-handshakes)"
    # node-1 knows where node-2 is: configured, or (behind NAT) learned from node-2's packets.
    ep=$(e2e_wg_peer_field "${NS[node-1]}" "${IFN[node-1]}" endpoints "${PUB[node-2]}")
    if ((DUAL)); then want="[$(u6 node-2)]:"; else want="$(u4 node-2):"; fi
    [[ $ep == "$want"* ]] || e2e_fail "node-1's endpoint for node-2 is '$ep', not node-2's underlay address ${want%:}"
    # ~20 kB crossed between node-1 and node-2; the hub may at most have seen a stray handshake or keepalive.
    ((hub_n1_delta < 1000 && hub_n2_delta < 1000)) \
        || e2e_fail "full mesh: the hub carried node-1/node-2 traffic (${hub_n1_delta} B / ${hub_n2_delta} B), not direct"
    e2e_log "node-1 <-> node-2 direct: handshake between them, hub saw no traffic for the pair"
else
    # Everything went through the hub: at least the 10 kB of pings from node-1, and their echo to node-2.
    ((hub_n1_delta > 10000 && hub_n2_delta > 10000)) \
        || e2e_fail "the hub did not carry node-1 <-> node-2 traffic (${hub_n1_delta} B / ${hub_n2_delta} B)"
    e2e_handshake_nonzero "${NS[node-1]}" "${IFN[node-1]}" "${PUB[hub]}" || e2e_fail "node-1 has no handshake with the hub"
    e2e_log "node-1 <-> node-2 through the hub, which forwards"
fi

# Cryptokey routing with wiremesh's AllowedIPs: packets from node-1 with node-3's address as source must
# be dropped by the first WireGuard hop (node-2 when direct, else the hub), i.e. never reach its TUN.
e2e_step "spoofed source dropped"
hop=hub
if ((DIRECT)); then hop="node-2"; fi
tun_rx() { ip netns exec "${NS[$hop]}" cat "/sys/class/net/${IFN[$hop]}/statistics/rx_packets"; }
ip -n "${NS[node-1]}" addr add "$(v4 node-3)/32" dev lo
rx_before=$(tun_rx)
ip netns exec "${NS[node-1]}" timeout 10 ping -n -q -c 5 -i 0.1 -W 1 -I "$(v4 node-3)" "$(v4 node-2)" >/dev/null 2>&1 || true
sleep 0.3
spoofed=$(($(tun_rx) - rx_before))
ip -n "${NS[node-1]}" addr del "$(v4 node-3)/32" dev lo
rx_before=$(tun_rx)
ip netns exec "${NS[node-1]}" timeout 10 ping -n -q -c 5 -i 0.1 -W 1 "$(v4 node-2)" >/dev/null 2>&1 || true
sleep 0.3
genuine=$(($(tun_rx) - rx_before))
((spoofed < 5)) || e2e_fail "$hop accepted ${spoofed} packets from node-1 with node-3's source address $(v4 node-3)"
((genuine >= 5)) || e2e_fail "$hop received only ${genuine} of 5 genuine packets from node-1 (control for the spoofing check)"
e2e_log "node-1 spoofing node-3's address: $hop's interface received ${spoofed} packets (genuine: ${genuine})"

# ---- 5. every node reaches the hub; node-3 never handshakes ---------------------------------------------
e2e_step "pinging the hub"
for node in node-1 node-2; do
    for fam in "${OVERLAY_FAMILIES[@]}"; do
        e2e_wait_for 20 "$node -> hub ping ($("$fam" hub))" ping_once "${NS[$node]}" "$("$fam" hub)"
        ping_ok "${NS[$node]}" "$("$fam" hub)" || e2e_fail "$node -> hub ping ($("$fam" hub)) failed"
    done
    e2e_handshake_nonzero "${NS[hub]}" "${IFN[hub]}" "${PUB[$node]}" || e2e_fail "the hub has no handshake with $node"
done
e2e_assert_eq 0 "$(e2e_handshake "${NS[hub]}" "${IFN[hub]}" "${PUB[node-3]}")" "the hub's latest handshake with node-3 (never deployed)"
if ((DIRECT)); then
    e2e_assert_eq 0 "$(e2e_handshake "${NS[node-1]}" "${IFN[node-1]}" "${PUB[node-3]}")" "node-1's latest handshake with node-3"
fi
e2e_log "every node pings the hub; node-3's peer entry exists and has never handshaken"

if ((SUBNETS)); then
    e2e_step "subnets behind the nodes"
    for pair in node-1:node-2 node-2:node-1 node-1:hub node-2:hub hub:node-1 hub:node-2; do
        from=${pair%%:*} to=${pair##*:}
        e2e_wait_for 20 "$from -> $to's subnet ($(in_subnet "$to"))" ping_once "${NS[$from]}" "$(in_subnet "$to")"
        ping_ok "${NS[$from]}" "$(in_subnet "$to")" || e2e_fail "$from -> $to's subnet ($(in_subnet "$to")) failed"
    done
    # And from subnet to subnet: the source is node-1's subnet address, which node-2 (or the hub) must
    # accept from node-1 (cryptokey routing) and route back.
    ip netns exec "${NS[node-1]}" timeout 15 ping -n -q -c 3 -i 0.2 -W 2 -I "$(in_subnet node-1)" "$(in_subnet node-2)" >/dev/null \
        || e2e_fail "subnet to subnet: $(in_subnet node-1) (node-1) -> $(in_subnet node-2) (node-2) failed"
    e2e_log "subnets behind hub, node-1 and node-2 reach each other"
fi

# ---- 6. a bulk transfer node-1 -> node-2 (iperf3, no timing assertions) ------------------------------
e2e_step "iperf3 node-1 -> node-2"
ip netns exec "${NS[node-2]}" timeout 10 iperf3 -s -1 -D -B "$(v4 node-2)" --logfile "$E2E_WORK/iperf3-server.log" \
    || e2e_fail "cannot start iperf3 -s on node-2"
e2e_wait_for 10 "iperf3 server listening on node-2" \
    ip netns exec "${NS[node-2]}" timeout 5 sh -c 'ss -Hltn "sport = :5201" | grep -q .'
hub_n1_before=$(e2e_transfer_total "${NS[hub]}" "${IFN[hub]}" "${PUB[node-1]}")
iperf_out=$(ip netns exec "${NS[node-1]}" timeout 30 iperf3 -c "$(v4 node-2)" -t 1 -f m 2>&1) \
    || e2e_fail "iperf3 node-1 -> node-2 failed: $(tail -n 3 <<<"$iperf_out")"
rate=$(awk '/receiver/ { print $(NF-2), $(NF-1) }' <<<"$iperf_out" | tail -n 1)
hub_n1_delta=$(($(e2e_transfer_total "${NS[hub]}" "${IFN[hub]}" "${PUB[node-1]}") - hub_n1_before))
if ((DIRECT)); then
    ((hub_n1_delta < 65536)) || e2e_fail "full mesh: the hub carried ${hub_n1_delta} B of node-1's iperf3 traffic"
else
    ((hub_n1_delta > 100000)) || e2e_fail "the hub carried only ${hub_n1_delta} B of node-1's iperf3 traffic"
fi
e2e_log "iperf3 node-1 -> node-2: ${rate:-?} (hub saw ${hub_n1_delta} B from node-1)"

# ---- 7. node-2 restarts; the links recover ----------------------------------------------------------------
e2e_step "restarting node-2"
e2e_wg_down "${NS[node-2]}" "${IFN[node-2]}"
e2e_wg_up "${NS[node-2]}" "${IFN[node-2]}" "$OUT/node-2.conf"
for fam in "${OVERLAY_FAMILIES[@]}"; do
    e2e_wait_for 30 "after node-2 restarted: node-2 -> node-1 ping ($("$fam" node-1))" ping_once "${NS[node-2]}" "$("$fam" node-1)"
    e2e_wait_for 30 "after node-2 restarted: node-1 -> node-2 ping ($("$fam" node-2))" ping_once "${NS[node-1]}" "$("$fam" node-2)"
done
e2e_log "node-2 restarted (wg-quick down/up): node-1 <-> node-2 recovered"

# ---- 8. teardown with wg-quick down: no daemon, no socket left ----------------------------------------------
e2e_step "wg-quick down"
for node in node-2 node-1 hub; do
    e2e_wg_down "${NS[$node]}" "${IFN[$node]}"
done
for node in "${STARTED[@]}"; do
    [[ -z $(e2e_ns_pids "${NS[$node]}" "$(e2e_impl_comm)") ]] || e2e_fail "a $E2E_WG_IMPL process is left in ${NS[$node]}"
    [[ ! -e $E2E_SOCKET_DIR/${IFN[$node]}.sock ]] || e2e_fail "$E2E_SOCKET_DIR/${IFN[$node]}.sock is left after wg-quick down"
done
e2e_log "wg-quick down: every $E2E_WG_IMPL exited, every socket removed"
e2e_log "PASS $SCENARIO in $((SECONDS - START))s"
