//! `PerProcess<T>`: a part of the runtime that belongs to one process, so that a child made by
//! `fork()` gets a fresh one.
//!
//! After `fork()` the child has one thread and a copy of the parent's memory: the reactor whose
//! poller it shares with the parent (its registrations are the parent's: a deregistration from
//! the child would remove them), the executor and pools whose threads are gone, and locks that a
//! parent thread may have held at that moment, held for ever. So the child must not touch any of
//! it. A `PerProcess` value remembers how many forks (`sys::forks`, counted by a
//! `pthread_atfork` handler) separated its maker from the first process; looked at from a
//! process with another count, it is an ancestor's: a new one is made, and the old one is left
//! as it is, never used and never dropped (its memory is the child's copy, kept reachable from the
//! new value; its threads do not exist). The look is one more load and compare on top of the
//! pointer's.
//!
//! What held on to a piece of the old value (an `Async` registered before the fork, a `Timer`
//! armed then) checks the count it was made at before it touches the new one
//! (`reactor::Source::forks`).

use alloc::boxed::Box;
use core::marker::PhantomData;
use core::ptr;

use crate::sys;
use core::sync::atomic::{AtomicPtr, Ordering};

/// See the module documentation.
pub(crate) struct PerProcess<T> {
    current: AtomicPtr<Made<T>>,
    /// Shared as `&'static T` with every thread, and dropped on any (a lost race): `Sync` and
    /// `Send` only if `T` is, as a `Box<T>`.
    owns: PhantomData<Box<T>>,
}

struct Made<T> {
    /// `sys::forks()` when it was made.
    forks: usize,
    value: T,
    /// The ancestor's value this one replaced, if any: kept reachable, never used (a leak
    /// checker sees the parent's runtime as still reachable, not lost).
    _ancestor: *mut Made<T>,
}

impl<T> PerProcess<T> {
    pub(crate) const fn new() -> Self {
        Self { current: AtomicPtr::new(ptr::null_mut()), owns: PhantomData }
    }

    /// This process's value, made with `make` if it has none yet. Two threads may both make
    /// one at once: one is kept, the other dropped.
    #[inline]
    pub(crate) fn get_or_init(&'static self, make: impl FnOnce() -> T) -> &'static T {
        match self.get() {
            Some(value) => value,
            None => self.make(make),
        }
    }

    /// This process's value, if it made one.
    #[inline]
    pub(crate) fn get(&'static self) -> Option<&'static T> {
        let made = self.current.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` in `make` and is never freed.
        let made = unsafe { made.as_ref() }?;
        (made.forks == sys::forks()).then_some(&made.value)
    }

    #[cold]
    fn make(&'static self, make: impl FnOnce() -> T) -> &'static T {
        sys::watch_forks();
        let fresh =
            Box::into_raw(Box::new(Made { forks: sys::forks(), value: make(), _ancestor: ptr::null_mut() }));
        let mut seen = self.current.load(Ordering::Acquire);
        loop {
            // SAFETY: as in `get`.
            if let Some(made) = unsafe { seen.as_ref() } {
                if made.forks == sys::forks() {
                    // Another thread of this process made one first: keep it.
                    // SAFETY: `fresh` came from `Box::into_raw` above and was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    return &made.value;
                }
            }
            // Empty, or an ancestor's: replaced, and the ancestor's left as it is.
            // SAFETY: `fresh` is still this thread's alone.
            unsafe { (*fresh)._ancestor = seen };
            match self.current.compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire) {
                // SAFETY: `fresh` is now owned by `current`, which never frees it.
                Ok(_) => return unsafe { &(*fresh).value },
                Err(now) => seen = now,
            }
        }
    }
}
