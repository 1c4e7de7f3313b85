//! The metering client against a fake metering API on loopback: batching, per-record outcomes,
//! retries, token refresh, checks before sending.
#![cfg(feature = "metering")]
#![allow(clippy::unwrap_used)]

mod metering_support;

use std::time::Duration;

use metering_support::{FakeMetering, Fault, HOUR, MARCH_10, PLAN, Rule, TestClock, crn};
use osb_iam::apikey::{ApiKey, ApiKeyClient};
use osb_iam::metering::{InvalidRecord, MeteringClient, Outcome, SubmitError, UsageRecord};

fn record(n: usize, hour_start: i64) -> UsageRecord {
    UsageRecord::builder(crn(n), PLAN)
        .window(hour_start, hour_start + HOUR)
        .measure("API_CALL", 10_u64)
        .build()
        .unwrap()
}

fn records(count: usize) -> Vec<UsageRecord> {
    (0..count).map(|n| record(n, MARCH_10)).collect()
}

fn keys(records: &[UsageRecord]) -> Vec<String> {
    records.iter().map(UsageRecord::duplicate_key).collect()
}

/// Two hours after the records' hour.
fn clock() -> std::sync::Arc<TestClock> {
    TestClock::at(MARCH_10 + 2 * HOUR)
}

#[tokio::test]
async fn happy_path_every_record_is_accepted_with_a_bearer_token() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    let batch = records(3);
    let outcomes = client.submit(&batch).await.unwrap();
    assert_eq!(outcomes, vec![Outcome::Accepted; 3]);
    fake.assert_accepted_once(&keys(&batch));
    assert_eq!(fake.token_requests(), 1);
}

#[tokio::test]
async fn mixed_per_record_statuses_map_to_typed_outcomes() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    let batch = records(4);
    // Record 1 was accepted before (409), record 2 is refused (400), record 3 is a 500.
    client.submit(&batch[1..2]).await.unwrap();
    fake.rule(&crn(2), Rule::Reject(400));
    fake.rule(&crn(3), Rule::RetryTimes(1));
    let outcomes = client.submit(&batch).await.unwrap();
    assert_eq!(outcomes[0], Outcome::Accepted);
    assert_eq!(outcomes[1], Outcome::Duplicate);
    assert!(
        matches!(&outcomes[2], Outcome::Rejected { status: 400, code: Some(code), .. } if code == "instance_not_found")
    );
    assert_eq!(outcomes[3], Outcome::RetryLater { status: 500 });
    assert!(outcomes[1].is_delivered() && !outcomes[3].is_delivered());
    // The retry-later record goes through on the next submission; the others are not resent.
    assert_eq!(
        client.submit(&batch[3..]).await.unwrap(),
        vec![Outcome::Accepted]
    );
    fake.assert_accepted_once(&[
        keys(&batch)[0].clone(),
        keys(&batch)[1].clone(),
        keys(&batch)[3].clone(),
    ]);
}

#[tokio::test]
async fn two_hundred_fifty_records_go_in_three_batches_of_at_most_100() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    let batch = records(250);
    let outcomes = client.submit(&batch).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == Outcome::Accepted));
    assert_eq!(fake.batch_sizes(), vec![100, 100, 50]);
    fake.assert_accepted_once(&keys(&batch));
}

#[tokio::test]
async fn server_errors_and_429_are_retried_until_the_api_recovers() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    fake.fault(Fault::Status(503), 2);
    fake.fault(Fault::Status(429), 1);
    let batch = records(5);
    assert_eq!(
        client.submit(&batch).await.unwrap(),
        vec![Outcome::Accepted; 5]
    );
    assert_eq!(fake.requests(), 4);
    fake.assert_accepted_once(&keys(&batch));
}

#[tokio::test]
async fn an_outage_longer_than_the_retry_budget_is_reported_as_unavailable() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    fake.fault(Fault::Status(500), 10);
    let error = client.submit(&records(2)).await.unwrap_err();
    assert!(
        matches!(error, SubmitError::Unavailable { attempts: 4, .. }),
        "{error:?}"
    );
    assert!(fake.accepted().is_empty());
}

#[tokio::test]
async fn a_timeout_is_retried_and_the_resend_is_a_duplicate_not_a_second_bill() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    // Processed, but answered after the client's 500 ms timeout.
    fake.fault(Fault::Slow(Duration::from_millis(1500)), 1);
    let batch = records(3);
    assert_eq!(
        client.submit(&batch).await.unwrap(),
        vec![Outcome::Duplicate; 3]
    );
    fake.assert_accepted_once(&keys(&batch));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_on_401() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    client.submit(&records(1)).await.unwrap();
    fake.revoke_tokens();
    let batch: Vec<_> = (1..4).map(|n| record(n, MARCH_10)).collect();
    assert_eq!(
        client.submit(&batch).await.unwrap(),
        vec![Outcome::Accepted; 3]
    );
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn a_second_401_after_a_fresh_token_is_unauthorized() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    // Every token is refused: the fake's metering side answers 401 to each.
    fake.fault(Fault::Status(401), 2);
    let error = client.submit(&records(1)).await.unwrap_err();
    assert!(matches!(error, SubmitError::Unauthorized), "{error:?}");
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test]
async fn records_failing_the_checks_are_not_sent() {
    let fake = FakeMetering::start().await;
    let clock = clock();
    let client = fake.client(clock.clone());
    let future = record(1, MARCH_10 + 2 * HOUR);
    let late = record(2, MARCH_10 - 30 * 24 * HOUR); // February: deadline 3 March
    let fine = record(3, MARCH_10);
    let outcomes = client.submit(&[future, late, fine.clone()]).await.unwrap();
    assert!(matches!(
        outcomes[0],
        Outcome::Invalid(InvalidRecord::WindowInFuture { .. })
    ));
    assert!(matches!(
        outcomes[1],
        Outcome::Invalid(InvalidRecord::PastDeadline { .. })
    ));
    assert_eq!(outcomes[2], Outcome::Accepted);
    assert_eq!(fake.batch_sizes(), vec![1]);
}

#[tokio::test]
async fn plain_http_is_refused_except_on_loopback() {
    let tokens = ApiKeyClient::new(ApiKey::new("k"));
    assert!(
        MeteringClient::builder("svc", tokens.clone())
            .base_url("http://billing.example.com")
            .build()
            .is_err()
    );
    assert!(
        MeteringClient::builder("svc", tokens.clone())
            .base_url("http://127.0.0.1:9")
            .build()
            .is_ok()
    );
    assert!(
        MeteringClient::builder("svc", tokens.clone())
            .base_url("http://[::1]:9")
            .build()
            .is_ok()
    );
    let staging = MeteringClient::builder("svc", tokens)
        .staging()
        .build()
        .unwrap();
    assert_eq!(
        staging.usage_url(),
        "https://billing.test.cloud.ibm.com/v4/metering/resources/svc/usage"
    );
}

#[tokio::test]
async fn debug_output_never_shows_the_api_key_or_token() {
    let fake = FakeMetering::start().await;
    let client = fake.client(clock());
    client.submit(&records(1)).await.unwrap();
    let shown = format!("{client:?}");
    assert!(!shown.contains(metering_support::API_KEY), "{shown}");
    assert!(!shown.contains("token-1"), "{shown}");
}
