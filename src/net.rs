//! `amphi::net`: TCP, UDP and Unix sockets that take host names, as async-net 2 offers them, on
//! this crate's reactor (`Async`) and, for name resolution, its blocking pool.
//!
//! Each type shares its socket among its clones (an `Arc<Async<_>>` inside, and `From`/`Into`
//! that `Arc`), so one clone may read while another writes. Addresses are anything
//! [`AsyncToSocketAddrs`]: `"host:port"` and `("host", port)` are resolved on the blocking pool,
//! and `bind` and `connect` try every address they resolve to, in turn.
//!
//! # Examples
//!
//! ```
//! use amphi::net::{TcpListener, TcpStream};
//! use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
//!
//! amphi::block_on(async {
//!     let listener = TcpListener::bind("localhost:0").await?;
//!     let port = listener.local_addr()?.port();
//!     let server = amphi::spawn(async move {
//!         let (mut stream, _) = listener.accept().await?;
//!         let mut buf = [0; 5];
//!         stream.read_exact(&mut buf).await?;
//!         stream.write_all(&buf).await?;
//!         std::io::Result::Ok(())
//!     });
//!     let mut stream = TcpStream::connect(("localhost", port)).await?;
//!     stream.write_all(b"hello").await?;
//!     let mut echo = [0; 5];
//!     stream.read_exact(&mut echo).await?;
//!     assert_eq!(&echo, b"hello");
//!     server.await
//! })?;
//! # std::io::Result::Ok(())
//! ```

#![forbid(unsafe_code)]

mod addr;
mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;

#[doc(no_inline)]
pub use core::net::{AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
#[doc(no_inline)]
pub use std::net::Shutdown;

pub use self::addr::{AsyncToSocketAddrs, resolve};
pub use self::tcp::{Incoming, TcpListener, TcpStream};
pub use self::udp::UdpSocket;

/// For a socket type `$t` around `Arc<Async<$std>>` (its field `inner`): its conversions from
/// and to `Async`, the std socket and the `Arc`, `Debug`, and the OS handle traits.
macro_rules! shared_socket {
    ($t:ident, $std:ty) => {
        impl ::core::fmt::Debug for $t {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                self.inner.fmt(f)
            }
        }

        impl From<$crate::io::Async<$std>> for $t {
            fn from(socket: $crate::io::Async<$std>) -> $t {
                $t { inner: ::alloc::sync::Arc::new(socket) }
            }
        }

        impl TryFrom<$std> for $t {
            type Error = ::std::io::Error;

            /// Registers `socket` with the reactor (and makes it non-blocking).
            fn try_from(socket: $std) -> ::std::io::Result<$t> {
                Ok($crate::io::Async::new(socket)?.into())
            }
        }

        impl From<$t> for ::alloc::sync::Arc<$crate::io::Async<$std>> {
            fn from(socket: $t) -> Self {
                socket.inner
            }
        }

        #[cfg(unix)]
        impl ::std::os::unix::io::AsRawFd for $t {
            fn as_raw_fd(&self) -> ::std::os::unix::io::RawFd {
                self.inner.as_raw_fd()
            }
        }

        #[cfg(unix)]
        impl ::std::os::unix::io::AsFd for $t {
            fn as_fd(&self) -> ::std::os::unix::io::BorrowedFd<'_> {
                self.inner.get_ref().as_fd()
            }
        }

        #[cfg(unix)]
        impl TryFrom<::std::os::unix::io::OwnedFd> for $t {
            type Error = ::std::io::Error;

            fn try_from(fd: ::std::os::unix::io::OwnedFd) -> ::std::io::Result<$t> {
                Self::try_from(<$std>::from(fd))
            }
        }

        #[cfg(windows)]
        impl ::std::os::windows::io::AsRawSocket for $t {
            fn as_raw_socket(&self) -> ::std::os::windows::io::RawSocket {
                self.inner.as_raw_socket()
            }
        }

        #[cfg(windows)]
        impl ::std::os::windows::io::AsSocket for $t {
            fn as_socket(&self) -> ::std::os::windows::io::BorrowedSocket<'_> {
                self.inner.get_ref().as_socket()
            }
        }

        #[cfg(windows)]
        impl TryFrom<::std::os::windows::io::OwnedSocket> for $t {
            type Error = ::std::io::Error;

            fn try_from(socket: ::std::os::windows::io::OwnedSocket) -> ::std::io::Result<$t> {
                Self::try_from(<$std>::from(socket))
            }
        }
    };
}

/// For a stream socket type `$t` around `Arc<Async<_>>` (its field `inner`): `AsyncRead` and
/// `AsyncWrite` through the shared `&Async`, and `close` as a shutdown of the write side.
macro_rules! stream_io {
    ($t:ident) => {
        impl ::futures_lite::io::AsyncRead for $t {
            fn poll_read(
                self: ::core::pin::Pin<&mut Self>,
                cx: &mut ::core::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::core::task::Poll<::std::io::Result<usize>> {
                ::core::pin::Pin::new(&mut &*self.inner).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: ::core::pin::Pin<&mut Self>,
                cx: &mut ::core::task::Context<'_>,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::core::task::Poll<::std::io::Result<usize>> {
                ::core::pin::Pin::new(&mut &*self.inner).poll_read_vectored(cx, bufs)
            }
        }

        impl ::futures_lite::io::AsyncWrite for $t {
            fn poll_write(
                self: ::core::pin::Pin<&mut Self>,
                cx: &mut ::core::task::Context<'_>,
                buf: &[u8],
            ) -> ::core::task::Poll<::std::io::Result<usize>> {
                ::core::pin::Pin::new(&mut &*self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: ::core::pin::Pin<&mut Self>,
                cx: &mut ::core::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::core::task::Poll<::std::io::Result<usize>> {
                ::core::pin::Pin::new(&mut &*self.inner).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: ::core::pin::Pin<&mut Self>,
                cx: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<::std::io::Result<()>> {
                ::core::pin::Pin::new(&mut &*self.inner).poll_flush(cx)
            }

            /// Shuts the write side down (the peer reads the end); the read side stays open.
            fn poll_close(
                self: ::core::pin::Pin<&mut Self>,
                _: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<::std::io::Result<()>> {
                ::core::task::Poll::Ready(self.inner.get_ref().shutdown(::std::net::Shutdown::Write))
            }
        }
    };
}

/// For a listener type `$t` around `Arc<Async<_>>` whose `Async` has `incoming()`: its
/// [`Incoming`]-like stream type `$incoming` of `$stream`s.
macro_rules! incoming {
    ($incoming:ident, $std_stream:ty, $stream:ident) => {
        /// The stream of accepted connections of a listener's `incoming`; it never ends.
        pub struct $incoming<'a> {
            incoming: ::core::pin::Pin<
                ::alloc::boxed::Box<
                    dyn ::futures_lite::stream::Stream<
                            Item = ::std::io::Result<$crate::io::Async<$std_stream>>,
                        > + Send
                        + 'a,
                >,
            >,
        }

        impl ::futures_lite::stream::Stream for $incoming<'_> {
            type Item = ::std::io::Result<$stream>;

            fn poll_next(
                mut self: ::core::pin::Pin<&mut Self>,
                cx: &mut ::core::task::Context<'_>,
            ) -> ::core::task::Poll<Option<Self::Item>> {
                self.incoming.as_mut().poll_next(cx).map(|next| next.map(|r| r.map($stream::from)))
            }
        }

        impl ::core::fmt::Debug for $incoming<'_> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(stringify!($incoming)).finish_non_exhaustive()
            }
        }
    };
}

use {incoming, shared_socket, stream_io};
