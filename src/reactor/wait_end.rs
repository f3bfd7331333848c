//! When the driver's wait in the poller ends, as a thread registering a timer sees it: a timer
//! earlier than that end must interrupt the wait.
//!
//! The driver announces the end of its wait, fences, then looks for timer operations still
//! queued (and applies them instead of waiting); a registration queues its operation, fences,
//! then compares its deadline with the announced end. So either the driver sees the new timer
//! before it waits, or the registration sees the wait and interrupts it. Times are the caller's
//! (nanoseconds since the reactor's epoch), so the loom model (`tests/loom.rs`) runs this file
//! unchanged.

#![forbid(unsafe_code)]

use crate::sync::{AtomicU64, Ordering, fence};

/// While the driver is not waiting in the poller.
const NOT_WAITING: u64 = 0;

/// While the driver waits without a timeout.
pub(crate) const FOREVER: u64 = u64::MAX;

/// The end of the driver's current wait.
#[derive(Debug)]
pub(crate) struct WaitEnd(AtomicU64);

impl WaitEnd {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(NOT_WAITING))
    }

    /// A time in nanoseconds as this file counts it: never [`NOT_WAITING`].
    pub(crate) fn clamp(nanos: u128) -> u64 {
        u64::try_from(nanos).unwrap_or(FOREVER - 1).max(NOT_WAITING + 1)
    }

    /// The driver is about to wait until `until` ([`FOREVER`] for no timeout): the caller must
    /// then look for queued timer operations, and not wait if there are any.
    pub(crate) fn announce(&self, until: u64) {
        self.0.store(until, Ordering::SeqCst);
        // Pairs with the fence in `interrupts`.
        fence(Ordering::SeqCst);
    }

    /// The driver's wait is over (or will not happen).
    pub(crate) fn over(&self) {
        self.0.store(NOT_WAITING, Ordering::SeqCst);
    }

    /// Whether a timer due at `when`, whose operation the caller has just queued, must interrupt
    /// the driver's wait.
    pub(crate) fn interrupts(&self, when: u64) -> bool {
        // Pairs with the fence in `announce`.
        fence(Ordering::SeqCst);
        let until = self.0.load(Ordering::SeqCst);
        until != NOT_WAITING && when < until
    }
}
