//! `Timer`: a future or stream that fires at instants, driven by the reactor.

#![forbid(unsafe_code)]

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::time::Instant;

use futures_lite::Stream;

use crate::reactor;

/// A future or stream that emits timed events.
///
/// As a [`Future`], it completes with the [`Instant`] it was set for; as a [`Stream`], an interval
/// timer yields one `Instant` per period. It never fires early: it completes only once
/// `Instant::now()` has reached its deadline.
///
/// Timers are driven by the reactor: by a thread idle in [`block_on`](crate::block_on) or an idle
/// worker, and, when the timer is polled by another runtime while no `amphi` thread waits, by a
/// fallback thread that exits again when unneeded. Nothing is registered until the first poll.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// amphi::block_on(amphi::Timer::after(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
pub struct Timer {
    /// The registration in the reactor and the waker it will call.
    id_and_waker: Option<(usize, Waker)>,
    /// When the timer fires next; `None` if it never will.
    when: Option<Instant>,
    /// Period of an interval timer; `Duration::MAX` for a one-shot timer.
    period: Duration,
}

impl Timer {
    /// A timer that never fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future;
    ///
    /// let never = amphi::Timer::never();
    /// let first = amphi::block_on(future::or(async { never.await; 1 }, async { 2 }));
    /// assert_eq!(first, 2);
    /// ```
    pub fn never() -> Timer {
        Timer { id_and_waker: None, when: None, period: Duration::MAX }
    }

    /// A timer that fires once after `duration`.
    ///
    /// A `duration` too large to represent never fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// amphi::block_on(amphi::Timer::after(Duration::from_millis(1)));
    /// ```
    pub fn after(duration: Duration) -> Timer {
        Instant::now().checked_add(duration).map_or_else(Timer::never, Timer::at)
    }

    /// A timer that fires once at `instant`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let when = Instant::now() + Duration::from_millis(1);
    /// assert_eq!(amphi::block_on(amphi::Timer::at(when)), when);
    /// ```
    pub fn at(instant: Instant) -> Timer {
        Timer::interval_at(instant, Duration::MAX)
    }

    /// A timer that fires every `period`, first after one period.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use std::time::Duration;
    ///
    /// let mut ticks = amphi::Timer::interval(Duration::from_millis(1));
    /// amphi::block_on(async {
    ///     ticks.next().await;
    ///     ticks.next().await;
    /// });
    /// ```
    pub fn interval(period: Duration) -> Timer {
        Instant::now()
            .checked_add(period)
            .map_or_else(Timer::never, |start| Timer::interval_at(start, period))
    }

    /// A timer that fires at `start` and then every `period`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use std::time::{Duration, Instant};
    ///
    /// let start = Instant::now();
    /// let period = Duration::from_millis(2);
    /// let mut ticks = amphi::Timer::interval_at(start, period);
    /// let second = amphi::block_on(async {
    ///     ticks.next().await;
    ///     ticks.next().await.unwrap()
    /// });
    /// assert_eq!(second, start + period);
    /// ```
    pub fn interval_at(start: Instant, period: Duration) -> Timer {
        Timer { id_and_waker: None, when: Some(start), period }
    }

    /// Whether the timer will fire (again).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert!(amphi::Timer::after(Duration::from_secs(1)).will_fire());
    /// assert!(!amphi::Timer::never().will_fire());
    /// ```
    pub fn will_fire(&self) -> bool {
        self.when.is_some()
    }

    /// Sets the timer to fire once after `duration`, keeping the waker of the task polling it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut t = amphi::Timer::after(Duration::from_secs(60));
    /// t.set_after(Duration::from_millis(1));
    /// amphi::block_on(t);
    /// ```
    pub fn set_after(&mut self, duration: Duration) {
        match Instant::now().checked_add(duration) {
            Some(instant) => self.set_at(instant),
            None => self.clear(),
        }
    }

    /// Sets the timer to fire once at `instant`, keeping the waker of the task polling it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let mut t = amphi::Timer::never();
    /// let when = Instant::now() + Duration::from_millis(1);
    /// t.set_at(when);
    /// assert_eq!(amphi::block_on(t), when);
    /// ```
    pub fn set_at(&mut self, instant: Instant) {
        self.set_interval_at(instant, Duration::MAX);
    }

    /// Sets the timer to fire every `period`, first after one period.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use std::time::Duration;
    ///
    /// let mut t = amphi::Timer::never();
    /// t.set_interval(Duration::from_millis(1));
    /// amphi::block_on(t.next());
    /// ```
    pub fn set_interval(&mut self, period: Duration) {
        match Instant::now().checked_add(period) {
            Some(start) => self.set_interval_at(start, period),
            None => self.clear(),
        }
    }

    /// Sets the timer to fire at `start` and then every `period`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use std::time::{Duration, Instant};
    ///
    /// let mut t = amphi::Timer::never();
    /// let start = Instant::now();
    /// t.set_interval_at(start, Duration::from_millis(1));
    /// assert_eq!(amphi::block_on(t.next()), Some(start));
    /// ```
    pub fn set_interval_at(&mut self, start: Instant, period: Duration) {
        self.clear();
        self.when = Some(start);
        self.period = period;
        if let Some((id, waker)) = self.id_and_waker.as_mut() {
            // Keep waking the task that polled the timer, as if it had been polled again.
            *id = reactor::get().insert_timer(start, waker);
        }
    }

    /// Disarms the timer: it will not fire until set again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let mut t = amphi::Timer::after(Duration::from_millis(1));
    /// t.clear();
    /// assert!(!t.will_fire());
    /// ```
    pub fn clear(&mut self) {
        if let (Some(when), Some((id, _))) = (self.when, self.id_and_waker.as_ref()) {
            reactor::get().remove_timer(when, *id);
        }
        self.when = None;
    }

    fn register(&mut self, when: Instant, waker: &Waker) {
        let id = reactor::get().insert_timer(when, waker);
        self.id_and_waker = Some((id, waker.clone()));
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let (Some(when), Some((id, _))) = (self.when, self.id_and_waker.take()) {
            reactor::get().remove_timer(when, id);
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer").field("when", &self.when).field("period", &self.period).finish()
    }
}

impl Future for Timer {
    type Output = Instant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        match self.poll_next(cx) {
            Poll::Ready(Some(when)) => Poll::Ready(when),
            // A timer that will not fire stays pending, like `Timer::never`.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

impl Stream for Timer {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let this = self.get_mut();
        let Some(when) = this.when else {
            return Poll::Pending;
        };
        if Instant::now() >= when {
            if let Some((id, _)) = this.id_and_waker.take() {
                reactor::get().remove_timer(when, id);
            }
            match when.checked_add(this.period) {
                Some(next) => {
                    this.when = Some(next);
                    this.register(next, cx.waker());
                }
                None => this.when = None,
            }
            return Poll::Ready(Some(when));
        }
        match &this.id_and_waker {
            None => this.register(when, cx.waker()),
            // Armed with another waker, or before a `fork()` with the parent's reactor.
            Some((id, w)) if !w.will_wake(cx.waker()) || !reactor::get().owns_timer(*id) => {
                reactor::get().remove_timer(when, *id);
                this.register(when, cx.waker());
            }
            Some(_) => {}
        }
        Poll::Pending
    }
}
