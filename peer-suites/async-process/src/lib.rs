//! async-process's names, from amphi.
pub use amphi::process::*;
