//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod doubler;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generates `mod workers` with, for each scenario test named, a test that reruns it in a child
/// process for each `AMPHI_THREADS` value given (`with_workers!(["1", "0"]; name, ...)`). The
/// test file declares `#[macro_use] mod common;`.
#[allow(unused_macros)]
macro_rules! with_workers {
    ($counts:expr; $($name:ident),* $(,)?) => {
        mod workers {
            $(
                #[test]
                fn $name() {
                    if super::common::is_child() {
                        return;
                    }
                    for n in $counts {
                        super::common::in_child(stringify!($name), &[("AMPHI_THREADS", n)]);
                    }
                }
            )*
        }
    };
}

/// Whether this process is a child started by [`in_child`].
pub fn is_child() -> bool {
    std::env::var_os("AMPHI_TEST_CHILD").is_some()
}

/// Runs the test named `test` of this test binary in a child process with extra environment
/// variables, and returns its combined output. Fails if the child fails, runs no test, or does not
/// finish within 60 s (a hang is a failure, not a stalled CI).
pub fn in_child(test: &str, env: &[(&str, &str)]) -> String {
    let out = run_child(test, env);
    assert!(out.0, "child `{test}` with {env:?} failed:\n{}", out.1);
    // libtest's summary, whole: "11 passed" or a test's own output must not count. Looked for in
    // the child's stdout alone: in the combined output a line of its stderr (a panic's report)
    // can land in the middle of it, since the two pipes are read apart.
    let ran_one = out.2.lines().any(|l| l.starts_with("test result: ok. 1 passed; 0 failed;"));
    assert!(ran_one, "child `{test}` did not run exactly one test, passing:\n{}", out.1);
    out.1
}

/// In the test process: runs the test named `test` in a child process with extra environment
/// variables (see [`in_child`]), prints its output, and returns `true`: the test is done. In that
/// child: returns `false`, and the test goes on.
pub fn ran_in_child(test: &str, env: &[(&str, &str)]) -> bool {
    if is_child() {
        return false;
    }
    println!("{}", in_child(test, env));
    true
}

/// The calling thread's id, as `/proc/self/task` names it.
#[cfg(target_os = "linux")]
pub fn tid() -> i32 {
    // SAFETY: `gettid` has no preconditions.
    unsafe { libc::gettid() }
}

/// How often the thread `tid` of this process gave up its CPU of its own accord (slept or waited)
/// so far.
#[cfg(target_os = "linux")]
pub fn voluntary_switches(tid: i32) -> u64 {
    switches(tid, "voluntary_ctxt_switches:")
}

/// How often the thread `tid` of this process was taken off its CPU while it could still run (the
/// kernel gave the CPU to another thread) so far.
#[cfg(target_os = "linux")]
pub fn involuntary_switches(tid: i32) -> u64 {
    switches(tid, "nonvoluntary_ctxt_switches:")
}

