//! The runtime's settings: [`Builder`], the environment variables, and the [`Config`] they make.
//!
//! Depends on nothing else in the crate; the rest reads [`config()`]. The settings are fixed at
//! first use: by a [`Builder::install`], or else from the environment.

#![forbid(unsafe_code)]

use alloc::fmt;
use alloc::string::{String, ToString};
use std::sync::OnceLock;

static CONFIG: OnceLock<Config> = OnceLock::new();

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

    /// Number of worker threads for [`spawn`](crate::spawn); `0` runs tasks inside `block_on` calls.
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
