//! `Executor` and `LocalExecutor`: the `no_std` core.
//!
//! It depends on `crate::sync` and `crate::task` only. The std side reaches in through what the
//! core offers it (a task spawned without a slot, with the caller's schedule function; the
//! executors running on this thread), never the other way round.
//!
//! - `state.rs`: the queues, the sleepers, spawning, running a batch, shutting down;
//! - `current.rs`: what the current thread is to the executors (its runner queue, the executors
//!   whose `run` it polls, its runner sleeping while it drives the reactor): the one std/no_std
//!   axis of the core;
//! - `runner_queue.rs`: a runner's own queue, and an executor's runner queues to steal from;
//! - `lookout.rs` (std): a sleeping runner looking after the queues of the runners held in tasks;
//! - `run.rs`: the future behind `run`; `sleeper.rs`: a runner's listener;
//! - `catch.rs`: a thread that is no runner running the tasks it wakes while it waits;
//! - `guard.rs`: what is wrapped around a task's future, and catching its destructor's panic;
//! - `lazy.rs`: the state allocated on first use, so `Executor::new` is `const`;
//! - `local.rs`: `LocalExecutor`; `error.rs`: `SpawnError`; `metrics.rs`: `ExecutorMetrics`.

#[cfg(feature = "std")]
mod catch;
mod current;
mod error;
mod guard;
mod lazy;
mod local;
#[cfg(feature = "std")]
mod lookout;
mod metrics;
mod run;
mod runner_queue;
mod sleeper;
mod state;

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;

#[cfg(feature = "std")]
pub(crate) use self::catch::Catch;
#[cfg(feature = "std")]
pub(crate) use self::current::{FirstWakes, catch_first_wakes, running, take_ran_executor};
pub use self::error::SpawnError;
use self::lazy::Lazy;
pub use self::local::LocalExecutor;
#[cfg(feature = "std")]
pub(crate) use self::lookout::{LOOKOUT_PERIOD, Lookout};
pub use self::metrics::ExecutorMetrics;
pub(crate) use self::run::Run;
pub(crate) use self::state::State;
use crate::sync::Arc;
use crate::task::Task;

/// An async executor for `Send` tasks.
///
/// It has no threads of its own: whoever calls [`run`](Executor::run) (usually inside
/// [`block_on`](crate::block_on), on as many threads as wanted) runs its tasks. Dropping it drops
/// every future it still holds.
///
/// A task that calls `block_on` on a thread running this executor does not stall it: the nested
/// `block_on` keeps running the executor's other tasks while it waits (its own future first), so
/// waiting on a sibling task completes even with a single runner thread.
///
/// # Examples
///
/// ```
/// use amphi::{block_on, Executor};
///
/// let ex = Executor::new();
/// let task = ex.spawn(async { 1 + 2 });
/// assert_eq!(block_on(ex.run(task)), 3);
/// ```
pub struct Executor<'a> {
    state: Lazy,
    /// Invariant in `'a`, like `async-executor`: tasks may borrow `'a` data.
    _marker: PhantomData<core::cell::UnsafeCell<&'a ()>>,
}

// SAFETY: every task an `Executor` holds is `Send` (its `spawn` requires it), and `State` is
// shared through `Arc` and atomics only.
unsafe impl Send for Executor<'_> {}
// SAFETY: as above; all of `&Executor`'s methods are safe to call from several threads.
unsafe impl Sync for Executor<'_> {}

impl core::panic::UnwindSafe for Executor<'_> {}
impl core::panic::RefUnwindSafe for Executor<'_> {}

impl fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_state(&self.state, "Executor", f)
    }
}

pub(crate) fn debug_state(state: &Lazy, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut d = f.debug_struct(name);
    if let Some(s) = state.allocated() {
        d.field("active", &s.active_tasks()).field("queued", &s.queued());
    }
    d.finish()
}

