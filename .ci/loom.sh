#!/usr/bin/env bash
# Loom models of amphi's own protocols (tests/loom.rs, built by the loom-tests crate), then the
# deliberately broken sleep protocol, which loom must report as a deadlock. Release mode: loom
# explores many interleavings and a debug build is several times slower.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../loom-tests"
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../target}/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
cargo test --release --test loom

# The negative model aborts the process (loom's deadlock report), so it runs alone.
out=$(cargo test --release --test loom -- --ignored broken_sleep_protocol_is_caught 2>&1) && rc=0 || rc=$?
if [ "$rc" -ne 0 ] && grep -q "deadlock; threads" <<<"$out"; then
    echo "loom caught the broken sleep protocol: $(grep -m1 -o 'deadlock; threads.*' <<<"$out")"
    echo "loom-negative: 1 passed, 0 failed"
else
    echo "$out" | tail -20
    echo "loom did not catch the broken sleep protocol"
    echo "loom-negative: 0 passed, 1 failed"
    exit 1
fi
