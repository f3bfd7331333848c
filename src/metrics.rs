//! `metrics()`: a snapshot of what the global runtime is doing.

#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::{blocking, global, reactor};

/// What the global runtime is doing at one moment: its threads, tasks, queues, blocking pool and
/// reactor; see [`metrics`].
///
/// Each figure is read on its own, without stopping anything: under load they may not add up to
/// one instant, and each is exact once the runtime is quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Worker threads alive (on duty or spare).
    pub worker_threads: usize,
    /// Runners of the global executor listening for work (workers, or `block_on` callers when
    /// there are no workers): asleep, or about to be.
    pub workers_sleeping: usize,
    /// Tasks alive on the global executor.
    pub tasks: usize,
    /// Tasks waiting in the global executor's shared queue.
    pub global_queue: usize,
    /// Tasks waiting in each runner's own queue, one entry per runner.
    pub worker_queues: Vec<usize>,
    /// Threads of the blocking pool alive.
    pub blocking_threads: usize,
    /// Threads of the blocking pool waiting for work.
    pub blocking_idle: usize,
    /// Jobs waiting for a blocking-pool thread.
    pub blocking_queued: usize,
    /// I/O handles registered with the reactor.
    pub io_sources: usize,
    /// Timers registered with the reactor.
    pub timers: usize,
    /// Whether the reactor's fallback driver thread runs.
    pub fallback_driver: bool,
}

/// A snapshot of the global runtime, cheap enough to take every second: it takes a few locks
/// that are not on any hot path, and creates nothing (a runtime never used reads all zero).
///
/// # Examples
///
/// ```
/// let m = amphi::metrics();
/// println!("{} tasks, {} timers, {} blocking threads", m.tasks, m.timers, m.blocking_threads);
/// ```
pub fn metrics() -> Metrics {
    let global = global::state();
    let executor = global.metrics();
    let pool = blocking::snapshot();
    let reactor = reactor::snapshot().unwrap_or_default();
    Metrics {
        worker_threads: global::worker_threads(),
        workers_sleeping: executor.sleeping_runners,
        tasks: executor.tasks,
        global_queue: global.queued(),
        worker_queues: global.runner_queue_lengths(),
        blocking_threads: pool.threads,
        blocking_idle: pool.sleeping,
        blocking_queued: pool.queued,
        io_sources: reactor.sources,
        timers: reactor.timers,
        fallback_driver: reactor.fallback_running,
    }
}