#[cfg(target_os = "linux")]
fn switches(tid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// CPU time the calling thread has used so far.
#[cfg(unix)]
pub fn thread_cpu_time() -> Duration {
    cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time this whole process has used so far, all threads together.
#[cfg(unix)]
pub fn process_cpu_time() -> Duration {
    cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID)
}

#[cfg(unix)]
fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the OS knows.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Like [`in_child`], but the child is expected to fail; returns its output.
pub fn in_child_failing(test: &str, env: &[(&str, &str)]) -> String {
    let out = run_child(test, env);
    assert!(!out.0, "child `{test}` with {env:?} should have failed:\n{}", out.1);
    out.1
}

/// Runs the child; returns whether it succeeded, its combined output and its stdout alone.
fn run_child(test: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    // A child that has printed nothing after `STARTUP` never reached its `main` (libtest prints
    // "running 1 test" first thing): under qemu-user, a fork in a multithreaded process can
    // deadlock the child before it execs. That is the emulator's, so the child is started once
    // more; a child that started and then hung fails the test as before.
    const STARTUP: Duration = Duration::from_secs(20);
    const LIMIT: Duration = Duration::from_secs(60);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("AMPHI_TEST_CHILD", "1")
        .env_remove("AMPHI_THREADS")
        .env_remove("AMPHI_MAX_BLOCKING_THREADS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    for attempt in 1..=2 {
        let mut child = cmd.spawn().expect("start child test process");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            collect(child.stdout.take().unwrap(), output.clone(), Some(stdout.clone())),
            collect(child.stderr.take().unwrap(), output.clone(), None),
        ];
        let text = |readers: [std::thread::JoinHandle<()>; 2]| {
            for r in readers {
                r.join().unwrap();
            }
            String::from_utf8_lossy(&output.lock().unwrap()).into_owned()
        };
        let stdout = || String::from_utf8_lossy(&stdout.lock().unwrap()).into_owned();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let text = text(readers);
                return (status.success(), text, stdout());
            }
            let silent = output.lock().unwrap().is_empty();
            if silent && start.elapsed() > STARTUP && attempt == 1 {
                child.kill().ok();
                child.wait().ok();
                text(readers);
                eprintln!(
                    "child `{test}` printed nothing in {STARTUP:?}: it never started; starting it again"
                );
                break;
            }
            if start.elapsed() > LIMIT {
                child.kill().ok();
                child.wait().ok();
                panic!("child `{test}` with {env:?} hung for {LIMIT:?}:\n{}", text(readers));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("child `{test}` with {env:?} never started, twice")
}

/// Appends everything `pipe` yields to `out`, and to `own` if given, on a thread of its own.
fn collect(
    mut pipe: impl Read + Send + 'static,
    out: Arc<Mutex<Vec<u8>>>,
    own: Option<Arc<Mutex<Vec<u8>>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            out.lock().unwrap().extend_from_slice(&buf[..n]);
            if let Some(own) = &own {
                own.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        }
    })
}

// From /proc, or from the Windows API where there is no /proc.
#[cfg_attr(windows, path = "windows.rs")]
#[cfg_attr(not(windows), path = "proc.rs")]
mod threads;

/// Names of this process's threads: every thread, ours or not.
pub fn thread_names() -> Vec<String> {
    threads::names()
}

/// How many threads this process has, named or not.
pub fn thread_count() -> usize {
    threads::count()
}

/// How many of this process's threads have a name starting with `prefix`.
pub fn threads_named(prefix: &str) -> usize {
    thread_names().iter().filter(|n| n.starts_with(prefix)).count()
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held. For waiting on
/// something the test cannot be notified of (threads exiting), never as a substitute for a
/// synchronisation the test could do.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// The most threads named with `prefix` seen at once while `work` runs, sampled every
/// millisecond from another thread (and once before and once after): a bound that a transient
/// extra thread breaks, where a single count could miss it.
pub fn most_threads_named_during(prefix: &str, work: impl FnOnce()) -> usize {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (done, prefix) = (done.clone(), prefix.to_string());
        move || {
            let mut most = threads_named(&prefix);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                most = most.max(threads_named(&prefix));
                std::thread::sleep(Duration::from_millis(1));
            }
            most.max(threads_named(&prefix))
        }
    });
    work();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    sampler.join().expect("the sampler")
}

/// Counts drops of the values it hands out.
#[derive(Clone, Default)]
pub struct DropCounter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

pub struct Tracked(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl DropCounter {
    pub fn track(&self) -> Tracked {
        Tracked(self.0.clone())
    }

    pub fn dropped(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The message of a panic payload (`panic!` with a literal or a formatted string).
pub fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Aborts the process with a message if not dropped within its limit: a lost wake-up then fails
/// the test run instead of stalling it.
pub struct Watchdog(#[allow(dead_code)] std::sync::mpsc::Sender<()>);

/// Starts a [`Watchdog`] for the test `name`.
pub fn watchdog(name: &'static str, limit: Duration) -> Watchdog {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!("test `{name}` still running after {limit:?}: hung; aborting");
            std::process::abort();
        }
    });
    Watchdog(tx)
}
