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

use core::future::{Future, IntoFuture};
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};

#[cfg(not(feature = "std"))]
use crate::park::Parker;

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
/// runtime of one thread (`amphi-tokio`), started on first use.
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
    #[cfg_attr(not(feature = "std"), allow(unused_mut))]
    let mut future = pin!(future.into_future());
    #[cfg(feature = "std")]
    {
        #[cfg(feature = "tokio")]
        let tokio = crate::tokio_context::enter();
        crate::context::with_parker(|parker, waker| {
            if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(waker)) {
                return out;
            }
            #[cfg(feature = "tokio")]
            return tokio.block(|| std_impl::wait_pending(future.as_mut(), parker, waker));
            #[cfg(not(feature = "tokio"))]
            std_impl::wait_pending(future.as_mut(), parker, waker)
        })
    }
    #[cfg(not(feature = "std"))]
    {
        let parker = Parker::new();
        let waker = Waker::from(parker.clone());
        poll_loop(future, &parker, &waker)
    }
}

/// Polls `future` until it is ready, idling through the hook between wake-ups.
#[cfg(not(feature = "std"))]
fn poll_loop<T>(mut future: Pin<&mut impl Future<Output = T>>, parker: &Parker, waker: &Waker) -> T {
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        parker.park();
    }
}

/// Runs `future` until `deadline`; on timeout the future is left as it is, ready to be polled
/// again.
#[cfg(feature = "std")]
pub(crate) fn block_on_deadline<F: Future>(
    future: Pin<&mut F>,
    deadline: std::time::Instant,
) -> Option<F::Output> {
    #[cfg(feature = "tokio")]
    let tokio = crate::tokio_context::enter();
    let wait = || {
        crate::context::with_parker(|parker, waker| {
            std_impl::wait(future, parker, waker, Some(deadline), crate::idle_loop::Start::Polling)
        })
    };
    #[cfg(feature = "tokio")]
    return tokio.block(wait);
    #[cfg(not(feature = "tokio"))]
    wait()
}

#[cfg(feature = "std")]
mod std_impl {
    use alloc::vec::Vec;
    use std::time::Instant;

    use super::*;
    use crate::executor::{self, Run, State};
    use crate::idle_loop::{self, Polls, Start};
    use crate::park::Parker;
    use crate::sync::Arc;

    /// `wait` without a deadline, kept out of line so the ready path stays small.
    #[cold]
    #[inline(never)]
    pub(super) fn wait_pending<F: Future>(
        future: Pin<&mut F>,
        parker: &Arc<Parker>,
        waker: &Waker,
    ) -> F::Output {
        match wait(future, parker, waker, None, Start::Idling) {
            Some(out) => out,
            None => unreachable!("no deadline"),
        }
    }

    /// The slow path: `start` says whether the future was just polled and pending
    /// (`Start::Idling`) or is yet to be polled.
    ///
    /// A plain `block_on` polls its future exactly once per wake-up. Nested on a thread that runs
    /// executors, it also polls it between batches of their tasks, as `Executor::run` does.
    pub(super) fn wait<F: Future>(
        future: Pin<&mut F>,
        parker: &Arc<Parker>,
        waker: &Waker,
        deadline: Option<Instant>,
        start: Start,
    ) -> Option<F::Output> {
        // A global worker about to block hands its duty to another thread first, whichever
        // executor is innermost: the global executor must keep its worker count meanwhile.
        let _off_duty = crate::global::hand_off_if_on_duty();
        let states = running_here();
        if states.is_empty() {
            return idle_loop::run_until(future, parker, waker, deadline, Polls::Future, start);
        }
        let run = pin!(Run::many(states, future));
        idle_loop::run_until(run, parker, waker, deadline, Polls::Tasks, Start::Polling)
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
