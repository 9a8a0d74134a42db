//! scripts/bench-latency with the test build's binary (--no-build): a dated
//! folder with the build, the host check, each path's report, JSON line,
//! plot and .hgrm files (decode, tick-to-trade per transport and key), the
//! runs that do not apply reported as such, and the wire run (a short
//! session against the simulator on the same recording, and the floor).

use std::process::Command;

#[test]
fn runner_writes_a_dated_folder_runs_every_path_and_reports_what_does_not_apply() {
    let root = env!("CARGO_MANIFEST_DIR");
    let tmp = std::env::temp_dir().join(format!("scalpel-bench-script-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let session = tmp.join("session.txt");
    let o = Command::new(env!("CARGO_BIN_EXE_scalpel"))
        .args(["synth", "--venue", "bybit-linear", "--symbol", "ETHUSDT", "--seed", "5", "--duration", "45", "--out"])
        .arg(&session)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = tmp.join("bench");
    let o = Command::new("bash")
        .arg(format!("{root}/scripts/bench-latency"))
        .args(["--no-build", "--rounds", "1", "--wire-secs", "15", "--input"])
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
    for ok in ["tick-to-trade-ws-hmac", "tick-to-trade-rest-hmac"] {
        assert!(summary.contains(&format!("{ok}: ok: tick_to_trade_p50_ns:")), "{summary}");
        assert!(summary.contains(" encode_sign_p50_ns:"), "{summary}");
        for file in
            [format!("{ok}.json"), format!("{ok}.svg"), format!("{ok}/bybit-linear-tick-to-trade-tick_to_trade.hgrm")]
        {
            assert!(run.join(&file).exists(), "{file} missing in {}", run.display());
        }
        let json: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(run.join(format!("{ok}.json"))).unwrap().trim()).unwrap();
        assert_eq!((json["path"].as_str(), json["venue"].as_str()), (Some("tick-to-trade"), Some("bybit-linear")));
    }
    for na in ["tick-to-trade-ws-ed25519", "tick-to-trade-rest-ed25519"] {
        assert!(summary.contains(&format!("{na}: not applicable: ")), "{summary}");
        assert!(!run.join(format!("{na}.json")).exists(), "no figures for a run that did not happen");
    }
    // The wire run: the engine against the simulator on the same recording, then the floor.
    assert!(
        summary.contains("wire: ok: wire_to_wire_p50_ns:") && summary.contains(" loopback_floor_p50_ns:"),
        "{summary}"
    );
    let json: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(run.join("wire.json")).unwrap().trim()).unwrap();
    assert_eq!((json["path"].as_str(), json["venue"].as_str()), (Some("wire"), Some("bybit-linear")));
    assert!(json["wire_to_wire_samples"].as_u64().unwrap() > 0, "{json}");
    assert!(run.join("wire.svg").exists() && run.join("wire/bybit-linear-wire-wire_to_wire.hgrm").exists());
    std::fs::remove_dir_all(&tmp).ok();
}
