//! What both bench binaries share: the runtimes under test, built once per process with the same
//! worker count, and a uniform way to `block_on`, spawn and `unblock` on each of them.
//!
//! Each binary uses only part of this module.
#![allow(dead_code)]

pub mod http;
pub mod io;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

/// A runtime under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    /// `amphi`'s global runtime (`amphi::block_on`, `amphi::spawn`).
    Amphi,
    /// Tokio's multi-thread runtime.
    TokioMt,
    /// Tokio's current-thread runtime: tasks run inside `block_on`.
    TokioCt,
    /// smol's parts: `async-executor` run by worker threads, `async_io::block_on`, `blocking`.
    Smol,
    /// futures-executor: `ThreadPool` and `block_on`.
    Futures,
    /// pollster: `block_on` only.
    Pollster,
}

/// Every runtime, `amphi` first.
pub const ALL: [Rt; 6] = [Rt::Amphi, Rt::TokioMt, Rt::TokioCt, Rt::Smol, Rt::Futures, Rt::Pollster];
/// Runtimes that can spawn tasks.
pub const SPAWNERS: [Rt; 5] = [Rt::Amphi, Rt::TokioMt, Rt::TokioCt, Rt::Smol, Rt::Futures];
/// Runtimes with a reactor, timers and a blocking pool.
pub const REACTORS: [Rt; 4] = [Rt::Amphi, Rt::TokioMt, Rt::TokioCt, Rt::Smol];

struct Peers {
    tokio_mt: tokio::runtime::Runtime,
    tokio_ct: tokio::runtime::Runtime,
    futures: futures::executor::ThreadPool,
}

static PEERS: OnceLock<Peers> = OnceLock::new();
static SMOL: async_executor::Executor<'static> = async_executor::Executor::new();

/// Worker threads given to every runtime: `AMPHI_BENCH_WORKERS`, else `amphi`'s default, the
/// number of cores.
pub fn workers() -> usize {
    match std::env::var("AMPHI_BENCH_WORKERS") {
        Ok(n) => n.parse().expect("AMPHI_BENCH_WORKERS is a number of threads"),
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Builds every runtime with [`workers`] threads. Call once, first thing in `main`.
pub fn init() {
    let n = workers();
    amphi::Builder::new().worker_threads(n).install().expect("the bench configures amphi first");
    PEERS.get_or_init(|| Peers {
        tokio_mt: tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build().unwrap(),
        tokio_ct: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
        futures: futures::executor::ThreadPool::builder().pool_size(n).create().unwrap(),
    });
    for i in 0..n {
        std::thread::Builder::new()
            .name(format!("smol-{i}"))
            .spawn(|| async_io::block_on(SMOL.run(std::future::pending::<()>())))
            .unwrap();
    }
}

fn peers() -> &'static Peers {
    PEERS.get().expect("common::init() runs first")
}

/// The Tokio runtime behind `rt` (`TokioMt` or `TokioCt`).
pub fn tokio_runtime(rt: Rt) -> &'static tokio::runtime::Runtime {
    match rt {
        Rt::TokioMt => &peers().tokio_mt,
        Rt::TokioCt => &peers().tokio_ct,
        _ => panic!("{} is not Tokio", rt.name()),
    }
}

/// A spawned task's handle on any runtime; awaiting it yields the output.
pub enum Join<T> {
    Amphi(amphi::Task<T>),
    Tokio(tokio::task::JoinHandle<T>),
    Smol(async_executor::Task<T>),
    Futures(futures::future::RemoteHandle<T>),
}

impl<T: Send + 'static> Join<T> {
    /// Cancels the task (a dropped Tokio `JoinHandle` would only detach it).
    pub fn cancel(self) {
        match self {
            Join::Tokio(t) => t.abort(),
            other => drop(other),
        }
    }
}

impl<T: 'static> Future for Join<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Join::Amphi(t) => Pin::new(t).poll(cx),
            Join::Tokio(t) => Pin::new(t).poll(cx).map(|r| r.expect("task panicked")),
            Join::Smol(t) => Pin::new(t).poll(cx),
            Join::Futures(t) => Pin::new(t).poll(cx),
        }
    }
}

