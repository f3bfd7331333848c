//! The executor core on the board: spawn/join, cancellation, `Dual::wait`, `LocalExecutor`, many
//! tasks; every case must give back all the memory it allocated.

#![no_std]
#![no_main]

extern crate alloc;

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use amphi::{Executor, LocalExecutor, block_on, yield_now};
use amphi_no_std_tests::{Outcome, Suite, ensure, entry};

#[entry]
fn main() -> ! {
    amphi_no_std_tests::install_idle_hook();
    let mut suite = Suite::new("executor");
    suite.case("block_on_ready", block_on_ready);
    suite.case("spawn_join", spawn_join);
    suite.case("join_order_independent", join_order_independent);
    suite.case("cancel_by_drop", cancel_by_drop);
    suite.case("cancel_returns_output", cancel_returns_output);
    suite.case("detach_runs_to_completion", detach_runs_to_completion);
    suite.case("drop_executor_drops_tasks", drop_executor_drops_tasks);
    suite.case("dual_wait", dual_wait);
    suite.case("dual_awaited_in_task", dual_awaited_in_task);
    suite.case("local_executor_rc", local_executor_rc);
    suite.case("try_spawn_bounded", try_spawn_bounded);
    suite.case("spawn_many", spawn_many);
    suite.case("many_tasks_alive_at_once", many_tasks_alive_at_once);
    suite.case("many_tasks_in_waves", many_tasks_in_waves);
    suite.case("tasks_wake_each_other", tasks_wake_each_other);
    suite.finish()
}

/// Sets a flag when dropped, to observe that a cancelled future really was dropped.
struct DropFlag<'a>(&'a Cell<bool>);

impl Drop for DropFlag<'_> {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn block_on_ready() -> Outcome {
    ensure!(block_on(async { 40 + 2 }) == 42, "ready future");
    let mut polls = 0;
    let out = block_on(core::future::poll_fn(|cx| {
        polls += 1;
        if polls < 3 {
            cx.waker().wake_by_ref();
            core::task::Poll::Pending
        } else {
            core::task::Poll::Ready(polls)
        }
    }));
    ensure!(out == 3, "self-waking future polled {} times", out);
    Ok(())
}

fn spawn_join() -> Outcome {
    let ex = Executor::new();
    let a = ex.spawn(async { 1u32 });
    let b = ex.spawn(async {
        yield_now().await;
        2u32
    });
    let sum = block_on(ex.run(async { a.await + b.await }));
    ensure!(sum == 3, "sum {}", sum);
    ensure!(ex.is_empty(), "tasks left after join");
    Ok(())
}

fn join_order_independent() -> Outcome {
    let ex = Executor::new();
    let tasks: Vec<_> = (0..8u32)
        .map(|i| {
            ex.spawn(async move {
                for _ in 0..(8 - i) {
                    yield_now().await;
                }
                i
            })
        })
        .collect();
    let outs = block_on(ex.run(async {
        let mut outs = Vec::new();
        for t in tasks.into_iter().rev() {
            outs.push(t.await);
        }
        outs
    }));
    ensure!(outs == [7, 6, 5, 4, 3, 2, 1, 0], "outputs {:?}", outs);
    Ok(())
}

fn cancel_by_drop() -> Outcome {
    let dropped = Cell::new(false);
    let polled = Cell::new(0u32);
    // The task borrows `Cell`s (not `Sync`): a local executor accepts such borrows.
    let local = LocalExecutor::new();
    let task = local.spawn(async {
        let _flag = DropFlag(&dropped);
        loop {
            polled.set(polled.get() + 1);
            yield_now().await;
        }
    });
    ensure!(local.try_tick(), "first poll");
    ensure!(polled.get() == 1, "polled {} times", polled.get());
    drop(task);
    while local.try_tick() {}
    ensure!(dropped.get(), "cancelled future not dropped");
    ensure!(polled.get() == 1, "cancelled future polled again ({} polls)", polled.get());
    ensure!(local.is_empty(), "cancelled task still counted");
    Ok(())
}

fn cancel_returns_output() -> Outcome {
    let ex = Executor::new();
    let done = ex.spawn(async { 5u8 });
    let pending = ex.spawn(core::future::pending::<u8>());
    ensure!(ex.try_tick() && ex.try_tick(), "both tasks polled");
    ensure!(done.is_finished(), "finished task not finished");
    ensure!(!pending.is_finished(), "pending task finished");
    // Cancelling a pending task waits for the executor to drop its future: run the executor.
    let (a, b) = block_on(ex.run(async { (done.cancel().await, pending.cancel().await) }));
    ensure!(a == Some(5), "cancel of a finished task gave {:?}", a);
    ensure!(b.is_none(), "cancel of a pending task gave {:?}", b);
    while ex.try_tick() {}
    ensure!(ex.is_empty(), "tasks left after cancel");
    Ok(())
}

fn detach_runs_to_completion() -> Outcome {
    let hits = Rc::new(Cell::new(0u32));
    let local = LocalExecutor::new();
    for _ in 0..3 {
        let hits = hits.clone();
        local
            .spawn(async move {
                yield_now().await;
                hits.set(hits.get() + 1);
            })
            .detach();
    }
    while local.try_tick() {}
    ensure!(hits.get() == 3, "{} of 3 detached tasks ran", hits.get());
    ensure!(local.is_empty(), "detached tasks left");
    Ok(())
}

