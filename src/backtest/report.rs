//! The backtest report: a human summary and a JSON document.
//!
//! Determinism: the JSON is a tree of structs serialized in declaration
//! order and of ordered lists (no hash map anywhere); money is exact
//! decimal text from integer mantissas; ratios are `f64` computed in a
//! fixed order and rounded to 6 decimals before formatting (the shortest
//! round-trip formatting of `serde_json` is itself deterministic); nothing
//! reads a clock. The same input and profile therefore give byte-identical
//! reports.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::fixed::Notional;
use crate::side::Side;
use crate::signal::SignalSnapshot;
use crate::strategy::{EntryContext, ExitReason, Tier, VoteKind};

use super::trades::TradeRecord;

/// Milliseconds per UTC day.
const DAY_MS: i64 = 86_400_000;

/// Named counts, serialized as a JSON object in the given order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Named optional texts, serialized as a JSON object (`null` when absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names(pub Vec<(&'static str, Option<&'static str>)>);

impl Serialize for Names {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A statistic that may not be computable ("n/a").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// A value (rounded to 6 decimals when written).
    Value(f64),
    /// Not computable from the data (too few trades or days).
    Na,
}

impl Stat {
    fn of(x: Option<f64>) -> Self {
        match x {
            Some(v) if v.is_finite() => Stat::Value(v),
            _ => Stat::Na,
        }
    }

    /// `part / whole`, n/a when `whole` is 0.
    #[must_use]
    pub fn of_ratio(part: u64, whole: u64) -> Self {
        Self::of((whole > 0).then(|| part as f64 / whole as f64))
    }
}

/// `x` rounded to 6 decimals (`-0` written as `0`).
#[must_use]
pub fn round6(x: f64) -> f64 {
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

impl Serialize for Stat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Stat::Value(v) => s.serialize_f64(round6(*v)),
            Stat::Na => s.serialize_str("n/a"),
        }
    }
}

impl std::fmt::Display for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stat::Value(v) => write!(f, "{:.4}", round6(*v)),
            Stat::Na => f.write_str("n/a"),
        }
    }
}

/// Money as exact decimal text.
#[must_use]
pub fn money(n: Notional) -> String {
    n.text().to_string()
}

/// Run settings echoed in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    /// Resting-order fill model.
    pub fill_model: &'static str,
    /// Feed latency.
    pub feed_latency: String,
    /// Order latency.
    pub order_latency: String,
    /// Funding charged.
    pub funding: bool,
    /// Equity at start, USDT.
    pub initial_equity_usdt: String,
    /// Entries by post-only limit orders.
    pub post_only_entries: bool,
    /// B-trades enabled.
    pub b_trades: bool,
}

/// One input source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputReport {
    /// As given.
    pub label: String,
    /// Venue.
    pub venue: &'static str,
    /// Frames replayed.
    pub frames: u64,
    /// Malformed recording lines skipped.
    pub bad_lines: u64,
}

/// One instrument's replay statistics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstrumentReport {
    /// Venue.
    pub venue: &'static str,
    /// Symbol.
    pub symbol: String,
    /// Book updates published (strategy side).
    pub book_updates: u64,
    /// Trades on the tape.
    pub tape_trades: u64,
    /// Sequence gaps (strategy side).
    pub gaps: u64,
    /// Resyncs requested (strategy side).
    pub resyncs: u64,
    /// Strategy decisions taken on this instrument.
    pub decisions: u64,
}

/// What the replay saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplayReport {
    /// Frames replayed.
    pub frames: u64,
    /// Frames that failed to decode.
    pub decode_errors: u64,
    /// Frames with a malformed element (a bad trade in a batch).
    pub malformed: u64,
    /// Frames about instruments the profile does not trade.
    pub unknown_instrument: u64,
    /// First exchange time, ms.
    pub first_exchange_ms: i64,
    /// Last exchange time, ms.
    pub last_exchange_ms: i64,
    /// Span, seconds.
    pub span_secs: Stat,
    /// Exchange timestamps bounded by the receive clock (far in the future
    /// of the frame's receive time: see `[core] max_clock_skew_ms`).
    pub exchange_time_clamped: u64,
    /// Per instrument that had data.
    pub instruments: Vec<InstrumentReport>,
}

