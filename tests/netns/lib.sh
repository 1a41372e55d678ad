# shellcheck shell=bash
# Shared helpers for wiremesh's network-namespace end-to-end tests. Source this file; don't run it.
#
# Rules (see TESTING.md): traffic only inside namespaces this run created, underlay addresses only from
# the documentation ranges (192.0.2.0/24, 2001:db8::/64), every wait bounded, everything cleaned up
# (also on failure or interruption), and every WireGuard interface of a run named distinctly, because
# the UAPI socket /var/run/wireguard/IFNAME.sock is not per namespace.
#
# Environment:
#   WIREMESH_E2E_REQUIRED=1  a missing tool or missing root is a failure instead of a visible skip (CI)
#   WIREMESH=PATH            the wiremesh binary (default: `wiremesh` on PATH)
#   E2E_RUN=xxxx             a 4-character run token (run-all.sh passes one down; default: random)
#   E2E_KEEP=1               keep the scenario's work directory (configs, logs) after the run
#   E2E_VERBOSE=1            show wg-quick's output even when it succeeds
#   E2E_WG_IMPL=NAME         the userspace WireGuard that wg-quick starts (default wireguard-go; wiremeshd
#                            for our own daemon, found on PATH)

# The tools the suite drives; wiremesh itself is checked separately (it is built, not installed).
E2E_TOOLS=(ip ss ping wg wg-quick wireguard-go iperf3 timeout sysctl nstat)
E2E_SOCKET_DIR=/var/run/wireguard
E2E_WG_IMPL=${E2E_WG_IMPL:-wireguard-go}

E2E_SCENARIO=${E2E_SCENARIO:-netns}
E2E_NAMESPACES=()   # namespaces we created, in creation order
E2E_IFNAMES=()      # WireGuard interface names we may have created (for socket cleanup)
E2E_WORK=""         # this process's scratch directory
E2E_CLEANED=0

e2e_ts() { date +%H:%M:%S; }

# Logs go to the stderr the script started with (E2E_ERR_FD, saved by e2e_init), so that messages from a
# signal trap that fires inside a `cmd >/dev/null 2>&1` still show.
E2E_ERR_FD=2

e2e_log() { printf '[%s %s] %s\n' "$(e2e_ts)" "$E2E_SCENARIO" "$*" >&"$E2E_ERR_FD"; }

# Names what the scenario is doing now (reported if it is interrupted or times out).
E2E_STEP="setup"
e2e_step() { E2E_STEP=$*; e2e_verbose "-- $*"; }

e2e_verbose() { [[ ${E2E_VERBOSE:-0} == 1 ]] && e2e_log "$@"; return 0; }

# An assertion failed: say which scenario and what, dump diagnostics, exit 1 (cleanup runs from the trap).
e2e_fail() {
    printf '[%s %s] FAIL: %s\n' "$(e2e_ts)" "$E2E_SCENARIO" "$*" >&"$E2E_ERR_FD"
    # In a subshell (a command substitution) just exit: the main process reports and dumps diagnostics.
    [[ $BASHPID == "$$" ]] || exit 1
    if declare -F e2e_diagnostics >/dev/null && [[ ${E2E_IN_DIAG:-0} == 0 ]]; then
        E2E_IN_DIAG=1
        e2e_diagnostics >&"$E2E_ERR_FD" 2>&1 || true
    fi
    exit 1
}

# The environment cannot run the suite: a visible skip (exit 0), or a failure under WIREMESH_E2E_REQUIRED=1.
e2e_skip_or_fail() {
    local reason=$1
    if [[ ${WIREMESH_E2E_REQUIRED:-0} == 1 ]]; then
        printf 'ERROR: %s (WIREMESH_E2E_REQUIRED=1: the network tests must run here)\n' "$reason" >&2
        exit 1
    fi
    printf 'SKIPPED: %s\n' "$reason"
    exit 0
}

