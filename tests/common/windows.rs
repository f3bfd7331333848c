//! Windows: this process's threads from a Toolhelp snapshot, which lists every thread of the
//! system, ours or not, and their names from `GetThreadDescription`, which is where std's
//! `thread::Builder::name` puts them.

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{ERROR_INVALID_PARAMETER, INVALID_HANDLE_VALUE, LocalFree};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcessId, GetThreadDescription, OpenThread, THREAD_QUERY_LIMITED_INFORMATION,
};

/// How many threads this process has.
pub fn count() -> usize {
    thread_ids().len()
}

/// The ids of this process's threads.
fn thread_ids() -> Vec<u32> {
    // SAFETY: no pointer arguments; the result is checked below.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0) };
    assert_ne!(
        snapshot,
        INVALID_HANDLE_VALUE,
        "CreateToolhelp32Snapshot: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a valid handle that nothing else owns.
    let owned = unsafe { OwnedHandle::from_raw_handle(snapshot) };
    let snapshot = owned.as_raw_handle();
    // SAFETY: `THREADENTRY32` is plain data; all zeros is a valid value.
    let mut entry: THREADENTRY32 = unsafe { std::mem::zeroed() };
    entry.dwSize = size_of::<THREADENTRY32>() as u32;
    // SAFETY: no arguments.
    let pid = unsafe { GetCurrentProcessId() };
    let mut ids = Vec::new();
    // SAFETY: `snapshot` is open and `entry` is writable, with `dwSize` set as both require.
    let mut more = unsafe { Thread32First(snapshot, &mut entry) } != 0;
    while more {
        if entry.th32OwnerProcessID == pid {
            ids.push(entry.th32ThreadID);
        }
        // SAFETY: as above.
        more = unsafe { Thread32Next(snapshot, &mut entry) } != 0;
    }
    ids
}

/// Names of this process's threads; an unnamed thread (the main one, or one started without a
/// name) has an empty name.
///
/// # Panics
///
/// If a thread that is still there cannot be opened or its name cannot be read: a thread left
/// out could hide one a test looks for.
pub fn names() -> Vec<String> {
    thread_ids().into_iter().filter_map(name_of).collect()
}

/// The name of thread `id`, or `None` if it has exited since the snapshot.
fn name_of(id: u32) -> Option<String> {
    // SAFETY: no pointer arguments; the result is checked below.
    let thread = unsafe { OpenThread(THREAD_QUERY_LIMITED_INFORMATION, 0, id) };
    if thread.is_null() {
        let err = std::io::Error::last_os_error();
        // What Windows (and Wine) say of a thread id that no longer exists.
        assert_eq!(
            err.raw_os_error(),
            Some(ERROR_INVALID_PARAMETER as i32),
            "OpenThread of thread {id}: {err}"
        );
        return None;
    }
    // SAFETY: a valid handle that nothing else owns.
    let thread = unsafe { OwnedHandle::from_raw_handle(thread) };
    let mut name = std::ptr::null_mut();
    // SAFETY: `thread` is open with the access `GetThreadDescription` needs; `name` is writable.
    let result = unsafe { GetThreadDescription(thread.as_raw_handle(), &mut name) };
    // Checked by sign, as `SUCCEEDED` does: Wine returns 0x10000000 (`HRESULT_FROM_NT` of
    // `STATUS_SUCCESS`) where Windows returns 0.
    assert!(result >= 0 && !name.is_null(), "GetThreadDescription of thread {id}: {result:#x}");
    // SAFETY: on success `name` is a NUL-terminated UTF-16 string that stays valid until freed.
    let text = unsafe {
        let len = (0..).take_while(|&i| *name.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(name, len))
    };
    // SAFETY: `name` was allocated by `GetThreadDescription` with `LocalAlloc`, and is not used again.
    unsafe { LocalFree(name.cast()) };
    Some(text)
}
