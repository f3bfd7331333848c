//! What the current thread is to the executors: the runner queue its batch fills (or its catch
//! fills: `catch.rs`), the executors whose `run` is on its stack, its runner that sleeps while
//! the thread drives the reactor, and the catch a `block_on`'s first poll starts.
//!
//! The executor's one std/no_std axis. Both variants have the same inner API:
//! - with `std`, thread-locals (through `crate::sync`, so the loom models see them);
//! - without, no thread-locals: every wake-up goes to the shared queue, and a nested `block_on`
//!   parks instead of running tasks. (`running`, which only a nested std `block_on` asks, is
//!   std's alone.)

pub(crate) use self::imp::*;

#[cfg(feature = "std")]
mod imp {
    use alloc::vec::Vec;
    use core::cell::{Cell, RefCell};
    use core::marker::PhantomData;
    use core::task::Waker;

    use async_task::Runnable;

    use super::super::catch::Catch;
    use super::super::runner_queue::RunnerQueue;
    use super::super::state::State;

    /// What this thread is to the executors.
    struct Current {
        /// The queue of the runner running a batch on this thread; see [`enter_queue`].
        queue: Cell<*const RunnerQueue>,
        /// The runner of an executor idle on this thread, and its waker if it sleeps (none if
        /// it only pauses between two batches); see [`runner_sleeps_here`],
        /// [`runner_pauses_here`].
        idle_runner: RefCell<Option<(*const State, Option<Waker>)>>,
        /// The executors whose `run` is being polled on this thread, outermost first.
        executors: RefCell<Vec<*const State>>,
        /// Set by every poll of an executor's `run` on this thread; see [`take_ran_executor`].
        ran: Cell<bool>,
        /// While a `Catch` lives: the waker called for each task pushed to `queue`.
        catcher: RefCell<Option<Waker>>,
        /// Whether `catcher` is set, read on every push.
        catching: Cell<bool>,
        /// While a `block_on` on this thread polls its future the first time: the executor whose
        /// tasks woken here start a catch ([`catch_first_wake`]), and that catch once started.
        first_wakes: Cell<Option<&'static State>>,
        first_catch: RefCell<Option<Catch<'static>>>,
    }

    crate::sync::const_thread_local! {
        static CURRENT: Current = Current {
            queue: Cell::new(core::ptr::null()),
            idle_runner: RefCell::new(None),
            executors: RefCell::new(Vec::new()),
            ran: Cell::new(false),
            catcher: RefCell::new(None),
            catching: Cell::new(false),
            first_wakes: Cell::new(None),
            first_catch: RefCell::new(None),
        };
    }

