//! The global runtime: `spawn`, worker threads, `Builder` and the environment variables.
//!
//! Nothing starts until the first `spawn`: then `worker_threads` threads named
//! `ambi-worker-N` run the global executor. With zero workers, tasks run inside `block_on` calls.
//!
//! Hand-off: a task that calls `block_on` on a worker thread takes that worker off duty for the
//! length of the call. Before it blocks, a replacement is recruited (an idle spare thread, or a new
//! one), so the executor always has `worker_threads` threads on duty and a task waiting on a
//! sibling completes even with one worker. When the call returns, the thread is back on duty and
//! the pool is one over: the first worker to notice steps back and becomes a spare, which exits
//! after [`SPARE_IDLE`] without being recalled.

use alloc::fmt;
use alloc::string::{String, ToString};
use core::future::Future;
use core::time::Duration;
use std::sync::OnceLock;
use std::time::Instant;

use event_listener::{Event, Listener};

use crate::executor::{Executor, State};
use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering};
use crate::task::Task;

/// How long a spare worker waits to be recalled before its thread exits.
const SPARE_IDLE: Duration = Duration::from_secs(2);

static GLOBAL: Executor<'static> = Executor::new();
static CONFIG: OnceLock<Config> = OnceLock::new();
static POOL: Pool = Pool::new();

std::thread_local! {
    /// Whether this thread is a global worker currently on duty.
    static ON_DUTY: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// The runtime's settings, fixed at first use.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) worker_threads: usize,
    pub(crate) max_blocking_threads: usize,
    pub(crate) thread_name: String,
}

impl Config {
    fn from_env() -> Self {
        Self {
            worker_threads: env_usize("AMBI_THREADS").unwrap_or_else(default_workers),
            max_blocking_threads: env_usize("AMBI_MAX_BLOCKING_THREADS").unwrap_or(DEFAULT_MAX_BLOCKING),
            thread_name: "ambi".to_string(),
        }
    }
}

const DEFAULT_MAX_BLOCKING: usize = 64;

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads a count from the environment.
///
/// # Panics
///
/// If the variable is set but is not a non-negative integer: a typo must not silently become the
/// default.
fn env_usize(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name} must be a non-negative integer, got {value:?}"),
    }
}

/// The runtime's settings, read from the environment on first use unless a [`Builder`] installed
/// them before.
pub(crate) fn config() -> &'static Config {
    CONFIG.get_or_init(Config::from_env)
}

/// Spawns a task on the global executor.
///
/// The first call starts the worker threads (`AMBI_THREADS`, or [`Builder::worker_threads`];
/// default: the number of cores). With zero workers, tasks run inside [`block_on`](crate::block_on)
/// calls on any thread.
///
/// # Panics
///
/// On first use, if `AMBI_THREADS` or `AMBI_MAX_BLOCKING_THREADS` is set to something other than
/// a non-negative integer.
///
/// # Examples
///
/// ```
/// let task = ambi::spawn(async { 1 + 1 });
/// assert_eq!(ambi::block_on(task), 2);
/// ```
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    POOL.start();
    GLOBAL.spawn(future)
}

/// The global executor's state if `block_on` must run its tasks: there are no worker threads.
pub(crate) fn runs_in_block_on() -> Option<&'static State> {
    if POOL.in_block_on.load(Ordering::Relaxed) { Some(GLOBAL.state()) } else { None }
}

/// Whether `state` is the global executor's.
pub(crate) fn is_global(state: *const State) -> bool {
    core::ptr::eq(state, GLOBAL.state())
}

/// If this thread is an on-duty global worker, takes it off duty until the guard drops,
/// recruiting a replacement first.
pub(crate) fn hand_off_if_on_duty() -> Option<impl Drop> {
    struct BackOnDuty;
    impl Drop for BackOnDuty {
        fn drop(&mut self) {
            ON_DUTY.with(|d| d.set(true));
            // One over target now; `Pool::should_retire` lets some worker step back.
            POOL.on_duty.fetch_add(1, Ordering::AcqRel);
        }
    }
    if !ON_DUTY.with(|d| d.replace(false)) {
        return None;
    }
    POOL.on_duty.fetch_sub(1, Ordering::AcqRel);
    POOL.recruit();
    Some(BackOnDuty)
}

/// The worker threads.
struct Pool {
    started: AtomicBool,
    /// Set when tasks must run inside `block_on`: zero workers, or no thread could be started.
    in_block_on: AtomicBool,
    /// Worker threads on duty (including recruits whose thread is still starting).
    on_duty: AtomicUsize,
    /// For names: `ambi-worker-N`.
    next_id: AtomicUsize,
    spares: Mutex<Spares>,
    recall: Event,
}

#[derive(Debug)]
struct Spares {
    idle: usize,
    recalls: usize,
}

impl Pool {
    const fn new() -> Self {
        Self {
            started: AtomicBool::new(false),
            in_block_on: AtomicBool::new(false),
            on_duty: AtomicUsize::new(0),
            next_id: AtomicUsize::new(0),
            spares: Mutex::new(Spares { idle: 0, recalls: 0 }),
            recall: Event::new(),
        }
    }

    fn start(&self) {
        if self.started.load(Ordering::Acquire) || self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let target = config().worker_threads;
        if target == 0 {
            self.in_block_on.store(true, Ordering::Release);
        }
        for _ in 0..target {
            self.on_duty.fetch_add(1, Ordering::AcqRel);
            self.spawn_thread();
        }
    }

