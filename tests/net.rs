//! `amphi::net` on real sockets on loopback.

use std::io::ErrorKind;
use std::net::SocketAddr;

use amphi::net::{AsyncToSocketAddrs, TcpListener, TcpStream, UdpSocket, resolve};
use amphi::{block_on, spawn};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use futures_lite::stream::StreamExt;

/// An address nobody listens on: a port bound and let go.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

#[test]
fn names_and_literals_resolve() {
    block_on(async {
        let local = resolve("localhost:80").await.unwrap();
        assert!(!local.is_empty());
        assert!(local.iter().all(|a| a.ip().is_loopback() && a.port() == 80), "{local:?}");
        assert_eq!(resolve(("localhost", 81)).await.unwrap().len(), local.len());
        assert_eq!(resolve(("localhost".to_string(), 81)).await.unwrap()[0].port(), 81);
        let literal: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(resolve("127.0.0.1:8080").await.unwrap(), [literal]);
        assert_eq!(resolve(("127.0.0.1", 8080)).await.unwrap(), [literal]);
        assert_eq!(resolve(literal).await.unwrap(), [literal]);
        assert_eq!(resolve(&literal).await.unwrap(), [literal]);
        assert_eq!(resolve((literal.ip(), 8080)).await.unwrap(), [literal]);
        assert_eq!(resolve(("::1", 9)).await.unwrap(), ["[::1]:9".parse::<SocketAddr>().unwrap()]);
        assert_eq!(resolve(String::from("[::1]:9")).await.unwrap()[0].port(), 9);
        let both = [literal, closed_port()];
        assert_eq!(resolve(&both[..]).await.unwrap(), both);
        let err = resolve("127.0.0.1:port").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

/// `bind` and `connect` try each address in turn: a refused one is passed over, and with none
/// left the last error is the answer.
#[test]
fn every_address_is_tried_in_turn() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        let refused = closed_port();
        let addrs = [refused, good];
        let stream = TcpStream::connect(&addrs[..]).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), good, "the second address, after the first refused");
        let err = TcpStream::connect(&[refused][..]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let none: &[SocketAddr] = &[];
        assert_eq!(TcpStream::connect(none).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        // Binding: the first address is taken, the second is free.
        let second = TcpListener::bind(&[good, "127.0.0.1:0".parse().unwrap()][..]).await.unwrap();
        assert_ne!(second.local_addr().unwrap(), good);
        // By name: whichever loopback address comes first, one takes the connection.
        let by_name = TcpStream::connect(("localhost", good.port())).await.unwrap();
        assert_eq!(by_name.peer_addr().unwrap(), good);
    });
}

/// A stream's clones read and write at once, on different tasks; `close` ends the peer's read.
#[test]
fn clones_of_a_stream_read_and_write_at_once() {
    const N: usize = 1 << 20;
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            futures_lite::io::copy(stream.clone(), &mut stream.clone()).await.unwrap();
            let mut writer = stream;
            writer.close().await.unwrap();
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        assert!(stream.nodelay().unwrap());
        let mut writer = stream.clone();
        let sending = spawn(async move {
            let data: Vec<u8> = (0..N).map(|i| (i % 253) as u8).collect();
            writer.write_all(&data).await.unwrap();
            writer.close().await.unwrap();
        });
        let mut back = Vec::new();
        let mut reader = stream;
        reader.read_to_end(&mut back).await.unwrap();
        sending.await;
        echo.await;
        assert_eq!(back.len(), N);
        assert!(back.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8));
    });
}

