//! `Timer`: deadlines are kept (never early, rarely late), intervals, resets, and clean drops.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use amphi::{LocalExecutor, Timer, block_on};
use futures_lite::{StreamExt, future};

/// The lateness measurement runs alone (write); the other tests may run together (read). With
/// another test's thread waiting on timers of the same reactor, that thread drives it half the
/// time and hands every wake-up across threads; the bar is for the reactor on its own.
static ALONE: RwLock<()> = RwLock::new(());

fn together() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(|e| e.into_inner())
}

/// Every test must end; a hang fails here instead of stalling the run.
fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    block_on(future::or(async { Some(f.await) }, async {
        Timer::after(limit).await;
        None
    }))
    .expect("test timed out")
}

#[test]
fn after_never_fires_early() {
    let _together = together();
    for ms in [0, 1, 5, 20] {
        let start = Instant::now();
        let deadline = block_on(Timer::after(Duration::from_millis(ms)));
        // Its deadline is after `start` by construction; the clock is what can be early.
        let now = Instant::now();
        assert!(now >= deadline, "{ms} ms timer fired before its deadline");
        assert!(now >= start + Duration::from_millis(ms), "{ms} ms timer fired early");
    }
}

#[test]
fn at_returns_its_instant() {
    let _together = together();
    let when = Instant::now() + Duration::from_millis(15);
    assert_eq!(block_on(Timer::at(when)), when);
    assert!(Instant::now() >= when);
}

#[test]
fn interval_ticks_at_each_period() {
    let _together = together();
    let start = Instant::now();
    let period = Duration::from_millis(5);
    let ticks: Vec<Instant> =
        bounded(Duration::from_secs(10), Timer::interval_at(start, period).take(5).collect());
    for (i, tick) in ticks.iter().enumerate() {
        assert_eq!(*tick, start + period * i as u32);
    }
    assert!(Instant::now() >= start + period * 4);
    // Taken before the interval, which starts at its own creation: taken after, a slow start
    // (emulated boards) made the two periods look short.
    let begin = Instant::now();
    let mut t = Timer::interval(period);
    bounded(Duration::from_secs(10), async {
        t.next().await;
        t.next().await;
    });
    assert!(begin.elapsed() >= period * 2);
    assert!(t.will_fire());
}

#[test]
fn never_does_not_fire() {
    let _together = together();
    let out = bounded(
        Duration::from_secs(10),
        future::or(
            async {
                Timer::never().await;
                "never"
            },
            async {
                Timer::after(Duration::from_millis(20)).await;
                "after"
            },
        ),
    );
    assert_eq!(out, "after");
    assert!(!Timer::never().will_fire());
    assert!(!Timer::after(Duration::MAX).will_fire());
}

#[test]
fn resets_keep_the_waiting_task() {
    let _together = together();
    // The task polls a far timer once, then the timer is moved closer from elsewhere.
    let ex = LocalExecutor::new();
    let timer = Rc::new(RefCell::new(Timer::after(Duration::from_secs(3600))));
    let t2 = timer.clone();
    let task = ex
        .spawn(async move { future::poll_fn(|cx| std::pin::Pin::new(&mut *t2.borrow_mut()).poll(cx)).await });
    assert!(ex.try_tick(), "the task ran once");
    assert!(!task.is_finished(), "and waits on its far timer");
    let start = Instant::now();
    timer.borrow_mut().set_after(Duration::from_millis(10));
    let fired = bounded(Duration::from_secs(10), ex.run(task));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(10), "the moved timer fired after {waited:?}");
    assert!(Instant::now() >= fired, "before its new deadline");

    let mut t = Timer::never();
    let when = Instant::now() + Duration::from_millis(5);
    t.set_at(when);
    assert_eq!(bounded(Duration::from_secs(10), &mut t), when);
    assert!(!t.will_fire());

    t.set_interval(Duration::from_millis(2));
    let first = bounded(Duration::from_secs(10), t.next()).unwrap();
    let second = bounded(Duration::from_secs(10), t.next()).unwrap();
    assert_eq!(second, first + Duration::from_millis(2));
    t.clear();
    assert!(!t.will_fire());
}

