//! Unix: waiting for a child to exit, and reaping the children dropped before they exited, with
//! no thread of their own.
//!
//! On Linux each child gets a *pidfd*, which the reactor watches like a socket: it
//! turns readable when the child exits. Elsewhere on Unix, and where the kernel refuses pidfds
//! (older than 5.3, or a sandbox that forbids the call), and with `AMPHI_CHILD_WAIT=signal`,
//! children are waited on through SIGCHLD: one process-wide [`Signals`] delivers it through the
//! reactor while some child is waited on or dropped unreaped, and every waiter then looks at its
//! own child again (`try_wait`; a SIGCHLD says *a* child changed state, not which).
//!
//! A child dropped while it still runs is an *orphan*. With a pidfd, the orphan's pidfd stays
//! registered with a waker that reaps it: whoever drives the reactor next after the child exited
//! reaps it (`block_on`'s idle thread or, when none, the reactor's fallback driver). Through
//! SIGCHLD, the orphans are reaped at every SIGCHLD the watch reads and at every spawn.

use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::io;
use std::process::ExitStatus;

use futures_lite::future;
use futures_lite::stream::Stream;

use crate::per_process::PerProcess;
use crate::signal::{Signal, Signals};
use crate::sync::Mutex;

/// How a child's exit is waited on.
#[derive(Debug)]
pub(super) enum Exit {
    /// Through the reactor, on the child's pidfd.
    #[cfg(target_os = "linux")]
    PidFd(crate::io::Async<pidfd::PidFd>),
    /// Through SIGCHLD, while this child is waited on or dropped unreaped (it counts as one of
    /// the watch's users meanwhile).
    SigChld,
}

impl Exit {
    /// How `child`, just spawned, will be waited on.
    pub(super) fn new(child: &std::process::Child) -> Exit {
        #[cfg(target_os = "linux")]
        if !crate::config::config().child_wait_signal {
            if let Some(pidfd) = pidfd::open(child) {
                return Exit::PidFd(pidfd);
            }
        }
        let _ = child;
        Exit::SigChld
    }

    /// Waits until the child exited, and reaps it: `look` is its `try_wait`.
    pub(super) async fn wait(
        &self,
        mut look: impl FnMut() -> io::Result<Option<ExitStatus>>,
    ) -> io::Result<ExitStatus> {
        match self {
            #[cfg(target_os = "linux")]
            Exit::PidFd(pidfd) => {
                // `read_with` waits for an event newer than the failed look, so an exit between
                // the look and the wait is not missed.
                pidfd.read_with(|_| look()?.ok_or_else(|| io::ErrorKind::WouldBlock.into())).await
            }
            Exit::SigChld => {
                let _user = SigChld::enter()?;
                let watch = SigChld::get();
                loop {
                    // Registered before the look: a SIGCHLD after it wakes this waiter.
                    let Some(mut sigchld) = watch.readable() else { unreachable!("a user keeps it") };
                    match future::poll_once(&mut sigchld).await {
                        // Ready at once: a SIGCHLD left unread; look after the next round's
                        // registration.
                        Some(ready) => ready?,
                        None => {
                            // Unread numbers would keep the stream readable, and every waiter
                            // awake. Drained before the look, not after: a SIGCHLD between the
                            // look and a drain would be read away, its event with it (an
                            // edge-triggered registration reports data still there only), and
                            // this waiter would sleep through its child's exit.
                            watch.drain();
                            if let Some(status) = look()? {
                                return Ok(status);
                            }
                            sigchld.await?;
                        }
                    }
                }
            }
        }
    }

    /// Takes care of `child`, dropped unreaped and maybe still running, until it exits.
    pub(super) fn orphan(self, mut child: std::process::Child) {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        match self {
            #[cfg(target_os = "linux")]
            Exit::PidFd(pidfd) => Arc::new(pidfd::Orphan(Mutex::new(Some((child, pidfd))))).look(),
            Exit::SigChld => {
                let Ok(user) = SigChld::enter() else {
                    // No watch (out of file descriptors): the next spawn reaps it.
                    SigChld::get().orphans.with(|o| o.push((child, None)));
                    return;
                };
                let watch = SigChld::get();
                watch.orphans.with(|o| o.push((child, Some(user))));
                // Watched from now on (a registration from outside any `block_on` has the
                // reactor's fallback driver read it); and it may have exited before.
                watch.read();
                watch.reap_orphans();
            }
        }
    }
}

/// Reaps the children dropped unreaped that have exited since (the SIGCHLD side's; a pidfd
/// orphan is reaped as soon as it exits). Called at every spawn.
pub(super) fn reap_orphans() {
    if let Some(watch) = SIGCHLD.get() {
        watch.reap_orphans();
    }
}

/// This process's SIGCHLD watch: a child made by `fork()` makes its own (`per_process.rs`).
static SIGCHLD: PerProcess<SigChld> = PerProcess::new();

