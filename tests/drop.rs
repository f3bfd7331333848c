//! Dropping tasks cancels them; dropping an executor drops every future it holds, exactly once.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use amphi::{Executor, LocalExecutor, block_on, spawn};
use common::DropCounter;
use futures::channel::oneshot;
use futures_lite::future;

#[test]
fn dropping_a_task_cancels_it_and_runs_the_destructor() {
    let (tx, rx) = mpsc::channel();
    struct Notify(mpsc::Sender<&'static str>);
    impl Drop for Notify {
        fn drop(&mut self) {
            self.0.send("dropped").unwrap();
        }
    }
    let guard = Notify(tx);
    let task = spawn(async move {
        let _guard = guard;
        future::pending::<()>().await;
    });
    drop(task);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "dropped");
}

#[test]
fn detached_task_runs_to_completion() {
    let (tx, rx) = oneshot::channel();
    let (done_tx, done_rx) = mpsc::channel();
    spawn(async move {
        let v: u32 = rx.await.unwrap();
        done_tx.send(v * 2).unwrap();
    })
    .detach();
    tx.send(21).unwrap();
    assert_eq!(done_rx.recv_timeout(Duration::from_secs(10)).unwrap(), 42);
}

#[test]
fn cancel_returns_none_when_pending_and_some_when_done() {
    let counter = DropCounter::default();
    let tracked = counter.track();
    let pending = spawn(async move {
        let _t = tracked;
        future::pending::<u8>().await
    });
    assert_eq!(block_on(pending.cancel()), None);
    assert_eq!(counter.dropped(), 1, "cancel() waits until the future is dropped");

    let ex = Executor::new();
    let done = ex.spawn(async { 7 });
    assert!(ex.try_tick());
    assert!(done.is_finished());
    assert_eq!(block_on(done.cancel()), Some(7));
}

#[test]
fn dropping_an_executor_drops_queued_pending_and_detached_futures_once() {
    let counter = DropCounter::default();
    let ex = Executor::new();
    let mut tasks = Vec::new();
    // Queued, never run.
    for _ in 0..10 {
        let t = counter.track();
        tasks.push(ex.spawn(async move {
            let _t = t;
        }));
    }
    // Run once, then pending forever with nobody holding their waker.
    for _ in 0..10 {
        let t = counter.track();
        ex.spawn(async move {
            let _t = t;
            future::pending::<()>().await;
        })
        .detach();
    }
    // Pending on a channel whose sender outlives the executor.
    let mut senders = Vec::new();
    for _ in 0..10 {
        let t = counter.track();
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        ex.spawn(async move {
            let _t = t;
            rx.await.ok();
        })
        .detach();
    }
    // Run until only the queued-but-detached... run everything once.
    while ex.try_tick() {}
    assert_eq!(counter.dropped(), 10, "the 10 trivial tasks completed");
    drop(tasks);
    assert_eq!(counter.dropped(), 10);
    drop(ex);
    assert_eq!(counter.dropped(), 30, "every future dropped by the time drop returns");
    // Waking after the executor is gone is harmless.
    for tx in senders {
        let _ = tx.send(());
    }
    assert_eq!(counter.dropped(), 30, "and never dropped twice");
}

#[test]
fn dropping_a_local_executor_drops_non_send_futures() {
    let counter = DropCounter::default();
    let local = LocalExecutor::new();
    for _ in 0..5 {
        let t = counter.track();
        let rc = std::rc::Rc::new(());
        local
            .spawn(async move {
                let _t = t;
                let _rc = rc;
                future::pending::<()>().await;
            })
            .detach();
    }
    while local.try_tick() {}
    drop(local);
    assert_eq!(counter.dropped(), 5);
}

#[test]
fn executor_tasks_may_borrow_and_are_gone_before_the_borrow_ends() {
    let mut data = vec![1, 2, 3];
    {
        let ex = Executor::new();
        let borrowed = &data;
        let sum = ex.spawn(async move { borrowed.iter().sum::<i32>() });
        let stuck = ex.spawn(async move {
            let _b = borrowed;
            future::pending::<()>().await
        });
        assert_eq!(block_on(ex.run(sum)), 6);
        stuck.detach();
    }
    data.push(4);
    assert_eq!(data.len(), 4);
}

#[test]
fn executor_dropped_while_other_threads_wake_its_tasks() {
    for _ in 0..50 {
        let counter = DropCounter::default();
        let ex = Executor::new();
        let mut wakers = Vec::new();
        for _ in 0..20 {
            let t = counter.track();
            let (tx, rx) = oneshot::channel::<()>();
            wakers.push(tx);
            ex.spawn(async move {
                let _t = t;
                rx.await.ok();
                future::pending::<()>().await;
            })
            .detach();
        }
        while ex.try_tick() {}
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let b = barrier.clone();
        let waker_thread = thread::spawn(move || {
            b.wait();
            for tx in wakers {
                let _ = tx.send(());
            }
        });
        barrier.wait();
        drop(ex);
        waker_thread.join().unwrap();
        assert_eq!(counter.dropped(), 20);
    }
}

#[test]
fn bounded_executor_refuses_without_loss() {
    let ex = Executor::with_capacity(3);
    let counter = DropCounter::default();
    let mut held = Vec::new();
    for _ in 0..3 {
        let t = counter.track();
        held.push(
            ex.try_spawn(async move {
                let _t = t;
                1
            })
            .unwrap(),
        );
    }
    let t = counter.track();
    let refused = ex
        .try_spawn(async move {
            let _t = t;
            10
        })
        .unwrap_err();
    assert_eq!(refused.capacity(), 3);
    assert!(refused.to_string().contains("full"));
    assert_eq!(counter.dropped(), 0, "the refused future is handed back, not dropped");
    // Run the held ones to free room, then the refused future goes in.
    let sum: i32 = block_on(ex.run(async {
        let mut s = 0;
        for t in held {
            s += t.await;
        }
        s
    }));
    assert_eq!(sum, 3);
    let again = ex.try_spawn(refused.into_inner()).unwrap();
    assert_eq!(block_on(ex.run(again)), 10);
    assert_eq!(counter.dropped(), 4);
}

#[test]
fn bounded_executor_spawn_past_capacity_never_panics() {
    let ex = Executor::with_capacity(2);
    let tasks: Vec<_> = (0..100).map(|i| ex.spawn(async move { i })).collect();
    let sum: i32 = block_on(ex.run(async {
        let mut s = 0;
        for t in tasks {
            s += t.await;
        }
        s
    }));
    assert_eq!(sum, (0..100).sum());
    assert!(ex.is_empty());
}
