//! The global runtime: `spawn`, worker threads, `Builder` and the environment variables.
//!
//! Nothing starts until the first `spawn`: then `worker_threads` threads named
//! `amphi-worker-N` run the global executor. With zero workers, tasks run inside `block_on` calls.
//!
//! Hand-off: a task that calls `block_on` on a worker thread takes that worker off duty for the
//! length of the call. Before it blocks, a replacement is recruited (an idle spare thread, or a new
//! one), so the executor always has `worker_threads` threads on duty and a task waiting on a
//! sibling completes even with one worker. When the call returns, the thread is back on duty and
//! the pool is one over: the first worker to notice steps back and becomes a spare, which exits
//! after [`SPARE_IDLE`] without being recalled. The counting is `workers.rs`'s.

mod roster;

use alloc::fmt;
use alloc::string::{String, ToString};
use core::future::Future;
use core::time::Duration;
use std::sync::OnceLock;
use std::time::Instant;

use event_listener::Listener;

use self::roster::Workers;
use crate::executor::{Executor, State};
use crate::sync::{AtomicBool, AtomicUsize, Ordering};
use crate::task::Task;

/// How long a spare worker waits to be recalled before its thread exits.
const SPARE_IDLE: Duration = Duration::from_secs(2);

static GLOBAL: Executor<'static> = Executor::new_global();
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
            worker_threads: env_usize("AMPHI_THREADS").unwrap_or_else(default_workers),
            max_blocking_threads: env_usize("AMPHI_MAX_BLOCKING_THREADS").unwrap_or(DEFAULT_MAX_BLOCKING),
            thread_name: "amphi".to_string(),
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
/// The first call starts the worker threads (`AMPHI_THREADS`, or [`Builder::worker_threads`];
/// default: the number of cores). With zero workers, tasks run inside [`block_on`](crate::block_on)
/// calls on any thread.
///
/// # Panics
///
/// On first use, if `AMPHI_THREADS` or `AMPHI_MAX_BLOCKING_THREADS` is set to something other than
/// a non-negative integer.
///
/// # Examples
///
/// ```
/// let task = amphi::spawn(async { 1 + 1 });
/// assert_eq!(amphi::block_on(task), 2);
/// ```
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    POOL.start();
    GLOBAL.spawn(future)
}

/// The global executor's state if `block_on` must run its tasks: there are no worker threads.
pub(crate) fn runs_in_block_on() -> Option<&'static State> {
    if POOL.in_block_on.load(Ordering::Relaxed) { Some(GLOBAL.state()) } else { None }
}

/// The global executor's state.
pub(crate) fn state() -> &'static State {
    GLOBAL.state()
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
            POOL.workers.back_on_duty();
        }
    }
    if !ON_DUTY.with(|d| d.replace(false)) {
        return None;
    }
    if POOL.workers.hand_off() {
        POOL.spawn_thread();
    }
    Some(BackOnDuty)
}

/// The worker threads.
struct Pool {
    started: AtomicBool,
    /// Set when tasks must run inside `block_on`: zero workers, or no thread could be started.
    in_block_on: AtomicBool,
    /// For names: `amphi-worker-N`.
    next_id: AtomicUsize,
    workers: Workers,
}

impl Pool {
    const fn new() -> Self {
        Self {
            started: AtomicBool::new(false),
            in_block_on: AtomicBool::new(false),
            next_id: AtomicUsize::new(0),
            workers: Workers::new(),
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
            self.workers.add();
            self.spawn_thread();
        }
    }

    fn spawn_thread(&self) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let name = std::format!("{}-worker-{id}", config().thread_name);
        if std::thread::Builder::new().name(name).spawn(worker_main).is_err() {
            // No thread: the duty falls to `block_on` callers rather than nobody.
            self.workers.not_started();
            self.in_block_on.store(true, Ordering::Release);
        }
    }
}

fn worker_main() {
    let target = config().worker_threads;
    loop {
        ON_DUTY.with(|d| d.set(true));
        let retire = futures_lite::future::poll_fn(|_| {
            if POOL.workers.should_retire(target) {
                core::task::Poll::Ready(())
            } else {
                core::task::Poll::Pending
            }
        });
        crate::block_on::run_worker(GLOBAL.run(retire));
        ON_DUTY.with(|d| d.set(false));
        let deadline = Instant::now() + SPARE_IDLE;
        if !POOL.workers.wait_as_spare(|listener| listener.wait_deadline(deadline).is_some()) {
            return;
        }
    }
}

/// Configures the global runtime before its first use.
///
/// # Examples
///
/// ```standalone_crate
/// amphi::Builder::new().worker_threads(2).max_blocking_threads(8).install().unwrap();
/// // A second install is an error, never silently ignored:
/// assert!(amphi::Builder::new().worker_threads(4).install().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    worker_threads: Option<usize>,
    max_blocking_threads: Option<usize>,
    thread_name: Option<String>,
}

impl Builder {
    /// A builder with the defaults (which still read `AMPHI_THREADS` and
    /// `AMPHI_MAX_BLOCKING_THREADS` for anything not set here).
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = amphi::Builder::new();
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
    /// let builder = amphi::Builder::new().worker_threads(0);
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
    /// let builder = amphi::Builder::new().max_blocking_threads(4);
    /// # drop(builder);
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = Some(n);
        self
    }

    /// Prefix of the runtime's thread names (`{name}-worker-N`, `{name}-blocking-N`); default
    /// `amphi`.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = amphi::Builder::new().thread_name("myapp");
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
    /// amphi::Builder::new().worker_threads(1).install().expect("first install");
    /// let err = amphi::Builder::new().install().unwrap_err();
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
                    .unwrap_or_else(|| env_usize("AMPHI_THREADS").unwrap_or_else(default_workers)),
                max_blocking_threads: b.max_blocking_threads.unwrap_or_else(|| {
                    env_usize("AMPHI_MAX_BLOCKING_THREADS").unwrap_or(DEFAULT_MAX_BLOCKING)
                }),
                thread_name: b.thread_name.unwrap_or_else(|| "amphi".to_string()),
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
/// let _ = amphi::spawn(async {}); // first use fixes the configuration
/// let err: amphi::BuilderError = amphi::Builder::new().install().unwrap_err();
/// assert!(err.to_string().contains("already configured"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderError {
    _private: (),
}

impl fmt::Display for BuilderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the amphi runtime is already configured (by an earlier Builder::install or by its first use); \
             install the Builder before anything else uses the runtime",
        )
    }
}

impl core::error::Error for BuilderError {}
