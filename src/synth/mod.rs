//! Synthetic market sessions: a calibrated stochastic limit order book that
//! speaks the venues' exact wire formats.
//!
//! A fresh clone has no recorded data, so it needs a market of its own. This
//! module simulates one and writes it the way a recorder would have seen the
//! venue — byte-compatible frames in the recording format
//! (`<local_ts_ns> <frame>` per line), or frames in memory for in-process
//! consumers such as the backtest.
//!
//! - [`model`]: the order book — queue-reactive at the touch (Huang,
//!   Lehalle & Rosenbaum 2015), Cont–Stoikov–Talreja (2010) behind it,
//!   individual orders in price-time priority, market orders that print one
//!   trade per maker fill.
//! - [`params`]: every calibrated number, with where it was measured (the
//!   real Binance BTCUSDT recording).
//! - [`calibrate`]: the measurement code behind `params`, also used to
//!   compare a generated session with the recording.
//! - [`session`]: drives the model through time and publishes it per venue
//!   (diff windows, snapshots, gaps and resyncs, tickers, mark prices).
//! - [`wire_binance`], [`wire_bybit`]: the frame writers.
//! - [`rng`]: the seeded generator; the same seed gives the same bytes on
//!   every machine.
//!
//! # In-memory use
//!
//! ```
//! use scalpel::synth::{FrameKind, Synth, SynthConfig};
//! use scalpel::venue::Venue;
//!
//! let config = SynthConfig::built_in(Venue::BybitLinear, "BTCUSDT".parse().unwrap(), 42, 1.0).unwrap();
//! let mut synth = Synth::new(&config).unwrap();
//! while let Some(frame) = synth.next_frame() {
//!     // `frame.bytes` is the venue's frame text (mutable: decoders may work
//!     // in place); `frame.local_ts_ns` the recorder's receive time.
//!     if let FrameKind::Snapshot { update_id } = frame.kind {
//!         assert!(update_id > 0);
//!     }
//! }
//! ```
//!
//! [`Synth::next_frame`] lends each frame until the next call (no per-frame
//! allocation); [`Synth::into_owned_frames`] is a plain iterator of
//! `(local_ts_ns, Vec<u8>)`; [`Synth::into_recording`] builds the whole
//! session as a [`crate::recording::Recording`], the same type a recorded
//! file loads into. [`Synth::true_book`] gives the book the last depth
//! frame describes, for verification.

pub mod calibrate;
pub mod model;
pub mod params;
pub mod rng;
pub mod session;
pub mod wire_binance;
pub mod wire_bybit;
pub mod wire_text;

pub use params::MarketProfile;
pub use session::{
    Frame, FrameKind, OwnedFrames, Synth, SynthConfig, SynthError, SynthSummary, TrueBook, write_session,
};
