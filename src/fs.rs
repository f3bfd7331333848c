//! `amphi::fs`: the file system from async code, as async-fs 2 offers it, on this crate's one
//! blocking pool.
//!
//! Every call is the `std::fs` call of the same name run on the blocking pool ([`unblock`]); a
//! [`File`]'s reads and writes go through an [`Unblock`], which reads ahead and writes behind on a
//! pool thread. Nothing here starts a thread of its own.
//!
//! # Examples
//!
//! ```
//! use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
//!
//! amphi::block_on(async {
//!     let path = std::env::temp_dir().join(format!("amphi-fs-doc-{}", std::process::id()));
//!     amphi::fs::write(&path, b"hello").await?;
//!     let mut file = amphi::fs::OpenOptions::new().append(true).open(&path).await?;
//!     file.write_all(b", world").await?;
//!     file.flush().await?;
//!     assert_eq!(amphi::fs::read_to_string(&path).await?, "hello, world");
//!     amphi::fs::remove_file(&path).await
//! })?;
//! # std::io::Result::Ok(())
//! ```

#![forbid(unsafe_code)]

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::ffi::OsString;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[doc(no_inline)]
pub use std::fs::{FileType, Metadata, Permissions};

use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncSeek, AsyncWrite};
use futures_lite::stream::Stream;

use crate::blocking::{Unblock, unblock};
use crate::task::Task;

/// Runs `op` on the blocking pool with an owned copy of `path`.
async fn on_path<T: Send + 'static>(
    path: impl AsRef<Path>,
    op: impl FnOnce(PathBuf) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let path = path.as_ref().to_owned();
    unblock(move || op(path)).await
}

/// Runs `op` on the blocking pool with owned copies of `a` and `b`.
async fn on_paths<T: Send + 'static>(
    a: impl AsRef<Path>,
    b: impl AsRef<Path>,
    op: impl FnOnce(PathBuf, PathBuf) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let (a, b) = (a.as_ref().to_owned(), b.as_ref().to_owned());
    unblock(move || op(a, b)).await
}

/// The canonical, absolute form of `path`, symbolic links resolved ([`std::fs::canonicalize`]).
pub async fn canonicalize<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    on_path(path, std::fs::canonicalize).await
}

/// Copies the contents and permissions of `src` to `dst`; returns the bytes copied
/// ([`std::fs::copy`]).
pub async fn copy<P: AsRef<Path>, Q: AsRef<Path>>(src: P, dst: Q) -> io::Result<u64> {
    on_paths(src, dst, std::fs::copy).await
}

/// Creates a directory, whose parent must exist ([`std::fs::create_dir`]).
pub async fn create_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    on_path(path, std::fs::create_dir).await
}

/// Creates a directory and every missing parent ([`std::fs::create_dir_all`]).
pub async fn create_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    on_path(path, std::fs::create_dir_all).await
}

/// Makes `dst` a hard link to `src` ([`std::fs::hard_link`]).
pub async fn hard_link<P: AsRef<Path>, Q: AsRef<Path>>(src: P, dst: Q) -> io::Result<()> {
    on_paths(src, dst, std::fs::hard_link).await
}

/// The metadata of `path`, following symbolic links ([`std::fs::metadata`]).
pub async fn metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    on_path(path, std::fs::metadata).await
}

/// The whole contents of a file ([`std::fs::read`]).
pub async fn read<P: AsRef<Path>>(path: P) -> io::Result<Vec<u8>> {
    on_path(path, std::fs::read).await
}

/// The whole contents of a file, which must be UTF-8 ([`std::fs::read_to_string`]).
pub async fn read_to_string<P: AsRef<Path>>(path: P) -> io::Result<String> {
    on_path(path, std::fs::read_to_string).await
}

/// Where a symbolic link points ([`std::fs::read_link`]).
pub async fn read_link<P: AsRef<Path>>(path: P) -> io::Result<PathBuf> {
    on_path(path, std::fs::read_link).await
}

