//! The binary's command line: `--help` documents every setting, a bad setting is a clear error.
//! (Being an integration test of this package also makes `cargo test --workspace` build the
//! binary that the end-to-end suite in `tests/` runs as a child process.)

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_minimal-broker");

#[test]
fn help_documents_every_environment_variable() {
    let output = Command::new(BINARY).arg("--help").output().expect("run the broker");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for var in [
        "BROKER_LISTEN",
        "BROKER_USERNAME",
        "BROKER_PASSWORD",
        "BROKER_DATABASE_URL",
        "BROKER_OPERATION_LEASE",
        "BROKER_REQUEST_TIMEOUT",
        "BROKER_HEADER_READ_TIMEOUT",
        "BROKER_IDLE_TIMEOUT",
        "BROKER_MAX_CONNECTIONS",
        "BROKER_IAM_URL",
        "BROKER_IAM_JWKS_URL",
        "BROKER_IAM_ISSUER",
        "BROKER_IAM_IDENTITIES",
        "BROKER_IAM_API_KEY",
        "BROKER_DASHBOARD_CLIENT_ID",
        "BROKER_DASHBOARD_CLIENT_SECRET",
        "BROKER_DASHBOARD_REDIRECT_URL",
        "BROKER_DASHBOARD_SESSION_KEY",
        "BROKER_SERVICE_NAME",
        "BROKER_METERING_URL",
        "RUST_LOG",
    ] {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
    }
}

#[test]
fn invalid_setting_is_a_usage_error_naming_it() {
    let output = Command::new(BINARY)
        .env("BROKER_DATABASE_URL", "mysql://db/x")
        // Were the URL accepted, the empty password would stop the broker (exit 1) instead of
        // letting it serve, so this test fails rather than hangs.
        .env("BROKER_PASSWORD", "")
        .env("BROKER_LISTEN", "127.0.0.1:0")
        .output()
        .expect("run the broker");
    assert_eq!(output.status.code(), Some(2), "usage errors exit 2");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--database-url"));
}
