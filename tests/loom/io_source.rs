//! The readiness bookkeeping of one registered socket: the real `src/reactor/source.rs` (its
//! ticks, its `blocked` flags read outside the lock, its per-direction waiters, its re-arms)
//! between a task that reads or writes and the driver that turns the poller's events into
//! `Source::react`, over a modelled kernel socket and poller, in both registration modes.
//!
//! The model's poller keeps what epoll keeps for one handle: whether each direction is ready now
//! (data to read, room to write), the events it has to report, and, in oneshot mode, whether the
//! handle is armed and for which directions. A change of readiness, or a re-arm, reports every
//! ready direction the registration has interest in (an edge-triggered registration has interest
//! in both for good; a oneshot one is disarmed by the report). The driver's turn is
//! `Reactor::process_events`' own: one tick per batch, then `react`, then the wakers.
//!
//! A wake-up lost anywhere leaves the task parked for ever and the driver waiting for an event
//! that never comes: loom reports the deadlock.

use std::io;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};

#[path = "../../src/reactor/source.rs"]
mod source;

pub(crate) use source::{READ, Slot, Source, WRITE};

/// What `source.rs` takes from `reactor::poller`: one event.
pub(crate) mod poller {
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Ready {
        pub(crate) key: usize,
        pub(crate) readable: bool,
        pub(crate) writable: bool,
        pub(crate) read_closed: bool,
    }
}

/// The kernel's side of the socket and of its registration.
#[derive(Default)]
struct Os {
    /// Per direction: bytes to read, or room to write (an attempt takes it all).
    level: [usize; 2],
    /// Per direction: an event the poller has to report.
    pending: [bool; 2],
    /// The directions the registration reports; oneshot: `None` once a report disarmed it.
    armed: Option<[bool; 2]>,
    /// The driver stops once nothing is pending.
    stop: bool,
}

/// The poller and the socket behind it.
pub(crate) struct Poller {
    edge: AtomicBool,
    os: Mutex<Os>,
    events: Condvar,
}

impl Poller {
    pub(crate) fn is_edge(&self) -> bool {
        self.edge.load(Ordering::Relaxed)
    }

    /// `Poller::modify`: re-arms with this interest (oneshot) or with both (edge), which reports
    /// the directions ready now.
    fn modify(&self, read: bool, write: bool) {
        let mut os = self.os.lock().unwrap();
        os.armed = Some(if self.is_edge() { [true, true] } else { [read, write] });
        self.report(&mut os);
    }

    /// Queues an event for every ready direction the registration reports.
    fn report(&self, os: &mut Os) {
        let Some(interest) = os.armed else { return };
        let ready = [os.level[READ] > 0 && interest[READ], os.level[WRITE] > 0 && interest[WRITE]];
        if ready[READ] || ready[WRITE] {
            os.pending[READ] |= ready[READ];
            os.pending[WRITE] |= ready[WRITE];
            if !self.is_edge() {
                os.armed = None;
            }
            self.events.notify_all();
        }
    }

    /// The peer: sends `n` bytes (`READ`) or takes `n` bytes out of the way (`WRITE`).
    pub(crate) fn peer(&self, dir: usize, n: usize) {
        let mut os = self.os.lock().unwrap();
        os.level[dir] += n;
        self.report(&mut os);
    }

    /// A non-blocking read or write: takes what is there, or would block (`None`).
    pub(crate) fn attempt(&self, dir: usize) -> Option<usize> {
        let mut os = self.os.lock().unwrap();
        match core::mem::take(&mut os.level[dir]) {
            0 => None,
            n => Some(n),
        }
    }

    /// The driver's wait: the next batch, or `None` once stopped with nothing pending.
    fn wait(&self) -> Option<poller::Ready> {
        let mut os = self.os.lock().unwrap();
        loop {
            if os.pending[READ] || os.pending[WRITE] {
                let [readable, writable] = core::mem::take(&mut os.pending);
                return Some(poller::Ready { key: 0, readable, writable, read_closed: false });
            }
            if os.stop {
                return None;
            }
            os = self.events.wait(os).unwrap();
        }
    }

    pub(crate) fn stop(&self) {
        self.os.lock().unwrap().stop = true;
        self.events.notify_all();
    }
}

/// What `source.rs` takes from the reactor.
pub(crate) struct Reactor {
    pub(crate) poller: Poller,
    ticker: AtomicUsize,
}

loom::lazy_static! {
    static ref REACTOR: Reactor = Reactor {
        poller: Poller { edge: AtomicBool::new(true), os: Mutex::new(Os::default()), events: Condvar::new() },
        ticker: AtomicUsize::new(0),
    };
}

impl Reactor {
    /// This model's reactor, its socket registered as `Reactor::insert_io` leaves it: with
    /// interest in both directions for good (`edge`), or with none (oneshot).
    pub(crate) fn get(edge: bool) -> &'static Reactor {
        let reactor: &'static Reactor = &REACTOR;
        reactor.poller.edge.store(edge, Ordering::Relaxed);
        reactor.poller.os.lock().unwrap().armed = Some([edge, edge]);
        reactor
    }

    pub(crate) fn ticker(&self) -> usize {
        self.ticker.load(Ordering::SeqCst)
    }

    fn arm(&self, _: &Source, read: bool, write: bool) -> io::Result<()> {
        self.poller.modify(read, write);
        Ok(())
    }

    /// The model's driver always runs.
    fn ensure_driver(&'static self, _: &Waker) {}

    /// The driver until `Poller::stop`: `Reactor::process_events` for each batch.
    pub(crate) fn drive(&'static self, source: &Source) {
        let mut wakers = Vec::new();
        while let Some(event) = self.poller.wait() {
            let tick = self.ticker.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
            source.react(self, event, tick, &mut wakers);
            for waker in wakers.drain(..) {
                waker.wake();
            }
        }
    }
}

/// A new source for the one socket.
pub(crate) fn source() -> Source {
    Source::new(0, 0)
}

/// `io.rs`' `retry!` loop around one read or write: no attempt while the last one would block
/// and no event has arrived since; the reactor's ticker read before each attempt.
pub(crate) fn poll_io(
    source: &Source,
    reactor: &'static Reactor,
    dir: usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    loop {
        std::task::ready!(source.poll_attempt(reactor, dir, cx))?;
        let tried_at = reactor.ticker();
        if let Some(n) = reactor.poller.attempt(dir) {
            return Poll::Ready(Ok(n));
        }
        std::task::ready!(source.poll_ready(reactor, dir, cx, Some(tried_at), Slot::Single))?;
    }
}

/// `io.rs`' `readable()` / `writable()` future: its ticks and slot kept, its slot freed on drop.
pub(crate) struct ReadyFuture<'s> {
    pub(crate) source: &'s Source,
    pub(crate) reactor: &'static Reactor,
    pub(crate) dir: usize,
    ticks: Option<(usize, usize)>,
    index: Option<usize>,
}

impl<'s> ReadyFuture<'s> {
    pub(crate) fn new(source: &'s Source, reactor: &'static Reactor, dir: usize) -> Self {
        Self { source, reactor, dir, ticks: None, index: None }
    }
}

impl core::future::Future for ReadyFuture<'_> {
    type Output = io::Result<()>;

    fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let slot = Slot::Many { ticks: &mut this.ticks, index: &mut this.index };
        this.source.poll_ready(this.reactor, this.dir, cx, None, slot)
    }
}

impl Drop for ReadyFuture<'_> {
    fn drop(&mut self) {
        if let Some(index) = self.index {
            self.source.drop_ready(self.dir, index);
        }
    }
}
