#!/usr/bin/env bash
# wiremesh's test command: `bash scripts/test.sh` from anywhere in the repository.
#
# Runs, in order: the formatting check (cargo fmt --check), unit/integration tests and benches in test
# mode (cargo test --all-targets), doc tests,
# the release CLI build, the seed example, the Python and Node binding suites when present, and the
# network-namespace end-to-end suite against real WireGuard (wg-quick + wireguard-go; needs root).
# A step that fails does not stop independent later steps; the summary at the end lists every step,
# and the exit status is non-zero if any step failed.
#
# As root on Debian/Ubuntu it installs what the tests need when something is missing (wireguard-tools
# wireguard-go iperf3 iputils-ping iproute2 procps nftables curl prometheus shellcheck). Without root, or
# without the tools, the root/WireGuard tests and the shell lint print a visible SKIPPED -- unless
# WIREMESH_E2E_REQUIRED=1 (CI), which turns every skip into a failure.
#
# Environment: CARGO_TARGET_DIR (default: ./target), WIREMESH_E2E_REQUIRED, CARGO (default: cargo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
cargo=${CARGO:-cargo}
target_dir=${CARGO_TARGET_DIR:-$root/target}
required=${WIREMESH_E2E_REQUIRED:-0}
is_root=0
[[ $(id -u) -eq 0 ]] && is_root=1

steps=()     # "STATUS|name|seconds|note"
any_failed=0
suite_start=$SECONDS

if [[ -t 1 ]]; then
    say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
    say() { printf '\n==> %s\n' "$*"; }
fi

record() { # STATUS NAME SECONDS [NOTE]
    steps+=("$1|$2|$3|${4:-}")
    [[ $1 != FAIL ]] || any_failed=1
}

summary() {
    local rc=$? line status name secs note
    set +e
    echo
    echo "==================== wiremesh test summary ===================="
    for line in "${steps[@]}"; do
        IFS='|' read -r status name secs note <<<"$line"
        printf '  %-5s %-44s %5ss  %s\n' "$status" "$name" "$secs" "$note"
    done
    if ((rc != 0 && any_failed == 0)); then
        printf '  %-5s %-44s\n' FAIL "scripts/test.sh itself (exit $rc)"
        any_failed=1
    fi
    echo "  total $((SECONDS - suite_start))s"
    if ((any_failed)); then
        echo "RESULT: FAILED"
    else
        echo "RESULT: PASSED"
    fi
    echo "==============================================================="
    ((any_failed == 0)) || exit 1
}
trap summary EXIT

# step NAME CMD [ARG...]: runs CMD, records PASS/FAIL with its duration; never aborts the script.
step() {
    local name=$1 start=$SECONDS rc=0
    shift
    say "$name"
    "$@" || rc=$?
    if ((rc == 0)); then
        record PASS "$name" $((SECONDS - start))
    else
        record FAIL "$name" $((SECONDS - start)) "exit $rc"
        echo "!! step failed: $name (exit $rc)" >&2
    fi
    return 0
}

# skip NAME REASON [FATAL]: a visible skip; with FATAL=1 a failure instead under WIREMESH_E2E_REQUIRED=1.
skip() {
    local name=$1 reason=$2 fatal=${3:-0}
    if ((fatal)) && [[ $required == 1 ]]; then
        say "$name"
        echo "ERROR: $reason (WIREMESH_E2E_REQUIRED=1 forbids skipping)" >&2
        record FAIL "$name" 0 "$reason"
    else
        say "$name"
        echo "SKIPPED: $reason"
        record SKIP "$name" 0 "$reason"
    fi
}

# ---- 0. system packages ------------------------------------------------------------------------------
# wg-quick runs relays' PostUp `sysctl`; the suite uses `ss` (iproute2) to wait for iperf3; the status
# scenarios use curl and promtool (package prometheus: its metrics linter checks /metrics).
e2e_commands=(wg wg-quick wireguard-go iperf3 ping ip ss sysctl nft python3 curl promtool shellcheck)
missing_commands() {
    local c
    for c in "${e2e_commands[@]}"; do command -v "$c" >/dev/null 2>&1 || echo "$c"; done
}
install_packages() {
    export DEBIAN_FRONTEND=noninteractive
    # --no-install-recommends: wireguard-tools recommends a kernel module package we neither need nor want.
    timeout 900 apt-get update -q &&
        timeout 900 apt-get install -y -q --no-install-recommends \
            wireguard-tools wireguard-go iperf3 iputils-ping iproute2 procps nftables curl prometheus shellcheck
}
missing=$(missing_commands | tr '\n' ' ')
if [[ -z $missing ]]; then
    record PASS "system packages" 0 "all present"
