//! Placeholder: built next.

pub mod auth;
