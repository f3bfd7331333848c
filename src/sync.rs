//! The one place atomics, `Arc`, `Mutex` and `UnsafeCell` come from.
//!
//! Normally these are `core`/`alloc`/`std` types (or `portable-atomic` on targets without
//! compare-and-swap); under `cfg(loom)` they are loom's, so the model checker sees every
//! synchronising operation of the crate's own protocols.

pub(crate) use self::types::*;

/// Under loom: loom's, so the models see every synchronising operation.
#[cfg(loom)]
mod types {
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
}

/// portable-atomic is for targets without compare-and-swap, which have no std. With std (a
/// dependency tree in which some crate turned `portable-atomic` on), the std types stay: `Arc`
/// is in public signatures (`readable_owned`), and only std's can be a method receiver.
#[cfg(all(not(loom), feature = "portable-atomic", not(feature = "std")))]
mod types {
    #[allow(unused_imports)]
    pub(crate) use portable_atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
    pub(crate) use portable_atomic_util::Arc;
    pub(crate) use portable_atomic_util::task::Wake;
}

/// Everywhere else: `core`'s and `alloc`'s.
#[cfg(all(not(loom), any(not(feature = "portable-atomic"), feature = "std")))]
mod types {
    pub(crate) use alloc::sync::Arc;
    pub(crate) use alloc::task::Wake;
    #[allow(unused_imports)]
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
}

/// Implements [`Wake`] for `$t` by calling its `$unpark` method. std's trait takes `self`,
/// portable-atomic-util's takes `this`. Under loom there is none: loom's `Arc` is not std's, and
/// the models build their wakers by hand.
macro_rules! impl_wake {
    ($t:ty, $unpark:ident) => {
        #[cfg(all(not(loom), any(not(feature = "portable-atomic"), feature = "std")))]
        impl crate::sync::Wake for $t {
            fn wake(self: crate::sync::Arc<Self>) {
                self.$unpark();
            }

            fn wake_by_ref(self: &crate::sync::Arc<Self>) {
                self.$unpark();
            }
        }

        #[cfg(all(not(loom), feature = "portable-atomic", not(feature = "std")))]
        impl crate::sync::Wake for $t {
            fn wake(this: crate::sync::Arc<Self>) {
                this.$unpark();
            }

            fn wake_by_ref(this: &crate::sync::Arc<Self>) {
                this.$unpark();
            }
        }
    };
}
pub(crate) use impl_wake;

/// A mutual-exclusion lock with a closure API, so the same code runs over `std::sync::Mutex`,
/// loom's mutex, or a critical section on `no_std`.
///
/// A poisoned `std` mutex is entered anyway: every critical section in this crate leaves its data
/// consistent before any code that could panic runs.
#[derive(Debug)]
pub(crate) struct Mutex<T> {
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
    #[cfg(all(not(loom), feature = "std"))]
    inner: std::sync::Mutex<T>,
    #[cfg(all(not(loom), not(feature = "std")))]
    inner: critical_section::Mutex<core::cell::RefCell<T>>,
}

impl<T> Mutex<T> {
    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self { inner: loom::sync::Mutex::new(value) }
    }

    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self {
            #[cfg(all(not(loom), feature = "std"))]
            inner: std::sync::Mutex::new(value),
            #[cfg(all(not(loom), not(feature = "std")))]
            inner: critical_section::Mutex::new(core::cell::RefCell::new(value)),
        }
    }

    /// Runs `f` with the lock held. `f` must not lock the same mutex again.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(loom)]
        {
            f(&mut self.inner.lock().unwrap())
        }
        #[cfg(all(not(loom), feature = "std"))]
        {
            f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
        }
        #[cfg(all(not(loom), not(feature = "std")))]
        {
            critical_section::with(|cs| f(&mut self.inner.borrow_ref_mut(cs)))
        }
    }
}

/// Threads and parking: std's, or loom's under `cfg(loom)`.
#[cfg(all(feature = "std", not(loom)))]
pub(crate) mod thread {
    pub(crate) use std::thread::{Thread, current, park, park_timeout};
}
#[cfg(loom)]
pub(crate) mod thread {
    pub(crate) use loom::thread::{Thread, current, park};

    /// loom has no timed park; a model treats every timeout as "not yet".
    pub(crate) fn park_timeout(_: std::time::Duration) {
        park()
    }
}

/// 64-bit atomics for the std-only reactor's deadlines (every std target has them).
#[cfg(all(feature = "std", not(loom)))]
pub(crate) use core::sync::atomic::AtomicU64;
#[cfg(all(feature = "std", loom))]
pub(crate) use loom::sync::atomic::AtomicU64;

