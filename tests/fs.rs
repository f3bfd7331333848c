//! `amphi::fs` on real files and directories in the temporary directory.

mod common;

use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;

use amphi::{block_on, fs};
use futures_lite::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use futures_lite::stream::StreamExt;

/// A directory of its own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("amphi-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn whole_files_are_written_copied_renamed_and_removed() {
    let dir = TempDir::new("whole");
    block_on(async {
        let a = dir.join("a.txt");
        fs::write(&a, "hello").await.unwrap();
        assert_eq!(fs::read(&a).await.unwrap(), b"hello");
        assert_eq!(fs::read_to_string(&a).await.unwrap(), "hello");
        assert_eq!(fs::metadata(&a).await.unwrap().len(), 5);
        let copied = fs::copy(&a, dir.join("b.txt")).await.unwrap();
        // std counts the bytes on Windows through `CopyFileExW`'s progress callback, which Wine
        // (where CI runs the Windows build) never calls.
        if cfg!(not(windows)) {
            assert_eq!(copied, 5);
        }
        assert_eq!(std::fs::read(dir.join("b.txt")).unwrap(), b"hello");
        fs::rename(dir.join("b.txt"), dir.join("c.txt")).await.unwrap();
        assert_eq!(std::fs::read(dir.join("c.txt")).unwrap(), b"hello");
        assert_eq!(fs::metadata(dir.join("b.txt")).await.unwrap_err().kind(), ErrorKind::NotFound);
        fs::hard_link(&a, dir.join("d.txt")).await.unwrap();
        assert_eq!(std::fs::read(dir.join("d.txt")).unwrap(), b"hello");
        fs::remove_file(&a).await.unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read(&a).await.unwrap_err().kind(), ErrorKind::NotFound);
        let canonical = fs::canonicalize(dir.join("c.txt")).await.unwrap();
        assert!(canonical.is_absolute() && canonical.ends_with("c.txt"));
        let mut perm = fs::metadata(&canonical).await.unwrap().permissions();
        perm.set_readonly(true);
        fs::set_permissions(&canonical, perm).await.unwrap();
        assert!(std::fs::metadata(&canonical).unwrap().permissions().readonly());
        let mut perm = std::fs::metadata(&canonical).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perm.set_readonly(false);
        std::fs::set_permissions(&canonical, perm).unwrap();
    });
}

#[test]
fn directories_are_created_listed_and_removed() {
    let dir = TempDir::new("dirs");
    block_on(async {
        fs::create_dir(dir.join("one")).await.unwrap();
        assert_eq!(fs::create_dir(dir.join("one")).await.unwrap_err().kind(), ErrorKind::AlreadyExists);
        fs::create_dir_all(dir.join("two/three/four")).await.unwrap();
        fs::DirBuilder::new().recursive(true).create(dir.join("five/six")).await.unwrap();
        assert!(fs::DirBuilder::new().create(dir.join("seven/eight")).await.is_err(), "not recursive");
        fs::write(dir.join("file"), "x").await.unwrap();

        let mut names = Vec::new();
        let mut entries = fs::read_dir(&dir.0).await.unwrap();
        assert_eq!(format!("{entries:?}"), "ReadDir { .. }");
        while let Some(entry) = entries.try_next().await.unwrap() {
            let name = entry.file_name().into_string().unwrap();
            assert_eq!(entry.path(), dir.join(&name));
            assert!(format!("{entry:?}").contains(&name));
            let is_dir = entry.file_type().await.unwrap().is_dir();
            assert_eq!(entry.metadata().await.unwrap().is_dir(), is_dir);
            assert_eq!(is_dir, name != "file", "{name}");
            names.push(name);
        }
        names.sort();
        assert_eq!(names, ["file", "five", "one", "two"]);

        fs::remove_dir(dir.join("one")).await.unwrap();
        assert!(fs::remove_dir(dir.join("two")).await.is_err(), "not empty");
        fs::remove_dir_all(dir.join("two")).await.unwrap();
        assert!(!dir.join("two").exists() && !dir.join("one").exists());
        assert!(fs::read_dir(dir.join("none")).await.is_err());
    });
}

/// Reads read ahead on the pool, but a write after reads lands where the reads got to, and a
/// seek counts from there.
#[test]
fn a_file_s_cursor_is_where_its_reads_got_to() {
    let dir = TempDir::new("cursor");
    let path = dir.join("f");
    std::fs::write(&path, "0123456789").unwrap();
    block_on(async {
        let mut f = fs::OpenOptions::new().read(true).write(true).open(&path).await.unwrap();
        let mut three = [0; 3];
        f.read_exact(&mut three).await.unwrap();
        assert_eq!(&three, b"012");
        f.write_all(b"ab").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "012ab56789",
            "written after the three bytes read"
        );
        let mut rest = String::new();
        f.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "56789");

        let mut f = fs::File::open(&path).await.unwrap();
        f.read_exact(&mut three).await.unwrap();
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 3, "after three bytes read");
        assert_eq!(f.seek(SeekFrom::Current(2)).await.unwrap(), 5);
        let mut one = [0; 1];
        f.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"5");
    });
}

