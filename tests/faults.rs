//! Faults: a task that panics, a waker that panics, a destructor that panics, a destructor that
//! spawns, and worker threads that cannot be created. None of them may abort the process, hang, leak
//! or leave an executor unusable.
//!
//! A future whose destructor panics (std): the executor catches the panic where it drops the
//! future, finishes what it was doing, and then resumes the panic in whoever made it drop the
//! future: the caller of `drop(executor)` for futures dropped by the executor's `Drop` (after every
//! other future is dropped too), the runner (`try_tick`, `tick`, `run`) for a cancelled task's
//! future, which the executor drops when it next runs that task.
#![cfg(feature = "std")]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use amphi::{Executor, LocalExecutor, block_on, spawn};
use common::{DropCounter, Tracked, message, ran_in_child};
use futures_lite::future;

/// Panics with `msg` when dropped, and counts the drop first.
struct PanicOnDrop {
    msg: &'static str,
    _tracked: Tracked,
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.msg);
        }
    }
}

#[test]
fn a_panicking_task_reaches_its_awaiter_and_the_executor_keeps_serving() {
    let ex = Executor::new();
    let counter = DropCounter::default();
    let tracked = counter.track();
    let bad = ex.spawn(async move {
        let _t = tracked;
        future::yield_now().await;
        panic!("task failed");
    });
    let good: Vec<_> = (0..10).map(|i| ex.spawn(async move { i })).collect();
    let sum = block_on(ex.run(async {
        let mut s = 0;
        for t in good {
            s += t.await;
        }
        s
    }));
    assert_eq!(sum, 45);
    let err = catch_unwind(AssertUnwindSafe(|| block_on(ex.run(bad)))).unwrap_err();
    assert_eq!(message(err), "task failed");
    assert_eq!(counter.dropped(), 1, "the panicking future was dropped once");
    assert!(ex.is_empty());
    assert_eq!(block_on(ex.run(ex.spawn(async { 7 }))), 7);
}

/// A waker whose `wake` panics, as a buggy user-written waker might.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("waker panicked");
    }
}

#[test]
fn a_waker_that_panics_inside_a_task_reaches_the_awaiter() {
    // A future that drives a sub-future with its own (buggy) waker and calls it.
    let ex = Executor::new();
    let local = LocalExecutor::new();
    for round in 0..2 {
        let body = async {
            let waker = Waker::from(Arc::new(PanickingWaker));
            future::yield_now().await;
            waker.wake_by_ref();
            unreachable!()
        };
        let err = if round == 0 {
            let task = ex.spawn(body);
            catch_unwind(AssertUnwindSafe(|| block_on(ex.run(task)))).unwrap_err()
        } else {
            let task = local.spawn(body);
            catch_unwind(AssertUnwindSafe(|| block_on(local.run(task)))).unwrap_err()
        };
        assert_eq!(message(err), "waker panicked");
    }
    // Both executors still serve, and the global runtime does too.
    assert_eq!(block_on(ex.run(ex.spawn(async { 1 }))), 1);
    assert_eq!(block_on(local.run(local.spawn(async { 2 }))), 2);
    let task = spawn(async {
        future::yield_now().await;
        Waker::from(Arc::new(PanickingWaker)).wake();
    });
    assert_eq!(message(catch_unwind(AssertUnwindSafe(|| block_on(task))).unwrap_err()), "waker panicked");
    assert_eq!(block_on(spawn(async { 3 })), 3);
}

#[test]
fn a_waker_that_panics_in_block_on_reaches_its_caller() {
    // The future calls the waker it was given *and* a panicking one; block_on's own waker never
    // panics, and block_on is usable afterwards.
    let err = catch_unwind(|| {
        block_on(future::poll_fn(|cx: &mut Context<'_>| {
            cx.waker().wake_by_ref();
            Waker::from(Arc::new(PanickingWaker)).wake_by_ref();
            Poll::<()>::Pending
        }))
    })
    .unwrap_err();
    assert_eq!(message(err), "waker panicked");
    assert_eq!(block_on(async { 5 }), 5);
}

#[test]
fn a_destructor_that_panics_when_the_executor_is_dropped() {
    let counter = DropCounter::default();
    let ex = Executor::new();
    let (_tx, rx) = futures::channel::oneshot::channel::<()>();
    let bomb = PanicOnDrop { msg: "destructor panicked", _tracked: counter.track() };
    ex.spawn(async move {
        let _bomb = bomb;
        rx.await.ok();
    })
    .detach();
    // Others around it, pending and queued: all must be dropped despite the panic.
    for _ in 0..5 {
        let t = counter.track();
        ex.spawn(async move {
            let _t = t;
            future::pending::<()>().await
        })
        .detach();
    }
    while ex.try_tick() {}
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let t = counter.track();
            ex.spawn(async move {
                let _t = t;
            })
        })
        .collect();
    let err = catch_unwind(AssertUnwindSafe(move || drop(ex))).unwrap_err();
    assert_eq!(message(err), "destructor panicked");
    assert_eq!(counter.dropped(), 11, "every future dropped, the panicking one included, once");
    for t in queued {
        assert!(t.is_finished());
    }
}

