#!/usr/bin/env bash
# wiremeshd, our userspace WireGuard daemon, end to end in network namespaces: scenarios ported from
# wireguard-go's tests/netns.sh plus the checks of issue #5. Every daemon is driven by STOCK `wg`.
#
# usage: device.sh SCENARIO        (as root; wiremeshd and wiremesh on PATH; see lib.sh for the environment)
#        device.sh --list
#
# Scenarios:
#   pair        wiremeshd <-> wiremeshd: ping v4/v6 both directions, iperf3 both directions, 24 MiB of random
#               bytes over TCP arriving unchanged (sha256) both directions v4 and v6 (the split and
#               coalesced super-packets of the offload path), bursts of UDP datagrams arriving whole both
#               directions (coalesced into USO super-packets for the TUN), the TUN's vnet_hdr on unless
#               WIREMESH_OFFLOAD=off, handshakes and counters in `wg show`, endpoint learned from the
#               first authenticated packet, roaming to a new underlay address
#   interop     wiremeshd <-> wireguard-go, each side initiating, with and without a preshared key; a wrong
#               preshared key never handshakes
#   spoof       two peers with nested AllowedIPs (/24 and a /32 inside it): the wider one sending with the
#               narrower one's source address is dropped by the receiver and counted; genuine traffic passes
#   uapi        `wg set`/`wg setconf`/`wg show` key semantics: own key ignored, remove, AllowedIPs moving
#               between peers and replaced, a private key equal to a peer's removes it, low-order keys never
#               handshake, 130,000+ AllowedIPs read back exactly, malformed and huge requests answered
#               with errno or a closed connection, socket mode 0600
#   lifecycle   DEVICE_CYCLES (default 100) start/stop cycles through SIGTERM, `ip link del` and removing the
#               socket: nothing left behind (process, interface, socket)
#   nat         one wiremeshd behind a masquerading router namespace (nft, conntrack UDP timeouts lowered to
#               3 s), one public: with PersistentKeepalive the public side reaches the NAT side after 6 s of
#               idleness; with the keepalive switched off it cannot, until the NAT side speaks again
#   roam        the peer moves to a new underlay address and then a new listen port during a running ping,
#               then to IPv6; the other side's endpoint follows each move. Replayed (captured) handshake
#               and data packets and garbage from a third address never move the endpoint
#   cookie      a flood of initiations with a valid mac1 from a third address: the daemon answers with
#               cookie replies, `wg show` stays answered, and a genuine peer still handshakes (through
#               the cookie) and pings during the flood
#   expiry      a's handshake with b goes unanswered (b drops it, counted by nft) until a gives up after 90 s
#               (REKEY_ATTEMPT_TIME) and sends nothing more; then b initiates and a, whose expired session
#               state the timer thread dropped, answers with fresh state: pings pass both ways and still
#               pass a few timer ticks later
#   inproc      three devices started IN-PROCESS from one plan (no wiremeshd): a Rust program
#               (examples/device_node.rs), a Python one (examples/python/device_node.py) and a Node one
#               (examples/node/device_node.js), full mesh, one peer endpoint a DNS name (resolved through
#               the namespaces' hosts files), one on the v6 underlay: every pair pings, each program sees
#               its handshakes, applies a keepalive `wg show` then reports, and stops leaving no interface,
#               UAPI socket or UDP socket. Needs the built bindings (see README.md: finding them)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"

SCENARIOS=(pair interop spoof uapi lifecycle nat roam cookie expiry inproc)
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
    pair) E2E_TAG=dp ;;
    interop) E2E_TAG=di ;;
    spoof) E2E_TAG=ds ;;
    uapi) E2E_TAG="du" ;;
    lifecycle) E2E_TAG=dl ;;
    nat) E2E_TAG=dn ;;
    roam) E2E_TAG=dr ;;
    cookie) E2E_TAG=dc ;;
    expiry) E2E_TAG=de ;;
    inproc) E2E_TAG=dq ;;
esac

e2e_preflight
WIREMESHD=${WIREMESHD:-$(command -v wiremeshd || true)}
[[ -n $WIREMESHD && -x $WIREMESHD ]] || e2e_fail "wiremeshd not found: cargo build --release --features device --bin wiremeshd, and put it on PATH (or WIREMESHD=...)"
e2e_init "device-$SCENARIO"

declare -A NSN IFN KEY PUB
# bare_node SHORT: a namespace, an interface name and keys for SHORT, not on the underlay.
bare_node() {
    local short=$1
    NSN[$short]=$(e2e_ns_name "$short")
    IFN[$short]=$(e2e_if_name "$short")
    E2E_IFNAMES+=("${IFN[$short]}")
    e2e_ns_create "${NSN[$short]}"
    KEY[$short]=$(wg genkey)
    PUB[$short]=$(printf '%s\n' "${KEY[$short]}" | wg pubkey)
}
# node SHORT HOST: a namespace on the underlay at 192.0.2.HOST / 2001:db8::HOST, named names for SHORT.
node() {
    bare_node "$1"
    e2e_underlay_attach "${NSN[$1]}" "$1" "192.0.2.$2" "2001:db8::$2"
}

