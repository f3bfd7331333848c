//! A plain HTTP/1.1 server for the `tokio` feature's tests and bench.

use std::net::SocketAddr;

/// A plain HTTP/1.1 server, a thread per connection, keep-alive: answers `GET /n` with `n * 2`.
/// (Written out here: tiny_http loses requests when 64 clients connect at once, with any
/// executor, `futures::executor::block_on` included.)
pub fn server() -> SocketAddr {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 {
                            return;
                        }
                        if header == "\r\n" {
                            break;
                        }
                    }
                    let path = request_line.split(' ').nth(1).unwrap_or("/");
                    let n: u64 = path.trim_start_matches('/').parse().unwrap_or(0);
                    let body = (n * 2).to_string();
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    if out.write_all((head + &body).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
