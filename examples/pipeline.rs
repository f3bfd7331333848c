//! A sync command-line pipeline over async libraries: fetch a JSON listing from an HTTP API, stream
//! each download to a file chunk by chunk (checksumming as it goes), write a results file.
//!
//! The pipeline is written once, as async `dual!` methods on hyper and `async-channel`; `main`
//! calls it with `.wait()` and contains no runtime code. A local server on 127.0.0.1 stands in
//! for the remote API.
//!
//! `cargo run --release --features hyper --example pipeline`

#[path = "support/deadline.rs"]
mod deadline;
#[path = "support/http.rs"]
mod http;

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use hyper::StatusCode;
use serde::{Deserialize, Serialize};

/// One entry of the API's listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Dataset {
    name: String,
    size: u64,
    /// FNV-1a 64 of the content, in hex.
    checksum: String,
}

/// What the pipeline did with one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Downloaded {
    name: String,
    bytes: u64,
    /// How many body chunks arrived: more than one means the body was streamed, not buffered.
    chunks: u64,
    checksum: String,
    path: PathBuf,
}

/// The results file.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Report {
    datasets: Vec<Downloaded>,
}

/// The pipeline: an API client and a directory to download into.
struct Pipeline {
    api: http::Client,
    dir: PathBuf,
}

impl Pipeline {
    fn new(api: SocketAddr, dir: PathBuf) -> Self {
        Self { api: http::Client::new(api), dir }
    }

    amphi::dual! {
        /// Fetches the API's listing of datasets.
        async fn list(&self) -> io::Result<Vec<Dataset>> {
            let (status, body) = self.api.get("/api/datasets").await?;
            if status != StatusCode::OK {
                return Err(io::Error::other(format!("listing: HTTP {status}")));
            }
            serde_json::from_slice(&body).map_err(io::Error::other)
        }

        /// Streams one dataset to `dir/name`, checking its size and checksum on the way.
        ///
        /// The file is written on the blocking pool, fed through a bounded channel: the network
        /// side waits when the disk falls behind, and at most a few chunks are in memory.
        async fn download(&self, dataset: &Dataset) -> io::Result<Downloaded> {
            let path = self.dir.join(&dataset.name);
            let (chunks_tx, chunks_rx) = async_channel::bounded::<Bytes>(4);
            let writer = {
                let path = path.clone();
                amphi::unblock(move || -> io::Result<u64> {
                    let mut file = BufWriter::new(File::create(path)?);
                    let mut written = 0;
                    while let Ok(chunk) = chunks_rx.recv_blocking() {
                        file.write_all(&chunk)?;
                        written += chunk.len() as u64;
                    }
                    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                    Ok(written)
                })
            };
            let mut hash = Fnv1a::new();
            let fetched = self
                .api
                .get_streaming(&format!("/download/{}", dataset.name), |chunk| {
                    hash.update(&chunk);
                    let tx = chunks_tx.clone();
                    async move { tx.send(chunk).await.map_err(|_| io::Error::other("file writer failed")) }
                })
                .await;
            drop(chunks_tx);
            // The writer's error (disk full, …) explains a failed send better than the send does.
            let bytes = writer.await?;
            let (status, chunks) = fetched?;
            if status != StatusCode::OK {
                return Err(io::Error::other(format!("{}: HTTP {status}", dataset.name)));
            }
            let checksum = hash.hex();
            if bytes != dataset.size || checksum != dataset.checksum {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: got {bytes} bytes, checksum {checksum}; the API says {} bytes, {}",
                        dataset.name, dataset.size, dataset.checksum
                    ),
                ));
            }
            Ok(Downloaded { name: dataset.name.clone(), bytes, chunks, checksum, path })
        }

        /// Lists, downloads every dataset concurrently, and writes `results.json`.
        async fn run(&self) -> io::Result<Report> {
            let datasets = self.list().await?;
            let downloads = futures::future::try_join_all(datasets.iter().map(|d| self.download(d))).await?;
            let report = Report { datasets: downloads };
            let json = serde_json::to_vec_pretty(&report).map_err(io::Error::other)?;
            let results = self.dir.join("results.json");
            amphi::unblock(move || std::fs::write(results, json)).await?;
            Ok(report)
        }
    }
}

