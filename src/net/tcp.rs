//! `TcpListener` and `TcpStream`, as async-net has them, over this crate's `Async`.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::net::SocketAddr;
use core::panic::{RefUnwindSafe, UnwindSafe};
use std::io;
use std::net::Shutdown;

use super::addr::{AsyncToSocketAddrs, each_addr};
use crate::io::Async;

/// A TCP server socket, listening for connections. Clones share the socket.
///
/// # Examples
///
/// ```
/// use amphi::net::{TcpListener, TcpStream};
/// use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
///
/// amphi::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct TcpListener {
    inner: Arc<Async<std::net::TcpListener>>,
}

impl TcpListener {
    /// Listens on the first of `addr`'s addresses that it can bind.
    pub async fn bind<A: AsyncToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let listener =
            each_addr(addr, |a| core::future::ready(Async::<std::net::TcpListener>::bind(a))).await?;
        Ok(TcpListener { inner: Arc::new(listener) })
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Accepts a connection: the stream and the peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.inner.accept().await?;
        Ok((TcpStream::from(stream), addr))
    }

    /// The stream of accepted connections; it never ends.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { incoming: Box::pin(self.inner.incoming()) }
    }

    /// The IP time-to-live of sent packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Sets the IP time-to-live of sent packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }
}

/// A TCP connection. Clones share the socket: one may read while another writes.
///
/// Reading from two clones at once works, but each wakes the other in turn (a direction keeps
/// one waiter); read from one.
#[derive(Clone)]
pub struct TcpStream {
    inner: Arc<Async<std::net::TcpStream>>,
}

impl UnwindSafe for TcpStream {}
impl RefUnwindSafe for TcpStream {}

impl TcpStream {
    /// Connects to the first of `addr`'s addresses that accepts, trying each in turn.
    pub async fn connect<A: AsyncToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let stream = each_addr(addr, Async::<std::net::TcpStream>::connect).await?;
        Ok(TcpStream::from(stream))
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

    /// Receives data without taking it from the socket's queue.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf).await
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// The IP time-to-live of sent packets.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Sets the IP time-to-live of sent packets.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }
}

super::shared_socket!(TcpListener, std::net::TcpListener);
super::shared_socket!(TcpStream, std::net::TcpStream);
super::stream_io!(TcpStream);
super::incoming!(Incoming, std::net::TcpStream, TcpStream);
