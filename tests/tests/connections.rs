//! The broker binary's connection settings, over raw loopback sockets: `BROKER_HEADER_READ_TIMEOUT`
//! closes a silent connection, `BROKER_IDLE_TIMEOUT` a kept-alive one, and beyond
//! `BROKER_MAX_CONNECTIONS` a connection waits until another has closed.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use osb_e2e_tests::process::BrokerProcess;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Long enough for anything a correct broker does here, on a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(20);

/// Whether the broker closes `stream` within `within` (end of file or a reset); anything it
/// sends first is read and ignored.
async fn closed(stream: &mut TcpStream, within: Duration) -> bool {
    let until_closed = async {
        let mut chunk = [0; 1024];
        while let Ok(1..) = stream.read(&mut chunk).await {}
    };
    timeout(within, until_closed).await.is_ok()
}

/// Reads one response head (and the `ok` of `/healthz`), returning the head.
async fn healthz_answer(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    while !bytes.ends_with(b"\r\n\r\nok") {
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed before an answer: {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn binary_honours_the_header_read_idle_and_connection_limit_settings() {
    let env = [
        ("BROKER_DATABASE_URL", "memory:"),
        ("BROKER_HEADER_READ_TIMEOUT", "1"),
        ("BROKER_IDLE_TIMEOUT", "1"),
        ("BROKER_MAX_CONNECTIONS", "1"),
    ];
    let broker = BrokerProcess::start(&env, &std::env::temp_dir()).await;
    let addr = broker.url().trim_start_matches("http://").to_owned();

    // A connection that sends nothing takes the only slot (the accept queue is first come,
    // first served) ...
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut client = TcpStream::connect(&addr).await.unwrap();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n")
        .await
        .unwrap();
    // ... so the request is answered only once the header-read timeout has closed it.
    let head = timeout(BOUND, healthz_answer(&mut client))
        .await
        .expect("answered");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        closed(&mut silent, Duration::from_millis(100)).await,
        "answered while the silent connection was still open"
    );

    // The answered connection is kept alive, then closed once idle.
    assert!(
        closed(&mut client, BOUND).await,
        "the idle connection is still open"
    );
}