e2e_diagnostics() {
    local short
    echo "---- diagnostics for device-$SCENARIO (run $E2E_RUN) ----"
    for short in "${!NSN[@]}"; do
        ip netns list 2>/dev/null | grep -q "^${NSN[$short]}\b" || continue
        echo "# $short (${NSN[$short]}, ${IFN[$short]:-no WireGuard})"
        ip -n "${NSN[$short]}" -br addr 2>&1 | sed 's/^/  /'
        [[ -z ${IFN[$short]:-} ]] || ip netns exec "${NSN[$short]}" timeout 5 wg show "${IFN[$short]}" 2>&1 | cut -c1-200 | sed 's/^/  /'
        [[ -n ${IFN[$short]:-} ]] || ip netns exec "${NSN[$short]}" cat /proc/net/nf_conntrack 2>&1 | grep udp | cut -c1-200 | sed 's/^/  /'
    done
    for f in "$E2E_WORK"/*.log; do
        [[ -f $f ]] || continue
        echo "# $(basename "$f")"
        tail -n 5 "$f" | sed 's/^/  /'
    done
    echo "---- end of diagnostics ----"
}

# up SHORT IMPL: starts the userspace implementation (wiremeshd | wireguard-go) for SHORT's interface.
up() {
    local short=$1 impl=${2:-wiremeshd} ns=${NSN[$1]} ifn=${IFN[$1]}
    case $impl in
        wiremeshd) ip netns exec "$ns" timeout 20 "$WIREMESHD" "$ifn" >"$E2E_WORK/up-$ifn.log" 2>&1 ;;
        wireguard-go) ip netns exec "$ns" timeout 20 wireguard-go "$ifn" >"$E2E_WORK/up-$ifn.log" 2>&1 ;;
    esac || e2e_fail "$impl $ifn failed to start: $(cat "$E2E_WORK/up-$ifn.log")"
    [[ -S $E2E_SOCKET_DIR/$ifn.sock ]] || e2e_fail "$impl returned but $E2E_SOCKET_DIR/$ifn.sock does not exist"
    ip -n "$ns" link show dev "$ifn" >/dev/null 2>&1 || e2e_fail "$impl returned but interface $ifn does not exist"
}

# down SHORT: deletes SHORT's interface and waits (bounded) for its daemon and socket to go.
gone() { [[ ! -e $E2E_SOCKET_DIR/${IFN[$1]}.sock ]] && [[ -z $(e2e_ns_pids "${NSN[$1]}") ]]; }
down() {
    ip -n "${NSN[$1]}" link del "${IFN[$1]}" 2>/dev/null || true
    e2e_wait_for 10 "the daemon of ${IFN[$1]} to exit and remove its socket" gone "$1"
}

# addr SHORT N: overlay addresses 10.77.0.N/24 and fd77::N/64 on SHORT's interface, MTU 1420, up.
addr() {
    local ns=${NSN[$1]} ifn=${IFN[$1]}
    ip -n "$ns" addr add "10.77.0.$2/24" dev "$ifn"
    ip -n "$ns" addr add "fd77::$2/64" dev "$ifn" nodad
    ip -n "$ns" link set "$ifn" mtu 1420 up
}

# wgset SHORT ARGS...: `wg set` on SHORT's interface with SHORT's private key (through a file, never argv).
wgset() {
    local short=$1 keyfile="$E2E_WORK/$1.key"
    shift
    [[ -f $keyfile ]] || (umask 077 && printf '%s\n' "${KEY[$short]}" >"$keyfile")
    e2e_wg "${NSN[$short]}" set "${IFN[$short]}" private-key "$keyfile" "$@"
}

pskfile() { (umask 077 && printf '%s\n' "$2" >"$E2E_WORK/$1.psk"); printf '%s' "$E2E_WORK/$1.psk"; }

# reorderings NS: how often TCP senders in NS saw segments arrive out of order (SACK, timestamp and
# Reno reordering detections: the namespace's own TcpExt counters).
reorderings() {
    ip netns exec "$1" timeout 5 nstat -az TcpExtTCPSACKReorder TcpExtTCPTSReorder TcpExtTCPRenoReorder \
        | awk 'NR > 1 { n += $2 } END { print n + 0 }'
}

# iperf_between FROM TO ADDR: a 2 s iperf3 transfer through the tunnel, whose sender sees (almost) no
# reordering: the data path keeps packets in the order they were read, and reordered segments make TCP
# retransmit and back off (a UDP reader sending the TUN's answer beside the TUN reader did that: about
# 1,400 reorderings in 2 s).
iperf_between() {
    local from=$1 to=$2 dst=$3 out before after
    ip netns exec "${NSN[$to]}" timeout 15 iperf3 -s -1 -D -B "$dst" --logfile "$E2E_WORK/iperf3-$to.log" \
        || e2e_fail "cannot start iperf3 -s in $to"
    e2e_wait_for 10 "iperf3 listening in $to" bash -c "ip netns exec '${NSN[$to]}' ss -ltn | grep -q ':5201 '"
    before=$(reorderings "${NSN[$from]}")
    out=$(ip netns exec "${NSN[$from]}" timeout 30 iperf3 -c "$dst" -t 2 -f m 2>&1) \
        || e2e_fail "iperf3 $from -> $to ($dst) failed: $(tail -n 3 <<<"$out")"
    after=$(reorderings "${NSN[$from]}")
    e2e_log "iperf3 $from -> $to over $dst: $(awk '/receiver/ { print $(NF-2), $(NF-1) }' <<<"$out" | tail -n 1), $((after - before)) reorderings seen by the sender"
    ((after - before <= 20)) || e2e_fail "iperf3 $from -> $to over $dst: the sender saw $((after - before)) reorderings (at most 20 expected)"
}

# udp_integrity FROM TO ADDR: 6,000 UDP datagrams sent in back-to-back bursts of 30 (so the receiving
# wiremeshd gets runs of them to write to its TUN as USO super-packets), mostly 1,200 bytes with every
# seventh one shorter (a shorter datagram must end a coalesced run). Every datagram that arrives must be
# whole and unchanged (its content is derived from its sequence number), none twice, and at least 90%
# must arrive (UDP: a loaded machine may drop a few; the kernel splitting our super-packets wrongly
# would corrupt or lose whole runs).
udp_integrity() {
    local from=$1 to=$2 dst=$3 srv got bad dup
    ip netns exec "${NSN[$to]}" timeout 60 python3 -c '
import hashlib, socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], 5302))
s.settimeout(20)
seen, bad, dup = set(), 0, 0
try:
    while len(seen) < 6000:
        d = s.recv(65535)
        s.settimeout(3)
        seq = int.from_bytes(d[:8], "big")
        n = 300 if seq % 7 == 6 else 1200
        if len(d) != n or d[8:] != hashlib.shake_128(d[:8]).digest(n - 8):
            bad += 1
        elif seq in seen:
            dup += 1
        else:
            seen.add(seq)
except socket.timeout:
    pass
print(len(seen), bad, dup)
' "$dst" >"$E2E_WORK/udp-$to" 2>"$E2E_WORK/udp-$to.err" &
    srv=$!
    e2e_wait_for 10 "UDP receiver bound in $to" bash -c "ip netns exec '${NSN[$to]}' ss -lun | grep -q ':5302 '"
    ip netns exec "${NSN[$from]}" timeout 60 python3 -c '
import hashlib, socket, sys, time
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.connect((sys.argv[1], 5302))
for burst in range(200):
    for k in range(30):
        seq = (burst * 30 + k).to_bytes(8, "big")
        n = 300 if (burst * 30 + k) % 7 == 6 else 1200
        s.send(seq + hashlib.shake_128(seq).digest(n - 8))
    time.sleep(0.002)
' "$dst" || e2e_fail "udp_integrity: sending $from -> $to ($dst) failed"
    wait "$srv" || e2e_fail "udp_integrity: the receiver in $to failed: $(cat "$E2E_WORK/udp-$to.err")"
    read -r got bad dup <"$E2E_WORK/udp-$to"
    e2e_log "UDP $from -> $to over $dst: $got of 6000 datagrams arrived whole, $bad corrupted, $dup repeated"
    ((bad == 0 && dup == 0)) || e2e_fail "UDP $from -> $to over $dst: $bad corrupted and $dup repeated datagrams"
    ((got >= 5400)) || e2e_fail "UDP $from -> $to over $dst: only $got of 6000 datagrams arrived"
}

# integrity FROM TO ADDR: 24 MiB of random bytes sent over one TCP connection through the tunnel arrive
# with the same sha256 (TCP checksums alone would not catch a coalescing bug: super-packets we write are
# checksummed by nobody on the receiving side).
integrity() {
    local from=$1 to=$2 dst=$3 blob=$E2E_WORK/blob-$1-$2 want got srv
    command -v python3 >/dev/null 2>&1 || e2e_fail "python3 is needed for the integrity check"
    head -c $((24 << 20)) /dev/urandom >"$blob"
    want=$(sha256sum <"$blob" | cut -d' ' -f1)
    ip netns exec "${NSN[$to]}" timeout 60 python3 -c '
import hashlib, socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5301))
s.listen(1)
s.settimeout(50)
c, _ = s.accept()
c.settimeout(50)
h = hashlib.sha256()
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
print(h.hexdigest())
' "$dst" >"$E2E_WORK/sum-$to" 2>"$E2E_WORK/sum-$to.err" &
    srv=$!
    e2e_wait_for 10 "integrity receiver listening in $to" bash -c "ip netns exec '${NSN[$to]}' ss -ltn | grep -q ':5301 '"
    ip netns exec "${NSN[$from]}" timeout 60 python3 -c '
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.create_connection((sys.argv[1], 5301), timeout=50)
with open(sys.argv[2], "rb") as f:
    s.sendfile(f)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
' "$dst" "$blob" || e2e_fail "integrity: sending $from -> $to ($dst) failed"
    wait "$srv" || e2e_fail "integrity: the receiver in $to failed: $(cat "$E2E_WORK/sum-$to.err")"
    got=$(cat "$E2E_WORK/sum-$to")
    e2e_assert_eq "$want" "$got" "sha256 of 24 MiB sent $from -> $to over $dst"
    rm -f "$blob"
}

# vnet_hdr_is SHORT on|off: the TUN of SHORT was opened with (or without) a virtio_net_hdr.
vnet_hdr_is() {
    local short=$1 want=$2 got
    got=$(e2e_vnet_hdr "${NSN[$short]}" "${IFN[$short]}")
    e2e_assert_eq "$want" "$got" "vnet_hdr of ${IFN[$short]} (WIREMESH_OFFLOAD=${WIREMESH_OFFLOAD:-})"
}

# helper_threads_are SHORT on|off: SHORT's daemon runs (or does not run) the TUN reader's send helper.
helper_threads_are() {
    local short=$1 want=$2 pid got=off
    for pid in $(e2e_ns_pids "${NSN[$short]}"); do
        # grep reads the files itself: `cat … | grep -q` under pipefail fails when grep, done early, closes
        # the pipe while cat still writes (SIGPIPE), which once read as "no helper".
        if grep -qx 'wm-tun-send' /proc/"$pid"/task/*/comm 2>/dev/null; then got=on; fi
    done
    e2e_assert_eq "$want" "$got" "helper threads of ${IFN[$short]} (WIREMESH_HELPER_THREADS=${WIREMESH_HELPER_THREADS:-})"
}

# ---------------------------------------------------------------------------------------------------------
# The a <-> b tunnel the pair, roam and cookie scenarios share: a knows b's endpoint, b learns a's.
tunnel_a_b() {
    wgset a listen-port 51820 peer "${PUB[b]}" allowed-ips 10.77.0.2/32,fd77::2/128 endpoint 192.0.2.2:51820
    wgset b listen-port 51820 peer "${PUB[a]}" allowed-ips 10.77.0.1/32,fd77::1/128
    addr a 1
    addr b 2
}

