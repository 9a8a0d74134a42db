//! `scalpel run --dry-run` (the binary) against `scalpel sim` (in process,
//! TLS on loopback): it trades on paper, shuts down cleanly on SIGTERM
//! (exit 0, journal flushed and closed), and its flight recording replays
//! through `scalpel backtest --replay` with 100% identical intents.

mod common;
mod live;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use scalpel::venue::Venue;

use live::{Opts, start_sim, test_dir, write_config};

fn scalpel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scalpel"))
}

#[test]
fn dry_run_binary_trades_on_paper_stops_on_sigterm_and_replays() {
    let sim = start_sim(Venue::BinanceUsdm, |_| {});
    let dir = test_dir("cli");
    let cfg = write_config(&sim, &dir, &Opts::default());
    let flight = dir.join("flight-cli");
    let mut child = scalpel()
        .args(["run", "--config", cfg.to_str().unwrap(), "--dry-run", "--status-secs", "1"])
        .args(["--record", flight.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Wait for paper fills in the status line.
    let start = Instant::now();
    let mut lines = Vec::new();
    let fills = |l: &str| -> u64 {
        l.split(" fills ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    loop {
        assert!(start.elapsed() < Duration::from_secs(90), "no paper fills; stderr: {lines:#?}");
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = line.starts_with("status:") && fills(&line) >= 2;
            lines.push(line);
            if done {
                break;
            }
        }
    }
    assert!(lines.iter().any(|l| l.contains("DRY RUN")), "{lines:#?}");
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    let text = lines.join("\n");
    assert!(status.success(), "exit status {status:?}; stderr:\n{text}");
    assert!(text.contains("stopping: cancelling all orders and closing positions"), "{text}");
    assert!(text.contains("run: done.") && text.contains("LOST 0"), "{text}");
    let sim_report = sim.stop();
    assert_eq!(sim_report.counters["order_requests"], 0, "a dry run sends no order to the venue");
    // The journal was flushed and closed: it reads to its end, the last
    // record is the clean-shutdown record, with the would-send records in it.
    let mut printed = Vec::new();
    let summary = scalpel::journal::print::print_journal_file(&dir.join("journal.bin"), false, &mut printed).unwrap();
    let printed = String::from_utf8(printed).unwrap();
    assert!(summary.torn_tail.is_none(), "torn journal");
    assert!(printed.lines().last().unwrap().contains("closed"), "{}", printed.lines().last().unwrap());
    assert!(printed.contains("code=1002"), "would-send records journaled");
    // The flight recording replays to the same intents.
    let out = scalpel().args(["backtest", "--replay", flight.to_str().unwrap()]).output().unwrap();
    let replay = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "replay: {replay} {}", String::from_utf8_lossy(&out.stderr));
    assert!(replay.contains("parity 100%"), "{replay}");
}
