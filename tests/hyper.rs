//! hyper 1.x on `amphi` alone: `amphi::hyper`'s executor, timer and I/O under real hyper servers
//! and clients on 127.0.0.1, with no Tokio runtime anywhere.

#![cfg(feature = "hyper")]

use std::convert::Infallible;
use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use amphi::hyper::{AmphiExecutor, AmphiIo, AmphiTimer};
use amphi::{Async, Task, Timer, block_on};
use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWriteExt, StreamExt, future, stream};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::rt::{ReadBuf, Sleep, Timer as _};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};

/// Every test must end; a hang fails here instead of stalling the run.
fn bounded<T>(f: impl Future<Output = T>) -> T {
    block_on(future::or(async { Some(f.await) }, async {
        Timer::after(Duration::from_secs(30)).await;
        None
    }))
    .expect("test timed out")
}

/// A listener on 127.0.0.1, on a port the OS chooses.
fn listen() -> (Async<TcpListener>, SocketAddr) {
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    (listener, addr)
}

/// An HTTP/1 client connection to `addr`, driven by a task of its own. It writes through hyper's
/// flattened buffer (`AmphiIo::new`), while the servers here write vectors: both paths are used.
async fn http1_client<B>(addr: SocketAddr) -> (SendRequest<B>, Task<hyper::Result<()>>)
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = Async::<TcpStream>::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(AmphiIo::new(stream)).await.unwrap();
    (sender, amphi::spawn(conn))
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).header(header::HOST, "localhost").body(Empty::new()).unwrap()
}

/// A byte pattern that a shifted, dropped or repeated block would not match.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i / 251) as u8).collect()
}

#[test]
fn keep_alive_serves_every_request_on_one_connection() {
    bounded(async {
        let (listener, addr) = listen();
        let accepts = Arc::new(AtomicUsize::new(0));
        let (served_tx, served_rx) = async_channel::unbounded();
        let _server = amphi::spawn({
            let accepts = accepts.clone();
            async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let connection = accepts.fetch_add(1, Ordering::SeqCst) + 1;
                    let requests = AtomicUsize::new(0);
                    let service = service_fn(move |req: Request<Incoming>| {
                        let n = requests.fetch_add(1, Ordering::SeqCst) + 1;
                        let text = format!("{} is request {n} of connection {connection}", req.uri().path());
                        async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text)))) }
                    });
                    let served_tx = served_tx.clone();
                    amphi::spawn(async move {
                        let served = http1::Builder::new()
                            .timer(AmphiTimer)
                            .serve_connection(AmphiIo::new_vectored(stream), service)
                            .await;
                        served_tx.send(served.map_err(|e| e.to_string())).await.unwrap();
                    })
                    .detach();
                }
            }
        });

        let (mut sender, conn) = http1_client(addr).await;
        for n in 1..=5 {
            sender.ready().await.unwrap();
            let res = sender.send_request(get(&format!("/r{n}"))).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.headers().get(header::CONNECTION), None, "the server keeps the connection");
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, format!("/r{n} is request {n} of connection 1"));
        }
        assert_eq!(accepts.load(Ordering::SeqCst), 1, "five requests, one accepted connection");

        drop(sender);
        conn.await.unwrap();
        assert_eq!(served_rx.recv().await.unwrap(), Ok(()), "the server saw the client close cleanly");
        assert_eq!(accepts.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn response_body_streams_chunk_by_chunk() {
    const CHUNKS: usize = 5;
    let chunk = |i: usize| Bytes::from(format!("chunk {i} of {CHUNKS}\n"));
    bounded(async {
        let (listener, addr) = listen();
        // The server makes chunk `i + 1` only once the client has seen chunk `i`: a body held
        // back until it is complete would never get past its first chunk.
        let (seen_tx, seen_rx) = async_channel::unbounded::<usize>();
        let server = amphi::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service_fn(move |_req: Request<Incoming>| {
                let seen_rx = seen_rx.clone();
                let frames = stream::unfold(0, move |i| {
                    let seen_rx = seen_rx.clone();
                    async move {
                        if i == CHUNKS {
                            return None;
                        }
                        if i > 0 {
                            assert_eq!(seen_rx.recv().await.unwrap(), i - 1);
                            Timer::after(Duration::from_millis(5)).await;
                        }
                        Some((Ok::<_, Infallible>(Frame::data(chunk(i))), i + 1))
                    }
                });
                async move { Ok::<_, Infallible>(Response::new(StreamBody::new(frames))) }
            });
            http1::Builder::new()
                .timer(AmphiTimer)
                .serve_connection(AmphiIo::new_vectored(stream), service)
                .await
        });

        let (mut sender, conn) = http1_client(addr).await;
        let res = sender.send_request(get("/stream")).await.unwrap();
        assert_eq!(res.headers().get(header::TRANSFER_ENCODING).unwrap(), "chunked");
        let mut body = res.into_body();
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            seen_tx.send(frames.len()).await.unwrap();
            frames.push(data);
        }
        assert_eq!(frames, (0..CHUNKS).map(chunk).collect::<Vec<_>>(), "one frame per chunk, in order");
        let whole: Vec<u8> = frames.concat();
        assert_eq!(whole, (0..CHUNKS).map(|i| chunk(i).to_vec()).collect::<Vec<_>>().concat());

        drop(sender);
        conn.await.unwrap();
        server.await.unwrap();
    });
}

