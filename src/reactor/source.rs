//! A registered OS handle: per-direction wakers and readiness ticks.
//!
//! In oneshot mode an event disarms the handle, and it is re-armed only while some direction has
//! a waiter, so an idle socket costs no wake-ups. Edge-triggered registrations (Linux and
//! Android, see `poller.rs`) stay armed; a waiter that asks for readiness without an I/O attempt
//! re-arms them all the same, so that the poller reports the current level.
//!
//! Readiness is detected by ticks rather than flags: a waiter records the reactor's tick and the
//! direction's last event tick when it registers, and is ready once the direction's tick differs
//! from both, i.e. an event arrived in a batch processed after it registered. A waiter after a
//! failed I/O attempt also knows the reactor's tick before that attempt: only an event after it
//! counts, and with edge-triggered registrations any such event does, registered or not.
//!
//! Such a waiter also marks its direction *blocked* (`Source::blocked`, outside the lock): until
//! an event arrives, another attempt would fail the same way, so `poll_attempt` answers pending
//! without one. A reader polled several times between two events (hyper's dispatcher polls its
//! connection's read side up to four times per message) then costs one failed system call, not
//! one per poll, as with Tokio's cached readiness. A read from a stream socket that returns less
//! than it asked for marks the read side blocked too (`after_short_read`): the receive buffer is
//! empty, and the failed attempt is saved altogether. Unless the peer's FIN may have come with
//! the data (`Direction::closed`, from the poller's `read_closed`): the end of file behind a short
//! read brings no new event.

use alloc::vec::Vec;
use core::task::{Context, Poll, Waker};
use std::io;

use slab::Slab;

use super::Reactor;
use super::poller::Ready;
use crate::sync::{AtomicUsize, Mutex, Ordering};
use crate::sys;

/// Index of the read direction.
pub(crate) const READ: usize = 0;
/// Index of the write direction.
pub(crate) const WRITE: usize = 1;

/// One registered OS handle.
#[derive(Debug)]
pub(crate) struct Source {
    /// # Invariant
    /// Open while the source is registered (see `Reactor::sources`).
    raw: sys::Raw,
    /// Its key with the poller: its place in `Reactor::sources` and its generation (`mod.rs`'s
    /// `Key`).
    pub(super) key: usize,
    state: Mutex<[Direction; 2]>,
    /// Per direction: the reactor's ticker before an I/O attempt that would block, while no
    /// event has arrived since, or [`NOT_BLOCKED`]. Set and cleared under `state`'s lock; read
    /// without it by [`poll_attempt`](Source::poll_attempt), which confirms under the lock.
    blocked: [AtomicUsize; 2],
    /// `sys::forks()` when it was registered: in a child made by `fork()` after that, the source
    /// is the parent's reactor's, whose poller the parent still uses (see `per_process.rs`).
    forks: usize,
}

/// [`Source::blocked`] of a direction in which the last attempt may have succeeded.
const NOT_BLOCKED: usize = usize::MAX;

/// Where a waiter keeps its waker and the ticks it registered at.
pub(crate) enum Slot<'w> {
    /// The one waiter of `poll_readable` / `poll_writable` (and `AsyncRead` / `AsyncWrite`),
    /// kept in the direction itself.
    Single,
    /// A `readable()` / `writable()` future, which keeps its own ticks and slab index.
    Many { ticks: &'w mut Option<(usize, usize)>, index: &'w mut Option<usize> },
}

/// What [`Source::poll_ready`] did under the lock.
enum Registered {
    /// An event arrived: ready.
    Ready,
    /// Registered as the direction's first waiter: the handle was armed.
    First,
    /// Registered (or already was) beside other waiters.
    Again,
}

#[derive(Debug, Default)]
struct Direction {
    /// Tick of the last event in this direction.
    tick: usize,
    /// `(reactor tick, direction tick)` when `waker` registered.
    ticks: Option<(usize, usize)>,
    /// The waiter of `poll_readable` / `poll_writable` (and `AsyncRead` / `AsyncWrite`).
    waker: Option<Waker>,
    /// Waiters of `readable()` / `writable()` futures, which may be many at once.
    wakers: Slab<Option<Waker>>,
    /// The read direction only: an event said the peer may have closed its side (see
    /// `poller::Ready::read_closed`). For good: the end of file stays.
    closed: bool,
}

