//! Hybrid handlers: one HTTP server (hyper on `amphi`, no Tokio) whose routes are plain functions or
//! `async fn`s, registered the same way; each runs in the right place on its own — async handlers
//! on the executor, sync ones on the blocking pool through `amphi::unblock`.
//!
//! The check: while several sync handlers each block their thread for 100 ms, the async handlers
//! keep answering in about a millisecond.
//!
//! `cargo run --release --features hyper --example hybrid`

#[path = "support/deadline.rs"]
mod deadline;
#[path = "support/http.rs"]
mod http;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Response, StatusCode};

/// A request as handlers see it: the body already read.
type Request = hyper::Request<Bytes>;
type Reply = Response<http::Body>;

type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

enum Handler {
    Sync(Arc<dyn Fn(Request) -> Reply + Send + Sync>),
    Async(Box<dyn Fn(Request) -> ReplyFuture + Send + Sync>),
}

/// Tells sync handlers from async ones by their type, so both register with [`Router::route`].
trait IntoHandler<Kind> {
    fn into_handler(self) -> Handler;
}

/// The kind of a plain `fn(Request) -> Reply`.
struct Blocking;
/// The kind of an `async fn(Request) -> Reply`.
struct NonBlocking;

impl<F> IntoHandler<Blocking> for F
where
    F: Fn(Request) -> Reply + Send + Sync + 'static,
{
    fn into_handler(self) -> Handler {
        Handler::Sync(Arc::new(self))
    }
}

impl<F, Fut> IntoHandler<NonBlocking> for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    fn into_handler(self) -> Handler {
        Handler::Async(Box::new(move |req| Box::pin(self(req))))
    }
}

/// Routes by exact path.
#[derive(Default)]
struct Router {
    routes: HashMap<&'static str, Handler>,
}

impl Router {
    /// Registers a sync or an async handler; which one it is, is read from its type.
    fn route<Kind>(mut self, path: &'static str, handler: impl IntoHandler<Kind>) -> Self {
        self.routes.insert(path, handler.into_handler());
        self
    }

    /// Registers a sync handler: it runs on the blocking pool, so it may block.
    #[allow(dead_code)]
    fn route_sync(
        self,
        path: &'static str,
        handler: impl Fn(Request) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.route::<Blocking>(path, handler)
    }

    /// Registers an async handler: it runs on the executor, so it must not block.
    #[allow(dead_code)]
    fn route_async<F, Fut>(self, path: &'static str, handler: F) -> Self
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        self.route::<NonBlocking>(path, handler)
    }

    /// Serves the routes on 127.0.0.1.
    fn serve(self) -> io::Result<http::Server> {
        let routes = Arc::new(self.routes);
        http::serve(move |req| {
            let routes = routes.clone();
            async move {
                let (parts, body) = req.into_parts();
                let Ok(body) = body.collect().await else {
                    return http::respond(StatusCode::BAD_REQUEST, "unreadable body");
                };
                let req = Request::from_parts(parts, body.to_bytes());
                match routes.get(req.uri().path()) {
                    Some(Handler::Sync(handler)) => {
                        let handler = handler.clone();
                        amphi::unblock(move || handler(req)).await
                    }
                    Some(Handler::Async(handler)) => handler(req).await,
                    None => http::respond(StatusCode::NOT_FOUND, "no route"),
                }
            }
        })
    }
}

/// Sync handlers blocking right now.
static BLOCKING_NOW: AtomicUsize = AtomicUsize::new(0);

/// Hears each time a sync handler starts blocking.
static ENTERED: LazyLock<(async_channel::Sender<()>, async_channel::Receiver<()>)> =
    LazyLock::new(async_channel::unbounded);

/// How long the sync handler blocks its thread.
const BLOCK: Duration = Duration::from_millis(100);

/// A legacy sync handler: blocks its thread (a sync database driver, say) for 100 ms.
fn report(_req: Request) -> Reply {
    BLOCKING_NOW.fetch_add(1, Ordering::SeqCst);
    ENTERED.0.try_send(()).ok();
    std::thread::sleep(BLOCK);
    BLOCKING_NOW.fetch_sub(1, Ordering::SeqCst);
    http::respond(StatusCode::OK, format!("report from {}", thread_name()))
}

/// An async handler: answers how many sync handlers were blocking while it ran.
async fn status(req: Request) -> Reply {
    amphi::yield_now().await;
    let blocking = BLOCKING_NOW.load(Ordering::SeqCst);
    let q = req.uri().query().unwrap_or_default();
    http::respond(StatusCode::OK, format!("{q} {blocking} {}", thread_name()))
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("unnamed").to_string()
}

