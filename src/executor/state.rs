//! The state shared by an executor, its tasks' schedule functions and its runners.
//!
//! - `queue`: the shared run queue, unbounded, or bounded for `Executor::with_capacity`;
//! - `runner_queues` (std): each runner's own queue, which takes the tasks woken or spawned on
//!   the runner's thread while it runs them; other runners steal from it when they run out of
//!   work (see `current.rs`);
//! - `overflow`: only for bounded executors, takes what `spawn` adds past the capacity;
//! - `event`: runners with nothing to do sleep on it; every `schedule` notifies one;
//! - `active`: a waker per live task, so dropping the executor can wake and drop every future;
//!   split in [`SHARDS`] slabs, so that spawning and finishing tasks on different threads seldom
//!   contend for one lock.
//!
//! A task's life: `spawn` inserts its waker in `active` and pushes its `Runnable`; a runner pops
//! and runs it; a wake pushes it again; when its future completes or is dropped, a guard wrapped
//! around the future removes it from `active`. Dropping the executor closes the queue (later
//! pushes drop the `Runnable`, and with it the future), wakes every active task, drains the
//! queue, and waits for futures dropped concurrently by wakers on other threads.

use alloc::vec::Vec;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::task::Waker;

use async_task::Runnable;
use concurrent_queue::PushError;
use event_listener::Event;
use slab::Slab;

use super::current;
#[cfg(feature = "std")]
use super::guard::CatchDrop;
use super::guard::{Panics, RemoveOnDrop};
use super::metrics::ExecutorMetrics;
use super::runner_queue::{Holder, RunnerQueue, RunnerQueues};
use super::sleeper::Sleeper;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering, Queue, fence};
use crate::task::Task;

/// How many runnables a runner runs before it lets its own future and other work in.
const BATCH: usize = 64;

/// Number of slabs `active` is split into (on `no_std`, one thread, hence one).
const SHARDS: usize = if cfg!(feature = "std") { 8 } else { 1 };

/// The shard of `active` holding the task with this index.
#[allow(clippy::modulo_one, reason = "SHARDS is 1 on no_std")]
fn shard_of(index: usize) -> usize {
    index % SHARDS
}

/// What spawning does with a task past a bounded executor's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PastCapacity {
    /// `try_spawn`: hand the future back.
    Refuse,
    /// `spawn`: queue it on the overflow queue.
    Overflow,
}

/// The state shared by an executor, its tasks' schedule closures and its runners.
pub(crate) struct State {
    queue: Queue<Runnable>,
    overflow: Option<Queue<Runnable>>,
    capacity: Option<usize>,
    event: Event,
    /// The queues of this executor's runners, for stealing.
    runner_queues: RunnerQueues,
    /// Runners listening on `event` (or about to): while there are none, `schedule` skips
    /// `event.notify`, which always takes the event's lock.
    sleepers: AtomicUsize,
    active: [Mutex<Slab<Waker>>; SHARDS],
    /// The shard of `active` the next task goes to.
    next_shard: AtomicUsize,
    /// Runners inside `Run::poll`: only they queue work on a runner queue of their own.
    runners_in_poll: AtomicUsize,
    /// Set while a sleeping runner keeps the lookout (see `lookout.rs`): a task queued on the
    /// queue of the runner that woke it then wakes no other runner.
    lookout: AtomicBool,
    /// Live tasks, counted only if `capacity` is set (`try_spawn` must refuse exactly at it).
    live: AtomicUsize,
    /// Live tasks spawned without a slot (`spawn_untracked`), for the runtime's metrics.
    untracked: AtomicUsize,
    /// Panics of futures' destructors, caught where the executor dropped them (async-task would
    /// abort on them), to be resumed by `resume_panic`.
    panics: Panics,
}

impl State {
    pub(crate) fn new(capacity: Option<usize>) -> Self {
        Self {
            queue: match capacity {
                // A bounded queue of capacity 0 cannot be built; such an executor never holds a
                // task.
                Some(n) => Queue::bounded(n.max(1)),
                None => Queue::unbounded(),
            },
            overflow: capacity.map(|_| Queue::unbounded()),
            capacity,
            event: Event::new(),
            runner_queues: RunnerQueues::new(),
            sleepers: AtomicUsize::new(0),
            runners_in_poll: AtomicUsize::new(0),
            lookout: AtomicBool::new(false),
            active: core::array::from_fn(|_| Mutex::new(Slab::new())),
            next_shard: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            untracked: AtomicUsize::new(0),
            panics: Panics::new(),
        }
    }

