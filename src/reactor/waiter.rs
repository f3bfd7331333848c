//! A thread's place in the reactor while its idle loop lasts ([`Waiter`]), and the idle step it
//! takes: wait for the driver's seat (`seat.rs`), drive while it holds it, keep it when woken for
//! its own work, and give a kept seat up when the loop ends.
//!
//! Written against [`Driven`], the reactor's side of it (its poller, timers and counts), so that
//! the loom models (`tests/loom.rs`) run this file unchanged over a modelled poller.

#![forbid(unsafe_code)]

use core::time::Duration;
use std::time::Instant;

use super::seat::{Host, Idler, Seat, Slept};
use super::wait_end::{FOREVER, WaitEnd};
use crate::context;
use crate::park::{Parker, Unparked};
use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering, fence};

/// Waits shorter than this poll for events without sleeping.
const SHORT_WAIT: Duration = Duration::from_micros(50);

/// How often the watcher looks at a kept driver's seat; a keeper stuck in a task for two of these
/// loses it (see `seat.rs`).
const WATCH: Duration = Duration::from_millis(1);

/// What the idle step needs of the reactor it drives.
pub(crate) trait Driven: Sync + 'static {
    /// The process's reactor, if it was created.
    fn get() -> Option<&'static Self>;
    /// The driver's seat and the idle threads waiting to take it.
    fn seat(&self) -> &Seat;
    /// The end of the driver's current wait.
    fn wait_end(&self) -> &WaitEnd;
    /// Threads in an idle step (`Waiter::idle`), other than the fallback driver.
    fn amphi_waiters(&self) -> &AtomicUsize;
    /// Set while the fallback driver drives or tries to.
    fn fallback_drives(&self) -> &AtomicBool;
    /// Interrupts the driver's wait in the poller.
    fn notify(&self);
    /// Whether sources or timers are registered.
    fn has_work(&self) -> bool;
    /// Whether I/O sources are registered: events may wait in the poller.
    fn has_sources(&self) -> bool;
    /// Work waits and nobody drives or waits to: starts the fallback driver if foreign futures
    /// wait (an `amphi` thread drives its own once idle).
    fn unattended(&self);
    /// Fires the timers due at `now`; returns when the next one is due.
    fn fire_timers(&self, now: Instant) -> Option<Instant>;
    /// Whether timers were inserted or removed since the last [`fire_timers`](Self::fire_timers).
    fn timers_pending(&self) -> bool;
    /// Parks the calling thread's `parker` until it is woken or nudged, or `until` passes; also
    /// where no reactor was created. (Time is the reactor's, so that a model can stand in for it.)
    fn park(parker: &Arc<Parker>, until: Option<Instant>) -> Unparked;
    /// `at` in the wait end's unit (`wait_end.rs`).
    fn nanos(&self, at: Instant) -> u64;
    /// Waits in the poller for events, up to `timeout` (none: until notified); calls `waited` as
    /// soon as the wait returns, then wakes the futures the events are for. Returns what
    /// `waited` returned, and how many futures it woke.
    fn wait(&self, timeout: Option<Duration>, waited: impl FnOnce() -> bool) -> (bool, usize);
}

/// Who takes an idle step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A thread in `block_on`; a `runner` runs executor tasks while it waits.
    Amphi { runner: bool },
    /// The fallback driver thread.
    Fallback,
}

/// A thread's place in the reactor `D` while its idle loop lasts: built where the loop starts
/// (`idle_loop::run_until`), handed to each of its idle steps, and dropped when the loop ends,
/// however it ends: a seat its thread kept, meaning to come back, is then given up, so that
/// someone else drives.
///
/// Whether the thread keeps the seat is the thread's (`context::is_keeper`), not this value's: a
/// nested `block_on` on the keeper's thread (a task it runs calls one) is the keeper coming back,
/// and takes the kept seat at once with a `Waiter` of its own.
#[derive(Debug)]
pub(crate) struct Waiter<D: Driven> {
    role: Role,
    _reactor: core::marker::PhantomData<fn() -> D>,
}

