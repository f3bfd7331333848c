//! The reactor: one `polling::Poller` per process, with I/O sources and timers in one loop.
//!
//! There is no reactor thread. Whoever is idle drives: a thread whose `block_on` future is pending
//! takes an idle step (`Waiter::idle`), which makes it *the driver* if nobody else is (it waits in
//! the poller instead of parking, until its own future is woken or its deadline passes), or an idle
//! *candidate* otherwise. A driver woken for its own work keeps the seat while it runs that work
//! and comes back, since the next events most likely wake the tasks it runs; a driver that leaves
//! for good while sources or timers still wait hands the seat to one candidate, and a keeper that
//! does not come back (its task blocks the thread) loses the seat to the watcher within two watch
//! periods (`waiter.rs`). A thread that runs no executor hands the seat to a waiting runner once
//! its events only wake other threads.
//!
//! Futures polled by a foreign executor (Tokio, `futures::executor`) may register while no
//! `amphi` thread is there to drive; only then does a fallback thread (`amphi-reactor`) start, and
//! it exits after a while without being needed (`fallback.rs`).
//!
//! Wake-ups are never lost: a driver's parker is in its `DRIVING` state while it waits, so the
//! waker interrupts the poller (see `park.rs`); a timer earlier than the current wait notifies
//! the poller too; a registration that finds nobody driving wakes a candidate or the fallback.
//! The election itself is `seat.rs`'s; the idle step and the drive loop, written against what
//! they need of this reactor (`waiter::Driven`), are `waiter.rs`'s.

mod fallback;
mod poller;
mod seat;
mod source;
mod timers;
mod wait_end;
mod waiter;

use alloc::vec::Vec;
use core::task::Waker;
use core::time::Duration;
use std::io;
use std::time::Instant;

use slab::Slab;

use self::fallback::Fallback;
use self::poller::{Events, Poller};
use self::seat::Seat;
pub(crate) use self::source::{READ, Slot, Source, WRITE};
use self::timers::Timers;
use self::wait_end::WaitEnd;
use self::waiter::Driven;
use crate::config::config;
use crate::park::{self, Parker, Unparked};
use crate::per_process::PerProcess;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::sys;
use crate::{context, task};

/// This process's reactor: a forked child makes its own (`per_process.rs`).
static REACTOR: PerProcess<Reactor> = PerProcess::new();

/// The process's reactor, created on first use.
///
/// # Panics
///
/// If the OS refuses to create a poller (out of file descriptors).
pub(crate) fn get() -> &'static Reactor {
    REACTOR.get_or_init(|| match Reactor::new() {
        Ok(reactor) => {
            // A parker that drives waits in this poller: its waker must interrupt the wait.
            park::set_interrupt(notify);
            reactor
        }
        Err(err) => panic!("amphi: cannot create the I/O poller: {err}"),
    })
}

/// The reactor's I/O sources and timers registered, and whether its fallback driver runs; `None`
/// if no reactor was created.
pub(crate) fn snapshot() -> Option<ReactorCounts> {
    let reactor = REACTOR.get()?;
    Some(ReactorCounts {
        sources: reactor.source_count.load(Ordering::Relaxed),
        timers: reactor.timers.len(),
        fallback_running: reactor.fallback.with(|f| f.running),
    })
}

/// Whether no I/O source or timer is registered (or the reactor was never created): nobody
/// needs it driven.
#[cfg_attr(not(feature = "tokio"), allow(dead_code, reason = "only a thread driving Tokio asks"))]
pub(crate) fn is_quiet() -> bool {
    REACTOR.get().is_none_or(|r| !r.has_work())
}

/// The reactor's counts at one moment, for the runtime's metrics.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReactorCounts {
    /// I/O sources registered.
    pub(crate) sources: usize,
    /// Timers registered.
    pub(crate) timers: usize,
    /// Whether the fallback driver thread runs.
    pub(crate) fallback_running: bool,
}

/// Interrupts the driver's wait; called by a parker woken while it drives.
fn notify() {
    if let Some(reactor) = REACTOR.get() {
        // A failed notify means the poller is broken; the driver's wait will fail too.
        let _ = reactor.poller.notify();
    }
}

/// A thread's place in this process's reactor while its idle loop lasts (`waiter.rs`).
pub(crate) type Waiter = waiter::Waiter<Reactor>;

/// A source's key with the poller: its place in `Reactor::sources` in the low bits, and in the
/// high bits the generation, the count of registrations before it. `sources` gives a freed place
/// to the next registration at once, and the driver handles a batch of events after it took it
/// from the poller: an event of a source deregistered in between carries the old generation, and
/// reaches nobody, instead of waking the source registered in its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key(usize);

impl Key {
    /// Bits of the place; the generation has the rest (on 32-bit targets, 12 bits: two sources
    /// of one place have the same key only 4,096 registrations apart).
    const INDEX_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
    const INDEX_MASK: usize = (1 << Self::INDEX_BITS) - 1;

