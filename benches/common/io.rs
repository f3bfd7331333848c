//! Reactor workloads — TCP echo, idle connections, timers — written once against async-io's API
//! (which `amphi` mirrors: `Async`, `Timer`) and once against Tokio's.
//!
//! Each function is `async` and meant to run inside `rt.block_on`, spawning on `rt`.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use super::Rt;

/// TCP echo of 64-byte messages over 127.0.0.1: `conns` clients, each doing `msgs` round trips
/// against a server task per connection. Returns the wall time in ns of the exchange (connects
/// excluded).
pub async fn echo(rt: Rt, conns: usize, msgs: usize) -> f64 {
    match rt {
        Rt::Amphi => amphi_io::echo(rt, conns, msgs).await,
        Rt::TokioMt | Rt::TokioCt => tokio_io::echo(rt, conns, msgs).await,
        Rt::Smol => smol_io::echo(rt, conns, msgs).await,
        _ => unreachable!("{} has no reactor here", rt.name()),
    }
}

/// `n` concurrent timers of 1–10 ms, one task each. Returns (wall ns, mean lateness ns).
pub async fn timers(rt: Rt, n: usize) -> (f64, f64) {
    match rt {
        Rt::Amphi => amphi_io::timers(rt, n).await,
        Rt::TokioMt | Rt::TokioCt => tokio_io::timers(rt, n).await,
        Rt::Smol => smol_io::timers(rt, n).await,
        _ => unreachable!("{} has no timers here", rt.name()),
    }
}

/// Sleeps on the runtime's own timer.
pub async fn sleep(rt: Rt, d: Duration) {
    match rt {
        Rt::Amphi => drop(amphi::Timer::after(d).await),
        Rt::TokioMt | Rt::TokioCt => tokio::time::sleep(d).await,
        _ => drop(async_io::Timer::after(d).await),
    }
}

/// Accepts `n` connections from plain blocking clients on another thread; each accepted socket
/// gets a task waiting in a read. Once all `n` tasks wait (counted in `waiting`), calls `measure`
/// and returns its result; then closes the clients, which ends the tasks.
pub async fn idle_conns<R>(
    rt: Rt,
    n: usize,
    waiting: &'static AtomicUsize,
    measure: impl FnOnce() -> R,
) -> R {
    match rt {
        Rt::Amphi => amphi_io::idle_conns(rt, n, waiting, measure).await,
        Rt::TokioMt | Rt::TokioCt => tokio_io::idle_conns(rt, n, waiting, measure).await,
        Rt::Smol => smol_io::idle_conns(rt, n, waiting, measure).await,
        _ => unreachable!("{} has no reactor here", rt.name()),
    }
}

/// Connects `n` blocking clients to `addr` on a helper thread (so a single-threaded runtime can
/// accept meanwhile).
fn connect_clients(
    addr: std::net::SocketAddr,
    n: usize,
) -> std::thread::JoinHandle<Vec<std::net::TcpStream>> {
    std::thread::spawn(move || (0..n).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect())
}

async fn wait_for(rt: Rt, counter: &AtomicUsize, n: usize) {
    while counter.load(std::sync::atomic::Ordering::Acquire) < n {
        sleep(rt, Duration::from_millis(1)).await;
    }
}

