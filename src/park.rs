//! Parking a thread between wake-ups (std), or idling through a hook (no_std).
//!
//! Both variants offer the same inner API: a `Parker` that is a `Wake`r, with `park` (and, on
//! std, `park_deadline`).
//!
//! std state machine of a [`Parker`]:
//! ```text
//!  EMPTY ──park──▶ PARKED ──unpark──▶ NOTIFIED ──park returns──▶ EMPTY
//!    └────unpark──────────────────────▶ NOTIFIED (the next park returns at once)
//! ```
//! `unpark` only makes a system call when it finds the thread `PARKED`.
//!
//! A thread that drives the reactor while idle waits in the poller instead of parking:
//! ```text
//!  EMPTY ──begin_driving──▶ DRIVING ──unpark──▶ NOTIFIED (unpark interrupts the poller)
//!                              └──end_driving──▶ EMPTY
//! ```
//! The reactor's seat wakes a thread for its own reasons (picked to drive, called to watch) with
//! a *nudge* (`nudge_waker`), which ends a park like a wake-up but is told apart from one: the
//! thread's future was not woken and is not polled for it.
//! ```text
//!  EMPTY/PARKED/DRIVING ──nudge──▶ NUDGED ──park returns Nudged──▶ EMPTY
//!  NUDGED ──unpark──▶ NOTIFIED     NOTIFIED ──nudge──▶ NOTIFIED (the wake-up wins)
//! ```
//! How to interrupt the poller is the reactor's: it hands it over with `set_interrupt` when it
//! is created, before any parker can be `DRIVING`.
//!
//! A thread that waits by driving another runtime (the shared Tokio runtime, `tokio` feature)
//! relays: its wake-up, or nudge, goes to that runtime's waker, stored before the state says so.
//! ```text
//!  EMPTY ──begin_relay──▶ RELAYING ──unpark / nudge──▶ NOTIFIED / NUDGED (wakes the relay waker)
//!                            └──end_relay──▶ EMPTY
//! ```

#[cfg(feature = "std")]
pub(crate) use self::std_impl::{Parker, Unparked, set_interrupt};

#[cfg(not(feature = "std"))]
pub(crate) use self::idle::Parker;
#[cfg(not(feature = "std"))]
pub use self::idle::set_idle_hook;

#[cfg(feature = "std")]
mod std_impl {
    use core::task::{RawWaker, RawWakerVTable, Waker};
    use std::sync::OnceLock;
    use std::time::Instant;

    use crate::sync::thread::{self, Thread};
    use crate::sync::{Arc, AtomicU8, Ordering};

    /// Nobody is parked and no wake-up is pending.
    const EMPTY: u8 = 0;
    /// The owner thread is parked, or about to park: `unpark` must unpark it.
    const PARKED: u8 = 1;
    /// A wake-up is pending: the next `park` consumes it and returns at once.
    const NOTIFIED: u8 = 2;
    /// The owner thread waits in the reactor's poller: `unpark` must notify the poller.
    const DRIVING: u8 = 3;
    /// A nudge is pending: the next `park` consumes it and returns `Nudged` at once.
    const NUDGED: u8 = 4;
    /// The owner thread waits in another runtime: `unpark` must wake `Parker::relay`.
    #[cfg(feature = "tokio")]
    const RELAYING: u8 = 5;

