//! Waking a sleeping thread by token, so that a time-out never loses a wake-up: the protocol the
//! blocking pool's threads and the global workers' spares share.
//!
//! A sleeper counts itself asleep under the caller's lock ([`Tokens::sleep`], with what wakes
//! it, which hands it a [`Ticket`]); the waker claims a sleeper under the same lock
//! ([`Tokens::claim`]: the longest asleep is taken off the list, a token is added, and what wakes
//! that sleeper is handed back) and wakes it once the lock is released. Any sleeper takes a
//! token under the lock (a thread that has just counted itself asleep, still awake, takes it
//! without a park, and the one woken for it finds none and counts itself asleep again), and one
//! whose wait times out takes a pending token before it gives up:
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
pub(crate) trait Sleeper {
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
    /// Claims not taken up yet. Any sleeper takes one: a claim's token is not its sleeper's, so
    /// the thread it wakes may find none (another took it) and sleeps again.
    tokens: usize,
    next: usize,
}

impl<S: Sleeper> Tokens<S> {
    pub(crate) const fn new() -> Self {
        Self { sleeping: VecDeque::new(), tokens: 0, next: 0 }
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
        let (_, sleeper) = self.sleeping.pop_front()?;
        self.tokens += 1;
        Some(sleeper)
    }

    /// Sleepers no claim has picked.
    pub(crate) fn sleeping(&self) -> usize {
        self.sleeping.len()
    }

    /// Whether a claimed sleeper is on its way: a token is not taken yet.
    pub(crate) fn pending(&self) -> bool {
        self.tokens > 0
    }

    /// Takes a token, if one is pending, for `ticket`'s sleeper, which is then no sleeper.
    fn take(&mut self, ticket: Ticket) -> bool {
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        self.leave(ticket);
        true
    }

    /// Counts `ticket`'s sleeper asleep again, woken by what `sleeper` gives, if a claim picked
    /// it (and another sleeper took the token).
    fn stay(&mut self, ticket: Ticket, sleeper: impl FnOnce() -> S) {
        if !self.sleeping.iter().any(|(t, _)| *t == ticket) {
            self.sleeping.push_back((ticket, sleeper()));
        }
    }

    /// Uncounts `ticket`'s sleeper, if no claim picked it.
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
/// counts the thread asleep again, woken by what `sleeper` gives, and parks again.
pub(crate) fn wait<L, S: Sleeper>(
    lock: &Mutex<L>,
    tokens: impl Fn(&mut L) -> &mut Tokens<S>,
    ticket: Ticket,
    sleeper: impl Fn() -> S,
    mut park: impl FnMut() -> bool,
    gone: impl FnOnce(&mut L),
) -> bool {
    loop {
        let took = lock.with(|l| {
            let t = tokens(l);
            let took = t.take(ticket);
            if !took {
                t.stay(ticket, &sleeper);
            }
            took
        });
        if took {
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
