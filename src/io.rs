//! `Async<T>`: an I/O handle registered with the reactor.
//!
//! The API mirrors async-io 2.x's `Async`, so code moves here by changing the `use` line.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::TcpStream;

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::reactor::{self, READ, Slot, Source, WRITE};
use crate::sync::Arc;
use crate::sys;

mod net;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

/// An I/O handle registered with the reactor, usable from async code.
///
/// [`Async::new`] puts the handle into non-blocking mode and registers it; operations that would
/// block wait for readiness instead, driven by whichever thread is idle (see [`Timer`] for who
/// drives). Dropping an `Async` deregisters the handle, then closes it.
///
/// [`Timer`]: crate::Timer
///
/// # Examples
///
/// ```
/// use amphi::Async;
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use std::net::TcpListener;
///
/// amphi::block_on(async {
///     let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
///     let addr = listener.get_ref().local_addr()?;
///     let mut client = Async::<std::net::TcpStream>::connect(addr).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.write_all(b"hello").await?;
///     let mut buf = [0; 5];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hello");
///     std::io::Result::Ok(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Async<T> {
    source: Arc<Source>,
    /// `None` only inside `into_inner` and `drop`.
    io: Option<T>,
}

impl<T> Unpin for Async<T> {}

impl<T: sys::AsHandle> Async<T> {
    /// Puts `io` into non-blocking mode and registers it with the reactor.
    ///
    /// # Errors
    ///
    /// The OS error if the handle cannot be made non-blocking or registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let socket = amphi::Async::new(socket).unwrap();
    /// ```
    pub fn new(io: T) -> io::Result<Async<T>> {
        sys::set_nonblocking(sys::borrow(&io))?;
        Async::new_nonblocking(io)
    }

    /// Registers `io`, which the caller has already put into non-blocking mode.
    ///
    /// # Errors
    ///
    /// The OS error if the handle cannot be registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// socket.set_nonblocking(true).unwrap();
    /// let socket = amphi::Async::new_nonblocking(socket).unwrap();
    /// ```
    pub fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        let raw = sys::raw(sys::borrow(&io));
        // SAFETY: `io` owns (or borrows for longer than `self`) the handle; `Async` removes the
        // source in `into_inner` and `drop` before giving `io` back or dropping it.
        let source = unsafe { reactor::get().insert_io(raw)? };
        Ok(Async { source, io: Some(io) })
    }
}

