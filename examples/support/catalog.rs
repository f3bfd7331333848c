//! A service layer written once, as `async`, on Tokio-bound clients — tokio-postgres (through a
//! deadpool pool) and redis's multiplexed connection — and called with `.wait()` from sync code or
//! `.await`ed from async code: what a library of the seeds' kind (asyncpg and aioredis behind a
//! sync web app) is made of.
//!
//! A catalog of items: a cache-aside read (Redis, then PostgreSQL on a miss, which fills the
//! cache), a price change in a transaction that invalidates the cache, and a listing streamed row
//! by row from a query.
//!
//! Each item has a generation in Redis, which a change bumps once it has committed; a cached
//! entry carries the generation it was read under, and counts only while that is still the
//! item's. So a read that fetched an item from the database before a concurrent change committed,
//! and fills the cache after the change, leaves an entry nobody takes: plain cache-aside would
//! leave the old price cached until the entry expires.
#![allow(dead_code)]

use std::fmt;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_lite::StreamExt;
use redis::AsyncCommands;
use tokio_postgres::NoTls;

/// What a call of the catalog can fail with.
#[derive(Debug)]
pub enum Error {
    Postgres(tokio_postgres::Error),
    Pool(String),
    Redis(redis::RedisError),
    /// A cached entry that does not decode.
    Cache(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Postgres(e) => write!(f, "PostgreSQL: {e}"),
            Error::Pool(e) => write!(f, "PostgreSQL pool: {e}"),
            Error::Redis(e) => write!(f, "Redis: {e}"),
            Error::Cache(e) => write!(f, "cache: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Postgres(e)
    }
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Error::Postgres(e),
            e => Error::Pool(e.to_string()),
        }
    }
}

/// An item of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub price: i64,
}

impl Item {
    /// The cached entry of the item read under `generation`.
    fn encode(&self, generation: i64) -> String {
        format!("{generation}\t{}\t{}", self.price, self.name)
    }

    /// A cached entry, and the generation it was read under.
    fn decode(id: i64, cached: &str) -> Result<(i64, Self), Error> {
        let bad = || Error::Cache(format!("{cached:?}"));
        let mut fields = cached.splitn(3, '\t');
        let mut number = || fields.next().and_then(|f| f.parse::<i64>().ok()).ok_or_else(bad);
        let (generation, price) = (number()?, number()?);
        let name = fields.next().ok_or_else(bad)?;
        Ok((generation, Item { id, name: name.to_string(), price }))
    }
}

/// Where a read was answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

/// The catalog: a pool of PostgreSQL connections and one multiplexed Redis connection, shared by
/// every caller (`&self`), from any number of threads.
pub struct Catalog {
    pool: Pool,
    cache: redis::aio::MultiplexedConnection,
    /// The table (and the cache keys' prefix): each catalog of a test has its own.
    table: String,
}

impl Catalog {
    amphi::dual! {
        /// Connects to both servers and creates the table `table` with `items` items, `item-<id>`
        /// priced `id`, the cache empty.
        pub async fn open(postgres: &str, redis: &str, table: &str, items: i64, pool_size: usize) -> Result<Catalog, Error> {
            let config: tokio_postgres::Config = postgres.parse()?;
            let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
            let pool = Pool::builder(manager).max_size(pool_size).build().map_err(|e| Error::Pool(e.to_string()))?;
            let cache = redis::Client::open(redis)?.get_multiplexed_async_connection().await?;
            let catalog = Catalog { pool, cache, table: table.to_string() };
            let db = catalog.pool.get().await?;
            db.batch_execute(&format!(
                "DROP TABLE IF EXISTS {table};
                 CREATE TABLE {table} (id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL);
                 INSERT INTO {table} SELECT i, 'item-' || i, i FROM generate_series(1, {items}) AS i;"
            ))
            .await?;
            drop(db);
            let keys: Vec<String> = (1..=items).flat_map(|id| [catalog.key(id), catalog.generation_key(id)]).collect();
            if !keys.is_empty() {
                catalog.cache.clone().del::<_, ()>(keys).await?;
            }
            Ok(catalog)
        }

        /// The item `id`: from the cache, else from the database, which then fills the cache.
        pub async fn item(&self, id: i64) -> Result<Option<(Item, Source)>, Error> {
            let (key, generation_key) = (self.key(id), self.generation_key(id));
            let mut cache = self.cache.clone();
            let (generation, cached): (Option<i64>, Option<String>) =
                redis::cmd("MGET").arg(&generation_key).arg(&key).query_async(&mut cache).await?;
            let generation = generation.unwrap_or(0);
            if let Some(cached) = cached {
                let (read_under, item) = Item::decode(id, &cached)?;
                if read_under == generation {
                    return Ok(Some((item, Source::Cache)));
                }
            }
            let db = self.pool.get().await?;
            let statement = db.prepare_cached(&format!("SELECT name, price FROM {} WHERE id = $1", self.table)).await?;
            let Some(row) = db.query_opt(&statement, &[&id]).await? else {
                return Ok(None);
            };
            let item = Item { id, name: row.get(0), price: row.get(1) };
            cache.set_ex::<_, _, ()>(&key, item.encode(generation), 600).await?;
            Ok(Some((item, Source::Database)))
        }

        /// Sets the price of `id` in a transaction, then bumps the item's generation (which
        /// invalidates every entry read before) and drops the cached entry; `false` if there is
        /// no such item.
        pub async fn set_price(&self, id: i64, price: i64) -> Result<bool, Error> {
            let mut db = self.pool.get().await?;
            let tx = db.transaction().await?;
            let changed = tx.execute(&format!("UPDATE {} SET price = $2 WHERE id = $1", self.table), &[&id, &price]).await?;
            tx.commit().await?;
            redis::pipe()
                .atomic()
                .incr(self.generation_key(id), 1)
                .ignore()
                .del(self.key(id))
                .ignore()
                .query_async::<()>(&mut self.cache.clone())
                .await?;
            Ok(changed == 1)
        }

        /// The items whose price is in `low..=high`, by id, streamed from the query row by row
        /// (each row handed to `each` as it arrives); returns how many.
        pub async fn list<G>(&self, low: i64, high: i64, mut each: G) -> Result<usize, Error>
        where
            G: FnMut(Item),
        {
            let db = self.pool.get().await?;
            let query = format!("SELECT id, name, price FROM {} WHERE price BETWEEN $1 AND $2 ORDER BY id", self.table);
            let rows = db.query_raw(&query, [&low, &high]).await?;
            let mut rows = std::pin::pin!(rows);
            let mut n = 0;
            while let Some(row) = rows.next().await {
                let row = row?;
                each(Item { id: row.get(0), name: row.get(1), price: row.get(2) });
                n += 1;
            }
            Ok(n)
        }

        /// Waits `seconds` in the database (`pg_sleep`), on a connection of the pool.
        pub async fn sleep_in_database(&self, seconds: f64) -> Result<(), Error> {
            let db = self.pool.get().await?;
            db.execute("SELECT pg_sleep($1)", &[&seconds]).await?;
            Ok(())
        }
    }

    fn key(&self, id: i64) -> String {
        format!("{}:{id}", self.table)
    }

    fn generation_key(&self, id: i64) -> String {
        format!("{}:{id}:generation", self.table)
    }

    /// Connections the pool holds now.
    pub fn pool_size(&self) -> usize {
        self.pool.status().size
    }
}
