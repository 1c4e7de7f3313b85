//! One end-to-end sign-in in a real headless browser: Debian's `chromium` driven over WebDriver
//! (plain JSON over HTTP to `chromedriver`) through the provider's app and the fake IAM.
//!
//! Skipped with a message when `chromedriver` is not installed, unless `CI=true`, where it must
//! run (`.ci/run` installs `chromium` and `chromium-driver`).
#![cfg(feature = "dashboard")]
#![allow(clippy::unwrap_used)]

mod dashboard_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dashboard_support::{INSTANCE, USER, World, dashboard_path};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// `chromedriver` from `PATH` or Debian's location, if installed.
fn chromedriver() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|path| path.is_file())
    });
    on_path.or_else(|| {
        Path::new(CHROMEDRIVER)
            .is_file()
            .then(|| PathBuf::from(CHROMEDRIVER))
    })
}

/// A running `chromedriver`, stopped when dropped.
struct Driver {
    _child: Child,
    port: u16,
    base: String,
    http: reqwest::Client,
    _profile: TempDir,
}

/// Ends the WebDriver session (and so the browser) when dropped, even when the test fails.
struct SessionGuard {
    port: u16,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        use std::io::{Read as _, Write as _};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let request = format!(
            "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.id, self.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            // The answer comes once the browser is closed; its first bytes are enough.
            let _ = stream.read(&mut [0u8; 256]);
        }
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Driver {
    async fn start(binary: &Path) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let profile =
            std::env::temp_dir().join(format!("osb-iam-chromium-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Self {
            _child: child,
            port,
            base,
            http,
            _profile: TempDir(profile),
        };
        // Poll until it answers (never a timing assertion: up to 30 s for a slow machine).
        for _ in 0..300 {
            let ready = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await;
            if let Ok(response) = ready {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    return driver;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not become ready");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path}: {status} {answer}");
        answer["value"].clone()
    }

    async fn new_session(&self) -> String {
        let binary = if Path::new(CHROMIUM).is_file() {
            Some(CHROMIUM)
        } else {
            None
        };
        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage",
                format!("--user-data-dir={}", self._profile.0.display()),
            ]
        });
        if let Some(binary) = binary {
            options["binary"] = binary.into();
        }
        let session = self
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": options,
                }}})),
            )
            .await;
        session["sessionId"].as_str().unwrap().to_owned()
    }
}

/// The text of the element `css` on the current page.
async fn text(driver: &Driver, session: &str, css: &str) -> String {
    let element = driver
        .call(
            reqwest::Method::POST,
            &format!("/session/{session}/element"),
            Some(json!({"using": "css selector", "value": css})),
        )
        .await;
    // W3C element reference key.
    let id = element["element-6066-11e4-a52e-4f735466cecf"]
        .as_str()
        .unwrap()
        .to_owned();
    driver
        .call(
            reqwest::Method::GET,
            &format!("/session/{session}/element/{id}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

async fn open(driver: &Driver, session: &str, url: &str) -> String {
    driver
        .call(
            reqwest::Method::POST,
            &format!("/session/{session}/url"),
            Some(json!({"url": url})),
        )
        .await;
    let current = driver
        .call(
            reqwest::Method::GET,
            &format!("/session/{session}/url"),
            None,
        )
        .await;
    current.as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_signs_in_through_iam_and_a_second_visit_needs_no_new_sign_in() {
    let Some(chromedriver) = chromedriver() else {
        if std::env::var("CI").is_ok_and(|ci| ci == "true") {
            panic!(
                "CI=true but chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
        }
        eprintln!(
            "SKIPPED browser_signs_in_through_iam_and_a_second_visit_needs_no_new_sign_in: \
             chromedriver not found (apt-get install chromium chromium-driver to run it)"
        );
        return;
    };
    let world = World::start().await;
    let driver = Driver::start(&chromedriver).await;
    let session = driver.new_session().await;
    let _closes_the_browser = SessionGuard {
        port: driver.port,
        id: session.clone(),
    };

    let dashboard = world.url(&format!("{}?tab=overview", dashboard_path(INSTANCE)));
    let landed = open(&driver, &session, &dashboard).await;
    assert_eq!(landed, dashboard, "back on the page first asked for");
    assert_eq!(text(&driver, &session, "#user").await, USER);
    assert_eq!(text(&driver, &session, "#instance").await, INSTANCE);
    assert_eq!(world.iam.state.authorize_hits.load(Ordering::SeqCst), 1);
    assert_eq!(world.iam.state.code_exchanges.load(Ordering::SeqCst), 1);

    // Second visit: the session cookie is enough, IAM is not involved.
    let again = open(&driver, &session, &world.url(&dashboard_path(INSTANCE))).await;
    assert_eq!(again, world.url(&dashboard_path(INSTANCE)));
    assert_eq!(text(&driver, &session, "#user").await, USER);
    assert_eq!(
        world.iam.state.authorize_hits.load(Ordering::SeqCst),
        1,
        "no new sign-in"
    );

    driver
        .call(
            reqwest::Method::DELETE,
            &format!("/session/{session}"),
            None,
        )
        .await;
}
