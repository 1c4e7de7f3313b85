//! A loopback smoke test of hyper's parsing in front of the OSB service: raw request heads and
//! bodies (bad request lines, bad header bytes, huge headers, bad chunked encoding, conflicting
//! framing) written to a real TCP socket never get a 5xx and never hang; a closed connection or
//! a 4xx are fine, and the service's own 4xx carry the OSB error body.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod fuzz_support;
mod mount_support;
mod support;

use std::time::Duration;

use fuzz_support::{run, runtime};
use mount_support::{PASSWORD, USER, authorization, basic, serve_hyper};
use osb_tower::OsbService;
use osb_tower::auth::RequireAuthLayer;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::Layer;

/// How long one read may wait before the connection counts as hung.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn request_line() -> impl Strategy<Value = String> {
    let method = prop_oneof![
        4 => select(vec!["GET", "PUT", "PATCH", "DELETE"]),
        1 => select(vec!["POST", "get", "G@T", "", "CONNECT", "PUT PUT"]),
    ];
    let target = prop_oneof![
        4 => select(vec![
            "/v2/catalog",
            "/v2/service_instances/i-1",
            "/v2/service_instances/crn%3Av1%3Aa%2F1%3A%3A/service_bindings/b-1",
            "/v2/service_instances/i-1/last_operation?operation=x&accepts_incomplete=maybe",
            "/bluemix_v1/service_instances/i-1",
        ])
        .prop_map(str::to_owned),
        1 => select(vec!["*", "http://example.com/v2/catalog", "v2/catalog", "/v2/%zz", "/\u{e9}"])
            .prop_map(str::to_owned),
        1 => prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| format!("/{}", String::from_utf8_lossy(&b))),
        1 => (1_usize..100_000).prop_map(|n| format!("/v2/service_instances/{}", "a".repeat(n))),
    ];
    let version = prop_oneof![
        6 => Just("HTTP/1.1"),
        1 => select(vec!["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1", "", "HTTP/1.1 x"]),
    ];
    (method, target, version).prop_map(|(m, t, v)| format!("{m} {t} {v}"))
}

fn header_lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let auth = authorization(USER, PASSWORD);
    let good = prop_oneof![
        Just(format!("Authorization: {auth}").into_bytes()),
        Just(b"X-Broker-API-Version: 2.17".to_vec()),
        Just(b"Content-Type: application/json".to_vec()),
        Just(b"X-Broker-API-Request-Identity: r-1".to_vec()),
    ];
    let odd = prop_oneof![
        // Names and values with bytes a header may not hold.
        (
            prop::collection::vec(any::<u8>(), 0..20),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(n, v)| [n, b": ".to_vec(), v].concat()),
        select(vec![
            "NoColon",
            " Leading: space",
            "Name : value",
            "Folded: a\r\n continued",
            ": empty",
            "X-Broker-API-Version: 2.17\r\nX-Broker-API-Version: 2.12",
            "Host: a\r\nHost: b",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        (1_usize..200_000).prop_map(|n| format!("X-Huge: {}", "h".repeat(n)).into_bytes()),
    ];
    let line = prop_oneof![4 => good, 1 => odd];
    prop::collection::vec(line, 0..8)
}

/// Framing and body: none, a right or wrong `Content-Length`, chunks good or bad, or both.
fn framing() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let body = prop_oneof![
        Just(br#"{"service_id":"svc","plan_id":"small","context":{"platform":"x"}}"#.to_vec()),
        prop::collection::vec(any::<u8>(), 0..200),
    ];
    let kind = select(vec![
        "none",
        "length",
        "short",
        "long",
        "twice",
        "chunked",
        "bad-size",
        "no-crlf",
        "huge-size",
        "truncated",
        "both",
        "te-unknown",
    ]);
    (kind, body).prop_map(|(kind, body)| {
        let n = body.len();
        let chunked = |size: String, tail: &[u8]| {
            [
                format!("{size}\r\n").into_bytes(),
                body.clone(),
                tail.to_vec(),
            ]
            .concat()
        };
        let (head, payload): (String, Vec<u8>) = match kind {
            "none" => (String::new(), body.clone()),
            "length" => (format!("Content-Length: {n}\r\n"), body.clone()),
            "short" => (format!("Content-Length: {}\r\n", n / 2), body.clone()),
            "long" => (format!("Content-Length: {}\r\n", n + 50), body.clone()),
            "twice" => (
                format!("Content-Length: {n}\r\nContent-Length: {}\r\n", n + 1),
                body.clone(),
            ),
            "chunked" => (
                "Transfer-Encoding: chunked\r\n".into(),
                chunked(format!("{n:x}"), b"\r\n0\r\n\r\n"),
            ),
            "bad-size" => (
                "Transfer-Encoding: chunked\r\n".into(),
                chunked("zz".into(), b"\r\n0\r\n\r\n"),
            ),
            "no-crlf" => (
                "Transfer-Encoding: chunked\r\n".into(),
                chunked(format!("{n:x}"), b"0\r\n\r\n"),
            ),
            "huge-size" => (
                "Transfer-Encoding: chunked\r\n".into(),
                chunked("ffffffffffffffffff".into(), b""),
            ),
            "truncated" => (
                "Transfer-Encoding: chunked\r\n".into(),
                chunked(format!("{:x}", n + 9), b""),
            ),
            "both" => (
                format!("Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n"),
                chunked(format!("{n:x}"), b"\r\n0\r\n\r\n"),
            ),
            _ => (
                "Transfer-Encoding: gzip, chunked, x\r\n".into(),
                body.clone(),
            ),
        };
        (head.into_bytes(), payload)
    })
}

fn raw_request() -> impl Strategy<Value = Vec<u8>> {
    (
        request_line(),
        header_lines(),
        framing(),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(line, headers, (framing, body), crlf)| {
            let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut raw = [line.as_bytes(), eol, b"Host: 127.0.0.1", eol].concat();
            for header in headers {
                raw.extend_from_slice(&header);
                raw.extend_from_slice(eol);
            }
            raw.extend_from_slice(&framing);
            raw.extend_from_slice(eol);
            raw.extend_from_slice(&body);
            raw
        })
}

/// Writes `raw`, half-closes, reads everything; `Err` when a read waits past the timeout.
async fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> Result<Vec<u8>, TestCaseError> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // hyper may answer and close before reading everything: a failed write is fine.
    let _ = stream.write_all(raw).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    let mut buf = [0_u8; 8192];
    loop {
        match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut buf)).await {
            Err(_) => return Err(TestCaseError::fail("the connection hung")),
            Ok(Ok(0) | Err(_)) => return Ok(answer),
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
        }
    }
}