#[test]
fn request_body_streams_from_the_client() {
    let parts = [b"first part ".to_vec(), pattern(1 << 20), b" last part".to_vec()];
    let whole = parts.concat();
    bounded(async {
        let (listener, addr) = listen();
        // The server reports how much it has received after each frame; the client sends part
        // `k + 1` only once all of part `k` has arrived, so the body cannot have been sent whole.
        let (received_tx, received_rx) = async_channel::unbounded::<usize>();
        let (body_tx, body_rx) = async_channel::bounded::<Vec<u8>>(1);
        let server = amphi::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service_fn(move |req: Request<Incoming>| {
                let (received_tx, body_tx) = (received_tx.clone(), body_tx.clone());
                async move {
                    let mut body = req.into_body();
                    let mut got = Vec::new();
                    while let Some(frame) = body.frame().await {
                        got.extend_from_slice(&frame?.into_data().unwrap());
                        received_tx.send(got.len()).await.unwrap();
                    }
                    let answer = format!("received {} bytes", got.len());
                    body_tx.send(got).await.unwrap();
                    Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(answer))))
                }
            });
            http1::Builder::new()
                .timer(AmphiTimer)
                .serve_connection(AmphiIo::new_vectored(stream), service)
                .await
        });

        // Kept open past the body's end, for the server's count of the last part.
        let _reports = received_rx.clone();
        let sent_parts = parts.clone();
        let frames = stream::unfold((0, 0), move |(k, sent)| {
            let (received_rx, sent_parts) = (received_rx.clone(), sent_parts.clone());
            async move {
                if k == sent_parts.len() {
                    return None;
                }
                while k > 0 && received_rx.recv().await.unwrap() < sent {}
                let part = Bytes::from(sent_parts[k].clone());
                let sent = sent + part.len();
                Some((Ok::<_, Infallible>(Frame::data(part)), (k + 1, sent)))
            }
        });
        let (mut sender, conn) = http1_client(addr).await;
        let req =
            Request::post("/upload").header(header::HOST, "localhost").body(StreamBody::new(frames)).unwrap();
        let res = sender.send_request(req).await.unwrap();
        let answer = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(answer, format!("received {} bytes", whole.len()));
        assert!(body_rx.recv().await.unwrap() == whole, "the server received the body exactly");

        drop(sender);
        conn.await.unwrap();
        server.await.unwrap();
    });
}

#[test]
fn large_bodies_arrive_exact_both_ways() {
    // Far more than one read of `AmphiIo` (256 KiB) or one of hyper's buffers (408 KiB).
    let sent = pattern(8 << 20);
    bounded(async {
        let (listener, addr) = listen();
        let server = amphi::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // An echo: the response body is the request body, streamed back as it comes.
            let service = service_fn(|req: Request<Incoming>| async move {
                Ok::<_, Infallible>(Response::new(req.into_body()))
            });
            http1::Builder::new()
                .timer(AmphiTimer)
                .serve_connection(AmphiIo::new_vectored(stream), service)
                .await
        });

        let (mut sender, conn) = http1_client(addr).await;
        let req = Request::post("/echo")
            .header(header::HOST, "localhost")
            .body(Full::new(Bytes::from(sent.clone())))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        let echoed = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(echoed.len(), sent.len());
        assert!(echoed == sent, "the echo is the body, byte for byte");

        drop(sender);
        conn.await.unwrap();
        server.await.unwrap();
    });
}

/// How late hyper's timeouts on `AmphiTimer` may close a connection: measured 0.6–3.7 ms late with
/// both cores of a 2-core machine busy; the margin is over sixty times that, for a loaded CI
/// machine and Wine, and still far below what a timer stuck until some other event would take.
const LATENESS_MARGIN: Duration = Duration::from_millis(250);

