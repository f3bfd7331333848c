#!/usr/bin/env bash
# Measures and prints amphi's footprint:
# - flash and RAM of the same two-task program (no-std-tests/footprint: one task woken by the
#   timer interrupt, one by the other) built on amphi and on embassy-executor (its own platform
#   executor and integrated timer queue, with an embassy time driver over the same hardware alarm),
#   for Cortex-M4F, Cortex-M0 and RISC-V (riscv32imac), at opt-level "z" and "s", with LTO.
#   Flash is text + rodata (the vector table and unwind tables included); RAM is data + bss + the
#   heap's peak use (amphi allocates its executor and tasks; its heap arena is left out of bss).
#   Each program is run on its emulated board when the emulator is there (as .ci/embedded.sh
#   unpacks it), which also measures the peak heap;
# - the stripped size and thread count of a std hello-world (block_on + spawn + a timer), built
#   with opt-level "z", LTO, panic = "abort", next to the same program on smol and on Tokio
#   (current-thread and multi-thread), in a throwaway project under the target folder.
# Sizes are informative; it fails only if a build fails, if a program run on its board fails, or
# if a program that uses nothing but amphi's `block_on` runs more than one thread.
#
# Usage: .ci/footprint.sh [no_std|std|all]   (default: all)
set -euo pipefail
WHAT="${1:-all}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_BASE="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_BASE" in /*) ;; *) TARGET_BASE="$ROOT/$TARGET_BASE" ;; esac
PROJ="$TARGET_BASE/footprint"
MCU=(thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imac-unknown-none-elf)

rustup target add "${MCU[@]}" >/dev/null 2>&1 || rustup target add "${MCU[@]}"
command -v size >/dev/null || { apt-get update -qq && apt-get install -y -qq binutils; }

status=0
FP="$ROOT/no-std-tests/footprint"
FP_TARGET="$TARGET_BASE/no-std-footprint"
QEMU_ROOT="${AMPHI_QEMU_ROOT:-${AMPHI_CI_CACHE:-$HOME/.cache/amphi-ci}/qemu}"

# The runner of no-std-tests/.cargo/config.toml for $1, without the ELF.
runner() {
    case "$1" in
        thumbv7em-*) echo "qemu-system-arm -cpu cortex-m4 -machine mps2-an386" ;;
        thumbv6m-*) echo "qemu-system-arm -cpu cortex-m0 -machine lm3s6965evb" ;;
        riscv32*) echo "qemu-system-riscv32 -machine virt -bios none" ;;
    esac
}

have_emulator() {
    local bin
    bin="$(runner "$1" | cut -d' ' -f1)"
    [ -x "$QEMU_ROOT/usr/bin/$bin" ] || command -v "$bin" >/dev/null
}

# Runs ELF $2 on the board of target $1; prints its output; fails if the program did.
run_on_board() {
    # shellcheck disable=SC2046
    (cd "$ROOT/no-std-tests" && AMPHI_QEMU_ROOT="$QEMU_ROOT" AMPHI_QEMU_TIMEOUT=30 \
        ./qemu-run.sh $(runner "$1") "$2")
}

# Prints "flash data bss" of ELF $1, bss without amphi's heap arena.
sections() {
    local arena hex
    hex="$(nm -S "$1" | awk '/amphi_time4init6MEMORY/ { print $2 }')"
    arena=$((16#${hex:-0}))
    size -A "$1" | awk -v arena="$arena" '
        $1 ~ /^\.(vector_table|text|init|rodata|eh_frame|gnu\.sgstubs)/ { flash += $2 }
        $1 == ".data" { data += $2 }
        $1 ~ /^\.(bss|uninit)/ { bss += $2 }
        END { printf "%d %d %d\n", flash, data, bss - arena }'
}

if [ "$WHAT" != std ]; then
echo "=== no_std: two tasks, one woken by a timer interrupt, one by the other (LTO, codegen-units=1, panic=abort)"
echo "(built in $FP_TARGET; flash = text + rodata, RAM = data + bss + peak heap)"
printf '%-30s %3s %-8s %8s %6s %6s %6s %8s %6s\n' target opt program flash data bss heap RAM ran
for target in "${MCU[@]}"; do
    for profile in release release-s; do
        opt=z; [ "$profile" = release-s ] && opt=s
        for prog in amphi embassy; do
            (cd "$FP" && CARGO_TARGET_DIR="$FP_TARGET" \
                cargo build -q --profile "$profile" --features "$prog" --bin "$prog" --target "$target")
            elf="$FP_TARGET/$target/$profile/$prog"
            read -r flash data bss < <(sections "$elf")
            heap=0 ran=no
            if have_emulator "$target"; then
                if run_on_board "$target" "$elf" >/dev/null 2>&1; then ran=ok; else ran=FAILED; status=1; fi
                if [ "$prog" = amphi ]; then
                    # The same program, printing the heap's peak use at its end (in place of the
                    # one measured above, which the next run relinks).
                    (cd "$FP" && CARGO_TARGET_DIR="$FP_TARGET" cargo build -q --profile "$profile" \
                        --features amphi,report --bin amphi --target "$target")
                    heap="$(run_on_board "$target" "$elf" 2>/dev/null | sed -n 's/^peak heap //p')"
                    [ -n "$heap" ] || { heap="?"; status=1; }
                fi
            elif [ "$prog" = amphi ]; then
                heap="?"
            fi
            ram="?"
            [ "$heap" = "?" ] || ram=$((data + bss + heap))
            printf '%-30s %3s %-8s %8d %6d %6d %6s %8s %6s\n' "$target" "$opt" "$prog" "$flash" "$data" "$bss" \
                "$heap" "$ram" "$ran"
        done
    done
done
[ "$status" = 0 ] || echo "FAIL: a program did not run to its end on its board" >&2
if ! have_emulator thumbv7em-none-eabihf || ! have_emulator riscv32imac-unknown-none-elf; then
    echo "(not run on the boards, and amphi's peak heap not measured: no emulator; .ci/embedded.sh boards unpacks them)"
fi
fi
[ "$WHAT" != no_std ] || exit "$status"

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