impl<T> Async<T> {
    /// A reference to the inner handle.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = amphi::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    /// let addr = listener.get_ref().local_addr().unwrap();
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("the I/O handle is present until into_inner or drop")
    }

    /// A mutable reference to the inner handle.
    ///
    /// # Safety
    ///
    /// - The handle must not be replaced or closed through this reference (for example by
    ///   `mem::swap` or by dropping a `File` in place): the reactor still has its descriptor
    ///   registered.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut listener = amphi::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    /// // SAFETY: the listener is only read through the reference.
    /// let inner = unsafe { listener.get_mut() };
    /// let _ = inner.local_addr();
    /// ```
    pub unsafe fn get_mut(&mut self) -> &mut T {
        self.io.as_mut().expect("the I/O handle is present until into_inner or drop")
    }

    /// Deregisters the handle and returns it (still in non-blocking mode).
    ///
    /// # Errors
    ///
    /// The OS error if deregistering fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = amphi::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    /// let inner: std::net::TcpListener = listener.into_inner().unwrap();
    /// ```
    pub fn into_inner(mut self) -> io::Result<T> {
        let io = self.io.take().expect("the I/O handle is present until into_inner or drop");
        reactor::get().remove_io(&self.source)?;
        Ok(io)
    }

    /// Waits until the handle is readable (or may be: readiness can be spurious).
    ///
    /// # Errors
    ///
    /// The OS error if the reactor cannot watch the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// b.get_ref().peer_addr()?;
    /// std::io::Write::write_all(&mut b.get_ref(), b"x")?;
    /// a.readable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn readable(&self) -> Readable<'_, T> {
        Readable(Ready::new(self, READ))
    }

    /// Like [`readable`](Async::readable), for a shared `Async` that the future keeps alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// std::io::Write::write_all(&mut b.get_ref(), b"x")?;
    /// std::sync::Arc::new(a).readable_owned().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn readable_owned(self: Arc<Self>) -> ReadableOwned<T> {
        ReadableOwned(Ready::new(self, READ))
    }

    /// Waits until the handle is writable (or may be: readiness can be spurious).
    ///
    /// # Errors
    ///
    /// The OS error if the reactor cannot watch the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, _b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// a.writable().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn writable(&self) -> Writable<'_, T> {
        Writable(Ready::new(self, WRITE))
    }

    /// Like [`writable`](Async::writable), for a shared `Async` that the future keeps alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, _b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// std::sync::Arc::new(a).writable_owned().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn writable_owned(self: Arc<Self>) -> WritableOwned<T> {
        WritableOwned(Ready::new(self, WRITE))
    }

    /// Polls for readability; one waker per `Async` (the last poller's) is kept.
    ///
    /// # Errors
    ///
    /// The OS error if the reactor cannot watch the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future;
    ///
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// std::io::Write::write_all(&mut b.get_ref(), b"x")?;
    /// future::poll_fn(|cx| a.poll_readable(cx)).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(reactor::get(), READ, cx, None, Slot::Single)
    }

    /// Polls for writability; one waker per `Async` (the last poller's) is kept.
    ///
    /// # Errors
    ///
    /// The OS error if the reactor cannot watch the handle.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_lite::future;
    ///
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, _b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// future::poll_fn(|cx| a.poll_writable(cx)).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(reactor::get(), WRITE, cx, None, Slot::Single)
    }

    /// Runs a non-blocking read operation until it stops returning `WouldBlock`.
    ///
    /// # Errors
    ///
    /// The first error of `op` other than `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let listener = amphi::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0))?;
    /// let addr = listener.get_ref().local_addr()?;
    /// let _client = amphi::Async::<std::net::TcpStream>::connect(addr).await?;
    /// let (stream, _) = listener.read_with(|l| l.accept()).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn read_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut op = op;
        loop {
            match op(self.get_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                res => return res,
            }
            self.readable().await?;
        }
    }

    /// Like [`read_with`](Async::read_with), with mutable access to the handle.
    ///
    /// # Safety
    ///
    /// - As for [`get_mut`](Async::get_mut): `op` must not replace or close the handle.
    ///
    /// # Errors
    ///
    /// The first error of `op` other than `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let listener = amphi::Async::<std::net::TcpListener>::bind(([127, 0, 0, 1], 0))?;
    /// let addr = listener.get_ref().local_addr()?;
    /// let _client = std::net::TcpStream::connect(addr)?;
    /// let mut listener = listener;
    /// // SAFETY: the closure only accepts.
    /// let (stream, _) = unsafe { listener.read_with_mut(|l| l.accept()).await? };
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async unsafe fn read_with_mut<R>(
        &mut self,
        op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut op = op;
        loop {
            // SAFETY: the caller promises `op` does not replace or close the handle.
            match op(unsafe { self.get_mut() }) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                res => return res,
            }
            self.readable().await?;
        }
    }

    /// Runs a non-blocking write operation until it stops returning `WouldBlock`.
    ///
    /// # Errors
    ///
    /// The first error of `op` other than `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// let addr = socket.get_ref().local_addr()?;
    /// let sent = socket.write_with(|s| s.send_to(b"hi", addr)).await?;
    /// assert_eq!(sent, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn write_with<R>(&self, op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        let mut op = op;
        loop {
            match op(self.get_ref()) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                res => return res,
            }
            self.writable().await?;
        }
    }

    /// Like [`write_with`](Async::write_with), with mutable access to the handle.
    ///
    /// # Safety
    ///
    /// - As for [`get_mut`](Async::get_mut): `op` must not replace or close the handle.
    ///
    /// # Errors
    ///
    /// The first error of `op` other than `WouldBlock`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let mut socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// let addr = socket.get_ref().local_addr()?;
    /// // SAFETY: the closure only sends.
    /// let sent = unsafe { socket.write_with_mut(|s| s.send_to(b"hi", addr)).await? };
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async unsafe fn write_with_mut<R>(
        &mut self,
        op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut op = op;
        loop {
            // SAFETY: the caller promises `op` does not replace or close the handle.
            match op(unsafe { self.get_mut() }) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                res => return res,
            }
            self.writable().await?;
        }
    }
}

impl<T> AsRef<T> for Async<T> {
    fn as_ref(&self) -> &T {
        self.get_ref()
    }
}

impl<T> Drop for Async<T> {
    fn drop(&mut self) {
        if self.io.is_some() {
            // Deregister before `io` closes the descriptor, which could otherwise be reused.
            let _ = reactor::get().remove_io(&self.source);
            self.io.take();
        }
    }
}

