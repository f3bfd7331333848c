//! How costs grow with size: spawn throughput at 1k–1M tasks, heap per idle task, TCP echo at
//! 1, 64 and 1024 connections, heap per idle connection — `amphi` with Tokio (multi-thread) and
//! smol alongside.
//!
//! ```text
//! cargo bench --bench growth            # ~1 minute on 2 cores
//! AMPHI_BENCH_QUICK=1 cargo bench --bench growth
//! ```
//!
//! Memory figures come from a counting global allocator in this binary: heap bytes live after
//! minus before, divided by the count, for two passes in a row (the first also pays for growing
//! executor slabs and reactor tables, unless an earlier section already grew them). They leave
//! out the kernel's memory (socket buffers, epoll entries). RSS deltas were tried and read 0:
//! memory freed by earlier sections is reused.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Join, Rt, fmt_ns, io};

struct Counting;

/// Bytes currently allocated through the global allocator.
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only adds
// bookkeeping on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The runtimes compared here: `amphi` and the fastest multi-threaded peers.
const RUNTIMES: [Rt; 3] = [Rt::Amphi, Rt::TokioMt, Rt::Smol];

fn quick() -> bool {
    common::quick()
}

fn header(first: &str, per: &str) {
    let mut h = format!("| {first} | {per} |");
    for rt in RUNTIMES {
        h += &format!(" {} |", rt.name());
    }
    println!("{h} amphi / fastest |");
    println!("|{}", "---|".repeat(RUNTIMES.len() + 3));
}

fn row(first: &str, per: &str, figures: &[f64], fmt: impl Fn(f64) -> String) {
    let mut line = format!("| {first} | {per} |");
    for f in figures {
        line += &format!(" {} |", fmt(*f));
    }
    let best = figures[1..].iter().copied().filter(|f| !f.is_nan()).fold(f64::INFINITY, f64::min);
    if figures[0].is_nan() || !best.is_finite() {
        line += " — |";
    } else {
        line += &format!(" {:.2} |", figures[0] / best);
    }
    println!("{line}");
}

/// Spawns `n` trivial tasks from `block_on` and awaits them; ns per task.
fn spawn_throughput(rt: Rt, n: usize) -> f64 {
    let start = Instant::now();
    rt.block_on(async move {
        let mut tasks = Vec::with_capacity(n);
        tasks.extend((0..n).map(|_| rt.spawn(async {})));
        for t in tasks {
            t.await;
        }
    });
    start.elapsed().as_nanos() as f64 / n as f64
}

fn spawn_growth() {
    println!("## Spawn throughput (spawn n trivial tasks from `block_on`, await them all)");
    println!();
    header("tasks", "per task");
    let sizes: &[usize] = if quick() { &[1_000, 10_000] } else { &[1_000, 10_000, 100_000, 1_000_000] };
    for &n in sizes {
        let rounds = if quick() {
            1
        } else if n >= 1_000_000 {
            3
        } else {
            7
        };
        let mut samples = vec![Vec::new(); RUNTIMES.len()];
        for round in 0..=rounds {
            for k in 0..RUNTIMES.len() {
                let i = (round + k) % RUNTIMES.len();
                let ns = spawn_throughput(RUNTIMES[i], n);
                // Round 0 warms up.
                if round > 0 {
                    samples[i].push(ns);
                }
            }
        }
        let medians: Vec<f64> = samples.iter_mut().map(|s| common::median(s)).collect();
        row(&format!("{n}"), "per task", &medians, fmt_ns);
    }
    println!();
}

static STARTED: AtomicUsize = AtomicUsize::new(0);

/// Heap bytes per task parked forever on `pending()`, after each has been polled once.
fn idle_task_bytes(rt: Rt, n: usize) -> f64 {
    STARTED.store(0, Ordering::Release);
    let mut tasks: Vec<Join<()>> = Vec::with_capacity(n);
    let heap0 = live();
    rt.block_on(async {
        tasks.extend((0..n).map(|_| {
            rt.spawn(async {
                STARTED.fetch_add(1, Ordering::AcqRel);
                std::future::pending::<()>().await
            })
        }));
    });
    while STARTED.load(Ordering::Acquire) < n {
        std::thread::sleep(Duration::from_millis(1));
    }
    let heap = (live() - heap0) as f64 / n as f64;
    for t in tasks {
        t.cancel();
    }
    // Let the executors drop the cancelled futures before the next measurement.
    std::thread::sleep(Duration::from_millis(100));
    heap
}

