//! Repro (not a suite): a waker called from an interrupt handler while thread mode pushes onto
//! the same executor's unbounded run queue. If the interrupt lands while thread mode is between
//! claiming the last slot of a queue block and installing the next block, the handler's push
//! spins forever (concurrent-queue 2.5.0 `unbounded.rs:185`, waiting for a block that the
//! preempted thread-mode push would install) and the board hangs. On mps2-an386 it hangs within
//! seconds: the CPU sits in the SysTick handler (IPSR 15) in `Unbounded::push`. It prints
//! `no hang` once the executor's pushes are made interrupt-safe.
//!
//! On RISC-V `virt` the handler is the machine timer's, and the same loop hangs in the same way
//! given other numbers. QEMU takes interrupts between translated blocks: with periods under about
//! 5 µs they land right after the handler's return, never inside a push; with 5-50 µs they land
//! anywhere. With the fix taken out, 5 of 8 runs of about 4,000 interrupts hung there, and 6 of 6
//! runs of 40,000 (riscv32imac; 4 of 4 on riscv32imc).

#![no_std]
#![no_main]

use core::cell::RefCell;
use core::task::{Poll, Waker};

use amphi::{Executor, block_on, yield_now};
use amphi_no_std_tests::{Rng, entry, println, timer};
use critical_section::Mutex;
use portable_atomic::{AtomicU32, Ordering};

static WAKER: Mutex<RefCell<Option<Waker>>> = Mutex::new(RefCell::new(None));
static FIRED: AtomicU32 = AtomicU32::new(0);
static RNG: Mutex<RefCell<Rng>> = Mutex::new(RefCell::new(Rng::new(0x9e37_79b9)));

/// Timer periods, in timer counts (Cortex-M: core cycles; RISC-V: `mtime` at 10 MHz).
#[cfg(target_arch = "arm")]
const PERIODS: (u32, u32) = (200, 3_000);
#[cfg(target_arch = "riscv32")]
const PERIODS: (u32, u32) = (50, 500);

/// Thread mode pushes until it has yielded `YIELDS` times and seen `INTERRUPTS` interrupts.
#[cfg(target_arch = "arm")]
const YIELDS_AND_INTERRUPTS: (u32, u32) = (200_000, 0);
#[cfg(target_arch = "riscv32")]
const YIELDS_AND_INTERRUPTS: (u32, u32) = (0, 40_000);

/// Interrupts that must have fired during the pushes for a run to count: a run in which the
/// timer never fired raced nothing. Cortex-M boards see 2,679 (M4F) and 3,242 (M0) in their
/// 200,000 yields; RISC-V runs until it has seen its 40,000.
#[cfg(target_arch = "arm")]
const MIN_INTERRUPTS: u32 = 1_000;
#[cfg(target_arch = "riscv32")]
const MIN_INTERRUPTS: u32 = YIELDS_AND_INTERRUPTS.1;

amphi_no_std_tests::on_timer! {
    FIRED.fetch_add(1, Ordering::Relaxed);
    let w = critical_section::with(|cs| WAKER.borrow_ref(cs).clone());
    if let Some(w) = w {
        w.wake();
    }
    let next = critical_section::with(|cs| RNG.borrow_ref_mut(cs).range(PERIODS.0, PERIODS.1));
    timer::set_period(next);
}

#[entry]
fn main() -> ! {
    amphi_no_std_tests::init();
    amphi_no_std_tests::install_idle_hook();
    let ex = Executor::new();
    let spinner = ex.spawn(async {
        let (yields, interrupts) = YIELDS_AND_INTERRUPTS;
        let mut n = 0u32;
        while n < yields || FIRED.load(Ordering::Relaxed) < interrupts {
            yield_now().await;
            n += 1;
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
    timer::start(1_000);
    block_on(ex.run(spinner));
    timer::stop();
    drop(woken);
    let fired = FIRED.load(Ordering::Relaxed);
    if fired < MIN_INTERRUPTS {
        println!("too few interrupts to race the pushes: {fired}, fewer than {MIN_INTERRUPTS}");
        amphi_no_std_tests::exit(false)
    }
    println!("no hang: {fired} interrupts");
    amphi_no_std_tests::exit(true)
}
