//! Who drives the reactor: the driver lock, and the idle threads waiting to take over.
//!
//! An idle thread takes the lock and drives, or registers its waker as a *candidate* and sleeps.
//! Whenever the lock may be left free while work waits, one candidate is woken to take it:
//! ```text
//!  idle ──try_lock──▶ driver ──release, work waits──▶ wakes a candidate
//!    └──lock taken──▶ candidate ──woken──▶ back to its future; still pending: idle again
//!                         └──picked to drive, returns anyway──▶ wakes another candidate
//! ```
//! A leaving driver stores `driving = false`, fences, then looks for work; a registration adds
//! its work, fences, then looks at `driving`: either the driver sees the work or the registration
//! sees nobody driving. A candidate tries the lock again after registering, so a driver that left
//! between its two tries is not missed.
//!
//! Driving, sleeping and what counts as work are the caller's, so the loom models
//! (`tests/loom.rs`) run this file unchanged.

#![forbid(unsafe_code)]

use core::task::Waker;

use slab::Slab;

use crate::sync::{AtomicBool, Mutex, Ordering, fence};

/// The driver lock and the candidates.
pub(crate) struct Duty {
    /// Set while a thread drives.
    driving: AtomicBool,
    /// Wakers of idle threads sleeping while another thread drives; `None` once picked.
    ///
    /// # Invariant
    /// An entry stays until the thread that inserted it removes it: a picked candidate's key is
    /// not reused for another candidate while the first may still remove it, which would delete
    /// the other's entry (leaving it asleep, never to be picked) and hide the pick.
    candidates: Mutex<Slab<Option<Waker>>>,
}

impl Duty {
    pub(crate) fn new() -> Self {
        Self { driving: AtomicBool::new(false), candidates: Mutex::new(Slab::new()) }
    }

    /// Whether a thread drives.
    pub(crate) fn is_driven(&self) -> bool {
        self.driving.load(Ordering::Relaxed)
    }

    /// The idle step of a thread woken through `waker`.
    ///
    /// If nobody drives, takes the lock and returns `drive()`, which must end with
    /// [`release`](Self::release). Otherwise sleeps as a candidate and returns `sleep()`; a
    /// candidate picked to drive calls `pass_duty` before it returns, since it goes back to its
    /// own future first and, if that is done, never comes back.
    pub(crate) fn park(
        &self,
        waker: &Waker,
        drive: impl FnOnce() -> bool,
        sleep: impl FnOnce() -> bool,
        pass_duty: impl FnOnce(),
    ) -> bool {
        if self.try_lock() {
            return drive();
        }
        let key = self.candidates.with(|c| c.insert(Some(waker.clone())));
        // The driver may have left between `try_lock` and the insertion, without seeing us.
        if self.try_lock() {
            self.candidates.with(|c| c.try_remove(key));
            return drive();
        }
        let woken = sleep();
        let picked = self.candidates.with(|c| c.try_remove(key).flatten().is_none());
        if picked {
            pass_duty();
        }
        woken
    }

    fn try_lock(&self) -> bool {
        self.driving.compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// Drops the driver lock, then [`pass_duty`](Self::pass_duty).
    pub(crate) fn release(&self, has_work: impl FnOnce() -> bool) -> bool {
        self.driving.store(false, Ordering::SeqCst);
        // Pairs with the fence in `registered`: either we see its work, or it sees us gone.
        fence(Ordering::SeqCst);
        self.pass_duty(has_work)
    }

    /// Wakes a candidate to drive if work waits and nobody drives; returns `false` if work waits
    /// with nobody driving and no candidate to wake.
    pub(crate) fn pass_duty(&self, has_work: impl FnOnce() -> bool) -> bool {
        self.driving.load(Ordering::SeqCst) || !has_work() || self.wake_candidate()
    }

    /// Makes sure a thread drives work the caller has just registered; returns `false` if nobody
    /// drives and no candidate was there to wake.
    pub(crate) fn registered(&self) -> bool {
        // Pairs with the fence in `release`.
        fence(Ordering::SeqCst);
        self.driving.load(Ordering::SeqCst) || self.wake_candidate()
    }

    /// Wakes one candidate to become the driver; returns whether there was one.
    fn wake_candidate(&self) -> bool {
        let picked = self.candidates.with(|c| c.iter_mut().find_map(|(_, waker)| waker.take()));
        match picked {
            Some(waker) => {
                waker.wake();
                true
            }
            None => false,
        }
    }
}
