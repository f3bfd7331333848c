//! `amphi::scope`: futures that borrow the caller's stack, run on the global runtime.
//!
//! Every scenario runs in this process (default worker count) and again in child processes with
//! `AMPHI_THREADS=1` and `AMPHI_THREADS=0`.

#[macro_use]
mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use amphi::{Timer, block_on, scope, spawn};
use futures::channel::oneshot;

with_workers!(
    ["1", "0"];
    futures_borrow_and_write_the_callers_data,
    the_scope_waits_for_detached_futures,
    a_forgotten_scoped_task_does_not_hold_the_scope,
    completed_futures_are_dropped_within_the_scope,
    a_panic_of_the_closure_waits_for_the_futures,
    a_joined_panic_is_resumed_where_it_is_joined,
    an_unjoined_panic_makes_the_scope_panic_after_the_others_finished,
    scoped_futures_spawn_and_await_each_other,
    a_scope_inside_a_global_task_waiting_on_its_futures,
    a_scope_inside_block_on,
    scopes_from_sixteen_threads,
);

const LONG: Duration = Duration::from_secs(30);

#[test]
fn futures_borrow_and_write_the_callers_data() {
    let _w = common::watchdog("futures_borrow_and_write_the_callers_data", LONG);
    let data: Vec<u64> = (1..=10_000).collect();
    let mut totals = vec![0u64; 8];
    let longest = scope(|s| {
        let lens: Vec<_> = data.chunks(1250).map(|chunk| s.spawn(async move { chunk.len() })).collect();
        for (total, chunk) in totals.iter_mut().zip(data.chunks(1250)) {
            drop(s.spawn(async move {
                // Written after a wait: only a scope that waits sees it.
                Timer::after(Duration::from_millis(5)).await;
                *total = chunk.iter().sum();
            }));
        }
        lens.into_iter().map(|t| t.join()).max()
    });
    assert_eq!(longest, Some(1250));
    assert_eq!(totals.iter().sum::<u64>(), 50_005_000);
    assert!(totals.iter().all(|&t| t > 0), "{totals:?}");
}

