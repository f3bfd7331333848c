//! `Unblock`: async I/O over a blocking handle (a file, stdin or stdout, an iterator), whose
//! blocking calls run on the blocking pool. The same type and semantics as the `blocking`
//! crate's, on this crate's one pool.
//!
//! Reads and writes go through a pipe (`piper`) between the async side and a pool thread that
//! copies between the pipe and the handle; an iterator's items through a bounded channel. The
//! handle moves to the pool thread while an operation of one kind runs, and comes back once
//! another kind of operation (or `get_mut`, `with_mut`, `into_inner`) stops it.

use alloc::boxed::Box;
use core::any::Any;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io::{self, Read, Seek, SeekFrom, Write};

use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncSeek, AsyncWrite};
use futures_lite::stream::Stream;
use piper::{Reader, Writer, pipe};

use super::unblock;
use crate::task::Task;

/// The pipe's capacity for reads and writes unless [`Unblock::with_capacity`] says otherwise.
const PIPE_CAPACITY: usize = 8 * 1024 * 1024;
/// The channel's capacity for an iterator's items unless [`Unblock::with_capacity`] says otherwise.
const ITEMS_CAPACITY: usize = 8 * 1024;

/// Async I/O over a blocking handle: its reads, writes and seeks (and an iterator's `next`) run
/// on the blocking pool.
///
/// `Unblock<T>` is [`AsyncRead`] for `T: Read`, [`AsyncWrite`] for `T: Write`, [`AsyncSeek`] for
/// `T: Seek`, and a [`Stream`] of its items for `T: Iterator`. It is `blocking::Unblock`: the
/// same names and behaviour, on this crate's blocking pool (no pool of its own).
///
/// ### Reading
///
/// A read starts a pool thread copying from the handle into a pipe until the pipe is full (8 MiB
/// by default, see [`with_capacity`](Self::with_capacity)); reads take from the pipe. So a read
/// may move a file's cursor farther than what it returned, and a read from stdin that is dropped
/// may leave a pool thread blocked in stdin until input comes (bytes it then reads are lost):
/// use one `Unblock<Stdin>` for the whole program. A blocked pool thread never holds up the
/// program's exit.
///
/// ### Writing
///
/// Writes go into the pipe; a pool thread copies them to the handle. Flush (or close) before
/// dropping, or the data still in the pipe may be lost: [`AsyncWriteExt::flush`] returns once
/// the pool thread has written and flushed everything.
///
/// [`AsyncWriteExt::flush`]: futures_lite::io::AsyncWriteExt::flush
///
/// # Examples
///
/// ```
/// use futures_lite::io::AsyncWriteExt;
///
/// amphi::block_on(async {
///     let mut stdout = amphi::Unblock::new(std::io::stdout());
///     stdout.write_all(b"Hello world!\n").await?;
///     stdout.flush().await
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Unblock<T> {
    state: State<T>,
    cap: Option<usize>,
}

/// What the handle is doing.
enum State<T> {
    /// Nothing runs: the handle is here (`None` once closed).
    Idle(Option<Box<T>>),
    /// A [`Unblock::with_mut`] closure runs on the pool.
    WithMut(Task<Box<T>>),
    /// An iterator runs on the pool, sending its items; the receiver is an
    /// `async_channel::Receiver<T::Item>` (boxed as `Any`: `State` has no `Iterator` bound).
    Streaming(Option<Box<dyn Any + Send + Sync>>, Task<Box<T>>),
    /// A pool thread copies from the handle into the pipe.
    Reading(Option<Reader>, Task<(io::Result<()>, Box<T>)>),
    /// A pool thread copies from the pipe into the handle.
    Writing(Option<Writer>, Task<(io::Result<()>, Box<T>)>),
    /// A seek runs on the pool.
    Seeking(Task<(SeekFrom, io::Result<u64>, Box<T>)>),
}

/// The items' channel's receiver, as `State::Streaming` keeps it.
type Items<I> = Pin<Box<async_channel::Receiver<I>>>;

impl<T> Unblock<T> {
    /// Wraps a blocking handle.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let stdin = amphi::Unblock::new(std::io::stdin());
    /// ```
    pub fn new(io: T) -> Unblock<T> {
        Unblock { state: State::Idle(Some(Box::new(io))), cap: None }
    }

    /// Wraps a blocking handle, with `cap` as the capacity of the buffer between the async side
    /// and the pool thread: bytes for reads and writes (8 MiB by default), items for an iterator
    /// (8,192 by default).
    ///
    /// # Panics
    ///
    /// A read or write of a handle with a capacity of 0 panics (a pipe holds at least a byte).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let stdout = amphi::Unblock::with_capacity(64 * 1024, std::io::stdout());
    /// ```
    pub fn with_capacity(cap: usize, io: T) -> Unblock<T> {
        Unblock { state: State::Idle(Some(Box::new(io))), cap: Some(cap) }
    }

