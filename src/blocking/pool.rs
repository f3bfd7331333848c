//! The blocking pool's bookkeeping: the job queue, and how many threads live, sleep, or were
//! claimed to wake.
//!
//! [`Pool::schedule`] queues a job, then wakes a sleeper if there is one, or asks its caller for a
//! new thread while fewer than the bound live; otherwise the job waits for a busy thread. Waking
//! uses tokens (`tokens.rs`): `schedule` claims a sleeper under the lock before it notifies, and
//! a thread whose wait times out takes a pending token before it exits, so a time-out racing a
//! schedule never strands the job.
//! ```text
//!  busy ──queue empty──▶ sleeping ──token taken──▶ busy
//!                            └──time-out, no token──▶ exits (threads -= 1)
//! ```
//!
//! Threads and time are the caller's: it starts a thread when told to and hands
//! [`Pool::wait_for_work`] the timed wait, so the loom models (`tests/loom.rs`) run this file
//! unchanged.

#![forbid(unsafe_code)]

use alloc::collections::VecDeque;

use event_listener::EventListener;

use crate::sync::Mutex;
use crate::tokens::{TokenEvent, Tokens};

/// The pool's counts at one moment, for the runtime's metrics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolCounts {
    /// Threads alive.
    pub(crate) threads: usize,
    /// Threads waiting for work.
    pub(crate) sleeping: usize,
    /// Jobs waiting for a thread.
    pub(crate) queued: usize,
}

/// A queue of jobs `J` and the count of the threads that run them.
pub(crate) struct Pool<J> {
    ledger: Mutex<Ledger<J>>,
    wake: TokenEvent,
}

/// The jobs waiting and the counts of the pool's threads, under one lock.
#[derive(Debug)]
struct Ledger<J> {
    queue: VecDeque<J>,
    /// Live pool threads (including ones still starting).
    threads: usize,
    /// Threads waiting for work, and the claims on them.
    tokens: Tokens,
    /// For names: `amphi-blocking-N`.
    next_id: usize,
}

impl<J> Ledger<J> {
    const fn new() -> Self {
        Self { queue: VecDeque::new(), threads: 0, tokens: Tokens::new(), next_id: 0 }
    }
}

impl<J> Pool<J> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self { ledger: Mutex::new(Ledger::new()), wake: TokenEvent::new() }
    }

    /// loom's `Mutex::new` is not `const`.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self { ledger: Mutex::new(Ledger::new()), wake: TokenEvent::new() }
    }

    /// Queues `job`; returns `Some(id)` if the caller must start thread number `id` for it, which
    /// is already counted (see [`not_started`](Self::not_started)).
    pub(crate) fn schedule(&self, job: J, max_threads: usize) -> Option<usize> {
        let (notify, spawn) = self.ledger.with(|s| {
            s.queue.push_back(job);
            if s.tokens.claim() {
                (true, None)
            } else if s.threads < max_threads {
                s.threads += 1;
                s.next_id += 1;
                (false, Some(s.next_id))
            } else {
                // Every thread is busy and the pool is full: the job waits its turn.
                (false, None)
            }
        });
        if notify {
            self.wake.wake_claimed();
        }
        spawn
    }

    /// Threads alive, threads waiting for work, and jobs queued.
    pub(crate) fn counts(&self) -> PoolCounts {
        self.ledger.with(|l| PoolCounts {
            threads: l.threads,
            sleeping: l.tokens.sleeping(),
            queued: l.queue.len(),
        })
    }

    /// Uncounts a thread that could not be started; returns the jobs nobody else will run, which
    /// the caller runs rather than never.
    pub(crate) fn not_started(&self) -> VecDeque<J> {
        self.ledger.with(|s| {
            s.threads -= 1;
            if s.threads == 0 { core::mem::take(&mut s.queue) } else { VecDeque::new() }
        })
    }

    /// The next job for a pool thread; `None` counts the thread as sleeping, and it must then call
    /// [`wait_for_work`](Self::wait_for_work).
    pub(crate) fn next_job(&self) -> Option<J> {
        self.ledger.with(|s| {
            let job = s.queue.pop_front();
            if job.is_none() {
                s.tokens.sleep();
            }
            job
        })
    }

    /// Waits as a sleeper; returns `false` when the thread should exit (it is already uncounted).
    ///
    /// `wait` waits for the listener's notification, but not past the thread's time-out; it
    /// returns whether the notification came.
    pub(crate) fn wait_for_work(&self, wait: impl FnMut(EventListener) -> bool) -> bool {
        self.wake.wait(&self.ledger, |l| &mut l.tokens, wait, |l| l.threads -= 1)
    }
}
