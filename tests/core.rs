//! The `no_std` core on the host: `Executor`, `LocalExecutor`, `Task`, `Dual`, `block_on`.
//!
//! Everything here compiles both with the default features and with
//! `--no-default-features --features alloc` (no global runtime; `block_on` idles by spinning
//! through the no_std parker; the executor's lock is a critical section). It is what Miri runs:
//! `MIRIFLAGS=-Zmiri-strict-provenance cargo +nightly miri test --no-default-features --features alloc --test core`.
//! Sizes shrink under Miri, which is thousands of times slower, not the checks.

mod common;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{Dual, Executor, LocalExecutor, Task, block_on, dual};
use common::DropCounter;
use futures::channel::oneshot;
use futures_lite::future;

/// `normal` natively, `miri` under Miri.
const fn size(normal: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { normal }
}

#[test]
fn executor_spawn_and_run() {
    let ex = Executor::new();
    let tasks: Vec<Task<usize>> = (0..10).map(|i| ex.spawn(async move { i * 3 })).collect();
    let sum = block_on(ex.run(async {
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    }));
    assert_eq!(sum, (0..10).map(|i| i * 3).sum());
    assert!(ex.is_empty());
}

#[test]
fn local_executor_runs_non_send_futures() {
    let local = LocalExecutor::new();
    let shared = Rc::new(std::cell::Cell::new(0));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let s = shared.clone();
            local.spawn(async move {
                future::yield_now().await;
                s.set(s.get() + i);
            })
        })
        .collect();
    block_on(local.run(async {
        for t in tasks {
            t.await;
        }
    }));
    assert_eq!(shared.get(), 10);
    assert!(local.is_empty());
}

#[test]
fn try_tick_runs_one_task_at_a_time() {
    let ex = Executor::new();
    assert!(!ex.try_tick(), "nothing queued");
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let order = order.clone();
            ex.spawn(async move { order.lock().unwrap().push(i) })
        })
        .collect();
    assert!(ex.try_tick());
    assert_eq!(*order.lock().unwrap(), [0]);
    assert!(tasks[0].is_finished() && !tasks[1].is_finished());
    assert!(ex.try_tick());
    assert!(ex.try_tick());
    assert!(!ex.try_tick());
    assert_eq!(*order.lock().unwrap(), [0, 1, 2], "FIFO");
    assert!(tasks.iter().all(Task::is_finished));
}

#[test]
fn a_yielding_task_is_requeued_behind_the_others() {
    let local = LocalExecutor::new();
    let steps = Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = steps.clone();
    let yielder = local.spawn(async move {
        s.borrow_mut().push("a1");
        future::yield_now().await;
        s.borrow_mut().push("a2");
    });
    let s = steps.clone();
    let other = local.spawn(async move { s.borrow_mut().push("b") });
    while local.try_tick() {}
    assert_eq!(*steps.borrow(), ["a1", "b", "a2"]);
    assert!(yielder.is_finished() && other.is_finished());
}

#[test]
fn tick_waits_for_a_task_woken_from_another_thread() {
    let ex = Executor::new();
    let (tx, rx) = oneshot::channel::<u32>();
    let task = ex.spawn(async move { rx.await.unwrap() + 1 });
    assert!(ex.try_tick(), "first poll: pending on the channel");
    assert!(!ex.try_tick(), "nothing queued until the send");
    let sender = thread::spawn(move || tx.send(41).unwrap());
    // `tick` sleeps until the send schedules the task, then runs it.
    block_on(ex.tick());
    sender.join().unwrap();
    assert!(task.is_finished());
    assert_eq!(block_on(task), 42);
}

#[test]
fn local_tick_and_try_tick() {
    let local = LocalExecutor::new();
    let t = local.spawn(async { Rc::new(7) });
    block_on(local.tick());
    assert!(t.is_finished());
    assert!(!local.try_tick());
    assert_eq!(*block_on(t), 7);
}

#[test]
fn spawn_many_keeps_order() {
    let ex = Executor::new();
    let mut tasks = Vec::new();
    ex.spawn_many((0..20).map(|i| async move { i * i }), &mut tasks);
    let local = LocalExecutor::new();
    let mut local_tasks = Vec::new();
    local.spawn_many((0..5).map(|i| async move { Rc::new(i) }), &mut local_tasks);
    let out: Vec<i32> = block_on(ex.run(async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await);
        }
        out
    }));
    assert_eq!(out, (0..20).map(|i| i * i).collect::<Vec<_>>());
    let local_out: Vec<i32> = block_on(local.run(async {
        let mut out = Vec::new();
        for t in local_tasks {
            out.push(*t.await);
        }
        out
    }));
    assert_eq!(local_out, [0, 1, 2, 3, 4]);
}

