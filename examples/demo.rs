//! The crate's main job, on loopback: one async HTTP client method, written once, called from
//! plain sync code (one by one, and fanned out), from async code, next to legacy blocking code
//! moved off the executor with `unblock`.
//!
//! `cargo run --release --features hyper --example demo`

#[path = "support/http.rs"]
mod http;

use std::time::{Duration, Instant};

use amphi::Timer;
use hyper::StatusCode;

/// What every backend call costs: the server waits this long before it answers.
const LATENCY: Duration = Duration::from_millis(50);
const CALLS: u64 = 10;

/// Legacy code: synchronous and slow. It must not run on an executor thread.
fn legacy_checksum(id: u64) -> u64 {
    std::thread::sleep(LATENCY);
    checksum(id)
}

fn checksum(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48
}

fn main() -> std::io::Result<()> {
    let server = http::serve(|req| async move {
        Timer::after(LATENCY).await;
        let id = req.uri().path().trim_start_matches("/item/").to_string();
        http::respond(StatusCode::OK, format!("{{\"id\":{id},\"name\":\"item {id}\"}}"))
    })?;
    let client = http::Client::new(server.addr);
    println!("server on http://{} (hyper on amphi, no Tokio); each call waits {LATENCY:?}\n", server.addr);

    let mut rows: Vec<(&str, Duration, u64)> = Vec::new();

    // 1. Sync code, one call after another: `.wait()`.
    let t = Instant::now();
    let mut ok = 0;
    for id in 0..CALLS {
        let (status, body) = client.get(&format!("/item/{id}")).wait()?;
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(format!("{{\"id\":{id},").as_bytes()));
        ok += 1;
    }
    rows.push(("sync, sequential   .wait()", t.elapsed(), ok));

    // 2. Sync code, fanned out: `block_on` over a join of all the calls.
    let t = Instant::now();
    let paths: Vec<String> = (0..CALLS).map(|id| format!("/item/{id}")).collect();
    let results = amphi::block_on(join_all(paths.iter().map(|p| client.get(p)).collect()));
    let ok = results.iter().filter(|r| matches!(r, Ok((StatusCode::OK, _)))).count();
    rows.push(("sync, fanned out   block_on(join)", t.elapsed(), ok as u64));

    // 3. Async code: the same method, `.await`ed in tasks.
    let t = Instant::now();
    let tasks: Vec<_> = (0..CALLS)
        .map(|id| {
            let client = client.clone();
            amphi::spawn(async move { client.get(&format!("/item/{id}")).await })
        })
        .collect();
    let ok = amphi::block_on(async {
        let mut ok = 0;
        for t in tasks {
            if matches!(t.await, Ok((StatusCode::OK, _))) {
                ok += 1;
            }
        }
        ok
    });
    rows.push(("async, tasks       .await", t.elapsed(), ok));

    // 4. Async code calling legacy blocking code: `unblock` runs it on the blocking pool.
    let t = Instant::now();
    let sums = amphi::block_on(async {
        let tasks: Vec<_> = (0..CALLS).map(|id| amphi::unblock(move || legacy_checksum(id))).collect();
        let mut v = Vec::new();
        for t in tasks {
            v.push(t.await);
        }
        v
    });
    assert_eq!(sums, (0..CALLS).map(checksum).collect::<Vec<_>>());
    rows.push(("async → blocking   unblock", t.elapsed(), sums.len() as u64));

    println!("{:<36} {:>10} {:>8} {:>10}", "caller", "wall", "calls", "per call");
    println!("{}", "-".repeat(67));
    for (name, wall, n) in &rows {
        println!(
            "{:<36} {:>8.1}ms {:>8} {:>8.1}ms",
            name,
            wall.as_secs_f64() * 1e3,
            n,
            wall.as_secs_f64() * 1e3 / *n as f64
        );
    }
    let sequential = rows[0].1.as_secs_f64();
    println!(
        "\nfan-out is {:.1}× faster than sequential; the sync caller needed no runtime, no .await",
        sequential / rows[1].1.as_secs_f64()
    );
    for (_, _, n) in &rows {
        assert_eq!(*n, CALLS, "every call answered");
    }
    Ok(())
}

/// Awaits all futures concurrently, keeping their order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in out.iter_mut().zip(futures.iter_mut()) {
            if let Some(f) = fut {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *slot = Some(v);
                        *fut = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("completed")).collect()
}

#[test]
fn demo_runs_and_every_call_is_answered() {
    main().unwrap();
}
