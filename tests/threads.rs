//! Which threads exist: none for `block_on` alone; `AMPHI_THREADS` named workers after `spawn`;
//! the `Builder`; bad configuration.

mod common;

use std::time::Duration;

use amphi::{block_on, spawn};
use common::{
    eventually, in_child, in_child_failing, is_child, most_threads_named_during, thread_names, threads_named,
};

fn child_or_run(name: &str, env: &[(&str, &str)]) -> bool {
    if is_child() {
        return true;
    }
    in_child(name, env);
    false
}

/// Runs `n` tasks that can only finish together (a barrier of `n`), which proves `n` workers run
/// at once; returns their thread names, sorted.
fn names_of_concurrent_workers(n: usize) -> Vec<String> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let b = barrier.clone();
            spawn(async move {
                b.wait();
                std::thread::current().name().map(str::to_string)
            })
        })
        .collect();
    let mut names: Vec<String> = tasks.into_iter().map(|t| block_on(t).unwrap()).collect();
    names.sort();
    names
}

#[test]
fn block_on_only_program_starts_no_thread() {
    if !child_or_run("block_on_only_program_starts_no_thread", &[]) {
        return;
    }
    // With the `tokio` feature the first `block_on` starts the shared Tokio runtime's one thread,
    // by design; beyond it, nothing.
    if cfg!(feature = "tokio") {
        block_on(async {});
        // The new thread names itself once it runs.
        assert!(common::eventually(std::time::Duration::from_secs(5), || threads_named("amphi-tokio") == 1));
    }
    let before = thread_names();
    let v = block_on(async {
        let mut n = 0;
        for i in 0..1000 {
            amphi::yield_now().await;
            n += block_on(async move { i });
        }
        n
    });
    let d = amphi::dual(async { 1 }).wait();
    assert_eq!(v + d, (0..1000).sum::<i32>() + 1);
    assert_eq!(thread_names(), before, "block_on must not start threads");
}

#[test]
fn workers_start_on_first_spawn_with_configured_count_and_names() {
    if !child_or_run(
        "workers_start_on_first_spawn_with_configured_count_and_names",
        &[("AMPHI_THREADS", "3")],
    ) {
        return;
    }
    assert_eq!(threads_named("amphi-worker"), 0, "nothing before the first spawn");
    assert_eq!(names_of_concurrent_workers(3), ["amphi-worker-1", "amphi-worker-2", "amphi-worker-3"]);
    // A thread names itself once it runs, so give the count a moment; then never more than
    // three, under a burst of work.
    assert!(
        eventually(Duration::from_secs(5), || threads_named("amphi-worker") == 3),
        "{:?}",
        thread_names()
    );
    assert_eq!(most_threads_named_during("amphi-worker", burst), 3, "{:?}", thread_names());
}