scenario_pair() {
    e2e_underlay_init
    node a 1
    node b 2
    up a
    up b
    tunnel_a_b
    e2e_step "ping a -> b (v4, v6)"
    e2e_wait_for 20 "a pings b over the tunnel (v4)" ping_once "${NSN[a]}" 10.77.0.2
    ping_ok "${NSN[a]}" 10.77.0.2 || e2e_fail "a -> b v4"
    ping_ok "${NSN[a]}" fd77::2 || e2e_fail "a -> b v6"
    e2e_step "ping b -> a (v4, v6)"
    ping_ok "${NSN[b]}" 10.77.0.1 || e2e_fail "b -> a v4"
    ping_ok "${NSN[b]}" fd77::1 || e2e_fail "b -> a v6"
    e2e_handshake_nonzero "${NSN[a]}" "${IFN[a]}" "${PUB[b]}" || e2e_fail "wg show: a has no handshake with b"
    e2e_handshake_nonzero "${NSN[b]}" "${IFN[b]}" "${PUB[a]}" || e2e_fail "wg show: b has no handshake with a"
    e2e_assert_eq "192.0.2.1:51820" "$(e2e_wg_peer_field "${NSN[b]}" "${IFN[b]}" endpoints "${PUB[a]}")" \
        "b's endpoint for a, learned from a's first authenticated packet"
    e2e_step "iperf3 both directions, v4 and v6"
    iperf_between a b 10.77.0.2
    iperf_between b a fd77::1
    e2e_step "bulk data arrives unchanged, both directions, v4 and v6"
    integrity a b 10.77.0.2
    integrity b a 10.77.0.1
    integrity a b fd77::2
    integrity b a fd77::1
    e2e_step "UDP bursts arrive whole, both directions, v4 and v6"
    udp_integrity a b 10.77.0.2
    udp_integrity b a fd77::1
    vnet_hdr_is a "$(e2e_switch "${WIREMESH_OFFLOAD:-}")"
    helper_threads_are a "$(e2e_switch "${WIREMESH_HELPER_THREADS:-}")"
    local rx tx
    read -r rx tx < <(e2e_wg "${NSN[a]}" show "${IFN[a]}" transfer | awk '{ print $2, $3 }')
    ((rx > 1000000 && tx > 1000000)) || e2e_fail "wg show transfer on a: rx=$rx tx=$tx, expected > 1 MB each"
    e2e_step "roaming: a moves to 192.0.2.11"
    # (deleting the old primary first: it would take a secondary in the same subnet with it)
    ip -n "${NSN[a]}" addr del 192.0.2.1/24 dev eth0
    ip -n "${NSN[a]}" addr add 192.0.2.11/24 dev eth0
    e2e_wait_for 20 "a pings b from its new address" ping_once "${NSN[a]}" 10.77.0.2
    e2e_assert_eq "192.0.2.11:51820" "$(e2e_wg_peer_field "${NSN[b]}" "${IFN[b]}" endpoints "${PUB[a]}")" \
        "b's endpoint for a after a roamed"
    ping_ok "${NSN[b]}" 10.77.0.1 || e2e_fail "b -> a after roaming"
    down a
    down b
}

# ---------------------------------------------------------------------------------------------------------
interop_case() { # LABEL INITIATOR(a|b) PSK_A PSK_B EXPECT(ok|fail)
    local label=$1 initiator=$2 psk_a=$3 psk_b=$4 expect=$5 responder
    e2e_step "interop: $label"
    up a wiremeshd
    up b wireguard-go
    local a_args=(listen-port 51820 peer "${PUB[b]}" allowed-ips "10.77.0.2/32,fd77::2/128" endpoint 192.0.2.2:51820)
    local b_args=(listen-port 51820 peer "${PUB[a]}" allowed-ips "10.77.0.1/32,fd77::1/128" endpoint 192.0.2.1:51820)
    [[ -z $psk_a ]] || a_args+=(preshared-key "$(pskfile a "$psk_a")")
    [[ -z $psk_b ]] || b_args+=(preshared-key "$(pskfile b "$psk_b")")
    wgset a "${a_args[@]}"
    wgset b "${b_args[@]}"
    addr a 1
    addr b 2
    responder=$([[ $initiator == a ]] && echo 2 || echo 1)
    if [[ $expect == ok ]]; then
        e2e_wait_for 20 "$label: first ping" ping_once "${NSN[$initiator]}" "10.77.0.$responder"
        ping_ok "${NSN[$initiator]}" "fd77::$responder" || e2e_fail "$label: v6 ping"
        ping_ok "${NSN[a]}" 10.77.0.2 || e2e_fail "$label: wiremeshd -> wireguard-go"
        ping_ok "${NSN[b]}" 10.77.0.1 || e2e_fail "$label: wireguard-go -> wiremeshd"
        e2e_handshake_nonzero "${NSN[a]}" "${IFN[a]}" "${PUB[b]}" || e2e_fail "$label: no handshake on the wiremeshd side"
    else
        ! ip netns exec "${NSN[$initiator]}" timeout 8 ping -n -q -c 3 -W 2 "10.77.0.$responder" >/dev/null 2>&1 \
            || e2e_fail "$label: ping succeeded although the preshared keys differ"
        ! e2e_handshake_nonzero "${NSN[a]}" "${IFN[a]}" "${PUB[b]}" || e2e_fail "$label: a handshake completed with mismatched preshared keys"
        ! e2e_handshake_nonzero "${NSN[b]}" "${IFN[b]}" "${PUB[a]}" || e2e_fail "$label: wireguard-go completed a handshake with a mismatched preshared key"
    fi
    e2e_log "interop $label: as expected ($expect)"
    down a
    down b
}

scenario_interop() {
    e2e_underlay_init
    node a 1
    node b 2
    local psk other
    psk=$(wg genpsk)
    other=$(wg genpsk)
    interop_case "wiremeshd initiates, no psk" a "" "" ok
    interop_case "wireguard-go initiates, no psk" b "" "" ok
    interop_case "wiremeshd initiates, psk" a "$psk" "$psk" ok
    interop_case "wireguard-go initiates, psk" b "$psk" "$psk" ok
    interop_case "wiremeshd initiates, wrong psk" a "$psk" "$other" fail
    interop_case "wireguard-go initiates, psk only on wireguard-go" b "" "$psk" fail
}

# ---------------------------------------------------------------------------------------------------------
scenario_spoof() {
    e2e_underlay_init
    node a 1   # the receiver
    node w 2   # the wider peer: 10.77.0.0/24 at a (it routes a subnet), its own address .2
    node n 3   # the narrower peer: 10.77.0.3/32 at a
    # a runs in the foreground so that its exit line (with the drop counters) is in a log.
    ip netns exec "${NSN[a]}" "$WIREMESHD" -f "${IFN[a]}" >"$E2E_WORK/a-foreground.log" 2>&1 &
    local apid=$!
    e2e_wait_for 10 "wiremeshd -f for a to create its socket" test -S "$E2E_SOCKET_DIR/${IFN[a]}.sock"
    up w
    up n
    wgset a listen-port 51820 peer "${PUB[w]}" allowed-ips 10.77.0.0/24 endpoint 192.0.2.2:51820 \
        peer "${PUB[n]}" allowed-ips 10.77.0.3/32 endpoint 192.0.2.3:51820
    wgset w listen-port 51820 peer "${PUB[a]}" allowed-ips 10.77.0.1/32 endpoint 192.0.2.1:51820
    wgset n listen-port 51820 peer "${PUB[a]}" allowed-ips 10.77.0.1/32 endpoint 192.0.2.1:51820
    ip -n "${NSN[a]}" addr add 10.77.0.1/24 dev "${IFN[a]}"
    ip -n "${NSN[w]}" addr add 10.77.0.2/24 dev "${IFN[w]}"
    ip -n "${NSN[w]}" addr add 10.77.0.3/32 dev "${IFN[w]}"   # n's address, to spoof with
    ip -n "${NSN[n]}" addr add 10.77.0.3/24 dev "${IFN[n]}"
    for s in a w n; do ip -n "${NSN[$s]}" link set "${IFN[$s]}" mtu 1420 up; done
    e2e_step "genuine traffic passes"
    e2e_wait_for 20 "w pings a from its own address" ping_once "${NSN[w]}" 10.77.0.1
    e2e_wait_for 20 "n pings a" ping_once "${NSN[n]}" 10.77.0.1
    e2e_step "w spoofs n's source address"
    local before after
    before=$(ip -n "${NSN[a]}" -s link show "${IFN[a]}" | awk '/RX:/ { getline; print $2 }')
    ! ip netns exec "${NSN[w]}" timeout 10 ping -n -q -c 5 -i 0.2 -W 1 -I 10.77.0.3 10.77.0.1 >/dev/null 2>&1 \
        || e2e_fail "a answered packets from w carrying n's source address"
    after=$(ip -n "${NSN[a]}" -s link show "${IFN[a]}" | awk '/RX:/ { getline; print $2 }')
    e2e_assert_eq "$before" "$after" "packets a's interface received during the spoofed pings"
    ping_ok "${NSN[w]}" 10.77.0.1 || e2e_fail "w's genuine traffic after the spoofing attempt"
    kill -TERM "$apid"
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$apid" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$apid" 2>/dev/null || e2e_fail "wiremeshd -f did not exit on SIGTERM"
    wait "$apid" || e2e_fail "wiremeshd -f exited non-zero on SIGTERM"
    local dropped
    dropped=$(sed -n 's/.*dropped: \([0-9]*\) by the source-address check.*/\1/p' "$E2E_WORK/a-foreground.log")
    if [[ -z $dropped ]] || ((dropped < 5)); then e2e_fail "a counted ${dropped:-no} source-address drops, expected >= 5: $(cat "$E2E_WORK/a-foreground.log")"; fi
    [[ ! -e $E2E_SOCKET_DIR/${IFN[a]}.sock ]] || e2e_fail "SIGTERM left the socket behind"
    ! ip -n "${NSN[a]}" link show "${IFN[a]}" >/dev/null 2>&1 || e2e_fail "SIGTERM left the interface behind"
    e2e_log "spoofed packets: $dropped dropped and counted by a; genuine ones passed"
    down w
    down n
}

