//! Cortex-M: cortex-m-rt, semihosting exit, and an alarm on SysTick: a tick of 20,000 core cycles
//! (0.8 ms on mps2-an386) counted in software and compared with the alarm on every tick; an
//! alarm already due is delivered through PendSV.

use core::cell::Cell;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use cortex_m_semihosting::debug;
use critical_section::Mutex;

pub use cortex_m_rt::entry;
#[cfg(feature = "report")]
pub(crate) use cortex_m_semihosting::hprintln as println;

/// How long the timed task sleeps: 5 ticks, 4 ms.
pub const WAIT: u64 = 5;

const TICK: u32 = 20_000;

static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));
static ALARM: Mutex<Cell<u64>> = Mutex::new(Cell::new(u64::MAX));

/// Starts ticking.
pub(crate) fn start() {
    // SAFETY: SysTick is used by this file alone, and set up once, before its interrupt is on.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(TICK - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

pub(crate) fn now() -> u64 {
    critical_section::with(|cs| TICKS.borrow(cs).get())
}

/// Arms the alarm for `at`, or returns `false` if `at` has passed.
pub(crate) fn arm(at: u64) -> bool {
    critical_section::with(|cs| {
        if at <= TICKS.borrow(cs).get() {
            return false;
        }
        ALARM.borrow(cs).set(at);
        true
    })
}

/// Makes the alarm's interrupt pending now.
#[cfg(feature = "amphi")]
pub(crate) fn pend() {
    cortex_m::peripheral::SCB::set_pendsv();
}

/// Sleeps until an interrupt is pending, masked or not (amphi's idle hook; embassy's executor
/// has its own).
#[cfg(feature = "amphi")]
pub(crate) fn wfi() {
    cortex_m::asm::wfi();
}

pub(crate) fn exit(success: bool) -> ! {
    debug::exit(if success { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {
        cortex_m::asm::bkpt();
    }
}

#[exception]
fn SysTick() {
    let due = critical_section::with(|cs| {
        let ticks = TICKS.borrow(cs).get() + 1;
        TICKS.borrow(cs).set(ticks);
        ticks >= ALARM.borrow(cs).get()
    });
    if due {
        fire();
    }
}

#[exception]
fn PendSV() {
    fire();
}

fn fire() {
    critical_section::with(|cs| ALARM.borrow(cs).set(u64::MAX));
    crate::on_alarm();
}
