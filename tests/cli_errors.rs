//! Bad input where a user types it: every class of mistake on `book`,
//! `sign`, `synth` and `journal` gives one line on stderr that names the
//! option (and the path, for files), says what to do where there is
//! something to do, prints no cause twice, and exits non-zero; the run
//! writes nothing to stdout. A run that rebuilds nothing is an error, not
//! an empty success.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scalpel-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `scalpel` in `cwd` (a directory outside the repository, so nothing
/// may depend on `tuning/` being there).
fn scalpel(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .current_dir(cwd)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("SCALPEL_CLI_TEST_SECRET", "cli-test-secret")
        .output()
        .unwrap()
}

/// The run failed with exactly one line on stderr, nothing on stdout, and
/// that line contains every piece of `want`; returns the line.
fn one_line_error(out: &Output, want: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded; stderr: {stderr}");
    assert!(out.stdout.is_empty(), "wrote to stdout: {}", String::from_utf8_lossy(&out.stdout));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "not one line:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("scalpel: "), "{line}");
    assert!(!line.contains("panicked") && !line.contains("backtrace"), "{line}");
    for piece in want {
        assert!(line.contains(piece), "{piece:?} missing from: {line}");
    }
    no_cause_twice(line);
    line.to_owned()
}

/// No phrase of five words or more appears twice in the line (an error
/// printed with its own cause again: "No such file… : No such file…").
fn no_cause_twice(line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    for window in words.windows(5) {
        let phrase = window.join(" ");
        assert_eq!(line.matches(&phrase).count(), 1, "{phrase:?} printed twice in: {line}");
    }
}

const SNAPSHOT: &str = r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["100.10","2"]],"a":[["100.20","1"]],"u":7,"seq":5},"cts":1}"#;
const DELTA: &str = r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":2,"data":{"s":"BTCUSDT","b":[["100.00","1"]],"a":[],"u":8,"seq":6},"cts":2}"#;
const TRADE: &str = r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":3,"data":[{"T":3,"s":"BTCUSDT","S":"Buy","v":"1","p":"100.30","i":"x","BT":false,"seq":7}]}"#;

