//! `amphi` side by side with its peers in one process: every workload runs on every runtime that
//! can run it (each built once, with the same worker count), rounds interleave the runtimes, and
//! the table shows each runtime's median and `amphi / fastest peer`.
//!
//! ```text
//! cargo bench --features hyper --bench compare   # everything (~3 minutes on 2 cores; without
//!                                               # the feature, the hyper row has no amphi column)
//! cargo bench --bench compare -- spawn        # workloads whose name contains `spawn`
//! AMPHI_BENCH_QUICK=1 cargo bench --bench compare   # smoke run: 2 rounds, tiny sizes
//! AMPHI_BENCH_RUNTIMES=amphi,smol cargo bench --bench compare   # only these (e.g. to profile)
//! ```
//!
//! The workloads are the peers' own benchmark shapes (Tokio's `rt_multi_threaded`,
//! async-executor's `executor` benches).

mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{ALL, REACTORS, Rt, SPAWNERS, fmt_ns, io};
use futures::channel::oneshot;

/// Wall time a workload may take, all runtimes and rounds together (sizes the round count).
const BUDGET: Duration = Duration::from_secs(10);
const MIN_ROUNDS: usize = 5;
const MAX_ROUNDS: usize = 21;
const QUICK_ROUNDS: usize = 2;

struct Workload {
    /// What one round reports, in order, each as (bench name, unit of the figure).
    metrics: &'static [(&'static str, &'static str)],
    runtimes: &'static [Rt],
    /// Needs a reactor, timers or a blocking pool.
    io: bool,
    /// One round on a runtime; one figure in ns per metric.
    run: fn(Rt) -> Vec<f64>,
}

const WORKLOADS: &[Workload] = &[
    Workload { metrics: &[("block_on::ready", "call")], runtimes: &ALL, io: false, run: block_on_ready },
    Workload {
        metrics: &[("block_on::wake_from_thread", "round trip")],
        runtimes: &ALL,
        io: false,
        run: block_on_wake,
    },
    Workload {
        metrics: &[("spawn::many_20k", "20k tasks")],
        runtimes: &SPAWNERS,
        io: false,
        run: spawn_many,
    },
    Workload {
        metrics: &[("spawn::nested_100x200", "20k tasks")],
        runtimes: &SPAWNERS,
        io: false,
        run: spawn_nested,
    },
    Workload { metrics: &[("yield::200x1000", "200k yields")], runtimes: &SPAWNERS, io: false, run: yields },
    Workload {
        metrics: &[("ping_pong::1000", "1000 pairs")],
        runtimes: &SPAWNERS,
        io: false,
        run: ping_pong,
    },
    Workload {
        metrics: &[("chained_spawn::1000", "chain")],
        runtimes: &SPAWNERS,
        io: false,
        run: chained_spawn,
    },
    Workload { metrics: &[("channel::pair", "hop")], runtimes: &SPAWNERS, io: false, run: channel_pair },
    Workload { metrics: &[("channel::ring", "10k hops")], runtimes: &SPAWNERS, io: false, run: channel_ring },
    Workload {
        metrics: &[("web_server::300", "300 requests")],
        runtimes: &SPAWNERS,
        io: false,
        run: web_server,
    },
    Workload {
        metrics: &[("unblock::sequential_5000", "round trip")],
        runtimes: &REACTORS,
        io: true,
        run: unblock_sequential,
    },
    Workload {
        metrics: &[("unblock::concurrent_5000", "5000 calls")],
        runtimes: &REACTORS,
        io: true,
        run: unblock_concurrent,
    },
    Workload { metrics: &[("tcp::echo_1", "message")], runtimes: &REACTORS, io: true, run: echo_1 },
    Workload { metrics: &[("tcp::echo_64", "message")], runtimes: &REACTORS, io: true, run: echo_64 },
    // hyper's HTTP/1.1 server and client; amphi's side needs the `hyper` feature.
    Workload {
        metrics: &[("hyper::keep_alive_64", "request")],
        runtimes: &HYPER,
        io: true,
        run: hyper_keep_alive,
    },
    // A file read whole through each runtime's file API: amphi::fs, async-fs (smol), tokio::fs.
    Workload { metrics: &[("fs::read_64MiB", "file")], runtimes: &REACTORS, io: true, run: fs_read },
    // `true` run 1,000 times, 100 children at once: amphi::process, async-process, tokio::process.
    #[cfg(unix)]
    Workload {
        metrics: &[("process::true_1000", "child")],
        runtimes: &REACTORS,
        io: true,
        run: process_true,
    },
    Workload {
        metrics: &[("timer::10k", "10k timers (wall)"), ("timer::10k_lateness", "timer (mean)")],
        runtimes: &REACTORS,
        io: true,
        run: timer_10k,
    },
];