# ---------------------------------------------------------------------------------------------------------
# raw_uapi SHORT: sends stdin to SHORT's socket, prints the reply (python3, bounded).
raw_uapi() {
    timeout 20 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
data = sys.stdin.buffer.read()
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError):
    pass
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except (ConnectionResetError, socket.timeout):
    pass
sys.stdout.write(out.decode("utf-8", "replace"))
' "$E2E_SOCKET_DIR/${IFN[$1]}.sock"
}

scenario_uapi() {
    e2e_underlay_init
    node a 1
    node b 2
    up a
    local sock=$E2E_SOCKET_DIR/${IFN[a]}.sock p1 p2 p3 lowkey
    e2e_assert_eq 600 "$(e2e_mode "$sock")" "mode of the UAPI socket"
    p1=$(wg genkey | wg pubkey)
    p2=$(wg genkey | wg pubkey)
    p3=$(wg genkey | wg pubkey)
    e2e_step "own key ignored"
    wgset a listen-port 51900 peer "${PUB[a]}" allowed-ips 10.1.0.0/16 peer "$p1" allowed-ips 10.2.0.0/16
    e2e_assert_eq "$p1" "$(e2e_wg "${NSN[a]}" show "${IFN[a]}" peers)" "peers after adding one with our own key"
    e2e_assert_eq 51900 "$(e2e_wg "${NSN[a]}" show "${IFN[a]}" listen-port)" "listen port"
    e2e_step "AllowedIPs move between peers; wg set replaces a peer's list"
    e2e_wg "${NSN[a]}" set "${IFN[a]}" peer "$p2" allowed-ips 10.2.0.0/16,10.3.0.0/16
    e2e_assert_eq "(none)" "$(e2e_wg_peer_field "${NSN[a]}" "${IFN[a]}" allowed-ips "$p1")" "p1's AllowedIPs after p2 took 10.2.0.0/16"
    e2e_wg "${NSN[a]}" set "${IFN[a]}" peer "$p2" allowed-ips 10.4.0.7/24
    e2e_assert_eq "10.4.0.0/24" "$(e2e_wg_peer_field "${NSN[a]}" "${IFN[a]}" allowed-ips "$p2")" "p2's AllowedIPs replaced (host bits masked)"
    e2e_step "fwmark, keepalive, endpoint, remove"
    e2e_wg "${NSN[a]}" set "${IFN[a]}" fwmark 0x1234 peer "$p2" persistent-keepalive 7 endpoint '[2001:db8::99]:1234'
    e2e_assert_eq 0x1234 "$(e2e_wg "${NSN[a]}" show "${IFN[a]}" fwmark)" "fwmark"
    e2e_assert_eq 7 "$(e2e_wg_peer_field "${NSN[a]}" "${IFN[a]}" persistent-keepalive "$p2")" "keepalive"
    e2e_assert_eq "[2001:db8::99]:1234" "$(e2e_wg_peer_field "${NSN[a]}" "${IFN[a]}" endpoints "$p2")" "v6 endpoint"
    e2e_wg "${NSN[a]}" set "${IFN[a]}" peer "$p1" remove
    ! e2e_has_peer "${NSN[a]}" "${IFN[a]}" "$p1" || e2e_fail "wg set peer remove left the peer"
    e2e_step "a private key equal to a peer's public key removes that peer"
    local k3
    k3=$(wg genkey)
    p3=$(printf '%s\n' "$k3" | wg pubkey)
    e2e_wg "${NSN[a]}" set "${IFN[a]}" peer "$p3" allowed-ips 10.9.0.0/16
    (umask 077 && printf '%s\n' "$k3" >"$E2E_WORK/k3.key")
    e2e_wg "${NSN[a]}" set "${IFN[a]}" private-key "$E2E_WORK/k3.key"
    ! e2e_has_peer "${NSN[a]}" "${IFN[a]}" "$p3" || e2e_fail "the peer with the device's new public key is still there"
    e2e_assert_eq "$p3" "$(e2e_wg "${NSN[a]}" show "${IFN[a]}" public-key)" "public key after changing the private key"
    wgset a
    e2e_step "a low-order public key never handshakes"
    lowkey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
    e2e_wg "${NSN[a]}" set "${IFN[a]}" peer "$lowkey" allowed-ips 10.77.0.50/32 endpoint 192.0.2.2:51820 persistent-keepalive 1
    addr a 1
    ip netns exec "${NSN[a]}" timeout 5 ping -n -q -c 2 -W 1 10.77.0.50 >/dev/null 2>&1 || true
    sleep 1.5
    e2e_assert_eq 0 "$(e2e_wg "${NSN[a]}" show "${IFN[a]}" transfer | awk -v k="$lowkey" '$1 == k { print $3 }')" \
        "bytes sent to a low-order peer"
    e2e_step "130,000+ AllowedIPs through wg setconf, read back exactly"
    local conf="$E2E_WORK/big.conf" expected="$E2E_WORK/big.expected"
    python3 - "$conf" "$expected" "${KEY[a]}" "$p1" "$p2" <<'PY'
import sys
conf, expected, key, p1, p2 = sys.argv[1:6]
v4 = [f"10.{i >> 12}.{(i >> 4) & 255}.{(i & 15) << 4}/28" for i in range(70000)]
import ipaddress
v6 = [str(ipaddress.ip_network(f"fd00:{i >> 16:x}:{i & 0xffff:x}::/48")) for i in range(0, 65000)]
with open(conf, "w") as f:
    f.write(f"[Interface]\nPrivateKey = {key}\nListenPort = 51901\n\n[Peer]\nPublicKey = {p1}\nAllowedIPs = {', '.join(v4)}\n\n[Peer]\nPublicKey = {p2}\nAllowedIPs = {', '.join(v6)}\n")
with open(expected, "w") as f:
    f.write("\n".join(sorted(v4 + v6)) + "\n")
PY
    chmod 600 "$conf"
    e2e_wg "${NSN[a]}" setconf "${IFN[a]}" "$conf" || e2e_fail "wg setconf with 135,000 AllowedIPs failed"
    e2e_wg "${NSN[a]}" show "${IFN[a]}" allowed-ips | awk '{ for (i = 2; i <= NF; i++) print $i }' | sort >"$E2E_WORK/big.got"
    cmp -s "$expected" "$E2E_WORK/big.got" || e2e_fail "wg show allowed-ips differs from the 135,000 prefixes set ($(wc -l <"$E2E_WORK/big.got") lines)"
    e2e_assert_eq 2 "$(e2e_peer_count "${NSN[a]}" "${IFN[a]}")" "peers after setconf (replace_peers)"
    e2e_step "malformed and huge requests"
    e2e_assert_eq "errno=-71" "$(printf 'set=1\nnonsense\n\n' | raw_uapi a | head -n 1)" "reply to a line without '='"
    e2e_assert_eq "errno=-22" "$(printf 'set=1\nlisten_port=99999\n\n' | raw_uapi a | head -n 1)" "reply to an out-of-range port"
    e2e_assert_eq "errno=-22" "$(printf 'set=1\nbogus_key=1\n\n' | raw_uapi a | head -n 1)" "reply to an unknown key"
    e2e_assert_eq "" "$(printf 'hello\n\n' | raw_uapi a)" "reply to an unknown operation (connection closed)"
    e2e_assert_eq "errno=-90" "$(python3 -c 'import sys; sys.stdout.write("set=1\nlisten_port=" + "1" * 100000 + "\n\n")' | raw_uapi a | head -n 1)" \
        "reply to a 100 kB line"
    head -c 3000000 /dev/urandom | raw_uapi a >/dev/null || true
    e2e_assert_eq 2 "$(e2e_peer_count "${NSN[a]}" "${IFN[a]}")" "peers after the garbage (the daemon still answers)"
    e2e_log "uapi: key semantics, 135,000 AllowedIPs, malformed requests all as expected"
    down a
}

