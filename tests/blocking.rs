//! `unblock`: results, panics, cancellation, queueing at the bound, and a pool that shrinks back.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use amphi::{Timer, block_on, unblock};
use common::{eventually, ran_in_child, threads_named};
use futures_lite::future;

const MAX: usize = 4;

/// Every test of this binary uses a pool of `MAX` threads.
fn setup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        amphi::Builder::new().max_blocking_threads(MAX).install().expect("first use of the runtime")
    });
}

/// Held by a test that keeps every pool thread busy at once: two such tests side by side would
/// each hold part of the pool and wait for the rest, which the other holds.
fn whole_pool() -> std::sync::MutexGuard<'static, ()> {
    static WHOLE_POOL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    WHOLE_POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    block_on(future::or(async { Some(f.await) }, async {
        Timer::after(Duration::from_secs(30)).await;
        None
    }))
    .expect("test timed out")
}

#[test]
fn returns_the_closure_result_from_a_named_thread() {
    setup();
    let name = bounded(unblock(|| std::thread::current().name().map(str::to_owned)));
    assert!(name.unwrap().starts_with("amphi-blocking-"));
    assert_eq!(bounded(unblock(|| 6 * 7)), 42);
}

#[test]
fn threads_at_work_together_have_names_of_their_own() {
    setup();
    let _pool = whole_pool();
    // `MAX` jobs held until all of them run: on `MAX` threads at once, each named apart.
    let gate = Arc::new(Barrier::new(MAX));
    let jobs: Vec<_> = (0..MAX)
        .map(|_| {
            let gate = gate.clone();
            unblock(move || {
                gate.wait();
                (std::thread::current().id(), std::thread::current().name().map(str::to_owned))
            })
        })
        .collect();
    let seen: Vec<_> = jobs.into_iter().map(bounded).collect();
    let ids: std::collections::HashSet<_> = seen.iter().map(|(id, _)| *id).collect();
    let names: std::collections::HashSet<_> = seen.iter().map(|(_, name)| name.clone()).collect();
    assert_eq!(ids.len(), MAX, "{seen:?}");
    assert_eq!(names.len(), MAX, "two pool threads share a name: {seen:?}");
    assert!(names.iter().all(|n| n.as_deref().is_some_and(|n| n.starts_with("amphi-blocking-"))), "{seen:?}");
}

#[test]
fn a_panic_reaches_the_awaiting_task() {
    setup();
    let caught = std::panic::catch_unwind(|| bounded(unblock(|| -> u32 { panic!("boom in the pool") })));
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in the pool"));
    // The pool survives.
    assert_eq!(bounded(unblock(|| 1)), 1);
}

#[test]
fn dropping_the_task_before_it_starts_cancels_it() {
    setup();
    let _pool = whole_pool();
    // Occupy every pool thread so the next closure has to queue.
    let gate = Arc::new(Barrier::new(MAX + 1));
    let (started_tx, started_rx) = mpsc::channel();
    let blockers: Vec<_> = (0..MAX)
        .map(|_| {
            let gate = gate.clone();
            let started = started_tx.clone();
            unblock(move || {
                started.send(()).unwrap();
                gate.wait();
            })
        })
        .collect();
    for _ in 0..MAX {
        started_rx.recv_timeout(Duration::from_secs(10)).expect("blockers start");
    }
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    drop(unblock(move || r.store(true, Ordering::SeqCst)));
    gate.wait();
    for b in blockers {
        bounded(b);
    }
    // A later job runs after the queue position of the cancelled one.
    for _ in 0..MAX * 2 {
        bounded(unblock(|| ()));
    }
    assert!(!ran.load(Ordering::SeqCst), "a cancelled closure ran");
}

/// The pool's threads, by name. A thread a pool thread starts (the shared Tokio runtime's, on
/// first use) carries its parent's name until it sets its own, a moment later: a count past the
/// bound is read again after that moment. A pool thread, once started, stays for a second.
fn pool_threads() -> usize {
    let n = threads_named("amphi-blocking-");
    if n <= MAX {
        return n;
    }
    std::thread::sleep(Duration::from_millis(20));
    threads_named("amphi-blocking-")
}

