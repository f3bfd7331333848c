//! `Executor` and `LocalExecutor`: run queues, sleeping runners, `tick`/`run`.
//!
//! Both executors share one [`State`]:
//! - `queue`: the shared run queue, unbounded, or bounded for [`Executor::with_capacity`];
//! - `locals` (std): each runner's own queue, which takes the tasks woken or spawned on the
//!   runner's thread while it runs them; other runners steal from it when they run out of work;
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

#[cfg(feature = "std")]
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use async_task::{Builder, Runnable};
use concurrent_queue::{ConcurrentQueue, PushError};
use event_listener::{Event, EventListener, Listener};
use slab::Slab;

#[cfg(feature = "std")]
use crate::sync::AtomicBool;
use crate::sync::{Arc, AtomicPtr, AtomicUsize, Mutex, Ordering, fence};
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

/// Capacity of a runner's local queue; past it, tasks go to the shared queue.
#[cfg(feature = "std")]
const LOCAL_CAPACITY: usize = 256;

/// A runner's local queue: tasks woken or spawned on the runner's thread while it runs its batch
/// stay there, away from the other runners' cache lines, and run next on the same thread.
#[cfg(feature = "std")]
pub(crate) struct Local {
    /// The executor this queue belongs to (its `State`'s address; compared, never dereferenced).
    state: usize,
    queue: ConcurrentQueue<Runnable>,
}

#[cfg(feature = "std")]
crate::sync::const_thread_local! {
    /// The local queue of the runner running a batch on this thread; see [`enter_local`].
    static LOCAL: core::cell::Cell<*const Local> = core::cell::Cell::new(core::ptr::null());
}

/// Makes `local` the queue that tasks woken on this thread go to (if they are of its executor)
/// until the guard drops, which restores the previous one.
#[cfg(feature = "std")]
fn enter_local(local: &Local) -> impl Drop + '_ {
    struct Restore<'l>(*const Local, PhantomData<&'l Local>);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = LOCAL.try_with(|l| l.set(self.0));
        }
    }
    let previous = LOCAL.try_with(|l| l.replace(local)).unwrap_or(core::ptr::null());
    Restore(previous, PhantomData)
}

/// Queues `runnable` on this thread's current local queue if it is `state`'s; hands it back
/// otherwise.
#[cfg(feature = "std")]
fn push_local(state: &State, runnable: Runnable) -> Result<(), Runnable> {
    let local = LOCAL.try_with(core::cell::Cell::get).unwrap_or(core::ptr::null());
    // SAFETY: a non-null `LOCAL` was set by `enter_local` from a reference that outlives the
    // guard, which resets it before that reference can end.
    match unsafe { local.as_ref() } {
        Some(local) => local.push(state, runnable),
        None => Err(runnable),
    }
}

/// No local queues without thread-locals.
#[cfg(not(feature = "std"))]
pub(crate) enum Local {}

#[cfg(not(feature = "std"))]
impl Local {
    fn pop(&self) -> Option<Runnable> {
        match *self {}
    }
}

#[cfg(feature = "std")]
impl Local {
    /// Queues `runnable` if this is `state`'s runner and there is room; hands it back otherwise.
    fn push(&self, state: &State, runnable: Runnable) -> Result<(), Runnable> {
        if self.state != core::ptr::from_ref(state) as usize {
            return Err(runnable);
        }
        self.queue.push(runnable).map_err(PushError::into_inner)
    }

    fn pop(&self) -> Option<Runnable> {
        self.queue.pop().ok()
    }
}

/// The error of [`Executor::try_spawn`] and [`LocalExecutor::try_spawn`]: the executor was
/// created with [`Executor::with_capacity`] and that many tasks are alive.
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
    future: F,
    capacity: usize,
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

