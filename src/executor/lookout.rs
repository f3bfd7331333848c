//! The lookout: a sleeping runner that looks, every [`LOOKOUT_PERIOD`], at the queues of the
//! runners running tasks, so that a task queued on the queue of a runner held in one task is
//! taken over. The std idle loop (`idle_loop::run_until`) keeps it; its side of the executor's
//! state is `State`'s lookout methods.

use super::current;
use super::state::State;

/// How often a sleeping runner keeping the lookout looks at the runners' queues (see `Lookout`): a
/// task queued for a runner held in another task waits at most two of these.
///
/// Its idle step ends each period, and with it the reactor seat's watch that the same thread may
/// be keeping, which needs two looks of the seat's own period (1 ms) in one idle step to take a
/// seat over from a held keeper: the period leaves room for several, timer slack included.
pub(crate) const LOOKOUT_PERIOD: core::time::Duration = core::time::Duration::from_millis(10);

/// The lookout over the runners of the executor whose runner sleeps on this thread, kept
/// while this thread's idle loop sleeps no longer than [`LOOKOUT_PERIOD`].
///
/// A runner that wakes a task from inside the task it runs queues it on its own queue and
/// wakes nobody for it while the lookout is kept: it runs it next, on the same thread, once
/// the running task returns. Should that task hold the thread instead (synchronous code,
/// a blocking call), the lookout's next looks find the queue [`stalled`](Self::stalled)
/// and its runner steals the work: a task so queued waits at most two lookout periods for a
/// held runner. Only a thread whose idle loop sleeps with the lookout's timeout may keep it
/// (`idle_loop::run_until` does); a push that finds the lookout not kept wakes a runner, as any
/// push of a second waiting task does.
///
/// The lookout is kept only while some runner is inside `Run::poll` (nobody else can queue
/// work that way), so an idle executor wakes nobody on a timer. The pairs are store (or
/// read-modify-write), SeqCst fence, load: a push then a look at the lookout, against a
/// release of the lookout then a look at the runner queues; a runner entering `Run::poll`
/// then pushing, against a claim that looks at the runners inside `Run::poll` first.
pub(crate) struct Lookout {
    /// The executor looked after.
    ///
    /// # Invariant
    /// Points to the state of the runner sleeping on this thread, which outlives the
    /// `Run` that recorded it; a `Lookout` lives only while that `Run` is not polled or
    /// dropped (within one idle step of the loop that polls it).
    state: *const State,
}

impl Lookout {
    /// Keeps the lookout of the executor whose runner sleeps on this thread, if a runner of
    /// it is running tasks and nobody keeps the lookout yet.
    pub(crate) fn claim() -> Option<Self> {
        let state = current::sleeping_runner_state()?;
        // SAFETY: the runner that recorded `state` is asleep, not dropped, and its state
        // outlives it; see the invariant.
        unsafe { &*state }.claim_lookout().then_some(Self { state })
    }

    fn state(&self) -> &State {
        // SAFETY: see the field's invariant.
        unsafe { &*self.state }
    }

    /// A look, once a lookout period passed: whether a runner's queued work waits on a
    /// runner held in a task (this thread's runner must then run, and steal it).
    pub(crate) fn stalled(&self) -> bool {
        self.state().stalled()
    }

    /// Whether a runner is still running tasks: if not, the lookout ends.
    pub(crate) fn needed(&self) -> bool {
        self.state().runs_tasks()
    }
}

impl Drop for Lookout {
    fn drop(&mut self) {
        self.state().release_lookout();
    }
}

impl core::fmt::Debug for Lookout {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Lookout").finish_non_exhaustive()
    }
}
