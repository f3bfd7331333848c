//! The runtime's settings: [`Builder`], the environment variables, and the [`Config`] they make;
//! and starting the runtime's threads under the configured name.
//!
//! Depends on nothing else in the crate; the rest reads [`config()`]. The settings are fixed at
//! first use: by a [`Builder::install`], or else from the environment.

#![forbid(unsafe_code)]

use alloc::fmt;
use alloc::string::{String, ToString};
use std::sync::OnceLock;

static CONFIG: OnceLock<Config> = OnceLock::new();

/// Starts one of the runtime's threads, named `<thread_name>-<role>`; returns whether it
/// started. A thread that cannot start (out of memory, a process limit) is the caller's to work
/// around, never a panic.
pub(crate) fn spawn_thread(role: fmt::Arguments<'_>, main: impl FnOnce() + Send + 'static) -> bool {
    let name = std::format!("{}-{role}", config().thread_name);
    std::thread::Builder::new().name(name).spawn(main).is_ok()
}

/// The runtime's settings, fixed at first use.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) worker_threads: usize,
    pub(crate) max_blocking_threads: usize,
    pub(crate) thread_name: String,
    /// `AMPHI_POLLER=polling`: every wait of the reactor is polling's own (see
    /// `reactor/poller.rs`).
    pub(crate) polling_wait: bool,
    /// `AMPHI_CHILD_WAIT=signal`: child processes are waited on through SIGCHLD even where the
    /// kernel offers pidfds (see `process/exit.rs`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code, reason = "pidfds are Linux's"))]
    pub(crate) child_wait_signal: bool,
}

impl Config {
    fn from_env() -> Self {
        Self {
            worker_threads: env_count(WORKER_THREADS).unwrap_or_else(default_workers),
            max_blocking_threads: env_count(MAX_BLOCKING_THREADS).unwrap_or(DEFAULT_MAX_BLOCKING),
            thread_name: "amphi".to_string(),
            polling_wait: env_polling_wait(),
            child_wait_signal: env_child_wait_signal(),
        }
    }
}

const DEFAULT_MAX_BLOCKING: usize = 64;

/// A count of threads the runtime accepts, and where it comes from.
struct Count {
    /// The environment variable.
    var: &'static str,
    /// The `Builder` method.
    method: &'static str,
    range: core::ops::RangeInclusive<usize>,
}

/// Worker threads: `0` runs tasks inside `block_on` calls; more than this no machine runs as
/// workers (each is a thread with its own stack), and a typo of a few digits would otherwise
/// start threads until memory runs out.
pub(crate) const MAX_WORKER_THREADS: usize = 4096;
/// The blocking pool's bound: at least one thread, at most as many as the `blocking` crate allows.
pub(crate) const MAX_BLOCKING_POOL: usize = 10_000;

const WORKER_THREADS: Count =
    Count { var: "AMPHI_THREADS", method: "Builder::worker_threads", range: 0..=MAX_WORKER_THREADS };
const MAX_BLOCKING_THREADS: Count = Count {
    var: "AMPHI_MAX_BLOCKING_THREADS",
    method: "Builder::max_blocking_threads",
    range: 1..=MAX_BLOCKING_POOL,
};