/// The state shared by an executor, its tasks' schedule closures and its runners.
pub(crate) struct State {
    queue: ConcurrentQueue<Runnable>,
    overflow: Option<ConcurrentQueue<Runnable>>,
    capacity: Option<usize>,
    event: Event,
    /// The local queues of this executor's runners, for stealing.
    #[cfg(feature = "std")]
    locals: Mutex<Vec<Arc<Local>>>,
    /// Runners listening on `event` (or about to): while there are none, `schedule` skips
    /// `event.notify`, which always takes the event's lock.
    sleepers: AtomicUsize,
    /// Whether live tasks are kept in `active`, to be dropped with the executor. The global
    /// executor lives in a `static`, is never dropped, and skips that bookkeeping: a lock and a
    /// slab entry per task.
    tracked: bool,
    active: [Mutex<Slab<Waker>>; SHARDS],
    /// The shard of `active` the next task goes to.
    next_shard: AtomicUsize,
    /// Live tasks, counted only if `capacity` is set (`try_spawn` must refuse exactly at it).
    live: AtomicUsize,
    /// Panics of futures' destructors, caught where the executor dropped them (async-task would
    /// abort on them), to be resumed by `resume_panic`.
    #[cfg(feature = "std")]
    panics: Mutex<Vec<Box<dyn core::any::Any + Send>>>,
    /// Whether `panics` is non-empty, so runners check it without taking the lock.
    #[cfg(feature = "std")]
    panicked: AtomicBool,
}

impl State {
    fn new(capacity: Option<usize>, tracked: bool) -> Self {
        Self {
            tracked,
            queue: match capacity {
                // A bounded queue of capacity 0 cannot be built; such an executor never holds a task.
                Some(n) => ConcurrentQueue::bounded(n.max(1)),
                None => ConcurrentQueue::unbounded(),
            },
            overflow: capacity.map(|_| ConcurrentQueue::unbounded()),
            capacity,
            event: Event::new(),
            #[cfg(feature = "std")]
            locals: Mutex::new(Vec::new()),
            sleepers: AtomicUsize::new(0),
            active: core::array::from_fn(|_| Mutex::new(Slab::new())),
            next_shard: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            #[cfg(feature = "std")]
            panics: Mutex::new(Vec::new()),
            #[cfg(feature = "std")]
            panicked: AtomicBool::new(false),
        }
    }

    /// Resumes the first panic a future's destructor raised while this executor dropped it, if
    /// any; the others are dropped (the panic hook already reported each).
    ///
    /// The global executor never resumes them: its runners are worker threads and unrelated
    /// `block_on` callers, none of which dropped the task, and a worker must not die of it.
    #[cfg(feature = "std")]
    fn resume_panic(&self) {
        if self.panicked.load(Ordering::Acquire) {
            let first = self.panics.with(|p| {
                self.panicked.store(false, Ordering::Release);
                let first = (!p.is_empty()).then(|| p.remove(0));
                p.clear();
                first
            });
            if let Some(payload) = first {
                if !crate::global::is_global(self) {
                    std::panic::resume_unwind(payload);
                }
            }
        }
    }

    #[cfg(not(feature = "std"))]
    fn resume_panic(&self) {}

    /// Queues a runnable and wakes one sleeping runner: on the local queue of the runner running on
    /// this thread, if it is one of ours, else on the shared queue.
    fn schedule(&self, runnable: Runnable) {
        #[cfg(feature = "std")]
        let runnable = match push_local(self, runnable) {
            Ok(()) => {
                // Another runner may steal it: this one may be about to block in its task.
                self.notify_one();
                return;
            }
            Err(runnable) => runnable,
        };
        match crate::sync::interrupt_free(|| self.queue.push(runnable)) {
            Ok(()) => {}
            Err(PushError::Full(runnable)) => match &self.overflow {
                // Only `spawn` past the capacity gets here; `try_spawn` never lets it happen.
                Some(overflow) => {
                    if let Err(err) = crate::sync::interrupt_free(|| overflow.push(runnable)) {
                        drop(err.into_inner());
                    }
                }
                None => drop(runnable),
            },
            // The executor is gone: dropping the runnable drops the future, which is exactly
            // what dropping the executor promised.
            Err(PushError::Closed(runnable)) => {
                drop(runnable);
                return;
            }
        }
        // A runner of this executor sleeping on this very thread (which is now driving the
        // reactor) runs the task when it wakes: no need to wake another thread for it.
        if !crate::block_on::wake_idle_runner(self) {
            self.notify_one();
        }
    }