#[test]
fn a_full_pool_queues_work() {
    setup();
    let done = Arc::new(AtomicUsize::new(0));
    // Measured while the work runs, not after: jobs running at once, and pool threads alive.
    let running = Arc::new(AtomicUsize::new(0));
    let most_running = Arc::new(AtomicUsize::new(0));
    let most_threads = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..MAX * 10)
        .map(|_| {
            let (done, running) = (done.clone(), running.clone());
            let (most_running, most_threads) = (most_running.clone(), most_threads.clone());
            unblock(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most_running.fetch_max(now, Ordering::SeqCst);
                most_threads.fetch_max(pool_threads(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    bounded(async {
        for t in tasks {
            t.await;
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), MAX * 10);
    let (most_running, most_threads) =
        (most_running.load(Ordering::SeqCst), most_threads.load(Ordering::SeqCst));
    assert!(most_running <= MAX, "{most_running} jobs ran at once, past the bound of {MAX}");
    assert!(most_threads <= MAX, "{most_threads} pool threads under load, past the bound of {MAX}");
    assert!(pool_threads() <= MAX);
}

#[test]
fn pool_grows_under_load_and_shrinks_when_idle() {
    if ran_in_child("pool_grows_under_load_and_shrinks_when_idle", &[("AMPHI_MAX_BLOCKING_THREADS", "64")]) {
        return;
    }
    // Fresh process: the environment sets the bound (no `setup`).
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let peak = peak.clone();
            unblock(move || {
                std::thread::sleep(Duration::from_millis(100));
                peak.fetch_max(threads_named("amphi-blocking-"), Ordering::SeqCst);
            })
        })
        .collect();
    bounded(async {
        for t in tasks {
            t.await;
        }
    });
    let peak = peak.load(Ordering::SeqCst);
    println!("blocking pool: peak {peak} threads for 50 concurrent sleeps");
    assert!(peak > MAX, "the pool grew under load (peak {peak})");
    let shrunk = eventually(Duration::from_secs(2), || threads_named("amphi-blocking-") <= 1);
    println!("blocking pool after 2 s idle: {} threads", threads_named("amphi-blocking-"));
    assert!(shrunk, "idle pool threads exit");
}

/// Jobs handed to a pool whose threads all sleep run side by side: a burst wakes the sleepers one
/// after another (the thread that takes a job and sees more queued wakes the next), not one job
/// at a time.
#[test]
fn a_burst_on_sleeping_threads_runs_side_by_side() {
    if ran_in_child("a_burst_on_sleeping_threads_runs_side_by_side", &[("AMPHI_MAX_BLOCKING_THREADS", "8")]) {
        return;
    }
    // Eight pool threads, each made to start by a job that holds it until all eight run.
    let started = Arc::new(AtomicUsize::new(0));
    let warm: Vec<_> = (0..8)
        .map(|_| {
            let started = started.clone();
            unblock(move || {
                started.fetch_add(1, Ordering::SeqCst);
                while started.load(Ordering::SeqCst) < 8 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    let waited = block_on(future::or(
        async {
            for t in warm {
                t.await;
            }
            true
        },
        async {
            Timer::after(Duration::from_secs(30)).await;
            false
        },
    ));
    assert!(
        waited,
        "the warm-up timed out: {} of 8 started; {:?}",
        started.load(Ordering::SeqCst),
        amphi::metrics()
    );
    assert!(
        eventually(Duration::from_secs(5), || amphi::metrics().blocking_idle == 8),
        "all eight pool threads asleep: {:?}",
        amphi::metrics()
    );
    let start = Instant::now();
    let burst: Vec<_> = (0..8).map(|_| unblock(|| std::thread::sleep(Duration::from_millis(100)))).collect();
    bounded(async {
        for t in burst {
            t.await;
        }
    });
    let took = start.elapsed();
    println!("eight 100 ms jobs on eight sleeping pool threads took {took:?}");
    // Side by side: 100 ms and the wake-ups (measured 100.7 ms); one after another, 800 ms.
    assert!(took < Duration::from_millis(250), "the burst did not run side by side: {took:?}");
}
