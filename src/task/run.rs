//! Making and running a task: every task of this crate is built by [`builder`] and run through
//! [`run`], which knows the task this thread is running (its wakers need no guard, see
//! `awaiter.rs`) and, with `std`, resumes a panic that a guarded awaiter's waker raised
//! meanwhile.

pub(crate) use self::imp::*;

#[cfg(feature = "std")]
mod imp {
    use alloc::boxed::Box;
    use core::any::Any;
    use core::cell::Cell;
    use core::task::Waker;

    use async_task::Runnable;

    /// What this thread is to the tasks it runs.
    struct TaskContext {
        /// The task this thread is running (its raw pointer, which is also its wakers' data).
        running: Cell<*const ()>,
        /// The first panic of a guarded awaiter's waker on this thread, not yet resumed.
        caught: Cell<Option<Box<dyn Any + Send>>>,
        /// The running task, woken while it ran, to be polled again at once; see [`run_again`].
        again: Cell<Option<Runnable>>,
        /// How many more times the running task may be polled again at once.
        again_budget: Cell<u32>,
    }

    crate::sync::const_thread_local! {
        static TASK: TaskContext = TaskContext {
            running: Cell::new(core::ptr::null()),
            caught: Cell::new(None),
            again: Cell::new(None),
            again_budget: Cell::new(0),
        };
    }

    /// How many times in a row a task woken while it ran (`yield_now`, or a wake from another
    /// thread during the poll) is polled again at once, before it goes to the back of its queue
    /// like any woken task: a queue round trip saved on each, and others' turn never more than
    /// this many polls away. Tokio bounds its LIFO slot the same way, at 3.
    const AGAIN: u32 = 3;

    /// The builder of every task of this crate: a task's panic must not take its runner down;
    /// its `Task` re-raises it where awaited.
    pub(crate) fn builder() -> async_task::Builder<()> {
        async_task::Builder::new().propagate_panic(true)
    }

    /// Runs `runnable` (one poll), then resumes a panic its awaiter's waker raised.
    #[inline]
    pub(crate) fn run(runnable: Runnable) {
        run_with(runnable, 0);
    }

    /// Runs `runnable` as a runner's batch does: if it is woken while it runs, it is polled again
    /// at once, up to [`AGAIN`] times in a row.
    #[inline]
    pub(crate) fn run_in_batch(runnable: Runnable) {
        run_with(runnable, AGAIN);
    }

    #[inline]
    fn run_with(runnable: Runnable, again: u32) {
        let ptr = runnable.into_raw();
        // One access to the thread-local for the whole run (a task run inside this one, by a
        // nested `block_on`, makes its own).
        let caught = TASK.try_with(|t| {
            let previous = t.running.replace(ptr.as_ptr());
            let budget = t.again_budget.replace(again);
            // SAFETY: `ptr` came from `Runnable::into_raw` above and is turned back once: here,
            // or below if this closure never ran.
            unsafe { Runnable::<()>::from_raw(ptr) }.run();
            while let Some(again) = t.again.take() {
                again.run();
            }
            t.again_budget.set(budget);
            t.running.set(previous);
            t.caught.take()
        });
        match caught {
            Ok(Some(payload)) => std::panic::resume_unwind(payload),
            Ok(None) => {}
            // The thread-local is gone (a thread-local's destructor runs tasks): the closure
            // did not run; nobody can ask which task runs, and no waker's panic can be kept.
            Err(_) => {
                // SAFETY: see above.
                unsafe { Runnable::<()>::from_raw(ptr) }.run();
            }
        }
    }

    /// Keeps `runnable` to be polled again at once if it is the task this thread is running (it
    /// was woken while it ran: async-task schedules it as its poll returns) and it has not been
    /// polled again too often in a row; hands it back otherwise.
    pub(crate) fn run_again(runnable: Runnable) -> Result<(), Runnable> {
        let ptr = runnable.into_raw();
        // SAFETY: `ptr` came from `Runnable::into_raw` above and is turned back once, on
        // whichever path is taken.
        let runnable = || unsafe { Runnable::<()>::from_raw(ptr) };
        let kept = TASK.try_with(|t| {
            let budget = t.again_budget.get();
            if budget == 0 || !core::ptr::eq(t.running.get(), ptr.as_ptr()) {
                return false;
            }
            t.again_budget.set(budget - 1);
            t.again.set(Some(runnable()));
            true
        });
        if matches!(kept, Ok(true)) { Ok(()) } else { Err(runnable()) }
    }

    /// Whether `waker` is a waker of the task this thread is running.
    pub(crate) fn is_running(waker: &Waker) -> bool {
        TASK.try_with(|h| h.running.get()).is_ok_and(|running| core::ptr::eq(running, waker.data()))
    }

    /// Keeps the panic of a guarded awaiter's waker for [`resume_caught`]: the first one is
    /// resumed; a later one was reported by the panic hook.
    pub(crate) fn catch(payload: Box<dyn Any + Send>) {
        let _ = TASK.try_with(|h| {
            let first = h.caught.take().unwrap_or(payload);
            h.caught.set(Some(first));
        });
    }

    /// Resumes a panic of a guarded awaiter's waker caught on this thread, if any.
    pub(crate) fn resume_caught() {
        if let Some(payload) = TASK.try_with(|h| h.caught.take()).ok().flatten() {
            std::panic::resume_unwind(payload);
        }
    }
}

/// Without `std` there is no unwinding: a task is just run.
#[cfg(not(feature = "std"))]
mod imp {
    use async_task::Runnable;

    /// The builder of every task of this crate: without unwinding, a panic stops the program,
    /// and there is nothing to propagate.
    pub(crate) fn builder() -> async_task::Builder<()> {
        async_task::Builder::new()
    }

    #[inline]
    pub(crate) fn run(runnable: Runnable) {
        runnable.run();
    }

    pub(crate) fn run_again(runnable: Runnable) -> Result<(), Runnable> {
        Err(runnable)
    }

    #[inline]
    pub(crate) fn run_in_batch(runnable: Runnable) {
        runnable.run();
    }

    pub(crate) fn resume_caught() {}
}