# ---------------------------------------------------------------------------------------------------------
scenario_lifecycle() {
    local cycles=${DEVICE_CYCLES:-100} i how
    NSN[a]=$(e2e_ns_name a)
    IFN[a]=$(e2e_if_name a)
    E2E_IFNAMES+=("${IFN[a]}")
    e2e_ns_create "${NSN[a]}"
    KEY[a]=$(wg genkey)
    for ((i = 1; i <= cycles; i++)); do
        up a
        wgset a listen-port 51820 peer "$(wg genkey | wg pubkey)" allowed-ips 10.0.0.0/8
        how=$((i % 3))
        case $how in
            0) kill -TERM "$(e2e_ns_pids "${NSN[a]}" wiremeshd)" ;;
            1) ip -n "${NSN[a]}" link del "${IFN[a]}" ;;
            2) rm -f "$E2E_SOCKET_DIR/${IFN[a]}.sock" ;;
        esac
        e2e_wait_for 10 "cycle $i: wiremeshd to exit (trigger $how)" gone a
        ! ip -n "${NSN[a]}" link show "${IFN[a]}" >/dev/null 2>&1 || e2e_fail "cycle $i: the interface is left (trigger $how)"
    done
    # No process left (so none of its descriptors), no interface, no socket, no staging directory.
    [[ -z $(pgrep -f "wiremeshd.*${IFN[a]}" || true) ]] || e2e_fail "a wiremeshd process is left"
    [[ -z $(e2e_ns_pids "${NSN[a]}") ]] || e2e_fail "a process is left in ${NSN[a]}"
    ! compgen -G "$E2E_SOCKET_DIR/*${IFN[a]}*" >/dev/null || e2e_fail "files of ${IFN[a]} are left in $E2E_SOCKET_DIR"
    e2e_log "lifecycle: $cycles cycles (SIGTERM, link del, socket removal), nothing left behind"
}

# ---------------------------------------------------------------------------------------------------------
# The router r: eth0 on the underlay at 192.0.2.1, lan0 towards n at 198.51.100.1/24; it masquerades n's
# traffic out of eth0 and forwards back only what conntrack knows (established), with UDP conntrack
# entries living 3 s (both the unreplied and the "stream" timeout, in r's namespace only).
scenario_nat() {
    command -v nft >/dev/null 2>&1 || e2e_skip_or_fail "device-nat needs nft (apt-get install -y nftables)"
    e2e_underlay_init
    NSN[r]=$(e2e_ns_name r)
    e2e_ns_create "${NSN[r]}"
    e2e_underlay_attach "${NSN[r]}" r 192.0.2.1
    node p 2       # the public peer
    bare_node n    # behind the NAT
    ip -n "${NSN[r]}" link add lan0 type veth peer name eth0 netns "${NSN[n]}"
    ip -n "${NSN[r]}" addr add 198.51.100.1/24 dev lan0
    ip -n "${NSN[r]}" link set lan0 up
    ip -n "${NSN[n]}" addr add 198.51.100.2/24 dev eth0
    ip -n "${NSN[n]}" link set eth0 up
    ip -n "${NSN[n]}" route add default via 198.51.100.1
    local ns_r=${NSN[r]}
    ip netns exec "$ns_r" sysctl -qw net.ipv4.ip_forward=1
    if ! ip netns exec "$ns_r" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3 \
        || ! ip netns exec "$ns_r" sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream=3; then
        e2e_skip_or_fail "device-nat: cannot lower net.netfilter.nf_conntrack_udp_timeout in a namespace (nf_conntrack)"
    fi
    ip netns exec "$ns_r" nft -f - <<'NFT' || e2e_fail "cannot load the NAT ruleset into the router"
table ip wmnat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr 198.51.100.0/24 oifname "eth0" masquerade
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        iifname "lan0" oifname "eth0" accept
        iifname "eth0" oifname "lan0" ct state established,related accept
    }
}
NFT
    up p
    up n
    wgset p listen-port 51820 peer "${PUB[n]}" allowed-ips 10.77.0.2/32,fd77::2/128
    wgset n listen-port 51820 peer "${PUB[p]}" allowed-ips 10.77.0.1/32,fd77::1/128 endpoint 192.0.2.2:51820 \
        persistent-keepalive 1
    addr p 1
    addr n 2
    ! ping_once "${NSN[p]}" 198.51.100.2 || e2e_fail "the public side reaches the NAT side's underlay directly"
    e2e_step "NAT side (keepalive 1) pings the public side"
    e2e_wait_for 20 "n pings p through the NAT" ping_once "${NSN[n]}" 10.77.0.1
    local ep rx0 rx1
    ep=$(e2e_wg_peer_field "${NSN[p]}" "${IFN[p]}" endpoints "${PUB[n]}")
    [[ $ep == 192.0.2.1:* ]] || e2e_fail "p's endpoint for n is '$ep', expected the router's address 192.0.2.1:PORT"
    ping_ok "${NSN[p]}" 10.77.0.2 1 || e2e_fail "p -> n right after n's first packets"
    e2e_step "idle 6 s (twice the conntrack timeout) with keepalive 1, then p -> n"
    rx0=$(e2e_wg_peer_field "${NSN[p]}" "${IFN[p]}" transfer "${PUB[n]}")
    sleep 6
    rx1=$(e2e_wg_peer_field "${NSN[p]}" "${IFN[p]}" transfer "${PUB[n]}")
    ((rx1 - rx0 >= 4 * 32)) || e2e_fail "p received $((rx1 - rx0)) bytes from n in 6 idle seconds, expected >= 4 keepalives"
    ping_ok "${NSN[p]}" 10.77.0.2 2 || e2e_fail "p -> n after 6 idle seconds although n sends keepalives"
    ping_ok "${NSN[p]}" fd77::2 2 || e2e_fail "p -> n (v6) after 6 idle seconds although n sends keepalives"
    e2e_assert_eq "$ep" "$(e2e_wg_peer_field "${NSN[p]}" "${IFN[p]}" endpoints "${PUB[n]}")" "p's endpoint for n after the idle time"
    e2e_log "keepalive 1 through the NAT ($ep): $((rx1 - rx0)) bytes of keepalives in 6 idle seconds, p reaches n"

    e2e_step "control: keepalive off, idle 6 s, then p -> n must fail"
    e2e_wg "${NSN[n]}" set "${IFN[n]}" peer "${PUB[p]}" persistent-keepalive off
    e2e_assert_eq off "$(e2e_wg_peer_field "${NSN[n]}" "${IFN[n]}" persistent-keepalive "${PUB[p]}")" "n's keepalive after switching it off"
    # The last exchange is p's request and n's reply: neither side owes a passive keepalive before 10 s.
    ping_ok "${NSN[p]}" 10.77.0.2 1 || e2e_fail "p -> n right after switching n's keepalive off"
    rx0=$(e2e_wg_peer_field "${NSN[p]}" "${IFN[p]}" transfer "${PUB[n]}")
    sleep 6
    rx1=$(e2e_wg_peer_field "${NSN[p]}" "${IFN[p]}" transfer "${PUB[n]}")
    e2e_assert_eq "$rx0" "$rx1" "bytes p received from n in 6 idle seconds with keepalive off"
    ! ip netns exec "${NSN[p]}" timeout 8 ping -n -q -c 2 -i 0.5 -W 1 10.77.0.2 >/dev/null 2>&1 \
        || e2e_fail "p reached n after 6 idle seconds without keepalive: the NAT mapping did not expire (no control)"
    e2e_step "n speaks again: a new mapping, p follows it"
    e2e_wait_for 20 "n pings p again through the NAT" ping_once "${NSN[n]}" 10.77.0.1
    ep=$(e2e_wg_peer_field "${NSN[p]}" "${IFN[p]}" endpoints "${PUB[n]}")
    [[ $ep == 192.0.2.1:* ]] || e2e_fail "p's endpoint for n after n spoke again: '$ep'"
    ping_ok "${NSN[p]}" 10.77.0.2 || e2e_fail "p -> n after n spoke again"
    e2e_log "keepalive off: p could not reach n after 6 idle seconds; n speaking again restored it ($ep)"
    down p
    down n
}