/// `set_len`, `sync_all` and `sync_data` write out what waits first.
#[test]
fn set_len_and_sync_write_out_what_waits() {
    let dir = TempDir::new("sync");
    let path = dir.join("f");
    block_on(async {
        let mut f = fs::File::create(&path).await.unwrap();
        // More than the pipe holds (8 MiB): when `write_all` returns, megabytes still wait.
        f.write_all(&vec![1; 12 << 20]).await.unwrap();
        f.set_len(4).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), [1; 4], "all the bytes were written, then cut");
        f.write_all(b"xy").await.unwrap();
        f.sync_all().await.unwrap();
        assert_eq!(
            f.metadata().await.unwrap().len(),
            (12 << 20) + 2,
            "written at the cursor, past the cut: a hole"
        );
        f.sync_data().await.unwrap();
        let mut perm = f.metadata().await.unwrap().permissions();
        perm.set_readonly(true);
        f.set_permissions(perm).await.unwrap();
        assert!(std::fs::metadata(&path).unwrap().permissions().readonly());
        f.close().await.unwrap();
        assert!(format!("{f:?}").contains("File"));
    });
}

#[test]
fn open_options_append_and_create_new() {
    let dir = TempDir::new("options");
    let path = dir.join("log");
    block_on(async {
        let mut f = fs::OpenOptions::new().create_new(true).write(true).open(&path).await.unwrap();
        f.write_all(b"one\n").await.unwrap();
        f.flush().await.unwrap();
        let again = fs::OpenOptions::new().create_new(true).write(true).open(&path).await;
        assert_eq!(again.unwrap_err().kind(), ErrorKind::AlreadyExists);
        let mut log = fs::OpenOptions::default().append(true).open(&path).await.unwrap();
        log.write_all(b"two\n").await.unwrap();
        log.flush().await.unwrap();
        let mut t = fs::OpenOptions::new().write(true).truncate(true).open(dir.join("log")).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "", "truncated on opening");
        t.write_all(b"three").await.unwrap();
        t.flush().await.unwrap();
        let mut read = String::new();
        fs::File::open(&path).await.unwrap().read_to_string(&mut read).await.unwrap();
        assert_eq!(read, "three");
        // A `std::fs::File` given to it.
        let mut from_std = fs::File::from(std::fs::OpenOptions::new().append(true).open(&path).unwrap());
        from_std.write_all(b"!").await.unwrap();
        from_std.flush().await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three!");
    });
}

#[cfg(unix)]
#[test]
fn unix_modes_symlinks_and_inodes() {
    use fs::unix::{DirBuilderExt, DirEntryExt, OpenOptionsExt, PermissionsExt};
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("unix");
    block_on(async {
        let mut b = fs::DirBuilder::new();
        b.mode(0o700).create(dir.join("private")).await.unwrap();
        assert_eq!(fs::metadata(dir.join("private")).await.unwrap().permissions().mode() & 0o777, 0o700);
        let f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .open(dir.join("secret"))
            .await
            .unwrap();
        assert_eq!(f.metadata().await.unwrap().permissions().mode() & 0o777, 0o600);
        use std::os::unix::io::AsRawFd;
        assert!(f.as_raw_fd() >= 0);
        fs::unix::symlink(dir.join("secret"), dir.join("link")).await.unwrap();
        assert_eq!(fs::read_link(dir.join("link")).await.unwrap(), dir.join("secret"));
        assert!(fs::symlink_metadata(dir.join("link")).await.unwrap().file_type().is_symlink());
        assert!(fs::metadata(dir.join("link")).await.unwrap().is_file());
        let mut entries = fs::read_dir(&dir.0).await.unwrap();
        while let Some(entry) = entries.try_next().await.unwrap() {
            let ino = fs::symlink_metadata(entry.path()).await.unwrap().ino();
            assert_eq!(entry.ino(), ino, "{:?}", entry.path());
        }
    });
}

/// File calls run on this crate's blocking pool: they start no thread of another name. In a
/// child process, so that no other test's threads come and go meanwhile.
#[test]
fn files_use_the_blocking_pool_only() {
    if common::ran_in_child("files_use_the_blocking_pool_only", &[]) {
        return;
    }
    let dir = TempDir::new("threads");
    let others =
        || common::thread_names().into_iter().filter(|n| !n.starts_with("amphi-")).collect::<Vec<_>>();
    let before = others();
    block_on(async {
        let mut f = fs::File::create(dir.join("f")).await.unwrap();
        f.write_all(&[7; 100_000]).await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(fs::read(dir.join("f")).await.unwrap().len(), 100_000);
        let mut entries = fs::read_dir(&dir.0).await.unwrap();
        assert!(entries.next().await.is_some());
    });
    assert!(common::threads_named("amphi-blocking") >= 1, "the pool did the work");
    // A new thread is named by itself once it runs (before that, it shows its parent's name): a
    // pool thread just starting may show up as the test's for a moment.
    let settled = common::eventually(std::time::Duration::from_secs(5), || others() == before);
    assert!(settled, "no thread but amphi's started: {:?}, was {before:?}", others());
}