impl Rt {
    pub fn name(self) -> &'static str {
        match self {
            Rt::Amphi => "amphi",
            Rt::TokioMt => "tokio-mt",
            Rt::TokioCt => "tokio-ct",
            Rt::Smol => "smol",
            Rt::Futures => "futures",
            Rt::Pollster => "pollster",
        }
    }

    pub fn block_on<F: Future>(self, future: F) -> F::Output {
        match self {
            Rt::Amphi => amphi::block_on(future),
            Rt::TokioMt => peers().tokio_mt.block_on(future),
            Rt::TokioCt => peers().tokio_ct.block_on(future),
            Rt::Smol => async_io::block_on(future),
            Rt::Futures => futures::executor::block_on(future),
            Rt::Pollster => pollster::block_on(future),
        }
    }

    /// Spawns on this runtime's executor (from inside or outside its tasks).
    ///
    /// # Panics
    ///
    /// On pollster, which has no executor.
    pub fn spawn<T: Send + 'static>(self, future: impl Future<Output = T> + Send + 'static) -> Join<T> {
        use futures::task::SpawnExt;
        match self {
            Rt::Amphi => Join::Amphi(amphi::spawn(future)),
            Rt::TokioMt => Join::Tokio(peers().tokio_mt.spawn(future)),
            Rt::TokioCt => Join::Tokio(peers().tokio_ct.spawn(future)),
            Rt::Smol => Join::Smol(SMOL.spawn(future)),
            Rt::Futures => Join::Futures(peers().futures.spawn_with_handle(future).unwrap()),
            Rt::Pollster => panic!("pollster cannot spawn"),
        }
    }

    /// Spawns a task that runs to completion unobserved.
    pub fn detach(self, future: impl Future<Output = ()> + Send + 'static) {
        match self {
            Rt::Amphi => amphi::spawn(future).detach(),
            Rt::TokioMt => drop(peers().tokio_mt.spawn(future)),
            Rt::TokioCt => drop(peers().tokio_ct.spawn(future)),
            Rt::Smol => SMOL.spawn(future).detach(),
            Rt::Futures => peers().futures.spawn_ok(future),
            Rt::Pollster => panic!("pollster cannot spawn"),
        }
    }

    /// Runs `f` on this runtime's blocking pool.
    ///
    /// # Panics
    ///
    /// On runtimes without one.
    pub fn unblock<T: Send + 'static>(self, f: impl FnOnce() -> T + Send + 'static) -> Join<T> {
        match self {
            Rt::Amphi => Join::Amphi(amphi::unblock(f)),
            Rt::TokioMt => Join::Tokio(peers().tokio_mt.spawn_blocking(f)),
            Rt::TokioCt => Join::Tokio(peers().tokio_ct.spawn_blocking(f)),
            Rt::Smol => Join::Smol(blocking::unblock(f)),
            _ => panic!("{} has no blocking pool here", self.name()),
        }
    }

    /// Whether this runtime can run the reactor workloads (I/O, timers, blocking pool).
    pub fn has_io(self) -> bool {
        match self {
            Rt::Amphi | Rt::TokioMt | Rt::TokioCt | Rt::Smol => true,
            Rt::Futures | Rt::Pollster => false,
        }
    }
}

/// Yields once with the runtime's own `yield_now`.
pub async fn yield_now(rt: Rt) {
    match rt {
        Rt::Amphi => amphi::yield_now().await,
        Rt::TokioMt | Rt::TokioCt => tokio::task::yield_now().await,
        _ => futures_lite::future::yield_now().await,
    }
}

/// Median of `samples` (sorted in place).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// Nanoseconds as a short human figure: `3.2 ns`, `41.0 µs`, `12.3 ms`, `1.20 s`.
pub fn fmt_ns(ns: f64) -> String {
    if ns.is_nan() {
        "—".to_string()
    } else if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `AMPHI_BENCH_QUICK=1`: few rounds, tiny sizes (a smoke run).
pub fn quick() -> bool {
    std::env::var("AMPHI_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The first command-line argument that is not a flag (`cargo bench` passes `--bench`).
pub fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// The soft limit on open files, from `/proc/self/limits`; `None` without one (Windows, macOS).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
