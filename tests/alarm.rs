//! `amphi::alarm` on std, driven the way a board drives it: a tick counter, a one-shot alarm
//! that calls `on_alarm` once the counter reaches what it was armed for, and tasks that sleep on
//! it. (The emulated boards run the same code with SysTick and the RISC-V machine timer:
//! no-std-tests' `alarm` suite.)
//!
//! The time source is the process's one (`set_time_source` takes one for good), so the tests
//! take turns on its clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use amphi::alarm::{self, Sleep, TimeSource};

/// The board: a tick counter and a one-shot alarm.
struct Board {
    now: AtomicU64,
    /// The alarm's deadline, while armed.
    alarm: Mutex<Option<u64>>,
    /// Calls of `set_alarm`: on a board, each is a register write in a critical section.
    sets: AtomicUsize,
}

impl TimeSource for Board {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn set_alarm(&self, at: u64) {
        *self.alarm.lock().unwrap() = Some(at);
        self.sets.fetch_add(1, Ordering::SeqCst);
    }
}

static BOARD: Board = Board { now: AtomicU64::new(0), alarm: Mutex::new(None), sets: AtomicUsize::new(0) };

impl Board {
    /// Advances the clock one tick at a time, as the tick interrupt does, and fires the alarm
    /// (calls `on_alarm`, outside `set_alarm`) at each tick it is due.
    fn tick(&self, n: u64) {
        for _ in 0..n {
            self.now.fetch_add(1, Ordering::SeqCst);
            self.fire_if_due();
        }
    }

    /// Moves the clock `n` ticks at once (an interrupt served late), then fires a due alarm.
    fn jump(&self, n: u64) {
        self.now.fetch_add(n, Ordering::SeqCst);
        self.fire_if_due();
    }

    fn fire_if_due(&self) {
        let now = self.now();
        let due = {
            let mut alarm = self.alarm.lock().unwrap();
            let due = alarm.is_some_and(|at| at <= now);
            if due {
                *alarm = None;
            }
            due
        };
        if due {
            alarm::on_alarm();
        }
    }

    fn armed(&self) -> Option<u64> {
        *self.alarm.lock().unwrap()
    }
}

/// The board, installed once, for one test at a time: the clock is the process's.
fn board() -> (&'static Board, MutexGuard<'static, ()>) {
    static INSTALLED: Once = Once::new();
    static TURN: Mutex<()> = Mutex::new(());
    INSTALLED.call_once(|| alarm::set_time_source(&BOARD));
    (&BOARD, TURN.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A waker that counts its wake-ups, and notes them in a shared order.
struct Counter {
    wakes: AtomicUsize,
    id: u64,
    order: Arc<Mutex<Vec<u64>>>,
}

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.order.lock().unwrap().push(self.id);
    }
}

fn counter(id: u64, order: &Arc<Mutex<Vec<u64>>>) -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter { wakes: AtomicUsize::new(0), id, order: order.clone() });
    (c.clone(), Waker::from(c))
}

fn poll(sleep: &mut Sleep, waker: &Waker) -> Poll<u64> {
    Pin::new(sleep).poll(&mut Context::from_waker(waker))
}

