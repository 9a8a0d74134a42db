//! The engine's Prometheus metrics (`[metrics] listen`): a live session
//! against the simulator with metrics on, scraped over HTTP while it trades:
//! status, content type, every sample line parses, the families have their
//! types, and the values move (frames counted, a connection live, latency
//! quantiles once orders went out).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use scalpel::commands::demo::DemoOptions;
use scalpel::commands::live_session::{self, ProfileDefault};
use scalpel::engine::Hooks;

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    (head.to_owned(), body.to_owned())
}

/// Sample lines by name (labels included), every value parsed.
fn samples(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {l}"));
            (name.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {l}")))
        })
        .collect()
}

#[test]
fn a_live_engine_serves_its_metrics_while_it_trades() {
    let dir = std::env::temp_dir().join(format!("scalpel-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = DemoOptions {
        duration_s: 30.0,
        config: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tuning/latency-wire.toml")),
        dir: Some(dir.clone()),
        busy_poll: Some(false),
        status_secs: 0.0,
        metrics: Some("127.0.0.1:0".parse().unwrap()),
        ..DemoOptions::default()
    };
    let defaults = ProfileDefault { name: "metrics-test", local: "", text: "", file_name: "unused.toml" };
    let mut err = Vec::new();
    let session = live_session::start(&opts, &defaults, Hooks::default(), &mut err).unwrap();
    let addr = session.metrics_addr().expect("metrics configured");
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");

    // Scrape until the engine has sent orders and the journal has published
    // their latency (every second), or 25 s.
    let started = Instant::now();
    let (head, body) = loop {
        let (head, body) = get(addr, "/metrics");
        let done = body.contains("scalpel_latency_seconds_count{stage=\"tick-to-trade\"}");
        if done || started.elapsed() > Duration::from_secs(25) {
            break (head, body);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    let s = samples(&body);
    let value = |name: &str| s.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    for (family, kind) in [
        ("market_frames_total", "counter"),
        ("orders_sent_total", "counter"),
        ("fills_total", "counter"),
        ("orders_rejected_total", "counter"),
        ("resyncs_total", "counter"),
        ("rate_limited_total", "counter"),
        ("connection_state", "gauge"),
        ("connection_messages_total", "counter"),
        ("realised_pnl_usdt", "gauge"),
        ("position", "gauge"),
        ("latency_seconds", "summary"),
    ] {
        assert!(body.contains(&format!("# TYPE scalpel_{family} {kind}\n")), "{family} {kind}:\n{body}");
    }
    assert!(value("scalpel_market_frames_total").unwrap() > 0.0, "{body}");
    assert!(value("scalpel_orders_sent_total").unwrap() > 0.0, "{body}");
    assert!(
        s.iter()
            .any(|(n, v)| n.starts_with("scalpel_connection_state{") && n.ends_with("state=\"live\"}") && *v == 1.0)
    );
    let p99 = value("scalpel_latency_seconds{stage=\"tick-to-trade\",quantile=\"0.99\"}").expect("tick-to-trade p99");
    assert!(p99 > 0.0 && p99 < 60.0, "{p99}");
    assert!(value("scalpel_latency_seconds_count{stage=\"tick-to-trade\"}").unwrap() >= 1.0);
    let (head, _) = get(addr, "/other");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // The session ends cleanly, and the metrics thread with it.
    let short = DemoOptions { duration_s: 0.1, ..opts };
    let fin = session.trade(&short, &mut err).unwrap();
    assert!(fin.engine.hot.lost.is_empty());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "still listening after the stop");
    std::fs::remove_dir_all(&dir).ok();
}
