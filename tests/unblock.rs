//! `Unblock`: async I/O over blocking handles, on the blocking pool. (blocking 1.7's own suite
//! runs against it too: `peer-suites/blocking`.)

use std::io::{self, Read, SeekFrom, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use amphi::{Unblock, block_on};
use futures_lite::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use futures_lite::{FutureExt, StreamExt, future};

/// A file of its own in the temporary directory, removed at the end.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("amphi-unblock-{}-{name}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A file written and read back through a pipe much smaller than the data: every byte arrives,
/// in order, and the file on disk holds them once `flush` returns.
#[test]
fn a_file_is_written_and_read_back_through_a_small_pipe() {
    let file = TempFile::new("roundtrip");
    let data = pattern(300_000);
    block_on(async {
        let mut out = Unblock::with_capacity(4096, std::fs::File::create(&file.0).unwrap());
        out.write_all(&data).await.unwrap();
        out.flush().await.unwrap();
        assert_eq!(std::fs::read(&file.0).unwrap(), data, "on disk once flush returned");
        out.close().await.unwrap();

        let mut back = Vec::new();
        let mut input = Unblock::with_capacity(1000, std::fs::File::open(&file.0).unwrap());
        input.read_to_end(&mut back).await.unwrap();
        assert!(back == data, "read back {} bytes of {}", back.len(), data.len());
    });
}

/// A write, a seek and a read on one file run in that order: the seek waits for the written
/// bytes to reach the file, the read sees them.
#[test]
fn a_seek_after_a_write_sees_the_written_bytes() {
    let file = TempFile::new("seek");
    block_on(async {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&file.0)
            .unwrap();
        let mut f = Unblock::new(f);
        f.write_all(b"hello, world").await.unwrap();
        assert_eq!(f.seek(SeekFrom::Start(7)).await.unwrap(), 7);
        let mut rest = String::new();
        f.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "world");
        assert_eq!(f.seek(SeekFrom::End(-5)).await.unwrap(), 7);
        let len = f.with_mut(|f| f.metadata().map(|m| m.len())).await.unwrap();
        assert_eq!(len, 12);
    });
}

/// A reader that records the thread it reads on, then gives `data` a byte at a time.
struct Recording {
    data: Vec<u8>,
    at: usize,
    threads: Arc<Mutex<Vec<String>>>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().unwrap().push(name);
        if self.at == self.data.len() || buf.is_empty() {
            return Ok(0);
        }
        buf[0] = self.data[self.at];
        self.at += 1;
        Ok(1)
    }
}

/// The blocking calls run on this crate's blocking pool: no thread of its own.
#[test]
fn the_handle_is_used_on_the_blocking_pool() {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let reader = Recording { data: b"abc".to_vec(), at: 0, threads: threads.clone() };
    let mut got = String::new();
    block_on(Unblock::new(reader).read_to_string(&mut got)).unwrap();
    assert_eq!(got, "abc");
    let threads = threads.lock().unwrap();
    assert!(!threads.is_empty());
    assert!(threads.iter().all(|t| t.starts_with("amphi-blocking-")), "read on {threads:?}");
}

/// A handle whose read blocks until told, like stdin with no input; it says when a read has
/// started.
struct Stalled(mpsc::Receiver<u8>, mpsc::Sender<()>);

impl Read for Stalled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let _ = self.1.send(());
        match self.0.recv() {
            Ok(b) if !buf.is_empty() => {
                buf[0] = b;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// A read from a handle that blocks (stdin with no input) is dropped, with its `Unblock`: the
/// caller goes on at once, and the pool thread left in the read finishes once the handle
/// answers. A blocked pool thread holds nothing up.
#[test]
fn dropping_a_read_that_blocks_does_not_hang() {
    let (tx, rx) = mpsc::channel();
    let (reading_tx, reading) = mpsc::channel();
    let start = block_on(async {
        let mut stdin = Unblock::new(Stalled(rx, reading_tx));
        let mut buf = [0; 1];
        assert!(future::poll_once(stdin.read(&mut buf)).await.is_none(), "nothing to read yet");
        // The pool thread is in the read (a job dropped before it started would never block).
        reading.recv_timeout(Duration::from_secs(10)).expect("the read starts on the pool");
        let start = Instant::now();
        drop(stdin);
        start
    });
    assert!(start.elapsed() < Duration::from_secs(1), "the drop waited for the read: {:?}", start.elapsed());
    // The read on the pool ends once the handle answers; its pipe is gone, and the thread is back.
    tx.send(1).unwrap();
    assert_eq!(block_on(amphi::unblock(|| 5)), 5);
}

/// `with_mut` stops the read in progress and hands over the handle, which has moved on by what
/// went into the pipe; the read then starts again from there.
#[test]
fn with_mut_stops_a_read_and_reading_resumes() {
    let data = pattern(10_000);
    block_on(async {
        let mut r = Unblock::with_capacity(100, io::Cursor::new(data.clone()));
        let mut first = [0; 10];
        r.read_exact(&mut first).await.unwrap();
        assert_eq!(first, data[..10]);
        let pos = r.with_mut(|c| c.position()).await as usize;
        assert!((10..=10 + 100 + 8192).contains(&pos), "read ahead to {pos}: at most a pipe's worth");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, data[pos..], "reading resumes where the handle stood");
    });
}

/// A reader that gives some bytes, then fails.
struct FailsAfter(usize);

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0 == 0 {
            return Err(io::Error::other("the disk is gone"));
        }
        let n = self.0.min(buf.len());
        buf[..n].fill(7);
        self.0 -= n;
        Ok(n)
    }
}

