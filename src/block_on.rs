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

#[cfg(feature = "std")]
use crate::executor::Run;
use crate::executor::State;
use crate::park::Parker;
#[cfg(feature = "std")]
use crate::sync::Arc;

/// Runs a future to completion on the calling thread and returns its output.
///
/// Works in every context: on any number of plain threads at once, nested inside another
/// `block_on`, inside a task of an `amphi` executor (even one with a single thread, waiting on a
/// sibling task), and on a thread owned by another runtime. Between wake-ups the thread parks
/// (std) or calls the idle hook set by `set_idle_hook` (no_std); a wake-up is never missed.
///
/// A program that only calls `block_on` starts no thread.
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
        std_impl::with_parker(|parker, waker| {
            if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(waker)) {
                return out;
            }
            std_impl::wait_pending(future.as_mut(), parker, waker)
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
pub(crate) fn block_on_deadline<F: Future>(
    future: Pin<&mut F>,
    deadline: std::time::Instant,
) -> Option<F::Output> {
    std_impl::with_parker(|parker, waker| std_impl::wait(future, parker, waker, Some(deadline)))
}

/// Runs a global worker's loop: parks (or drives the reactor) between wake-ups, without the
/// nesting rules of `block_on`, which would hand the worker's duty off to another thread.
#[cfg(feature = "std")]
pub(crate) fn run_worker<F: Future>(future: F) -> F::Output {
    let future = pin!(future);
    std_impl::with_parker(|parker, waker| match std_impl::park_loop(future, parker, waker, None, true) {
        Some(out) => out,
        None => unreachable!("no deadline"),
    })
}

#[cfg(feature = "std")]
pub(crate) use std_impl::is_inside;

/// Records that this thread's runner of `state` is going to sleep, woken by `waker`.
///
/// While recorded, a task of `state` scheduled *by this thread* (typically by the reactor driver
/// this idle thread became) is left to this runner: [`wake_idle_runner`] wakes `waker` instead of
/// another runner, which saves a thread switch.
pub(crate) fn idle_runner_sleeps(state: &State, waker: &Waker) {
    #[cfg(feature = "std")]
    std_impl::IDLE_RUNNER.with(|r| *r.borrow_mut() = Some((state as *const State, waker.clone())));
    #[cfg(not(feature = "std"))]
    let _ = (state, waker);
}

/// Forgets this thread's sleeping runner of `state`, if it is the recorded one.
pub(crate) fn idle_runner_wakes(state: &State) {
    #[cfg(feature = "std")]
    {
        let _ = std_impl::IDLE_RUNNER.try_with(|r| {
            let mut r = r.borrow_mut();
            if r.as_ref().is_some_and(|(s, _)| core::ptr::eq(*s, state)) {
                *r = None;
            }
        });
    }
    #[cfg(not(feature = "std"))]
    let _ = state;
}

/// If this thread's sleeping runner runs `state`, wakes it and returns `true`.
pub(crate) fn wake_idle_runner(state: &State) -> bool {
    #[cfg(feature = "std")]
    {
        std_impl::IDLE_RUNNER
            .try_with(|r| match &*r.borrow() {
                Some((s, waker)) if core::ptr::eq(*s, state) => {
                    waker.wake_by_ref();
                    true
                }
                _ => false,
            })
            .unwrap_or(false)
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = state;
        false
    }
}

/// Marks the calling thread as running these executors' tasks until the guard drops.
pub(crate) fn enter_executors<'s>(states: &[&'s State]) -> impl Drop + use<'s> {
    #[cfg(feature = "std")]
    {
        std_impl::Enter::new(states)
    }
    #[cfg(not(feature = "std"))]
    {
        // No thread-locals on `no_std`: a nested `block_on` there parks instead of running tasks.
        struct Nothing<'s>(core::marker::PhantomData<&'s State>);
        impl Drop for Nothing<'_> {
            fn drop(&mut self) {}
        }
        let _ = states;
        Nothing(core::marker::PhantomData)
    }
}

#[cfg(feature = "std")]
mod std_impl {
    use alloc::vec::Vec;
    use core::cell::{Cell, OnceCell, RefCell};
    use std::time::Instant;

    use super::*;

    std::thread_local! {
        /// This thread's parker and its waker, reused by every non-nested `block_on`.
        static CACHE: Cache = const { Cache { in_use: Cell::new(false), parker: OnceCell::new() } };
        /// The runner of an executor sleeping on this thread, and its waker; see
        /// `idle_runner_sleeps`.
        pub(super) static IDLE_RUNNER: RefCell<Option<(*const State, Waker)>> = const { RefCell::new(None) };
        /// The executors whose `run` is being polled on this thread, outermost first.
        static RUNNING: RefCell<Vec<*const State>> = const { RefCell::new(Vec::new()) };
    }

    struct Cache {
        /// Set while a `block_on` on this thread uses `parker`; a nested one makes its own.
        in_use: Cell<bool>,
        parker: OnceCell<(Arc<Parker>, Waker)>,
    }

