//! Risk: the inline pre-trade [`gate`] on the hot thread, and the risk
//! thread ([`monitor`] is its pure decision logic, [`thread`] the loop
//! around it) that watches PnL, losses, drawdown, price shocks, margin and
//! the kill switch, and publishes one atomic [`verdict`] word back.
//!
//! ```text
//!  hot thread ──lossless ring: RiskInput──► risk thread ──lossless ring: JournalRecord──► journal
//!      ▲  ▲                                    │
//!      │  └──────── command ring: RiskCommand ─┤
//!      └────────── VerdictCell (AtomicU64) ────┘
//! ```
//!
//! The hot thread reads the verdict word every iteration (one load) and
//! every order passes the gate; the commands (`CancelAll`, `FlattenAll`,
//! `Flatten`, `Exit`) are what the engine executes when the risk thread asks.

pub mod config;
pub mod gate;
pub mod monitor;
pub mod thread;
pub mod verdict;

pub use config::RiskConfig;
pub use gate::{CheckContext, GateSlot, Refusal, RiskGate, VenueUsage};
pub use monitor::{KillSource, RiskCommand, RiskInput, RiskMonitor, RiskOutput};
pub use verdict::{Cause, Mode, Verdict, VerdictCell};
pub use thread::{KillSwitch, RiskExit, RiskRunReport, RiskThreadIo};