/// A read error reaches the reader after the bytes read before it, and the handle comes back.
#[test]
fn a_read_error_comes_after_the_bytes_and_leaves_the_handle() {
    block_on(async {
        let mut r = Unblock::new(FailsAfter(3));
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(err.to_string(), "the disk is gone");
        assert_eq!(got, [7, 7, 7]);
        assert_eq!(r.get_mut().await.0, 0, "the handle is back");
    });
}

/// A writer that fails every write, and counts its flushes.
struct Broken(Arc<AtomicUsize>);

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("no space left"))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A write error reaches `flush` (the write into the pipe itself succeeded).
#[test]
fn a_write_error_reaches_flush() {
    let flushes = Arc::new(AtomicUsize::new(0));
    block_on(async {
        let mut w = Unblock::new(Broken(flushes.clone()));
        w.write_all(b"data").await.unwrap();
        let err = w.flush().await.unwrap_err();
        assert_eq!(err.to_string(), "no space left");
        assert_eq!(flushes.load(Ordering::SeqCst), 1, "flushed once, on the way out");
        w.flush().await.unwrap();
    });
}

/// An iterator is a stream of its items, in order; `into_inner` hands it back where it stood.
#[test]
fn an_iterator_is_a_stream_and_comes_back() {
    block_on(async {
        let mut items = Unblock::with_capacity(1, 0..1000u32);
        for i in 0..10 {
            assert_eq!(items.next().await, Some(i));
        }
        let rest = items.into_inner().await;
        let next = rest.clone().next().unwrap();
        // What the pool thread took for the channel (at most the capacity, and one waiting to
        // be sent) is gone with it.
        assert!((10..=12).contains(&next), "resumes at {next}");
        let all: Vec<u32> = Unblock::new(rest).collect().await;
        assert_eq!(all, (next..1000).collect::<Vec<_>>());
    });
}

/// Closed, the handle is dropped; asking for it is a clear panic, and `Debug` says closed.
#[test]
fn a_closed_unblock_says_so() {
    block_on(async {
        let mut w = Unblock::new(Vec::<u8>::new());
        assert_eq!(format!("{w:?}"), "Unblock { io: [] }");
        w.write_all(b"x").await.unwrap();
        assert_eq!(format!("{w:?}"), "Unblock { io: <blocked> }");
        w.close().await.unwrap();
        assert_eq!(format!("{w:?}"), "Unblock { io: <closed> }");
        let err = std::panic::AssertUnwindSafe(w.get_mut()).catch_unwind().await.unwrap_err();
        let message =
            err.downcast_ref::<String>().map(String::as_str).or(err.downcast_ref::<&str>().copied());
        assert_eq!(message, Some("the handle of this `Unblock` was closed"));
    });
}

/// A program that reads stdin through `Unblock`, gives up on the read and returns, ends at once:
/// the pool thread left in the read does not hold up the process's exit. A child process whose
/// stdin is a pipe nobody writes to.
#[test]
fn a_program_whose_stdin_read_was_dropped_exits() {
    if std::env::var_os("AMPHI_TEST_CHILD").is_some() {
        block_on(async {
            let mut stdin = Unblock::new(std::io::stdin());
            let mut buf = [0; 1];
            let read = future::or(async { Some(stdin.read(&mut buf).await) }, async {
                amphi::Timer::after(Duration::from_millis(50)).await;
                None
            });
            assert!(read.await.is_none(), "nothing was written to stdin");
        });
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["a_program_whose_stdin_read_was_dropped_exits", "--exact", "--test-threads=1"])
        .env("AMPHI_TEST_CHILD", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take(); // open, never written
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("the child hung in its exit with a stdin read in the pool");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status}");
}
