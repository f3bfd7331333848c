//! `block_on` nested everywhere: inside `block_on`, inside global tasks (with one worker and with
//! several), inside `Executor` and `LocalExecutor` tasks waiting for siblings.
//!
//! Every scenario runs in this process (default worker count) and again in child processes with
//! `AMPHI_THREADS=1`, `AMPHI_THREADS=4` and `AMPHI_THREADS=0`.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use amphi::{Executor, LocalExecutor, block_on, spawn};
use futures::channel::oneshot;

with_workers!(
    ["1", "4", "0"];
    nested_in_block_on,
    global_task_waits_on_sibling,
    global_sibling_chain,
    many_global_tasks_wait_on_siblings,
    local_task_waits_on_sibling,
    executor_task_waits_on_sibling_one_runner,
    nested_wait_woken_from_other_thread,
    user_executor_inside_global_task_waits_on_global_sibling,
);

#[test]
fn nested_in_block_on() {
    let v = block_on(async {
        let a = block_on(async { 1 });
        let b = block_on(async { block_on(async { 2 }) + 1 });
        let c = block_on(spawn(async { block_on(async { 4 }) }));
        a + b + c
    });
    assert_eq!(v, 8);
}

#[test]
fn global_task_waits_on_sibling() {
    let out = block_on(spawn(async {
        let sibling = spawn(async {
            amphi::yield_now().await;
            21
        });
        // A synchronous wait inside a task, on a task of the same executor.
        block_on(sibling) * 2
    }));
    assert_eq!(out, 42);
}

/// Each level waits synchronously for the next one, a task spawned from inside it.
fn chain(depth: u32) -> amphi::Task<u32> {
    spawn(async move { if depth == 0 { 0 } else { block_on(chain(depth - 1)) + 1 } })
}

#[test]
fn global_sibling_chain() {
    assert_eq!(block_on(chain(8)), 8);
}

#[test]
fn many_global_tasks_wait_on_siblings() {
    let tasks: Vec<_> = (0..16u64)
        .map(|i| {
            spawn(async move {
                let sibling = spawn(async move {
                    amphi::yield_now().await;
                    i * i
                });
                block_on(sibling)
            })
        })
        .collect();
    let sum: u64 = tasks.into_iter().map(block_on).sum();
    assert_eq!(sum, (0..16u64).map(|i| i * i).sum());
}

#[test]
fn local_task_waits_on_sibling() {
    let local = LocalExecutor::new();
    let counter = std::rc::Rc::new(std::cell::Cell::new(0));
    let out = block_on(local.run(async {
        let c = counter.clone();
        let sibling = local.spawn(async move {
            amphi::yield_now().await;
            c.set(c.get() + 1);
            10
        });
        let waiter = local.spawn(async move {
            // Nested: keeps running `local`'s other tasks (the sibling) while it waits.
            block_on(sibling) + 1
        });
        waiter.await
    }));
    assert_eq!(out, 11);
    assert_eq!(counter.get(), 1);
}

#[test]
fn executor_task_waits_on_sibling_one_runner() {
    let ex = Arc::new(Executor::new());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let runner = {
        let ex = ex.clone();
        thread::spawn(move || block_on(ex.run(async { stop_rx.await.ok() })))
    };
    let ex2 = ex.clone();
    let task = ex.spawn(async move {
        let sibling = ex2.spawn(async { 5 });
        block_on(sibling) + 1
    });
    assert_eq!(block_on(task), 6);
    stop_tx.send(()).unwrap();
    runner.join().unwrap();
}

#[test]
fn user_executor_inside_global_task_waits_on_global_sibling() {
    // The global task awaits (not block_on) a user executor; that executor's task then blocks on
    // a *global* sibling. The worker must hand off although the innermost executor is not global.
    let out = block_on(spawn(async {
        let ex = Executor::new();
        let inner = ex.spawn(async {
            let sibling = spawn(async { 3 });
            block_on(sibling) + 1
        });
        ex.run(inner).await
    }));
    assert_eq!(out, 4);
}

#[test]
fn nested_wait_woken_from_other_thread() {
    let out = block_on(spawn(async {
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        let v = block_on(rx).unwrap();
        sender.join().unwrap();
        v
    }));
    assert_eq!(out, 7);
}

