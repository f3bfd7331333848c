//! Spawning: volume, from inside tasks, from many threads, onto executors run by many threads.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use amphi::{Executor, LocalExecutor, Task, block_on, spawn};
use futures::channel::oneshot;

#[test]
fn twenty_thousand_global_tasks() {
    let tasks: Vec<Task<u64>> = (0..20_000u64).map(|i| spawn(async move { i })).collect();
    let sum: u64 = block_on(async {
        let mut s = 0;
        for t in tasks {
            s += t.await;
        }
        s
    });
    assert_eq!(sum, (0..20_000u64).sum());
}

#[test]
fn spawn_from_inside_tasks() {
    let total = Arc::new(AtomicUsize::new(0));
    let outer: Vec<_> = (0..100)
        .map(|_| {
            let total = total.clone();
            spawn(async move {
                let inner: Vec<_> = (0..200)
                    .map(|_| {
                        let total = total.clone();
                        spawn(async move {
                            total.fetch_add(1, Ordering::Relaxed);
                        })
                    })
                    .collect();
                for t in inner {
                    t.await;
                }
            })
        })
        .collect();
    block_on(async {
        for t in outer {
            t.await;
        }
    });
    assert_eq!(total.load(Ordering::Relaxed), 100 * 200);
}

#[test]
fn spawn_from_many_threads() {
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            thread::spawn(move || {
                (0..1000u64).map(|i| spawn(async move { t * 1000 + i })).collect::<Vec<_>>()
            })
        })
        .collect();
    let tasks: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let sum: u64 = tasks.into_iter().map(block_on).sum();
    assert_eq!(sum, (0..8000u64).sum());
}

#[test]
fn spawn_many_keeps_order() {
    let ex = Executor::new();
    let mut tasks = Vec::new();
    ex.spawn_many((0..1000).map(|i| async move { i }), &mut tasks);
    assert_eq!(tasks.len(), 1000);
    let out: Vec<i32> = block_on(ex.run(async {
        let mut v = Vec::new();
        for t in tasks {
            v.push(t.await);
        }
        v
    }));
    assert_eq!(out, (0..1000).collect::<Vec<_>>());
}

#[test]
fn try_tick_and_tick() {
    let ex = Executor::new();
    assert!(!ex.try_tick());
    let (tx, rx) = oneshot::channel::<u8>();
    let t = ex.spawn(async move { rx.await.unwrap() });
    assert!(ex.try_tick()); // polled once, now pending
    assert!(!ex.try_tick());
    assert!(!t.is_finished());
    let sender = thread::spawn(move || tx.send(3).unwrap());
    block_on(ex.tick()); // waits for the wake-up from the other thread
    sender.join().unwrap();
    assert!(t.is_finished());
    assert_eq!(block_on(t), 3);
}

#[test]
fn executor_run_by_many_threads() {
    let ex = Arc::new(Executor::new());
    let (stop_tx, stop_rx) = async_broadcast_stop();
    let runners: Vec<_> = (0..4)
        .map(|_| {
            let ex = ex.clone();
            let stop = stop_rx.clone();
            thread::spawn(move || {
                block_on(ex.run(async move {
                    stop.recv().await;
                }))
            })
        })
        .collect();
    let hits = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let hits = hits.clone();
            ex.spawn(async move {
                amphi::yield_now().await;
                hits.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for t in tasks {
        block_on(t);
    }
    assert_eq!(hits.load(Ordering::Relaxed), 10_000);
    stop_tx.stop();
    for r in runners {
        r.join().unwrap();
    }
    assert!(ex.is_empty());
}

/// A tiny "stop all runners" signal built on event-listener's `Event`.
fn async_broadcast_stop() -> (Stop, Stop) {
    let s = Stop(Arc::new((std::sync::atomic::AtomicBool::new(false), event_listener::Event::new())));
    (s.clone(), s)
}

#[derive(Clone)]
struct Stop(Arc<(std::sync::atomic::AtomicBool, event_listener::Event)>);

impl Stop {
    fn stop(&self) {
        self.0.0.store(true, Ordering::SeqCst);
        self.0.1.notify(usize::MAX);
    }

    async fn recv(&self) {
        loop {
            if self.0.0.load(Ordering::SeqCst) {
                return;
            }
            let l = self.0.1.listen();
            if self.0.0.load(Ordering::SeqCst) {
                return;
            }
            l.await;
        }
    }
}

#[test]
fn local_executor_runs_many_non_send_tasks() {
    let local = LocalExecutor::new();
    let cell = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let cell = cell.clone();
            local.spawn(async move {
                amphi::yield_now().await;
                cell.borrow_mut().push(i);
            })
        })
        .collect();
    block_on(local.run(async {
        for t in tasks {
            t.await;
        }
    }));
    let mut v = cell.borrow().clone();
    v.sort();
    assert_eq!(v, (0..1000).collect::<Vec<_>>());
}

#[test]
fn static_executor() {
    static EX: Executor<'static> = Executor::new();
    let t = EX.spawn(async { 9 });
    assert_eq!(block_on(EX.run(t)), 9);
}
