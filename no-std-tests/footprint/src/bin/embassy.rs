//! Two tasks on embassy-executor: one woken by the timer interrupt (`embassy_time::Timer`), one
//! by the other task, which ends the program.

#![no_std]
#![no_main]

use core::mem::MaybeUninit;

use amphi_footprint::{Signal, WAIT, entry};
use embassy_executor::Executor;
use embassy_time::{Duration, Instant, Timer};

static TIMER_FIRED: Signal = Signal::new();

#[embassy_executor::task]
async fn timed(start: Instant) {
    Timer::after(Duration::from_ticks(WAIT)).await;
    if Instant::now() < start + Duration::from_ticks(WAIT) {
        amphi_footprint::exit(false);
    }
    TIMER_FIRED.raise();
}

#[embassy_executor::task]
async fn woken() {
    TIMER_FIRED.wait().await;
    amphi_footprint::exit(true)
}

#[entry]
fn main() -> ! {
    amphi_footprint::init();
    static mut EXECUTOR: MaybeUninit<Executor> = MaybeUninit::uninit();
    // SAFETY: `main` runs once and never returns: this is the only reference to `EXECUTOR`.
    let executor = unsafe { (*core::ptr::addr_of_mut!(EXECUTOR)).write(Executor::new()) };
    executor.run(|spawner| {
        spawner.spawn(timed(Instant::now()).unwrap());
        spawner.spawn(woken().unwrap());
    })
}