fn write(dir: &Path, name: &str, text: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn recording(frames: &[&str]) -> String {
    frames.iter().enumerate().map(|(n, f)| format!("{} {f}\n", 1000 + n)).collect()
}

#[test]
fn book_missing_and_unreadable_files() {
    let dir = scratch_dir("book-files");
    let missing = dir.join("nope.gz").display().to_string();
    one_line_error(&scalpel(&dir, &["book", "--input", &missing]), &["--input", &missing, "No such file"]);
    let bad_gzip = write(&dir, "bad.gz", b"\x1f\x8b\x08 not really gzip");
    one_line_error(&scalpel(&dir, &["book", "--input", &bad_gzip]), &["--input", &bad_gzip, "gzip"]);
    let directory = dir.display().to_string();
    one_line_error(&scalpel(&dir, &["book", "--input", &directory]), &["--input", &directory]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn book_on_a_file_with_nothing_to_rebuild_is_an_error() {
    let dir = scratch_dir("book-empty");
    let empty = write(&dir, "empty.txt", b"");
    one_line_error(&scalpel(&dir, &["book", "--input", &empty]), &["--input", &empty, "no recorded frame"]);
    let random: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let random = write(&dir, "random.bin", &random);
    one_line_error(&scalpel(&dir, &["book", "--input", &random]), &["--input", &random]);
    let not_venue = write(&dir, "json.txt", b"1 {\"hello\":1}\n2 [1,2]\n");
    one_line_error(
        &scalpel(&dir, &["book", "--input", &not_venue]),
        &["--input", "none of its 2 frames is a Binance USD-M or Bybit v5"],
    );
    let trades_only = write(&dir, "trades.txt", recording(&[TRADE, TRADE]).as_bytes());
    one_line_error(&scalpel(&dir, &["book", "--input", &trades_only]), &["--input", "no order-book frames"]);
    // Deltas without a snapshot: frames decode, but no book can be published.
    let no_snapshot = write(&dir, "deltas.txt", recording(&[DELTA, DELTA]).as_bytes());
    let out = scalpel(&dir, &["book", "--input", &no_snapshot]);
    assert!(!out.status.success() && out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("scalpel: --input") && last.contains("no book could be published"), "{stderr}");
    assert!(stderr.contains("summary BTCUSDT"), "the summary comes first: {stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn book_detects_the_venue_and_refuses_a_contradicting_one() {
    let dir = scratch_dir("book-venue");
    let bybit = write(&dir, "bybit.txt", recording(&[SNAPSHOT, DELTA]).as_bytes());
    let out = scalpel(&dir, &["book", "--input", &bybit]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    one_line_error(
        &scalpel(&dir, &["book", "--venue", "binance-usdm", "--input", &bybit]),
        &["--venue binance-usdm", "bybit-linear frames", "pass --venue bybit-linear"],
    );
    one_line_error(&scalpel(&dir, &["book", "--venue", "kraken", "--input", &bybit]), &["--venue", "kraken"]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn book_never_invents_a_symbol_and_refuses_depth_zero() {
    let dir = scratch_dir("book-symbol");
    let bybit = write(&dir, "bybit.txt", recording(&[SNAPSHOT, DELTA]).as_bytes());
    one_line_error(
        &scalpel(&dir, &["book", "--input", &bybit, "--symbol", "ETHUSDT"]),
        &["--symbol ETHUSDT", "has no ETHUSDT order-book frames", "it has: BTCUSDT"],
    );
    // Binance: the REST snapshot names no symbol; it must not become ETHUSDT's.
    let binance = recording(&[
        r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":100,"u":105,"pu":99,"b":[["61800.20","1.000"]],"a":[]}}"#,
        r#"{"lastUpdateId":103,"E":2,"T":2,"bids":[["61800.20","2.909"]],"asks":[["61800.30","1.072"]]}"#,
    ]);
    let binance = write(&dir, "binance.txt", binance.as_bytes());
    one_line_error(&scalpel(&dir, &["book", "--input", &binance, "--symbol", "ETHUSDT"]), &["--symbol ETHUSDT"]);
    one_line_error(&scalpel(&dir, &["book", "--input", &bybit, "--depth", "0"]), &["--depth", "at least 1"]);
    one_line_error(&scalpel(&dir, &["book", "--input", &bybit, "--depth", "x"]), &["--depth"]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn instrument_files_name_the_option_path_line_and_column() {
    let dir = scratch_dir("instruments");
    let bybit = write(&dir, "bybit.txt", recording(&[SNAPSHOT, DELTA]).as_bytes());
    let syntax =
        write(&dir, "syntax.toml", b"[[instrument]]\nvenue = \"bybit-linear\"\nsymbol = \"BTCUSDT\nqty_step = \"1\"\n");
    one_line_error(
        &scalpel(&dir, &["book", "--input", &bybit, "--instruments", &syntax]),
        &["--instruments", &syntax, "line 3, column"],
    );
    let typed =
        write(&dir, "typed.toml", b"[[instrument]]\nvenue = \"bybit-linear\"\nsymbol = \"X\"\ntick_size = 0.1\n");
    one_line_error(
        &scalpel(&dir, &["book", "--input", &bybit, "--instruments", &typed]),
        &["--instruments", &typed, "line 4, column 13", "expected a string"],
    );
    let value = write(
        &dir,
        "value.toml",
        b"[[instrument]]\nvenue = \"bybit-linear\"\nsymbol = \"BTCUSDT\"\ntick_size = \"0\"\nqty_step = \"0.001\"\nmax_qty = \"1\"\nmin_notional = \"5\"\n",
    );
    one_line_error(
        &scalpel(&dir, &["book", "--input", &bybit, "--instruments", &value]),
        &["--instruments", &value, "tick_size", "must be positive"],
    );
    let missing = dir.join("nope.json").display().to_string();
    one_line_error(
        &scalpel(&dir, &["book", "--input", &bybit, "--instruments", &missing]),
        &["--instruments", &missing],
    );
    std::fs::remove_dir_all(dir).ok();
}

fn sign_args<'a>(symbol: &'a str, qty: &'a str, price: &'a str) -> Vec<&'a str> {
    vec![
        "sign",
        "--venue",
        "binance-usdm",
        "--transport",
        "rest",
        "--api-key",
        "KEY",
        "--secret-env",
        "SCALPEL_CLI_TEST_SECRET",
        "--timestamp",
        "1700000000000",
        "--symbol",
        symbol,
        "--side",
        "BUY",
        "--type",
        "LIMIT",
        "--qty",
        qty,
        "--price",
        price,
    ]
}

#[test]
fn sign_works_outside_the_repository_and_explains_refusals_in_user_decimals() {
    let dir = scratch_dir("sign");
    // The built-in instruments: no tuning/ needed in the working directory.
    let out = scalpel(&dir, &sign_args("BTCUSDT", "0.010", "61800.2"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    one_line_error(
        &scalpel(&dir, &sign_args("BTCUSDT", "0.0001", "61800.2")),
        &["--qty 0.0001", "below min_qty 0.001", "step 0.001", "BTCUSDT on binance-usdm"],
    );
    let line = one_line_error(&scalpel(&dir, &sign_args("BTCUSDT", "0.001", "60000")), &["--qty 0.001", "100 USDT"]);
    assert!(!line.contains("Qty(") && !line.contains("Price("), "internal mantissas: {line}");
    one_line_error(&scalpel(&dir, &sign_args("BTCUSDT", "5000", "60000")), &["--qty 5000", "above the maximum 1000"]);
    // A trading path never guesses an instrument.
    one_line_error(&scalpel(&dir, &sign_args("SOLUSDT", "1", "150")), &["--symbol SOLUSDT", "--instruments"]);
    one_line_error(&scalpel(&dir, &sign_args("BTCUSDT", "0.01", "6e4")), &["--price", "6e4"]);
    let mut args = sign_args("BTCUSDT", "0.01", "60000");
    args.extend(["--recv-window", "0"]);
    one_line_error(&scalpel(&dir, &args), &["--recv-window"]);
    let mut args = sign_args("BTCUSDT", "0.01", "60000");
    args[6] = "bad key!";
    one_line_error(&scalpel(&dir, &args), &["--api-key"]);
    let mut args = sign_args("BTCUSDT", "0.01", "60000");
    args[8] = "SCALPEL_CLI_TEST_UNSET";
    one_line_error(&scalpel(&dir, &args), &["SCALPEL_CLI_TEST_UNSET", "not set"]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn synth_names_its_options_and_writes_to_stdout_with_a_dash() {
    let dir = scratch_dir("synth");
    let base = ["synth", "--venue", "bybit-linear", "--seed", "1", "--duration", "2"];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        scalpel(&dir, &args)
    };
    let nowhere = dir.join("no/such/dir/x.txt").display().to_string();
    one_line_error(&with(&["--symbol", "BTCUSDT", "--out", &nowhere]), &["--out", &nowhere, "No such file"]);
    one_line_error(&with(&["--symbol", "DOGEUSDT", "--out", "x.txt"]), &["--symbol DOGEUSDT", "--tick"]);
    one_line_error(&with(&["--symbol", "DOGEUSDT", "--tick", "0.1.1", "--out", "x.txt"]), &["--tick 0.1.1"]);
    one_line_error(&with(&["--symbol", "BTCUSDT", "--duration=-1", "--out", "x.txt"]), &["--duration"]);
    assert!(!dir.join("x.txt").exists(), "an output file was created before the options were checked");
    // `--out -`: the session on stdout, the summary on stderr.
    let out = with(&["--symbol", "DOGEUSDT", "--tick", "0.00001", "--out", "-"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().count() > 10 && text.contains("orderbook.200.DOGEUSDT"), "{}", &text[..text.len().min(200)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("→ stdout"));
    assert!(!dir.join("-").exists(), "--out - wrote a file named -");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn journal_files_name_the_option() {
    let dir = scratch_dir("journal");
    let missing = dir.join("nope.bin").display().to_string();
    one_line_error(&scalpel(&dir, &["journal", "--input", &missing]), &["--input", &missing, "No such file"]);
    let text = write(&dir, "text.txt", b"hello\n");
    one_line_error(&scalpel(&dir, &["journal", "--input", &text]), &["--input", &text, "not a scalpel journal"]);
    let short = write(&dir, "short.bin", b"SCLPJRNL\x02");
    one_line_error(&scalpel(&dir, &["journal", "--input", &short]), &["--input", &short, "cut short"]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn command_line_mistakes_are_one_line_with_exit_code_2() {
    let dir = scratch_dir("usage");
    for (args, want) in [
        (&["book"][..], "--input"),
        (&["book", "--inptu", "x"][..], "--inptu"),
        (&["synth", "--venue", "binance-usdm"][..], "--symbol"),
        (&["frobnicate"][..], "frobnicate"),
    ] {
        let out = scalpel(&dir, args);
        let line = one_line_error(&out, &[want, "scalpel --help"]);
        assert_eq!(out.status.code(), Some(2), "{line}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Binance REST snapshots name no symbol: in a file with the diffs of two
/// symbols they are nobody's until `--symbol` says whose they are.
#[test]
fn book_does_not_guess_whose_rest_snapshot_it_is() {
    let dir = scratch_dir("book-two-symbols");
    let diff = |symbol: &str, u: u64| {
        format!(
            r#"{{"stream":"x","data":{{"e":"depthUpdate","E":1,"T":1,"s":"{symbol}","U":{u},"u":{u},"pu":{},"b":[["100.10","1.000"]],"a":[]}}}}"#,
            u - 1
        )
    };
    let snapshot = r#"{"lastUpdateId":100,"E":2,"T":2,"bids":[["100.00","2.000"]],"asks":[["100.50","1.000"]]}"#;
    let lines = [diff("BTCUSDT", 100), diff("ETHUSDT", 100), snapshot.to_owned(), diff("BTCUSDT", 101)];
    let text: String = lines.iter().enumerate().map(|(n, l)| format!("{} {l}\n", n + 1)).collect();
    let file = write(&dir, "two.txt", text.as_bytes());
    let out = scalpel(&dir, &["book", "--input", &file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("REST snapshots name no symbol") && stderr.contains("BTCUSDT, ETHUSDT"), "{stderr}");
    assert!(!out.status.success() && out.stdout.is_empty(), "no book without a snapshot: {stderr}");
    let out = scalpel(&dir, &["book", "--input", &file, "--symbol", "BTCUSDT"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let books = String::from_utf8(out.stdout).unwrap();
    // The snapshot, the buffered diff it bridges to, the diff after it.
    assert_eq!(books.lines().count(), 3, "{books}");
    assert!(books.lines().all(|l| l.starts_with(r#"{"symbol":"BTCUSDT""#)), "{books}");
    std::fs::remove_dir_all(dir).ok();
}