impl Count {
    fn describe(&self) -> String {
        std::format!("an integer from {} to {}", self.range.start(), self.range.end())
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads a count from the environment.
///
/// # Panics
///
/// If the variable is set but is not an integer in the count's range: a typo must not silently
/// become the default, nor a count no machine can run.
fn env_count(count: Count) -> Option<usize> {
    let value = std::env::var(count.var).ok()?;
    match value.trim().parse::<usize>() {
        Ok(n) if count.range.contains(&n) => Some(n),
        _ => panic!("{} must be {}, got {value:?}", count.var, count.describe()),
    }
}

/// Reads `AMPHI_POLLER`: `polling` makes the reactor wait through polling's own `wait` on every
/// platform; `epoll` (the default) lets it wait on epoll directly on Linux and Android.
///
/// # Panics
///
/// If the variable is set to anything else.
fn env_polling_wait() -> bool {
    match std::env::var("AMPHI_POLLER").ok().as_deref().map(str::trim) {
        None | Some("epoll") => false,
        Some("polling") => true,
        Some(other) => panic!("AMPHI_POLLER must be `epoll` or `polling`, got {other:?}"),
    }
}

/// Reads `AMPHI_CHILD_WAIT`: `signal` makes `amphi::process` wait on children through SIGCHLD
/// everywhere; `pidfd` (the default) lets it watch a pidfd on Linux.
///
/// # Panics
///
/// If the variable is set to anything else.
fn env_child_wait_signal() -> bool {
    match std::env::var("AMPHI_CHILD_WAIT").ok().as_deref().map(str::trim) {
        None | Some("pidfd") => false,
        Some("signal") => true,
        Some(other) => panic!("AMPHI_CHILD_WAIT must be `pidfd` or `signal`, got {other:?}"),
    }
}

/// The runtime's settings, read from the environment on first use unless a [`Builder`] installed
/// them before.
pub(crate) fn config() -> &'static Config {
    CONFIG.get_or_init(Config::from_env)
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

    /// Number of worker threads for [`spawn`](crate::spawn); `0` runs tasks inside `block_on`
    /// calls.
    ///
    /// At most 4096 (`AMPHI_THREADS` alike): [`install`](Builder::install) refuses more.
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

    /// Upper bound on threads of the blocking pool used by `unblock`: from 1 to 10,000
    /// (`AMPHI_MAX_BLOCKING_THREADS` alike); [`install`](Builder::install) refuses others.
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
    /// [`BuilderError`] if the runtime is already configured (by an earlier `install`, or by its
    /// first use: `spawn`, `unblock`, the reactor, which fixes the configuration), or if a count
    /// is out of its range.
    ///
    /// # Examples
    ///
    /// ```standalone_crate
    /// amphi::Builder::new().worker_threads(1).install().expect("first install");
    /// let err = amphi::Builder::new().install().unwrap_err();
    /// println!("{err}");
    /// ```
    pub fn install(self) -> Result<(), BuilderError> {
        for (value, count) in
            [(self.worker_threads, WORKER_THREADS), (self.max_blocking_threads, MAX_BLOCKING_THREADS)]
        {
            if let Some(n) = value.filter(|n| !count.range.contains(n)) {
                return Err(BuilderError { out_of_range: Some((count.method, n, count.describe())) });
            }
        }
        let mut config = Some(self);
        CONFIG.get_or_init(|| {
            let b = config.take().expect("init runs once");
            // A variable the builder overrides is not read, so a bad one there cannot panic.
            Config {
                worker_threads: b
                    .worker_threads
                    .unwrap_or_else(|| env_count(WORKER_THREADS).unwrap_or_else(default_workers)),
                max_blocking_threads: b
                    .max_blocking_threads
                    .unwrap_or_else(|| env_count(MAX_BLOCKING_THREADS).unwrap_or(DEFAULT_MAX_BLOCKING)),
                thread_name: b.thread_name.unwrap_or_else(|| "amphi".to_string()),
                polling_wait: env_polling_wait(),
                child_wait_signal: env_child_wait_signal(),
            }
        });
        if config.is_none() { Ok(()) } else { Err(BuilderError { out_of_range: None }) }
    }
}

/// The error of [`Builder::install`]: the global runtime was already configured, or a count is
/// out of its range.
///
/// # Examples
///
/// ```
/// let err = amphi::Builder::new().worker_threads(100_000).install().unwrap_err();
/// assert!(err.to_string().contains("from 0 to 4096"));
///
/// let _ = amphi::spawn(async {}); // first use fixes the configuration
/// let err: amphi::BuilderError = amphi::Builder::new().install().unwrap_err();
/// assert!(err.to_string().contains("already configured"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderError {
    /// The method, the value given and the range allowed, if that was the error.
    out_of_range: Option<(&'static str, usize, String)>,
}

impl fmt::Display for BuilderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.out_of_range {
            Some((method, n, range)) => write!(f, "{method}({n}) is out of range: it must be {range}"),
            None => f.write_str(
                "the amphi runtime is already configured (by an earlier Builder::install or by its first use); \
                 install the Builder before anything else uses the runtime",
            ),
        }
    }
}

impl core::error::Error for BuilderError {}