fn drop_executor_drops_tasks() -> Outcome {
    let dropped = Rc::new(Cell::new(0u32));
    {
        let local = LocalExecutor::new();
        for _ in 0..5 {
            struct Count(Rc<Cell<u32>>);
            impl Drop for Count {
                fn drop(&mut self) {
                    self.0.set(self.0.get() + 1);
                }
            }
            // Moved into the future, so it drops with the future even if never polled.
            let count = Count(dropped.clone());
            local
                .spawn(async move {
                    let _count = count;
                    core::future::pending::<()>().await;
                })
                .detach();
        }
        // Some polled (parked on `pending`), some still queued, when the executor drops.
        ensure!(local.try_tick() && local.try_tick(), "two tasks polled");
    }
    ensure!(dropped.get() == 5, "{} of 5 futures dropped with the executor", dropped.get());
    Ok(())
}

fn dual_wait() -> Outcome {
    ensure!(amphi::dual(async { 7u32 }).wait() == 7, "ready dual");
    let out = amphi::dual(async {
        yield_now().await;
        yield_now().await;
        9u32
    })
    .wait();
    ensure!(out == 9, "yielding dual gave {}", out);
    Ok(())
}

fn dual_awaited_in_task() -> Outcome {
    let ex = Executor::new();
    let task = ex.spawn(async { amphi::dual(async { 20u32 }).await + 1 });
    let out = block_on(ex.run(task));
    ensure!(out == 21, "dual awaited in a task gave {}", out);
    Ok(())
}

fn local_executor_rc() -> Outcome {
    let local = LocalExecutor::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..4u32)
        .map(|i| {
            let log = log.clone();
            local.spawn(async move {
                log.borrow_mut().push(i);
                yield_now().await;
                log.borrow_mut().push(10 + i);
            })
        })
        .collect();
    block_on(local.run(async {
        for t in tasks {
            t.await;
        }
    }));
    let log = log.borrow();
    ensure!(log.len() == 8, "log {:?}", *log);
    ensure!(log[..4] == [0, 1, 2, 3], "first halves in spawn order: {:?}", *log);
    Ok(())
}

fn try_spawn_bounded() -> Outcome {
    let ex = Executor::with_capacity(2);
    let a = ex.try_spawn(async { 1u32 }).map_err(|_| alloc::string::String::from("first refused"))?;
    let b = ex.try_spawn(async { 2u32 }).map_err(|_| alloc::string::String::from("second refused"))?;
    let err = match ex.try_spawn(async { 3u32 }) {
        Ok(_) => return Err("third accepted past capacity 2".into()),
        Err(err) => err,
    };
    ensure!(err.capacity() == 2, "capacity {}", err.capacity());
    let third = block_on(err.into_inner());
    let sum = block_on(ex.run(async { a.await + b.await }));
    ensure!(sum + third == 6, "sum {}", sum + third);
    ensure!(ex.try_spawn(async {}).is_ok(), "room again after the tasks ended");
    while ex.try_tick() {}
    Ok(())
}

fn spawn_many() -> Outcome {
    let ex = Executor::new();
    let mut tasks = Vec::new();
    ex.spawn_many((0..16u32).map(|i| async move { i * 2 }), &mut tasks);
    let sum = block_on(ex.run(async {
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    }));
    ensure!(sum == 240, "sum {}", sum);
    Ok(())
}

fn many_tasks_alive_at_once() -> Outcome {
    const N: u32 = 150;
    let ex = Executor::new();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            ex.spawn(async move {
                for _ in 0..(i % 4) {
                    yield_now().await;
                }
                i
            })
        })
        .collect();
    let sum = block_on(ex.run(async {
        let mut sum = 0;
        for t in tasks {
            sum += t.await;
        }
        sum
    }));
    ensure!(sum == N * (N - 1) / 2, "sum {}", sum);
    ensure!(ex.is_empty(), "tasks left");
    Ok(())
}

fn many_tasks_in_waves() -> Outcome {
    let ex = Executor::new();
    let mut total = 0u32;
    for wave in 0..20u32 {
        let tasks: Vec<_> = (0..50u32).map(|i| ex.spawn(async move { wave + i })).collect();
        total += block_on(ex.run(async {
            let mut sum = 0;
            for t in tasks {
                sum += t.await;
            }
            sum
        }));
    }
    ensure!(total == 20 * 1225 + 50 * 190, "total {}", total);
    Ok(())
}

fn tasks_wake_each_other() -> Outcome {
    // A ping-pong through a shared slot: each side parks until the other has moved.
    let local = LocalExecutor::new();
    let turn = Rc::new(RefCell::new((0u32, None::<core::task::Waker>)));
    let side = |me: u32| {
        let turn = turn.clone();
        async move {
            for _ in 0..100 {
                core::future::poll_fn(|cx| {
                    let mut t = turn.borrow_mut();
                    if t.0 % 2 == me {
                        t.0 += 1;
                        if let Some(w) = t.1.take() {
                            w.wake();
                        }
                        core::task::Poll::Ready(())
                    } else {
                        t.1 = Some(cx.waker().clone());
                        core::task::Poll::Pending
                    }
                })
                .await;
            }
        }
    };
    let a = local.spawn(side(0));
    let b = local.spawn(side(1));
    block_on(local.run(async {
        a.await;
        b.await;
    }));
    ensure!(turn.borrow().0 == 200, "turns {}", turn.borrow().0);
    Ok(())
}