/// Removes an empty directory ([`std::fs::remove_dir`]).
pub async fn remove_dir<P: AsRef<Path>>(path: P) -> io::Result<()> {
    on_path(path, std::fs::remove_dir).await
}

/// Removes a directory and everything in it ([`std::fs::remove_dir_all`]).
pub async fn remove_dir_all<P: AsRef<Path>>(path: P) -> io::Result<()> {
    on_path(path, std::fs::remove_dir_all).await
}

/// Removes a file ([`std::fs::remove_file`]).
pub async fn remove_file<P: AsRef<Path>>(path: P) -> io::Result<()> {
    on_path(path, std::fs::remove_file).await
}

/// Renames `src` to `dst`, replacing `dst` if it is a file ([`std::fs::rename`]).
pub async fn rename<P: AsRef<Path>, Q: AsRef<Path>>(src: P, dst: Q) -> io::Result<()> {
    on_paths(src, dst, std::fs::rename).await
}

/// Changes the permissions of `path` ([`std::fs::set_permissions`]).
pub async fn set_permissions<P: AsRef<Path>>(path: P, perm: Permissions) -> io::Result<()> {
    on_path(path, move |p| std::fs::set_permissions(p, perm)).await
}

/// The metadata of `path` itself, not following a symbolic link ([`std::fs::symlink_metadata`]).
pub async fn symlink_metadata<P: AsRef<Path>>(path: P) -> io::Result<Metadata> {
    on_path(path, std::fs::symlink_metadata).await
}

/// Writes `contents` as the whole of a file, created or truncated ([`std::fs::write`]).
pub async fn write<P: AsRef<Path>, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
    let contents = contents.as_ref().to_owned();
    on_path(path, move |p| std::fs::write(p, contents)).await
}

/// The entries of a directory, as a [`Stream`] ([`std::fs::read_dir`]).
///
/// # Examples
///
/// ```
/// use futures_lite::stream::StreamExt;
///
/// amphi::block_on(async {
///     let mut entries = amphi::fs::read_dir(".").await?;
///     while let Some(entry) = entries.try_next().await? {
///         let _name = entry.file_name();
///     }
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn read_dir<P: AsRef<Path>>(path: P) -> io::Result<ReadDir> {
    let entries = on_path(path, std::fs::read_dir).await?;
    Ok(ReadDir(Entries::Idle(Some(Box::new(entries)))))
}

/// The stream of a directory's entries, from [`read_dir`]: each next entry is read on the
/// blocking pool.
pub struct ReadDir(Entries);

/// Where a [`ReadDir`]'s `std::fs::ReadDir` is (boxed: it is hundreds of bytes on Windows).
enum Entries {
    Idle(Option<Box<std::fs::ReadDir>>),
    Next(Task<(Box<std::fs::ReadDir>, Option<io::Result<std::fs::DirEntry>>)>),
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.0 {
                Entries::Idle(entries) => {
                    let mut entries = entries.take().expect("a `ReadDir` is idle or reading");
                    self.0 = Entries::Next(unblock(move || {
                        let next = entries.next();
                        (entries, next)
                    }));
                }
                Entries::Next(task) => {
                    let (entries, next) = ready!(Pin::new(task).poll(cx));
                    self.0 = Entries::Idle(Some(entries));
                    return Poll::Ready(next.map(|entry| entry.map(|e| DirEntry(Arc::new(e)))));
                }
            }
        }
    }
}

/// An entry of a directory, from [`ReadDir`].
#[derive(Clone)]
pub struct DirEntry(Arc<std::fs::DirEntry>);

impl DirEntry {
    /// The entry's full path: the directory's path joined with [`file_name`](Self::file_name).
    pub fn path(&self) -> PathBuf {
        self.0.path()
    }

    /// The entry's metadata, not following a symbolic link (on most platforms, read on the
    /// blocking pool).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let entry = self.0.clone();
        unblock(move || entry.metadata()).await
    }

    /// The entry's file type, not following a symbolic link.
    pub async fn file_type(&self) -> io::Result<FileType> {
        let entry = self.0.clone();
        unblock(move || entry.file_type()).await
    }

    /// The entry's name within its directory.
    pub fn file_name(&self) -> OsString {
        self.0.file_name()
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.path()).finish()
    }
}

