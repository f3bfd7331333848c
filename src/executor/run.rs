//! The future behind `Executor::run`, and behind a nested `block_on` that keeps its thread's
//! executors going.

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::current;
use super::runner_queue::{Holder, RunnerQueue};
use super::sleeper::Sleeper;
use super::state::State;
use crate::sync::Arc;

/// The future behind `run`: polls its own future, then runs a batch of tasks of each of its
/// executors, then sleeps on their events when there is nothing to do.
///
/// A nested `block_on` builds one with every executor its thread is running, so waiting inside a
/// task keeps all of them going.
pub(crate) struct Run<'s, F> {
    states: Vec<&'s State>,
    /// This runner's queue for each of `states` (none without `std`).
    queues: Vec<Arc<RunnerQueue>>,
    future: F,
    /// One per state while sleeping, empty otherwise.
    listeners: Vec<Sleeper<'s>>,
}

impl<'s, F: Future> Run<'s, F> {
    pub(crate) fn new(state: &'s State, future: F) -> Self {
        Self::many(alloc::vec![state], future)
    }

    pub(crate) fn many(states: Vec<&'s State>, future: F) -> Self {
        let queues = states.iter().filter_map(|s| s.add_runner_queue(Holder::Runner)).collect();
        Self { states, queues, future, listeners: Vec::new() }
    }
}

impl<F: Future> Future for Run<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned (never moved); the other fields are not.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let mut future = unsafe { Pin::new_unchecked(&mut this.future) };
        let _running = current::enter_executors(&this.states);
        let _in_poll = InPoll::enter(&this.states);
        current::runner_wakes_here(this.states[0]);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            // A listener that woke this runner still counts as notified, and event-listener skips
            // `notify(1)` while one is: the batch's call to wake another runner for the rest of
            // the queue would be swallowed. Dropping it is no better: a notified listener that is
            // dropped unpolled passes its notification on, and two runners with nothing to do
            // would pass it back and forth for ever. This runner is awake, so it takes the
            // notification for itself.
            for listener in this.listeners.drain(..) {
                listener.discard();
            }
            let queues = &this.queues;
            let ran: usize =
                this.states.iter().enumerate().map(|(i, s)| s.run_batch(queues.get(i).map(|q| &**q))).sum();
            if ran > 0 {
                // Give the own future and the caller a turn before the next batch; what the
                // caller's idle step wakes meanwhile is left to this runner (the next batch
                // wakes another if more than it is queued).
                cx.waker().wake_by_ref();
                current::runner_pauses_here(this.states[0]);
                return Poll::Pending;
            }
            // Listen, then look again: a task scheduled between the empty look and the listen is
            // seen by the second look, one scheduled after notifies a listener.
            this.listeners.extend(this.states.iter().map(|s| s.listen()));
            if this.states.iter().any(|s| s.has_work()) {
                continue;
            }
            let mut notified = false;
            for listener in &mut this.listeners {
                notified |= Pin::new(listener).poll(cx).is_ready();
            }
            if !notified {
                current::runner_sleeps_here(this.states[0], cx.waker());
                return Poll::Pending;
            }
            this.listeners.clear();
        }
    }
}

/// Counts this runner inside `Run::poll` for each of its executors (see `State::runs_tasks`).
struct InPoll<'r, 's>(&'r [&'s State]);

impl<'r, 's> InPoll<'r, 's> {
    fn enter(states: &'r [&'s State]) -> Self {
        for state in states {
            state.enter_poll();
        }
        Self(states)
    }
}

impl Drop for InPoll<'_, '_> {
    fn drop(&mut self) {
        for state in self.0 {
            state.leave_poll();
        }
    }
}

impl<F> Drop for Run<'_, F> {
    fn drop(&mut self) {
        // A runner that will never wake must not keep tasks scheduled on this thread to itself.
        current::runner_wakes_here(self.states[0]);
        for (state, queue) in self.states.iter().zip(&self.queues) {
            state.remove_runner_queue(queue);
        }
        for state in &self.states {
            state.runner_leaves();
        }
    }
}

impl<F> fmt::Debug for Run<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").finish_non_exhaustive()
    }
}
