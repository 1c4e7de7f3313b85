//! The dashboard sign-in end to end over loopback: a browser (cookie jar + manual redirects),
//! the provider's app behind the guard (plain hyper), and a fake IAM.
#![cfg(feature = "dashboard")]
#![allow(clippy::unwrap_used)]

mod dashboard_support;
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use dashboard_support::{
    Browser, FakeIam, INSTANCE, OTHER_INSTANCE, SERVICE_NAME, USER, World, dashboard_path,
};
use http::StatusCode;
use osb_iam::dashboard::SubjectForm;

fn hits(counter: &std::sync::atomic::AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn signing_in_through_iam_lands_on_the_page_first_asked_for() {
    let world = World::start().await;
    let browser = Browser::new();
    let asked = format!("{}?tab=usage", dashboard_path(INSTANCE));
    let pages = browser.visit(&world.url(&asked)).await;
    assert_eq!(
        pages.len(),
        4,
        "guard → IAM authorize → callback → page: {pages:#?}"
    );

    // 1. The guard sends the browser to IAM's authorization endpoint from discovery.
    let to_iam = &pages[0];
    assert_eq!(to_iam.status, StatusCode::FOUND);
    let authorize = to_iam.location().unwrap();
    assert!(
        authorize.starts_with(&world.iam.url("/identity/authorize?")),
        "{authorize}"
    );
    let params = query(&authorize);
    assert_eq!(params["client_id"], dashboard_support::CLIENT_ID);
    assert_eq!(params["redirect_uri"], world.url("/auth/callback"));
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["state"].len(), 43, "256 random bits, base64url");
    let state_cookie = to_iam
        .set_cookies()
        .into_iter()
        .find(|line| line.contains("_state_"))
        .unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/auth/callback",
        "Max-Age=600",
    ] {
        assert!(
            state_cookie.contains(attribute),
            "{attribute} missing: {state_cookie}"
        );
    }
    assert!(
        !state_cookie.contains(&params["state"]),
        "the nonce is sealed, not in clear"
    );

    // 2. IAM answers with the code; 3. the callback sets the session and returns to the page.
    let callback = &pages[2];
    assert_eq!(callback.status, StatusCode::FOUND);
    assert_eq!(callback.location().unwrap(), asked);
    let cookies = callback.set_cookies();
    let session = cookies
        .iter()
        .find(|line| line.starts_with("osb_dashboard="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=3600"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing: {session}"
        );
    }
    assert!(!session.contains(USER), "the session is encrypted");
    assert!(
        cookies
            .iter()
            .any(|line| line.contains("_state_") && line.contains("Max-Age=0")),
        "state cookie deleted"
    );
    assert_eq!(callback.headers["cache-control"], "no-store");

    // 4. The handler sees the signed-in user.
    let page = &pages[3];
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("<p id=\"user\">{USER}</p>")),
        "{}",
        page.body
    );
    assert!(page.body.contains("<p id=\"email\">ann@example.com</p>"));
    assert!(
        page.body
            .contains(&format!("<p id=\"account\">{}</p>", support::ACCOUNT))
    );
    assert!(
        page.body
            .contains(&format!("<p id=\"instance\">{INSTANCE}</p>"))
    );
    assert_eq!(hits(&world.iam.state.code_exchanges), 1);
}

#[tokio::test]
async fn access_check_asks_authz_with_the_token_body_the_instance_crn_and_dashboard_view() {
    let world = World::start().await;
    Browser::new()
        .visit(&world.url(&dashboard_path(INSTANCE)))
        .await;
    let bodies = world.iam.state.authz_bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let entries = bodies[0].as_array().expect("the body is a JSON array");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["resource"]["crn"], INSTANCE);
    assert_eq!(
        entries[0]["action"],
        format!("{SERVICE_NAME}.dashboard.view")
    );
    let body = entries[0]["subject"]["accessTokenBody"].as_str().unwrap();
    assert!(
        !body.contains('.'),
        "only the payload segment of the user's token"
    );
}

