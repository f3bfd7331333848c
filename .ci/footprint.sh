#!/usr/bin/env bash
# Measures and prints amphi's footprint:
# - flash/RAM (text, data, bss) of a minimal Cortex-M program with two tasks (no-std-tests'
#   `two-tasks`), on Cortex-M4F and Cortex-M0;
# - the stripped size and thread count of a std hello-world (block_on + spawn + a timer), built
#   with opt-level "z", LTO, panic = "abort", next to the same program on smol and on Tokio
#   (current-thread and multi-thread), in a throwaway project under the target folder.
# Sizes are informative; it fails only if a build fails or if a program that uses nothing but
# amphi's `block_on` runs more than one thread.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_BASE="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_BASE" in /*) ;; *) TARGET_BASE="$ROOT/$TARGET_BASE" ;; esac
PROJ="$TARGET_BASE/footprint"

rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi >/dev/null 2>&1 \
    || rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi
command -v size >/dev/null || { apt-get update -qq && apt-get install -y -qq binutils; }

echo "=== Cortex-M: two tasks on an Executor, block_on with the WFI idle hook (release, opt-level z, LTO)"
printf '%-24s %8s %8s %8s %10s %10s\n' target text data bss flash RAM
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    (cd "$ROOT/no-std-tests" && CARGO_TARGET_DIR="$TARGET_BASE/no-std" \
        cargo build -q --release --bin two-tasks --target "$target")
    elf="$TARGET_BASE/no-std/$target/release/two-tasks"
    read -r text data bss < <(size "$elf" | awk 'NR == 2 { print $1, $2, $3 }')
    printf '%-24s %8d %8d %8d %10d %10d\n' "$target" "$text" "$data" "$bss" \
        $((text + data)) $((data + bss))
done
heap="$(grep -o 'HEAP_SIZE: usize = [0-9* ]*' "$ROOT/no-std-tests/src/lib.rs" | sed 's/.*= //')"
echo "(bss includes the test boards' heap of $((heap)) bytes; the stack takes the rest of RAM)"

# The std programs. Each prints the number of threads it runs, read from /proc/self/task while
# its runtime is still up.
if grep -q "pub use crate::timer" "$ROOT/src/lib.rs"; then
    have_timer=1
    amphi_sleep='amphi::Timer::after(Duration::from_millis(10)).await;'
    timer_note="with a 10 ms timer"
else
    have_timer=0
    amphi_sleep='amphi::yield_now().await;'
    timer_note="amphi has no Timer yet: its programs yield instead of sleeping"
fi

mkdir -p "$PROJ/src/bin"
cat > "$PROJ/Cargo.toml" <<TOML
[package]
name = "footprint"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
amphi = { path = "$ROOT" }
smol = "2"
tokio = { version = "1", features = ["rt", "rt-multi-thread", "time"] }

[profile.release]
opt-level = "z"
lto = true
codegen-units = 1
panic = "abort"
strip = true
TOML

common='
#[allow(unused_imports)]
use std::time::Duration;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}
'
cat > "$PROJ/src/bin/amphi.rs" <<RS
$common
fn main() {
    let (out, n) = amphi::block_on(async {
        let task = amphi::spawn(async { 6 * 7 });
        $amphi_sleep
        (task.await, threads())
    });
    println!("hello {out}");
    println!("threads {n}");
}
RS
cat > "$PROJ/src/bin/amphi-block-on.rs" <<RS
$common
fn main() {
    let (out, n) = amphi::block_on(async {
        $amphi_sleep
        (6 * 7, threads())
    });
    println!("hello {out}");
    println!("threads {n}");
}
RS
cat > "$PROJ/src/bin/smol.rs" <<RS
$common
fn main() {
    let (out, n) = smol::block_on(async {
        let task = smol::spawn(async { 6 * 7 });
        smol::Timer::after(Duration::from_millis(10)).await;
        (task.await, threads())
    });
    println!("hello {out}");
    println!("threads {n}");
}
RS
for flavor in current_thread multi_thread; do
    cat > "$PROJ/src/bin/tokio-$flavor.rs" <<RS
$common
fn main() {
    let rt = tokio::runtime::Builder::new_$flavor().enable_time().build().unwrap();
    let (out, n) = rt.block_on(async {
        let task = tokio::spawn(async { 6 * 7 });
        tokio::time::sleep(Duration::from_millis(10)).await;
        (task.await.unwrap(), threads())
    });
    println!("hello {out}");
    println!("threads {n}");
}
RS
done

echo
echo "=== std hello-world: block_on + spawn + timer, stripped (opt-level z, LTO, panic=abort, codegen-units=1)"
echo "($timer_note; built in $PROJ)"
CARGO_TARGET_DIR="$PROJ/target" cargo build -q --release --manifest-path "$PROJ/Cargo.toml"
bin="$PROJ/target/release"
amphi_size="$(stat -c %s "$bin/amphi")"
printf '%-24s %10s %8s %12s\n' program bytes KiB "vs amphi"
status=0
for prog in amphi amphi-block-on smol tokio-current_thread tokio-multi_thread; do
    out="$("$bin/$prog")"
    grep -q '^hello 42$' <<<"$out" || { echo "$prog printed: $out" >&2; status=1; }
    threads="$(sed -n 's/^threads //p' <<<"$out")"
    bytes="$(stat -c %s "$bin/$prog")"
    awk -v p="$prog" -v b="$bytes" -v a="$amphi_size" -v t="$threads" \
        'BEGIN { printf "%-24s %10d %8.1f %11.2fx   threads: %s\n", p, b, b / 1024, b / a, t }'
    if [ "$prog" = amphi-block-on ] && [ "$threads" != 1 ]; then
        echo "FAIL: a program that only calls amphi::block_on runs $threads threads (want 1)" >&2
        status=1
    fi
done
echo "(amphi-block-on: block_on only, no spawn$([ "$have_timer" = 1 ] && echo ", with the timer"))"
exit "$status"