/// Creates directories with options ([`std::fs::DirBuilder`]).
#[derive(Debug, Default)]
pub struct DirBuilder {
    recursive: bool,
    #[cfg(unix)]
    mode: Option<u32>,
}

impl DirBuilder {
    /// A builder that creates one directory, with the default mode.
    pub fn new() -> DirBuilder {
        DirBuilder::default()
    }

    /// Whether missing parents are created too (default: no).
    pub fn recursive(&mut self, recursive: bool) -> &mut Self {
        self.recursive = recursive;
        self
    }

    /// Creates the directory at `path`.
    pub fn create<P: AsRef<Path>>(&self, path: P) -> impl Future<Output = io::Result<()>> + use<P> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(self.recursive);
        #[cfg(unix)]
        if let Some(mode) = self.mode {
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
        }
        let path = path.as_ref().to_owned();
        unblock(move || builder.create(path))
    }
}

/// An open file: [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`], its reads and writes done on
/// the blocking pool (through an [`Unblock`]).
///
/// Reads read ahead; the file's cursor as reads, writes and seeks see it is the one the reads
/// reached (a write or seek after reads puts the OS cursor back there first). Writes are
/// buffered: `flush` (or `sync_all`, `sync_data`, `set_len`) writes them out.
pub struct File {
    /// The file, for calls beside the reads and writes (`metadata`, `sync_all`).
    file: Arc<std::fs::File>,
    /// Reads, writes and seeks. Behind a lock only for the `&self` calls that must flush first;
    /// the `&mut self` ones reach it without locking.
    io: Mutex<Unblock<Shared>>,
    /// Where reads have got to, once a read ran (an error if the file cannot seek): the read
    /// side's pipe may have moved the OS cursor farther.
    read_pos: Option<io::Result<u64>>,
    /// Writes may wait in the pipe.
    dirty: bool,
}

/// The file as the pool thread uses it, shared with [`File::file`].
struct Shared(Arc<std::fs::File>);

impl io::Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

impl io::Seek for Shared {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self.0).seek(pos)
    }
}

impl File {
    fn new(file: std::fs::File, dirty: bool) -> File {
        let file = Arc::new(file);
        File { io: Mutex::new(Unblock::new(Shared(file.clone()))), file, read_pos: None, dirty }
    }

    /// Opens a file for reading ([`std::fs::File::open`]).
    pub async fn open<P: AsRef<Path>>(path: P) -> io::Result<File> {
        Ok(File::new(on_path(path, std::fs::File::open).await?, false))
    }

    /// Creates a file for writing, or truncates it ([`std::fs::File::create`]).
    pub async fn create<P: AsRef<Path>>(path: P) -> io::Result<File> {
        Ok(File::new(on_path(path, std::fs::File::create).await?, false))
    }