# Prints why this machine cannot run the suite, or nothing when it can.
e2e_preflight_reason() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "network namespace tests need root (run as root, e.g. sudo bash tests/netns/run-all.sh)"
        return
    fi
    local tool missing=()
    for tool in "${E2E_TOOLS[@]}"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        echo "missing tools: ${missing[*]} (apt-get install -y wireguard-tools wireguard-go iperf3 iputils-ping iproute2 procps nftables)"
        return
    fi
    if [[ ! -c /dev/net/tun ]]; then
        echo "/dev/net/tun is missing (wireguard-go needs TUN devices)"
        return
    fi
    if ! ip netns add "wme2e-probe-$$" 2>/dev/null; then
        echo "cannot create network namespaces (ip netns add failed)"
        return
    fi
    ip netns del "wme2e-probe-$$" 2>/dev/null || true
}

# Skips (or fails under WIREMESH_E2E_REQUIRED=1) unless root and every tool is present; then finds wiremesh.
e2e_preflight() {
    local reason
    reason=$(e2e_preflight_reason)
    [[ -z $reason ]] || e2e_skip_or_fail "$reason"
    E2E_WIREMESH=${WIREMESH:-$(command -v wiremesh || true)}
    if [[ -z $E2E_WIREMESH || ! -x $E2E_WIREMESH ]]; then
        printf 'ERROR: the wiremesh binary was not found: build it (cargo build --release --bin wiremesh) and put\n' >&2
        printf '       its directory on PATH, or set WIREMESH=/path/to/wiremesh\n' >&2
        exit 1
    fi
}

# A random run token: 4 lower-case hex digits, so names of concurrent runs do not collide; one that no
# namespace or socket on this machine uses yet.
e2e_new_run_token() {
    local token i
    for ((i = 0; i < 50; i++)); do
        token=$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
        if ! ip netns list 2>/dev/null | grep -q "^wme2e-$token-" && ! compgen -G "$E2E_SOCKET_DIR/wm$token*" >/dev/null; then
            printf '%s' "$token"
            return 0
        fi
    done
    echo "cannot find an unused run token" >&2
    return 1
}

# Sets up this process: run token, scratch directory, and the cleanup traps.
e2e_init() {
    E2E_SCENARIO=${1:-$E2E_SCENARIO}
    if [[ -z ${E2E_RUN:-} ]]; then E2E_RUN=$(e2e_new_run_token); fi
    [[ $E2E_RUN =~ ^[0-9a-z]{4}$ ]] || { echo "E2E_RUN must be 4 characters [0-9a-z], got '$E2E_RUN'" >&2; exit 1; }
    exec {E2E_ERR_FD}>&2
    # Any command failing where `set -e` would stop the script names itself (only in the main process:
    # a failing command substitution just exits its subshell, and its caller reports).
    set -E
    trap 'e2e_on_err $? "$LINENO" "$BASH_COMMAND"' ERR
    E2E_WORK=$(mktemp -d "${TMPDIR:-/tmp}/wiremesh-e2e-$E2E_SCENARIO.XXXXXX")
    trap e2e_cleanup EXIT
    trap 'e2e_fail "interrupted (SIGINT) during: $E2E_STEP"' INT
    trap 'e2e_fail "terminated (SIGTERM, e.g. the time limit of run-all.sh) during: $E2E_STEP"' TERM
    trap 'e2e_fail "hangup (SIGHUP) during: $E2E_STEP"' HUP
}

# The namespace name for SHORT in this run: wme2e-<run>-<tag>-<short>. Only names with this run's token
# are ever deleted, so concurrent runs (and everything else on the machine) are left alone.
e2e_ns_name() { printf 'wme2e-%s-%s-%s' "$E2E_RUN" "$E2E_TAG" "$1"; }

