//! `block_on`: runs a future to completion on the calling thread.
//!
//! The fast path polls once with a waker cached per thread, so a ready future costs a poll and a
//! thread-local access. Only when the future is pending does `block_on` look at its context:
//! - on a thread that is running an executor (`Executor::run` / `LocalExecutor::run` is on the
//!   stack), the nested `block_on` keeps running that executor's tasks while it waits, its own
//!   future first, so waiting on a sibling task completes even with one runner thread;
//! - on a global worker thread, the worker hands its duty to another thread first;
//! - when the global runtime has no worker threads (`AMBI_THREADS=0`), `block_on` runs its tasks;
//! - otherwise it parks between wake-ups.

use core::future::{Future, IntoFuture};
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};

#[cfg(feature = "std")]
use crate::executor::Run;
use crate::executor::State;
use crate::park::Parker;
#[cfg(feature = "std")]
use crate::sync::Arc;

/// Runs a future to completion on the calling thread and returns its output.
///
/// Works in every context: on any number of plain threads at once, nested inside another
/// `block_on`, inside a task of an `ambi` executor (even one with a single thread, waiting on a
/// sibling task), and on a thread owned by another runtime. Between wake-ups the thread parks
/// (std) or calls the idle hook set by `set_idle_hook` (no_std); a wake-up is never missed.
///
/// A program that only calls `block_on` starts no thread.
///
/// # Examples
///
/// ```
/// let answer = ambi::block_on(async { 40 + 2 });
/// assert_eq!(answer, 42);
/// ```
pub fn block_on<F: IntoFuture>(future: F) -> F::Output {
    #[cfg_attr(not(feature = "std"), allow(unused_mut))]
    let mut future = pin!(future.into_future());
    #[cfg(feature = "std")]
    {
        std_impl::with_parker(|parker, waker| {
            if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(waker)) {
                return out;
            }
            match std_impl::wait(future.as_mut(), parker, waker, None) {
                Some(out) => out,
                None => unreachable!("no deadline"),
            }
        })
    }
    #[cfg(not(feature = "std"))]
    {
        let parker = Parker::new();
        let waker = Waker::from(parker.clone());
        park_loop(future, &parker, &waker)
    }
}

/// Polls `future` until it is ready, parking between wake-ups.
#[cfg(not(feature = "std"))]
fn park_loop<T>(mut future: Pin<&mut impl Future<Output = T>>, parker: &Parker, waker: &Waker) -> T {
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
pub(crate) fn block_on_deadline<F: Future>(future: Pin<&mut F>, deadline: std::time::Instant) -> Option<F::Output> {
    std_impl::with_parker(|parker, waker| std_impl::wait(future, parker, waker, Some(deadline)))
}

/// Marks the calling thread as running `state`'s tasks until the guard drops.
pub(crate) fn enter_executor(state: &State) -> impl Drop + '_ {
    #[cfg(feature = "std")]
    {
        std_impl::Enter::new(state)
    }
    #[cfg(not(feature = "std"))]
    {
        // No thread-locals on `no_std`: a nested `block_on` there parks instead of running tasks.
        struct Nothing<'s>(core::marker::PhantomData<&'s State>);
        impl Drop for Nothing<'_> {
            fn drop(&mut self) {}
        }
        let _ = state;
        Nothing(core::marker::PhantomData)
    }
}

#[cfg(feature = "std")]
mod std_impl {
    use core::cell::{Cell, RefCell};
    use std::time::Instant;

    use super::*;

    std::thread_local! {
        /// This thread's parker and its waker, reused by every non-nested `block_on`.
        static CACHE: RefCell<Option<(Arc<Parker>, Waker)>> = const { RefCell::new(None) };
        /// The innermost executor whose `run` is on this thread's stack, or null.
        static CURRENT: Cell<*const State> = const { Cell::new(core::ptr::null()) };
    }

    fn fresh() -> (Arc<Parker>, Waker) {
        let parker = Parker::new();
        let waker = Waker::from(parker.clone());
        (parker, waker)
    }

    /// Runs `f` with this thread's cached parker, or a fresh one when a `block_on` further up the
    /// stack is using the cached one.
    pub(super) fn with_parker<R>(f: impl FnOnce(&Parker, &Waker) -> R) -> R {
        let mut f = Some(f);
        let cached = CACHE.try_with(|cache| {
            let mut guard = cache.try_borrow_mut().ok()?;
            let (parker, waker) = guard.get_or_insert_with(fresh);
            let f = f.take().expect("called once");
            Some(f(parker, waker))
        });
        match cached {
            Ok(Some(out)) => out,
            // Nested, or the thread-local is being destroyed.
            _ => {
                let (parker, waker) = fresh();
                (f.take().expect("called once"))(&parker, &waker)
            }
        }
    }

    /// The slow path: the future was pending once.
    pub(super) fn wait<F: Future>(
        future: Pin<&mut F>,
        parker: &Parker,
        waker: &Waker,
        deadline: Option<Instant>,
    ) -> Option<F::Output> {
        let current = CURRENT.with(Cell::get);
        if !current.is_null() {
            if crate::global::is_worker_running(current) {
                let _off_duty = crate::global::hand_off();
                let _outside = Enter::clear();
                return park_loop(future, parker, waker, deadline);
            }
            // SAFETY: `CURRENT` is set by an `Enter` guard that lives inside the `poll` of a
            // `Run` holding `&State`, and this call is nested inside that poll; the state outlives
            // this call.
            let state = unsafe { &*current };
            return park_loop(pin!(Run::new(state, future)), parker, waker, deadline);
        }
        if let Some(state) = crate::global::runs_in_block_on() {
            return park_loop(pin!(Run::new(state, future)), parker, waker, deadline);
        }
        park_loop(future, parker, waker, deadline)
    }

    fn park_loop<F: Future>(
        mut future: Pin<&mut F>,
        parker: &Parker,
        waker: &Waker,
        deadline: Option<Instant>,
    ) -> Option<F::Output> {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return Some(out);
            }
            if !parker.park_deadline(deadline) && deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
        }
    }

    /// Sets `CURRENT` for the duration of an executor's poll.
    pub(crate) struct Enter {
        previous: *const State,
    }

    impl Enter {
        pub(crate) fn new(state: &State) -> Self {
            Self { previous: CURRENT.with(|c| c.replace(state)) }
        }

        fn clear() -> Self {
            Self { previous: CURRENT.with(|c| c.replace(core::ptr::null())) }
        }
    }

    impl Drop for Enter {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.previous));
        }
    }
}
