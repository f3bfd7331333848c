//! A thread that is none of an executor's runners, waiting in `block_on`, catches the tasks of
//! that executor it wakes and runs them itself, instead of waking a runner for each.
//!
//! The thread that drives the shared Tokio runtime while it waits (`tokio_context`) receives the
//! events of the sockets a call depends on, and wakes the tasks that read them (a database
//! connection's); a runner woken for each such task would cross threads twice per event. While
//! a [`Catch`] lives, a task of its executor woken on this thread goes to the catching thread's
//! own runner queue, as one woken by a running task does on a runner (`current::push_here`), and
//! its waker is called to run it ([`Catch::run`]). The queue is a runner queue that nobody
//! steals from (a runner woken meanwhile would take the task across threads), registered with
//! the others and counted by the lookout, whose look moves the work left in it to the shared
//! queue while the thread is held elsewhere, so a task caught there is never stranded. The
//! thread counts as a runner inside `Run::poll` meanwhile, so that a sleeping runner keeps the
//! lookout and a task caught alone wakes nobody.

use super::current;
use super::runner_queue::{Holder, RunnerQueue};
use super::state::State;
use crate::sync::Arc;
use core::task::Waker;

/// Catches the tasks of one executor woken on this thread, until dropped.
pub(crate) struct Catch<'s> {
    state: &'s State,
    queue: Arc<RunnerQueue>,
    /// What this thread caught before (a `Catch` nests), restored on drop.
    previous: current::Caught,
}

impl<'s> Catch<'s> {
    /// Starts catching the tasks of `state` woken on this thread; `waker` is called for each.
    pub(crate) fn new(state: &'s State, waker: Waker) -> Option<Self> {
        let queue = state.add_runner_queue(Holder::Catcher)?;
        state.enter_poll();
        state.call_lookout();
        let previous = current::begin_catch(&queue, waker);
        Some(Self { state, queue, previous })
    }

    /// Makes `waker` the one called for each task caught from now on.
    pub(crate) fn wake_with(&self, waker: Waker) {
        current::set_catcher(waker);
    }

    /// Runs the tasks caught so far (at most one batch); returns how many ran.
    pub(crate) fn run(&self) -> usize {
        self.state.run_own(&self.queue)
    }
}

impl Drop for Catch<'_> {
    fn drop(&mut self) {
        // This thread's queue first, so that what is left goes to the shared queue, not back here.
        current::end_catch(core::mem::take(&mut self.previous));
        self.state.leave_poll();
        self.state.remove_runner_queue(&self.queue);
    }
}
