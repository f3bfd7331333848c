//! Repro (not a suite): a waker called from an interrupt handler while thread mode pushes onto
//! the same executor's unbounded run queue. If the interrupt lands while thread mode is between
//! claiming the last slot of a queue block and installing the next block, the handler's push
//! spins forever (concurrent-queue 2.5.0 `unbounded.rs:185`, waiting for a block that the
//! preempted thread-mode push would install) and the board hangs. On mps2-an386 it hangs within
//! seconds: the CPU sits in the SysTick handler (IPSR 15) in `Unbounded::push`. It prints
//! `no hang` once the executor's pushes are made interrupt-safe.

#![no_std]
#![no_main]

use core::cell::RefCell;
use core::task::{Poll, Waker};

use amphi::{Executor, block_on, yield_now};
use amphi_no_std_tests::{Rng, println};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use critical_section::Mutex;
use portable_atomic::{AtomicU32, Ordering};

static WAKER: Mutex<RefCell<Option<Waker>>> = Mutex::new(RefCell::new(None));
static FIRED: AtomicU32 = AtomicU32::new(0);
static RNG: Mutex<RefCell<Rng>> = Mutex::new(RefCell::new(Rng::new(0x9e37_79b9)));

#[exception]
fn SysTick() {
    FIRED.fetch_add(1, Ordering::Relaxed);
    let w = critical_section::with(|cs| WAKER.borrow_ref(cs).clone());
    if let Some(w) = w {
        w.wake();
    }
    let next = critical_section::with(|cs| RNG.borrow_ref_mut(cs).range(200, 3_000));
    // SAFETY: only this handler and main's set-up touch SYST.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.set_reload(next);
}

#[entry]
fn main() -> ! {
    amphi_no_std_tests::init_heap();
    amphi_no_std_tests::install_idle_hook();
    let ex = Executor::new();
    let spinner = ex.spawn(async {
        for _ in 0..200_000u32 {
            yield_now().await;
        }
    });
    let woken = ex.spawn(async {
        let mut polls = 0u32;
        core::future::poll_fn(|cx| {
            polls += 1;
            critical_section::with(|cs| *WAKER.borrow_ref_mut(cs) = Some(cx.waker().clone()));
            if polls > 1_000_000 { Poll::Ready(()) } else { Poll::Pending }
        })
        .await
    });
    // SAFETY: as above.
    let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(1_000);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    block_on(ex.run(spinner));
    syst.disable_counter();
    drop(woken);
    println!("no hang: {} interrupts", FIRED.load(Ordering::Relaxed));
    amphi_no_std_tests::exit(true)
}
