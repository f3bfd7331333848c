//! The seeds' service layer on real servers: a catalog written once, as `async`, on tokio-postgres
//! (through a deadpool pool) and redis's multiplexed connection, called with `.wait()` from many
//! threads, from inside Tokio runtimes and an amphi task, across a server that dies, and under a
//! timeout. PostgreSQL and Redis are Debian's, started by the tests on loopback
//! (`examples/support/servers.rs`); without them, each test says it was skipped and passes,
//! unless `AMPHI_REQUIRE_SERVERS` is set (CI).
#![cfg(feature = "tokio")]

#[path = "../examples/support/catalog.rs"]
mod catalog;
#[path = "../examples/support/servers.rs"]
mod servers;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use catalog::{Catalog, Item, Source};
use servers::{Kind, Server};

/// Both shared servers' addresses, or `None` (the test is skipped) if one is missing.
fn servers() -> Option<(String, String)> {
    let postgres = servers::shared(Kind::Postgres)?;
    let redis = servers::shared(Kind::Redis)?;
    Some((postgres.postgres_config(), redis.redis_url()))
}

fn item(id: i64) -> Item {
    Item { id, name: format!("item-{id}"), price: id }
}

#[test]
fn a_read_goes_to_the_database_once_then_to_the_cache_and_a_write_invalidates_it() {
    let Some((pg, redis)) = servers() else { return };
    let catalog = Catalog::open(&pg, &redis, "cache_aside", 10, 2).wait().unwrap();
    assert_eq!(catalog.item(3).wait().unwrap(), Some((item(3), Source::Database)));
    assert_eq!(catalog.item(3).wait().unwrap(), Some((item(3), Source::Cache)));
    assert_eq!(catalog.item(11).wait().unwrap(), None, "no such item");
    assert!(catalog.set_price(3, 300).wait().unwrap());
    assert!(!catalog.set_price(11, 1).wait().unwrap(), "no such item to change");
    let changed = Item { price: 300, ..item(3) };
    assert_eq!(catalog.item(3).wait().unwrap(), Some((changed.clone(), Source::Database)));
    assert_eq!(catalog.item(3).wait().unwrap(), Some((changed, Source::Cache)));
}

#[test]
fn a_listing_streams_every_row_in_order() {
    let Some((pg, redis)) = servers() else { return };
    let catalog = Catalog::open(&pg, &redis, "listing", 5000, 2).wait().unwrap();
    let mut seen = Vec::new();
    let n = catalog.list(100, 4099, |item| seen.push(item)).wait().unwrap();
    assert_eq!(n, 4000);
    assert_eq!(seen, (100..4100).map(item).collect::<Vec<_>>());
    assert_eq!(catalog.list(6000, 7000, |_| panic!("no row")).wait().unwrap(), 0);
}

