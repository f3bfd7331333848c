//! The awaiter's side of a `Task`: the waker handed to async-task.
//!
//! async-task wakes a task's awaiter under an abort guard. With `std`, an awaiter's waker other
//! than a waker of the task this thread runs (this crate's own, which does not panic) is handed
//! over behind a [`Guard`] that catches its panic for `run::resume_caught`. Without `std` there
//! is no unwinding, and the awaiter's waker is the one polled with.

pub(crate) use self::imp::*;

#[cfg(feature = "std")]
mod imp {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    use super::super::run::{catch, is_running};

    /// The awaiter's side of a `Task`: the waker handed to async-task.
    #[derive(Default)]
    pub(crate) struct Awaiter {
        /// The last waker polled with and its guard.
        guarded: Option<(Waker, Waker)>,
    }

    impl Awaiter {
        pub(crate) fn new() -> Self {
            Self::default()
        }

        /// Polls `task` with the caller's waker, or with a guard around it.
        pub(crate) fn poll<F: Future>(&mut self, task: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let waker = cx.waker();
            if is_running(waker) {
                // The waker of the task this thread runs: async-task's, calling this crate's
                // schedule function, which does not panic.
                return task.poll(cx);
            }
            let guard = match &self.guarded {
                Some((inner, guard)) if inner.will_wake(waker) => guard,
                _ => {
                    let guard = Waker::from(alloc::sync::Arc::new(Guard(waker.clone())));
                    &self.guarded.insert((waker.clone(), guard)).1
                }
            };
            task.poll(&mut Context::from_waker(guard))
        }
    }

    /// Wakes the awaiter's waker, catching its panic for `resume_caught`. (alloc's `Arc`, not
    /// `crate::sync`'s: a `Waker` is made from std's only, and nothing here synchronises.)
    struct Guard(Waker);

    impl alloc::task::Wake for Guard {
        fn wake(self: alloc::sync::Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &alloc::sync::Arc<Self>) {
            let wake = core::panic::AssertUnwindSafe(|| self.0.wake_by_ref());
            if let Err(payload) = std::panic::catch_unwind(wake) {
                catch(payload);
            }
        }
    }
}

#[cfg(not(feature = "std"))]
mod imp {
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll};

    pub(crate) struct Awaiter;

    impl Awaiter {
        pub(crate) fn new() -> Self {
            Self
        }

        pub(crate) fn poll<F: Future>(&mut self, task: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
            task.poll(cx)
        }
    }
}