    /// Makes `queue` the one that tasks woken on this thread go to (if they are of its executor)
    /// until the guard drops, which restores the previous one.
    pub(crate) fn enter_queue(queue: &RunnerQueue) -> impl Drop + '_ {
        struct Restore<'q>(*const RunnerQueue, PhantomData<&'q RunnerQueue>);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let _ = CURRENT.try_with(|h| h.queue.set(self.0));
            }
        }
        let previous = CURRENT.try_with(|h| h.queue.replace(queue)).unwrap_or(core::ptr::null());
        Restore(previous, PhantomData)
    }

    /// Queues `runnable` on this thread's current runner queue if it is `state`'s; hands it back
    /// otherwise. `Ok(true)`: it is the only runnable waiting there.
    pub(crate) fn push_here(state: &State, runnable: Runnable) -> Result<bool, Runnable> {
        let (queue, catching) =
            CURRENT.try_with(|h| (h.queue.get(), h.catching.get())).unwrap_or((core::ptr::null(), false));
        // SAFETY: a non-null `queue` was set by `enter_queue` from a reference that outlives the
        // guard, which resets it before that reference can end, or by `begin_catch` from the
        // queue a `Catch` holds, which `end_catch` resets before the `Catch` lets it go.
        let pushed = match unsafe { queue.as_ref() } {
            Some(queue) => queue.push(state, runnable),
            None => Err(runnable),
        };
        if catching && pushed.is_ok() {
            let _ = CURRENT.try_with(|h| {
                if let Some(w) = &*h.catcher.borrow() {
                    w.wake_by_ref();
                }
            });
        }
        pushed
    }

    /// What a `Catch` replaced, restored by [`end_catch`].
    #[derive(Default)]
    pub(crate) struct Caught {
        queue: Option<*const RunnerQueue>,
        catcher: Option<Waker>,
        catching: bool,
    }

    /// Makes `queue` the one that tasks woken on this thread go to, and `catcher` called for
    /// each, until [`end_catch`] with the result (a `Catch`'s life).
    pub(crate) fn begin_catch(queue: &RunnerQueue, catcher: Waker) -> Caught {
        CURRENT
            .try_with(|h| Caught {
                queue: Some(h.queue.replace(queue)),
                catcher: h.catcher.replace(Some(catcher)),
                catching: h.catching.replace(true),
            })
            .unwrap_or_default()
    }

    /// Replaces the waker called for each task pushed while a `Catch` lives (the one it started
    /// with, until [`end_catch`]).
    pub(crate) fn set_catcher(catcher: Waker) {
        let _ = CURRENT.try_with(|h| {
            // The replaced waker is dropped outside the borrow: dropping a waker may run code.
            let replaced = h.catcher.replace(Some(catcher));
            drop(replaced);
        });
    }

    /// Catches the tasks of `state` woken on this thread until the result is finished or
    /// dropped, starting a `Catch` at the first such wake only: a `block_on` whose first poll
    /// wakes a task it will wait on (a request to a connection's task) keeps it for the thread
    /// that is about to drive, and a poll that wakes none costs no catch.
    ///
    /// Nested in another `block_on`'s first poll, it ends the outer one's catch first: the outer
    /// thread is waiting here, and what it caught goes to the runners, not to wait for it.
    pub(crate) fn catch_first_wakes(state: &'static State) -> FirstWakes {
        let started = CURRENT.try_with(|h| {
            let outer = h.first_catch.borrow_mut().take();
            (h.first_wakes.replace(Some(state)), outer)
        });
        match started {
            Ok((previous, outer)) => {
                drop(outer);
                FirstWakes { previous, active: true }
            }
            Err(_) => FirstWakes { previous: None, active: false },
        }
    }

    /// What [`catch_first_wakes`] replaced (an outer `block_on`'s, when one polls inside
    /// another's first poll), restored when it finishes.
    pub(crate) struct FirstWakes {
        previous: Option<&'static State>,
        active: bool,
    }

    impl FirstWakes {
        /// Stops catching first wakes; returns the catch they started, if any.
        pub(crate) fn finish(mut self) -> Option<Catch<'static>> {
            self.restore()
        }

        fn restore(&mut self) -> Option<Catch<'static>> {
            if !core::mem::replace(&mut self.active, false) {
                return None;
            }
            CURRENT
                .try_with(|h| {
                    h.first_wakes.set(self.previous);
                    h.first_catch.borrow_mut().take()
                })
                .ok()
                .flatten()
        }
    }

    impl Drop for FirstWakes {
        fn drop(&mut self) {
            // Its tasks go to the runners as it drops.
            drop(self.restore());
        }
    }

    /// Starts the catch of a `block_on`'s first poll ([`catch_first_wakes`]) with `runnable`, a
    /// task of `state` woken on this thread with no queue here to take it; hands it back if this
    /// thread catches no first wakes of `state`. `Ok(true)`: it is the only runnable caught.
    pub(crate) fn catch_first_wake(state: &State, runnable: Runnable) -> Result<bool, Runnable> {
        let wanted = CURRENT
            .try_with(|h| {
                h.first_wakes.get().filter(|s| core::ptr::eq(*s, state) && h.first_catch.borrow().is_none())
            })
            .ok()
            .flatten();
        let Some(state) = wanted else { return Err(runnable) };
        // Nobody to wake yet: the thread is polling. The thread that adopts the catch sets the
        // waker it waits with (`set_catcher`).
        let Some(catch) = Catch::new(state, Waker::noop().clone()) else { return Err(runnable) };
        let pushed = push_here(state, runnable);
        let _ = CURRENT.try_with(|h| *h.first_catch.borrow_mut() = Some(catch));
        pushed
    }

    /// Restores what [`begin_catch`] replaced.
    pub(crate) fn end_catch(previous: Caught) {
        let Some(queue) = previous.queue else { return };
        let _ = CURRENT.try_with(|h| {
            h.queue.set(queue);
            h.catching.set(previous.catching);
            // The replaced waker is dropped outside the borrow: dropping a waker may run code.
            let replaced = h.catcher.replace(previous.catcher);
            drop(replaced);
        });
    }

    /// Records that this thread's runner of `state` is going to sleep, woken by `waker`.
    ///
    /// While recorded, a task of `state` scheduled *by this thread* (typically by the reactor
    /// driver this idle thread became) is left to this runner: [`leave_to_runner_here`] wakes
    /// `waker` instead of another runner, which saves a thread switch.
    pub(crate) fn runner_sleeps_here(state: &State, waker: &Waker) {
        let _ = CURRENT
            .try_with(|h| *h.idle_runner.borrow_mut() = Some((state as *const State, Some(waker.clone()))));
    }

    /// Records that this thread's runner of `state` ran a batch and is about to run the next:
    /// awake, it needs no waking, and a task of `state` that this thread schedules meanwhile (the
    /// events that its idle step takes from the reactor between two batches) is left to it as to
    /// a sleeping runner. Unlike a sleeping runner, it keeps no lookout.
    pub(crate) fn runner_pauses_here(state: &State) {
        let _ = CURRENT.try_with(|h| *h.idle_runner.borrow_mut() = Some((state as *const State, None)));
    }

    /// Forgets this thread's idle runner of `state`, if it is the recorded one.
    pub(crate) fn runner_wakes_here(state: &State) {
        let _ = CURRENT.try_with(|h| {
            let mut r = h.idle_runner.borrow_mut();
            if r.as_ref().is_some_and(|(s, _)| core::ptr::eq(*s, state)) {
                *r = None;
            }
        });
    }

    /// If this thread's idle runner runs `state`, leaves a task just queued to it (waking it if
    /// it sleeps) and returns `true`.
    pub(crate) fn leave_to_runner_here(state: &State) -> bool {
        CURRENT
            .try_with(|h| match &*h.idle_runner.borrow() {
                Some((s, waker)) if core::ptr::eq(*s, state) => {
                    if let Some(waker) = waker {
                        waker.wake_by_ref();
                    }
                    true
                }
                _ => false,
            })
            .unwrap_or(false)
    }

    /// The state of the executor whose runner sleeps on this thread, if one does.
    ///
    /// It outlives that runner's `Run`, which records it before it sleeps and clears it when it
    /// is polled again or dropped.
    pub(crate) fn sleeping_runner_state() -> Option<*const State> {
        CURRENT
            .try_with(|h| match &*h.idle_runner.borrow() {
                Some((s, Some(_))) => Some(*s),
                _ => None,
            })
            .ok()
            .flatten()
    }

    /// Marks the calling thread as running these executors' tasks until the guard drops.
    pub(crate) fn enter_executors<'s>(states: &[&'s State]) -> impl Drop + use<'s> {
        struct Leave<'s> {
            pushed: usize,
            _states: PhantomData<&'s State>,
        }
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let _ = CURRENT.try_with(|h| {
                    let mut running = h.executors.borrow_mut();
                    let len = running.len() - self.pushed;
                    running.truncate(len);
                });
            }
        }
        let pushed = CURRENT
            .try_with(|h| {
                h.ran.set(true);
                h.executors.borrow_mut().extend(states.iter().map(|s| *s as *const State))
            })
            .map_or(0, |()| states.len());
        Leave { pushed, _states: PhantomData }
    }

    /// Whether an executor's `run` was polled on this thread since the last call: a `block_on`
    /// whose first poll polled one is that executor's runner.
    pub(crate) fn take_ran_executor() -> bool {
        CURRENT.try_with(|h| h.ran.replace(false)).unwrap_or(false)
    }

    /// The executors whose `run` is on this thread's stack, innermost first, each once.
    ///
    /// # Safety
    ///
    /// - The references must not be used after the `poll` this call is nested in returns: a
    ///   state is on the stack only while the `run` that borrows it is being polled.
    pub(crate) unsafe fn running<'s>() -> Vec<&'s State> {
        let mut states: Vec<&'s State> = Vec::new();
        let _ = CURRENT.try_with(|h| {
            for &ptr in h.executors.borrow().iter().rev() {
                // SAFETY: a pointer is on `executors` only while the guard of `enter_executors`
                // that pushed it lives, inside the `poll` of a `Run` that borrows the state; the
                // caller does not keep the reference past that poll.
                let state = unsafe { &*ptr };
                if !states.iter().any(|s| core::ptr::eq(*s, state)) {
                    states.push(state);
                }
            }
        });
        states
    }
}

