//! A sync, thread-per-request web server (`tiny_http`) whose handlers call an async service layer.
//!
//! The service's method is written once, as async (`dual!`): it fans out to three backends
//! concurrently and combines their answers. The sync handlers call it with `.wait()` — one
//! thread per request, no runtime in sight. Then 200 clients hit the server at once, and every
//! answer is checked.
//!
//! `cargo run --release --features hyper --example sync_server`

#[path = "support/deadline.rs"]
mod deadline;
#[path = "support/http.rs"]
mod http;
#[path = "support/thread_per_request.rs"]
mod thread_per_request;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use amphi::Timer;
use futures_lite::future::try_zip;
use hyper::StatusCode;
use thread_per_request::{WebServer, get};

/// The backends and how long each takes to answer.
const BACKENDS: [(&str, Duration); 3] = [
    ("profile", Duration::from_millis(30)),
    ("orders", Duration::from_millis(40)),
    ("recommendations", Duration::from_millis(50)),
];

/// The async service layer the sync server calls.
#[derive(Debug, Clone)]
struct Dashboard {
    profiles: http::Client,
    orders: http::Client,
    recommendations: http::Client,
}

impl Dashboard {
    amphi::dual! {
        /// The dashboard of `user`, from the three backends, asked concurrently.
        pub async fn page(&self, user: u32) -> io::Result<String> {
            let path = format!("/{user}");
            let (profile, (orders, recommendations)) = try_zip(
                fetch(&self.profiles, &path),
                try_zip(fetch(&self.orders, &path), fetch(&self.recommendations, &path)),
            )
            .await?;
            Ok(format!(
                "{{\"user\":{user},\"profile\":{profile},\"orders\":{orders},\"recommendations\":{recommendations}}}"
            ))
        }
    }
}

async fn fetch(backend: &http::Client, path: &str) -> io::Result<String> {
    let (status, body) = backend.get(path).await?;
    if status != StatusCode::OK {
        return Err(io::Error::other(format!("backend answered {status}")));
    }
    String::from_utf8(body.to_vec()).map_err(io::Error::other)
}

/// What `/dashboard/<user>` must answer.
fn expected(user: u32) -> String {
    let [p, o, r] = BACKENDS.map(|(name, _)| format!("\"{name} of {user}\""));
    format!("{{\"user\":{user},\"profile\":{p},\"orders\":{o},\"recommendations\":{r}}}")
}

/// A backend on hyper-on-amphi: answers `"<name> of <id>"` after `delay`.
fn backend(name: &'static str, delay: Duration) -> io::Result<http::Server> {
    http::serve(move |req| async move {
        Timer::after(delay).await;
        let id = req.uri().path().trim_start_matches('/').to_string();
        http::respond(StatusCode::OK, format!("\"{name} of {id}\""))
    })
}

/// Per handler: requests served, total and worst time spent in the handler.
static HANDLERS: std::sync::Mutex<std::collections::BTreeMap<&str, (usize, Duration, Duration)>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// A plain sync handler, as in any sync framework.
fn handle(service: &Dashboard, request: tiny_http::Request) {
    let t = Instant::now();
    let user = request.url().strip_prefix("/dashboard/").and_then(|id| id.parse().ok());
    let (handler, response) = match user {
        Some(user) => match service.page(user).wait() {
            Ok(body) => ("dashboard", tiny_http::Response::from_string(body)),
            Err(e) => ("dashboard", tiny_http::Response::from_string(e.to_string()).with_status_code(502)),
        },
        None => ("not found", tiny_http::Response::from_string("not found").with_status_code(404)),
    };
    request.respond(response).ok();
    let spent = t.elapsed();
    let mut handlers = HANDLERS.lock().unwrap();
    let (count, total, worst) = handlers.entry(handler).or_default();
    *count += 1;
    *total += spent;
    *worst = (*worst).max(spent);
}

