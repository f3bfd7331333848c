//! embassy's side: a time driver over the alarm, with embassy's integrated timer queue (its
//! items live in the executor's tasks), written as embassy's own documentation shows.

use core::cell::RefCell;
use core::task::Waker;

use critical_section::Mutex;
use embassy_time_queue_utils::Queue;

use crate::board;

struct Driver {
    queue: Mutex<RefCell<Queue>>,
}

impl Driver {
    /// Wakes the timers due and arms the alarm for the next one.
    fn update(&self, queue: &mut Queue) {
        let mut next = queue.next_expiration(board::now());
        while !board::arm(next) {
            next = queue.next_expiration(board::now());
        }
    }
}

impl embassy_time_driver::Driver for Driver {
    fn now(&self) -> u64 {
        board::now()
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                self.update(&mut queue);
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: Driver = Driver { queue: Mutex::new(RefCell::new(Queue::new())) });

pub(crate) fn on_alarm() {
    critical_section::with(|cs| DRIVER.update(&mut DRIVER.queue.borrow_ref_mut(cs)));
}
