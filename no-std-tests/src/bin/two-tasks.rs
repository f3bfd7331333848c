//! The smallest useful program: two tasks on an executor, joined from `main` with the `WFI` idle
//! hook. `.ci/footprint.sh` measures its flash and RAM.

#![no_std]
#![no_main]

use amphi::{Executor, block_on, yield_now};
use amphi_no_std_tests::entry;

#[entry]
fn main() -> ! {
    amphi_no_std_tests::init();
    amphi_no_std_tests::install_idle_hook();
    let ex = Executor::new();
    let a = ex.spawn(async {
        yield_now().await;
        1u32
    });
    let b = ex.spawn(async { 2u32 });
    let sum = block_on(ex.run(async { a.await + b.await }));
    amphi_no_std_tests::exit(sum == 3)
}
