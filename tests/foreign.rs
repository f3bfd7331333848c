//! `Async` and `Timer` polled by other runtimes, with no `amphi` thread driving the reactor.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use amphi::{Async, Timer};
use common::{eventually, in_child, is_child, threads_named};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// An echo round trip and a timer, written against `amphi` only.
async fn workload() -> io::Result<()> {
    workload_with(Duration::from_millis(20), Duration::from_millis(3)).await
}

/// [`workload`] with a first timer of `delay` and an interval of `period`.
async fn workload_with(delay: Duration, period: Duration) -> io::Result<()> {
    let start = Instant::now();
    let fired = Timer::after(delay).await;
    assert!(fired >= start + delay && Instant::now() >= fired);
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
    if !is_child() {
        println!("{}", in_child("fallback_driver_starts_only_when_needed_and_exits", &[]));
        return;
    }
    assert_eq!(threads_named("amphi-reactor"), 0);
    // Under `amphi::block_on` the calling thread drives: no fallback.
    amphi::block_on(Timer::after(Duration::from_millis(5)));
    assert_eq!(threads_named("amphi-reactor"), 0);
    // A foreign executor: the fallback starts.
    let mut during = 0;
    futures::executor::block_on(async {
        Timer::after(Duration::from_millis(50)).await;
        during = threads_named("amphi-reactor");
    });
    println!("amphi-reactor threads while a foreign executor waits: {during}");
    assert_eq!(during, 1);
    let start = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || threads_named("amphi-reactor") == 0),
        "the fallback exits when unneeded"
    );
    println!("amphi-reactor exited {:?} after it was last needed", start.elapsed());
    // And comes back when needed again.
    futures::executor::block_on(async {
        Timer::after(Duration::from_millis(10)).await;
        during = threads_named("amphi-reactor");
    });
    assert_eq!(during, 1);
}
