#!/usr/bin/env bash
# Cargo runner: qemu-run.sh <qemu-system-…> <machine options...> <elf> [test arguments]
# Boots the ELF with semihosting; arguments after the ELF (cargo passes test filters and flags
# through) are not for QEMU and are dropped.
# Exit status: the program's (0 or 1), 124 on a hang (AMPHI_QEMU_TIMEOUT seconds, default 60).
set -euo pipefail
program="$1"
shift
root="${AMPHI_QEMU_ROOT:-${AMPHI_CI_CACHE:-$HOME/.cache/amphi-ci}/qemu}"
if [ -x "$root/usr/bin/$program" ]; then
    export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    qemu=("$root/usr/bin/$program" -L "$root/usr/share/qemu")
elif command -v "$program" >/dev/null; then
    qemu=("$program")
else
    echo "$program not found: run .ci/embedded.sh once, or set AMPHI_QEMU_ROOT" >&2
    exit 127
fi
# The options up to the first argument that is a file: the ELF.
args=()
while [ "$#" -gt 0 ] && [ ! -f "$1" ]; do
    args+=("$1")
    shift
done
[ "$#" -gt 0 ] || { echo "qemu-run.sh: no ELF among the arguments" >&2; exit 2; }
elf="$1"
exec timeout "${AMPHI_QEMU_TIMEOUT:-60}" "${qemu[@]}" "${args[@]}" -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf"
