//! The OS poller behind the reactor: `polling::Poller` for every registration on every platform,
//! and the one place where the reactor's wait is chosen.
//!
//! polling 3.11's `wait` on Linux makes five system calls: it sets a timerfd and re-arms it, waits,
//! then clears its notifier and re-arms that, on every call. On Linux and Android a wait is
//! instead one `epoll_wait` on polling's own epoll descriptor, interrupted through an eventfd of
//! this file's, registered level-triggered, so that it needs no re-arming and is read only when it
//! fired (`tcp::echo_1` in BENCHMARKS.md). `epoll_wait` counts in milliseconds, polling's timerfd
//! in nanoseconds: a timeout of a millisecond or more is cut down to whole milliseconds and
//! waited directly, and only what is left, under a millisecond, goes to polling's wait. A timer
//! that keeps the driver's waits timed (hyper's header-read timer on every connection) then costs
//! nothing per wait, and a timer still fires to the microsecond.
//!
//! Registrations are oneshot everywhere but there: an event disarms the handle and the next
//! waiter re-arms it, one `epoll_ctl` per wait. On Linux and Android they are edge-triggered
//! with every interest instead, armed once for the handle's life: a waiter after a failed I/O
//! attempt needs no re-arm, since any event after the attempt makes it ready (see
//! `source.rs`), and one that asks for readiness without an attempt (`readable()`,
//! `poll_readable`) re-arms, which makes epoll report the current level as oneshot does. These
//! are registered here, through rustix, with `EPOLLRDHUP` besides polling's flags: an event then
//! says whether the peer closed its side, which a short read must know (`source.rs`).
//! `AMPHI_POLLER=polling` makes every wait polling's and every registration oneshot, the path of
//! the other platforms, for the tests and for comparison.

use core::time::Duration;
use std::io;

use crate::sys;

/// A readiness event: the registration's key and its directions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer may have closed its side: set on a hang-up, and on any readable event of an
    /// edge-triggered registration that did not come through the direct wait (polling reports
    /// no `EPOLLRDHUP`, so a FIN there looks like data). A oneshot registration never needs it:
    /// its re-arm reports the end of file as a level.
    pub(crate) read_closed: bool,
}

/// The poller.
#[derive(Debug)]
pub(crate) struct Poller {
    poller: polling::Poller,
    /// Registrations are edge-triggered with every interest, armed once (see the module
    /// documentation).
    edge: bool,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    direct: Option<direct::Notifier>,
}

/// The buffer a wait fills.
pub(crate) struct Events {
    polled: polling::Events,
    ready: alloc::vec::Vec<Ready>,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    raw: alloc::vec::Vec<rustix::event::epoll::Event>,
}

// SAFETY: the only field that is not `Send` is the buffer of raw epoll events, whose data may
// hold a pointer in rustix's type; this file stores keys there (integers) and never dereferences
// one. (polling's own `Events` is `Send` for the same reason.)
unsafe impl Send for Events {}

impl core::fmt::Debug for Events {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Events").field("ready", &self.ready).finish_non_exhaustive()
    }
}

impl Events {
    pub(crate) fn new() -> Self {
        Self {
            polled: polling::Events::new(),
            ready: alloc::vec::Vec::new(),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            raw: alloc::vec::Vec::with_capacity(1024),
        }
    }

    /// The events of the last wait, the poller's own interrupt left out.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Ready> + '_ {
        self.ready.iter().copied()
    }
}

impl Poller {
    /// A poller; `polling_wait` makes every wait polling's own.
    pub(crate) fn new(polling_wait: bool) -> io::Result<Self> {
        let poller = polling::Poller::new()?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let direct = if polling_wait { None } else { Some(direct::Notifier::new(&poller)?) };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let edge = !polling_wait;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let edge = {
            let _ = polling_wait;
            false
        };
        Ok(Self {
            poller,
            edge,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            direct,
        })
    }

    /// Whether registrations are edge-triggered and armed once: a waiter after a failed attempt
    /// needs no [`modify`](Self::modify).
    pub(crate) fn is_edge(&self) -> bool {
        self.edge
    }

    /// Registers `raw` under `key`: with no interest yet (oneshot), or armed for good (edge).
    ///
    /// # Safety
    ///
    /// - `raw` stays open until [`delete`](Self::delete) has returned for it.
    pub(crate) unsafe fn add(&self, raw: sys::Raw, key: usize) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.edge {
            // SAFETY: forwarded from this function's contract: open until `delete`.
            return direct::arm(&self.poller, unsafe { sys::borrow_raw(raw) }, key, true);
        }
        // SAFETY: forwarded from this function's contract.
        unsafe { self.poller.add(raw, polling::Event::none(key)) }
    }

    /// Re-arms `handle` with this interest (oneshot), or with every interest (edge), which makes
    /// the poller report its current readiness.
    pub(crate) fn modify(
        &self,
        handle: sys::Borrowed<'_>,
        key: usize,
        read: bool,
        write: bool,
    ) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.edge {
            return direct::arm(&self.poller, handle, key, false);
        }
        self.poller.modify(handle, polling::Event::new(key, read, write))
    }

    pub(crate) fn delete(&self, handle: sys::Borrowed<'_>) -> io::Result<()> {
        self.poller.delete(handle)
    }

    /// Interrupts a wait in progress, or makes the next one return at once.
    pub(crate) fn notify(&self) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(direct) = &self.direct {
            return direct.notify();
        }
        self.poller.notify()
    }

    /// Waits for events, or until `timeout`, or until [`notify`](Self::notify).
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.ready.clear();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(direct) = &self.direct {
            if timeout.is_none_or(|t| t.is_zero() || t >= direct::MILLI) {
                return direct.wait(&self.poller, events, timeout);
            }
        }
        events.polled.clear();
        self.poller.wait(&mut events.polled, timeout)?;
        for event in events.polled.iter() {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            if let Some(direct) = &self.direct {
                if event.key == direct::NOTIFY_KEY {
                    direct.clear();
                    continue;
                }
            }
            // An edge that may carry a FIN looks the same as one of data here.
            let read_closed = self.edge && event.readable;
            events.ready.push(Ready {
                key: event.key,
                readable: event.readable,
                writable: event.writable,
                read_closed,
            });
        }
        Ok(())
    }
}