#[test]
fn the_scope_waits_for_detached_futures() {
    let _w = common::watchdog("the_scope_waits_for_detached_futures", LONG);
    let done = AtomicUsize::new(0);
    let dropped = AtomicUsize::new(0);
    struct CountDrop<'a>(&'a AtomicUsize);
    impl Drop for CountDrop<'_> {
        fn drop(&mut self) {
            // The scope's data is still alive when a future's destructor runs.
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    scope(|s| {
        for i in 0..20u64 {
            let (done, dropped) = (&done, &dropped);
            drop(s.spawn(async move {
                let _guard = CountDrop(dropped);
                Timer::after(Duration::from_millis(i * 2)).await;
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 20);
    assert_eq!(dropped.load(Ordering::SeqCst), 20);
}

/// A future that is ready at once and counts its destructor's run: a completed future is
/// dropped by the executor, inside the scope.
struct ReadyThenDropped<'a>(&'a AtomicUsize);

impl std::future::Future for ReadyThenDropped<'_> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
}

impl Drop for ReadyThenDropped<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn completed_futures_are_dropped_within_the_scope() {
    let dropped = AtomicUsize::new(0);
    scope(|s| {
        for _ in 0..10 {
            drop(s.spawn(ReadyThenDropped(&dropped)));
        }
        s.spawn(ReadyThenDropped(&dropped)).join();
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 11);
}

/// Where the forgotten `ScopedTask` below stays reachable.
static FORGOTTEN: std::sync::atomic::AtomicPtr<()> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

#[test]
fn a_forgotten_scoped_task_does_not_hold_the_scope() {
    let _w = common::watchdog("a_forgotten_scoped_task_does_not_hold_the_scope", LONG);
    let ran = AtomicBool::new(false);
    let out = Arc::new(());
    scope(|s| {
        let out = out.clone();
        let ran = &ran;
        let task = s.spawn(async move {
            Timer::after(Duration::from_millis(20)).await;
            ran.store(true, Ordering::SeqCst);
            out
        });
        // Forgotten as `mem::forget` does, but kept reachable from a static, so that valgrind's
        // leak check (`.ci/checkers.sh`) does not take this deliberate leak for a lost one.
        FORGOTTEN.store(Box::into_raw(Box::new(task)).cast(), Ordering::SeqCst);
    });
    assert!(ran.load(Ordering::SeqCst), "the forgotten future ran to completion first");
    // Its output was leaked with its handle, as `mem::forget` leaks: never dropped.
    assert_eq!(Arc::strong_count(&out), 2);
}

#[test]
fn a_panic_of_the_closure_waits_for_the_futures() {
    let _w = common::watchdog("a_panic_of_the_closure_waits_for_the_futures", LONG);
    let finished = AtomicBool::new(false);
    let result = catch_unwind(AssertUnwindSafe(|| {
        scope(|s| {
            let finished = &finished;
            drop(s.spawn(async move {
                Timer::after(Duration::from_millis(50)).await;
                finished.store(true, Ordering::SeqCst);
            }));
            panic!("the closure's panic");
        })
    }));
    let payload = result.expect_err("the closure's panic is resumed");
    assert_eq!(common::message(payload), "the closure's panic");
    assert!(finished.load(Ordering::SeqCst), "resumed only after the future finished");
}

#[test]
fn a_joined_panic_is_resumed_where_it_is_joined() {
    let _w = common::watchdog("a_joined_panic_is_resumed_where_it_is_joined", LONG);
    let out = scope(|s| {
        let joined = catch_unwind(AssertUnwindSafe(|| s.spawn(async { panic!("joined") }).join()));
        let awaited = catch_unwind(AssertUnwindSafe(|| {
            block_on(async {
                let task = s.spawn(async {
                    Timer::after(Duration::from_millis(5)).await;
                    panic!("awaited")
                });
                let () = task.await;
            })
        }));
        (common::message(joined.unwrap_err()), common::message(awaited.unwrap_err()))
    });
    // Both were resumed where they were joined: the scope itself returns.
    assert_eq!(out, ("joined".to_string(), "awaited".to_string()));
}

#[test]
fn an_unjoined_panic_makes_the_scope_panic_after_the_others_finished() {
    let _w = common::watchdog("an_unjoined_panic_makes_the_scope_panic_after_the_others_finished", LONG);
    let finished = AtomicBool::new(false);
    let result = catch_unwind(AssertUnwindSafe(|| {
        scope(|s| {
            drop(s.spawn(async { panic!("nobody joins this") }));
            let finished = &finished;
            drop(s.spawn(async move {
                Timer::after(Duration::from_millis(50)).await;
                finished.store(true, Ordering::SeqCst);
            }));
            7
        })
    }));
    let message = common::message(result.expect_err("the scope panics"));
    assert!(message.contains("a scoped future panicked"), "{message}");
    assert!(finished.load(Ordering::SeqCst), "the scope panicked only after the others finished");
}

#[test]
fn scoped_futures_spawn_and_await_each_other() {
    let _w = common::watchdog("scoped_futures_spawn_and_await_each_other", LONG);
    let log = Mutex::new(Vec::new());
    let total = scope(|s| {
        let log = &log;
        let (tx, rx) = oneshot::channel::<u32>();
        // The receiver first: with one worker, it waits while its sender has not run yet.
        let receiver = s.spawn(async move {
            let v = rx.await.unwrap();
            log.lock().unwrap().push("received");
            v
        });
        let outer = s.spawn(async move {
            // A scoped future spawns into the same scope, and awaits it.
            let inner = s.spawn(async move {
                log.lock().unwrap().push("inner");
                20
            });
            let v = inner.await;
            tx.send(v + 1).unwrap();
            v
        });
        // A scoped future awaits another's handle.
        let summer = s.spawn(async move { receiver.await + outer.await });
        summer.join()
    });
    assert_eq!(total, 41);
    assert_eq!(*log.lock().unwrap(), ["inner", "received"]);
}

#[test]
fn a_scope_inside_a_global_task_waiting_on_its_futures() {
    let _w = common::watchdog("a_scope_inside_a_global_task_waiting_on_its_futures", LONG);
    // With one worker, the worker blocks in `scope` while its futures pass a message between
    // them: they need another thread, which the hand-off provides.
    let out = block_on(spawn(async {
        let mut words = ["a".to_string(), "b".to_string()];
        scope(|s| {
            let (tx, rx) = oneshot::channel::<String>();
            let (first, second) = words.split_at_mut(1);
            drop(s.spawn(async move {
                let got = rx.await.unwrap();
                first[0].push_str(&got);
            }));
            drop(s.spawn(async move {
                Timer::after(Duration::from_millis(5)).await;
                second[0].push('!');
                tx.send("+".to_string()).unwrap();
            }));
        });
        words.concat()
    }));
    assert_eq!(out, "a+b!");
}

#[test]
fn a_scope_inside_block_on() {
    let _w = common::watchdog("a_scope_inside_block_on", LONG);
    let data = [3u32, 4, 5];
    let out = block_on(async {
        let sum = scope(|s| {
            let tasks: Vec<_> = data.iter().map(|x| s.spawn(async move { x * x })).collect();
            tasks.into_iter().map(|t| t.join()).sum::<u32>()
        });
        // And a scope inside a scoped future inside block_on.
        let nested = scope(|s| s.spawn(async { scope(|s2| s2.spawn(async { data.len() }).join()) }).join());
        (sum, nested)
    });
    assert_eq!(out, (50, 3));
}

#[test]
fn scopes_from_sixteen_threads() {
    let _w = common::watchdog("scopes_from_sixteen_threads", LONG);
    let counter = AtomicUsize::new(0);
    thread::scope(|ts| {
        for t in 0..16usize {
            let counter = &counter;
            ts.spawn(move || {
                for round in 0..20usize {
                    let values: Vec<usize> = (0..8).map(|i| t * 1000 + round * 10 + i).collect();
                    let sum = scope(|s| {
                        let tasks: Vec<_> = values
                            .iter()
                            .map(|v| {
                                s.spawn(async move {
                                    counter.fetch_add(1, Ordering::Relaxed);
                                    *v
                                })
                            })
                            .collect();
                        tasks.into_iter().map(|t| t.join()).sum::<usize>()
                    });
                    assert_eq!(sum, values.iter().sum::<usize>());
                }
            });
        }
    });
    assert_eq!(counter.load(Ordering::Relaxed), 16 * 20 * 8);
}

/// A `ScopedTask` reports its future's completion, and its `Debug` says so.
#[test]
fn a_scoped_task_says_whether_it_finished() {
    scope(|s| {
        assert_eq!(format!("{s:?}"), "Scope { .. }");
        let (tx, rx) = oneshot::channel::<()>();
        let task = s.spawn(async move { rx.await.unwrap() });
        assert!(!task.is_finished());
        assert!(format!("{task:?}").contains("finished: false"));
        tx.send(()).unwrap();
        // Each look also lets a `block_on` run the global tasks when there is no worker.
        assert!(common::eventually(LONG, || {
            block_on(amphi::yield_now());
            task.is_finished()
        }));
        task.join();
    });
}
