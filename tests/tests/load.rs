//! Load: 256 connections of mixed catalog / provision / poll / bind traffic for 30 s on
//! loopback, with zero errors. Run by hand, in release mode:
//!
//! ```sh
//! cargo test -p osb-e2e-tests --release --test load -- --ignored --nocapture
//! ```
//!
//! `LOAD_CONNECTIONS`, `LOAD_SECONDS` and `LOAD_DATABASE_URL` (default `memory:`) change the
//! run. It prints requests/s, p50/p99 latency and the process's peak RSS (server and clients
//! share the process).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use minimal_broker::logic::{LARGE_PLAN_ID, SERVICE_ID, SMALL_PLAN_ID};
use osb_core::managed::StoreUrl;
use osb_e2e_tests::platform::{bind_body, provision_body};
use osb_e2e_tests::{Answer, Platform, RunningBroker, test_config};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak and current resident set size of this process, in KiB, from `/proc/self/status`.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One worker's record: latencies in microseconds and unexpected answers.
#[derive(Default)]
struct Record {
    latencies: Vec<u32>,
    errors: Vec<String>,
}

impl Record {
    async fn time(&mut self, expected: &[u16], request: impl Future<Output = Answer>) -> Answer {
        let start = Instant::now();
        let answer = request.await;
        let micros = u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX);
        self.latencies.push(micros);
        if !expected.contains(&answer.status.as_u16()) && self.errors.len() < 10 {
            self.errors
                .push(format!("{} {}", answer.status, answer.body));
        }
        answer
    }
}

/// A platform's day: catalog, a synchronous instance with a binding, an asynchronous instance
/// polled to completion, everything deleted again. Ids come from a pool of 8 per worker, so
/// the state (tombstones included) stays the same size and memory must level off.
async fn worker(platform: Platform, worker: usize, stop: Arc<AtomicBool>) -> Record {
    let mut record = Record::default();
    let mut pending: Option<String> = None;
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let id = format!("load-{worker}-{}", round % 8);
        record.time(&[200], platform.catalog()).await;
        let small = provision_body(SMALL_PLAN_ID);
        record
            .time(&[201], platform.provision(&id, &small, false))
            .await;
        let bind = bind_body(SMALL_PLAN_ID, None);
        record.time(&[201], platform.bind(&id, "b", &bind)).await;
        record.time(&[200], platform.fetch_binding(&id, "b")).await;
        record
            .time(&[200], platform.unbind(&id, "b", SERVICE_ID, SMALL_PLAN_ID))
            .await;
        record
            .time(&[200], platform.deprovision(&id, SERVICE_ID, SMALL_PLAN_ID))
            .await;
        match pending.take() {
            None => {
                let large = provision_body(LARGE_PLAN_ID);
                let async_id = format!("{id}-large");
                record
                    .time(&[202], platform.provision(&async_id, &large, true))
                    .await;
                pending = Some(async_id);
            }
            Some(async_id) => {
                let polled = record
                    .time(&[200], platform.last_operation(&async_id, None))
                    .await;
                if polled.str("state") == "in progress" {
                    pending = Some(async_id);
                } else {
                    let delete = platform.deprovision(&async_id, SERVICE_ID, LARGE_PLAN_ID);
                    record.time(&[200], delete).await;
                }
            }
        }
    }
    record
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a load run of 30 s; run by hand with --release --ignored --nocapture"]
async fn load_256_connections_for_30_seconds_without_errors() {
    let connections = usize::try_from(setting("LOAD_CONNECTIONS", 256)).unwrap();
    let seconds = setting("LOAD_SECONDS", 30);
    let mut config = test_config();
    if let Ok(url) = std::env::var("LOAD_DATABASE_URL") {
        config.database_url = url.parse::<StoreUrl>().unwrap();
    }
    println!("database: {}", config.database_url);
    let broker = RunningBroker::start(config).await;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            // One client per worker: its own keep-alive connection.
            let platform = broker.platform();
            tokio::spawn(worker(platform, i, stop.clone()))
        })
        .collect();
    for tick in 1..=seconds {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if tick % 10 == 0 {
            let (peak, now) = memory_kib();
            println!(
                "{tick:>3} s: RSS {} MiB (peak {} MiB)",
                now / 1024,
                peak / 1024
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for worker in workers {
        let record = worker.await.unwrap();
        latencies.extend(record.latencies);
        errors.extend(record.errors);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies[index]) / 1000.0
    };
    let (peak, now) = memory_kib();
    println!(
        "{} requests in {elapsed:.1} s over {connections} connections: {:.0} requests/s, \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, peak RSS {} MiB (now {} MiB), {} errors",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        percentile(1.0),
        peak / 1024,
        now / 1024,
        errors.len()
    );
    assert!(errors.is_empty(), "unexpected answers: {errors:#?}");
    broker.stop().await;
}