    /// Puts one more worker on duty: recalls a spare, or starts a thread.
    fn recruit(&self) {
        self.on_duty.fetch_add(1, Ordering::AcqRel);
        let recalled = self.spares.with(|s| {
            if s.idle > 0 {
                s.idle -= 1;
                s.recalls += 1;
                true
            } else {
                false
            }
        });
        if recalled {
            self.recall.notify(1);
        } else {
            self.spawn_thread();
        }
    }

    fn spawn_thread(&self) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let name = std::format!("{}-worker-{id}", config().thread_name);
        if std::thread::Builder::new().name(name).spawn(worker_main).is_err() {
            // No thread: the duty falls to `block_on` callers rather than nobody.
            self.on_duty.fetch_sub(1, Ordering::AcqRel);
            self.in_block_on.store(true, Ordering::Release);
        }
    }

    /// Takes one worker off duty if more than the target are on duty.
    fn should_retire(&self) -> bool {
        let target = config().worker_threads;
        self.on_duty
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n > target).then(|| n - 1))
            .is_ok()
    }

    /// Waits as a spare; returns `true` if recalled to duty (already counted by `recruit`).
    fn wait_as_spare(&self) -> bool {
        self.spares.with(|s| s.idle += 1);
        let deadline = Instant::now() + SPARE_IDLE;
        let take = |s: &mut Spares| {
            if s.recalls > 0 {
                s.recalls -= 1;
                true
            } else {
                false
            }
        };
        loop {
            let listener = self.recall.listen();
            if self.spares.with(take) {
                return true;
            }
            if listener.wait_deadline(deadline).is_none() {
                return self.spares.with(|s| {
                    take(s) || {
                        s.idle -= 1;
                        false
                    }
                });
            }
        }
    }
}

fn worker_main() {
    loop {
        ON_DUTY.with(|d| d.set(true));
        let retire = futures_lite::future::poll_fn(|_| {
            if POOL.should_retire() { core::task::Poll::Ready(()) } else { core::task::Poll::Pending }
        });
        crate::block_on::run_worker(GLOBAL.run(retire));
        ON_DUTY.with(|d| d.set(false));
        if !POOL.wait_as_spare() {
            return;
        }
    }
}

/// Configures the global runtime before its first use.
///
/// # Examples
///
/// ```standalone_crate
/// ambi::Builder::new().worker_threads(2).max_blocking_threads(8).install().unwrap();
/// // A second install is an error, never silently ignored:
/// assert!(ambi::Builder::new().worker_threads(4).install().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    worker_threads: Option<usize>,
    max_blocking_threads: Option<usize>,
    thread_name: Option<String>,
}

impl Builder {
    /// A builder with the defaults (which still read `AMBI_THREADS` and
    /// `AMBI_MAX_BLOCKING_THREADS` for anything not set here).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = ambi::Builder::new();
    /// # drop(builder);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of worker threads for [`spawn`]; `0` runs tasks inside `block_on` calls.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = ambi::Builder::new().worker_threads(0);
    /// # drop(builder);
    /// ```
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = Some(n);
        self
    }

    /// Upper bound on threads of the blocking pool used by `unblock`.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = ambi::Builder::new().max_blocking_threads(4);
    /// # drop(builder);
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = Some(n);
        self
    }

    /// Prefix of the runtime's thread names (`{name}-worker-N`, `{name}-blocking-N`); default
    /// `ambi`.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = ambi::Builder::new().thread_name("myapp");
    /// # drop(builder);
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = Some(name.into());
        self
    }

    /// Installs this configuration for the global runtime.
    ///
    /// # Errors
    ///
    /// [`BuilderError`] if the runtime is already configured: by an earlier `install`, or by its
    /// first use (`spawn`, `unblock`, the reactor), which fixes the configuration.
    ///
    /// # Examples
    ///
    /// ```standalone_crate
    /// ambi::Builder::new().worker_threads(1).install().expect("first install");
    /// let err = ambi::Builder::new().install().unwrap_err();
    /// println!("{err}");
    /// ```
    pub fn install(self) -> Result<(), BuilderError> {
        let mut config = Some(self);
        CONFIG.get_or_init(|| {
            let b = config.take().expect("init runs once");
            // A variable the builder overrides is not read, so a bad one there cannot panic.
            Config {
                worker_threads: b
                    .worker_threads
                    .unwrap_or_else(|| env_usize("AMBI_THREADS").unwrap_or_else(default_workers)),
                max_blocking_threads: b.max_blocking_threads.unwrap_or_else(|| {
                    env_usize("AMBI_MAX_BLOCKING_THREADS").unwrap_or(DEFAULT_MAX_BLOCKING)
                }),
                thread_name: b.thread_name.unwrap_or_else(|| "ambi".to_string()),
            }
        });
        if config.is_none() { Ok(()) } else { Err(BuilderError { _private: () }) }
    }
}

/// The error of [`Builder::install`]: the global runtime was already configured.
///
/// # Examples
///
/// ```
/// let _ = ambi::spawn(async {}); // first use fixes the configuration
/// let err: ambi::BuilderError = ambi::Builder::new().install().unwrap_err();
/// assert!(err.to_string().contains("already configured"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderError {
    _private: (),
}

impl fmt::Display for BuilderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the ambi runtime is already configured (by an earlier Builder::install or by its first use); \
             install the Builder before anything else uses the runtime",
        )
    }
}

impl core::error::Error for BuilderError {}
