//! `block_on` from a thread-local's destructor, as a thread exits: connection pools, loggers and
//! clients that flush on drop do this. The crate's own thread-locals may already be destroyed
//! then (they were registered after the caller's) or not yet (registered before); both orders
//! must work, on a timer, a spawned task, `Dual::wait` and a socket.
//!
//! Each case runs in a child process: the failure this guards against aborts the process
//! ("thread local panicked on drop").

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use amphi::{Async, LocalExecutor, Timer, block_on};
use common::{in_child, is_child};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// What the destructor did: the operation's result, and whether the crate's thread-locals were
/// gone by then (read off a witness registered after them).
static OUTCOME: Mutex<Option<(String, bool)>> = Mutex::new(None);

/// The work a destructor does, returning a description of its result.
type Work = fn() -> String;

struct OnDrop(Work);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let after_gone = WITNESS.try_with(|_| ()).is_err();
        let result = (self.0)();
        *OUTCOME.lock().unwrap() = Some((result, after_gone));
    }
}

thread_local! {
    static GUARD: RefCell<Option<OnDrop>> = const { RefCell::new(None) };
    /// Registered after the crate's thread-locals in the "ours first" order: destroyed before
    /// `GUARD`, as they are.
    static WITNESS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Uses what a thread's `block_on` uses (its cached parker, the reactor seat, the executor's
/// per-thread state), so that the crate's thread-locals exist on this thread.
fn touch_the_runtime() {
    block_on(Timer::after(Duration::from_millis(1)));
    let local = LocalExecutor::new();
    let task = local.spawn(async { Timer::after(Duration::from_millis(1)).await });
    block_on(local.run(task));
}

/// Runs `work` in a thread-local destructor on a thread that exits; `ours_first`: the crate's
/// thread-locals are destroyed before the destructor runs.
fn run_at_thread_exit(work: Work, ours_first: bool) -> String {
    std::thread::spawn(move || {
        if ours_first {
            GUARD.with(|g| *g.borrow_mut() = Some(OnDrop(work)));
            touch_the_runtime();
            WITNESS.with(|w| w.borrow_mut().push(1));
        } else {
            touch_the_runtime();
            GUARD.with(|g| *g.borrow_mut() = Some(OnDrop(work)));
        }
    })
    .join()
    .expect("the exiting thread survives its destructors");
    let (result, after_gone) = OUTCOME.lock().unwrap().take().expect("the destructor ran");
    assert_eq!(after_gone, ours_first, "thread-locals were destroyed in the order the case is about");
    result
}

fn timer() -> String {
    let start = Instant::now();
    let fired = block_on(Timer::after(Duration::from_millis(20)));
    assert!(fired - start >= Duration::from_millis(20));
    "timer".into()
}

fn spawned_task() -> String {
    block_on(amphi::spawn(async {
        Timer::after(Duration::from_millis(5)).await;
        6 * 7
    }))
    .to_string()
}

fn dual_wait() -> String {
    amphi::dual(async {
        Timer::after(Duration::from_millis(5)).await;
        "dual"
    })
    .wait()
    .into()
}

fn socket() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let echoed = block_on(async {
        let mut stream = Async::<TcpStream>::connect(addr).await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        let mut buf = [0; 5];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    });
    peer.join().unwrap();
    String::from_utf8(echoed.to_vec()).unwrap()
}

/// One case: in a child process, runs `work` at thread exit in both orders.
fn case(name: &str, work: Work, expected: &str) {
    if !is_child() {
        println!("{}", in_child(name, &[]));
        return;
    }
    for ours_first in [true, false] {
        let result = run_at_thread_exit(work, ours_first);
        assert_eq!(result, expected, "ours_first = {ours_first}");
        println!("{name}: ours_first = {ours_first}: {result}");
    }
}

#[test]
fn block_on_a_timer_in_a_thread_local_destructor() {
    case("block_on_a_timer_in_a_thread_local_destructor", timer, "timer");
}

#[test]
fn block_on_a_spawned_task_in_a_thread_local_destructor() {
    case("block_on_a_spawned_task_in_a_thread_local_destructor", spawned_task, "42");
}

#[test]
fn dual_wait_in_a_thread_local_destructor() {
    case("dual_wait_in_a_thread_local_destructor", dual_wait, "dual");
}

#[test]
fn block_on_a_socket_in_a_thread_local_destructor() {
    case("block_on_a_socket_in_a_thread_local_destructor", socket, "hello");
}
