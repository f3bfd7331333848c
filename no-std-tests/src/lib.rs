//! The board side of the emulated tests: heap, semihosting output and exit, a tiny test runner,
//! the `WFI` idle hook, a timer interrupt, and a time source for `amphi::alarm`.
//!
//! What differs between the boards lives in [`board`], one file per architecture with the same
//! items: `entry`, `println!`, `exit`, the `timer` module with its `on_timer!` handler, and the
//! `clock` module with its `clock_interrupts!` handlers. Each test binary defines its own timer
//! handler (the one thing that differs between them) and runs its cases through [`Suite`], which
//! prints one line per case and a final `N passed, M failed`, then exits through semihosting with
//! 0 or 1. A panic or a fault also exits with 1 after printing the same final line; a hang is
//! ended by the runner's `timeout`.

#![no_std]

extern crate alloc;

use core::cell::{Cell, RefCell};
use core::mem::MaybeUninit;
use core::task::Waker;
use portable_atomic::{AtomicU32, Ordering};

use alloc::string::String;
use critical_section::Mutex;
use embedded_alloc::LlffHeap;

#[cfg_attr(target_arch = "arm", path = "board/cortex_m.rs")]
#[cfg_attr(target_arch = "riscv32", path = "board/riscv.rs")]
pub mod board;

pub use board::{clock, entry, exit, println, timer};

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

const HEAP_SIZE: usize = 24 * 1024;

/// Gives the allocator its memory and lets the board take interrupts; call once, first thing in
/// `main` (a [`Suite`] does it).
pub fn init() {
    static mut MEMORY: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
    // SAFETY: called once, before any allocation; `MEMORY` is used by nothing else.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(MEMORY) as usize, HEAP_SIZE) }
    board::init();
}

/// Bytes currently allocated.
pub fn heap_used() -> usize {
    HEAP.used()
}

/// Counts of the running suite, readable by the panic handler.
static PASSED: AtomicU32 = AtomicU32::new(0);
static FAILED: AtomicU32 = AtomicU32::new(0);
static CURRENT: Mutex<Cell<&'static str>> = Mutex::new(Cell::new("(setup)"));

/// A case's verdict: `Err` carries the reason.
pub type Outcome = Result<(), String>;

/// Fails the case with a formatted reason unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(alloc::format!("{} ({}:{})", alloc::format!($($arg)+), file!(), line!()));
        }
    };
}

/// Runs cases, one line each, and ends with the `N passed, M failed` line.
pub struct Suite {
    name: &'static str,
}

impl Suite {
    /// Starts a suite: [`init`]s the board and prints its name.
    pub fn new(name: &'static str) -> Self {
        init();
        println!("suite {}", name);
        Self { name }
    }

    /// Runs a case and checks that every byte it allocated was freed by the time it returned.
    pub fn case(&mut self, name: &'static str, f: fn() -> Outcome) {
        self.run(name, f, true);
    }

    /// Runs a case that keeps allocations alive on purpose (a `static` executor's state).
    pub fn case_keeps_memory(&mut self, name: &'static str, f: fn() -> Outcome) {
        self.run(name, f, false);
    }

    fn run(&mut self, name: &'static str, f: fn() -> Outcome, leak_check: bool) {
        critical_section::with(|cs| CURRENT.borrow(cs).set(name));
        let before = heap_used();
        let mut outcome = f();
        let after = heap_used();
        if outcome.is_ok() && leak_check && after != before {
            outcome = Err(alloc::format!("leak: heap used {} bytes before, {} after", before, after));
        }
        match outcome {
            Ok(()) => {
                PASSED.fetch_add(1, Ordering::Relaxed);
                println!("test {}::{} ... ok", self.name, name);
            }
            Err(why) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                println!("test {}::{} ... FAILED: {}", self.name, name, why);
            }
        }
    }

    /// Prints the totals and exits: status 1 if any case failed.
    pub fn finish(self) -> ! {
        let (passed, failed) = (PASSED.load(Ordering::Relaxed), FAILED.load(Ordering::Relaxed));
        println!("{} passed, {} failed", passed, failed);
        exit(failed == 0)
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    board::disable_interrupts();
    fail(format_args!("panicked: {}", info))
}

