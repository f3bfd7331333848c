//! An HTTP/1.1 keep-alive server under many client connections, on hyper: on `amphi` through
//! `amphi::hyper` (the `hyper` feature), on Tokio through hyper-util's `TokioIo`. Every request
//! gets a short body; each client sends its requests one after the other on its connection.

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};

use super::Rt;

/// The server's answer to every request.
const BODY: &[u8] = b"hello, world";

/// `conns` keep-alive connections, `reqs` requests on each; returns the wall time in ns.
pub async fn keep_alive(rt: Rt, conns: usize, reqs: usize) -> f64 {
    match rt {
        #[cfg(feature = "hyper")]
        Rt::Amphi => on_amphi::keep_alive(rt, conns, reqs).await,
        Rt::TokioMt | Rt::TokioCt => on_tokio::keep_alive(rt, conns, reqs).await,
        _ => unreachable!("no hyper server on {} here", rt.name()),
    }
}

async fn answer(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

fn request() -> Request<Full<Bytes>> {
    Request::get("/").header("host", "localhost").body(Full::new(Bytes::new())).unwrap()
}

/// Sends `reqs` requests one after the other and checks every answer.
async fn client(mut sender: SendRequest<Full<Bytes>>, reqs: usize) {
    for _ in 0..reqs {
        sender.ready().await.unwrap();
        let res = sender.send_request(request()).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], BODY);
    }
}

/// Runs one client task per connection, `reqs` requests each; returns the wall time in ns.
async fn run_clients(rt: Rt, senders: Vec<SendRequest<Full<Bytes>>>, reqs: usize) -> f64 {
    let start = Instant::now();
    let clients: Vec<_> = senders.into_iter().map(|s| rt.spawn(client(s, reqs))).collect();
    for c in clients {
        c.await;
    }
    start.elapsed().as_nanos() as f64
}

#[cfg(feature = "hyper")]
mod on_amphi {
    use std::net::{TcpListener, TcpStream};

    use amphi::Async;
    use amphi::hyper::{AmphiIo, AmphiTimer};
    use hyper::client::conn::http1 as client_conn;
    use hyper::server::conn::http1 as server_conn;

    use super::*;

    pub async fn keep_alive(rt: Rt, conns: usize, reqs: usize) -> f64 {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let server = rt.spawn(async move {
            for _ in 0..conns {
                let (s, _) = listener.accept().await.unwrap();
                s.get_ref().set_nodelay(true).unwrap();
                rt.detach(async move {
                    let service = hyper::service::service_fn(answer);
                    let mut conn = server_conn::Builder::new();
                    conn.timer(AmphiTimer);
                    let _ = conn.serve_connection(AmphiIo::new_vectored(s), service).await;
                });
            }
        });
        let mut senders = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = Async::<TcpStream>::connect(addr).await.unwrap();
            s.get_ref().set_nodelay(true).unwrap();
            let (sender, conn) = client_conn::handshake(AmphiIo::new_vectored(s)).await.unwrap();
            rt.detach(async move { drop(conn.await) });
            senders.push(sender);
        }
        server.await;
        run_clients(rt, senders, reqs).await
    }
}

mod on_tokio {
    use hyper::client::conn::http1 as client_conn;
    use hyper::server::conn::http1 as server_conn;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    pub async fn keep_alive(rt: Rt, conns: usize, reqs: usize) -> f64 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(async move {
            for _ in 0..conns {
                let (s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                rt.detach(async move {
                    let service = hyper::service::service_fn(answer);
                    let mut conn = server_conn::Builder::new();
                    conn.timer(TokioTimer::new());
                    let _ = conn.serve_connection(TokioIo::new(s), service).await;
                });
            }
        });
        let mut senders = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let (sender, conn) = client_conn::handshake(TokioIo::new(s)).await.unwrap();
            rt.detach(async move { drop(conn.await) });
            senders.push(sender);
        }
        server.await;
        run_clients(rt, senders, reqs).await
    }
}
