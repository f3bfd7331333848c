//! A sync library that calls a foreign `block_on` (`futures::executor::block_on`,
//! `pollster::block_on`) inside, on a future that waits on this crate's socket or timer, called
//! from inside `amphi::block_on` or from an `amphi` task: the thread that would drive the reactor
//! is held in foreign code, so someone else must drive, and promptly.
//!
//! Each case runs in a child process with the worker count it is about (a hang there fails the
//! test after 60 s instead of stalling the suite), and reports the latency the foreign wait added.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use amphi::{Async, Timer, block_on, spawn};
use common::{in_child, is_child};

/// How late a foreign wait may complete. Measured on a loaded 2-core machine: the fallback driver
/// starts and takes over in 40-270 us on Linux; 25 ms leaves room for a busy CI box. Under Wine
/// (the Windows run) a thread start and its first poll took 34-59 ms beside a parallel build.
const LATE: Duration = if cfg!(windows) { Duration::from_millis(250) } else { Duration::from_millis(25) };

/// A foreign `block_on`.
type Foreign = fn(std::pin::Pin<Box<dyn std::future::Future<Output = Duration> + '_>>) -> Duration;

fn futures_block_on(f: std::pin::Pin<Box<dyn std::future::Future<Output = Duration> + '_>>) -> Duration {
    futures::executor::block_on(f)
}

fn pollster_block_on(f: std::pin::Pin<Box<dyn std::future::Future<Output = Duration> + '_>>) -> Duration {
    pollster::block_on(f)
}

/// A sync function built on a foreign `block_on`, waiting on an `amphi` timer of 20 ms; returns
/// how late it woke.
fn sync_sleep(foreign: Foreign) -> Duration {
    let delay = Duration::from_millis(20);
    let start = Instant::now();
    foreign(Box::pin(async move {
        Timer::after(delay).await;
        start.elapsed() - delay
    }))
}

/// A sync function built on a foreign `block_on`, accepting on an `amphi` listener a connection
/// a plain thread makes 20 ms later; returns how late the accept completed after the connect
/// began (timed before the connect, so the accept can never finish before the time is there).
fn sync_accept(foreign: Foreign) -> Duration {
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let connected = std::sync::Arc::new(std::sync::Mutex::new(None));
    let client = std::thread::spawn({
        let connected = connected.clone();
        move || {
            std::thread::sleep(Duration::from_millis(20));
            *connected.lock().unwrap() = Some(Instant::now());
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"x").unwrap();
            let mut buf = [0; 1];
            let _ = s.read(&mut buf);
        }
    });
    let late = foreign(Box::pin(async {
        let (stream, _) = listener.accept().await.unwrap();
        let late = connected.lock().unwrap().expect("the connect was timed before it began").elapsed();
        drop(stream);
        late
    }));
    client.join().unwrap();
    late
}

/// Runs `check` in a child with `threads` workers; the child prints the latency it measured.
fn case(name: &str, threads: &str, check: fn() -> Duration) {
    if !is_child() {
        let out = in_child(name, &[("AMPHI_THREADS", threads)]);
        println!("{}", out.lines().filter(|l| l.contains("late by")).collect::<Vec<_>>().join("\n"));
        return;
    }
    for round in 0..3 {
        let late = check();
        println!("{name} (AMPHI_THREADS={threads}), round {round}: late by {late:?}");
        assert!(late < LATE, "late by {late:?}");
    }
}

#[test]
fn futures_block_on_a_timer_inside_block_on() {
    case("futures_block_on_a_timer_inside_block_on", "2", || {
        block_on(async { sync_sleep(futures_block_on) })
    });
}

#[test]
fn pollster_block_on_a_timer_inside_block_on() {
    case("pollster_block_on_a_timer_inside_block_on", "2", || {
        block_on(async { sync_sleep(pollster_block_on) })
    });
}

#[test]
fn futures_block_on_a_socket_inside_block_on() {
    case("futures_block_on_a_socket_inside_block_on", "2", || {
        block_on(async { sync_accept(futures_block_on) })
    });
}

#[test]
fn pollster_block_on_a_socket_inside_block_on() {
    case("pollster_block_on_a_socket_inside_block_on", "2", || {
        block_on(async { sync_accept(pollster_block_on) })
    });
}

#[test]
fn foreign_block_on_a_timer_inside_a_task_with_one_worker() {
    case("foreign_block_on_a_timer_inside_a_task_with_one_worker", "1", || {
        block_on(spawn(async { sync_sleep(futures_block_on) }))
    });
}

#[test]
fn foreign_block_on_a_socket_inside_a_task_with_one_worker() {
    case("foreign_block_on_a_socket_inside_a_task_with_one_worker", "1", || {
        block_on(spawn(async { sync_accept(pollster_block_on) }))
    });
}

#[test]
fn foreign_block_on_a_timer_inside_a_task_with_no_workers() {
    case("foreign_block_on_a_timer_inside_a_task_with_no_workers", "0", || {
        block_on(spawn(async { sync_sleep(pollster_block_on) }))
    });
}

#[test]
fn foreign_block_on_a_socket_inside_a_task_with_no_workers() {
    case("foreign_block_on_a_socket_inside_a_task_with_no_workers", "0", || {
        block_on(spawn(async { sync_accept(futures_block_on) }))
    });
}

/// The one-worker case where the worker itself keeps the reactor's seat: it drove (a timer of
/// its own) just before its task blocks in the foreign `block_on`.
#[test]
fn foreign_block_on_in_a_task_of_a_worker_that_kept_the_seat() {
    case("foreign_block_on_in_a_task_of_a_worker_that_kept_the_seat", "1", || {
        block_on(spawn(async {
            Timer::after(Duration::from_millis(2)).await;
            sync_sleep(futures_block_on)
        }))
    });
}
