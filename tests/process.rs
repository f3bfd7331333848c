//! `amphi::process`: real child processes (`sh`, `cat`, `sleep`), their pipes on the reactor and
//! their exits watched by it. CI runs this file again with `AMPHI_CHILD_WAIT=signal`, the
//! SIGCHLD side.
#![cfg(unix)]

mod common;

use std::time::{Duration, Instant};

use amphi::process::{Command, Stdio};
use amphi::{Timer, block_on};
use futures_lite::future::{self, FutureExt as _};
use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// This process's live and zombie children (Linux's `/proc`).
#[cfg(target_os = "linux")]
fn children() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`; the name may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let mut fields = rest.split(' ');
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.next().and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            found.push((pid, state));
        }
    }
    found
}

#[test]
fn output_collects_both_pipes_and_the_exit_code() {
    let out = block_on(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 7"]).output()).unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
}

#[test]
fn a_killed_child_reports_its_signal() {
    use std::os::unix::process::ExitStatusExt;
    block_on(async {
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        assert!(child.try_status().unwrap().is_none(), "still running");
        child.kill().unwrap();
        let status = child.status().await.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        // The status is kept: asked again, and through `try_status`.
        assert_eq!(child.status().await.unwrap(), status);
        assert_eq!(child.try_status().unwrap(), Some(status));
    });
}

/// A megabyte through `cat` and back, written and read at once (either alone would fill a pipe
/// and wait for ever).
#[test]
fn a_megabyte_goes_through_cat_and_back() {
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let back = block_on(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let write = async {
            stdin.write_all(&data).await.unwrap();
            drop(stdin);
        };
        let read = async {
            let mut back = Vec::new();
            stdout.read_to_end(&mut back).await.unwrap();
            back
        };
        let ((), back) = future::zip(write, read).await;
        assert!(child.status().await.unwrap().success());
        back
    });
    assert!(back == data, "{} bytes back of {}", back.len(), data.len());
}

/// A child that has exited before its status is asked for: its exit event is not lost.
#[test]
fn a_child_that_exited_before_the_wait_is_seen() {
    let mut child = Command::new("true").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(block_on(child.status()).unwrap().success());
}

/// Fifty children waited on at once by tasks of the global executor, each woken by its own exit.
#[test]
fn many_children_at_once() {
    let start = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            amphi::spawn(async move {
                let out =
                    Command::new("sh").arg("-c").arg(format!("sleep 0.1; echo {i}")).output().await.unwrap();
                assert!(out.status.success());
                String::from_utf8(out.stdout).unwrap()
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(block_on(task), format!("{i}\n"));
    }
    assert!(start.elapsed() < Duration::from_secs(10), "they ran at once: {:?}", start.elapsed());
}

/// A `status` given up (its future dropped) leaves the child to a later wait.
#[test]
fn a_dropped_wait_leaves_the_child_waitable() {
    block_on(async {
        let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let gave_up = child.status().or(async {
            Timer::after(Duration::from_millis(20)).await;
            Err(std::io::ErrorKind::TimedOut.into())
        });
        assert_eq!(gave_up.await.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(child.status().await.unwrap().success());
    });
}

/// A read from a child's stdout given up while the child runs on returns at once, and the child,
/// killed on drop, does not outlive the test.
#[test]
fn a_dropped_read_of_a_silent_child_does_not_hang() {
    let start = Instant::now();
    block_on(async {
        let mut child =
            Command::new("sleep").arg("100").stdout(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut buf = [0; 16];
        let read = async { Some(stdout.read(&mut buf).await) };
        let nothing = read.or(async {
            Timer::after(Duration::from_millis(50)).await;
            None
        });
        assert!(nothing.await.is_none(), "the child wrote nothing");
    });
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

/// `into_stdio` hands a pipe on: one child's output is the next one's input.
#[test]
fn a_pipe_is_handed_to_the_next_child() {
    block_on(async {
        let mut first = Command::new("echo").arg("through two").stdout(Stdio::piped()).spawn().unwrap();
        let stdio = first.stdout.take().unwrap().into_stdio().await.unwrap();
        let out = Command::new("tr").args(["a-z", "A-Z"]).stdin(stdio).output().await.unwrap();
        assert_eq!(out.stdout, b"THROUGH TWO\n");
        assert!(first.status().await.unwrap().success());
    });
}

#[test]
fn a_missing_program_is_an_error() {
    let err = Command::new("amphi-no-such-program").spawn().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert_eq!(block_on(Command::new("amphi-no-such-program").output()).unwrap_err().kind(), err.kind());
}

/// `kill_on_drop` kills and reaps, `reap_on_drop` reaps one left running once it exits, and a
/// child dropped after it exited is reaped at once: no zombie is left. In a child process, so
/// that only this test's children count.
#[cfg(target_os = "linux")]
#[test]
fn dropped_children_leave_no_zombie() {
    if common::ran_in_child("dropped_children_leave_no_zombie", &[]) {
        return;
    }
    let gone = || common::eventually(Duration::from_secs(5), || children().is_empty());
    // Killed on drop, from sync code, with no `block_on` running.
    let sleepers: Vec<_> =
        (0..5).map(|_| Command::new("sleep").arg("100").kill_on_drop(true).spawn().unwrap()).collect();
    assert_eq!(children().len(), 5);
    drop(sleepers);
    assert!(gone(), "left: {:?}", children());
    // Left running, then exiting on their own.
    let short: Vec<_> = (0..5).map(|_| Command::new("sleep").arg("0.2").spawn().unwrap()).collect();
    drop(short);
    assert!(gone(), "left: {:?}", children());
    // Exited already when dropped.
    let done = Command::new("true").spawn().unwrap();
    assert!(common::eventually(Duration::from_secs(5), || children().iter().all(|c| c.1 == 'Z')));
    drop(done);
    assert!(children().is_empty(), "reaped at the drop: {:?}", children());
    // Not reaped when asked not to: a zombie stays.
    let mut kept = Command::new("true");
    drop(kept.reap_on_drop(false).spawn().unwrap());
    assert!(common::eventually(Duration::from_secs(5), || children().iter().any(|c| c.1 == 'Z')));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(children().len(), 1, "{:?}", children());
    // Nothing is left watched: no pidfd, no SIGCHLD stream once no child needs it.
    assert!(
        common::eventually(Duration::from_secs(5), || amphi::metrics().io_sources == 0),
        "{} sources left",
        amphi::metrics().io_sources
    );
}

/// A `block_on` that runs a child to completion, reads its output and receives a signal starts
/// no thread: the caller drives the reactor, which watches the pipes, the exit and the signal's
/// socket. In a child process, so that no other test's threads come and go meanwhile.
#[cfg(target_os = "linux")]
#[test]
fn running_a_child_starts_no_thread() {
    if common::ran_in_child("running_a_child_starts_no_thread", &[]) {
        return;
    }
    // With the `tokio` feature, the first wait starts the shared Tokio runtime's thread: that one
    // is there before counting.
    block_on(Timer::after(Duration::from_millis(1)));
    let before = common::thread_count();
    let out = block_on(Command::new("sh").args(["-c", "sleep 0.05; echo done"]).output()).unwrap();
    assert_eq!(out.stdout, b"done\n");
    block_on(async {
        let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.as_mut().unwrap().write_all(b"x").await.unwrap();
        child.stdin.take();
        let mut back = String::new();
        child.stdout.take().unwrap().read_to_string(&mut back).await.unwrap();
        assert_eq!(back, "x");
        assert!(child.status().await.unwrap().success());
        // A signal, received through the reactor. Raised here: one sent from another process
        // would never be handled under ThreadSanitizer, which holds an asynchronous signal back
        // until an intercepted call, while the reactor waits in a raw `epoll_wait`.
        let mut signals = amphi::signal::Signals::new([amphi::signal::Signal::Usr1]).unwrap();
        // SAFETY: raising a signal this process handles.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR1) }, 0);
        use futures_lite::stream::StreamExt as _;
        assert_eq!(signals.next().await.unwrap().unwrap(), amphi::signal::Signal::Usr1);
    });
    assert_eq!(common::thread_count(), before, "{:?}", common::thread_names());
    // The pipes, the exits' watches and the signal stream are all gone with their owners.
    assert_eq!(amphi::metrics().io_sources, 0);
}

/// Waiting costs no CPU while the child runs, also after another child's exit came and went
/// (its SIGCHLD, on the signal side, must not keep the waiter awake).
#[cfg(target_os = "linux")]
#[test]
fn a_wait_sleeps_while_the_child_runs() {
    let before = common::thread_cpu_time();
    let start = Instant::now();
    block_on(async {
        let mut slow = Command::new("sleep").arg("0.5").spawn().unwrap();
        let mut quick = Command::new("true").spawn().unwrap();
        let (slow, quick) = future::zip(slow.status(), quick.status()).await;
        assert!(slow.unwrap().success() && quick.unwrap().success());
    });
    let (cpu, wall) = (common::thread_cpu_time() - before, start.elapsed());
    assert!(cpu < wall / 5, "{cpu:?} of CPU in {wall:?}");
}

/// The types and futures cross threads, as async-process's do.
#[test]
fn the_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let mut cmd = Command::new("true");
    send_sync(&cmd);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    send_sync(&child);
    send_sync(child.stdin.as_ref().unwrap());
    send_sync(child.stdout.as_ref().unwrap());
    send_sync(child.stderr.as_ref().unwrap());
    let status = child.status();
    send(&status);
    send(&cmd.output());
    send(&amphi::process::driver());
    assert!(block_on(status).unwrap().success());
}
