//! `scalpel host-check` on the machine the tests run on: it reads, changes
//! nothing, reports every item with a verdict, and its JSON form parses.
//! (The verdicts themselves are tested on fake /proc and /sys trees in
//! `src/host/mod.rs`.)

use std::process::Command;

const ITEMS: [&str; 17] = [
    "cpu",
    "kernel",
    "virtualization",
    "isolated cores",
    "hot core's SMT siblings",
    "CPU governor",
    "turbo",
    "C-states",
    "transparent huge pages",
    "swap",
    "IRQ affinity",
    "busy polling",
    "NIC interrupt coalescing",
    "clocksource",
    "timer slack",
    "invariant TSC",
    "locked memory limit",
];

#[test]
fn reports_every_item_on_this_machine() {
    let o = Command::new(env!("CARGO_BIN_EXE_scalpel")).arg("host-check").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("host-check (reads /proc and /sys, changes nothing)"), "{out}");
    for item in ITEMS {
        let verdict = out
            .lines()
            .find(|l| l.starts_with('[') && l.ends_with(&format!("] {item}")))
            .unwrap_or_else(|| panic!("no line for {item}:\n{out}"));
        assert!(
            ["[ok     ]", "[tune   ]", "[unknown]", "[info   ]"].iter().any(|v| verdict.starts_with(v)),
            "{verdict}"
        );
    }
    assert!(out.lines().last().unwrap().starts_with("summary: "), "{out}");

    let o = Command::new(env!("CARGO_BIN_EXE_scalpel")).args(["host-check", "--json", "--core", "0"]).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["core"], 0);
    assert_eq!(v["core_given"], true);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), ITEMS.len());
    for (c, item) in checks.iter().zip(ITEMS) {
        assert_eq!(c["item"], item);
        assert!(["ok", "tune", "unknown", "info"].contains(&c["status"].as_str().unwrap()), "{c}");
        assert!(!c["found"].as_str().unwrap().is_empty(), "{c}");
    }
}
