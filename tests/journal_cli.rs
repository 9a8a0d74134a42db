//! `scalpel journal --input FILE [--json]` on a journal written by the
//! library: human lines, JSON lines, a torn tail, and a corrupt file.

mod pipeline;

use std::process::Command;

use scalpel::fixed::{Notional, Price, Qty};
use scalpel::instrument::Symbol;
use scalpel::journal::{JournalConfig, JournalRecord, JournalWriter};
use scalpel::order::{ClientOrderId, Fill, OrderEvent, RejectReason};
use scalpel::risk::monitor::RiskOutput;
use scalpel::risk::verdict::{Cause, Mode, Verdict};
use scalpel::side::Side;
use scalpel::venue::Venue;

fn write_journal(path: &std::path::Path) -> u64 {
    let insts = pipeline::instruments();
    let mut w = JournalWriter::create(path, &insts, &JournalConfig::default(), 1_704_067_200_000_000_000).unwrap();
    let fill = Fill {
        client_id: ClientOrderId(7),
        venue: Venue::BinanceUsdm,
        symbol: Symbol::new(b"BTCUSDT").unwrap(),
        side: Side::Sell,
        trade_id: scalpel::order::TradeId(99),
        fee_kind: scalpel::order::FeeKind::Quote,
        price: Price(6_180_020),
        qty: Qty(14),
        fee: Notional(34_608_112),
        is_maker: true,
        ts_ms: 1_704_067_200_123,
    };
    let records = [
        JournalRecord::Order(OrderEvent::Filled(fill)),
        JournalRecord::Order(OrderEvent::Rejected {
            client_id: ClientOrderId(8),
            reason: RejectReason::MinNotional,
            venue_code: -4164,
            ts_ms: 5,
        }),
        JournalRecord::Risk(RiskOutput::Verdict {
            ts_ms: 6,
            verdict: Verdict { mode: Mode::Flatten, cause: Cause::DailyLoss, size_cap_permille: 1000, seq: 2 },
        }),
        JournalRecord::Risk(RiskOutput::Trip { ts_ms: 6, cause: Cause::DailyLoss, value: -50_000_000_000 }),
    ];
    for r in &records {
        w.append(1_704_067_201_500_000_000, r).unwrap();
    }
    w.flush(0).unwrap();
    (insts.len() + records.len()) as u64
}

fn scalpel(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scalpel")).args(args).output().unwrap()
}

#[test]
fn prints_human_and_json_lines() {
    let dir = pipeline::temp_dir("journal-cli");
    let path = dir.join("j.bin");
    let n = write_journal(&path);
    let p = path.to_str().unwrap();

    let out = scalpel(&["journal", "--input", p]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, n);
    assert!(
        lines[0].starts_with("2024-01-01T00:00:00.000000000Z instrument venue=binance-usdm symbol=BTCUSDT"),
        "{}",
        lines[0]
    );
    let fill = lines.iter().find(|l| l.contains(" filled ")).unwrap();
    assert_eq!(
        *fill,
        "2024-01-01T00:00:01.500000000Z filled venue=binance-usdm symbol=BTCUSDT side=SELL client_id=7 trade_id=99 \
         fee_kind=quote price=61800.2 qty=0.014 fee=0.34608112 maker=true venue_ts_ms=1704067200123"
    );
    assert!(text.contains(" rejected client_id=8 reason=min-notional venue_code=-4164 "));
    assert!(text.contains(" verdict mode=flatten cause=daily-loss size_cap_permille=1000 seq=2 "));
    assert!(text.contains(" trip cause=daily-loss value=-500 "));

    let out = scalpel(&["journal", "--input", p, "--json"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let objects: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(objects.len() as u64, n);
    let fill = objects.iter().find(|o| o["kind"] == "filled").unwrap();
    assert_eq!(fill["price"], "61800.2");
    assert_eq!(fill["qty"], "0.014");
    assert_eq!(fill["fee"], "0.34608112");
    // Trade ids are 128-bit (Bybit UUIDs): JSON carries them as strings.
    assert_eq!(fill["trade_id"], "99");
    assert_eq!(fill["fee_kind"], "quote");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn reports_a_torn_tail_and_fails_on_corruption() {
    let dir = pipeline::temp_dir("journal-cli-torn");
    let path = dir.join("j.bin");
    let n = write_journal(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let full = bytes.len();
    bytes.truncate(full - 3);
    std::fs::write(&path, &bytes).unwrap();
    let out = scalpel(&["journal", "--input", path.to_str().unwrap()]);
    assert!(out.status.success(), "a torn tail is reported, not an error");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count() as u64, n); // n - 1 records + the torn-tail line
    assert!(text.lines().last().unwrap().starts_with("torn-tail offset="), "{text}");

    let out = scalpel(&["journal", "--input", path.to_str().unwrap(), "--json"]);
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "torn-tail");

    // Damage the first record: the rest cannot be trusted: exit non-zero.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[16 + 8 + 2] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    let out = scalpel(&["journal", "--input", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("corrupt record at byte 16"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = scalpel(&["journal", "--input", dir.join("missing.bin").to_str().unwrap()]);
    assert!(!out.status.success());
    std::fs::remove_dir_all(&dir).ok();
}