#[test]
fn a_timer_wakes_at_its_deadline_and_not_before() {
    let (board, _turn) = board();
    let order = Arc::default();
    let (c, waker) = counter(0, &order);
    let start = alarm::now();
    let mut sleep = alarm::after(10);
    assert_eq!(sleep.deadline(), start + 10);
    let sets = board.sets.load(Ordering::SeqCst);
    assert!(poll(&mut sleep, &waker).is_pending());
    assert_eq!(board.armed(), Some(start + 10), "the alarm is armed for it");
    assert_eq!(board.sets.load(Ordering::SeqCst), sets + 1);
    board.tick(9);
    assert_eq!(c.wakes.load(Ordering::SeqCst), 0, "not woken before its deadline");
    assert!(poll(&mut sleep, &waker).is_pending(), "and not ready");
    assert_eq!(board.sets.load(Ordering::SeqCst), sets + 1, "polled again, it does not arm the alarm again");
    board.tick(1);
    assert_eq!(c.wakes.load(Ordering::SeqCst), 1, "woken once at its deadline");
    assert_eq!(poll(&mut sleep, &waker), Poll::Ready(start + 10), "ready with the time it completed at");
    board.tick(5);
    assert_eq!(c.wakes.load(Ordering::SeqCst), 1, "a completed timer is not woken again");
    assert_eq!(alarm::at(start).deadline(), start);
    assert_eq!(
        poll(&mut alarm::at(start), &waker),
        Poll::Ready(start + 15),
        "a past deadline is ready at once"
    );
}