/// Work for every worker for a while: tasks that spawn tasks and block their thread briefly.
fn burst() {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            spawn(async move {
                let inner: Vec<_> = (0..5).map(|j| spawn(async move { i * j })).collect();
                std::thread::sleep(Duration::from_micros(200));
                let mut sum = 0;
                for t in inner {
                    sum += t.await;
                }
                sum
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(block_on(t), i * 10);
    }
}

#[test]
fn builder_sets_workers_and_names_and_refuses_a_second_install() {
    if !child_or_run("builder_sets_workers_and_names_and_refuses_a_second_install", &[("AMPHI_THREADS", "7")])
    {
        return;
    }
    amphi::Builder::new().worker_threads(2).thread_name("svc").install().unwrap();
    let err = amphi::Builder::new().worker_threads(5).install().unwrap_err();
    assert!(err.to_string().contains("already configured"), "{err}");
    // Named after the Builder's prefix.
    assert_eq!(names_of_concurrent_workers(2), ["svc-worker-1", "svc-worker-2"]);
    // A thread names itself once it runs, so give the count a moment; then never more than two,
    // under a burst of work.
    assert!(eventually(Duration::from_secs(5), || threads_named("svc-worker") == 2), "{:?}", thread_names());
    assert_eq!(most_threads_named_during("svc-worker", burst), 2, "{:?}", thread_names());
}

#[test]
fn install_after_first_use_is_an_error() {
    if !child_or_run("install_after_first_use_is_an_error", &[]) {
        return;
    }
    block_on(spawn(async {}));
    assert!(amphi::Builder::new().worker_threads(1).install().is_err());
}

#[test]
fn bad_amphi_threads_is_a_clear_panic() {
    if is_child() {
        spawn(async {}).detach();
        return;
    }
    let out = in_child_failing("bad_amphi_threads_is_a_clear_panic", &[("AMPHI_THREADS", "lots")]);
    assert!(out.contains("AMPHI_THREADS must be an integer from 0 to 4096, got \"lots\""), "{out}");
}

#[test]
fn a_worker_count_no_machine_runs_is_a_clear_panic_before_any_thread_starts() {
    if is_child() {
        let before = thread_names().len();
        let spawned = std::panic::catch_unwind(|| spawn(async {}).detach());
        // Refused before a single worker started (a typo of a few digits once started threads
        // until memory ran out). Printed for the parent, which sees the child's output only: the
        // child fails either way.
        println!("threads started by the refusal: {}", thread_names().len().saturating_sub(before));
        std::panic::resume_unwind(spawned.unwrap_err());
    }
    let out = in_child_failing(
        "a_worker_count_no_machine_runs_is_a_clear_panic_before_any_thread_starts",
        &[("AMPHI_THREADS", "99999999999")],
    );
    assert!(out.contains("threads started by the refusal: 0\n"), "{out}");
    assert!(out.contains("AMPHI_THREADS must be an integer from 0 to 4096, got \"99999999999\""), "{out}");
}

#[test]
fn a_blocking_pool_bound_out_of_range_is_a_clear_panic() {
    if is_child() {
        amphi::block_on(amphi::unblock(|| ()));
        return;
    }
    for bad in ["0", "20000"] {
        let out = in_child_failing(
            "a_blocking_pool_bound_out_of_range_is_a_clear_panic",
            &[("AMPHI_MAX_BLOCKING_THREADS", bad)],
        );
        let expected =
            format!("AMPHI_MAX_BLOCKING_THREADS must be an integer from 1 to 10000, got \"{bad}\"");
        assert!(out.contains(&expected), "{out}");
    }
}

#[test]
fn builder_counts_out_of_range_are_refused_and_leave_the_runtime_unconfigured() {
    if !child_or_run("builder_counts_out_of_range_are_refused_and_leave_the_runtime_unconfigured", &[]) {
        return;
    }
    let err = amphi::Builder::new().worker_threads(100_000).install().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Builder::worker_threads(100000) is out of range: it must be an integer from 0 to 4096"
    );
    let err = amphi::Builder::new().max_blocking_threads(0).install().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Builder::max_blocking_threads(0) is out of range: it must be an integer from 1 to 10000"
    );
    // Nothing was installed: a good configuration still can be.
    amphi::Builder::new().worker_threads(4096).max_blocking_threads(10_000).install().unwrap();
}

#[test]
fn handed_off_workers_retire_after_idle() {
    if !child_or_run("handed_off_workers_retire_after_idle", &[("AMPHI_THREADS", "1")]) {
        return;
    }
    // Eight tasks at once block on siblings: each hand-off recruits a worker.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let gate = gate.clone();
            spawn(async move {
                let sibling = spawn(async move {
                    let _ = gate.lock().unwrap().recv();
                });
                block_on(sibling);
            })
        })
        .collect();
    // Wait until the pool has grown, then release the siblings one by one.
    assert!(eventually(Duration::from_secs(10), || threads_named("amphi-worker") >= 2));
    for _ in 0..8 {
        tx.send(()).unwrap();
    }
    for t in tasks {
        block_on(t);
    }
    let peak = threads_named("amphi-worker");
    assert!(peak >= 2, "hand-off recruited workers: {peak}");
    // Spares exit after about two seconds unused; one worker stays on duty.
    assert!(
        eventually(Duration::from_secs(10), || threads_named("amphi-worker") == 1),
        "workers left: {:?}",
        thread_names()
    );
    assert_eq!(block_on(spawn(async { 1 })), 1);
}

#[test]
fn bad_amphi_poller_is_a_clear_panic() {
    if is_child() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        drop(amphi::Async::new(socket));
        return;
    }
    let out = in_child_failing("bad_amphi_poller_is_a_clear_panic", &[("AMPHI_POLLER", "kqueue")]);
    assert!(out.contains("AMPHI_POLLER must be `epoll` or `polling`, got \"kqueue\""), "{out}");
}

/// Nested `block_on`s in global tasks one after another: each hands its worker's duty off, the
/// first to a new worker, every later one to the spare the one before left (a spare waits about
/// two seconds to be recalled): the workers never number more than the target and the one
/// waiting (3 here, measured on every run), plus one should a hand-off come before the worker
/// over target stepped back (allowed, not seen). Recalling the spare and starting a thread as
/// well would add a worker a round.
#[test]
fn nested_block_ons_one_after_another_recall_the_spare() {
    if !child_or_run("nested_block_ons_one_after_another_recall_the_spare", &[("AMPHI_THREADS", "2")]) {
        return;
    }
    assert_eq!(block_on(spawn(async { 1 })), 1);
    let most = most_threads_named_during("amphi-worker", || {
        for _ in 0..20 {
            block_on(spawn(async { block_on(amphi::Timer::after(Duration::from_millis(2))) }));
            // Time for the worker over target to step back as a spare.
            std::thread::sleep(Duration::from_millis(30));
        }
    });
    println!("at most {most} workers for one nested block_on at a time");
    assert!(most <= 4, "{most} workers for one nested block_on at a time: {:?}", thread_names());
}
