//! The platform axis: OS handles and the socket set-up std lacks, chosen here and nowhere else.
//!
//! Every variant has the same inner API:
//! - `Raw`, `Borrowed<'_>`: a raw and a borrowed OS handle, as `polling` registers them;
//! - `AsHandle` and [`borrow`]: the std trait a type implements to be usable in `Async`;
//! - `borrow_raw`, `set_nonblocking`, `connect_nonblocking`;
//! - `forks` and `watch_forks`: how many `fork()`s made this process (always 0 on Windows).
//!
//! The public face of each platform (its handle traits on `Async`, its socket types) is the
//! `io` layer's, in `io/unix.rs` and `io/windows.rs`.

#[cfg_attr(unix, path = "unix.rs")]
#[cfg_attr(windows, path = "windows.rs")]
mod os;

pub(crate) use self::os::*;
