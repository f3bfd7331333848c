//! `Task<T>`: the handle to a spawned task (`run.rs` runs one, `awaiter.rs` wraps the waker of
//! whoever awaits it).
//!
//! async-task wakes a task's awaiter (the waker of whoever awaits the `Task`) under an abort
//! guard: a panicking waker would abort the process. With `std`, the awaiter's waker is handed to
//! async-task behind a guard that catches such a panic, and [`run`] resumes it once async-task is
//! done, as an ordinary panic of the code that ran the task (the executor keeps its state). The
//! waker of the task this thread is running needs no guard (it is this crate's), so a task
//! awaiting another costs nothing extra; other awaiters' guards are made once per `Task` and
//! waker.

mod awaiter;
mod run;

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use self::awaiter::Awaiter;
#[cfg(feature = "std")]
pub(crate) use self::run::is_running;
pub(crate) use self::run::{builder, resume_caught, run, run_again, run_in_batch};

/// A spawned task: await it for its output.
///
/// - Dropping a `Task` cancels it: its future is dropped (on the executor) and never polled again.
///   Use [`detach`](Task::detach) to let it run to completion unobserved.
/// - If the task's future panics (with `std`), the panic is caught on the executor, the executor
///   and its other tasks keep running, and the panic resumes where the `Task` is awaited.
///
/// # Examples
///
/// ```
/// let task = amphi::spawn(async { 6 * 7 });
/// assert_eq!(amphi::block_on(task), 42);
/// ```
#[must_use = "dropping a Task cancels it; call .detach() to let it run"]
pub struct Task<T>(async_task::Task<T>, Awaiter);

impl<T> Task<T> {
    pub(crate) fn new(task: async_task::Task<T>) -> Self {
        Self(task, Awaiter::new())
    }

    /// Lets the task run to completion in the background; its output is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// amphi::spawn(async move { tx.send(1).unwrap() }).detach();
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// ```
    pub fn detach(self) {
        self.0.detach()
    }

    /// Cancels the task and waits until its future is dropped.
    ///
    /// Returns the output if the task had already completed, `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// let task = amphi::spawn(futures_lite::future::pending::<()>());
    /// assert_eq!(amphi::block_on(task.cancel()), None);
    /// ```
    pub async fn cancel(self) -> Option<T> {
        let Self(task, mut awaiter) = self;
        let mut cancel = core::pin::pin!(task.cancel());
        core::future::poll_fn(|cx| awaiter.poll(cancel.as_mut(), cx)).await
    }

    /// Returns `true` if the task has completed or been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let task = ex.spawn(async {});
    /// assert!(!task.is_finished());
    /// ex.try_tick();
    /// assert!(task.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Converts into a task whose output is `None` instead of a panic when the task was
    /// cancelled (for instance because its executor was dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let task = ex.spawn(async { 1 }).fallible();
    /// drop(ex);
    /// assert_eq!(amphi::block_on(task), None);
    /// ```
    pub fn fallible(self) -> FallibleTask<T> {
        FallibleTask(self.0.fallible(), self.1)
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    /// # Panics
    ///
    /// Resumes the task's own panic; panics with "Task polled after completion" if the task was
    /// cancelled without an output (its executor was dropped).
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Self(task, awaiter) = &mut *self;
        awaiter.poll(Pin::new(task), cx)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("finished", &self.is_finished()).finish()
    }
}

/// A [`Task`] whose output is `None` if it was cancelled; see [`Task::fallible`].
///
/// # Examples
///
/// ```
/// let task = amphi::spawn(async { 1 }).fallible();
/// assert_eq!(amphi::block_on(task), Some(1));
/// ```
#[must_use = "dropping a FallibleTask cancels it"]
pub struct FallibleTask<T>(async_task::FallibleTask<T>, Awaiter);

impl<T> FallibleTask<T> {
    /// Lets the task run to completion in the background; see [`Task::detach`].
    ///
    /// # Examples
    ///
    /// ```
    /// amphi::spawn(async {}).fallible().detach();
    /// ```
    pub fn detach(self) {
        self.0.detach()
    }

    /// Cancels the task and waits until its future is dropped; see [`Task::cancel`].
    ///
    /// # Examples
    ///
    /// ```
    /// let t = amphi::spawn(futures_lite::future::pending::<()>()).fallible();
    /// assert_eq!(amphi::block_on(t.cancel()), None);
    /// ```
    pub async fn cancel(self) -> Option<T> {
        let Self(task, mut awaiter) = self;
        let mut cancel = core::pin::pin!(task.cancel());
        core::future::poll_fn(|cx| awaiter.poll(cancel.as_mut(), cx)).await
    }

    /// Returns `true` if the task has completed or been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let ex = amphi::Executor::new();
    /// let t = ex.spawn(async {}).fallible();
    /// ex.try_tick();
    /// assert!(t.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl<T> Future for FallibleTask<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Self(task, awaiter) = &mut *self;
        awaiter.poll(Pin::new(task), cx)
    }
}

impl<T> fmt::Debug for FallibleTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallibleTask").field("finished", &self.is_finished()).finish()
    }
}
