# shellcheck shell=bash
# Helpers shared by the namespace benchmarks (dataplane.sh, peers.sh, rtt-pair.sh); sourced, not run.
# They expect the caller's `die MESSAGE`.

# The wiremeshd under test: $WIREMESHD, else `cargo build --release --features device --bin wiremeshd`
# in repository $1 (honouring CARGO_TARGET_DIR). Prints its path; dies when it cannot be had.
bench_wiremeshd() {
  local root=$1 target
  if [[ -n ${WIREMESHD:-} ]]; then
    [[ -x $WIREMESHD ]] || die "wiremeshd not executable: $WIREMESHD"
    echo "$WIREMESHD"
    return
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo not found: needed to build wiremeshd (or set WIREMESHD=PATH)"
  echo "building wiremeshd (cargo build --release --features device --bin wiremeshd) ..." >&2
  timeout 3600 cargo build --quiet --release --features device --bin wiremeshd --manifest-path "$root/Cargo.toml" >&2 \
    || die "building wiremeshd failed"
  target=${CARGO_TARGET_DIR:-$root/target}
  [[ $target == /* ]] || target=$root/$target
  [[ -x $target/release/wiremeshd ]] || die "wiremeshd not executable: $target/release/wiremeshd"
  echo "$target/release/wiremeshd"
}

# Stops the processes running inside namespace $1 (by pid): TERM, up to 3 s, then KILL.
bench_kill_ns_procs() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n $pids ]] || return 0
  # shellcheck disable=SC2086  # one pid per word
  kill $pids 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -9 $pids 2>/dev/null || true
}
