//! A runner's own queue of tasks, and the runner queues of one executor that other runners steal
//! from.
//!
//! With `std` only: without thread-locals no task can find the runner queue of the thread it is
//! woken on, so the type is uninhabited there and nothing is allocated for one.

pub(crate) use self::imp::*;

#[cfg(feature = "std")]
mod imp {
    use alloc::vec::Vec;

    use async_task::Runnable;
    use concurrent_queue::{ConcurrentQueue, PushError};

    use super::super::state::State;
    use crate::sync::{Arc, AtomicUsize, Mutex, Ordering};

    /// Capacity of a runner queue; past it, tasks go to the shared queue.
    const CAPACITY: usize = 256;

    /// Whose queue a [`RunnerQueue`] is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Holder {
        /// A runner's: other runners steal from it when they run out of work.
        Runner,
        /// A catching thread's (`catch.rs`): nobody steals from it, since that thread runs what
        /// it caught between its wake-ups, in a moment; a runner woken meanwhile (to keep the
        /// lookout, or for other work) would take the task across threads. Should the thread
        /// be held instead, the lookout's look finds the queue stalled and moves its tasks to
        /// the shared queue ([`RunnerQueues::stalled`]).
        Catcher,
    }

    /// A runner's own queue: tasks woken or spawned on the runner's thread while it runs its
    /// batch stay there, away from the other runners' cache lines, and run next on the same
    /// thread. Other runners steal from it when they run out of work.
    pub(crate) struct RunnerQueue {
        /// The executor this queue belongs to (its `State`'s address; compared, never
        /// dereferenced).
        owner: usize,
        holder: Holder,
        queue: ConcurrentQueue<Runnable>,
        /// Tasks the owner has started running; only the owner writes it.
        started: AtomicUsize,
        /// `started` at the lookout's last look (see [`RunnerQueues::stalled`]).
        seen: AtomicUsize,
    }

    impl RunnerQueue {
        /// Queues `runnable` if this is `state`'s runner and there is room; hands it back
        /// otherwise. `Ok(true)`: the queue was empty, the runnable is the only one waiting.
        pub(in crate::executor) fn push(&self, state: &State, runnable: Runnable) -> Result<bool, Runnable> {
            if self.owner != core::ptr::from_ref(state) as usize {
                return Err(runnable);
            }
            self.queue.push(runnable).map_err(PushError::into_inner)?;
            Ok(self.queue.len() <= 1)
        }

        pub(crate) fn pop(&self) -> Option<Runnable> {
            self.queue.pop().ok()
        }

        /// Counts a task the owner is about to run: the lookout's measure of progress.
        pub(crate) fn count_start(&self) {
            // The owner is the only writer: a load and a store, no read-modify-write.
            self.started.store(self.started.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    /// The runner queues of one executor, for stealing.
    pub(crate) struct RunnerQueues {
        queues: Mutex<Vec<Arc<RunnerQueue>>>,
    }

    impl RunnerQueues {
        pub(crate) fn new() -> Self {
            Self { queues: Mutex::new(Vec::new()) }
        }

        /// A new queue for a runner (or catching thread) of `state`, registered with the
        /// others until [`remove`](Self::remove).
        pub(crate) fn add(&self, state: &State, holder: Holder) -> Option<Arc<RunnerQueue>> {
            let queue = Arc::new(RunnerQueue {
                owner: core::ptr::from_ref(state) as usize,
                holder,
                queue: ConcurrentQueue::bounded(CAPACITY),
                started: AtomicUsize::new(0),
                seen: AtomicUsize::new(0),
            });
            self.queues.with(|queues| queues.push(queue.clone()));
            Some(queue)
        }

        /// Unregisters a runner's queue; the caller moves what is left in it elsewhere.
        pub(crate) fn remove(&self, queue: &Arc<RunnerQueue>) {
            self.queues.with(|queues| queues.retain(|q| !Arc::ptr_eq(q, queue)));
        }

        /// Takes a runnable from another runner's queue (never from a catching thread's).
        pub(crate) fn steal(&self, own: Option<&RunnerQueue>) -> Option<Runnable> {
            self.queues.with(|queues| {
                queues
                    .iter()
                    .filter(|q| {
                        q.holder == Holder::Runner && !own.is_some_and(|own| core::ptr::eq(&***q, own))
                    })
                    .find_map(|q| q.pop())
            })
        }

        /// Whether some queue holds work while its owner has started no task since the previous
        /// look: the owner is held inside one task (blocked in synchronous code) and the work
        /// it queued waits for it. Each call is a look. The work of a held catching thread,
        /// which nobody steals, is moved to `rescued`.
        pub(crate) fn stalled(&self, own: Option<&RunnerQueue>, rescued: &mut Vec<Runnable>) -> bool {
            self.queues.with(|queues| {
                let mut stalled = false;
                for q in queues.iter().filter(|q| !own.is_some_and(|own| core::ptr::eq(&***q, own))) {
                    let started = q.started.load(Ordering::Relaxed);
                    let unchanged = q.seen.swap(started, Ordering::Relaxed) == started;
                    if unchanged && !q.queue.is_empty() {
                        stalled = true;
                        if q.holder == Holder::Catcher {
                            rescued.extend(core::iter::from_fn(|| q.pop()));
                        }
                    }
                }
                stalled
            })
        }

        /// Whether another runner could steal work from a runner's queue.
        pub(crate) fn has_work(&self) -> bool {
            self.queues
                .with(|queues| queues.iter().any(|q| q.holder == Holder::Runner && !q.queue.is_empty()))
        }

        /// How much work each runner's queue holds.
        pub(crate) fn lengths(&self) -> Vec<usize> {
            self.queues.with(|queues| queues.iter().map(|q| q.queue.len()).collect())
        }
    }
}

#[cfg(not(feature = "std"))]
mod imp {
    use async_task::Runnable;

    use super::super::state::State;
    use crate::sync::Arc;

    /// Whose queue a [`RunnerQueue`] is; see the std variant.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Holder {
        Runner,
        #[allow(dead_code, reason = "only a std thread catches")]
        Catcher,
    }

    /// No runner queues without thread-locals: the type has no value.
    pub(crate) enum RunnerQueue {}

    impl RunnerQueue {
        pub(crate) fn pop(&self) -> Option<Runnable> {
            match *self {}
        }

        pub(crate) fn count_start(&self) {
            match *self {}
        }
    }

    /// No runner queues to steal from.
    pub(crate) struct RunnerQueues;

    impl RunnerQueues {
        pub(crate) fn new() -> Self {
            Self
        }

        pub(crate) fn add(&self, _: &State, _: Holder) -> Option<Arc<RunnerQueue>> {
            None
        }

        pub(crate) fn remove(&self, queue: &Arc<RunnerQueue>) {
            match **queue {}
        }

        pub(crate) fn steal(&self, _: Option<&RunnerQueue>) -> Option<Runnable> {
            None
        }

        pub(crate) fn has_work(&self) -> bool {
            false
        }

        pub(crate) fn lengths(&self) -> alloc::vec::Vec<usize> {
            alloc::vec::Vec::new()
        }
    }
}