/// Fences for the hand-overs of the executor and the reactor (loom models `fence(SeqCst)`, not
/// `SeqCst` accesses alone).
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::fence;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;

/// A thread-local with a `const` initialiser: std's, or loom's under `cfg(loom)`, so that each
/// modelled thread has its own.
#[cfg(feature = "std")]
macro_rules! const_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        #[cfg(not(loom))]
        std::thread_local! { $(#[$attr])* static $name: $t = const { $init }; }
        #[cfg(loom)]
        loom::thread_local! { $(#[$attr])* static $name: $t = $init; }
    };
}
#[cfg(feature = "std")]
pub(crate) use const_thread_local;

/// Lets another thread run while waiting for something that has no notification.
pub(crate) fn spin_wait() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(all(not(loom), feature = "std"))]
    std::thread::yield_now();
    #[cfg(all(not(loom), not(feature = "std")))]
    core::hint::spin_loop();
}

#[cfg(not(feature = "std"))]
pub(crate) use self::queue::Queue;
/// The executor's run queues: concurrent-queue's with `std` (lock-free, for many threads); on
/// `no_std`, a `VecDeque` behind [`Mutex`], a critical section.
///
/// On `no_std`, wakers may run in interrupt handlers, and a concurrent-queue push that finds
/// another push half-way through (installing the next block of an unbounded queue, say) spins
/// until it is finished: a handler that interrupted that other push would spin for ever. Behind
/// a critical section no push is ever half-way for a handler. It is also smaller there, in code
/// and in memory: concurrent-queue pads its ends to a cache line and allocates in blocks of 31.
#[cfg(feature = "std")]
pub(crate) use concurrent_queue::ConcurrentQueue as Queue;

#[cfg(not(feature = "std"))]
mod queue {
    use alloc::vec::Vec;

    use concurrent_queue::{PopError, PushError};

    use super::Mutex;

    /// A FIFO queue with concurrent-queue's API (the part the executor uses).
    ///
    /// Two stacks: pushes go on `back`; pops take from `front`, refilled with `back` reversed when
    /// empty. Each item moves twice, and the code is `Vec`'s push and pop alone: a `VecDeque`
    /// that grows moves its wrapped part with `memmove`, which alone is 1.5 KiB of flash on
    /// Cortex-M.
    #[derive(Debug)]
    pub(crate) struct Queue<T> {
        inner: Mutex<Inner<T>>,
    }

    #[derive(Debug)]
    struct Inner<T> {
        /// The oldest items, the oldest last.
        front: Vec<T>,
        /// The newest items, the newest last.
        back: Vec<T>,
        /// The most items it holds, if bounded.
        capacity: Option<usize>,
        closed: bool,
    }

    impl<T> Queue<T> {
        fn new(room: usize, capacity: Option<usize>) -> Self {
            let (front, back) = (Vec::with_capacity(room), Vec::with_capacity(room));
            Self { inner: Mutex::new(Inner { front, back, capacity, closed: false }) }
        }

        /// A queue that never refuses an item (it grows, and never shrinks).
        pub(crate) fn unbounded() -> Self {
            Self::new(0, None)
        }

        /// A queue of `capacity` items, allocated now: a push or a pop never allocates.
        pub(crate) fn bounded(capacity: usize) -> Self {
            assert!(capacity > 0, "capacity must be positive");
            Self::new(capacity, Some(capacity))
        }

        pub(crate) fn push(&self, item: T) -> Result<(), PushError<T>> {
            self.inner.with(|inner| {
                if inner.closed {
                    Err(PushError::Closed(item))
                } else if inner.capacity.is_some_and(|cap| inner.front.len() + inner.back.len() >= cap) {
                    Err(PushError::Full(item))
                } else {
                    inner.back.push(item);
                    Ok(())
                }
            })
        }

        pub(crate) fn pop(&self) -> Result<T, PopError> {
            self.inner.with(|inner| {
                if inner.front.is_empty() {
                    while let Some(item) = inner.back.pop() {
                        inner.front.push(item);
                    }
                }
                match inner.front.pop() {
                    Some(item) => Ok(item),
                    None if inner.closed => Err(PopError::Closed),
                    None => Err(PopError::Empty),
                }
            })
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.inner.with(|inner| inner.front.is_empty() && inner.back.is_empty())
        }

        pub(crate) fn len(&self) -> usize {
            self.inner.with(|inner| inner.front.len() + inner.back.len())
        }

        /// Refuses every later push; what is queued can still be popped. Returns whether it was
        /// open.
        pub(crate) fn close(&self) -> bool {
            self.inner.with(|inner| !core::mem::replace(&mut inner.closed, true))
        }
    }
}
