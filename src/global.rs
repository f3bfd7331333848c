//! The global runtime: `spawn` and the worker threads that run the global executor.
//!
//! Nothing starts until the first `spawn`: then `worker_threads` threads named
//! `amphi-worker-N` run the global executor. With zero workers, tasks run inside `block_on` calls.
//!
//! Hand-off: a task that calls `block_on` on a worker thread takes that worker off duty for the
//! length of the call. Before it blocks, a replacement is recruited (an idle spare thread, or a new
//! one), so the executor always has `worker_threads` threads on duty and a task waiting on a
//! sibling completes even with one worker. When the call returns, the thread is back on duty and
//! the pool is one over: the first worker to notice steps back and becomes a spare, which exits
//! after [`SPARE_IDLE`] without being recalled. The counting is `roster.rs`'s.

#![forbid(unsafe_code)]

mod roster;

use core::future::Future;
use core::time::Duration;
use std::time::Instant;

use self::roster::Roster;
use crate::config::{config, spawn_thread};
use crate::executor::{Catch, Executor, State};
use crate::per_process::PerProcess;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use crate::task::Task;
use crate::{context, idle_loop};

/// How long a spare worker waits to be recalled before its thread exits.
const SPARE_IDLE: Duration = Duration::from_secs(2);

/// The global executor and its worker threads, this process's: a child made by `fork()` makes
/// its own at first use (`per_process.rs`). Never dropped, so the executor's tasks are spawned
/// without a slot to drop them by (`State::spawn_untracked`).
static GLOBAL: PerProcess<Global> = PerProcess::new();

struct Global {
    executor: Executor<'static>,
    workers: WorkerThreads,
}

fn global() -> &'static Global {
    GLOBAL.get_or_init(|| Global { executor: Executor::new(), workers: WorkerThreads::new() })
}

/// The global executor's state.
pub(crate) fn state() -> &'static State {
    global().executor.state()
}

/// Spawns a task on the global executor.
///
/// The first call starts the worker threads (`AMPHI_THREADS`, or
/// [`Builder::worker_threads`](crate::Builder::worker_threads); default: the number of cores). With
/// zero workers, tasks run inside [`block_on`](crate::block_on) calls on any thread.
///
/// # Panics
///
/// On first use, if `AMPHI_THREADS` is set to anything but an integer from 0 to 4096, or
/// `AMPHI_MAX_BLOCKING_THREADS` to anything but one from 1 to 10,000.
///
/// # Examples
///
/// ```
/// let task = amphi::spawn(async { 1 + 1 });
/// assert_eq!(amphi::block_on(task), 2);
/// ```
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    // Captures nothing: see `State::spawn_untracked`.
    let schedule = |runnable| state().schedule(runnable);
    started().spawn_untracked(future, schedule)
}

/// The global executor's state, its worker threads started: for a spawn.
pub(crate) fn started() -> &'static State {
    let global = global();
    global.workers.start();
    global.executor.state()
}

/// The global executor's state if `block_on` must run its tasks: there are no worker threads.
pub(crate) fn run_by_block_on_callers() -> Option<&'static State> {
    let global = global();
    if global.workers.no_workers.load(Ordering::Relaxed) { Some(global.executor.state()) } else { None }
}

/// Catches the global executor's tasks woken on this thread, for it to run them while it waits
/// (`executor::Catch`); `None` when there is nothing to catch for ([`catches`]).
pub(crate) fn catch_wakes(waker: core::task::Waker) -> Option<Catch<'static>> {
    catches().then(|| Catch::new(state(), waker)).flatten()
}

/// Catches the global executor's tasks that the first poll of a `block_on` wakes on this thread,
/// for that `block_on` to run them once it waits (see [`catch_wakes`]); `None` when there is
/// nothing to catch for ([`catches`]).
#[cfg_attr(not(feature = "tokio"), allow(dead_code, reason = "only a thread driving Tokio catches"))]
pub(crate) fn catch_first_wakes() -> Option<crate::executor::FirstWakes> {
    catches().then(|| crate::executor::catch_first_wakes(state()))
}

