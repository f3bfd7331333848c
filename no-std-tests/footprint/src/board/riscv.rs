//! RISC-V `virt`: riscv-rt, semihosting exit, and the alarm on the CLINT's machine timer: `mtime`
//! (10 MHz) is the time and `mtimecmp` the alarm, no periodic tick.

use riscv::register::{mie, mstatus};

pub use riscv_rt::entry;
#[cfg(feature = "report")]
pub(crate) use semihosting::println;

/// How long the timed task sleeps: 40,000 counts of `mtime`, 4 ms.
pub const WAIT: u64 = 40_000;

const MTIMECMP: *mut u32 = 0x0200_4000 as *mut u32;
const MTIME: *const u32 = 0x0200_bff8 as *const u32;

/// Enables the machine timer interrupt, and interrupts globally.
pub(crate) fn start() {
    set_mtimecmp(u64::MAX);
    // SAFETY: with `mtimecmp` at its maximum no interrupt is pending, and the handler is ready.
    unsafe {
        mie::set_mtimer();
        mstatus::set_mie();
    }
}

/// `mtime`, read as two halves until the high half is the same before and after the low one.
pub(crate) fn now() -> u64 {
    loop {
        // SAFETY: `MTIME` and `MTIME + 1` are the CLINT's `mtime` registers on `virt`.
        let (hi, lo, again) =
            unsafe { (MTIME.add(1).read_volatile(), MTIME.read_volatile(), MTIME.add(1).read_volatile()) };
        if hi == again {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// The high half goes to its maximum first, so that no value on the way makes the interrupt
/// pending. Called in critical sections, and from the handler.
fn set_mtimecmp(at: u64) {
    // SAFETY: `MTIMECMP` and `MTIMECMP + 1` are hart 0's `mtimecmp` registers on `virt`, written
    // by this file alone.
    unsafe {
        MTIMECMP.add(1).write_volatile(u32::MAX);
        MTIMECMP.write_volatile(at as u32);
        MTIMECMP.add(1).write_volatile((at >> 32) as u32);
    }
}

/// Arms the alarm for `at`, or returns `false` if `at` has passed (the interrupt may then be
/// pending already, which is harmless).
pub(crate) fn arm(at: u64) -> bool {
    set_mtimecmp(at);
    at > now()
}

/// Makes the alarm's interrupt pending now.
#[cfg(feature = "amphi")]
pub(crate) fn pend() {
    set_mtimecmp(0);
}

/// Sleeps until an interrupt is pending, masked or not (amphi's idle hook; embassy's executor
/// has its own).
#[cfg(feature = "amphi")]
pub(crate) fn wfi() {
    riscv::asm::wfi();
}

pub(crate) fn exit(success: bool) -> ! {
    semihosting::process::exit(if success { 0 } else { 1 })
}

#[riscv_rt::core_interrupt(riscv::interrupt::Interrupt::MachineTimer)]
fn machine_timer() {
    set_mtimecmp(u64::MAX);
    crate::on_alarm();
}