/// The direct wait on Linux and Android.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod direct {
    use core::time::Duration;
    use std::io;
    use std::os::fd::{AsFd, OwnedFd};

    use rustix::event::epoll::{self, EventFlags};
    use rustix::event::{EventfdFlags, Timespec, eventfd};

    use super::{Events, Ready};
    use crate::sync::{AtomicBool, Ordering};

    /// Registers `fd` under `key` (`add`), or re-arms it, edge-triggered with every interest, as
    /// polling's `Event::all` in `PollMode::Edge` does, and `EPOLLRDHUP` besides, which polling
    /// never asks for: a FIN then shows in the event (`Ready::read_closed`). polling keeps no
    /// state of its own per registration on epoll, so its `delete` still removes it.
    pub(super) fn arm(
        poller: &polling::Poller,
        fd: std::os::fd::BorrowedFd<'_>,
        key: usize,
        add: bool,
    ) -> io::Result<()> {
        let flags = EventFlags::IN
            | EventFlags::OUT
            | EventFlags::HUP
            | EventFlags::ERR
            | EventFlags::PRI
            | EventFlags::RDHUP
            | EventFlags::ET;
        let data = epoll::EventData::new_u64(key as u64);
        if add {
            epoll::add(poller.as_fd(), fd, data, flags)?;
        } else {
            epoll::modify(poller.as_fd(), fd, data, flags)?;
        }
        Ok(())
    }

    /// The shortest timeout a direct wait takes (other than zero).
    pub(super) const MILLI: Duration = Duration::from_millis(1);

    /// The key of the eventfd's registration; polling keeps `usize::MAX` for its own notifier.
    pub(super) const NOTIFY_KEY: usize = usize::MAX - 1;

    /// An eventfd registered level-triggered in polling's epoll: writing it ends a wait.
    #[derive(Debug)]
    pub(super) struct Notifier {
        fd: OwnedFd,
        /// Set from a notification until a wait has read it: later ones write nothing.
        notified: AtomicBool,
    }

    impl Notifier {
        pub(super) fn new(poller: &polling::Poller) -> io::Result<Self> {
            let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
            // SAFETY: `fd` is owned by the notifier, which the reactor keeps as long as the poller
            // (for the whole process), so it stays open while registered.
            unsafe {
                poller.add_with_mode(&fd, polling::Event::readable(NOTIFY_KEY), polling::PollMode::Level)?;
            }
            Ok(Self { fd, notified: AtomicBool::new(false) })
        }

        pub(super) fn notify(&self) -> io::Result<()> {
            if !self.notified.swap(true, Ordering::SeqCst) {
                rustix::io::write(&self.fd, &1u64.to_ne_bytes())?;
            }
            Ok(())
        }

        /// Reads the eventfd after it fired; a notification after this writes again.
        pub(super) fn clear(&self) {
            let mut buf = [0u8; 8];
            // Nothing to read (another wait read it) is as good as read.
            let _ = rustix::io::read(&self.fd, &mut buf);
            self.notified.store(false, Ordering::SeqCst);
        }

        /// One `epoll_wait` on polling's descriptor: without a timeout, or for `timeout` cut down
        /// to whole milliseconds (and to an hour at most; the driver waits again).
        pub(super) fn wait(
            &self,
            poller: &polling::Poller,
            events: &mut Events,
            timeout: Option<Duration>,
        ) -> io::Result<()> {
            // `epoll_pwait`'s `int` of milliseconds; past it rustix would call `epoll_pwait2`,
            // which kernels before 5.11 lack.
            let timeout = timeout.map(|t| {
                let millis = t.min(Duration::from_secs(3600)).as_millis() as i64;
                // Under 10⁹: fits every platform's `tv_nsec`.
                Timespec { tv_sec: millis / 1000, tv_nsec: ((millis % 1000) * 1_000_000) as _ }
            });
            events.raw.clear();
            epoll::wait(poller.as_fd(), rustix::buffer::spare_capacity(&mut events.raw), timeout.as_ref())?;
            // polling's reading of the flags, so that both waits report alike.
            let read = EventFlags::IN | EventFlags::HUP | EventFlags::ERR | EventFlags::PRI;
            let write = EventFlags::OUT | EventFlags::HUP | EventFlags::ERR;
            for event in &events.raw {
                let key = event.data.u64() as usize;
                let flags = event.flags;
                if key == NOTIFY_KEY {
                    self.clear();
                    continue;
                }
                if key == usize::MAX {
                    // polling's own timerfd, still armed by an earlier wait of polling's that
                    // ended early: a spurious wake-up.
                    continue;
                }
                events.ready.push(Ready {
                    key,
                    readable: flags.intersects(read),
                    writable: flags.intersects(write),
                    read_closed: flags.intersects(EventFlags::RDHUP | EventFlags::HUP),
                });
            }
            Ok(())
        }
    }
}