    /// Wakes one sleeping runner, if there is one; the caller has just queued work.
    fn notify_one(&self) {
        // Pairs with the fence in `listen`: either that runner sees the queued work when it
        // looks again after listening, or this sees it counted.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            self.event.notify(1);
        }
    }

    /// Takes the next runnable, if any.
    pub(crate) fn pop(&self) -> Option<Runnable> {
        crate::sync::interrupt_free(|| {
            if let Ok(r) = self.queue.pop() {
                return Some(r);
            }
            self.overflow.as_ref().and_then(|q| q.pop().ok())
        })
    }

    /// Takes a runnable from another runner's local queue.
    #[cfg(feature = "std")]
    fn steal(&self, own: Option<&Local>) -> Option<Runnable> {
        self.locals.with(|locals| {
            locals.iter().filter(|l| !own.is_some_and(|own| core::ptr::eq(&***l, own))).find_map(|l| l.pop())
        })
    }

    #[cfg(not(feature = "std"))]
    fn steal(&self, _: Option<&Local>) -> Option<Runnable> {
        None
    }

    fn has_work(&self) -> bool {
        if !self.queue.is_empty() || self.overflow.as_ref().is_some_and(|q| !q.is_empty()) {
            return true;
        }
        #[cfg(feature = "std")]
        return self.locals.with(|locals| locals.iter().any(|l| !l.queue.is_empty()));
        #[cfg(not(feature = "std"))]
        false
    }

    /// A new local queue, registered for stealing until [`remove_local`](Self::remove_local).
    #[cfg(feature = "std")]
    fn add_local(&self) -> Arc<Local> {
        let local = Arc::new(Local {
            state: core::ptr::from_ref(self) as usize,
            queue: ConcurrentQueue::bounded(LOCAL_CAPACITY),
        });
        self.locals.with(|locals| locals.push(local.clone()));
        local
    }

    /// Unregisters a runner's local queue and moves what is left in it to the shared queue.
    #[cfg(feature = "std")]
    fn remove_local(&self, local: &Arc<Local>) {
        self.locals.with(|locals| locals.retain(|l| !Arc::ptr_eq(l, local)));
        while let Some(runnable) = local.pop() {
            self.schedule(runnable);
        }
    }

    /// Listens for queued work; the caller must look at the queue again before it waits.
    pub(crate) fn listen(&self) -> Sleeper<'_> {
        let listener = Some(self.event.listen());
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        // Pairs with the fence in `notify_one`: the caller's look at the queue comes after it.
        fence(Ordering::SeqCst);
        Sleeper { state: self, listener }
    }

    /// Runs up to [`BATCH`] runnables, taking them from `local` (the calling runner's queue) and
    /// the shared queue, or stealing them from other runners; returns how many ran.
    pub(crate) fn run_batch(&self, local: Option<&Local>) -> usize {
        #[cfg(feature = "std")]
        let _current = local.map(enter_local);
        let mut ran = 0;
        while ran < BATCH {
            // The shared queue comes first at the start of each batch, so that a runner busy with
            // its own tasks does not starve the ones queued there.
            let local_pop = || local.and_then(Local::pop);
            let next =
                if ran == 0 { self.pop().or_else(local_pop) } else { local_pop().or_else(|| self.pop()) };
            match next.or_else(|| self.steal(local)) {
                Some(runnable) => {
                    // If more work is queued, let another sleeping runner take it while this one
                    // is busy, instead of leaving it to this runner's next iteration.
                    if ran == 0 && self.has_work() {
                        self.notify_one();
                    }
                    runnable.run();
                    ran += 1;
                    self.resume_panic();
                }
                None => break,
            }
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
    unsafe fn spawn<'a, T: 'a, F: Future<Output = T> + 'a>(
        this: &Arc<Self>,
        future: F,
        bounded: bool,
    ) -> Result<Task<T>, F> {
        if let Some(cap) = this.capacity {
            if !bounded {
                this.live.fetch_add(1, Ordering::AcqRel);
            } else if this
                .live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cap).then_some(n + 1))
                .is_err()
            {
                return Err(future);
            }
        }
        // A panicking task must not take the runner down; its `Task` re-raises the panic.
        #[cfg(feature = "std")]
        let builder = Builder::new().propagate_panic(true);
        #[cfg(not(feature = "std"))]
        let builder = Builder::new();
        #[cfg(all(feature = "std", not(loom)))]
        if !this.tracked {
            // Only the global executor is untracked, and its state lives as long as the program:
            // the schedule function reaches it through the static, capturing nothing. async-task
            // guards a schedule function that captures something with a waker clone (two atomic
            // operations) on every wake-up; a zero-sized one needs no guard.
            debug_assert!(core::ptr::eq(&**this, crate::global::state()));
            let schedule = |runnable| crate::global::state().schedule(runnable);
            // SAFETY: forwarded from this function's contract (the global executor is never
            // dropped, so `'a` is `'static` in effect); `schedule` is `Send + Sync + 'static`
            // since it captures nothing.
            let (runnable, task) =
                unsafe { builder.spawn_unchecked(|()| CatchDrop(ManuallyDrop::new(future)), schedule) };
            runnable.schedule();
            return Ok(Task::new(task));
        }
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

    fn is_empty(&self) -> bool {
        self.active.iter().all(|shard| shard.with(|active| active.is_empty()))
    }

    /// Wakes and drops every task; see the module documentation.
    fn shut_down(&self) {
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
        // Every future is gone: now the one who dropped the executor learns of a destructor's panic.
        self.resume_panic();
    }
}

