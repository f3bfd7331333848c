//! The `tokio` feature: futures bound to Tokio's reactor and timers (reqwest, `tokio::net`,
//! `tokio::time`, anything built on them) run under `block_on`, `.wait()`, `spawn`, `unblock` and
//! `LocalExecutor`, with no Tokio set-up by the caller.
//!
//! This crate's polls run inside a Tokio context ([`enter`]): the caller's own runtime when a
//! multi-thread one is current on the thread (its workers drive its I/O), else one shared
//! current-thread runtime started on first use (`shared.rs`), which the thread that waits drives
//! itself ([`Entered::driver`]), and its thread `amphi-tokio` while nobody waits. A
//! current-thread runtime of the caller's is not reused: its driver only turns inside its own
//! `block_on`, which a `block_on` of this crate on that thread holds.
//!
//! The feature's one axis: without it, [`enter`] enters nothing, `Entered::block` just runs
//! its closure and `Entered::driver` has none, so the callers carry no `cfg` of their own.

#![forbid(unsafe_code)]

pub(crate) use self::imp::*;

/// How a wait that drove the shared runtime ended (`Driver::drive`).
#[cfg_attr(not(feature = "tokio"), allow(dead_code, reason = "only the `tokio` feature drives"))]
pub(crate) enum Driven<T> {
    Ready(T),
    TimedOut,
    /// The future is pending and the caller no longer drives (another caller waits, or this
    /// crate's reactor needs driving): it waits as a parked caller.
    Parked,
}

#[cfg(feature = "tokio")]
mod shared;

#[cfg(feature = "tokio")]
mod imp {
    use tokio::runtime::{EnterGuard, Handle, RuntimeFlavor};

    use crate::context;

    use super::shared::{self, Shared};

    /// A Tokio context entered for this crate's polls, and what the thread was to Tokio before.
    pub(crate) struct Entered {
        _guard: Option<EnterGuard<'static>>,
        /// The thread was in a multi-thread runtime's context (one of its workers, or its
        /// `block_on`): its runtime is the one used.
        in_multi_thread: bool,
        /// The shared runtime, if its context was entered.
        shared: Option<&'static Shared>,
        /// The shared runtime, if this thread may drive it (`context::may_drive_tokio`).
        drives: Option<&'static Shared>,
        /// `context::may_drive_tokio` before, restored on drop.
        restore: Option<bool>,
    }

    /// Enters a Tokio context for the caller's polls until the result drops, unless a multi-thread
    /// runtime is current already. Nothing is entered while the thread's Tokio context is being
    /// destroyed (a `block_on` in a thread-local's destructor).
    pub(crate) fn enter() -> Entered {
        let none = |in_multi_thread| Entered {
            _guard: None,
            in_multi_thread,
            shared: None,
            drives: None,
            restore: None,
        };
        let may_drive = match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => return none(true),
            Err(err) if err.is_thread_local_destroyed() => return none(false),
            Err(_) => true,
            // The shared runtime's context entered further up, outside its `block_on`; or the
            // context of another current-thread runtime, whose `block_on` this may be inside.
            Ok(_) => context::may_drive_tokio(),
        };
        let Some(shared) = shared::get() else { return none(false) };
        let guard = shared.runtime.enter();
        let restore = context::set_may_drive_tokio(may_drive);
        Entered {
            _guard: Some(guard),
            in_multi_thread: false,
            shared: Some(shared),
            drives: may_drive.then_some(shared),
            restore,
        }
    }

    impl Drop for Entered {
        fn drop(&mut self) {
            if let Some(before) = self.restore {
                context::set_may_drive_tokio(before);
            }
        }
    }

    /// Runs `f` (the shared runtime's `block_on`, which runs its tasks) with
    /// `context::may_drive_tokio` unset: a `block_on` in one of those tasks is inside the runtime.
    pub(super) fn outside_tasks<R>(f: impl FnOnce() -> R) -> R {
        struct Restore(Option<bool>);
        impl Drop for Restore {
            fn drop(&mut self) {
                if let Some(before) = self.0 {
                    context::set_may_drive_tokio(before);
                }
            }
        }
        let _restore = Restore(context::set_may_drive_tokio(false));
        f()
    }

    /// A thread that waits by driving the shared runtime.
    pub(crate) use super::shared::Claim as Driver;

    impl Entered {
        /// Runs `wait` (a `block_on` about to block its thread) so that, on a worker of the
        /// caller's multi-thread runtime, the worker's other tasks are handed to another thread
        /// first (`tokio::task::block_in_place`): a task woken from here lands in this worker's
        /// queue, which nobody would run while this thread waits. In the shared runtime's context,
        /// the thread counts as a parked caller meanwhile, for whom the runtime is driven.
        pub(crate) fn block<R>(&self, wait: impl FnOnce() -> R) -> R {
            if self.in_multi_thread {
                return tokio::task::block_in_place(wait);
            }
            let _parked = self.shared.map(Shared::park);
            wait()
        }

        /// Whether this thread may drive the shared runtime (whether [`driver`](Self::driver)
        /// may answer).
        #[inline]
        pub(crate) fn may_drive(&self) -> bool {
            self.drives.is_some()
        }

        /// The driver's role for a `block_on` whose future is pending: when this thread may drive
        /// the shared runtime, no other caller waits on it, and this crate's reactor needs no
        /// driving from this thread (no source or timer is registered, and this thread does not
        /// keep its seat).
        pub(crate) fn driver(&self) -> Option<Driver> {
            self.drives?.claim()
        }
    }
}

#[cfg(not(feature = "tokio"))]
mod imp {
    /// Nothing entered: the `tokio` feature is off.
    pub(crate) struct Entered;

    #[inline(always)]
    pub(crate) fn enter() -> Entered {
        Entered
    }

    /// No shared runtime to drive: the `tokio` feature is off.
    pub(crate) enum Driver {}

    impl Driver {
        pub(crate) fn drive<F: core::future::Future>(
            self,
            _: core::pin::Pin<&mut F>,
            _: &crate::park::Parker,
            _: &core::task::Waker,
            _: Option<std::time::Instant>,
            _: impl FnMut(),
        ) -> super::Driven<F::Output> {
            match self {}
        }
    }

    impl Entered {
        #[inline(always)]
        pub(crate) fn block<R>(&self, wait: impl FnOnce() -> R) -> R {
            wait()
        }

        #[inline(always)]
        pub(crate) fn may_drive(&self) -> bool {
            false
        }

        #[inline(always)]
        pub(crate) fn driver(&self) -> Option<Driver> {
            None
        }
    }
}
