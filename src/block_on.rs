//! `block_on`: runs a future to completion on the calling thread.
//!
//! The fast path polls once with a waker cached per thread, so a ready future costs a poll and a
//! thread-local access. Only when the future is pending does `block_on` look at its context:
//! - on a thread that is running an executor (`Executor::run` / `LocalExecutor::run` is on the
//!   stack), the nested `block_on` keeps running that executor's tasks while it waits, its own
//!   future first, so waiting on a sibling task completes even with one runner thread;
//! - on a global worker thread, the worker hands its duty to another thread first;
//! - when the global runtime has no worker threads (`AMPHI_THREADS=0`), `block_on` runs its tasks;
//! - otherwise it parks between wake-ups.

use core::future::IntoFuture;
use core::pin::pin;

#[cfg(feature = "std")]
pub(crate) use self::imp::block_on_deadline;

/// Runs a future to completion on the calling thread and returns its output.
///
/// Works in every context: on any number of plain threads at once, nested inside another
/// `block_on`, inside a task of an `amphi` executor (even one with a single thread, waiting on a
/// sibling task), and on a thread owned by another runtime. Between wake-ups the thread parks
/// (std) or calls the idle hook set by `set_idle_hook` (no_std); a wake-up is never missed.
///
/// A program that only calls `block_on` starts no thread.
///
/// A future that needs Tokio's reactor or timers (reqwest, `tokio::net`, `tokio::time`) panics
/// here with Tokio's "there is no reactor running" unless the `tokio` feature is on: then it
/// runs inside the caller's multi-thread Tokio runtime if one is current, else inside one shared
/// current-thread runtime, started on first use, which the waiting thread drives itself while no
/// other thread waits (its sockets, its timers, the tasks spawned on it: a call to a Tokio-bound
/// client costs what the sync crates cost), and its one thread, `amphi-tokio`, otherwise. As in
/// any current-thread runtime, a task spawned on it (`tokio::spawn` with no runtime of the
/// caller's) that blocks in `block_on` holds its driver: a future that needs Tokio cannot
/// progress there; `.await` it, or spawn the task with `amphi::spawn`.
///
/// It also works from a thread-local's destructor while the thread exits, whether this crate's
/// own thread-locals are destroyed already or not. On Windows such a destructor runs under the
/// loader lock, where no thread can start: there, a `block_on` that needs a thread started (the
/// first `spawn`'s workers, a new blocking-pool thread) waits for ever, as any code would.
///
/// # Examples
///
/// ```
/// let answer = amphi::block_on(async { 40 + 2 });
/// assert_eq!(answer, 42);
/// ```
#[inline]
pub fn block_on<F: IntoFuture>(future: F) -> F::Output {
    imp::block_on(pin!(future.into_future()))
}

#[cfg(feature = "std")]
mod imp {
    use alloc::vec::Vec;
    use core::future::Future;
    use core::pin::{Pin, pin};
    use core::task::{Context, Poll, Waker};
    use std::time::Instant;

    use crate::executor::{self, Catch, FirstWakes, Run, State};
    use crate::idle_loop::{self, Polls, Start};
    use crate::park::Parker;
    use crate::sync::Arc;
    use crate::tokio_context::{Driven, Entered};

