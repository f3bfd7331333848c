//! A registered OS handle: per-direction wakers and readiness ticks.
//!
//! The poller runs in oneshot mode: an event disarms the handle, and it is re-armed only
//! while some direction has a waiter, so an idle socket costs no wake-ups.
//!
//! Readiness is detected by ticks rather than flags: a waiter records the reactor's tick and the
//! direction's last event tick when it registers, and is ready once the direction's tick differs
//! from both, i.e. an event arrived in a batch processed after it registered.

use alloc::vec::Vec;
use core::task::{Context, Poll, Waker};
use std::io;

use slab::Slab;

use super::Reactor;
use super::poller::Ready;
use crate::sync::Mutex;
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
    pub(super) key: usize,
    state: Mutex<[Direction; 2]>,
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
}

impl Direction {
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
        Self { raw, key, state: Mutex::new(Default::default()) }
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
            if event.readable {
                state[READ].tick = tick;
                state[READ].drain_into(wakers);
            }
            if event.writable {
                state[WRITE].tick = tick;
                state[WRITE].drain_into(wakers);
            }
            let (read, write) = (!state[READ].is_empty(), !state[WRITE].is_empty());
            if read || write {
                // A failure surfaces to the waiter as a hang-free error on its next poll.
                let _ = reactor.arm(self, read, write);
            }
        });
    }

    /// Polls readiness in `dir` for the single-waiter API (`poll_readable` / `poll_writable`).
    ///
    /// `tried_at`: the reactor's ticker before the caller's I/O attempt that would block; an
    /// event no newer than that is stale (the attempt came after it) and does not count.
    pub(crate) fn poll_ready(
        &self,
        reactor: &'static Reactor,
        dir: usize,
        cx: &mut Context<'_>,
        tried_at: Option<usize>,
    ) -> Poll<io::Result<()>> {
        let mut old = None;
        let result = self.state.with(|state| {
            if let Some((a, b)) = state[dir].ticks {
                let tick = state[dir].tick;
                // Wrapping: `tick` is newer than `t` if it is less than half the range ahead.
                let fresh = tried_at.is_none_or(|t| tick.wrapping_sub(t).wrapping_sub(1) < usize::MAX / 2);
                if tick != a && tick != b && fresh {
                    state[dir].ticks = None;
                    return Poll::Ready(Ok(false));
                }
            }
            let was_empty = state[dir].is_empty();
            if let Some(w) = state[dir].waker.take() {
                if w.will_wake(cx.waker()) {
                    state[dir].waker = Some(w);
                    return Poll::Pending;
                }
                old = Some(w);
            }
            state[dir].waker = Some(cx.waker().clone());
            state[dir].ticks = Some((reactor.ticker(), state[dir].tick));
            if was_empty {
                reactor.arm(self, !state[READ].is_empty(), !state[WRITE].is_empty())?;
                return Poll::Ready(Ok(true));
            }
            Poll::Pending
        });
        // Another task was waiting here; it must not sleep forever now that it is replaced.
        if let Some(w) = old {
            w.wake();
        }
        match result {
            Poll::Ready(Ok(true)) => {
                reactor.ensure_driver(cx.waker());
                Poll::Pending
            }
            Poll::Ready(Ok(false)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Polls readiness in `dir` for a `readable()` / `writable()` future, which keeps its own
    /// `ticks` and slot `index`.
    pub(crate) fn poll_ready_many(
        &self,
        reactor: &'static Reactor,
        dir: usize,
        ticks: &mut Option<(usize, usize)>,
        index: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let armed = self.state.with(|state| {
            if let Some((a, b)) = *ticks {
                if state[dir].tick != a && state[dir].tick != b {
                    return Ok(None);
                }
            }
            let was_empty = state[dir].is_empty();
            let i = *index.get_or_insert_with(|| state[dir].wakers.insert(None));
            state[dir].wakers[i] = Some(cx.waker().clone());
            *ticks = Some((reactor.ticker(), state[dir].tick));
            if was_empty {
                reactor.arm(self, !state[READ].is_empty(), !state[WRITE].is_empty())?;
            }
            Ok::<_, io::Error>(Some(was_empty))
        })?;
        match armed {
            None => Poll::Ready(Ok(())),
            Some(was_empty) => {
                if was_empty {
                    reactor.ensure_driver(cx.waker());
                }
                Poll::Pending
            }
        }
    }

    /// Frees the slot of a dropped `readable()` / `writable()` future.
    pub(crate) fn drop_ready(&self, dir: usize, index: usize) {
        self.state.with(|state| {
            state[dir].wakers.try_remove(index);
        });
    }
}