#[test]
fn a_destructor_that_panics_when_its_task_is_cancelled() {
    let counter = DropCounter::default();
    let ex = Executor::new();
    let bomb = PanicOnDrop { msg: "cancelled destructor panicked", _tracked: counter.track() };
    let task = ex.spawn(async move {
        let _bomb = bomb;
        future::pending::<()>().await
    });
    assert!(ex.try_tick());
    drop(task);
    // The executor drops the cancelled future when it next runs the task: the panic comes out of
    // that runner, after the task is cleaned up.
    let err = catch_unwind(AssertUnwindSafe(|| ex.try_tick())).unwrap_err();
    assert_eq!(message(err), "cancelled destructor panicked");
    assert_eq!(counter.dropped(), 1);
    assert!(ex.is_empty());
    // The executor is intact: spawn, run, drop.
    let t = ex.spawn(async { 4 });
    assert_eq!(block_on(ex.run(t)), 4);

    // The same through `run`, with other tasks around, on a local executor.
    let local = LocalExecutor::new();
    let bomb = PanicOnDrop { msg: "local destructor panicked", _tracked: counter.track() };
    let doomed = local.spawn(async move {
        let _bomb = bomb;
        future::pending::<()>().await
    });
    let others: Vec<_> = (0..4).map(|i| local.spawn(async move { i })).collect();
    local.try_tick();
    drop(doomed);
    let err = catch_unwind(AssertUnwindSafe(|| block_on(local.run(future::pending::<()>())))).unwrap_err();
    assert_eq!(message(err), "local destructor panicked");
    assert_eq!(counter.dropped(), 2);
    let sum = block_on(local.run(async {
        let mut s = 0;
        for t in others {
            s += t.await;
        }
        s
    }));
    assert_eq!(sum, 6);
    drop(local);
    drop(ex);
}

#[test]
fn a_destructor_that_panics_on_a_global_task_leaves_the_runtime_serving() {
    // With one worker: if the panic took that worker down, nothing would run the tasks below.
    if ran_in_child(
        "a_destructor_that_panics_on_a_global_task_leaves_the_runtime_serving",
        &[("AMPHI_THREADS", "1")],
    ) {
        return;
    }
    let counter = DropCounter::default();
    let bomb = PanicOnDrop { msg: "global destructor panicked", _tracked: counter.track() };
    let (started_tx, started_rx) = futures::channel::oneshot::channel::<()>();
    let task = spawn(async move {
        let _bomb = bomb;
        started_tx.send(()).unwrap();
        future::pending::<()>().await
    });
    block_on(started_rx).unwrap();
    // The worker that drops the future gets the panic; it must survive it.
    assert_eq!(block_on(task.cancel()), None);
    assert_eq!(counter.dropped(), 1);
    let tasks: Vec<_> = (0..100).map(|i| spawn(async move { i })).collect();
    assert_eq!(tasks.into_iter().map(block_on).sum::<i32>(), (0..100).sum());
}

/// A future whose destructor spawns onto the executor that is dropping it.
struct SpawnOnDrop<'a> {
    ex: &'a Executor<'a>,
    spawned: Arc<AtomicUsize>,
    counter: DropCounter,
    depth: usize,
}

impl Drop for SpawnOnDrop<'_> {
    fn drop(&mut self) {
        let _t = self.counter.track();
        if self.depth == 0 {
            return;
        }
        self.spawned.fetch_add(1, Ordering::SeqCst);
        let child = SpawnOnDrop {
            ex: self.ex,
            spawned: self.spawned.clone(),
            counter: self.counter.clone(),
            depth: self.depth - 1,
        };
        let task = self.ex.spawn(async move {
            let _child = child;
            future::pending::<()>().await
        });
        assert!(task.is_finished(), "a task spawned onto a dropped executor is dropped at once");
        let output = block_on(task.fallible());
        assert_eq!(output, None);
    }
}

#[test]
fn a_destructor_that_spawns_onto_the_executor_being_dropped() {
    let spawned = Arc::new(AtomicUsize::new(0));
    let counter = DropCounter::default();
    {
        let ex = Executor::new();
        for _ in 0..4 {
            let guard = SpawnOnDrop { ex: &ex, spawned: spawned.clone(), counter: counter.clone(), depth: 3 };
            ex.spawn(async move {
                let _guard = guard;
                future::pending::<()>().await
            })
            .detach();
        }
        while ex.try_tick() {}
        // Dropping `ex` drops the four futures; each destructor spawns onto `ex`, three deep.
    }
    assert_eq!(spawned.load(Ordering::SeqCst), 4 * 3);
    assert_eq!(counter.dropped(), 4 * 4, "every future, spawned during the drop or not, dropped once");
}

