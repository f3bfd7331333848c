//! The readiness bookkeeping of one registered socket: a reader and a writer waiting at once are
//! each woken by their own direction's event and only by it, with both waiting APIs
//! (`readable()`/`writable()` futures, and `AsyncRead`/`AsyncWrite`); a cancelled wait gives its
//! waker back.

mod common;

use std::io::{self, IoSliceMut, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::Duration;

use amphi::{Async, dual};
use futures_lite::{AsyncReadExt, AsyncWriteExt, Future};

/// How long a waiter that must stay asleep is watched (it would wake within a millisecond).
const QUIET: Duration = Duration::from_millis(100);
/// How long a waiter that must wake may take, on a loaded machine.
const WAKES: Duration = Duration::from_secs(5);
/// How long a waiter waits at most: one never woken fails its case instead of hanging it.
const GIVE_UP: Duration = Duration::from_secs(10);

/// A connected pair: ours (registered, with no room to write) and a plain blocking peer.
///
/// Both buffers are fixed and small (a set size turns Linux's autotuning off), and the filling
/// goes on until a pause lets nothing more in: data in flight moves from our send buffer to the
/// peer's receive buffer after the first `WouldBlock`, which under emulation takes long enough
/// to make room again.
fn full_pair() -> (Async<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    socket2::SockRef::from(&peer).set_recv_buffer_size(16 * 1024).unwrap();
    let (ours, _) = listener.accept().unwrap();
    socket2::SockRef::from(&ours).set_send_buffer_size(16 * 1024).unwrap();
    let ours = Async::new(ours).unwrap();
    let chunk = [7u8; 16 * 1024];
    let fill = || {
        let mut written = 0;
        loop {
            match ours.get_ref().write(&chunk) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return written,
                Err(e) => panic!("filling the send buffer: {e}"),
            }
        }
    };
    fill();
    while {
        thread::sleep(Duration::from_millis(50));
        fill() > 0
    } {}
    (ours, peer)
}

/// Reads everything the peer was sent until `ours` says it is done (it shuts down its side).
fn drain(peer: &mut TcpStream) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 64 * 1024];
    loop {
        match peer.read(&mut buf).unwrap() {
            0 => return total,
            n => total += n,
        }
    }
}

/// How the reader and the writer wait.
#[derive(Clone, Copy, Debug)]
enum Api {
    /// `readable()` and `writable()` futures (many waiters per direction).
    ReadyFutures,
    /// `AsyncRead::read` and `AsyncWrite::write_all` (one waiter per direction).
    ReadWrite,
}