    /// Resumes the first panic a future's destructor raised while this executor dropped it, if
    /// any; the others are dropped (the panic hook already reported each). The global executor
    /// keeps none: its tasks' destructors are wrapped in `CatchDrop`.
    pub(crate) fn resume_panic(&self) {
        self.panics.resume();
    }

    /// Where a task's `RemoveOnDrop` keeps a panic of its future's destructor.
    pub(crate) fn panics(&self) -> &Panics {
        &self.panics
    }

    /// Frees the slot of the task with this index, whose future has just been dropped.
    pub(crate) fn forget(&self, index: usize) {
        // The removed waker is dropped outside the lock: dropping a waker may drop its task.
        let waker = self.active[shard_of(index)].with(|active| active.try_remove(index / SHARDS));
        drop(waker);
        if self.capacity.is_some() {
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Queues a runnable and wakes one sleeping runner: on the local queue of the runner running on
    /// this thread, if it is one of ours, else on the shared queue.
    pub(crate) fn schedule(&self, runnable: Runnable) {
        let runnable = match crate::task::run_again(runnable) {
            Ok(()) => return,
            Err(runnable) => runnable,
        };
        let runnable =
            match current::push_here(self, runnable).or_else(|r| current::catch_first_wake(self, r)) {
                Ok(alone) => {
                    // The runner on this thread runs it once the running task returns. Waking
                    // another runner for it would move one of two tasks that pass messages to the
                    // other thread on every hop; the lookout takes it over if the running task
                    // holds the thread. A second task waiting is work to share.
                    //
                    // One fence for both looks: it pairs with the one in `release_lookout` (either
                    // the lookout's next look sees the queued work, or this sees it released) and
                    // with the one in `listen` (as in `notify_one`).
                    fence(Ordering::SeqCst);
                    if !alone || !self.lookout.load(Ordering::Relaxed) {
                        self.notify_sleeper();
                    }
                    return;
                }
                Err(runnable) => runnable,
            };
        if !self.push_shared(runnable) {
            return;
        }
        // A runner of this executor idle on this very thread (which is now driving the reactor,
        // or taking its events between two batches) runs the task when it wakes or goes on: no
        // need to wake another thread for it.
        if !current::leave_to_runner_here(self) {
            self.notify_one();
        }
    }

    /// Queues `runnable` on the shared queue (its overflow past a bounded capacity); returns
    /// `false` if the executor is gone.
    fn push_shared(&self, runnable: Runnable) -> bool {
        match self.queue.push(runnable) {
            Ok(()) => true,
            Err(PushError::Full(runnable)) => {
                match &self.overflow {
                    // Only `spawn` past the capacity gets here; `try_spawn` never lets it happen.
                    Some(overflow) => {
                        if let Err(err) = overflow.push(runnable) {
                            drop(err.into_inner());
                        }
                    }
                    None => drop(runnable),
                }
                true
            }
            // The executor is gone: dropping the runnable drops the future, which is exactly
            // what dropping the executor promised.
            Err(PushError::Closed(runnable)) => {
                drop(runnable);
                false
            }
        }
    }

    /// Wakes one sleeping runner, if there is one; the caller has just queued work.
    fn notify_one(&self) {
        // Pairs with the fence in `listen`: either that runner sees the queued work when it
        // looks again after listening, or this sees it counted.
        fence(Ordering::SeqCst);
        self.notify_sleeper();
    }

    /// [`notify_one`](Self::notify_one) after the caller's own fence.
    fn notify_sleeper(&self) {
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            self.event.notify(1);
        }
    }

    /// Counts a runner inside `Run::poll`, until [`leave_poll`](Self::leave_poll).
    pub(crate) fn enter_poll(&self) {
        self.runners_in_poll.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn leave_poll(&self) {
        self.runners_in_poll.fetch_sub(1, Ordering::SeqCst);
    }

    /// Takes the next runnable, if any.
    pub(crate) fn pop(&self) -> Option<Runnable> {
        if let Ok(r) = self.queue.pop() {
            return Some(r);
        }
        self.overflow.as_ref().and_then(|q| q.pop().ok())
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.queue.is_empty()
            || self.overflow.as_ref().is_some_and(|q| !q.is_empty())
            || self.runner_queues.has_work()
    }

    /// A new queue for a runner (or a catching thread) of this executor, registered until
    /// [`remove_runner_queue`](Self::remove_runner_queue); none without `std`.
    pub(crate) fn add_runner_queue(&self, holder: Holder) -> Option<Arc<RunnerQueue>> {
        self.runner_queues.add(self, holder)
    }

    /// Unregisters a runner's queue and moves what is left in it to the shared queue.
    pub(crate) fn remove_runner_queue(&self, queue: &Arc<RunnerQueue>) {
        self.runner_queues.remove(queue);
        while let Some(runnable) = queue.pop() {
            self.schedule(runnable);
        }
    }

    /// A runner of this executor leaves for good: wakes a sleeping runner if work waits. Its
    /// thread may have queued tasks and left them to it (`current::leave_to_runner_here`),
    /// and nobody else was woken for them.
    pub(crate) fn runner_leaves(&self) {
        if self.has_work() {
            self.notify_one();
        }
    }

    /// Listens for queued work; the caller must look at the queue again before it waits.
    pub(crate) fn listen(&self) -> Sleeper<'_> {
        let sleeper = Sleeper::new(&self.sleepers, self.event.listen());
        // Pairs with the fence in `notify_one`: the caller's look at the queue comes after it.
        fence(Ordering::SeqCst);
        sleeper
    }

    /// Runs up to [`BATCH`] runnables, taking them from `local` (the calling runner's queue) and
    /// the shared queue, or stealing them from other runners; returns how many ran.
    pub(crate) fn run_batch(&self, local: Option<&RunnerQueue>) -> usize {
        let _current = local.map(current::enter_queue);
        let mut ran = 0;
        while ran < BATCH {
            // The shared queue comes first at the start of each batch, so that a runner busy with
            // its own tasks does not starve the ones queued there.
            let local_pop = || local.and_then(RunnerQueue::pop);
            let next =
                if ran == 0 { self.pop().or_else(local_pop) } else { local_pop().or_else(|| self.pop()) };
            match next.or_else(|| self.runner_queues.steal(local)) {
                Some(runnable) => {
                    if let Some(local) = local {
                        local.count_start();
                    }
                    // If more work is queued, let another sleeping runner take it while this one
                    // is busy, instead of leaving it to this runner's next iteration.
                    if ran == 0 && self.has_work() {
                        self.notify_one();
                    }
                    crate::task::run_in_batch(runnable);
                    ran += 1;
                    self.resume_panic();
                }
                None => break,
            }
        }
        ran
    }

    /// Runs up to [`BATCH`] runnables from `local` only (a catching thread's queue: `catch.rs`);
    /// returns how many ran.
    #[cfg(feature = "std")]
    pub(crate) fn run_own(&self, local: &RunnerQueue) -> usize {
        let mut ran = 0;
        while ran < BATCH {
            let Some(runnable) = local.pop() else { break };
            local.count_start();
            crate::task::run_in_batch(runnable);
            ran += 1;
            self.resume_panic();
        }
        ran
    }

    /// Spawns `future`.
    ///
    /// # Safety
    ///
    /// - If `future` is not `Send`, its `Runnable` must only run on the thread that spawned it
    ///   (the `LocalExecutor` guarantees it by being `!Send`).
    /// - If `future` is not `'static`, it must be dropped before anything it borrows: the
    ///   executor's `Drop` drops every future still held, and the executor cannot outlive `'a`.
    pub(crate) unsafe fn spawn<'a, T: 'a, F: Future<Output = T> + 'a>(
        this: &Arc<Self>,
        future: F,
    ) -> Task<T> {
        // SAFETY: forwarded from this function's contract.
        match unsafe { Self::spawn_with(this, future, PastCapacity::Overflow) } {
            Ok(task) => task,
            Err(_) => unreachable!("a spawn past the capacity overflows, it is never refused"),
        }
    }