#[test]
fn block_on_from_many_threads_sharing_one_arc() {
    let shared = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let shared = shared.clone();
            thread::spawn(move || {
                for _ in 0..200 {
                    block_on(async {
                        amphi::yield_now().await;
                        shared.fetch_add(1, Ordering::Relaxed);
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(shared.load(Ordering::Relaxed), 32 * 200);
}

#[test]
fn zero_workers_run_tasks_on_the_blocking_thread() {
    if common::ran_in_child("zero_workers_run_tasks_on_the_blocking_thread", &[("AMPHI_THREADS", "0")]) {
        return;
    }
    let me = thread::current().id();
    let ran_on = block_on(spawn(async { thread::current().id() }));
    assert_eq!(ran_on, me, "with AMPHI_THREADS=0 the task runs inside block_on");
    assert_eq!(common::threads_named("amphi-worker"), 0);
}

/// A nested wait with a deadline (`wait_timeout`) in a task of an executor whose other runner is
/// held in a busy task: the waiting thread keeps the executor's lookout, whose looks end its
/// idle steps every 10 ms without a wake-up. None of those ends is the deadline: the wait lasts
/// until its future is ready.
#[test]
fn a_nested_wait_with_a_deadline_outlasts_the_lookout_s_looks() {
    let ex = Arc::new(Executor::new());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop_rx = futures::future::FutureExt::shared(stop_rx);
    let runners: Vec<_> = (0..2)
        .map(|_| {
            let (ex, stop) = (ex.clone(), stop_rx.clone());
            thread::spawn(move || block_on(ex.run(async { stop.await.ok() })))
        })
        .collect();
    // Holds one runner for 600 ms: a runner that runs tasks, which the other's lookout watches.
    let (held_tx, held_rx) = oneshot::channel::<()>();
    let busy = ex.spawn(async move {
        held_tx.send(()).unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(600) {
            std::hint::spin_loop();
        }
    });
    block_on(held_rx).unwrap();
    let waited = ex.spawn(async {
        let start = std::time::Instant::now();
        let delay = std::time::Duration::from_millis(200);
        let ready =
            amphi::dual(amphi::Timer::after(delay)).wait_timeout(std::time::Duration::from_secs(10)).is_ok();
        (ready, start.elapsed(), delay)
    });
    let (ready, took, delay) = block_on(waited);
    assert!(ready, "the nested wait gave up after {took:?}, long before its deadline");
    assert!(took >= delay, "the nested wait ended after {took:?}, before its timer");
    block_on(busy);
    stop_tx.send(()).unwrap();
    for r in runners {
        r.join().unwrap();
    }
}

/// The lookout ends with the tasks it watched: while one runner of an executor runs a long task,
/// the other looks at its queue every lookout period (10 ms); once nothing runs, both sleep until
/// woken, with no look on a timer.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_executor_s_runners_stop_looking_once_nothing_runs() {
    let ex = Arc::new(Executor::new());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop_rx = futures::future::FutureExt::shared(stop_rx);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let runners: Vec<_> = (0..2)
        .map(|_| {
            let (ex, stop, tid_tx) = (ex.clone(), stop_rx.clone(), tid_tx.clone());
            thread::spawn(move || {
                tid_tx.send(common::tid()).unwrap();
                block_on(ex.run(async { stop.await.ok() }))
            })
        })
        .collect();
    let tids: Vec<i32> = (0..2).map(|_| tid_rx.recv().unwrap()).collect();
    // One runner holds a task for 200 ms, which first spawns another: that one, queued on the
    // held runner's own queue, wakes the other runner, which steals it and then keeps the
    // lookout while the first runs.
    let ex2 = ex.clone();
    block_on(ex.spawn(async move {
        ex2.spawn(async {}).detach();
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(200) {
            std::hint::spin_loop();
        }
    }));
    // The lookout's next look, at most a period later, finds nothing running and ends it.
    thread::sleep(std::time::Duration::from_millis(50));
    let before: u64 = tids.iter().map(|&t| common::voluntary_switches(t)).sum();
    thread::sleep(std::time::Duration::from_millis(500));
    let woke = tids.iter().map(|&t| common::voluntary_switches(t)).sum::<u64>() - before;
    println!("the idle runners were switched in {woke} times in 500 ms");
    // A look every 10 ms would be 50.
    assert!(woke <= 10, "the idle runners woke {woke} times in 500 ms");
    stop_tx.send(()).unwrap();
    for r in runners {
        r.join().unwrap();
    }
}

/// A global task blocked in a nested `block_on` runs no other global task on its stack: its
/// thread is off duty until the call returns, and a replacement worker runs the others, so that
/// no task waits behind a blocked one on the same stack (nor holds it up once the blocked call
/// could return).
#[test]
fn a_global_task_blocked_in_block_on_runs_no_other_global_task_on_its_stack() {
    // Two workers, whatever the environment says: with none, `block_on` callers run the global
    // executor, nested ones included.
    let name = "a_global_task_blocked_in_block_on_runs_no_other_global_task_on_its_stack";
    if common::ran_in_child(name, &[("AMPHI_THREADS", "2")]) {
        return;
    }
    /// The thread of the blocked task while it is inside its `block_on`.
    static BLOCKED_ON: std::sync::Mutex<Option<thread::ThreadId>> = std::sync::Mutex::new(None);
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let blocked = spawn(async move {
        *BLOCKED_ON.lock().unwrap() = Some(thread::current().id());
        entered_tx.send(()).unwrap();
        block_on(release_rx).unwrap();
        *BLOCKED_ON.lock().unwrap() = None;
    });
    entered_rx.recv().unwrap();
    let nested = Arc::new(AtomicUsize::new(0));
    let others: Vec<_> = (0..200)
        .map(|_| {
            let nested = nested.clone();
            spawn(async move {
                if *BLOCKED_ON.lock().unwrap() == Some(thread::current().id()) {
                    nested.fetch_add(1, Ordering::SeqCst);
                }
                // Long enough that every runner there is gets some of them.
                let start = std::time::Instant::now();
                while start.elapsed() < std::time::Duration::from_micros(50) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    for task in others {
        block_on(task);
    }
    release_tx.send(()).unwrap();
    block_on(blocked);
    assert_eq!(nested.load(Ordering::SeqCst), 0, "global tasks ran nested on the blocked task's stack");
}