# The WireGuard interface name for SHORT: wm<run><tag><short>, at most 15 characters.
e2e_if_name() {
    local name="wm${E2E_RUN}${E2E_TAG}$1"
    ((${#name} <= 15)) || { echo "interface name too long: $name" >&2; exit 1; }
    printf '%s' "$name"
}

# Runs a command inside namespace NS.
e2e_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

e2e_ns_create() {
    local ns=$1
    ip netns add "$ns" || e2e_fail "cannot create namespace $ns"
    E2E_NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
}

# on|off: how wiremeshd reads VALUE of an on/off variable (WIREMESH_OFFLOAD, WIREMESH_HELPER_THREADS):
# off, 0, false or no in any case turn it off; anything else, unset included, leaves it on.
e2e_switch() {
    case ${1,,} in off | 0 | false | no) echo off ;; *) echo on ;; esac
}

# on|off: whether TUN IFNAME in namespace NS was opened with a virtio_net_hdr (wiremeshd's offloads).
e2e_vnet_hdr() {
    ip -n "$1" -d link show "$2" | grep -o 'vnet_hdr [a-z]*' | cut -d' ' -f2
}

# PIDs of processes running in namespace NS whose command name is COMM (any when COMM is empty).
e2e_ns_pids() {
    local ns=$1 comm=${2:-} pid
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
        if [[ -z $comm ]] || [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]]; then echo "$pid"; fi
    done
}

# Kills every process left in namespace NS: TERM, a bounded wait, then KILL.
e2e_ns_kill_all() {
    local ns=$1 pids i
    pids=$(e2e_ns_pids "$ns")
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        [[ -z $(e2e_ns_pids "$ns") ]] && return 0
        sleep 0.1
    done
    pids=$(e2e_ns_pids "$ns")
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
}

e2e_on_err() {
    local rc=$1 line=$2 cmd=$3
    [[ $BASHPID == "$$" ]] || exit "$rc"
    trap - ERR
    e2e_fail "unexpected failure (exit $rc) of: $cmd (${0##*/} line $line)"
}

