//! Unix: handlers installed with signal-hook-registry (chained after any handler already there)
//! write the signal's number into a Unix socket pair.

use std::io::{self, Write};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;

pub(super) use libc::{
    SIGABRT, SIGALRM, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGHUP, SIGILL, SIGINT, SIGIO, SIGKILL, SIGPIPE,
    SIGPROF, SIGQUIT, SIGSEGV, SIGSTOP, SIGSYS, SIGTERM, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGUSR1,
    SIGUSR2, SIGVTALRM, SIGWINCH, SIGXCPU, SIGXFSZ,
};
pub(super) use signal_hook_registry::SigId;

/// The two ends of a signal pipe.
pub(super) type End = UnixStream;

pub(super) fn pair() -> io::Result<(End, End)> {
    End::pair()
}

/// Installs a handler that writes `number` to `write` (non-blocking) each time the signal
/// arrives.
pub(super) fn register(number: i32, write: End) -> io::Result<SigId> {
    if signal_hook_registry::FORBIDDEN.contains(&number) {
        return Err(super::cannot_handle());
    }
    // Signal numbers fit a byte (`SIGRTMAX` is 64 on Linux): one byte per signal, which a
    // socket delivers whole.
    let byte = [u8::try_from(number).map_err(|_| super::cannot_handle())?];
    crate::sys::watch_forks();
    let forks = crate::sys::forks();
    let handler = move || {
        // In a child made by `fork()` after the registration, the socket is shared with the
        // parent, whose stream would read the child's signals: the child's own `Signals` get them.
        if crate::sys::forks() != forks {
            return;
        }
        // A full pipe drops the number: the stream has that many unread already.
        let _ = (&write).write(&byte);
    };
    // SAFETY: the handler only loads an atomic and writes a byte to a non-blocking socket, which
    // is async-signal-safe (`write`/`send`), and neither allocates, locks nor panics.
    unsafe { signal_hook_registry::register(number, handler) }
}

pub(super) fn unregister(id: SigId) {
    signal_hook_registry::unregister(id);
}

impl AsRawFd for super::Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }
}

impl AsFd for super::Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.get_ref().as_fd()
    }
}
