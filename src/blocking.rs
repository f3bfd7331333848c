//! `unblock`: the blocking pool, for sync code called from async code.
//!
//! Threads (`ambi-blocking-N`) start when work arrives and no thread is idle, up to
//! `max_blocking_threads`; beyond that, work queues. A thread idle for [`IDLE`] exits, so a burst
//! leaves no threads behind.
//!
//! Waking idle threads uses the token scheme of the global runtime's spares: `schedule` claims
//! a sleeper (`sleeping -= 1`, `tokens += 1`) before notifying, so a thread that times out at the
//! same moment can tell whether it was claimed and must stay.

#![forbid(unsafe_code)]

use alloc::collections::VecDeque;
use core::time::Duration;
use std::time::Instant;

use async_task::Runnable;
use event_listener::{Event, IntoNotification, Listener};

use crate::sync::Mutex;
use crate::task::Task;

/// How long a pool thread waits for work before it exits.
const IDLE: Duration = Duration::from_secs(1);

static POOL: Pool = Pool::new();

/// Runs blocking code on the blocking pool and returns a [`Task`] for its result.
///
/// The closure runs on a thread named `ambi-blocking-N` (the prefix follows
/// [`Builder::thread_name`](crate::Builder::thread_name)). The pool holds at most
/// `AMBI_MAX_BLOCKING_THREADS` (or [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads))
/// threads; more work waits in a queue. Threads start on demand and exit after about a second
/// without work.
///
/// Dropping the `Task` before the closure starts cancels it: the closure never runs. A panic in
/// the closure resumes where the `Task` is awaited.
///
/// # Panics
///
/// On first use of the runtime, if `AMBI_MAX_BLOCKING_THREADS` or `AMBI_THREADS` is set to
/// something other than a non-negative integer.
///
/// # Examples
///
/// ```
/// let contents = ambi::block_on(ambi::unblock(|| std::fs::read_to_string("Cargo.toml")));
/// assert!(contents.unwrap().contains("[package]"));
/// ```
pub fn unblock<T, F>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let future = async move { f() };
    let (runnable, task) = async_task::Builder::new().propagate_panic(true).spawn(|()| future, schedule);
    runnable.schedule();
    Task::new(task)
}

fn schedule(runnable: Runnable) {
    POOL.schedule(runnable);
}

struct Pool {
    state: Mutex<State>,
    wake: Event,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Runnable>,
    /// Live pool threads (including ones still starting).
    threads: usize,
    /// Threads waiting for work that nobody has claimed yet.
    sleeping: usize,
    /// Claims on sleepers not yet taken up.
    tokens: usize,
    /// For names: `ambi-blocking-N`.
    next_id: usize,
}

enum Action {
    Nothing,
    Notify,
    Spawn(usize),
}

impl Pool {
    const fn new() -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                sleeping: 0,
                tokens: 0,
                next_id: 0,
            }),
            wake: Event::new(),
        }
    }

    fn schedule(&'static self, runnable: Runnable) {
        let max = crate::global::config().max_blocking_threads.max(1);
        let action = self.state.with(|s| {
            s.queue.push_back(runnable);
            if s.sleeping > 0 {
                s.sleeping -= 1;
                s.tokens += 1;
                Action::Notify
            } else if s.threads < max {
                s.threads += 1;
                s.next_id += 1;
                Action::Spawn(s.next_id)
            } else {
                // Every thread is busy and the pool is full: the work waits its turn.
                Action::Nothing
            }
        });
        match action {
            Action::Nothing => {}
            Action::Notify => {
                self.wake.notify(1.additional());
            }
            Action::Spawn(id) => self.spawn_thread(id),
        }
    }

    fn spawn_thread(&'static self, id: usize) {
        let name = std::format!("{}-blocking-{id}", crate::global::config().thread_name);
        if std::thread::Builder::new().name(name).spawn(move || self.main()).is_ok() {
            return;
        }
        // No new thread: the queued work waits for an existing one, or, if there is none, runs
        // here rather than never.
        let orphans = self.state.with(|s| {
            s.threads -= 1;
            if s.threads == 0 { core::mem::take(&mut s.queue) } else { VecDeque::new() }
        });
        for runnable in orphans {
            runnable.run();
        }
    }

    fn main(&'static self) {
        loop {
            let job = self.state.with(|s| {
                let job = s.queue.pop_front();
                if job.is_none() {
                    s.sleeping += 1;
                }
                job
            });
            match job {
                Some(runnable) => {
                    runnable.run();
                }
                None => {
                    if !self.wait_for_work() {
                        return;
                    }
                }
            }
        }
    }

    /// Waits as a sleeper; returns `false` when the thread should exit (it is already uncounted).
    fn wait_for_work(&self) -> bool {
        let take = |s: &mut State| {
            if s.tokens > 0 {
                s.tokens -= 1;
                true
            } else {
                false
            }
        };
        let deadline = Instant::now() + IDLE;
        loop {
            let listener = self.wake.listen();
            if self.state.with(take) {
                return true;
            }
            if listener.wait_deadline(deadline).is_none() {
                return self.state.with(|s| {
                    take(s) || {
                        s.sleeping -= 1;
                        s.threads -= 1;
                        false
                    }
                });
            }
        }
    }
}