#[test]
fn a_listener_s_incoming_connections() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clients = std::thread::spawn(move || {
            (0..3).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect::<Vec<_>>()
        });
        let accepted: Vec<_> = listener.incoming().take(3).collect().await;
        let clients = clients.join().unwrap();
        assert_eq!(accepted.len(), 3);
        for (stream, client) in accepted.into_iter().zip(&clients) {
            let stream = stream.unwrap();
            assert_eq!(stream.peer_addr().unwrap().ip(), client.local_addr().unwrap().ip());
            assert_eq!(stream.local_addr().unwrap(), addr);
        }
        // Conversions both ways.
        let std_stream = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let converted = TcpStream::try_from(std_stream).unwrap();
        assert_eq!(converted.local_addr().unwrap(), accepted.peer_addr().unwrap());
        let shared: std::sync::Arc<amphi::Async<std::net::TcpStream>> = converted.into();
        assert_eq!(shared.get_ref().peer_addr().unwrap(), addr);
        // `peek` leaves the byte for the read.
        std::io::Write::write_all(&mut shared.get_ref(), b"x").unwrap();
        let mut buf = [0; 1];
        assert_eq!(accepted.peek(&mut buf).await.unwrap(), 1);
        let mut accepted = accepted;
        assert_eq!(accepted.read(&mut buf).await.unwrap(), 1);
        assert_eq!(&buf, b"x");
    });
}

#[test]
fn udp_sockets_send_by_address_and_by_name() {
    block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(a.send_to(b"one", ("127.0.0.1", b_addr.port())).await.unwrap(), 3);
        let mut buf = [0; 16];
        assert_eq!(b.peek_from(&mut buf).await.unwrap(), (3, a_addr));
        assert_eq!(b.recv_from(&mut buf).await.unwrap(), (3, a_addr));
        assert_eq!(&buf[..3], b"one");
        a.connect(b_addr).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        b.connect(a_addr).await.unwrap();
        a.send(b"two").await.unwrap();
        assert_eq!(b.peek(&mut buf).await.unwrap(), 3);
        assert_eq!(b.clone().recv(&mut buf).await.unwrap(), 3);
        assert_eq!(&buf[..3], b"two");
        a.set_ttl(9).unwrap();
        assert_eq!(a.ttl().unwrap(), 9);
        a.set_broadcast(true).unwrap();
        assert!(a.broadcast().unwrap());
        let none: &[SocketAddr] = &[];
        assert_eq!(a.send_to(b"x", none).await.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

/// What `AsyncToSocketAddrs` is implemented for, as async-net has it.
#[test]
fn the_address_types_are_async_net_s() {
    fn takes<A: AsyncToSocketAddrs>(_: A) {}
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    takes(addr);
    takes("127.0.0.1:1");
    takes(String::from("127.0.0.1:1"));
    takes(("localhost", 1));
    takes((String::from("localhost"), 1));
    takes((addr.ip(), 1));
    takes((std::net::Ipv4Addr::LOCALHOST, 1));
    takes((std::net::Ipv6Addr::LOCALHOST, 1));
    takes(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 1));
    takes(std::net::SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 1, 0, 0));
    takes(&[addr][..]);
    // The impl for references, which is what is tested here.
    #[allow(clippy::needless_borrows_for_generic_args)]
    takes(&addr);
}

#[cfg(unix)]
#[test]
fn unix_streams_listeners_and_datagrams() {
    use amphi::net::unix::{UnixDatagram, UnixListener, UnixStream};
    let dir = std::env::temp_dir().join(format!("amphi-net-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"pair").await.unwrap();
        a.close().await.unwrap();
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "pair", "close ended the read");

        let path = dir.join("listener");
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.as_path()));
        let mut client = UnixStream::connect(&path).await.unwrap();
        let mut incoming = listener.incoming();
        let mut server = incoming.next().await.unwrap().unwrap();
        client.write_all(b"hi").await.unwrap();
        let mut buf = [0; 2];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
        server.shutdown(std::net::Shutdown::Both).unwrap();
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);

        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(b"dgram").await.unwrap();
        let mut buf = [0; 8];
        assert_eq!(y.recv(&mut buf).await.unwrap(), 5);
        let bound = UnixDatagram::bind(dir.join("dgram")).unwrap();
        let unbound = UnixDatagram::unbound().unwrap();
        unbound.send_to(b"to", dir.join("dgram")).await.unwrap();
        let (n, from) = bound.recv_from(&mut buf).await.unwrap();
        assert_eq!((n, from.as_pathname()), (2, None), "from an unbound socket");
        unbound.connect(dir.join("dgram")).unwrap();
        unbound.send(b"again").await.unwrap();
        assert_eq!(bound.recv(&mut buf).await.unwrap(), 5);
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