/// The headline numbers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Closed trades.
    pub trades: u64,
    /// Net PnL > 0.
    pub wins: u64,
    /// Net PnL ≤ 0.
    pub losses: u64,
    /// wins / trades.
    pub win_rate: Stat,
    /// Σ gross PnL, USDT.
    pub gross_pnl_usdt: String,
    /// Σ fees, USDT.
    pub fees_usdt: String,
    /// Σ funding received (negative: paid), USDT, including outside trades.
    pub funding_usdt: String,
    /// gross − fees + funding, USDT.
    pub net_pnl_usdt: String,
    /// Net PnL as a fraction of initial equity.
    pub return_on_equity: Stat,
    /// Largest fall of mark-to-market equity from a peak, USDT.
    pub max_drawdown_usdt: String,
    /// That fall as a fraction of the peak.
    pub max_drawdown_fraction: Stat,
    /// mean / sample std of net PnL per trade (≥ 2 trades).
    pub sharpe_per_trade: Stat,
    /// Daily net PnL mean / std × √365, per UTC day (needs ≥ 2 days of data).
    pub sharpe_daily_annualised: Stat,
    /// Mean holding time, seconds.
    pub avg_hold_secs: Stat,
    /// Mean net PnL per trade, USDT.
    pub avg_net_pnl_usdt: Stat,
    /// Σ winning net PnL / |Σ losing net PnL| (n/a without a loss).
    pub profit_factor: Stat,
    /// Expected net PnL per trade, USDT: win rate × mean win − loss rate ×
    /// mean loss (the mean net PnL).
    pub expectancy_usdt: Stat,
    /// Mean R multiple (net PnL ÷ the loss at the initial stop) over the
    /// trades whose R is known: the expectancy in R.
    pub avg_r_multiple: Stat,
    /// Trades with a known R.
    pub trades_with_r: u64,
    /// Net PnL ÷ max drawdown (n/a without a drawdown).
    pub recovery_factor: Stat,
    /// Maker fills ÷ all fills (entries and exits).
    pub maker_share: Stat,
    /// Equity at the end, USDT.
    pub final_equity_usdt: String,
}

/// One exit leg in the JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExitJson {
    /// Why.
    pub reason: &'static str,
    /// When, ms.
    pub ts_ms: i64,
    /// Quantity.
    pub qty: String,
    /// Average price.
    pub price: String,
}

/// One trade in the JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TradeJson {
    /// Sequence number.
    pub id: u32,
    /// Venue.
    pub venue: &'static str,
    /// Symbol.
    pub symbol: String,
    /// "long" or "short".
    pub side: &'static str,
    /// "A", "B" or "cascade".
    pub tier: &'static str,
    /// Confidence at entry.
    pub confidence: u8,
    /// The unrounded score at the decision (n/a without a context).
    pub score: Stat,
    /// Effective leverage of the trade (0 without a context).
    pub leverage: u8,
    /// Stop price the position opened with (empty when unknown).
    pub stop_price: String,
    /// Take-profit price the position opened with (empty when unknown).
    pub target_price: String,
    /// The loss at the initial stop (quantity × R, fees not included), USDT.
    pub initial_risk_usdt: String,
    /// Net PnL in R.
    pub r_multiple: Stat,
    /// Entry order type.
    pub entry_order: &'static str,
    /// First entry fill, ms.
    pub entry_ms: i64,
    /// Last exit fill, ms (0 while open).
    pub exit_ms: i64,
    /// Holding time, seconds.
    pub hold_secs: Stat,
    /// Quantity.
    pub qty: String,
    /// Average entry price.
    pub entry_price: String,
    /// Average exit price.
    pub exit_price: String,
    /// Final exit reason.
    pub exit_reason: &'static str,
    /// Exit orders.
    pub exits: Vec<ExitJson>,
    /// Fees, USDT.
    pub fees_usdt: String,
    /// Funding, USDT.
    pub funding_usdt: String,
    /// Gross PnL, USDT.
    pub gross_pnl_usdt: String,
    /// Net PnL, USDT.
    pub net_pnl_usdt: String,
    /// The votes at the decision: each vote's direction and strength.
    pub votes: VotesJson,
    /// Every signal at the decision (`null` without a context).
    pub signals: Option<SnapshotJson>,
}