#[tokio::test]
async fn attributes_subject_form_sends_iam_id_and_scope() {
    let world = World::with(|auth| auth.subject_form(SubjectForm::Attributes)).await;
    let pages = Browser::new()
        .visit(&world.url(&dashboard_path(INSTANCE)))
        .await;
    assert_eq!(pages.last().unwrap().status, StatusCode::OK);
    let bodies = world.iam.state.authz_bodies.lock().unwrap().clone();
    assert_eq!(
        bodies[0][0]["subject"],
        serde_json::json!({"attributes": {"id": USER, "scope": "ibm openid"}})
    );
}

#[tokio::test]
async fn custom_action_is_sent_to_authz() {
    let world = World::with(|auth| auth.action("my-service.dashboard.admin")).await;
    let pages = Browser::new()
        .visit(&world.url(&dashboard_path(INSTANCE)))
        .await;
    // The fake IAM permits only `my-service.dashboard.view`.
    assert_eq!(pages.last().unwrap().status, StatusCode::FORBIDDEN);
    let bodies = world.iam.state.authz_bodies.lock().unwrap().clone();
    assert_eq!(bodies[0][0]["action"], "my-service.dashboard.admin");
}

#[tokio::test]
async fn second_visit_with_a_session_needs_no_new_sign_in() {
    let world = World::start().await;
    let browser = Browser::new();
    browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    let again = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    assert_eq!(again.len(), 1, "no redirect: {again:#?}");
    assert_eq!(again[0].status, StatusCode::OK);
    assert!(again[0].body.contains(USER));
    assert_eq!(hits(&world.iam.state.authorize_hits), 1);
    assert_eq!(hits(&world.iam.state.code_exchanges), 1);
}

#[tokio::test]
async fn a_session_for_one_instance_signs_in_again_for_another_and_then_covers_both() {
    let world = World::start().await;
    world
        .iam
        .state
        .permitted
        .lock()
        .unwrap()
        .insert(OTHER_INSTANCE.to_owned());
    let browser = Browser::new();
    browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    let other = browser
        .visit(&world.url(&dashboard_path(OTHER_INSTANCE)))
        .await;
    assert_eq!(
        other.len(),
        4,
        "the other instance needs IAM's access check"
    );
    assert!(other[3].body.contains(OTHER_INSTANCE));
    for crn in [INSTANCE, OTHER_INSTANCE] {
        let page = browser.visit(&world.url(&dashboard_path(crn))).await;
        assert_eq!((page.len(), page[0].status), (1, StatusCode::OK), "{crn}");
    }
    assert_eq!(hits(&world.iam.state.authz_hits), 2);
}

#[tokio::test]
async fn callback_whose_state_is_not_bound_to_this_browser_is_refused_403() {
    let world = World::start().await;
    // The attacker starts a sign-in and sends the victim the callback URL with their code.
    let attacker = Browser::new();
    let to_iam = attacker.get(&world.url(&dashboard_path(INSTANCE))).await;
    let from_iam = attacker.get(&to_iam.location().unwrap()).await;
    let callback_url = from_iam.location().unwrap();

    let victim = Browser::new();
    let page = victim.get(&callback_url).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("Sign-in expired"), "{}", page.body);
    assert!(victim.cookie("osb_dashboard").is_none());
    assert_eq!(
        hits(&world.iam.state.code_exchanges),
        0,
        "refused before IAM is called"
    );
}

