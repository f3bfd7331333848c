//! The reverse direction, and shutdown: a sync producer thread feeds async consumers through
//! `async-channel` (its blocking half on the thread, its async half in the tasks). SIGINT or SIGTERM
//! (on Windows, Ctrl-C or Ctrl-Break) starts a graceful shutdown: stop taking new work, let the
//! items in flight finish, cancel what is still running after a grace period, print a summary,
//! exit 0.
//!
//! The signal reaches the async side through `amphi::signal`, on the reactor: no signal thread
//! (on Windows, a console control handler, which Windows runs on a thread of its own for the
//! event).
//!
//! `cargo run --release --example shutdown` sends itself SIGTERM (Ctrl-Break) once work is in
//! flight; `cargo run --release --example shutdown -- --wait` waits for your Ctrl-C.

#[cfg(windows)]
#[path = "support/console_event.rs"]
mod console_event;
#[path = "support/deadline.rs"]
mod deadline;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use amphi::Timer;
use amphi::signal::{Signal, Signals};
use futures_lite::StreamExt;
use futures_lite::future;

const CONSUMERS: usize = 4;
/// Most items take this long…
const SHORT: Duration = Duration::from_millis(300);
/// …but every fifth takes this long, far more than shutdown allows.
const LONG: Duration = Duration::from_secs(30);
/// How long in-flight work may run on after the signal.
const GRACE: Duration = Duration::from_secs(1);
/// How fast the producer makes items.
const PRODUCE_EVERY: Duration = Duration::from_millis(20);

fn work(item: u64) -> Duration {
    if item % 5 == 1 { LONG } else { SHORT }
}

#[derive(Default)]
struct Counters {
    finished: AtomicU64,
    finished_during_shutdown: AtomicU64,
    cancelled: AtomicU64,
    long_in_flight: AtomicU64,
    shutting_down: std::sync::atomic::AtomicBool,
}

/// An item being processed: counts itself finished, or cancelled if its task is dropped first.
struct InFlight<'a> {
    item: u64,
    counters: &'a Counters,
    done: bool,
}

impl<'a> InFlight<'a> {
    fn start(item: u64, counters: &'a Counters) -> Self {
        if work(item) == LONG {
            counters.long_in_flight.fetch_add(1, Ordering::SeqCst);
        }
        Self { item, counters, done: false }
    }

