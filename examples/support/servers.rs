//! A real PostgreSQL and a real Redis on 127.0.0.1 (Debian's `postgresql` and `redis-server`),
//! started for this process on free ports with their data in a fresh temporary directory, and
//! stopped and removed when this process ends, however it ends.
//!
//! Each server runs under a small shell script, its keeper, that holds a pipe from this process:
//! it starts the server, says `ready` once the server answers, stops and starts it again when told
//! to (a test of a server that dies under its clients), and once the pipe closes — the `Server`
//! dropped, or this process gone, even killed — stops the server and removes its directory.
//!
//! PostgreSQL refuses to run as root: as root, the keeper runs as the `postgres` user the package
//! created.
//!
//! Where a server's binaries are missing, [`Server::start`] says which and how to install them;
//! [`shared`] then skips (the caller's test passes, with a line on stderr), unless
//! `AMPHI_REQUIRE_SERVERS` is set, as CI sets it: then a missing server is a failure.
#![allow(dead_code)]

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Redis,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Postgres => "PostgreSQL",
            Kind::Redis => "Redis",
        })
    }
}

/// A server of this process, and its keeper.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    keeper: Mutex<Keeper>,
}

struct Keeper {
    child: Child,
    /// Commands to the keeper; its end of the pipe closing is what stops the server.
    commands: Option<ChildStdin>,
    replies: BufReader<ChildStdout>,
}

impl Server {
    /// Starts a server of its own for the caller, stopped and removed when it drops.
    pub fn start(kind: Kind) -> Result<Self, String> {
        let script = match kind {
            Kind::Postgres => postgres_script()?,
            Kind::Redis => redis_script()?,
        };
        let port = free_port();
        let dir = fresh_dir(kind)?;
        let mut command = Command::new("sh");
        command.arg("-c").arg(KEEPER).arg("keeper").arg(&dir).arg(port.to_string()).arg(script);
        #[cfg(unix)]
        if kind == Kind::Postgres {
            use std::os::unix::process::CommandExt;
            if let Some((uid, gid)) = postgres_user_if_root()? {
                std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {} to the postgres user: {e}", dir.display()))?;
                command.uid(uid).gid(gid);
            }
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the keeper of {kind}: {e}"))?;
        let commands = child.stdin.take();
        let replies = BufReader::new(child.stdout.take().expect("piped"));
        let server = Self { kind, port, keeper: Mutex::new(Keeper { child, commands, replies }) };
        server.expect_reply("ready")?;
        Ok(server)
    }

    /// Stops the server (PostgreSQL: an immediate shutdown, which ends every connection at once;
    /// Redis: killed), and returns once it is gone.
    pub fn stop(&self) {
        self.command("stop", "stopped");
    }

    /// Starts the stopped server again, on the same port and data, and returns once it answers.
    pub fn restart(&self) {
        self.command("start", "ready");
    }

    /// `host=… port=… user=…`, for `tokio_postgres::connect` and `postgres::Client::connect`.
    pub fn postgres_config(&self) -> String {
        assert_eq!(self.kind, Kind::Postgres);
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=10", self.port)
    }

    /// `redis://…`, for `redis::Client::open`.
    pub fn redis_url(&self) -> String {
        assert_eq!(self.kind, Kind::Redis);
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn command(&self, command: &str, reply: &str) {
        {
            let mut keeper = self.keeper.lock().unwrap();
            let stdin = keeper.commands.as_mut().expect("the keeper's pipe is open while the server lives");
            writeln!(stdin, "{command}").and_then(|()| stdin.flush()).expect("the keeper reads its commands");
        }
        if let Err(e) = self.expect_reply(reply) {
            panic!("{}: {e}", self.kind);
        }
    }

    fn expect_reply(&self, expected: &str) -> Result<(), String> {
        let mut keeper = self.keeper.lock().unwrap();
        let mut line = String::new();
        match keeper.replies.read_line(&mut line) {
            Ok(_) if line.trim() == expected => Ok(()),
            Ok(_) => Err(format!(
                "{} did not start: its keeper said {:?} (its log is above)",
                self.kind,
                line.trim()
            )),
            Err(e) => Err(format!("{}: reading its keeper: {e}", self.kind)),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let keeper = self.keeper.get_mut().unwrap_or_else(|e| e.into_inner());
        // The keeper stops the server and removes its data once its pipe closes.
        drop(keeper.commands.take());
        let _ = keeper.child.wait();
    }
}

/// This process's server of `kind`, started on first use and stopped when the process ends; `None`
/// (after a line on stderr saying why) if its binaries are missing and `AMPHI_REQUIRE_SERVERS` is
/// not set.
pub fn shared(kind: Kind) -> Option<&'static Server> {
    static POSTGRES: OnceLock<Result<Server, String>> = OnceLock::new();
    static REDIS: OnceLock<Result<Server, String>> = OnceLock::new();
    let cell = match kind {
        Kind::Postgres => &POSTGRES,
        Kind::Redis => &REDIS,
    };
    match cell.get_or_init(|| Server::start(kind)) {
        Ok(server) => Some(server),
        Err(why) => {
            skip(why);
            None
        }
    }
}

/// Skips a test whose server is missing, or fails it if servers are required.
pub fn skip(why: &str) {
    assert!(std::env::var_os("AMPHI_REQUIRE_SERVERS").is_none(), "AMPHI_REQUIRE_SERVERS is set: {why}");
    // Written to the stream itself, not through `eprintln!`, so that the test harness does not
    // capture it.
    let _ = writeln!(std::io::stderr(), "skipped (a real server is needed): {why}");
}

/// The keeper: `sh -c KEEPER keeper DIR PORT SCRIPT`, where SCRIPT defines `init`, `serve` (runs
/// the server in the foreground) and `answers` (whether it answers yet).
const KEEPER: &str = r#"
set -u
dir=$1 port=$2
eval "$3"
cleanup() { stop; rm -rf "$dir"; }
pid=
start() {
    serve >>"$dir/log" 2>&1 </dev/null &
    pid=$!
    n=0
    until answers; do
        n=$((n + 1))
        if [ $n -gt 600 ] || ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir/log" >&2
            echo failed
            return 1
        fi
        sleep 0.05
    done
    echo ready
}
stop() {
    if [ -n "$pid" ]; then
        kill -s "$stop_signal" "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        pid=
    fi
}
trap cleanup EXIT
trap '' INT
init >"$dir/init.log" 2>&1 </dev/null || { cat "$dir/init.log" >&2; echo failed; exit 1; }
start || exit 1
while read -r command; do
    case $command in
        stop) stop; echo stopped ;;
        start) start || exit 1 ;;
    esac