    /// Returns the handle, once the operation running on the pool has stopped (its I/O error,
    /// if any, is dropped).
    ///
    /// # Panics
    ///
    /// If the handle was closed ([`AsyncWrite::poll_close`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let mut file = amphi::Unblock::new(tempfile_or_stdout());
    /// let _ = file.get_mut().await;
    /// # });
    /// # fn tempfile_or_stdout() -> std::io::Stdout { std::io::stdout() }
    /// ```
    pub async fn get_mut(&mut self) -> &mut T {
        future::poll_fn(|cx| self.poll_stop(cx)).await.ok();
        match &mut self.state {
            State::Idle(t) => t.as_mut().expect("the handle of this `Unblock` was closed"),
            _ => unreachable!("a stopped `Unblock` is idle"),
        }
    }

    /// Runs `op` on the handle on the blocking pool, once the operation running there has
    /// stopped, and returns its result.
    ///
    /// # Panics
    ///
    /// If the handle was closed, or `op` panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let mut out = amphi::Unblock::new(std::io::stdout());
    /// let flushed = out.with_mut(|o| std::io::Write::flush(o)).await;
    /// assert!(flushed.is_ok());
    /// # });
    /// ```
    pub async fn with_mut<R, F>(&mut self, op: F) -> R
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
        T: Send + 'static,
    {
        future::poll_fn(|cx| self.poll_stop(cx)).await.ok();
        let mut t = match &mut self.state {
            State::Idle(t) => t.take().expect("the handle of this `Unblock` was closed"),
            _ => unreachable!("a stopped `Unblock` is idle"),
        };
        // The result comes through a channel and the handle back through the task, so that a
        // `with_mut` future dropped midway leaves the handle to be taken back.
        let (sender, receiver) = async_channel::bounded(1);
        self.state = State::WithMut(unblock(move || {
            sender.try_send(op(&mut t)).ok();
            t
        }));
        receiver.recv().await.expect("`Unblock::with_mut()` operation has panicked")
    }

    /// Returns the handle, once the operation running on the pool has stopped (its I/O error,
    /// if any, is dropped).
    ///
    /// # Panics
    ///
    /// If the handle was closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let out = amphi::Unblock::new(std::io::stdout());
    /// let stdout: std::io::Stdout = out.into_inner().await;
    /// # });
    /// ```
    pub async fn into_inner(self) -> T {
        let mut this = self;
        future::poll_fn(|cx| this.poll_stop(cx)).await.ok();
        match &mut this.state {
            State::Idle(t) => *t.take().expect("the handle of this `Unblock` was closed"),
            _ => unreachable!("a stopped `Unblock` is idle"),
        }
    }

    /// Stops the operation running on the pool and takes the handle back: idle once ready, with
    /// the operation's I/O error if it had one.
    fn poll_stop(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                State::Idle(_) => return Poll::Ready(Ok(())),
                State::WithMut(task) => {
                    let io = ready!(Pin::new(task).poll(cx));
                    self.state = State::Idle(Some(io));
                }
                State::Streaming(items, task) => {
                    // Dropping the receiver stops the iterator at its next send.
                    items.take();
                    let iter = ready!(Pin::new(task).poll(cx));
                    self.state = State::Idle(Some(iter));
                }
                State::Reading(reader, task) => {
                    // Dropping the reader closes the pipe: the copying stops.
                    reader.take();
                    let (res, io) = ready!(Pin::new(task).poll(cx));
                    self.state = State::Idle(Some(io));
                    res?;
                }
                State::Writing(writer, task) => {
                    // Dropping the writer closes the pipe: the pool thread writes what is left
                    // in it, flushes, and stops.
                    writer.take();
                    let (res, io) = ready!(Pin::new(task).poll(cx));
                    self.state = State::Idle(Some(io));
                    res?;
                }
                State::Seeking(task) => {
                    let (_, res, io) = ready!(Pin::new(task).poll(cx));
                    self.state = State::Idle(Some(io));
                    res?;
                }
            }
        }
    }

    /// The handle, taken out to go to the pool.
    fn take_idle(&mut self) -> Box<T> {
        match &mut self.state {
            State::Idle(io) => io.take().expect("the handle of this `Unblock` was closed"),
            _ => unreachable!("only an idle `Unblock` hands its handle over"),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Unblock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Unblock");
        match &self.state {
            State::Idle(Some(io)) => d.field("io", io),
            State::Idle(None) => d.field("io", &format_args!("<closed>")),
            _ => d.field("io", &format_args!("<blocked>")),
        };
        d.finish()
    }
}

