//! `AsyncToSocketAddrs`: what `bind`, `connect` and `send_to` accept, and the resolution of host
//! names on the blocking pool.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::future::Future;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use core::pin::Pin;
use core::task::{Context, Poll};
use std::io;
use std::net::ToSocketAddrs;

use crate::blocking::unblock;
use crate::task::Task;

/// A value that is, or resolves to, socket addresses: a [`SocketAddr`], an IP address with a
/// port, `"host:port"`, `("host", port)`, or a slice of addresses. Host names are resolved on
/// the blocking pool (the system resolver blocks); IP literals are parsed at once.
///
/// The same implementations as async-net's (and std's `ToSocketAddrs`). Sealed: the list is
/// closed.
pub trait AsyncToSocketAddrs: sealed::Sealed {}

pub(crate) mod sealed {
    use super::Resolving;

    pub trait Sealed {
        /// The addresses, at once or from the resolver.
        fn resolving(&self) -> Resolving;
    }
}

/// The addresses of an [`AsyncToSocketAddrs`] value: known, or being resolved on the pool.
pub enum Resolving {
    Ready(Option<io::Result<Vec<SocketAddr>>>),
    Resolver(Task<io::Result<Vec<SocketAddr>>>),
}

impl core::fmt::Debug for Resolving {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Resolving")
    }
}

impl Future for Resolving {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            Resolving::Ready(addrs) => {
                Poll::Ready(addrs.take().expect("`Resolving` polled after it completed"))
            }
            Resolving::Resolver(task) => Pin::new(task).poll(cx),
        }
    }
}

impl Resolving {
    fn ready(addrs: Vec<SocketAddr>) -> Self {
        Resolving::Ready(Some(Ok(addrs)))
    }

    /// Asks the system resolver, on the blocking pool.
    fn resolver(query: impl ToSocketAddrs + Send + 'static) -> Self {
        Resolving::Resolver(unblock(move || query.to_socket_addrs().map(Iterator::collect)))
    }
}

/// Runs `attempt` on each address of `addrs` in turn until one succeeds; the last error
/// otherwise.
pub(crate) async fn each_addr<A, T, F>(addrs: A, mut attempt: impl FnMut(SocketAddr) -> F) -> io::Result<T>
where
    A: AsyncToSocketAddrs,
    F: Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs.resolving().await? {
        match attempt(addr).await {
            Ok(done) => return Ok(done),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "no address to try: it resolved to none")
    }))
}

/// The addresses `addr` is or resolves to, every one of them.
///
/// # Examples
///
/// ```
/// amphi::block_on(async {
///     let addrs = amphi::net::resolve("localhost:80").await?;
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
///     let literal = amphi::net::resolve(("127.0.0.1", 8080)).await?;
///     assert_eq!(literal, [std::net::SocketAddr::from(([127, 0, 0, 1], 8080))]);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn resolve<A: AsyncToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    addr.resolving().await
}

use sealed::Sealed;

macro_rules! at_once {
    ($($t:ty => |$v:ident| $addr:expr;)*) => {$(
        impl AsyncToSocketAddrs for $t {}
        impl Sealed for $t {
            fn resolving(&self) -> Resolving {
                let $v = self;
                Resolving::ready(vec![$addr])
            }
        }
    )*};
}

at_once! {
    SocketAddr => |a| *a;
    SocketAddrV4 => |a| SocketAddr::V4(*a);
    SocketAddrV6 => |a| SocketAddr::V6(*a);
    (IpAddr, u16) => |a| SocketAddr::new(a.0, a.1);
    (Ipv4Addr, u16) => |a| SocketAddr::new(IpAddr::V4(a.0), a.1);
    (Ipv6Addr, u16) => |a| SocketAddr::new(IpAddr::V6(a.0), a.1);
}

impl AsyncToSocketAddrs for (&str, u16) {}
impl Sealed for (&str, u16) {
    fn resolving(&self) -> Resolving {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Resolving::ready(vec![SocketAddr::new(ip, port)]),
            Err(_) => Resolving::resolver((host.to_string(), port)),
        }
    }
}

impl AsyncToSocketAddrs for (String, u16) {}
impl Sealed for (String, u16) {
    fn resolving(&self) -> Resolving {
        (self.0.as_str(), self.1).resolving()
    }
}

impl AsyncToSocketAddrs for str {}
impl Sealed for str {
    fn resolving(&self) -> Resolving {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Resolving::ready(vec![addr]),
            Err(_) => Resolving::resolver(self.to_string()),
        }
    }
}

impl AsyncToSocketAddrs for String {}
impl Sealed for String {
    fn resolving(&self) -> Resolving {
        self.as_str().resolving()
    }
}

impl AsyncToSocketAddrs for &[SocketAddr] {}
impl Sealed for &[SocketAddr] {
    fn resolving(&self) -> Resolving {
        Resolving::ready(self.to_vec())
    }
}

impl<T: AsyncToSocketAddrs + ?Sized> AsyncToSocketAddrs for &T {}
impl<T: Sealed + ?Sized> Sealed for &T {
    fn resolving(&self) -> Resolving {
        (**self).resolving()
    }
}
