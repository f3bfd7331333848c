//! Where woken tasks run: a task woken (or spawned) by the task a runner is running runs next on
//! the same runner, without waking another; the lookout takes such a task over when the running
//! task holds its thread; and keeping tasks local starves nobody.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use amphi::{Executor, Timer, block_on, yield_now};
use common::ran_in_child;

mod common;

/// The longest a task queued by a runner held in another task may wait. The lookout looks every
/// 10 ms and takes the work over at the first look that finds the runner has started no task
/// since the previous one (≤ 20 ms); the rest is margin for a loaded 2-core machine, where the
/// lookout's thread may wait for a core. Without the lookout the task waits the full 200 ms.
const TAKEOVER_BOUND: Duration = Duration::from_millis(100);

/// `n` threads running `ex` until the returned sender is dropped.
fn runners(ex: &Arc<Executor<'static>>, n: usize) -> (async_channel::Sender<()>, Vec<JoinHandle<()>>) {
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let threads = (0..n)
        .map(|_| {
            let (ex, stopped) = (ex.clone(), stopped.clone());
            thread::spawn(move || block_on(ex.run(async move { while stopped.recv().await.is_ok() {} })))
        })
        .collect();
    (stop, threads)
}

fn stop(stop: async_channel::Sender<()>, threads: Vec<JoinHandle<()>>) {
    drop(stop);
    for t in threads {
        t.join().unwrap();
    }
}

/// Two tasks passing a message back and forth over `bounded(1)` channels on two runners: each hop
/// wakes the other task from inside the running one, which then runs on the same thread. Before,
/// every hop woke the other runner, which stole the woken task: about half the hops crossed.
#[test]
fn a_pair_passing_messages_stays_on_one_thread() {
    const HOPS: usize = 20_000;
    let ex = Arc::new(Executor::new());
    let (stopper, threads) = runners(&ex, 2);
    let (to_b, from_a) = async_channel::bounded::<(usize, ThreadId)>(1);
    let (to_a, from_b) = async_channel::bounded::<(usize, ThreadId)>(1);
    let crossed = Arc::new(AtomicUsize::new(0));
    let c = crossed.clone();
    let b = ex.spawn(async move {
        while let Ok((n, sender)) = from_a.recv().await {
            if sender != thread::current().id() {
                c.fetch_add(1, Ordering::Relaxed);
            }
            if to_a.send((n + 1, thread::current().id())).await.is_err() {
                break;
            }
        }
    });
    let c = crossed.clone();
    let a = ex.spawn(async move {
        let mut n = 0;
        while n < HOPS {
            to_b.send((n + 1, thread::current().id())).await.unwrap();
            let (m, sender) = from_b.recv().await.unwrap();
            if sender != thread::current().id() {
                c.fetch_add(1, Ordering::Relaxed);
            }
            n = m;
        }
        n
    });
    assert_eq!(block_on(a), HOPS);
    block_on(b);
    stop(stopper, threads);
    let crossed = crossed.load(Ordering::Relaxed);
    // A lookout's look may move the pair (at most once a millisecond while one runner is held by the
    // OS), and the first hops may run on either thread: a few crossings, not one in ten.
    assert!(crossed < HOPS / 10, "{crossed} of {HOPS} hops crossed threads");
}

/// How a task held in its runner makes the next one runnable, from inside itself.
#[derive(Clone, Copy, Debug)]
enum Queued {
    /// It spawns it.
    Spawned,
    /// It wakes it: a message on a channel it waits on.
    Woken,
}

