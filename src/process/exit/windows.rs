//! Windows: a child's exit through its process handle. `RegisterWaitForSingleObject` has the
//! system's wait threads (the process's thread pool, each thread watching up to 63 handles) call
//! back once the handle is signalled, and the callback wakes the waiter; no thread of this crate
//! waits. A process leaves no zombie on Windows: a child dropped unwaited needs nothing more
//! than its handle closed.

use alloc::sync::Arc;
use core::ffi::c_void;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::io;
use std::os::windows::io::AsRawHandle;
use std::process::ExitStatus;

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Threading::{
    INFINITE, RegisterWaitForSingleObject, UnregisterWaitEx, WT_EXECUTEONLYONCE,
};

use crate::sync::{AtomicBool, Mutex, Ordering};

/// How a child's exit is waited on: its process handle, valid while its `std::process::Child`
/// lives (the `Guard` beside this value keeps it), kept as an address so that `Exit` is `Send`.
#[derive(Debug)]
pub(super) struct Exit {
    process: usize,
}

impl Exit {
    pub(super) fn new(child: &std::process::Child) -> Exit {
        Exit { process: child.as_raw_handle() as usize }
    }

    /// Waits until the child exited: `look` is its `try_wait`.
    pub(super) async fn wait(
        &self,
        mut look: impl FnMut() -> io::Result<Option<ExitStatus>>,
    ) -> io::Result<ExitStatus> {
        loop {
            // A process handle stays signalled once the process has exited: a wait registered
            // after the exit fires at once.
            if let Some(status) = look()? {
                return Ok(status);
            }
            Signalled::register(self.process)?.await;
        }
    }

    /// Closing the handle is all a dropped child needs.
    pub(super) fn orphan(self, child: std::process::Child) {
        drop(child);
    }
}

/// Nothing to reap on Windows.
pub(super) fn reap_orphans() {}

/// What the wait's callback shares with the future.
struct Shared {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// One registered wait on a process handle; unregistered (after its callback, if running, has
/// returned) when dropped.
struct Signalled {
    shared: Arc<Shared>,
    /// The wait handle, as an address.
    wait: usize,
}

impl Signalled {
    fn register(process: usize) -> io::Result<Signalled> {
        let shared = Arc::new(Shared { fired: AtomicBool::new(false), waker: Mutex::new(None) });
        let context = Arc::into_raw(shared.clone());
        let mut wait: HANDLE = core::ptr::null_mut();
        // SAFETY: `process` is an open process handle (see `Exit`); `context` stays valid until
        // `drop` has unregistered the wait and waited for its callback to return.
        let ok = unsafe {
            RegisterWaitForSingleObject(
                &mut wait,
                process as HANDLE,
                Some(callback),
                context.cast(),
                INFINITE,
                WT_EXECUTEONLYONCE,
            )
        };
        if ok == 0 {
            // SAFETY: the reference `into_raw` made, which no callback will use.
            drop(unsafe { Arc::from_raw(context) });
            return Err(io::Error::last_os_error());
        }
        Ok(Signalled { shared, wait: wait as usize })
    }
}

/// Runs on a wait thread of the system's pool once the process handle is signalled.
unsafe extern "system" fn callback(context: *mut c_void, _timed_out: bool) {
    // SAFETY: `context` is the `Shared` that `Signalled` keeps alive until this returned.
    let shared = unsafe { &*context.cast::<Shared>() };
    shared.fired.store(true, Ordering::SeqCst);
    if let Some(waker) = shared.waker.with(Option::take) {
        waker.wake();
    }
}

impl Future for Signalled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.fired.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        self.shared.waker.with(|w| *w = Some(cx.waker().clone()));
        // The callback may have fired before the waker was there.
        if self.shared.fired.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }
    }
}

impl Drop for Signalled {
    fn drop(&mut self) {
        // SAFETY: `wait` is the handle `RegisterWaitForSingleObject` gave; with
        // `INVALID_HANDLE_VALUE` this returns once a running callback has returned, so no
        // callback uses `context` after it.
        unsafe { UnregisterWaitEx(self.wait as HANDLE, INVALID_HANDLE_VALUE) };
        // SAFETY: the reference `register` made with `into_raw`; no callback runs any more.
        drop(unsafe { Arc::from_raw(Arc::as_ptr(&self.shared)) });
    }
}
