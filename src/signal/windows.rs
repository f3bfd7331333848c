//! Windows: one console control handler (`SetConsoleCtrlHandler`, installed at the first
//! registration) writes to the loopback TCP connection of each stream registered for the event:
//! Ctrl-C as `SIGINT`, Ctrl-Break as `SIGTERM`. Windows runs the handler on a thread it starts for
//! the event, not in the middle of other code as a Unix signal handler runs, so it may lock and
//! write.

use core::net::Ipv4Addr;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket, RawSocket};
use std::sync::{Mutex, OnceLock};

use slab::Slab;
use windows_sys::Win32::Foundation::{FALSE, TRUE};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, CTRL_C_EVENT, SetConsoleCtrlHandler};
use windows_sys::core::BOOL;

// Linux's numbers, as async-signal gives them on Windows.
pub(super) const SIGHUP: i32 = 1;
pub(super) const SIGINT: i32 = 2;
pub(super) const SIGQUIT: i32 = 3;
pub(super) const SIGILL: i32 = 4;
pub(super) const SIGTRAP: i32 = 5;
pub(super) const SIGABRT: i32 = 6;
pub(super) const SIGBUS: i32 = 7;
pub(super) const SIGFPE: i32 = 8;
pub(super) const SIGKILL: i32 = 9;
pub(super) const SIGUSR1: i32 = 10;
pub(super) const SIGSEGV: i32 = 11;
pub(super) const SIGUSR2: i32 = 12;
pub(super) const SIGPIPE: i32 = 13;
pub(super) const SIGALRM: i32 = 14;
pub(super) const SIGTERM: i32 = 15;
pub(super) const SIGCHLD: i32 = 17;
pub(super) const SIGCONT: i32 = 18;
pub(super) const SIGSTOP: i32 = 19;
pub(super) const SIGTSTP: i32 = 20;
pub(super) const SIGTTIN: i32 = 21;
pub(super) const SIGTTOU: i32 = 22;
pub(super) const SIGURG: i32 = 23;
pub(super) const SIGXCPU: i32 = 24;
pub(super) const SIGXFSZ: i32 = 25;
pub(super) const SIGVTALRM: i32 = 26;
pub(super) const SIGPROF: i32 = 27;
pub(super) const SIGWINCH: i32 = 28;
pub(super) const SIGIO: i32 = 29;
pub(super) const SIGSYS: i32 = 31;

/// A registration's key in the handler's table.
pub(super) type SigId = usize;

/// The two ends of a signal pipe: a loopback TCP connection (Windows has no socket pairs).
pub(super) type End = TcpStream;

pub(super) fn pair() -> io::Result<(End, End)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let write = TcpStream::connect(listener.local_addr()?)?;
    let (read, peer) = listener.accept()?;
    if peer != write.local_addr()? {
        return Err(io::Error::other("another program connected to the signal socket first"));
    }
    // One byte per event, sent at once.
    write.set_nodelay(true)?;
    Ok((read, write))
}

/// The streams' write ends, by the signal they wait for.
static HANDLERS: OnceLock<Mutex<Slab<(i32, End)>>> = OnceLock::new();

/// Registers `write` for `number` (Ctrl-C's `SIGINT` or Ctrl-Break's `SIGTERM`), installing the
/// console handler at the first registration.
pub(super) fn register(number: i32, write: End) -> io::Result<SigId> {
    if number != SIGINT && number != SIGTERM {
        return Err(super::cannot_handle());
    }
    let handlers = match HANDLERS.get() {
        Some(handlers) => handlers,
        None => {
            // SAFETY: `on_event` has the signature of a handler routine and lives as long as the
            // process. A second installation by a racing first registration only calls it twice
            // per event; `on_event` answers the same both times, and the byte goes out twice.
            if unsafe { SetConsoleCtrlHandler(Some(on_event), TRUE) } == FALSE {
                return Err(io::Error::last_os_error());
            }
            HANDLERS.get_or_init(|| Mutex::new(Slab::new()))
        }
    };
    Ok(handlers.lock().unwrap_or_else(|e| e.into_inner()).insert((number, write)))
}

pub(super) fn unregister(id: SigId) {
    if let Some(handlers) = HANDLERS.get() {
        handlers.lock().unwrap_or_else(|e| e.into_inner()).try_remove(id);
    }
}

/// Passes Ctrl-C and Ctrl-Break to the streams registered for them; returns whether any was, so
/// that an event nobody waits for goes on to the next handler (in the end, the default: exit).
extern "system" fn on_event(event: u32) -> BOOL {
    let number = match event {
        CTRL_C_EVENT => SIGINT,
        CTRL_BREAK_EVENT => SIGTERM,
        _ => return FALSE,
    };
    let Some(handlers) = HANDLERS.get() else { return FALSE };
    let handlers = handlers.lock().unwrap_or_else(|e| e.into_inner());
    let mut passed_on = false;
    for (_, (_, write)) in handlers.iter().filter(|(_, (n, _))| *n == number) {
        // A full connection drops the event: the stream has that many unread already.
        let _ = (&*write).write(&[number as u8]);
        passed_on = true;
    }
    if passed_on { TRUE } else { FALSE }
}

impl AsRawSocket for super::Signals {
    fn as_raw_socket(&self) -> RawSocket {
        self.read.get_ref().as_raw_socket()
    }
}

impl AsSocket for super::Signals {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.read.get_ref().as_socket()
    }
}
