//! `Async` and `Timer` polled by other runtimes, with no `amphi` thread driving the reactor.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use amphi::{Async, Timer};
use common::{eventually, ran_in_child, threads_named};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// An echo round trip and a timer, written against `amphi` only.
async fn workload() -> io::Result<()> {
    workload_with(Duration::from_millis(20), Duration::from_millis(3)).await
}

/// [`workload`] with a first timer of `delay` and an interval of `period`.
async fn workload_with(delay: Duration, period: Duration) -> io::Result<()> {
    let start = Instant::now();
    let fired = Timer::after(delay).await;
    // Measured, not derived from the deadline (which is `start + delay` by construction).
    assert!(
        start.elapsed() >= delay && Instant::now() >= fired,
        "woke {:?} into a wait of {delay:?}",
        start.elapsed()
    );
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    let addr = listener.get_ref().local_addr()?;
    // A plain thread plays the peer so only the foreign executor polls `amphi` futures.
    let peer = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr)?;
        let mut buf = [0; 5];
        s.read_exact(&mut buf)?;
        s.write_all(&buf)
    });
    let (mut stream, _) = listener.accept().await?;
    stream.write_all(b"hello").await?;
    let mut buf = [0; 5];
    stream.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hello");
    peer.join().unwrap()?;
    let mut ticks = Timer::interval(period);
    use futures_lite::StreamExt;
    ticks.next().await;
    ticks.next().await;
    Ok(())
}

fn limit() -> Timer {
    Timer::after(Duration::from_secs(30))
}

#[test]
fn futures_executor_block_on() {
    futures::executor::block_on(async {
        futures_lite::future::or(async { workload().await.unwrap() }, async {
            limit().await;
            panic!("timed out");
        })
        .await
    });
}

#[test]
fn tokio_current_thread() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), workload()).await.expect("timed out").unwrap();
    });
}

#[test]
fn tokio_multi_thread_spawned_tasks() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (0..8).map(|_| tokio::spawn(workload())).collect();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(30), t).await.expect("timed out").unwrap().unwrap();
        }
    });
}

