//! The global workers' duty roster: how many workers are on duty, and the spares waiting to be
//! recalled.
//!
//! A worker whose task calls `block_on` goes off duty and recruits a replacement first
//! ([`Roster::hand_off`]); back on duty, it leaves the pool one over target, and the first
//! worker to notice ([`Roster::should_retire`]) steps back and becomes a spare:
//! ```text
//!  on duty ──should_retire──▶ spare ──recall taken──▶ on duty
//!                               └──time-out, no recall──▶ thread exits
//! ```
//! A recruit claims an idle spare under the lock before it notifies, and a spare whose wait times
//! out takes a pending recall before it gives up: a recall is never lost to a time-out (the
//! token protocol of `tokens.rs`; a recall is a token).
//!
//! Threads and time are the caller's: it starts a thread when told to and hands
//! [`Roster::wait_as_spare`] what wakes a spare and the timed wait, so the loom models
//! (`tests/loom.rs`) run this file unchanged.

#![forbid(unsafe_code)]

use crate::sync::thread::Thread;
use crate::sync::{AtomicUsize, Mutex, Ordering};
use crate::tokens::{self, Sleeper, Tokens};

/// The duty roster of the global executor's worker threads: the on-duty count and the spares,
/// woken through `S` (their `Thread`).
pub(crate) struct Roster<S = Thread> {
    /// Workers on duty, including recruits whose thread is still starting.
    on_duty: AtomicUsize,
    /// Spares waiting that no recruit has claimed, and the recalls not taken up yet.
    spares: Mutex<Tokens<S>>,
}

impl<S: Sleeper> Roster<S> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self { on_duty: AtomicUsize::new(0), spares: Mutex::new(Tokens::new()) }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self { on_duty: AtomicUsize::new(0), spares: Mutex::new(Tokens::new()) }
    }

    /// Counts a worker on duty whose thread the caller starts now.
    pub(crate) fn add(&self) {
        self.on_duty.fetch_add(1, Ordering::AcqRel);
    }

    /// Uncounts a worker whose thread could not be started.
    pub(crate) fn not_started(&self) {
        self.on_duty.fetch_sub(1, Ordering::AcqRel);
    }

    /// Takes the calling worker off duty and recruits its replacement; returns `true` if the
    /// caller must start a thread for it (there was no spare to recall).
    pub(crate) fn hand_off(&self) -> bool {
        self.on_duty.fetch_sub(1, Ordering::AcqRel);
        self.recruit()
    }

    /// Puts a worker back on duty after [`hand_off`](Self::hand_off): one over target now, until
    /// some worker's [`should_retire`](Self::should_retire) steps back.
    pub(crate) fn back_on_duty(&self) {
        self.on_duty.fetch_add(1, Ordering::AcqRel);
    }

    /// Puts one more worker on duty: recalls a spare, or returns `true` for a new thread.
    fn recruit(&self) -> bool {
        self.on_duty.fetch_add(1, Ordering::AcqRel);
        let recalled = self.spares.with(Tokens::claim);
        let started = recalled.is_none();
        if let Some(spare) = recalled {
            spare.wake();
        }
        started
    }

    /// Takes one worker off duty if more than `target` are on duty.
    pub(crate) fn should_retire(&self, target: usize) -> bool {
        self.on_duty
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n > target).then(|| n - 1))
            .is_ok()
    }

    /// Waits as a spare; returns `true` if recalled to duty (already counted by the recruit).
    ///
    /// A recall wakes what `sleeper` gives (the spare's `Thread`); `park` parks the thread until it
    /// is woken or its time-out, and returns `false` once the time-out has passed (`tokens::wait`).
    pub(crate) fn wait_as_spare(&self, sleeper: impl FnOnce() -> S, park: impl FnMut() -> bool) -> bool {
        let ticket = self.spares.with(|s| s.sleep(sleeper()));
        tokens::wait(&self.spares, |s| s, ticket, park, |_| {})
    }
}