use std::future::Future as _;

#[test]
fn a_timer_polled_by_another_waker_wakes_that_one() {
    let _together = together();
    // Polled first with a waker that wakes nothing, then awaited: the wake-up goes to the waker
    // of the last poll, not to the first.
    let mut timer = Timer::after(Duration::from_millis(20));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(std::pin::Pin::new(&mut timer).poll(&mut cx).is_pending());
    let debug = format!("{timer:?}");
    assert!(debug.starts_with("Timer { when: Some(") && debug.contains("period"), "{debug}");
    let start = Instant::now();
    let fired = bounded(Duration::from_secs(10), &mut timer);
    assert!(start.elapsed() < Duration::from_secs(5), "woken after {:?}", start.elapsed());
    assert!(Instant::now() >= fired);
}

#[test]
fn dropping_a_waiting_timer_deregisters_it() {
    let _together = together();
    let ex = LocalExecutor::new();
    let task = ex.spawn(Timer::after(Duration::from_secs(3600)));
    ex.try_tick();
    drop(task);
    // The executor and the reactor are left with nothing; this returns at once.
    bounded(Duration::from_secs(10), ex.run(async {}));
    let many: Vec<Timer> = (0..1000).map(|i| Timer::after(Duration::from_secs(100 + i))).collect();
    let mut many = many;
    bounded(
        Duration::from_secs(10),
        future::poll_fn(|cx| {
            for t in &mut many {
                assert!(std::pin::Pin::new(t).poll(cx).is_pending());
            }
            std::task::Poll::Ready(())
        }),
    );
    drop(many);
    assert!(block_on(Timer::after(Duration::from_millis(1))) <= Instant::now());
}

/// Arms 10,000 timers of 1–10 ms on one thread; returns each one's lateness, sorted.
fn ten_thousand_timers() -> Vec<Duration> {
    const N: u64 = 10_000;
    let ex = LocalExecutor::new();
    let lateness = Rc::new(RefCell::new(Vec::with_capacity(N as usize)));
    let mut tasks = Vec::new();
    for i in 0..N {
        // 1–10 ms, spread evenly.
        let delay = Duration::from_micros(1000 + (i * 7919) % 9001);
        let lateness = lateness.clone();
        tasks.push(ex.spawn(async move {
            let armed = Instant::now();
            let when = Timer::after(delay).await;
            let now = Instant::now();
            assert!(now >= armed + delay && now >= when, "timer fired early");
            lateness.borrow_mut().push(now - when);
        }));
    }
    bounded(
        Duration::from_secs(30),
        ex.run(async {
            for t in tasks {
                t.await;
            }
        }),
    );
    let mut lateness = Rc::try_unwrap(lateness).unwrap().into_inner();
    assert_eq!(lateness.len(), N as usize, "every timer fired");
    lateness.sort();
    lateness
}

