//! The fallback driver: a thread (`amphi-reactor`) that drives the reactor only while futures
//! polled by a foreign executor wait on it and no `amphi` thread is idle to drive, and exits
//! after [`LINGER`] without being needed.

#![forbid(unsafe_code)]

use core::task::Waker;
use core::time::Duration;
use std::time::Instant;

use super::waiter::Driven;
use super::{Reactor, Waiter};
use crate::config::spawn_thread;
use crate::park::Parker;
use crate::sync::Ordering;

/// How long the fallback driver thread stays after it was last needed.
const LINGER: Duration = Duration::from_millis(1500);

/// How often a needed fallback driver checks whether an `amphi` thread can take over.
const CHECK: Duration = Duration::from_millis(500);

/// The fallback driver thread, if running.
#[derive(Debug, Default)]
pub(super) struct Fallback {
    pub(super) running: bool,
    pub(super) waker: Option<Waker>,
}

impl Reactor {
    /// Starts the fallback driver thread, or wakes it if it runs.
    ///
    /// The fallback thread's own idle steps never call it: their seat host starts nothing (see
    /// `Attended::unattended`), since that thread loops back in `fallback_main`, which looks
    /// again. (It once woke its own parker here whenever it left the driver's
    /// seat; its next drive then ended at once, woken, and called it in again: a busy loop that
    /// fired timers but never waited in the poller, so no I/O event was ever seen.)
    pub(super) fn start_fallback(&'static self) {
        let start = self.fallback.with(|f| {
            if f.running {
                if let Some(waker) = &f.waker {
                    waker.wake_by_ref();
                }
                false
            } else {
                f.running = true;
                true
            }
        });
        if !start {
            return;
        }
        if !spawn_thread(format_args!("reactor"), move || self.fallback_main()) {
            // Nothing else can drive; the next registration tries again.
            self.fallback.with(|f| f.running = false);
        }
    }

    /// The fallback driver: drives while foreign futures wait and no `amphi` thread is idle.
    fn fallback_main(&'static self) {
        let parker = Parker::new();
        let waker = Waker::from(parker.clone());
        self.fallback.with(|f| f.waker = Some(waker.clone()));
        let waiter = Waiter::fallback();
        let mut needed_at = Instant::now();
        loop {
            let now = Instant::now();
            if self.has_work() && self.amphi_waiters.load(Ordering::SeqCst) == 0 {
                needed_at = now;
                self.fallback_drives.store(true, Ordering::SeqCst);
                waiter.idle(&parker, Some(now + CHECK));
                self.fallback_drives.store(false, Ordering::SeqCst);
                if self.amphi_waiters.load(Ordering::SeqCst) > 0 {
                    // Stood back for an `amphi` thread: wait until needed again (`start_fallback`
                    // wakes this thread), rather than race it for the lock at its next wake-up.
                    parker.park_deadline(Some(now + CHECK));
                }
                continue;
            }
            let until = needed_at + LINGER;
            if now < until {
                parker.park_deadline(Some(until));
                continue;
            }
            let exit = self.fallback.with(|f| {
                let work = self.has_work();
                if work && self.amphi_waiters.load(Ordering::SeqCst) == 0 {
                    return false;
                }
                if !work {
                    // Nothing foreign waits any more; a new foreign registration sets it again.
                    self.foreign.store(false, Ordering::Relaxed);
                }
                f.running = false;
                f.waker = None;
                true
            });
            if exit {
                return;
            }
        }
    }
}
