//! The idle loop: polls a future until it is ready and, between polls, drives the reactor or
//! parks. `block_on`'s slow path and the global workers run it.

#![forbid(unsafe_code)]

use core::future::Future;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::executor::{LOOKOUT_PERIOD, Lookout};
use crate::park::Parker;
use crate::sync::Arc;
use crate::{context, reactor};

/// What the future of [`run_until`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Polls {
    /// A runner's: it runs executor tasks, so whatever the events it drives wake, it runs.
    Tasks,
    /// Only its own future.
    Future,
}

/// How [`run_until`] starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// By polling the future.
    Polling,
    /// By idling: the caller has just polled the future, and it was pending.
    Idling,
}

/// Polls `future` until it is ready or `deadline` passes; idle in between.
///
/// The future is polled once at the start unless the caller has just polled it, and
/// then only after a wake-up: an idle step that ends without one (a driver standing back, a
/// candidate picked to drive) goes straight back to idling.
pub(crate) fn run_until<F: Future>(
    mut future: Pin<&mut F>,
    parker: &Arc<Parker>,
    waker: &Waker,
    deadline: Option<Instant>,
    polls: Polls,
    start: Start,
) -> Option<F::Output> {
    // This loop's place in the reactor; dropped with the loop, however it ends.
    let waiter = match polls {
        Polls::Tasks => reactor::Waiter::runner(),
        Polls::Future => reactor::Waiter::caller(),
    };
    let mut cx = Context::from_waker(waker);
    let mut woken = start == Start::Polling;
    // Held while this thread's sleeping runner keeps the lookout over the runners running tasks:
    // the idle step then ends after a lookout period at the latest, for a look.
    let mut lookout: Option<Lookout> = None;
    loop {
        if woken {
            // Awake, it is nobody's lookout while it runs.
            drop(lookout.take());
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return Some(out);
            }
        }
        if lookout.is_none() {
            lookout = Lookout::claim();
        }
        let look = lookout.as_ref().map(|_| Instant::now() + LOOKOUT_PERIOD);
        let until = match (deadline, look) {
            (Some(d), Some(l)) => Some(d.min(l)),
            (d, l) => d.or(l),
        };
        // Idle: drive the reactor if it exists and nobody else does, else park.
        woken = waiter.idle(parker, until);
        if woken {
            continue;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        if let Some(w) = &lookout {
            if w.stalled() {
                // Its runner runs, and steals the work a held runner queued.
                woken = true;
            } else if !w.needed() {
                lookout = None;
            }
        }
    }
}

/// Runs a global worker's loop: parks (or drives the reactor) between wake-ups, without the
/// nesting rules of `block_on`, which would hand the worker's duty off to another thread.
pub(crate) fn run_worker<F: Future>(future: F) -> F::Output {
    let future = pin!(future);
    context::with_parker(|parker, waker| {
        match run_until(future, parker, waker, None, Polls::Tasks, Start::Polling) {
            Some(out) => out,
            None => unreachable!("no deadline"),
        }
    })
}
