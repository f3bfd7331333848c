//! A sync CLI-style `main` on smol's other half: lists a directory with `amphi::fs`, hashes every
//! file in it concurrently (one task each, reading in chunks), runs `cksum` over the same files
//! with `amphi::process` and prints its lines as they come, checking each size against its own
//! count; and stops cleanly on Ctrl-C (SIGINT or SIGTERM through `amphi::signal`): the hashing
//! tasks are cancelled, the child is killed and reaped, a summary is printed, exit status 130.
//! No runtime code beyond one `block_on`; no thread of its own for the child or the signals.
//!
//! `cargo run --release --example hash_tree -- [DIR]` (default: `src/`). Unix only for now, as
//! `amphi::process` and `amphi::signal` are.

#[cfg(unix)]
fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "src".to_string());
    match amphi::block_on(unix::run(std::path::Path::new(&dir), unix::Pace::Full)) {
        Ok(unix::Outcome::Done(summary)) => println!("{summary}"),
        Ok(unix::Outcome::Interrupted(summary)) => {
            println!("interrupted: {summary}");
            std::process::exit(130);
        }
        Err(err) => {
            eprintln!("hash_tree: {dir}: {err}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(unix))]
fn main() {
    eprintln!("hash_tree: Unix only for now (amphi::process and amphi::signal are)");
}

#[cfg(unix)]
mod unix {
    use std::collections::BTreeMap;
    use std::hash::Hasher;
    use std::io;
    use std::path::{Path, PathBuf};

    use amphi::process::{Command, Stdio};
    use amphi::signal::{Signal, Signals};
    use futures_lite::future::FutureExt as _;
    use futures_lite::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
    use futures_lite::stream::StreamExt as _;

    /// How fast `cksum` is run: over all files at once, or one file a second (so that a test can
    /// interrupt it mid-way).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Pace {
        Full,
        #[cfg_attr(not(test), allow(dead_code, reason = "the tests'"))]
        Slow,
    }

    pub enum Outcome {
        Done(String),
        Interrupted(String),
    }

    /// A file's hash (SipHash with fixed keys) and size, read in 64 KiB chunks.
    pub async fn hash_file(path: PathBuf) -> io::Result<(u64, u64)> {
        let mut file = amphi::fs::File::open(&path).await?;
        let mut hasher = std::hash::DefaultHasher::new();
        let mut buf = vec![0; 64 * 1024];
        let mut size = 0;
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok((hasher.finish(), size));
            }
            hasher.write(&buf[..n]);
            size += n as u64;
        }
    }

    /// The regular files directly in `dir`, sorted.
    async fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut entries = amphi::fs::read_dir(dir).await?;
        let mut files = Vec::new();
        while let Some(entry) = entries.try_next().await? {
            if entry.file_type().await?.is_file() {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(files)
    }

    pub async fn run(dir: &Path, pace: Pace) -> io::Result<Outcome> {
        // First, so that a Ctrl-C from here on is ours.
        let mut interrupt = Signals::new([Signal::Int, Signal::Term])?;
        let files = list(dir).await?;
        println!("{} files in {}", files.len(), dir.display());

        // One task per file on the global executor; dropped, a task is cancelled.
        let hashing: Vec<_> = files.iter().map(|f| (f.clone(), amphi::spawn(hash_file(f.clone())))).collect();

        // `cksum` over the same files, its lines printed as they come.
        let mut cmd = match pace {
            Pace::Full => {
                let mut cmd = Command::new("cksum");
                cmd.args(&files);
                cmd
            }
            Pace::Slow => {
                let mut cmd = Command::new("sh");
                cmd.args(["-c", "for f; do cksum \"$f\"; sleep 1; done", "sh"]).args(&files);
                cmd
            }
        };
        let mut child = cmd.stdout(Stdio::piped()).kill_on_drop(true).spawn()?;
        println!("cksum is process {}", child.id());
        let stdout = child.stdout.take().expect("piped");

        let work = async {
            let mut sizes_by_cksum = BTreeMap::new();
            let mut lines = BufReader::new(stdout).lines();
            while let Some(line) = lines.next().await {
                let line = line?;
                println!("cksum: {line}");
                // `<crc> <size> <path>`
                let mut fields = line.splitn(3, ' ');
                let (_, size, path) = (fields.next(), fields.next(), fields.next());
                let size: u64 =
                    size.and_then(|s| s.parse().ok()).ok_or_else(|| io::Error::other(line.clone()))?;
                sizes_by_cksum.insert(PathBuf::from(path.unwrap_or_default()), size);
            }
            let status = child.status().await?;
            let mut total = 0;
            for (path, task) in hashing {
                let (hash, size) = task.await?;
                println!("{hash:016x} {size:>9} {}", path.display());
                if sizes_by_cksum.get(&path) != Some(&size) {
                    return Err(io::Error::other(format!(
                        "{}: cksum counts {:?}",
                        path.display(),
                        sizes_by_cksum.get(&path)
                    )));
                }
                total += size;
            }
            io::Result::Ok(Outcome::Done(format!("{} files, {total} bytes; cksum: {status}", files.len())))
        };
        let stop = async {
            let signal = interrupt.next().await.expect("the stream never ends")?;
            io::Result::Ok(Outcome::Interrupted(format!(
                "{signal:?} received; hashing cancelled, cksum killed"
            )))
        };
        // Whichever ends first; the other is dropped: its tasks cancelled, its child killed.
        work.or(stop).await
    }

    /// The whole program on a directory of generated files: every file hashed as a plain read
    /// hashes it, every size as `cksum` counts it.
    #[test]
    fn hashes_every_file_and_checks_cksum() {
        let dir = std::env::temp_dir().join(format!("amphi-hash-tree-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut expected = BTreeMap::new();
        for i in 0..20u32 {
            let path = dir.join(format!("file {i}"));
            let data: Vec<u8> = (0..i * 10_007).map(|b| (b % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let mut hasher = std::hash::DefaultHasher::new();
            hasher.write(&data);
            expected.insert(path, (hasher.finish(), data.len() as u64));
        }
        std::fs::create_dir(dir.join("a directory")).unwrap();
        let outcome = amphi::block_on(run(&dir, Pace::Full)).unwrap();
        let got: BTreeMap<_, _> = expected
            .keys()
            .map(|path| (path.clone(), amphi::block_on(hash_file(path.clone())).unwrap()))
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        let Outcome::Done(summary) = outcome else { panic!("not interrupted") };
        let total: u64 = expected.values().map(|v| v.1).sum();
        assert!(summary.starts_with(&format!("20 files, {total} bytes; cksum: exit status: 0")), "{summary}");
        assert_eq!(got, expected);
    }

    #[cfg(test)]
    const CHILD: &str = "AMPHI_HASH_TREE_CHILD";

    #[test]
    fn child() {
        if let Some(dir) = std::env::var_os(CHILD) {
            match amphi::block_on(run(Path::new(&dir), Pace::Slow)).unwrap() {
                Outcome::Interrupted(summary) => println!("interrupted: {summary}"),
                Outcome::Done(summary) => panic!("ran to the end: {summary}"),
            }
        }
    }

    /// The program in a child process, interrupted while `cksum` runs: it stops within a second,
    /// says so, and its `cksum` child is gone (killed and reaped, not left running).
    #[test]
    fn ctrl_c_stops_it_and_kills_its_child() {
        use std::io::BufRead;
        use std::time::{Duration, Instant};

        let dir = std::env::temp_dir().join(format!("amphi-hash-tree-int-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..10 {
            std::fs::write(dir.join(format!("f{i}")), [i as u8; 100]).unwrap();
        }
        let mut program = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["unix::child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, &dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(program.stdout.take().unwrap());
        let mut line = String::new();
        let mut cksum_pid = None;
        // Until `cksum` has printed its first line: work is in flight.
        while out.read_line(&mut line).unwrap() > 0 {
            if let Some(pid) = line.trim().strip_prefix("cksum is process ") {
                cksum_pid = Some(pid.parse::<i32>().unwrap());
            }
            if line.starts_with("cksum: ") {
                break;
            }
            line.clear();
        }
        let cksum_pid = cksum_pid.expect("the program said its child's pid");
        let sent = Instant::now();
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(program.id() as i32, libc::SIGINT) }, 0);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let status = program.wait().unwrap();
        let took = sent.elapsed();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(status.success(), "{status}: {rest}");
        assert!(rest.contains("interrupted: Int received"), "{rest}");
        assert!(took < Duration::from_secs(1), "stopped after {took:?}");
        // Killed, and reaped by the program before it exited: no such process any more (or, if
        // the pid was taken again already, not the shell running cksum).
        let stat = std::fs::read_to_string(format!("/proc/{cksum_pid}/cmdline")).unwrap_or_default();
        assert!(!stat.contains("cksum"), "cksum still runs: {stat:?}");
    }
}
