//! The `tokio` feature: futures bound to Tokio's reactor and timers (reqwest, `tokio::net`,
//! `tokio::time`, anything built on them) run under `block_on`, `.wait()`, `spawn`, `unblock` and
//! `LocalExecutor`, with no Tokio set-up by the caller.
//!
//! This crate's polls run inside a Tokio context ([`enter`]): the caller's own runtime when a
//! multi-thread one is current on the thread (its workers drive its I/O), else one shared runtime
//! started on first use, whose single thread (`amphi-tokio`) drives its I/O and timers. A
//! current-thread runtime is not reused: its driver only turns inside its own `block_on`, which a
//! `block_on` of this crate on that thread holds.
//!
//! The feature's one axis: without it, [`enter`] enters nothing and `Entered::block` just runs
//! its closure, so the callers carry no `cfg` of their own.

#![forbid(unsafe_code)]

pub(crate) use self::imp::*;

#[cfg(feature = "tokio")]
mod imp {
    use std::sync::OnceLock;

    use tokio::runtime::{EnterGuard, Handle, Runtime, RuntimeFlavor};

    use crate::config::config;

    static SHARED: OnceLock<Option<Runtime>> = OnceLock::new();

    /// The shared runtime, started on first use; `None` if it could not start (the process may start
    /// no thread: Tokio panics then, which is caught). Plain futures run as before without it; one
    /// that needs Tokio then panics with Tokio's own "no reactor running".
    fn shared() -> Option<&'static Runtime> {
        SHARED
            .get_or_init(|| {
                let build = || {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .thread_name(std::format!("{}-tokio", config().thread_name))
                        .enable_all()
                        .build()
                        .ok()
                };
                std::panic::catch_unwind(build).ok().flatten()
            })
            .as_ref()
    }

    /// A Tokio context entered for this crate's polls, and what the thread was to Tokio before.
    pub(crate) struct Entered {
        _guard: Option<EnterGuard<'static>>,
        /// The thread was in a multi-thread runtime's context (one of its workers, or its
        /// `block_on`): its runtime is the one used.
        in_multi_thread: bool,
    }

    /// Enters a Tokio context for the caller's polls until the result drops, unless a multi-thread
    /// runtime is current already. Nothing is entered while the thread's Tokio context is being
    /// destroyed (a `block_on` in a thread-local's destructor).
    pub(crate) fn enter() -> Entered {
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                Entered { _guard: None, in_multi_thread: true }
            }
            Err(err) if err.is_thread_local_destroyed() => Entered { _guard: None, in_multi_thread: false },
            _ => Entered { _guard: shared().map(Runtime::enter), in_multi_thread: false },
        }
    }

    impl Entered {
        /// Runs `wait` (a `block_on` about to block its thread) so that, on a worker of the
        /// caller's multi-thread runtime, the worker's other tasks are handed to another thread first
        /// (`tokio::task::block_in_place`): a task woken from here lands in this worker's queue,
        /// which nobody would run while this thread waits.
        pub(crate) fn block<R>(&self, wait: impl FnOnce() -> R) -> R {
            if self.in_multi_thread { tokio::task::block_in_place(wait) } else { wait() }
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

    impl Entered {
        #[inline(always)]
        pub(crate) fn block<R>(&self, wait: impl FnOnce() -> R) -> R {
            wait()
        }
    }
}
