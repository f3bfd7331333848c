//! blocking's names, from amphi.
pub use amphi::{Unblock, unblock};
