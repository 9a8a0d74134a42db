//! `scalpel journal --input FILE [--json]`: a journal as human lines or one
//! JSON object per record.
//!
//! Prices and quantities are printed as decimals at the scale announced by
//! the journal's `instrument` records (as JSON strings, so no float ever
//! touches them); a price of an instrument the journal does not describe is
//! printed as its raw mantissa, `raw:<n>`. Money is USDT at 8 decimals.
//! A torn tail is reported as the last line (`torn-tail`) and is not an
//! error; a corrupt record is reported and is an error.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::fixed::Price;
use crate::fixed::{DecimalText, E8};
use crate::instrument::Symbol;
use crate::journal::record::{SIGNAL_F64_NAMES, reject_reason_name};
use crate::journal::{Entry, JournalError, JournalReader, JournalRecord, ReadError, TornTail};
use crate::order::{OrderEvent, OrderKind, OrderRequest, TimeInForce};
use crate::risk::monitor::{RiskCommand, RiskOutput};
use crate::risk::verdict::Cause;
use crate::side::Side;
use crate::strategy::VoteKind;
use crate::venue::Venue;

/// What a print run saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintSummary {
    /// Records printed.
    pub records: u64,
    /// The torn tail, if the file ends in one.
    pub torn_tail: Option<TornTail>,
}

/// Prints the journal file at `path`.
///
/// # Errors
/// As [`print_journal`], plus the file failing to open.
pub fn print_journal_file(path: &Path, json: bool, out: &mut impl Write) -> Result<PrintSummary, JournalError> {
    let file = File::open(path).map_err(|e| JournalError::Io { op: "open", kind: e.kind() })?;
    print_journal(BufReader::new(file), json, out)
}

/// Prints every record of a journal read from `src`.
///
/// # Errors
/// A bad header, a corrupt record (after printing what came before it and a
/// line describing it), or an I/O failure.
pub fn print_journal<R: BufRead>(src: R, json: bool, out: &mut impl Write) -> Result<PrintSummary, JournalError> {
    let write_err = |e: std::io::Error| JournalError::Io { op: "write output", kind: e.kind() };
    let mut scales: HashMap<(Venue, Symbol), (u8, u8)> = HashMap::new();
    let mut summary = PrintSummary { records: 0, torn_tail: None };
    for item in JournalReader::new(src)? {
        match item {
            Ok(entry) => {
                if let JournalRecord::Instrument { venue, symbol, price_scale, qty_scale } = entry.record {
                    scales.insert((venue, symbol), (price_scale, qty_scale));
                }
                let (kind, fields) = describe(&entry, &scales);
                let line = if json { json_line(&entry, kind, fields) } else { human_line(&entry, kind, &fields) };
                writeln!(out, "{line}").map_err(write_err)?;
                summary.records += 1;
            }
            Err(ReadError::TornTail(torn)) => {
                let line = if json {
                    json!({"kind": "torn-tail", "offset": torn.offset, "bytes": torn.bytes}).to_string()
                } else {
                    format!("torn-tail offset={} bytes={} (last record cut short, ignored)", torn.offset, torn.bytes)
                };
                writeln!(out, "{line}").map_err(write_err)?;
                summary.torn_tail = Some(torn);
            }
            Err(ReadError::Journal(err)) => {
                if let JournalError::Corrupt { offset, problem } = err {
                    let line = if json {
                        json!({"kind": "corrupt", "offset": offset, "problem": problem.to_string()}).to_string()
                    } else {
                        format!("corrupt offset={offset} problem={problem:?}")
                    };
                    writeln!(out, "{line}").map_err(write_err)?;
                }
                return Err(err);
            }
        }
    }
    out.flush().map_err(write_err)?;
    Ok(summary)
}