#[tokio::test]
async fn callback_with_an_altered_state_is_refused_403() {
    let world = World::start().await;
    let browser = Browser::new();
    let to_iam = browser.get(&world.url(&dashboard_path(INSTANCE))).await;
    let from_iam = browser.get(&to_iam.location().unwrap()).await;
    let callback_url = from_iam.location().unwrap();
    let state = query(&callback_url)["state"].clone();
    // Same cookie-selecting prefix, different nonce.
    let mut altered = state.clone();
    let last = if altered.ends_with('A') { "B" } else { "A" };
    altered.replace_range(42.., last);
    for bad in [
        callback_url.replace(&state, &altered),
        callback_url.replace(&state, "short"),
        world.url("/auth/callback?code=x"),
    ] {
        let page = browser.get(&bad).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{bad}");
    }
    assert_eq!(hits(&world.iam.state.code_exchanges), 0);
}

#[tokio::test]
async fn replayed_code_is_refused_403() {
    let world = World::start().await;
    let browser = Browser::new();
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    let used_callback = pages[2].url.clone();
    let used_code = query(&used_callback)["code"].clone();

    // Replaying the whole callback URL: its state was consumed.
    let replay = Browser::new();
    assert_eq!(
        replay.get(&used_callback).await.status,
        StatusCode::FORBIDDEN
    );

    // A fresh sign-in whose callback carries the used code: IAM refuses the code.
    let fresh = Browser::new();
    let to_iam = fresh.get(&world.url(&dashboard_path(INSTANCE))).await;
    let state = query(&to_iam.location().unwrap())["state"].clone();
    let forged = format!(
        "{}?code={used_code}&state={state}",
        world.url("/auth/callback")
    );
    let page = fresh.get(&forged).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("already used or has expired"),
        "{}",
        page.body
    );
    assert!(fresh.cookie("osb_dashboard").is_none());
}

#[tokio::test]
async fn expired_access_token_from_iam_is_refused_403() {
    let world = World::start().await;
    world.iam.state.expired_tokens.store(true, Ordering::SeqCst);
    let browser = Browser::new();
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    let last = pages.last().unwrap();
    assert_eq!(last.status, StatusCode::FORBIDDEN);
    assert!(last.body.contains("could not be verified"), "{}", last.body);
    assert!(browser.cookie("osb_dashboard").is_none());
    assert_eq!(
        hits(&world.iam.state.authz_hits),
        0,
        "no access check for an invalid token"
    );
}