/// The votes of a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct VotesJson(pub Option<crate::strategy::vote::VoteSet>);

fn side_name(s: Option<Side>) -> Option<&'static str> {
    s.map(|s| match s {
        Side::Buy => "long",
        Side::Sell => "short",
    })
}

impl Serialize for VotesJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(v) = &self.0 else { return s.serialize_none() };
        let mut map = s.serialize_map(Some(VoteKind::ALL.len()))?;
        for k in VoteKind::ALL {
            let i = k as usize;
            map.serialize_entry(k.name(), &(side_name(v.dir[i]), Stat::Value(v.strength[i])))?;
        }
        map.end()
    }
}

/// A signal snapshot in the JSON: every field, ratios rounded to 6 decimals.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotJson(pub SignalSnapshot);

impl Serialize for SnapshotJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = &self.0;
        let f = |v: f64| Stat::of(Some(v));
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ts_ms", &x.ts_ms)?;
        m.serialize_entry("warm", &x.warm)?;
        m.serialize_entry("warm_mask", &x.warm_mask)?;
        for (k, v) in [
            ("mid", x.mid),
            ("microprice", x.microprice),
            ("spread_ticks", x.spread_ticks),
            ("spread_bps", x.spread_bps),
            ("tob_imbalance", x.tob_imbalance),
            ("depth_imbalance", x.depth_imbalance),
            ("ofi", x.ofi),
            ("ofi_multi", x.ofi_multi),
            ("signed_volume", x.signed_volume),
            ("cvd", x.cvd),
            ("buy_share", x.buy_share),
            ("volume_surge", x.volume_surge),
            ("net_flow_surge", x.net_flow_surge),
            ("vwap", x.vwap),
            ("vwap_dev_bps", x.vwap_dev_bps),
            ("vwap_dev_sigma", x.vwap_dev_sigma),
            ("poc", x.poc),
            ("value_area_high", x.value_area_high),
            ("value_area_low", x.value_area_low),
            ("volatility_bps", x.volatility_bps),
            ("velocity_bps_s", x.velocity_bps_s),
            ("acceleration_bps_s2", x.acceleration_bps_s2),
            ("ou_theta", x.ou_theta),
            ("ou_mu", x.ou_mu),
            ("ou_sigma", x.ou_sigma),
            ("ou_zscore", x.ou_zscore),
        ] {
            m.serialize_entry(k, &f(v))?;
        }
        m.serialize_entry("ou_drift", &x.ou_drift)?;
        m.serialize_entry("funding_rate", &f(x.funding_rate))?;
        m.serialize_entry("ms_to_funding", &x.ms_to_funding)?;
        for (k, v) in [
            ("funding_bias", x.funding_bias),
            ("liq_long_notional", x.liq_long_notional),
            ("liq_short_notional", x.liq_short_notional),
            ("liq_acceleration", x.liq_acceleration),
            ("liq_long_per_min", x.liq_long_per_min),
            ("liq_short_per_min", x.liq_short_per_min),
        ] {
            m.serialize_entry(k, &f(v))?;
        }
        m.serialize_entry("cascade", &side_name(x.cascade))?;
        m.serialize_entry("regime", x.regime.name())?;
        for (k, v) in [
            ("variance_ratio", x.variance_ratio),
            ("volatility_percentile", x.volatility_percentile),
            ("momentum_short_bps", x.momentum_short_bps),
            ("momentum_long_bps", x.momentum_long_bps),
        ] {
            m.serialize_entry(k, &f(v))?;
        }
        m.serialize_entry("momentum_aligned", &side_name(x.momentum_aligned))?;
        for (k, v) in [("atr", x.atr), ("atr_bps", x.atr_bps), ("range_high", x.range_high), ("range_low", x.range_low)]
        {
            m.serialize_entry(k, &f(v))?;
        }
        m.serialize_entry("breakout", &side_name(x.breakout))?;
        m.serialize_entry("breakout_level", &f(x.breakout_level))?;
        m.serialize_entry("pullback", &side_name(x.pullback))?;
        for (k, v) in [
            ("swing_high", x.swing_high),
            ("swing_low", x.swing_low),
            ("open_interest", x.open_interest),
            ("oi_change_pct", x.oi_change_pct),
            ("oi_price_change_bps", x.oi_price_change_bps),
        ] {
            m.serialize_entry(k, &f(v))?;
        }
        m.end()
    }
}