    /// Spawns `future`, or hands it back if a bounded executor is at its capacity.
    ///
    /// # Safety
    ///
    /// As for [`spawn`](Self::spawn).
    pub(crate) unsafe fn try_spawn<'a, T: 'a, F: Future<Output = T> + 'a>(
        this: &Arc<Self>,
        future: F,
    ) -> Result<Task<T>, F> {
        // SAFETY: forwarded from this function's contract.
        unsafe { Self::spawn_with(this, future, PastCapacity::Refuse) }
    }

    /// # Safety
    ///
    /// As for [`spawn`](Self::spawn).
    unsafe fn spawn_with<'a, T: 'a, F: Future<Output = T> + 'a>(
        this: &Arc<Self>,
        future: F,
        past_capacity: PastCapacity,
    ) -> Result<Task<T>, F> {
        if let Some(cap) = this.capacity {
            if past_capacity == PastCapacity::Overflow {
                this.live.fetch_add(1, Ordering::AcqRel);
            } else if this
                .live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1))
                .is_err()
            {
                return Err(future);
            }
        }
        let builder = crate::task::builder();
        let shard = if SHARDS == 1 { 0 } else { shard_of(this.next_shard.fetch_add(1, Ordering::Relaxed)) };
        let (runnable, task) = this.active[shard].with(|active| {
            let entry = active.vacant_entry();
            let index = entry.key() * SHARDS + shard;
            let state = this.clone();
            let future = RemoveOnDrop { future: ManuallyDrop::new(future), state: state.clone(), index };
            let schedule = move |runnable| state.schedule(runnable);
            // SAFETY: forwarded from this function's contract; `schedule` is `Send + Sync +
            // 'static` since it only holds an `Arc<State>`.
            let (runnable, task) = unsafe { builder.spawn_unchecked(|()| future, schedule) };
            entry.insert(runnable.waker());
            (runnable, task)
        });
        // Scheduled outside the lock: scheduling into a closed queue drops the future, and the
        // future's guard takes the lock.
        runnable.schedule();
        Ok(Task::new(task))
    }

    /// Runs one queued task, if there is one; returns whether it did.
    pub(crate) fn try_tick(&self) -> bool {
        match self.pop().or_else(|| self.runner_queues.steal(None)) {
            Some(runnable) => {
                crate::task::run(runnable);
                self.resume_panic();
                true
            }
            None => false,
        }
    }

    /// Waits for a queued task and runs it.
    pub(crate) async fn tick(&self) {
        loop {
            if self.try_tick() {
                return;
            }
            let listener = self.listen();
            if self.try_tick() {
                return;
            }
            listener.await;
        }
    }

    /// The capacity `with_capacity` gave, if any.
    pub(crate) fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// Tasks alive: those with a slot, and those spawned without one.
    pub(crate) fn active_tasks(&self) -> usize {
        let tracked: usize = self.active.iter().map(|shard| shard.with(|a| a.len())).sum();
        tracked + self.untracked.load(Ordering::Relaxed)
    }

    /// Runnables waiting in the shared queue (and its overflow).
    pub(crate) fn queued(&self) -> usize {
        self.queue.len() + self.overflow.as_ref().map_or(0, Queue::len)
    }

    /// Runnables waiting in each runner's own queue.
    pub(crate) fn runner_queue_lengths(&self) -> Vec<usize> {
        self.runner_queues.lengths()
    }

    /// A snapshot for `Executor::metrics` and the runtime's.
    pub(crate) fn metrics(&self) -> ExecutorMetrics {
        ExecutorMetrics {
            tasks: self.active_tasks(),
            queued: self.queued() + self.runner_queue_lengths().iter().sum::<usize>(),
            sleeping_runners: self.sleepers.load(Ordering::Relaxed),
        }
    }

    /// Spawns `future` without a slot in `active`, for an executor that is never dropped (the
    /// global one, in a `static`): a lock and a slab entry per task saved.
    ///
    /// `schedule` must queue on this state. async-task guards a schedule function that captures
    /// something with a waker clone (two atomic operations) on every wake-up; one that captures
    /// nothing (it reaches the state through a `static`) needs no guard.
    #[cfg(feature = "std")]
    pub(crate) fn spawn_untracked<T, F, S>(&'static self, future: F, schedule: S) -> Task<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
        S: async_task::Schedule + Send + Sync + 'static,
    {
        // SAFETY: the future is `Send` and `'static`.
        unsafe { self.spawn_untracked_unchecked(future, schedule) }
    }

    /// [`spawn_untracked`](Self::spawn_untracked) for a future that may borrow.
    ///
    /// # Safety
    ///
    /// If `future` is not `'static`, it must be dropped before anything it borrows. The executor
    /// is never dropped, so it drops the future only once it completed (or on `Task::cancel`):
    /// the caller must wait for that (`scope` counts its futures' destructors).
    #[cfg(feature = "std")]
    pub(crate) unsafe fn spawn_untracked_unchecked<'a, T, F, S>(
        &'static self,
        future: F,
        schedule: S,
    ) -> Task<T>
    where
        T: Send + 'a,
        F: Future<Output = T> + Send + 'a,
        S: async_task::Schedule + Send + Sync + 'static,
    {
        debug_assert!(self.capacity.is_none(), "a bounded executor counts its tasks");
        // A relaxed count, one add and one subtract per task, read only by the metrics.
        self.untracked.fetch_add(1, Ordering::Relaxed);
        let future = CatchDrop { future: ManuallyDrop::new(future), alive: &self.untracked };
        // SAFETY: the future and its output are `Send`, so the runnable may run on any thread
        // and the output be taken on any; the caller drops nothing the future borrows before
        // the future (this function's contract); `schedule` is `Send + Sync + 'static`.
        let (runnable, task) = unsafe { crate::task::builder().spawn_unchecked(|()| future, schedule) };
        runnable.schedule();
        Task::new(task)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.active.iter().all(|shard| shard.with(|active| active.is_empty()))
    }

    /// Wakes and drops every task; see the module documentation.
    pub(crate) fn shut_down(&self) {
        self.queue.close();
        if let Some(overflow) = &self.overflow {
            overflow.close();
        }
        let mut wakers: Vec<Waker> = Vec::new();
        for shard in &self.active {
            shard.with(|active| wakers.extend(active.iter().map(|(_, w)| w.clone())));
        }
        // Each wake either finds the queue closed and drops its future at once, or its runnable
        // was queued earlier and is drained below.
        for waker in wakers {
            waker.wake();
        }
        while let Some(runnable) = self.pop() {
            drop(runnable);
        }
        // A waker racing on another thread may be between marking its task scheduled and its
        // (failing) push; wait until it has dropped the future.
        while !self.is_empty() {
            crate::sync::spin_wait();
        }
        // Every future is gone: now the one who dropped the executor learns of a destructor's
        // panic, or of a panic of the waker of an awaiter its dropped tasks notified.
        self.resume_panic();
        crate::task::resume_caught();
    }
}