#[tokio::test]
async fn token_of_another_sso_client_is_refused_by_the_verifier_policy_403() {
    let world = World::start().await;
    world.iam.state.user.lock().unwrap()["client_id"] = "someone-else".into();
    let pages = Browser::new()
        .visit(&world.url(&dashboard_path(INSTANCE)))
        .await;
    assert_eq!(pages.last().unwrap().status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn access_denied_by_authz_is_403_and_sets_no_session() {
    let world = World::start().await;
    world.iam.state.permitted.lock().unwrap().clear();
    let browser = Browser::new();
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    let last = pages.last().unwrap();
    assert_eq!(last.status, StatusCode::FORBIDDEN);
    assert!(last.body.contains("Access denied"), "{}", last.body);
    assert_eq!(last.headers["content-type"], "text/html; charset=utf-8");
    assert!(browser.cookie("osb_dashboard").is_none());
}

#[tokio::test]
async fn access_check_switched_off_lets_any_signed_in_user_in_without_asking_authz() {
    let world = World::with(|auth| auth.insecure_skip_access_check()).await;
    world.iam.state.permitted.lock().unwrap().clear();
    let browser = Browser::new();
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    assert_eq!(pages.last().unwrap().status, StatusCode::OK);
    // …and for any instance, with the same session.
    let other = browser
        .visit(&world.url(&dashboard_path(OTHER_INSTANCE)))
        .await;
    assert_eq!((other.len(), other[0].status), (1, StatusCode::OK));
    assert!(other[0].body.contains(OTHER_INSTANCE));
    assert_eq!(hits(&world.iam.state.authz_hits), 0);
}

fn assert_iam_unavailable(page: &dashboard_support::Page, iam: &FakeIam) {
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{page:#?}");
    assert!(
        page.body.contains("IBM Cloud IAM could not be reached"),
        "{}",
        page.body
    );
    for internal in [
        iam.addr.to_string(),
        "error".to_owned(),
        "BXNIM".to_owned(),
        "reqwest".to_owned(),
    ] {
        assert!(
            !page.body.contains(&internal),
            "leaks {internal}: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn iam_down_answers_502_without_internals() {
    let iam = FakeIam::start().await;
    let closed = support::closed_port_url().await.replace(
        "/identity/keys",
        "/identity/.well-known/openid-configuration",
    );
    let world = World::with(|auth| {
        auth.discovery(
            osb_iam::dashboard::Discovery::insecure_allow_http(&closed)
                .unwrap()
                .timeout(Duration::from_secs(2)),
        )
    })
    .await;
    let pages = Browser::new()
        .visit(&world.url(&dashboard_path(INSTANCE)))
        .await;
    assert_eq!(pages.len(), 1);
    assert_iam_unavailable(&pages[0], &iam);
}

#[tokio::test]
async fn token_endpoint_failure_answers_502_and_rereads_discovery() {
    let world = World::start().await;
    *world.iam.state.token_failure.lock().unwrap() = Some(500);
    let browser = Browser::new();
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    assert_iam_unavailable(pages.last().unwrap(), &world.iam);
    assert_eq!(hits(&world.iam.state.discovery_hits), 1);

    *world.iam.state.token_failure.lock().unwrap() = None;
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    assert_eq!(pages.last().unwrap().status, StatusCode::OK);
    assert_eq!(
        hits(&world.iam.state.discovery_hits),
        2,
        "refreshed after the failure"
    );
}

#[tokio::test]
async fn discovery_document_is_cached_between_sign_ins() {
    let world = World::start().await;
    for _ in 0..3 {
        let pages = Browser::new()
            .visit(&world.url(&dashboard_path(INSTANCE)))
            .await;
        assert_eq!(pages.last().unwrap().status, StatusCode::OK);
    }
    assert_eq!(hits(&world.iam.state.discovery_hits), 1);
}

#[tokio::test]
async fn authz_failure_answers_502() {
    let world = World::start().await;
    *world.iam.state.authz_failure.lock().unwrap() = Some(503);
    let browser = Browser::new();
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    assert_iam_unavailable(pages.last().unwrap(), &world.iam);
    assert!(browser.cookie("osb_dashboard").is_none());
}

#[tokio::test]
async fn tampered_session_cookie_counts_as_no_session() {
    let world = World::start().await;
    let browser = Browser::new();
    browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    let session = browser.cookie("osb_dashboard").unwrap();
    let authorize_before = hits(&world.iam.state.authorize_hits);

    let mut flipped = session.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(flipped).unwrap();
    for forged in [
        tampered,
        format!("{session}x"),
        "garbage".to_owned(),
        String::new(),
    ] {
        let thief = Browser::new();
        thief.set_cookie("osb_dashboard", &forged);
        let page = thief.get(&world.url(&dashboard_path(INSTANCE))).await;
        assert_eq!(page.status, StatusCode::FOUND, "{forged}");
        assert!(
            page.location()
                .unwrap()
                .starts_with(&world.iam.url("/identity/authorize"))
        );
    }
    assert_eq!(
        hits(&world.iam.state.authorize_hits),
        authorize_before,
        "no sign-in was completed"
    );
}

#[tokio::test]
async fn session_sealed_with_another_key_counts_as_no_session() {
    let one = World::start().await;
    let browser = Browser::new();
    browser.visit(&one.url(&dashboard_path(INSTANCE))).await;
    let session = browser.cookie("osb_dashboard").unwrap();
    let other = World::with(|auth| {
        auth.session_key(osb_iam::dashboard::SessionKey::from_bytes(&[3; 64]).unwrap())
    })
    .await;
    let thief = Browser::new();
    thief.set_cookie("osb_dashboard", &session);
    assert_eq!(
        thief
            .get(&other.url(&dashboard_path(INSTANCE)))
            .await
            .status,
        StatusCode::FOUND
    );
}

#[tokio::test]
async fn expired_session_signs_in_again() {
    let world = World::with(|auth| auth.session_lifetime(Duration::ZERO)).await;
    let browser = Browser::new();
    let pages = browser.visit(&world.url(&dashboard_path(INSTANCE))).await;
    // The session expires at once: back to IAM after the callback, every time.
    assert_eq!(pages[3].status, StatusCode::FOUND);
    assert!(
        pages[3]
            .location()
            .unwrap()
            .starts_with(&world.iam.url("/identity/authorize"))
    );
}

#[tokio::test]
async fn open_redirect_attempts_return_to_the_default_path() {
    let world = World::with(|auth| {
        auth.instance(|_: &http::Uri| Some(INSTANCE.to_owned()))
            .default_return_path("/home")
    })
    .await;
    for attempt in [
        "//evil.example/x",
        "//evil.example",
        "///evil.example",
        "//evil.example/%2F..",
        "/%0D%0ALocation:%20http://evil.example",
    ] {
        let browser = Browser::new();
        let pages = browser.visit(&world.url(attempt)).await;
        let callback = pages
            .iter()
            .find(|page| page.url.contains("/auth/callback"))
            .unwrap_or_else(|| panic!("{attempt}: {pages:#?}"));
        let location = callback.location().unwrap();
        assert!(
            location == "/home" || location == attempt && !attempt.starts_with("//"),
            "{attempt} → {location}"
        );
        let landed = reqwest::Url::parse(&callback.url)
            .unwrap()
            .join(&location)
            .unwrap();
        assert_eq!(
            landed.host_str(),
            Some("127.0.0.1"),
            "{attempt} left the site: {landed}"
        );
    }
}

#[tokio::test]
async fn request_for_no_instance_is_404() {
    let world = World::start().await;
    for path in ["/", "/dashboard/", "/elsewhere/x", "/dashboard/%FF"] {
        let page = Browser::new().get(&world.url(path)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(hits(&world.iam.state.discovery_hits), 0);
}

#[tokio::test]
async fn callback_answers_405_to_anything_but_get() {
    let world = World::start().await;
    let page = Browser::new()
        .request(
            reqwest::Method::POST,
            &world.url("/auth/callback?code=a&state=b"),
        )
        .await;
    assert_eq!(page.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(page.headers["allow"], "GET");
}

#[tokio::test]
async fn iam_error_on_the_callback_is_refused_403_without_calling_the_token_endpoint() {
    let world = World::start().await;
    let browser = Browser::new();
    let to_iam = browser.get(&world.url(&dashboard_path(INSTANCE))).await;
    let state = query(&to_iam.location().unwrap())["state"].clone();
    let page = browser
        .get(&format!(
            "{}?error=access_denied&state={state}",
            world.url("/auth/callback")
        ))
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("did not sign you in"));
    assert_eq!(hits(&world.iam.state.code_exchanges), 0);
}

#[tokio::test]
async fn two_sign_ins_in_parallel_tabs_both_complete() {
    let world = World::start().await;
    world
        .iam
        .state
        .permitted
        .lock()
        .unwrap()
        .insert(OTHER_INSTANCE.to_owned());
    let browser = Browser::new();
    let tab_one = browser.get(&world.url(&dashboard_path(INSTANCE))).await;
    let tab_two = browser
        .get(&world.url(&dashboard_path(OTHER_INSTANCE)))
        .await;
    for tab in [tab_one, tab_two] {
        let from_iam = browser.get(&tab.location().unwrap()).await;
        let callback = browser.get(&from_iam.location().unwrap()).await;
        assert_eq!(callback.status, StatusCode::FOUND, "{}", callback.body);
    }
    for crn in [INSTANCE, OTHER_INSTANCE] {
        assert_eq!(
            browser.get(&world.url(&dashboard_path(crn))).await.status,
            StatusCode::OK
        );
    }
}