impl<T: Iterator + Send + 'static> Stream for Unblock<T>
where
    T::Item: Send + 'static,
{
    type Item = T::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T::Item>> {
        loop {
            match &mut self.state {
                State::Idle(_) => {
                    let mut iter = self.take_idle();
                    let (sender, receiver) = async_channel::bounded(self.cap.unwrap_or(ITEMS_CAPACITY));
                    let task = unblock(move || {
                        for item in &mut *iter {
                            if sender.send_blocking(item).is_err() {
                                break;
                            }
                        }
                        iter
                    });
                    let items: Items<T::Item> = Box::pin(receiver);
                    self.state = State::Streaming(Some(Box::new(items)), task);
                }
                State::Streaming(Some(items), task) => {
                    let items =
                        items.downcast_mut::<Items<T::Item>>().expect("the channel of this iterator's items");
                    let item = ready!(items.as_mut().poll_next(cx));
                    if item.is_none() {
                        // The iterator is done: take it back.
                        let iter = ready!(Pin::new(task).poll(cx));
                        self.state = State::Idle(Some(iter));
                    }
                    return Poll::Ready(item);
                }
                _ => {
                    ready!(self.poll_stop(cx)).ok();
                }
            }
        }
    }
}

impl<T: Read + Send + 'static> AsyncRead for Unblock<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            match &mut self.state {
                State::Idle(_) => {
                    let mut io = self.take_idle();
                    let (reader, mut writer) = pipe(self.cap.unwrap_or(PIPE_CAPACITY));
                    // Copies from the handle into the pipe until the pipe is closed, the handle
                    // ends, or it fails.
                    let task = unblock(move || {
                        let res = loop {
                            match future::block_on(future::poll_fn(|cx| writer.poll_fill(cx, &mut *io))) {
                                Ok(0) => break Ok(()),
                                Ok(_) => {}
                                Err(err) => break Err(err),
                            }
                        };
                        (res, io)
                    });
                    self.state = State::Reading(Some(reader), task);
                }
                State::Reading(Some(reader), task) => {
                    let n = ready!(reader.poll_drain(cx, buf))?;
                    if n == 0 {
                        // The end (or an error): take the handle back, and report the error.
                        let (res, io) = ready!(Pin::new(task).poll(cx));
                        self.state = State::Idle(Some(io));
                        res?;
                    }
                    return Poll::Ready(Ok(n));
                }
                _ => ready!(self.poll_stop(cx))?,
            }
        }
    }
}

impl<T: Write + Send + 'static> AsyncWrite for Unblock<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match &mut self.state {
                State::Idle(_) => {
                    let mut io = self.take_idle();
                    let (mut reader, writer) = pipe(self.cap.unwrap_or(PIPE_CAPACITY));
                    // Copies from the pipe into the handle until the pipe is closed and empty
                    // (then flushes) or the handle fails.
                    let task = unblock(move || {
                        let res = loop {
                            match future::block_on(future::poll_fn(|cx| reader.poll_drain(cx, &mut *io))) {
                                Ok(0) => break io.flush(),
                                Ok(_) => {}
                                Err(err) => {
                                    io.flush().ok();
                                    break Err(err);
                                }
                            }
                        };
                        (res, io)
                    });
                    self.state = State::Writing(Some(writer), task);
                }
                State::Writing(Some(writer), _) => return writer.poll_fill(cx, buf),
                _ => ready!(self.poll_stop(cx))?,
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Stopping a write waits for the pool thread to write everything and flush; idle is
        // flushed.
        self.poll_stop(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        // Closed: the handle is dropped.
        self.state = State::Idle(None);
        Poll::Ready(Ok(()))
    }
}

impl<T: Seek + Send + 'static> AsyncSeek for Unblock<T> {
    fn poll_seek(mut self: Pin<&mut Self>, cx: &mut Context<'_>, pos: SeekFrom) -> Poll<io::Result<u64>> {
        loop {
            match &mut self.state {
                State::Idle(_) => {
                    let mut io = self.take_idle();
                    self.state = State::Seeking(unblock(move || {
                        let res = io.seek(pos);
                        (pos, res, io)
                    }));
                }
                State::Seeking(task) => {
                    let (asked, res, io) = ready!(Pin::new(task).poll(cx));
                    self.state = State::Idle(Some(io));
                    let at = res?;
                    // A seek left over from a poll with another position (whose future was
                    // dropped) is done; this one starts now.
                    if asked == pos {
                        return Poll::Ready(Ok(at));
                    }
                }
                _ => ready!(self.poll_stop(cx))?,
            }
        }
    }
}
