//! Socket constructors and operations of [`Async`]: TCP, UDP and Unix sockets.

#![forbid(unsafe_code)]

use core::net::SocketAddr;
use std::io;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{SocketAddr as UnixSocketAddr, UnixDatagram, UnixListener, UnixStream};
use std::path::Path;

use futures_lite::{Stream, stream};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::Async;

/// Starts a non-blocking connect; the socket becomes writable once it completes or fails.
fn start_connect(
    family: AddressFamily,
    addr: &impl rustix::net::addr::SocketAddrArg,
) -> io::Result<std::os::fd::OwnedFd> {
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    match rustix::net::connect(&socket, addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) | Err(rustix::io::Errno::AGAIN) => Ok(socket),
        Err(err) => Err(err.into()),
    }
}

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
        let addr = addr.into();
        let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
        let stream = Async::new_nonblocking(TcpStream::from(start_connect(family, &addr)?))?;
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

impl Async<UnixListener> {
    /// Binds a Unix listener to `path`.
    ///
    /// # Errors
    ///
    /// The OS error of `bind`/`listen`, or of registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("amphi-doc-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = amphi::Async::<std::os::unix::net::UnixListener>::bind(&path).unwrap();
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<Async<UnixListener>> {
        Async::new(UnixListener::bind(path)?)
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
    /// # use amphi::Async; use std::os::unix::net::{UnixListener, UnixStream};
    /// # amphi::block_on(async {
    /// let path = std::env::temp_dir().join(format!("amphi-doc-accept-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = Async::<UnixListener>::bind(&path)?;
    /// let _client = Async::<UnixStream>::connect(&path).await?;
    /// let (stream, _) = listener.accept().await?;
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(Async<UnixStream>, UnixSocketAddr)> {
        let (stream, addr) = self.read_with(|io| io.accept()).await?;
        Ok((Async::new(stream)?, addr))
    }

    /// A stream of incoming connections; it never ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # use amphi::Async; use std::os::unix::net::{UnixListener, UnixStream};
    /// use futures_lite::{StreamExt, pin};
    ///
    /// # amphi::block_on(async {
    /// let path = std::env::temp_dir().join(format!("amphi-doc-incoming-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = Async::<UnixListener>::bind(&path)?;
    /// let _client = UnixStream::connect(&path)?;
    /// let incoming = listener.incoming();
    /// pin!(incoming);
    /// let stream = incoming.next().await.unwrap()?;
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn incoming(&self) -> impl Stream<Item = io::Result<Async<UnixStream>>> + Send + '_ {
        stream::unfold(self, |listener| async move {
            let res = listener.accept().await.map(|(stream, _)| stream);
            Some((res, listener))
        })
    }
}

impl TryFrom<UnixListener> for Async<UnixListener> {
    type Error = io::Error;

    fn try_from(listener: UnixListener) -> io::Result<Self> {
        Async::new(listener)
    }
}

impl Async<UnixStream> {
    /// Connects to the Unix socket at `path` without blocking the thread.
    ///
    /// # Errors
    ///
    /// The OS error of the connection (`NotFound`, `ConnectionRefused`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let err = amphi::Async::<std::os::unix::net::UnixStream>::connect("/nonexistent/amphi.sock").await;
    /// assert!(err.is_err());
    /// # });
    /// ```
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<Async<UnixStream>> {
        let addr = SocketAddrUnix::new(path.as_ref())?;
        let stream = Async::new_nonblocking(UnixStream::from(start_connect(AddressFamily::UNIX, &addr)?))?;
        stream.writable().await?;
        if let Some(err) = stream.get_ref().take_error()? {
            return Err(err);
        }
        // Linux may report a failed Unix connect as writable without an error; a peer address
        // proves the connection.
        stream.get_ref().peer_addr()?;
        Ok(stream)
    }

    /// A pair of connected Unix streams.
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair`, or of registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = amphi::Async::<std::os::unix::net::UnixStream>::pair().unwrap();
    /// ```
    pub fn pair() -> io::Result<(Async<UnixStream>, Async<UnixStream>)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Async::new(a)?, Async::new(b)?))
    }
}

impl TryFrom<UnixStream> for Async<UnixStream> {
    type Error = io::Error;

    fn try_from(stream: UnixStream) -> io::Result<Self> {
        Async::new(stream)
    }
}

impl Async<UnixDatagram> {
    /// Binds a Unix datagram socket to `path`.
    ///
    /// # Errors
    ///
    /// The OS error of `bind`, or of registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("amphi-doc-dgram-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let socket = amphi::Async::<std::os::unix::net::UnixDatagram>::bind(&path).unwrap();
    /// # std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<Async<UnixDatagram>> {
        Async::new(UnixDatagram::bind(path)?)
    }

    /// An unbound Unix datagram socket.
    ///
    /// # Errors
    ///
    /// The OS error of `socket`, or of registration.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = amphi::Async::<std::os::unix::net::UnixDatagram>::unbound().unwrap();
    /// ```
    pub fn unbound() -> io::Result<Async<UnixDatagram>> {
        Async::new(UnixDatagram::unbound()?)
    }

    /// A pair of connected Unix datagram sockets.
    ///
    /// # Errors
    ///
    /// The OS error of `socketpair`, or of registration.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let (a, b) = amphi::Async::<std::os::unix::net::UnixDatagram>::pair()?;
    /// a.send(b"hi").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub fn pair() -> io::Result<(Async<UnixDatagram>, Async<UnixDatagram>)> {
        let (a, b) = UnixDatagram::pair()?;
        Ok((Async::new(a)?, Async::new(b)?))
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
    /// let (a, b) = amphi::Async::<std::os::unix::net::UnixDatagram>::pair()?;
    /// a.send(b"hi").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv_from(&mut buf).await?.0, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, UnixSocketAddr)> {
        self.read_with(|io| io.recv_from(buf)).await
    }

    /// Sends a datagram to the socket at `path`.
    ///
    /// # Errors
    ///
    /// The OS error of `sendto`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use amphi::Async; use std::os::unix::net::UnixDatagram;
    /// # amphi::block_on(async {
    /// let path = std::env::temp_dir().join(format!("amphi-doc-sendto-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let server = Async::<UnixDatagram>::bind(&path)?;
    /// let client = Async::<UnixDatagram>::unbound()?;
    /// assert_eq!(client.send_to(b"hi", &path).await?, 2);
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        self.write_with(|io| io.send_to(buf, &path)).await
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
    /// let (a, b) = amphi::Async::<std::os::unix::net::UnixDatagram>::pair()?;
    /// a.send(b"hi").await?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(|io| io.recv(buf)).await
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Errors
    ///
    /// The OS error of `send`.
    ///
    /// # Examples
    ///
    /// ```
    /// # amphi::block_on(async {
    /// let (a, _b) = amphi::Async::<std::os::unix::net::UnixDatagram>::pair()?;
    /// assert_eq!(a.send(b"hi").await?, 2);
    /// # std::io::Result::Ok(()) }).unwrap();
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.write_with(|io| io.send(buf)).await
    }
}

impl TryFrom<UnixDatagram> for Async<UnixDatagram> {
    type Error = io::Error;

    fn try_from(socket: UnixDatagram) -> io::Result<Self> {
        Async::new(socket)
    }
}