# ---------------------------------------------------------------------------------------------------------
# capture_first IFACE DST DIR: (in the switch namespace) writes the UDP payloads of the first handshake
# initiation and the first non-keepalive data packet sent to DST:51820 through IFACE as hex to
# DIR/init.hex and DIR/data.hex; touches DIR/ready once listening. Bounded (20 s).
capture_first() {
    ip netns exec "$E2E_SWITCH" timeout 25 python3 - "$@" <<'PY'
import socket, struct, sys, time
iface, dst, d = sys.argv[1], socket.inet_aton(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind((iface, 0))
s.settimeout(0.2)
open(d + "/ready", "w").close()
got, deadline = {}, time.time() + 20
while time.time() < deadline and len(got) < 2:
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if len(f) < 42 or f[12:14] != b"\x08\x00" or f[23] != 17 or f[30:34] != dst:
        continue
    udp = 14 + (f[14] & 15) * 4
    if struct.unpack("!H", f[udp + 2:udp + 4])[0] != 51820:
        continue
    p = f[udp + 8:14 + struct.unpack("!H", f[16:18])[0]]
    if p[:1] == b"\x01" and len(p) == 148:
        got.setdefault("init", p)
    elif p[:1] == b"\x04" and len(p) > 32:
        got.setdefault("data", p)
for k, p in got.items():
    open(f"{d}/{k}.hex", "w").write(p.hex())
sys.exit(0 if len(got) == 2 else 1)
PY
}

# send_junk NS DST PORT HEXFILE...: from NS, the captured payloads (replays) and garbage shaped like each
# WireGuard message type, three times each, to DST:PORT.
send_junk() {
    ip netns exec "$1" timeout 10 python3 - "${@:2}" <<'PY'
import os, socket, sys
dst = (sys.argv[1], int(sys.argv[2]))
s = socket.socket(socket.AF_INET6 if ":" in dst[0] else socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    for path in sys.argv[3:]:
        s.sendto(bytes.fromhex(open(path).read()), dst)
    s.sendto(b"\x01\0\0\0" + os.urandom(144), dst)
    s.sendto(b"\x02\0\0\0" + os.urandom(88), dst)
    s.sendto(b"\x03\0\0\0" + os.urandom(60), dst)
    s.sendto(b"\x04\0\0\0" + os.urandom(60), dst)
    s.sendto(os.urandom(200), dst)
PY
}

scenario_roam() {
    e2e_underlay_init
    node a 1
    node b 2
    node x 3   # a third address: no WireGuard, only replays and garbage
    up a
    up b
    tunnel_a_b
    e2e_step "first contact, captured on the switch"
    capture_first p-a 192.0.2.2 "$E2E_WORK" >"$E2E_WORK/capture.log" 2>&1 &
    local cap=$!
    e2e_wait_for 10 "the capture to listen" test -e "$E2E_WORK/ready"
    e2e_wait_for 20 "a pings b" ping_once "${NSN[a]}" 10.77.0.2
    ping_ok "${NSN[a]}" 10.77.0.2 2 || e2e_fail "a -> b"
    wait "$cap" || e2e_fail "no initiation and data packet from a captured: $(cat "$E2E_WORK/capture.log")"
    e2e_assert_eq "192.0.2.1:51820" "$(e2e_wg_peer_field "${NSN[b]}" "${IFN[b]}" endpoints "${PUB[a]}")" "b's endpoint for a"

    e2e_step "mid-flow: a moves to 192.0.2.11, then to listen port 51821"
    ip netns exec "${NSN[a]}" timeout 30 ping -n -i 0.2 -c 50 -W 1 10.77.0.2 >"$E2E_WORK/flow.log" 2>&1 &
    local flow=$! received
    sleep 2
    ip -n "${NSN[a]}" addr del 192.0.2.1/24 dev eth0
    ip -n "${NSN[a]}" addr add 192.0.2.11/24 dev eth0
    e2e_wait_for 5 "b's endpoint for a to follow the new address" \
        bash -c "[[ \$(ip netns exec '${NSN[b]}' timeout 5 wg show '${IFN[b]}' endpoints) == *'192.0.2.11:51820'* ]]"
    sleep 2
    e2e_wg "${NSN[a]}" set "${IFN[a]}" listen-port 51821
    e2e_wait_for 5 "b's endpoint for a to follow the new port" \
        bash -c "[[ \$(ip netns exec '${NSN[b]}' timeout 5 wg show '${IFN[b]}' endpoints) == *'192.0.2.11:51821'* ]]"
    wait "$flow" || true
    received=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$E2E_WORK/flow.log")
    if [[ -z $received ]] || ((received < 45)); then e2e_fail "the ping during the moves: ${received:-?} of 50 answered: $(tail -n 2 "$E2E_WORK/flow.log")"; fi
    e2e_assert_eq "192.0.2.11:51821" "$(e2e_wg_peer_field "${NSN[b]}" "${IFN[b]}" endpoints "${PUB[a]}")" "b's endpoint for a after both moves"
    ping_ok "${NSN[b]}" 10.77.0.1 || e2e_fail "b -> a after the moves"
    e2e_log "roam: $received of 50 pings answered across an address and a port change"

    e2e_step "a switches b's endpoint to IPv6"
    e2e_wg "${NSN[a]}" set "${IFN[a]}" peer "${PUB[b]}" endpoint '[2001:db8::2]:51820'
    e2e_wait_for 10 "a pings b over the v6 underlay" ping_once "${NSN[a]}" 10.77.0.2
    e2e_assert_eq "[2001:db8::1]:51821" "$(e2e_wg_peer_field "${NSN[b]}" "${IFN[b]}" endpoints "${PUB[a]}")" "b's endpoint for a over v6"

    e2e_step "replays and garbage from a third address (192.0.2.3, 2001:db8::3)"
    local hs
    hs=$(e2e_handshake "${NSN[b]}" "${IFN[b]}" "${PUB[a]}")
    send_junk "${NSN[x]}" 192.0.2.2 51820 "$E2E_WORK/init.hex" "$E2E_WORK/data.hex"
    send_junk "${NSN[x]}" 2001:db8::2 51820 "$E2E_WORK/init.hex" "$E2E_WORK/data.hex"
    sleep 0.5
    e2e_assert_eq "[2001:db8::1]:51821" "$(e2e_wg_peer_field "${NSN[b]}" "${IFN[b]}" endpoints "${PUB[a]}")" \
        "b's endpoint for a after replays and garbage from 192.0.2.3"
    e2e_assert_eq "$hs" "$(e2e_handshake "${NSN[b]}" "${IFN[b]}" "${PUB[a]}")" "b's latest handshake with a after a replayed initiation"
    ping_ok "${NSN[b]}" 10.77.0.1 || e2e_fail "b -> a after the replays"
    ping_ok "${NSN[a]}" fd77::2 || e2e_fail "a -> b (v6) after the replays"
    e2e_log "roam: replayed initiation/data and garbage from a third address left the endpoint alone"
    down a
    down b
}

# ---------------------------------------------------------------------------------------------------------
# dropped_at_b: the packets b's nft rule has dropped (a's handshake initiations) so far.
dropped_at_b() {
    ip netns exec "${NSN[b]}" nft list chain inet expiry input | sed -n 's/.* counter packets \([0-9]*\) .*/\1/p'
}

scenario_expiry() {
    command -v nft >/dev/null 2>&1 || e2e_skip_or_fail "device-expiry needs nft (apt-get install -y nftables)"
    e2e_underlay_init
    node a 1
    node b 2
    up a
    up b
    tunnel_a_b
    wgset b peer "${PUB[a]}" endpoint 192.0.2.1:51820
    ip netns exec "${NSN[b]}" nft -f - <<'NFT' || e2e_fail "cannot load the drop rule into b"
table inet expiry {
    chain input {
        type filter hook input priority 0; policy accept;
        udp dport 51820 counter drop
    }
}
NFT
    e2e_step "a starts a handshake b never answers, and gives up after 90 s"
    ! ping_once "${NSN[a]}" 10.77.0.2 || e2e_fail "a reached b through the drop rule"
    local t0=$SECONDS early late later
    sleep 20
    early=$(dropped_at_b)
    ((early >= 3)) || e2e_fail "b dropped ${early:-?} packets from a in 20 s: a is not retrying its handshake"
    sleep $((93 - (SECONDS - t0)))
    late=$(dropped_at_b)
    sleep 8
    later=$(dropped_at_b)
    e2e_assert_eq "$late" "$later" "packets from a dropped at b after a's handshake attempts expired (93 s and 101 s after the first)"
    e2e_log "expiry: a sent $late handshake initiations, then stopped"
    ip netns exec "${NSN[b]}" nft delete table inet expiry

    e2e_step "b initiates: a answers with fresh session state"
    e2e_wait_for 15 "b pings a" ping_once "${NSN[b]}" 10.77.0.1
    ping_ok "${NSN[a]}" 10.77.0.2 || e2e_fail "a -> b on b's session"
    sleep 1
    ping_ok "${NSN[b]}" 10.77.0.1 || e2e_fail "b -> a a few timer ticks later"
    e2e_handshake_nonzero "${NSN[a]}" "${IFN[a]}" "${PUB[b]}" || e2e_fail "wg show: a has no handshake with b"

    down a
    down b
}

# ---------------------------------------------------------------------------------------------------------
# flood NS DST PORT PUBKEY SECONDS: handshake initiations with random content and a valid mac1 for PUBKEY
# (so each costs the receiver a lookup, and a DH unless it is under load), as fast as python sends them;
# prints "SENT COOKIE_REPLIES".
flood() {
    ip netns exec "$1" timeout $(($5 + 10)) python3 - "${@:2}" <<'PY'
import base64, hashlib, os, socket, sys, time
dst, pub, seconds = (sys.argv[1], int(sys.argv[2])), base64.b64decode(sys.argv[3]), float(sys.argv[4])
key = hashlib.blake2s(b"mac1----" + pub).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent = cookies = 0
end = time.time() + seconds
while time.time() < end:
    for _ in range(64):
        body = b"\x01\0\0\0" + os.urandom(112)
        try:
            s.sendto(body + hashlib.blake2s(body, key=key, digest_size=16).digest() + bytes(16), dst)
            sent += 1
        except BlockingIOError:
            pass
    while True:
        try:
            d = s.recv(256)
        except BlockingIOError:
            break
        if len(d) == 64 and d[0] == 3:
            cookies += 1
print(sent, cookies)
PY
}

scenario_cookie() {
    e2e_underlay_init
    node a 1
    node b 2   # under attack; in the foreground, so that its exit line (with the counters) is in a log
    node x 3   # the flooder
    ip netns exec "${NSN[b]}" "$WIREMESHD" -f "${IFN[b]}" >"$E2E_WORK/b-foreground.log" 2>&1 &
    local bpid=$!
    e2e_wait_for 10 "wiremeshd -f for b to create its socket" test -S "$E2E_SOCKET_DIR/${IFN[b]}.sock"
    up a
    wgset a listen-port 51820 peer "${PUB[b]}" allowed-ips 10.77.0.2/32,fd77::2/128 endpoint 192.0.2.2:51820
    wgset b listen-port 51820 peer "${PUB[a]}" allowed-ips 10.77.0.1/32,fd77::1/128
    addr a 1
    ip -n "${NSN[b]}" addr add 10.77.0.2/24 dev "${IFN[b]}"
    ip -n "${NSN[b]}" addr add fd77::2/64 dev "${IFN[b]}" nodad
    ip -n "${NSN[b]}" link set "${IFN[b]}" mtu 1420 up
    e2e_step "flood b with initiations (valid mac1) for 15 s; a handshakes meanwhile"
    flood "${NSN[x]}" 192.0.2.2 51820 "${PUB[b]}" 15 >"$E2E_WORK/flood.out" 2>&1 &
    local fpid=$! t0 took sent cookies
    sleep 2
    e2e_wg "${NSN[b]}" show "${IFN[b]}" dump >/dev/null || e2e_fail "wg show on b does not answer during the flood"
    t0=$SECONDS
    e2e_wait_for 30 "a handshakes with b and pings it during the flood" ping_once "${NSN[a]}" 10.77.0.2
    took=$((SECONDS - t0))
    kill -0 "$fpid" 2>/dev/null || e2e_fail "the flood ended before a's handshake completed (${took}s): the test proved nothing: $(cat "$E2E_WORK/flood.out")"
    ping_ok "${NSN[b]}" 10.77.0.1 || e2e_fail "b -> a during the flood"
    e2e_wg "${NSN[b]}" show "${IFN[b]}" dump >/dev/null || e2e_fail "wg show on b does not answer during the flood"
    wait "$fpid" || e2e_fail "the flooder failed: $(cat "$E2E_WORK/flood.out")"
    read -r sent cookies <"$E2E_WORK/flood.out"
    ((cookies > 0)) || e2e_fail "b sent no cookie reply to $sent initiations with a valid mac1"
    e2e_step "after the flood"
    ping_ok "${NSN[a]}" fd77::2 || e2e_fail "a -> b (v6) after the flood"
    kill -TERM "$bpid"
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$bpid" 2>/dev/null || e2e_fail "wiremeshd -f did not exit on SIGTERM after the flood"
    wait "$bpid" || e2e_fail "wiremeshd -f exited non-zero on SIGTERM"
    local counted
    counted=$(sed -n 's/.*; \([0-9]*\) cookie replies.*/\1/p' "$E2E_WORK/b-foreground.log")
    if [[ -z $counted ]] || ((counted < cookies)); then e2e_fail "b counted ${counted:-no} cookie replies, the flooder received $cookies: $(cat "$E2E_WORK/b-foreground.log")"; fi
    e2e_log "cookie: $sent initiations in 15 s, $cookies cookie replies received ($counted sent); a handshook and pinged ${took}s into the flood"
    down a
}

# ---------------------------------------------------------------------------------------------------------
# inproc: the programs, found in the repository as scripts/test.sh leaves it (the binding suites run
# before this one), or given explicitly:
#   WIREMESH_DEVICE_NODE   the Rust example (default: examples/device_node next to wiremeshd's release dir,
#                          built by `cargo build --release --features device --example device_node`)
#   WIREMESH_PYTHON        a Python with the wiremesh package installed (default: the first of
#                          target/py-venv and target/py-venv-wheel that bindings-python/run-tests.sh made)
#   WIREMESH_NODE_PACKAGE  the built Node package directory (default: bindings-node, built by
#                          bindings-node/run-tests.sh)
# A missing one is a visible skip of this scenario, and a failure under WIREMESH_E2E_REQUIRED=1.
REPO=$(cd "$here/../.." && pwd)
INPROC_ETC=()   # /etc/netns/NS directories this scenario made (per-namespace hosts files)

inproc_find_programs() {
    local missing=() candidate
    DEVICE_NODE=${WIREMESH_DEVICE_NODE:-$(dirname "$WIREMESHD")/examples/device_node}
    [[ -x $DEVICE_NODE ]] || missing+=("the Rust example $DEVICE_NODE (cargo build --release --features device --example device_node)")
    PYTHON_BIN=${WIREMESH_PYTHON:-}
    if [[ -z $PYTHON_BIN ]]; then
        for candidate in "$REPO/target/py-venv/bin/python" "$REPO/target/py-venv-wheel/bin/python"; do
            if [[ -x $candidate ]] && timeout 20 "$candidate" -I -c 'import wiremesh; wiremesh.Device' >/dev/null 2>&1; then
                PYTHON_BIN=$candidate
                break
            fi
        done
    fi
    if [[ -z $PYTHON_BIN ]] || ! timeout 20 "$PYTHON_BIN" -I -c 'import wiremesh; wiremesh.Device' >/dev/null 2>&1; then
        missing+=("a Python with wiremesh.Device (bash bindings-python/run-tests.sh, or WIREMESH_PYTHON=...)")
    fi
    NODE_PKG=${WIREMESH_NODE_PACKAGE:-$REPO/bindings-node}
    if ! command -v node >/dev/null 2>&1 \
        || ! timeout 20 node -e 'if (typeof require(process.argv[1]).Device !== "function") process.exit(1)' "$NODE_PKG" >/dev/null 2>&1; then
        missing+=("the built Node package with Device at $NODE_PKG (bash bindings-node/run-tests.sh, or WIREMESH_NODE_PACKAGE=...)")
    fi
    if ((${#missing[@]})); then
        local why
        why=$(printf '%s; ' "${missing[@]}")
        if [[ ${WIREMESH_E2E_REQUIRED:-0} == 1 ]]; then
            e2e_fail "inproc: missing ${why%; } (WIREMESH_E2E_REQUIRED=1: this scenario must run)"
        fi
        echo "SKIPPED (device-inproc): missing ${why%; }"
        exit 0
    fi
}

# The EXIT trap of inproc: the hosts files, then the usual cleanup (which reads the exit status from $?).
inproc_cleanup() {
    local rc=$?
    trap - ERR
    set +e
    ((${#INPROC_ETC[@]} == 0)) || rm -rf "${INPROC_ETC[@]}"
    (exit "$rc")
    e2e_cleanup
}

# The public key of node NAME in mesh file MESH.
mesh_pubkey() {
    awk -v n="$2" '/^\[\[nodes\]\]/ { cur = "" } $1 == "name" { gsub(/"/, "", $3); cur = $3 }
        $1 == "public_key" && cur == n { gsub(/"/, "", $3); print $3 }' "$1"
}

# The program of SHORT is still running (an exited one stays a zombie until `wait`: not running).
inproc_alive() {
    local state
    state=$(ps -o stat= -p "${PROG_PID[$1]}" 2>/dev/null) || return 1
    [[ -n $state && $state != Z* ]]
}
inproc_exited() { ! inproc_alive "$1"; }
# SHORT's log has a line starting with WORD (fails the scenario at once if the program died first).
inproc_said() {
    grep -q "^$2" "$E2E_WORK/$1.log" && return 0
    inproc_alive "$1" || e2e_fail "the $1 program exited before printing '$2': $(tail -n 5 "$E2E_WORK/$1.log")"
    return 1
}

declare -A PROG_PID
scenario_inproc() {
    inproc_find_programs
    trap inproc_cleanup EXIT
    e2e_log "inproc programs: $DEVICE_NODE; $PYTHON_BIN examples/python/device_node.py; node examples/node/device_node.js ($NODE_PKG)"
    e2e_underlay_init
    node r 1   # the Rust program
    node p 2   # the Python program
    node n 3   # the Node program
    # n's endpoint is a DNS name: the other two namespaces resolve it through their own hosts file
    # (ip netns exec bind-mounts /etc/netns/NS/hosts over /etc/hosts).
    local s
    for s in r p; do
        INPROC_ETC+=("/etc/netns/${NSN[$s]}")
        mkdir -p "/etc/netns/${NSN[$s]}"
        printf '192.0.2.3 n.inproc.test\n' >"/etc/netns/${NSN[$s]}/hosts"
    done

    e2e_step "the mesh (CLI)"
    local mesh="$E2E_WORK/mesh/inproc.toml"
    mkdir -p "$E2E_WORK/mesh"
    wm() { timeout 60 "$E2E_WIREMESH" "$@" >/dev/null || e2e_fail "wiremesh $* failed"; }
    wm init "$mesh" --name inproc --network 10.78.0.0/24 --listen-port 51820
    wm add "$mesh" r --address 10.78.0.1 --endpoint 192.0.2.1:51820
    wm add "$mesh" p --address 10.78.0.2 --endpoint '[2001:db8::2]:51820'
    wm add "$mesh" n --address 10.78.0.3 --endpoint n.inproc.test:51820
    wm verify "$mesh"
    declare -A MPUB KA
    for s in r p n; do MPUB[$s]=$(mesh_pubkey "$mesh" "$s"); [[ -n ${MPUB[$s]} ]] || e2e_fail "no public key for $s in $mesh"; done
    KA=([r]=17 [p]=19 [n]=23)   # the keepalive each program applies (see the programs)

    e2e_step "starting the three in-process devices"
    for s in r p n; do mkdir -p "$E2E_WORK/ctl-$s"; done
    # TUN queue lengths: r from the environment (DeviceOptions::new), p and n from their programs' options.
    local -A QLEN=([r]=3000 [p]=1000 [n]=2000)
    ip netns exec "${NSN[r]}" timeout 150 env WIREMESH_TUN_QUEUE_LEN=3000 "$DEVICE_NODE" "$mesh" r "${IFN[r]}" "$E2E_WORK/ctl-r" >"$E2E_WORK/r.log" 2>&1 &
    PROG_PID[r]=$!
    ip netns exec "${NSN[p]}" timeout 150 "$PYTHON_BIN" -I "$REPO/examples/python/device_node.py" "$mesh" p "${IFN[p]}" "$E2E_WORK/ctl-p" >"$E2E_WORK/p.log" 2>&1 &
    PROG_PID[p]=$!
    ip netns exec "${NSN[n]}" timeout 150 env WIREMESH_NODE_PACKAGE="$NODE_PKG" node "$REPO/examples/node/device_node.js" "$mesh" n "${IFN[n]}" "$E2E_WORK/ctl-n" >"$E2E_WORK/n.log" 2>&1 &
    PROG_PID[n]=$!
    local i=0
    for s in r p n; do
        i=$((i + 1))
        e2e_wait_for 30 "the $s program to start its device" inproc_said "$s" started
        ip -n "${NSN[$s]}" link show dev "${IFN[$s]}" >/dev/null 2>&1 || e2e_fail "$s: no interface ${IFN[$s]} after 'started'"
        e2e_assert_eq "${QLEN[$s]}" "$(ip -n "${NSN[$s]}" -o link show dev "${IFN[$s]}" | sed -n 's/.* qlen \([0-9]*\).*/\1/p')" \
            "$s: the TUN's queue length"
        [[ -S $E2E_SOCKET_DIR/${IFN[$s]}.sock ]] || e2e_fail "$s: no UAPI socket for ${IFN[$s]}"
        # Python asks for offload=False; Rust and Node take DeviceOptions' default, which WIREMESH_OFFLOAD sets.
        if [[ $s == p ]]; then vnet_hdr_is p off; else vnet_hdr_is "$s" "$(e2e_switch "${WIREMESH_OFFLOAD:-}")"; fi
        e2e_assert_eq 2 "$(e2e_peer_count "${NSN[$s]}" "${IFN[$s]}")" "$s: peers in wg show"
        ip -n "${NSN[$s]}" addr add "10.78.0.$i/24" dev "${IFN[$s]}"
        ip -n "${NSN[$s]}" link set "${IFN[$s]}" mtu 1420 up
    done
    e2e_assert_eq "192.0.2.3:51820" "$(e2e_wg_peer_field "${NSN[r]}" "${IFN[r]}" endpoints "${MPUB[n]}")" \
        "r's endpoint for n (n.inproc.test resolved at start)"
    e2e_assert_eq "[2001:db8::2]:51820" "$(e2e_wg_peer_field "${NSN[n]}" "${IFN[n]}" endpoints "${MPUB[p]}")" \
        "n's endpoint for p (v6 underlay)"

    e2e_step "every pair pings over the overlay"
    local a b ib
    for a in r p n; do
        for b in r p n; do
            [[ $a != "$b" ]] || continue
            ib=$(case $b in r) echo 1 ;; p) echo 2 ;; n) echo 3 ;; esac)
            e2e_wait_for 30 "$a pings $b (10.78.0.$ib)" ping_once "${NSN[$a]}" "10.78.0.$ib"
            ping_ok "${NSN[$a]}" "10.78.0.$ib" || e2e_fail "$a -> $b over the overlay"
        done
    done

    e2e_step "each program reads its handshakes and applies a keepalive"
    for s in r p n; do
        e2e_wait_for 30 "the $s program to see its handshakes and apply its keepalive" inproc_said "$s" "applied keepalive"
        grep -q '^handshakes 2/2$' "$E2E_WORK/$s.log" || e2e_fail "$s: expected 'handshakes 2/2': $(cat "$E2E_WORK/$s.log")"
        for b in r p n; do
            [[ $b != "$s" ]] || continue
            e2e_handshake_nonzero "${NSN[$s]}" "${IFN[$s]}" "${MPUB[$b]}" || e2e_fail "wg show: $s has no handshake with $b"
            e2e_assert_eq "${KA[$s]}" "$(e2e_wg_peer_field "${NSN[$s]}" "${IFN[$s]}" persistent-keepalive "${MPUB[$b]}")" \
                "wg show $s persistent-keepalive for $b (applied in-process)"
        done
    done
    ping_ok "${NSN[r]}" 10.78.0.3 || e2e_fail "r -> n after the change"

    e2e_step "stopping the three devices"
    for s in r p n; do touch "$E2E_WORK/ctl-$s/stop"; done
    local rc
    for s in r p n; do
        e2e_wait_for 20 "the $s program to exit" inproc_exited "$s"
        rc=0
        wait "${PROG_PID[$s]}" || rc=$?
        ((rc == 0)) || e2e_fail "the $s program exited with $rc: $(tail -n 5 "$E2E_WORK/$s.log")"
        grep -q '^stopped ' "$E2E_WORK/$s.log" || e2e_fail "$s: no 'stopped' line: $(cat "$E2E_WORK/$s.log")"
        ! ip -n "${NSN[$s]}" link show dev "${IFN[$s]}" >/dev/null 2>&1 || e2e_fail "$s: ${IFN[$s]} still exists"
        [[ ! -e $E2E_SOCKET_DIR/${IFN[$s]}.sock ]] || e2e_fail "$s: $E2E_SOCKET_DIR/${IFN[$s]}.sock still exists"
        [[ -z $(e2e_ns_pids "${NSN[$s]}") ]] || e2e_fail "$s: processes left in ${NSN[$s]}: $(e2e_ns_pids "${NSN[$s]}")"
        [[ -z $(ip netns exec "${NSN[$s]}" ss -Huan 2>/dev/null) ]] || e2e_fail "$s: UDP sockets left: $(ip netns exec "${NSN[$s]}" ss -Huan)"
        e2e_log "$s: $(tail -n 1 "$E2E_WORK/$s.log")"
    done
    # The bindings' repr/inspect name the interface and its status, and no output holds a private key.
    grep -qF "Device(ifname='${IFN[p]}', running)" "$E2E_WORK/p.log" || e2e_fail "Python repr while running: $(head -n 1 "$E2E_WORK/p.log")"
    grep -qF "Device(ifname='${IFN[p]}', stopped: requested)" "$E2E_WORK/p.log" || e2e_fail "Python repr after stop: $(tail -n 1 "$E2E_WORK/p.log")"
    grep -qF "Device(${IFN[n]}, running)" "$E2E_WORK/n.log" || e2e_fail "Node inspect while running: $(head -n 1 "$E2E_WORK/n.log")"
    grep -qF "Device(${IFN[n]}, stopped: requested)" "$E2E_WORK/n.log" || e2e_fail "Node inspect after stop: $(tail -n 1 "$E2E_WORK/n.log")"
    local keyfile key
    for keyfile in "$E2E_WORK"/mesh/inproc.keys/*.key; do
        key=$(tr -d '[:space:]' <"$keyfile")
        [[ -n $key ]] || e2e_fail "empty key file $keyfile"
        ! grep -qF -- "$key" "$E2E_WORK/r.log" "$E2E_WORK/p.log" "$E2E_WORK/n.log" || e2e_fail "a private key appears in a program's output"
    done
}

START=$SECONDS
"scenario_${SCENARIO}"
e2e_log "PASS device-$SCENARIO ($((SECONDS - START))s)"
