//! The runtime's metrics, exact in quiet states: threads, tasks, queues, the blocking pool, the
//! reactor's registrations (which also proves that dropping a timer, a readiness waiter or an
//! `Async` deregisters it), and an executor's own.
//!
//! The global-runtime cases run in child processes: nothing else may use the runtime meanwhile.

mod common;

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier};

use std::time::Duration;

use amphi::{Async, Executor, LocalExecutor, Timer, block_on, metrics, spawn, unblock};
use common::{eventually, in_child, is_child};

/// Runs the calling test in a child with `env`; returns `true` in the child.
fn child(name: &str, env: &[(&str, &str)]) -> bool {
    if is_child() {
        return true;
    }
    println!("{}", in_child(name, env));
    false
}

fn quiet(limit: Duration, cond: impl FnMut(&amphi::Metrics) -> bool) -> amphi::Metrics {
    let mut cond = cond;
    let mut last = metrics();
    assert!(
        eventually(limit, || {
            last = metrics();
            cond(&last)
        }),
        "never reached: {last:?}"
    );
    last
}

#[test]
fn an_unused_runtime_reads_all_zero_and_starts_nothing() {
    if !child("an_unused_runtime_reads_all_zero_and_starts_nothing", &[]) {
        return;
    }
    let before = common::thread_names();
    assert_eq!(metrics(), amphi::Metrics::default());
    assert_eq!(common::thread_names(), before, "taking metrics starts no thread");
}

#[test]
fn workers_tasks_and_queues() {
    if !child("workers_tasks_and_queues", &[("AMPHI_THREADS", "2")]) {
        return;
    }
    let (started, gate) = (Arc::new(Barrier::new(3)), Arc::new(Barrier::new(3)));
    // Two tasks hold both workers; a third, spawned once they run, waits in a queue.
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (started, gate) = (started.clone(), gate.clone());
            spawn(async move {
                started.wait();
                gate.wait();
            })
        })
        .collect();
    started.wait();
    let queued = spawn(async {});
    let waiting = |m: &amphi::Metrics| m.global_queue + m.worker_queues.iter().sum::<usize>();
    let m = quiet(Duration::from_secs(5), |m| m.worker_threads == 2 && waiting(m) == 1);
    assert_eq!((m.tasks, m.workers_sleeping), (3, 0), "both workers are in a task: {m:?}");
    gate.wait();
    for t in held {
        block_on(t);
    }
    block_on(queued);
    let m = quiet(Duration::from_secs(5), |m| m.tasks == 0 && m.workers_sleeping == 2);
    assert_eq!((m.worker_threads, m.global_queue), (2, 0), "{m:?}");
    assert_eq!(m.worker_queues.iter().sum::<usize>(), 0, "{m:?}");
    // A detached task that waits is counted while it lives. (Its waker must be held somewhere:
    // async-task drops a detached task that nothing can ever wake, such as one awaiting
    // `pending()`, after its first poll, and the count then rightly reads zero.)
    let (sender, receiver) = async_channel::bounded::<()>(1);
    spawn(async move {
        let _ = receiver.recv().await;
    })
    .detach();
    quiet(Duration::from_secs(5), |m| m.tasks == 1);
    drop(sender);
    quiet(Duration::from_secs(5), |m| m.tasks == 0);
}

#[test]
fn blocking_pool_threads_idle_and_queued() {
    if !child("blocking_pool_threads_idle_and_queued", &[("AMPHI_MAX_BLOCKING_THREADS", "2")]) {
        return;
    }
    let gate = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let gate = gate.clone();
            unblock(move || {
                let (open, cv) = &*gate;
                let _open = cv.wait_while(open.lock().unwrap(), |open| !*open).unwrap();
            })
        })
        .collect();
    // The bound is 2: two jobs hold both threads, the third waits for one.
    let m = quiet(Duration::from_secs(5), |m| m.blocking_threads == 2 && m.blocking_queued == 1);
    assert_eq!(m.blocking_idle, 0, "{m:?}");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    for j in jobs {
        block_on(j);
    }
    let m = quiet(Duration::from_secs(5), |m| m.blocking_idle == 2);
    assert_eq!((m.blocking_threads, m.blocking_queued), (2, 0), "{m:?}");
    // Idle pool threads exit after about a second.
    quiet(Duration::from_secs(10), |m| m.blocking_threads == 0 && m.blocking_idle == 0);
}

#[test]
fn reactor_sources_and_timers_are_counted_and_deregistered_on_drop() {
    if !child("reactor_sources_and_timers_are_counted_and_deregistered_on_drop", &[]) {
        return;
    }
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let client = Async::new(TcpStream::connect(addr).unwrap()).unwrap();
    assert_eq!((metrics().io_sources, metrics().timers), (2, 0));
    // A timer polled once is registered; dropping it before it fires removes it.
    let mut timer = Timer::after(Duration::from_secs(60));
    assert!(block_on(futures_lite::future::poll_once(&mut timer)).is_none());
    let mut second = Timer::after(Duration::from_secs(60));
    assert!(block_on(futures_lite::future::poll_once(&mut second)).is_none());
    assert_eq!(metrics().timers, 2);
    drop(timer);
    assert_eq!(metrics().timers, 1);
    drop(second);
    assert_eq!(metrics().timers, 0);
    // A fired timer is gone too.
    block_on(Timer::after(Duration::from_millis(1)));
    assert_eq!(metrics().timers, 0);
    // A readiness waiter dropped while waiting leaves the source registered but idle, and
    // dropping the `Async` deregisters it.
    let mut readable = client.readable();
    assert!(block_on(futures_lite::future::poll_once(&mut readable)).is_none());
    drop(readable);
    drop(client);
    assert_eq!(metrics().io_sources, 1);
    drop(listener);
    assert_eq!(metrics().io_sources, 0);
    assert!(!metrics().fallback_driver, "block_on drove everything itself");
}

#[test]
fn an_executor_s_tasks_and_queue() {
    let ex = Executor::new();
    assert_eq!(ex.metrics(), amphi::ExecutorMetrics::default());
    let tasks: Vec<_> = (0..3).map(|i| ex.spawn(async move { i })).collect();
    let m = ex.metrics();
    assert_eq!((m.tasks, m.queued, m.sleeping_runners), (3, 3, 0));
    assert!(ex.try_tick());
    let m = ex.metrics();
    assert_eq!((m.tasks, m.queued), (2, 2));
    drop(tasks);
    // Dropped tasks are cancelled: their runnables still wait, and go when run.
    while ex.try_tick() {}
    assert_eq!(ex.metrics(), amphi::ExecutorMetrics::default());

    let local = LocalExecutor::with_capacity(4);
    let _a = local.spawn(async {});
    assert_eq!(local.metrics().tasks, 1);
}

/// With no worker threads every `block_on` runs the global executor while it waits, with a queue
/// of its own: the queue is counted while the call runs and gone when it returns, also for a
/// call that timed out or left after one batch.
#[test]
fn a_block_on_caller_s_runner_queue_goes_with_the_call() {
    if !child("a_block_on_caller_s_runner_queue_goes_with_the_call", &[("AMPHI_THREADS", "0")]) {
        return;
    }
    for _ in 0..10 {
        let inside = block_on(spawn(async { metrics().worker_queues.len() }));
        assert_eq!(inside, 1, "the waiting caller's queue, counted while it runs");
        let timed_out =
            amphi::dual(Timer::after(Duration::from_secs(10))).wait_timeout(Duration::from_millis(2));
        assert!(timed_out.is_err());
    }
    assert_eq!(metrics().worker_queues, Vec::<usize>::new(), "every caller's queue went with its call");
}