#[test]
fn header_read_timeout_disconnects_a_silent_client() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    const MARGIN: Duration = LATENESS_MARGIN;
    bounded(async {
        let (listener, addr) = listen();
        let server = amphi::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            });
            http1::Builder::new()
                .timer(AmphiTimer)
                .header_read_timeout(TIMEOUT)
                .serve_connection(AmphiIo::new_vectored(stream), service)
                .await
        });

        // Taken before the connection exists, so before the server's timer starts.
        let start = Instant::now();
        let mut client = Async::<TcpStream>::connect(addr).await.unwrap();
        let mut buf = [0; 64];
        let n = client.read(&mut buf).await.unwrap();
        let waited = start.elapsed();
        assert_eq!(n, 0, "the server closes the connection without answering");
        assert!(waited >= TIMEOUT, "closed after {waited:?}, before the {TIMEOUT:?} timeout");
        assert!(waited < TIMEOUT + MARGIN, "closed after {waited:?}, long after the {TIMEOUT:?} timeout");
        eprintln!(
            "header read timeout of {TIMEOUT:?}: closed after {waited:?} ({:?} late)",
            waited - TIMEOUT
        );
        let err = server.await.unwrap_err();
        assert!(err.is_timeout(), "the server's error is its timeout: {err}");
    });
}

#[test]
fn http2_runs_its_streams_on_the_amphi_executor() {
    bounded(async {
        let (listener, addr) = listen();
        // Each stream's handler waits until all three are in flight: streams run one after
        // another would leave the first waiting alone, and fail.
        let in_flight = Arc::new(AtomicUsize::new(0));
        let server = amphi::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service_fn(move |req: Request<Incoming>| {
                let in_flight = in_flight.clone();
                async move {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let start = Instant::now();
                    while in_flight.load(Ordering::SeqCst) < 3 {
                        assert!(
                            start.elapsed() < Duration::from_secs(10),
                            "{} waited alone",
                            req.uri().path()
                        );
                        Timer::after(Duration::from_millis(1)).await;
                    }
                    let text = format!("{} over {:?}", req.uri().path(), req.version());
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
                }
            });
            http2::Builder::new(AmphiExecutor)
                .timer(AmphiTimer)
                .serve_connection(AmphiIo::new_vectored(stream), service)
                .await
        });

        let stream = Async::<TcpStream>::connect(addr).await.unwrap();
        let (sender, conn) =
            hyper::client::conn::http2::handshake(AmphiExecutor, AmphiIo::new_vectored(stream))
                .await
                .unwrap();
        let conn = amphi::spawn(conn);
        // Three requests at once on one connection: each is a stream of its own.
        let ask = |n: u32| {
            let mut sender = sender.clone();
            async move {
                let req = Request::get(format!("http://localhost/r{n}")).body(Empty::<Bytes>::new()).unwrap();
                let res = sender.send_request(req).await.unwrap();
                res.into_body().collect().await.unwrap().to_bytes()
            }
        };
        let (a, (b, c)) = future::zip(ask(1), future::zip(ask(2), ask(3))).await;
        assert_eq!([a, b, c], ["/r1 over HTTP/2.0", "/r2 over HTTP/2.0", "/r3 over HTTP/2.0"]);

        drop(sender);
        conn.await.unwrap();
        server.await.unwrap();
    });
}

