//! `amphi::signal`: real signals raised in this process, delivered through the reactor.
#![cfg(unix)]

mod common;

use std::io::ErrorKind;

use amphi::block_on;
use amphi::signal::{Signal, Signals};
use futures_lite::future;
use futures_lite::stream::StreamExt;

/// Raises `signal` in this process (its handler runs on this thread before `raise` returns).
fn raise(signal: libc::c_int) {
    // SAFETY: only signals a test registered a handler for are raised.
    assert_eq!(unsafe { libc::raise(signal) }, 0);
}

/// Ctrl-C's signal.
#[test]
fn an_interrupt_is_received() {
    block_on(async {
        let mut signals = Signals::new([Signal::Int]).unwrap();
        assert!(future::poll_once(signals.next()).await.is_none(), "nothing raised yet");
        raise(libc::SIGINT);
        assert_eq!(signals.next().await.unwrap().unwrap(), Signal::Int);
    });
}

/// A raised signal is there at the next poll, before the reactor has looked: a thousand times,
/// alternating two signals.
#[test]
fn a_raised_signal_is_ready_at_once() {
    block_on(async {
        let mut signals = Signals::new([Signal::Usr1, Signal::Usr2]).unwrap();
        for (i, signal) in [(libc::SIGUSR1, Signal::Usr1), (libc::SIGUSR2, Signal::Usr2)]
            .iter()
            .cycle()
            .take(1000)
            .enumerate()
        {
            let mut next = signals.next();
            assert!(future::poll_once(&mut next).await.is_none(), "round {i}: nothing raised yet");
            raise(signal.0);
            assert_eq!(future::poll_once(&mut next).await.unwrap().unwrap().unwrap(), signal.1, "round {i}");
        }
    });
}

/// Signals raised on another thread, at random moments, each arrive once, in order.
#[test]
fn signals_from_another_thread_each_arrive() {
    const N: usize = 300;
    let mut signals = Signals::new([Signal::Alarm, Signal::Winch]).unwrap();
    let raiser = std::thread::spawn(|| {
        let mut pause = 7u64;
        for i in 0..N {
            raise(if i % 3 == 0 { libc::SIGWINCH } else { libc::SIGALRM });
            // Now and then a pause of up to half a millisecond (a fixed pseudo-random sequence).
            pause = pause.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if pause >> 63 == 1 {
                std::thread::sleep(std::time::Duration::from_micros((pause >> 40) % 500));
            }
        }
    });
    block_on(async {
        for i in 0..N {
            let expected = if i % 3 == 0 { Signal::Winch } else { Signal::Alarm };
            assert_eq!(signals.next().await.unwrap().unwrap(), expected, "signal {i}");
        }
        assert!(future::poll_once(signals.next()).await.is_none(), "no more than were raised");
    });
    raiser.join().unwrap();
}

/// Two streams of one signal both get it; one that removed it, or was dropped, does not, and
/// the other still does.
#[test]
fn every_stream_of_a_signal_gets_it_until_it_lets_go() {
    block_on(async {
        let mut a = Signals::new([Signal::Hup]).unwrap();
        let mut b = Signals::new([Signal::Hup, Signal::Hup]).unwrap();
        assert_eq!(format!("{b:?}"), "{Hup}", "added once");
        raise(libc::SIGHUP);
        assert_eq!(a.next().await.unwrap().unwrap(), Signal::Hup);
        assert_eq!((&b).next().await.unwrap().unwrap(), Signal::Hup);
        a.remove_signals([Signal::Hup]).unwrap();
        raise(libc::SIGHUP);
        assert_eq!(b.next().await.unwrap().unwrap(), Signal::Hup);
        assert!(future::poll_once(a.next()).await.is_none(), "removed");
        let mut c = Signals::new([Signal::Hup]).unwrap();
        drop(b);
        raise(libc::SIGHUP);
        assert_eq!(c.next().await.unwrap().unwrap(), Signal::Hup);
        assert!(future::poll_once(a.next()).await.is_none());
    });
}

/// As with async-signal, a `Signal` cast to an integer is the signal's number.
#[test]
fn a_signal_s_value_is_its_number() {
    assert_eq!(Signal::Usr1 as libc::c_int, libc::SIGUSR1);
    assert_eq!(Signal::Int as libc::c_int, libc::SIGINT);
    assert_eq!(Signal::Sys as libc::c_int, libc::SIGSYS);
}

/// Signals no handler can take are refused with an error, not a panic.
#[test]
fn signals_that_cannot_be_handled_are_an_error() {
    for signal in [Signal::Kill, Signal::Stop, Signal::Segv, Signal::Ill, Signal::Fpe] {
        let err = Signals::new([signal]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{signal:?}");
    }
    let mut signals = Signals::new([Signal::Int]).unwrap();
    assert_eq!(signals.add_signals([Signal::Kill]).unwrap_err().kind(), ErrorKind::InvalidInput);
}

/// Receiving signals starts no thread: the caller's `block_on` drives the reactor. In a child
/// process, so that no other test's threads come and go meanwhile.
#[test]
fn receiving_signals_starts_no_thread() {
    if common::ran_in_child("receiving_signals_starts_no_thread", &[]) {
        return;
    }
    // With the `tokio` feature, the first wait starts the shared Tokio runtime's thread: that one
    // is there before counting.
    block_on(amphi::Timer::after(std::time::Duration::from_millis(1)));
    let before = common::thread_count();
    block_on(async {
        let mut signals = Signals::new([Signal::Usr2]).unwrap();
        let raiser = async {
            amphi::Timer::after(std::time::Duration::from_millis(20)).await;
            raise(libc::SIGUSR2);
        };
        let (got, ()) = future::zip(signals.next(), raiser).await;
        assert_eq!(got.unwrap().unwrap(), Signal::Usr2);
    });
    assert_eq!(common::thread_count(), before, "{:?}", common::thread_names());
}