/// A task queues a second one on its runner's own queue, then holds the thread for 200 ms in
/// synchronous code: the other runner, keeping the lookout, takes the second task over.
fn held_runner_work_is_taken_over(how: Queued) {
    let ex = Arc::new(Executor::new());
    let (stopper, threads) = runners(&ex, 2);
    // Let both runners fall asleep, so that the other runner goes back to sleep later, while
    // the first one runs the holder: that is when it keeps the lookout.
    thread::sleep(Duration::from_millis(50));
    let (wake_tx, wake_rx) = async_channel::bounded::<()>(1);
    let queued_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let ran_at = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let warmed = Arc::new(AtomicBool::new(false));

    let ran = ran_at.clone();
    let second = async move {
        if let Queued::Woken = how {
            wake_rx.recv().await.unwrap();
        }
        *ran.lock().unwrap() = Some(Instant::now());
    };
    // For `Woken`, the second task waits on the channel first (it runs, and sleeps, elsewhere).
    let mut second = Some(second);
    let waiting = match how {
        Queued::Woken => Some(ex.spawn(second.take().unwrap())),
        Queued::Spawned => None,
    };
    let (ex_in, queued, w) = (ex.clone(), queued_at.clone(), warmed.clone());
    let holder = ex.spawn(async move {
        // A short task for the other runner: it wakes for it (nobody keeps the lookout yet), runs
        // it, and goes back to sleep while this task runs, keeping the lookout.
        ex_in.spawn(async move { w.store(true, Ordering::Release) }).detach();
        while !warmed.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        thread::sleep(Duration::from_millis(20));
        let spawned = match how {
            Queued::Spawned => Some(ex_in.spawn(second.take().unwrap())),
            Queued::Woken => {
                wake_tx.try_send(()).unwrap();
                None
            }
        };
        *queued.lock().unwrap() = Some(Instant::now());
        // Synchronous code holding the runner's thread.
        thread::sleep(Duration::from_millis(200));
        spawned
    });
    if let Some(task) = block_on(holder) {
        block_on(task);
    }
    if let Some(task) = waiting {
        block_on(task);
    }
    stop(stopper, threads);
    let queued = queued_at.lock().unwrap().expect("the holder queued the task");
    let ran = ran_at.lock().unwrap().expect("the second task ran");
    let waited = ran.saturating_duration_since(queued);
    eprintln!("{how:?}: taken over after {waited:?}");
    assert!(waited < TAKEOVER_BOUND, "{how:?}: the task waited {waited:?} for its held runner");
}

#[test]
fn a_task_spawned_by_a_held_runner_is_taken_over() {
    held_runner_work_is_taken_over(Queued::Spawned);
}

#[test]
fn a_task_woken_by_a_held_runner_is_taken_over() {
    held_runner_work_is_taken_over(Queued::Woken);
}

/// One runner, a pair passing messages for ever (each hop queues the partner on the runner's own
/// queue), and a task spawned from outside: it runs at the next batch, not after the pair.
#[test]
fn a_message_passing_pair_does_not_starve_a_queued_task() {
    let ex = Arc::new(Executor::new());
    let (stopper, threads) = runners(&ex, 1);
    let done = Arc::new(AtomicBool::new(false));
    let hops = Arc::new(AtomicUsize::new(0));
    let (to_b, from_a) = async_channel::bounded::<()>(1);
    let (to_a, from_b) = async_channel::bounded::<()>(1);
    let d = done.clone();
    let b = ex.spawn(async move {
        while from_a.recv().await.is_ok() && to_a.send(()).await.is_ok() {}
        drop(d);
    });
    let (d, h) = (done.clone(), hops.clone());
    let a = ex.spawn(async move {
        while !d.load(Ordering::Relaxed) {
            to_b.send(()).await.unwrap();
            from_b.recv().await.unwrap();
            h.fetch_add(1, Ordering::Relaxed);
        }
    });
    // The pair is going.
    while hops.load(Ordering::Relaxed) < 1000 {
        thread::yield_now();
    }
    for _ in 0..20 {
        let spawned = Instant::now();
        let ran = block_on(ex.spawn(async { Instant::now() }));
        let waited = ran - spawned;
        assert!(waited < Duration::from_millis(100), "a queued task waited {waited:?} behind the pair");
    }
    done.store(true, Ordering::Relaxed);
    block_on(a);
    block_on(b);
    stop(stopper, threads);
}

