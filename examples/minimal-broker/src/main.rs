//! `cargo run -p minimal-broker -- --help` lists the settings.

use std::process::ExitCode;

use clap::Parser;
use minimal_broker::config::DEV_PASSWORD;
use minimal_broker::{Config, Error, serve};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,osb_tower=debug"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("minimal-broker: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Error> {
    let listener = TcpListener::bind(config.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let user = &config.username;
    println!("minimal-broker listening on {url}");
    println!("database: {}", config.database_url);
    let password = if config.password == DEV_PASSWORD {
        println!(
            "credentials: {user} / {DEV_PASSWORD}   <- DEVELOPMENT DEFAULT, set BROKER_PASSWORD"
        );
        DEV_PASSWORD
    } else {
        println!("credentials: {user} / (the password in BROKER_PASSWORD)");
        "$BROKER_PASSWORD"
    };
    if let Some(keys) = &config.iam_jwks_url {
        let identities = config.iam_identities.join(", ");
        println!("IAM bearer tokens accepted too: keys from {keys}, identities {identities}");
    }
    if config.dashboard_client_id.is_some() {
        println!("dashboard: {url}/dashboard/<instance id>, signed in through IAM");
    }
    if let Some(metering) = &config.metering_url {
        println!("metering: usage of the metered plan reported hourly to {metering}");
    }
    println!("try: curl -u \"{user}:{password}\" -H 'X-Broker-API-Version: 2.17' {url}/v2/catalog");
    // SIGINT (Ctrl-C) or SIGTERM: requests in flight finish, then the process exits.
    serve(listener, config, osb_tower::shutdown::signal()).await
}
