//! Bounds a scenario in time, so a hang fails its test instead of stalling CI.

#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on its own thread and returns its result, or panics if it takes longer than `limit`
/// (the stuck thread is left behind; the test binary exits without it).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let runner = std::thread::spawn(move || tx.send(f()).ok());
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        // The sender was dropped without sending: `f` panicked; re-raise its panic here.
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(_) => unreachable!("the result was sent"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the scenario did not finish within {limit:?}"),
    }
}