impl TradeJson {
    /// A record as JSON.
    #[must_use]
    pub fn of(t: &TradeRecord) -> Self {
        let qs = t.instrument.qty_scale;
        Self {
            id: t.id,
            venue: t.instrument.venue.name(),
            symbol: t.instrument.symbol.to_string(),
            side: match t.side {
                crate::side::Side::Buy => "long",
                crate::side::Side::Sell => "short",
            },
            tier: t.tier.name(),
            confidence: t.confidence,
            score: t.context.as_ref().map_or(Stat::Na, |c: &EntryContext| Stat::Value(c.score)),
            leverage: t.context.as_ref().map_or(0, |c| c.leverage),
            stop_price: t.stop.map_or_else(String::new, |p| {
                crate::fixed::DecimalText::new(p.0, t.instrument.price_scale).to_string()
            }),
            target_price: t.target.map_or_else(String::new, |p| {
                crate::fixed::DecimalText::new(p.0, t.instrument.price_scale).to_string()
            }),
            initial_risk_usdt: t.initial_risk().map_or_else(String::new, money),
            r_multiple: Stat::of(t.r_multiple()),
            entry_order: if t.post_only { "post-only" } else { "market" },
            entry_ms: t.entry_ms,
            exit_ms: t.exit_ms,
            hold_secs: if t.closed() { Stat::Value((t.exit_ms - t.entry_ms) as f64 / 1000.0) } else { Stat::Na },
            qty: crate::fixed::DecimalText::new(t.entry_qty, qs).to_string(),
            entry_price: t.avg_entry_text(),
            exit_price: t.avg_exit_text(),
            exit_reason: t.exit_reason().map_or("open", ExitReason::name),
            exits: t
                .exits
                .iter()
                .map(|l| ExitJson {
                    reason: l.reason.name(),
                    ts_ms: l.ts_ms,
                    qty: crate::fixed::DecimalText::new(l.qty, qs).to_string(),
                    price: super::trades::avg_text(l.value, l.qty, t.instrument.price_scale),
                })
                .collect(),
            fees_usdt: money(t.fees()),
            funding_usdt: money(Notional(t.funding)),
            gross_pnl_usdt: money(t.gross()),
            net_pnl_usdt: money(t.net()),
            votes: VotesJson(t.context.as_ref().map(|c| c.votes)),
            signals: t.context.as_ref().map(|c| SnapshotJson(c.snapshot)),
        }
    }
}

/// Gate counters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GateReport {
    /// Candidate evaluations (flat, ready symbol whose votes made a tier).
    pub candidates: u64,
    /// Candidates that passed every gate.
    pub passed: u64,
    /// Candidates per tier.
    pub candidates_by_tier: Counts,
    /// Blocks per gate (a candidate can fail several gates; each counts).
    pub blocked: Counts,
    /// Candidates for which an enabled gate was not evaluated because its
    /// signal had no data (`when_missing = "skip"`), per gate (only gates
    /// with a count).
    pub not_evaluated_no_data: Counts,
    /// Candidates per ten-point confidence bucket ("0-9" … "90-100").
    pub by_confidence: Counts,
    /// Enabled gates that were not evaluated because the signal source does not provide their input.
    pub skipped_input_unavailable: Vec<&'static str>,
}

/// Pre-trade risk gate counters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RiskGateReport {
    /// Orders passed.
    pub passed: u64,
    /// Refusals by reason.
    pub refused: Counts,
}

/// Risk monitor outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RiskMonitorReport {
    /// Breaker trips by cause.
    pub trips: Counts,
    /// Verdict mode at the end.
    pub final_mode: &'static str,
    /// The monitor's own equity at the end (fills as the engine saw them; no funding), USDT.
    pub equity_usdt: String,
}