impl<D: Driven> Waiter<D> {
    const fn new(role: Role) -> Self {
        Self { role, _reactor: core::marker::PhantomData }
    }

    /// The waiter of a runner's idle loop: it runs executor tasks while it waits, so whatever
    /// the events it drives wake, it runs.
    pub(crate) const fn runner() -> Self {
        Self::new(Role::Amphi { runner: true })
    }

    /// The waiter of an idle loop that polls only its own future (a plain `block_on`).
    pub(crate) const fn caller() -> Self {
        Self::new(Role::Amphi { runner: false })
    }

    /// The fallback driver thread's (`fallback.rs`): not counted among the `amphi` threads that
    /// wait, for which it stands back.
    pub(crate) const fn fallback() -> Self {
        Self::new(Role::Fallback)
    }

    /// An idle step: drives the reactor or parks until woken or `deadline`.
    ///
    /// Returns whether the thread was woken. Costs one atomic load more than a plain park in a
    /// program that never created the reactor.
    pub(crate) fn idle(&self, parker: &Arc<Parker>, deadline: Option<Instant>) -> bool {
        match D::get() {
            None => D::park(parker, deadline) == Unparked::Woken,
            Some(reactor) if self.role == Role::Fallback => step(reactor, parker, deadline, self.role),
            Some(reactor) => {
                reactor.amphi_waiters().fetch_add(1, Ordering::SeqCst);
                // Pairs with `fallback_main`: either the fallback driver sees this thread idle
                // before it waits, or this sees it driving and interrupts its wait; it then
                // stands back.
                if reactor.fallback_drives().load(Ordering::SeqCst) {
                    reactor.notify();
                }
                let woken = step(reactor, parker, deadline, self.role);
                if reactor.amphi_waiters().fetch_sub(1, Ordering::SeqCst) == 1 {
                    // The fallback driver stands back while an `amphi` thread is idle, leaving
                    // the seat free for it; the thread may have been ending its step already.
                    // Pairs with the fence of the fallback's release: either the fallback, back
                    // in `fallback_main`, sees no thread idle and drives on, or this sees the
                    // seat free and passes it on (to a candidate, or calls the fallback back).
                    fence(Ordering::SeqCst);
                    reactor.seat().pass_on(&Attended { reactor, role: self.role });
                }
                woken
            }
        }
    }
}

impl<D: Driven> Drop for Waiter<D> {
    fn drop(&mut self) {
        if context::take_keeper() {
            if let Some(reactor) = D::get() {
                reactor.seat().unkeep(&Attended { reactor, role: self.role });
            }
        }
    }
}

/// The idle step of an `amphi` thread, or of the fallback driver, which stands back as soon as
/// an `amphi` thread is idle.
fn step<D: Driven>(reactor: &D, parker: &Arc<Parker>, deadline: Option<Instant>, role: Role) -> bool {
    let host = Attended { reactor, role };
    // The seat wakes its candidates with a nudge: being picked or called to watch is not a
    // wake-up of the thread's future, which is then not polled for it.
    let nudge = Parker::nudge_waker(parker);
    let me = Idler {
        waker: &nudge,
        runner: role == Role::Amphi { runner: true },
        // The fallback may take a kept seat: it drives only while no `amphi` thread is idle,
        // so the keeper is away (its thread held by a task or a foreign `block_on`), and it
        // stands back for the keeper as soon as that is idle again.
        keeper: context::is_keeper() || role == Role::Fallback,
        watcher: role != Role::Fallback,
    };
    let sleep = |watch: bool| {
        let until = match watch {
            true => {
                let look = Instant::now() + WATCH;
                Some(deadline.map_or(look, |d| d.min(look)))
            }
            false => deadline,
        };
        match D::park(parker, until) {
            Unparked::Woken => Slept::Woken,
            Unparked::Nudged => Slept::Nudged,
            Unparked::TimedOut if deadline.is_some_and(|d| Instant::now() >= d) => Slept::Deadline,
            Unparked::TimedOut => Slept::Watch,
        }
    };
    let turn = reactor.seat().wait_turn(&host, me, || drive(reactor, parker, deadline, role), sleep);
    if turn.keeps {
        if role == Role::Fallback {
            // The fallback driver keeps nothing: it may stand back or exit next.
            reactor.seat().unkeep(&host);
        } else {
            context::set_keeper(true);
        }
    }
    turn.woken
}

