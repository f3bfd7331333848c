//! Compile-time checks of the auto traits users rely on. (`LocalExecutor: !Send` is a
//! `compile_fail` doctest on the type.)

use std::future::Future;

use amphi::{Dual, Executor, FallibleTask, LocalExecutor, SpawnError, Task};

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

#[test]
fn executor_is_send_and_sync() {
    send::<Executor<'static>>();
    sync::<Executor<'static>>();
    unwind_safe::<Executor<'static>>();
    unwind_safe::<LocalExecutor<'static>>();
}

#[test]
fn task_handles_are_send_and_sync_for_send_outputs() {
    send::<Task<u32>>();
    sync::<Task<u32>>();
    send::<FallibleTask<String>>();
    sync::<FallibleTask<String>>();
}

#[test]
fn dual_follows_its_future() {
    fn check<F: Future + Send + Sync>(_: &Dual<F>) {
        send::<Dual<F>>();
        sync::<Dual<F>>();
    }
    check(&amphi::dual(async { 1 }));
    send::<SpawnError<std::future::Ready<u8>>>();
}

#[test]
fn builder_and_errors_are_plain_data() {
    send::<amphi::Builder>();
    sync::<amphi::Builder>();
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    error::<amphi::BuilderError>();
    error::<SpawnError<std::future::Ready<u8>>>();
}