#[test]
fn sixty_four_threads_wait_on_one_shared_catalog() {
    let Some((pg, redis)) = servers() else { return };
    const THREADS: i64 = 64;
    const CALLS: i64 = 40;
    let catalog = Arc::new(Catalog::open(&pg, &redis, "many_threads", THREADS * 4, 16).wait().unwrap());
    let from_cache = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (catalog, from_cache) = (catalog.clone(), from_cache.clone());
            thread::spawn(move || {
                for call in 0..CALLS {
                    // Reads of every thread's items, writes of this thread's own only.
                    let id = 1 + (t * 7 + call * 13) % (THREADS * 4);
                    let (got, source) = catalog.item(id).wait().unwrap().expect("every id exists");
                    assert_eq!((got.id, got.name.as_str()), (id, format!("item-{id}").as_str()));
                    if source == Source::Cache {
                        from_cache.fetch_add(1, Ordering::Relaxed);
                    }
                    let own = 1 + t + THREADS * (call % 4);
                    let price = 1000 * t + call;
                    assert!(catalog.set_price(own, price).wait().unwrap());
                    let (read, _) = catalog.item(own).wait().unwrap().unwrap();
                    assert_eq!(read.price, price, "a thread reads its own write back");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(from_cache.load(Ordering::Relaxed) > 0, "no read was answered from the cache");
    assert!(catalog.pool_size() <= 16, "the pool grew past its bound: {}", catalog.pool_size());
}

#[test]
fn a_small_pool_serves_many_threads_in_turn() {
    let Some((pg, redis)) = servers() else { return };
    let catalog = Arc::new(Catalog::open(&pg, &redis, "small_pool", 32, 2).wait().unwrap());
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let catalog = catalog.clone();
            thread::spawn(move || {
                for round in 0..10 {
                    assert!(catalog.set_price(t + 1, round).wait().unwrap());
                }
                catalog.item(t + 1).wait().unwrap().unwrap().0.price
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 9);
    }
    assert_eq!(catalog.pool_size(), 2, "two connections served all 32 threads");
}

#[test]
fn the_same_calls_from_inside_tokio_runtimes_and_an_amphi_task() {
    let Some((pg, redis)) = servers() else { return };
    let catalog = Arc::new(Catalog::open(&pg, &redis, "in_runtimes", 10, 4).wait().unwrap());

    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (waited, awaited) = multi.block_on({
        let catalog = catalog.clone();
        async move {
            let in_task = tokio::spawn({
                let catalog = catalog.clone();
                async move { catalog.item(1).wait().unwrap() }
            });
            let waited = in_task.await.unwrap();
            (waited, catalog.item(2).await.unwrap())
        }
    });
    assert_eq!(waited.unwrap().0, item(1));
    assert_eq!(awaited.unwrap().0, item(2));

    // A current-thread runtime's driver does not turn while its thread waits here; the
    // catalog's sockets are on the runtime this crate shares, which does.
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let waited = current.block_on(async { catalog.item(3).wait().unwrap() });
    assert_eq!(waited.unwrap().0, item(3));
    assert!(current.block_on(async { catalog.set_price(3, 33).wait().unwrap() }));

    let task = amphi::spawn({
        let catalog = catalog.clone();
        async move { catalog.item(3).await.unwrap() }
    });
    assert_eq!(amphi::block_on(task).unwrap().0, Item { price: 33, ..item(3) });
}

#[test]
fn a_database_stopped_mid_query_gives_an_error_then_calls_reconnect() {
    let Some(_) = servers() else { return };
    // A server of this test's own, since it stops it.
    let postgres = Server::start(Kind::Postgres).unwrap();
    let redis = servers::shared(Kind::Redis).unwrap();
    let catalog = Arc::new(
        Catalog::open(&postgres.postgres_config(), &redis.redis_url(), "stopped", 10, 2).wait().unwrap(),
    );
    assert_eq!(catalog.item(1).wait().unwrap().unwrap().0, item(1));

    let sleeping = thread::spawn({
        let catalog = catalog.clone();
        move || {
            let start = Instant::now();
            (catalog.sleep_in_database(30.0).wait(), start.elapsed())
        }
    });
    thread::sleep(Duration::from_millis(300));
    postgres.stop();
    let (result, took) = sleeping.join().unwrap();
    assert!(result.is_err(), "a query whose server stopped succeeded");
    assert!(took < Duration::from_secs(10), "the error took {took:?}");
    // While the server is down: an error, not a hang.
    let start = Instant::now();
    assert!(catalog.set_price(2, 5).wait().is_err());
    assert!(start.elapsed() < Duration::from_secs(15), "the error took {:?}", start.elapsed());

    postgres.restart();
    // The pool drops its closed connections and opens new ones.
    assert!(catalog.set_price(2, 20).wait().unwrap());
    assert_eq!(catalog.item(2).wait().unwrap().unwrap().0, Item { price: 20, ..item(2) });
}

#[test]
fn a_redis_stopped_under_a_call_gives_an_error_not_a_hang() {
    let Some(_) = servers() else { return };
    let postgres = servers::shared(Kind::Postgres).unwrap();
    let redis = Server::start(Kind::Redis).unwrap();
    let catalog = Catalog::open(&postgres.postgres_config(), &redis.redis_url(), "redis_stopped", 10, 2)
        .wait()
        .unwrap();
    assert_eq!(catalog.item(1).wait().unwrap().unwrap(), (item(1), Source::Database));
    redis.stop();
    let start = Instant::now();
    assert!(catalog.item(1).wait().is_err(), "a read through a stopped cache succeeded");
    assert!(start.elapsed() < Duration::from_secs(10), "the error took {:?}", start.elapsed());
}

#[test]
fn wait_timeout_on_a_slow_query_returns_on_time_and_the_connection_stays_usable() {
    let Some((pg, redis)) = servers() else { return };
    // One connection: the call after the timeout runs on the very connection the slow query used.
    let catalog = Catalog::open(&pg, &redis, "timeout", 10, 1).wait().unwrap();
    let start = Instant::now();
    let unfinished = catalog.sleep_in_database(1.5).wait_timeout(Duration::from_millis(200));
    let took = start.elapsed();
    assert!(unfinished.is_err(), "a 1.5 s query finished within 200 ms");
    assert!(took >= Duration::from_millis(200), "returned early: {took:?}");
    assert!(took < Duration::from_millis(700), "returned late: {took:?}");
    drop(unfinished);
    assert!(catalog.set_price(4, 44).wait().unwrap());
    assert_eq!(catalog.item(4).wait().unwrap().unwrap().0, Item { price: 44, ..item(4) });
    assert_eq!(catalog.pool_size(), 1);
}
