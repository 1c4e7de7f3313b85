//! `osb_tower::serve::Server` outlives running out of file descriptors: accepting fails with
//! `EMFILE` for a while, then resumes, and the server serves again (its own test binary: it
//! lowers this process's open-files limit).
#![cfg(all(unix, feature = "serve"))]
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod serve_support;

use osb_tower::serve::Server;
use serve_support::{BOUND, Running, get};
use tokio::net::TcpStream;

/// `EMFILE` on Linux and macOS.
const EMFILE: i32 = 24;

#[tokio::test]
async fn accept_errors_for_want_of_descriptors_never_end_the_server() {
    // A limit above what fits: clients and server share this process's 128 descriptors.
    let server = Running::start(Server::new().max_connections(10_000)).await;
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    rlimit::Resource::NOFILE.set(128, hard).unwrap();

    // Connected without yielding to this single-threaded runtime, so the server accepts none of
    // them until every descriptor is taken; then its accepts fail with EMFILE.
    let mut clients = Vec::new();
    let exhausted = loop {
        match std::net::TcpStream::connect(server.addr) {
            Ok(stream) if clients.len() < 1000 => clients.push(stream),
            Ok(_) => break None,
            Err(err) => break Some(err),
        }
    };
    let exhausted = exhausted.expect("1000 connections fit in 128 descriptors");
    assert_eq!(exhausted.raw_os_error(), Some(EMFILE), "{exhausted}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(clients);

    let served = async {
        loop {
            if let Ok(mut stream) = TcpStream::connect(server.addr).await {
                return get(&mut stream, "/").await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let served = tokio::time::timeout(BOUND, served).await;
    rlimit::Resource::NOFILE.set(soft, hard).unwrap();
    assert_eq!(
        served.expect("served again once descriptors are free").0,
        200
    );
    assert!(!server.task.is_finished());
}
