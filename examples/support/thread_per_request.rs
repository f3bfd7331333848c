//! A sync web server as sync frameworks make them: `tiny_http`, one thread per request, each
//! handled by a plain function; and a blocking client for it.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The server; stops accepting when dropped.
pub struct WebServer {
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    accept: Option<JoinHandle<()>>,
}

impl WebServer {
    /// Serves on a free port of 127.0.0.1, each request on a thread of its own.
    pub fn start(handle: impl Fn(tiny_http::Request) + Send + Sync + 'static) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        // A backlog of 1024 rather than std's 128 (capped by the system's `somaxconn`): a burst of
        // a few hundred connections is queued, not dropped (a dropped handshake costs its client
        // a one-second retransmission).
        socket2::SockRef::from(&listener).listen(1024)?;
        let server = Arc::new(tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)?);
        let addr = server.server_addr().to_ip().expect("a TCP server");
        let handle = Arc::new(handle);
        let accept = thread::spawn({
            let server = server.clone();
            move || {
                for request in server.incoming_requests() {
                    let handle = handle.clone();
                    thread::spawn(move || handle(request));
                }
            }
        });
        Ok(Self { addr, server, accept: Some(accept) })
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(accept) = self.accept.take() {
            accept.join().ok();
        }
    }
}

/// A blocking HTTP/1.1 GET over a fresh connection; returns the status and body.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| io::Error::other("no header end"))?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| io::Error::other(format!("bad status line: {head:?}")))?;
    Ok((status, body.to_string()))
}
