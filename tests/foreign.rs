//! `Async` and `Timer` polled by other runtimes, with no `ambi` thread driving the reactor.

mod common;

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use ambi::{Async, Timer};
use common::{eventually, in_child, is_child, threads_named};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// An echo round trip and a timer, written against `ambi` only.
async fn workload() -> io::Result<()> {
    let start = Instant::now();
    let fired = Timer::after(Duration::from_millis(20)).await;
    assert!(fired >= start + Duration::from_millis(20) && Instant::now() >= fired);
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    let addr = listener.get_ref().local_addr()?;
    // A plain thread plays the peer so only the foreign executor polls `ambi` futures.
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
    let mut ticks = Timer::interval(Duration::from_millis(3));
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

#[test]
fn fallback_driver_starts_only_when_needed_and_exits() {
    if !is_child() {
        println!("{}", in_child("fallback_driver_starts_only_when_needed_and_exits", &[]));
        return;
    }
    assert_eq!(threads_named("ambi-reactor"), 0);
    // Under `ambi::block_on` the calling thread drives: no fallback.
    ambi::block_on(Timer::after(Duration::from_millis(5)));
    assert_eq!(threads_named("ambi-reactor"), 0);
    // A foreign executor: the fallback starts.
    let mut during = 0;
    futures::executor::block_on(async {
        Timer::after(Duration::from_millis(50)).await;
        during = threads_named("ambi-reactor");
    });
    println!("ambi-reactor threads while a foreign executor waits: {during}");
    assert_eq!(during, 1);
    let start = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), || threads_named("ambi-reactor") == 0),
        "the fallback exits when unneeded"
    );
    println!("ambi-reactor exited {:?} after it was last needed", start.elapsed());
    // And comes back when needed again.
    futures::executor::block_on(async {
        Timer::after(Duration::from_millis(10)).await;
        during = threads_named("ambi-reactor");
    });
    assert_eq!(during, 1);
}