fn main() -> io::Result<()> {
    let api = fake_remote_api()?;
    let dir = scratch_dir()?;
    let pipeline = Pipeline::new(api.addr, dir.clone());

    // The sync program: no runtime, no `.await`.
    let t = Instant::now();
    let report = pipeline.run().wait()?;
    let wall = t.elapsed();

    for d in &report.datasets {
        println!("{:<14} {:>9} bytes in {:>4} chunks  fnv1a {}", d.name, d.bytes, d.chunks, d.checksum);
    }
    println!(
        "\n{} datasets in {:.1} ms, results in {}",
        report.datasets.len(),
        wall.as_secs_f64() * 1e3,
        dir.display()
    );

    // Check everything against the API and against the disk.
    let listed = catalogue();
    assert_eq!(report.datasets.len(), listed.len(), "every dataset downloaded");
    for (d, (name, content)) in report.datasets.iter().zip(&listed) {
        assert_eq!(&d.name, name);
        assert_eq!(d.bytes, content.len() as u64);
        assert_eq!(d.checksum, Fnv1a::of(content));
        assert_eq!(Fnv1a::of(&read(&d.path)?), d.checksum, "{} on disk is what was sent", d.name);
    }
    let large = report.datasets.iter().max_by_key(|d| d.bytes).expect("datasets");
    assert!(large.chunks > 1, "the large download arrived in one piece: it was not streamed");
    let written: Report =
        serde_json::from_slice(&read(&dir.join("results.json"))?).map_err(io::Error::other)?;
    assert_eq!(written, report, "results.json holds the report");

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The datasets the API serves: name and content, made up deterministically.
fn catalogue() -> Vec<(String, Bytes)> {
    [("cities.csv", 64 * 1024), ("readings.bin", 8 * 1024 * 1024), ("stations.json", 300 * 1024 + 7)]
        .into_iter()
        .map(|(name, size)| {
            (name.to_string(), pseudo_random(name.len() as u64 * 1_000_003 + size as u64, size))
        })
        .collect()
}

/// The stand-in for the remote API: `GET /api/datasets` (JSON), `GET /download/<name>`.
fn fake_remote_api() -> io::Result<http::Server> {
    let files = catalogue();
    let listing: Vec<Dataset> = files
        .iter()
        .map(|(name, content)| Dataset {
            name: name.clone(),
            size: content.len() as u64,
            checksum: Fnv1a::of(content),
        })
        .collect();
    let listing = Bytes::from(serde_json::to_vec(&listing).map_err(io::Error::other)?);
    http::serve(move |req| {
        let path = req.uri().path();
        let response = if path == "/api/datasets" {
            http::respond(StatusCode::OK, listing.clone())
        } else if let Some((_, content)) =
            path.strip_prefix("/download/").and_then(|name| files.iter().find(|(n, _)| n == name))
        {
            http::respond(StatusCode::OK, content.clone())
        } else {
            http::respond(StatusCode::NOT_FOUND, "no such dataset")
        };
        async move { response }
    })
}

fn scratch_dir() -> io::Result<PathBuf> {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let dir = std::env::temp_dir().join(format!("amphi-pipeline-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    File::open(path)?.read_to_end(&mut v)?;
    Ok(v)
}

fn pseudo_random(seed: u64, len: usize) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// FNV-1a, 64 bits: enough to catch a lost, duplicated or reordered chunk.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    fn of(bytes: &[u8]) -> String {
        let mut h = Self::new();
        h.update(bytes);
        h.hex()
    }
}

#[test]
fn pipeline_downloads_verifies_and_writes_results() {
    deadline::within(std::time::Duration::from_secs(60), || main().unwrap());
}