    /// The key of place `index` for the `generation`th registration; an error beyond the places
    /// a key holds. The two highest places are left out: their keys could be the poller's own
    /// (`usize::MAX` and `usize::MAX - 1`, see `poller.rs`).
    fn new(index: usize, generation: usize) -> io::Result<Self> {
        if index >= Self::INDEX_MASK - 1 {
            return Err(io::Error::other("amphi: too many registered I/O handles"));
        }
        Ok(Self(index | generation << Self::INDEX_BITS))
    }

    fn index(self) -> usize {
        self.0 & Self::INDEX_MASK
    }
}

/// The one reactor of the process.
pub(crate) struct Reactor {
    poller: Poller,
    /// Counts batches of events; see `source::Direction::ticks`.
    ticker: AtomicUsize,
    /// Registered I/O sources by key.
    ///
    /// # Invariant
    /// A source is in the slab, and registered with the poller, only while its file descriptor
    /// is open: `Async` removes it (under this lock) before it closes or gives back its I/O.
    sources: Mutex<Slab<Arc<Source>>>,
    /// How many sources `sources` holds, kept beside it under its lock: read without the lock by
    /// a runner between two batches (`Driven::has_sources`) and by `snapshot`.
    source_count: AtomicUsize,
    /// How many sources were ever registered: the generation part of the next one's key (see
    /// [`Key`]). Changed under `sources`' lock.
    registrations: AtomicUsize,
    /// The driver's event buffer, and its buffer of the wakers they call (kept, so that a batch
    /// of events allocates nothing); only the holder of the seat locks them.
    events: Mutex<(Events, Vec<Waker>)>,
    timers: Timers,
    /// The driver lock and the idle threads waiting to take it.
    seat: Seat,
    /// The end of the driver's current wait, in nanoseconds since `epoch`: a new timer earlier
    /// than it must interrupt the wait.
    wait_end: WaitEnd,
    epoch: Instant,
    /// Waiters: threads in an idle step (`Waiter::idle`), other than the fallback driver.
    amphi_waiters: AtomicUsize,
    /// Set while the fallback thread drives or tries to: an idle `amphi` thread takes over from
    /// it, since the futures woken there are likely its own (a timer or socket of its
    /// `block_on`), and each wake-up from another thread costs a thread switch.
    fallback_drives: AtomicBool,
    /// Set when a future registered from a thread that is not inside `block_on`.
    foreign: AtomicBool,
    fallback: Mutex<Fallback>,
}

