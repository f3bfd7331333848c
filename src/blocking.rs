//! `unblock`: the blocking pool, for sync code called from async code.
//!
//! Threads (`amphi-blocking-N`) start when work arrives and no thread is idle, up to
//! `max_blocking_threads`; beyond that, work queues. A thread idle for [`IDLE`] exits, so a burst
//! leaves no threads behind.
//!
//! The counting and the hand-over of jobs to threads are `pool.rs`'s; this file starts the
//! threads and times their waits.

#![forbid(unsafe_code)]

mod handle;
mod pool;

use core::time::Duration;
use std::time::Instant;

use async_task::Runnable;

pub use self::handle::Unblock;
use self::pool::Pool;
pub(crate) use self::pool::PoolCounts;
use crate::per_process::PerProcess;
use crate::task::Task;

/// How long a pool thread waits for work before it exits.
const IDLE: Duration = Duration::from_secs(1);

/// This process's pool: a child made by `fork()` makes its own (`per_process.rs`).
static POOL: PerProcess<Pool<Runnable>> = PerProcess::new();

fn pool() -> &'static Pool<Runnable> {
    POOL.get_or_init(Pool::new)
}

/// Runs blocking code on the blocking pool and returns a [`Task`] for its result.
///
/// The closure runs on a thread named `amphi-blocking-N` (the prefix follows
/// [`Builder::thread_name`](crate::Builder::thread_name)). The pool holds at most
/// `AMPHI_MAX_BLOCKING_THREADS` (or
/// [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)) threads; more work
/// waits in a queue. Threads start on demand and exit after about a second without work.
///
/// Dropping the `Task` before the closure starts cancels it: the closure never runs. A panic in
/// the closure resumes where the `Task` is awaited.
///
/// # Panics
///
/// On first use of the runtime, if `AMPHI_THREADS` is set to anything but an integer from 0 to
/// 4096, or `AMPHI_MAX_BLOCKING_THREADS` to anything but one from 1 to 10,000.
///
/// # Examples
///
/// ```
/// let contents = amphi::block_on(amphi::unblock(|| std::fs::read_to_string("Cargo.toml")));
/// assert!(contents.unwrap().contains("[package]"));
/// ```
pub fn unblock<T, F>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let future = async move { f() };
    let (runnable, task) = crate::task::builder().spawn(|()| future, schedule);
    runnable.schedule();
    Task::new(task)
}

/// The pool's threads alive, threads idle, and jobs queued.
pub(crate) fn snapshot() -> PoolCounts {
    pool().counts()
}

fn schedule(runnable: Runnable) {
    let max = crate::config::config().max_blocking_threads;
    if let Some(id) = pool().schedule(runnable, max) {
        spawn_thread(id);
    }
}

fn spawn_thread(id: usize) {
    if crate::config::spawn_thread(format_args!("blocking-{id}"), thread_main) {
        return;
    }
    // No new thread: the queued work waits for an existing one, or, if there is none, runs here
    // rather than never.
    for runnable in pool().not_started() {
        crate::task::run(runnable);
    }
}

fn thread_main() {
    // Sync code that reaches for a Tokio handle (`Handle::current`) finds one.
    let _tokio = crate::tokio_context::enter();
    // A thread is its process's for good (a forked child has none of its parent's threads).
    let pool = pool();
    loop {
        match pool.next_job(crate::config::config().max_blocking_threads, std::thread::current) {
            Ok((runnable, start)) => {
                if let Some(id) = start {
                    spawn_thread(id);
                }
                // A job's own panic is its task's; one that reaches here is of the awaiter's waker
                // (reported by the panic hook): the pool thread, counted by the pool, goes on.
                let _ =
                    std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| crate::task::run(runnable)));
            }
            Err(ticket) => {
                let deadline = Instant::now() + IDLE;
                if !pool.wait_for_work(ticket, || crate::tokens::park_until(deadline)) {
                    return;
                }
            }
        }
    }
}