macro_rules! async_io_like {
    ($name:ident, $krate:ident) => {
        #[doc = concat!("The workloads on `", stringify!($krate), "`'s `Async` and `Timer`.")]
        pub mod $name {
            use std::net::{TcpListener, TcpStream};
            use std::sync::atomic::{AtomicUsize, Ordering};
            use std::time::{Duration, Instant};

            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            use $krate::{Async, Timer};

            use super::super::Rt;

            pub async fn echo(rt: Rt, conns: usize, msgs: usize) -> f64 {
                let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
                let addr = listener.get_ref().local_addr().unwrap();
                let server = rt.spawn(async move {
                    for _ in 0..conns {
                        let (mut s, _) = listener.accept().await.unwrap();
                        s.get_ref().set_nodelay(true).unwrap();
                        rt.detach(async move {
                            let mut buf = [0u8; 64];
                            while s.read_exact(&mut buf).await.is_ok() {
                                if s.write_all(&buf).await.is_err() {
                                    break;
                                }
                            }
                        });
                    }
                });
                // One connect at a time, so a burst never overflows the listen backlog.
                let mut streams = Vec::with_capacity(conns);
                for _ in 0..conns {
                    let s = Async::<TcpStream>::connect(addr).await.unwrap();
                    s.get_ref().set_nodelay(true).unwrap();
                    streams.push(s);
                }
                let start = Instant::now();
                let clients: Vec<_> = streams
                    .into_iter()
                    .map(|mut s| {
                        rt.spawn(async move {
                            let mut buf = [0u8; 64];
                            for m in 0..msgs {
                                // Each message different, and each echo checked.
                                let msg = [(m % 251) as u8; 64];
                                s.write_all(&msg).await.unwrap();
                                s.read_exact(&mut buf).await.unwrap();
                                assert_eq!(buf, msg, "the echo of message {m}");
                            }
                        })
                    })
                    .collect();
                server.await;
                for c in clients {
                    c.await;
                }
                start.elapsed().as_nanos() as f64
            }

            pub async fn timers(rt: Rt, n: usize) -> (f64, f64) {
                let start = Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        rt.spawn(async move {
                            let deadline = Instant::now() + Duration::from_millis(1 + (i % 10) as u64);
                            Timer::at(deadline).await;
                            {
                                let fired = Instant::now();
                                assert!(fired >= deadline, "a timer fired {:?} early", deadline - fired);
                                (fired - deadline).as_nanos() as f64
                            }
                        })
                    })
                    .collect();
                let mut late = 0.0;
                for t in tasks {
                    late += t.await;
                }
                (start.elapsed().as_nanos() as f64, late / n as f64)
            }

            pub async fn idle_conns<R>(
                rt: Rt,
                n: usize,
                waiting: &'static AtomicUsize,
                measure: impl FnOnce() -> R,
            ) -> R {
                waiting.store(0, Ordering::Release);
                let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
                let clients = super::connect_clients(listener.get_ref().local_addr().unwrap(), n);
                for _ in 0..n {
                    let (mut s, _) = listener.accept().await.unwrap();
                    rt.detach(async move {
                        waiting.fetch_add(1, Ordering::AcqRel);
                        let mut buf = [0u8; 64];
                        let _ = s.read(&mut buf).await;
                    });
                }
                let clients = clients.join().unwrap();
                super::wait_for(rt, waiting, n).await;
                // Let the last readers reach their wait in the reactor.
                super::sleep(rt, Duration::from_millis(20)).await;
                let out = measure();
                drop(clients);
                super::sleep(rt, Duration::from_millis(20)).await;
                out
            }
        }
    };
}

async_io_like!(smol_io, async_io);
async_io_like!(amphi_io, amphi);

/// The workloads on Tokio's `net` and `time`.
pub mod tokio_io {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::super::Rt;

    pub async fn echo(rt: Rt, conns: usize, msgs: usize) -> f64 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(async move {
            for _ in 0..conns {
                let (mut s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                rt.detach(async move {
                    let mut buf = [0u8; 64];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if s.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            streams.push(s);
        }
        let start = Instant::now();
        let clients: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                rt.spawn(async move {
                    let mut buf = [0u8; 64];
                    for m in 0..msgs {
                        // Each message different, and each echo checked.
                        let msg = [(m % 251) as u8; 64];
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                        assert_eq!(buf, msg, "the echo of message {m}");
                    }
                })
            })
            .collect();
        server.await;
        for c in clients {
            c.await;
        }
        start.elapsed().as_nanos() as f64
    }

    pub async fn timers(rt: Rt, n: usize) -> (f64, f64) {
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                rt.spawn(async move {
                    let deadline = Instant::now() + Duration::from_millis(1 + (i % 10) as u64);
                    tokio::time::sleep_until(deadline.into()).await;
                    {
                        let fired = Instant::now();
                        assert!(fired >= deadline, "a timer fired {:?} early", deadline - fired);
                        (fired - deadline).as_nanos() as f64
                    }
                })
            })
            .collect();
        let mut late = 0.0;
        for t in tasks {
            late += t.await;
        }
        (start.elapsed().as_nanos() as f64, late / n as f64)
    }

    pub async fn idle_conns<R>(
        rt: Rt,
        n: usize,
        waiting: &'static AtomicUsize,
        measure: impl FnOnce() -> R,
    ) -> R {
        waiting.store(0, Ordering::Release);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let clients = super::connect_clients(listener.local_addr().unwrap(), n);
        for _ in 0..n {
            let (mut s, _) = listener.accept().await.unwrap();
            rt.detach(async move {
                waiting.fetch_add(1, Ordering::AcqRel);
                let mut buf = [0u8; 64];
                let _ = s.read(&mut buf).await;
            });
        }
        let clients = clients.join().unwrap();
        super::wait_for(rt, waiting, n).await;
        super::sleep(rt, Duration::from_millis(20)).await;
        let out = measure();
        drop(clients);
        super::sleep(rt, Duration::from_millis(20)).await;
        out
    }
}