#[test]
fn a_destructor_that_spawns_when_its_task_is_cancelled() {
    let counter = DropCounter::default();
    let spawned = Arc::new(AtomicUsize::new(0));
    let ex = Executor::new();
    let guard = SpawnOnDrop { ex: &ex, spawned: spawned.clone(), counter: counter.clone(), depth: 0 };
    let task = ex.spawn(async move {
        let _guard = guard;
        future::pending::<()>().await
    });
    ex.try_tick();
    // A destructor that spawns a live task onto a running executor.
    struct SpawnLive<'a>(&'a Executor<'a>, Arc<AtomicUsize>);
    impl Drop for SpawnLive<'_> {
        fn drop(&mut self) {
            let hits = self.1.clone();
            self.0
                .spawn(async move {
                    hits.fetch_add(100, Ordering::SeqCst);
                })
                .detach();
        }
    }
    let live = SpawnLive(&ex, spawned.clone());
    let other = ex.spawn(async move {
        let _live = live;
        future::pending::<()>().await
    });
    ex.try_tick();
    block_on(ex.run(async {
        task.cancel().await;
        other.cancel().await;
    }));
    while ex.try_tick() {}
    assert_eq!(spawned.load(Ordering::SeqCst), 100, "the task spawned by a destructor ran");
    assert_eq!(counter.dropped(), 1);
    assert!(ex.is_empty());
}

#[cfg(not(windows))]
#[test]
fn without_worker_threads_tasks_still_complete_in_block_on() {
    // A child process whose thread limit is already used up: every worker thread fails to start,
    // and the global runtime must fall back to running tasks inside `block_on`.
    if !common::is_child() {
        let out = in_child_with_nproc_limit("without_worker_threads_tasks_still_complete_in_block_on");
        assert!(out.contains("workers could not start"), "{out}");
        return;
    }
    if std::env::var_os("AMPHI_TEST_NPROC_LIMITED").is_none() {
        return;
    }
    // Prove the limit bites before relying on it.
    assert!(std::thread::Builder::new().spawn(|| {}).is_err(), "the thread limit is not in force");
    println!("workers could not start");
    let tasks: Vec<_> = (0..100u64).map(|i| spawn(async move { i * 2 })).collect();
    let sum: u64 = tasks.into_iter().map(block_on).sum();
    assert_eq!(sum, (0..100u64).map(|i| i * 2).sum());
    // Tasks that wait on each other, and a nested block_on.
    let v = block_on(spawn(async {
        let sibling = spawn(async { 20 });
        block_on(sibling) + 1
    }));
    assert_eq!(v, 21);
    assert_eq!(amphi::dual(async { spawn(async { 3 }).await }).wait(), 3);
    // No pool thread can start either: `unblock`'s closures run on the thread that scheduled
    // them, one at a time and all of them, and the pool counts no thread afterwards.
    let jobs: Vec<_> = (0..10u64).map(|i| amphi::unblock(move || i + 1)).collect();
    let sum: u64 = jobs.into_iter().map(block_on).sum();
    assert_eq!(sum, 55);
    assert_eq!(block_on(amphi::unblock(|| 7)), 7);
    assert_eq!(amphi::metrics().blocking_threads, 0, "a pool thread that never started is counted");
}

#[cfg(windows)]
#[test]
#[ignore = "needs a process that cannot start threads (prlimit --nproc); Windows has no limit on a process's threads to set"]
fn without_worker_threads_tasks_still_complete_in_block_on() {}

/// Runs one test of this binary in a child process that cannot create a thread: `RLIMIT_NPROC` is
/// 1 and its user already has a process. Root ignores the limit, so as root the child runs as
/// `nobody`, whose only process it is. A hang fails after 60 s.
#[cfg(not(windows))]
fn in_child_with_nproc_limit(test: &str) -> String {
    let exe = std::env::current_exe().unwrap();
    let root =
        std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nproc=1:");
    if root {
        cmd.args(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    }
    cmd.arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("AMPHI_TEST_CHILD", "1")
        .env("AMPHI_TEST_NPROC_LIMITED", "1")
        .env_remove("AMPHI_THREADS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("start the child through prlimit");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().ok();
            break;
        }
        // Waiting for another process to exit: nothing to be notified by.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "child failed or hung:\n{text}");
    assert!(text.contains("1 passed"), "child ran no test:\n{text}");
    text
}

#[test]
fn panicking_poll_and_destructor_together() {
    // The future panics in poll, and its destructor panics too while that panic unwinds: the
    // destructor sees `panicking()` and stays quiet, so this is one panic, not an abort.
    let counter = DropCounter::default();
    let ex = Executor::new();
    let bomb = PanicOnDrop { msg: "unused", _tracked: counter.track() };
    let task = ex.spawn(async move {
        let _bomb = bomb;
        panic!("poll panicked");
    });
    let err = catch_unwind(AssertUnwindSafe(|| block_on(ex.run(task)))).unwrap_err();
    assert_eq!(message(err), "poll panicked");
    assert_eq!(counter.dropped(), 1);
    // A pinned future's destructor panicking inside block_on propagates to block_on's caller.
    let bomb = PanicOnDrop { msg: "dropped in block_on", _tracked: counter.track() };
    let err = catch_unwind(AssertUnwindSafe(|| {
        block_on(async move {
            let _bomb = bomb;
        })
    }))
    .unwrap_err();
    assert_eq!(message(err), "dropped in block_on");
    assert_eq!(counter.dropped(), 2);
}
