//! scripts/bench-latency with the test build's binary (--no-build): a dated
//! folder with the build, the host check, each path's report, JSON line,
//! plot and .hgrm files, and the paths not implemented yet reported as such.

use std::process::Command;

#[test]
fn runner_writes_a_dated_folder_and_reports_missing_paths_honestly() {
    let root = env!("CARGO_MANIFEST_DIR");
    let tmp = std::env::temp_dir().join(format!("scalpel-bench-script-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let session = tmp.join("session.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["synth", "--venue", "bybit-linear", "--symbol", "ETHUSDT", "--seed", "5", "--duration", "4", "--out"])
        .arg(&session)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = tmp.join("bench");
    let o = Command::new("bash")
        .arg(format!("{root}/scripts/bench-latency"))
        .args(["--no-build", "--rounds", "1", "--input"])
        .arg(&session)
        .arg("--out")
        .arg(&out)
        .env("SCALPEL_BIN", env!("CARGO_BIN_EXE_scalpel"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    let runs: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "one dated folder: {runs:?}");
    let run = &runs[0];
    let name = run.file_name().unwrap().to_str().unwrap();
    assert!(name.len() == 16 && name.ends_with('Z') && name.as_bytes()[8] == b'T', "{name}");
    for file in
        ["build.txt", "host-check.txt", "decode.txt", "decode.json", "decode.svg", "decode/bybit-linear-depth.hgrm"]
    {
        assert!(run.join(file).exists(), "{file} missing in {}", run.display());
    }
    let json: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(run.join("decode.json")).unwrap().trim()).unwrap();
    assert_eq!(json["venue"], "bybit-linear");
    let summary = std::fs::read_to_string(run.join("summary.txt")).unwrap();
    assert!(summary.contains("decode: ok: depth_p50_ns:") && summary.contains(" top_p50_ns:"), "{summary}");
    assert!(
        summary.contains("tick-to-trade: not implemented yet: --path tick-to-trade is not implemented yet"),
        "{summary}"
    );
    assert!(summary.contains("wire: not implemented yet:"), "{summary}");
    assert!(!run.join("tick-to-trade.json").exists(), "no figures for a path that did not run");
    std::fs::remove_dir_all(&tmp).ok();
}