/// Order flow counters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrdersReport {
    /// Entry orders proposed by the strategy.
    pub entries_proposed: u64,
    /// Exit orders proposed.
    pub exits_proposed: u64,
    /// Entry cancels sent (timeouts, risk).
    pub cancels_sent: u64,
    /// Orders that reached the exchange.
    pub orders_at_exchange: u64,
    /// Fills.
    pub fills: u64,
    /// Maker fills.
    pub maker_fills: u64,
    /// Taker fills.
    pub taker_fills: u64,
    /// Post-only entries expired because they would have taken.
    pub post_only_expired: u64,
    /// Entries that ended without a fill.
    pub unfilled_entries: u64,
    /// Entries that ended partially filled.
    pub partial_entries: u64,
    /// Orders rejected by the exchange.
    pub rejected_by_exchange: u64,
    /// Market quantity beyond the book.
    pub unfilled_by_book: u64,
    /// Cancels that arrived after the order had filled.
    pub late_cancels: u64,
    /// Funding charges.
    pub funding_events: u64,
}

/// The whole report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// What this is.
    pub report: &'static str,
    /// Format version.
    pub format_version: u32,
    /// Profile as given.
    pub profile: String,
    /// Signal source name.
    pub signal_source: &'static str,
    /// Snapshot field groups the source does not provide.
    pub signal_fields_missing: Vec<&'static str>,
    /// Input each vote reads (`null`: the vote always abstains).
    pub vote_inputs: Names,
    /// Settings.
    pub settings: Settings,
    /// Inputs.
    pub inputs: Vec<InputReport>,
    /// Replay statistics.
    pub replay: ReplayReport,
    /// Summary.
    pub summary: Summary,
    /// Closed trades per tier.
    pub trades_by_tier: Counts,
    /// Closed trades per final exit reason.
    pub trades_by_exit_reason: Counts,
    /// Entry gates.
    pub gates: GateReport,
    /// Pre-trade risk gate.
    pub risk_gate: RiskGateReport,
    /// Risk monitor.
    pub risk_monitor: RiskMonitorReport,
    /// Orders.
    pub orders: OrdersReport,
    /// Closed trades.
    pub trades: Vec<TradeJson>,
    /// Trades still open at the end (close_at_end off, or no book to close into).
    pub open_at_end: Vec<TradeJson>,
}

impl Report {
    /// The JSON document (pretty-printed, newline-terminated).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }

