//! Stress: many threads sharing one client, a million tasks, wake storms, cancellation racing a
//! running task, executors dropped mid-flight. Every test asserts exact results and that each
//! future's destructor ran exactly once, and runs under a watchdog that aborts the process with a
//! message if it hangs, so a lost wake-up fails CI instead of stalling it.
#![cfg(feature = "std")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{Executor, LocalExecutor, block_on, spawn};
use common::{DropCounter, watchdog};
use futures_lite::future;

const LIMIT: Duration = Duration::from_secs(120);

/// A client shared by every thread: its operation is written once, as async.
struct Client {
    calls: AtomicUsize,
}

impl Client {
    amphi::dual! {
        /// Every eighth call goes through a task on the global executor; the others yield once.
        async fn op(&self, n: u64) -> u64 {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if n % 8 == 0 {
                spawn(async move { n * 2 }).await
            } else {
                future::yield_now().await;
                n * 2
            }
        }
    }
}

#[test]
fn sixty_four_threads_ten_thousand_waits_each_on_one_client() {
    let _dog = watchdog("sixty_four_threads", LIMIT);
    const THREADS: u64 = 64;
    const CALLS: u64 = 10_000;
    let client = Arc::new(Client { calls: AtomicUsize::new(0) });
    let start = Barrier::new(THREADS as usize);
    let total: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (client, start) = (&client, &start);
                s.spawn(move || {
                    start.wait();
                    let mut sum = 0;
                    for i in 0..CALLS {
                        let n = t * CALLS + i;
                        // Both sync forms: `.wait()` and `block_on`.
                        sum += if i % 2 == 0 { client.op(n).wait() } else { block_on(client.op(n)) };
                    }
                    sum
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, (0..THREADS * CALLS).map(|n| n * 2).sum::<u64>());
    assert_eq!(client.calls.load(Ordering::Relaxed), (THREADS * CALLS) as usize);
}

#[test]
fn a_million_tasks_spawned_from_eight_threads() {
    // The full million even in debug builds: 3.2 s measured on 2 cores.
    let _dog = watchdog("a_million_tasks", LIMIT);
    const THREADS: usize = 8;
    const PER_THREAD: usize = 125_000;
    const CHUNK: usize = 5_000;
    let counter = DropCounter::default();
    let ran = Arc::new(AtomicUsize::new(0));
    let sum: u64 = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (counter, ran) = (&counter, &ran);
                s.spawn(move || {
                    let mut sum = 0u64;
                    for chunk in 0..PER_THREAD / CHUNK {
                        let tasks: Vec<_> = (0..CHUNK)
                            .map(|i| {
                                let n = (t * PER_THREAD + chunk * CHUNK + i) as u64;
                                let tracked = counter.track();
                                let ran = ran.clone();
                                spawn(async move {
                                    let _t = tracked;
                                    ran.fetch_add(1, Ordering::Relaxed);
                                    n
                                })
                            })
                            .collect();
                        sum += block_on(async {
                            let mut s = 0;
                            for task in tasks {
                                s += task.await;
                            }
                            s
                        });
                    }
                    sum
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let n = (THREADS * PER_THREAD) as u64;
    assert_eq!(sum, n * (n - 1) / 2);
    assert_eq!(ran.load(Ordering::Relaxed), THREADS * PER_THREAD);
    assert_eq!(counter.dropped(), THREADS * PER_THREAD, "every future dropped exactly once");
}

/// Completes once `sent` reaches `target`; keeps its waker where the storm threads take it.
struct Storm {
    sent: AtomicUsize,
    target: usize,
    waker: Mutex<Option<Waker>>,
    polls: AtomicUsize,
}

impl Storm {
    fn new(target: usize) -> Arc<Self> {
        Arc::new(Self {
            sent: AtomicUsize::new(0),
            target,
            waker: Mutex::new(None),
            polls: AtomicUsize::new(0),
        })
    }

    async fn wait(self: Arc<Self>) -> usize {
        future::poll_fn(|cx| {
            self.polls.fetch_add(1, Ordering::Relaxed);
            // Read before the waker is published: the storm threads start only once it is, so the
            // first poll always sees nothing sent and the task is polled at least twice. A wake
            // that lands between this read and the store below reaches the previous waker, which
            // wakes this same task.
            let done = self.sent.load(Ordering::Acquire) == self.target;
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if done { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
        self.polls.load(Ordering::Relaxed)
    }

    /// `threads` threads each bump `sent` and wake the task, `per_thread` times, all at once.
    fn blow(self: &Arc<Self>, threads: usize, per_thread: usize) -> Vec<thread::JoinHandle<()>> {
        let barrier = Arc::new(Barrier::new(threads));
        (0..threads)
            .map(|_| {
                let (storm, barrier) = (self.clone(), barrier.clone());
                thread::spawn(move || {
                    let waker = loop {
                        if let Some(w) = storm.waker.lock().unwrap().clone() {
                            break w;
                        }
                        thread::yield_now();
                    };
                    barrier.wait();
                    for i in 0..per_thread {
                        storm.sent.fetch_add(1, Ordering::Release);
                        // Both wake paths: by reference, and consuming a clone (as a waker
                        // stored per event would be).
                        if i % 2 == 0 {
                            waker.wake_by_ref()
                        } else {
                            let stored = waker.clone();
                            stored.wake()
                        }
                    }
                })
            })
            .collect()
    }
}

#[test]
fn wake_storms_from_sixteen_threads() {
    let _dog = watchdog("wake_storms", LIMIT);
    const THREADS: usize = 16;
    const PER_THREAD: usize = 2_000;
    const ROUNDS: usize = 60;
    let ex = Executor::new();
    let local = LocalExecutor::new();
    let counter = DropCounter::default();
    for round in 0..ROUNDS {
        let storm = Storm::new(THREADS * PER_THREAD);
        let tracked = counter.track();
        let body = {
            let storm = storm.clone();
            async move {
                let _t = tracked;
                storm.wait().await
            }
        };
        // Alternate: a global task, an `Executor` task run by two threads, a `LocalExecutor` task.
        let polls = match round % 3 {
            0 => {
                let task = spawn(body);
                let blowers = storm.blow(THREADS, PER_THREAD);
                let polls = block_on(task);
                blowers.into_iter().for_each(|b| b.join().unwrap());
                polls
            }
            1 => {
                let task = ex.spawn(body);
                let blowers = storm.blow(THREADS, PER_THREAD);
                let polls = thread::scope(|s| {
                    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
                    let helper = s.spawn(|| block_on(ex.run(stop_rx)));
                    let polls = block_on(ex.run(task));
                    stop_tx.send(()).unwrap();
                    helper.join().unwrap().unwrap();
                    polls
                });
                blowers.into_iter().for_each(|b| b.join().unwrap());
                polls
            }
            _ => {
                let task = local.spawn(body);
                let blowers = storm.blow(THREADS, PER_THREAD);
                let polls = block_on(local.run(task));
                blowers.into_iter().for_each(|b| b.join().unwrap());
                polls
            }
        };
        assert_eq!(storm.sent.load(Ordering::SeqCst), THREADS * PER_THREAD);
        // Wake-ups coalesce: never more polls than wakes (plus the first poll).
        assert!((2..=THREADS * PER_THREAD + 1).contains(&polls), "{polls} polls");
        assert_eq!(counter.dropped(), round + 1);
    }
    assert!(ex.is_empty() && local.is_empty());
}

/// The coalescing the storm above can only bound, made exact: a task whose executor nobody runs
/// is woken 32,000 times from sixteen threads at once, and then runs once: one queued runnable,
/// one poll, whatever the number of wakes. Both executor kinds, and both wake paths.
#[test]
fn a_storm_of_wakes_on_a_task_not_yet_run_queues_it_once() {
    let _dog = watchdog("storm_queues_once", LIMIT);
    const THREADS: usize = 16;
    const PER_THREAD: usize = 2_000;
    let ex = Executor::new();
    let local = LocalExecutor::new();
    for round in 0..4 {
        let storm = Storm::new(THREADS * PER_THREAD);
        let body = storm.clone().wait();
        let (tick_ex, tick_local) = (|| ex.try_tick(), || local.try_tick());
        let (task, tick): (amphi::Task<usize>, &dyn Fn() -> bool) =
            if round % 2 == 0 { (ex.spawn(body), &tick_ex) } else { (local.spawn(body), &tick_local) };
        assert!(tick(), "the spawned task runs");
        assert!(!tick(), "nothing else is queued after its first poll");
        storm.blow(THREADS, PER_THREAD).into_iter().for_each(|b| b.join().unwrap());
        assert_eq!(storm.sent.load(Ordering::SeqCst), THREADS * PER_THREAD);
        assert!(tick(), "the woken task runs");
        assert!(!tick(), "32,000 wakes of one waiting task queued it more than once");
        assert!(task.is_finished());
        assert_eq!(block_on(task), 2, "two polls: the first, and one for all the wakes");
    }
}

#[test]
fn tasks_cancelled_while_running_on_another_thread() {
    let _dog = watchdog("cancelled_while_running", LIMIT);
    const ROUNDS: usize = 300;
    let ex = Executor::new();
    let counter = DropCounter::default();
    let outputs = DropCounter::default();
    thread::scope(|s| {
        let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
        let runner = s.spawn(|| block_on(ex.run(stop_rx)));
        for round in 0..ROUNDS {
            // The task is inside its poll on the runner thread when the cancel happens: it tells
            // this thread it started, then waits for the cancel before returning.
            let (started_tx, started_rx) = mpsc::channel::<()>();
            let (cancelled_tx, cancelled_rx) = mpsc::channel::<()>();
            let tracked = counter.track();
            let output = outputs.track();
            let finish = round % 2 == 0;
            let mut output = Some(output);
            let mut started_tx = Some(started_tx);
            let task = ex.spawn(async move {
                let _t = tracked;
                future::poll_fn(move |_| {
                    if let Some(tx) = started_tx.take() {
                        tx.send(()).unwrap();
                        cancelled_rx.recv().unwrap();
                    }
                    // Half complete right after the cancel (their output must be dropped, not
                    // delivered), half stay pending (the executor drops them on their next run).
                    if finish { Poll::Ready(output.take().unwrap()) } else { Poll::Pending }
                })
                .await
            });
            started_rx.recv().unwrap();
            if round % 4 < 2 {
                drop(task);
                cancelled_tx.send(()).unwrap();
            } else {
                // `cancel` from a third thread, racing the running poll.
                let canceller = s.spawn(move || block_on(task.cancel()));
                cancelled_tx.send(()).unwrap();
                let out = canceller.join().unwrap();
                // Either the output (the poll finished first) or nothing; never both lost and kept.
                if let Some(o) = out {
                    assert!(finish);
                    drop(o);
                }
            }
        }
        // Every cancelled task is dropped by the runner; wait for the last ones through the executor.
        block_on(async {
            while !ex.is_empty() {
                future::yield_now().await;
            }
        });
        stop_tx.send(()).unwrap();
        runner.join().unwrap().unwrap();
    });
    assert_eq!(counter.dropped(), ROUNDS, "every future dropped exactly once");
    assert_eq!(outputs.dropped(), ROUNDS, "every output (delivered or not) dropped exactly once");
}

#[test]
fn cancel_spinning_tasks_running_on_other_threads() {
    let _dog = watchdog("cancel_spinning", LIMIT);
    const ROUNDS: usize = 200;
    const TASKS: usize = 8;
    let ex = Executor::new();
    let counter = DropCounter::default();
    let polls = Arc::new(AtomicUsize::new(0));
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        let runners: Vec<_> = (0..2)
            .map(|_| {
                let (ex, stop) = (&ex, &stop);
                s.spawn(move || {
                    block_on(ex.run(future::poll_fn(|cx| {
                        if stop.load(Ordering::Acquire) {
                            Poll::Ready(())
                        } else {
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                    })))
                })
            })
            .collect();
        for _ in 0..ROUNDS {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (t, polls) = (counter.track(), polls.clone());
                    ex.spawn(async move {
                        let _t = t;
                        loop {
                            polls.fetch_add(1, Ordering::Relaxed);
                            future::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                let before = counter.dropped();
                assert_eq!(block_on(t.cancel()), None::<()>);
                assert!(counter.dropped() > before, "cancel returns after the future is dropped");
            }
        }
        stop.store(true, Ordering::Release);
        runners.into_iter().for_each(|r| r.join().unwrap());
    });
    assert_eq!(counter.dropped(), ROUNDS * TASKS);
    assert!(ex.is_empty());
}

#[test]
fn executors_dropped_with_tasks_queued_running_and_sleeping() {
    let _dog = watchdog("executors_dropped", LIMIT);
    const ROUNDS: usize = 100;
    for round in 0..ROUNDS {
        let counter = DropCounter::default();
        let ex = if round % 2 == 0 { Executor::new() } else { Executor::with_capacity(64) };
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        // Sleeping on a channel whose senders outlive the executor (the reactor is not here yet).
        for _ in 0..16 {
            let t = counter.track();
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            senders.push(tx);
            handles.push(ex.spawn(async move {
                let _t = t;
                rx.await.ok();
                future::pending::<()>().await
            }));
        }
        // Running: always rescheduling themselves, on two runner threads until the drop.
        for _ in 0..16 {
            let t = counter.track();
            ex.spawn(async move {
                let _t = t;
                loop {
                    future::yield_now().await;
                }
            })
            .detach();
        }
        thread::scope(|s| {
            let stop = Arc::new(AtomicBool::new(false));
            let runners: Vec<_> = (0..2)
                .map(|_| {
                    let (ex, stop) = (&ex, stop.clone());
                    s.spawn(move || {
                        block_on(ex.run(future::poll_fn(|cx| {
                            if stop.load(Ordering::Acquire) {
                                Poll::Ready(())
                            } else {
                                cx.waker().wake_by_ref();
                                Poll::Pending
                            }
                        })))
                    })
                })
                .collect();
            // Let the runners get going, then stop them mid-flight.
            let deadline = Instant::now() + Duration::from_millis(5);
            while Instant::now() < deadline {
                thread::yield_now();
            }
            stop.store(true, Ordering::Release);
            runners.into_iter().for_each(|r| r.join().unwrap());
        });
        // Queued: never polled.
        for _ in 0..16 {
            let t = counter.track();
            handles.push(ex.spawn(async move {
                let _t = t;
            }));
        }
        // Wake the sleepers from another thread while the executor is dropped.
        let barrier = Arc::new(Barrier::new(2));
        let waker_thread = {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                for tx in senders {
                    let _ = tx.send(());
                }
            })
        };
        barrier.wait();
        drop(ex);
        assert_eq!(counter.dropped(), 48, "round {round}: every future dropped when drop returns");
        waker_thread.join().unwrap();
        assert_eq!(counter.dropped(), 48, "round {round}: and never twice");
        assert!(handles.iter().all(|h| h.is_finished()));
    }
}

#[test]
fn local_executors_dropped_with_tasks_queued_and_sleeping() {
    let _dog = watchdog("local_executors_dropped", LIMIT);
    for _ in 0..100 {
        let counter = DropCounter::default();
        let local = LocalExecutor::new();
        let mut senders = Vec::new();
        for i in 0..32 {
            let t = counter.track();
            let rc = std::rc::Rc::new(i);
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            senders.push(tx);
            local
                .spawn(async move {
                    let _t = t;
                    let _rc = rc;
                    rx.await.ok();
                    future::pending::<()>().await
                })
                .detach();
        }
        while local.try_tick() {}
        let waker_thread = thread::spawn(move || {
            for tx in senders {
                let _ = tx.send(());
            }
        });
        drop(local);
        assert_eq!(counter.dropped(), 32);
        waker_thread.join().unwrap();
        assert_eq!(counter.dropped(), 32);
    }
}

/// A connected TCP pair on loopback that closes with a reset (no `TIME_WAIT`, so that thousands
/// of them use no ports up): the accepted side, to register, and its peer.
fn resetting_pair(listener: &std::net::TcpListener) -> (std::net::TcpStream, std::net::TcpStream) {
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    for s in [&ours, &peer] {
        socket2::SockRef::from(s).set_linger(Some(Duration::ZERO)).unwrap();
    }
    (ours, peer)
}

/// A waker that counts its calls.
struct Counting(AtomicUsize);

impl std::task::Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An event of a socket deregistered after the driver took it from the poller, and before it
/// handed the batch out, reaches no other socket: registrations reuse a freed place at once, and
/// the socket registered there next (which nobody ever writes to) must not be woken as readable.
/// Sockets with data are registered and dropped on two threads while four others register and
/// drop quiet ones, each with a waiter; a thread in `block_on` drives throughout. It runs for
/// 2 s, and on until 2,000 quiet sockets have waited (a slow emulator beside the other tests of
/// this file makes a few hundred a second).
#[test]
fn an_event_of_a_dropped_socket_never_wakes_the_one_registered_after_it() {
    let _dog = watchdog("stale_events", LIMIT);
    const RUN: Duration = Duration::from_secs(2);
    const QUIET_WAITS: usize = 2_000;
    const AT_MOST: Duration = Duration::from_secs(60);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listener = Mutex::new(listener);
    let pair = || resetting_pair(&listener.lock().unwrap());
    let stop = AtomicBool::new(false);
    let waits = AtomicUsize::new(0);
    let (spurious, quiet_waits) = thread::scope(|s| {
        // The driver: idle in `block_on` for the whole run.
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                block_on(amphi::Timer::after(Duration::from_millis(50)));
            }
        });
        for seed in 1..=2u32 {
            let (stop, pair) = (&stop, &pair);
            s.spawn(move || {
                let mut spin = seed;
                while !stop.load(Ordering::Relaxed) {
                    let (ours, mut peer) = pair();
                    let ours = amphi::Async::new(ours).unwrap();
                    std::io::Write::write_all(&mut peer, &[1]).unwrap();
                    // A varying moment, so that some drops land while the event is in a batch.
                    spin = spin.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    for _ in 0..(spin >> 20) % 2_000 {
                        std::hint::spin_loop();
                    }
                    drop(ours);
                }
            });
        }
        let checkers: Vec<_> = (0..4)
            .map(|_| {
                let (stop, pair, waits) = (&stop, &pair, &waits);
                s.spawn(move || {
                    let counting = Arc::new(Counting(AtomicUsize::new(0)));
                    let waker = Waker::from(counting.clone());
                    while !stop.load(Ordering::Relaxed) {
                        let (ours, _peer) = pair();
                        let ours = amphi::Async::new(ours).unwrap();
                        let mut readable = std::pin::pin!(ours.readable());
                        let pending =
                            readable.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending();
                        assert!(pending, "a socket nobody wrote to is not readable");
                        waits.fetch_add(1, Ordering::Relaxed);
                        for _ in 0..1_000 {
                            std::hint::spin_loop();
                        }
                    }
                    counting.0.load(Ordering::SeqCst)
                })
            })
            .collect();
        let start = Instant::now();
        while start.elapsed() < RUN
            || (waits.load(Ordering::Relaxed) < QUIET_WAITS && start.elapsed() < AT_MOST)
        {
            thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let spurious: usize = checkers.into_iter().map(|h| h.join().unwrap()).sum();
        (spurious, waits.load(Ordering::Relaxed))
    });
    println!("{spurious} of {quiet_waits} quiet sockets woken");
    assert!(quiet_waits >= QUIET_WAITS, "only {quiet_waits} quiet waits in {AT_MOST:?}");
    assert_eq!(spurious, 0, "{spurious} of {quiet_waits} quiet sockets woken by another's event");
}
