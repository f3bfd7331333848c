//! Calls to a real PostgreSQL and a real Redis on loopback (started for the run, as the tests do:
//! `examples/support/servers.rs`) from sync code, side by side in one process:
//!
//! - a one-row `SELECT` through `.wait()` on tokio-postgres (its connection task spawned on amphi,
//!   and spawned with `tokio::spawn` as tokio-postgres's documentation and deadpool do), through
//!   the sync `postgres` crate, and through a Tokio current-thread `Runtime::block_on` on
//!   tokio-postgres;
//! - a `GET` of a cached key through `.wait()` on redis's multiplexed connection, through the sync
//!   `redis` connection, and through `Runtime::block_on` on a multiplexed connection;
//! - the same calls from 64 threads at once (throughput): `.wait()` on one shared client, against a
//!   sync client per thread.
//!
//! Rounds interleave the ways (rotating order); the figures are medians over the rounds.
//!
//! ```text
//! cargo bench --features tokio --bench servers
//! cargo bench --features tokio --bench servers -- redis    # the sections whose title has "redis"
//! AMPHI_BENCH_QUICK=1 cargo bench --features tokio --bench servers   # smoke run
//! ```

#[path = "../examples/support/servers.rs"]
mod servers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{AsyncCommands, Commands};
use servers::Kind;

const KEY: &str = "bench:key";
const SELECT: &str = "SELECT id, name FROM bench WHERE id = $1";

/// A tokio-postgres client, its connection task on amphi.
struct Db {
    client: tokio_postgres::Client,
}