    fn finish(mut self) {
        self.done = true;
        self.counters.finished.fetch_add(1, Ordering::SeqCst);
        if self.counters.shutting_down.load(Ordering::SeqCst) {
            self.counters.finished_during_shutdown.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if work(self.item) == LONG {
            self.counters.long_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        if !self.done {
            self.counters.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Items made before the program reports work in flight, so some are done and the queue is full.
const READY_AFTER: u64 = 12;

/// One async consumer: takes items until told to stop; `ready` hears when a short item starts
/// while a long one runs (a moment when a shutdown shows both outcomes).
async fn consume(
    items: async_channel::Receiver<u64>,
    stop: async_channel::Receiver<()>,
    ready: async_channel::Sender<()>,
    counters: Arc<Counters>,
) {
    loop {
        // Stopping wins over a waiting item: `or` polls its first future first.
        let next = future::or(async { stop.recv().await.ok().and(None) }, async { items.recv().await.ok() });
        let Some(item) = next.await else { break };
        let in_flight = InFlight::start(item, &counters);
        if item >= READY_AFTER && work(item) == SHORT && counters.long_in_flight.load(Ordering::SeqCst) > 0 {
            ready.try_send(()).ok();
        }
        Timer::after(work(item)).await;
        in_flight.finish();
    }
}

/// What happened, for the summary.
#[derive(Debug)]
struct Summary {
    produced: u64,
    finished: u64,
    finished_during_shutdown: u64,
    cancelled: u64,
    unstarted: u64,
    shutdown: Duration,
}

/// Unix: sending SIGTERM.
#[cfg(unix)]
mod signal {
    use std::io;

    /// The signal that [`raise`] and [`terminate`] send.
    #[cfg(test)]
    pub const STOP: &str = "SIGTERM";
    /// How a user stops the program.
    pub const HOW: &str = "send SIGINT (Ctrl-C) or SIGTERM";

    /// Sends SIGTERM to this process.
    pub fn raise() -> io::Result<()> {
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM)
    }

    /// Sends [`STOP`] to `child`.
    #[cfg(test)]
    pub fn terminate(child: &std::process::Child) -> io::Result<()> {
        // SAFETY: `kill` with a live child's pid and a valid signal number has no memory effects.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        if sent == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
    }
}

/// Windows: delivering Ctrl-Break, which `amphi::signal` gives as `Signal::Term`.
#[cfg(windows)]
mod signal {
    use std::io;
    #[cfg(test)]
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::System::Console::CTRL_BREAK_EVENT;
    use windows_sys::Win32::System::Threading::GetCurrentProcess;

    use super::console_event::deliver;

    /// The event that [`raise`] and [`terminate`] deliver.
    #[cfg(test)]
    pub const STOP: &str = "Ctrl-Break";
    /// How a user stops the program.
    pub const HOW: &str = "press Ctrl-C or Ctrl-Break";

    /// Delivers Ctrl-Break to this process.
    pub fn raise() -> io::Result<()> {
        // SAFETY: no arguments; the pseudo-handle it returns needs no closing.
        deliver(unsafe { GetCurrentProcess() }, CTRL_BREAK_EVENT)
    }

    /// Delivers [`STOP`] to `child`.
    #[cfg(test)]
    pub fn terminate(child: &std::process::Child) -> io::Result<()> {
        deliver(child.as_raw_handle(), CTRL_BREAK_EVENT)
    }
}

/// What to do once work is in flight.
#[derive(Clone, Copy, PartialEq)]
enum Trigger {
    /// Send SIGTERM (Ctrl-Break on Windows) to this process.
    SelfSignal,
    /// Print `ready` and wait for a signal from outside.
    Wait,
}

fn run(trigger: Trigger) -> io::Result<Summary> {
    // Signals → socket → the reactor.
    let mut signals = Signals::new([Signal::Int, Signal::Term])?;

    // The sync producer: an ordinary thread, blocking on a full channel.
    let (items_tx, items_rx) = async_channel::bounded::<u64>(8);
    let producer = thread::spawn(move || {
        let mut sent = 0;
        while items_tx.send_blocking(sent).is_ok() {
            sent += 1;
            thread::sleep(PRODUCE_EVERY);
        }
        sent
    });

    // The async consumers.
    let counters = Arc::new(Counters::default());
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let (ready_tx, ready_rx) = async_channel::bounded::<()>(1);
    let mut consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| amphi::spawn(consume(items_rx.clone(), stop_rx.clone(), ready_tx.clone(), counters.clone())))
        .collect();

    amphi::block_on(async {
        ready_rx.recv().await.expect("consumers running");
        match trigger {
            Trigger::SelfSignal => signal::raise()?,
            Trigger::Wait => println!("ready: work in flight; {}", signal::HOW),
        }
        // Woken by the reactor when a signal handler writes to the stream's socket.
        signals.next().await.expect("the stream never ends")?;
        let t = Instant::now();
        println!("signal: stopping");

        // Stop taking work: consumers stop before their next item; the producer's next send fails.
        counters.shutting_down.store(true, Ordering::SeqCst);
        stop_tx.close();
        items_rx.close();
        let mut unstarted = 0;
        while items_rx.try_recv().is_ok() {
            unstarted += 1;
        }

        // Let the items in flight finish, for at most `GRACE`; then cancel what still runs.
        let drained = future::or(
            async {
                for c in &mut consumers {
                    c.await;
                }
                true
            },
            async {
                Timer::after(GRACE).await;
                false
            },
        )
        .await;
        if !drained {
            for c in consumers.drain(..) {
                c.cancel().await;
            }
        }
        let produced = producer.join().expect("producer thread");
        let c = &counters;
        Ok(Summary {
            produced,
            finished: c.finished.load(Ordering::SeqCst),
            finished_during_shutdown: c.finished_during_shutdown.load(Ordering::SeqCst),
            cancelled: c.cancelled.load(Ordering::SeqCst),
            unstarted,
            shutdown: t.elapsed(),
        })
    })
}

/// Runs, prints the summary, and checks it.
fn run_and_check(trigger: Trigger) -> io::Result<()> {
    let s = run(trigger)?;
    println!(
        "summary: produced={} finished={} finished_during_shutdown={} cancelled={} unstarted={} shutdown_ms={}",
        s.produced,
        s.finished,
        s.finished_during_shutdown,
        s.cancelled,
        s.unstarted,
        s.shutdown.as_millis()
    );
    assert_eq!(s.produced, s.finished + s.cancelled + s.unstarted, "every item accounted for once: {s:?}");
    assert!(s.finished_during_shutdown >= 1, "no in-flight item was let finish: {s:?}");
    assert!(s.cancelled >= 1, "no long item was cancelled at the deadline: {s:?}");
    assert!(s.shutdown < GRACE + Duration::from_millis(500), "shutdown overran its deadline: {s:?}");
    Ok(())
}

fn main() -> io::Result<()> {
    let wait = std::env::args().any(|a| a == "--wait");
    run_and_check(if wait { Trigger::Wait } else { Trigger::SelfSignal })
}

/// Set in the child process the test below starts.
#[cfg(test)]
const CHILD: &str = "AMPHI_SHUTDOWN_CHILD";

/// The program as the test's child runs it; does nothing in a normal test run.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_some() {
        run_and_check(Trigger::Wait).unwrap();
    }
}

/// The program in a child process, stopped from outside: SIGTERM, or Ctrl-Break on Windows.
#[test]
fn sigterm_lets_in_flight_work_finish_and_cancels_the_rest() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    deadline::within(Duration::from_secs(60), || {
        /// Kills the child if the test fails before it exits.
        struct Reap(std::process::Child);
        impl Drop for Reap {
            fn drop(&mut self) {
                if matches!(self.0.try_wait(), Ok(None)) {
                    self.0.kill().ok();
                    self.0.wait().ok();
                }
            }
        }
        let mut child = Reap(
            Command::new(std::env::current_exe().unwrap())
                .args(["child", "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD, "1")
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the child"),
        );
        let child = &mut child.0;
        let (lines_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in io::BufReader::new(stdout).lines().map_while(Result::ok) {
                lines_tx.send(line).ok();
            }
        });
        let mut output = Vec::new();
        loop {
            let line = lines.recv_timeout(Duration::from_secs(30)).expect("the child gets work in flight");
            // libtest's "test child ... " may precede it on the same line.
            let ready = line.contains("ready:");
            output.push(line);
            if ready {
                break;
            }
        }

        signal::terminate(child).unwrap_or_else(|e| panic!("sending {}: {e}", signal::STOP));
        let t = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if t.elapsed() > GRACE + Duration::from_secs(5) {
                panic!("the child did not exit after {}: {output:#?}", signal::STOP);
            }
            thread::sleep(Duration::from_millis(5));
        };
        let exit = t.elapsed();
        output.extend(lines.iter());
        let output = output.join("\n");
        println!("{output}\nexited {status} {:.0} ms after {}", exit.as_secs_f64() * 1e3, signal::STOP);

        assert!(status.success(), "the child failed:\n{output}");
        assert!(exit < GRACE + Duration::from_secs(2), "exit took {exit:?}");
        let summary = output.lines().find_map(|l| l.find("summary:").map(|i| &l[i..])).expect("a summary");
        let field = |name: &str| -> u64 {
            let value = summary.split(' ').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='));
            value.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} in {summary}"))
        };
        assert!(field("finished_during_shutdown") >= 1, "{summary}");
        assert!(field("cancelled") >= 1, "{summary}");
        assert_eq!(
            field("produced"),
            field("finished") + field("cancelled") + field("unstarted"),
            "{summary}"
        );
    });
}
