//! The smallest production-shaped Open Service Broker on osb-rs: copy it to start.
//!
//! - [`logic`]: the business logic, a [`ServiceLogic`](osb_core::managed::ServiceLogic) for a
//!   pretend database service, its catalog and its metered usage: the only part a real broker
//!   replaces.
//! - [`server`]: wiring: the state store, Basic or IAM auth, the OSB service beside `/healthz`,
//!   the IAM dashboard sign-in and usage metering (each off unless configured), serving with
//!   connection limits and graceful shutdown.
//! - [`config`]: settings from environment variables and flags.
//!
//! `main.rs` reads the settings and calls [`serve`]; tests call it with their own listener.

pub mod config;
pub mod logic;
pub mod server;

pub use {config::Config, server::Error, server::app, server::serve};
