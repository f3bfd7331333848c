//! The shared Tokio runtime, and who drives it: the thread that waits, while it waits alone.
//!
//! The runtime is a current-thread one, whose `block_on` any number of threads may enter: one
//! holds its core at a time and drives its I/O, its timers and the tasks spawned on it. A
//! `block_on` of this crate that waits on a plain thread while no other thread waits takes the
//! *driver's role* ([`Shared::claim`]) and waits inside that `block_on` ([`Claim::drive`]), so a
//! call to a Tokio-bound client (tokio-postgres, redis, reqwest) is driven by the very thread
//! that waits for it, the way the sync crates do it, with no thread hop per call.
//!
//! One thread, `amphi-tokio`, drives otherwise: while nobody waits (tasks spawned on the runtime
//! and I/O awaited from this crate's tasks need it then), and while other threads wait beside a
//! driver or after it (they park, [`Shared::park`], as a `block_on` does without the feature; many
//! callers at once are served best by one thread that drives for all of them, not by the runtime's
//! core handed from one to the next). It stands back when a caller claims the role, and takes the
//! core again as soon as a parked caller needs it, else after [`GRACE`] in which the role was
//! neither claimed nor given up, so a caller calling again and again finds the core free:
//! ```text
//!  amphi-tokio drives ──claimed──▶ stands back ──a caller parks, or GRACE with no turn──▶ drives
//! ```
//! Between two claims, and during the grace, nobody drives: an event waits for the next caller
//! or for the end of the grace.
//!
//! A driver polls its future outside the runtime (a `block_on` nested in that poll waits as a
//! parked caller) and enters the runtime's `block_on` only to wait for a wake-up, which its
//! parker relays to that `block_on` (`park.rs`).
//!
//! The orderings are store-fence-load pairs (all `SeqCst`): a claim stores `driving`, then looks
//! for the driver thread's waker; the driver thread stores its waker, then looks at `driving`. A
//! parked caller stores `parked`, then looks at `driving` and `thread_drives`; a leaving driver
//! stores `driving`, then looks at `parked`: one of the two wakes the driver thread.

#![forbid(unsafe_code)]

use core::future::Future;
use core::pin::{Pin, pin};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::{Mutex, OnceLock};

use crate::per_process::PerProcess;
use std::thread::Thread;
use std::time::Instant;

use futures_lite::future::poll_fn;
use tokio::runtime::Runtime;

use super::Driven;
use crate::park::{Parker, Unparked};

/// How long the driver thread waits without a claim before it takes the core back.
const GRACE: Duration = Duration::from_millis(1);

/// The shared runtime and who drives it.
pub(super) struct Shared {
    pub(super) runtime: Runtime,
    /// A caller holds the driver's role.
    driving: AtomicBool,
    /// Claims and releases of the role so far: the driver thread's sign that callers still come.
    turns: AtomicUsize,
    /// Callers waiting in this runtime's context without the driver's role.
    parked: AtomicUsize,
    /// The driver thread drives (or is about to).
    thread_drives: AtomicBool,
    /// The driver thread's waker while it drives, to make it stand back.
    stand_back: Mutex<Option<Waker>>,
    /// The driver thread, to call it back.
    thread: OnceLock<Thread>,
}

/// This process's shared runtime: a child made by `fork()` starts its own (`per_process.rs`);
/// within a process, its first user starts it while the others wait (`OnceLock`).
static SHARED: PerProcess<OnceLock<Option<Shared>>> = PerProcess::new();

/// The shared runtime, started on first use with its driver thread; `None` if either could not
/// start (the process may start no thread: Tokio panics then, which is caught). Plain futures run
/// as before without it; one that needs Tokio then panics with Tokio's own "no reactor running".
pub(super) fn get() -> Option<&'static Shared> {
    SHARED
        .get_or_init(OnceLock::new)
        .get_or_init(|| {
            let build = || tokio::runtime::Builder::new_current_thread().enable_all().build().ok();
            let runtime = std::panic::catch_unwind(build).ok().flatten()?;
            // The thread waits for this initialisation to finish before it looks at the runtime.
            let started = crate::config::spawn_thread(format_args!("tokio"), driver_main);
            started.then(|| Shared {
                runtime,
                driving: AtomicBool::new(false),
                turns: AtomicUsize::new(0),
                parked: AtomicUsize::new(0),
                thread_drives: AtomicBool::new(true),
                stand_back: Mutex::new(None),
                thread: OnceLock::new(),
            })
        })
        .as_ref()
}

