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

use crate::fixed::{DecimalText, E8};
use crate::instrument::Symbol;
use crate::journal::record::reject_reason_name;
use crate::journal::{Entry, JournalError, JournalReader, JournalRecord, ReadError, TornTail};
use crate::order::{OrderEvent, OrderKind, OrderRequest, TimeInForce};
use crate::risk::monitor::{RiskCommand, RiskOutput};
use crate::risk::verdict::Cause;
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

    #[test]
    fn utc_text_known_instants() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(utc_text(1_704_067_200_000_000_000), "2024-01-01T00:00:00.000000000Z");
        assert_eq!(utc_text(1_709_164_800_123_456_789), "2024-02-29T00:00:00.123456789Z");
        assert_eq!(utc_text(951_868_799_000_000_000), "2000-02-29T23:59:59.000000000Z");
    }
}
