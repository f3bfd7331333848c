//! A child's piped standard streams: on the reactor on Unix (`Async`); on Windows, whose
//! anonymous pipes cannot be waited on, through the blocking pool (`Unblock`), as async-process
//! does.

use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use futures_lite::io::{AsyncRead, AsyncWrite};

#[cfg(unix)]
type Inner<T> = crate::io::Async<T>;
#[cfg(windows)]
type Inner<T> = crate::blocking::Unblock<T>;

macro_rules! pipe {
    ($(#[$doc:meta])* $name:ident($std:ty)) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(Inner<$std>);

        impl $name {
            pub(super) fn new(pipe: $std) -> io::Result<$name> {
                #[cfg(unix)]
                return crate::io::Async::new(pipe).map($name);
                #[cfg(windows)]
                return Ok($name(crate::blocking::Unblock::new(pipe)));
            }

            /// The pipe as a [`Stdio`](std::process::Stdio) (back in blocking mode), to give to
            /// another child.
            ///
            /// # Errors
            ///
            /// The OS error if the pipe cannot be deregistered or made blocking again.
            pub async fn into_stdio(self) -> io::Result<std::process::Stdio> {
                #[cfg(unix)]
                {
                    let pipe = self.0.into_inner()?;
                    crate::sys::set_blocking(pipe.as_fd())?;
                    Ok(pipe.into())
                }
                #[cfg(windows)]
                {
                    Ok(self.0.into_inner().await.into())
                }
            }
        }

        #[cfg(unix)]
        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0.get_ref().as_raw_fd()
            }
        }

        #[cfg(unix)]
        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.get_ref().as_fd()
            }
        }

        /// The pipe's descriptor, deregistered (still in non-blocking mode).
        #[cfg(unix)]
        impl TryFrom<$name> for OwnedFd {
            type Error = io::Error;

            fn try_from(pipe: $name) -> io::Result<OwnedFd> {
                pipe.0.into_inner().map(OwnedFd::from)
            }
        }
    };
}

pipe! {
    /// A child's standard input. Dropping it closes the pipe: a child reading it sees its end.
    ChildStdin(std::process::ChildStdin)
}

pipe! {
    /// A child's standard output.
    ChildStdout(std::process::ChildStdout)
}

pipe! {
    /// A child's standard error.
    ChildStderr(std::process::ChildStderr)
}

impl AsyncWrite for ChildStdin {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl AsyncRead for ChildStdout {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncRead for ChildStderr {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}
