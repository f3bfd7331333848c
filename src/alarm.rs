//! Timers on `no_std`: sleeping futures driven by one hardware alarm the board provides.
//!
//! The board implements [`TimeSource`] (a tick counter and a one-shot alarm), installs it with
//! [`set_time_source`], and calls [`on_alarm`] from the alarm's interrupt handler. Tasks then
//! wait with [`after`] or [`at`]. Nothing here needs `std`; the same code runs on std with any
//! clock, as the examples show.
//!
//! All timers live in one registry behind the crate's lock (a critical section on `no_std`), which
//! also keeps the earliest deadline the alarm is armed for. The alarm is armed under the lock,
//! whenever a timer earlier than the armed deadline is registered, and re-armed by `on_alarm` for
//! the earliest timer still waiting; so every registered deadline is covered by an armed alarm at
//! or before it, and no wake-up is missed. Wakers are called outside the lock, one at a time, so
//! an interrupt handler never allocates here and a woken task may drop timers freely.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use slab::Slab;

use crate::sync::Mutex;

/// A monotonic tick counter with a one-shot alarm, implemented by the board.
///
/// The unit of a tick is the board's choice (a SysTick period, a 32 kHz RTC tick, a
/// microsecond); [`after`] and [`at`] count in it.
///
/// # Examples
///
/// A clock on std, whose alarm is a thread that sleeps; a board uses a timer peripheral and its
/// interrupt instead:
///
/// ```standalone_crate
/// use std::sync::OnceLock;
/// use std::time::{Duration, Instant};
///
/// struct Clock;
///
/// impl amphi::alarm::TimeSource for Clock {
///     fn now(&self) -> u64 {
///         static START: OnceLock<Instant> = OnceLock::new();
///         START.get_or_init(Instant::now).elapsed().as_micros() as u64
///     }
///     fn set_alarm(&self, at: u64) {
///         let wait = Duration::from_micros(at.saturating_sub(self.now()));
///         std::thread::spawn(move || {
///             std::thread::sleep(wait);
///             amphi::alarm::on_alarm();
///         });
///     }
/// }
///
/// amphi::alarm::set_time_source(&Clock);
/// let start = amphi::alarm::now();
/// let woke_at = amphi::block_on(amphi::alarm::after(2_000));
/// assert!(woke_at >= start + 2_000);
/// ```
pub trait TimeSource: Sync {
    /// Returns the current time in ticks; it never goes backwards.
    fn now(&self) -> u64;

    /// Arms the alarm: [`on_alarm`] must be called once `now() >= at`, replacing any earlier
    /// request. If `at` is not in the future, `on_alarm` must be called as soon as possible (for
    /// example by pending the alarm interrupt); it must not be called from inside `set_alarm`.
    ///
    /// Called with the timer registry locked (inside a critical section on `no_std`), from tasks
    /// and from `on_alarm`.
    fn set_alarm(&self, at: u64);
}

/// One waiting timer.
struct Entry {
    deadline: u64,
    /// `None` once `on_alarm` has taken it to wake the task.
    waker: Option<Waker>,
}

struct Registry {
    source: Option<&'static dyn TimeSource>,
    timers: Slab<Entry>,
    /// The deadline the alarm is armed for, if any.
    ///
    /// # Invariant
    /// Every entry with a waker has `deadline >= armed`.
    armed: Option<u64>,
}

impl Registry {
    fn source(&self) -> &'static dyn TimeSource {
        match self.source {
            Some(source) => source,
            None => panic!("no time source: call amphi::alarm::set_time_source first"),
        }
    }

    /// Arms the alarm for `deadline` if it is earlier than the armed one.
    fn arm(&mut self, deadline: u64) {
        if self.armed.is_none_or(|armed| deadline < armed) {
            self.armed = Some(deadline);
            self.source().set_alarm(deadline);
        }
    }
}

