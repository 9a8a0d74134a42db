//! `scalpel book` on a generated session equals the generator's own true
//! book at every update it publishes, on both venues — and stays equal where
//! it publishes when depth frames are lost (`--gap-every`), reporting each
//! loss as a resync.
//!
//! The session file is written by the built binary (`scalpel synth`); the
//! truth comes from generating the same session in process and asking
//! [`Synth::true_book`] after every depth frame (the bytes of the two are
//! checked to be identical). The expected lines are formatted here with
//! integer arithmetic of their own, not with scalpel's writer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use scalpel::synth::{FrameKind, Synth, SynthConfig, TrueBook};
use scalpel::venue::Venue;

/// Canonical decimal text: `mantissa / 10^scale` without trailing zeros.
fn canonical(mantissa: i64, scale: u8) -> String {
    let div = 10i64.pow(u32::from(scale));
    let (int, frac) = (mantissa / div, mantissa % div);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = usize::from(scale));
    format!("{int}.{}", frac.trim_end_matches('0'))
}

fn truth_line(symbol: &str, u: u64, book: &TrueBook, price_scale: u8, qty_scale: u8) -> String {
    let side = |levels: &[(scalpel::fixed::Price, scalpel::fixed::Qty)]| {
        levels
            .iter()
            .map(|(p, q)| format!("[\"{}\",\"{}\"]", canonical(p.0, price_scale), canonical(q.0, qty_scale)))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("{{\"symbol\":\"{symbol}\",\"u\":{u},\"bids\":[{}],\"asks\":[{}]}}", side(&book.bids), side(&book.asks))
}

struct Generated {
    path: PathBuf,
    /// The true book line at every depth or snapshot frame, by update id.
    truth: HashMap<u64, String>,
    depth_frames: u64,
    lost: u64,
}

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes the session with the binary and rebuilds it in process.
fn generate(dir: &Path, venue: Venue, seed: u64, secs: u32, gap_every: Option<u64>, depth: usize) -> Generated {
    let path = dir.join(format!("{venue}-{seed}.txt"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scalpel"));
    cmd.args([
        "synth",
        "--venue",
        venue.name(),
        "--symbol",
        "BTCUSDT",
        "--seed",
        &seed.to_string(),
        "--duration",
        &secs.to_string(),
    ]);
    if let Some(n) = gap_every {
        cmd.args(["--gap-every", &n.to_string()]);
    }
    let out = cmd.arg("--out").arg(&path).output().unwrap();
    assert!(out.status.success(), "scalpel synth failed: {}", String::from_utf8_lossy(&out.stderr));

    let mut config = SynthConfig::built_in(venue, "BTCUSDT".parse().unwrap(), seed, f64::from(secs)).unwrap();
    config.gap_every = gap_every;
    let (ps, qs) = (config.instrument.price_scale, config.instrument.qty_scale);
    let mut synth = Synth::new(&config).unwrap();
    let mut bytes = Vec::new();
    let mut truth = HashMap::new();
    while let Some(frame) = synth.next_frame() {
        bytes.extend_from_slice(format!("{} ", frame.local_ts_ns).as_bytes());
        bytes.extend_from_slice(frame.bytes);
        bytes.push(b'\n');
        if let FrameKind::Depth { update_id } | FrameKind::Snapshot { update_id } = frame.kind {
            let line = truth_line("BTCUSDT", update_id, &synth.true_book(depth), ps, qs);
            if let Some(old) = truth.insert(update_id, line.clone()) {
                assert_eq!(old, line, "two depth frames with update id {update_id} and different books");
            }
        }
    }
    let file = std::fs::read(&path).unwrap();
    assert!(
        file == bytes,
        "the binary's file differs from the in-process session ({} vs {} bytes)",
        file.len(),
        bytes.len()
    );
    let summary = synth.summary();
    Generated { path, truth, depth_frames: summary.depth_frames, lost: summary.lost_depth_frames }
}

/// Runs `scalpel book`; returns its book lines and its stderr.
fn book(venue: Venue, path: &Path, depth: usize) -> (Vec<String>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["book", "--venue", venue.name(), "--depth", &depth.to_string(), "--input"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "scalpel book failed: {}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    (lines, String::from_utf8(out.stderr).unwrap())
}

/// The update id of a `scalpel book` line.
fn line_u(line: &str) -> u64 {
    let rest = &line[line.find("\"u\":").expect("u field") + 4..];
    rest[..rest.find(',').unwrap()].parse().unwrap()
}

/// Sequence breaks in a session file, found with serde_json: Binance diffs
/// whose `pu` is not the previous diff's `u`, Bybit deltas whose `u` is not
/// the previous message's `u + 1`.
fn sequence_breaks(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let mut prev: Option<u64> = None;
    let mut breaks = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(&line[line.find(' ').unwrap() + 1..]).unwrap();
        if v["data"]["e"] == "depthUpdate" {
            let d = &v["data"];
            if prev.is_some_and(|p| Some(p) != d["pu"].as_u64()) {
                breaks += 1;
            }
            prev = d["u"].as_u64();
        } else if v["topic"].as_str().is_some_and(|t| t.starts_with("orderbook.")) {
            let u = v["data"]["u"].as_u64().unwrap();
            if v["type"] == "delta" && prev.is_some_and(|p| u != p + 1) {
                breaks += 1;
            }
            prev = Some(u);
        }
    }
    breaks
}

/// Every line `scalpel book` printed equals the truth at its update id.
fn assert_lines_true(lines: &[String], truth: &HashMap<u64, String>) {
    for (i, line) in lines.iter().enumerate() {
        let u = line_u(line);
        let want = truth
            .get(&u)
            .unwrap_or_else(|| panic!("line {i}: scalpel book published u = {u}, which no depth frame carries"));
        assert_eq!(line, want, "line {i} (u = {u}) differs from the generator's true book");
    }
}

fn book_equals_truth(venue: Venue, secs: u32, depth: usize) {
    let dir = scratch_dir(&format!("truth-{venue}"));
    let g = generate(&dir, venue, 11, secs, None, depth);
    let (lines, stderr) = book(venue, &g.path, depth);
    assert_lines_true(&lines, &g.truth);
    // Binance: the few diffs before the REST snapshot are buffered and
    // mostly stale; everything after publishes. Bybit: every delta does.
    let unpublished = g.depth_frames + 1 - lines.len() as u64;
    let allowed = if venue == Venue::BinanceUsdm { 8 } else { 0 };
    assert!(unpublished <= allowed, "{unpublished} depth frames not published (of {}):\n{stderr}", g.depth_frames);
    assert!(lines.len() > 150, "too short a comparison: {} lines", lines.len());
    assert_eq!(sequence_breaks(&g.path), 0);
    assert!(
        !stderr.contains("sequence gap") && !stderr.contains("book crossed") && !stderr.contains("error:"),
        "{stderr}"
    );
    assert!(stderr.contains("0 gaps, 0 corrupt, 0 crossed, 0 resyncs requested"), "{stderr}");
    println!("{venue}: {} published books equal the truth at depth {depth}", lines.len());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn binance_book_equals_truth_at_every_update() {
    book_equals_truth(Venue::BinanceUsdm, 12, 200);
}

#[test]
fn bybit_book_equals_truth_at_every_update() {
    book_equals_truth(Venue::BybitLinear, 30, 200);
}

fn gaps_resync(venue: Venue, secs: u32, gap_every: u64) {
    let dir = scratch_dir(&format!("gaps-{venue}"));
    let g = generate(&dir, venue, 5, secs, Some(gap_every), 50);
    assert!(g.lost >= 5, "too few lost frames to test: {}", g.lost);
    let (lines, stderr) = book(venue, &g.path, 50);
    // The file breaks its sequence once per lost frame (a loss at the very
    // end is followed by no frame that could reveal it).
    let breaks = sequence_breaks(&g.path);
    assert!(breaks == g.lost || breaks + 1 == g.lost, "{breaks} sequence breaks for {} lost frames", g.lost);
    let reported =
        stderr.lines().filter(|l| l.contains("sequence gap") && l.contains("resync requested")).count() as u64;
    assert_eq!(reported, breaks, "every break is reported as a gap:\n{stderr}");
    let summary = stderr.lines().find(|l| l.starts_with("summary BTCUSDT")).unwrap_or("").to_owned();
    assert!(
        summary.contains(&format!("{breaks} gaps")) && summary.contains(&format!("{breaks} resyncs requested")),
        "{summary}"
    );
    assert_lines_true(&lines, &g.truth);
    // Publication resumes after every resync: each gap costs only the frames
    // until the next snapshot.
    let per_gap = (g.depth_frames + 1 - lines.len() as u64) as f64 / g.lost as f64;
    assert!(per_gap < 12.0, "{per_gap:.1} depth frames unpublished per gap");
    println!("{venue}: {} gaps reported, {} published books equal the truth", g.lost, lines.len());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn binance_gaps_are_resyncs_and_the_book_stays_true() {
    gaps_resync(Venue::BinanceUsdm, 20, 25);
}

#[test]
fn bybit_gaps_are_resyncs_and_the_book_stays_true() {
    gaps_resync(Venue::BybitLinear, 40, 25);
}
