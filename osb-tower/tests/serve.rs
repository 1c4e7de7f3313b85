//! `osb_tower::serve::Server` over real loopback sockets: silent and slow connections are closed
//! while others are served, kept-alive connections are closed once idle, the connection limit
//! holds, and shutdown lets requests in flight finish.
#![cfg(feature = "serve")]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod serve_support;

use std::time::Duration;

use osb_tower::serve::Server;
use serve_support::{BOUND, Running, closed, get, response, send};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_connections_are_closed_while_others_are_served() {
    let server = Server::new()
        .header_read_timeout(SHORT)
        .max_connections(1000);
    let server = Running::start(server).await;
    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(server.connect().await);
    }
    // Slowloris: a request head that never ends, one byte every 100 ms until the server hangs up.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let (reader, mut writer) = server.connect().await.into_split();
        tokio::spawn(async move {
            let head = b"GET / HTTP/1.1\r\nHost: test\r\n".iter();
            for byte in head.chain(b"X-Slow: 1\r\n".iter().cycle()) {
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        slow.push(reader);
    }

    for _ in 0..5 {
        assert_eq!(
            get(&mut server.connect().await, "/").await,
            (200, "ok".to_owned())
        );
    }
    for (i, stream) in silent.iter_mut().enumerate() {
        assert!(closed(stream).await, "silent connection {i} is still open");
    }
    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(closed(stream).await, "slow connection {i} is still open");
    }
    assert_eq!(
        get(&mut server.connect().await, "/").await,
        (200, "ok".to_owned())
    );
}

#[tokio::test]
async fn kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Running::start(Server::new().header_read_timeout(LONG).idle_timeout(SHORT)).await;
    let mut stream = server.connect().await;
    assert_eq!(get(&mut stream, "/").await.0, 200);
    // A request within the idle timeout is served on the same connection (a response without
    // a body last, which hyper drops unread).
    assert_eq!(get(&mut stream, "/empty").await.0, 204);
    assert!(
        closed(&mut stream).await,
        "the idle connection is still open"
    );
}

#[tokio::test]
async fn kept_alive_connection_waits_the_idle_timeout_not_the_header_read_timeout() {
    let server = Running::start(Server::new().header_read_timeout(SHORT).idle_timeout(LONG)).await;
    let mut stream = server.connect().await;
    assert_eq!(get(&mut stream, "/").await.0, 200);
    // Idle for three header-read timeouts: hyper's own header timer would have closed it.
    tokio::time::sleep(3 * SHORT).await;
    assert_eq!(get(&mut stream, "/").await.0, 200);
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let server = Running::start(Server::new().max_connections(2)).await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    assert_eq!(get(&mut first, "/").await.0, 200);
    assert_eq!(get(&mut second, "/").await.0, 200);

    let mut third = server.connect().await;
    send(&mut third, "/").await;
    // Cannot be served while the first two are open, however long one waits.
    let early = timeout(Duration::from_millis(500), response(&mut third)).await;
    assert!(
        early.is_err(),
        "a third connection was served beyond the limit of 2"
    );
    drop(first);
    assert_eq!(timeout(BOUND, response(&mut third)).await.unwrap().0, 200);

    // Full again (second, third): a fourth waits, and is served once both close.
    let mut fourth = server.connect().await;
    send(&mut fourth, "/").await;
    drop((second, third));
    assert_eq!(timeout(BOUND, response(&mut fourth)).await.unwrap().0, 200);
}

#[tokio::test]
async fn a_limit_beyond_what_tokio_can_count_serves_as_unlimited() {
    let server = Running::start(Server::new().max_connections(usize::MAX)).await;
    assert_eq!(get(&mut server.connect().await, "/").await.0, 200);
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish_and_closes_idle_connections() {
    let mut server = Running::start(Server::new()).await;
    let mut idle = server.connect().await;
    assert_eq!(get(&mut idle, "/").await.0, 200);
    let mut busy = server.connect().await;
    send(&mut busy, "/slow").await;
    server.started.notified().await;

    server.shut_down();
    assert!(closed(&mut idle).await, "the idle connection is still open");
    assert!(
        !server.task.is_finished(),
        "serve returned with a request in flight"
    );
    server.release.notify_one();
    assert_eq!(
        timeout(BOUND, response(&mut busy)).await.unwrap(),
        (200, "slow".to_owned())
    );
    timeout(BOUND, &mut server.task).await.unwrap().unwrap();
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "still accepting"
    );
}
