//! The Binance open-interest poll: `GET /fapi/v1/openInterest?symbol=S`
//! for each Binance instrument every `[open_interest] poll_ms`, on a thread
//! of its own (its own blocking HTTP client, as at start-up), handed to the
//! hot thread over a lossy ring; the hot thread gives each figure to
//! [`crate::core::Core::on_open_interest`] (Bybit's open interest arrives
//! on its `tickers` stream instead). Started only when the profile's
//! `[gates.open_interest]` is on: no other profile pays for it.
//!
//! Source: Binance USDⓈ-M "Open Interest" (`GET /fapi/v1/openInterest`,
//! weight 1), answer `{"openInterest":"…","symbol":"…","time":…}`
//! ([`crate::venue::binance::rest::parse_open_interest`]).
//!
//! # Invariants
//! - Nothing here runs on the hot thread: the request, the JSON parse (it
//!   allocates) and the waits are this thread's; the hot thread only pops
//!   fixed-size [`OpenInterestUpdate`]s.
//! - A poll that fails (no answer within the client's 15 s, an error
//!   status, an answer that does not parse, names another symbol or a
//!   figure ≤ 0) is handed on as a failure (`figure: None`) and counted by
//!   the hot thread; the poll goes on.
//! - The thread ends at the engine's stop flag, at the latest one request
//!   timeout after it is set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::setup::SetupClient;
use crate::fixed::Qty;
use crate::instrument::{InstrumentId, Symbol, Venue};
use crate::net::url::Url;
use crate::ring::LossyProducer;

/// One poll's outcome for one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpenInterestUpdate {
    /// The instrument (the engine's table).
    pub inst: InstrumentId,
    /// Open interest (base quantity at the instrument's scale) and the
    /// venue's time of it, ms; `None` when the poll failed.
    pub figure: Option<(Qty, i64)>,
    /// When the answer was read, Unix ns.
    pub recv_ns: u64,
}

/// One instrument to poll: its id, symbol and quantity decimals.
pub(super) type Polled = (InstrumentId, Symbol, u8);

fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Starts the poll of `insts` on the Binance REST endpoint `rest`.
///
/// # Errors
/// The thread could not be spawned.
pub(super) fn spawn(
    rest: Url,
    tls: Arc<rustls::ClientConfig>,
    insts: Vec<Polled>,
    poll_ms: u64,
    stop: Arc<AtomicBool>,
    out: LossyProducer<OpenInterestUpdate>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("open-interest".into()).spawn(move || {
        let mut client = SetupClient::new(Venue::BinanceUsdm, &rest, &tls).ok();
        let mut target = [0u8; 128];
        while !stop.load(Ordering::Acquire) {
            let started = Instant::now();
            for &(inst, symbol, qty_scale) in &insts {
                let figure = client.as_mut().and_then(|c| poll(c, &symbol, qty_scale, &mut target));
                out.push(OpenInterestUpdate { inst, figure, recv_ns: wall_ns() });
            }
            let next = started + Duration::from_millis(poll_ms);
            while !stop.load(Ordering::Acquire) && Instant::now() < next {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    })
}

/// One request and its answer.
fn poll(client: &mut SetupClient, symbol: &Symbol, qty_scale: u8, target: &mut [u8]) -> Option<(Qty, i64)> {
    let n = crate::venue::binance::rest::open_interest_target(symbol, target).ok()?;
    let (status, body, _, _) = client.request("openInterest", "GET", &target[..n], &[]).ok()?;
    if status != 200 {
        return None;
    }
    let answer = crate::venue::binance::rest::parse_open_interest(&body, qty_scale).ok()?;
    (answer.symbol == *symbol && answer.qty.0 > 0).then_some((answer.qty, answer.time_ms))
}