    /// A few human lines.
    #[must_use]
    pub fn human(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let blocked: Vec<String> =
            self.gates.blocked.0.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        let reasons: Vec<String> =
            self.trades_by_exit_reason.0.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        let refused: Vec<String> =
            self.risk_gate.refused.0.iter().filter(|(_, n)| *n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        let lines = [
            format!(
                "backtest: {} frames over {} s, signal set: {}",
                self.replay.frames, self.replay.span_secs, self.signal_source
            ),
            format!(
                "trades: {} (A {}, B {}, cascade {}), wins {}, losses {}, win rate {}",
                s.trades,
                self.trades_by_tier.0[0].1,
                self.trades_by_tier.0[1].1,
                self.trades_by_tier.0[2].1,
                s.wins,
                s.losses,
                s.win_rate
            ),
            format!(
                "edge: profit factor {}, expectancy {} USDT/trade, avg R {} ({} trades with R), recovery factor {}, maker share {}",
                s.profit_factor,
                s.expectancy_usdt,
                s.avg_r_multiple,
                s.trades_with_r,
                s.recovery_factor,
                percent(s.maker_share)
            ),
            format!(
                "pnl: gross {} USDT, fees {} USDT, funding {} USDT, net {} USDT (return {} of equity)",
                s.gross_pnl_usdt,
                s.fees_usdt,
                s.funding_usdt,
                s.net_pnl_usdt,
                percent(s.return_on_equity)
            ),
            format!(
                "risk: max drawdown {} USDT ({} of peak), sharpe per trade {}, daily {}, avg hold {} s",
                s.max_drawdown_usdt,
                percent(s.max_drawdown_fraction),
                s.sharpe_per_trade,
                s.sharpe_daily_annualised,
                s.avg_hold_secs
            ),
            format!("exits: {}", if reasons.is_empty() { "none".into() } else { reasons.join(", ") }),
            format!(
                "gates: {} candidates, {} passed; blocked: {}",
                self.gates.candidates,
                self.gates.passed,
                if blocked.is_empty() { "none".into() } else { blocked.join(", ") }
            ),
            format!(
                "orders: {} at exchange, {} fills ({} maker), {} post-only expired, {} unfilled entries; risk gate refused: {}",
                self.orders.orders_at_exchange,
                self.orders.fills,
                self.orders.maker_fills,
                self.orders.post_only_expired,
                self.orders.unfilled_entries,
                if refused.is_empty() { "none".into() } else { refused.join(", ") }
            ),
        ];
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
        if !self.gates.not_evaluated_no_data.0.is_empty() {
            let list: Vec<String> =
                self.gates.not_evaluated_no_data.0.iter().map(|(k, n)| format!("{k} {n}")).collect();
            out.push_str(&format!("note: gates not evaluated for lack of data (candidates): {}\n", list.join(", ")));
        }
        if !self.gates.skipped_input_unavailable.is_empty() {
            out.push_str(&format!(
                "note: gates not evaluated (input not provided by {}): {}\n",
                self.signal_source,
                self.gates.skipped_input_unavailable.join(", ")
            ));
        }
        out
    }
}

fn percent(x: Stat) -> String {
    match x {
        Stat::Value(v) => format!("{:.4}%", round6(v) * 100.0),
        Stat::Na => "n/a".into(),
    }
}

/// Mean and sample standard deviation.
fn mean_std(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.len() < 2 {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

/// Summary numbers from closed trades and the equity curve.
#[must_use]
pub fn summarize(
    closed: &[TradeRecord],
    unattributed_funding: Notional,
    initial_equity: Notional,
    max_drawdown: (Notional, f64),
    span_ms: (i64, i64),
) -> Summary {
    let n = closed.len() as u64;
    let wins = closed.iter().filter(|t| t.net().0 > 0).count() as u64;
    let gross: i64 = closed.iter().map(|t| t.gross().0).sum();
    let fees: i64 = closed.iter().map(|t| t.fees().0).sum();
    let funding: i64 = closed.iter().map(|t| t.funding).sum::<i64>() + unattributed_funding.0;
    let net = gross - fees + funding;
    let nets: Vec<f64> = closed.iter().map(|t| t.net().0 as f64 / 1e8).collect();
    let sharpe_trade = mean_std(&nets).and_then(|(m, s)| (s > 0.0).then_some(m / s));
    let (first, last) = span_ms;
    let first_day = first.div_euclid(DAY_MS);
    let days = (last.div_euclid(DAY_MS) - first_day + 1).max(0);
    // Daily returns need at least two whole days of data (a few minutes
    // across midnight touch two dates but make no daily series).
    let sharpe_daily = if last - first >= 2 * DAY_MS && !closed.is_empty() {
        let mut daily = vec![0.0f64; usize::try_from(days).unwrap_or(0)];
        for t in closed {
            let d = usize::try_from(t.exit_ms.div_euclid(DAY_MS) - first_day).unwrap_or(0).min(daily.len() - 1);
            daily[d] += t.net().0 as f64 / 1e8;
        }
        mean_std(&daily).and_then(|(m, s)| (s > 0.0).then_some(m / s * 365f64.sqrt()))
    } else {
        None
    };
    let holds: Vec<f64> = closed.iter().map(|t| (t.exit_ms - t.entry_ms) as f64 / 1000.0).collect();
    let won: i64 = closed.iter().map(|t| t.net().0).filter(|n| *n > 0).sum();
    let lost: i64 = closed.iter().map(|t| t.net().0).filter(|n| *n < 0).sum();
    let rs: Vec<f64> = closed.iter().filter_map(TradeRecord::r_multiple).collect();
    let dd = max_drawdown.0.0;
    Summary {
        trades: n,
        wins,
        losses: n - wins,
        win_rate: Stat::of((n > 0).then(|| wins as f64 / n as f64)),
        gross_pnl_usdt: money(Notional(gross)),
        fees_usdt: money(Notional(fees)),
        funding_usdt: money(Notional(funding)),
        net_pnl_usdt: money(Notional(net)),
        return_on_equity: Stat::of(Some(net as f64 / initial_equity.0 as f64)),
        max_drawdown_usdt: money(max_drawdown.0),
        max_drawdown_fraction: Stat::Value(max_drawdown.1),
        sharpe_per_trade: Stat::of(sharpe_trade),
        sharpe_daily_annualised: Stat::of(sharpe_daily),
        avg_hold_secs: Stat::of((!holds.is_empty()).then(|| holds.iter().sum::<f64>() / holds.len() as f64)),
        avg_net_pnl_usdt: Stat::of((!nets.is_empty()).then(|| nets.iter().sum::<f64>() / nets.len() as f64)),
        profit_factor: Stat::of((lost < 0).then(|| won as f64 / -(lost as f64))),
        expectancy_usdt: Stat::of((!nets.is_empty()).then(|| nets.iter().sum::<f64>() / nets.len() as f64)),
        avg_r_multiple: Stat::of((!rs.is_empty()).then(|| rs.iter().sum::<f64>() / rs.len() as f64)),
        trades_with_r: rs.len() as u64,
        recovery_factor: Stat::of((dd > 0).then(|| net as f64 / dd as f64)),
        maker_share: Stat::Na,
        final_equity_usdt: money(Notional(initial_equity.0 + net)),
    }
}

/// Closed trades per tier: A, B, cascade.
#[must_use]
pub fn by_tier(closed: &[TradeRecord]) -> Counts {
    Counts(Tier::ALL.iter().map(|t| (t.name(), closed.iter().filter(|r| r.tier == *t).count() as u64)).collect())
}

/// Closed trades per final exit reason, every reason listed.
#[must_use]
pub fn by_exit_reason(closed: &[TradeRecord]) -> Counts {
    Counts(
        ExitReason::ALL
            .iter()
            .map(|r| (r.name(), closed.iter().filter(|t| t.exit_reason() == Some(*r)).count() as u64))
            .collect(),
    )
}

/// Tracks the largest fall of equity from its running peak.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Drawdown {
    peak: i64,
    max_dd: i64,
    max_dd_fraction: f64,
}

impl Drawdown {
    /// Starts at `equity`.
    #[must_use]
    pub fn new(equity: Notional) -> Self {
        Self { peak: equity.0, max_dd: 0, max_dd_fraction: 0.0 }
    }

    /// Observes equity now.
    pub fn observe(&mut self, equity: Notional) {
        if equity.0 > self.peak {
            self.peak = equity.0;
        }
        let dd = self.peak - equity.0;
        if dd > self.max_dd {
            self.max_dd = dd;
            self.max_dd_fraction = if self.peak > 0 { dd as f64 / self.peak as f64 } else { 0.0 };
        }
    }

    /// Largest fall so far and its fraction of the peak.
    #[must_use]
    pub fn max(&self) -> (Notional, f64) {
        (Notional(self.max_dd), self.max_dd_fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_format_deterministically() {
        assert_eq!(serde_json::to_string(&Stat::Value(0.1 + 0.2)).unwrap(), "0.3");
        assert_eq!(serde_json::to_string(&Stat::Value(-1e-9)).unwrap(), "0.0");
        assert_eq!(serde_json::to_string(&Stat::Na).unwrap(), "\"n/a\"");
        assert_eq!(serde_json::to_string(&Counts(vec![("b", 1), ("a", 2)])).unwrap(), "{\"b\":1,\"a\":2}");
    }

    #[test]
    fn drawdown_from_the_running_peak() {
        let mut d = Drawdown::new(Notional(100));
        for e in [110, 90, 120, 100, 130] {
            d.observe(Notional(e));
        }
        assert_eq!(d.max().0, Notional(20));
        assert!((d.max().1 - 20.0 / 110.0).abs() < 1e-12);
    }

    #[test]
    fn sharpe_needs_two_trades_and_two_days() {
        let s = summarize(&[], Notional::ZERO, Notional(100), (Notional::ZERO, 0.0), (0, 1000));
        assert_eq!(
            (s.trades, s.win_rate, s.sharpe_per_trade, s.sharpe_daily_annualised),
            (0, Stat::Na, Stat::Na, Stat::Na)
        );
        assert_eq!(s.net_pnl_usdt, "0");
    }
}
