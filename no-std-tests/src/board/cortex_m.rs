//! Cortex-M (mps2-an386 as a Cortex-M4F, lm3s6965evb as a Cortex-M0): cortex-m-rt, semihosting
//! through cortex-m-semihosting, SysTick as the timer and as the clock.

use cortex_m::peripheral::SCB;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_semihosting::debug;

pub use cortex_m_rt::entry;
pub use cortex_m_semihosting::hprintln as println;

/// Interrupts need no setting up: they are enabled out of reset, SysTick's when it is started.
pub(crate) fn init() {}

/// Exits the emulator with status 0 or 1.
pub fn exit(success: bool) -> ! {
    debug::exit(if success { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    // Only reached without a debugger or emulator attached.
    loop {
        cortex_m::asm::bkpt();
    }
}

pub(crate) fn disable_interrupts() {
    cortex_m::interrupt::disable();
}

/// Sleeps until an interrupt is pending, masked or not.
pub(crate) fn wfi() {
    cortex_m::asm::wfi();
}

#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    crate::fail(format_args!("hard fault at pc {:#010x}", frame.pc()))
}

/// SysTick, handing out its registers.
///
/// SysTick belongs to [`timer`] and [`clock`], and a program uses one of the two. Their
/// functions run in thread mode and in the SysTick handler; each is a short run of register
/// writes, and the handler only ever stops the counter or changes its reload, so any
/// interleaving leaves SysTick stopped or counting with a period that was asked for.
fn syst() -> cortex_m::peripheral::SYST {
    // SAFETY: see above; nothing outside this file touches SysTick.
    unsafe { cortex_m::Peripherals::steal() }.SYST
}

/// A periodic interrupt on SysTick, counting core cycles.
pub mod timer {
    use super::*;

    /// Interrupts every `period` core cycles, the first one `period` cycles from now.
    pub fn start(period: u32) {
        let mut syst = syst();
        syst.disable_counter();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(period - 1);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
    }

    /// No more interrupts until the next [`start`].
    pub fn stop() {
        syst().disable_counter();
    }

    /// The period from the next interrupt on.
    pub fn set_period(period: u32) {
        syst().set_reload(period - 1);
    }

    /// Makes the timer interrupt pending now, whether the timer runs or not.
    pub fn pend() {
        SCB::set_pendst();
    }

    /// Defines the timer's interrupt handler: `on_timer! { body }` runs `body` on every
    /// interrupt.
    #[macro_export]
    macro_rules! on_timer {
        ($($body:tt)*) => {
            #[cortex_m_rt::exception]
            fn SysTick() {
                $($body)*
            }
        };
    }
}

/// A time source on SysTick: a periodic tick (20,000 core cycles, 0.8 ms on mps2-an386) counted
/// in software, and an alarm compared against it on every tick. An alarm already due is
/// delivered through PendSV.
pub mod clock {
    use core::cell::Cell;

    use critical_section::Mutex;

    use super::*;

    /// Core cycles per tick.
    const TICK: u32 = 20_000;

    static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));
    static ALARM: Mutex<Cell<u64>> = Mutex::new(Cell::new(u64::MAX));

    /// The board's clock for `amphi::alarm`.
    pub struct SysTickClock;

    impl amphi::alarm::TimeSource for SysTickClock {
        fn now(&self) -> u64 {
            critical_section::with(|cs| TICKS.borrow(cs).get())
        }

        fn set_alarm(&self, at: u64) {
            critical_section::with(|cs| {
                ALARM.borrow(cs).set(at);
                if at <= TICKS.borrow(cs).get() {
                    SCB::set_pendsv();
                }
            });
        }
    }

    /// Starts ticking and installs the clock; the handlers come from [`clock_interrupts!`].
    pub fn start() {
        timer::start(TICK);
        amphi::alarm::set_time_source(&SysTickClock);
    }

    /// Stops time: no tick, and so no alarm, until [`resume`].
    pub fn pause() {
        timer::stop();
    }

    /// Lets time run again after [`pause`].
    pub fn resume() {
        syst().enable_counter();
    }

    /// The `SysTick` handler: counts a tick and fires the alarm when it is due.
    pub fn on_tick() {
        let due = critical_section::with(|cs| {
            let ticks = TICKS.borrow(cs).get() + 1;
            TICKS.borrow(cs).set(ticks);
            ticks >= ALARM.borrow(cs).get()
        });
        if due {
            fire();
        }
    }

    /// The `PendSV` handler, and the end of [`on_tick`] when the alarm is due.
    pub fn fire() {
        critical_section::with(|cs| ALARM.borrow(cs).set(u64::MAX));
        amphi::alarm::on_alarm();
    }

    /// Defines the clock's interrupt handlers (SysTick and PendSV).
    #[macro_export]
    macro_rules! clock_interrupts {
        () => {
            #[cortex_m_rt::exception]
            fn SysTick() {
                $crate::clock::on_tick();
            }

            #[cortex_m_rt::exception]
            fn PendSV() {
                $crate::clock::fire();
            }
        };
    }
}
