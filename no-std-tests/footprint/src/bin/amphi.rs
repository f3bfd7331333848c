//! Two tasks on amphi: one woken by the timer interrupt (`amphi::alarm`), one by the other task;
//! `main` joins both with `block_on`, which idles in `WFI`.

#![no_std]
#![no_main]

use amphi::{Executor, block_on};
use amphi_footprint::{Signal, WAIT, entry};

static EX: Executor<'static> = Executor::new();
static TIMER_FIRED: Signal = Signal::new();

#[entry]
fn main() -> ! {
    amphi_footprint::init();
    let start = amphi::alarm::now();
    let timed = EX.spawn(async move {
        let woke = amphi::alarm::after(WAIT).await;
        if woke < start + WAIT {
            amphi_footprint::exit(false);
        }
        TIMER_FIRED.raise();
    });
    let woken = EX.spawn(TIMER_FIRED.wait());
    block_on(EX.run(async {
        timed.await;
        woken.await;
    }));
    amphi_footprint::exit(true)
}
