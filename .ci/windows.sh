#!/usr/bin/env bash
# The std test suite (unit tests, integration tests, and the examples, which are built as tests:
# `test = true` in Cargo.toml) built for x86_64-pc-windows-gnu and run under Wine. Installs what it
# needs, idempotently; runs from any directory.
#
# Ends with one line, `windows: N passed, M failed`: the sum over the test binaries, where a binary
# that died before printing its result counts as one failure. Exits non-zero if M > 0 or cargo
# failed (a build error, say).
#
# The doctests are built and run for the target too (cargo uses the runner for them): the
# examples must work on Windows, not only compile.
#
# Environment: CARGO_TARGET_DIR (the build goes to its `windows/` subfolder; default
# `target/windows` in the repository), WINEPREFIX (default ~/.wine).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${CARGO_TARGET_DIR:-$repo/target}
case $base in /*) ;; *) base=$PWD/$base ;; esac
cd "$repo"

target=x86_64-pc-windows-gnu
export CARGO_TARGET_DIR="$base/windows"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
# Wine's own diagnostics stay out of the test output; no display is needed.
export WINEDEBUG=-all
export WINEPREFIX="${WINEPREFIX:-$HOME/.wine}"
unset DISPLAY WAYLAND_DISPLAY

started=$SECONDS
step() { printf '\n=== windows: %s (%ss)\n' "$*" "$((SECONDS - started))"; }

step "tools"
if command -v apt-get >/dev/null; then
    missing=()
    for pkg in wine wine64 gcc-mingw-w64-x86-64; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
    fi
fi
for tool in wine wineboot wineserver x86_64-w64-mingw32-gcc; do
    command -v "$tool" >/dev/null || { echo "windows: $tool is missing and cannot be installed here" >&2; exit 1; }
done
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

step "Wine prefix $WINEPREFIX"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    # Creates the prefix, without Wine's .NET and HTML engines (which it would download), and
    # complains about a missing 32-bit Wine, which nothing here needs.
    WINEDLLOVERRIDES="mscoree,mshtml=" wineboot -i </dev/null >/dev/null 2>&1 || true
    wineserver -w
    [ -f "$WINEPREFIX/system.reg" ] || { echo "windows: wineboot did not create $WINEPREFIX" >&2; exit 1; }
fi

# Rust's std imports ProcessPrng from bcryptprimitives.dll, which Wine 8 lacks: without a stand-in
# every test binary fails to load. A Wine that has the DLL (its builtins carry the marker below)
# keeps its own.
step "bcryptprimitives.dll"
shim_src="$repo/.ci/bcryptprimitives.c"
shim="$CARGO_TARGET_DIR/wine/bcryptprimitives.dll"
installed="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ -f "$installed" ] && grep -qa 'Wine builtin DLL' "$installed"; then
    echo "Wine has its own"
else
    if [ ! -f "$shim" ] || [ "$shim_src" -nt "$shim" ]; then
        mkdir -p "$(dirname "$shim")"
        x86_64-w64-mingw32-gcc -shared -O2 -Wall -Wextra -Werror -o "$shim" "$shim_src" -ladvapi32
    fi
    cmp -s "$shim" "$installed" || cp "$shim" "$installed"
fi

# One Wine session for the whole run. Without it each test binary starts a wineserver of its own,
# which exits 3 s after its last client: a binary starting in that moment loses its connection
# ("wine client error:0: recvmsg: Connection reset by peer") and dies before its first test. The
# session's services (services.exe, winedevice.exe, ...) outlive the program that starts them and
# keep its output open, so they are started here by a program writing to /dev/null: started by a
# test binary, they would hold the pipe to tee open after cargo ends.
step "Wine session"
# A session left running in this prefix (a run killed before its end, or one started by hand) is
# ended first: `wineserver -p` fails while another server runs.
wineserver -k </dev/null >/dev/null 2>&1 || true
wineserver -w </dev/null >/dev/null 2>&1 || true
wineserver -p </dev/null >/dev/null 2>&1
wine cmd.exe /c exit </dev/null >/dev/null 2>&1
echo "wineserver stays until this script ends"

step "cargo test --target $target (under Wine)"
log=$(mktemp)
trap 'wineserver -k >/dev/null 2>&1 || true; rm -f "$log" "$log.sum"' EXIT
set +e
cargo test --target "$target" --all-features --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
wineserver -k >/dev/null 2>&1 || true

# Per binary: `Running <name>` (or `Doc-tests <name>`) opens it and its `test result:` lines
# count, but not those in the captured output of a failed test (from `---- <test> stdout ----` to
# the next `failures:`), which may be a child process's; a binary with no result line died.
sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
    function close_open() {
        if (open == "") return
        if (results == 0) { printf "  %s: died before its result\n", open; failed += 1 }
        else printf "  %s: %d passed, %d failed, %d ignored\n", open, n, m, k
        open = ""
    }
    /^ *(Running|Doc-tests) / {
        close_open(); open = $0; sub(/^ *(Running )?/, "", open); sub(/ \(.*\)$/, "", open)
        results = 0; n = 0; m = 0; k = 0; captured = 0
    }
    /^---- .* stdout ----$/ { captured = 1 }
    /^failures:$/ { captured = 0 }
    open != "" && !captured && /^test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed; [0-9]+ ignored;/ {
        line = $0; sub(/^test result: [A-Za-z]*\. /, "", line); split(line, f, /; /)
        results += 1; n += f[1]; m += f[2]; k += f[3]
        passed += f[1]; failed += f[2]; ignored += f[3]
    }
    END { close_open(); printf "%d %d %d\n", passed, failed, ignored > "/dev/stderr" }
' 2>"$log.sum"
read -r passed failed ignored <"$log.sum"
step "done: $ignored ignored, cargo exit status $status"
echo "windows: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