#[test]
fn the_alarm_is_armed_for_the_earliest_timer_and_re_armed_for_the_next() {
    let (board, _turn) = board();
    let order = Arc::default();
    let start = alarm::now();
    let (late, late_waker) = counter(100, &order);
    let (early, early_waker) = counter(50, &order);
    let (middle, middle_waker) = counter(70, &order);
    let mut at_100 = alarm::at(start + 100);
    let mut at_50 = alarm::at(start + 50);
    let mut at_70 = alarm::at(start + 70);
    assert!(poll(&mut at_100, &late_waker).is_pending());
    assert_eq!(board.armed(), Some(start + 100));
    assert!(poll(&mut at_50, &early_waker).is_pending());
    assert_eq!(board.armed(), Some(start + 50), "an earlier timer arms the alarm earlier");
    assert!(poll(&mut at_70, &middle_waker).is_pending());
    assert_eq!(board.armed(), Some(start + 50), "a later one leaves it");
    // The earliest is cancelled: its alarm comes for nothing and only re-arms.
    drop(at_50);
    board.tick(50);
    assert_eq!(early.wakes.load(Ordering::SeqCst), 0, "a dropped timer is not woken");
    assert_eq!(board.armed(), Some(start + 70), "re-armed for the next timer");
    board.tick(20);
    assert_eq!(middle.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(late.wakes.load(Ordering::SeqCst), 0);
    assert_eq!(board.armed(), Some(start + 100));
    assert!(poll(&mut at_70, &middle_waker).is_ready());
    board.tick(30);
    assert_eq!(late.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(board.armed(), None, "nothing left to arm for");
    assert!(poll(&mut at_100, &late_waker).is_ready());
}

#[test]
fn timers_due_together_wake_in_deadline_order() {
    let (board, _turn) = board();
    let order = Arc::default();
    let start = alarm::now();
    let mut sleeps: Vec<_> = [30, 10, 20, 40]
        .into_iter()
        .map(|d| {
            let (_, waker) = counter(d, &order);
            let mut sleep = alarm::at(start + d);
            assert!(poll(&mut sleep, &waker).is_pending());
            (sleep, waker)
        })
        .collect();
    board.jump(35);
    assert_eq!(*order.lock().unwrap(), [10, 20, 30], "the due ones, earliest first; not the one at 40");
    assert_eq!(board.armed(), Some(start + 40));
    board.tick(5);
    assert_eq!(*order.lock().unwrap(), [10, 20, 30, 40]);
    for (sleep, waker) in &mut sleeps {
        assert!(poll(sleep, waker).is_ready());
    }
}

#[test]
fn a_timer_polled_by_another_waker_wakes_that_one() {
    let (board, _turn) = board();
    let order = Arc::default();
    let (first, first_waker) = counter(1, &order);
    let (second, second_waker) = counter(2, &order);
    let mut sleep = alarm::after(5);
    assert!(poll(&mut sleep, &first_waker).is_pending());
    assert!(poll(&mut sleep, &second_waker).is_pending());
    board.tick(5);
    assert_eq!(second.wakes.load(Ordering::SeqCst), 1, "the last waker is woken");
    assert_eq!(first.wakes.load(Ordering::SeqCst), 0, "not the replaced one");
    // Woken, then polled with a new waker before it is due again: the new one is kept.
    let mut again = alarm::after(5);
    assert!(poll(&mut again, &first_waker).is_pending());
    board.tick(5);
    assert_eq!(first.wakes.load(Ordering::SeqCst), 1);
    assert!(poll(&mut again, &second_waker).is_ready());
}

/// A woken task may drop other timers at once (it runs as the waker is called, here): wakers
/// are called outside the registry's lock, so this neither deadlocks nor loses the other timer.
#[test]
fn a_wake_that_drops_timers_does_not_deadlock() {
    struct DropsOnWake(Mutex<Option<Sleep>>, AtomicUsize);
    impl Wake for DropsOnWake {
        fn wake(self: Arc<Self>) {
            self.1.fetch_add(1, Ordering::SeqCst);
            drop(self.0.lock().unwrap().take());
        }
    }
    let (board, _turn) = board();
    let order = Arc::default();
    let (kept, kept_waker) = counter(0, &order);
    let mut dropped = alarm::after(3);
    assert!(poll(&mut dropped, &kept_waker).is_pending());
    let dropper = Arc::new(DropsOnWake(Mutex::new(Some(dropped)), AtomicUsize::new(0)));
    let mut first = alarm::after(2);
    assert!(poll(&mut first, &Waker::from(dropper.clone())).is_pending());
    let mut other = alarm::after(4);
    assert!(poll(&mut other, &kept_waker).is_pending());
    board.tick(4);
    assert_eq!(dropper.1.load(Ordering::SeqCst), 1);
    assert_eq!(kept.wakes.load(Ordering::SeqCst), 1, "only the timer not dropped woke it");
    assert!(poll(&mut other, &kept_waker).is_ready());
}

/// Tasks on several threads sleep again and again while a ticking thread plays the board's
/// interrupt: each sleep ends at or after its deadline, none waits for an alarm that was never
/// armed (a task registering as `on_alarm` re-arms for the others), and the ends are close to
/// the deadlines.
#[test]
fn tasks_on_threads_sleep_through_a_ticking_board() {
    const THREADS: u64 = 6;
    const SLEEPS: u64 = 30;
    let (board, _turn) = board();
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut late = Vec::new();
                for i in 0..SLEEPS {
                    let sleep = alarm::after(1 + (t * 7 + i * 3) % 11);
                    let deadline = sleep.deadline();
                    let ended = amphi::block_on(sleep);
                    assert!(ended >= deadline, "ended at {ended}, before its deadline {deadline}");
                    late.push(ended - deadline);
                }
                done.fetch_add(1, Ordering::SeqCst);
                late
            })
        })
        .collect();
    // A tick every 50 µs, until every thread is done; 20 s of ticks at most.
    let start = std::time::Instant::now();
    while done.load(Ordering::SeqCst) < THREADS as usize {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "a sleep was never woken: {} of {THREADS} done",
            done.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_micros(50));
        board.tick(1);
    }
    let mut late: Vec<u64> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    late.sort_unstable();
    // A woken thread polls again within a few ticks (one tick is at least 50 µs); a sleep left
    // to a later timer's alarm is late by up to 10 ticks, which the median would show.
    let median = late[late.len() / 2];
    assert!(median <= 2, "median lateness {median} ticks: {late:?}");
}

#[test]
fn a_second_time_source_is_refused() {
    struct Other;
    impl TimeSource for Other {
        fn now(&self) -> u64 {
            0
        }
        fn set_alarm(&self, _: u64) {}
    }
    static OTHER: Other = Other;
    let (_, _turn) = board();
    let err = std::panic::catch_unwind(|| alarm::set_time_source(&OTHER)).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"a time source is already installed"));
    assert!(format!("{:?}", alarm::at(12)).contains("deadline: 12"));
}
