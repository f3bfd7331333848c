//! What the current thread is to the runtime wherever it is asked from nowhere (a waker, a
//! registration, a nested `block_on`): its cached parker (and whether a `block_on` is using it),
//! the parker of its innermost nested `block_on`, whether it is a global worker on duty,
//! whether it kept the reactor's seat, and whether it may drive the shared Tokio runtime. What a
//! thread is while its idle loop lasts is a value instead, `reactor::Waiter`, handed down that
//! loop.
//!
//! The std side's thread-locals live here, two of them; the executor core keeps its one in
//! `executor/current.rs`, the task runner its one in `task/run.rs`. Each is read with
//! `try_with`: during thread-local destruction (a destructor of another thread-local calling
//! `block_on`) an accessor answers as for a thread that is nothing to the runtime, instead of
//! panicking.

#![forbid(unsafe_code)]

use core::cell::{Cell, RefCell};
use core::task::Waker;

use crate::park::Parker;
use crate::sync::Arc;

std::thread_local! {
    /// This thread's parker and its waker, reused by every non-nested `block_on`.
    static PARKER: CachedParker = const {
        CachedParker {
            in_use: Cell::new(false),
            parker: RefCell::new(None),
            cached: Cell::new(core::ptr::null()),
        }
    };
    /// What this thread is to the runtime beyond its parker. Plain cells, with no destructor:
    /// readable until the thread is gone.
    static THREAD: Thread = const {
        Thread {
            nested: Cell::new(core::ptr::null()),
            on_duty: Cell::new(false),
            keeper: Cell::new(false),
            may_drive_tokio: Cell::new(false),
        }
    };
}

/// See [`THREAD`].
struct Thread {
    /// The parker of the innermost nested `block_on` on this thread (which does not use the
    /// cached one), or null.
    nested: Cell<*const Parker>,
    /// Whether this thread is a global worker currently on duty.
    on_duty: Cell<bool>,
    /// Set when this thread kept the reactor's seat, meaning to come back. The thread's, not
    /// one idle loop's: a nested `block_on` here is the keeper coming back (`reactor::Waiter`).
    keeper: Cell<bool>,
    /// Set while the innermost Tokio context of this thread is the shared Tokio runtime's,
    /// entered outside any runtime's `block_on` and task (`tokio_context`): a `block_on` here may
    /// drive that runtime.
    may_drive_tokio: Cell<bool>,
}

struct CachedParker {
    /// Set while a `block_on` on this thread uses the cached parker; a nested one makes its own.
    in_use: Cell<bool>,
    /// The parker and its waker; `None` before first use and after a call left a clone of the
    /// waker behind. Only borrowed mutably while `in_use` is set and no call uses it.
    parker: RefCell<Option<(Arc<Parker>, Waker)>>,
    /// The address of the cached parker (in use or not), which is its waker's data.
    cached: Cell<*const Parker>,
}

/// Clears `CachedParker::in_use` when the outermost `block_on` returns or unwinds.
struct Release<'c>(&'c Cell<bool>);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// A new parker for the calling thread, and its waker.
pub(crate) fn fresh_parker() -> (Arc<Parker>, Waker) {
    let parker = Parker::new();
    let waker = Waker::from(parker.clone());
    (parker, waker)
}

/// Runs `f` with this thread's cached parker, or a fresh one when a `block_on` further up the
/// stack is using the cached one (or the thread-local is already destroyed).
///
/// Each call's waker wakes that call only: a parker whose waker was cloned and outlived the call
/// (a future stored it and completed, or a timer or socket still holds it) is not cached again,
/// so a late wake-up through that clone finds a parker nobody waits on, instead of making a
/// later `block_on` poll its future for nothing. The cache holds two counts (the parker and its
/// waker); more after the call means a clone is still out there. A wake-up the call's future sent
/// itself in its final poll is dropped with the call.
#[inline]
pub(crate) fn with_parker<R>(f: impl FnOnce(&Arc<Parker>, &Waker) -> R) -> R {
    // The closure runs in exactly one of the two places; `Option` only proves it to the
    // compiler, and its checks fold away once inlined.
    let mut f = Some(f);
    let cached = PARKER.try_with(|cache| {
        if cache.in_use.replace(true) {
            return None;
        }
        let _release = Release(&cache.in_use);
        let slot = cache.parker.borrow();
        let Some((parker, waker)) = &*slot else {
            drop(slot);
            return with_new_cached(cache, f.take().expect("not run yet"));
        };
        let out = f.take().map(|f| f(parker, waker));
        if Arc::strong_count(parker) != 2 {
            drop(slot);
            retire(cache);
        } else {
            parker.clear();
        }
        out
    });
    match cached {
        Ok(Some(out)) => out,
        _ => with_fresh_parker(f.take().expect("not run yet")),
    }
}