elif ((is_root)) && command -v apt-get >/dev/null 2>&1; then
    echo "missing: $missing"
    step "system packages (apt-get install)" install_packages
    missing=$(missing_commands | tr '\n' ' ')
    [[ -z $missing ]] || record FAIL "system packages" 0 "still missing after apt-get: $missing"
else
    skip "system packages" "missing $missing and not root with apt-get: cannot install them" 1
fi

# ---- 1. cargo tests ----------------------------------------------------------------------------------
export WIREMESH_E2E_REQUIRED=$required
# Formatting (rustfmt.toml) of the core and both binding crates: a diff is a failure.
step "cargo fmt --check" "$cargo" fmt --all -- --check
step "cargo test --all-targets" "$cargo" test --all-targets
step "cargo test --doc" "$cargo" test --doc
# The data path (feature "device": boringtun, libc): its unit and property tests need no root.
step "cargo test --features device --lib" "$cargo" test --features device --lib

# ---- 2. the release CLI ---------------------------------------------------------------------------------
cli_built=0
build_cli() {
    "$cargo" build --release --features device --bin wiremesh --bin wiremeshd --example device_node \
        && [[ -x $target_dir/release/wiremesh && -x $target_dir/release/wiremeshd && -x $target_dir/release/examples/device_node ]]
}
step "cargo build --release --bin wiremesh --bin wiremeshd --example device_node" build_cli
[[ ${steps[-1]} == PASS* ]] && cli_built=1

# ---- 3. examples ----------------------------------------------------------------------------------------
# Every example is compiled by `cargo test --all-targets`; these run without arguments (others, such as
# phase_timing, need inputs and are for manual use).
runnable_examples=(seed)
for name in "${runnable_examples[@]}"; do
    if [[ -f examples/$name.rs ]]; then
        step "example $name" "$cargo" run --quiet --example "$name"
    else
        skip "example $name" "examples/$name.rs does not exist"
    fi
done

# ---- 4. binding suites (added with the bindings) ----------------------------------------------------------
for binding in bindings-python bindings-node; do
    if [[ -f $binding/run-tests.sh ]]; then
        step "$binding/run-tests.sh" env WIREMESH_BIN="$target_dir/release/wiremesh" bash "$binding/run-tests.sh"
    else
        skip "$binding" "$binding/run-tests.sh does not exist yet"
    fi
done

# ---- 5. shell scripts lint: every script in the repository (required in CI) ------------------------------
if command -v shellcheck >/dev/null 2>&1; then
    step "shellcheck" shellcheck -x scripts/test.sh tests/netns/*.sh .ci/run benches/*.sh bindings-*/run-tests.sh
else
    skip "shellcheck" "shellcheck not installed (apt-get install -y shellcheck)" 1
fi

# ---- 6. network-namespace end-to-end suite (root) --------------------------------------------------------
# boringtun-cli, a third UAPI program for `wiremesh apply` (apply:boringtun-cli): from PATH, else built once
# into the target directory (no distribution packages it).
boringtun_root="$target_dir/boringtun-cli"
install_boringtun_cli() {
    timeout 1800 "$cargo" install --quiet --locked boringtun-cli --version 0.7.1 --root "$boringtun_root"
}
if ((is_root)) && ! command -v boringtun-cli >/dev/null 2>&1 && [[ ! -x $boringtun_root/bin/boringtun-cli ]]; then
    step "boringtun-cli 0.7.1 (cargo install)" install_boringtun_cli
fi
netns_log=$(mktemp "${TMPDIR:-/tmp}/wiremesh-netns.XXXXXX")
run_netns() {
    PATH="$target_dir/release:$PATH:$boringtun_root/bin" WIREMESH="$target_dir/release/wiremesh" WIREMESHD="$target_dir/release/wiremeshd" \
        bash tests/netns/run-all.sh 2>&1 | tee "$netns_log"
}
if ((!is_root)); then
    skip "netns end-to-end" "not root: the network-namespace suite needs root (sudo bash scripts/test.sh)" 1
elif ((!cli_built)); then
    record FAIL "netns end-to-end" 0 "not run: the release CLI did not build"
else
    step "netns end-to-end (tests/netns/run-all.sh)" run_netns
    counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$netns_log" | tail -n 1 || true)
    reason=$(sed -n 's/^SKIPPED: //p' "$netns_log" | tail -n 1)
    if [[ -n $reason ]]; then
        steps[-1]="SKIP|netns end-to-end|0|$reason"
    elif [[ -n $counts ]]; then
        IFS='|' read -r status name secs _ <<<"${steps[-1]}"
        steps[-1]="$status|$name|$secs|$counts"
    fi
fi
rm -f "$netns_log"