fn reader_and_writer_each_woken_by_their_own_event(api: Api, first: First) {
    let (ours, mut peer) = full_pair();
    let (read_tx, read_rx) = mpsc::channel::<Option<u8>>();
    let (write_tx, write_rx) = mpsc::channel::<Option<()>>();
    thread::scope(|s| {
        let ours = &ours;
        s.spawn(move || {
            let byte = dual(async {
                let mut buf = [0u8; 1];
                match api {
                    Api::ReadyFutures => {
                        ours.readable().await.unwrap();
                        ours.get_ref().read_exact(&mut buf).unwrap();
                    }
                    Api::ReadWrite => {
                        let mut reader = ours;
                        reader.read_exact(&mut buf).await.unwrap();
                    }
                }
                buf[0]
            })
            .wait_timeout(GIVE_UP);
            // The receiver is gone if the case already failed.
            let _ = read_tx.send(byte.ok());
        });
        s.spawn(move || {
            let written = dual(async {
                match api {
                    Api::ReadyFutures => ours.writable().await.unwrap(),
                    Api::ReadWrite => {
                        let mut writer = ours;
                        writer.write_all(b"after the drain").await.unwrap();
                    }
                }
            })
            .wait_timeout(GIVE_UP);
            let _ = write_tx.send(written.ok());
        });
        // Both wait: nothing to read, no room to write.
        assert!(read_rx.recv_timeout(QUIET).is_err(), "{api:?}: the reader woke with nothing to read");
        assert!(write_rx.try_recv().is_err(), "{api:?}: the writer woke with no room");

        match first {
            First::Read => {
                // A read event only: the reader is woken, the writer stays asleep, registered.
                peer.write_all(&[42]).unwrap();
                assert_eq!(
                    read_rx.recv_timeout(WAKES).ok().flatten(),
                    Some(42),
                    "{api:?}: the reader is woken by its event"
                );
                assert!(write_rx.recv_timeout(QUIET).is_err(), "{api:?}: the writer woke on a read event");
            }
            First::Write => {}
        }
        // Room to write: the writer (left waiting through a read event, or first) is woken.
        let mut peer_writes = peer.try_clone().unwrap();
        let drained = thread::spawn(move || drain(&mut peer));
        let written = write_rx.recv_timeout(WAKES).ok().flatten();
        assert!(written.is_some(), "{api:?}: the writer is woken once there is room");
        if first == First::Write {
            // The reader, left waiting through the write event, is woken by its own now.
            assert!(read_rx.recv_timeout(QUIET).is_err(), "{api:?}: the reader woke on a write event");
            peer_writes.write_all(&[42]).unwrap();
            assert_eq!(
                read_rx.recv_timeout(WAKES).ok().flatten(),
                Some(42),
                "{api:?}: the reader is woken by its event after the writer's"
            );
        }
        ours.get_ref().shutdown(Shutdown::Write).unwrap();
        assert!(drained.join().unwrap() > 0);
    });
}

/// Which waiter's event comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum First {
    Read,
    Write,
}

#[test]
fn a_reader_and_a_writer_of_ready_futures_are_each_woken_by_their_own_event() {
    reader_and_writer_each_woken_by_their_own_event(Api::ReadyFutures, First::Read);
}

#[test]
fn a_reader_and_a_writer_of_read_and_write_are_each_woken_by_their_own_event() {
    reader_and_writer_each_woken_by_their_own_event(Api::ReadWrite, First::Read);
}

#[test]
fn a_writer_woken_first_leaves_the_reader_waiting_for_its_own_event() {
    reader_and_writer_each_woken_by_their_own_event(Api::ReadyFutures, First::Write);
    reader_and_writer_each_woken_by_their_own_event(Api::ReadWrite, First::Write);
}

/// A waker that counts nothing: its `Arc`'s count says who holds it.
struct Held;

impl Wake for Held {
    fn wake(self: Arc<Self>) {}
}

/// A `readable()` / `writable()` future dropped before its event gives back its waker at once,
/// and with it what the waker keeps alive (a task's allocation); it does not wait for the next
/// event on the socket.
#[test]
fn a_cancelled_readiness_wait_gives_its_waker_back() {
    let (ours, _peer) = full_pair();
    let held = Arc::new(Held);
    let waker = Waker::from(held.clone());
    let mut cx = Context::from_waker(&waker);
    {
        let mut readable = pin!(ours.readable());
        assert!(readable.as_mut().poll(&mut cx).is_pending(), "nothing to read yet");
        let mut writable = pin!(ours.writable());
        assert!(writable.as_mut().poll(&mut cx).is_pending(), "no room to write");
        assert_eq!(Arc::strong_count(&held), 4, "the two waits hold the waker");
    }
    assert_eq!(Arc::strong_count(&held), 2, "the dropped waits gave the waker back");
    drop(waker);
    assert_eq!(Arc::strong_count(&held), 1);
}

/// A socket that counts its read attempts, to see what a wait costs: a TCP stream, or a UDP
/// socket read a datagram at a time.
struct Counted<S = TcpStream> {
    inner: S,
    reads: Arc<AtomicUsize>,
}