/// How long the calling thread has waited so far, runnable, for a CPU (the scheduler's
/// `run_delay`), where the OS tells.
fn waited_for_a_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = stat.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[test]
fn ten_thousand_timers_fire_on_time() {
    let _alone = ALONE.write().unwrap_or_else(|e| e.into_inner());
    // A run lasts ~10 ms on the thread that runs the tasks and drives the reactor. The late runs
    // this test used to retry blindly are runs in which that thread waited for a CPU: on this
    // 2-core machine with four busy loops and valgrind beside it, 20 runs waited 6-33 ms each for
    // a CPU (the scheduler's `run_delay`), with medians of 1.1-15 ms and worst timers of
    // 4.6-22 ms; with two busy loops or one core busy, 32 runs waited 9-315 us, with medians of
    // 0.69-0.92 us, p99 0.72-1.63 ms, worst 1.31-2.38 ms. So a run whose thread waited over 1 ms
    // for a CPU is the machine's: reported and run again. The first that did not must meet the
    // bars: those figures with their margin (about x2 on the p99 and the worst; the median's bar
    // is the reactor's promise, a fraction of a millisecond). Where the OS does not tell the
    // wait, every run is held to the bars.
    for attempt in 1..=5 {
        let before = waited_for_a_cpu();
        let lateness = ten_thousand_timers();
        let waited = waited_for_a_cpu().zip(before).map(|(after, before)| after - before);
        let median = lateness[lateness.len() / 2];
        let p99 = lateness[lateness.len() * 99 / 100];
        let worst = *lateness.last().unwrap();
        println!(
            "10k timers (1-10 ms), run {attempt}: median lateness {median:?}, p99 {p99:?}, worst {worst:?}, \
             waited {waited:?} for a CPU"
        );
        // 10,000 wake-ups and polls in ~9 ms saturate one thread of an unoptimised build, so the
        // lateness bar is about the reactor only where the executor is optimised too.
        if cfg!(debug_assertions) {
            println!("(unoptimised build: the bars are checked by `cargo test --release`)");
            return;
        }
        if waited.is_some_and(|w| w > Duration::from_millis(1)) {
            continue;
        }
        assert!(
            median < Duration::from_micros(500),
            "median lateness {median:?}, the thread waiting {waited:?} for a CPU"
        );
        assert!(
            p99 < Duration::from_micros(3500),
            "p99 lateness {p99:?}, the thread waiting {waited:?} for a CPU"
        );
        assert!(
            worst < Duration::from_micros(5000),
            "a timer {worst:?} late, the thread waiting {waited:?} for a CPU"
        );
        return;
    }
    panic!(
        "the timers' thread waited over 1 ms for a CPU in five runs of five: too busy a machine to measure them"
    );
}

/// Timers of a few milliseconds and a fraction, one at a time; returns each one's lateness,
/// sorted.
/// A timer registered on another thread while the driver waits for a later one interrupts that
/// wait: it fires on time, not when the driver's wait for the later timer ends.
#[test]
fn an_earlier_timer_from_another_thread_cuts_the_driver_s_wait_short() {
    let _alone = ALONE.write().unwrap_or_else(|e| e.into_inner());
    let other = std::thread::spawn(|| {
        // By now this test's thread drives the reactor, waiting for its 600 ms timer.
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        block_on(Timer::after(Duration::from_millis(20)));
        start.elapsed()
    });
    block_on(Timer::after(Duration::from_millis(600)));
    let took = other.join().unwrap();
    assert!(took >= Duration::from_millis(20), "{took:?}");
    assert!(took < Duration::from_millis(300), "the 20 ms timer waited for the 600 ms wait: {took:?}");
}

fn lone_timers() -> Vec<Duration> {
    let mut lateness: Vec<Duration> = (0..30u64)
        .map(|i| {
            let delay = Duration::from_micros(1000 * (1 + i % 3) + 200);
            let when = bounded(Duration::from_secs(10), Timer::after(delay));
            Instant::now() - when
        })
        .collect();
    lateness.sort();
    lateness
}

/// A timer is kept to a fraction of a millisecond, though the reactor's wait on Linux counts
/// whole milliseconds: a wait cut up to whole milliseconds, rounded up, would make each of these
/// 0.8 ms late.
#[test]
fn a_lone_timer_fires_within_a_fraction_of_a_millisecond() {
    let _alone = ALONE.write().unwrap_or_else(|e| e.into_inner());
    // As above: a run that a busy machine made late is repeated, at most twice.
    for attempt in 1..=3 {
        let lateness = lone_timers();
        let median = lateness[lateness.len() / 2];
        println!("30 lone timers of 1.2-3.2 ms, run {attempt}: median lateness {median:?}");
        // Windows' waits count milliseconds (and its timer ticks may be coarser): the bar is for
        // the platforms with a finer timer.
        if !cfg!(any(target_os = "linux", target_os = "android", target_os = "macos")) {
            return;
        }
        if median < Duration::from_micros(500) {
            return;
        }
    }
    panic!("median lateness of lone timers over 0.5 ms in three runs");
}

