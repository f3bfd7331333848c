//! Running out of descriptors and handing the reactor what it cannot take: clear errors, no hang,
//! no spin, and service resumes when the cause goes away.

mod common;

// Every test here needs Unix (a descriptor limit, a file handed to epoll); on Windows each is
// listed as ignored, with its reason.
#[cfg(unix)]
use {
    amphi::{Async, Timer, block_on},
    common::ran_in_child,
    std::fs::File,
    std::io,
    std::net::{TcpListener, TcpStream},
    std::time::Duration,
};

/// Sets this process's soft limit on open descriptors.
#[cfg(unix)]
fn set_nofile_limit(soft: libc::rlim_t) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable `rlimit`.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: `lim` is a valid `rlimit`.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

#[cfg(unix)]
#[test]
fn accept_reports_emfile_and_serves_again_when_descriptors_free_up() {
    if ran_in_child("accept_reports_emfile_and_serves_again_when_descriptors_free_up", &[]) {
        return;
    }
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    // Make sure the reactor exists before descriptors run out.
    block_on(Timer::after(Duration::from_millis(1)));

    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as libc::rlim_t;
    set_nofile_limit(open + 8);
    // Two clients wait in the listen backlog (connect completes without an accept).
    let clients: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Use up every remaining descriptor.
    let mut filler = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
    }
    assert!(!filler.is_empty());

    // The accept fails with the OS cause, promptly: no hang, no retry loop.
    let err = block_on(async {
        futures_lite::future::or(async { listener.accept().await.map(|_| ()) }, async {
            Timer::after(Duration::from_secs(10)).await;
            panic!("accept hung at the descriptor limit");
        })
        .await
    })
    .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");

    // Free descriptors: the server accepts the waiting clients again.
    filler.truncate(filler.len() - 2);
    for _ in 0..2 {
        let (stream, peer) = block_on(listener.accept()).expect("accepts once descriptors are free");
        assert!(clients.iter().any(|c| c.local_addr().unwrap() == peer));
        drop(stream);
    }
}

#[cfg(windows)]
#[test]
#[ignore = "Windows has no per-process limit on open sockets (no RLIMIT_NOFILE) to lower, so accept cannot be made to run out"]
fn accept_reports_emfile_and_serves_again_when_descriptors_free_up() {}

#[cfg(unix)]
#[test]
fn async_new_on_a_regular_file_is_an_error() {
    // epoll cannot watch a regular file: the registration fails with the OS cause, not a panic.
    let file = File::open("Cargo.toml").unwrap();
    let err = Async::new(file).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
}

#[cfg(windows)]
#[test]
#[ignore = "on Windows `Async` takes only sockets (`AsSocket`): a file is refused at compile time, not by the reactor"]
fn async_new_on_a_regular_file_is_an_error() {}
