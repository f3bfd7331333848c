//! `LocalExecutor`: an `Executor` for futures that are not `Send`, on the thread that owns it.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;

use super::error::SpawnError;
use super::{Executor, State, debug_state, try_spawn_on};
use crate::task::Task;

/// An async executor for tasks that are not `Send`, run on the thread that owns it.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use amphi::{block_on, LocalExecutor};
///
/// let local = LocalExecutor::new();
/// let shared = Rc::new(5);
/// let task = local.spawn({ let s = shared.clone(); async move { *s + 1 } });
/// assert_eq!(block_on(local.run(task)), 6);
/// ```
///
/// It cannot be sent to another thread:
///
/// ```compile_fail
/// let local = amphi::LocalExecutor::new();
/// std::thread::spawn(move || drop(local));
/// ```
pub struct LocalExecutor<'a> {
    inner: Executor<'a>,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for LocalExecutor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_state(&self.inner.state, "LocalExecutor", f)
    }
}

impl Default for LocalExecutor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl core::panic::UnwindSafe for LocalExecutor<'_> {}
impl core::panic::RefUnwindSafe for LocalExecutor<'_> {}

impl<'a> LocalExecutor<'a> {
    /// Creates a local executor with no limit on its number of tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// assert!(local.is_empty());
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self { inner: Executor::new(), _not_send: PhantomData }
    }

    /// Creates a local executor with no limit on its number of tasks.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { inner: Executor::new(), _not_send: PhantomData }
    }

    /// Creates a local executor that holds at most `capacity` live tasks; see
    /// [`Executor::with_capacity`].
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::with_capacity(1);
    /// let _t = local.try_spawn(async {}).unwrap();
    /// assert!(local.try_spawn(async {}).is_err());
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self { inner: Executor::with_capacity(capacity), _not_send: PhantomData }
    }

    /// Returns `true` if no task is alive on this executor.
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// let t = local.spawn(async {});
    /// assert!(!local.is_empty());
    /// drop(t);
    /// local.try_tick(); // runs the cancelled task's clean-up
    /// assert!(local.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Spawns a task onto the executor; the future need not be `Send`.
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// let rc = std::rc::Rc::new(1);
    /// let task = local.spawn(async move { *rc });
    /// assert_eq!(amphi::block_on(local.run(task)), 1);
    /// ```
    pub fn spawn<T: 'a>(&self, future: impl Future<Output = T> + 'a) -> Task<T> {
        let state = self.inner.state.arc();
        // SAFETY: `LocalExecutor` is `!Send` and `!Sync`, so its runnables only run on this
        // thread; it drops every future before `'a` ends.
        unsafe { State::spawn(&state, future) }
    }

    /// Spawns a task, or returns it in an error if the executor is at its capacity.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the executor was made by [`with_capacity`](LocalExecutor::with_capacity)
    /// and that many tasks are alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::with_capacity(0);
    /// assert!(local.try_spawn(async {}).is_err());
    /// ```
    pub fn try_spawn<T: 'a, F: Future<Output = T> + 'a>(&self, future: F) -> Result<Task<T>, SpawnError<F>> {
        let state = self.inner.state.arc();
        try_spawn_on(&state, future)
    }

    /// Spawns many tasks at once; see [`Executor::spawn_many`].
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// let mut tasks = Vec::new();
    /// local.spawn_many((0..3).map(|i| async move { i }), &mut tasks);
    /// assert_eq!(tasks.len(), 3);
    /// ```
    pub fn spawn_many<T: 'a, F: Future<Output = T> + 'a>(
        &self,
        futures: impl IntoIterator<Item = F>,
        handles: &mut impl Extend<Task<F::Output>>,
    ) {
        handles.extend(futures.into_iter().map(|f| self.spawn(f)));
    }

    /// A snapshot of this executor's tasks and queues; see [`Executor::metrics`].
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// let _t = local.spawn(async {});
    /// assert_eq!(local.metrics().queued, 1);
    /// ```
    pub fn metrics(&self) -> super::ExecutorMetrics {
        self.inner.metrics()
    }

    /// Runs one queued task, if there is one; returns whether it did.
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// let t = local.spawn(async { 1 });
    /// assert!(local.try_tick());
    /// assert!(t.is_finished());
    /// ```
    pub fn try_tick(&self) -> bool {
        self.inner.try_tick()
    }

    /// Waits for a queued task and runs it.
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// let t = local.spawn(async { 1 });
    /// amphi::block_on(local.tick());
    /// assert!(t.is_finished());
    /// ```
    pub async fn tick(&self) {
        self.inner.tick().await
    }

    /// Runs the executor's tasks until `future` completes; see [`Executor::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// let local = amphi::LocalExecutor::new();
    /// let t = local.spawn(async { 2 });
    /// assert_eq!(amphi::block_on(local.run(async { t.await + 1 })), 3);
    /// ```
    pub fn run<T>(&self, future: impl Future<Output = T>) -> impl Future<Output = T> {
        self.inner.run(future)
    }
}
