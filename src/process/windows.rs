//! Windows extensions to [`Command`] and [`Child`], as async-process's `windows` module.

use std::ffi::OsStr;
use std::os::windows::io::{AsRawHandle, RawHandle};
use std::os::windows::process::CommandExt as _;

use super::{Child, Command};

mod sealed {
    pub trait Sealed {}
}

/// Windows extensions to [`Command`] (sealed: implemented for it alone).
pub trait CommandExt: sealed::Sealed {
    /// Sets the [process creation
    /// flags](https://learn.microsoft.com/windows/win32/procthread/process-creation-flags) given to
    /// `CreateProcess`.
    fn creation_flags(&mut self, flags: u32) -> &mut Command;

    /// Appends `text_to_append_as_is` to the command line unquoted, as
    /// [`std::os::windows::process::CommandExt::raw_arg`].
    fn raw_arg<S: AsRef<OsStr>>(&mut self, text_to_append_as_is: S) -> &mut Command;
}

impl sealed::Sealed for Command {}

impl CommandExt for Command {
    fn creation_flags(&mut self, flags: u32) -> &mut Command {
        self.inner.creation_flags(flags);
        self
    }

    fn raw_arg<S: AsRef<OsStr>>(&mut self, text_to_append_as_is: S) -> &mut Command {
        self.inner.raw_arg(text_to_append_as_is);
        self
    }
}

/// The process handle.
impl AsRawHandle for Child {
    fn as_raw_handle(&self) -> RawHandle {
        self.guard.with(|c| c.as_raw_handle())
    }
}