static QUICK: OnceLock<bool> = OnceLock::new();

/// `full`, or `quick` in a smoke run.
fn size(full: usize, quick: usize) -> usize {
    if *QUICK.get().expect("set in main") { quick } else { full }
}

/// Times `f` in ns.
fn timed(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_nanos() as f64
}

fn block_on_ready(rt: Rt) -> Vec<f64> {
    let n = size(1_000_000, 10_000);
    // The loop is monomorphised per runtime so that dispatch is not part of the figure.
    fn each(n: usize, block_on: impl Fn(std::future::Ready<usize>) -> usize) -> f64 {
        timed(|| {
            for i in 0..n {
                // `black_box` on the value, not on the 16-byte future: the future written by two
                // 8-byte stores and read back by one 16-byte load (as some inlined `block_on`s
                // copy it) stalls store forwarding, a cost of the harness, not of `block_on`.
                black_box(block_on(std::future::ready(black_box(i))));
            }
        }) / n as f64
    }
    let ns = match rt {
        Rt::Amphi => each(n, amphi::block_on),
        Rt::TokioMt | Rt::TokioCt => {
            let tokio = common::tokio_runtime(rt);
            each(n, |f| tokio.block_on(f))
        }
        Rt::Smol => each(n, async_io::block_on),
        Rt::Futures => each(n, futures::executor::block_on),
        Rt::Pollster => each(n, pollster::block_on),
    };
    vec![ns]
}

/// Set by the helper thread just before it wakes the waker it was sent.
static WOKEN: AtomicBool = AtomicBool::new(false);

/// A thread that wakes every waker sent to it.
fn waker_thread() -> mpsc::Sender<Waker> {
    static TX: OnceLock<Mutex<mpsc::Sender<Waker>>> = OnceLock::new();
    let tx = TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Waker>();
        std::thread::spawn(move || {
            for waker in rx {
                WOKEN.store(true, Ordering::Release);
                waker.wake();
            }
        });
        Mutex::new(tx)
    });
    tx.lock().unwrap().clone()
}

/// Pending until the helper thread wakes it: one cross-thread wake-up round trip.
struct WokenByThread<'a> {
    tx: &'a mpsc::Sender<Waker>,
    sent: bool,
}

impl Future for WokenByThread<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.sent {
            self.sent = true;
            WOKEN.store(false, Ordering::Relaxed);
            self.tx.send(cx.waker().clone()).unwrap();
            return Poll::Pending;
        }
        if WOKEN.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
    }
}

fn block_on_wake(rt: Rt) -> Vec<f64> {
    let n = size(5_000, 100);
    let tx = waker_thread();
    let ns = timed(|| {
        for _ in 0..n {
            rt.block_on(WokenByThread { tx: &tx, sent: false });
        }
    });
    vec![ns / n as f64]
}

fn spawn_many(rt: Rt) -> Vec<f64> {
    let n = size(20_000, 200);
    vec![timed(|| {
        rt.block_on(async move {
            let tasks: Vec<_> = (0..n).map(|_| rt.spawn(async {})).collect();
            for t in tasks {
                t.await;
            }
        })
    })]
}

