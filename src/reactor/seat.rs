//! Who drives the reactor: the driver's seat, the idle threads waiting to take it, and the watch
//! over a seat kept by a thread that is away.
//!
//! An idle thread takes the seat and drives, or registers its waker as a *candidate* and sleeps:
//! ```text
//!  idle ──take──▶ driver ──woken──▶ keeps the seat, runs what it woke, comes back ──▶ driver
//!    │                └──leaves for good, work waits──▶ seat free, wakes a candidate
//!    └──seat taken──▶ candidate ──woken──▶ back to its future; still pending: idle again
//!                         ├──picked──▶ keeps the seat for itself, back to its future first
//!                         └──watcher: seat kept, nobody came back for a whole watch──▶ driver
//! ```
//! **Keeping.** A driver woken for its own work (a task its runner will run, its own future) keeps
//! the seat instead of waking a candidate: it will be back in a moment, and the events that come
//! meanwhile are most likely for the tasks it runs, which it then runs on its own thread. Waking
//! a candidate on every such exit cost a thread switch per event. A kept seat may be taken by
//! its keeper, by any thread that runs executor tasks (it runs what it wakes), and by the
//! watcher; a thread that only waits for its own future (a plain `block_on`) takes a free seat
//! only, and hands it to a waiting runner when the events it drives wake other threads.
//!
//! **The watch.** A keeper may not come back soon: its task may block its thread. One candidate,
//! the *watcher*, sleeps with a timeout while the seat is kept and takes it over when no thread
//! took it back during a whole watch period, so work waiting in the poller is late by at most
//! two periods, never stranded. While somebody drives, the watcher sleeps without a timeout and
//! the next keeper wakes it.
//!
//! The orderings are store-fence-load pairs: a leaving driver stores the seat, fences, then looks
//! for work (or the watcher); a registration adds its work, fences, then looks at the seat;
//! a watcher going to sleep without a timeout stores that, fences, then looks at the seat.
//! A candidate tries the seat again after registering, so a driver that left between its two
//! tries is not missed.
//!
//! Driving, sleeping and what counts as work are the caller's, so the loom models
//! (`tests/loom.rs`) run this file unchanged.

#![forbid(unsafe_code)]

use core::task::Waker;

use slab::Slab;

use crate::sync::{AtomicUsize, Mutex, Ordering, fence};

/// `Seat::state`: nobody drives or means to.
const FREE: usize = 0;
/// `Seat::state`: a thread drives.
const DRIVEN: usize = 1;
/// `Seat::state`: the last driver left for a moment, meaning to come back.
const KEPT: usize = 2;

/// `Seat::watch` (low bits): no watcher.
const NO_WATCH: usize = 0;
/// `Seat::watch` (low bits): the watcher sleeps with a timeout.
const WATCHING: usize = 1;
/// `Seat::watch` (low bits): the watcher sleeps until a keeper wakes it.
const DEEP: usize = 2;
/// `Seat::watch`: the state's bits; the rest counts watchers, so that a stale one cannot change a
/// newer one's state.
const STATE: usize = 0b11;

/// What the reactor around the election provides.
pub(crate) trait Host {
    /// Whether sources or timers are registered.
    fn has_work(&self) -> bool;
    /// Work waits, nobody drives, and no idle thread was there to wake.
    fn unattended(&self);
}

/// The idle thread calling [`Seat::wait_turn`].
#[derive(Clone, Copy)]
pub(crate) struct Idler<'w> {
    pub(crate) waker: &'w Waker,
    /// Runs an executor's tasks while it waits: whatever it wakes, it runs.
    pub(crate) runner: bool,
    /// Kept the seat when it last left it.
    pub(crate) keeper: bool,
    /// May become the watcher (not the fallback driver, which is there for foreign futures only
    /// and stands back for any `amphi` thread).
    pub(crate) watcher: bool,
}

/// How a sleep of [`Seat::wait_turn`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slept {
    /// The thread's waker was called.
    Woken,
    /// The seat woke the thread (it was picked, or called to watch); its own waker was not
    /// called.
    Nudged,
    /// The caller's own deadline passed.
    Deadline,
    /// A watch period passed (only a sleep asked to watch ends so).
    Watch,
}