#[test]
fn dropping_a_task_cancels_it_once() {
    let counter = DropCounter::default();
    let ex = Executor::new();
    let tracked = counter.track();
    let polled = Arc::new(AtomicUsize::new(0));
    let p = polled.clone();
    let task = ex.spawn(async move {
        let _t = tracked;
        p.fetch_add(1, Ordering::SeqCst);
        future::pending::<()>().await;
    });
    assert!(ex.try_tick());
    assert_eq!(polled.load(Ordering::SeqCst), 1);
    drop(task);
    // The cancelled task is rescheduled so the executor drops its future.
    assert!(ex.try_tick());
    assert_eq!(counter.dropped(), 1);
    assert_eq!(polled.load(Ordering::SeqCst), 1, "never polled again");
    assert!(ex.is_empty());
    drop(ex);
    assert_eq!(counter.dropped(), 1, "dropped exactly once");
}

#[test]
fn dropping_a_task_that_never_ran_drops_its_future_once() {
    let counter = DropCounter::default();
    let ex = Executor::new();
    let tracked = counter.track();
    let task = ex.spawn(async move {
        let _t = tracked;
        unreachable!("cancelled before its first poll");
    });
    drop(task);
    while ex.try_tick() {}
    assert_eq!(counter.dropped(), 1);
    assert!(ex.is_empty());
}

#[test]
fn cancel_returns_the_output_only_if_finished() {
    let counter = DropCounter::default();
    let ex = Executor::new();
    let tracked = counter.track();
    let pending = ex.spawn(async move {
        let _t = tracked;
        future::pending::<u8>().await
    });
    let done = ex.spawn(async { 5u8 });
    while ex.try_tick() {}
    assert_eq!(block_on(ex.run(pending.cancel())), None);
    assert_eq!(counter.dropped(), 1, "cancel() returns once the future is dropped");
    assert_eq!(block_on(done.cancel()), Some(5));
    assert!(ex.is_empty());
}

#[test]
fn cancel_from_another_thread_while_the_executor_runs() {
    let counter = DropCounter::default();
    let ex = Executor::new();
    let tracked = counter.track();
    let task = ex.spawn(async move {
        let _t = tracked;
        future::pending::<()>().await
    });
    thread::scope(|s| {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let runner = s.spawn(|| block_on(ex.run(stop_rx)));
        assert_eq!(block_on(task.cancel()), None);
        assert_eq!(counter.dropped(), 1);
        stop_tx.send(()).unwrap();
        runner.join().unwrap().unwrap();
    });
    assert!(ex.is_empty());
}

#[test]
fn detached_tasks_run_to_completion() {
    let ex = Executor::new();
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = oneshot::channel::<usize>();
    let d = done.clone();
    ex.spawn(async move {
        let n = rx.await.unwrap();
        d.fetch_add(n, Ordering::SeqCst);
    })
    .detach();
    let d = done.clone();
    ex.spawn(async move {
        d.fetch_add(1, Ordering::SeqCst);
    })
    .fallible()
    .detach();
    while ex.try_tick() {}
    assert_eq!(done.load(Ordering::SeqCst), 1);
    thread::spawn(move || tx.send(10).unwrap()).join().unwrap();
    while ex.try_tick() {}
    assert_eq!(done.load(Ordering::SeqCst), 11);
    assert!(ex.is_empty());
}

#[test]
fn fallible_task_is_none_when_its_executor_is_dropped() {
    let ex = Executor::new();
    let never_ran = ex.spawn(async { 1 }).fallible();
    let ran = ex.spawn(async { 2 }).fallible();
    let (_tx, rx) = oneshot::channel::<()>();
    let pending = ex.spawn(async move { rx.await.ok() }).fallible();
    while ex.try_tick() {}
    assert!(ran.is_finished());
    let never_ran_again = ex.spawn(async { 3 }).fallible();
    drop(ex);
    assert_eq!(block_on(never_ran), Some(1));
    assert_eq!(block_on(ran), Some(2));
    assert_eq!(block_on(pending), None, "pending when the executor went");
    assert_eq!(block_on(never_ran_again), None, "queued when the executor went");
}

#[test]
fn fallible_cancel_and_is_finished() {
    let ex = LocalExecutor::new();
    let t = ex.spawn(future::pending::<()>()).fallible();
    assert!(!t.is_finished());
    ex.try_tick();
    assert_eq!(block_on(ex.run(t.cancel())), None);
    let t = ex.spawn(async { 4 }).fallible();
    ex.try_tick();
    assert!(t.is_finished());
    assert_eq!(block_on(t.cancel()), Some(4));
}

