//! RISC-V (QEMU's `virt` machine, one hart, machine mode): riscv-rt, semihosting through the
//! `semihosting` crate, the CLINT's machine timer as the timer and as the clock.
//!
//! The CLINT's `mtime` counts at 10 MHz and never stops; the machine timer interrupt is pending
//! while `mtime >= mtimecmp`, and only writing `mtimecmp` ends it.

use riscv::register::{mcause, mepc, mie, mstatus, mtval};

pub use riscv_rt::entry;
pub use semihosting::println;

/// Enables the machine timer interrupt, and interrupts globally.
pub(crate) fn init() {
    clint::set_mtimecmp(u64::MAX);
    // SAFETY: nothing runs yet that a timer interrupt could break, and with `mtimecmp` at its
    // maximum none is pending; every later critical section masks it again.
    unsafe {
        mie::set_mtimer();
        mstatus::set_mie();
    }
}

/// Exits the emulator with status 0 or 1.
pub fn exit(success: bool) -> ! {
    semihosting::process::exit(if success { 0 } else { 1 })
}

pub(crate) fn disable_interrupts() {
    riscv::interrupt::disable();
}

/// Sleeps until an interrupt is pending and enabled in `mie`, whether `mstatus.MIE` masks it or
/// not.
pub(crate) fn wfi() {
    riscv::asm::wfi();
}

/// Any exception (illegal instruction, access fault, misaligned access, `ebreak`…) fails the
/// running case. riscv-rt calls it (and `DefaultHandler`) through `extern "C"`.
#[unsafe(export_name = "ExceptionHandler")]
extern "C" fn exception_handler(_frame: &riscv_rt::TrapFrame) -> ! {
    crate::fail(format_args!(
        "exception {} at pc {:#010x} (mtval {:#010x})",
        mcause::read().code(),
        mepc::read(),
        mtval::read()
    ))
}

/// An interrupt that no handler was defined for fails the running case (instead of spinning in
/// riscv-rt's default handler until the timeout).
#[unsafe(export_name = "DefaultHandler")]
extern "C" fn default_handler() {
    crate::fail(format_args!("unexpected interrupt {}", mcause::read().code()))
}

/// The CLINT of `virt`, hart 0.
mod clint {
    const BASE: usize = 0x0200_0000;
    const MTIMECMP: *mut u32 = (BASE + 0x4000) as *mut u32;
    const MTIME: *const u32 = (BASE + 0xbff8) as *const u32;

