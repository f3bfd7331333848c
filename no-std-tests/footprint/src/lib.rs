//! What the two programs share, so that they differ only in the executor and its time interface:
//! the board (runtime, exit, a panic that exits), one hardware alarm (SysTick ticks on Cortex-M,
//! the CLINT's machine timer on RISC-V), and a signal from one task to the other.
//!
//! Over the alarm, each crate gets its time interface as a program on the board would write
//! it: `amphi::alarm::TimeSource` (with `amphi`'s idle hook and a heap), or an embassy time
//! driver with embassy's own integrated timer queue.

#![no_std]

use core::cell::RefCell;
use core::future::Future;
use core::task::{Poll, Waker};

use critical_section::Mutex;

#[cfg(all(feature = "amphi", feature = "embassy"))]
compile_error!("one program per build: `--features amphi` or `--features embassy`");

#[cfg_attr(target_arch = "arm", path = "board/cortex_m.rs")]
#[cfg_attr(target_arch = "riscv32", path = "board/riscv.rs")]
mod board;

pub use board::{WAIT, entry};

#[cfg(feature = "amphi")]
mod amphi_time;
#[cfg(feature = "embassy")]
mod embassy_time;

/// Sets up the board, the heap (amphi) and the time interface; call first thing in `main`.
pub fn init() {
    #[cfg(feature = "amphi")]
    amphi_time::init();
    board::start();
}

/// Exits the emulator with status 0 or 1.
pub fn exit(success: bool) -> ! {
    #[cfg(all(feature = "report", feature = "amphi"))]
    amphi_time::report();
    board::exit(success)
}

/// The board's alarm fired.
fn on_alarm() {
    #[cfg(feature = "amphi")]
    amphi::alarm::on_alarm();
    #[cfg(feature = "embassy")]
    embassy_time::on_alarm();
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(feature = "report")]
    board::println!("{}", _info);
    board::exit(false)
}

/// A flag one task raises and another waits for.
pub struct Signal(Mutex<RefCell<(bool, Option<Waker>)>>);

impl Default for Signal {
    fn default() -> Self {
        Self::new()
    }
}

impl Signal {
    /// A signal not raised yet.
    pub const fn new() -> Self {
        Self(Mutex::new(RefCell::new((false, None))))
    }

    /// Raises the flag and wakes the waiting task, if any.
    pub fn raise(&self) {
        let waker = critical_section::with(|cs| {
            let mut inner = self.0.borrow_ref_mut(cs);
            inner.0 = true;
            inner.1.take()
        });
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Waits until the flag is raised.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        core::future::poll_fn(|cx| {
            critical_section::with(|cs| {
                let mut inner = self.0.borrow_ref_mut(cs);
                if inner.0 {
                    Poll::Ready(())
                } else {
                    inner.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
    }
}
