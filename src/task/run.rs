//! Running a task: every runnable of this crate is run through [`run`], which knows the task this
//! thread is running (its wakers need no guard, see `awaiter.rs`) and, with `std`, resumes a
//! panic that a guarded awaiter's waker raised meanwhile.

pub(crate) use self::imp::*;

#[cfg(feature = "std")]
mod imp {
    use alloc::boxed::Box;
    use core::any::Any;
    use core::cell::Cell;
    use core::task::Waker;

    use async_task::Runnable;

    crate::sync::const_thread_local! {
        /// The task this thread is running (its raw pointer, which is also its wakers' data).
        static RUNNING: Cell<*const ()> = Cell::new(core::ptr::null());
    }
    crate::sync::const_thread_local! {
        /// The first panic of a guarded awaiter's waker on this thread, not yet resumed.
        static CAUGHT: Cell<Option<Box<dyn Any + Send>>> = Cell::new(None);
    }

    /// Runs `runnable`, then resumes a panic its awaiter's waker raised.
    #[inline]
    pub(crate) fn run(runnable: Runnable) {
        let ptr = runnable.into_raw();
        let previous = RUNNING.try_with(|r| r.replace(ptr.as_ptr())).unwrap_or(core::ptr::null());
        // SAFETY: `ptr` came from `Runnable::into_raw` just above, and is turned back once.
        unsafe { Runnable::<()>::from_raw(ptr) }.run();
        let _ = RUNNING.try_with(|r| r.set(previous));
        resume_caught();
    }

    /// Whether `waker` is a waker of the task this thread is running.
    pub(crate) fn is_running(waker: &Waker) -> bool {
        RUNNING.try_with(Cell::get).is_ok_and(|running| core::ptr::eq(running, waker.data()))
    }

    /// Keeps the panic of a guarded awaiter's waker for [`resume_caught`]: the first one is
    /// resumed; a later one was reported by the panic hook.
    pub(crate) fn catch(payload: Box<dyn Any + Send>) {
        let _ = CAUGHT.try_with(|c| {
            let first = c.take().unwrap_or(payload);
            c.set(Some(first));
        });
    }

    /// Resumes a panic of a guarded awaiter's waker caught on this thread, if any.
    pub(crate) fn resume_caught() {
        if let Some(payload) = CAUGHT.try_with(Cell::take).ok().flatten() {
            std::panic::resume_unwind(payload);
        }
    }
}

/// Without `std` there is no unwinding: a task is just run.
#[cfg(not(feature = "std"))]
mod imp {
    use async_task::Runnable;

    #[inline]
    pub(crate) fn run(runnable: Runnable) {
        runnable.run();
    }

    pub(crate) fn resume_caught() {}
}
