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
//! How to interrupt the poller is the reactor's: it hands it over with `set_interrupt` when it
//! is created, before any parker can be `DRIVING`.

#[cfg(feature = "std")]
pub(crate) use self::std_impl::{Parker, set_interrupt};

#[cfg(not(feature = "std"))]
pub(crate) use self::idle::Parker;
#[cfg(not(feature = "std"))]
pub use self::idle::set_idle_hook;

#[cfg(feature = "std")]
mod std_impl {
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
    }

    impl Parker {
        /// A parker for the calling thread.
        pub(crate) fn new() -> Arc<Self> {
            Arc::new(Self { state: AtomicU8::new(EMPTY), thread: thread::current() })
        }

        /// Blocks until woken or until `deadline`; returns whether it was woken.
        pub(crate) fn park_deadline(&self, deadline: Option<Instant>) -> bool {
            if self.state.compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return true;
            }
            if let Err(actual) =
                self.state.compare_exchange(EMPTY, PARKED, Ordering::Relaxed, Ordering::Relaxed)
            {
                debug_assert_eq!(actual, NOTIFIED, "only the owner thread parks");
                // Acquire pairs with the releasing swap in `unpark`.
                self.state.swap(EMPTY, Ordering::Acquire);
                return true;
            }
            loop {
                match deadline {
                    None => thread::park(),
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            // Withdraw; a racing unpark may have just notified.
                            return self.state.swap(EMPTY, Ordering::Acquire) == NOTIFIED;
                        }
                        thread::park_timeout(deadline - now);
                    }
                }
                // std's park may return spuriously: only a NOTIFIED state ends the wait.
                if self.state.compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed).is_ok()
                {
                    return true;
                }
            }
        }

        /// Wakes the owner thread, or makes its next `park` return at once.
        pub(crate) fn unpark(&self) {
            match self.state.swap(NOTIFIED, Ordering::Release) {
                PARKED => self.thread.unpark(),
                DRIVING => {
                    if let Some(interrupt) = INTERRUPT.get() {
                        interrupt();
                    }
                }
                _ => {}
            }
        }

        /// Marks the owner thread as waiting in the reactor; returns `false` (consuming the
        /// wake-up) if one is already pending, in which case the thread must not wait.
        pub(crate) fn begin_driving(&self) -> bool {
            match self.state.compare_exchange(EMPTY, DRIVING, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => true,
                Err(actual) => {
                    debug_assert_eq!(actual, NOTIFIED, "only the owner thread parks or drives");
                    self.state.swap(EMPTY, Ordering::Acquire);
                    false
                }
            }
        }

        /// Leaves the driving state; returns whether a wake-up arrived meanwhile (consuming it).
        pub(crate) fn end_driving(&self) -> bool {
            self.state.swap(EMPTY, Ordering::Acquire) == NOTIFIED
        }
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