    /// How a park ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Unparked {
        /// The waker was called.
        Woken,
        /// A nudge: the thread was woken for the reactor's seat, not for its future.
        Nudged,
        /// The deadline passed.
        TimedOut,
    }

    /// What `unpark` calls to interrupt an owner thread waiting in the reactor's poller.
    static INTERRUPT: OnceLock<fn()> = OnceLock::new();

    /// Sets what interrupts a thread waiting in the reactor's poller; the first call wins.
    pub(crate) fn set_interrupt(interrupt: fn()) {
        let _ = INTERRUPT.set(interrupt);
    }

    /// Parks one thread until its waker is called.
    #[derive(Debug)]
    pub(crate) struct Parker {
        state: AtomicU8,
        thread: Thread,
        /// What wakes the owner thread while it is `RELAYING`.
        #[cfg(feature = "tokio")]
        relay: crate::sync::Mutex<Option<Waker>>,
    }

    impl Parker {
        /// A parker for the calling thread.
        pub(crate) fn new() -> Arc<Self> {
            Arc::new(Self {
                state: AtomicU8::new(EMPTY),
                thread: thread::current(),
                #[cfg(feature = "tokio")]
                relay: crate::sync::Mutex::new(None),
            })
        }

        /// Blocks until woken, nudged or until `deadline`.
        pub(crate) fn park_deadline(&self, deadline: Option<Instant>) -> Unparked {
            if let Some(pending) = self.take_pending() {
                return pending;
            }
            if let Err(actual) =
                self.state.compare_exchange(EMPTY, PARKED, Ordering::Relaxed, Ordering::Relaxed)
            {
                debug_assert!(actual == NOTIFIED || actual == NUDGED, "only the owner thread parks");
                // Acquire pairs with the releasing swaps in `unpark` and `nudge`.
                return match self.state.swap(EMPTY, Ordering::Acquire) {
                    NOTIFIED => Unparked::Woken,
                    _ => Unparked::Nudged,
                };
            }
            loop {
                match deadline {
                    None => thread::park(),
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            // Withdraw; a racing unpark or nudge may have just come.
                            return match self.state.swap(EMPTY, Ordering::Acquire) {
                                NOTIFIED => Unparked::Woken,
                                NUDGED => Unparked::Nudged,
                                _ => Unparked::TimedOut,
                            };
                        }
                        thread::park_timeout(deadline - now);
                    }
                }
                // std's park may return spuriously: only a NOTIFIED or NUDGED state ends the wait.
                if let Some(pending) = self.take_pending() {
                    return pending;
                }
            }
        }

        /// Consumes a pending wake-up or nudge, in one step: a wake-up that replaces a nudge
        /// between two separate looks would be missed by both (loom found it).
        fn take_pending(&self) -> Option<Unparked> {
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let pending = match state {
                    NOTIFIED => Unparked::Woken,
                    NUDGED => Unparked::Nudged,
                    _ => return None,
                };
                match self.state.compare_exchange(state, EMPTY, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return Some(pending),
                    Err(actual) => state = actual,
                }
            }
        }

        /// Wakes the owner thread, or makes its next `park` return at once.
        pub(crate) fn unpark(&self) {
            // Acquire too: a `RELAYING` seen here comes after the relay waker was stored.
            match self.state.swap(NOTIFIED, Ordering::AcqRel) {
                PARKED => self.thread.unpark(),
                DRIVING => {
                    if let Some(interrupt) = INTERRUPT.get() {
                        interrupt();
                    }
                }
                #[cfg(feature = "tokio")]
                RELAYING => {
                    if let Some(relay) = self.relay.with(|r| r.clone()) {
                        relay.wake();
                    }
                }
                _ => {}
            }
        }

        /// Marks the owner thread as waiting in another runtime, to be woken through `relay`;
        /// returns `None` if it may wait, else the wake-up or nudge already pending (consumed),
        /// in which case the thread must not wait. Called again while relaying, it only updates
        /// `relay`.
        #[cfg(feature = "tokio")]
        pub(crate) fn begin_relay(&self, relay: &Waker) -> Option<Unparked> {
            self.relay.with(|r| {
                if !r.as_ref().is_some_and(|w| w.will_wake(relay)) {
                    *r = Some(relay.clone());
                }
            });
            loop {
                match self.state.compare_exchange(EMPTY, RELAYING, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) | Err(RELAYING) => return None,
                    Err(actual) => {
                        debug_assert!(
                            actual == NOTIFIED || actual == NUDGED,
                            "only the owner thread parks, drives or relays"
                        );
                        if let Some(pending) = self.take_pending() {
                            return Some(pending);
                        }
                    }
                }
            }
        }

        /// Leaves the relaying state; returns the wake-up or nudge that arrived meanwhile
        /// (consumed), if any.
        #[cfg(feature = "tokio")]
        pub(crate) fn end_relay(&self) -> Option<Unparked> {
            match self.state.swap(EMPTY, Ordering::Acquire) {
                NOTIFIED => Some(Unparked::Woken),
                NUDGED => Some(Unparked::Nudged),
                _ => None,
            }
        }

        /// Wakes the owner thread for the reactor's seat: ends its park (or wait in the poller)
        /// without counting as a wake-up of its future. A pending wake-up stays one.
        pub(crate) fn nudge(&self) {
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                if state == NOTIFIED || state == NUDGED {
                    return;
                }
                match self.state.compare_exchange(state, NUDGED, Ordering::AcqRel, Ordering::Relaxed) {
                    Ok(PARKED) => return self.thread.unpark(),
                    #[cfg(feature = "tokio")]
                    Ok(RELAYING) => {
                        if let Some(relay) = self.relay.with(|r| r.clone()) {
                            relay.wake();
                        }
                        return;
                    }
                    Ok(DRIVING) => {
                        if let Some(interrupt) = INTERRUPT.get() {
                            interrupt();
                        }
                        return;
                    }
                    Ok(_) => return,
                    Err(actual) => state = actual,
                }
            }
        }

        /// A waker that nudges this parker instead of waking it.
        pub(crate) fn nudge_waker(this: &Arc<Self>) -> Waker {
            let raw = Arc::into_raw(this.clone()).cast::<()>();
            // SAFETY: `raw` is an `Arc<Parker>` whose count the waker owns; `NUDGE` keeps the
            // `RawWaker` contract for it (see its functions).
            unsafe { Waker::from_raw(RawWaker::new(raw, &NUDGE)) }
        }

        /// Marks the owner thread as waiting in the reactor; returns `false` (consuming the
        /// wake-up) if one is already pending, in which case the thread must not wait. A pending
        /// nudge is consumed: it asked for this thread to be awake, and it is.
        pub(crate) fn begin_driving(&self) -> bool {
            loop {
                match self.state.compare_exchange(EMPTY, DRIVING, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return true,
                    Err(NUDGED) => {
                        let _ =
                            self.state.compare_exchange(NUDGED, EMPTY, Ordering::Acquire, Ordering::Relaxed);
                    }
                    Err(actual) => {
                        debug_assert_eq!(actual, NOTIFIED, "only the owner thread parks or drives");
                        self.state.swap(EMPTY, Ordering::Acquire);
                        return false;
                    }
                }
            }
        }

        /// Drops a wake-up or nudge still pending once the call that owned this parker has
        /// returned: a future may wake its own waker in the poll in which it completes, and the
        /// next call reusing the parker must not take that for a wake-up of its own. The caller
        /// holds the only waker (no clone of it is left), so nothing races this.
        #[inline]
        pub(crate) fn clear(&self) {
            if self.state.load(Ordering::Relaxed) != EMPTY {
                self.state.store(EMPTY, Ordering::Relaxed);
            }
        }

        /// Leaves the driving state; returns whether a wake-up arrived meanwhile (consuming it).
        pub(crate) fn end_driving(&self) -> bool {
            self.state.swap(EMPTY, Ordering::Acquire) == NOTIFIED
        }
    }

    /// The vtable of `Parker::nudge_waker`: an `Arc<Parker>` behind the data pointer, one count
    /// per waker.
    static NUDGE: RawWakerVTable =
        RawWakerVTable::new(nudge_clone, nudge_wake, nudge_wake_by_ref, nudge_drop);

    /// # Safety
    ///
    /// - `raw` is the data of a live nudge waker: an `Arc<Parker>` from `Arc::into_raw`.
    unsafe fn nudge_clone(raw: *const ()) -> RawWaker {
        // SAFETY: by the contract, `raw` is a live `Arc<Parker>`; the new waker owns the count.
        unsafe { Arc::increment_strong_count(raw.cast::<Parker>()) };
        RawWaker::new(raw, &NUDGE)
    }

    /// # Safety
    ///
    /// - As for `nudge_clone`; the waker is consumed.
    unsafe fn nudge_wake(raw: *const ()) {
        // SAFETY: the waker owned this count and is consumed.
        let parker = unsafe { Arc::from_raw(raw.cast::<Parker>()) };
        parker.nudge();
    }

    /// # Safety
    ///
    /// - As for `nudge_clone`.
    unsafe fn nudge_wake_by_ref(raw: *const ()) {
        // SAFETY: `raw` is a live `Arc<Parker>` for as long as the waker is borrowed.
        unsafe { &*raw.cast::<Parker>() }.nudge();
    }

    /// # Safety
    ///
    /// - As for `nudge_clone`; the waker is dropped.
    unsafe fn nudge_drop(raw: *const ()) {
        // SAFETY: the waker owned this count and is dropped.
        drop(unsafe { Arc::from_raw(raw.cast::<Parker>()) });
    }

    crate::sync::impl_wake!(Parker, unpark);
}

