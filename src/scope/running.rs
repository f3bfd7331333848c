//! The count of a scope's futures that are not dropped yet, and the wake-up of the thread that
//! waits for it to reach zero.
//!
//! A future is counted from before it is spawned until after its destructor has run (and the
//! output it left for its `ScopedTask` is either there or dropped), so a zero seen by
//! [`Running::poll_zero`] means nothing borrowed from the scope's caller is in use any more, and
//! everything the futures wrote is visible to the waiter (the last decrement releases, the look
//! that sees zero acquires).
//!
//! The waiter stores its waker and looks at the count under one lock; whoever takes the count to
//! zero takes the lock after its decrement: either its lock comes after the waiter's and it finds
//! the waker, or its decrement happened before the waiter's look, which sees zero. No wake-up is
//! lost (modelled in `tests/loom.rs`, which compiles this file unchanged).

use core::task::{Context, Poll, Waker};

use crate::sync::{AtomicUsize, Mutex, Ordering};

/// See the module documentation.
pub(crate) struct Running {
    count: AtomicUsize,
    waiter: Mutex<Option<Waker>>,
}

impl Running {
    pub(crate) fn new() -> Self {
        Self { count: AtomicUsize::new(0), waiter: Mutex::new(None) }
    }

    /// Counts a future about to be spawned.
    pub(crate) fn add(&self) {
        // Relaxed: the adder is the scope's caller or a counted future, so the count is above
        // zero or read by the adder's own thread next; the waiter only needs the decrements.
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts a future whose destructor has run; wakes the waiter if it was the last.
    pub(crate) fn finish(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Taken out under the lock, woken outside it: a waker may do anything.
            let waiter = self.waiter.with(Option::take);
            if let Some(waker) = waiter {
                waker.wake();
            }
        }
    }

    /// Ready once the count is zero.
    pub(crate) fn poll_zero(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        self.waiter.with(|waiter| {
            if self.count.load(Ordering::Acquire) == 0 {
                return Poll::Ready(());
            }
            // Polled a few times a scope: the waker is replaced, not compared.
            *waiter = Some(cx.waker().clone());
            Poll::Pending
        })
    }
}
