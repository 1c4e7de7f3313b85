//! The compiled `minimal-broker` binary as a child process: found beside the test binary
//! (`target/<profile>/minimal-broker`, which `cargo test --workspace` builds because the
//! example has its own integration test), or built with `cargo build -p minimal-broker` when
//! missing or older than the example's sources. `MINIMAL_BROKER_BIN` names another binary.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// The path of the broker binary, building it first if needed.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("MINIMAL_BROKER_BIN") {
                return path.into();
            }
            // The test binary is target/<profile>/deps/<name>; the broker is target/<profile>/.
            let exe = std::env::current_exe().expect("the test binary's path");
            let dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target/<profile>");
            let path = dir.join(format!("minimal-broker{}", std::env::consts::EXE_SUFFIX));
            if !path.exists() || older_than_sources(&path) {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
                let status = Command::new(cargo)
                    .args(["build", "-p", "minimal-broker", "--quiet"])
                    .status()
                    .expect("run cargo build");
                assert!(status.success(), "cargo build -p minimal-broker failed");
            }
            assert!(path.exists(), "no broker binary at {}", path.display());
            path
        })
        .clone()
}

/// Whether the binary is older than a source file of the example (run alone, this package's
/// tests do not rebuild it).
fn older_than_sources(binary: &std::path::Path) -> bool {
    let modified = |path: &std::path::Path| path.metadata().and_then(|m| m.modified()).ok();
    let Some(built) = modified(binary) else {
        return true;
    };
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/minimal-broker");
    let sources = std::fs::read_dir(example.join("src"))
        .into_iter()
        .flatten()
        .flatten();
    sources
        .map(|entry| entry.path())
        .chain([example.join("Cargo.toml")])
        .any(|source| modified(&source).is_some_and(|time| time > built))
}

/// A running broker process.
#[derive(Debug)]
pub struct BrokerProcess {
    child: Child,
    url: String,
    output: std::sync::Arc<Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Starts the binary on a free loopback port with `env` (plus `BROKER_LISTEN`) in
    /// `workdir`, and waits (up to 60 s) until it has printed its URL and answers `/healthz`.
    pub async fn start(env: &[(&str, &str)], workdir: &std::path::Path) -> Self {
        let port = free_port();
        let mut command = Command::new(binary());
        command
            .current_dir(workdir)
            .env("BROKER_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the broker binary");
        let output = std::sync::Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let mut process = Self { child, url, output };
        process.wait_healthy().await;
        process
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("query the child") {
                panic!("the broker exited early with {status}: {:?}", self.output());
            }
            let healthz = client.get(format!("{}/healthz", self.url)).send().await;
            if healthz.is_ok_and(|response| response.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the broker did not answer /healthz within 60 s: {:?}",
            self.output()
        );
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The lines printed on standard output so far.
    pub fn output(&self) -> Vec<String> {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `TERM`, `KILL`) with the shell's `kill` builtin (no `kill` binary
    /// needed, no `unsafe`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("sh")
            .args(["-c", "kill -s \"$1\" \"$2\"", "sh", signal])
            .arg(self.child.id().to_string())
            .status()
            .expect("run sh");
        assert!(status.success(), "kill -s {signal} failed");
    }

    /// Waits (up to 30 s) for the process to exit.
    pub async fn wait(mut self) -> ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().expect("query the child") {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        panic!("the broker did not exit within 30 s");
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        // Never leave a broker behind when a test fails.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}
