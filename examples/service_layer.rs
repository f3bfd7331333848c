//! A sync web app on a real database and cache: a thread-per-request `tiny_http` server whose
//! plain handlers call an async service layer with `.wait()` — the catalog of
//! `examples/support/catalog.rs`, written once on tokio-postgres (through a deadpool pool) and
//! redis's multiplexed connection, both Tokio-bound; the `tokio` feature runs them, no runtime set
//! up here. A cache-aside read, a price change in a transaction that invalidates the cache, and a
//! listing streamed from a query; then 200 clients at once, every answer checked, and the same
//! service awaited from an amphi task.
//!
//! It needs PostgreSQL and Redis installed (Debian: `apt-get install postgresql redis-server`) and
//! starts its own on 127.0.0.1, on free ports, removed when it ends (as root, PostgreSQL runs as
//! the `postgres` user).
//!
//! `cargo run --release --features tokio --example service_layer`

#[path = "support/catalog.rs"]
mod catalog;
#[path = "support/deadline.rs"]
mod deadline;
#[path = "support/servers.rs"]
mod servers;
#[path = "support/thread_per_request.rs"]
mod thread_per_request;

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use catalog::{Catalog, Item, Source};
use servers::Kind;
use thread_per_request::{WebServer, get};

/// Items in the catalog; item `id` is `item-<id>`, priced `id`.
const ITEMS: i64 = 1000;
/// Concurrent clients; client `c` changes the price of item `c + 1` only.
const CLIENTS: i64 = 200;
/// The listing every client asks for: items no client changes.
const LISTED: (i64, i64) = (500, 519);