/// A runner's listener on [`State::event`], counted in [`State::sleepers`] while it lives.
pub(crate) struct Sleeper<'s> {
    state: &'s State,
    /// `None` only once `discard` has taken it.
    listener: Option<EventListener>,
}

impl Sleeper<'_> {
    /// Drops the listener, taking a notification it may hold for the caller itself instead of
    /// passing it on to another listener.
    fn discard(mut self) {
        if let Some(listener) = self.listener.take() {
            listener.discard();
        }
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        drop(self.listener.take());
        self.state.sleepers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Future for Sleeper<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.listener {
            Some(listener) => Pin::new(listener).poll(cx),
            None => unreachable!("a discarded sleeper is never polled"),
        }
    }
}

/// Wraps a task's future of the global executor: a panic of its destructor is caught (async-task
/// aborts on it) and dropped, the panic hook having reported it.
#[cfg(all(feature = "std", not(loom)))]
struct CatchDrop<F>(ManuallyDrop<F>);

#[cfg(all(feature = "std", not(loom)))]
impl<F> Drop for CatchDrop<F> {
    fn drop(&mut self) {
        // SAFETY: `self.0` is dropped exactly once, here, and never used again; dropping it in
        // place keeps the pinning promise.
        let drop_future = || unsafe { ManuallyDrop::drop(&mut self.0) };
        drop(std::panic::catch_unwind(core::panic::AssertUnwindSafe(drop_future)));
    }
}

#[cfg(all(feature = "std", not(loom)))]
impl<F: Future> Future for CatchDrop<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: the future is structurally pinned: it is never moved out, and `CatchDrop`'s
        // `Drop` does not move it.
        unsafe { self.map_unchecked_mut(|this| &mut *this.0) }.poll(cx)
    }
}

/// Wraps a task's future so that its slot in `active` is freed once the future is dropped.
///
/// The slot is freed only after the future's destructor has returned: `shut_down` waits for
/// `active` to empty, and the executor's `Drop` must not return (ending `'a`) while a destructor
/// that may use borrowed data still runs on another thread. With std, a panic of that destructor
/// is caught (async-task aborts on it) and kept for `resume_panic`.
struct RemoveOnDrop<F> {
    future: ManuallyDrop<F>,
    state: Arc<State>,
    index: usize,
}

impl<F> Drop for RemoveOnDrop<F> {
    fn drop(&mut self) {
        // SAFETY: `future` is dropped exactly once, here, and never used again; dropping it in
        // place keeps the pinning promise.
        #[cfg_attr(feature = "std", allow(unused_mut))]
        let mut drop_future = || unsafe { ManuallyDrop::drop(&mut self.future) };
        #[cfg(feature = "std")]
        if let Err(payload) = std::panic::catch_unwind(core::panic::AssertUnwindSafe(drop_future)) {
            self.state.panics.with(|p| p.push(payload));
            self.state.panicked.store(true, Ordering::Release);
        }
        #[cfg(not(feature = "std"))]
        drop_future();
        // The removed waker is dropped outside the lock: dropping a waker may drop its task.
        let waker =
            self.state.active[shard_of(self.index)].with(|active| active.try_remove(self.index / SHARDS));
        drop(waker);
        if self.state.capacity.is_some() {
            self.state.live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<F: Future> Future for RemoveOnDrop<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out, and `RemoveOnDrop`'s
        // `Drop` does not move it.
        unsafe { self.map_unchecked_mut(|this| &mut *this.future) }.poll(cx)
    }
}

/// The lazily allocated state behind an executor, so that `new` can be `const`.
struct Lazy {
    /// # Invariant
    /// Null, or a pointer from `Arc::into_raw` owning one strong count, freed only in `Drop`.
    ptr: AtomicPtr<State>,
    /// `State::tracked` of the state allocated on first use.
    tracked: bool,
}

impl Lazy {
    #[cfg(not(loom))]
    const fn new(tracked: bool) -> Self {
        Self { ptr: AtomicPtr::new(core::ptr::null_mut()), tracked }
    }