/// How [`Counted`] reads its socket.
trait Receive {
    /// As `IoSafe::SHORT_READ_EMPTIES`.
    const EMPTIES: bool;
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Receive for TcpStream {
    const EMPTIES: bool = true;
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }
}

impl Receive for std::net::UdpSocket {
    const EMPTIES: bool = false;
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
}

impl<S: Receive> Read for Counted<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.receive(buf)
    }
}

// SAFETY: `Counted` only forwards reads to its socket; it never replaces or closes it.
unsafe impl<S: Receive> amphi::IoSafe for Counted<S> {
    const SHORT_READ_EMPTIES: bool = S::EMPTIES;
}

#[cfg(unix)]
impl<S: std::os::fd::AsFd> std::os::fd::AsFd for Counted<S> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(windows)]
impl<S: std::os::windows::io::AsSocket> std::os::windows::io::AsSocket for Counted<S> {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.inner.as_socket()
    }
}

/// A waker that records that it was called.
struct Flag(mpsc::SyncSender<()>);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        let _ = self.0.try_send(());
    }
}

/// A read that would block after an event it had been woken for (somebody else took the data)
/// waits for the next event, without a second failed attempt: the event is older than the
/// attempt, so it does not count. One more failed read per stale event is what a missing
/// freshness check costs.
#[test]
fn an_event_older_than_the_failed_read_does_not_count() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    // The same socket, read past `Async`'s back (non-blocking too, once `Async` made it so).
    let mut thief = stream.try_clone().unwrap();
    let reads = Arc::new(AtomicUsize::new(0));
    let mut ours = Async::new(Counted { inner: stream, reads: reads.clone() }).unwrap();
    let (woken_tx, woken_rx) = mpsc::sync_channel(8);
    let waker = Waker::from(Arc::new(Flag(woken_tx)));
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 8];

    assert!(pin!(ours.read(&mut buf)).poll(&mut cx).is_pending(), "nothing to read yet");
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    peer.write_all(&[1]).unwrap();
    woken_rx.recv_timeout(WAKES).expect("woken by the read event");
    // The data goes elsewhere before the woken reader reads.
    assert_eq!(thief.read(&mut buf).unwrap(), 1);
    assert!(pin!(ours.read(&mut buf)).poll(&mut cx).is_pending(), "the data is gone");
    assert_eq!(reads.load(Ordering::SeqCst), 2, "one attempt per wake-up, none for the stale event");

    // Still registered: the next byte wakes it, and the read gets it.
    peer.write_all(&[2]).unwrap();
    woken_rx.recv_timeout(WAKES).expect("woken by the next read event");
    match pin!(ours.read(&mut buf)).poll(&mut cx) {
        std::task::Poll::Ready(Ok(1)) => assert_eq!(buf[0], 2),
        other => panic!("the next byte: {other:?}"),
    }
    assert_eq!(reads.load(Ordering::SeqCst), 3);
}

/// A read polled again before any event makes no second attempt: the last one would block, and
/// nothing has arrived since (hyper polls its connection's read side several times per message;
/// each such poll was a failed system call). A poll with another waker moves the registration
/// to it, still without an attempt, and the next event wakes that one and lets the read through.
#[test]
fn a_read_polled_again_before_an_event_makes_no_attempt() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let reads = Arc::new(AtomicUsize::new(0));
    let mut ours = Async::new(Counted { inner: stream, reads: reads.clone() }).unwrap();
    let (first_tx, first_rx) = mpsc::sync_channel(8);
    let first = Waker::from(Arc::new(Flag(first_tx)));
    let (second_tx, second_rx) = mpsc::sync_channel(8);
    let second = Waker::from(Arc::new(Flag(second_tx)));
    let mut buf = [0u8; 8];

    for _ in 0..4 {
        assert!(pin!(ours.read(&mut buf)).poll(&mut Context::from_waker(&first)).is_pending());
    }
    assert_eq!(reads.load(Ordering::SeqCst), 1, "one attempt, then none until an event");
    assert!(pin!(ours.read(&mut buf)).poll(&mut Context::from_waker(&second)).is_pending());
    assert_eq!(reads.load(Ordering::SeqCst), 1, "a new waker needs no attempt either");
    first_rx.recv_timeout(WAKES).expect("the replaced waker is woken, so its task is not stranded");

    peer.write_all(&[7]).unwrap();
    second_rx.recv_timeout(WAKES).expect("the event wakes the waker that replaced it");
    // A read of exactly what it asked for (a shorter one would say the buffer is empty).
    match pin!(ours.read(&mut buf[..1])).poll(&mut Context::from_waker(&second)) {
        std::task::Poll::Ready(Ok(1)) => assert_eq!(buf[0], 7),
        other => panic!("the byte: {other:?}"),
    }
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    // Not blocked any more: the next read attempts again (and would block again).
    assert!(pin!(ours.read(&mut buf)).poll(&mut Context::from_waker(&second)).is_pending());
    assert_eq!(reads.load(Ordering::SeqCst), 3);
}