/// The process-wide SIGCHLD watch.
struct SigChld {
    /// The signal stream while it has users (children waited on, orphans), and their count.
    watch: Mutex<(Option<Signals>, usize)>,
    /// The waker the orphans' watch polls the stream with: it reaps them and reads on.
    waker: Waker,
    /// Children dropped unreaped, with their hold on the watch (none if it could not be made).
    orphans: Mutex<Vec<(std::process::Child, Option<User>)>>,
}

/// A hold on the SIGCHLD watch: the stream is kept while one exists.
#[derive(Debug)]
struct User(());

impl SigChld {
    fn get() -> &'static SigChld {
        SIGCHLD.get_or_init(|| SigChld {
            watch: Mutex::new((None, 0)),
            waker: Waker::from(Arc::new(Notify(SigChld::get))),
            orphans: Mutex::new(Vec::new()),
        })
    }

    /// Becomes a user of the watch, making the stream if it has none.
    fn enter() -> io::Result<User> {
        SigChld::get().watch.with(|(signals, users)| {
            if signals.is_none() {
                *signals = Some(Signals::new([Signal::Child])?);
            }
            *users += 1;
            Ok(User(()))
        })
    }

    /// The stream's readiness, for one waiter; `None` while the watch has no user.
    fn readable(&self) -> Option<crate::io::ReadableOwned<std::os::unix::net::UnixStream>> {
        self.watch.with(|(signals, _)| signals.as_ref().map(Signals::readable))
    }

    /// Reads and drops the SIGCHLDs that arrived.
    fn drain(&self) {
        self.watch.with(|(signals, _)| signals.as_ref().map(Signals::drain));
    }

    /// The orphans' watch: reads the SIGCHLDs that arrived with [`Notify`]'s waker, which keeps
    /// the stream watched for the next one and reaps the orphans then, whoever drives.
    fn read(&self) {
        let mut cx = Context::from_waker(&self.waker);
        self.watch.with(|(signals, _)| {
            if let Some(signals) = signals {
                while let Poll::Ready(Some(_)) = Pin::new(&mut &*signals).poll_next(&mut cx) {}
            }
        });
    }

    fn reap_orphans(&self) {
        let users = self.orphans.with(|orphans| {
            let mut gone = Vec::new();
            orphans.retain_mut(|(child, user)| {
                let live = matches!(child.try_wait(), Ok(None));
                if !live {
                    gone.push(user.take());
                }
                live
            });
            gone
        });
        drop(users);
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let watch = SigChld::get();
        let signals = watch.watch.with(|(signals, users)| {
            *users -= 1;
            if *users == 0 { signals.take() } else { None }
        });
        // Unregistered outside the lock.
        drop(signals);
    }
}

/// The orphans' waker of the SIGCHLD stream, with the way to its watch. (Not a unit struct: a
/// waker's data would then point just past the end of its allocation, and a leak checker counts
/// the waker the reactor keeps as lost.)
struct Notify(fn() -> &'static SigChld);

impl Wake for Notify {
    fn wake(self: Arc<Self>) {
        let watch = (self.0)();
        watch.read();
        watch.reap_orphans();
    }
}

#[cfg(target_os = "linux")]
mod pidfd {
    use super::*;
    use crate::io::{Async, IoSafe};
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

    /// A process's pidfd: readable once the process exited. Never read from.
    #[derive(Debug)]
    pub(in crate::process) struct PidFd(OwnedFd);

    impl AsFd for PidFd {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    // SAFETY: the descriptor is owned here and closed only when `PidFd` drops.
    unsafe impl IoSafe for PidFd {}

    /// `child`'s pidfd registered with the reactor, or `None` where the kernel refuses one.
    pub(super) fn open(child: &std::process::Child) -> Option<Async<PidFd>> {
        let pid = rustix::process::Pid::from_child(child);
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
        // Never read: only its readiness counts, so its blocking mode does not matter.
        Async::new_nonblocking(PidFd(fd)).ok()
    }

    /// A child dropped while it ran; reaped by the waker of its pidfd's readiness.
    pub(super) struct Orphan(pub(super) Mutex<Option<(std::process::Child, Async<PidFd>)>>);

    impl Orphan {
        /// Reaps the child if it exited, and otherwise waits for its pidfd with this orphan as
        /// the waker (the pidfd, re-armed by the wait, reports an exit that came before it).
        pub(super) fn look(self: Arc<Self>) {
            let waker = Waker::from(self.clone());
            let mut cx = Context::from_waker(&waker);
            let done = self.0.with(|slot| {
                let (child, pidfd) = slot.as_mut()?;
                loop {
                    if !matches!(child.try_wait(), Ok(None)) {
                        return slot.take();
                    }
                    match pidfd.poll_readable(&mut cx) {
                        Poll::Pending => return None,
                        Poll::Ready(Ok(())) => {}
                        // The reactor cannot watch it: let go (it is reaped at exit of this
                        // process, as a child of no one's).
                        Poll::Ready(Err(_)) => return slot.take(),
                    }
                }
            });
            // Deregistered and closed outside the lock.
            drop(done);
        }
    }

    impl Wake for Orphan {
        fn wake(self: Arc<Self>) {
            self.look();
        }
    }
}
