//! Waking a sleeping thread by token, so that a time-out never loses a wake-up: the protocol the
//! blocking pool's threads and the global workers' spares share.
//!
//! A sleeper counts itself asleep under the caller's lock ([`Tokens::sleep`], with what wakes
//! it, which hands it a [`Ticket`]); the waker claims a sleeper under the same lock
//! ([`Tokens::claim`]: the longest asleep is taken off the list with a token of its own, and
//! what wakes it is handed back) and wakes it once the lock is released. Any sleeper takes a
//! token under the lock: its own, or, if it has none, another's (a thread that has just counted
//! itself asleep, still awake, takes it without a park), whose sleeper is then put back on the
//! list, so the next claim finds it while it wakes to find no token, and sleeps on. One whose
//! wait times out takes a pending token before it gives up:
//! ```text
//!  counted asleep ──token taken──▶ woken
//!        └──time-out, no token──▶ uncounted, gone
//! ```
//! The sleepers live inside the caller's own locked data (beside the pool's job queue, say), so a
//! claim is made in the same critical section as the decision that needs it. A claim wakes its
//! sleeper directly: one unpark, with no list of listeners to lock on either side (one system
//! call each way for a hand-over, where event-listener's blocking wait took a lock and a
//! condition variable that both threads contended for).
//!
//! Threads and time are the caller's: what wakes a sleeper ([`Sleeper`]: a `Thread`, unparked)
//! and the timed park are handed in, so the loom models (`tests/loom.rs`) run this file
//! unchanged, with sleepers of their own (loom models a thread waiting for a lock and a parked
//! one alike, so an unpark there could wake a thread from a lock).

#![forbid(unsafe_code)]

use alloc::collections::VecDeque;
use std::time::Instant;

use crate::sync::Mutex;
use crate::sync::thread::{self, Thread};

/// What wakes a sleeping thread claimed by [`Tokens::claim`].
pub(crate) trait Sleeper: Clone {
    /// Wakes the sleeper out of its `park` (see [`wait`]), or makes its next one return at once.
    fn wake(&self);
}

impl Sleeper for Thread {
    fn wake(&self) {
        self.unpark();
    }
}

/// A sleeper's place in [`Tokens`], handed out by [`Tokens::sleep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(usize);

/// The sleepers no claim has picked, and the claims not taken up yet; kept under the caller's
/// lock.
#[derive(Debug)]
pub(crate) struct Tokens<S = Thread> {
    /// Sleepers no claim has picked, the longest asleep first: a claim wakes that one, whose
    /// thread is parked by now, while one that has just counted itself asleep is likely about to
    /// take the token itself, without a park.
    sleeping: VecDeque<(Ticket, S)>,
    /// The sleepers claimed whose token is not taken yet: one token each. Any sleeper takes one:
    /// a claim's token is not its sleeper's. A sleeper that takes another's puts that one back
    /// among the sleeping, so it stays claimable while it wakes and finds no token: the caller's
    /// next claim reaches it (a claim made while it was on its way would otherwise find nobody,
    /// and the work it was for would wait for a thread to come free).
    claimed: VecDeque<(Ticket, S)>,
    next: usize,
}

impl<S: Sleeper> Tokens<S> {
    pub(crate) const fn new() -> Self {
        Self { sleeping: VecDeque::new(), claimed: VecDeque::new(), next: 0 }
    }

    /// Counts the calling thread asleep, woken by `sleeper`; it must then wait in [`wait`] with
    /// the ticket.
    pub(crate) fn sleep(&mut self, sleeper: S) -> Ticket {
        let ticket = Ticket(self.next);
        self.next = self.next.wrapping_add(1);
        self.sleeping.push_back((ticket, sleeper));
        ticket
    }

    /// Claims a sleeper if there is one; the caller must then [`wake`](Sleeper::wake) what is
    /// returned, after its lock is released.
    pub(crate) fn claim(&mut self) -> Option<S> {
        let (ticket, sleeper) = self.sleeping.pop_front()?;
        self.claimed.push_back((ticket, sleeper.clone()));
        Some(sleeper)
    }

    /// Sleepers no claim has picked.
    pub(crate) fn sleeping(&self) -> usize {
        self.sleeping.len()
    }

    /// Whether a claimed sleeper is on its way: a token is not taken yet.
    pub(crate) fn pending(&self) -> bool {
        !self.claimed.is_empty()
    }

    /// Takes a token, if one is pending, for `ticket`'s sleeper, which is then no sleeper: its
    /// own claim's if it was claimed, else the oldest claim's, whose sleeper is counted asleep
    /// again, at the head of the sleeping (it is the longest asleep, and woken already).
    fn take(&mut self, ticket: Ticket) -> bool {
        if let Some(i) = self.claimed.iter().position(|(t, _)| *t == ticket) {
            self.claimed.remove(i);
            return true;
        }
        let Some(other) = self.claimed.pop_front() else {
            return false;
        };
        self.leave(ticket);
        self.sleeping.push_front(other);
        true
    }

    /// Uncounts `ticket`'s sleeper, which no claim picked (with a claim pending, its
    /// [`take`](Self::take) would have succeeded).
    fn leave(&mut self, ticket: Ticket) {
        if let Some(i) = self.sleeping.iter().position(|(t, _)| *t == ticket) {
            self.sleeping.remove(i);
        }
    }
}

/// Waits as the sleeper of `ticket`, counted by [`Tokens::sleep`] in `lock`'s data (found by
/// `tokens`); returns `true` once it took a token, or `false` when its time ran out with none,
/// after `gone` ran under the lock for the thread that gives up (already uncounted as a sleeper).
///
/// `park` parks the thread until it is woken or its time-out, whichever comes first, and returns
/// `false` once the time-out has passed (without parking); a park that returns with no token to
/// take (another sleeper took the claim's, or an unpark was meant for other code the thread ran)
/// parks again: the thread is still counted asleep.
pub(crate) fn wait<L, S: Sleeper>(
    lock: &Mutex<L>,
    tokens: impl Fn(&mut L) -> &mut Tokens<S>,
    ticket: Ticket,
    mut park: impl FnMut() -> bool,
    gone: impl FnOnce(&mut L),
) -> bool {
    loop {
        if lock.with(|l| tokens(l).take(ticket)) {
            return true;
        }
        if !park() {
            return lock.with(|l| {
                let t = tokens(l);
                if t.take(ticket) {
                    return true;
                }
                t.leave(ticket);
                gone(l);
                false
            });
        }
    }
}

/// The timed park of a thread waiting in [`wait`] until `deadline`: `false` once it has passed.
pub(crate) fn park_until(deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return false;
    }
    thread::park_timeout(deadline - now);
    true
}
