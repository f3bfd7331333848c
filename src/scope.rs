//! `scope`: futures that borrow from the caller's stack, run on the global runtime.
//!
//! # Why no future outlives the scope
//!
//! [`scope`] returns, or unwinds, only after [`Running`] (`running.rs`) counted down to zero, and
//! a future is counted from before it is spawned until after its destructor has run:
//! - a future that completes is dropped by the executor right after its last poll (async-task
//!   drops it before it marks the task complete); its output was moved, before that, into a slot
//!   shared with its [`ScopedTask`], which the future's wrapper lets go of before it uncounts
//!   itself, so an output nobody will take (its `ScopedTask` dropped) is dropped then too;
//! - a `ScopedTask` dropped, or forgotten (`mem::forget`), only detaches: the future still runs
//!   to completion and is uncounted then; a forgotten one leaks its output, as `mem::forget`
//!   leaks, and holds nothing of the scope's;
//! - a future's panic is caught in its poll, so it completes (with the panic as its result), and
//!   a panic in its destructor still uncounts it (the counter is the wrapper's last field,
//!   dropped while unwinding too; the executor catches that panic);
//! - if `f` panics, the panic is held until every future has finished; the wait itself is
//!   repeated if it unwinds (a panic of some other task's waker resumed on this thread).
//!
//! The futures run on the global executor (never dropped, so it never drops a future early),
//! and this thread runs them too while it waits, as every `block_on` does.

mod running;

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::panic::AssertUnwindSafe;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::panic::{catch_unwind, resume_unwind};

use self::running::Running;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering};
use crate::task::Task;

/// Runs `f` with a [`Scope`] whose futures may borrow anything that outlives the call, and
/// returns once `f` returned and every future spawned in the scope has finished.
///
/// As [`std::thread::scope`] does for threads, for futures: the scope blocks the calling thread
/// (as [`block_on`](crate::block_on) does, running tasks while it waits) until the last of them
/// has completed, which is what makes borrowing sound. The futures run in parallel on the global
/// runtime's workers and on this thread. It works wherever `block_on` works: on any thread,
/// inside `block_on`, inside a task (with one worker too), with `AMPHI_THREADS=0`, and from
/// inside a scoped future.
///
/// # Why no future outlives the scope
///
/// `scope` returns, or unwinds, only once every future spawned in it has been dropped — run to
/// completion and destroyed, its output moved to its [`ScopedTask`] or dropped with it — so
/// nothing a future borrows is freed while the future, or its output, could still use it:
/// - the futures are counted from before they are spawned until after their destructor ran;
///   the scope waits for the count to reach zero, also when `f` panics (the panic is resumed
///   after the wait) and when a future panics (its panic is caught in its poll and kept for its
///   `ScopedTask`; the count is kept by the future's wrapper, whose last field uncounts it, also
///   while unwinding from a panicking destructor);
/// - dropping a `ScopedTask` does not cancel its future, and forgetting it (`mem::forget`) does
///   not hold the scope: the future still runs to completion; a forgotten handle leaks its output
///   (as `mem::forget` leaks), which the scope does not wait for, and which holds nothing of it;
/// - the futures run on the global executor, which is never dropped and never drops a future
///   before it completes; and `'scope` is invariant, so neither a `Scope` nor a `ScopedTask`
///   can leave `f`.
///
/// # Panics
///
/// If `f` panics, the panic is resumed once every future of the scope has finished. If a scoped
/// future panicked and its [`ScopedTask`] was never joined or awaited to the end, `scope`
/// panics, after every future finished, with "a scoped future panicked".
///
/// # Examples
///
/// ```
/// let mut totals = [0u64; 4];
/// let data: Vec<u64> = (1..=1000).collect();
/// amphi::scope(|s| {
///     for (total, chunk) in totals.iter_mut().zip(data.chunks(250)) {
///         s.spawn(async move { *total = chunk.iter().sum() });
///     }
/// });
/// assert_eq!(totals.iter().sum::<u64>(), 500_500);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        state: Arc::new(State { running: Running::new(), unjoined_panics: AtomicUsize::new(0) }),
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.state.wait();
    match result {
        Err(payload) => resume_unwind(payload),
        Ok(_) if scope.state.unjoined_panics.load(Ordering::Acquire) != 0 => {
            panic!("a scoped future panicked and its ScopedTask was not joined")
        }
        Ok(value) => value,
    }
}