/// Marks I/O types whose `Read`/`Write` through `&mut` never replace or close the handle, so
/// [`Async`] can implement `AsyncRead`/`AsyncWrite` for them.
///
/// # Safety
///
/// - No method reachable through `&mut Self` of `Read`/`Write` may drop or replace the
///   underlying file descriptor.
///
/// # Examples
///
/// ```
/// struct MySocket(std::net::TcpStream);
/// // SAFETY: `MySocket` only forwards reads and writes to the stream.
/// unsafe impl amphi::IoSafe for MySocket {}
/// ```
pub unsafe trait IoSafe {
    /// Whether a read that returns fewer bytes than it was given (and more than none) has
    /// emptied the handle: true for a stream socket read directly (`TcpStream`, `UnixStream`),
    /// false (the default) for anything that buffers, decodes or frames what it reads (a
    /// `BufReader`, a TLS stream, a datagram socket, a terminal's lines). When true, `Async` makes
    /// no attempt after such a read until the reactor reports new data, which saves a failed
    /// system call per message; set wrongly, a read waits for data that is already there.
    const SHORT_READ_EMPTIES: bool = false;
}

// SAFETY: (all impls below) these standard types only read and write their handle through
// `&mut`, never replace or close it.
unsafe impl<T: ?Sized> IoSafe for &T {}
// SAFETY: see above.
unsafe impl<T: IoSafe + ?Sized> IoSafe for &mut T {}
// SAFETY: see above.
unsafe impl<T: IoSafe + ?Sized> IoSafe for alloc::boxed::Box<T> {}
// SAFETY: see above.
unsafe impl<T: Clone + IoSafe> IoSafe for alloc::borrow::Cow<'_, T> {}
// SAFETY: see above.
unsafe impl IoSafe for std::fs::File {}
// SAFETY: see above.
unsafe impl IoSafe for std::io::Stderr {}
// SAFETY: see above.
unsafe impl IoSafe for std::io::Stdin {}
// SAFETY: see above.
unsafe impl IoSafe for std::io::Stdout {}
// SAFETY: see above.
unsafe impl IoSafe for std::io::StderrLock<'_> {}
// SAFETY: see above.
unsafe impl IoSafe for std::io::StdinLock<'_> {}
// SAFETY: see above.
unsafe impl IoSafe for std::io::StdoutLock<'_> {}
// SAFETY: see above.
unsafe impl IoSafe for TcpStream {
    const SHORT_READ_EMPTIES: bool = true;
}
// SAFETY: see above.
unsafe impl IoSafe for std::process::ChildStdin {}
// SAFETY: see above.
unsafe impl IoSafe for std::process::ChildStdout {}
// SAFETY: see above.
unsafe impl IoSafe for std::process::ChildStderr {}
// SAFETY: see above.
unsafe impl<T: IoSafe + Read> IoSafe for std::io::BufReader<T> {}
// SAFETY: see above.
unsafe impl<T: IoSafe + Write> IoSafe for std::io::BufWriter<T> {}
// SAFETY: see above.
unsafe impl<T: IoSafe + Write> IoSafe for std::io::LineWriter<T> {}

/// Retries a non-blocking operation until it stops returning `WouldBlock`, waiting for
/// readiness in between. With `read = $len` (the bytes a read of a handle whose short reads
/// empty it is given, or `usize::MAX`), a read that returns fewer tells the source (see
/// `Source::after_short_read`).
macro_rules! retry {
    ($this:ident, $cx:ident, $dir:expr, $op:expr) => {
        retry!($this, $cx, $dir, $op, |res, _tried_at| res)
    };
    ($this:ident, $cx:ident, $dir:expr, read = $len:expr, $op:expr) => {
        retry!($this, $cx, $dir, $op, |res, tried_at| {
            if let Ok(n) = res {
                if n > 0 && n < $len {
                    $this.source.after_short_read(tried_at);
                }
            }
            res
        })
    };
    ($this:ident, $cx:ident, $dir:expr, $op:expr, |$res:ident, $tried_at:ident| $done:expr) => {{
        let reactor = reactor::get();
        loop {
            // No attempt while the last one would block and no event has arrived since.
            ready!($this.source.poll_attempt(reactor, $dir, $cx))?;
            // An event the reactor had seen before this attempt is older than the `WouldBlock`
            // it gets: it must not make the next poll ready, which would cost a failed attempt.
            let $tried_at = reactor.ticker();
            match $op {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                $res => return Poll::Ready($done),
            }
            ready!($this.source.poll_ready(reactor, $dir, $cx, Some($tried_at), Slot::Single))?;
        }
    }};
}

/// The length under which a read of `T` has emptied the handle: `len`, if `T`'s short reads empty
/// it ([`IoSafe::SHORT_READ_EMPTIES`]), else none.
fn short_below<T: IoSafe>(len: usize) -> usize {
    if T::SHORT_READ_EMPTIES { len } else { 0 }
}

