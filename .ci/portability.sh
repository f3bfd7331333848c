#!/usr/bin/env bash
# Where the crate's users build: the std crate (all targets: lib, tests, examples, benches) for
# Windows, macOS, FreeBSD and Android; the no_std core for Cortex-M, RISC-V and WebAssembly;
# every feature at once (clippy; `.ci/run` runs the tests with every feature); the no_std docs and the no_std entry point's doctest; the MSRV; and the
# package as crates.io would take it. Standalone and idempotent; `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0

MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
STD_TARGETS=(x86_64-pc-windows-msvc aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-freebsd aarch64-linux-android)
CORE_TARGETS=(thumbv7em-none-eabihf riscv32imac-unknown-none-elf wasm32-unknown-unknown)

started=$SECONDS
passed=0
failed=0
failures=()
# Runs one check, counting it; a failure is reported and counted, and the script goes on.
check() {
    local name=$1
    shift
    printf '\n=== %s (%ss)\n' "$name" "$((SECONDS - started))"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "portability: FAILED: $name"
    fi
}

rustup target add "${STD_TARGETS[@]}" "${CORE_TARGETS[@]}" thumbv6m-none-eabi >/dev/null 2>&1 \
    || rustup target add "${STD_TARGETS[@]}" "${CORE_TARGETS[@]}" thumbv6m-none-eabi
if ! rustup run "$MSRV" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$MSRV" --profile minimal
fi

# Checks only (no linker for these targets here); warnings are errors, as on the host.
for target in "${STD_TARGETS[@]}"; do
    check "check --all-targets $target" env RUSTFLAGS="-D warnings" \
        cargo check --all-targets --target "$target" --target-dir target/portability
done
for target in "${CORE_TARGETS[@]}"; do
    check "no_std core $target" env RUSTFLAGS="-D warnings" \
        cargo build --no-default-features --features alloc --target "$target" --target-dir target/portability
done
check "no_std core thumbv6m-none-eabi (portable-atomic)" env RUSTFLAGS="-D warnings" \
    cargo build --no-default-features --features alloc,portable-atomic,critical-section \
    --target thumbv6m-none-eabi --target-dir target/portability

# A target without compare-and-swap that forgot `portable-atomic` gets this crate's own message.
no_cas_message() {
    local out
    out=$(RUSTFLAGS="--cfg portable_atomic_unsafe_assume_single_core" \
        cargo build --no-default-features --features alloc --target thumbv6m-none-eabi \
        --target-dir target/portability-no-cas 2>&1) && return 1
    grep -q "this target has no compare-and-swap: enable amphi's \`portable-atomic\` feature" <<<"$out"
}
check "no compare-and-swap without portable-atomic: amphi's compile_error" no_cas_message

check "clippy --all-features --all-targets" cargo clippy --all-features --all-targets -- -D warnings
check "no_std docs, -D warnings" env RUSTDOCFLAGS="-D warnings" \
    cargo doc --no-deps --no-default-features --features alloc --target-dir target/portability
check "no_std doctest of set_idle_hook" \
    cargo test --doc --no-default-features --features alloc --target-dir target/portability set_idle_hook
check "MSRV $MSRV: std and no_std builds" bash -c "
    cargo +$MSRV build --target-dir target/msrv &&
    cargo +$MSRV build --no-default-features --features alloc --target-dir target/msrv"
check "cargo package (with its verify build)" cargo package --allow-dirty --target-dir target/package
check "cargo publish --dry-run" cargo publish --dry-run --allow-dirty --target-dir target/package

printf '\n=== done (%ss)\n' "$((SECONDS - started))"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "portability: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
