#!/usr/bin/env bash
# Runs every network-namespace end-to-end scenario, each in its own process with its own namespaces and
# a time limit, then prints a summary whose last line is exactly "N passed, N failed" (CI reads it).
# Exit status: 0 when all passed (or the suite was skipped visibly), 1 otherwise.
#
# usage: run-all.sh [SCENARIO...]      (as root; default: every scenario below)
# Scenarios: those of seed.sh (wg-quick + wireguard-go); `device:NAME` for device.sh NAME (wiremeshd);
# `wiremeshd:NAME` for seed.sh NAME brought up by wg-quick with WG_QUICK_USERSPACE_IMPLEMENTATION=wiremeshd;
# `apply:IMPL` for apply.sh IMPL (live reconfiguration with `wiremesh apply`; IMPL wireguard-go, wiremeshd or
# boringtun-cli, the last when boringtun-cli is on PATH: required under WIREMESH_E2E_REQUIRED=1).
# `device-nooffload:NAME` for device.sh NAME with WIREMESH_OFFLOAD=off (no TUN vnet_hdr/TSO, no UDP GSO/GRO:
# the one-packet-per-syscall fallback), every device.sh scenario; `wiremeshd-nooffload:NAME` the same for
# `wiremeshd:NAME`. `device-nohelpers:NAME` for device.sh NAME with WIREMESH_HELPER_THREADS=off
# (each reader makes its own system calls).
# `status:NAME` for status.sh NAME (wireguard-go) and `status-wiremeshd:NAME` for the same with wiremeshd.
# `failover:NAME` for failover.sh NAME (the agent) on wireguard-go, `failover-wiremeshd:NAME` on wiremeshd.
# The wiremeshd scenarios run when wiremeshd is on PATH (or WIREMESHD is set); under
# WIREMESH_E2E_REQUIRED=1 a missing wiremeshd is a failure.
# Environment: see lib.sh; also E2E_SCENARIO_TIMEOUT (seconds per scenario, default 180).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/netns/lib.sh
source "$here/lib.sh"
E2E_SCENARIO="run-all"

e2e_preflight   # a visible SKIPPED (or an error under WIREMESH_E2E_REQUIRED=1) when this machine cannot
E2E_RUN=$(e2e_new_run_token)
export E2E_RUN
export WIREMESH=$E2E_WIREMESH
timeout_s=${E2E_SCENARIO_TIMEOUT:-180}