#[cfg(not(loom))]
static REGISTRY: Mutex<Registry> = Mutex::new(Registry { source: None, timers: Slab::new(), armed: None });

// loom's `Mutex::new` is not `const`, and each execution of a model needs a registry of its own.
#[cfg(loom)]
loom::lazy_static! {
    static ref REGISTRY: Mutex<Registry> =
        Mutex::new(Registry { source: None, timers: Slab::new(), armed: None });
}

/// Installs the board's time source; do it once, before the first timer.
///
/// # Panics
///
/// If a time source is already installed.
///
/// # Examples
///
/// ```standalone_crate
/// struct Fixed;
/// impl amphi::alarm::TimeSource for Fixed {
///     fn now(&self) -> u64 { 7 }
///     fn set_alarm(&self, _at: u64) {}
/// }
/// amphi::alarm::set_time_source(&Fixed);
/// assert_eq!(amphi::alarm::now(), 7);
/// ```
pub fn set_time_source(source: &'static dyn TimeSource) {
    REGISTRY.with(|r| {
        assert!(r.source.is_none(), "a time source is already installed");
        r.source = Some(source);
    });
}

/// Returns the current time of the installed time source, in ticks.
///
/// # Panics
///
/// If no time source is installed.
///
/// # Examples
///
/// ```standalone_crate
/// # struct Fixed;
/// # impl amphi::alarm::TimeSource for Fixed {
/// #     fn now(&self) -> u64 { 1_000 }
/// #     fn set_alarm(&self, _at: u64) {}
/// # }
/// amphi::alarm::set_time_source(&Fixed);
/// assert_eq!(amphi::alarm::now(), 1_000);
/// ```
pub fn now() -> u64 {
    let source = REGISTRY.with(|r| r.source());
    source.now()
}

/// Wakes the timers that are due and re-arms the alarm; call it from the alarm's interrupt handler.
///
/// Extra calls are harmless: a call with nothing due only re-arms the alarm.
///
/// # Panics
///
/// If no time source is installed.
///
/// # Examples
///
/// ```standalone_crate
/// # struct Fixed;
/// # impl amphi::alarm::TimeSource for Fixed {
/// #     fn now(&self) -> u64 { 5 }
/// #     fn set_alarm(&self, _at: u64) {}
/// # }
/// amphi::alarm::set_time_source(&Fixed);
/// // On a board: #[exception] fn SysTick() { /* count ticks */ amphi::alarm::on_alarm(); }
/// amphi::alarm::on_alarm();
/// ```
pub fn on_alarm() {
    // One waker per lock, woken outside it: a wake may drop a task, whose timer then takes the
    // lock.
    loop {
        let due = REGISTRY.with(|r| {
            let now = r.source().now();
            // Earliest first, so timers due together still wake in deadline order.
            let due = r
                .timers
                .iter_mut()
                .filter(|(_, e)| e.deadline <= now && e.waker.is_some())
                .min_by_key(|(_, e)| e.deadline);
            if let Some((_, entry)) = due {
                return entry.waker.take();
            }
            r.armed = None;
            let next = r.timers.iter().filter(|(_, e)| e.waker.is_some()).map(|(_, e)| e.deadline).min();
            if let Some(next) = next {
                r.arm(next);
            }
            None
        });
        match due {
            Some(waker) => waker.wake(),
            None => return,
        }
    }
}

