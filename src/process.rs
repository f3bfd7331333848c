//! `amphi::process`: child processes, as async-process 2 offers them, on this crate's reactor,
//! with no thread of their own.
//!
//! On Unix a child's pipes are [`Async`](crate::Async) handles, and its exit is watched through the
//! reactor too: a pidfd on Linux, SIGCHLD elsewhere on Unix (and where the kernel refuses pidfds,
//! or with `AMPHI_CHILD_WAIT=signal`). On Windows its pipes go through the blocking pool
//! ([`Unblock`](crate::Unblock)), as with async-process, and its exit through the process handle,
//! which the system's wait threads watch (`RegisterWaitForSingleObject`). async-process needs its
//! "async-process" thread (or a [`driver`] task) to reap children; here whoever waits drives, and a
//! child dropped before it exited is reaped once it exits (with a pidfd: by whoever drives the
//! reactor then; through SIGCHLD: at the next SIGCHLD read or the next spawn). [`driver`] is kept,
//! as a future that never completes, so that code written for async-process builds unchanged.
//!
//! # Examples
//!
//! ```
//! # #[cfg(unix)] {
//! use amphi::process::{Command, Stdio};
//! use futures_lite::io::{AsyncBufReadExt, BufReader};
//! use futures_lite::stream::StreamExt;
//!
//! amphi::block_on(async {
//!     let out = Command::new("echo").arg("hello").output().await?;
//!     assert_eq!(out.stdout, b"hello\n");
//!
//!     // Lines as the child writes them.
//!     let mut child = Command::new("printf").arg("a\\nb\\n").stdout(Stdio::piped()).spawn()?;
//!     let lines: Vec<String> =
//!         BufReader::new(child.stdout.take().unwrap()).lines().try_collect().await?;
//!     assert_eq!(lines, ["a", "b"]);
//!     assert!(child.status().await?.success());
//!     std::io::Result::Ok(())
//! })?;
//! # }
//! # std::io::Result::Ok(())
//! ```

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;
use core::future::Future;
use std::ffi::OsStr;
use std::io;
use std::path::Path;

use futures_lite::future;
use futures_lite::io::AsyncReadExt;

pub use std::process::{ExitStatus, Output, Stdio};

use self::exit::Exit;
pub use self::stdio::{ChildStderr, ChildStdin, ChildStdout};
use crate::sync::Mutex;

#[cfg_attr(unix, path = "process/exit/unix.rs")]
#[cfg_attr(windows, path = "process/exit/windows.rs")]
mod exit;
mod stdio;
#[cfg(unix)]
pub mod unix;
#[cfg(windows)]
pub mod windows;

/// A builder for spawning processes: [`std::process::Command`]'s, plus what to do with the
/// child when its [`Child`] is dropped.
///
/// # Examples
///
/// ```
/// use amphi::process::Command;
///
/// # amphi::block_on(async {
/// let (shell, run) = if cfg!(windows) { ("cmd", "/C") } else { ("sh", "-c") };
/// let out = Command::new(shell).args([run, "echo hi>&2&& exit 3"]).output().await?;
/// assert_eq!(out.status.code(), Some(3));
/// assert!(out.stderr.starts_with(b"hi"));
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
pub struct Command {
    inner: std::process::Command,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    reap_on_drop: bool,
    kill_on_drop: bool,
}

impl Command {
    /// A command to run `program`, inheriting this process's working directory, environment
    /// and standard streams.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env<K, V>(&mut self, key: K, val: V) -> &mut Command
    where
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// The arguments set so far.
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.inner.get_args()
    }

    /// The environment changes set so far.
    pub fn get_envs(&self) -> std::process::CommandEnvs<'_> {
        self.inner.get_envs()
    }

    /// The working directory set, if any.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.inner.get_current_dir()
    }

    /// The program.
    pub fn get_program(&self) -> &OsStr {
        self.inner.get_program()
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Clears the child's environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the child's standard input ([`Stdio::inherit`] unless set).
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.stdin = true;
        self.inner.stdin(cfg);
        self
    }

    /// Sets the child's standard output ([`Stdio::inherit`] unless set; piped for
    /// [`output`](Command::output)).
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.stdout = true;
        self.inner.stdout(cfg);
        self
    }

    /// Sets the child's standard error ([`Stdio::inherit`] unless set; piped for
    /// [`output`](Command::output)).
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.stderr = true;
        self.inner.stderr(cfg);
        self
    }

    /// Whether a child dropped before it exited is reaped once it exits (the default), rather
    /// than left a zombie until this process exits.
    pub fn reap_on_drop(&mut self, reap_on_drop: bool) -> &mut Command {
        self.reap_on_drop = reap_on_drop;
        self
    }

    /// Whether dropping the [`Child`] kills the process (`SIGKILL`); off by default. A killed
    /// child is reaped as [`reap_on_drop`](Command::reap_on_drop) says.
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Starts the process.
    ///
    /// # Errors
    ///
    /// The OS error if the program cannot be started, or its pipes or exit not watched.
    pub fn spawn(&mut self) -> io::Result<Child> {
        if !self.stdin {
            self.inner.stdin(Stdio::inherit());
        }
        if !self.stdout {
            self.inner.stdout(Stdio::inherit());
        }
        if !self.stderr {
            self.inner.stderr(Stdio::inherit());
        }
        Child::new(self)
    }

    /// Starts the process and waits for it to exit (standard streams inherited unless set).
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + use<> {
        let child = self.spawn();
        async { child?.status().await }
    }

    /// Starts the process and collects its output: standard input is [`Stdio::null`], output
    /// and error are piped, unless set.
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + use<> {
        if !self.stdin {
            self.inner.stdin(Stdio::null());
        }
        if !self.stdout {
            self.inner.stdout(Stdio::piped());
        }
        if !self.stderr {
            self.inner.stderr(Stdio::piped());
        }
        let child = Child::new(self);
        async { child?.output().await }
    }
}