/// A `readable()` future that was ready stays ready if polled again (the single waiter of
/// `poll_readable` consumes its event instead).
#[test]
fn a_ready_readiness_future_stays_ready() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let ours = Async::new(listener.accept().unwrap().0).unwrap();
    let (woken_tx, woken_rx) = mpsc::sync_channel(8);
    let waker = Waker::from(Arc::new(Flag(woken_tx)));
    let mut cx = Context::from_waker(&waker);
    let mut readable = pin!(ours.readable());
    assert!(readable.as_mut().poll(&mut cx).is_pending(), "nothing to read yet");
    peer.write_all(&[1]).unwrap();
    woken_rx.recv_timeout(WAKES).expect("woken by the read event");
    assert!(readable.as_mut().poll(&mut cx).is_ready(), "ready after its event");
    assert!(readable.as_mut().poll(&mut cx).is_ready(), "and still ready when polled again");
}

/// A stream whose second read sees data arrive only after it failed: the peer writes while the
/// read is in progress, and the read still answers `WouldBlock`, as a read racing the data does.
struct RacedRead {
    inner: TcpStream,
    peer: TcpStream,
    /// The peer of another registered socket.
    elsewhere: TcpStream,
    reads: usize,
}

impl Read for RacedRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.reads == 2 {
            // First an event elsewhere, so that the data's event comes two batches after this
            // attempt, not just the next one.
            self.elsewhere.write_all(&[0]).unwrap();
            thread::sleep(Duration::from_millis(100));
            self.peer.write_all(&[2]).unwrap();
            // Long enough for the thread driving the reactor to see the data's event.
            thread::sleep(Duration::from_millis(200));
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.inner.read(buf)
    }
}

// SAFETY: `RacedRead` only forwards reads to its stream; it never replaces or closes it.
unsafe impl amphi::IoSafe for RacedRead {}

#[cfg(unix)]
impl std::os::fd::AsFd for RacedRead {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for RacedRead {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.inner.as_socket()
    }
}

/// Data whose event the reactor handled between a read's failed attempt and its registration
/// is not missed: the read is ready at once, or woken soon. (With registrations armed once,
/// edge-triggered, no new event would come for it: the check of events since the attempt is
/// what finds it.)
#[test]
fn data_that_arrived_during_a_failed_read_is_not_missed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let (other, elsewhere) = pair();
    let other = Async::new(other).unwrap();
    let raced = RacedRead { inner: stream, peer: peer.try_clone().unwrap(), elsewhere, reads: 0 };
    let mut ours = Async::new(raced).unwrap();
    // A thread idle in `block_on` drives the reactor meanwhile.
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let driver = thread::spawn(move || amphi::block_on(stop_rx.recv()));
    let (woken_tx, woken_rx) = mpsc::sync_channel(8);
    let waker = Waker::from(Arc::new(Flag(woken_tx)));
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 8];

    // A first read gets its data at once, and leaves no registration behind.
    peer.write_all(&[1]).unwrap();
    thread::sleep(Duration::from_millis(50));
    assert!(matches!(pin!(ours.read(&mut buf)).poll(&mut cx), std::task::Poll::Ready(Ok(1))));
    // The second one races the next byte.
    let mut read = pin!(ours.read(&mut buf));
    let got = match read.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(got) => got,
        std::task::Poll::Pending => {
            woken_rx.recv_timeout(WAKES).expect("woken for the data that came during the read");
            match read.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(got) => got,
                std::task::Poll::Pending => panic!("woken, and still not ready"),
            }
        }
    };
    assert_eq!(got.unwrap(), 1);
    assert_eq!(buf[0], 2);
    stop_tx.try_send(()).unwrap();
    driver.join().unwrap().unwrap();
    drop(other);
}