/// Returns a future that completes `ticks` ticks from now, with the time it completed at.
///
/// # Panics
///
/// If no time source is installed.
///
/// # Examples
///
/// ```standalone_crate
/// # use std::sync::OnceLock;
/// # use std::time::{Duration, Instant};
/// # struct Clock;
/// # impl amphi::alarm::TimeSource for Clock {
/// #     fn now(&self) -> u64 {
/// #         static START: OnceLock<Instant> = OnceLock::new();
/// #         START.get_or_init(Instant::now).elapsed().as_micros() as u64
/// #     }
/// #     fn set_alarm(&self, at: u64) {
/// #         let wait = Duration::from_micros(at.saturating_sub(self.now()));
/// #         std::thread::spawn(move || { std::thread::sleep(wait); amphi::alarm::on_alarm(); });
/// #     }
/// # }
/// amphi::alarm::set_time_source(&Clock);
/// let ex = amphi::Executor::new();
/// let start = amphi::alarm::now();
/// let slow = ex.spawn(amphi::alarm::after(3_000));
/// let fast = ex.spawn(amphi::alarm::after(1_000));
/// let (slow, fast) = amphi::block_on(ex.run(async { (slow.await, fast.await) }));
/// assert!(fast >= start + 1_000 && slow >= start + 3_000);
/// ```
pub fn after(ticks: u64) -> Sleep {
    at(now().saturating_add(ticks))
}

/// Returns a future that completes once the time reaches `deadline` ticks, with the time it
/// completed at.
///
/// # Panics
///
/// If no time source is installed.
///
/// # Examples
///
/// ```standalone_crate
/// # struct Fixed;
/// # impl amphi::alarm::TimeSource for Fixed {
/// #     fn now(&self) -> u64 { 50 }
/// #     fn set_alarm(&self, _at: u64) {}
/// # }
/// amphi::alarm::set_time_source(&Fixed);
/// // A deadline already passed completes at once.
/// assert_eq!(amphi::block_on(amphi::alarm::at(10)), 50);
/// ```
pub fn at(deadline: u64) -> Sleep {
    Sleep { deadline, key: None }
}

/// The future of [`after`] and [`at`]: completes once the time source reaches its deadline.
///
/// Dropping it cancels the timer.
///
/// # Examples
///
/// ```standalone_crate
/// # struct Fixed;
/// # impl amphi::alarm::TimeSource for Fixed {
/// #     fn now(&self) -> u64 { 0 }
/// #     fn set_alarm(&self, _at: u64) {}
/// # }
/// amphi::alarm::set_time_source(&Fixed);
/// let sleep: amphi::alarm::Sleep = amphi::alarm::at(100);
/// assert_eq!(sleep.deadline(), 100);
/// drop(sleep); // cancelled
/// ```
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    deadline: u64,
    /// Its entry in the registry, once registered.
    key: Option<usize>,
}

impl Sleep {
    /// Returns the time, in ticks, at which this future completes.
    ///
    /// # Examples
    ///
    /// ```standalone_crate
    /// # struct Fixed;
    /// # impl amphi::alarm::TimeSource for Fixed {
    /// #     fn now(&self) -> u64 { 10 }
    /// #     fn set_alarm(&self, _at: u64) {}
    /// # }
    /// amphi::alarm::set_time_source(&Fixed);
    /// assert_eq!(amphi::alarm::after(5).deadline(), 15);
    /// ```
    pub fn deadline(&self) -> u64 {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let this = self.get_mut();
        let deadline = this.deadline;
        let key = &mut this.key;
        REGISTRY.with(|r| {
            let now = r.source().now();
            if now >= deadline {
                if let Some(key) = key.take() {
                    r.timers.try_remove(key);
                }
                return Poll::Ready(now);
            }
            match key {
                Some(key) => match r.timers.get_mut(*key) {
                    Some(entry) => match &mut entry.waker {
                        Some(waker) => waker.clone_from(cx.waker()),
                        None => entry.waker = Some(cx.waker().clone()),
                    },
                    None => *key = r.timers.insert(Entry { deadline, waker: Some(cx.waker().clone()) }),
                },
                None => *key = Some(r.timers.insert(Entry { deadline, waker: Some(cx.waker().clone()) })),
            }
            r.arm(deadline);
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // The armed alarm may now be for nothing; `on_alarm` then only re-arms.
            REGISTRY.with(|r| r.timers.try_remove(key));
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}
