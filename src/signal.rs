//! `amphi::signal`: signals as a stream, as async-signal 0.2 offers them, delivered through this
//! crate's reactor: no signal thread.
//!
//! Each [`Signals`] owns a connected socket pair. Its handlers (installed with
//! signal-hook-registry, which chains them after any handler already there) write the signal's
//! number into one end, which is all a signal handler may safely do; the other end is registered
//! with the reactor, and the stream reads the numbers from it.
//!
//! On Windows, which has no signals, a console control handler (`SetConsoleCtrlHandler`) writes
//! to a loopback TCP connection instead: Ctrl-C arrives as [`Signal::Int`], as with
//! async-signal, and Ctrl-Break as [`Signal::Term`] (async-signal refuses it; it is how a parent
//! or service manager stops a console program there). Every other signal is refused.
//!
//! # Examples
//!
//! ```
//! # #[cfg(unix)] {
//! use amphi::signal::{Signal, Signals};
//! use futures_lite::stream::StreamExt;
//!
//! amphi::block_on(async {
//!     let mut signals = Signals::new([Signal::Usr1])?;
//!     // SAFETY: raising a signal this process handles.
//!     unsafe { libc::raise(libc::SIGUSR1) };
//!     assert_eq!(signals.next().await.unwrap()?, Signal::Usr1);
//!     std::io::Result::Ok(())
//! })?;
//! # }
//! # std::io::Result::Ok(())
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::io::{self, Read};

use futures_lite::stream::Stream;

use self::os::{End, SigId};
use crate::io::{Async, ReadableOwned};

#[cfg_attr(unix, path = "signal/unix.rs")]
#[cfg_attr(windows, path = "signal/windows.rs")]
mod os;

