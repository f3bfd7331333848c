//! Windows: sockets (polling's IOCP backend registers them), set up with socket2.

use core::net::SocketAddr;
use std::io;
use std::net::TcpStream;
use std::os::windows::io::AsRawSocket;
pub(crate) use std::os::windows::io::{AsSocket as AsHandle, BorrowedSocket as Borrowed, RawSocket as Raw};

use socket2::{Domain, SockRef, Socket, Type};

/// The borrowed handle of `io`.
pub(crate) fn borrow<T: AsHandle>(io: &T) -> Borrowed<'_> {
    io.as_socket()
}

/// The raw handle of `handle`.
pub(crate) fn raw(handle: Borrowed<'_>) -> Raw {
    handle.as_raw_socket()
}

/// Borrows a raw handle.
///
/// # Safety
///
/// - `raw` must stay open for `'a`.
pub(crate) unsafe fn borrow_raw<'a>(raw: Raw) -> Borrowed<'a> {
    // SAFETY: forwarded to the caller.
    unsafe { Borrowed::borrow_raw(raw) }
}

/// Puts the socket into non-blocking mode.
pub(crate) fn set_nonblocking(handle: Borrowed<'_>) -> io::Result<()> {
    SockRef::from(&handle).set_nonblocking(true)
}

/// Starts a non-blocking connect; the socket becomes writable once it completes or fails.
///
/// socket2 creates the socket not inheritable by child processes (as std does) and starts
/// Winsock first.
pub(crate) fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
        Err(err) => return Err(err),
    }
    Ok(socket.into())
}

/// Windows has no `fork()`: every process is the one that loaded the crate.
pub(crate) fn forks() -> usize {
    0
}

/// Windows has no `fork()`: nothing to watch.
pub(crate) fn watch_forks() {}
