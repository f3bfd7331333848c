//! A runner's listener on its executor's event, counted among the executor's sleepers while it
//! lives (`schedule` skips the event's lock while nobody sleeps).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use event_listener::{EventListener, Listener};

use crate::sync::{AtomicUsize, Ordering};

/// A runner's listener, counted in `sleepers` while it lives.
pub(crate) struct Sleeper<'s> {
    sleepers: &'s AtomicUsize,
    /// `None` only once `discard` has taken it.
    listener: Option<EventListener>,
}

impl<'s> Sleeper<'s> {
    /// Counts a listener already listening; the caller fences before it looks at the queue again.
    pub(crate) fn new(sleepers: &'s AtomicUsize, listener: EventListener) -> Self {
        sleepers.fetch_add(1, Ordering::Relaxed);
        Self { sleepers, listener: Some(listener) }
    }

    /// Drops the listener, taking a notification it may hold for the caller itself instead of
    /// passing it on to another listener.
    pub(crate) fn discard(mut self) {
        if let Some(listener) = self.listener.take() {
            listener.discard();
        }
    }
}

impl Drop for Sleeper<'_> {
    fn drop(&mut self) {
        drop(self.listener.take());
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Future for Sleeper<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.listener {
            Some(listener) => Pin::new(listener).poll(cx),
            None => unreachable!("a discarded sleeper is never polled"),
        }
    }
}