#[test]
fn try_spawn_on_a_bounded_executor() {
    let counter = DropCounter::default();
    let ex = Executor::with_capacity(2);
    let a = ex.try_spawn(async { 1 }).unwrap();
    let b = ex.try_spawn(async { 2 }).unwrap();
    let tracked = counter.track();
    let refused = ex
        .try_spawn(async move {
            let _t = tracked;
            3
        })
        .unwrap_err();
    assert_eq!(refused.capacity(), 2);
    assert_eq!(counter.dropped(), 0, "a refused future is handed back, not dropped");
    // A finished task still counts until its future is gone; completing frees its slot.
    assert_eq!(block_on(ex.run(async { a.await + b.await })), 3);
    assert!(ex.is_empty());
    let c = ex.try_spawn(refused.into_inner()).unwrap();
    assert_eq!(block_on(ex.run(c)), 3);
    assert_eq!(counter.dropped(), 1);

    // A cancelled task frees its slot once the executor has dropped its future.
    let stuck = ex.try_spawn(future::pending::<()>()).unwrap();
    let _second = ex.try_spawn(future::pending::<()>()).unwrap();
    assert!(ex.try_spawn(async {}).is_err());
    drop(stuck);
    while ex.try_tick() {}
    assert!(ex.try_spawn(async {}).is_ok());

    let local = LocalExecutor::with_capacity(0);
    let err = local.try_spawn(async { Rc::new(()) }).unwrap_err();
    assert_eq!(err.capacity(), 0);
    assert!(!format!("{err}").is_empty() && format!("{err:?}").contains("SpawnError"));
    // An unbounded executor never refuses.
    let unbounded = Executor::new();
    let many: Vec<_> = (0..100).map(|i| unbounded.try_spawn(async move { i }).unwrap()).collect();
    drop(many);
}

#[test]
fn spawn_past_capacity_goes_to_overflow_and_still_runs() {
    let ex = Executor::with_capacity(3);
    let n = size(200, 20);
    let tasks: Vec<_> = (0..n).map(|i| ex.spawn(async move { i })).collect();
    let sum = block_on(ex.run(async {
        let mut s = 0;
        for t in tasks {
            s += t.await;
        }
        s
    }));
    assert_eq!(sum, (0..n).sum());
    assert!(ex.is_empty());
}

#[test]
fn dropping_an_executor_drops_every_future_once() {
    for bounded in [false, true] {
        let counter = DropCounter::default();
        let ex = if bounded { Executor::with_capacity(8) } else { Executor::new() };
        let mut handles = Vec::new();
        let mut senders = Vec::new();
        // Pending on a channel whose sender outlives the executor; handles kept.
        for _ in 0..4 {
            let t = counter.track();
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(tx);
            handles.push(ex.spawn(async move {
                let _t = t;
                rx.await.ok();
            }));
        }
        // Pending forever, detached: nobody but the executor holds their wakers.
        for _ in 0..4 {
            let t = counter.track();
            ex.spawn(async move {
                let _t = t;
                future::pending::<()>().await;
            })
            .detach();
        }
        while ex.try_tick() {}
        // Queued, never polled (past the capacity of the bounded one: in the overflow queue).
        for _ in 0..4 {
            let t = counter.track();
            handles.push(ex.spawn(async move {
                let _t = t;
            }));
        }
        // Woken and queued again.
        let first = senders.remove(0);
        first.send(()).unwrap();
        assert_eq!(counter.dropped(), 0);
        drop(ex);
        assert_eq!(counter.dropped(), 12, "every future dropped by the time drop returns");
        for tx in senders {
            let _ = tx.send(());
        }
        for h in handles {
            assert!(h.is_finished());
        }
        assert_eq!(counter.dropped(), 12, "and never twice");
    }
}

#[test]
fn dropping_a_local_executor_drops_non_send_futures_once() {
    let counter = DropCounter::default();
    let local = LocalExecutor::new();
    for i in 0..6 {
        let t = counter.track();
        let rc = Rc::new(i);
        local
            .spawn(async move {
                let _t = t;
                let _rc = rc;
                future::pending::<()>().await;
            })
            .detach();
    }
    local.try_tick();
    drop(local);
    assert_eq!(counter.dropped(), 6);
}

