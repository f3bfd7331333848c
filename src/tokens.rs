//! Waking a sleeping thread by token, so that a time-out never loses a wake-up: the protocol the
//! blocking pool's threads and the global workers' spares share.
//!
//! The waker claims a sleeper under the caller's lock ([`Tokens::claim`]: one sleeper fewer, one
//! token more) before it notifies ([`TokenEvent::wake_claimed`]); a sleeper takes a token under
//! the same lock, and one whose wait times out takes a pending token before it gives up:
//! ```text
//!  counted asleep ──token taken──▶ woken
//!        └──time-out, no token──▶ uncounted, gone
//! ```
//! The counts live inside the caller's own locked data (beside the pool's job queue, say), so a
//! claim is made in the same critical section as the decision that needs it.
//!
//! Threads and time are the caller's: the timed wait is handed in, so the loom models
//! (`tests/loom.rs`) run this file unchanged.

#![forbid(unsafe_code)]

use event_listener::{Event, EventListener, IntoNotification};

use crate::sync::Mutex;

/// The sleepers nobody has claimed and the tokens not taken up yet; kept under the caller's lock.
#[derive(Debug)]
pub(crate) struct Tokens {
    sleeping: usize,
    tokens: usize,
}

impl Tokens {
    pub(crate) const fn new() -> Self {
        Self { sleeping: 0, tokens: 0 }
    }

    /// Counts the caller as asleep; it must then wait in [`TokenEvent::wait`].
    pub(crate) fn sleep(&mut self) {
        self.sleeping += 1;
    }

    /// Claims a sleeper if there is one; the caller must then call
    /// [`TokenEvent::wake_claimed`], after its lock is released.
    pub(crate) fn claim(&mut self) -> bool {
        if self.sleeping == 0 {
            return false;
        }
        self.sleeping -= 1;
        self.tokens += 1;
        true
    }

    /// Sleepers nobody has claimed.
    pub(crate) fn sleeping(&self) -> usize {
        self.sleeping
    }

    fn take(&mut self) -> bool {
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// What the claimed sleepers wait on.
pub(crate) struct TokenEvent {
    event: Event,
}

impl TokenEvent {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self { event: Event::new() }
    }

    /// event-listener's loom build has no `const` `Event::new`.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self { event: Event::new() }
    }

    /// Wakes the sleeper a [`Tokens::claim`] claimed.
    pub(crate) fn wake_claimed(&self) {
        // One more, not "one": a sleeper an earlier claim woke may not have taken its
        // notification yet, and "one" would be satisfied by it, leaving this claim unanswered.
        self.event.notify(1.additional());
    }

    /// Waits as a sleeper counted by [`Tokens::sleep`] in `lock`'s data (found by `tokens`);
    /// returns `true` once it took a token, or `false` when `wait` timed out with none, after
    /// `gone` ran under the lock for the thread that gives up (already uncounted as a sleeper).
    ///
    /// `wait` waits for the listener's notification, but not past the sleeper's time-out; it
    /// returns whether the notification came.
    pub(crate) fn wait<L>(
        &self,
        lock: &Mutex<L>,
        tokens: impl Fn(&mut L) -> &mut Tokens,
        mut wait: impl FnMut(EventListener) -> bool,
        gone: impl FnOnce(&mut L),
    ) -> bool {
        loop {
            let listener = self.event.listen();
            if lock.with(|l| tokens(l).take()) {
                return true;
            }
            if !wait(listener) {
                return lock.with(|l| {
                    let t = tokens(l);
                    if t.take() {
                        return true;
                    }
                    t.sleeping -= 1;
                    gone(l);
                    false
                });
            }
        }
    }
}