/// The lookout (`super::lookout`): only the std idle loop keeps it.
#[cfg(feature = "std")]
impl State {
    /// Wakes a sleeping runner to keep the lookout if none does: the caller has just started
    /// counting as a runner inside `Run::poll` (`Catch`), and a runner that went to sleep before
    /// saw no one to keep it for.
    pub(crate) fn call_lookout(&self) {
        if !self.lookout.load(Ordering::SeqCst) {
            self.notify_one();
        }
    }

    /// Whether a runner is inside `Run::poll`, running tasks.
    pub(crate) fn runs_tasks(&self) -> bool {
        self.runners_in_poll.load(Ordering::SeqCst) > 0
    }

    /// Keeps the lookout, if a runner runs tasks and nobody keeps it yet.
    pub(crate) fn claim_lookout(&self) -> bool {
        self.runs_tasks()
            && self.lookout.compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed).is_ok()
    }

    /// Gives the lookout up. Work a runner queued while it was kept woke nobody: if some waits,
    /// another runner is woken to take it (one more, not one: a notified listener of the
    /// lookout's own would swallow "one"). Not for a catching thread's work, which nobody can
    /// take but the lookout's look: a runner woken for it would find nothing, and give up the
    /// lookout it then keeps as it wakes for the next, and so on between the runners, with no
    /// look ever done. The catch counts as a runner in `Run::poll`, so the runner that gives the
    /// lookout up keeps it again as it goes back to sleep.
    pub(crate) fn release_lookout(&self) {
        use event_listener::IntoNotification;

        self.lookout.store(false, Ordering::SeqCst);
        // Pairs with the fence in `schedule` after a push to a runner queue.
        fence(Ordering::SeqCst);
        if self.runner_queues.has_work() && self.sleepers.load(Ordering::Relaxed) > 0 {
            self.event.notify(1.additional());
        }
    }

    /// A look of the lookout: whether work waits in the queue of a runner held in one task.
    pub(crate) fn stalled(&self) -> bool {
        let mut rescued = Vec::new();
        let stalled = self.runner_queues.stalled(None, &mut rescued);
        for runnable in rescued {
            self.push_shared(runnable);
        }
        stalled
    }
}