/// A connected pair: ours, and a plain blocking peer.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    (listener.accept().unwrap().0, peer)
}

/// A `readable()` future polled again with no event in between stays pending: only an event
/// after it registered makes it ready.
#[test]
fn a_readiness_future_polled_again_without_an_event_stays_pending() {
    let (ours, _peer) = pair();
    let ours = Async::new(ours).unwrap();
    let (woken_tx, _woken_rx) = mpsc::sync_channel(8);
    let waker = Waker::from(Arc::new(Flag(woken_tx)));
    let mut cx = Context::from_waker(&waker);
    let mut readable = pin!(ours.readable());
    for poll in 1..=3 {
        assert!(readable.as_mut().poll(&mut cx).is_pending(), "poll {poll}: nothing to read");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A `readable()` future made when the data is already there (its event went by, seen by the
/// thread driving the reactor while nobody waited) is woken: a wait asks for the current
/// readiness, not only for the next change.
#[test]
fn a_readiness_wait_for_data_already_there_is_woken() {
    let (ours, mut peer) = pair();
    let ours = Async::new(ours).unwrap();
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let driver = thread::spawn(move || amphi::block_on(stop_rx.recv()));
    peer.write_all(&[1]).unwrap();
    thread::sleep(Duration::from_millis(100));
    let (woken_tx, woken_rx) = mpsc::sync_channel(8);
    let waker = Waker::from(Arc::new(Flag(woken_tx)));
    let mut cx = Context::from_waker(&waker);
    let mut readable = pin!(ours.readable());
    if readable.as_mut().poll(&mut cx).is_pending() {
        woken_rx.recv_timeout(WAKES).expect("woken: the data was there all along");
        assert!(readable.as_mut().poll(&mut cx).is_ready(), "ready once woken");
    }
    stop_tx.try_send(()).unwrap();
    driver.join().unwrap().unwrap();
}

/// A [`Flag`] waker, and the receiver of its calls.
fn flag() -> (Waker, mpsc::Receiver<()>) {
    let (woken_tx, woken_rx) = mpsc::sync_channel(8);
    (Waker::from(Arc::new(Flag(woken_tx))), woken_rx)
}

/// Polls `read` until it is ready, waiting for `woken` between polls.
fn read_when_woken(
    read: &mut (impl Future<Output = io::Result<usize>> + Unpin),
    cx: &mut Context<'_>,
    woken: &mpsc::Receiver<()>,
) -> usize {
    loop {
        match std::pin::Pin::new(&mut *read).poll(cx) {
            std::task::Poll::Ready(n) => return n.unwrap(),
            std::task::Poll::Pending => woken.recv_timeout(WAKES).expect("woken for the read"),
        }
    }
}

/// Waits until `io` is readable, through one `readable()` future.
fn wait_readable<T>(io: &Async<T>, cx: &mut Context<'_>, woken: &mpsc::Receiver<()>) {
    let mut readable = pin!(io.readable());
    while readable.as_mut().poll(cx).is_pending() {
        woken.recv_timeout(WAKES).expect("woken: data is there");
    }
}

/// Sends with `send`, then waits until `io` is readable, through one `readable()` future first
/// polled before the send. A `readable()` polled with the data already there re-arms the
/// registration to learn the level, and the poller then reports the data a second time; a driver
/// that had taken the first report when the re-arm came processes the second after the read, and
/// the read direction counts as ready again. Polled before the data came, the re-arm finds nothing
/// and the data brings one event.
fn wait_readable_after<T>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    woken: &mpsc::Receiver<()>,
    send: impl FnOnce(),
) {
    let mut readable = pin!(io.readable());
    assert!(readable.as_mut().poll(cx).is_pending(), "nothing to read before the send");
    send();
    while readable.as_mut().poll(cx).is_pending() {
        woken.recv_timeout(WAKES).expect("woken: data is there");
    }
}

/// A read from a stream socket that gets less than it asked for has emptied the receive buffer:
/// the next read waits for an event without a failed attempt (Tokio's short-read rule; hyper
/// reads each small message into a buffer of kilobytes, and paid one failed `recv` per message).
#[test]
fn a_short_read_from_a_stream_makes_no_failed_attempt() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let reads = Arc::new(AtomicUsize::new(0));
    let mut ours = Async::new(Counted { inner: stream, reads: reads.clone() }).unwrap();
    let (waker, woken_rx) = flag();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 8];

    // The data's event is handled before the read: one handled after it would let the next
    // read attempt again (it may have brought more).
    wait_readable_after(&ours, &mut cx, &woken_rx, || peer.write_all(&[1, 2, 3]).unwrap());
    assert_eq!(read_when_woken(&mut ours.read(&mut buf), &mut cx, &woken_rx), 3);
    let attempts = reads.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert!(pin!(ours.read(&mut buf)).poll(&mut cx).is_pending(), "nothing more to read");
    }
    assert_eq!(reads.load(Ordering::SeqCst), attempts, "no attempt after the short read");

    // The next bytes wake it, and one attempt reads them.
    peer.write_all(&[4]).unwrap();
    woken_rx.recv_timeout(WAKES).expect("woken by the next bytes");
    assert_eq!(read_when_woken(&mut ours.read(&mut buf), &mut cx, &woken_rx), 1);
    assert_eq!(buf[0], 4);
    assert_eq!(reads.load(Ordering::SeqCst), attempts + 1);
}