/// Reports the running case as failed for `why` (a panic, a fault), closes the suite's count and
/// exits with 1.
pub fn fail(why: core::fmt::Arguments<'_>) -> ! {
    let case = critical_section::with(|cs| CURRENT.borrow(cs).get());
    println!("test {} ... FAILED: {}", case, why);
    println!("{} passed, {} failed", PASSED.load(Ordering::Relaxed), FAILED.load(Ordering::Relaxed) + 1);
    exit(false)
}

/// How often the idle hook was entered, and how often it executed `WFI`.
pub static IDLE_CALLS: AtomicU32 = AtomicU32::new(0);
pub static WFI_COUNT: AtomicU32 = AtomicU32::new(0);

/// When set, the idle hook makes the timer interrupt pending after its check and before `WFI`:
/// the interrupt then arrives exactly in the window where a naive idle loop would miss it.
static INJECT_BEFORE_WFI: Mutex<Cell<u32>> = Mutex::new(Cell::new(0));

/// Makes the next `n` sleeps of the idle hook pend the timer interrupt between their check and
/// `WFI`.
pub fn inject_before_wfi(n: u32) {
    critical_section::with(|cs| INJECT_BEFORE_WFI.borrow(cs).set(n));
}

/// The idle hook every suite installs: in a critical section (interrupts masked on this
/// single-core board), look at `woken`, and only if nothing arrived, `WFI` (which returns on a
/// pending interrupt even while interrupts are masked).
pub fn wfi_idle(woken: &dyn Fn() -> bool) {
    IDLE_CALLS.fetch_add(1, Ordering::Relaxed);
    critical_section::with(|cs| {
        if !woken() {
            let inject = INJECT_BEFORE_WFI.borrow(cs);
            if inject.get() > 0 {
                inject.set(inject.get() - 1);
                timer::pend();
            }
            WFI_COUNT.fetch_add(1, Ordering::Relaxed);
            board::wfi();
        }
    });
}

/// Installs [`wfi_idle`] as `amphi`'s idle hook.
pub fn install_idle_hook() {
    amphi::set_idle_hook(wfi_idle);
}

/// A waker slot plus a counter, shared between interrupt handlers and tasks.
pub struct Signal {
    inner: Mutex<RefCell<(u32, Option<Waker>)>>,
}

impl Default for Signal {
    fn default() -> Self {
        Self::new()
    }
}

impl Signal {
    /// A signal with count 0 and no waiter.
    pub const fn new() -> Self {
        Self { inner: Mutex::new(RefCell::new((0, None))) }
    }

    /// Adds one to the count and wakes the waiter, if any (interrupt-safe, allocation-free).
    pub fn raise(&self) {
        let waker = critical_section::with(|cs| {
            let mut inner = self.inner.borrow_ref_mut(cs);
            inner.0 += 1;
            inner.1.take()
        });
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The count so far.
    pub fn count(&self) -> u32 {
        critical_section::with(|cs| self.inner.borrow_ref(cs).0)
    }

    /// Sets the count back to 0 and forgets the waiter.
    pub fn reset(&self) {
        critical_section::with(|cs| *self.inner.borrow_ref_mut(cs) = (0, None));
    }

    /// Waits until the count reaches `n`.
    pub async fn wait_for(&self, n: u32) -> u32 {
        core::future::poll_fn(|cx| {
            critical_section::with(|cs| {
                let mut inner = self.inner.borrow_ref_mut(cs);
                if inner.0 >= n {
                    core::task::Poll::Ready(inner.0)
                } else {
                    inner.1 = Some(cx.waker().clone());
                    core::task::Poll::Pending
                }
            })
        })
        .await
    }
}

/// A small xorshift generator, for interrupt timings that vary from round to round.
pub struct Rng(u32);

impl Rng {
    /// A generator from a non-zero seed.
    pub const fn new(seed: u32) -> Self {
        Self(seed)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        lo + self.0 % (hi - lo)
    }
}