impl From<std::process::Command> for Command {
    fn from(inner: std::process::Command) -> Command {
        Command { inner, stdin: false, stdout: false, stderr: false, reap_on_drop: true, kill_on_drop: false }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.debug_struct("Command")
                .field("inner", &self.inner)
                .field("reap_on_drop", &self.reap_on_drop)
                .field("kill_on_drop", &self.kill_on_drop)
                .finish()
        } else {
            // The command line, as `std::process::Command` shows it.
            fmt::Debug::fmt(&self.inner, f)
        }
    }
}

/// A running (or exited) child process. Dropping it leaves the process running, unless
/// [`Command::kill_on_drop`] said otherwise; it is reaped once it exits (see
/// [`Command::reap_on_drop`]).
pub struct Child {
    /// The child's standard input, if piped.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if piped.
    pub stderr: Option<ChildStderr>,
    /// Shared with the futures of `status` and `output`.
    guard: Arc<Guard>,
}

/// The process, and how its exit is watched; kills and hands it to the reaper when the last
/// of the `Child` and its futures is dropped.
struct Guard {
    /// `None` only once dropped.
    child: Mutex<Option<std::process::Child>>,
    exit: Option<Exit>,
    reap_on_drop: bool,
    kill_on_drop: bool,
}

impl Guard {
    fn with<R>(&self, f: impl FnOnce(&mut std::process::Child) -> R) -> R {
        self.child.with(|c| f(c.as_mut().expect("present until the guard drops")))
    }

    async fn wait(&self) -> io::Result<ExitStatus> {
        let exit = self.exit.as_ref().expect("present until the guard drops");
        exit.wait(|| self.with(std::process::Child::try_wait)).await
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let (Some(mut child), Some(exit)) = (self.child.with(Option::take), self.exit.take()) else { return };
        if self.kill_on_drop {
            // An error means it already exited.
            let _ = child.kill();
        }
        if self.reap_on_drop {
            exit.orphan(child);
        }
    }
}

impl Child {
    fn new(cmd: &mut Command) -> io::Result<Child> {
        // The settings are read before the spawn: a bad one panics with no child started.
        let _ = crate::config::config();
        exit::reap_orphans();
        let mut child = cmd.inner.spawn()?;
        let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let exit = Exit::new(&child);
        let guard = Arc::new(Guard {
            child: Mutex::new(Some(child)),
            exit: Some(exit),
            reap_on_drop: cmd.reap_on_drop,
            kill_on_drop: cmd.kill_on_drop,
        });
        // From here on a failure drops the guard, which reaps (or kills) the child as asked.
        Ok(Child {
            stdin: stdin.map(ChildStdin::new).transpose()?,
            stdout: stdout.map(ChildStdout::new).transpose()?,
            stderr: stderr.map(ChildStderr::new).transpose()?,
            guard,
        })
    }

    /// The process's id.
    pub fn id(&self) -> u32 {
        self.guard.with(|c| c.id())
    }

    /// Kills the process (`SIGKILL`), as [`std::process::Child::kill`] does.
    ///
    /// # Errors
    ///
    /// The OS error of `kill`.
    pub fn kill(&mut self) -> io::Result<()> {
        self.guard.with(std::process::Child::kill)
    }

    /// The exit status if the process has exited, without waiting (standard input stays open).
    ///
    /// # Errors
    ///
    /// The OS error of `waitpid`.
    pub fn try_status(&mut self) -> io::Result<Option<ExitStatus>> {
        self.guard.with(std::process::Child::try_wait)
    }

    /// Closes the child's standard input (so that a child reading it is not left waiting), then
    /// waits for it to exit. Can be called again: the status is kept.
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + use<> {
        self.stdin.take();
        let guard = self.guard.clone();
        async move { guard.wait().await }
    }

    /// Closes the child's standard input, then reads its piped output and error to their ends
    /// and waits for it to exit.
    pub fn output(mut self) -> impl Future<Output = io::Result<Output>> {
        let status = self.status();
        let stdout = read_all(self.stdout.take());
        let stderr = read_all(self.stderr.take());
        async move {
            let (stdout, stderr) = future::try_zip(stdout, stderr).await?;
            Ok(Output { status: status.await?, stdout, stderr })
        }
    }
}

/// Reads `pipe` to its end, if there is one.
async fn read_all(pipe: Option<impl futures_lite::io::AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes).await?;
    }
    Ok(bytes)
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

/// A future that never completes, for code written for async-process, which had to run it (or
/// its own thread) to reap children. Nothing needs driving here: whoever waits drives.
///
/// # Examples
///
/// ```
/// use amphi::process::Command;
/// use futures_lite::future::FutureExt;
///
/// let mut exit_0 = if cfg!(windows) { Command::new("cmd") } else { Command::new("sh") };
/// exit_0.args([if cfg!(windows) { "/C" } else { "-c" }, "exit 0"]);
/// let status = amphi::block_on(
///     async { match amphi::process::driver().await {} }.or(async { exit_0.status().await }),
/// )?;
/// assert!(status.success());
/// # std::io::Result::Ok(())
/// ```
pub fn driver() -> impl Future<Output = Infallible> + Send + 'static {
    future::pending()
}
