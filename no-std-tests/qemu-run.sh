#!/usr/bin/env bash
# Cargo runner: qemu-run.sh <qemu machine options...> <elf> — boots the ELF with semihosting.
# Exit status: the program's (0 or 1), 124 on a hang (AMPHI_QEMU_TIMEOUT seconds, default 60).
set -euo pipefail
root="${AMPHI_QEMU_ROOT:-${AMPHI_CI_CACHE:-$HOME/.cache/amphi-ci}/qemu}"
if [ -x "$root/usr/bin/qemu-system-arm" ]; then
    export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    qemu=("$root/usr/bin/qemu-system-arm" -L "$root/usr/share/qemu")
elif command -v qemu-system-arm >/dev/null; then
    qemu=(qemu-system-arm)
else
    echo "qemu-system-arm not found: run .ci/embedded.sh once, or set AMPHI_QEMU_ROOT" >&2
    exit 127
fi
args=("$@")
elf="${args[-1]}"
unset 'args[-1]'
exec timeout "${AMPHI_QEMU_TIMEOUT:-60}" "${qemu[@]}" "${args[@]}" -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf"
