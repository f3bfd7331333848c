//! `hyper` 1.x on `amphi`: its I/O traits over `Async<TcpStream>`, its executor over `amphi::spawn`,
//! its timer over `amphi::Timer`. No Tokio anywhere.

#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite};

/// Adapts a futures-io stream (such as `Async<TcpStream>`) to hyper's `Read`/`Write`.
#[derive(Debug)]
pub struct HyperIo<T>(pub T);

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // Read through a stack buffer: hyper's cursor is uninitialised memory, and this keeps
        // the adapter free of `unsafe`.
        let mut tmp = [0u8; 16 * 1024];
        let want = tmp.len().min(buf.remaining());
        match Pin::new(&mut self.0).poll_read(cx, &mut tmp[..want]) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(&tmp[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// hyper's executor (for HTTP/2 and background connection tasks): `amphi::spawn`.
#[derive(Debug, Clone, Copy)]
pub struct AmphiExecutor;

impl<F> hyper::rt::Executor<F> for AmphiExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        amphi::spawn(fut).detach();
    }
}

/// hyper's timer (header read timeouts, keep-alive): `amphi::Timer`.
#[derive(Debug, Clone, Copy)]
pub struct AmphiTimer;

struct AmphiSleep(amphi::Timer);

impl Future for AmphiSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl hyper::rt::Sleep for AmphiSleep {}

impl hyper::rt::Timer for AmphiTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(AmphiSleep(amphi::Timer::after(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(AmphiSleep(amphi::Timer::at(deadline)))
    }
}