impl Default for Executor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Executor<'a> {
    /// Creates an executor with no limit on its number of tasks.
    ///
    /// `const`, so it can live in a `static`; nothing is allocated until first use.
    ///
    /// # Examples
    ///
    /// ```
    /// static EX: amphi::Executor<'static> = amphi::Executor::new();
    /// assert!(EX.is_empty());
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self { state: Lazy::new(), _marker: PhantomData }
    }

    /// Creates an executor with no limit on its number of tasks.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { state: Lazy::new(), _marker: PhantomData }
    }

    /// Creates an executor that holds at most `capacity` live tasks at once.
    ///
    /// Its run queue is allocated up front, so waking a task never allocates (useful when wakers
    /// run in interrupt handlers). [`try_spawn`](Executor::try_spawn) refuses a task past the
    /// capacity; [`spawn`](Executor::spawn) never refuses, and past the capacity its tasks go to an
    /// unbounded overflow queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::with_capacity(2);
    /// let a = ex.try_spawn(async {}).unwrap();
    /// let b = ex.try_spawn(async {}).unwrap();
    /// assert!(ex.try_spawn(async {}).is_err());
    /// # drop((a, b));
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self { state: Lazy::with_state(State::new(Some(capacity))), _marker: PhantomData }
    }

    /// Returns `true` if no task is alive on this executor.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// assert!(ex.is_empty());
    /// let task = ex.spawn(async {});
    /// assert!(!ex.is_empty());
    /// assert!(ex.try_tick());
    /// assert!(ex.is_empty());
    /// # drop(task);
    /// ```
    pub fn is_empty(&self) -> bool {
        self.state.get().is_empty()
    }

    /// Spawns a task onto the executor.
    ///
    /// Never fails for lack of room; see [`try_spawn`](Executor::try_spawn) for a bounded
    /// executor that must refuse.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let task = ex.spawn(async { "hello" });
    /// assert_eq!(amphi::block_on(ex.run(task)), "hello");
    /// ```
    pub fn spawn<T: Send + 'a>(&self, future: impl Future<Output = T> + Send + 'a) -> Task<T> {
        let state = self.state.arc();
        // SAFETY: the future is `Send`; `Executor<'a>` drops it before `'a` ends.
        unsafe { State::spawn(&state, future) }
    }

    /// Spawns a task, or returns it in an error if the executor is at its capacity.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the executor was made by [`with_capacity`](Executor::with_capacity)
    /// and that many tasks are alive. An executor made by [`new`](Executor::new) never refuses.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::with_capacity(1);
    /// let task = ex.try_spawn(async { 1 }).unwrap();
    /// assert!(ex.try_spawn(async { 2 }).is_err());
    /// assert_eq!(amphi::block_on(ex.run(task)), 1);
    /// assert!(ex.try_spawn(async { 3 }).is_ok()); // room again
    /// ```
    pub fn try_spawn<T: Send + 'a, F: Future<Output = T> + Send + 'a>(
        &self,
        future: F,
    ) -> Result<Task<T>, SpawnError<F>> {
        let state = self.state.arc();
        try_spawn_on(&state, future)
    }

    /// Spawns many tasks at once, taking the executor's lock once per batch.
    ///
    /// The `Task`s go into `handles` in the order of `futures`.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let mut tasks = Vec::new();
    /// ex.spawn_many((0..4).map(|i| async move { i * 10 }), &mut tasks);
    /// let sum: i32 = amphi::block_on(ex.run(async {
    ///     let mut sum = 0;
    ///     for t in tasks { sum += t.await; }
    ///     sum
    /// }));
    /// assert_eq!(sum, 60);
    /// ```
    pub fn spawn_many<T: Send + 'a, F: Future<Output = T> + Send + 'a>(
        &self,
        futures: impl IntoIterator<Item = F>,
        handles: &mut impl Extend<Task<F::Output>>,
    ) {
        let state = self.state.arc();
        handles.extend(futures.into_iter().map(|future| {
            // SAFETY: as in `spawn`.
            unsafe { State::spawn(&state, future) }
        }));
    }

    /// A snapshot of this executor's tasks and queues, cheap enough to take every second (no
    /// lock on the executor's hot path maintains it).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let task = ex.spawn(async { 1 });
    /// assert_eq!(ex.metrics().tasks, 1);
    /// assert!(ex.try_tick());
    /// assert_eq!(ex.metrics().tasks, 0);
    /// # drop(task);
    /// ```
    pub fn metrics(&self) -> ExecutorMetrics {
        let Some(state) = self.state.allocated() else { return ExecutorMetrics::default() };
        state.metrics()
    }

    /// Runs one queued task, if there is one; returns whether it did.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// assert!(!ex.try_tick());
    /// let task = ex.spawn(async { 1 });
    /// assert!(ex.try_tick());
    /// assert!(task.is_finished());
    /// ```
    pub fn try_tick(&self) -> bool {
        self.state.get().try_tick()
    }

    /// Waits for a queued task and runs it.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let task = ex.spawn(async { 1 });
    /// amphi::block_on(ex.tick());
    /// assert!(task.is_finished());
    /// ```
    pub async fn tick(&self) {
        self.state.get().tick().await
    }

    /// Runs the executor's tasks until `future` completes, and returns its output.
    ///
    /// Call it on as many threads as should run the tasks. `future` is polled first each time the
    /// runner is woken, then up to a batch of tasks runs before it is polled again.
    ///
    /// A task woken while it runs (by [`yield_now`](crate::yield_now), or from another thread
    /// during its poll) is polled again at once, up to three times in a row, before it goes to
    /// the back of the queue: others wait at most four of its polls. [`try_tick`](Self::try_tick)
    /// and [`tick`](Self::tick) poll one task once.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let task = ex.spawn(async { 1 + 2 });
    /// assert_eq!(amphi::block_on(ex.run(async { task.await * 2 })), 6);
    /// ```
    pub fn run<T>(&self, future: impl Future<Output = T>) -> impl Future<Output = T> {
        Run::new(self.state.get(), future)
    }

    /// The state behind this executor, for the std side (the global executor, nested `block_on`).
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    #[inline]
    pub(crate) fn state(&self) -> &State {
        self.state.get()
    }
}

pub(crate) fn try_spawn_on<'a, T: 'a, F: Future<Output = T> + 'a>(
    state: &Arc<State>,
    future: F,
) -> Result<Task<T>, SpawnError<F>> {
    // SAFETY: forwarded from the callers, which uphold `State::spawn`'s contract.
    unsafe { State::try_spawn(state, future) }
        .map_err(|future| SpawnError { future, capacity: state.capacity().unwrap_or(usize::MAX) })
}
