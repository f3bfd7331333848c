//! `ExecutorMetrics`: a snapshot of one executor's tasks and queues.

/// What an executor holds at one moment; see [`Executor::metrics`](crate::Executor::metrics).
///
/// Each figure is read on its own, without stopping the executor: under load they may not add
/// up to one instant, and each is exact once the executor is quiet.
///
/// # Examples
///
/// ```
/// let ex = amphi::Executor::new();
/// let tasks = [ex.spawn(async {}), ex.spawn(async {})];
/// let m = ex.metrics();
/// assert_eq!((m.tasks, m.queued), (2, 2));
/// # drop(tasks);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecutorMetrics {
    /// Tasks alive: spawned, and neither completed nor dropped.
    pub tasks: usize,
    /// Tasks scheduled and waiting to run, in the shared queue and in its runners' own queues.
    pub queued: usize,
    /// Runners (threads in `run`) listening for work: asleep, or about to be.
    pub sleeping_runners: usize,
}
