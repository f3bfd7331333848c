//! A library author's view: a small client crate whose API is written once with `dual!`, and
//! documented from the user's side — what `.wait()` and `.await` do in each place a user may call
//! them from. `main` then calls it from each of those places.
//!
//! `cargo run --release --features hyper --example client_lib`

#[path = "support/deadline.rs"]
mod deadline;
#[path = "support/http.rs"]
mod http;

mod weather_client {
    //! A client for the weather API. (In a real project this module is its own crate, which
    //! depends on `amphi` alone.)
    //!
    //! Every operation returns an [`amphi::Dual`]: `.await` it from async code, under any runtime;
    //! call `.wait()` on it from sync code. The details, for each place you may call from, are on
    //! [`WeatherClient::current`].

    use std::io;
    use std::net::SocketAddr;

    use hyper::StatusCode;
    use serde::Deserialize;

    /// Current conditions in one city.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    pub struct Report {
        pub city: String,
        pub celsius: i32,
    }

    /// A handle to the API. Cheap to clone, `Send + Sync`: share one between threads and tasks.
    #[derive(Debug, Clone)]
    pub struct WeatherClient {
        http: crate::http::Client,
    }

    impl WeatherClient {
        /// A client for the API at `addr`.
        pub fn new(addr: SocketAddr) -> Self {
            Self { http: crate::http::Client::new(addr) }
        }

        amphi::dual! {
            /// The current conditions in `city`.
            ///
            /// # Calling it
            ///
            /// - **From sync code** (`main`, a thread, a handler of a sync web framework):
            ///   `client.current("oslo").wait()`. The request runs on your thread until it is
            ///   answered. There is no runtime to create, and any number of threads may wait on
            ///   one shared client at once.
            /// - **From an `amphi` task**: `.await` it. `.wait()` works there too — nested waits
            ///   never deadlock, and the worker hands its other tasks to another thread first — but
            ///   it holds a thread for the whole request, so prefer `.await`.
            /// - **From a Tokio task on a multi-thread runtime**: `.await` it. The client's sockets
            ///   and timers belong to `amphi`'s reactor, not Tokio's, so it needs no Tokio feature
            ///   and works under any runtime. `.wait()` works as well; like any blocking call it
            ///   occupies that Tokio worker meanwhile (in `spawn_blocking` it is the natural
            ///   choice).
            /// - **On a Tokio current-thread runtime** (`flavor = "current_thread"`, the default of
            ///   `#[tokio::test]`): `.await` it. `.wait()` completes for this client's own
            ///   operations, but while it waits, Tokio's only thread — which is also Tokio's timer
            ///   and socket driver — is blocked. If what you wait for needs Tokio too (a
            ///   `tokio::time::sleep`, a Tokio socket, a result from a Tokio task), it can never
            ///   finish. [`wait_timeout`](amphi::Dual::wait_timeout) is the escape hatch: it gives
            ///   up after the time you allow and hands the unfinished operation back, to `.await`
            ///   (it continues where it stopped) or to drop (which cancels it).
            ///
            /// # Errors
            ///
            /// Connection failures, a status other than 200, a malformed answer.
            pub async fn current(&self, city: &str) -> io::Result<Report> {
                let (status, body) = self.http.get(&format!("/current/{city}")).await?;
                if status != StatusCode::OK {
                    return Err(io::Error::other(format!("{city}: HTTP {status}")));
                }
                serde_json::from_slice(&body).map_err(io::Error::other)
            }

            /// The current conditions in each of `cities`, asked concurrently; called like
            /// [`current`](Self::current).
            ///
            /// # Errors
            ///
            /// The first error of any of the requests.
            pub async fn many(&self, cities: &[&str]) -> io::Result<Vec<Report>> {
                futures::future::try_join_all(cities.iter().map(|city| self.current(city))).await
            }
        }
    }
}

use std::io;
use std::sync::Arc;
use std::time::Duration;

use amphi::Timer;
use hyper::StatusCode;
use weather_client::{Report, WeatherClient};