#[cfg(not(feature = "std"))]
mod idle {
    use crate::sync::{Arc, AtomicBool, AtomicPtr, Ordering};

    /// The hook `block_on` calls when its future is pending; null means "spin".
    ///
    /// # Invariant
    /// Null, or a `fn(&dyn Fn() -> bool)` cast to a pointer by `set_idle_hook`.
    static IDLE_HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

    /// Sets what [`block_on`](crate::block_on) does on `no_std` while its future waits.
    ///
    /// The hook is called with a function `woken` that tells whether a wake-up has arrived since
    /// the future was last polled. To sleep without ever missing a wake-up sent from an interrupt
    /// handler, check `woken()` with interrupts masked and wait for an interrupt only if it is
    /// `false`: on Cortex-M, `WFI` wakes on a pending interrupt even while `PRIMASK` masks it, and
    /// the handler runs as soon as interrupts are unmasked. The hook may also return early at any
    /// time; `block_on` then polls again. Without a hook, `block_on` spins.
    ///
    /// # Examples
    ///
    /// On Cortex-M, with the `cortex-m` crate, the hook is
    /// `cortex_m::interrupt::free(|_| if !woken() { cortex_m::asm::wfi() })`. The same shape,
    /// with a stand-in for the wait-for-interrupt instruction:
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// static IDLE_CALLS: AtomicUsize = AtomicUsize::new(0);
    ///
    /// fn wait_for_interrupt() {
    ///     IDLE_CALLS.fetch_add(1, Ordering::Relaxed);
    /// }
    ///
    /// amphi::set_idle_hook(|woken| {
    ///     // With interrupts masked on a board: a wake-up from a handler is then never missed.
    ///     if !woken() {
    ///         wait_for_interrupt();
    ///     }
    /// });
    ///
    /// // A future that is pending once, waking itself: `block_on` idles in between.
    /// let mut polled = false;
    /// amphi::block_on(core::future::poll_fn(|cx| {
    ///     if polled {
    ///         return core::task::Poll::Ready(());
    ///     }
    ///     polled = true;
    ///     cx.waker().wake_by_ref();
    ///     core::task::Poll::Pending
    /// }));
    /// // Woken before it idled: the hook saw `woken()` and did not wait.
    /// assert_eq!(IDLE_CALLS.load(Ordering::Relaxed), 0);
    /// ```
    pub fn set_idle_hook(hook: fn(woken: &dyn Fn() -> bool)) {
        IDLE_HOOK.store(hook as *mut (), Ordering::Release);
    }

    fn idle(woken: &dyn Fn() -> bool) {
        let ptr = IDLE_HOOK.load(Ordering::Acquire);
        if ptr.is_null() {
            core::hint::spin_loop();
        } else {
            // SAFETY: by the invariant, a non-null pointer is a `fn(&dyn Fn() -> bool)`.
            let hook: fn(&dyn Fn() -> bool) = unsafe { core::mem::transmute(ptr) };
            hook(woken);
        }
    }

    /// A wake-up flag that `block_on` idles on.
    #[derive(Debug)]
    pub(crate) struct Parker {
        woken: AtomicBool,
    }

    impl Parker {
        pub(crate) fn new() -> Arc<Self> {
            Arc::new(Self { woken: AtomicBool::new(false) })
        }

        /// Idles through the hook until a wake-up arrives, and consumes it.
        pub(crate) fn park(&self) {
            while !self.woken.swap(false, Ordering::Acquire) {
                idle(&|| self.woken.load(Ordering::Acquire));
            }
        }

        pub(crate) fn unpark(&self) {
            self.woken.store(true, Ordering::Release);
        }
    }

    crate::sync::impl_wake!(Parker, unpark);
}