impl Direction {
    /// Whether an event arrived in a batch processed after a waiter registered at `ticks` (see
    /// the module documentation) and, with `tried_at`, after the caller's last I/O attempt.
    fn has_new_event(&self, ticks: Option<(usize, usize)>, tried_at: Option<usize>) -> bool {
        let Some((reactor_tick, own_tick)) = ticks else { return false };
        let fresh = tried_at.is_none_or(|t| self.has_event_since(t));
        self.tick != reactor_tick && self.tick != own_tick && fresh
    }

    /// Whether the last event came in a batch processed after the reactor's ticker read `t`.
    fn has_event_since(&self, t: usize) -> bool {
        // Wrapping: `tick` is newer than `t` if it is less than half the range ahead.
        self.tick.wrapping_sub(t).wrapping_sub(1) < usize::MAX / 2
    }

    fn is_empty(&self) -> bool {
        self.waker.is_none() && self.wakers.iter().all(|(_, w)| w.is_none())
    }

    fn drain_into(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.waker.take());
        out.extend(self.wakers.iter_mut().filter_map(|(_, w)| w.take()));
    }
}

impl Source {
    pub(super) fn new(raw: sys::Raw, key: usize) -> Self {
        let blocked = [AtomicUsize::new(NOT_BLOCKED), AtomicUsize::new(NOT_BLOCKED)];
        Self { raw, key, state: Mutex::new(Default::default()), blocked, forks: sys::forks() }
    }

    /// Whether this process is a child made by `fork()` after the source was registered: it must
    /// not touch the source's state (a parent thread may have held its lock at the fork) nor its
    /// registration (the parent's). Waiting on it is an error; dropping it leaves both alone.
    pub(crate) fn is_stale(&self) -> bool {
        self.forks != sys::forks()
    }