# Removes everything this process created. Idempotent, never fails, bounded.
e2e_cleanup() {
    local rc=$? ns ifname i
    ((E2E_CLEANED)) && return 0
    E2E_CLEANED=1
    set +e
    trap - INT TERM HUP ERR
    # Delete our interfaces first (wireguard-go exits when its TUN device goes away), then kill whatever
    # is left in our namespaces, then delete the namespaces (which also deletes their veths and bridge).
    for ((i = ${#E2E_NAMESPACES[@]} - 1; i >= 0; i--)); do
        ns=${E2E_NAMESPACES[i]}
        for ifname in "${E2E_IFNAMES[@]}"; do
            ip -n "$ns" link del "$ifname" 2>/dev/null
        done
    done
    for ((i = ${#E2E_NAMESPACES[@]} - 1; i >= 0; i--)); do
        ns=${E2E_NAMESPACES[i]}
        e2e_ns_kill_all "$ns"
        ip netns del "$ns" 2>/dev/null
    done
    for ifname in "${E2E_IFNAMES[@]}"; do
        rm -f "$E2E_SOCKET_DIR/$ifname.sock"
    done
    if [[ -n $E2E_WORK && -d $E2E_WORK ]]; then
        if [[ ${E2E_KEEP:-0} == 1 ]]; then
            e2e_log "kept work directory $E2E_WORK"
        else
            rm -rf "$E2E_WORK"
        fi
    fi
    return "$rc"
}

# Backstop for run-all.sh: removes every namespace and socket carrying run token RUN (a scenario killed
# by its timeout cannot run its own trap).
e2e_sweep_run() {
    local run=$1 ns sock
    [[ $run =~ ^[0-9a-z]{4}$ ]] || return 0
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^wme2e-$run-"); do
        e2e_ns_kill_all "$ns"
        ip netns del "$ns" 2>/dev/null || true
        echo "swept leftover namespace $ns" >&2
    done
    for ns in /etc/netns/wme2e-"$run"-*; do   # per-namespace hosts files (device.sh inproc)
        [[ -e $ns ]] || continue
        rm -rf "$ns"
        echo "swept leftover $ns" >&2
    done
    for sock in "$E2E_SOCKET_DIR"/wm"$run"*.sock; do
        [[ -e $sock ]] || continue
        rm -f "$sock"
        echo "swept leftover socket $sock" >&2
    done
}

# wait_for SECONDS DESCRIPTION CMD [ARG...]: polls CMD (every 0.2 s) until it succeeds; fails the
# scenario naming DESCRIPTION after SECONDS. CMD must itself be bounded (ping -W, timeout ...).
e2e_wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if ((SECONDS >= deadline)); then e2e_fail "timed out after ${seconds}s waiting for: $what"; fi
        sleep 0.2
    done
}
wait_for() { e2e_wait_for "$@"; }

# ping_ok NS ADDR [COUNT]: succeeds when ADDR answers from namespace NS (bounded: -W 2 per probe).
ping_ok() {
    local ns=$1 addr=$2 count=${3:-3}
    ip netns exec "$ns" timeout $((count * 3 + 5)) ping -n -q -c "$count" -i 0.2 -W 2 "$addr" >/dev/null 2>&1
}

# One probe, for wait_for loops.
ping_once() { ip netns exec "$1" timeout 4 ping -n -q -c 1 -W 1 "$2" >/dev/null 2>&1; }

# ---- the underlay: a "switch" namespace with a bridge, one veth into each node namespace -------------

E2E_SWITCH=""

e2e_underlay_init() {
    E2E_SWITCH=$(e2e_ns_name sw)
    e2e_ns_create "$E2E_SWITCH"
    ip -n "$E2E_SWITCH" link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0 \
        || e2e_fail "cannot create the underlay bridge"
    ip -n "$E2E_SWITCH" link set br0 up
}

# e2e_underlay_attach NS SHORT IPV4 [IPV6]: a veth eth0 in NS, its peer p-SHORT on the switch's bridge.
e2e_underlay_attach() {
    local ns=$1 short=$2 v4=$3 v6=${4:-}
    ip -n "$E2E_SWITCH" link add "p-$short" type veth peer name eth0 netns "$ns" \
        || e2e_fail "cannot create the underlay veth for $ns"
    ip -n "$E2E_SWITCH" link set "p-$short" master br0 up
    ip -n "$ns" addr add "$v4/24" dev eth0
    if [[ -n $v6 ]]; then
        ip -n "$ns" addr add "$v6/64" dev eth0 nodad
    fi
    ip -n "$ns" link set eth0 up
}

# ---- WireGuard through stock wg-quick ---------------------------------------------------------------

# e2e_wg_up NS IFNAME CONF: installs CONF as IFNAME.conf (0600) and runs `wg-quick up` on it in NS with
# E2E_WG_IMPL (wireguard-go by default) as the userspace implementation.
e2e_wg_up() {
    local ns=$1 ifname=$2 conf=$3 dir log
    dir="$E2E_WORK/wg-quick"
    mkdir -p "$dir" && chmod 0700 "$dir"
    install -m 0600 "$conf" "$dir/$ifname.conf"
    [[ " ${E2E_IFNAMES[*]} " == *" $ifname "* ]] || E2E_IFNAMES+=("$ifname")
    log="$E2E_WORK/wg-quick-up-$ifname.log"
    if ! ip netns exec "$ns" env WG_QUICK_USERSPACE_IMPLEMENTATION="$E2E_WG_IMPL" WG_SUDO=true \
        timeout 30 wg-quick up "$dir/$ifname.conf" >"$log" 2>&1; then
        sed 's/^/    wg-quick: /' "$log" >&2
        e2e_fail "wg-quick up $ifname.conf (from $(basename "$conf")) failed in $ns"
    fi
    e2e_verbose "wg-quick up $ifname in $ns:"
    [[ ${E2E_VERBOSE:-0} == 1 ]] && sed 's/^/    wg-quick: /' "$log" >&2
    [[ -S $E2E_SOCKET_DIR/$ifname.sock ]] || e2e_fail "no UAPI socket $E2E_SOCKET_DIR/$ifname.sock after wg-quick up"
    return 0
}

# True when namespace NS has no E2E_WG_IMPL process and the socket of IFNAME is gone.
e2e_wg_gone() {
    local ns=$1 ifname=$2
    [[ -z $(e2e_ns_pids "$ns" "$(e2e_impl_comm)") ]] && [[ ! -e $E2E_SOCKET_DIR/$ifname.sock ]] \
        && ! ip -n "$ns" link show dev "$ifname" >/dev/null 2>&1
}

# The process name (comm, at most 15 characters) of E2E_WG_IMPL.
e2e_impl_comm() { local base=${E2E_WG_IMPL##*/}; printf '%s' "${base:0:15}"; }

# e2e_wg_down NS IFNAME: `wg-quick down`, then checks that E2E_WG_IMPL exited and its socket is gone.
e2e_wg_down() {
    local ns=$1 ifname=$2 log
    log="$E2E_WORK/wg-quick-down-$ifname.log"
    if ! ip netns exec "$ns" timeout 30 wg-quick down "$E2E_WORK/wg-quick/$ifname.conf" >"$log" 2>&1; then
        sed 's/^/    wg-quick: /' "$log" >&2
        e2e_fail "wg-quick down $ifname failed in $ns"
    fi
    e2e_wait_for 10 "$E2E_WG_IMPL for $ifname to exit and $E2E_SOCKET_DIR/$ifname.sock to disappear" \
        e2e_wg_gone "$ns" "$ifname"
}

# e2e_wg NS ARG...: `wg ARG...` inside NS, bounded.
e2e_wg() { local ns=$1; shift; ip netns exec "$ns" timeout 10 wg "$@"; }

# The public key for the PrivateKey line of a wg-quick file (the key goes through stdin, never argv).
e2e_conf_pubkey() {
    local conf=$1 key
    key=$(sed -n 's/^[[:space:]]*PrivateKey[[:space:]]*=[[:space:]]*//p' "$conf" | head -n 1)
    [[ -n $key ]] || e2e_fail "no PrivateKey in $conf"
    printf '%s\n' "$key" | wg pubkey
}

# Field FIELD (2 = first value column) of `wg show IF WHAT` for peer PUBKEY; empty if the peer is absent.
e2e_wg_peer_field() {
    local ns=$1 ifname=$2 what=$3 pubkey=$4 field=${5:-2}
    e2e_wg "$ns" show "$ifname" "$what" | awk -v k="$pubkey" -v f="$field" '$1 == k { print $f }'
}

e2e_peer_count() { e2e_wg "$1" show "$2" peers | grep -c . || true; }

e2e_has_peer() { e2e_wg "$1" show "$2" peers | grep -qxF "$3"; }

# Latest handshake (seconds since the epoch, 0 = never) of IFNAME in NS with peer PUBKEY.
e2e_handshake() { e2e_wg_peer_field "$1" "$2" latest-handshakes "$3"; }

e2e_handshake_nonzero() { local t; t=$(e2e_handshake "$@"); [[ -n $t && $t != 0 ]]; }

# Bytes received + sent by IFNAME in NS with peer PUBKEY.
e2e_transfer_total() {
    # printf %.0f: mawk prints sums past 2^31 as 4.17e+09, which bash arithmetic cannot read
    e2e_wg "$1" show "$2" transfer | awk -v k="$3" '$1 == k { printf "%.0f\n", $2 + $3; found = 1 } END { if (!found) print -1 }'
}

# File mode as octal digits (e.g. 600).
e2e_mode() { stat -c '%a' "$1"; }

e2e_assert_eq() {
    local expected=$1 actual=$2 what=$3
    [[ $expected == "$actual" ]] || e2e_fail "$what: expected '$expected', got '$actual'"
}
