//! Interrupts against the executor: the board's timer (SysTick, or the RISC-V machine timer)
//! wakes a task while `block_on` idles in `WFI` (with the interrupt landing anywhere, including
//! between the idle hook's check and its `WFI`), and an interrupt handler spawns tasks onto a
//! `static` executor.
//!
//! Spawning from an interrupt handler is allowed for [`Executor`]: its lock is a critical section
//! and the heap (embedded-alloc) is interrupt-safe. A `LocalExecutor` cannot be reached from a
//! handler at all: it is neither `Send` nor `Sync`, so it cannot live in a `static` (compile-time
//! refusal).

#![no_std]
#![no_main]

extern crate alloc;

use core::cell::Cell;

use amphi::{Executor, block_on, yield_now};
use amphi_no_std_tests::{
    IDLE_CALLS, Outcome, Rng, Signal, Suite, WFI_COUNT, ensure, entry, inject_before_wfi, timer,
};
use critical_section::Mutex;
use portable_atomic::Ordering;

/// What the timer's handler does when it fires.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Off,
    /// Stop the timer (one shot) and raise `WAKE`.
    WakeOnce,
    /// Spawn a task onto `EX`; stop after `SPAWNS` of them.
    Spawn,
}

static MODE: Mutex<Cell<Mode>> = Mutex::new(Cell::new(Mode::Off));
static WAKE: Signal = Signal::new();
static SPAWNED: Signal = Signal::new();
static RAN: Signal = Signal::new();
const SPAWNS: u32 = 40;

/// Spawned onto from the timer's handler; run by `main`.
static EX: Executor<'static> = Executor::new();

amphi_no_std_tests::on_timer! {
    match critical_section::with(|cs| MODE.borrow(cs).get()) {
        Mode::Off => {}
        Mode::WakeOnce => {
            // With a short period the timer may fire again before it is stopped: the mode
            // switch makes that second interrupt a no-op.
            critical_section::with(|cs| MODE.borrow(cs).set(Mode::Off));
            timer::stop();
            WAKE.raise();
        }
        Mode::Spawn => {
            let n = SPAWNED.count();
            if n < SPAWNS {
                EX.spawn(async move {
                    // A task born in an interrupt that also gets rescheduled once.
                    yield_now().await;
                    RAN.raise();
                })
                .detach();
                SPAWNED.raise();
            }
            if n + 1 >= SPAWNS {
                timer::stop();
            }
        }
    }
}

/// Starts the timer: one interrupt after `counts` timer counts (core cycles on Cortex-M, `mtime`
/// at 10 MHz on RISC-V), repeating every `counts`.
fn arm(mode: Mode, counts: u32) {
    critical_section::with(|cs| MODE.borrow(cs).set(mode));
    timer::start(counts);
}

fn stop() {
    critical_section::with(|cs| MODE.borrow(cs).set(Mode::Off));
    timer::stop();
}

#[entry]
fn main() -> ! {
    amphi_no_std_tests::install_idle_hook();
    let mut suite = Suite::new("interrupt");
    suite.case("timer_wakes_block_on", timer_wakes_block_on);
    suite.case("timer_wakes_task_on_executor", timer_wakes_task_on_executor);
    suite.case("wake_between_check_and_wfi", wake_between_check_and_wfi);
    suite.case("wake_at_random_points", wake_at_random_points);
    suite.case_keeps_memory("spawn_from_interrupt", spawn_from_interrupt);
    suite.case("spawn_from_interrupt_frees_tasks", spawn_from_interrupt_frees_tasks);
    suite.finish()
}

fn timer_wakes_block_on() -> Outcome {
    WAKE.reset();
    let (calls, wfis) = (IDLE_CALLS.load(Ordering::Relaxed), WFI_COUNT.load(Ordering::Relaxed));
    // About 8 ms (mps2-an386: 25 MHz), 20 ms on RISC-V: long enough that `block_on` must idle
    // before it fires.
    arm(Mode::WakeOnce, 200_000);
    let n = block_on(WAKE.wait_for(1));
    stop();
    let calls = IDLE_CALLS.load(Ordering::Relaxed) - calls;
    let wfis = WFI_COUNT.load(Ordering::Relaxed) - wfis;
    ensure!(n == 1, "count {}", n);
    ensure!(wfis >= 1, "block_on never executed WFI");
    // Idling, not spinning: each WFI ends on an interrupt, and there is only one.
    ensure!(calls <= 3, "idle hook entered {} times for one interrupt", calls);
    Ok(())
}

fn timer_wakes_task_on_executor() -> Outcome {
    WAKE.reset();
    let ex = Executor::new();
    let task = ex.spawn(async {
        // Armed from inside the task, so the emulator's time spent on spawning does not count.
        arm(Mode::WakeOnce, 200_000);
        let n = WAKE.wait_for(1).await;
        n * 10
    });
    let wfis = WFI_COUNT.load(Ordering::Relaxed);
    let out = block_on(ex.run(task));
    stop();
    ensure!(out == 10, "task output {}", out);
    ensure!(WFI_COUNT.load(Ordering::Relaxed) > wfis, "the executor never executed WFI");
    Ok(())
}

fn wake_between_check_and_wfi() -> Outcome {
    // The interrupt is made pending inside the idle hook's masked section, after `woken()` said
    // no and before `WFI`: the worst moment. With the timer stopped nothing else could wake the
    // board, so a missed wake-up would hang here (and the runner's timeout would fail the suite).
    for round in 0..20u32 {
        WAKE.reset();
        critical_section::with(|cs| MODE.borrow(cs).set(Mode::WakeOnce));
        inject_before_wfi(1);
        let n = block_on(WAKE.wait_for(1));
        ensure!(n == 1, "round {}: count {}", round, n);
    }
    inject_before_wfi(0);
    stop();
    Ok(())
}

fn wake_at_random_points() -> Outcome {
    // One-shot interrupts at varying delays land before, during and after the idle check.
    let mut rng = Rng::new(0x1234_5678);
    let ex = Executor::new();
    for round in 0..200u32 {
        WAKE.reset();
        let task = ex.spawn(async { WAKE.wait_for(1).await });
        arm(Mode::WakeOnce, rng.range(100, 5_000));
        let n = block_on(ex.run(task));
        stop();
        ensure!(n == 1, "round {}: count {}", round, n);
    }
    Ok(())
}

fn spawn_from_interrupt() -> Outcome {
    SPAWNED.reset();
    RAN.reset();
    arm(Mode::Spawn, 20_000);
    let ran = block_on(EX.run(RAN.wait_for(SPAWNS)));
    stop();
    ensure!(SPAWNED.count() == SPAWNS, "spawned {}", SPAWNED.count());
    ensure!(ran == SPAWNS, "ran {}", ran);
    while EX.try_tick() {}
    ensure!(EX.is_empty(), "interrupt-spawned tasks left on the executor");
    Ok(())
}

fn spawn_from_interrupt_frees_tasks() -> Outcome {
    // `EX`'s own state stays allocated (it is a `static`); the tasks must not.
    SPAWNED.reset();
    RAN.reset();
    arm(Mode::Spawn, 20_000);
    let ran = block_on(EX.run(RAN.wait_for(SPAWNS)));
    stop();
    while EX.try_tick() {}
    ensure!(ran == SPAWNS, "ran {}", ran);
    ensure!(EX.is_empty(), "tasks left");
    Ok(())
}