/// The statuses and bodies of every response in `answer` (hyper answers with a length).
fn responses(mut answer: &[u8]) -> Vec<(u16, bool, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(answer.len() - end - 4);
        let json = head.contains("content-type: application/json");
        let rest = &answer[end + 4..];
        let body = rest.get(..length).unwrap_or(rest);
        out.push((status, json, body.to_vec()));
        answer = &rest[body.len()..];
    }
    out
}

#[test]
fn raw_requests_over_loopback_never_get_a_5xx_or_hang() {
    let rt = runtime();
    let (_broker, osb) = support::setup();
    let server = rt.block_on(serve_hyper(RequireAuthLayer::new(basic()).layer(osb)));
    let addr = server.addr;
    run("loopback", 200, raw_request(), |raw| {
        let answer = rt.block_on(exchange(addr, &raw))?;
        let mut last = 0;
        for (status, json, body) in responses(&answer) {
            prop_assert!(
                (100..500).contains(&status),
                "answered {status}: {:?}",
                String::from_utf8_lossy(&answer)
            );
            if json && status >= 400 {
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                prop_assert!(body["description"].is_string(), "{body}");
            }
            last = status;
        }
        Ok(last) // 0: closed without an answer
    });
    drop(server);
}

/// A body that does not parse is described by field or position: the value is never repeated,
/// wherever the parser's message puts it (it may be a secret in `parameters`).
#[tokio::test]
async fn body_errors_never_repeat_the_value() {
    let server = serve_hyper(OsbService::new(mount_support::TestBroker::new())).await;
    let client = mount_support::client();
    let url = server.url("/v2/service_instances/i-1");
    for body in [
        r#"{"service_id":"svc","plan_id":"small","context":{},"maintenance_info":{"version":"hunter2"}}"#,
        r#"{"service_id":"svc","plan_id":"small","context":{},"parameters":"a, expected hunter2"}"#,
        r#"{"service_id":7777777,"plan_id":"small","context":{}}"#,
        r#"{"service_id":"svc","plan_id":["hunter2"],"context":{}}"#,
    ] {
        let answer = mount_support::send(
            &client,
            mount_support::Call {
                method: &http::Method::PUT,
                url: &url,
                authorization: None,
                version: Some("2.17"),
                body: Some(body),
            },
        )
        .await;
        assert_eq!(answer.status, 400, "{body}");
        let description = answer.json()["description"].as_str().unwrap().to_owned();
        assert!(description.contains("field `"), "{description}");
        for value in ["hunter2", "7777777"] {
            assert!(!description.contains(value), "{body}: {description}");
        }
    }
}
