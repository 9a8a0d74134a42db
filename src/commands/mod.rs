//! The subcommands' logic, callable from `main.rs` and from tests. Each
//! takes typed options and writers, so tests can run them in process.

pub mod book;
pub mod demo;
pub mod host_check;
pub mod instruments;
pub mod latency;
pub mod latency_wire;
pub mod live_session;
pub mod record;
pub mod run;
mod session;
pub mod sign;
pub mod sim;
pub mod soak;
pub mod synth;
