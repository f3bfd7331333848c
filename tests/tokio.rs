//! The `tokio` feature: Tokio-bound futures (reqwest, `tokio::time`) under `.wait()`, `block_on`,
//! `spawn`, `unblock` and `LocalExecutor`, from sync code and from inside Tokio runtimes, against
//! a local HTTP server. Each case runs in a child process, so the Tokio runtimes it sees (and the
//! `amphi-tokio` thread it counts) are its own.
#![cfg(feature = "tokio")]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amphi::{LocalExecutor, block_on, dual, spawn, unblock};
use common::doubler::server;
use common::{in_child, is_child, threads_named};

/// Runs the calling test in a child; returns `true` in the child.
fn child(name: &str) -> bool {
    if is_child() {
        return true;
    }
    println!("{}", in_child(name, &[]));
    false
}

/// A library written once, as `async`, on a Tokio-bound client.
struct Doubler {
    client: reqwest::Client,
    addr: SocketAddr,
}

impl Doubler {
    amphi::dual! {
        async fn double(&self, n: u64) -> u64 {
            let url = format!("http://{}/{n}", self.addr);
            let body = self.client.get(url).send().await.unwrap().text().await.unwrap();
            body.parse().unwrap()
        }
    }
}

fn doubler() -> Arc<Doubler> {
    Arc::new(Doubler { client: reqwest::Client::new(), addr: server() })
}

#[test]
fn reqwest_from_a_sync_main() {
    if !child("reqwest_from_a_sync_main") {
        return;
    }
    let d = doubler();
    for n in 0..20 {
        assert_eq!(d.double(n).wait(), n * 2);
    }
    assert_eq!(threads_named("amphi-tokio"), 1, "one shared runtime, started on first use");
}

#[test]
fn reqwest_from_an_amphi_task_a_local_executor_and_unblock() {
    if !child("reqwest_from_an_amphi_task_a_local_executor_and_unblock") {
        return;
    }
    let d = doubler();
    let task = spawn({
        let d = d.clone();
        async move { d.double(21).await }
    });
    assert_eq!(block_on(task), 42);
    let local = LocalExecutor::new();
    let rc = std::rc::Rc::new(5);
    let task = local.spawn({
        let d = d.clone();
        async move { d.double(*rc).await }
    });
    assert_eq!(block_on(local.run(task)), 10);
    // Sync code on the blocking pool that reaches for Tokio's handle finds one.
    let slept = block_on(unblock(|| {
        let start = Instant::now();
        tokio::runtime::Handle::current().block_on(tokio::time::sleep(Duration::from_millis(10)));
        start.elapsed()
    }));
    assert!(slept >= Duration::from_millis(10));
    assert_eq!(threads_named("amphi-tokio"), 1);
}

#[test]
fn sixty_four_threads_share_one_client() {
    if !child("sixty_four_threads_share_one_client") {
        return;
    }
    let d = doubler();
    let threads: Vec<_> = (0..64u64)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || (0..5).map(|i| d.double(t * 10 + i).wait()).sum::<u64>())
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, (0..64u64).flat_map(|t| (0..5).map(move |i| (t * 10 + i) * 2)).sum::<u64>());
}

#[test]
fn inside_a_multi_thread_runtime_its_handle_is_reused() {
    if !child("inside_a_multi_thread_runtime_its_handle_is_reused") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let d = doubler();
    // On the thread in the runtime's `block_on`, and in one of its tasks.
    assert_eq!(rt.block_on(async { d.double(3).wait() }), 6);
    let d2 = d.clone();
    assert_eq!(rt.block_on(async { tokio::spawn(async move { d2.double(4).wait() }).await.unwrap() }), 8);
    assert_eq!(threads_named("amphi-tokio"), 0, "no second runtime started");
}

#[test]
fn inside_a_current_thread_runtime_it_does_not_hang() {
    if !child("inside_a_current_thread_runtime_it_does_not_hang") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let d = doubler();
    // Its driver turns only in its own `block_on`, which `.wait()` holds: the shared runtime
    // drives instead.
    assert_eq!(rt.block_on(async { d.double(7).wait() }), 14);
    // A Tokio future made inside the `.wait()`'s own future: it binds to the shared runtime. (One
    // made outside, in the current-thread runtime's task, would bind to that runtime's driver.)
    rt.block_on(async { dual(async { tokio::time::sleep(Duration::from_millis(5)).await }).wait() });
    assert_eq!(threads_named("amphi-tokio"), 1);
}

#[test]
fn tokio_sleep_under_block_on() {
    if !child("tokio_sleep_under_block_on") {
        return;
    }
    // Made inside the future `block_on` polls: Tokio's timers bind to the context they are made in.
    let start = Instant::now();
    block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
    let slept = start.elapsed();
    assert!(slept >= Duration::from_millis(20), "{slept:?}");
    assert!(slept < Duration::from_secs(2), "{slept:?}");
    let start = Instant::now();
    let never = dual(async { tokio::time::sleep(Duration::from_secs(5)).await });
    let unfinished = never.wait_timeout(Duration::from_millis(20));
    let waited = start.elapsed();
    assert!(unfinished.is_err(), "a 5 s sleep finished within 20 ms");
    assert!(waited >= Duration::from_millis(20), "gave up early: {waited:?}");
    assert!(waited < Duration::from_secs(2), "gave up late: {waited:?}");
    // Given back unfinished, it is waited for again with the same bound.
    let mut unfinished = unfinished.unwrap_err();
    let again = Instant::now();
    unfinished = match unfinished.wait_timeout(Duration::from_millis(50)) {
        Ok(()) => panic!("the sleep finished 50 ms into a 5 s sleep"),
        Err(unfinished) => unfinished,
    };
    assert!(again.elapsed() >= Duration::from_millis(50), "gave up early: {:?}", again.elapsed());
    drop(unfinished);
}
