//! Each `block_on` call's waker wakes that call only: a waker of a call that has returned, or of
//! a nested call, must not make a later or an outer `block_on` poll its future again. Each case
//! counts the polls of the futures involved against the wake-ups they were sent, under a watchdog
//! (a lost wake-up fails the run instead of hanging it).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use amphi::{Timer, block_on};
use common::{Watchdog, watchdog};

/// Time enough for every case here (each waits 60 ms at most), on a loaded machine.
fn dog(name: &'static str) -> Watchdog {
    watchdog(name, Duration::from_secs(30))
}

/// A waker kept by a future, to be called later.
type Stash = Arc<Mutex<Option<Waker>>>;

/// Stores its waker and completes at once.
struct StoresWaker(Stash);

impl Future for StoresWaker {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0.lock().unwrap() = Some(cx.waker().clone());
        Poll::Ready(())
    }
}

/// Pending until a thread wakes it: on its first poll it runs `first` (which may wake other
/// wakers, or its own), then asks a thread to wake it once it has returned pending `pendings`
/// times (30 ms after the first, so that the wait is a real one); ready on the poll after that
/// wake-up. Counts its polls.
struct WakeOnce<F> {
    first: Option<F>,
    woken: Arc<Mutex<bool>>,
    pending: Arc<(Mutex<usize>, Condvar)>,
    pendings: usize,
    polls: usize,
}

impl<F: FnOnce(&Waker) + Unpin> WakeOnce<F> {
    fn new(first: F) -> Self {
        Self::after_pendings(first, 1)
    }

    fn after_pendings(first: F, pendings: usize) -> Self {
        Self { first: Some(first), woken: Arc::default(), pending: Arc::default(), pendings, polls: 0 }
    }

    fn pend(&self) -> Poll<usize> {
        let (count, changed) = &*self.pending;
        *count.lock().unwrap() += 1;
        changed.notify_all();
        Poll::Pending
    }
}

impl<F: FnOnce(&Waker) + Unpin> Future for WakeOnce<F> {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if let Some(first) = self.first.take() {
            first(cx.waker());
            let waker = cx.waker().clone();
            let (woken, pending, pendings) = (self.woken.clone(), self.pending.clone(), self.pendings);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(30));
                let (count, changed) = &*pending;
                drop(changed.wait_while(count.lock().unwrap(), |n| *n < pendings).unwrap());
                *woken.lock().unwrap() = true;
                waker.wake();
            });
            return self.pend();
        }
        if *self.woken.lock().unwrap() { Poll::Ready(self.polls) } else { self.pend() }
    }
}

fn wake(stash: &Stash) {
    stash.lock().unwrap().take().expect("a waker was stored").wake();
}

#[test]
fn a_returned_block_on_s_waker_does_not_poll_the_next_one() {
    let _dog = dog("a_returned_block_on_s_waker_does_not_poll_the_next_one");
    let stash = Stash::default();
    block_on(StoresWaker(stash.clone()));
    // The first call's waker, woken during the second call: the second's future is polled once,
    // then once for its own wake-up.
    let polls = block_on(WakeOnce::new(|_: &Waker| wake(&stash)));
    assert_eq!(polls, 2);
}

#[test]
fn a_returned_block_on_s_waker_does_not_poll_the_next_one_while_it_drives() {
    let _dog = dog("a_returned_block_on_s_waker_does_not_poll_the_next_one_while_it_drives");
    let stash = Stash::default();
    block_on(StoresWaker(stash.clone()));
    // The next call waits in the reactor (a timer), not in a plain park: the stale waker must not
    // interrupt that wait either.
    let later = thread::spawn({
        let stash = stash.clone();
        move || {
            thread::sleep(Duration::from_millis(10));
            wake(&stash);
        }
    });
    let mut polls = 0;
    let timer = Timer::after(Duration::from_millis(60));
    let mut timer = std::pin::pin!(timer);
    block_on(std::future::poll_fn(|cx| {
        polls += 1;
        timer.as_mut().poll(cx).map(|_| ())
    }));
    later.join().unwrap();
    assert_eq!(polls, 2, "polled once, then once when the timer fired");
}

#[test]
fn a_nested_block_on_s_waker_does_not_poll_the_outer_one() {
    let _dog = dog("a_nested_block_on_s_waker_does_not_poll_the_outer_one");
    let stash = Stash::default();
    let polls = block_on(WakeOnce::new({
        let stash = stash.clone();
        move |_: &Waker| {
            block_on(StoresWaker(stash.clone()));
            wake(&stash);
        }
    }));
    assert_eq!(polls, 2);
}

#[test]
fn an_outer_block_on_s_waker_does_not_poll_the_nested_one() {
    let _dog = dog("an_outer_block_on_s_waker_does_not_poll_the_nested_one");
    let outer_polls = Arc::new(Mutex::new(0));
    let inner_polls = Arc::new(Mutex::new(0));
    let mut nested_done = false;
    block_on(std::future::poll_fn(|cx| {
        *outer_polls.lock().unwrap() += 1;
        if nested_done {
            return Poll::Ready(());
        }
        let outer = cx.waker().clone();
        // Woken once by the outer waker, during the nested call: the nested future is polled
        // once, then once for its own wake-up; the outer once more, for its wake-up.
        *inner_polls.lock().unwrap() = block_on(WakeOnce::new(move |_: &Waker| outer.wake()));
        nested_done = true;
        Poll::Pending
    }));
    assert_eq!(*inner_polls.lock().unwrap(), 2, "the nested future");
    assert_eq!(*outer_polls.lock().unwrap(), 2, "the outer future");
}

#[test]
fn a_block_on_s_own_wake_ups_still_reach_it_after_a_stale_one() {
    let _dog = dog("a_block_on_s_own_wake_ups_still_reach_it_after_a_stale_one");
    // After a call whose waker was kept, the next call gets a parker of its own and is woken
    // as usual, many times.
    let stash = Stash::default();
    for _ in 0..10 {
        block_on(StoresWaker(stash.clone()));
        // Woken by itself on the first poll (one more poll), then by the thread once that poll
        // returned (one more).
        let polls = block_on(WakeOnce::after_pendings(|w: &Waker| w.wake_by_ref(), 2));
        assert_eq!(polls, 3);
    }
    wake(&stash);
}

#[test]
fn a_wake_during_the_final_poll_does_not_poll_the_next_one() {
    let _dog = dog("a_wake_during_the_final_poll_does_not_poll_the_next_one");
    // async-io's `first_cannot_wake_second`: the first future wakes its own waker in the poll in
    // which it completes; the wake-up was for a call that is over.
    block_on(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Ready(())
    }));
    let polls = block_on(WakeOnce::new(|_: &Waker| {}));
    assert_eq!(polls, 2, "polled once, then once for its own wake-up");
}

#[test]
fn a_wake_during_the_final_poll_does_not_poll_the_next_one_while_it_drives() {
    let _dog = dog("a_wake_during_the_final_poll_does_not_poll_the_next_one_while_it_drives");
    block_on(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Ready(())
    }));
    // The next call waits in the reactor (a timer), not in a plain park.
    let mut polls = 0;
    let timer = Timer::after(Duration::from_millis(30));
    let mut timer = std::pin::pin!(timer);
    block_on(std::future::poll_fn(|cx| {
        polls += 1;
        timer.as_mut().poll(cx).map(|_| ())
    }));
    assert_eq!(polls, 2, "polled once, then once when the timer fired");
}
