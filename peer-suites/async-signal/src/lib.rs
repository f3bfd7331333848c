//! async-signal's names, from amphi.
pub use amphi::signal::{Signal, Signals};
