//! Shared by the `serve` tests: a [`Server`] on `127.0.0.1:0` with a tiny axum app, and a raw
//! HTTP/1.1 client on plain sockets, so a test decides byte by byte what a connection sends.
#![allow(dead_code, unreachable_pub)] // each test binary uses part of it

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{Router, routing};
use osb_tower::serve::Server;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// Long enough for anything a correct server does here to happen on a loaded 2-core machine.
pub const BOUND: Duration = Duration::from_secs(20);

/// A running [`Server`]: `GET /` answers `ok`, `GET /empty` `204`; `GET /slow` tells `started`
/// and answers once `release` is notified.
pub struct Running {
    pub addr: SocketAddr,
    pub started: Arc<Notify>,
    pub release: Arc<Notify>,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<()>,
}

impl Running {
    pub async fn start(server: Server) -> Self {
        let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (on_start, on_release) = (started.clone(), release.clone());
        let slow = move || async move {
            on_start.notify_one();
            on_release.notified().await;
            "slow"
        };
        let app = Router::new().route("/", routing::get(|| async { "ok" }));
        let empty = routing::get(|| async { http::StatusCode::NO_CONTENT });
        let app = app
            .route("/slow", routing::get(slow))
            .route("/empty", empty);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, app, async {
            let _ = stop.await;
        }));
        Self {
            addr,
            started,
            release,
            shutdown: Some(shutdown),
            task,
        }
    }

    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// Completes the server's shutdown future.
    pub fn shut_down(&mut self) {
        let _ = self.shutdown.take().map(|tx| tx.send(()));
    }
}

/// Sends `GET path` on `stream`, keeping the connection alive.
pub async fn send(stream: &mut TcpStream, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
}

/// Reads one response: its status code and body (`Content-Length` framing, as axum sends).
pub async fn response(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response: {bytes:?}");
        bytes.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(bytes[..head_end].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .map_or(0, |length| length.trim().parse().unwrap());
    let mut body = bytes[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0; 1024];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    (status, String::from_utf8(body).unwrap())
}

/// `GET path` on `stream` and its answer.
pub async fn get(stream: &mut TcpStream, path: &str) -> (u16, String) {
    send(stream, path).await;
    response(stream).await
}

/// Whether the server closes `stream` (end of file or a reset) within [`BOUND`]; anything it
/// sends first is ignored.
pub async fn closed(stream: &mut (impl AsyncRead + Unpin)) -> bool {
    let until_closed = async {
        let mut chunk = [0; 1024];
        while let Ok(1..) = stream.read(&mut chunk).await {}
    };
    tokio::time::timeout(BOUND, until_closed).await.is_ok()
}
