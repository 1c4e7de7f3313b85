//! Placeholder: built next.
