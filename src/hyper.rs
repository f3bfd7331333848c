//! hyper 1.x on `amphi`: hyper's runtime traits for this crate's runtime, so a hyper client or
//! server runs with no Tokio runtime and no adapter of its own. (hyper itself still depends on
//! Tokio's `sync` module, for its channels; nothing of Tokio's runtime is built or started.)
//!
//! hyper asks its runtime for three things, and this module has one type for each:
//!
//! | hyper's trait | type here | what it uses |
//! |---|---|---|
//! | [`rt::Executor`] (HTTP/2's background tasks, hyper-util's pools) | [`AmphiExecutor`] | [`spawn`] on the global runtime |
//! | [`rt::Timer`] (header read timeouts, HTTP/2 keep-alive pings) | [`AmphiTimer`] | [`Timer`] |
//! | [`rt::Read`] and [`rt::Write`] (the connection) | [`AmphiIo`] | any futures-io stream, such as [`Async<TcpStream>`](crate::Async) |
//!
//! They are the counterparts of hyper-util's `TokioExecutor`, `TokioTimer` and `TokioIo`.
//!
//! # Examples
//!
//! A server and a client on loopback, on the global runtime (sockets write vectors in one call,
//! hence [`AmphiIo::new_vectored`]):
//!
//! ```
//! use std::net::{TcpListener, TcpStream};
//!
//! use amphi::Async;
//! use amphi::hyper::{AmphiIo, AmphiTimer};
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use hyper::{Request, Response};
//!
//! amphi::block_on(async {
//!     let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
//!     let addr = listener.get_ref().local_addr()?;
//!     let server = amphi::spawn(async move {
//!         let (stream, _) = listener.accept().await?;
//!         let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
//!             let hello = format!("hello, {}", req.uri().path());
//!             Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(hello))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(AmphiTimer)
//!             .serve_connection(AmphiIo::new_vectored(stream), service)
//!             .await
//!             .map_err(std::io::Error::other)
//!     });
//!
//!     let stream = Async::<TcpStream>::connect(addr).await?;
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(AmphiIo::new_vectored(stream))
//!         .await
//!         .map_err(std::io::Error::other)?;
//!     let conn = amphi::spawn(conn);
//!     let req = Request::get("/amphi").header("host", "localhost").body(Full::new(Bytes::new())).unwrap();
//!     let res = sender.send_request(req).await.map_err(std::io::Error::other)?;
//!     let body = res.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes();
//!     assert_eq!(body, "hello, /amphi");
//!
//!     drop(sender); // the client is done: its connection closes, and so the server's
//!     conn.await.map_err(std::io::Error::other)?;
//!     server.await
//! })
//! .unwrap();
//! ```

use alloc::boxed::Box;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;
use std::io::{self, IoSlice};
use std::time::Instant;

use ::hyper::rt::{self, ReadBufCursor, Sleep};
use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::global::spawn;
use crate::timer::Timer;

/// hyper's executor for amphi's global runtime: each future hyper hands it is a detached task.
///
/// hyper's HTTP/2 connections (`hyper::server::conn::http2::Builder::new`,
/// `hyper::client::conn::http2::handshake`) and hyper-util's pooled client take one; HTTP/1 needs
/// none.
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor as _;
///
/// let (tx, rx) = async_channel::bounded(1);
/// amphi::hyper::AmphiExecutor.execute(async move { tx.send(42).await.unwrap() });
/// assert_eq!(amphi::block_on(rx.recv()), Ok(42));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct AmphiExecutor;

impl<F> rt::Executor<F> for AmphiExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        spawn(future).detach();
    }
}

/// hyper's timer on [`Timer`]: each of hyper's sleeps is an amphi `Timer`, reset in place.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// use hyper::rt::Timer as _;
///
/// let timer = amphi::hyper::AmphiTimer;
/// let start = Instant::now();
/// let mut sleep = timer.sleep(Duration::from_secs(60));
/// timer.reset(&mut sleep, start + Duration::from_millis(5)); // sooner, in the same allocation
/// amphi::block_on(sleep);
/// let slept = start.elapsed();
/// assert!(slept >= Duration::from_millis(5) && slept < Duration::from_secs(60));
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct AmphiTimer;

