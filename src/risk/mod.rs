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
pub use monitor::{KillSource, RiskCommand, RiskInput, RiskMonitor, RiskOutput, RiskRecord};
pub use thread::{KillSwitch, RiskExit, RiskRunReport, RiskThreadIo};
pub use verdict::{Cause, Mode, Verdict, VerdictCell};

/// Instruments shared by the unit tests of this module's files.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::instrument::{FeeSchedule, Instrument, Symbol};
    use crate::venue::Venue;

    /// BTCUSDT at Binance's scales (price 2, quantity 3 decimals).
    pub(crate) fn btc(venue: Venue) -> Instrument {
        Instrument { fees: FeeSchedule::BINANCE_VIP0, ..Instrument::reference_btcusdt(venue) }
    }

    /// ETHUSDT with the same scales.
    pub(crate) fn eth(venue: Venue) -> Instrument {
        Instrument { symbol: Symbol::new(b"ETHUSDT").unwrap(), ..btc(venue) }
    }
}
