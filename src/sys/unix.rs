//! Unix: file descriptors; sockets set up with rustix.

use core::net::SocketAddr;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
pub(crate) use std::os::fd::{AsFd as AsHandle, BorrowedFd as Borrowed, OwnedFd, RawFd as Raw};

use rustix::net::{AddressFamily, SocketType};

/// The borrowed handle of `io`.
pub(crate) fn borrow<T: AsHandle>(io: &T) -> Borrowed<'_> {
    io.as_fd()
}

/// The raw handle of `handle`.
pub(crate) fn raw(handle: Borrowed<'_>) -> Raw {
    handle.as_raw_fd()
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

/// Puts the handle into non-blocking mode.
pub(crate) fn set_nonblocking(handle: Borrowed<'_>) -> io::Result<()> {
    rustix::io::ioctl_fionbio(handle, true)?;
    Ok(())
}

/// Puts the handle back into blocking mode (a pipe handed on to a child process).
pub(crate) fn set_blocking(handle: Borrowed<'_>) -> io::Result<()> {
    rustix::io::ioctl_fionbio(handle, false)?;
    Ok(())
}

/// Starts a non-blocking connect; the socket becomes writable once it completes or fails.
pub(crate) fn connect_nonblocking(addr: SocketAddr) -> io::Result<TcpStream> {
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    start_connect(family, SocketType::STREAM, &addr).map(TcpStream::from)
}

/// Starts a non-blocking connect of a `socket_type` socket of `family` to `addr`.
pub(crate) fn start_connect(
    family: AddressFamily,
    socket_type: SocketType,
    addr: &impl rustix::net::addr::SocketAddrArg,
) -> io::Result<OwnedFd> {
    let socket = nonblocking_socket(family, socket_type)?;
    match rustix::net::connect(&socket, addr) {
        Ok(()) | Err(rustix::io::Errno::INPROGRESS) | Err(rustix::io::Errno::AGAIN) => Ok(socket),
        Err(err) => Err(err.into()),
    }
}

/// A non-blocking, close-on-exec socket, made so in one call where the OS has the flags.
#[cfg(any(
    target_os = "android",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "fuchsia",
    target_os = "illumos",
    target_os = "linux",
    target_os = "netbsd",
    target_os = "openbsd"
))]
fn nonblocking_socket(family: AddressFamily, socket_type: SocketType) -> io::Result<OwnedFd> {
    use rustix::net::SocketFlags;
    Ok(rustix::net::socket_with(family, socket_type, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC, None)?)
}

/// A non-blocking, close-on-exec socket, for the systems without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`
/// (Apple's among them): the flags are set after creation, as std and mio do there. On Apple,
/// `SO_NOSIGPIPE` keeps a write to a closed peer an error instead of a signal, as on the sockets
/// std creates.
#[cfg(not(any(
    target_os = "android",
    target_os = "dragonfly",
    target_os = "freebsd",
    target_os = "fuchsia",
    target_os = "illumos",
    target_os = "linux",
    target_os = "netbsd",
    target_os = "openbsd"
)))]
fn nonblocking_socket(family: AddressFamily, socket_type: SocketType) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket(family, socket_type, None)?;
    rustix::io::fcntl_setfd(&socket, rustix::io::fcntl_getfd(&socket)? | rustix::io::FdFlags::CLOEXEC)?;
    rustix::io::ioctl_fionbio(&socket, true)?;
    #[cfg(target_vendor = "apple")]
    rustix::net::sockopt::set_socket_nosigpipe(&socket, true)?;
    Ok(socket)
}

/// Children made by `fork()` so far in this process's line: 0 in the process that loaded the
/// crate, one more in each forked child (counted by the handler [`watch_forks`] installs).
static FORKS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// How many forks separate this process from the one whose state is being looked at: a value
/// made when `forks()` read something else belongs to an ancestor (see `per_process.rs`).
pub(crate) fn forks() -> usize {
    FORKS.load(core::sync::atomic::Ordering::Relaxed)
}

/// Counts the forks from now on; idempotent. Before the first call nothing of the runtime
/// exists, so a fork then leaves nothing to tell apart.
pub(crate) fn watch_forks() {
    static WATCHING: std::sync::Once = std::sync::Once::new();
    extern "C" fn in_child() {
        // Async-signal-safe: one atomic add, in the child's only thread.
        FORKS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }
    WATCHING.call_once(|| {
        // SAFETY: the handler is an `extern "C" fn` that lives for the whole program and does
        // only what a handler run between `fork` and the child's return may do.
        let err = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        // Only ENOMEM is possible: a child would then reuse the parent's state, as before.
        debug_assert_eq!(err, 0, "pthread_atfork");
    });
}
