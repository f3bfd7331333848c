//! Unix extensions to [`Command`], as async-process's `unix::CommandExt`.

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt as _;

use super::Command;

mod sealed {
    pub trait Sealed {}
}

/// Unix extensions to [`Command`] (sealed: implemented for it alone).
pub trait CommandExt: sealed::Sealed {
    /// Sets the child's user id (`setuid` in the child; a failure fails the spawn).
    fn uid(&mut self, id: u32) -> &mut Command;

    /// Sets the child's group id (`setgid` in the child; a failure fails the spawn).
    fn gid(&mut self, id: u32) -> &mut Command;

    /// Replaces this process with the command (`execvp`), as
    /// [`std::os::unix::process::CommandExt::exec`]: returns only on failure.
    fn exec(&mut self) -> io::Error;

    /// Sets the child's `argv[0]`.
    fn arg0<S>(&mut self, arg: S) -> &mut Command
    where
        S: AsRef<OsStr>;
}

impl sealed::Sealed for Command {}

impl CommandExt for Command {
    fn uid(&mut self, id: u32) -> &mut Command {
        self.inner.uid(id);
        self
    }

    fn gid(&mut self, id: u32) -> &mut Command {
        self.inner.gid(id);
        self
    }

    fn exec(&mut self) -> io::Error {
        self.inner.exec()
    }

    fn arg0<S>(&mut self, arg: S) -> &mut Command
    where
        S: AsRef<OsStr>,
    {
        self.inner.arg0(arg);
        self
    }
}
