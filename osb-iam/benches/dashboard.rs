//! The dashboard guard's cost per request: a browser with a valid session (open the sealed
//! cookie, check it, insert the user) and one without (seal a state cookie, 302 to IAM), against
//! the bare handler, in the same run.
//!
//! `cargo bench -p osb-iam --features dashboard --bench dashboard`
#![allow(missing_docs, clippy::unwrap_used)]

#[path = "../tests/dashboard_support/mod.rs"]
mod dashboard_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use dashboard_support::{Browser, INSTANCE, World, dashboard_path};
use http::{Request, Response, header};
use http_body_util::Full;
use tower::{Layer, ServiceExt, service_fn};

async fn handler(_: Request<()>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"dashboard"))))
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // A real sign-in against the fake IAM gives a genuine session cookie.
    let (world, session) = runtime.block_on(async {
        let world = World::start().await;
        let browser = Browser::new();
        browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
        let session = browser.cookie("osb_dashboard").unwrap();
        (world, session)
    });
    let guarded = world.auth.layer().layer(service_fn(handler));
    let bare = service_fn(handler);
    let path = dashboard_path(INSTANCE);
    let cookie = format!("osb_dashboard={session}");
    let request = |with_cookie: bool| {
        let mut builder = Request::builder().uri(path.as_str());
        if with_cookie {
            builder = builder.header(header::COOKIE, cookie.as_str());
        }
        builder.body(()).unwrap()
    };
    // Warm the discovery cache so the redirect case measures the guard, not the fake IAM.
    let first = runtime
        .block_on(guarded.clone().oneshot(request(false)))
        .unwrap();
    assert_eq!(first.status(), 302);
    let signed_in = runtime
        .block_on(guarded.clone().oneshot(request(true)))
        .unwrap();
    assert_eq!(signed_in.status(), 200);

    let mut group = c.benchmark_group("dashboard");
    group.bench_function("bare handler", |b| {
        b.iter(|| {
            runtime
                .block_on(bare.oneshot(black_box(request(true))))
                .unwrap()
        })
    });
    group.bench_function("guard, valid session", |b| {
        b.iter(|| {
            runtime
                .block_on(guarded.clone().oneshot(black_box(request(true))))
                .unwrap()
        })
    });
    group.bench_function("guard, no session (302 to IAM)", |b| {
        b.iter(|| {
            runtime
                .block_on(guarded.clone().oneshot(black_box(request(false))))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