/// The scope of [`scope`]: spawns futures that may borrow from outside it.
///
/// `'scope` is the scope's own lifetime, `'env` that of what its futures borrow.
pub struct Scope<'scope, 'env: 'scope> {
    state: Arc<State>,
    /// Invariant, as `std::thread::Scope`: `'scope` may neither grow nor shrink.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a future that may borrow anything that outlives the scope.
    ///
    /// It runs on the global runtime at once; the returned [`ScopedTask`] is its output.
    /// Dropping the `ScopedTask` does not cancel the future: it still runs to completion within
    /// the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// let name = String::from("amphi");
    /// let length = amphi::scope(|s| s.spawn(async { name.len() }).join());
    /// assert_eq!(length, 5);
    /// ```
    pub fn spawn<Fut>(&'scope self, future: Fut) -> ScopedTask<'scope, Fut::Output>
    where
        Fut: Future + Send + 'scope,
        Fut::Output: Send + 'scope,
    {
        let slot = Arc::new(Mutex::new(None));
        self.state.running.add();
        let wrapped = Scoped {
            future: ManuallyDrop::new(future),
            slot: Some(slot.clone()),
            count: Count(self.state.clone()),
        };
        let global = crate::global::started();
        // Captures nothing, as `spawn`'s: see `State::spawn_untracked`.
        let schedule = |runnable| crate::global::state().schedule(runnable);
        // SAFETY: the future borrows nothing that does not outlive `'scope`, and the scope waits
        // for `Count` to be dropped, which happens after the future itself is (see the module
        // documentation); the global executor is never dropped.
        let task = unsafe { global.spawn_untracked_unchecked(wrapped, schedule) };
        ScopedTask { task: ManuallyDrop::new(task), slot, state: &self.state }
    }
}

/// What a scope's futures share with it.
struct State {
    running: Running,
    /// Futures that panicked and whose panic no `ScopedTask` has resumed yet.
    unjoined_panics: AtomicUsize,
}

impl State {
    /// Blocks until every future of the scope was dropped. A panic out of the wait (another
    /// task's, resumed on this thread) does not end it: it is resumed once the wait is over.
    fn wait(&self) {
        let mut panic = None;
        loop {
            let wait =
                AssertUnwindSafe(|| crate::block_on(core::future::poll_fn(|cx| self.running.poll_zero(cx))));
            match catch_unwind(wait) {
                Ok(()) => break,
                Err(payload) => {
                    panic.get_or_insert(payload);
                }
            }
        }
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }
}

/// A future's output, or its panic, until its `ScopedTask` takes it.
type Slot<T> = Mutex<Option<std::thread::Result<T>>>;

/// Uncounts its future when dropped.
struct Count(Arc<State>);

impl Drop for Count {
    fn drop(&mut self) {
        self.0.running.finish();
    }
}

/// A scoped future as the executor runs it. Its fields drop in order: the future, the slot,
/// then the count.
struct Scoped<F: Future> {
    future: ManuallyDrop<F>,
    slot: Option<Arc<Slot<F::Output>>>,
    count: Count,
}

impl<F: Future> Drop for Scoped<F> {
    fn drop(&mut self) {
        // `slot` and `count` are dropped after this, also if the future's destructor panics.
        // SAFETY: the future is dropped exactly once, here, in place (it is structurally
        // pinned: never moved out), and never used again.
        unsafe { ManuallyDrop::drop(&mut self.future) }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `future` is structurally pinned (never moved, dropped in place); `slot` is
        // not (it is never pinned), so it may be taken out.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        let result = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output),
            Err(payload) => {
                this.count.0.unjoined_panics.fetch_add(1, Ordering::Relaxed);
                Err(payload)
            }
        };
        if let Some(slot) = this.slot.take() {
            slot.with(|slot| *slot = Some(result));
        }
        Poll::Ready(())
    }
}

/// The output of a future spawned by [`Scope::spawn`]: `.await` it or [`join`](Self::join) it.
///
/// Dropping it detaches the future, which still runs to completion within the scope. A panic of
/// the future is resumed where it is awaited or joined.
#[must_use = "a dropped ScopedTask still runs, but its output and panic are lost"]
pub struct ScopedTask<'scope, T> {
    task: ManuallyDrop<Task<()>>,
    slot: Arc<Slot<T>>,
    state: &'scope Arc<State>,
}

impl<T> ScopedTask<'_, T> {
    /// Blocks until the future completed and returns its output, as `block_on(self)` does.
    ///
    /// # Panics
    ///
    /// If the future panicked: its panic, resumed here.
    pub fn join(self) -> T {
        crate::block_on(self)
    }

    /// Whether the future has completed.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<T> Future for ScopedTask<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.slot.with(|slot| slot.is_none()) {
            // `Task<()>` completes after the future's destructor ran, and the output is in the
            // slot before that.
            core::task::ready!(Pin::new(&mut *self.task).poll(cx));
        }
        match self.slot.with(Option::take) {
            Some(Ok(output)) => Poll::Ready(output),
            Some(Err(payload)) => {
                self.state.unjoined_panics.fetch_sub(1, Ordering::Relaxed);
                resume_unwind(payload)
            }
            None => panic!("`ScopedTask` polled after it returned its output"),
        }
    }
}

impl<T> Drop for ScopedTask<'_, T> {
    fn drop(&mut self) {
        // SAFETY: taken exactly once, here, and never used again.
        let task = unsafe { ManuallyDrop::take(&mut self.task) };
        task.detach();
    }
}

impl<T> fmt::Debug for ScopedTask<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedTask").field("finished", &self.is_finished()).finish_non_exhaustive()
    }
}
