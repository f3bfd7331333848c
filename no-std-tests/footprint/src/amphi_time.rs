//! amphi's side: a heap, the idle hook (`WFI` with interrupts masked) and the alarm as an
//! `amphi::alarm::TimeSource`.

use core::mem::MaybeUninit;

use embedded_alloc::LlffHeap;

use crate::board;

/// Room for the program's allocations (its peak is measured by the `report` build).
const ARENA: usize = 4096;

#[cfg_attr(not(feature = "report"), global_allocator)]
static HEAP: LlffHeap = LlffHeap::empty();

pub(crate) fn init() {
    static mut MEMORY: [MaybeUninit<u8>; ARENA] = [MaybeUninit::uninit(); ARENA];
    // SAFETY: called once, before any allocation; `MEMORY` is used by nothing else.
    unsafe { HEAP.init(core::ptr::addr_of_mut!(MEMORY) as usize, ARENA) }
    amphi::set_idle_hook(idle);
    amphi::alarm::set_time_source(&Clock);
}

/// Sleeps unless a wake-up came; with interrupts masked between the check and `WFI`, so that none
/// is missed.
fn idle(woken: &dyn Fn() -> bool) {
    critical_section::with(|_| {
        if !woken() {
            board::wfi();
        }
    });
}

struct Clock;

impl amphi::alarm::TimeSource for Clock {
    fn now(&self) -> u64 {
        board::now()
    }

    fn set_alarm(&self, at: u64) {
        if !board::arm(at) {
            board::pend();
        }
    }
}

/// The heap's peak use, kept by a wrapper around the allocator in the `report` build.
#[cfg(feature = "report")]
mod peak {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::Cell;

    use critical_section::Mutex;

    pub(super) static PEAK: Mutex<Cell<usize>> = Mutex::new(Cell::new(0));

    struct Peak;

    // SAFETY: every call is passed on to `HEAP`, a `GlobalAlloc`, unchanged.
    unsafe impl GlobalAlloc for Peak {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller upholds `alloc`'s contract.
            let ptr = unsafe { super::HEAP.alloc(layout) };
            critical_section::with(|cs| {
                let peak = PEAK.borrow(cs);
                peak.set(peak.get().max(super::HEAP.used()));
            });
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller upholds `dealloc`'s contract.
            unsafe { super::HEAP.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Peak = Peak;
}

#[cfg(feature = "report")]
pub(crate) fn report() {
    let peak = critical_section::with(|cs| peak::PEAK.borrow(cs).get());
    board::println!("peak heap {}", peak);
}
