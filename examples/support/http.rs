//! A small HTTP server and client on `amphi` + hyper, shared by the examples.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use amphi::{Async, Task};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};

use amphi::hyper::{AmphiIo, AmphiTimer};

pub type Body = Full<Bytes>;

/// Builds a plain response.
pub fn respond(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder().status(status).body(Full::new(body.into())).expect("valid response")
}

/// A running server; dropping it stops accepting (connections in flight finish).
pub struct Server {
    pub addr: SocketAddr,
    _accept: Task<()>,
}

/// Serves `handler` on 127.0.0.1 (an OS-chosen port) on amphi's executor.
pub fn serve<H, F>(handler: H) -> io::Result<Server>
where
    H: Fn(Request<hyper::body::Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    deepen_backlog(listener.get_ref())?;
    let addr = listener.get_ref().local_addr()?;
    let handler = Arc::new(handler);
    let accept = amphi::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handler = handler.clone();
            amphi::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(AmphiTimer)
                    .serve_connection(AmphiIo::new_vectored(stream), service)
                    .await;
            })
            .detach();
        }
    });
    Ok(Server { addr, _accept: accept })
}

/// Raises a listener's backlog from std's 128 to 1024 (capped by the system's `somaxconn`), so a
/// burst of a few hundred simultaneous connections is queued rather than dropped by the kernel
/// (a dropped handshake costs the client a one-second retransmission).
pub fn deepen_backlog(listener: &TcpListener) -> io::Result<()> {
    // `listen` again on a listening socket only changes its queue length.
    socket2::SockRef::from(listener).listen(1024)
}

/// An HTTP/1.1 client: one connection per request, on amphi's executor.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    amphi::dual! {
        /// GETs `path`; returns the status and the whole body.
        pub async fn get(&self, path: &str) -> io::Result<(StatusCode, Bytes)> {
            let mut body = Vec::new();
            let (status, _) = self
                .get_streaming(path, |data| {
                    body.extend_from_slice(&data);
                    async { Ok(()) }
                })
                .await?;
            Ok((status, Bytes::from(body)))
        }

        /// GETs `path` and hands the body to `sink` frame by frame, as it arrives, so a large body
        /// never sits in memory whole; returns the status and the number of frames.
        pub async fn get_streaming<S, Fut>(&self, path: &str, mut sink: S) -> io::Result<(StatusCode, u64)>
        where
            S: FnMut(Bytes) -> Fut,
            Fut: Future<Output = io::Result<()>>,
        {
            let stream = Async::<TcpStream>::connect(self.addr).await?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(AmphiIo::new_vectored(stream))
                .await
                .map_err(io::Error::other)?;
            let driver = amphi::spawn(async move { conn.await.ok(); });
            let req = Request::get(path)
                .header(hyper::header::HOST, self.addr.to_string())
                .body(Full::new(Bytes::new()))
                .map_err(io::Error::other)?;
            let res = sender.send_request(req).await.map_err(io::Error::other)?;
            let status = res.status();
            let mut body = res.into_body();
            let mut frames = 0;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(io::Error::other)?.into_data() {
                    frames += 1;
                    sink(data).await?;
                }
            }
            drop(sender);
            driver.await;
            Ok((status, frames))
        }
    }
}