impl rt::Timer for AmphiTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(AmphiSleep(Timer::after(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(AmphiSleep(Timer::at(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<AmphiSleep>() {
            // The timer keeps the waker of the task polling it: no new allocation, no lost wake-up.
            Some(ours) => ours.get_mut().0.set_at(new_deadline),
            // Another timer's sleep, handed to this one: replaced, as hyper's default does.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A sleep of [`AmphiTimer`]'s.
#[derive(Debug)]
struct AmphiSleep(Timer);

impl Future for AmphiSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Sleep for AmphiSleep {}

/// A futures-io stream as hyper's connection: [`rt::Read`] and [`rt::Write`] over any
/// [`AsyncRead`] + [`AsyncWrite`], such as [`Async<TcpStream>`](crate::Async).
///
/// Reads go straight into hyper's buffer, with no copy through a buffer of the adapter's own, so
/// they grow with hyper's (up to 256 KiB a read). hyper's buffer is uninitialised and a
/// futures-io reader takes initialised bytes: the part one read may fill is zeroed first.
/// Writes, vectored writes and flushes are passed through; hyper's shutdown is the stream's
/// `poll_close`. [`AmphiIo::new_vectored`] tells hyper that the stream's vectored writes are
/// efficient.
///
/// The stream must be [`Unpin`], as `Async<T>` is; pin one that is not in a `Box`.
///
/// # Panics
///
/// A read panics if the stream's `poll_read` says it read more bytes than the buffer it was given
/// holds: counting them would hand hyper uninitialised memory.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
///
/// use amphi::Async;
/// use amphi::hyper::AmphiIo;
///
/// amphi::block_on(async {
///     let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
///     let stream = Async::<TcpStream>::connect(listener.get_ref().local_addr()?).await?;
///     let io = AmphiIo::new(stream);
///     let (_sender, _conn) = hyper::client::conn::http1::handshake::<_, String>(io)
///         .await
///         .map_err(std::io::Error::other)?;
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct AmphiIo<T> {
    inner: T,
    /// What hyper's `is_write_vectored` answers.
    vectored: bool,
    /// How much of hyper's buffer the next read zeroes and may fill (see [`ReadLen`]).
    read_len: ReadLen,
}

impl<T> AmphiIo<T> {
    /// Wraps `inner` for hyper, which then copies each message into one buffer and writes it with
    /// `poll_write`, as it does for any stream not known to write vectors efficiently.
    ///
    /// # Examples
    ///
    /// ```
    /// use hyper::rt::Write as _;
    ///
    /// let io = amphi::hyper::AmphiIo::new(futures_lite::io::sink());
    /// assert!(!io.is_write_vectored());
    /// ```
    pub fn new(inner: T) -> Self {
        Self { inner, vectored: false, read_len: ReadLen::new() }
    }

    /// Wraps `inner`, whose `poll_write_vectored` writes several buffers in one call, for hyper,
    /// which then queues a message's parts (head, body chunks) and writes them together without
    /// copying them into one buffer.
    ///
    /// `Async<TcpStream>` and the other `Async` sockets are such streams. One whose
    /// `poll_write_vectored` is futures-io's default, which writes the first buffer only, is better
    /// wrapped with [`new`](AmphiIo::new): each part would cost a write of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    ///
    /// use amphi::Async;
    /// use hyper::rt::Write as _;
    ///
    /// amphi::block_on(async {
    ///     let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    ///     let stream = Async::<TcpStream>::connect(listener.get_ref().local_addr()?).await?;
    ///     assert!(amphi::hyper::AmphiIo::new_vectored(stream).is_write_vectored());
    ///     std::io::Result::Ok(())
    /// })
    /// .unwrap();
    /// ```
    pub fn new_vectored(inner: T) -> Self {
        Self { inner, vectored: true, read_len: ReadLen::new() }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = amphi::hyper::AmphiIo::new(futures_lite::io::Cursor::new(vec![1, 2]));
    /// assert_eq!(io.get_ref().get_ref(), &[1, 2]);
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut io = amphi::hyper::AmphiIo::new(futures_lite::io::Cursor::new(vec![1, 2]));
    /// io.get_mut().set_position(1);
    /// assert_eq!(io.get_ref().position(), 1);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// let io = amphi::hyper::AmphiIo::new(futures_lite::io::Cursor::new(vec![1, 2]));
    /// assert_eq!(io.into_inner().into_inner(), [1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> rt::Read for AmphiIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // hyper's buffer is uninitialised, and a futures-io reader takes `&mut [u8]`: it is zeroed
        // first (by hyper's safe `initialize_unfilled_to`), then read into directly.
        let len = buf.remaining().min(self.read_len.get());
        let dst = buf.initialize_unfilled_to(len);
        let n = ready!(Pin::new(&mut self.inner).poll_read(cx, dst))?;
        // A safe reader may lie; counting bytes it was not given would expose uninitialised ones.
        assert!(n <= len, "AsyncRead::poll_read returned {n} bytes for a buffer of {len}");
        self.read_len.after(n, len);
        // SAFETY: `initialize_unfilled_to(len)` initialised the first `len` bytes of the unfilled
        // part, and `n <= len`: the `n` bytes `advance` counts as filled are initialised.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

/// How much of hyper's buffer a read zeroes and may fill: hyper hands over its whole spare room
/// (8 KiB at first, growing to 408 KiB under load), uninitialised, on every read, and zeroing
/// all of it for a message of a hundred bytes cost more than the read (8 KiB a read, most
/// reads of a keep-alive connection being one small message). The length starts at
/// [`MIN`](ReadLen::MIN), doubles after a read that filled it, up to [`MAX`](ReadLen::MAX), and
/// halves after one that used a quarter or less.
#[derive(Debug, Clone, Copy)]
struct ReadLen(usize);

impl ReadLen {
    /// A keep-alive connection's reads are mostly one message of a few hundred bytes: zeroing
    /// 4 KiB for each (64 cache lines, cold with many connections) was 2.4 % of a request's
    /// CPU time in `hyper::keep_alive_64`; a message larger than this costs one more read or
    /// two while the length doubles, once.
    const MIN: usize = 512;
    /// 256 KiB keeps most of the gain of hyper's largest reads while bounding the zeroing
    /// (about 2 µs).
    const MAX: usize = 256 * 1024;

    fn new() -> Self {
        Self(Self::MIN)
    }

    fn get(self) -> usize {
        self.0
    }

    /// Adapts to a read of `n` bytes into `len` (`len` may be less than the length, when hyper's
    /// buffer had less room).
    fn after(&mut self, n: usize, len: usize) {
        // Less room than the length says nothing about what the stream had to give.
        if len < self.0 {
            return;
        }
        if n == len {
            self.0 = (self.0 * 2).min(Self::MAX);
        } else if n <= self.0 / 4 {
            self.0 = (self.0 / 2).max(Self::MIN);
        }
    }
}

impl<T: AsyncWrite + Unpin> rt::Write for AmphiIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
