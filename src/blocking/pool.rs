//! The blocking pool's bookkeeping: the job queue, and how many threads live, sleep, or were
//! claimed to wake.
//!
//! [`Pool::schedule`] queues a job, then wakes a sleeper if there is one, or asks its caller for a
//! new thread while fewer than the bound live; otherwise the job waits for a busy thread. While
//! a claimed sleeper's token is not taken yet, it does neither: the thread that takes the token,
//! once it has a job and sees more queued, asks for the next one ([`Pool::next_job`]), so a burst
//! wakes the sleepers one after another, as long as work is left for them. Waking uses tokens
//! (`tokens.rs`): `schedule` claims a sleeper under the lock before it unparks it, and a thread
//! whose wait times out takes a pending token before it exits, so a time-out racing a schedule
//! never strands the job.
//! ```text
//!  busy ──queue empty──▶ sleeping ──token taken──▶ busy
//!                            └──time-out, no token──▶ exits (threads -= 1)
//! ```
//!
//! Threads and time are the caller's: it starts a thread when told to and hands
//! [`Pool::next_job`] what wakes a sleeper and [`Pool::wait_for_work`] the timed wait, so the
//! loom models (`tests/loom.rs`) run this file unchanged.

#![forbid(unsafe_code)]

use alloc::collections::VecDeque;

use crate::sync::Mutex;
use crate::sync::thread::Thread;
use crate::tokens::{self, Sleeper, Ticket, Tokens};

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

/// A queue of jobs `J` and the count of the threads that run them, whose sleepers are woken
/// through `S` (their `Thread`).
pub(crate) struct Pool<J, S = Thread> {
    ledger: Mutex<Ledger<J, S>>,
}

/// The jobs waiting and the counts of the pool's threads, under one lock.
#[derive(Debug)]
struct Ledger<J, S> {
    queue: VecDeque<J>,
    /// Live pool threads (including ones still starting).
    threads: usize,
    /// Threads waiting for work, and the claims on them.
    tokens: Tokens<S>,
    /// For names: `amphi-blocking-N`.
    next_id: usize,
}

/// What queued work needs from the thread that queued it (or took a job and left some).
enum Help<S> {
    /// Wake this claimed sleeper.
    Wake(S),
    /// Start thread number `id`, already counted.
    Start(usize),
    None,
}

impl<S: Sleeper> Help<S> {
    /// Wakes the sleeper, outside the lock; returns the thread to start, if any.
    fn give(self) -> Option<usize> {
        match self {
            Help::Wake(sleeper) => {
                sleeper.wake();
                None
            }
            Help::Start(id) => Some(id),
            Help::None => None,
        }
    }
}

impl<J, S: Sleeper> Ledger<J, S> {
    /// One more thread for the queued work: a sleeper claimed, else a new thread while fewer than
    /// `max_threads` live. None while a sleeper woken earlier has not taken its token yet: that
    /// one asks for the next once it has a job and sees more queued, so that a burst wakes the
    /// sleepers one after another as work is left for them, not one per job while the threads
    /// awake drain the queue.
    fn help(&mut self, max_threads: usize) -> Help<S> {
        if self.tokens.pending() {
            Help::None
        } else if let Some(sleeper) = self.tokens.claim() {
            Help::Wake(sleeper)
        } else if self.threads < max_threads {
            self.threads += 1;
            self.next_id += 1;
            Help::Start(self.next_id)
        } else {
            // Every thread is busy and the pool is full: the job waits its turn.
            Help::None
        }
    }

    const fn new() -> Self {
        Self { queue: VecDeque::new(), threads: 0, tokens: Tokens::new(), next_id: 0 }
    }
}

impl<J, S: Sleeper> Pool<J, S> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self { ledger: Mutex::new(Ledger::new()) }
    }

    /// loom's `Mutex::new` is not `const`.
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self { ledger: Mutex::new(Ledger::new()) }
    }

    /// Queues `job`; returns `Some(id)` if the caller must start thread number `id` for it, which
    /// is already counted (see [`not_started`](Self::not_started)).
    pub(crate) fn schedule(&self, job: J, max_threads: usize) -> Option<usize> {
        let help = self.ledger.with(|s| {
            s.queue.push_back(job);
            s.help(max_threads)
        });
        help.give()
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

    /// The next job for a pool thread, and `Some(id)` if the caller must start thread number
    /// `id` for the work still queued (see [`schedule`](Self::schedule)); with none, counts the
    /// calling thread as sleeping, woken by what `sleeper` gives, and it must then call
    /// [`wait_for_work`](Self::wait_for_work) with the ticket.
    pub(crate) fn next_job(
        &self,
        max_threads: usize,
        sleeper: impl FnOnce() -> S,
    ) -> Result<(J, Option<usize>), Ticket> {
        let (job, help) = self.ledger.with(|s| match s.queue.pop_front() {
            Some(job) => {
                let help = if s.queue.is_empty() { Help::None } else { s.help(max_threads) };
                Ok((job, help))
            }
            None => Err(s.tokens.sleep(sleeper())),
        })?;
        Ok((job, help.give()))
    }

    /// Waits as a sleeper; returns `false` when the thread should exit (it is already uncounted).
    ///
    /// `park` parks the thread until it is woken or its time-out, and returns `false` once the
    /// time-out has passed (`tokens::wait`).
    pub(crate) fn wait_for_work(&self, ticket: Ticket, park: impl FnMut() -> bool) -> bool {
        tokens::wait(&self.ledger, |l| &mut l.tokens, ticket, park, |l| l.threads -= 1)
    }
}
