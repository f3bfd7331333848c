//! Unix only: the handle traits of [`Async`] on file descriptors, and Unix sockets.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{SocketAddr as UnixSocketAddr, UnixDatagram, UnixListener, UnixStream};
use std::path::Path;

use futures_lite::{Stream, stream};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};

use super::{Async, IoSafe};
use crate::sys;

// SAFETY: `UnixStream`'s `Read` and `Write` do not drop or replace the descriptor, like every
// `IoSafe` type of the std library (see `IoSafe`).
unsafe impl IoSafe for UnixStream {
    const SHORT_READ_EMPTIES: bool = true;
}

/// The abstract name `path` gives, if it starts with a NUL byte. On Linux and Android such a path
/// names a socket in the abstract namespace, as in async-io: the bytes after the NUL are its name.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_name(path: &Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().strip_prefix(b"\0")
}

/// No abstract namespace elsewhere: a NUL byte in a path is an error of the OS's.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_name(_: &Path) -> Option<&[u8]> {
    None
}

/// The socket address of `path` (see [`abstract_name`]).
fn address(path: &Path) -> io::Result<UnixSocketAddr> {
    match abstract_name(path) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(name) => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            UnixSocketAddr::from_abstract_name(name)
        }
        _ => UnixSocketAddr::from_pathname(path),
    }
}

/// [`address`], as rustix's non-blocking connect takes it.
fn connect_address(path: &Path) -> io::Result<SocketAddrUnix> {
    match abstract_name(path) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(name) => Ok(SocketAddrUnix::new_abstract_name(name)?),
        _ => Ok(SocketAddrUnix::new(path)?),
    }
}

impl<T: AsRawFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd + From<OwnedFd>> TryFrom<OwnedFd> for Async<T> {
    type Error = io::Error;

    fn try_from(value: OwnedFd) -> io::Result<Self> {
        Async::new(value.into())
    }
}

impl<T: Into<OwnedFd>> TryFrom<Async<T>> for OwnedFd {
    type Error = io::Error;

    fn try_from(value: Async<T>) -> io::Result<Self> {
        value.into_inner().map(Into::into)
    }
}

impl Async<UnixListener> {
    /// Binds a Unix listener to `path`.
    ///
    /// On Linux and Android, a path that starts with a NUL byte names a socket in the abstract
    /// namespace (`"\0name"`), which has no file.
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
        Async::new(UnixListener::bind_addr(&address(path.as_ref())?)?)
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
    /// On Linux and Android, a path that starts with a NUL byte names a socket in the abstract
    /// namespace (`"\0name"`), which has no file.
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
        let addr = connect_address(path.as_ref())?;
        let stream = Async::new_nonblocking(UnixStream::from(sys::start_connect(
            AddressFamily::UNIX,
            SocketType::STREAM,
            &addr,
        )?))?;
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
    /// On Linux and Android, a path that starts with a NUL byte names a socket in the abstract
    /// namespace (`"\0name"`), which has no file.
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
        Async::new(UnixDatagram::bind_addr(&address(path.as_ref())?)?)
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
        let addr = address(path.as_ref())?;
        self.write_with(|io| io.send_to_addr(buf, &addr)).await
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
