//! Sequential HTTP GETs to a local server with reqwest (bound to Tokio's reactor), from sync code,
//! three ways side by side in one process: `.wait()` on a `dual!` method (the `tokio` feature),
//! `reqwest::blocking`, and a Tokio `Runtime::block_on` per request. Prints per-GET medians and
//! `.wait() / reqwest::blocking`.
//!
//! ```text
//! cargo bench --features tokio --bench reqwest
//! AMPHI_BENCH_QUICK=1 cargo bench --features tokio --bench reqwest   # smoke run
//! ```

#[path = "../tests/common/doubler.rs"]
mod doubler;

use std::time::{Duration, Instant};

struct Doubler {
    client: reqwest::Client,
    url: String,
}

impl Doubler {
    amphi::dual! {
        async fn double(&self, n: u64) -> u64 {
            let body = self.client.get(format!("{}/{n}", self.url)).send().await.unwrap().text().await.unwrap();
            body.parse().unwrap()
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var("AMPHI_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (gets, rounds) = if quick { (20, 2) } else { (2000, 7) };
    let url = format!("http://{}", doubler::server());
    let amphi = Doubler { client: reqwest::Client::new(), url: url.clone() };
    let blocking = reqwest::blocking::Client::new();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let async_client = reqwest::Client::new();
    let get_blocking = |n: u64| -> u64 {
        blocking.get(format!("{url}/{n}")).send().unwrap().text().unwrap().parse().unwrap()
    };
    let get_rt = |n: u64| -> u64 {
        rt.block_on(async {
            async_client.get(format!("{url}/{n}")).send().await.unwrap().text().await.unwrap()
        })
        .parse()
        .unwrap()
    };
    let runs: [(&str, &dyn Fn(u64) -> u64); 3] = [
        ("amphi .wait()", &|n| amphi.double(n).wait()),
        ("reqwest::blocking", &get_blocking),
        ("Runtime::block_on", &get_rt),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); runs.len()];
    // Warm-up (connections, the shared runtime), then rounds in a rotating order.
    for (_, get) in &runs {
        assert_eq!(get(21), 42);
    }
    for round in 0..rounds {
        for k in 0..runs.len() {
            let i = (round + k) % runs.len();
            let start = Instant::now();
            for n in 0..gets {
                assert_eq!(runs[i].1(n), n * 2);
            }
            times[i].push(start.elapsed() / gets as u32);
        }
    }
    println!("sequential GETs to 127.0.0.1, {gets} per round, medians of {rounds} rounds");
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    for ((name, _), m) in runs.iter().zip(&medians) {
        println!("  {name:<20} {:>7.1} µs per GET", m.as_secs_f64() * 1e6);
    }
    println!(
        "reqwest::get: .wait() / reqwest::blocking = {:.2}, .wait() / Runtime::block_on = {:.2}",
        medians[0].as_secs_f64() / medians[1].as_secs_f64(),
        medians[0].as_secs_f64() / medians[2].as_secs_f64()
    );
}
