#!/usr/bin/env bash
# Runs the no_std core on emulated Cortex-M and RISC-V boards (qemu-system-arm,
# qemu-system-riscv32) and the std test suite on emulated small Linux boards (qemu-user, aarch64,
# armv7 and riscv64). Installs what it needs, idempotently.
#
# Usage: .ci/embedded.sh [boards|linux|all] [target...]   (default: all, every target)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHAT="${1:-all}"
shift || true
ONLY=("$@")
CACHE="${AMPHI_CI_CACHE:-$HOME/.cache/amphi-ci}"
QEMU_ROOT="$CACHE/qemu"
# Own target folders under the usual one, so these builds never wait on the host build's lock.
TARGET_BASE="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_BASE" in /*) ;; *) TARGET_BASE="$ROOT/$TARGET_BASE" ;; esac
BOARDS=(thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imac-unknown-none-elf riscv32imc-unknown-none-elf)
LINUX=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf riscv64gc-unknown-linux-gnu)
if [ "${#ONLY[@]}" -gt 0 ]; then
    keep() { local t o; for t in "$@"; do for o in "${ONLY[@]}"; do [ "$t" = "$o" ] && echo "$t"; done; done; }
    mapfile -t BOARDS < <(keep "${BOARDS[@]}")
    mapfile -t LINUX < <(keep "${LINUX[@]}")
    if [ "${#BOARDS[@]}" -eq 0 ] && [ "${#LINUX[@]}" -eq 0 ]; then
        echo "no such target: ${ONLY[*]}" >&2
        exit 2
    fi
fi
export AMPHI_QEMU_ROOT="$QEMU_ROOT"

log() { printf '\n=== %s\n' "$*"; }

need_apt_update=1
apt_install() {
    # Installs the Debian packages given that are not installed yet.
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$need_apt_update" = 1 ]; then apt-get update -qq; need_apt_update=0; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_rust_targets() {
    rustup target add "$@" >/dev/null 2>&1 || rustup target add "$@"
}

# qemu-system-arm and qemu-system-misc (qemu-system-riscv32) from Debian, unpacked into one
# cache folder instead of installed: installing them would remove the machine's newer qemu-utils
# (they conflict). Usage: install_qemu_system <Debian package> <binary it provides>.
install_qemu_system() {
    local pkg="$1" bin="$2"
    if [ -x "$QEMU_ROOT/usr/bin/$bin" ] && qemu_system "$bin" --version >/dev/null 2>&1; then
        return 0
    fi
    if [ "$need_apt_update" = 1 ]; then apt-get update -qq; need_apt_update=0; fi
    local tmp pkgs
    tmp="$(mktemp -d)"
    pkgs="$(apt-get install -s --no-install-recommends "$pkg" | awk '/^Inst /{print $2}')"
    [ -n "$pkgs" ] || pkgs="$pkg"
    chmod 755 "$tmp"
    # shellcheck disable=SC2086
    (cd "$tmp" && apt-get download -qq $pkgs)
    # Unpacked next to what is there already (the other emulator), then swapped in at once.
    rm -rf "$QEMU_ROOT.new"
    if [ -d "$QEMU_ROOT" ]; then cp -a "$QEMU_ROOT" "$QEMU_ROOT.new"; else mkdir -p "$QEMU_ROOT.new"; fi
    for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$QEMU_ROOT.new"; done
    rm -rf "$QEMU_ROOT" "$tmp"
    mv "$QEMU_ROOT.new" "$QEMU_ROOT"
    qemu_system "$bin" --version | head -1
}

qemu_system() {
    local bin="$1"
    shift
    LD_LIBRARY_PATH="$QEMU_ROOT/usr/lib/x86_64-linux-gnu:$QEMU_ROOT/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$QEMU_ROOT/usr/bin/$bin" -L "$QEMU_ROOT/usr/share/qemu" "$@"
}


# Sums the "N passed, M failed" lines of the board suites in $1; a suite that ended without one
# (hang, crash) counts as one failure.
board_counts() {
    awk '
        /^suite / { suites++ }
        /^[0-9]+ passed, [0-9]+ failed$/ { p += $1; f += $3; closed++ }
        END { printf "%d %d\n", p, f + (suites - closed) }
    ' "$1"
}

# Sums cargo test's "test result:" lines in $1.
cargo_counts() {
    awk '
        /^test result: / {
            for (i = 1; i <= NF; i++) {
                if ($(i) ~ /^passed;?$/) p += $(i - 1)
                if ($(i) ~ /^failed;?$/) f += $(i - 1)
            }
        }
        END { printf "%d %d\n", p, f }
    ' "$1"
}

status=0
total_p=0
total_f=0
summary=()

run_boards() {
    [ "${#BOARDS[@]}" -gt 0 ] || return 0
    install_rust_targets "${BOARDS[@]}"
    local target out rc p f qemu
    for target in "${BOARDS[@]}"; do
        case "$target" in
            thumb*) qemu=qemu-system-arm; install_qemu_system qemu-system-arm "$qemu" ;;
            riscv32*) qemu=qemu-system-riscv32; install_qemu_system qemu-system-misc "$qemu" ;;
        esac
        log "no_std suites on $target ($qemu)"
        out="$(mktemp)"
        rc=0
        (cd "$ROOT/no-std-tests" && CARGO_TARGET_DIR="$TARGET_BASE/no-std" \
            cargo test --no-fail-fast --target "$target") 2>&1 | tee "$out" || rc=$?
        read -r p f < <(board_counts "$out")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # failed to build or to start
        rm -f "$out"
        echo "$target: $p passed, $f failed"
        summary+=("$target: $p passed, $f failed")
        total_p=$((total_p + p)); total_f=$((total_f + f))
        [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] || status=1

        # Wakers called from an interrupt handler while thread mode pushes onto the same run
        # queue: the handler once spun for ever inside concurrent-queue's push.
        log "interrupt-time wake-ups racing thread-mode pushes on $target"
        out="$(cd "$ROOT/no-std-tests" && CARGO_TARGET_DIR="$TARGET_BASE/no-std" \
            cargo run --release --bin isr-push-race --target "$target" 2>&1)" && rc=0 || rc=$?
        echo "$out" | tail -3
        if [ "$rc" -eq 0 ] && grep -q "^no hang" <<<"$out"; then p=1; f=0; else p=0; f=1; status=1; fi
        echo "$target isr-push-race: $p passed, $f failed"
        summary+=("$target isr-push-race: $p passed, $f failed")
        total_p=$((total_p + p)); total_f=$((total_f + f))
    done
}

# Lets a process under qemu-user start a child from a foreign binary (the tests re-run their own
# executable with other environment variables): the kernel hands such binaries to qemu, as
# Debian's qemu-user-static sets up at boot where systemd-binfmt runs. Idempotent.
register_binfmt() {
    local dir=/proc/sys/fs/binfmt_misc arch
    [ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null || true
    for arch in aarch64 arm riscv64; do
        [ -e "$dir/qemu-$arch" ] && continue
        if ! { [ -w "$dir/register" ] && cat "/usr/lib/binfmt.d/qemu-$arch.conf" >"$dir/register"; } 2>/dev/null; then
            echo "warning: cannot register qemu-$arch with binfmt_misc; tests that start child processes will fail" >&2
        fi
    done
}

run_linux() {
    [ "${#LINUX[@]}" -gt 0 ] || return 0
    install_rust_targets "${LINUX[@]}"
    apt_install qemu-user-static gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf gcc-riscv64-linux-gnu \
        libc6-dev-arm64-cross libc6-dev-armhf-cross libc6-dev-riscv64-cross
    register_binfmt
    # AMPHI_QEMU_USER_SKIP: space-separated test name filters not to run under emulation (each one
    # printed, so a skip is never silent). By default, the tests emulation cannot run:
    # - a child started under RLIMIT_NPROC=1, where qemu-user itself cannot start its threads;
    # - a latency bound of a few milliseconds, which an emulated CPU misses by tens of them;
    # - the same in tests/foreign_block_on.rs, whose nine cases each require a wait late by under
    #   25 ms: under qemu-user they were late by 27 to 210 ms (aarch64 and riscv64, 2 cores);
    # - tests/timer.rs' lone timers, whose median lateness must stay under half a millisecond;
    # - tests/io.rs' read behind a blocked runner, which must be late by under 20 ms;
    # - tests/process.rs' fifty children spawned from the workers at once: under qemu-user a fork
    #   in a multithreaded process can deadlock the child before it execs (it hung for minutes);
    # - and its missing program: qemu-user runs the exec in the forked child and reports no
    #   error to `spawn` (the child just fails).
    local default_skip="without_worker_threads_tasks_still_complete_in_block_on sync_handlers_blocking_100ms_do_not_delay_async_handlers _block_on_a_ foreign_block_on_in_a_task a_lone_timer_fires_within_a_fraction_of_a_millisecond delays_io_by_milliseconds_at_most many_children_at_once a_missing_program_is_an_error"
    local skip_args=() name
    for name in ${AMPHI_QEMU_USER_SKIP-$default_skip}; do
        echo "skipping under qemu-user: $name"
        skip_args+=(--skip "$name")
    done
    local target out rc p f
    for target in "${LINUX[@]}"; do
        local triple var gnu qemu
        triple="$(echo "$target" | tr 'a-z-' 'A-Z_')"
        case "$target" in
            aarch64-*) gnu=aarch64-linux-gnu; qemu=qemu-aarch64-static ;;
            armv7-*) gnu=arm-linux-gnueabihf; qemu=qemu-arm-static ;;
            riscv64*) gnu=riscv64-linux-gnu; qemu=qemu-riscv64-static ;;
        esac
        log "std test suite on $target (qemu-user)"
        out="$(mktemp)"
        rc=0
        # `-E QEMU_LD_PREFIX` puts it in the guest's environment, so that the child processes a
        # test starts (through binfmt_misc) find the target's libraries too; `AMPHI_TEST_EMULATED`
        # tells a test that counts its threads' context switches that the emulator's own lock
        # waits are among them.
        (cd "$ROOT" && env "CARGO_TARGET_${triple}_LINKER=$gnu-gcc" \
            "CARGO_TARGET_${triple}_RUNNER=$qemu -L /usr/$gnu -E QEMU_LD_PREFIX=/usr/$gnu -E AMPHI_TEST_EMULATED=1" \
            CARGO_TARGET_DIR="$TARGET_BASE/cross" \
            cargo test --no-fail-fast --target "$target" -- "${skip_args[@]}") 2>&1 | tee "$out" || rc=$?
        read -r p f < <(cargo_counts "$out")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # failed to build, or a test binary crashed
        rm -f "$out"
        echo "$target: $p passed, $f failed"
        summary+=("$target: $p passed, $f failed")
        total_p=$((total_p + p)); total_f=$((total_f + f))
        [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] || status=1
    done
}

start=$SECONDS
case "$WHAT" in
    boards) run_boards ;;
    linux) run_linux ;;
    all) run_boards; run_linux ;;
    *) echo "usage: $0 [boards|linux|all] [target...]" >&2; exit 2 ;;
esac

log "emulated boards: summary ($((SECONDS - start)) s)"
for line in "${summary[@]}"; do echo "$line"; done
echo "embedded: $total_p passed, $total_f failed"
exit "$status"