done
"#;

/// The PostgreSQL server's script. `fsync=off` and `full_page_writes=off` spare the disk; commits
/// stay synchronous (each writes its WAL to the kernel before it returns, no `fsync`), so a
/// server stopped at once (`stop`, SIGQUIT) keeps every committed table and row when restarted:
/// with `synchronous_commit=off` a commit made a few hundred milliseconds before the stop could be
/// lost on a busy machine (the WAL writer had not run yet).
fn postgres_script() -> Result<String, String> {
    let bin = postgres_bin().ok_or_else(|| {
        "PostgreSQL is not installed (no initdb, postgres and pg_isready in /usr/lib/postgresql/*/bin \
         or on PATH): apt-get install postgresql"
            .to_string()
    })?;
    let bin = bin.display();
    Ok(format!(
        r#"
stop_signal=QUIT
init() {{ "{bin}/initdb" -D "$dir/data" -A trust -U postgres --no-sync; }}
serve() {{
    exec "{bin}/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
        -c fsync=off -c full_page_writes=off -c max_connections=300
}}
answers() {{ "{bin}/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; }}
"#
    ))
}

fn redis_script() -> Result<String, String> {
    let server = on_path("redis-server").ok_or_else(|| {
        "Redis is not installed (no redis-server on PATH): apt-get install redis-server".to_string()
    })?;
    let cli = on_path("redis-cli").ok_or_else(|| {
        "Redis's client is not installed (no redis-cli on PATH): apt-get install redis-tools".to_string()
    })?;
    let (server, cli) = (server.display(), cli.display());
    Ok(format!(
        r#"
stop_signal=KILL
init() {{ :; }}
serve() {{
    exec "{server}" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --maxclients 1000
}}
answers() {{ [ "$("{cli}" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; }}
"#
    ))
}

/// The newest `/usr/lib/postgresql/*/bin` (Debian's layout), else the directory of `initdb` on
/// `PATH`; it must hold `initdb`, `postgres` and `pg_isready`.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versions.sort();
    let debian = versions.pop().map(|(_, bin)| bin);
    let on_path = on_path("initdb").and_then(|p| p.parent().map(Path::to_path_buf));
    [debian, on_path]
        .into_iter()
        .flatten()
        .find(|bin| ["initdb", "postgres", "pg_isready"].iter().all(|b| bin.join(b).is_file()))
}

fn on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(binary)).find(|p| p.is_file())
}

/// As root, the uid and gid of the `postgres` user, under which PostgreSQL runs.
#[cfg(unix)]
fn postgres_user_if_root() -> Result<Option<(u32, u32)>, String> {
    // SAFETY: `geteuid` has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id").args([flag, "postgres"]).output().map_err(|e| format!("id: {e}"))?;
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
            "PostgreSQL refuses to run as root and there is no `postgres` user (apt-get install postgresql \
             creates it)"
                .to_string()
        })
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A new empty directory under the temporary directory.
fn fresh_dir(kind: Kind) -> Result<PathBuf, String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "amphi-{}-{}-{}",
        kind.to_string().to_lowercase(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}