/// Sync requests kept in flight while the async ones are measured: more than there are workers, so
/// the async handlers would stall behind them if they ran on the executor.
const SYNC_IN_FLIGHT: usize = 6;
const ASYNC_REQUESTS: usize = 200;

/// What a run measured.
struct Measured {
    /// Latencies of the async requests answered while a sync handler was blocking, sorted.
    async_latencies: Vec<Duration>,
    /// Mean number of sync handlers blocking while an async handler ran.
    mean_blocking: f64,
    sync_done: usize,
    sync_latencies: Vec<Duration>,
}

fn measure() -> io::Result<Measured> {
    let server = Router::default().route("/report", report).route("/status", status).serve()?;
    let client = http::Client::new(server.addr);

    // Sync requests, back to back, from `SYNC_IN_FLIGHT` clients until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sync_clients: Vec<_> = (0..SYNC_IN_FLIGHT)
        .map(|_| {
            let (client, stop) = (client.clone(), stop.clone());
            amphi::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    let (status, body) = client.get("/report").await?;
                    latencies.push(t.elapsed());
                    assert_eq!(status, StatusCode::OK);
                    let body = String::from_utf8_lossy(&body);
                    assert!(body.starts_with("report from amphi-blocking-"), "sync handler ran on: {body}");
                }
                io::Result::Ok(latencies)
            })
        })
        .collect();
    // Start measuring once the sync handlers block. (`block_on`, not `recv_blocking`: with
    // `AMPHI_THREADS=0`, tasks run only inside `block_on`.)
    amphi::block_on(async {
        for _ in 0..SYNC_IN_FLIGHT {
            ENTERED.1.recv().await.expect("sync handlers running");
        }
    });

    let mut async_latencies = Vec::new();
    let mut blocking_total = 0;
    for i in 0..ASYNC_REQUESTS {
        let t = Instant::now();
        let (status, body) = client.get(&format!("/status?{i}")).wait()?;
        let latency = t.elapsed();
        assert_eq!(status, StatusCode::OK);
        let body = String::from_utf8_lossy(&body).into_owned();
        let mut fields = body.split(' ');
        assert_eq!(fields.next(), Some(i.to_string().as_str()), "answer to this request");
        let blocking: usize = fields.next().and_then(|n| n.parse().ok()).expect("a count");
        let thread = fields.next().unwrap_or_default();
        assert!(!thread.starts_with("amphi-blocking-"), "async handler ran on the blocking pool");
        if blocking > 0 {
            async_latencies.push(latency);
            blocking_total += blocking;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut sync_latencies = Vec::new();
    for c in sync_clients {
        sync_latencies.extend(amphi::block_on(c)?);
    }
    assert_eq!(client.get("/nowhere").wait()?.0, StatusCode::NOT_FOUND);

    async_latencies.sort();
    sync_latencies.sort();
    let mean_blocking = blocking_total as f64 / async_latencies.len().max(1) as f64;
    Ok(Measured { sync_done: sync_latencies.len(), async_latencies, mean_blocking, sync_latencies })
}

fn main() -> io::Result<()> {
    let m = measure()?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let n = m.async_latencies.len();
    let (p50, p99, max) =
        (m.async_latencies[n / 2], m.async_latencies[(n - 1) * 99 / 100], m.async_latencies[n - 1]);
    println!(
        "async handler, while {:.1} sync handlers blocked on average: {n} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        m.mean_blocking,
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!(
        "sync handler (blocks {BLOCK:?}): {} requests, p50 {:.1} ms",
        m.sync_done,
        ms(m.sync_latencies[m.sync_latencies.len() / 2])
    );

    assert!(n >= ASYNC_REQUESTS / 2, "only {n} async requests overlapped a blocking sync handler");
    assert!(m.mean_blocking >= 2.0, "too few sync handlers in flight: {:.1}", m.mean_blocking);
    // Measured on a quiet 2-core machine, debug build: p50 0.43–0.62 ms and max 0.68–4.95 ms on
    // Linux; p50 3.3–4.4 ms and max 12–20 ms under Wine (whose waits go through wineserver), and
    // max 74 ms there with the other core busy. A handler held up by a blocking one would wait
    // for its 100 ms.
    assert!(p50 < Duration::from_millis(10), "async p50 {p50:?}: held up by the sync handlers");
    assert!(max < Duration::from_millis(50), "async max {max:?}: held up by the sync handlers");
    assert!(m.sync_latencies[0] >= BLOCK, "a sync handler did not block");
    Ok(())
}

#[test]
fn sync_handlers_blocking_100ms_do_not_delay_async_handlers() {
    deadline::within(Duration::from_secs(60), || main().unwrap());
}