/// How [`Seat::wait_turn`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Turn {
    /// The thread's waker was called (`drive`'s result, if it drove).
    pub(crate) woken: bool,
    /// The thread keeps the seat: it must come back, or call [`Seat::unkeep`].
    pub(crate) keeps: bool,
}

/// An idle thread sleeping while another drives.
struct Candidate {
    /// `None` once picked to drive.
    waker: Option<Waker>,
    runner: bool,
}

/// The driver's seat, the candidates and the watch.
pub(crate) struct Seat {
    /// [`FREE`], [`DRIVEN`] or [`KEPT`].
    state: AtomicUsize,
    /// Counts the times the seat was taken: the watcher's measure of a keeper coming back.
    taken: AtomicUsize,
    /// Runners among the candidates.
    runners_waiting: AtomicUsize,
    /// The watcher's state ([`NO_WATCH`], [`WATCHING`], [`DEEP`]) and, above [`STATE`], its
    /// number.
    watch: AtomicUsize,
    /// The watcher's candidate key, while there is one.
    watcher: Mutex<Option<usize>>,
    /// Idle threads sleeping while another drives.
    ///
    /// # Invariant
    /// An entry stays until the thread that inserted it removes it: a picked candidate's key is
    /// not reused for another candidate while the first may still remove it, which would delete
    /// the other's entry (leaving it asleep, never to be picked) and hide the pick.
    candidates: Mutex<Slab<Candidate>>,
}