/// A short read of a datagram says nothing about the next one (a UDP socket's short reads do not
/// empty it): two datagrams queued behind one event are both read, the second without waiting
/// for an event that will not come.
#[test]
fn a_short_read_from_a_datagram_socket_leaves_the_next_one_readable() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.connect(socket.local_addr().unwrap()).unwrap();
    socket.connect(peer.local_addr().unwrap()).unwrap();
    // Both queued before the socket is registered: one event for the two.
    peer.send(&[1, 2, 3]).unwrap();
    peer.send(&[4, 5, 6]).unwrap();
    let reads = Arc::new(AtomicUsize::new(0));
    let mut ours = Async::new(Counted { inner: socket, reads }).unwrap();
    let (waker, woken_rx) = flag();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 8];

    // The event is taken before the reads: none is left to wake a reader that wrongly waits.
    wait_readable(&ours, &mut cx, &woken_rx);
    assert_eq!(read_when_woken(&mut ours.read(&mut buf), &mut cx, &woken_rx), 3);
    assert_eq!(buf[..3], [1, 2, 3]);
    assert_eq!(read_when_woken(&mut ours.read(&mut buf), &mut cx, &woken_rx), 3, "the second datagram");
    assert_eq!(buf[..3], [4, 5, 6]);
}

/// The end of file behind the last data is not lost: a FIN that arrived with the data comes in
/// the same event, and a read that returns the data short leaves the next one free to find the
/// end at once (an edge-triggered registration brings no further event for it).
#[test]
fn a_short_read_before_the_end_of_file_leaves_the_end_readable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    // Data and the FIN, both there before the socket is registered: one event for the two.
    peer.write_all(&[1, 2, 3]).unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    thread::sleep(Duration::from_millis(20));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut ours = Async::new(Counted { inner: stream, reads }).unwrap();
    let (waker, woken_rx) = flag();
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 8];

    wait_readable(&ours, &mut cx, &woken_rx);
    assert_eq!(read_when_woken(&mut ours.read(&mut buf), &mut cx, &woken_rx), 3);
    assert_eq!(read_when_woken(&mut ours.read(&mut buf), &mut cx, &woken_rx), 0, "the end of file");
}

