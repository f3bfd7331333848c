//! Delivering a console control event (Ctrl-C, Ctrl-Break) to a process, for the examples' and
//! tests' Windows side.

use std::ffi::c_void;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
use windows_sys::Win32::System::Threading::{CreateRemoteThread, WaitForSingleObject};
use windows_sys::core::{s, w};

/// Delivers console control event `event` to `process` as the console itself does: a new
/// thread in the process, started at `CtrlRoutine` (exported by kernel32, though undocumented),
/// which calls the process's handlers in turn; returns once they have.
///
/// `GenerateConsoleCtrlEvent` is no use here: it reaches only processes attached to the
/// caller's console, which a test run with its output redirected (as in CI, or under Wine) may
/// not have, and then every process of the target group. Windows maps a system DLL at the
/// same address in every process, so the routine's address here is its address in `process`.
pub fn deliver(process: HANDLE, event: u32) -> io::Result<()> {
    // SAFETY: the name is NUL-terminated; kernel32 is loaded in every process.
    let kernel32 = unsafe { GetModuleHandleW(w!("kernel32.dll")) };
    if kernel32.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `kernel32` is a loaded module and the name is NUL-terminated.
    let routine = unsafe { GetProcAddress(kernel32, s!("CtrlRoutine")) }
        .ok_or_else(|| io::Error::other("kernel32 exports no CtrlRoutine"))?;
    // SAFETY: `CtrlRoutine` is `DWORD WINAPI CtrlRoutine(LPVOID event)`, a thread start routine.
    let start = unsafe {
        std::mem::transmute::<
            unsafe extern "system" fn() -> isize,
            unsafe extern "system" fn(*mut c_void) -> u32,
        >(routine)
    };
    // SAFETY: `process` is open with full access (a child std started, or this process) and
    // `start` takes the event as its one argument.
    let thread = unsafe {
        CreateRemoteThread(
            process,
            std::ptr::null(),
            0,
            Some(start),
            event as usize as *const c_void,
            0,
            std::ptr::null_mut(),
        )
    };
    if thread.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid thread handle that nothing else owns.
    let thread = unsafe { OwnedHandle::from_raw_handle(thread) };
    // SAFETY: `thread` is open.
    match unsafe { WaitForSingleObject(thread.as_raw_handle(), 10_000) } {
        WAIT_OBJECT_0 => Ok(()),
        _ => Err(io::Error::other("the control handlers did not return within 10 s")),
    }
}