#[test]
fn http2_keep_alive_timeout_disconnects_a_silent_client() {
    // hyper moves one sleep around for this (`Timer::reset`): to the next ping, then to the
    // ping's deadline. Closing early would mean a deadline was not moved later.
    const INTERVAL: Duration = Duration::from_millis(100);
    const TIMEOUT: Duration = Duration::from_millis(200);
    const MARGIN: Duration = LATENESS_MARGIN;
    bounded(async {
        let (listener, addr) = listen();
        let server = amphi::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
            });
            http2::Builder::new(AmphiExecutor)
                .timer(AmphiTimer)
                .keep_alive_interval(INTERVAL)
                .keep_alive_timeout(TIMEOUT)
                .serve_connection(AmphiIo::new_vectored(stream), service)
                .await
        });

        // A client that says hello in HTTP/2 (the preface and empty settings), then goes silent:
        // it never acknowledges anything, nor answers the server's ping.
        let mut client = Async::<TcpStream>::connect(addr).await.unwrap();
        let start = Instant::now();
        client.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.unwrap();
        let mut from_server = Vec::new();
        client.read_to_end(&mut from_server).await.unwrap();
        let waited = start.elapsed();
        assert!(waited >= INTERVAL + TIMEOUT, "closed after {waited:?}, before the ping could time out");
        assert!(
            waited < INTERVAL + TIMEOUT + MARGIN,
            "closed after {waited:?}, long after the ping timed out"
        );
        eprintln!(
            "HTTP/2 keep-alive {INTERVAL:?} + {TIMEOUT:?}: closed after {waited:?} ({:?} late)",
            waited - INTERVAL - TIMEOUT
        );
        // The server's frames: its settings first, a ping (type 6) among them.
        assert_eq!(from_server[3], 0x4, "settings first");
        let mut frames = Vec::new();
        let mut at = 0;
        while at + 9 <= from_server.len() {
            let len =
                u32::from_be_bytes([0, from_server[at], from_server[at + 1], from_server[at + 2]]) as usize;
            frames.push(from_server[at + 3]);
            at += 9 + len;
        }
        assert_eq!(at, from_server.len(), "whole frames");
        assert!(frames.contains(&0x6), "the server pinged: frame types {frames:?}");
        let err = server.await.unwrap_err();
        assert!(err.is_timeout(), "the server's error is its keep-alive timeout: {err}");
    });
}

/// A sleep of another timer's, handed to `AmphiTimer::reset`.
struct ForeignSleep(Timer);

impl Future for ForeignSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Sleep for ForeignSleep {}

#[test]
fn timer_reset_moves_a_sleep_in_place() {
    bounded(async {
        let timer = AmphiTimer;
        let start = Instant::now();
        let mut sleep = timer.sleep(Duration::from_millis(5));
        assert!(future::poll_once(sleep.as_mut()).await.is_none());
        let allocation = &*sleep as *const dyn Sleep as *const ();

        // Later than it was set for, after a poll: it waits for the new deadline.
        let later = start + Duration::from_millis(60);
        timer.reset(&mut sleep, later);
        assert_eq!(&*sleep as *const dyn Sleep as *const (), allocation, "the same sleep, not a new one");
        sleep.as_mut().await;
        assert!(Instant::now() >= later);

        // After it fired: it is armed again.
        let again = Instant::now() + Duration::from_millis(20);
        timer.reset(&mut sleep, again);
        sleep.as_mut().await;
        assert!(Instant::now() >= again);

        // Sooner than it was set for.
        let mut sleep = timer.sleep_until(Instant::now() + Duration::from_secs(60));
        assert!(future::poll_once(sleep.as_mut()).await.is_none());
        let sooner = Instant::now() + Duration::from_millis(10);
        timer.reset(&mut sleep, sooner);
        sleep.as_mut().await;
        assert!(Instant::now() >= sooner);

        // Another timer's sleep is replaced by one of ours.
        let mut sleep: Pin<Box<dyn Sleep>> = Box::pin(ForeignSleep(Timer::never()));
        let soon = Instant::now() + Duration::from_millis(10);
        timer.reset(&mut sleep, soon);
        assert!(!sleep.is::<ForeignSleep>());
        sleep.as_mut().await;
        assert!(Instant::now() >= soon);
    });
}

#[test]
fn executor_runs_each_future_as_a_task() {
    use hyper::rt::Executor as _;
    let (tx, rx) = async_channel::unbounded();
    for n in 0..10 {
        let tx = tx.clone();
        AmphiExecutor.execute(async move { tx.send(n).await.unwrap() });
    }
    drop(tx);
    let mut got: Vec<i32> = bounded(async { rx.collect().await });
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

/// Reads through `AmphiIo` into a fresh, uninitialised buffer of `capacity` bytes, as hyper does.
fn read_once<T: AsyncRead + Unpin>(io: &mut AmphiIo<T>, capacity: usize) -> io::Result<Vec<u8>> {
    let mut backing = vec![MaybeUninit::uninit(); capacity];
    let mut buf = ReadBuf::uninit(&mut backing);
    let mut cx = Context::from_waker(Waker::noop());
    match hyper::rt::Read::poll_read(Pin::new(io), &mut cx, buf.unfilled()) {
        Poll::Ready(res) => res.map(|()| buf.filled().to_vec()),
        Poll::Pending => panic!("an in-memory reader is always ready"),
    }
}

#[test]
fn reads_fill_hyper_buffer_with_what_the_stream_gave() {
    let mut io = AmphiIo::new(futures_lite::io::Cursor::new(pattern(500)));
    assert_eq!(read_once(&mut io, 300).unwrap(), pattern(500)[..300]);
    assert_eq!(read_once(&mut io, 300).unwrap(), pattern(500)[300..]);
    assert_eq!(read_once(&mut io, 300).unwrap(), b"", "end of stream: nothing filled");

    // One read fills at most 256 KiB, however much room hyper offers.
    let mut io = AmphiIo::new(futures_lite::io::repeat(7));
    let lens: Vec<usize> = (0..10).map(|_| read_once(&mut io, 1 << 20).unwrap().len()).collect();
    assert!(lens.iter().all(|&n| n <= 256 << 10), "{lens:?}");
    assert_eq!(read_once(&mut io, 1 << 20).unwrap(), vec![7; 256 << 10]);
}

/// A reader that hands out at most `give` bytes a read and records the room it was given.
struct Rationed {
    give: usize,
    offered: Vec<usize>,
}

impl AsyncRead for Rationed {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.offered.push(buf.len());
        let n = buf.len().min(self.give);
        buf[..n].fill(1);
        Poll::Ready(Ok(n))
    }
}