#[test]
fn tasks_may_borrow_data_that_outlives_the_executor() {
    let mut data = vec![1, 2, 3];
    let counter = DropCounter::default();
    {
        let ex = Executor::new();
        let borrowed = &data;
        let sum = ex.spawn(async move { borrowed.iter().sum::<i32>() });
        let t = counter.track();
        ex.spawn(async move {
            let _t = t;
            let _b = borrowed;
            future::pending::<()>().await
        })
        .detach();
        assert_eq!(block_on(ex.run(sum)), 6);
    }
    assert_eq!(counter.dropped(), 1);
    data.push(4);
    assert_eq!(data, [1, 2, 3, 4]);
}

#[test]
fn executor_in_a_static() {
    static EX: Executor<'static> = Executor::new();
    let t = EX.spawn(async { 9 });
    assert_eq!(block_on(EX.run(t)), 9);
    assert!(format!("{EX:?}").contains("Executor"));
}

#[test]
fn executor_runs_on_several_threads() {
    let ex = Executor::new();
    let n = size(2000, 40);
    let ran_on = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let ran_on = ran_on.clone();
            ex.spawn(async move {
                future::yield_now().await;
                ran_on.lock().unwrap().insert(thread::current().id());
                // Each task holds its thread until tasks have run on two (10 s at most): on a
                // loaded machine, one runner could otherwise finish them all before the others
                // start, and the spread below would be luck, not stealing.
                let deadline = Instant::now() + Duration::from_secs(10);
                while !cfg!(miri) && ran_on.lock().unwrap().len() < 2 && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                i
            })
        })
        .collect();
    let (stop_tx, stop_rx) = stop_signal();
    let sum = thread::scope(|s| {
        for _ in 0..2 {
            let stop_rx = stop_rx.clone();
            s.spawn(|| block_on(ex.run(stop_rx)));
        }
        let sum = block_on(ex.run(async {
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            sum
        }));
        stop_tx.stop();
        sum
    });
    assert_eq!(sum, (0..n).sum());
    assert!(ex.is_empty());
    // Three runners, and a task that holds its runner: the others take the queue. (Miri's
    // scheduler may keep its 40 on one thread.)
    let threads = ran_on.lock().unwrap().len();
    assert!(cfg!(miri) || threads >= 2, "all {n} tasks ran on {threads} thread(s)");
}

/// A one-to-many stop signal: each clone completes once `stop` is called.
fn stop_signal() -> (Stop, StopWait) {
    let shared = Arc::new(StopShared { stopped: std::sync::Mutex::new((false, Vec::new())) });
    (Stop(shared.clone()), StopWait(shared))
}

struct StopShared {
    stopped: std::sync::Mutex<(bool, Vec<std::task::Waker>)>,
}

struct Stop(Arc<StopShared>);

impl Stop {
    fn stop(self) {
        let wakers = {
            let mut g = self.0.stopped.lock().unwrap();
            g.0 = true;
            std::mem::take(&mut g.1)
        };
        for w in wakers {
            w.wake();
        }
    }
}

#[derive(Clone)]
struct StopWait(Arc<StopShared>);

impl std::future::Future for StopWait {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut g = self.0.stopped.lock().unwrap();
        if g.0 {
            return std::task::Poll::Ready(());
        }
        g.1.push(cx.waker().clone());
        std::task::Poll::Pending
    }
}

#[test]
fn block_on_is_woken_from_other_threads() {
    let rounds = size(200, 10);
    for i in 0..rounds {
        let (tx, rx) = oneshot::channel::<usize>();
        let sender = thread::spawn(move || tx.send(i).unwrap());
        assert_eq!(block_on(rx).unwrap(), i);
        sender.join().unwrap();
    }
    // Many wake-ups of one block_on, from several threads.
    let threads = 4;
    let per_thread = size(500, 10);
    let (tx, rx) = futures::channel::mpsc::unbounded::<usize>();
    let senders: Vec<_> = (0..threads)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..per_thread {
                    tx.unbounded_send(t * per_thread + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let sum = block_on(async {
        use futures::StreamExt;
        rx.fold(0, |a, b| async move { a + b }).await
    });
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(sum, (0..threads * per_thread).sum());
}

#[test]
fn nested_block_on_inside_a_task() {
    let local = LocalExecutor::new();
    let v = block_on(local.run(async {
        let t = local.spawn(async { 2 });
        // A nested block_on on a task that needs no executor.
        let inner = block_on(async { 3 });
        t.await * inner
    }));
    assert_eq!(v, 6);
}

#[test]
fn many_tasks_each_yielding() {
    let ex = Executor::new();
    let n = size(20_000, 300);
    let counter = DropCounter::default();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let t = counter.track();
            ex.spawn(async move {
                let _t = t;
                future::yield_now().await;
                i as u64
            })
        })
        .collect();
    let sum = block_on(ex.run(async {
        let mut s = 0;
        for t in tasks {
            s += t.await;
        }
        s
    }));
    assert_eq!(sum, (0..n as u64).sum());
    assert_eq!(counter.dropped(), n);
    assert!(ex.is_empty());
}