    /// Writes out what waits, then syncs the data and the metadata to the device.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.flushed(std::fs::File::sync_all).await
    }

    /// Writes out what waits, then syncs the data to the device.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.flushed(std::fs::File::sync_data).await
    }

    /// Writes out what waits, then truncates or extends the file to `size` bytes.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        self.flushed(move |f| f.set_len(size)).await
    }

    /// The file's metadata.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let file = self.file.clone();
        unblock(move || file.metadata()).await
    }

    /// Changes the file's permissions.
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        let file = self.file.clone();
        unblock(move || file.set_permissions(perm)).await
    }

    /// Flushes the writes (the lock held only within each poll), then runs `op` on the pool.
    async fn flushed<T: Send + 'static>(
        &self,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        future::poll_fn(|cx| {
            let mut io = self.io.lock().unwrap_or_else(|e| e.into_inner());
            Pin::new(&mut *io).poll_flush(cx)
        })
        .await?;
        let file = self.file.clone();
        unblock(move || op(&file)).await
    }

    fn io(&mut self) -> Pin<&mut Unblock<Shared>> {
        Pin::new(self.io.get_mut().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts the OS cursor back where reads got to, before a write or seek.
    fn poll_reposition(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(Ok(pos)) = self.read_pos {
            ready!(self.io().poll_seek(cx, SeekFrom::Start(pos)))?;
        }
        self.read_pos = None;
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.file.fmt(f)
    }
}

impl From<std::fs::File> for File {
    /// Wraps an open file; its first `flush` reaches the pool (a `std::fs::File` given here may
    /// have been written to).
    fn from(file: std::fs::File) -> File {
        File::new(file, true)
    }
}

impl AsyncRead for File {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.read_pos.is_none() {
            // Where reading starts: the logical cursor from now on.
            let start = ready!(self.io().poll_seek(cx, SeekFrom::Current(0)));
            self.read_pos = Some(start);
        }
        let n = ready!(self.io().poll_read(cx, buf))?;
        if let Some(Ok(pos)) = &mut self.read_pos {
            *pos += n as u64;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for File {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_reposition(cx))?;
        self.dirty = true;
        self.io().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.dirty {
            ready!(self.io().poll_flush(cx))?;
            self.dirty = false;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io().poll_close(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(mut self: Pin<&mut Self>, cx: &mut Context<'_>, pos: SeekFrom) -> Poll<io::Result<u64>> {
        ready!(self.poll_reposition(cx))?;
        self.io().poll_seek(cx, pos)
    }
}

#[cfg(unix)]
mod unix_handles {
    use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

    use super::File;

    impl AsRawFd for File {
        fn as_raw_fd(&self) -> RawFd {
            self.file.as_raw_fd()
        }
    }

    impl AsFd for File {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.file.as_fd()
        }
    }

    impl From<OwnedFd> for File {
        fn from(fd: OwnedFd) -> File {
            File::from(std::fs::File::from(fd))
        }
    }
}

#[cfg(windows)]
mod windows_handles {
    use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle, RawHandle};

    use super::File;

    impl AsRawHandle for File {
        fn as_raw_handle(&self) -> RawHandle {
            self.file.as_raw_handle()
        }
    }

    impl AsHandle for File {
        fn as_handle(&self) -> BorrowedHandle<'_> {
            self.file.as_handle()
        }
    }

    impl From<OwnedHandle> for File {
        fn from(handle: OwnedHandle) -> File {
            File::from(std::fs::File::from(handle))
        }
    }
}

/// Options for opening a file ([`std::fs::OpenOptions`]).
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// No access, no creation: set what is needed.
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Opens for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self
    }

    /// Opens for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self
    }

    /// Opens for appending: every write goes to the end of the file.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self
    }

    /// Truncates an existing file to 0 bytes on opening (with `write`).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self
    }

    /// Creates the file if it does not exist (with `write` or `append`).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self
    }

    /// Creates the file, failing if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self
    }

    /// Opens `path` with these options.
    pub fn open<P: AsRef<Path>>(&self, path: P) -> impl Future<Output = io::Result<File>> + use<P> {
        let options = self.0.clone();
        let path = path.as_ref().to_owned();
        let opening = unblock(move || options.open(path));
        async move { Ok(File::new(opening.await?, false)) }
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::OpenOptions {}
    impl Sealed for super::DirBuilder {}
    impl Sealed for super::DirEntry {}
}

/// Unix-specific extensions, as `std::os::unix::fs` has them.
#[cfg(unix)]
pub mod unix {
    use std::io;
    use std::path::Path;

    #[doc(no_inline)]
    pub use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

    use super::sealed::Sealed;
    use super::{DirBuilder, DirEntry, OpenOptions, on_paths};

    /// Makes `dst` a symbolic link to `src` ([`std::os::unix::fs::symlink`]).
    pub async fn symlink<P: AsRef<Path>, Q: AsRef<Path>>(src: P, dst: Q) -> io::Result<()> {
        on_paths(src, dst, std::os::unix::fs::symlink).await
    }