/// What a load run measured.
#[derive(Debug)]
struct Load {
    requests: usize,
    errors: Vec<String>,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// Sends `n` requests at once, each from its own thread, and checks every answer.
fn load(addr: SocketAddr, n: usize) -> Load {
    let start = Arc::new(Barrier::new(n));
    let t = Instant::now();
    let clients: Vec<_> = (0..n as u32)
        .map(|user| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let t = Instant::now();
                let answer = get(addr, &format!("/dashboard/{user}"));
                let latency = t.elapsed();
                match answer {
                    Ok((200, body)) if body == expected(user) => Ok(latency),
                    Ok((status, body)) => Err(format!("user {user}: {status} {body}")),
                    Err(e) => Err(format!("user {user}: {e}")),
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for client in clients {
        match client.join().expect("client thread") {
            Ok(latency) => latencies.push(latency),
            Err(e) => errors.push(e),
        }
    }
    latencies.sort();
    Load { requests: n, errors, wall: t.elapsed(), latencies }
}

const REQUESTS: usize = 200;

fn main() -> io::Result<()> {
    raise_fd_limit();
    let backends = BACKENDS.map(|(name, delay)| backend(name, delay));
    let [profiles, orders, recommendations] = backends.map(|b| b.expect("backend starts"));
    let service = Dashboard {
        profiles: http::Client::new(profiles.addr),
        orders: http::Client::new(orders.addr),
        recommendations: http::Client::new(recommendations.addr),
    };
    let web = WebServer::start(move |request| handle(&service, request))?;
    println!("tiny_http on http://{}, backends answer in {:?}\n", web.addr, BACKENDS.map(|b| b.1));

    // One request at a time: the fan-out is concurrent, so a page costs the slowest backend, not
    // the sum of them.
    let slowest = BACKENDS.iter().map(|b| b.1).max().expect("backends");
    let sum: Duration = BACKENDS.iter().map(|b| b.1).sum();
    let mut best = Duration::MAX;
    for user in 0..5 {
        let t = Instant::now();
        let (status, body) = get(web.addr, &format!("/dashboard/{user}"))?;
        best = best.min(t.elapsed());
        assert_eq!((status, body), (200, expected(user)));
    }
    println!("one request:  {:.1} ms (slowest backend {slowest:?}, sum {sum:?})", best.as_secs_f64() * 1e3);
    assert!(best < sum, "backends were asked one after another: {best:?} >= {sum:?}");
    assert_eq!(get(web.addr, "/nowhere")?.0, 404);

    let run = load(web.addr, REQUESTS);
    println!(
        "{} concurrent requests: {} errors, wall {:.1} ms, latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        run.requests,
        run.errors.len(),
        run.wall.as_secs_f64() * 1e3,
        run.percentile(0.5).as_secs_f64() * 1e3,
        run.percentile(0.9).as_secs_f64() * 1e3,
        run.percentile(0.99).as_secs_f64() * 1e3,
        run.percentile(1.0).as_secs_f64() * 1e3,
    );
    assert!(
        run.errors.is_empty(),
        "{} of {} requests failed: {:#?}",
        run.errors.len(),
        run.requests,
        run.errors
    );
    assert_eq!(run.latencies.len(), REQUESTS);
    assert!(run.wall < Duration::from_secs(30), "200 requests took {:?}", run.wall);

    println!("\nper handler:");
    let handlers = HANDLERS.lock().unwrap().clone();
    for (name, (count, total, worst)) in &handlers {
        let mean = total.as_secs_f64() * 1e3 / *count as f64;
        println!(
            "  {name:<10} {count:>4} requests, mean {mean:.1} ms, max {:.1} ms",
            worst.as_secs_f64() * 1e3
        );
    }
    assert_eq!(handlers.get("dashboard").map(|h| h.0), Some(5 + REQUESTS));
    assert_eq!(handlers.get("not found").map(|h| h.0), Some(1));
    let m = amphi::metrics();
    println!(
        "runtime: {} workers ({} asleep), {} tasks alive, queues {} + {:?}, blocking pool {} threads \
         ({} idle, {} queued), reactor {} sources and {} timers, fallback driver {}",
        m.worker_threads,
        m.workers_sleeping,
        m.tasks,
        m.global_queue,
        m.worker_queues,
        m.blocking_threads,
        m.blocking_idle,
        m.blocking_queued,
        m.io_sources,
        m.timers,
        if m.fallback_driver { "running" } else { "not running" },
    );
    Ok(())
}

/// 200 concurrent requests hold about 1,600 sockets (client, server, three backends each way):
/// lift the soft limit of open files to the hard one where it is lower. (Windows has no such
/// limit on sockets.)
#[cfg(windows)]
fn raise_fd_limit() {}

/// 200 concurrent requests hold about 1,600 sockets (client, server, three backends each way):
/// lift the soft limit of open files to the hard one where it is lower.
#[cfg(unix)]
fn raise_fd_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 && limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid `rlimit`; failure only leaves the old limit in place.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    }
}

#[test]
fn two_hundred_concurrent_requests_all_answered_correctly() {
    deadline::within(std::time::Duration::from_secs(60), || main().unwrap());
}