#[test]
fn tasks_spawning_tasks() {
    let ex = Arc::new(Executor::<'static>::new());
    let total = Arc::new(AtomicUsize::new(0));
    let (outer, inner) = (size(20, 4), size(50, 5));
    let tasks: Vec<_> = (0..outer)
        .map(|_| {
            let (ex2, total) = (ex.clone(), total.clone());
            ex.spawn(async move {
                let children: Vec<_> = (0..inner)
                    .map(|_| {
                        let total = total.clone();
                        ex2.spawn(async move {
                            total.fetch_add(1, Ordering::SeqCst);
                        })
                    })
                    .collect();
                for c in children {
                    c.await;
                }
            })
        })
        .collect();
    block_on(ex.run(async {
        for t in tasks {
            t.await;
        }
    }));
    assert_eq!(total.load(Ordering::SeqCst), outer * inner);
    // The tasks held clones of the `Arc`; all are gone now.
    assert_eq!(Arc::strong_count(&ex), 1);
}

#[test]
fn dual_wait_and_await() {
    fn add(a: u32, b: u32) -> Dual<impl Future<Output = u32>> {
        dual(async move {
            future::yield_now().await;
            a + b
        })
    }
    assert_eq!(add(1, 2).wait(), 3);
    assert_eq!(block_on(async { add(3, 4).await + add(5, 6).await }), 18);
    assert_eq!(block_on(future::or(add(1, 1), future::pending())), 2);
    // Woken from another thread while waiting.
    let (tx, rx) = oneshot::channel::<u8>();
    let t = thread::spawn(move || tx.send(8).unwrap());
    assert_eq!(dual(rx).wait().unwrap(), 8);
    t.join().unwrap();
    // Inside a local executor's task.
    let local = LocalExecutor::new();
    let v = block_on(local.run(async { dual(async { Rc::new(1) }).await }));
    assert_eq!(*v, 1);
    assert!(format!("{:?}", dual(async {})).contains("Dual"));
}

struct Counter {
    base: u64,
}

impl Counter {
    amphi::dual! {
        async fn plus(&self, n: u64) -> u64 {
            future::yield_now().await;
            self.base + n
        }

        async fn unit(&self) {}
    }
}

#[test]
fn dual_macro_from_many_threads() {
    let c = Counter { base: 100 };
    let threads = size(8, 2) as u64;
    let calls = size(200, 5) as u64;
    let total: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let c = &c;
                s.spawn(move || (0..calls).map(|i| c.plus(t * calls + i).wait()).sum::<u64>())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, (0..threads * calls).map(|n| 100 + n).sum::<u64>());
    c.unit().wait();
}

#[test]
fn handles_are_send_and_sync_where_their_data_allows() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Executor<'static>>();
    send_sync::<Task<u32>>();
    send::<amphi::FallibleTask<u32>>();
    send::<Dual<future::Ready<u8>>>();
    send::<amphi::SpawnError<future::Ready<u8>>>();
}

/// A thread that ran an executor and left while its runner slept (its `run` timed out) is no
/// runner any more: a task of that executor spawned or woken from it afterwards wakes one of
/// the executor's runners, instead of the one that left.
#[cfg(feature = "std")] // `wait_timeout`, and a runner recorded per thread, are std's.
#[test]
fn a_runner_that_left_asleep_is_not_woken_for_later_tasks() {
    let ex = Arc::new(Executor::new());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let runner = {
        let ex = ex.clone();
        thread::spawn(move || block_on(ex.run(async { stop_rx.await.ok() })))
    };
    // This thread runs `ex` for a moment and leaves asleep: the run times out.
    assert!(dual(ex.run(future::pending::<()>())).wait_timeout(Duration::from_millis(20)).is_err());
    let (tx, rx) = oneshot::channel::<u32>();
    let task = ex.spawn(async move { rx.await.unwrap() + 1 });
    tx.send(41).unwrap();
    assert_eq!(dual(task).wait_timeout(Duration::from_secs(10)).ok(), Some(42), "the task never ran");
    stop_tx.send(()).unwrap();
    runner.join().unwrap();
}
