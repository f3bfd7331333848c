//! What is wrapped around a task's future, and what catches a panic of its destructor
//! (async-task aborts on one).
//!
//! [`RemoveOnDrop`] frees the task's slot in its executor once the future is dropped;
//! `CatchDrop` (std: the global executor's tasks, which have no slot) only catches. Catching is
//! this file's std/no_std axis, chosen once in `unwind`: with `std` a destructor's panic is
//! caught and kept in [`Panics`]; without, there is no unwinding to catch.

use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::task::{Context, Poll};

#[cfg(feature = "std")]
pub(crate) use self::unwind::CatchDrop;
pub(crate) use self::unwind::Panics;
use super::state::State;
use crate::sync::Arc;

/// Wraps a task's future so that its slot in its executor is freed once the future is dropped.
///
/// The slot is freed only after the future's destructor has returned: `shut_down` waits for
/// the slots to empty, and the executor's `Drop` must not return (ending `'a`) while a destructor
/// that may use borrowed data still runs on another thread. A panic of that destructor is kept
/// for `resume_panic`.
pub(crate) struct RemoveOnDrop<F> {
    pub(crate) future: ManuallyDrop<F>,
    pub(crate) state: Arc<State>,
    pub(crate) index: usize,
}

impl<F> Drop for RemoveOnDrop<F> {
    fn drop(&mut self) {
        // SAFETY: `future` is dropped exactly once, here, and never used again; dropping it in
        // place keeps the pinning promise.
        let drop_future = || unsafe { ManuallyDrop::drop(&mut self.future) };
        self.state.panics().catch(drop_future);
        self.state.forget(self.index);
    }
}

impl<F: Future> Future for RemoveOnDrop<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out, and `RemoveOnDrop`'s
        // `Drop` does not move it.
        unsafe { self.map_unchecked_mut(|this| &mut *this.future) }.poll(cx)
    }
}

#[cfg(feature = "std")]
mod unwind {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use core::future::Future;
    use core::mem::ManuallyDrop;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use crate::sync::{AtomicBool, Mutex, Ordering};

    /// Wraps a task's future of an untracked executor (the global one): a panic of its destructor
    /// is caught and dropped, the panic hook having reported it; `alive` counts it until then.
    pub(crate) struct CatchDrop<F> {
        pub(crate) future: ManuallyDrop<F>,
        pub(crate) alive: &'static crate::sync::AtomicUsize,
    }

    impl<F> Drop for CatchDrop<F> {
        fn drop(&mut self) {
            // SAFETY: `future` is dropped exactly once, here, and never used again; dropping it
            // in place keeps the pinning promise.
            let drop_future = || unsafe { ManuallyDrop::drop(&mut self.future) };
            drop(std::panic::catch_unwind(core::panic::AssertUnwindSafe(drop_future)));
            self.alive.fetch_sub(1, crate::sync::Ordering::Relaxed);
        }
    }

    impl<F: Future> Future for CatchDrop<F> {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            // SAFETY: the future is structurally pinned: it is never moved out, and `CatchDrop`'s
            // `Drop` does not move it.
            unsafe { self.map_unchecked_mut(|this| &mut *this.future) }.poll(cx)
        }
    }

    /// Panics of futures' destructors, caught where the executor dropped them.
    pub(crate) struct Panics {
        caught: Mutex<Vec<Box<dyn core::any::Any + Send>>>,
        /// Whether `caught` is non-empty, so runners check it without taking the lock.
        any: AtomicBool,
    }

    impl Panics {
        pub(crate) fn new() -> Self {
            Self { caught: Mutex::new(Vec::new()), any: AtomicBool::new(false) }
        }

        /// Runs `f`, keeping a panic it raises.
        pub(crate) fn catch(&self, f: impl FnOnce()) {
            if let Err(payload) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(f)) {
                self.caught.with(|p| p.push(payload));
                self.any.store(true, Ordering::Release);
            }
        }

        /// Resumes the first panic kept, if any; the others are dropped (the panic hook already
        /// reported each).
        pub(crate) fn resume(&self) {
            if self.any.load(Ordering::Acquire) {
                let first = self.caught.with(|p| {
                    self.any.store(false, Ordering::Release);
                    let first = (!p.is_empty()).then(|| p.remove(0));
                    p.clear();
                    first
                });
                if let Some(payload) = first {
                    std::panic::resume_unwind(payload);
                }
            }
        }
    }
}

#[cfg(not(feature = "std"))]
mod unwind {
    /// Nothing is caught without unwinding.
    pub(crate) struct Panics;

    impl Panics {
        pub(crate) fn new() -> Self {
            Self
        }

        pub(crate) fn catch(&self, f: impl FnOnce()) {
            f();
        }

        pub(crate) fn resume(&self) {}
    }
}