/// Vectored reads, through `Async` and through `&Async`: they fill the buffers in order, and a
/// short one (fewer bytes than all the buffers hold) makes no failed attempt after it.
#[test]
fn vectored_reads_fill_the_buffers_and_a_short_one_makes_no_failed_attempt() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let reads = Arc::new(AtomicUsize::new(0));
    let mut ours = Async::new(Counted { inner: stream, reads: reads.clone() }).unwrap();
    let (waker, woken_rx) = flag();
    let mut cx = Context::from_waker(&waker);
    let (mut a, mut b) = ([0u8; 2], [0u8; 8]);

    wait_readable_after(&ours, &mut cx, &woken_rx, || peer.write_all(&[1, 2, 3]).unwrap());
    let n = {
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        read_when_woken(&mut ours.read_vectored(&mut bufs), &mut cx, &woken_rx)
    };
    // `Read::read_vectored`'s default fills the first buffer only.
    assert_eq!((n, a), (2, [1, 2]));
    let n = {
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        read_when_woken(&mut ours.read_vectored(&mut bufs), &mut cx, &woken_rx)
    };
    assert_eq!((n, a[0]), (1, 3));
    let attempts = reads.load(Ordering::SeqCst);
    let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    assert!(pin!(ours.read_vectored(&mut bufs)).poll(&mut cx).is_pending(), "nothing more to read");
    assert_eq!(reads.load(Ordering::SeqCst), attempts, "no attempt after the short read");

    // Through `&Async`, on a socket that reads into both buffers at once.
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let theirs = Async::new(listener.accept().unwrap().0).unwrap();
    peer.write_all(&[4, 5, 6, 7, 8]).unwrap();
    wait_readable(&theirs, &mut cx, &woken_rx);
    let mut reader = &theirs;
    let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
    let n = read_when_woken(&mut reader.read_vectored(&mut bufs), &mut cx, &woken_rx);
    assert_eq!(n, 5);
    assert_eq!((a, &b[..3]), ([4, 5], &[6, 7, 8][..]));
}

/// Data that waits unread in a registered socket, with nobody waiting on it, costs no CPU: the
/// registration reports it once (edge-triggered, or disarmed after its event), and the thread
/// that drives the poller meanwhile sleeps until its timer. Reported at every wait instead, it
/// would turn that sleep into a busy loop.
#[cfg(unix)]
#[test]
fn unread_data_with_nobody_waiting_costs_no_cpu() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let mut ours = Async::new(listener.accept().unwrap().0).unwrap();
    peer.write_all(b"first").unwrap();
    let mut buf = [0u8; 5];
    // Registered and read once, so that the socket is armed; then more data that nobody reads.
    dual(ours.read_exact(&mut buf)).wait().unwrap();
    peer.write_all(b"unread").unwrap();
    thread::sleep(Duration::from_millis(20));
    let before = common::process_cpu_time();
    dual(amphi::Timer::after(Duration::from_millis(300))).wait();
    let used = common::process_cpu_time() - before;
    println!("300 ms of waiting beside unread data used {used:?} of CPU");
    assert!(used < Duration::from_millis(60), "300 ms of waiting beside unread data used {used:?} of CPU");
    drop(ours);
}