    /// The fast path: one poll with this thread's cached waker, inside the Tokio context (the
    /// `tokio` feature) that the first poll may already need.
    #[inline]
    pub(super) fn block_on<F: Future>(mut future: Pin<&mut F>) -> F::Output {
        let tokio = crate::tokio_context::enter();
        crate::context::with_parker(|parker, waker| {
            // A thread that may drive the shared Tokio runtime once its future is pending keeps
            // the tasks the first poll wakes (the request's, to a connection's task) for itself.
            let first = if tokio.may_drive() { crate::global::catch_first_wakes() } else { None };
            if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(waker)) {
                return out;
            }
            let caught = first.and_then(FirstWakes::finish);
            wait_pending(future.as_mut(), parker, waker, &tokio, caught)
        })
    }

    /// Runs `future` until `deadline`; on timeout the future is left as it is, ready to be
    /// polled again.
    pub(crate) fn block_on_deadline<F: Future>(
        mut future: Pin<&mut F>,
        deadline: Instant,
    ) -> Option<F::Output> {
        let tokio = crate::tokio_context::enter();
        crate::context::with_parker(|parker, waker| {
            if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(waker)) {
                return Some(out);
            }
            wait(future, parker, waker, Some(deadline), Start::Idling, &tokio, None)
        })
    }

    /// `wait` without a deadline, kept out of line so the ready path stays small.
    #[cold]
    #[inline(never)]
    fn wait_pending<F: Future>(
        future: Pin<&mut F>,
        parker: &Arc<Parker>,
        waker: &Waker,
        tokio: &Entered,
        caught: Option<Catch<'static>>,
    ) -> F::Output {
        match wait(future, parker, waker, None, Start::Idling, tokio, caught) {
            Some(out) => out,
            None => unreachable!("no deadline"),
        }
    }

    /// The slow path: `start` says whether the future was just polled and pending
    /// (`Start::Idling`) or is yet to be polled; `caught`, what that poll woke and caught for a
    /// thread about to drive the shared Tokio runtime.
    ///
    /// A plain `block_on` polls its future exactly once per wake-up (with the `tokio` feature,
    /// it may wait by driving the shared Tokio runtime instead: `tokio_context`). Nested on a
    /// thread that runs executors, it also polls it between batches of their tasks, as
    /// `Executor::run` does.
    fn wait<F: Future>(
        mut future: Pin<&mut F>,
        parker: &Arc<Parker>,
        waker: &Waker,
        deadline: Option<Instant>,
        start: Start,
        tokio: &Entered,
        caught: Option<Catch<'static>>,
    ) -> Option<F::Output> {
        // A global worker about to block hands its duty to another thread first, whichever
        // executor is innermost: the global executor must keep its worker count meanwhile.
        let _off_duty = crate::global::hand_off_if_on_duty();
        let states = running_here();
        if states.is_empty() {
            // A future that runs an executor (`block_on(ex.run(..))`) makes this thread a runner,
            // which waits in the idle loop: its lookout keeps the tasks it wakes on its thread.
            let mut start = start;
            if !executor::take_ran_executor() {
                if let Some(driver) = tokio.driver() {
                    // The tasks it wakes (a connection's, woken by its socket's events, which
                    // this thread receives) it runs itself between wake-ups.
                    let catch = match caught {
                        Some(c) => {
                            c.wake_with(Parker::nudge_waker(parker));
                            // What the first poll woke (the request's connection task) runs
                            // first: the wait is for what it does.
                            c.run();
                            Some(c)
                        }
                        None => crate::global::catch_wakes(Parker::nudge_waker(parker)),
                    };
                    let run_caught = || {
                        if let Some(c) = &catch {
                            c.run();
                        }
                    };
                    match driver.drive(future.as_mut(), parker, waker, deadline, run_caught) {
                        Driven::Ready(out) => {
                            // What the last poll woke (the connection's task, told that the call
                            // is over) runs here too: leaving it to the shared queue as the catch
                            // ends would wake a worker for it, on every call.
                            run_caught();
                            return Some(out);
                        }
                        Driven::TimedOut => return None,
                        // Just polled, pending: it waits as before.
                        Driven::Parked => start = Start::Idling,
                    }
                    return tokio.block(|| {
                        idle_loop::run_until(future, parker, waker, deadline, Polls::Future, start)
                    });
                }
            }
            // No driving: what the first poll caught goes to the runners.
            drop(caught);
            return tokio
                .block(|| idle_loop::run_until(future, parker, waker, deadline, Polls::Future, start));
        }
        drop(caught);
        let run = pin!(Run::many(states, future));
        tokio.block(|| idle_loop::run_until(run, parker, waker, deadline, Polls::Tasks, Start::Polling))
    }

    /// The executors a nested `block_on` on this thread keeps running while it waits: every one
    /// whose `run` is on this thread's stack, except the global executor, which it runs only when
    /// the global runtime has no worker threads (its workers run it otherwise).
    fn running_here() -> Vec<&'static State> {
        // SAFETY: `wait` drops the returned references before it returns, inside the poll of the
        // `run`s they borrow.
        let mut states: Vec<&'static State> = unsafe { executor::running() };
        states.retain(|s| !crate::global::is_global(s));
        states.extend(crate::global::run_by_block_on_callers());
        states
    }
}

/// Without `std`: polls the future until it is ready, idling through the hook between wake-ups.
#[cfg(not(feature = "std"))]
mod imp {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    use crate::park::Parker;

    pub(super) fn block_on<F: Future>(mut future: Pin<&mut F>) -> F::Output {
        let parker = Parker::new();
        let waker = Waker::from(parker.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            parker.park();
        }
    }
}