if (($#)); then
    scenarios=("$@")
else
    mapfile -t scenarios < <(bash "$here/seed.sh" --list)
    scenarios+=(apply:wireguard-go)
    mapfile -t -O "${#scenarios[@]}" scenarios < <(bash "$here/status.sh" --list | sed 's/^/status:/')
    mapfile -t -O "${#scenarios[@]}" scenarios < <(bash "$here/failover.sh" --list | sed 's/^/failover:/')
    if command -v "${WIREMESHD:-wiremeshd}" >/dev/null 2>&1; then
        mapfile -t -O "${#scenarios[@]}" scenarios < <(bash "$here/device.sh" --list | sed 's/^/device:/')
        scenarios+=(wiremeshd:full-mesh wiremeshd:hub-and-spoke wiremeshd:hub-and-spoke-psk apply:wiremeshd)
        # Every wiremeshd scenario again with offloads forced off: the fallback path must carry all of it.
        mapfile -t -O "${#scenarios[@]}" scenarios < <(bash "$here/device.sh" --list | sed 's/^/device-nooffload:/')
        scenarios+=(wiremeshd-nooffload:full-mesh wiremeshd-nooffload:hub-and-spoke wiremeshd-nooffload:hub-and-spoke-psk)
        scenarios+=(device-nohelpers:pair)
        mapfile -t -O "${#scenarios[@]}" scenarios < <(bash "$here/status.sh" --list | sed 's/^/status-wiremeshd:/')
        mapfile -t -O "${#scenarios[@]}" scenarios < <(bash "$here/failover.sh" --list | sed 's/^/failover-wiremeshd:/')
    elif [[ ${WIREMESH_E2E_REQUIRED:-0} == 1 ]]; then
        echo "ERROR: wiremeshd is not on PATH (WIREMESH_E2E_REQUIRED=1: its scenarios must run)" >&2
        exit 1
    else
        echo "SKIPPED (wiremeshd scenarios): wiremeshd is not on PATH"
    fi
    if command -v boringtun-cli >/dev/null 2>&1; then
        scenarios+=(apply:boringtun-cli)
    elif [[ ${WIREMESH_E2E_REQUIRED:-0} == 1 ]]; then
        echo "ERROR: boringtun-cli is not on PATH (WIREMESH_E2E_REQUIRED=1: apply:boringtun-cli must run)" >&2
        exit 1
    else
        echo "SKIPPED (apply:boringtun-cli): boringtun-cli is not on PATH (cargo install boringtun-cli)"
    fi
fi

child=""
on_signal() {
    local sig=$1
    e2e_log "caught SIG$sig: stopping the running scenario"
    [[ -z $child ]] || kill -TERM "$child" 2>/dev/null || true
    [[ -z $child ]] || wait "$child" 2>/dev/null || true
    e2e_sweep_run "$E2E_RUN"
    exit 130
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'e2e_sweep_run "$E2E_RUN"' EXIT

e2e_log "wiremesh: $WIREMESH ($("$WIREMESH" --version 2>/dev/null || echo 'version unknown'))"
e2e_log "wireguard-go: $(wireguard-go --version 2>/dev/null | head -n 1); wg-quick: $(command -v wg-quick)"
e2e_log "run $E2E_RUN: ${#scenarios[@]} scenario(s): ${scenarios[*]}"

passed=0
failed=0
results=()
suite_start=$SECONDS
for scenario in "${scenarios[@]}"; do
    e2e_log "=== $scenario ==="
    start=$SECONDS
    # In the background so that a signal to this script can stop it; timeout bounds it (then KILL).
    case $scenario in
        device:*) timeout -k 10 "$timeout_s" bash "$here/device.sh" "${scenario#device:}" & ;;
        apply:*) timeout -k 10 "$timeout_s" bash "$here/apply.sh" "${scenario#apply:}" & ;;
        device-nooffload:*) WIREMESH_OFFLOAD=off timeout -k 10 "$timeout_s" bash "$here/device.sh" "${scenario#device-nooffload:}" & ;;
        device-nohelpers:*) WIREMESH_HELPER_THREADS=off timeout -k 10 "$timeout_s" bash "$here/device.sh" "${scenario#device-nohelpers:}" & ;;
        wiremeshd-nooffload:*) WIREMESH_OFFLOAD=off E2E_WG_IMPL=wiremeshd timeout -k 10 "$timeout_s" bash "$here/seed.sh" "${scenario#wiremeshd-nooffload:}" & ;;
        wiremeshd:*) E2E_WG_IMPL=wiremeshd timeout -k 10 "$timeout_s" bash "$here/seed.sh" "${scenario#wiremeshd:}" & ;;
        status:*) timeout -k 10 "$timeout_s" bash "$here/status.sh" "${scenario#status:}" & ;;
        status-wiremeshd:*) E2E_WG_IMPL=wiremeshd timeout -k 10 "$timeout_s" bash "$here/status.sh" "${scenario#status-wiremeshd:}" & ;;
        failover:*) timeout -k 10 "$timeout_s" bash "$here/failover.sh" "${scenario#failover:}" wireguard-go & ;;
        failover-wiremeshd:*) timeout -k 10 "$timeout_s" bash "$here/failover.sh" "${scenario#failover-wiremeshd:}" wiremeshd & ;;
        *) timeout -k 10 "$timeout_s" bash "$here/seed.sh" "$scenario" & ;;
    esac
    child=$!
    rc=0
    wait "$child" || rc=$?
    child=""
    took=$((SECONDS - start))
    e2e_sweep_run "$E2E_RUN"   # a backstop: a scenario cleans up after itself unless it was killed
    if ((rc == 0)); then
        passed=$((passed + 1))
        results+=("$(printf 'PASS  %-28s %4ss' "$scenario" "$took")")
    else
        failed=$((failed + 1))
        why="exit $rc"
        ((rc == 124 || rc == 137)) && why="timed out after ${timeout_s}s"
        results+=("$(printf 'FAIL  %-28s %4ss  (%s)' "$scenario" "$took" "$why")")
    fi
done

echo
echo "netns end-to-end results (run $E2E_RUN, $((SECONDS - suite_start))s):"
printf '  %s\n' "${results[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
