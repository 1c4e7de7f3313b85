//! The example's dashboard behind IBM Cloud IAM sign-in (issue 8), against a fake IAM on
//! loopback: redirect to IAM's authorize endpoint, callback, access check, session cookie.
#![allow(clippy::unwrap_used)]

use osb_e2e_tests::fake_iam::{API_KEY, CLIENT_ID, CLIENT_SECRET, FakeIam, USER};
use osb_e2e_tests::{RunningBroker, test_config};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode, redirect};

const CRN: &str = "crn:v1:bluemix:public:minimal-db:us-south:a/0123abcd:4f1e5d2c::";

async fn dashboard_broker(iam: &FakeIam) -> RunningBroker {
    dashboard_broker_sealing_with(iam, None).await
}

/// The example broker with the dashboard on; its sessions sealed with `session_key` (base64)
/// when given, else with a key of its own.
async fn dashboard_broker_sealing_with(iam: &FakeIam, session_key: Option<&str>) -> RunningBroker {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut config = test_config();
    config.ibm.iam_url = iam.url().to_owned();
    config.ibm.iam_issuer = None;
    config.ibm.iam_api_key = Some(API_KEY.parse().unwrap());
    config.ibm.service_name = Some("minimal-db".to_owned());
    config.ibm.dashboard_client_id = Some(CLIENT_ID.to_owned());
    config.ibm.dashboard_client_secret = Some(CLIENT_SECRET.to_owned());
    config.ibm.dashboard_redirect_url = Some(format!("http://127.0.0.1:{port}/auth/callback"));
    config.ibm.dashboard_session_key =
        session_key.map(|key| osb_iam::dashboard::SessionKey::from_base64(key).unwrap());
    RunningBroker::start_on(listener, config).await
}

fn browser() -> Client {
    Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// The `name=value` pairs the response sets, as one `Cookie` header.
fn cookies(response: &Response) -> String {
    let pairs: Vec<&str> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next())
        .collect();
    pairs.join("; ")
}

fn dashboard_path() -> String {
    let crn = percent_encoding::utf8_percent_encode(CRN, percent_encoding::NON_ALPHANUMERIC);
    format!("/dashboard/{crn}")
}

/// A browser visiting the instance page at `broker` without a session: to IAM, which signs the
/// user in, and back to the callback; returns the callback's answer.
async fn through_iam(browser: &Client, broker: &RunningBroker) -> Response {
    let page = format!("{}{}", broker.url(), dashboard_path());
    let first = browser.get(page).send().await.unwrap();
    let state_cookie = cookies(&first);
    let at_iam = browser.get(location(&first)).send().await.unwrap();
    assert_eq!(at_iam.status(), StatusCode::SEE_OTHER);
    let callback = browser.get(location(&at_iam)).header(COOKIE, &state_cookie);
    callback.send().await.unwrap()
}

/// Signs the user in at `broker` (IAM permits the instance) and returns the session cookie.
async fn sign_in(browser: &Client, broker: &RunningBroker) -> String {
    let callback = through_iam(browser, broker).await;
    assert!(callback.status().is_redirection(), "{}", callback.status());
    assert_eq!(location(&callback), dashboard_path());
    cookies(&callback)
}

#[tokio::test]
async fn unauthenticated_dashboard_visit_is_redirected_to_iam_authorize() {
    let iam = FakeIam::start().await;
    let broker = dashboard_broker(&iam).await;
    let response = browser()
        .get(format!("{}{}", broker.url(), dashboard_path()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let to = location(&response);
    assert!(
        to.starts_with(&format!("{}/identity/authorize?", iam.url())),
        "{to}"
    );
    assert!(to.contains(&format!("client_id={CLIENT_ID}")), "{to}");
    assert!(to.contains("state="), "{to}");
    broker.stop().await;
}

#[tokio::test]
async fn permitted_user_signs_in_through_iam_and_sees_the_instance_page() {
    let iam = FakeIam::start().await;
    iam.permit(CRN);
    let broker = dashboard_broker(&iam).await;
    let browser = browser();
    let page = format!("{}{}", broker.url(), dashboard_path());

    let session = sign_in(&browser, &broker).await;

    let shown = browser
        .get(&page)
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    let text = shown.text().await.unwrap();
    assert!(text.contains(USER) && text.contains(CRN), "{text}");
    broker.stop().await;
}

#[tokio::test]
async fn user_iam_does_not_permit_gets_403_and_no_page() {
    let iam = FakeIam::start().await;
    let broker = dashboard_broker(&iam).await;
    let callback = through_iam(&browser(), &broker).await;
    assert_eq!(callback.status(), StatusCode::FORBIDDEN);
    assert!(!callback.text().await.unwrap().contains(USER));
    broker.stop().await;
}

#[tokio::test]
async fn dashboard_is_off_unless_configured() {
    let broker = RunningBroker::start(test_config()).await;
    let response = browser()
        .get(format!("{}{}", broker.url(), dashboard_path()))
        .send()
        .await
        .unwrap();
    // Not a dashboard route: the OSB service answers, and asks for credentials first.
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    broker.stop().await;
}

#[tokio::test]
async fn replicas_sharing_the_session_key_share_sessions_others_do_not() {
    let iam = FakeIam::start().await;
    iam.permit(CRN);
    // `openssl rand -base64 48`
    let key = "q0tgpvH1uMuJy2C5Yb0Nqf0a+FqC7yv8hJt0Q7b1o6h3mLe2vxj0tUaiTjz3ZbCl";
    let first = dashboard_broker_sealing_with(&iam, Some(key)).await;
    let second = dashboard_broker_sealing_with(&iam, Some(key)).await;
    let stranger = dashboard_broker_sealing_with(&iam, None).await;
    let browser = browser();
    let session = sign_in(&browser, &first).await;
    let visit = |broker: &RunningBroker| {
        let request = browser.get(format!("{}{}", broker.url(), dashboard_path()));
        request.header(COOKIE, &session).send()
    };
    let shown = visit(&second).await.unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    assert!(shown.text().await.unwrap().contains(USER));
    // Sealed with another key, the cookie is no session: back to IAM.
    assert_eq!(visit(&stranger).await.unwrap().status(), StatusCode::FOUND);
    for broker in [first, second, stranger] {
        broker.stop().await;
    }
}