    /// Clears `Cache::in_use` when the outermost `block_on` returns or unwinds.
    struct Release<'c>(&'c Cell<bool>);

    impl Drop for Release<'_> {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }

    /// Whether this thread is inside a `block_on` (whose idle steps will drive the reactor).
    pub(crate) fn is_inside() -> bool {
        CACHE.try_with(|cache| cache.in_use.get()).unwrap_or(false)
    }

    fn fresh() -> (Arc<Parker>, Waker) {
        let parker = Parker::new();
        let waker = Waker::from(parker.clone());
        (parker, waker)
    }

    /// Runs `f` with this thread's cached parker, or a fresh one when a `block_on` further up the
    /// stack is using the cached one (or the thread-local is already destroyed).
    #[inline]
    pub(super) fn with_parker<R>(f: impl FnOnce(&Parker, &Waker) -> R) -> R {
        // The closure runs in exactly one of the two places; `Option` only proves it to the
        // compiler, and its checks fold away once inlined.
        let mut f = Some(f);
        let cached = CACHE.try_with(|cache| {
            if cache.in_use.replace(true) {
                return None;
            }
            let _release = Release(&cache.in_use);
            let (parker, waker) = cache.parker.get_or_init(fresh);
            f.take().map(|f| f(parker, waker))
        });
        match cached {
            Ok(Some(out)) => out,
            _ => with_fresh_parker(f.take().expect("not run yet")),
        }
    }

    #[cold]
    #[inline(never)]
    fn with_fresh_parker<R>(f: impl FnOnce(&Parker, &Waker) -> R) -> R {
        let (parker, waker) = fresh();
        f(&parker, &waker)
    }

    /// `wait` without a deadline, kept out of line so the ready path stays small.
    #[cold]
    #[inline(never)]
    pub(super) fn wait_pending<F: Future>(future: Pin<&mut F>, parker: &Parker, waker: &Waker) -> F::Output {
        match wait(future, parker, waker, None) {
            Some(out) => out,
            None => unreachable!("no deadline"),
        }
    }

    /// The slow path: the future was pending once.
    pub(super) fn wait<F: Future>(
        future: Pin<&mut F>,
        parker: &Parker,
        waker: &Waker,
        deadline: Option<Instant>,
    ) -> Option<F::Output> {
        // A global worker about to block hands its duty to another thread first, whichever
        // executor is innermost: the global executor must keep its worker count meanwhile.
        let _off_duty = crate::global::hand_off_if_on_duty();
        let states = running_here();
        if states.is_empty() {
            return park_loop(future, parker, waker, deadline, false);
        }
        park_loop(pin!(Run::many(states, future)), parker, waker, deadline, true)
    }

    /// The executors a nested `block_on` on this thread keeps running while it waits: every one
    /// whose `run` is on this thread's stack, except the global executor, which it runs only when
    /// the global runtime has no worker threads (its workers run it otherwise).
    fn running_here() -> Vec<&'static State> {
        let global = crate::global::runs_in_block_on();
        let mut states: Vec<&'static State> = Vec::new();
        RUNNING.with(|running| {
            for &ptr in running.borrow().iter().rev() {
                // SAFETY: a pointer is on `RUNNING` only while the `Enter` guard that pushed it
                // lives, inside the `poll` of a `Run` that borrows the state; this call is nested
                // inside that poll, and the returned references do not outlive it (`wait` drops
                // them before returning).
                let state = unsafe { &*ptr };
                if !crate::global::is_global(ptr) && !states.iter().any(|s| core::ptr::eq(*s, state)) {
                    states.push(state);
                }
            }
        });
        states.extend(global);
        states
    }

    /// Polls `future` until it is ready or `deadline` passes; idle in between. A `runner`'s
    /// future runs executor tasks.
    pub(super) fn park_loop<F: Future>(
        mut future: Pin<&mut F>,
        parker: &Parker,
        waker: &Waker,
        deadline: Option<Instant>,
        runner: bool,
    ) -> Option<F::Output> {
        /// Lets the reactor know this loop is over, however it ends.
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                crate::reactor::leave();
            }
        }
        let _leave = Leave;
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return Some(out);
            }
            // Idle: drive the reactor if it exists and nobody else does, else park.
            let woken = crate::reactor::park(parker, waker, deadline, runner);
            if !woken && deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
        }
    }

    /// Pushes executors on `RUNNING` for the duration of a `Run`'s poll.
    pub(crate) struct Enter {
        pushed: usize,
    }

    impl Enter {
        pub(crate) fn new(states: &[&State]) -> Self {
            RUNNING.with(|running| running.borrow_mut().extend(states.iter().map(|s| *s as *const State)));
            Self { pushed: states.len() }
        }
    }

    impl Drop for Enter {
        fn drop(&mut self) {
            RUNNING.with(|running| {
                let mut running = running.borrow_mut();
                let len = running.len() - self.pushed;
                running.truncate(len);
            });
        }
    }
}
