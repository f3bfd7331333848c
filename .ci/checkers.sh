#!/usr/bin/env bash
# Concurrency and memory checkers: Miri on the no_std core's tests, ThreadSanitizer on the std
# test suite, and a leak check with valgrind. Standalone and idempotent; `.ci/run` calls it.
# Measured on a shared 2-core machine, cold: Miri 1 min, TSan 6 min, valgrind 4 min (11 min).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never
export CARGO_INCREMENTAL=0

started=$SECONDS
step() { printf '\n=== %s (%ss)\n' "$*" "$((SECONDS - started))"; }
host=x86_64-unknown-linux-gnu

step "nightly components"
# An installed nightly is kept as it is: `toolchain install` would update it, and with extra
# targets installed may walk back through many nightlies looking for one that has them all.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
rustup +nightly component add miri rust-src >/dev/null 2>&1 || rustup +nightly component add miri rust-src

# The test binaries' own harness output ends in "test result: ..."; the suites below that are not
# plain cargo test output print their own "N passed, M failed" line.
failed_suites=0

step "miri: tests/core.rs on the no_std core"
# Strict provenance: no integer-to-pointer casts. Miri cannot run the reactor (no sockets,
# timerfd), so it checks the core's build: executor, tasks, Dual, block_on's no_std parker.
MIRIFLAGS="-Zmiri-strict-provenance" CARGO_TARGET_DIR=target/miri \
    cargo +nightly miri test --no-default-features --features alloc --test core \
    || failed_suites=$((failed_suites + 1))

step "thread sanitizer: the std test suite and the examples"
# std is rebuilt instrumented (-Zbuild-std), or its atomics and locks would be invisible to TSan.
# With the `hyper` feature, so that the examples (user scenarios over HTTP, each a test that runs
# its `main`) and tests/hyper.rs run too; `service_layer` needs the `tokio` feature and real
# servers, and runs in the plain suites. Excluded, with why:
# - stress: 64 threads x 10,000 calls and a million tasks are 5-15x slower instrumented (minutes);
#   the same interleavings run in the smaller tests here (drop, spawn, nesting, faults, core).
# - faults `without_worker_threads_...`: the child runs with RLIMIT_NPROC=1, and the TSan runtime
#   starts a background thread of its own, which then fails to start.
# - doctests: compiled one binary each (hundreds of std-instrumented links) for little gain.
# - shutdown's `sigterm_lets_in_flight_work_finish_and_cancels_the_rest`: TSan holds an
#   asynchronous signal back until the thread's next call it intercepts, and the reactor waits in
#   `epoll_wait` through a raw system call (rustix), which it does not see: the SIGTERM the test
#   sends is never handled while the process waits (the child is killed after 12 s). The signal
#   path runs in every plain suite. `examples/hash_tree.rs`'s Ctrl-C test is skipped for the same
#   reason (its program, interrupted, runs to the end).
# - fork: its forked children start threads, which the TSan runtime refuses after a fork of a
#   multithreaded process (`die_after_fork`: it cannot keep its own state consistent there).
tsan_tests=()
for f in tests/*.rs; do
    name=$(basename "$f" .rs)
    case "$name" in
        stress | loom | fork) ;;
        *) tsan_tests+=(--test "$name") ;;
    esac
done
RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    cargo +nightly test -Zbuild-std --target "$host" --features hyper --lib "${tsan_tests[@]}" --examples -- \
    --skip without_worker_threads_tasks_still_complete_in_block_on \
    --skip sigterm_lets_in_flight_work_finish_and_cancels_the_rest \
    --skip ctrl_c_stops_it_and_kills_its_child \
    || failed_suites=$((failed_suites + 1))

step "valgrind: no definite leak in the test binaries"
# Leaks that matter are cycles (queue -> task -> schedule closure -> executor state) that a
# missing drain leaves behind: valgrind reports them as definitely lost. One test thread, so
# valgrind's serialised scheduler is not starved. Every test binary of the std suite runs (with
# the `hyper` feature, as under TSan), except, with why:
# - stress: 64 threads x 10,000 calls and a million tasks, hours under valgrind;
# - tokio, servers: the `tokio` feature's, every case a child process (below);
# - loom: empty outside `cfg(loom)`.
# And these tests, in the binaries that run:
# - the child-process tests' children re-exec the binary outside valgrind (`--trace-children`
#   would take them in, with the timing bounds the children assert, which valgrind's one
#   thread at a time breaks): under valgrind runs the parent, which only starts the child and
#   reads its output, and two such parents (`without_worker_threads_*`,
#   `a_destructor_that_panics_on_a_global_task_*`) are skipped outright; the children run in
#   every plain suite;
# - `executor_runs_on_several_threads` (core): valgrind runs one thread at a time, so all the
#   work may run on one runner;
# - `a_runner_blocked_in_a_task_delays_io_by_milliseconds_at_most` (io): a 20 ms bound on a
#   hand-over between threads, which valgrind's serialised threads took to 42 ms; its twin
#   without the bound runs.
# - `a_thread_waiting_for_a_timer_sleeps`, `a_thread_interrupted_while_it_waits_for_a_timer_sleeps_again`
#   (timer) and `a_wait_sleeps_while_the_child_runs` (process): they bound the CPU time a waiting thread uses, and under valgrind every wake-up
#   and system call costs CPU of its own (56 ms of 92 measured); both run in every plain suite;
# - `a_missing_program_is_an_error` (process): under valgrind the spawn of a missing program
#   reports no error (as under qemu-user, `.ci/embedded.sh`).
if ! command -v valgrind >/dev/null; then
    if command -v apt-get >/dev/null; then
        apt-get install -y --no-install-recommends valgrind >/dev/null
    fi
fi
valgrind_tests=()
for f in tests/*.rs; do
    name=$(basename "$f" .rs)
    case "$name" in
        stress | tokio | servers | loom) ;;
        *) valgrind_tests+=("$name") ;;
    esac
done
CARGO_TARGET_DIR=target/valgrind cargo test --no-run --features hyper \
    $(printf -- '--test %s ' "${valgrind_tests[@]}") 2>&1 | tee target/valgrind-build.log >/dev/null
passed=0
failed=0
for name in "${valgrind_tests[@]}"; do
    bin=$(grep -o "target/valgrind/debug/deps/${name}-[0-9a-f]*" target/valgrind-build.log | head -n1)
    if valgrind --quiet --suppressions=.ci/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --error-exitcode=99 "./$bin" --test-threads=1 --skip without_worker_threads \
        --skip a_destructor_that_panics_on_a_global_task --skip executor_runs_on_several_threads \
        --skip a_runner_blocked_in_a_task_delays_io_by_milliseconds_at_most \
        --skip a_thread_waiting_for_a_timer_sleeps --skip a_thread_interrupted_while_it_waits_for_a_timer_sleeps_again \
        --skip a_wait_sleeps_while_the_child_runs \
        --skip a_missing_program_is_an_error \
        >"target/valgrind-$name.log" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "valgrind: $name failed; see target/valgrind-$name.log:"
        tail -n 40 "target/valgrind-$name.log"
    fi
done
echo "valgrind: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
    failed_suites=$((failed_suites + 1))
fi

step "done"
echo "checkers: $((3 - failed_suites)) passed, $failed_suites failed"
[ "$failed_suites" -eq 0 ]