/// Whether a waiting thread has global tasks to catch: not while the global runtime has no
/// worker threads (`block_on` callers run its tasks then anyway) or none started yet (no task).
fn catches() -> bool {
    let workers = &global().workers;
    !workers.no_workers.load(Ordering::Relaxed) && workers.alive.load(Ordering::Relaxed) != 0
}

/// Worker threads alive, on duty or spare.
pub(crate) fn worker_threads() -> usize {
    global().workers.alive.load(Ordering::Relaxed)
}

/// Whether `state` is the global executor's.
pub(crate) fn is_global(state: &State) -> bool {
    core::ptr::eq(state, self::state())
}

/// If this thread is an on-duty global worker, takes it off duty until the guard drops,
/// recruiting a replacement first.
pub(crate) fn hand_off_if_on_duty() -> Option<impl Drop> {
    struct BackOnDuty;
    impl Drop for BackOnDuty {
        fn drop(&mut self) {
            context::set_on_duty(true);
            global().workers.roster.back_on_duty();
        }
    }
    if !context::take_off_duty() {
        return None;
    }
    let workers = &global().workers;
    if workers.roster.hand_off() {
        workers.spawn_thread();
    }
    Some(BackOnDuty)
}

/// The worker threads.
struct WorkerThreads {
    started: AtomicBool,
    /// Set when no worker runs the global tasks (zero were asked for, or no thread could be
    /// started): `block_on` callers run them.
    no_workers: AtomicBool,
    /// For names: `amphi-worker-N`.
    next_id: AtomicUsize,
    /// Worker threads alive, on duty or spare.
    alive: AtomicUsize,
    roster: Roster,
}

impl WorkerThreads {
    const fn new() -> Self {
        Self {
            started: AtomicBool::new(false),
            no_workers: AtomicBool::new(false),
            next_id: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
            roster: Roster::new(),
        }
    }

    fn start(&self) {
        if self.started.load(Ordering::Acquire) || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let target = config().worker_threads;
        if target == 0 {
            self.no_workers.store(true, Ordering::Release);
        }
        for _ in 0..target {
            self.roster.add();
            self.spawn_thread();
        }
    }

    fn spawn_thread(&self) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.alive.fetch_add(1, Ordering::Relaxed);
        if !spawn_thread(format_args!("worker-{id}"), worker_main) {
            self.alive.fetch_sub(1, Ordering::Relaxed);
            // No thread: the duty falls to `block_on` callers rather than nobody.
            self.roster.not_started();
            self.no_workers.store(true, Ordering::Release);
        }
    }
}

fn worker_main() {
    // Tasks that need Tokio's reactor find it while this worker polls them.
    let _tokio = crate::tokio_context::enter();
    let target = config().worker_threads;
    // A thread is its process's for good (a forked child has none of its parent's threads).
    let Global { executor, workers } = global();
    loop {
        context::set_on_duty(true);
        let retire = futures_lite::future::poll_fn(|_| {
            if workers.roster.should_retire(target) {
                core::task::Poll::Ready(())
            } else {
                core::task::Poll::Pending
            }
        });
        // A panic out of the executor is not a task's (the task's is kept for its awaiter) but
        // of an awaiter's waker called as a task completed; the panic hook reported it, and the
        // worker, counted on duty, goes on.
        let run = core::panic::AssertUnwindSafe(move || idle_loop::run_worker(executor.run(retire)));
        if std::panic::catch_unwind(run).is_err() {
            continue;
        }
        context::set_on_duty(false);
        let deadline = Instant::now() + SPARE_IDLE;
        if !workers.roster.wait_as_spare(std::thread::current, || crate::tokens::park_until(deadline)) {
            workers.alive.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    }
}
