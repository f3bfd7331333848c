//! A small, self-contained async executor with a sync façade.
//!
//! Write an operation once as `async`; call it from synchronous code with [`block_on`] or
//! [`Dual::wait`] (no runtime to set up, no `.await`), or from asynchronous code under any
//! runtime with `.await`. The same core — [`Executor`], [`LocalExecutor`], [`Task`], [`Dual`],
//! [`block_on`] — runs on `no_std` + `alloc`.
//!
//! `block_on` works in every context: on many threads at once, nested inside another `block_on`,
//! inside an `amphi` task waiting on a sibling task (even with one worker thread), and inside
//! another runtime's threads. A program that only calls `block_on` starts no thread.
//!
//! # Examples
//!
//! ```
//! struct Service;
//!
//! impl Service {
//!     amphi::dual! {
//!         pub async fn double(&self, n: u64) -> u64 {
//!             let task = amphi::spawn(async move { n * 2 });
//!             task.await
//!         }
//!     }
//! }
//!
//! let service = Service;
//! assert_eq!(service.double(21).wait(), 42);                          // from sync code
//! assert_eq!(amphi::block_on(async { service.double(4).await }), 8);  // from async code
//! ```
//!
//! # Features
//!
//! - `std` (default): threads, parking, the global runtime (`spawn`, `Builder`), the reactor
//!   (`Async`, `Timer`), `unblock`.
//! - `alloc`: the `no_std` core alone; `block_on` idles through the hook set by `set_idle_hook`.
//! - `portable-atomic`: targets without compare-and-swap (Cortex-M0).
//! - `critical-section`: microcontrollers whose wakers run in interrupt handlers.
//! - `tokio` (off by default): futures bound to Tokio's reactor and timers (reqwest, `tokio::net`,
//!   `tokio::time`) run under [`block_on`], `.wait()`, `spawn`, `unblock` and [`LocalExecutor`],
//!   in the caller's multi-thread Tokio runtime if one is current, else in one shared runtime
//!   started on first use, driven by the thread that waits while it waits alone, else by its
//!   one thread, `amphi-tokio`.
//! - `hyper` (implies `std`): `amphi::hyper`, hyper 1.x's runtime traits (executor, timer,
//!   I/O) on this crate's runtime, so hyper clients and servers run with no Tokio.
//!
//! # `fork()`
//!
//! On Unix, a child made by `fork()` (a pre-forking server, `multiprocessing`, a test harness)
//! gets a runtime of its own: its first `block_on`, `spawn`, `unblock`, `Timer` or `Async`
//! makes a new reactor, executor, worker threads and blocking pool, and the parent's, whose
//! threads the child does not have and whose locks a parent thread may have held at the fork, are
//! left untouched, as are the parent's registrations with the poller it shares with the child:
//! the parent's pending reads, accepts and timers complete as before. What the child inherited is
//! the parent's: waiting on an `Async` registered before the fork is an error in the child
//! (dropping it is fine, and deregisters nothing), a `Timer` armed before it is armed again with
//! the child's reactor when polled, a [`Task`] spawned before it never completes in the child (its
//! executor's threads are gone), and signals reach the child's own `signal::Signals`. Fork from a
//! thread that is not inside `block_on` or a task, as pre-forking servers do: a child forked from
//! inside one goes on inside the parent's call.
//!
//! # Environment
//!
//! - `AMPHI_THREADS`: worker threads of the global runtime, 0 to 4096 (default: cores; `0`: tasks
//!   run inside `block_on` calls).
//! - `AMPHI_MAX_BLOCKING_THREADS`: bound of the blocking pool, 1 to 10,000 (default 64).
//!
//! A value outside its range, or not a number, panics at first use with the variable's name.

#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    clippy::undocumented_unsafe_blocks,
    unsafe_op_in_unsafe_fn,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(not(any(feature = "std", feature = "alloc")))]
compile_error!(
    "amphi needs the `std` feature (on by default) or, for `no_std`, the `alloc` feature: \
     `amphi = { version = \"0.1\", default-features = false, features = [\"alloc\"] }`"
);

#[cfg(all(not(target_has_atomic = "ptr"), not(feature = "portable-atomic")))]
compile_error!(
    "this target has no compare-and-swap: enable amphi's `portable-atomic` feature, and give the \
     final binary portable-atomic's `critical-section` (with a critical-section implementation) \
     or `unsafe-assume-single-core` feature"
);

pub mod alarm;
mod block_on;
#[cfg(feature = "std")]
mod blocking;
#[cfg(feature = "std")]
mod config;
#[cfg(feature = "std")]
mod context;
mod dual;
mod executor;
#[cfg(feature = "std")]
pub mod fs;
#[cfg(feature = "std")]
mod global;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "std")]
mod idle_loop;
#[cfg(feature = "std")]
mod io;
#[cfg(feature = "std")]
mod metrics;
#[cfg(feature = "std")]
pub mod net;
mod park;
#[cfg(feature = "std")]
mod per_process;
#[cfg(feature = "std")]
pub mod process;
#[cfg(feature = "std")]
mod reactor;
#[cfg(feature = "std")]
mod scope;
#[cfg(feature = "std")]
pub mod signal;
mod sync;
#[cfg(feature = "std")]
mod sys;
mod task;
#[cfg(feature = "std")]
mod timer;
#[cfg(feature = "std")]
mod tokens;
#[cfg(feature = "std")]
mod tokio_context;

pub use crate::block_on::block_on;
#[cfg(feature = "std")]
pub use crate::blocking::{Unblock, unblock};
#[cfg(feature = "std")]
pub use crate::config::{Builder, BuilderError};
pub use crate::dual::{Dual, dual};
pub use crate::executor::{Executor, ExecutorMetrics, LocalExecutor, SpawnError};
#[cfg(feature = "std")]
pub use crate::global::spawn;
#[cfg(feature = "std")]
pub use crate::io::{Async, IoSafe, Readable, ReadableOwned, Writable, WritableOwned};
#[cfg(feature = "std")]
pub use crate::metrics::{Metrics, metrics};
#[cfg(not(feature = "std"))]
pub use crate::park::set_idle_hook;
#[cfg(feature = "std")]
pub use crate::scope::{Scope, ScopedTask, scope};
pub use crate::task::{FallibleTask, Task};
#[cfg(feature = "std")]
pub use crate::timer::Timer;
pub use futures_lite::future::yield_now;