    /// Unix options of [`DirBuilder`].
    pub trait DirBuilderExt: Sealed {
        /// The mode new directories get (default `0o777`, less the umask).
        fn mode(&mut self, mode: u32) -> &mut Self;
    }

    impl DirBuilderExt for DirBuilder {
        fn mode(&mut self, mode: u32) -> &mut Self {
            self.mode = Some(mode);
            self
        }
    }

    /// Unix information of a [`DirEntry`].
    pub trait DirEntryExt: Sealed {
        /// The entry's inode number (`d_ino`).
        fn ino(&self) -> u64;
    }

    impl DirEntryExt for DirEntry {
        fn ino(&self) -> u64 {
            std::os::unix::fs::DirEntryExt::ino(&*self.0)
        }
    }

    /// Unix options of [`OpenOptions`].
    pub trait OpenOptionsExt: Sealed {
        /// The mode a created file gets (default `0o666`, less the umask).
        fn mode(&mut self, mode: u32) -> &mut Self;

        /// Extra `open` flags (the access-mode bits are masked out).
        fn custom_flags(&mut self, flags: i32) -> &mut Self;
    }

    impl OpenOptionsExt for OpenOptions {
        fn mode(&mut self, mode: u32) -> &mut Self {
            std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
            self
        }

        fn custom_flags(&mut self, flags: i32) -> &mut Self {
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
            self
        }
    }
}

/// Windows-specific extensions, as `std::os::windows::fs` has them.
#[cfg(windows)]
pub mod windows {
    use std::io;
    use std::path::Path;

    #[doc(no_inline)]
    pub use std::os::windows::fs::MetadataExt;

    use super::sealed::Sealed;
    use super::{OpenOptions, on_paths};

    /// Makes `dst` a symbolic link to the directory `src` ([`std::os::windows::fs::symlink_dir`]).
    pub async fn symlink_dir<P: AsRef<Path>, Q: AsRef<Path>>(src: P, dst: Q) -> io::Result<()> {
        on_paths(src, dst, std::os::windows::fs::symlink_dir).await
    }

    /// Makes `dst` a symbolic link to the file `src` ([`std::os::windows::fs::symlink_file`]).
    pub async fn symlink_file<P: AsRef<Path>, Q: AsRef<Path>>(src: P, dst: Q) -> io::Result<()> {
        on_paths(src, dst, std::os::windows::fs::symlink_file).await
    }

    /// Windows options of [`OpenOptions`].
    pub trait OpenOptionsExt: Sealed {
        /// `dwDesiredAccess` of `CreateFile`.
        fn access_mode(&mut self, access: u32) -> &mut Self;
        /// `dwShareMode` of `CreateFile`.
        fn share_mode(&mut self, val: u32) -> &mut Self;
        /// Extra `dwFlagsAndAttributes` flags.
        fn custom_flags(&mut self, flags: u32) -> &mut Self;
        /// File attributes of `dwFlagsAndAttributes`.
        fn attributes(&mut self, val: u32) -> &mut Self;
        /// Security quality-of-service flags of `dwFlagsAndAttributes`.
        fn security_qos_flags(&mut self, flags: u32) -> &mut Self;
    }

    impl OpenOptionsExt for OpenOptions {
        fn access_mode(&mut self, access: u32) -> &mut Self {
            std::os::windows::fs::OpenOptionsExt::access_mode(&mut self.0, access);
            self
        }

        fn share_mode(&mut self, val: u32) -> &mut Self {
            std::os::windows::fs::OpenOptionsExt::share_mode(&mut self.0, val);
            self
        }

        fn custom_flags(&mut self, flags: u32) -> &mut Self {
            std::os::windows::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
            self
        }

        fn attributes(&mut self, val: u32) -> &mut Self {
            std::os::windows::fs::OpenOptionsExt::attributes(&mut self.0, val);
            self
        }

        fn security_qos_flags(&mut self, flags: u32) -> &mut Self {
            std::os::windows::fs::OpenOptionsExt::security_qos_flags(&mut self.0, flags);
            self
        }
    }
}