/// hyper offers its whole spare room on every read, uninitialised, and `AmphiIo` zeroes what it
/// passes on: small messages get a small read (512 bytes), a stream that fills its reads gets
/// doubling ones up to 256 KiB, and after small reads again the length comes back down.
#[test]
fn the_read_length_follows_what_the_stream_gives() {
    let mut io = AmphiIo::new(Rationed { give: 100, offered: Vec::new() });
    for _ in 0..3 {
        assert_eq!(read_once(&mut io, 1 << 20).unwrap().len(), 100);
    }
    assert_eq!(io.get_ref().offered, [512; 3], "a hundred bytes a read: 512 bytes zeroed, not 1 MiB");

    // Filling less room than the length is no reason to grow.
    io.get_mut().give = usize::MAX;
    io.get_mut().offered.clear();
    read_once(&mut io, 300).unwrap();
    read_once(&mut io, 1 << 20).unwrap();
    assert_eq!(io.get_ref().offered, [300, 512]);
    // That full read doubled it; one that uses more than a quarter keeps it.
    io.get_mut().give = 300;
    io.get_mut().offered.clear();
    read_once(&mut io, 1 << 20).unwrap();
    read_once(&mut io, 1 << 20).unwrap();
    assert_eq!(io.get_ref().offered, [1024, 1024]);

    io.get_mut().give = usize::MAX;
    io.get_mut().offered.clear();
    for _ in 0..10 {
        read_once(&mut io, 1 << 20).unwrap();
    }
    let kib: Vec<usize> = io.get_ref().offered.iter().map(|n| n >> 10).collect();
    assert_eq!(kib, [1, 2, 4, 8, 16, 32, 64, 128, 256, 256], "full reads double it, to 256 KiB");

    // Nor is a small read into less room than the length a reason to shrink.
    io.get_mut().give = 100;
    io.get_mut().offered.clear();
    read_once(&mut io, 1000).unwrap();
    read_once(&mut io, 1 << 20).unwrap();
    assert_eq!(io.get_ref().offered, [1000, 256 << 10]);

    // The 256 KiB read just made used a hundred bytes: small reads halve it, to 512 bytes.
    io.get_mut().offered.clear();
    for _ in 0..10 {
        read_once(&mut io, 1 << 20).unwrap();
    }
    assert_eq!(
        io.get_ref().offered,
        [128 << 10, 64 << 10, 32 << 10, 16 << 10, 8 << 10, 4 << 10, 2 << 10, 1 << 10, 512, 512],
        "small reads halve it, to 512 bytes"
    );
}

/// A reader that says it read one byte more than it was given room for.
struct Liar;

impl AsyncRead for Liar {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len() + 1))
    }
}

#[test]
fn a_reader_claiming_more_than_it_was_given_panics() {
    // Counting the byte it never wrote would hand hyper uninitialised memory.
    let mut io = AmphiIo::new(Liar);
    let lie = catch_unwind(AssertUnwindSafe(|| read_once(&mut io, 64)));
    let payload = lie.expect_err("a read past the buffer was accepted");
    let message = payload.downcast_ref::<String>().map_or("(not a formatted panic)", String::as_str);
    // The documented panic, not any panic (an index out of bounds, say).
    assert!(message.starts_with("AsyncRead::poll_read returned 65 bytes for a buffer of 64"), "{message}");
}

#[test]
fn io_is_send_and_sync_where_its_stream_is() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<AmphiIo<Async<TcpStream>>>();
    send_sync::<AmphiExecutor>();
    send_sync::<AmphiTimer>();
}