/// Drives until `parker` is woken or `deadline` passes; the caller holds the driver's seat.
fn drive<D: Driven>(reactor: &D, parker: &Parker, deadline: Option<Instant>, role: Role) -> bool {
    // Taken: whatever this thread kept, it is back.
    context::set_keeper(false);
    let mut woke_others = false;
    let woken = loop {
        if role == Role::Fallback && reactor.amphi_waiters().load(Ordering::SeqCst) > 0 {
            break false;
        }
        let now = Instant::now();
        let next_timer = reactor.fire_timers(now);
        if deadline.is_some_and(|d| now >= d) {
            // Consume a wake-up that raced with the deadline.
            break !parker.begin_driving() || parker.end_driving();
        }
        let until = match (deadline, next_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if !parker.begin_driving() {
            // Woken before it waited: most often a runner between two batches. It takes the
            // events that are ready without waiting, so that the tasks they wake join its next
            // batch instead of waiting until it runs dry (and another runner is woken for them
            // meanwhile). Tokio's busy worker polls its driver so every 61 tasks; here it is once
            // a batch of up to 64, and only while I/O sources are registered.
            if role == (Role::Amphi { runner: true }) && reactor.has_sources() {
                reactor.wait(Some(Duration::ZERO), || true);
            }
            break true;
        }
        // The last events woke other threads only, and a runner waits: it would run what
        // they woke on its own thread, where this one wakes a thread per event. Hand it the
        // seat.
        if woke_others && role == (Role::Amphi { runner: false }) && reactor.seat().should_stand_back() {
            break parker.end_driving();
        }
        // A timer queued before this point is seen here, one queued after sees the wait's
        // end and notifies (`wait_end.rs`).
        reactor.wait_end().announce(until.map_or(FOREVER, |u| reactor.nanos(u)));
        if reactor.timers_pending() {
            reactor.wait_end().over();
            if parker.end_driving() {
                break true;
            }
            continue;
        }
        // Arming the OS timer for a very short wait costs more than the wait itself (a
        // virtual machine exit on VMs) and wakes late: poll without sleeping instead, and
        // come back round until the deadline.
        let timeout = until
            .map(|u| u.saturating_duration_since(now))
            .map(|t| if t < SHORT_WAIT { Duration::ZERO } else { t });
        let (woken, woke) = reactor.wait(timeout, || {
            reactor.wait_end().over();
            parker.end_driving()
        });
        if woken {
            break true;
        }
        woke_others = woke > 0;
    };
    // Woken for its own work, an `amphi` thread keeps the seat: it will be back in a moment.
    let keep = woken && role != Role::Fallback;
    reactor.seat().release(&Attended { reactor, role }, keep);
    if keep {
        context::set_keeper(true);
    }
    woken
}

/// The reactor as the seat sees it from one thread's idle step.
struct Attended<'r, D> {
    reactor: &'r D,
    role: Role,
}

impl<D: Driven> Host for Attended<'_, D> {
    fn has_work(&self) -> bool {
        self.reactor.has_work()
    }

    /// Work waits and no `amphi` thread drives or waits to: `block_on` threads drive their own
    /// futures' sources once idle, so only foreign futures need the fallback. On the fallback
    /// thread itself nothing is started: it loops back in `fallback_main`, which looks again.
    fn unattended(&self) {
        if self.role != Role::Fallback {
            self.reactor.unattended();
        }
    }
}