#[cfg(not(feature = "std"))]
mod imp {
    use core::task::Waker;

    use async_task::Runnable;

    use super::super::runner_queue::RunnerQueue;
    use super::super::state::State;

    pub(crate) fn enter_queue(queue: &RunnerQueue) -> impl Drop + '_ {
        struct Nothing<'q>(core::marker::PhantomData<&'q RunnerQueue>);
        impl Drop for Nothing<'_> {
            fn drop(&mut self) {}
        }
        let _ = queue;
        Nothing(core::marker::PhantomData)
    }

    pub(crate) fn push_here(_: &State, runnable: Runnable) -> Result<bool, Runnable> {
        Err(runnable)
    }

    pub(crate) fn catch_first_wake(_: &State, runnable: Runnable) -> Result<bool, Runnable> {
        Err(runnable)
    }

    pub(crate) fn runner_sleeps_here(_: &State, _: &Waker) {}

    pub(crate) fn runner_pauses_here(_: &State) {}

    pub(crate) fn runner_wakes_here(_: &State) {}

    pub(crate) fn leave_to_runner_here(_: &State) -> bool {
        false
    }

    pub(crate) fn enter_executors<'s>(_: &[&'s State]) -> impl Drop + use<'s> {
        struct Nothing<'s>(core::marker::PhantomData<&'s State>);
        impl Drop for Nothing<'_> {
            fn drop(&mut self) {}
        }
        Nothing(core::marker::PhantomData)
    }
}
