//! `amphi::signal` on Windows: console control events delivered to this process as the console
//! delivers them (a thread started at kernel32's `CtrlRoutine`), read through the reactor.
#![cfg(windows)]

use std::io::ErrorKind;

use amphi::block_on;
use amphi::signal::{Signal, Signals};
use futures_lite::future;
use futures_lite::stream::StreamExt;
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, CTRL_C_EVENT};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

#[path = "../examples/support/console_event.rs"]
mod console_event;

/// Delivers console control event `event` to this process; returns once its handlers have run.
fn deliver(event: u32) {
    // SAFETY: no arguments; the pseudo-handle it returns needs no closing.
    console_event::deliver(unsafe { GetCurrentProcess() }, event).unwrap();
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
