//! Placeholder while the crate is written; see docs/architecture.md.