    #[cfg(loom)]
    fn new(tracked: bool) -> Self {
        Self { ptr: AtomicPtr::new(core::ptr::null_mut()), tracked }
    }

    fn with_state(state: State) -> Self {
        let lazy = Self::new(state.tracked);
        lazy.ptr.store(Arc::into_raw(Arc::new(state)).cast_mut(), Ordering::Release);
        lazy
    }

    fn get(&self) -> &State {
        // SAFETY: by the invariant, a non-null `ptr` is a live `Arc<State>` until `Drop`, which
        // cannot run while `&self` is borrowed.
        unsafe { &*self.raw() }
    }

    /// The pointer of the invariant, allocating the state on first use.
    ///
    /// It keeps the provenance `Arc::into_raw` gave it, over the whole `Arc` allocation: `arc`
    /// must not rebuild an `Arc` from a `&State`, whose provenance covers only the `State` and not
    /// the reference counts in front of it (undefined behaviour under Stacked Borrows).
    fn raw(&self) -> *const State {
        let mut ptr = self.ptr.load(Ordering::Acquire);
        if ptr.is_null() {
            let fresh = Arc::into_raw(Arc::new(State::new(None, self.tracked))).cast_mut();
            match self.ptr.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => ptr = fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Arc::into_raw` above and was never shared.
                    drop(unsafe { Arc::from_raw(fresh) });
                    ptr = winner;
                }
            }
        }
        ptr
    }

    fn arc(&self) -> Arc<State> {
        let ptr = self.raw();
        // SAFETY: `ptr` is the live `Arc` of the invariant; adding a count and taking it as a new
        // `Arc` leaves the executor's own count untouched.
        unsafe {
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }
}

impl Drop for Lazy {
    fn drop(&mut self) {
        let ptr = self.ptr.load(Ordering::Acquire);
        if !ptr.is_null() {
            // SAFETY: the invariant; this is the only place the executor's count is released.
            let state = unsafe { Arc::from_raw(ptr) };
            state.shut_down();
        }
    }
}

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

#[cfg(feature = "std")]
impl core::panic::UnwindSafe for Executor<'_> {}
#[cfg(feature = "std")]
impl core::panic::RefUnwindSafe for Executor<'_> {}

impl fmt::Debug for Executor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_state(&self.state, "Executor", f)
    }
}

fn debug_state(state: &Lazy, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let ptr = state.ptr.load(Ordering::Acquire);
    let mut d = f.debug_struct(name);
    if !ptr.is_null() {
        let s = state.get();
        d.field("active", &s.active.iter().map(|shard| shard.with(|a| a.len())).sum::<usize>())
            .field("queued", &s.queue.len());
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
        Self { state: Lazy::new(true), _marker: PhantomData }
    }

    /// Creates an executor with no limit on its number of tasks.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self { state: Lazy::new(true), _marker: PhantomData }
    }

    /// The global executor: it is never dropped, so it does not keep its tasks to drop them.
    #[cfg(all(feature = "std", not(loom)))]
    pub(crate) const fn new_global() -> Executor<'static> {
        Executor { state: Lazy::new(false), _marker: PhantomData }
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
        Self { state: Lazy::with_state(State::new(Some(capacity), true)), _marker: PhantomData }
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
        match unsafe { State::spawn(&state, future, false) } {
            Ok(task) => task,
            Err(_) => unreachable!("an unbounded spawn cannot be refused"),
        }
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
            match unsafe { State::spawn(&state, future, false) } {
                Ok(task) => task,
                Err(_) => unreachable!("an unbounded spawn cannot be refused"),
            }
        }));
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
        try_tick(self.state.get())
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
        tick(self.state.get()).await
    }

    /// Runs the executor's tasks until `future` completes, and returns its output.
    ///
    /// Call it on as many threads as should run the tasks. `future` is polled first each time the
    /// runner is woken, then up to a batch of tasks runs before it is polled again.
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

    #[cfg(feature = "std")]
    pub(crate) fn state(&self) -> &State {
        self.state.get()
    }
}

fn try_spawn_on<'a, T: 'a, F: Future<Output = T> + 'a>(
    state: &Arc<State>,
    future: F,
) -> Result<Task<T>, SpawnError<F>> {
    // SAFETY: forwarded from the callers, which uphold `State::spawn`'s contract.
    unsafe { State::spawn(state, future, true) }
        .map_err(|future| SpawnError { future, capacity: state.capacity.unwrap_or(usize::MAX) })
}

fn try_tick(state: &State) -> bool {
    match state.pop().or_else(|| state.steal(None)) {
        Some(runnable) => {
            runnable.run();
            state.resume_panic();
            true
        }
        None => false,
    }
}

async fn tick(state: &State) {
    loop {
        if try_tick(state) {
            return;
        }
        let listener = state.listen();
        if try_tick(state) {
            return;
        }
        listener.await;
    }
}

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

#[cfg(feature = "std")]
impl core::panic::UnwindSafe for LocalExecutor<'_> {}
#[cfg(feature = "std")]
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
        match unsafe { State::spawn(&state, future, false) } {
            Ok(task) => task,
            Err(_) => unreachable!("an unbounded spawn cannot be refused"),
        }
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

/// The future behind `run`: polls its own future, then runs a batch of tasks of each of its
/// executors, then sleeps on their events when there is nothing to do.
///
/// A nested `block_on` builds one with every executor its thread is running, so waiting inside a
/// task keeps all of them going.
pub(crate) struct Run<'s, F> {
    states: Vec<&'s State>,
    /// This runner's local queue for each of `states`.
    #[cfg(feature = "std")]
    locals: Vec<Arc<Local>>,
    future: F,
    /// One per state while sleeping, empty otherwise.
    listeners: Vec<Sleeper<'s>>,
}

impl<'s, F: Future> Run<'s, F> {
    pub(crate) fn new(state: &'s State, future: F) -> Self {
        Self::many(alloc::vec![state], future)
    }

    pub(crate) fn many(states: Vec<&'s State>, future: F) -> Self {
        #[cfg(feature = "std")]
        let locals = states.iter().map(|s| s.add_local()).collect();
        Self {
            states,
            #[cfg(feature = "std")]
            locals,
            future,
            listeners: Vec::new(),
        }
    }
}

impl<F: Future> Future for Run<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned (never moved); the other fields are not.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let mut future = unsafe { Pin::new_unchecked(&mut this.future) };
        let _running = crate::block_on::enter_executors(&this.states);
        crate::block_on::idle_runner_wakes(this.states[0]);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            // A listener that woke this runner still counts as notified, and event-listener skips
            // `notify(1)` while one is: the batch's call to wake another runner for the rest of
            // the queue would be swallowed. Dropping it is no better: a notified listener that is
            // dropped unpolled passes its notification on, and two runners with nothing to do
            // would pass it back and forth for ever. This runner is awake, so it takes the
            // notification for itself.
            for listener in this.listeners.drain(..) {
                listener.discard();
            }
            #[cfg(feature = "std")]
            let ran: usize =
                this.states.iter().zip(&this.locals).map(|(s, local)| s.run_batch(Some(local))).sum();
            #[cfg(not(feature = "std"))]
            let ran: usize = this.states.iter().map(|s| s.run_batch(None)).sum();
            if ran > 0 {
                // Give the own future and the caller a turn before the next batch.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            // Listen, then look again: a task scheduled between the empty look and the listen is
            // seen by the second look, one scheduled after notifies a listener.
            this.listeners.extend(this.states.iter().map(|s| s.listen()));
            if this.states.iter().any(|s| s.has_work()) {
                continue;
            }
            let mut notified = false;
            for listener in &mut this.listeners {
                notified |= Pin::new(listener).poll(cx).is_ready();
            }
            if !notified {
                crate::block_on::idle_runner_sleeps(this.states[0], cx.waker());
                return Poll::Pending;
            }
            this.listeners.clear();
        }
    }
}

impl<F> Drop for Run<'_, F> {
    fn drop(&mut self) {
        // A runner that will never wake must not keep tasks scheduled on this thread to itself.
        crate::block_on::idle_runner_wakes(self.states[0]);
        #[cfg(feature = "std")]
        for (state, local) in self.states.iter().zip(&self.locals) {
            state.remove_local(local);
        }
    }
}

impl<F> fmt::Debug for Run<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run").finish_non_exhaustive()
    }
}