/// How many bytes a vectored read that returns fewer has surely emptied the buffer by: the first
/// non-empty buffer's length. `Read::read_vectored`'s default reads into that buffer only, so a
/// read that fills it says nothing about what is left; a true `readv` fills the buffers in order,
/// and one that does not fill the first has found nothing more either.
fn first_len(bufs: &[IoSliceMut<'_>]) -> usize {
    bufs.iter().map(|b| b.len()).find(|&n| n > 0).unwrap_or(0)
}

impl<T: IoSafe + Read> AsyncRead for Async<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        // SAFETY: `T: IoSafe`: reading does not replace or close the handle.
        retry!(self, cx, READ, read = short_below::<T>(buf.len()), unsafe { (*self).get_mut() }.read(buf))
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let short_below = short_below::<T>(first_len(bufs));
        // SAFETY: `T: IoSafe`: reading does not replace or close the handle.
        retry!(self, cx, READ, read = short_below, unsafe { (*self).get_mut() }.read_vectored(bufs))
    }
}

impl<T> AsyncRead for &Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        retry!(self, cx, READ, self.get_ref().read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        retry!(self, cx, READ, self.get_ref().read_vectored(bufs))
    }
}

impl<T: IoSafe + Write> AsyncWrite for Async<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // SAFETY: `T: IoSafe`: writing does not replace or close the handle.
        retry!(self, cx, WRITE, unsafe { (*self).get_mut() }.write(buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // SAFETY: `T: IoSafe`: writing does not replace or close the handle.
        retry!(self, cx, WRITE, unsafe { (*self).get_mut() }.write_vectored(bufs))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // SAFETY: `T: IoSafe`: flushing does not replace or close the handle.
        retry!(self, cx, WRITE, unsafe { (*self).get_mut() }.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl<T> AsyncWrite for &Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        retry!(self, cx, WRITE, self.get_ref().write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        retry!(self, cx, WRITE, self.get_ref().write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        retry!(self, cx, WRITE, self.get_ref().flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// The state of a `readable()`/`writable()` future over a handle `H` to an `Async<T>`.
struct Ready<H: core::borrow::Borrow<Async<T>>, T> {
    handle: H,
    dir: usize,
    ticks: Option<(usize, usize)>,
    index: Option<usize>,
    _io: PhantomData<fn() -> T>,
}

impl<H: core::borrow::Borrow<Async<T>>, T> Ready<H, T> {
    fn new(handle: H, dir: usize) -> Self {
        Self { handle, dir, ticks: None, index: None, _io: PhantomData }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let source = &self.handle.borrow().source;
        let slot = Slot::Many { ticks: &mut self.ticks, index: &mut self.index };
        source.poll_ready(reactor::get(), self.dir, cx, None, slot)
    }
}

impl<H: core::borrow::Borrow<Async<T>>, T> Drop for Ready<H, T> {
    fn drop(&mut self) {
        if let Some(index) = self.index {
            self.handle.borrow().source.drop_ready(self.dir, index);
        }
    }
}

macro_rules! ready_future {
    ($(#[$doc:meta])* $name:ident<$($lt:lifetime,)? T> = $handle:ty) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless you `.await` or poll them"]
        pub struct $name<$($lt,)? T>(Ready<$handle, T>);

        impl<$($lt,)? T> Future for $name<$($lt,)? T> {
            type Output = io::Result<()>;

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.0.poll(cx)
            }
        }

        impl<$($lt,)? T> fmt::Debug for $name<$($lt,)? T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

ready_future! {
    /// The future of [`Async::readable`].
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// std::io::Write::write_all(&mut b.get_ref(), b"x")?;
    /// let ready: amphi::Readable<'_, _> = a.readable();
    /// ready.await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    Readable<'a, T> = &'a Async<T>
}

ready_future! {
    /// The future of [`Async::readable_owned`].
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// std::io::Write::write_all(&mut b.get_ref(), b"x")?;
    /// let ready: amphi::ReadableOwned<_> = std::sync::Arc::new(a).readable_owned();
    /// ready.await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    ReadableOwned<T> = Arc<Async<T>>
}

ready_future! {
    /// The future of [`Async::writable`].
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, _b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// let ready: amphi::Writable<'_, _> = a.writable();
    /// ready.await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    Writable<'a, T> = &'a Async<T>
}

ready_future! {
    /// The future of [`Async::writable_owned`].
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// # let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// // A connected pair of TCP streams.
    /// let (a, _b) = (amphi::Async::new(listener.accept()?.0)?, amphi::Async::new(peer)?);
    /// let ready: amphi::WritableOwned<_> = std::sync::Arc::new(a).writable_owned();
    /// ready.await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    WritableOwned<T> = Arc<Async<T>>
}