fn bytes(b: f64) -> String {
    if b.is_nan() { "—".to_string() } else { format!("{b:.0} B") }
}

fn idle_tasks() {
    let n = if quick() { 1_000 } else { 100_000 };
    println!("## Memory per idle task ({n} tasks waiting forever, each polled once)");
    println!();
    header("heap", "per task");
    let mut first = Vec::new();
    let mut second = Vec::new();
    for rt in RUNTIMES {
        first.push(idle_task_bytes(rt, n));
        second.push(idle_task_bytes(rt, n));
    }
    row("pass 1", "per task", &first, bytes);
    row("pass 2", "per task", &second, bytes);
    println!();
    println!("The caller's `Vec` of handles is allocated before the baseline and not counted.");
    println!();
}

fn echo_growth() {
    println!("## TCP echo, 64-byte messages over 127.0.0.1 (server task per connection)");
    println!();
    header("connections", "per message");
    let limit = common::open_files_limit().unwrap_or(1024);
    let conns_list: &[usize] = if quick() { &[1, 64] } else { &[1, 64, 1024] };
    for &conns in conns_list {
        // Both ends of every connection live in this process, plus listeners and the runtimes.
        if (2 * conns + 256) as u64 > limit {
            println!(
                "| {conns} | skipped: needs ~{} open files, the limit is {limit} (raise it with `ulimit -n`) |",
                2 * conns + 256
            );
            continue;
        }
        let total = if quick() { 640 } else { 10_240 };
        let msgs = (total / conns).max(10);
        let rounds = if quick() { 1 } else { 5 };
        let mut samples = vec![Vec::new(); RUNTIMES.len()];
        for round in 0..=rounds {
            for k in 0..RUNTIMES.len() {
                let i = (round + k) % RUNTIMES.len();
                let rt = RUNTIMES[i];
                if !rt.has_io() {
                    continue;
                }
                let ns = rt.block_on(io::echo(rt, conns, msgs)) / (conns * msgs) as f64;
                if round > 0 {
                    samples[i].push(ns);
                }
            }
        }
        let medians: Vec<f64> = samples.iter_mut().map(|s| common::median(s)).collect();
        row(&format!("{conns} × {msgs} msgs"), "per message", &medians, fmt_ns);
    }
    println!();
}

static WAITING: AtomicUsize = AtomicUsize::new(0);

fn idle_connections() {
    let n = if quick() { 50 } else { 1000 };
    println!("## Memory per idle connection ({n} accepted sockets, a task waiting in `read` on each)");
    println!();
    header("heap", "per connection");
    let mut first = Vec::new();
    let mut second = Vec::new();
    for rt in RUNTIMES {
        if !rt.has_io() {
            first.push(f64::NAN);
            second.push(f64::NAN);
            continue;
        }
        let measure = || {
            let heap0 = live();
            let heap = rt.block_on(io::idle_conns(rt, n, &WAITING, live));
            (heap - heap0) as f64 / n as f64
        };
        first.push(measure());
        second.push(measure());
    }
    row("pass 1", "per connection", &first, bytes);
    row("pass 2", "per connection", &second, bytes);
    println!();
    println!(
        "Clients are plain blocking sockets on a helper thread (their `Vec`, 4 B per connection, is \
         counted); kernel socket memory is not."
    );
    println!();
}

fn main() {
    common::init();
    let filter = common::filter();
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    println!("growth: {} worker threads each", common::workers());
    println!();
    if wanted("spawn") {
        spawn_growth();
    }
    if wanted("idle_task") {
        idle_tasks();
    }
    if wanted("echo") {
        echo_growth();
    }
    if wanted("idle_conn") {
        idle_connections();
    }
}
