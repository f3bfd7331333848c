//! `amphi::signal` on Windows: console control events delivered to this process as the console
//! delivers them (a thread started at kernel32's `CtrlRoutine`), read through the reactor.
#![cfg(windows)]

use std::ffi::c_void;
use std::io::ErrorKind;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use amphi::block_on;
use amphi::signal::{Signal, Signals};
use futures_lite::future;
use futures_lite::stream::StreamExt;
use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, CTRL_C_EVENT};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Threading::{CreateRemoteThread, GetCurrentProcess, WaitForSingleObject};
use windows_sys::core::{s, w};

/// Delivers console control event `event` to this process; returns once its handlers have run.
/// (`GenerateConsoleCtrlEvent` reaches only processes attached to a console, which a test run
/// with its output redirected may not have.)
fn deliver(event: u32) {
    // SAFETY: the name is NUL-terminated; kernel32 is loaded in every process.
    let kernel32 = unsafe { GetModuleHandleW(w!("kernel32.dll")) };
    assert!(!kernel32.is_null());
    // SAFETY: `kernel32` is a loaded module and the name is NUL-terminated.
    let routine =
        unsafe { GetProcAddress(kernel32, s!("CtrlRoutine")) }.expect("kernel32 exports CtrlRoutine");
    // SAFETY: `CtrlRoutine` is `DWORD WINAPI CtrlRoutine(LPVOID event)`, a thread start routine.
    let start = unsafe {
        std::mem::transmute::<
            unsafe extern "system" fn() -> isize,
            unsafe extern "system" fn(*mut c_void) -> u32,
        >(routine)
    };
    // SAFETY: this process's pseudo-handle has full access; `start` takes the event as its one
    // argument.
    let thread = unsafe {
        CreateRemoteThread(
            GetCurrentProcess(),
            std::ptr::null(),
            0,
            Some(start),
            event as usize as *const c_void,
            0,
            std::ptr::null_mut(),
        )
    };
    assert!(!thread.is_null(), "{}", std::io::Error::last_os_error());
    // SAFETY: a valid thread handle that nothing else owns.
    let thread = unsafe { OwnedHandle::from_raw_handle(thread) };
    // SAFETY: `thread` is open.
    assert_eq!(unsafe { WaitForSingleObject(thread.as_raw_handle(), 10_000) }, WAIT_OBJECT_0);
}

/// Ctrl-C arrives as `Int`, Ctrl-Break as `Term`, each to every stream registered for it; one
/// test, since an event nobody waits for would end the process.
#[test]
fn ctrl_c_and_ctrl_break_arrive_as_int_and_term() {
    block_on(async {
        let mut both = Signals::new([Signal::Int, Signal::Term]).unwrap();
        let mut int = Signals::new([Signal::Int]).unwrap();
        assert!(future::poll_once(both.next()).await.is_none(), "nothing delivered yet");
        deliver(CTRL_C_EVENT);
        assert_eq!(both.next().await.unwrap().unwrap(), Signal::Int);
        assert_eq!(int.next().await.unwrap().unwrap(), Signal::Int);
        deliver(CTRL_BREAK_EVENT);
        assert_eq!(both.next().await.unwrap().unwrap(), Signal::Term);
        assert!(future::poll_once(int.next()).await.is_none(), "not registered for Ctrl-Break");
        // Removed, Ctrl-C reaches the other stream only.
        both.remove_signals([Signal::Int]).unwrap();
        deliver(CTRL_C_EVENT);
        assert_eq!(int.next().await.unwrap().unwrap(), Signal::Int);
        assert!(future::poll_once(both.next()).await.is_none(), "removed");
    });
}

#[test]
fn other_signals_are_refused() {
    for signal in [Signal::Hup, Signal::Usr1, Signal::Kill, Signal::Child] {
        assert_eq!(Signals::new([signal]).unwrap_err().kind(), ErrorKind::InvalidInput, "{signal:?}");
    }
    assert_eq!(Signal::Int as i32, 2);
    assert_eq!(Signal::Term as i32, 15);
}
