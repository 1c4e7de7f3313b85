//! Shared support for the end-to-end tests: the example broker served on loopback, a platform
//! client, IAM keys and a JWK-set server, a fake IAM for the dashboard sign-in, and the broker
//! binary as a child process.
//!
//! Every test talks real HTTP over `127.0.0.1` to a real server; nothing leaves the machine.

pub mod broker;
pub mod fake_iam;
pub mod iam;
pub mod platform;
pub mod process;

pub use broker::{RunningBroker, test_config};
pub use platform::{Answer, Auth, Platform};