impl Db {
    amphi::dual! {
        async fn connect(config: &str) -> Db {
            let (client, connection) = tokio_postgres::connect(config, tokio_postgres::NoTls).await.unwrap();
            amphi::spawn(async move { connection.await.unwrap() }).detach();
            Db { client }
        }

        /// The same with the connection's task on the shared Tokio runtime, whose thread drives
        /// its socket too.
        async fn connect_on_tokio(config: &str) -> Db {
            let (client, connection) = tokio_postgres::connect(config, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(async move { connection.await.unwrap() });
            Db { client }
        }

        async fn select(&self, id: i32) -> i32 {
            let row = self.client.query_one(SELECT, &[&id]).await.unwrap();
            row.get(0)
        }
    }
}

/// redis's multiplexed connection.
struct Cache {
    connection: redis::aio::MultiplexedConnection,
}

impl Cache {
    amphi::dual! {
        async fn connect(url: &str) -> Cache {
            let connection = redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
            Cache { connection }
        }

        async fn get(&self) -> String {
            AsyncCommands::get(&mut self.connection.clone(), KEY).await.unwrap()
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

type Way<'a> = (&'a str, Box<dyn Fn() + 'a>);

/// Runs `calls` calls of each way per round, `rounds` rounds in rotating order; prints the medians
/// per call and the ratio of each pair `(way, against)` in `ratios`.
fn side_by_side(title: &str, ways: &[Way<'_>], calls: usize, rounds: usize, ratios: &[(usize, usize)]) {
    for (_, call) in ways {
        call();
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); ways.len()];
    for round in 0..rounds {
        for k in 0..ways.len() {
            let i = (round + k) % ways.len();
            let start = Instant::now();
            for _ in 0..calls {
                ways[i].1();
            }
            times[i].push(start.elapsed() / calls as u32);
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    println!("{title}, {calls} per round, medians of {rounds} rounds");
    for ((name, _), m) in ways.iter().zip(&medians) {
        println!("  {name:<34} {:>8.1} µs per call", m.as_secs_f64() * 1e6);
    }
    for &(i, j) in ratios {
        println!(
            "  {} / {} = {:.2}",
            ways[i].0,
            ways[j].0,
            medians[i].as_secs_f64() / medians[j].as_secs_f64()
        );
    }
    println!();
}

/// `calls` calls on each of `threads` threads at once; the wall time per call.
fn throughput(threads: usize, calls: usize, call: impl Fn(usize) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let call = &call;
            s.spawn(move || {
                for _ in 0..calls {
                    call(t);
                }
            });
        }
    });
    start.elapsed() / (threads * calls) as u32
}

/// Whether the section titled `title` runs: every one, or those whose title contains the first
/// argument that is not a flag (case aside).
fn wanted(title: &str) -> bool {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    filter.is_none_or(|f| title.to_lowercase().contains(&f.to_lowercase()))
}

fn main() {
    let quick = std::env::var("AMPHI_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let (calls, rounds, threads) = if quick { (20, 2, 8) } else { (2000, 7, 64) };
    let Some(postgres) = servers::shared(Kind::Postgres) else { return };
    let Some(redis) = servers::shared(Kind::Redis) else { return };
    let (pg, url) = (postgres.postgres_config(), redis.redis_url());

    let mut sync_pg = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    sync_pg
        .batch_execute(
            "DROP TABLE IF EXISTS bench; CREATE TABLE bench (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO bench SELECT i, 'row-' || i FROM generate_series(1, 100) AS i;",
        )
        .unwrap();
    let mut sync_redis = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    redis::cmd("SET").arg(KEY).arg("cached value").exec(&mut sync_redis).unwrap();

    let db = Db::connect(&pg).wait();
    let db_on_tokio = Db::connect_on_tokio(&pg).wait();
    let cache = Cache::connect(&url).wait();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rt_db = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&pg, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(async move { connection.await.unwrap() });
        client
    });
    let rt_cache = rt.block_on(async {
        redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap()
    });
    let sync_pg = std::cell::RefCell::new(sync_pg);
    let sync_redis = std::cell::RefCell::new(sync_redis);

    let pg_title = "PostgreSQL, a one-row SELECT";
    if wanted(pg_title) {
        side_by_side(
            pg_title,
            &[
                ("amphi .wait() on tokio-postgres", Box::new(|| assert_eq!(db.select(7).wait(), 7))),
                (".wait(), connection on Tokio", Box::new(|| assert_eq!(db_on_tokio.select(7).wait(), 7))),
                (
                    "postgres (sync)",
                    Box::new(|| {
                        let row = sync_pg.borrow_mut().query_one(SELECT, &[&7i32]).unwrap();
                        assert_eq!(row.get::<_, i32>(0), 7);
                    }),
                ),
                (
                    "Runtime::block_on on tokio-postgres",
                    Box::new(|| {
                        let row = rt.block_on(rt_db.query_one(SELECT, &[&7i32])).unwrap();
                        assert_eq!(row.get::<_, i32>(0), 7);
                    }),
                ),
            ],
            calls,
            rounds,
            &[(0, 2), (0, 3), (1, 2), (1, 3)],
        );
    }
    let redis_title = "Redis, a GET of a cached key";
    if wanted(redis_title) {
        side_by_side(
            redis_title,
            &[
                (
                    "amphi .wait() on redis (multiplexed)",
                    Box::new(|| assert_eq!(cache.get().wait(), "cached value")),
                ),
                (
                    "redis (sync)",
                    Box::new(|| {
                        let v: String = Commands::get(&mut *sync_redis.borrow_mut(), KEY).unwrap();
                        assert_eq!(v, "cached value");
                    }),
                ),
                (
                    "Runtime::block_on on redis",
                    Box::new(|| {
                        let v: String = rt.block_on(AsyncCommands::get(&mut rt_cache.clone(), KEY)).unwrap();
                        assert_eq!(v, "cached value");
                    }),
                ),
            ],
            calls,
            rounds,
            &[(0, 1), (0, 2)],
        );
    }

    // From many threads: `.wait()` on one shared client, against a sync client per thread.
    if !wanted(&format!("{threads} threads at once")) {
        return;
    }
    let db = Arc::new(db);
    let per_thread_pg: Vec<_> = (0..threads)
        .map(|_| std::sync::Mutex::new(postgres::Client::connect(&pg, postgres::NoTls).unwrap()))
        .collect();
    let per_thread_redis: Vec<_> = (0..threads)
        .map(|_| std::sync::Mutex::new(redis::Client::open(url.as_str()).unwrap().get_connection().unwrap()))
        .collect();
    let mut shared_pg = Vec::new();
    let mut sync_pg_many = Vec::new();
    let mut shared_redis = Vec::new();
    let mut sync_redis_many = Vec::new();
    let many_calls = (calls / 10).max(5);
    for _ in 0..rounds.min(5) {
        shared_pg.push(throughput(threads, many_calls, |_| assert_eq!(db.select(3).wait(), 3)));
        sync_pg_many.push(throughput(threads, many_calls, |t| {
            let row = per_thread_pg[t].lock().unwrap().query_one(SELECT, &[&3i32]).unwrap();
            assert_eq!(row.get::<_, i32>(0), 3);
        }));
        shared_redis
            .push(throughput(threads, many_calls, |_| assert_eq!(cache.get().wait(), "cached value")));
        sync_redis_many.push(throughput(threads, many_calls, |t| {
            let v: String = Commands::get(&mut *per_thread_redis[t].lock().unwrap(), KEY).unwrap();
            assert_eq!(v, "cached value");
        }));
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (a, b, c, d) =
        (median(shared_pg), median(sync_pg_many), median(shared_redis), median(sync_redis_many));
    println!("{threads} threads at once, {many_calls} calls each, wall time per call (medians)");
    println!("  SELECT: .wait() on one shared tokio-postgres client {:>7.1} µs", us(a));
    println!(
        "          a sync postgres client per thread        {:>7.1} µs   ratio {:.2}",
        us(b),
        us(a) / us(b)
    );
    println!("  GET:    .wait() on one shared multiplexed redis   {:>7.1} µs", us(c));
    println!(
        "          a sync redis connection per thread       {:>7.1} µs   ratio {:.2}",
        us(d),
        us(c) / us(d)
    );
}