/// 200 tasks yielding for ever on one runner (each yield polls the task again, or after three
/// such polls queues it on the runner's own queue): every one of them makes progress in every
/// window of 50 ms.
#[test]
fn no_task_starves_while_200_yield() {
    const TASKS: usize = 200;
    let ex = Arc::new(Executor::new());
    let (stopper, threads) = runners(&ex, 1);
    let done = Arc::new(AtomicBool::new(false));
    let polls: Arc<Vec<AtomicUsize>> = Arc::new((0..TASKS).map(|_| AtomicUsize::new(0)).collect());
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (done, polls) = (done.clone(), polls.clone());
            ex.spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    polls[i].fetch_add(1, Ordering::Relaxed);
                    yield_now().await;
                }
            })
        })
        .collect();
    let snapshot = || polls.iter().map(|p| p.load(Ordering::Relaxed)).collect::<Vec<_>>();
    // Spawned from outside, the tasks wait in the shared queue, which a runner busy with its own
    // queue takes one task from per batch of 64: under emulation, starting all 200 takes longer
    // than a window. Once each has run, each yield queues it on the runner's own queue.
    let started = Instant::now();
    while snapshot().contains(&0) {
        assert!(started.elapsed() < Duration::from_secs(30), "some tasks never started: {:?}", snapshot());
        thread::sleep(Duration::from_millis(5));
    }
    let mut before = snapshot();
    for _ in 0..6 {
        thread::sleep(Duration::from_millis(50));
        let now = snapshot();
        let starved: Vec<usize> = (0..TASKS).filter(|&i| now[i] == before[i]).collect();
        assert!(starved.is_empty(), "tasks {starved:?} made no progress in 50 ms");
        before = now;
    }
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        block_on(t);
    }
    stop(stopper, threads);
}

/// Two tasks yielding on one runner: a task that yields is polled again at once (no queue round
/// trip), but at most four times in a row before the other gets its turn.
#[test]
fn a_yielding_task_is_polled_again_at_most_four_times_in_a_row() {
    const YIELDS: usize = 1000;
    let ex = Arc::new(Executor::new());
    let (stopper, threads) = runners(&ex, 1);
    let log = Arc::new(std::sync::Mutex::new(Vec::with_capacity(2 * YIELDS)));
    let (go, gate) = async_channel::bounded::<()>(1);
    let tasks: Vec<_> = (0..2u8)
        .map(|id| {
            let (log, gate) = (log.clone(), gate.clone());
            ex.spawn(async move {
                // Both start once both are queued, so neither runs its yields alone.
                let _ = gate.recv().await;
                for _ in 0..YIELDS {
                    log.lock().unwrap().push(id);
                    yield_now().await;
                }
            })
        })
        .collect();
    drop(go);
    for t in tasks {
        block_on(t);
    }
    stop(stopper, threads);
    let log = log.lock().unwrap();
    let runs: Vec<usize> = log.chunk_by(|a, b| a == b).map(<[u8]>::len).collect();
    // The first run may be a whole batch (or 64 × 4 polls): the other task waits in the shared
    // queue, which a busy runner looks at once per batch. The last is the task left alone once
    // the other has finished.
    let shared = &runs[1..runs.len().max(2) - 1];
    let longest = shared.iter().max().copied().unwrap_or(YIELDS);
    assert!(
        shared.len() > 1 && longest <= 4,
        "a task was polled {longest} times in a row while the other waited: {runs:?}"
    );
    assert!(
        shared.iter().filter(|&&n| n > 1).count() > shared.len() / 2,
        "a yielding task was not polled again at once: {runs:?}"
    );
}

/// A runner whose thread drove the reactor leaves (its `run` future is done) in the same wait that
/// woke a task of its executor: that task was left to it, since it slept on the thread that woke
/// it, and the runner leaving must hand it to one that stays, which nobody else wakes for it.
#[test]
fn a_runner_that_leaves_hands_the_task_left_to_it_to_a_runner_that_stays() {
    // No global worker: the threads below are the only ones that drive.
    if ran_in_child(
        "a_runner_that_leaves_hands_the_task_left_to_it_to_a_runner_that_stays",
        &[("AMPHI_THREADS", "0")],
    ) {
        return;
    }
    let ex = Arc::new(Executor::new());
    // Both timers fire in one look at the timers, by the thread that drives: this one, which waits
    // alone until the other runner starts, 100 ms later.
    let at = Instant::now() + Duration::from_millis(300);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let staying = {
        let ex = ex.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            runners(&ex, 1)
        })
    };
    block_on(ex.run(async {
        ex.spawn(async move {
            Timer::at(at).await;
            done_tx.send(thread::current().id()).unwrap();
        })
        .detach();
        Timer::at(at).await;
    }));
    let ran_on = done_rx.recv_timeout(Duration::from_secs(5));
    let (stopper, threads) = staying.join().unwrap();
    stop(stopper, threads);
    let ran_on = ran_on.expect("the task woken as its runner left ran on the runner that stays");
    assert_ne!(ran_on, thread::current().id(), "it ran on the runner that left");
}