    pub(super) fn handle(&self) -> sys::Borrowed<'_> {
        // SAFETY: by the invariant of `raw`, the handle is open while the source is registered,
        // and every caller (the driver under the sources lock, or the owning `Async` through
        // `&self`) only uses it while it is.
        unsafe { sys::borrow_raw(self.raw) }
    }

    /// Applies one event; collects the wakers to call after the locks are released.
    pub(super) fn react(&self, reactor: &Reactor, event: Ready, tick: usize, wakers: &mut Vec<Waker>) {
        self.state.with(|state| {
            state[READ].closed |= event.read_closed;
            for (dir, happened) in [(READ, event.readable), (WRITE, event.writable)] {
                if happened {
                    state[dir].tick = tick;
                    state[dir].drain_into(wakers);
                    self.blocked[dir].store(NOT_BLOCKED, Ordering::Release);
                }
            }
            let (read, write) = (!state[READ].is_empty(), !state[WRITE].is_empty());
            // Edge-triggered registrations stay armed.
            if (read || write) && !reactor.poller.is_edge() {
                // A failure surfaces to the waiter as a hang-free error on its next poll.
                let _ = reactor.arm(self, read, write);
            }
        });
    }

    /// Polls whether an I/O attempt in `dir` may succeed: pending, with `cx`'s waker registered,
    /// while the last attempt would block and no event has arrived since (see the module
    /// documentation); ready otherwise. Only for the one waiter of [`Slot::Single`].
    pub(crate) fn poll_attempt(
        &self,
        reactor: &'static Reactor,
        dir: usize,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_stale() {
            return Poll::Ready(Err(registered_before_fork()));
        }
        match self.blocked[dir].load(Ordering::Acquire) {
            NOT_BLOCKED => Poll::Ready(Ok(())),
            tried_at => self.poll_ready(reactor, dir, cx, Some(tried_at), Slot::Single),
        }
    }

    /// Notes a read that returned fewer bytes than it was given (and more than none) from a handle
    /// such a read empties (`IoSafe::SHORT_READ_EMPTIES`: a stream socket), attempted when the
    /// reactor's ticker read `tried_at`. The next read would block, so the read direction counts
    /// as blocked, as after a `WouldBlock`, and the next poll waits for an event without a failed
    /// system call (Tokio clears its cached readiness the same way; hyper reads each small
    /// message into a buffer of kilobytes). Not once the peer may have closed its side: the end
    /// of file behind the data brings no further event (Tokio keeps its closed readiness for the
    /// same reason).
    pub(crate) fn after_short_read(&self, tried_at: usize) {
        if self.is_stale() {
            return;
        }
        self.state.with(|state| {
            // An event since the attempt may have brought more: then the read is not blocked.
            let read = &state[READ];
            if !read.closed && !read.has_event_since(tried_at) {
                self.blocked[READ].store(tried_at.min(NOT_BLOCKED - 1), Ordering::Release);
            }
        });
    }

    /// Polls readiness in `dir`: ready once an event arrived in a batch processed after the
    /// waiter registered (and, with `tried_at`, after the caller's last I/O attempt); otherwise
    /// registers `cx`'s waker in the waiter's `slot` and arms the handle if it was the first.
    ///
    /// `tried_at`: the reactor's ticker before the caller's I/O attempt that would block; an
    /// event no newer than that is stale (the attempt came after it) and does not count.
    pub(crate) fn poll_ready(
        &self,
        reactor: &'static Reactor,
        dir: usize,
        cx: &mut Context<'_>,
        tried_at: Option<usize>,
        slot: Slot<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_stale() {
            return Poll::Ready(Err(registered_before_fork()));
        }
        let mut replaced = None;
        let registered = self.state.with(|state| {
            let d = &mut state[dir];
            match slot {
                Slot::Single => {
                    // After a failed attempt, an armed-for-good registration needs no re-arm: any
                    // event since the attempt may have brought what it missed.
                    let after_attempt = tried_at.filter(|_| reactor.poller.is_edge());
                    let ready = match after_attempt {
                        Some(t) => d.has_event_since(t),
                        None => d.has_new_event(d.ticks, tried_at),
                    };
                    if ready {
                        // Consumed: the next poll waits for a newer event.
                        d.ticks = None;
                        self.blocked[dir].store(NOT_BLOCKED, Ordering::Release);
                        return Ok(Registered::Ready);
                    }
                    if let Some(t) = tried_at {
                        // `NOT_BLOCKED` is taken: an earlier tick only lets more events count.
                        self.blocked[dir].store(t.min(NOT_BLOCKED - 1), Ordering::Release);
                    }
                    let was_empty = d.is_empty();
                    if let Some(w) = d.waker.take() {
                        if w.will_wake(cx.waker()) {
                            d.waker = Some(w);
                            return Ok(Registered::Again);
                        }
                        replaced = Some(w);
                    }
                    d.waker = Some(cx.waker().clone());
                    d.ticks = Some((reactor.ticker(), d.tick));
                    if after_attempt.is_some() {
                        return Ok(if was_empty { Registered::First } else { Registered::Again });
                    }
                    self.arm_first(reactor, state, was_empty)
                }
                Slot::Many { ticks, index } => {
                    // Not consumed: a future that was ready stays ready if polled again.
                    if d.has_new_event(*ticks, tried_at) {
                        return Ok(Registered::Ready);
                    }
                    let was_empty = d.is_empty();
                    let i = *index.get_or_insert_with(|| d.wakers.insert(None));
                    d.wakers[i] = Some(cx.waker().clone());
                    *ticks = Some((reactor.ticker(), d.tick));
                    self.arm_first(reactor, state, was_empty)
                }
            }
        });
        // Another task was waiting here; it must not sleep forever now that it is replaced.
        if let Some(w) = replaced {
            w.wake();
        }
        match registered? {
            Registered::Ready => Poll::Ready(Ok(())),
            Registered::First => {
                reactor.ensure_driver(cx.waker());
                Poll::Pending
            }
            Registered::Again => Poll::Pending,
        }
    }

    /// Arms the handle with its current interest if the direction had no waiter before.
    fn arm_first(
        &self,
        reactor: &Reactor,
        state: &[Direction; 2],
        was_empty: bool,
    ) -> io::Result<Registered> {
        if !was_empty {
            return Ok(Registered::Again);
        }
        reactor.arm(self, !state[READ].is_empty(), !state[WRITE].is_empty())?;
        Ok(Registered::First)
    }

    /// Frees the slot of a dropped `readable()` / `writable()` future.
    pub(crate) fn drop_ready(&self, dir: usize, index: usize) {
        if self.is_stale() {
            return;
        }
        self.state.with(|state| {
            state[dir].wakers.try_remove(index);
        });
    }
}

/// The error of a wait on a source registered before this process was forked from its parent.
fn registered_before_fork() -> io::Error {
    io::Error::other(
        "amphi: this `Async` was registered before fork(): it belongs to the parent's reactor; make a new one in the child",
    )
}