/// Three foreign executors polling `amphi` futures at once, round after round, in one process:
/// the fallback driver must keep waiting in the poller. It once woke itself whenever it left the
/// driver's seat, and from then on looped without waiting: timers still fired, no I/O event was
/// ever seen, and all three hung within a few hundred rounds.
#[test]
fn foreign_executors_in_parallel_keep_their_io_flowing() {
    const ROUNDS: usize = 200;
    const LIMIT: Duration = Duration::from_secs(10);
    let quick = || workload_with(Duration::from_millis(2), Duration::from_millis(1));
    let threads: Vec<_> = (0..3)
        .map(|k| {
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let done = match k {
                        0 => futures::executor::block_on(futures_lite::future::or(
                            async { quick().await.is_ok() },
                            async {
                                Timer::after(LIMIT).await;
                                false
                            },
                        )),
                        1 => tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .build()
                            .unwrap()
                            .block_on(async {
                                matches!(tokio::time::timeout(LIMIT, quick()).await, Ok(Ok(())))
                            }),
                        _ => tokio::runtime::Builder::new_multi_thread()
                            .worker_threads(2)
                            .enable_time()
                            .build()
                            .unwrap()
                            .block_on(async {
                                matches!(
                                    tokio::time::timeout(LIMIT, tokio::spawn(quick())).await,
                                    Ok(Ok(Ok(())))
                                )
                            }),
                    };
                    assert!(done, "foreign executor {k} failed or hung in round {round}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn fallback_driver_starts_only_when_needed_and_exits() {
    if ran_in_child("fallback_driver_starts_only_when_needed_and_exits", &[]) {
        return;
    }
    assert_eq!(threads_named("amphi-reactor"), 0);
    // Under `amphi::block_on` the calling thread drives: no fallback.
    amphi::block_on(Timer::after(Duration::from_millis(5)));
    assert_eq!(threads_named("amphi-reactor"), 0);
    // A foreign executor: the fallback starts, and the runtime's metrics say so while it runs.
    let mut during = 0;
    futures::executor::block_on(async {
        Timer::after(Duration::from_millis(50)).await;
        during = threads_named("amphi-reactor");
        assert!(amphi::metrics().fallback_driver, "the fallback driver runs, and is counted as running");
    });
    println!("amphi-reactor threads while a foreign executor waits: {during}");
    assert_eq!(during, 1);
    // It lingers, then exits. It was last needed as its drive began, before the timer was
    // registered (at most its check period of 0.5 s before the wait ended, `fallback.rs`), and
    // stays 1.5 s after that: it leaves 1.0–1.5 s after the wait ended. The look below can only
    // see the exit late, never early, so the lower bound holds on a loaded machine.
    let start = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || !amphi::metrics().fallback_driver),
        "the fallback exits when unneeded"
    );
    let gone = start.elapsed();
    println!("amphi-reactor exited {gone:?} after it was last needed");
    assert!(gone >= Duration::from_millis(900), "the fallback left after {gone:?}, without lingering");
    assert!(eventually(Duration::from_secs(5), || threads_named("amphi-reactor") == 0), "its thread ends");
    // And comes back when needed again.
    futures::executor::block_on(async {
        Timer::after(Duration::from_millis(10)).await;
        during = threads_named("amphi-reactor");
    });
    assert_eq!(during, 1);
}

/// How late a foreign wait may complete when the fallback driver drives: it is woken in time by
/// its own wait in the poller, so the bound is the machine's scheduling delay (Windows: Wine's).
const FALLBACK_LATE: Duration =
    if cfg!(windows) { Duration::from_millis(250) } else { Duration::from_millis(100) };

/// A foreign wait longer than the fallback driver's check period (0.5 s): the driver must go on
/// driving after each check, not park as it does when it stood back for an `amphi` thread. (Parked
/// for a check period after its first, it would fire a 600 ms timer 400 ms late.)
#[test]
fn a_foreign_wait_longer_than_the_fallback_s_check_period_ends_on_time() {
    if ran_in_child("a_foreign_wait_longer_than_the_fallback_s_check_period_ends_on_time", &[]) {
        return;
    }
    for delay in [600, 1100] {
        let delay = Duration::from_millis(delay);
        let start = Instant::now();
        futures::executor::block_on(Timer::after(delay));
        let late = start.elapsed() - delay;
        println!("a foreign wait of {delay:?} ended {late:?} late");
        assert!(late < FALLBACK_LATE, "a foreign wait of {delay:?} ended {late:?} late");
    }
}

/// The fallback driver exits after its linger even while work waits, once an `amphi` thread is
/// idle to drive that work: it stood back for that thread and is not needed any more.
#[test]
fn the_fallback_driver_leaves_the_work_to_an_idle_amphi_thread() {
    if ran_in_child("the_fallback_driver_leaves_the_work_to_an_idle_amphi_thread", &[]) {
        return;
    }
    futures::executor::block_on(Timer::after(Duration::from_millis(20)));
    assert!(amphi::metrics().fallback_driver, "the foreign wait started the fallback driver");
    // An `amphi` thread waits on a timer: work waits in the reactor, and that thread drives it.
    let wait = Duration::from_secs(4);
    let waiting = std::thread::spawn(move || amphi::block_on(Timer::after(wait)));
    let start = Instant::now();
    // The fallback leaves 1.5 s after it was last needed (`fallback.rs`), which was before the
    // thread began to wait.
    assert!(
        eventually(Duration::from_secs(3), || !amphi::metrics().fallback_driver),
        "the fallback driver stayed beside an idle amphi thread"
    );
    assert!(start.elapsed() < wait, "seen before the thread's wait ended");
    println!("amphi-reactor exited {:?} after an amphi thread began to wait", start.elapsed());
    waiting.join().unwrap();
}

/// Once the fallback driver has left with nothing waiting, the process is `amphi`'s alone again:
/// a later moment when `amphi`'s own work waits unattended (its one worker held in a task, the
/// thread that drove leaving `block_on`) starts no fallback driver; that work is driven when a
/// worker is idle again, as in a program that never polled a foreign future.
#[test]
fn after_the_fallback_left_unattended_own_work_starts_no_fallback() {
    if ran_in_child(
        "after_the_fallback_left_unattended_own_work_starts_no_fallback",
        &[("AMPHI_THREADS", "1")],
    ) {
        return;
    }
    futures::executor::block_on(Timer::after(Duration::from_millis(20)));
    assert!(amphi::metrics().fallback_driver, "the foreign wait started the fallback driver");
    assert!(eventually(Duration::from_secs(5), || !amphi::metrics().fallback_driver), "the fallback exits");
    // A task's timer waits while the one worker is held in another task.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let timer = amphi::spawn(Timer::after(Duration::from_millis(400)));
    let held = amphi::spawn(async move {
        held_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(600));
    });
    held_rx.recv().unwrap();
    // This thread drives meanwhile, then leaves the seat with the task's timer waiting.
    amphi::block_on(Timer::after(Duration::from_millis(20)));
    let fallback =
        common::most_threads_named_during("amphi-reactor", || std::thread::sleep(Duration::from_millis(100)));
    assert_eq!(fallback, 0, "a fallback driver started for amphi's own work");
    amphi::block_on(held);
    amphi::block_on(timer);
}
