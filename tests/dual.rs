//! One async method, written once with `dual!`, called from every kind of caller.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{Dual, dual};
use futures::channel::oneshot;

/// A client whose operations are written once, as async.
struct Service {
    base: u64,
    calls: AtomicUsize,
}

impl Service {
    amphi::dual! {
        /// Doubles `n` on another OS thread, adds one in an `amphi` task, adds the base.
        pub async fn compute(&self, n: u64) -> u64 {
            self.calls.fetch_add(1, Ordering::Relaxed);
            // A wake-up that comes from a foreign thread...
            let (tx, rx) = oneshot::channel();
            thread::spawn(move || tx.send(n * 2).unwrap());
            let doubled = rx.await.unwrap();
            // ...and a task on amphi's global executor.
            let plus_one = amphi::spawn(async move { doubled + 1 }).await;
            self.base + plus_one
        }

        /// The same operation, on borrowed input and with a `where` clause.
        pub async fn compute_all<I>(&self, items: &[u64], _tag: I) -> Vec<u64> where I: Send {
            let mut out = Vec::new();
            for &n in items {
                out.push(self.compute(n).await);
            }
            out
        }
    }
}

fn service() -> Arc<Service> {
    Arc::new(Service { base: 100, calls: AtomicUsize::new(0) })
}

#[test]
fn a_wait_from_main() {
    let s = service();
    assert_eq!(s.compute(1).wait(), 103);
    assert_eq!(s.compute_all(&[1, 2], "tag").wait(), vec![103, 105]);
    assert_eq!(s.calls.load(Ordering::Relaxed), 3);
}

#[test]
fn b_await_under_amphi() {
    let s = service();
    let s2 = s.clone();
    let v = amphi::block_on(amphi::spawn(async move { s2.compute(2).await }));
    assert_eq!(v, 105);
    // Concurrently, as a join of many calls.
    let sum = amphi::block_on(async {
        let calls = (0..10).map(|n| s.compute(n));
        let mut total = 0;
        for r in futures::future::join_all(calls).await {
            total += r;
        }
        total
    });
    assert_eq!(sum, (0..10).map(|n| 100 + 2 * n + 1).sum::<u64>());
}

#[test]
fn c_await_under_tokio() {
    let s = service();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let s2 = s.clone();
    assert_eq!(rt.block_on(async move { s2.compute(3).await }), 107);
    let s3 = s.clone();
    assert_eq!(rt.block_on(rt.spawn(async move { s3.compute(4).await })).unwrap(), 109);

    let current = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(current.block_on(s.compute(5)), 111);
}

#[test]
fn c_await_under_futures_executor() {
    let s = service();
    assert_eq!(futures::executor::block_on(s.compute(6)), 113);
    let pool = futures::executor::ThreadPool::builder().pool_size(2).create().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let s2 = s.clone();
    pool.spawn_ok(async move { tx.send(s2.compute(7).await).unwrap() });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 115);
}

#[test]
fn d_wait_inside_a_tokio_multi_thread_task() {
    let s = service();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let handles: Vec<_> = (0..8)
        .map(|n| {
            let s = s.clone();
            rt.spawn(async move { s.compute(n).wait() })
        })
        .collect();
    let results: Vec<u64> = rt.block_on(async {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    assert_eq!(results, (0..8).map(|n| 100 + 2 * n + 1).collect::<Vec<_>>());
}

#[test]
fn d_wait_inside_an_amphi_task() {
    let s = service();
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let s = s.clone();
            amphi::spawn(async move { s.compute(n).wait() })
        })
        .collect();
    let results: Vec<u64> = tasks.into_iter().map(amphi::block_on).collect();
    assert_eq!(results, (0..8).map(|n| 100 + 2 * n + 1).collect::<Vec<_>>());
}

#[test]
fn d_wait_inside_an_amphi_task_with_one_worker() {
    if common::ran_in_child("d_wait_inside_an_amphi_task_with_one_worker", &[("AMPHI_THREADS", "1")]) {
        return;
    }
    d_wait_inside_an_amphi_task();
}

#[test]
fn e_sixty_four_threads_share_one_instance() {
    let s = service();
    let threads: Vec<_> = (0..64u64)
        .map(|t| {
            let s = s.clone();
            thread::spawn(move || (0..20).map(|i| s.compute(t * 100 + i).wait()).sum::<u64>())
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let expected: u64 = (0..64u64).flat_map(|t| (0..20).map(move |i| 100 + 2 * (t * 100 + i) + 1)).sum();
    assert_eq!(total, expected);
    assert_eq!(s.calls.load(Ordering::Relaxed), 64 * 20);
}

#[test]
fn dual_is_a_future_for_select() {
    let s = service();
    let v = amphi::block_on(futures_lite::future::or(s.compute(1), futures_lite::future::pending()));
    assert_eq!(v, 103);
}

#[test]
fn wait_timeout_returns_and_resumes() {
    let (tx, rx) = oneshot::channel::<u32>();
    let pending: Dual<_> = dual(rx);
    let start = Instant::now();
    let pending = pending.wait_timeout(Duration::from_millis(50)).unwrap_err();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(50), "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    tx.send(9).unwrap();
    // The same operation continues where it stopped.
    assert_eq!(pending.wait().unwrap(), 9);
}

#[test]
fn wait_timeout_inside_tokio_current_thread_does_not_hang() {
    // A future that only Tokio's own driver can complete, waited for synchronously on Tokio's only
    // thread: `wait` would block that driver forever; `wait_timeout` gives up and returns it.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let back = rt.block_on(async {
        let sleep = dual(tokio::time::sleep(Duration::from_millis(20)));
        sleep.wait_timeout(Duration::from_millis(200)).err()
    });
    let unfinished = back.expect("Tokio's timer cannot fire while its only thread is blocked");
    // Handed back to Tokio, it completes.
    rt.block_on(unfinished);
}
