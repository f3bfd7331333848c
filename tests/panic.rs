//! A task's panic reaches whoever awaits it; executors and their other tasks keep running.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use amphi::{Executor, LocalExecutor, block_on, spawn};
use common::message;

#[test]
fn global_task_panic_reaches_the_awaiter() {
    let task = spawn(async { panic!("boom in a task") });
    let err = catch_unwind(AssertUnwindSafe(|| block_on(task))).unwrap_err();
    assert_eq!(message(err), "boom in a task");
    // The runtime is still serving.
    assert_eq!(block_on(spawn(async { 5 })), 5);
}

/// In a child with two workers, so that no other test's nested `block_on` (which hands a worker's
/// duty to a spare for a while) changes the count.
#[test]
fn many_panics_do_not_take_workers_down() {
    if common::ran_in_child("many_panics_do_not_take_workers_down", &[("AMPHI_THREADS", "2")]) {
        return;
    }
    let tasks: Vec<_> =
        (0..200).map(|i| spawn(async move { if i % 2 == 0 { panic!("even {i}") } else { i } })).collect();
    let mut ok = 0;
    let mut panicked = 0;
    for t in tasks {
        match catch_unwind(AssertUnwindSafe(|| block_on(t))) {
            Ok(v) => ok += v,
            Err(_) => panicked += 1,
        }
    }
    assert_eq!(panicked, 100);
    assert_eq!(ok, (0..200).filter(|i| i % 2 == 1).sum::<i32>());
    assert_eq!(block_on(spawn(async { "alive" })), "alive");
    // Every worker is still there and still runs tasks: as many tasks as workers, each holding its
    // worker until all of them run at once.
    let workers = 2;
    assert_eq!(amphi::metrics().worker_threads, workers);
    let arrived = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let together: Vec<_> = (0..workers)
        .map(|_| {
            let arrived = arrived.clone();
            spawn(async move {
                arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                common::eventually(std::time::Duration::from_secs(10), || {
                    arrived.load(std::sync::atomic::Ordering::SeqCst) >= workers
                })
            })
        })
        .collect();
    for t in together {
        assert!(
            block_on(t),
            "fewer than {workers} workers ran tasks at once after the panics: {:?}",
            amphi::metrics()
        );
    }
}

#[test]
fn executor_keeps_running_after_a_task_panics() {
    let ex = Executor::new();
    let bad = ex.spawn(async { panic!("bad task") });
    let good = ex.spawn(async { 1 });
    // Running both: the panic is caught on the executor, not thrown out of `run`.
    let good = block_on(ex.run(good));
    assert_eq!(good, 1);
    let err = catch_unwind(AssertUnwindSafe(|| block_on(ex.run(bad)))).unwrap_err();
    assert_eq!(message(err), "bad task");
    assert_eq!(block_on(ex.run(ex.spawn(async { 2 }))), 2);
}

#[test]
fn local_executor_task_panic_reaches_the_awaiter() {
    let local = LocalExecutor::new();
    let err = catch_unwind(AssertUnwindSafe(|| {
        block_on(local.run(async {
            let t = local.spawn(async { panic!("local boom") });
            t.await
        }))
    }))
    .unwrap_err();
    assert_eq!(message(err), "local boom");
    assert_eq!(block_on(local.run(local.spawn(async { 3 }))), 3);
}

#[test]
fn panic_in_nested_block_on_reaches_the_outer_task() {
    let task = spawn(async {
        let inner = spawn(async { panic!("deep") });
        block_on(inner)
    });
    let err = catch_unwind(AssertUnwindSafe(|| block_on(task))).unwrap_err();
    assert_eq!(message(err), "deep");
}

#[test]
fn block_on_works_again_after_its_future_panicked() {
    let err = catch_unwind(|| block_on(async { panic!("in block_on") })).unwrap_err();
    assert_eq!(message(err), "in block_on");
    assert_eq!(block_on(async { 1 }), 1);
    assert_eq!(block_on(spawn(async { 2 })), 2);
}

#[test]
fn awaiting_a_task_of_a_dropped_executor_panics_clearly_or_is_none() {
    let ex = Executor::new();
    let task = ex.spawn(async { 1 });
    let fallible = ex.spawn(async { 2 }).fallible();
    drop(ex);
    assert_eq!(block_on(fallible), None);
    let err = catch_unwind(AssertUnwindSafe(|| block_on(task))).unwrap_err();
    assert!(message(err).contains("Task polled after completion"));
}

/// A waker that panics when woken: a buggy awaiter of some other executor.
fn panicking_waker() -> std::task::Waker {
    struct Panics;
    impl std::task::Wake for Panics {
        fn wake(self: std::sync::Arc<Self>) {
            panic!("the awaiter's waker panicked");
        }
    }
    std::task::Waker::from(std::sync::Arc::new(Panics))
}

/// Polls `task` once with a panicking waker, which async-task keeps as the task's awaiter.
fn await_with_panicking_waker<T>(task: &mut amphi::Task<T>) {
    use std::future::Future;
    let waker = panicking_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(task).poll(&mut cx).is_pending());
}

/// The awaiter's waker panics when the task completes: that is an ordinary panic of the code
/// that ran the task (here `try_tick`), not an abort, and the executor keeps running. In a child
/// process, since the failure is an abort.
#[test]
fn a_panicking_awaiter_waker_is_a_panic_of_the_runner_not_an_abort() {
    if !common::is_child() {
        let out = common::in_child("a_panicking_awaiter_waker_is_a_panic_of_the_runner_not_an_abort", &[]);
        assert!(out.contains("the awaiter's waker panicked"), "{out}");
        return;
    }
    let ex = Executor::new();
    let mut task = ex.spawn(async { 7 });
    await_with_panicking_waker(&mut task);
    let err = catch_unwind(AssertUnwindSafe(|| ex.try_tick())).unwrap_err();
    assert_eq!(message(err), "the awaiter's waker panicked");
    assert!(task.is_finished());
    assert_eq!(block_on(task), 7, "the output is still there for the awaiter");
    // The executor goes on.
    let next = ex.spawn(async { 8 });
    assert_eq!(block_on(ex.run(next)), 8);

    // The same on a LocalExecutor, through `run`.
    let local = LocalExecutor::new();
    let mut task = local.spawn(async { 1 });
    await_with_panicking_waker(&mut task);
    let err = catch_unwind(AssertUnwindSafe(|| block_on(local.run(futures_lite::future::yield_now()))))
        .unwrap_err();
    assert_eq!(message(err), "the awaiter's waker panicked");
    assert_eq!(block_on(local.run(local.spawn(async { 2 }))), 2);
}

/// On the global runtime the worker that ran the task reports the panic and keeps serving: every
/// worker still runs tasks afterwards.
#[test]
fn a_panicking_awaiter_waker_does_not_take_a_worker_down() {
    if !common::is_child() {
        let out = common::in_child(
            "a_panicking_awaiter_waker_does_not_take_a_worker_down",
            &[("AMPHI_THREADS", "1")],
        );
        assert!(out.contains("the awaiter's waker panicked"), "{out}");
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut task = spawn(async move { rx.recv().unwrap() });
    await_with_panicking_waker(&mut task);
    tx.send(3).unwrap();
    assert!(common::eventually(std::time::Duration::from_secs(5), || task.is_finished()));
    // The only worker ran the task and called the waker; it is still there.
    assert_eq!(block_on(spawn(async { "alive" })), "alive");
    assert_eq!(common::threads_named("amphi-worker"), 1);
    assert_eq!(block_on(task), 3);
}
