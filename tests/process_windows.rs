//! `amphi::process` on Windows: real child processes (`cmd`, and this test program as a helper
//! that echoes its input or sleeps), their pipes through the blocking pool and their exits
//! through the process handle.
#![cfg(windows)]

use std::time::{Duration, Instant};

use amphi::process::{Command, Stdio};
use amphi::{Timer, block_on};
use futures_lite::future::{self, FutureExt as _};
use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};

const HELPER: &str = "AMPHI_PROCESS_HELPER";

/// This program as a child: `echo` copies its input to its output between brackets, `sleep`
/// sleeps for 100 s.
fn helper_child(mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["helper", "--exact", "--nocapture", "--test-threads=1"]).env(HELPER, mode);
    cmd
}

#[test]
fn helper() {
    use std::io::{Read, Write};
    match std::env::var(HELPER).as_deref() {
        Ok("echo") => {
            let mut input = Vec::new();
            std::io::stdin().read_to_end(&mut input).unwrap();
            let mut out = std::io::stdout().lock();
            out.write_all(b"[").unwrap();
            out.write_all(&input).unwrap();
            out.write_all(b"]").unwrap();
            out.flush().unwrap();
            std::process::exit(0);
        }
        Ok("sleep") => std::thread::sleep(Duration::from_secs(100)),
        _ => {}
    }
}

fn cmd(script: &str) -> Command {
    let mut cmd = Command::new("cmd");
    cmd.args(["/C", script]);
    cmd
}

#[test]
fn output_and_exit_code() {
    let out = block_on(cmd("echo out& exit 7").output()).unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(out.stdout.starts_with(b"out"), "{:?}", String::from_utf8_lossy(&out.stdout));
}

/// 100 KiB through the helper and back, written and read at once.
#[test]
fn input_goes_through_a_child_and_back() {
    let data: Vec<u8> = (0..100 * 1024).map(|i: u32| b'a' + (i % 26) as u8).collect();
    let back = block_on(async {
        let mut child = helper_child("echo").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let write = async {
            stdin.write_all(&data).await.unwrap();
            stdin.close().await.unwrap();
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
    let start = back.iter().position(|&b| b == b'[').expect("the helper's output");
    assert!(back[start + 1..].strip_suffix(b"]") == Some(&data[..]), "{} bytes back", back.len());
}

#[test]
fn a_killed_child_s_status_is_kept() {
    block_on(async {
        let mut child = helper_child("sleep").spawn().unwrap();
        assert!(child.try_status().unwrap().is_none(), "still running");
        child.kill().unwrap();
        let status = child.status().await.unwrap();
        assert!(!status.success());
        assert_eq!(child.status().await.unwrap(), status);
        assert_eq!(child.try_status().unwrap(), Some(status));
    });
}

/// A child that has exited before its status is asked for: its handle stays signalled.
#[test]
fn a_child_that_exited_before_the_wait_is_seen() {
    let mut child = cmd("exit 3").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(block_on(child.status()).unwrap().code(), Some(3));
}

/// Twenty children waited on at once by tasks of the global executor.
#[test]
fn many_children_at_once() {
    let tasks: Vec<_> = (0..20)
        .map(|i| amphi::spawn(async move { cmd(&format!("exit {i}")).status().await.unwrap() }))
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(block_on(task).code(), Some(i as i32));
    }
}

/// A wait given up (its registration dropped) leaves the child to a later wait.
#[test]
fn a_dropped_wait_leaves_the_child_waitable() {
    block_on(async {
        let mut child = helper_child("sleep").spawn().unwrap();
        let gave_up = child.status().or(async {
            Timer::after(Duration::from_millis(50)).await;
            Err(std::io::ErrorKind::TimedOut.into())
        });
        assert_eq!(gave_up.await.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        child.kill().unwrap();
        assert!(!child.status().await.unwrap().success());
    });
}

/// `kill_on_drop` kills the child when its `Child` is dropped.
#[test]
fn kill_on_drop_kills() {
    use windows_sys::Win32::Foundation::{CloseHandle, WAIT_OBJECT_0};
    use windows_sys::Win32::System::Threading::{OpenProcess, PROCESS_SYNCHRONIZE, WaitForSingleObject};

    let child = helper_child("sleep").kill_on_drop(true).spawn().unwrap();
    // SAFETY: a query of a process this test started and has not waited on yet.
    let handle = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, child.id()) };
    assert!(!handle.is_null(), "{}", std::io::Error::last_os_error());
    let start = Instant::now();
    drop(child);
    // SAFETY: `handle` is open; closed once.
    let waited = unsafe { WaitForSingleObject(handle, 10_000) };
    // SAFETY: as above.
    unsafe { CloseHandle(handle) };
    assert_eq!(waited, WAIT_OBJECT_0, "still running {:?} after the drop", start.elapsed());
}
