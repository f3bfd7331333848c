//! Unix domain sockets, as async-net's `unix` module has them: `UnixListener`, `UnixStream`,
//! `UnixDatagram`.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::panic::{RefUnwindSafe, UnwindSafe};
use std::io;
use std::net::Shutdown;
#[doc(no_inline)]
pub use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::io::Async;

/// A Unix stream socket server, listening for connections. Clones share the socket.
///
/// # Examples
///
/// ```
/// use amphi::net::unix::{UnixListener, UnixStream};
/// use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
///
/// amphi::block_on(async {
///     let path = std::env::temp_dir().join(format!("amphi-unix-doc-{}", std::process::id()));
///     let listener = UnixListener::bind(&path)?;
///     let mut client = UnixStream::connect(&path).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf).await?;
///     std::fs::remove_file(&path)?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct UnixListener {
    inner: Arc<Async<std::os::unix::net::UnixListener>>,
}

impl UnixListener {
    /// Listens at `path` (which must not exist yet).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(Async::<std::os::unix::net::UnixListener>::bind(path)?.into())
    }

    /// Accepts a connection: the stream and the peer's address.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.inner.accept().await?;
        Ok((stream.into(), addr))
    }

    /// The stream of accepted connections; it never ends.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { incoming: Box::pin(self.inner.incoming()) }
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

/// A Unix stream socket. Clones share the socket: one may read while another writes.
#[derive(Clone)]
pub struct UnixStream {
    inner: Arc<Async<std::os::unix::net::UnixStream>>,
}

impl UnwindSafe for UnixStream {}
impl RefUnwindSafe for UnixStream {}

impl UnixStream {
    /// Connects to the listener at `path`.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        Ok(Async::<std::os::unix::net::UnixStream>::connect(path).await?.into())
    }

    /// Two connected streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = Async::<std::os::unix::net::UnixStream>::pair()?;
        Ok((a.into(), b.into()))
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down the read side, the write side, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

/// A Unix datagram socket. Clones share the socket.
#[derive(Clone)]
pub struct UnixDatagram {
    inner: Arc<Async<std::os::unix::net::UnixDatagram>>,
}

impl UnwindSafe for UnixDatagram {}
impl RefUnwindSafe for UnixDatagram {}

impl UnixDatagram {
    /// A socket bound to `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Ok(Async::<std::os::unix::net::UnixDatagram>::bind(path)?.into())
    }

    /// A socket bound to no address.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(Async::<std::os::unix::net::UnixDatagram>::unbound()?.into())
    }

    /// Two connected sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = Async::<std::os::unix::net::UnixDatagram>::pair()?;
        Ok((a.into(), b.into()))
    }

    /// Connects to the socket at `path`: `send` and `recv` then use it.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.inner.get_ref().connect(path)
    }

    /// The address this socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The address this socket is connected to.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Receives a datagram and its sender's address.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.recv_from(buf).await
    }

    /// Sends a datagram to the socket at `path`.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        self.inner.send_to(buf, path).await
    }

    /// Receives a datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.recv(buf).await
    }

    /// Sends a datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send(buf).await
    }

    /// Shuts down the read side, the write side, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

super::shared_socket!(UnixListener, std::os::unix::net::UnixListener);
super::shared_socket!(UnixStream, std::os::unix::net::UnixStream);
super::shared_socket!(UnixDatagram, std::os::unix::net::UnixDatagram);
super::stream_io!(UnixStream);
super::incoming!(Incoming, std::os::unix::net::UnixStream, UnixStream);
