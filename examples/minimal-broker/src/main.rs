//! `cargo run -p minimal-broker -- --help` lists the settings.

use std::process::ExitCode;

use clap::Parser;
use minimal_broker::{Config, Error, config::DEV_PASSWORD, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,osb_tower=debug".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let Err(err) = run(config).await else { return ExitCode::SUCCESS };
    let causes = std::iter::successors(err.source(), |cause| cause.source());
    eprintln!("minimal-broker: {err}{}", causes.map(|c| format!(": {c}")).collect::<String>());
    ExitCode::FAILURE
}

async fn run(config: Config) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    println!("minimal-broker listening on {url}\ndatabase: {}", config.database_url);
    let (user, dev) = (&config.username, config.password == DEV_PASSWORD);
    let password = if dev { DEV_PASSWORD } else { "$BROKER_PASSWORD" };
    let label = if dev { "   <- DEVELOPMENT DEFAULT, set BROKER_PASSWORD" } else { "" };
    print!("credentials: {user} / {password}{label}\n{}", config.ibm.summary());
    println!("try: curl -u \"{user}:{password}\" -H 'X-Broker-API-Version: 2.17' {url}/v2/catalog");
    // SIGINT (Ctrl-C) or SIGTERM: requests in flight finish, then the process exits.
    serve(listener, config, osb_tower::shutdown::signal()).await
}