/// A thread waiting for a timer sleeps in the poller: a wait cut to whole milliseconds that
/// came out as zero, or any other wait that returns at once, would turn the 300 ms into a busy
/// loop that the lateness tests cannot see.
#[cfg(unix)]
#[test]
fn a_thread_waiting_for_a_timer_sleeps() {
    let _alone = ALONE.write().unwrap_or_else(|e| e.into_inner());
    let before = common::thread_cpu_time();
    bounded(Duration::from_secs(10), Timer::after(Duration::from_millis(300)));
    let used = common::thread_cpu_time() - before;
    println!("a 300 ms timer wait used {used:?} of this thread's CPU");
    assert!(used < Duration::from_millis(100), "the wait spun: {used:?} of CPU in 300 ms");

    // Waits under a millisecond sleep too, but for their last 50 µs (`SHORT_WAIT`). Measured
    // against their wall time, which an instrumented build (ThreadSanitizer) stretches too: a
    // spinning wait uses all of it.
    let (before, start) = (common::thread_cpu_time(), Instant::now());
    for _ in 0..50 {
        bounded(Duration::from_secs(10), Timer::after(Duration::from_micros(900)));
    }
    let (used, wall) = (common::thread_cpu_time() - before, start.elapsed());
    println!("50 timer waits of 900 µs used {used:?} of this thread's CPU in {wall:?}");
    assert!(used.as_secs_f64() < 0.6 * wall.as_secs_f64(), "the waits spun: {used:?} of CPU in {wall:?}");
}

/// A thread woken while it waits in the poller for its timer (its own future woken from another
/// thread, twice) sleeps again afterwards: each interruption is read back, so that it ends one
/// wait, not every wait after it, and the next interruption is sent again. Measured on a second
/// run, so that an emulator's first translation of the code is not counted.
#[cfg(unix)]
#[test]
fn a_thread_interrupted_while_it_waits_for_a_timer_sleeps_again() {
    let _alone = ALONE.write().unwrap_or_else(|e| e.into_inner());
    for run in ["warm-up", "measured"] {
        // Steps done by the other thread, and the waker of the future waiting for them.
        let steps: std::sync::Arc<std::sync::Mutex<(usize, Option<std::task::Waker>)>> = Default::default();
        let (before, start) = (common::thread_cpu_time(), Instant::now());
        let interrupter = {
            let steps = steps.clone();
            std::thread::spawn(move || {
                for _ in 0..2 {
                    std::thread::sleep(Duration::from_millis(50));
                    let mut s = steps.lock().unwrap();
                    s.0 += 1;
                    if let Some(w) = s.1.take() {
                        w.wake();
                    }
                }
            })
        };
        bounded(Duration::from_secs(10), async {
            let timer = Timer::after(Duration::from_millis(300));
            for step in 1..=2 {
                future::poll_fn(|cx| {
                    let mut s = steps.lock().unwrap();
                    if s.0 >= step {
                        return std::task::Poll::Ready(());
                    }
                    s.1 = Some(cx.waker().clone());
                    std::task::Poll::Pending
                })
                .await;
            }
            timer.await
        });
        let (used, wall) = (common::thread_cpu_time() - before, start.elapsed());
        interrupter.join().unwrap();
        println!(
            "{run}: a 300 ms timer wait interrupted twice used {used:?} of this thread's CPU in {wall:?}"
        );
        assert!(wall >= Duration::from_millis(300), "the timer fired early: {wall:?}");
        if run == "measured" {
            assert!(
                used < Duration::from_millis(100),
                "the wait spun after an interruption: {used:?} of CPU"
            );
        }
    }
}