/// The `amphi-tokio` thread: drives while no caller does.
fn driver_main() {
    let Some(shared) = get() else { return };
    let _ = shared.thread.set(std::thread::current());
    loop {
        shared.runtime.block_on(poll_fn(|cx| {
            let mut slot = shared.stand_back.lock().unwrap_or_else(|e| e.into_inner());
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
            drop(slot);
            if shared.driving.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }
        }));
        *shared.stand_back.lock().unwrap_or_else(|e| e.into_inner()) = None;
        shared.thread_drives.store(false, Ordering::SeqCst);
        loop {
            let seen = shared.turns.load(Ordering::SeqCst);
            if !shared.driving.load(Ordering::SeqCst) && shared.parked.load(Ordering::SeqCst) > 0 {
                break;
            }
            std::thread::park_timeout(GRACE);
            let driving = shared.driving.load(Ordering::SeqCst);
            if !driving
                && (shared.parked.load(Ordering::SeqCst) > 0 || shared.turns.load(Ordering::SeqCst) == seen)
            {
                break;
            }
        }
        shared.thread_drives.store(true, Ordering::SeqCst);
    }
}

impl Shared {
    /// Takes the driver's role if nobody else waits on this runtime and this crate's reactor
    /// needs no driving from this thread: no source or timer is registered, and this thread does
    /// not keep its seat. (A thread that waits inside the runtime's `block_on` drives nothing of
    /// this crate's: a timer or socket of its future there would wait for ever when no other
    /// thread of this crate is idle.)
    pub(super) fn claim(&'static self) -> Option<Claim> {
        if !crate::reactor::is_quiet() || crate::context::is_keeper() {
            return None;
        }
        if self.parked.load(Ordering::SeqCst) > 0
            || self.driving.compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed).is_err()
        {
            return None;
        }
        self.turns.fetch_add(1, Ordering::Relaxed);
        let stand_back = self.stand_back.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = stand_back {
            w.wake();
        }
        Some(Claim(self))
    }

    /// Counts a caller that waits without the driver's role until the result drops, and makes
    /// sure somebody drives meanwhile.
    pub(super) fn park(&'static self) -> Parked {
        self.parked.fetch_add(1, Ordering::SeqCst);
        if !self.driving.load(Ordering::SeqCst) && !self.thread_drives.load(Ordering::SeqCst) {
            self.call_thread();
        }
        Parked(self)
    }

    fn call_thread(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

/// A caller counted as parked.
pub(super) struct Parked(&'static Shared);

impl Drop for Parked {
    fn drop(&mut self) {
        self.0.parked.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The driver's role, given up on drop.
pub(crate) struct Claim(&'static Shared);

impl Drop for Claim {
    fn drop(&mut self) {
        self.0.turns.fetch_add(1, Ordering::Relaxed);
        self.0.driving.store(false, Ordering::SeqCst);
        if self.0.parked.load(Ordering::SeqCst) > 0 {
            self.0.call_thread();
        }
    }
}

impl Claim {
    /// Waits for `future`, just polled and pending with `parker`'s `waker`, until it is ready or
    /// `deadline` passes, driving the runtime between its wake-ups. The future is polled once per
    /// wake-up, with the same waker, as in the idle loop; on timeout it is left as it is. A nudge
    /// of the parker (`Parker::nudge_waker`) is no wake-up of the future: it calls `between`, as
    /// every return from the runtime does (the caller runs there the tasks it caught: `Catch`).
    /// The caller must be outside any Tokio runtime's `block_on` and task, and in this runtime's
    /// context.
    ///
    /// The role is given up while the future is polled and `between` runs: a `block_on` nested
    /// there, or another thread, may come to wait meanwhile, and then the driver thread drives for
    /// them and this caller goes on as a parked one ([`Driven::Parked`]); so it does when the poll
    /// or `between` registered a source or timer of this crate's, which this thread then drives.
    pub(crate) fn drive<F: Future>(
        self,
        mut future: Pin<&mut F>,
        parker: &Parker,
        waker: &Waker,
        deadline: Option<Instant>,
        mut between: impl FnMut(),
    ) -> Driven<F::Output> {
        let shared = self.0;
        let mut cx = Context::from_waker(waker);
        let mut sleep = pin!(deadline.map(|d| tokio::time::sleep_until(d.into())));
        let mut claim = Some(self);
        loop {
            let waited = super::imp::outside_tasks(|| {
                shared.runtime.block_on(poll_fn(|cx| {
                    if let Some(pending) = parker.begin_relay(cx.waker()) {
                        return Poll::Ready(Some(pending));
                    }
                    match sleep.as_mut().as_pin_mut().map(|s| s.poll(cx)) {
                        Some(Poll::Ready(())) => Poll::Ready(None),
                        _ => Poll::Pending,
                    }
                }))
            });
            // `None`: the deadline passed, unless a wake-up came just then.
            let waited = waited.or_else(|| parker.end_relay());
            drop(claim.take());
            between();
            match waited {
                None => return Driven::TimedOut,
                Some(Unparked::Woken) => {
                    if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                        return Driven::Ready(out);
                    }
                }
                Some(_) => {}
            }
            match shared.claim() {
                Some(c) => claim = Some(c),
                None => return Driven::Parked,
            }
        }
    }
}
