//! `amphi::alarm` on the board: the board's time source (`clock`: SysTick ticks on Cortex-M, the
//! machine timer's `mtime`/`mtimecmp` on RISC-V; a tick is 0.8 ms on both) and timers that wake
//! tasks from the interrupt handler while the executor idles in `WFI`.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;

use amphi::alarm::{after, at, now};
use amphi::{Executor, LocalExecutor, block_on};
use amphi_no_std_tests::clock;
use amphi_no_std_tests::{IDLE_CALLS, Outcome, Rng, Suite, WFI_COUNT, ensure, entry};
use portable_atomic::Ordering;

amphi_no_std_tests::clock_interrupts!();

#[entry]
fn main() -> ! {
    amphi_no_std_tests::install_idle_hook();
    let mut suite = Suite::new("alarm");
    clock::start();
    warm_up();
    suite.case("time_advances", time_advances);
    suite.case("after_waits_its_ticks", after_waits_its_ticks);
    suite.case("past_deadline_is_ready", past_deadline_is_ready);
    suite.case("idles_while_sleeping", idles_while_sleeping);
    suite.case("timers_fire_in_deadline_order", timers_fire_in_deadline_order);
    suite.case("dropped_timer_does_not_block_others", dropped_timer_does_not_block_others);
    suite.case("many_timers", many_timers);
    suite.case("timer_in_send_task", timer_in_send_task);
    suite.finish()
}

/// Grows the timer registry (a `static` slab that keeps its capacity) to the most timers any case
/// holds at once, so that the per-case leak check sees only what a case fails to free.
fn warm_up() {
    let noop = core::task::Waker::noop();
    let mut cx = core::task::Context::from_waker(noop);
    let mut sleeps: Vec<_> = (0..64).map(|_| at(u64::MAX)).collect();
    for sleep in &mut sleeps {
        let _ = core::pin::Pin::new(sleep).poll(&mut cx);
    }
}

fn time_advances() -> Outcome {
    let start = now();
    let mut spins = 0u32;
    while now() < start + 3 {
        spins += 1;
        ensure!(spins < 50_000_000, "the clock is not running");
    }
    Ok(())
}

fn after_waits_its_ticks() -> Outcome {
    for ticks in [1u64, 2, 5, 10] {
        let start = now();
        let woke = block_on(after(ticks));
        ensure!(woke >= start + ticks, "after({}) from {} woke at {}", ticks, start, woke);
        ensure!(now() >= start + ticks, "after({}) returned early", ticks);
    }
    Ok(())
}

fn past_deadline_is_ready() -> Outcome {
    let t = now();
    let calls = IDLE_CALLS.load(Ordering::Relaxed);
    ensure!(block_on(at(t)) >= t, "deadline now");
    ensure!(block_on(at(0)) >= t, "deadline in the past");
    ensure!(IDLE_CALLS.load(Ordering::Relaxed) == calls, "a due timer made block_on idle");
    Ok(())
}

fn idles_while_sleeping() -> Outcome {
    let (calls, wfis) = (IDLE_CALLS.load(Ordering::Relaxed), WFI_COUNT.load(Ordering::Relaxed));
    let start = now();
    block_on(after(20));
    let elapsed = now() - start;
    let calls = IDLE_CALLS.load(Ordering::Relaxed) - calls;
    let wfis = WFI_COUNT.load(Ordering::Relaxed) - wfis;
    ensure!(wfis >= 1, "slept without WFI");
    // Every tick interrupt (if the clock ticks) ends a WFI; the timer adds one wake-up. More
    // means spinning.
    ensure!(calls <= elapsed as u32 + 3, "{} idle calls over {} ticks", calls, elapsed);
    Ok(())
}

fn timers_fire_in_deadline_order() -> Outcome {
    let local = LocalExecutor::new();
    let order = Rc::new(RefCell::new(Vec::new()));
    // Time stands still while the timers register, so none is due before all are waiting, however
    // slowly the emulator runs.
    clock::pause();
    let base = now();
    let mut tasks = Vec::new();
    // Registered out of order, so the alarm must be re-armed earlier more than once.
    for (id, delay) in [(0u32, 12u64), (1, 3), (2, 8), (3, 1), (4, 5)] {
        let order = order.clone();
        tasks.push(local.spawn(async move {
            let woke = at(base + delay).await;
            order.borrow_mut().push(id);
            woke >= base + delay
        }));
    }
    while local.try_tick() {}
    clock::resume();
    let all_late_enough = block_on(local.run(async {
        let mut ok = true;
        for t in tasks {
            ok &= t.await;
        }
        ok
    }));
    ensure!(all_late_enough, "a timer fired before its deadline");
    ensure!(*order.borrow() == [3, 1, 4, 2, 0], "order {:?}", order.borrow());
    Ok(())
}

fn dropped_timer_does_not_block_others() -> Outcome {
    use futures_lite_or::or;
    // The short timer wins; the long one is dropped while the alarm may be armed for it.
    let start = now();
    let winner = block_on(or(
        async {
            after(1_000).await;
            1u8
        },
        async {
            after(3).await;
            2u8
        },
    ));
    ensure!(winner == 2, "winner {}", winner);
    ensure!(now() < start + 1_000, "waited for the dropped timer");
    // An earlier timer dropped while armed: the alarm fires for nothing and must re-arm.
    let mut early = after(2);
    let polled_once = block_on(or(
        async {
            (&mut early).await;
            0u8
        },
        async { 1u8 },
    ));
    ensure!(polled_once == 1, "a 2-tick timer was ready at once");
    drop(early);
    let t = now();
    let woke = block_on(after(4));
    ensure!(woke >= t + 4, "after(4) from {} woke at {}", t, woke);
    Ok(())
}

fn many_timers() -> Outcome {
    let ex = Executor::new();
    let mut rng = Rng::new(0xdead_beef);
    let base = now();
    let tasks: Vec<_> = (0..60)
        .map(|_| {
            let deadline = base + u64::from(rng.range(1, 40));
            ex.spawn(async move { (deadline, at(deadline).await) })
        })
        .collect();
    let results = block_on(ex.run(async {
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await);
        }
        results
    }));
    for (deadline, woke) in results {
        ensure!(woke >= deadline, "deadline {} woke at {}", deadline, woke);
    }
    ensure!(ex.is_empty(), "tasks left");
    Ok(())
}

fn timer_in_send_task() -> Outcome {
    let ex = Executor::new();
    let task = ex.spawn(async {
        let mut total = 0;
        for _ in 0..5 {
            let t = now();
            total += after(2).await - t;
        }
        total
    });
    let total = block_on(ex.run(task));
    ensure!(total >= 10, "five sleeps of 2 ticks took {} ticks", total);
    Ok(())
}

/// `or` of two futures, first ready wins (no extra dependency for one combinator).
mod futures_lite_or {
    use core::future::Future;
    use core::pin::pin;
    use core::task::Poll;

    pub async fn or<T>(a: impl Future<Output = T>, b: impl Future<Output = T>) -> T {
        let (mut a, mut b) = (pin!(a), pin!(b));
        core::future::poll_fn(|cx| {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                return Poll::Ready(v);
            }
            b.as_mut().poll(cx)
        })
        .await
    }
}
