//! Socket constructors and operations of [`Async`]: TCP and UDP, on every platform.

#![forbid(unsafe_code)]

use core::net::SocketAddr;
use std::io;
use std::net::{TcpListener, TcpStream, UdpSocket};

use futures_lite::{Stream, stream};

use super::Async;
use crate::sys;

impl Async<TcpListener> {
    /// Binds a TCP listener to `addr`.
    ///
    /// # Errors
    ///
    /// The OS error of `bind`/`listen` (address in use, permission denied) or of registration.
    ///
    /// # Examples
    ///
    /// ```
    /// use amphi::Async;
    /// use std::net::TcpListener;
    ///
    /// let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    /// println!("listening on {}", listener.get_ref().local_addr().unwrap());
    /// ```
    pub fn bind<A: Into<SocketAddr>>(addr: A) -> io::Result<Async<TcpListener>> {
        Async::new(TcpListener::bind(addr.into())?)
    }

    /// Accepts a connection.
    ///
    /// # Errors
    ///
    /// The OS error of `accept`, or of registering the new stream.
    ///
    /// # Examples
    ///
    /// ```
    /// # use amphi::Async; use std::net::{TcpListener, TcpStream};
    /// # amphi::block_on(async {
    /// let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    /// let _client = TcpStream::connect(listener.get_ref().local_addr()?)?;
    /// let (stream, peer) = listener.accept().await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(Async<TcpStream>, SocketAddr)> {
        let (stream, addr) = self.read_with(|io| io.accept()).await?;
        Ok((Async::new(stream)?, addr))
    }

    /// A stream of incoming connections; it never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # use amphi::Async; use std::net::{TcpListener, TcpStream};
    /// use futures_lite::{StreamExt, pin};
    ///
    /// # amphi::block_on(async {
    /// let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    /// let _client = TcpStream::connect(listener.get_ref().local_addr()?)?;
    /// let incoming = listener.incoming();
    /// pin!(incoming);
    /// let stream = incoming.next().await.unwrap()?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn incoming(&self) -> impl Stream<Item = io::Result<Async<TcpStream>>> + Send + '_ {
        stream::unfold(self, |listener| async move {
            let res = listener.accept().await.map(|(stream, _)| stream);
            Some((res, listener))
        })
    }
}

impl TryFrom<TcpListener> for Async<TcpListener> {
    type Error = io::Error;

    fn try_from(listener: TcpListener) -> io::Result<Self> {
        Async::new(listener)
    }
}

impl Async<TcpStream> {
    /// Connects to `addr` without blocking the thread.
    ///
    /// # Errors
    ///
    /// The OS error of the connection: `ConnectionRefused` for a closed port, and so on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use amphi::Async; use std::net::{TcpListener, TcpStream};
    /// # amphi::block_on(async {
    /// let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    /// let stream = Async::<TcpStream>::connect(listener.get_ref().local_addr()?).await?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn connect<A: Into<SocketAddr>>(addr: A) -> io::Result<Async<TcpStream>> {
        let stream = Async::new_nonblocking(sys::connect_nonblocking(addr.into())?)?;
        stream.writable().await?;
        match stream.get_ref().take_error()? {
            None => Ok(stream),
            Some(err) => Err(err),
        }
    }

    /// Reads data without removing it from the receive queue.
    ///
    /// # Errors
    ///
    /// The OS error of `recv(MSG_PEEK)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use amphi::Async; use std::net::{TcpListener, TcpStream}; use std::io::Write;
    /// # amphi::block_on(async {
    /// let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    /// let stream = Async::<TcpStream>::connect(listener.get_ref().local_addr()?).await?;
    /// let (server, _) = listener.accept().await?;
    /// server.get_ref().write_all(b"x")?;
    /// let mut buf = [0; 1];
    /// assert_eq!(stream.peek(&mut buf).await?, 1);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|io| io.peek(buf)).await
    }
}

impl TryFrom<TcpStream> for Async<TcpStream> {
    type Error = io::Error;

    fn try_from(stream: TcpStream) -> io::Result<Self> {
        Async::new(stream)
    }
}

impl Async<UdpSocket> {
    /// Binds a UDP socket to `addr`.
    ///
    /// # Errors
    ///
    /// The OS error of `bind`, or of registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0)).unwrap();
    /// ```
    pub fn bind<A: Into<SocketAddr>>(addr: A) -> io::Result<Async<UdpSocket>> {
        Async::new(UdpSocket::bind(addr.into())?)
    }

    /// Receives a datagram and its sender's address.
    ///
    /// # Errors
    ///
    /// The OS error of `recvfrom`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// let addr = socket.get_ref().local_addr()?;
    /// socket.send_to(b"hi", addr).await?;
    /// let mut buf = [0; 8];
    /// let (n, from) = socket.recv_from(&mut buf).await?;
    /// assert_eq!((&buf[..n], from), (&b"hi"[..], addr));
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_with(|io| io.recv_from(buf)).await
    }

    /// Receives a datagram without removing it from the queue.
    ///
    /// # Errors
    ///
    /// The OS error of `recvfrom(MSG_PEEK)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// let addr = socket.get_ref().local_addr()?;
    /// socket.send_to(b"hi", addr).await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(socket.peek_from(&mut buf).await?.0, 2);
    /// assert_eq!(socket.recv_from(&mut buf).await?.0, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.read_with(|io| io.peek_from(buf)).await
    }

    /// Sends a datagram to `addr`.
    ///
    /// # Errors
    ///
    /// The OS error of `sendto`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// let addr = socket.get_ref().local_addr()?;
    /// assert_eq!(socket.send_to(b"hi", addr).await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send_to<A: Into<SocketAddr>>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        let addr = addr.into();
        self.write_with(|io| io.send_to(buf, addr)).await
    }

    /// Receives a datagram from the connected peer.
    ///
    /// # Errors
    ///
    /// The OS error of `recv`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// socket.get_ref().connect(socket.get_ref().local_addr()?)?;
    /// socket.send(b"hi").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(socket.recv(&mut buf).await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|io| io.recv(buf)).await
    }

    /// Receives a datagram from the connected peer without removing it from the queue.
    ///
    /// # Errors
    ///
    /// The OS error of `recv(MSG_PEEK)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// socket.get_ref().connect(socket.get_ref().local_addr()?)?;
    /// socket.send(b"hi").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(socket.peek(&mut buf).await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|io| io.peek(buf)).await
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// The OS error of `send` (`NotConnected` before a `connect`).
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let socket = amphi::Async::<std::net::UdpSocket>::bind(([127, 0, 0, 1], 0))?;
    /// socket.get_ref().connect(socket.get_ref().local_addr()?)?;
    /// assert_eq!(socket.send(b"hi").await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(|io| io.send(buf)).await
    }
}

impl TryFrom<UdpSocket> for Async<UdpSocket> {
    type Error = io::Error;

    fn try_from(socket: UdpSocket) -> io::Result<Self> {
        Async::new(socket)
    }
}