/// Makes the cached parker (first use, or after one was retired), then runs `f` with it.
#[cold]
#[inline(never)]
fn with_new_cached<R>(cache: &CachedParker, f: impl FnOnce(&Arc<Parker>, &Waker) -> R) -> Option<R> {
    let fresh = fresh_parker();
    cache.cached.set(Arc::as_ptr(&fresh.0));
    *cache.parker.borrow_mut() = Some(fresh);
    let slot = cache.parker.borrow();
    let (parker, waker) = slot.as_ref().expect("just set");
    let out = f(parker, waker);
    if Arc::strong_count(parker) != 2 {
        drop(slot);
        retire(cache);
    } else {
        parker.clear();
    }
    Some(out)
}

/// Forgets the cached parker: a clone of its waker outlived the call.
#[cold]
#[inline(never)]
fn retire(cache: &CachedParker) {
    drop(cache.parker.borrow_mut().take());
}

#[cold]
#[inline(never)]
fn with_fresh_parker<R>(f: impl FnOnce(&Arc<Parker>, &Waker) -> R) -> R {
    /// Restores the outer nested parker when this call returns or unwinds.
    struct Restore(*const Parker);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = THREAD.try_with(|h| h.nested.set(self.0));
        }
    }
    let (parker, waker) = fresh_parker();
    let _restore =
        Restore(THREAD.try_with(|h| h.nested.replace(Arc::as_ptr(&parker))).unwrap_or(core::ptr::null()));
    f(&parker, &waker)
}

/// Whether `waker` is the waker of the innermost `block_on` on this thread: a registration with
/// it will be driven by this thread once that `block_on`'s future is pending. (A registration
/// with another waker, from inside `block_on`, may come from a foreign `block_on` that holds the
/// thread.)
pub(crate) fn is_block_on_waker(waker: &Waker) -> bool {
    let nested = THREAD.try_with(|h| h.nested.get()).unwrap_or(core::ptr::null());
    let innermost = if nested.is_null() {
        match PARKER.try_with(|cache| cache.in_use.get().then(|| cache.cached.get())) {
            Ok(Some(cached)) => cached,
            _ => return false,
        }
    } else {
        nested
    };
    core::ptr::eq(waker.data(), innermost.cast())
}

/// Whether this thread is inside a `block_on` (whose idle steps will drive the reactor).
pub(crate) fn in_block_on() -> bool {
    PARKER.try_with(|cache| cache.in_use.get()).unwrap_or(false)
}

/// Marks this thread as a global worker on duty, or not.
pub(crate) fn set_on_duty(on: bool) {
    let _ = THREAD.try_with(|h| h.on_duty.set(on));
}

/// Takes this thread off duty; returns whether it was on duty.
pub(crate) fn take_off_duty() -> bool {
    THREAD.try_with(|h| h.on_duty.replace(false)).unwrap_or(false)
}

/// Records whether this thread kept the reactor's seat, meaning to come back.
pub(crate) fn set_keeper(keeps: bool) {
    let _ = THREAD.try_with(|h| h.keeper.set(keeps));
}

/// Whether this thread kept the reactor's seat.
pub(crate) fn is_keeper() -> bool {
    THREAD.try_with(|h| h.keeper.get()).unwrap_or(false)
}

/// Forgets that this thread kept the reactor's seat; returns whether it had.
pub(crate) fn take_keeper() -> bool {
    THREAD.try_with(|h| h.keeper.replace(false)).unwrap_or(false)
}

/// Sets whether a `block_on` on this thread may drive the shared Tokio runtime; returns the
/// previous setting, or `None` while the thread-local is destroyed.
#[cfg_attr(not(feature = "tokio"), allow(dead_code, reason = "the `tokio` feature's"))]
pub(crate) fn set_may_drive_tokio(may: bool) -> Option<bool> {
    THREAD.try_with(|h| h.may_drive_tokio.replace(may)).ok()
}

/// Whether a `block_on` on this thread may drive the shared Tokio runtime.
#[cfg_attr(not(feature = "tokio"), allow(dead_code, reason = "the `tokio` feature's"))]
pub(crate) fn may_drive_tokio() -> bool {
    THREAD.try_with(|h| h.may_drive_tokio.get()).unwrap_or(false)
}