impl core::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reactor")
            .field("driving", &self.seat.is_driven())
            .field("amphi_waiters", &self.amphi_waiters.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Reactor {
    fn new() -> io::Result<Self> {
        Ok(Self {
            poller: Poller::new(config().polling_wait)?,
            ticker: AtomicUsize::new(0),
            sources: Mutex::new(Slab::new()),
            source_count: AtomicUsize::new(0),
            registrations: AtomicUsize::new(0),
            events: Mutex::new((Events::new(), Vec::new())),
            timers: Timers::new(),
            seat: Seat::new(),
            wait_end: WaitEnd::new(),
            epoch: Instant::now(),
            amphi_waiters: AtomicUsize::new(0),
            fallback_drives: AtomicBool::new(false),
            foreign: AtomicBool::new(false),
            fallback: Mutex::new(Fallback::default()),
        })
    }

    pub(crate) fn ticker(&self) -> usize {
        self.ticker.load(Ordering::SeqCst)
    }

    /// Registers an OS handle (with no interest yet).
    ///
    /// # Safety
    ///
    /// - `raw` stays open until [`remove_io`](Self::remove_io) has returned for the source.
    pub(crate) unsafe fn insert_io(&self, raw: sys::Raw) -> io::Result<Arc<Source>> {
        self.sources.with(|sources| {
            let entry = sources.vacant_entry();
            let generation = self.registrations.fetch_add(1, Ordering::Relaxed);
            let key = Key::new(entry.key(), generation)?;
            let source = Arc::new(Source::new(raw, key.0));
            // SAFETY: the caller keeps `raw` open until `remove_io`, which deletes it from the
            // poller first.
            unsafe { self.poller.add(raw, key.0)? };
            entry.insert(source.clone());
            self.source_count.store(sources.len(), Ordering::Relaxed);
            Ok(source)
        })
    }

    /// Deregisters a source; its handle may be closed afterwards.
    pub(crate) fn remove_io(&self, source: &Source) -> io::Result<()> {
        if source.is_stale() {
            // Registered with a forked parent's reactor, whose poller is the parent's too.
            return Ok(());
        }
        self.sources.with(|sources| {
            sources.try_remove(Key(source.key).index());
            self.source_count.store(sources.len(), Ordering::Relaxed);
            self.poller.delete(source.handle())
        })
    }

    /// Re-arms the poller for `source` (oneshot mode) with its current interest.
    fn arm(&self, source: &Source, read: bool, write: bool) -> io::Result<()> {
        self.poller.modify(source.handle(), source.key, read, write)
    }

    /// Makes sure some thread will drive: a registration with `waker` was just made from this
    /// thread.
    ///
    /// A thread inside `block_on` drives once its future is pending, so a registration of its own
    /// (with its `block_on`'s waker, or a waker of the task it runs) needs nobody else. One with
    /// another waker may come from a foreign `block_on` (`futures::executor::block_on`,
    /// `pollster`) that holds this thread inside the poll: with nobody else to drive, the
    /// fallback driver starts. (A combinator with wakers of its own, such as `FuturesUnordered`,
    /// looks the same: at worst the fallback starts, stands back for this thread once it is idle,
    /// and exits.)
    fn ensure_driver(&'static self, waker: &Waker) {
        let own = context::in_block_on() && (context::is_block_on_waker(waker) || task::is_running(waker));
        if !own && !self.foreign.load(Ordering::Relaxed) {
            self.foreign.store(true, Ordering::Relaxed);
        }
        if self.seat.attend_new_work() {
            return;
        }
        if !own {
            self.start_fallback();
        }
    }

    /// Wakes the futures waiting for `events`; returns how many it woke.
    fn process_events(&self, events: &Events, wakers: &mut Vec<Waker>) -> usize {
        let tick = self.ticker.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        self.sources.with(|sources| {
            for event in events.iter() {
                // An event taken from the poller before its source was deregistered (by another
                // thread, while this one came here) is the old source's, not the one registered
                // in its place since.
                let key = Key(event.key);
                if let Some(source) = sources.get(key.index()).filter(|s| s.key == key.0) {
                    source.react(self, event, tick, wakers);
                }
            }
        });
        let woke = wakers.len();
        for waker in wakers.drain(..) {
            waker.wake();
        }
        woke
    }

    /// Registers a timer; returns its id for [`remove_timer`](Self::remove_timer).
    pub(crate) fn insert_timer(&'static self, when: Instant, waker: &Waker) -> usize {
        let id = self.timers.insert(when, waker);
        if self.wait_end.interrupts(self.nanos(when)) {
            let _ = self.poller.notify();
        }
        self.ensure_driver(waker);
        id
    }

    /// Removes a timer; one armed before a `fork()` (with the parent's reactor) is left alone.
    pub(crate) fn remove_timer(&self, when: Instant, id: usize) {
        if self.timers.owns(id) {
            self.timers.remove(when, id);
        }
    }

    /// Whether the timer with this id was armed with this reactor (not a forked parent's): one
    /// that was not must be armed again to fire.
    pub(crate) fn owns_timer(&self, id: usize) -> bool {
        self.timers.owns(id)
    }
}

impl Driven for Reactor {
    fn get() -> Option<&'static Self> {
        REACTOR.get()
    }

    fn seat(&self) -> &Seat {
        &self.seat
    }

    fn wait_end(&self) -> &WaitEnd {
        &self.wait_end
    }

    fn amphi_waiters(&self) -> &AtomicUsize {
        &self.amphi_waiters
    }

    fn fallback_drives(&self) -> &AtomicBool {
        &self.fallback_drives
    }

    fn notify(&self) {
        // A failed notify means the poller is broken; the driver's wait will fail too.
        let _ = self.poller.notify();
    }

    fn has_work(&self) -> bool {
        self.timers.has_any() || self.has_sources()
    }

    fn has_sources(&self) -> bool {
        self.source_count.load(Ordering::Relaxed) > 0
    }

    fn unattended(&self) {
        if self.foreign.load(Ordering::Relaxed) {
            get().start_fallback();
        }
    }

    fn fire_timers(&self, now: Instant) -> Option<Instant> {
        self.timers.fire(now)
    }

    fn timers_pending(&self) -> bool {
        self.timers.has_pending_ops()
    }

    fn park(parker: &Arc<Parker>, until: Option<Instant>) -> Unparked {
        parker.park_deadline(until)
    }

    fn nanos(&self, at: Instant) -> u64 {
        WaitEnd::clamp(at.saturating_duration_since(self.epoch).as_nanos())
    }

    fn wait(&self, timeout: Option<Duration>, waited: impl FnOnce() -> bool) -> (bool, usize) {
        self.events.with(|(events, wakers)| {
            let result = self.poller.wait(events, timeout);
            let woken = waited();
            let woke = match result {
                Ok(_) => self.process_events(events, wakers),
                // EINTR and friends: loop; a persistent error must not spin a core.
                Err(err) if err.kind() != io::ErrorKind::Interrupted => {
                    std::thread::sleep(Duration::from_millis(1));
                    0
                }
                Err(_) => 0,
            };
            (woken, woke)
        })
    }
}