impl Seat {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(FREE),
            taken: AtomicUsize::new(0),
            runners_waiting: AtomicUsize::new(0),
            watch: AtomicUsize::new(NO_WATCH),
            watcher: Mutex::new(None),
            candidates: Mutex::new(Slab::new()),
        }
    }

    /// Whether a thread drives.
    pub(crate) fn is_driven(&self) -> bool {
        self.state.load(Ordering::Relaxed) == DRIVEN
    }

    /// Whether a runner waits to drive: a driver that runs no executor and keeps waking other
    /// threads should leave the seat to it, since the runner runs the tasks it wakes.
    pub(crate) fn should_stand_back(&self) -> bool {
        self.runners_waiting.load(Ordering::SeqCst) > 0
    }

    /// The idle step of a thread.
    ///
    /// If it may take the seat, takes it and returns `drive()`'s result, and `drive` must end
    /// with [`release`](Self::release). Otherwise sleeps as a candidate (`sleep(true)`: with a
    /// watch timeout) until woken, picked, or its deadline; a picked candidate keeps the seat for
    /// itself and goes back to its own future first.
    pub(crate) fn wait_turn(
        &self,
        host: &impl Host,
        me: Idler<'_>,
        drive: impl FnOnce() -> bool,
        mut sleep: impl FnMut(bool) -> Slept,
    ) -> Turn {
        if self.try_take(me) {
            return Turn { woken: drive(), keeps: false };
        }
        let key = self
            .candidates
            .with(|c| c.insert(Candidate { waker: Some(me.waker.clone()), runner: me.runner }));
        if me.runner {
            self.runners_waiting.fetch_add(1, Ordering::SeqCst);
        }
        // The driver may have left between `try_take` and the insertion, without seeing us.
        if self.try_take(me) {
            self.withdraw(key, me.runner);
            return Turn { woken: drive(), keeps: false };
        }
        let watch = if me.watcher { self.claim_watch(key) } else { None };
        let mut timed = watch.is_some();
        // The seat and `taken` at the watcher's previous look.
        let mut last = None;
        let woken = loop {
            match sleep(timed) {
                Slept::Woken => break true,
                Slept::Deadline | Slept::Nudged => break false,
                Slept::Watch => {}
            }
            let Some(w) = watch else { continue };
            let seat = self.state.load(Ordering::SeqCst);
            let now = Some((seat, self.taken.load(Ordering::SeqCst)));
            let unchanged = last == now;
            last = now;
            let take = match seat {
                // The driver waited in the poller for a whole period: sleep until a keeper
                // wakes this watcher. If a keeper revoked the watch meanwhile, it woke this
                // thread: the next sleep ends at once.
                DRIVEN => {
                    if unchanged {
                        timed = !self.watch_deeply(w);
                    }
                    false
                }
                // Nobody came back for a whole period: the keeper is stuck in a task.
                KEPT => unchanged && host.has_work() && self.take(KEPT),
                _ => host.has_work() && self.take(FREE),
            };
            if take {
                self.resign(w);
                self.withdraw(key, me.runner);
                return Turn { woken: drive(), keeps: false };
            }
        };
        // A picked candidate was handed the seat as kept: it goes back to its own future first
        // and, if that is done, never comes back, giving the seat up in `unkeep`.
        let keeps = self.withdraw(key, me.runner);
        if let Some(w) = watch {
            self.resign(w);
            // Pairs with the fence in `release`: a keeper that saw this watcher relied on it.
            // This thread may be gone a while (its future may block it), so another watches.
            fence(Ordering::SeqCst);
            if self.state.load(Ordering::SeqCst) == KEPT {
                let _ = self.call_watcher();
            }
        }
        Turn { woken, keeps }
    }

    /// Takes the seat if this thread may.
    fn try_take(&self, me: Idler<'_>) -> bool {
        self.take(FREE) || ((me.runner || me.keeper) && self.take(KEPT))
    }

    /// Takes the seat if it is `from`.
    fn take(&self, from: usize) -> bool {
        if self.state.compare_exchange(from, DRIVEN, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return false;
        }
        self.taken.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Removes candidate `key`; returns whether it had been picked.
    fn withdraw(&self, key: usize, runner: bool) -> bool {
        if runner {
            self.runners_waiting.fetch_sub(1, Ordering::SeqCst);
        }
        self.candidates.with(|c| c.try_remove(key).is_some_and(|c| c.waker.is_none()))
    }

    /// Makes candidate `key` the watcher if there is none; returns its `watch` word.
    fn claim_watch(&self, key: usize) -> Option<usize> {
        let current = self.watch.load(Ordering::SeqCst);
        if current & STATE != NO_WATCH {
            return None;
        }
        let mine = (current & !STATE).wrapping_add(STATE + 1) | WATCHING;
        self.watcher.with(|watcher| {
            self.watch.compare_exchange(current, mine, Ordering::SeqCst, Ordering::SeqCst).ok()?;
            *watcher = Some(key);
            Some(mine)
        })
    }

    /// The watcher `w` sleeps without a timeout from now on, unless the seat was kept meanwhile;
    /// returns whether it does.
    fn watch_deeply(&self, w: usize) -> bool {
        let deep = (w & !STATE) | DEEP;
        if self.watch.compare_exchange(w, deep, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return false;
        }
        // Pairs with the fence in `release`: a keeper sees the deep sleep and wakes this
        // watcher, or this sees the seat kept and goes on watching.
        fence(Ordering::SeqCst);
        if self.state.load(Ordering::SeqCst) == DRIVEN {
            return true;
        }
        // Failing means a keeper revoked the watch: it woke this thread.
        let _ = self.watch.compare_exchange(deep, w, Ordering::SeqCst, Ordering::SeqCst);
        false
    }

    /// Gives up watch `w` (in any of its states), unless a keeper revoked it already.
    fn resign(&self, w: usize) {
        self.watcher.with(|watcher| {
            let base = w & !STATE;
            for state in [WATCHING, DEEP] {
                if self.watch.compare_exchange(base | state, base, Ordering::SeqCst, Ordering::SeqCst).is_ok()
                {
                    *watcher = None;
                    return;
                }
            }
        });
    }

    /// Leaves the seat. With `keep`, the caller means to come back in a moment (it was woken for
    /// its own work), and must then come back or call [`unkeep`](Self::unkeep).
    pub(crate) fn release(&self, host: &impl Host, keep: bool) {
        // Nobody else changes a driven seat, so a driver that finds it otherwise drove without
        // taking it, beside whoever did (checked in the tests and the loom models).
        if cfg!(any(debug_assertions, loom)) {
            assert_eq!(
                self.state.load(Ordering::Relaxed),
                DRIVEN,
                "the seat was released by a thread that did not take it"
            );
        }
        if keep {
            self.state.store(KEPT, Ordering::SeqCst);
            // Pairs with the fences in `watch_deeply` and after `resign`.
            fence(Ordering::SeqCst);
            if self.watch.load(Ordering::SeqCst) & STATE != WATCHING && host.has_work() {
                let _ = self.call_watcher();
            }
            return;
        }
        self.state.store(FREE, Ordering::SeqCst);
        // Pairs with the fence in `attend_new_work`: either we see its work, or it sees us gone.
        fence(Ordering::SeqCst);
        self.pass_on(host);
    }

    /// Gives up a seat this thread kept and will not come back to, and finds a new driver if
    /// work waits.
    pub(crate) fn unkeep(&self, host: &impl Host) {
        if self.state.compare_exchange(KEPT, FREE, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            // Pairs with the fence in `attend_new_work`.
            fence(Ordering::SeqCst);
            self.pass_on(host);
        }
    }

    /// Makes sure someone watches the kept seat: wakes the watcher sleeping deeply (revoking its
    /// watch), or, with no watcher, a candidate that claims the watch when it sleeps again.
    /// Returns `false` if there was nobody to wake.
    fn call_watcher(&self) -> bool {
        let current = self.watch.load(Ordering::SeqCst);
        let waker = match current & STATE {
            WATCHING => return true,
            DEEP => self.watcher.with(|watcher| {
                self.watch
                    .compare_exchange(current, current & !STATE, Ordering::SeqCst, Ordering::SeqCst)
                    .ok()?;
                let key = watcher.take()?;
                self.candidates.with(|c| c.get(key).and_then(|c| c.waker.clone()))
            }),
            // Preferably one that does not run tasks: woken, it will not take the seat.
            _ => self.candidates.with(|c| {
                let mut sleeping = c.iter().filter_map(|(_, c)| c.waker.as_ref().map(|w| (c.runner, w)));
                let first = sleeping.next()?;
                Some(sleeping.find(|(runner, _)| !runner).unwrap_or(first).1.clone())
            }),
        };
        match waker {
            Some(waker) => {
                waker.wake();
                true
            }
            // A deep watcher that was picked to drive meanwhile was woken by the pick.
            None => current & STATE == DEEP,
        }
    }

    /// Hands the seat to a candidate if work waits and the seat is free; calls the host's
    /// `unattended` if nobody is there to take it. The caller has stored what the other side
    /// looks at, then fenced.
    pub(crate) fn pass_on(&self, host: &impl Host) {
        if self.state.load(Ordering::SeqCst) == FREE && host.has_work() && !self.hand_over() {
            host.unattended();
        }
    }

    /// Makes sure a thread drives work the caller has just registered; returns `false` if nobody
    /// drives or will, and no candidate was there to wake.
    pub(crate) fn attend_new_work(&self) -> bool {
        // Pairs with the fences in `release` and `unkeep`.
        fence(Ordering::SeqCst);
        match self.state.load(Ordering::SeqCst) {
            DRIVEN => true,
            KEPT => self.call_watcher(),
            _ => self.hand_over(),
        }
    }

    /// Hands the free seat to one candidate, a runner if there is one: keeps it for that
    /// candidate (no thread that runs no tasks takes it meanwhile) and wakes it. Returns `false`
    /// if there was no candidate.
    fn hand_over(&self) -> bool {
        let picked = self.candidates.with(|c| {
            let key = c
                .iter()
                .filter(|(_, c)| c.waker.is_some())
                .min_by_key(|(_, c)| !c.runner)
                .map(|(key, _)| key)?;
            // Taken meanwhile: the taker drives, nobody needs waking.
            if self.state.compare_exchange(FREE, KEPT, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                return Some(None);
            }
            Some(c[key].waker.take())
        });
        match picked {
            Some(Some(waker)) => {
                waker.wake();
                true
            }
            Some(None) => true,
            None => false,
        }
    }
}