fn spawn_nested(rt: Rt) -> Vec<f64> {
    let (outer, inner) = (size(100, 10), size(200, 20));
    vec![timed(|| {
        rt.block_on(async move {
            let tasks: Vec<_> = (0..outer)
                .map(|_| {
                    rt.spawn(async move {
                        let tasks: Vec<_> = (0..inner).map(|_| rt.spawn(async {})).collect();
                        for t in tasks {
                            t.await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        })
    })]
}

fn yields(rt: Rt) -> Vec<f64> {
    let (tasks, yields) = (size(200, 20), size(1000, 10));
    vec![timed(|| {
        rt.block_on(async move {
            let tasks: Vec<_> = (0..tasks)
                .map(|_| {
                    rt.spawn(async move {
                        for _ in 0..yields {
                            common::yield_now(rt).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
        })
    })]
}

/// Tokio's `ping_pong`: a task spawns `n` tasks, each spawns a partner and they exchange a
/// message each way over oneshot channels.
fn ping_pong(rt: Rt) -> Vec<f64> {
    let n = size(1000, 20);
    vec![timed(|| {
        rt.block_on(async move {
            let (done_tx, done_rx) = async_channel::bounded::<()>(1);
            let remaining = Arc::new(AtomicUsize::new(n));
            rt.detach(async move {
                for _ in 0..n {
                    let (remaining, done_tx) = (remaining.clone(), done_tx.clone());
                    rt.detach(async move {
                        let (tx1, rx1) = oneshot::channel::<()>();
                        let (tx2, rx2) = oneshot::channel::<()>();
                        rt.detach(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        });
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                            done_tx.try_send(()).unwrap();
                        }
                    });
                }
            });
            done_rx.recv().await.unwrap();
        })
    })]
}

/// Tokio's `chained_spawn`: each task spawns the next, `depth` deep.
fn chained_spawn(rt: Rt) -> Vec<f64> {
    fn link(rt: Rt, done: oneshot::Sender<()>, depth: usize) {
        if depth == 0 {
            done.send(()).unwrap();
        } else {
            rt.detach(async move { link(rt, done, depth - 1) });
        }
    }
    let depth = size(1000, 20);
    vec![timed(|| {
        rt.block_on(async move {
            let (tx, rx) = oneshot::channel();
            rt.detach(async move { link(rt, tx, depth) });
            rx.await.unwrap();
        })
    })]
}

/// Two tasks pass a counter back and forth over two `bounded(1)` channels: the cost of one hop,
/// a wake-up of one task by the other.
fn channel_pair(rt: Rt) -> Vec<f64> {
    let hops = size(100_000, 1000);
    let ns = timed(|| {
        rt.block_on(async move {
            let (to_b, from_a) = async_channel::bounded::<usize>(1);
            let (to_a, from_b) = async_channel::bounded::<usize>(1);
            let b = rt.spawn(async move {
                while let Ok(n) = from_a.recv().await {
                    if to_a.send(n + 1).await.is_err() {
                        break;
                    }
                }
            });
            let a = rt.spawn(async move {
                let mut n = 0;
                while n < hops {
                    to_b.send(n + 1).await.unwrap();
                    n = from_b.recv().await.unwrap();
                }
                n
            });
            assert_eq!(a.await, hops, "every hop arrived");
            b.await;
        })
    });
    vec![ns / hops as f64]
}

/// A ring of tasks joined by `bounded(1)` channels passes a token around until it has made
/// `hops` hops.
fn channel_ring(rt: Rt) -> Vec<f64> {
    let (tasks, hops) = (size(100, 10), size(10_000, 100));
    vec![timed(|| {
        rt.block_on(async move {
            let (first_tx, first_rx) = async_channel::bounded::<usize>(1);
            let mut rx = Some(first_rx);
            let mut handles = Vec::with_capacity(tasks);
            for i in 0..tasks {
                let my_rx = rx.take().unwrap();
                // The last task sends back to the first.
                let tx = if i + 1 == tasks {
                    first_tx.clone()
                } else {
                    let (tx, next_rx) = async_channel::bounded(1);
                    rx = Some(next_rx);
                    tx
                };
                handles.push(rt.spawn(async move {
                    while let Ok(left) = my_rx.recv().await {
                        if left == 0 || tx.send(left - 1).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            first_tx.send(hops).await.unwrap();
            drop(first_tx);
            for h in handles {
                h.await;
            }
        })
    })]
}

/// async-executor's `web_server`: one db task serves request tasks over channels; a round spawns
/// batches of `requests` tasks and awaits them.
fn web_server(rt: Rt) -> Vec<f64> {
    let (batches, requests) = (size(10, 1), size(300, 30));
    let ns = timed(|| {
        rt.block_on(async move {
            let (db_tx, db_rx) = async_channel::bounded::<async_channel::Sender<u32>>(requests / 5);
            let db = rt.spawn(async move {
                let mut value = 0x1234_5678u32;
                while let Ok(reply) = db_rx.recv().await {
                    reply.send(value).await.ok();
                    value = value.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                }
            });
            for _ in 0..batches {
                let tasks: Vec<_> = (0..requests)
                    .map(|_| {
                        let db_tx = db_tx.clone();
                        rt.spawn(async move {
                            let (tx, rx) = async_channel::bounded(1);
                            db_tx.send(tx).await.ok();
                            rx.recv().await.ok()
                        })
                    })
                    .collect();
                for t in tasks {
                    black_box(t.await);
                }
            }
            drop(db_tx);
            db.await;
        })
    });
    vec![ns / batches as f64]
}

fn unblock_sequential(rt: Rt) -> Vec<f64> {
    let n = size(5000, 50);
    let ns = timed(|| {
        rt.block_on(async move {
            for i in 0..n {
                black_box(rt.unblock(move || black_box(i)).await);
            }
        })
    });
    vec![ns / n as f64]
}

fn unblock_concurrent(rt: Rt) -> Vec<f64> {
    let n = size(5000, 50);
    vec![timed(|| {
        rt.block_on(async move {
            let tasks: Vec<_> = (0..n).map(|i| rt.unblock(move || black_box(i))).collect();
            for t in tasks {
                black_box(t.await);
            }
        })
    })]
}

fn echo_1(rt: Rt) -> Vec<f64> {
    let msgs = size(5000, 50);
    vec![rt.block_on(io::echo(rt, 1, msgs)) / msgs as f64]
}

fn echo_64(rt: Rt) -> Vec<f64> {
    let msgs = size(200, 5);
    vec![rt.block_on(io::echo(rt, 64, msgs)) / (64 * msgs) as f64]
}

/// The runtimes with a hyper server here: amphi (with the `hyper` feature) and Tokio's two.
#[cfg(feature = "hyper")]
const HYPER: [Rt; 3] = [Rt::Amphi, Rt::TokioMt, Rt::TokioCt];
#[cfg(not(feature = "hyper"))]
const HYPER: [Rt; 2] = [Rt::TokioMt, Rt::TokioCt];

/// 64 keep-alive connections to a hyper HTTP/1.1 server, requests one after the other on each.
fn hyper_keep_alive(rt: Rt) -> Vec<f64> {
    let (conns, reqs) = (64, size(50, 2));
    vec![rt.block_on(common::http::keep_alive(rt, conns, reqs)) / (conns * reqs) as f64]
}

/// A file of 64 MiB (1 MiB in quick mode) read whole through the runtime's file API into a
/// buffer of its size; every byte checked. The file is written once, so the page cache holds it.
fn fs_read(rt: Rt) -> Vec<f64> {
    static FILE: OnceLock<(std::path::PathBuf, usize)> = OnceLock::new();
    let (path, len) = FILE.get_or_init(|| {
        let len = size(64 << 20, 1 << 20);
        // Kept between runs (one file per size), written when missing.
        let path = std::env::temp_dir().join(format!("amphi-bench-fs-{len}"));
        if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(len as u64) {
            std::fs::write(&path, (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
        }
        (path, len)
    });
    let (path, len) = (path.clone(), *len);
    // The same read loop on every runtime, into a buffer allocated and touched beforehand: the
    // figure is the runtime's file reads, not a `read_to_end`'s growth policy (futures-lite's
    // zeroes the spare capacity, and grows a full buffer to see the end).
    let mut buf = vec![0; len + 1];
    macro_rules! read_all {
        ($file:expr) => {{
            let mut file = $file;
            let mut filled = 0;
            loop {
                let n = file.read(&mut buf[filled..]).await.unwrap();
                if n == 0 {
                    break filled;
                }
                filled += n;
            }
        }};
    }
    let mut filled = 0;
    let ns = timed(|| {
        filled = rt.block_on(async {
            use futures_lite::io::AsyncReadExt as _;
            match rt {
                Rt::Amphi => read_all!(amphi::fs::File::open(&path).await.unwrap()),
                Rt::Smol => read_all!(async_fs::File::open(&path).await.unwrap()),
                _ => {
                    use tokio::io::AsyncReadExt as _;
                    read_all!(tokio::fs::File::open(&path).await.unwrap())
                }
            }
        })
    });
    assert_eq!(filled, len, "the whole file");
    assert!(buf[..len].iter().enumerate().all(|(i, &b)| b == (i % 251) as u8), "every byte");
    vec![ns]
}

#[cfg(unix)]
fn process_true(rt: Rt) -> Vec<f64> {
    const WAVE: usize = 100;
    let waves = size(10, 1);
    let ns = timed(|| {
        rt.block_on(async {
            for _ in 0..waves {
                match rt {
                    Rt::Amphi => {
                        let mut children: Vec<_> = (0..WAVE)
                            .map(|_| amphi::process::Command::new("true").spawn().unwrap())
                            .collect();
                        for child in &mut children {
                            assert!(child.status().await.unwrap().success());
                        }
                    }
                    Rt::Smol => {
                        let mut children: Vec<_> =
                            (0..WAVE).map(|_| async_process::Command::new("true").spawn().unwrap()).collect();
                        for child in &mut children {
                            assert!(child.status().await.unwrap().success());
                        }
                    }
                    _ => {
                        let mut children: Vec<_> = (0..WAVE)
                            .map(|_| tokio::process::Command::new("true").spawn().unwrap())
                            .collect();
                        for child in &mut children {
                            assert!(child.wait().await.unwrap().success());
                        }
                    }
                }
            }
        })
    });
    vec![ns / (waves * WAVE) as f64]
}

fn timer_10k(rt: Rt) -> Vec<f64> {
    let (wall, late) = rt.block_on(io::timers(rt, size(10_000, 100)));
    vec![wall, late]
}

/// Per metric, per runtime (in `ALL` order): the samples.
type Samples = Vec<[Vec<f64>; ALL.len()]>;

fn index(rt: Rt) -> usize {
    ALL.iter().position(|&r| r == rt).unwrap()
}

fn measure(w: &Workload) -> Samples {
    let only = std::env::var("AMPHI_BENCH_RUNTIMES").ok();
    let runtimes: Vec<Rt> = w
        .runtimes
        .iter()
        .copied()
        .filter(|rt| !w.io || rt.has_io())
        .filter(|rt| only.as_deref().is_none_or(|o| o.split(',').any(|name| name == rt.name())))
        .collect();
    let mut samples: Samples = w.metrics.iter().map(|_| Default::default()).collect();
    // Warm-up round: threads, pools and caches; also sizes the round count.
    let warm = timed(|| {
        for &rt in &runtimes {
            (w.run)(rt);
        }
    });
    let rounds = if *QUICK.get().unwrap() {
        QUICK_ROUNDS
    } else {
        ((BUDGET.as_nanos() as f64 / warm.max(1.0)) as usize).clamp(MIN_ROUNDS, MAX_ROUNDS)
    };
    for round in 0..rounds {
        // Rotate the order so that no runtime always runs right after the same one.
        for k in 0..runtimes.len() {
            let rt = runtimes[(round + k) % runtimes.len()];
            for (m, figure) in (w.run)(rt).into_iter().enumerate() {
                samples[m][index(rt)].push(figure);
            }
        }
    }
    samples
}

fn main() {
    QUICK.set(common::quick()).unwrap();
    common::init();
    let filter = common::filter();
    println!(
        "amphi vs peers: {} worker threads each; {}",
        common::workers(),
        if *QUICK.get().unwrap() { "quick mode (tiny sizes, 2 rounds)" } else { "medians of 5–21 rounds" },
    );
    println!();
    let mut header = String::from("| workload | per |");
    for rt in ALL {
        header += &format!(" {} |", rt.name());
    }
    header += " fastest peer | amphi / fastest |";
    println!("{header}");
    println!("|{}", "---|".repeat(ALL.len() + 4));
    let mut worst: Option<(f64, &str)> = None;
    for w in WORKLOADS {
        if filter.as_deref().is_some_and(|f| !w.metrics.iter().any(|(name, _)| name.contains(f))) {
            continue;
        }
        let mut samples = measure(w);
        for (m, &(name, per)) in w.metrics.iter().enumerate() {
            let medians: Vec<f64> = samples[m].iter_mut().map(|s| common::median(s)).collect();
            let mut line = format!("| {name} | {per} |");
            for ns in &medians {
                line += &format!(" {} |", fmt_ns(*ns));
            }
            let fastest = ALL
                .iter()
                .zip(&medians)
                .filter(|(rt, ns)| **rt != Rt::Amphi && !ns.is_nan())
                .min_by(|a, b| a.1.total_cmp(b.1));
            let amphi = medians[index(Rt::Amphi)];
            match fastest {
                Some((rt, ns)) if !amphi.is_nan() => {
                    let ratio = amphi / ns;
                    line += &format!(" {} | {ratio:.2} |", rt.name());
                    if worst.is_none_or(|(r, _)| ratio > r) {
                        worst = Some((ratio, name));
                    }
                }
                Some((rt, _)) => line += &format!(" {} | — |", rt.name()),
                None => line += " — | — |",
            }
            println!("{line}");
        }
    }
    if let Some((ratio, name)) = worst {
        println!();
        println!("worst ratio: {ratio:.2} ({name}); the goal is ≤ 1.00 everywhere");
    }
}