fn main() {
    let servers = [Kind::Postgres, Kind::Redis].map(|kind| servers::Server::start(kind).map(|s| (kind, s)));
    let [postgres, redis] = match servers {
        [Ok((_, postgres)), Ok((_, redis))] => [postgres, redis],
        [a, b] => {
            let why: Vec<String> = [a.err(), b.err()].into_iter().flatten().collect();
            servers::skip(&why.join("; "));
            return;
        }
    };
    println!("PostgreSQL on 127.0.0.1:{}, Redis on 127.0.0.1:{}", postgres.port, redis.port);
    let catalog = Catalog::open(&postgres.postgres_config(), &redis.redis_url(), "items", ITEMS, 16)
        .wait()
        .expect("the catalog opens");
    let catalog = Arc::new(catalog);
    let web = WebServer::start({
        let catalog = catalog.clone();
        move |request| handle(&catalog, request)
    })
    .expect("the web server starts");
    println!("tiny_http on http://{}\n", web.addr);

    // One client, one request at a time: a miss, then a hit, then a write and the miss after it.
    let timed = |path: &str| {
        let t = Instant::now();
        let answer = get(web.addr, path).expect("an answer");
        (answer, t.elapsed())
    };
    let ((status, miss), miss_took) = timed("/item/42");
    assert_eq!((status, miss.as_str()), (200, "42\titem-42\t42\tdatabase"));
    let ((_, hit), hit_took) = timed("/item/42");
    assert_eq!(hit, "42\titem-42\t42\tcache");
    assert_eq!(timed("/price/42/4200").0, (200, "changed".to_string()));
    assert_eq!(timed("/item/42").0.1, "42\titem-42\t4200\tdatabase", "the write dropped the cached entry");
    assert_eq!(timed("/price/5000/1").0.0, 404);
    assert_eq!(timed("/nowhere").0.0, 404);
    let ((_, listing), list_took) = timed(&format!("/list/{}/{}", LISTED.0, LISTED.1));
    assert_eq!(listing, expected_listing());
    println!(
        "one request: a miss {:.2} ms, a hit {:.2} ms, a listing of {} rows {:.2} ms",
        ms(miss_took),
        ms(hit_took),
        LISTED.1 - LISTED.0 + 1,
        ms(list_took)
    );

    let run = load(web.addr);
    println!(
        "{CLIENTS} clients at once, 4 requests each: {} errors, wall {:.1} ms, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        run.errors.len(),
        ms(run.wall),
        ms(run.percentile(0.5)),
        ms(run.percentile(0.99)),
        ms(run.percentile(1.0)),
    );
    assert!(run.errors.is_empty(), "{} requests failed: {:#?}", run.errors.len(), run.errors);
    assert_eq!(run.latencies.len() as i64, CLIENTS * 4);
    println!("PostgreSQL connections in the pool: {} (at most 16)", catalog.pool_size());
    assert!(catalog.pool_size() <= 16);

    // The same service, awaited from async code: an amphi task.
    let task = amphi::spawn({
        let catalog = catalog.clone();
        async move {
            let changed = catalog.set_price(7, 70).await?;
            let item = catalog.item(7).await?;
            Ok::<_, catalog::Error>((changed, item))
        }
    });
    let (changed, item) = amphi::block_on(task).expect("the async calls succeed");
    assert!(changed);
    assert_eq!(item, Some((Item { id: 7, name: "item-7".into(), price: 70 }, Source::Database)));
    println!("from an amphi task: item 7 now costs 70");
    drop(web);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn expected_listing() -> String {
    (LISTED.0..=LISTED.1).map(|id| format!("{id}\titem-{id}\t{id}\n")).collect()
}

/// A plain sync handler, as in any sync framework: the service's calls are `.wait()`ed.
fn handle(catalog: &Catalog, request: tiny_http::Request) {
    let parts: Vec<&str> = request.url().trim_start_matches('/').split('/').collect();
    let number = |i: usize| parts.get(i).and_then(|p| p.parse::<i64>().ok());
    let answer: Result<(u16, String), catalog::Error> = match (parts[0], number(1), number(2)) {
        ("item", Some(id), None) => catalog.item(id).wait().map(|item| match item {
            Some((item, source)) => {
                let source = if source == Source::Cache { "cache" } else { "database" };
                (200, format!("{}\t{}\t{}\t{source}", item.id, item.name, item.price))
            }
            None => (404, "no such item".into()),
        }),
        ("price", Some(id), Some(price)) => catalog
            .set_price(id, price)
            .wait()
            .map(|changed| if changed { (200, "changed".into()) } else { (404, "no such item".into()) }),
        ("list", Some(low), Some(high)) => {
            let mut body = String::new();
            catalog
                .list(low, high, |item| {
                    body.push_str(&format!("{}\t{}\t{}\n", item.id, item.name, item.price))
                })
                .wait()
                .map(|_| (200, body))
        }
        _ => Ok((404, "not found".into())),
    };
    let (status, body) = answer.unwrap_or_else(|e| (502, e.to_string()));
    request.respond(tiny_http::Response::from_string(body).with_status_code(status)).ok();
}

/// What the load run measured.
struct Load {
    errors: Vec<String>,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn percentile(&self, p: f64) -> Duration {
        self.latencies[((self.latencies.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// Every client at once, each on its own thread: a read, a write of its own item, the read that
/// must see it, and the listing; every answer checked.
fn load(addr: SocketAddr) -> Load {
    let start = Arc::new(Barrier::new(CLIENTS as usize));
    let t = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                // Items past the clients' own are only read: their answer is known, from the
                // cache or the database. (A read racing a write of the same item could fill the
                // cache with the old price: see the catalog.)
                let read = CLIENTS + 1 + (c * 37) % (ITEMS - CLIENTS);
                let own = c + 1;
                let price = 10_000 + c;
                let steps = [
                    (format!("/item/{read}"), None),
                    (format!("/price/{own}/{price}"), Some("changed".to_string())),
                    (format!("/item/{own}"), Some(format!("{own}\titem-{own}\t{price}\tdatabase"))),
                    (format!("/list/{}/{}", LISTED.0, LISTED.1), Some(expected_listing())),
                ];
                let mut out = Vec::new();
                for (path, expected) in steps {
                    let t = Instant::now();
                    let answer = get(addr, &path);
                    out.push(match answer {
                        Ok((200, body)) if expected.as_ref().is_none_or(|e| *e == body) => {
                            let unchanged = [
                                format!("{read}\titem-{read}\t{read}\tcache"),
                                format!("{read}\titem-{read}\t{read}\tdatabase"),
                            ];
                            if expected.is_none() && !unchanged.contains(&body) {
                                Err(format!("{path}: {body:?}"))
                            } else {
                                Ok(t.elapsed())
                            }
                        }
                        Ok((status, body)) => Err(format!("{path}: {status} {body:?}")),
                        Err(e) => Err(format!("{path}: {e}")),
                    });
                }
                out
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    for client in clients {
        for result in client.join().expect("client thread") {
            match result {
                Ok(latency) => latencies.push(latency),
                Err(e) => errors.push(e),
            }
        }
    }
    latencies.sort();
    Load { errors, wall: t.elapsed(), latencies }
}

#[test]
fn two_hundred_clients_on_a_real_database_and_cache() {
    deadline::within(Duration::from_secs(120), main);
}
