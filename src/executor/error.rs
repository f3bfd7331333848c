//! `SpawnError`: a bounded executor refused a task; the future is handed back.

use core::fmt;

/// The error of [`Executor::try_spawn`](crate::Executor::try_spawn) and
/// [`LocalExecutor::try_spawn`](crate::LocalExecutor::try_spawn): the executor was created with
/// [`Executor::with_capacity`](crate::Executor::with_capacity) and that many tasks are alive.
///
/// The future is handed back untouched, so nothing is lost.
///
/// # Examples
///
/// ```
/// let ex = amphi::Executor::with_capacity(1);
/// let _first = ex.try_spawn(async {}).unwrap();
/// let err = ex.try_spawn(async { 7 }).unwrap_err();
/// assert_eq!(err.capacity(), 1);
/// let fut = err.into_inner(); // the future, to retry later
/// # drop(fut);
/// ```
pub struct SpawnError<F> {
    pub(super) future: F,
    pub(super) capacity: usize,
}

impl<F> SpawnError<F> {
    /// Returns the future that could not be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::with_capacity(0);
    /// let fut = ex.try_spawn(async { 1 }).unwrap_err().into_inner();
    /// assert_eq!(amphi::block_on(fut), 1);
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }

    /// Returns the capacity of the executor that refused the future.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::with_capacity(0);
    /// assert_eq!(ex.try_spawn(async {}).unwrap_err().capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "executor is full: {} tasks alive, its capacity", self.capacity)
    }
}

impl<F> core::error::Error for SpawnError<F> {}