/// The temperature the fake API reports for `city`.
fn celsius(city: &str) -> i32 {
    city.bytes().map(i32::from).sum::<i32>() % 35 - 5
}

fn expected(city: &str) -> Report {
    Report { city: city.to_string(), celsius: celsius(city) }
}

/// The stand-in for the weather API, on 127.0.0.1.
fn fake_api() -> io::Result<http::Server> {
    http::serve(|req| async move {
        Timer::after(Duration::from_millis(10)).await;
        match req.uri().path().strip_prefix("/current/") {
            Some(city) => http::respond(
                StatusCode::OK,
                format!("{{\"city\":\"{city}\",\"celsius\":{}}}", celsius(city)),
            ),
            None => http::respond(StatusCode::NOT_FOUND, "no such route"),
        }
    })
}

fn main() -> io::Result<()> {
    let api = fake_api()?;
    let client = Arc::new(WeatherClient::new(api.addr));

    // 1. Plain sync code.
    assert_eq!(client.current("oslo").wait()?, expected("oslo"));
    assert_eq!(client.many(&["lima", "rome"]).wait()?, vec![expected("lima"), expected("rome")]);
    println!("sync code:               .wait()                      ok");

    // 2. Inside an `amphi` task: `.await`, and `.wait()` nested in the task.
    let c = client.clone();
    let (awaited, waited) =
        amphi::block_on(amphi::spawn(async move { (c.current("kyiv").await, c.current("pune").wait()) }));
    assert_eq!((awaited?, waited?), (expected("kyiv"), expected("pune")));
    println!("amphi task:               .await, and .wait() nested   ok");

    // 3. Inside a task of Tokio's multi-thread runtime.
    let tokio_mt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let c = client.clone();
    let (awaited, waited) = tokio_mt
        .block_on(tokio_mt.spawn(async move { (c.current("baku").await, c.current("bern").wait()) }))
        .expect("the Tokio task");
    assert_eq!((awaited?, waited?), (expected("baku"), expected("bern")));
    println!("Tokio multi-thread task: .await, and .wait()          ok");

    // 4. On Tokio's current-thread runtime.
    let tokio_ct = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let c = client.clone();
    let gave_up_after = tokio_ct.block_on(async move {
        assert_eq!(c.current("riga").await?, expected("riga"));
        // The client's own operation needs only amphi's reactor: `.wait()` completes.
        assert_eq!(c.current("doha").wait()?, expected("doha"));

        // An operation that also needs Tokio's driver (here its timer): without the `tokio`
        // feature it cannot progress while this, Tokio's only thread, waits, and `wait_timeout`
        // gives it back unfinished, for `.await` to finish; with the feature it runs on amphi's
        // shared Tokio runtime, and `.wait()` finishes it.
        let op = amphi::dual(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.current("lund").await
        });
        let t = std::time::Instant::now();
        let gave_up_after = match op.wait_timeout(Duration::from_millis(200)) {
            Ok(done) if cfg!(feature = "tokio") => {
                assert_eq!(done?, expected("lund"));
                None
            }
            Err(unfinished) if !cfg!(feature = "tokio") => {
                let gave_up_after = t.elapsed();
                assert_eq!(unfinished.await?, expected("lund"));
                Some(gave_up_after)
            }
            _ => panic!(
                "with the tokio feature .wait() finishes a Tokio-timed operation; without it \
                 wait_timeout gives it back"
            ),
        };
        io::Result::Ok(gave_up_after)
    })?;
    match gave_up_after {
        Some(after) => {
            println!(
                "Tokio current-thread:    .await, .wait(); wait_timeout gave a Tokio-timed operation back after {:.0} ms, .await finished it",
                after.as_secs_f64() * 1e3
            );
            assert!(after >= Duration::from_millis(200));
        }
        None => println!(
            "Tokio current-thread:    .await, .wait(), and a Tokio-timed operation finished by .wait() (tokio feature)"
        ),
    }
    Ok(())
}

#[test]
fn every_kind_of_caller_gets_the_weather() {
    deadline::within(Duration::from_secs(60), || main().unwrap());
}
