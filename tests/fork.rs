//! A child made by `fork()` gets a working runtime, and its parent keeps its own.
//!
//! Each scenario runs in a child process of its own (so that what the runtime did before the fork
//! is the scenario's), forks there, and checks in the forked child that `block_on`, `spawn`,
//! `unblock`, `Timer` and `Async` work, then in the parent that its runtime still does: its
//! pending accept and timer complete after the child used the runtime and exited.
#![cfg(unix)]

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use amphi::{Async, Timer, block_on, scope, spawn, unblock};
use futures_lite::{AsyncReadExt, AsyncWriteExt, Future};

/// Generates, for a scenario, the test that runs it in a child process of its own.
macro_rules! in_own_process {
    ($($name:ident),* $(,)?) => {
        mod scenarios {
            $(
                #[test]
                fn $name() {
                    if super::common::is_child() {
                        return;
                    }
                    super::common::in_child(concat!("fresh::", stringify!($name)), &[]);
                }
            )*
        }
        mod fresh {
            $(
                #[test]
                fn $name() {
                    if super::common::is_child() {
                        super::$name();
                    }
                }
            )*
        }
    };
}

in_own_process!(
    forked_before_any_use,
    forked_after_use,
    forked_while_workers_are_busy,
    forked_with_a_pending_accept_and_timer_in_the_parent,
    a_forked_child_forks_again,
);

/// How long a forked child may take: it uses every part of the runtime once.
const CHILD_LIMIT: Duration = Duration::from_secs(30);

/// Forks; the child runs `child` and exits with 0 if it returned, 1 if it panicked (its message
/// on stderr), never returning into the test harness. Returns the child's pid.
fn fork(child: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the child runs `child` and leaves through `_exit`, never back into the caller's
    // frames (the harness's threads do not exist in it).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match catch_unwind(AssertUnwindSafe(child)) {
            Ok(()) => 0,
            Err(payload) => {
                let message = format!("forked child panicked: {}\n", common::message(payload));
                // Around the harness's capture of `eprintln!`, which the child would lose.
                let _ = std::io::stderr().write_all(message.as_bytes());
                1
            }
        };
        // SAFETY: ends the child at once, without the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Waits for the forked child `pid` to exit 0; a child still running after [`CHILD_LIMIT`] (a
/// deadlock on a lock a parent thread held, a wait on a thread that does not exist) is killed
/// and fails the test.
fn wait_ok(pid: libc::pid_t) {
    let deadline = Instant::now() + CHILD_LIMIT;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid place for the status; `pid` is our child.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(got >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if got == pid {
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "the forked child failed (status {status:#x}); its message is above"
            );
            return;
        }
        if Instant::now() > deadline {
            // SAFETY: `pid` is our child, not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child hung for {CHILD_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Every part of the runtime, once: tasks on the workers, a scope, the blocking pool, a timer,
/// and a TCP echo over `Async` sockets.
fn use_the_runtime() {
    assert_eq!(block_on(spawn(async { 20 + 1 })), 21);
    let tasks: Vec<_> = (0..50u64).map(|i| spawn(async move { i })).collect();
    assert_eq!(
        block_on(async {
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            sum
        }),
        1225
    );
    let data = [1u32, 2, 3];
    assert_eq!(scope(|s| s.spawn(async { data.iter().sum::<u32>() }).join()), 6);
    assert_eq!(block_on(unblock(std::process::id)), std::process::id());
    let start = Instant::now();
    block_on(Timer::after(Duration::from_millis(20)));
    assert!(start.elapsed() >= Duration::from_millis(20));

    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let server = spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        stream.write_all(&buf).await.unwrap();
    });
    block_on(async {
        let mut client = Async::<TcpStream>::connect(addr).await.unwrap();
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
    });
    block_on(server);
}

fn forked_before_any_use() {
    let child = fork(use_the_runtime);
    use_the_runtime();
    wait_ok(child);
}

fn forked_after_use() {
    use_the_runtime();
    let child = fork(use_the_runtime);
    use_the_runtime();
    wait_ok(child);
    use_the_runtime();
}

fn forked_while_workers_are_busy() {
    use_the_runtime();
    let stop = Arc::new(AtomicBool::new(false));
    // More busy tasks than workers: every worker is inside a poll, or about to be, at the fork.
    let busy: Vec<_> = (0..8)
        .map(|_| {
            let stop = stop.clone();
            spawn(async move {
                let mut polls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    polls += 1;
                    amphi::yield_now().await;
                }
                polls
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(20));
    let child = fork(use_the_runtime);
    // Several forks while they run, to catch a worker inside a lock at the fork.
    let more: Vec<_> = (0..4)
        .map(|_| {
            thread::sleep(Duration::from_millis(3));
            fork(use_the_runtime)
        })
        .collect();
    wait_ok(child);
    for pid in more {
        wait_ok(pid);
    }
    stop.store(true, Ordering::Relaxed);
    let polls: u64 = block_on(async {
        let mut sum = 0;
        for t in busy {
            sum += t.await;
        }
        sum
    });
    assert!(polls > 0);
}

fn forked_with_a_pending_accept_and_timer_in_the_parent() {
    // A registered listener that the child drops: its registration is the parent's too.
    let idle = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let idle_addr = idle.get_ref().local_addr().unwrap();
    // A listener a task waits on, and a timer a task waits on, both pending at the fork.
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let accepted = spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
    let armed = Instant::now();
    let timer = spawn(Timer::after(Duration::from_millis(300)));
    // And a timer armed with the parent's reactor through a waker of this thread's, which the
    // child polls again with that same waker (as a task that outlives the fork would).
    let mut polled = Timer::after(Duration::from_millis(50));
    let waker = std::task::Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut polled).poll(&mut cx).is_pending());
    thread::sleep(Duration::from_millis(30));

    let child = fork(|| {
        // The parent's sockets are not the child's to wait on: a clear error, not a hang,
        // and dropping them leaves the parent's registrations alone.
        let err = block_on(idle.readable()).expect_err("a wait on the parent's registration");
        assert!(err.to_string().contains("fork"), "{err}");
        // SAFETY: the child's copy of `idle` is never used or dropped after this (the child
        // leaves through `_exit`): this read makes it the child's to drop, here.
        drop(unsafe { std::ptr::read(&idle) });
        // A timer armed before the fork fires in the child: armed again with its reactor,
        // which wakes the waker (a timer left armed with the parent's never would).
        while std::pin::Pin::new(&mut polled).poll(&mut cx).is_pending() {
            thread::park();
        }
        assert!(armed.elapsed() >= Duration::from_millis(50));
        use_the_runtime();
    });
    wait_ok(child);

    // The parent's pending accept and timer complete, and its idle listener still gets events.
    let client = TcpStream::connect(addr).unwrap();
    assert_eq!(block_on(accepted).unwrap(), client.local_addr().unwrap());
    block_on(timer);
    assert!(armed.elapsed() >= Duration::from_millis(300));
    block_on(polled);
    let _client = TcpStream::connect(idle_addr).unwrap();
    let accept = block_on(async {
        futures_lite::future::or(async { Some(idle.accept().await) }, async {
            Timer::after(Duration::from_secs(5)).await;
            None
        })
        .await
    });
    assert!(accept.expect("the parent's listener was deregistered by the child").is_ok());
}

/// Wakes a thread parked by hand.
struct Unpark(thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn a_forked_child_forks_again() {
    use_the_runtime();
    let child = fork(|| {
        use_the_runtime();
        let grandchild = fork(use_the_runtime);
        use_the_runtime();
        wait_ok(grandchild);
    });
    use_the_runtime();
    wait_ok(child);
}
