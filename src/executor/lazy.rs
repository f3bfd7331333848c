//! The lazily allocated state behind an executor, so that `Executor::new` can be `const`.

use super::state::State;
use crate::sync::{Arc, AtomicPtr, Ordering};

/// An executor's state, allocated on first use.
pub(crate) struct Lazy {
    /// # Invariant
    /// Null, or a pointer from `Arc::into_raw` owning one strong count, freed only in `Drop`.
    ptr: AtomicPtr<State>,
}

impl Lazy {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self { ptr: AtomicPtr::new(core::ptr::null_mut()) }
    }

    /// loom's atomics are not `const`.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self { ptr: AtomicPtr::new(core::ptr::null_mut()) }
    }

    pub(crate) fn with_state(state: State) -> Self {
        let lazy = Self::new();
        lazy.ptr.store(Arc::into_raw(Arc::new(state)).cast_mut(), Ordering::Release);
        lazy
    }

    /// The state, if it was allocated already.
    pub(crate) fn allocated(&self) -> Option<&State> {
        // SAFETY: by the invariant, a non-null `ptr` is a live `Arc<State>` until `Drop`, which
        // cannot run while `&self` is borrowed.
        unsafe { self.ptr.load(Ordering::Acquire).as_ref() }
    }

    #[inline]
    pub(crate) fn get(&self) -> &State {
        // SAFETY: by the invariant, a non-null `ptr` is a live `Arc<State>` until `Drop`, which
        // cannot run while `&self` is borrowed.
        unsafe { &*self.raw() }
    }

    /// The pointer of the invariant, allocating the state on first use.
    ///
    /// It keeps the provenance `Arc::into_raw` gave it, over the whole `Arc` allocation: `arc`
    /// must not rebuild an `Arc` from a `&State`, whose provenance covers only the `State` and not
    /// the reference counts in front of it (undefined behaviour under Stacked Borrows).
    #[inline]
    fn raw(&self) -> *const State {
        let ptr = self.ptr.load(Ordering::Acquire);
        if ptr.is_null() { self.allocate() } else { ptr }
    }

    /// The first use: allocates the state, unless another thread got there first.
    #[cold]
    fn allocate(&self) -> *const State {
        let fresh = Arc::into_raw(Arc::new(State::new(None))).cast_mut();
        match self.ptr.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Arc::into_raw` above and was never shared.
                drop(unsafe { Arc::from_raw(fresh) });
                winner
            }
        }
    }

    pub(crate) fn arc(&self) -> Arc<State> {
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