fn human_line(entry: &Entry, kind: &str, fields: &[(&'static str, Value)]) -> String {
    let mut line = format!("{} {kind}", utc_text(entry.ts_ns));
    for (key, value) in fields {
        match value {
            Value::String(s) => line.push_str(&format!(" {key}={s}")),
            other => line.push_str(&format!(" {key}={other}")),
        }
    }
    line
}

fn json_line(entry: &Entry, kind: &str, fields: Vec<(&'static str, Value)>) -> String {
    let mut map = Map::new();
    map.insert("ts_ns".into(), json!(entry.ts_ns));
    map.insert("offset".into(), json!(entry.offset));
    map.insert("kind".into(), json!(kind));
    for (key, value) in fields {
        map.insert(key.into(), value);
    }
    Value::Object(map).to_string()
}

fn money(v: i64) -> Value {
    Value::String(DecimalText::new(v, E8).to_string())
}

fn scaled(v: i64, scale: Option<u8>) -> Value {
    Value::String(match scale {
        Some(s) => DecimalText::new(v, s).to_string(),
        None => format!("raw:{v}"),
    })
}

fn order_fields(o: &OrderRequest, scales: &HashMap<(Venue, Symbol), (u8, u8)>) -> Vec<(&'static str, Value)> {
    let sc = scales.get(&(o.venue, o.symbol)).copied();
    vec![
        ("venue", json!(o.venue.name())),
        ("symbol", json!(o.symbol.as_str())),
        ("side", json!(o.side.upper())),
        (
            "type",
            json!(match o.kind {
                OrderKind::Limit => "LIMIT",
                OrderKind::Market => "MARKET",
            }),
        ),
        (
            "tif",
            json!(match o.tif {
                TimeInForce::Gtc => "GTC",
                TimeInForce::Ioc => "IOC",
                TimeInForce::PostOnly => "POST_ONLY",
            }),
        ),
        ("price", scaled(o.price.0, sc.map(|s| s.0))),
        ("qty", scaled(o.qty.0, sc.map(|s| s.1))),
        ("reduce_only", json!(o.reduce_only)),
        ("client_id", json!(o.client_id.0)),
    ]
}

/// A trip's measured value, in the unit its cause measures.
fn trip_value(cause: Cause, value: i64) -> Value {
    match cause {
        Cause::DailyLoss | Cause::WeeklyLoss => money(value),
        Cause::Drawdown | Cause::FlashCrash | Cause::MarginReduce | Cause::MarginReduceOnly => {
            Value::String(DecimalText::new(value, E8).to_string())
        }
        _ => json!(value),
    }
}

fn describe(entry: &Entry, scales: &HashMap<(Venue, Symbol), (u8, u8)>) -> (&'static str, Vec<(&'static str, Value)>) {
    match entry.record {
        JournalRecord::Instrument { venue, symbol, price_scale, qty_scale } => (
            "instrument",
            vec![
                ("venue", json!(venue.name())),
                ("symbol", json!(symbol.as_str())),
                ("price_scale", json!(price_scale)),
                ("qty_scale", json!(qty_scale)),
            ],
        ),
        JournalRecord::Order(OrderEvent::Submitted { order, ts_raw }) => {
            let mut f = order_fields(&order, scales);
            f.push(("ts_raw", json!(ts_raw)));
            ("submitted", f)
        }
        JournalRecord::Order(OrderEvent::Acked { client_id, venue_order_id, ts_ms }) => (
            "acked",
            vec![
                ("client_id", json!(client_id.0)),
                ("venue_order_id", json!(String::from_utf8_lossy(venue_order_id.as_bytes()))),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Order(OrderEvent::Filled(f)) => {
            let sc = scales.get(&(f.venue, f.symbol)).copied();
            (
                "filled",
                vec![
                    ("venue", json!(f.venue.name())),
                    ("symbol", json!(f.symbol.as_str())),
                    ("side", json!(f.side.upper())),
                    ("client_id", json!(f.client_id.0)),
                    ("trade_id", json!(f.trade_id.0.to_string())),
                    (
                        "fee_kind",
                        json!(match f.fee_kind {
                            crate::order::FeeKind::Quote => "quote",
                            crate::order::FeeKind::OtherAsset => "other-asset",
                            crate::order::FeeKind::NotReported => "not-reported",
                        }),
                    ),
                    ("price", scaled(f.price.0, sc.map(|s| s.0))),
                    ("qty", scaled(f.qty.0, sc.map(|s| s.1))),
                    ("fee", money(f.fee.0)),
                    ("maker", json!(f.is_maker)),
                    ("venue_ts_ms", json!(f.ts_ms)),
                ],
            )
        }
        JournalRecord::Order(OrderEvent::Cancelled { client_id, ts_ms }) => {
            ("cancelled", vec![("client_id", json!(client_id.0)), ("venue_ts_ms", json!(ts_ms))])
        }
        JournalRecord::Order(OrderEvent::Expired { client_id, ts_ms }) => {
            ("expired", vec![("client_id", json!(client_id.0)), ("venue_ts_ms", json!(ts_ms))])
        }
        JournalRecord::Order(OrderEvent::Rejected { client_id, reason, venue_code, ts_ms }) => (
            "rejected",
            vec![
                ("client_id", json!(client_id.0)),
                ("reason", json!(reject_reason_name(reason))),
                ("venue_code", json!(venue_code)),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Order(OrderEvent::Amended { client_id, price, qty, ts_ms }) => (
            "amended",
            vec![
                ("client_id", json!(client_id.0)),
                ("price_mantissa", json!(price.0)),
                ("qty_mantissa", json!(qty.0)),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Order(OrderEvent::ActionRejected { client_id, action, reason, venue_code, ts_ms }) => (
            "action-rejected",
            vec![
                ("client_id", json!(client_id.0)),
                ("action", json!(format!("{action:?}").to_lowercase())),
                ("reason", json!(reject_reason_name(reason))),
                ("venue_code", json!(venue_code)),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::GateRefusal { order, reason } => {
            let mut f = order_fields(&order, scales);
            f.push(("reason", json!(reason.name())));
            ("gate-refusal", f)
        }
        JournalRecord::Risk(RiskOutput::Verdict { ts_ms, verdict }) => (
            "verdict",
            vec![
                ("mode", json!(verdict.mode.name())),
                ("cause", json!(verdict.cause.name())),
                ("size_cap_permille", json!(verdict.size_cap_permille)),
                ("seq", json!(verdict.seq)),
                ("risk_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Risk(RiskOutput::Trip { ts_ms, cause, value }) => (
            "trip",
            vec![("cause", json!(cause.name())), ("value", trip_value(cause, value)), ("risk_ts_ms", json!(ts_ms))],
        ),
        JournalRecord::Risk(RiskOutput::Clear { ts_ms, cause }) => {
            ("clear", vec![("cause", json!(cause.name())), ("risk_ts_ms", json!(ts_ms))])
        }
        JournalRecord::Risk(RiskOutput::Command { ts_ms, command }) => {
            let mut f = vec![(
                "command",
                json!(match command {
                    RiskCommand::CancelAll => "cancel-all",
                    RiskCommand::FlattenAll => "flatten-all",
                    RiskCommand::Flatten { .. } => "flatten",
                    RiskCommand::Exit => "exit",
                }),
            )];
            if let RiskCommand::Flatten { venue, symbol } = command {
                f.push(("venue", json!(venue.name())));
                f.push(("symbol", json!(symbol.as_str())));
            }
            f.push(("risk_ts_ms", json!(ts_ms)));
            ("command", f)
        }
        JournalRecord::Resync { venue, symbol, ts_ms } => (
            "resync",
            vec![("venue", json!(venue.name())), ("symbol", json!(symbol.as_str())), ("venue_ts_ms", json!(ts_ms))],
        ),
        JournalRecord::Account { venue, margin_balance, maintenance_margin, ts_ms } => (
            "account",
            vec![
                ("venue", json!(venue.name())),
                ("margin_balance", money(margin_balance.0)),
                ("maintenance_margin", money(maintenance_margin.0)),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Funding { venue, symbol, amount, ts_ms } => (
            "funding",
            vec![
                ("venue", json!(venue.name())),
                ("symbol", json!(symbol.as_ref().map(|s| s.as_str().to_owned()))),
                ("amount", money(amount.0)),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Wallet { venue, wallet_balance, ts_ms } => (
            "wallet",
            vec![
                ("venue", json!(venue.name())),
                ("wallet_balance", money(wallet_balance.0)),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Reconcile { venue, symbol, ledger, reported, ts_ms } => (
            if ledger == reported { "reconciled" } else { "position-mismatch" },
            vec![
                ("venue", json!(venue.name())),
                ("symbol", json!(symbol.as_str())),
                ("ledger_qty", json!(ledger.0)),
                ("venue_qty", json!(reported.0)),
                ("venue_ts_ms", json!(ts_ms)),
            ],
        ),
        JournalRecord::Log { level, code, value } => {
            ("log", vec![("level", json!(level.name())), ("code", json!(code)), ("value", json!(value))])
        }
        JournalRecord::Dropped { ring, total } => (
            "dropped",
            vec![
                (
                    "ring",
                    json!(match ring {
                        crate::journal::RingId::Telemetry => "telemetry",
                        crate::journal::RingId::Contexts => "contexts",
                    }),
                ),
                ("total", json!(total)),
            ],
        ),
        JournalRecord::Latency { stage, count, p50, p99, p999, max } => (
            "latency",
            vec![
                ("stage", json!(stage.name())),
                ("count", json!(count)),
                ("p50_ns", json!(p50)),
                ("p99_ns", json!(p99)),
                ("p999_ns", json!(p999)),
                ("max_ns", json!(max)),
            ],
        ),
        JournalRecord::Closed { records } => ("closed", vec![("records", json!(records))]),
        JournalRecord::Entry(e) => {
            let sc = scales.get(&(e.venue, e.symbol)).copied();
            let price = |p: Price| scaled(p.0, sc.map(|s| s.0));
            let votes: Vec<String> = VoteKind::ALL
                .iter()
                .map(|k| {
                    let i = *k as usize;
                    match e.votes.dir[i] {
                        Some(side) => format!("{}:{}:{}", k.name(), side.upper(), float_text(e.votes.strength[i])),
                        None => format!("{}:-", k.name()),
                    }
                })
                .collect();
            (
                "entry",
                vec![
                    ("venue", json!(e.venue.name())),
                    ("symbol", json!(e.symbol.as_str())),
                    ("client_id", json!(e.client_id.0)),
                    ("side", json!(e.side.upper())),
                    ("tier", json!(e.tier.name())),
                    ("confidence", json!(e.confidence)),
                    ("score", float(e.score)),
                    ("votes", json!(votes.join(","))),
                    ("price", price(e.price)),
                    ("qty", scaled(e.qty.0, sc.map(|s| s.1))),
                    ("stop_distance", price(e.stop_distance)),
                    ("target_distance", price(e.target_distance)),
                    ("stop_level", price(e.stop_level())),
                    ("target_level", price(e.target_level())),
                    ("risk", money(e.risk.0)),
                    ("leverage", json!(e.leverage)),
                    ("decision_ts_ms", json!(e.ts_ms)),
                ],
            )
        }
        JournalRecord::EntrySignals { client_id, signals } => {
            let s = &signals.0;
            let side = |v: Option<Side>| v.map_or(Value::Null, |side| json!(side.upper()));
            let mut f = vec![
                ("client_id", json!(client_id.0)),
                ("signals_ts_ms", json!(s.ts_ms)),
                ("warm", json!(s.warm)),
                ("warm_mask", json!(s.warm_mask)),
                ("regime", json!(s.regime.name())),
                ("ou_drift", json!(s.ou_drift)),
                ("ms_to_funding", json!(s.ms_to_funding)),
                ("cascade", side(s.cascade)),
                ("momentum_aligned", side(s.momentum_aligned)),
                ("breakout", side(s.breakout)),
                ("pullback", side(s.pullback)),
            ];
            f.extend(SIGNAL_F64_NAMES.iter().zip(signals.f64s()).map(|(name, v)| (*name, float(v))));
            ("entry-signals", f)
        }
        JournalRecord::Exit(x) => {
            let sc = scales.get(&(x.venue, x.symbol)).copied();
            (
                "exit",
                vec![
                    ("venue", json!(x.venue.name())),
                    ("symbol", json!(x.symbol.as_str())),
                    ("client_id", json!(x.client_id.0)),
                    ("side", json!(x.side.upper())),
                    ("qty", scaled(x.qty.0, sc.map(|s| s.1))),
                    ("reason", json!(x.reason.name())),
                ],
            )
        }
    }
}

/// A research `f64` as JSON: a number when finite (the shortest text that
/// reads back to the same bits), else the string `inf`, `-inf` or `NaN`
/// (JSON has no such numbers).
fn float(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { json!(float_text(v)) }
}

/// The shortest text of `v` that reads back to the same value.
fn float_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:?}")
    }
}

/// `2024-01-01T00:00:00.000000000Z` for ns since the Unix epoch (proleptic
/// Gregorian calendar; days-to-civil after Howard Hinnant,
/// <https://howardhinnant.github.io/date_algorithms.html#civil_from_days>).
#[must_use]
pub fn utc_text(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000;
    let nanos = ts_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order-context records as `scalpel journal` prints them; the
    /// expected lines are written by hand from the records below.
    #[test]
    fn order_context_records_print_readably() {
        use crate::fixed::{Notional, Qty};
        use crate::journal::record::{EntryRecord, ExitRecord, SignalBits};
        use crate::journal::{JournalConfig, JournalWriter, RingId};
        use crate::order::ClientOrderId;
        use crate::signal::{Regime, SignalSnapshot};
        use crate::strategy::vote::VoteSet;
        use crate::strategy::{ExitReason, Tier};

        let ts = 1_704_067_200_000_000_000;
        let inst = crate::instrument::Instrument::reference_btcusdt(Venue::BinanceUsdm);
        let mut w = JournalWriter::new(Vec::new(), &[inst], &JournalConfig::default(), ts).unwrap();
        let symbol: Symbol = "BTCUSDT".parse().unwrap();
        w.append(
            ts,
            &JournalRecord::Entry(EntryRecord {
                client_id: ClientOrderId(42),
                venue: Venue::BinanceUsdm,
                symbol,
                ts_ms: 1_704_067_199_999,
                side: Side::Buy,
                tier: Tier::A,
                confidence: 87,
                score: 87.5,
                votes: VoteSet {
                    dir: [Some(Side::Buy), None, Some(Side::Buy), Some(Side::Sell), Some(Side::Buy)],
                    strength: [1.5, 0.0, 2.25, 1.0, 3.0],
                },
                price: Price(6_000_000),
                qty: Qty(10),
                stop_distance: Price(3_000),
                target_distance: Price(4_500),
                risk: Notional(30_000_000),
                leverage: 10,
            }),
        )
        .unwrap();
        let snapshot = SignalSnapshot {
            ts_ms: 1_704_067_199_999,
            warm: true,
            warm_mask: 8191,
            regime: Regime::Trending,
            ou_drift: 1,
            ms_to_funding: 3_600_000,
            momentum_aligned: Some(Side::Buy),
            breakout: Some(Side::Buy),
            mid: 60_000.5,
            ofi: 2.5,
            oi_change_pct: -0.75,
            oi_price_change_bps: f64::INFINITY,
            ..SignalSnapshot::default()
        };
        w.append(ts, &JournalRecord::EntrySignals { client_id: ClientOrderId(42), signals: SignalBits(snapshot) })
            .unwrap();
        w.append(
            ts,
            &JournalRecord::Exit(ExitRecord {
                client_id: ClientOrderId(43),
                venue: Venue::BinanceUsdm,
                symbol,
                side: Side::Sell,
                qty: Qty(10),
                reason: ExitReason::StopLoss,
            }),
        )
        .unwrap();
        w.append(ts, &JournalRecord::Dropped { ring: RingId::Contexts, total: 2 }).unwrap();
        w.flush(ts).unwrap();
        let bytes = w.into_sink();
        let mut out = Vec::new();
        let summary = print_journal(&bytes[..], false, &mut out).unwrap();
        assert_eq!(summary.records, 5);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let t = "2024-01-01T00:00:00.000000000Z";
        assert_eq!(
            lines[1],
            format!(
                "{t} entry venue=binance-usdm symbol=BTCUSDT client_id=42 side=BUY tier=A confidence=87 score=87.5 \
                 votes=order_flow:BUY:1.5,vwap_deviation:-,acceleration:BUY:2.25,funding_bias:SELL:1.0,drift:BUY:3.0 \
                 price=60000 qty=0.01 stop_distance=30 target_distance=45 stop_level=59970 target_level=60045 \
                 risk=0.3 leverage=10 decision_ts_ms=1704067199999"
            )
        );
        assert_eq!(
            lines[2],
            format!(
                "{t} entry-signals client_id=42 signals_ts_ms=1704067199999 warm=true warm_mask=8191 regime=trending \
                 ou_drift=1 ms_to_funding=3600000 cascade=null momentum_aligned=BUY breakout=BUY pullback=null \
                 mid=60000.5 microprice=0.0 spread_ticks=0.0 spread_bps=0.0 tob_imbalance=0.0 depth_imbalance=0.0 \
                 ofi=2.5 ofi_multi=0.0 signed_volume=0.0 cvd=0.0 buy_share=0.0 volume_surge=0.0 net_flow_surge=0.0 \
                 vwap=0.0 vwap_dev_bps=0.0 vwap_dev_sigma=0.0 poc=0.0 value_area_high=0.0 value_area_low=0.0 \
                 volatility_bps=0.0 velocity_bps_s=0.0 acceleration_bps_s2=0.0 ou_theta=0.0 ou_mu=0.0 ou_sigma=0.0 \
                 ou_zscore=0.0 funding_rate=0.0 funding_bias=0.0 liq_long_notional=0.0 liq_short_notional=0.0 \
                 liq_acceleration=0.0 liq_long_per_min=0.0 liq_short_per_min=0.0 variance_ratio=0.0 \
                 volatility_percentile=0.0 momentum_short_bps=0.0 momentum_long_bps=0.0 atr=0.0 atr_bps=0.0 \
                 range_high=0.0 range_low=0.0 breakout_level=0.0 swing_high=0.0 swing_low=0.0 open_interest=0.0 \
                 oi_change_pct=-0.75 oi_price_change_bps=inf"
            )
        );
        assert_eq!(
            lines[3],
            format!("{t} exit venue=binance-usdm symbol=BTCUSDT client_id=43 side=SELL qty=0.01 reason=stop-loss")
        );
        assert_eq!(lines[4], format!("{t} dropped ring=contexts total=2"));
        // JSON: numbers stay numbers, a non-finite one is a string.
        let mut json_out = Vec::new();
        print_journal(&bytes[..], true, &mut json_out).unwrap();
        let json_text = String::from_utf8(json_out).unwrap();
        let signals: Value = serde_json::from_str(json_text.lines().nth(2).unwrap()).unwrap();
        assert_eq!(signals["mid"], json!(60000.5));
        assert_eq!(signals["oi_price_change_bps"], json!("inf"));
        assert_eq!(signals["cascade"], Value::Null);
    }

    #[test]
    fn utc_text_known_instants() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(utc_text(1_704_067_200_000_000_000), "2024-01-01T00:00:00.000000000Z");
        assert_eq!(utc_text(1_709_164_800_123_456_789), "2024-02-29T00:00:00.123456789Z");
        assert_eq!(utc_text(951_868_799_000_000_000), "2000-02-29T23:59:59.000000000Z");
    }
}