    /// `mtime`, read as two halves (a 32-bit hart cannot read it at once) until the high half
    /// is the same before and after the low one.
    pub(super) fn mtime() -> u64 {
        loop {
            // SAFETY: `MTIME` and `MTIME + 1` are the CLINT's `mtime` registers on `virt`,
            // always mapped and readable.
            let (hi, lo, again) = unsafe {
                (MTIME.add(1).read_volatile(), MTIME.read_volatile(), MTIME.add(1).read_volatile())
            };
            if hi == again {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }

    /// Sets `mtimecmp`. The high half goes to its maximum first, so that no value between the
    /// old and the new one can make the interrupt pending on the way.
    pub(super) fn set_mtimecmp(at: u64) {
        // SAFETY: `MTIMECMP` and `MTIMECMP + 1` are hart 0's `mtimecmp` registers on `virt`,
        // always mapped and writable; only this file writes them.
        unsafe {
            MTIMECMP.add(1).write_volatile(u32::MAX);
            MTIMECMP.write_volatile(at as u32);
            MTIMECMP.add(1).write_volatile((at >> 32) as u32);
        }
    }
}

/// A periodic interrupt on the machine timer, counting `mtime` (10 MHz).
///
/// The comparator is one-shot: each interrupt moves it one period on (in [`on_timer!`], before
/// the handler's body), or to its maximum once stopped.
pub mod timer {
    use core::cell::Cell;

    use critical_section::Mutex;

    use super::clint;

    /// The period; 0 when stopped.
    static PERIOD: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

    /// Interrupts every `period` counts of `mtime`, the first one `period` counts from now.
    pub fn start(period: u32) {
        critical_section::with(|cs| {
            PERIOD.borrow(cs).set(period);
            clint::set_mtimecmp(clint::mtime() + u64::from(period));
        });
    }

    /// No more interrupts until the next [`start`].
    pub fn stop() {
        critical_section::with(|cs| {
            PERIOD.borrow(cs).set(0);
            clint::set_mtimecmp(u64::MAX);
        });
    }

    /// The period from the next interrupt on.
    pub fn set_period(period: u32) {
        critical_section::with(|cs| PERIOD.borrow(cs).set(period));
    }

    /// Makes the timer interrupt pending now, whether the timer runs or not.
    pub fn pend() {
        clint::set_mtimecmp(0);
    }

    /// Called by the handler [`on_timer!`] defines: moves the comparator one period on (or to
    /// its maximum when stopped), which ends the pending interrupt.
    #[doc(hidden)]
    pub fn acknowledge() {
        critical_section::with(|cs| match PERIOD.borrow(cs).get() {
            0 => clint::set_mtimecmp(u64::MAX),
            period => clint::set_mtimecmp(clint::mtime() + u64::from(period)),
        });
    }

    /// Defines the timer's interrupt handler: `on_timer! { body }` runs `body` on every
    /// interrupt.
    #[macro_export]
    macro_rules! on_timer {
        ($($body:tt)*) => {
            #[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineTimer)]
            fn machine_timer() {
                $crate::timer::acknowledge();
                $($body)*
            }
        };
    }
}

/// A time source on the machine timer, as a program on a RISC-V board would write it: `now` is
/// `mtime` in ticks of 0.8 ms, and the alarm is `mtimecmp` itself (no periodic tick). An alarm
/// already due makes the interrupt pending at once; it is taken when the critical section
/// `set_alarm` runs in ends.
///
/// The tests can also stop time ([`pause`]): `mtime` does not stop, so the clock keeps an offset
/// that grows by each pause's length.
pub mod clock {
    use core::cell::RefCell;

    use critical_section::Mutex;

    use super::clint;

    /// `mtime` counts per tick.
    const TICK: u64 = 8_000;

    /// The clock's state: `mtime - offset` is the time that was not paused.
    struct State {
        offset: u64,
        /// `mtime` when [`pause`] was called, while paused.
        paused_at: Option<u64>,
        /// The deadline (in ticks) the alarm is set for; `u64::MAX` for none.
        alarm: u64,
    }

    static STATE: Mutex<RefCell<State>> =
        Mutex::new(RefCell::new(State { offset: 0, paused_at: None, alarm: u64::MAX }));

    fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
        critical_section::with(|cs| f(&mut STATE.borrow_ref_mut(cs)))
    }

    /// Sets the comparator for the alarm, unless time is paused.
    fn program(state: &State) {
        if state.paused_at.is_none() {
            clint::set_mtimecmp(state.alarm.saturating_mul(TICK).saturating_add(state.offset));
        }
    }

    /// The board's clock for `amphi::alarm`.
    pub struct MachineTimerClock;

    impl amphi::alarm::TimeSource for MachineTimerClock {
        fn now(&self) -> u64 {
            with(|state| (state.paused_at.unwrap_or_else(clint::mtime) - state.offset) / TICK)
        }

        fn set_alarm(&self, at: u64) {
            with(|state| {
                state.alarm = at;
                program(state);
            });
        }
    }

    /// Installs the clock; the handler comes from [`clock_interrupts!`].
    pub fn start() {
        amphi::alarm::set_time_source(&MachineTimerClock);
    }

    /// Stops time: `now` stands still, and no alarm fires, until [`resume`].
    pub fn pause() {
        with(|state| {
            state.paused_at = Some(clint::mtime());
            clint::set_mtimecmp(u64::MAX);
        });
    }

    /// Lets time run again after [`pause`], from where it stopped.
    pub fn resume() {
        with(|state| {
            if let Some(paused_at) = state.paused_at.take() {
                state.offset += clint::mtime() - paused_at;
            }
            program(state);
        });
    }

    /// The machine timer handler: the alarm is due.
    pub fn fire() {
        with(|state| {
            state.alarm = u64::MAX;
            clint::set_mtimecmp(u64::MAX);
        });
        amphi::alarm::on_alarm();
    }

    /// Defines the clock's interrupt handler (the machine timer).
    #[macro_export]
    macro_rules! clock_interrupts {
        () => {
            #[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineTimer)]
            fn machine_timer() {
                $crate::clock::fire();
            }
        };
    }
}