macro_rules! signals {
    ($($(#[$doc:meta])* $name:ident = $value:ident,)*) => {
        /// A signal a [`Signals`] can wait for: async-signal's names, and as with it, `signal as
        /// i32` is the platform's number of the signal (on Windows, Linux's numbers).
        #[derive(Copy, Clone, Debug, Eq, PartialEq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        #[repr(i32)]
        pub enum Signal {
            $($(#[$doc])* $name = os::$value,)*
        }

        impl Signal {
            /// The platform's number of this signal.
            fn number(self) -> i32 {
                self as i32
            }

            fn from_number(number: i32) -> Option<Signal> {
                match number {
                    $(os::$value => Some(Signal::$name),)*
                    _ => None,
                }
            }
        }
    };
}

signals! {
    /// `SIGHUP`
    Hup = SIGHUP,
    /// `SIGINT` (Ctrl-C)
    Int = SIGINT,
    /// `SIGQUIT`
    Quit = SIGQUIT,
    /// `SIGILL` (cannot be handled: refused)
    Ill = SIGILL,
    /// `SIGTRAP`
    Trap = SIGTRAP,
    /// `SIGABRT`
    Abort = SIGABRT,
    /// `SIGBUS`
    Bus = SIGBUS,
    /// `SIGFPE` (cannot be handled: refused)
    Fpe = SIGFPE,
    /// `SIGKILL` (cannot be handled: refused)
    Kill = SIGKILL,
    /// `SIGUSR1`
    Usr1 = SIGUSR1,
    /// `SIGSEGV` (cannot be handled: refused)
    Segv = SIGSEGV,
    /// `SIGUSR2`
    Usr2 = SIGUSR2,
    /// `SIGPIPE`
    Pipe = SIGPIPE,
    /// `SIGALRM`
    Alarm = SIGALRM,
    /// `SIGTERM`
    Term = SIGTERM,
    /// `SIGCHLD`
    Child = SIGCHLD,
    /// `SIGCONT`
    Cont = SIGCONT,
    /// `SIGSTOP` (cannot be handled: refused)
    Stop = SIGSTOP,
    /// `SIGTSTP`
    Tstp = SIGTSTP,
    /// `SIGTTIN`
    Ttin = SIGTTIN,
    /// `SIGTTOU`
    Ttou = SIGTTOU,
    /// `SIGURG`
    Urg = SIGURG,
    /// `SIGXCPU`
    Xcpu = SIGXCPU,
    /// `SIGXFSZ`
    Xfsz = SIGXFSZ,
    /// `SIGVTALRM`
    Vtalarm = SIGVTALRM,
    /// `SIGPROF`
    Prof = SIGPROF,
    /// `SIGWINCH`
    Winch = SIGWINCH,
    /// `SIGIO`
    Io = SIGIO,
    /// `SIGSYS`
    Sys = SIGSYS,
}

/// A stream of the signals it was made for, as they arrive. Registering a signal replaces its
/// default action (a registered `SIGINT` no longer ends the process) until the `Signals` that
/// registered it is dropped or removes it.
///
/// The stream never ends. `&Signals` is a stream too (one reader at a time gets each signal).
pub struct Signals {
    read: Arc<Async<End>>,
    write: End,
    registered: Vec<(Signal, SigId)>,
}

impl Signals {
    /// A stream of `signals`.
    ///
    /// # Errors
    ///
    /// A signal that cannot be handled (on Unix `SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`,
    /// `SIGSEGV`; on Windows all but [`Int`](Signal::Int) and [`Term`](Signal::Term)) is an
    /// `InvalidInput` error; so is the failure to make the socket pair or to install a handler.
    pub fn new<B: Borrow<Signal>>(signals: impl IntoIterator<Item = B>) -> io::Result<Signals> {
        let (read, write) = os::pair()?;
        write.set_nonblocking(true)?;
        let mut this = Signals { read: Arc::new(Async::new(read)?), write, registered: Vec::new() };
        this.add_signals(signals)?;
        Ok(this)
    }

    /// Adds `signals` to those this stream waits for (one already there is left as it is).
    ///
    /// # Errors
    ///
    /// As for [`new`](Self::new); the signals before the failing one stay added.
    pub fn add_signals<B: Borrow<Signal>>(&mut self, signals: impl IntoIterator<Item = B>) -> io::Result<()> {
        for signal in signals {
            let signal = *signal.borrow();
            if self.registered.iter().any(|(s, _)| *s == signal) {
                continue;
            }
            let id = os::register(signal.number(), self.write.try_clone()?)?;
            self.registered.push((signal, id));
        }
        Ok(())
    }

    /// Stops waiting for `signals` (one not added is left as it is); their default action comes
    /// back once no other handler is registered for them.
    pub fn remove_signals<B: Borrow<Signal>>(
        &mut self,
        signals: impl IntoIterator<Item = B>,
    ) -> io::Result<()> {
        for signal in signals {
            let signal = *signal.borrow();
            if let Some(i) = self.registered.iter().position(|(s, _)| *s == signal) {
                let (_, id) = self.registered.swap_remove(i);
                os::unregister(id);
            }
        }
        Ok(())
    }

    /// The stream's readiness, for a waiter inside the crate that looks for itself once a signal
    /// came (`process`'s SIGCHLD watch): each waiter gets its own future, and the reactor wakes
    /// them all. Wakes again while signals are left unread: [`drain`](Self::drain) them.
    #[cfg_attr(not(unix), allow(dead_code, reason = "`process` is Unix's"))]
    pub(crate) fn readable(&self) -> ReadableOwned<End> {
        self.read.clone().readable_owned()
    }

    /// Reads and drops the signals that arrived; returns whether there were any.
    #[cfg_attr(not(unix), allow(dead_code, reason = "`process` is Unix's"))]
    pub(crate) fn drain(&self) -> bool {
        let mut any = false;
        let mut bytes = [0; 64];
        loop {
            match self.read.get_ref().read(&mut bytes) {
                Ok(0) => return any,
                Ok(_) => any = true,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return any,
            }
        }
    }

    fn poll_signal(&self, cx: &mut Context<'_>) -> Poll<io::Result<Signal>> {
        let mut number = [0];
        loop {
            // A read first, every time: a handler that ran on this thread just now (`raise`)
            // has written already, before the reactor has seen anything.
            match self.read.get_ref().read(&mut number) {
                Ok(1) => {
                    return Poll::Ready(
                        Signal::from_number(number[0].into())
                            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData)),
                    );
                }
                // The write end lives as long as the stream: never the end.
                Ok(_) => return Poll::Ready(Err(io::Error::from(io::ErrorKind::UnexpectedEof))),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Poll::Ready(Err(err)),
            }
            ready!(self.read.poll_readable(cx))?;
        }
    }
}

/// The error for a signal the platform does not let a program handle.
fn cannot_handle() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "this signal cannot be handled here")
}

impl Drop for Signals {
    fn drop(&mut self) {
        for (_, id) in self.registered.drain(..) {
            os::unregister(id);
        }
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.registered.iter().map(|(s, _)| s)).finish()
    }
}

impl Stream for Signals {
    type Item = io::Result<Signal>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_signal(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl Stream for &Signals {
    type Item = io::Result<Signal>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_signal(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}
